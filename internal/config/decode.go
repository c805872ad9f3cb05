package config

import (
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// origin records where a decoded value came from, so validation can point at its line and
// knows whether the value may be quoted back.
type origin struct {
	line int
	// expanded is true when the value went through ${...}: it may be anything from the
	// environment, a secret included, so messages show raw instead.
	expanded bool
	// raw is the text as written in the file, before expansion.
	raw string
}

// maxNodeVisits bounds the work of walking the YAML tree, which aliases and merge keys
// could otherwise make exponential ("billion laughs").
const maxNodeVisits = 1_000_000

// maxShown bounds a value quoted back in a message.
const maxShown = 64

// decoder turns a YAML tree into a Config, reporting type-level problems (wrong kinds,
// unknown keys, unparsable scalars, failed expansions, unreadable secret files). Semantic
// checks are the validator's.
type decoder struct {
	file   string
	dir    string
	lookup func(string) string
	ps     *problems
	// src maps a value's path ("authenticators.corp_jwt.leeway", "routes[0].match") to
	// where it came from.
	src map[string]origin
	// bad marks paths whose value could not be decoded, so validation does not report
	// the same mistake again as, say, a missing required key.
	bad       map[string]bool
	visits    int
	exhausted bool
}

func (d *decoder) problemf(line int, format string, args ...any) {
	d.ps.add(Problem{Line: line, Path: d.file, Msg: fmt.Sprintf(format, args...)})
}

// fail reports a problem with the value at path and marks it bad.
func (d *decoder) fail(path string, line int, format string, args ...any) {
	d.bad[path] = true
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	d.ps.add(Problem{Line: line, Path: d.file, Key: path, Msg: msg})
}

// visit counts one node against the work budget.
func (d *decoder) visit(line int) bool {
	if d.exhausted {
		return false
	}
	d.visits++
	if d.visits > maxNodeVisits {
		d.exhausted = true
		d.problemf(line, "the configuration is too complex: its aliases expand to more than %d nodes", maxNodeVisits)
		return false
	}
	return true
}

// resolve follows an alias to the node it names. It returns nil when the work budget is
// spent.
func (d *decoder) resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 8; i++ {
		n = n.Alias
	}
	if n == nil || n.Kind == yaml.AliasNode || !d.visit(n.Line) {
		return nil
	}
	return n
}

// describe names a node's kind for "expected X, found Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a sequence"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "null"
		case "!!bool":
			return "a boolean"
		case "!!int", "!!float":
			return "a number"
		}
		return "a string"
	}
	return "nothing"
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// entry is one key of a mapping, after merge keys are applied.
type entry struct {
	key  string
	line int        // line of the key
	val  *yaml.Node // the value, possibly an alias
}

// mapping returns the entries of the mapping at path. A null value is an empty mapping.
// Duplicate keys are problems; merge keys (<<: *anchor) contribute the keys not given
// explicitly, earlier merges winning over later ones, as YAML specifies. ok is false when
// the node is not a mapping.
func (d *decoder) mapping(n *yaml.Node, path string) ([]entry, bool) {
	r := d.resolve(n)
	if r == nil {
		return nil, false
	}
	if isNull(r) {
		return nil, true
	}
	if r.Kind != yaml.MappingNode {
		d.fail(path, n.Line, "expected a mapping, found %s", describe(r))
		return nil, false
	}
	seen := map[string]int{}
	var out []entry
	var merges []*yaml.Node
	for i := 0; i+1 < len(r.Content); i += 2 {
		k := d.resolve(r.Content[i])
		if k == nil {
			return out, false
		}
		if k.Kind == yaml.ScalarNode && k.Value == "<<" && k.ShortTag() == "!!merge" {
			merges = append(merges, r.Content[i+1])
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.fail(path, k.Line, "keys must be strings, found %s", describe(k))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.fail(join(path, k.Value), k.Line, "given twice (first at line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		out = append(out, entry{key: k.Value, line: k.Line, val: r.Content[i+1]})
	}
	visiting := map[*yaml.Node]bool{r: true}
	for _, m := range merges {
		out = d.merge(m, path, seen, out, visiting)
	}
	return out, true
}

// merge adds the keys of the mapping (or sequence of mappings) m that are not in seen.
func (d *decoder) merge(m *yaml.Node, path string, seen map[string]int, out []entry, visiting map[*yaml.Node]bool) []entry {
	r := d.resolve(m)
	if r == nil {
		return out
	}
	switch r.Kind {
	case yaml.SequenceNode:
		for _, item := range r.Content {
			ri := d.resolve(item)
			if ri == nil {
				return out
			}
			if ri.Kind != yaml.MappingNode {
				d.fail(path, item.Line, "<< merges mappings, found %s", describe(ri))
				continue
			}
			out = d.mergeMapping(ri, path, seen, out, visiting)
		}
	case yaml.MappingNode:
		out = d.mergeMapping(r, path, seen, out, visiting)
	default:
		d.fail(path, m.Line, "<< merges a mapping or a sequence of mappings, found %s", describe(r))
	}
	return out
}

func (d *decoder) mergeMapping(r *yaml.Node, path string, seen map[string]int, out []entry, visiting map[*yaml.Node]bool) []entry {
	if visiting[r] {
		d.fail(path, r.Line, "<< merges a mapping into itself")
		return out
	}
	visiting[r] = true
	defer delete(visiting, r)
	var nested []*yaml.Node
	for i := 0; i+1 < len(r.Content); i += 2 {
		k := d.resolve(r.Content[i])
		if k == nil {
			return out
		}
		if k.Kind != yaml.ScalarNode {
			continue // reported where the mapping itself is decoded, if anywhere
		}
		if k.Value == "<<" && k.ShortTag() == "!!merge" {
			nested = append(nested, r.Content[i+1])
			continue
		}
		if _, dup := seen[k.Value]; dup {
			continue
		}
		seen[k.Value] = k.Line
		out = append(out, entry{key: k.Value, line: k.Line, val: r.Content[i+1]})
	}
	for _, m := range nested {
		out = d.merge(m, path, seen, out, visiting)
	}
	return out
}

// join appends a key to a path, quoting keys that are not plain identifiers so a hostile
// key cannot forge message text.
func join(path, key string) string {
	if !plainKey(key) {
		key = strconv.Quote(key)
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

func plainKey(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c == '-' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// unknownKey reports a key the schema does not have at this place.
func (d *decoder) unknownKey(e entry, where string, known []string) {
	d.problemf(e.line, "unknown key %q%s%s", e.key, where, didYouMean(e.key, known))
}

// scalar is a decoded scalar value.
type scalar struct {
	text string
	origin
}

// show is how a message may quote this value: the text itself when it was written
// literally in the file, else the ${...} reference that produced it, never its value.
func (s scalar) show() string { return showOrigin(s.origin, s.text) }

func showOrigin(o origin, text string) string {
	if o.expanded {
		raw := o.raw
		if len(raw) > maxShown {
			raw = raw[:maxShown] + "..."
		}
		return strconv.Quote(raw) + " (value not shown)"
	}
	if len(text) > maxShown {
		text = text[:maxShown] + "..."
	}
	return strconv.Quote(text)
}

// scalar reads the value at path as a scalar and expands ${...} in it. present is false
// for null and for a problem (the path is then marked bad).
func (d *decoder) scalar(n *yaml.Node, path, want string) (s scalar, present bool) {
	r := d.resolve(n)
	if r == nil {
		d.bad[path] = true
		return s, false
	}
	d.src[path] = origin{line: n.Line, raw: r.Value}
	if r.Kind != yaml.ScalarNode {
		d.fail(path, n.Line, "expected %s, found %s", want, describe(r))
		return s, false
	}
	if isNull(r) {
		return s, false
	}
	if r.ShortTag() == "!!binary" {
		d.fail(path, n.Line, "expected %s, found binary data", want)
		return s, false
	}
	text, expanded, errs := expand(r.Value, d.lookup)
	o := origin{line: n.Line, expanded: expanded, raw: r.Value}
	d.src[path] = o
	if len(errs) > 0 {
		for _, e := range errs {
			d.fail(path, r.Line, "%s", e)
		}
		return s, false
	}
	return scalar{text: text, origin: o}, true
}

// setString stores a string value; an empty value leaves dst (its default) alone.
func (d *decoder) setString(n *yaml.Node, path string, dst *string) {
	if s, ok := d.scalar(n, path, "a string"); ok && s.text != "" {
		*dst = s.text
	}
}

// setPath stores a file path resolved against the config's folder.
func (d *decoder) setPath(n *yaml.Node, path string, dst *string) {
	if s, ok := d.scalar(n, path, "a file path"); ok && s.text != "" {
		*dst = resolvePath(d.dir, s.text)
	}
}

func (d *decoder) setDuration(n *yaml.Node, path string, dst *time.Duration) {
	s, ok := d.scalar(n, path, "a duration")
	if !ok || s.text == "" {
		return
	}
	v, err := time.ParseDuration(strings.TrimSpace(s.text))
	if err != nil {
		hint := "write a duration such as 30s, 5m or 1h30m"
		if _, numErr := strconv.ParseFloat(s.text, 64); numErr == nil && !s.expanded {
			hint = "a duration needs a unit: write " + strconv.Quote(s.text+"s") + " for seconds"
		}
		d.fail(path, s.line, "%s is not a duration; %s", s.show(), hint)
		return
	}
	*dst = v
}

func (d *decoder) setInt(n *yaml.Node, path string, dst *int) {
	s, ok := d.scalar(n, path, "an integer")
	if !ok || s.text == "" {
		return
	}
	v, err := strconv.Atoi(strings.TrimSpace(s.text))
	if err != nil {
		d.fail(path, s.line, "expected an integer, found %s", s.show())
		return
	}
	*dst = v
}

func (d *decoder) setBool(n *yaml.Node, path string, dst *bool) {
	s, ok := d.scalar(n, path, "true or false")
	if !ok || s.text == "" {
		return
	}
	switch strings.ToLower(s.text) {
	case "true":
		*dst = true
	case "false":
		*dst = false
	default:
		d.fail(path, s.line, "expected true or false, found %s", s.show())
	}
}

// strList reads a sequence of strings. Null entries become "" for validation to report.
// present is false for null and for a value that is not a sequence.
func (d *decoder) strList(n *yaml.Node, path string) ([]string, bool) {
	r := d.resolve(n)
	if r == nil {
		d.bad[path] = true
		return nil, false
	}
	d.src[path] = origin{line: n.Line}
	if isNull(r) {
		return nil, false
	}
	if r.Kind != yaml.SequenceNode {
		d.fail(path, n.Line, "expected a sequence, found %s", describe(r))
		return nil, false
	}
	out := make([]string, 0, len(r.Content))
	for i, item := range r.Content {
		p := index(path, i)
		// Bad entries stay as "" so indexes keep matching paths; their paths are marked
		// bad, which keeps validation quiet about them.
		s, _ := d.scalar(item, p, "a string")
		out = append(out, s.text)
	}
	return out, true
}

// strOrList reads a string or a sequence of strings (audience).
func (d *decoder) strOrList(n *yaml.Node, path string) []string {
	if r := d.resolve(n); r != nil && r.Kind == yaml.ScalarNode && !isNull(r) {
		s, ok := d.scalar(n, path, "a string or a sequence")
		if !ok {
			return nil
		}
		// Record it as element 0 too, so element-level messages find their line.
		d.src[index(path, 0)] = s.origin
		return []string{s.text}
	}
	l, _ := d.strList(n, path)
	return l
}

// secret reads a secret given as key (inline) or key_file (a file's raw bytes, one
// trailing newline trimmed). Giving both is a problem. Neither the value nor the file's
// path is ever shown: a secret pasted under key_file by mistake would otherwise be
// printed as "cannot read <secret>".
func (d *decoder) secret(byKey map[string]entry, key, block string) Secret {
	inline, hasInline := byKey[key]
	file, hasFile := byKey[key+"_file"]
	path, fpath := join(block, key), join(block, key+"_file")
	switch {
	case hasInline && hasFile:
		d.fail(path, max(inline.line, file.line), "give %s or %s_file, not both", key, key)
		return Secret{}
	case hasInline:
		s, ok := d.scalar(inline.val, path, "a string")
		o := d.src[path]
		o.expanded = true // never shown, whatever its source
		d.src[path] = o
		if !ok {
			return Secret{}
		}
		return NewSecret([]byte(s.text))
	case hasFile:
		s, ok := d.scalar(file.val, fpath, "a file path")
		o := d.src[fpath]
		o.expanded = true
		d.src[fpath] = o
		d.src[path] = o
		if !ok || s.text == "" {
			if !d.bad[fpath] {
				d.fail(fpath, file.line, "needs a file path")
			}
			d.bad[path] = true
			return Secret{}
		}
		hint := ""
		if !filepath.IsAbs(s.text) && d.dir != "" {
			hint = " (a relative path is read from " + strconv.Quote(d.dir) + ")"
		}
		b, err := readFileLimited(resolvePath(d.dir, s.text), maxSecretBytes)
		if err != nil {
			d.fail(fpath, s.line, "cannot read the file: %v%s", err, hint)
			d.bad[path] = true
			return Secret{}
		}
		b = trimOneNewline(b)
		if len(b) == 0 {
			d.fail(fpath, s.line, "the file is empty")
			d.bad[path] = true
			return Secret{}
		}
		sec := NewSecret(b)
		clear(b)
		return sec
	}
	return Secret{}
}

// topKeys are the keys of the top-level mapping.
var topKeys = []string{
	"listen", "admin_listen", "tls", "realm", "environment", "store", "errors", "cors",
	"trusted_proxies", "forward_auth", "ext_authz", "max_header_bytes", "resource",
	"authorization_servers", "upstream_timeout", "shutdown_timeout", "write_timeout", "log",
	"store_outage_grace",
	"failure_budget", "authenticators", "routes", "token_service", "tracing",
}

// defaults returns a Config holding every default, for the file to override.
func defaults(dir string) *Config {
	return &Config{
		Dir:              dir,
		Listen:           DefaultListen,
		AdminListen:      DefaultAdminListen,
		Environment:      DefaultEnvironment,
		Store:            Store{Driver: StoreSQLite, Path: resolvePath(dir, DefaultStoreFile)},
		Errors:           Errors{Detail: DefaultErrorDetail},
		CORS:             CORS{MaxAge: DefaultCORSMaxAge},
		ForwardAuth:      ForwardAuth{Path: DefaultForwardAuthPath},
		MaxHeaderBytes:   DefaultMaxHeaderBytes,
		UpstreamTimeout:  DefaultUpstreamTimeout,
		ShutdownTimeout:  DefaultShutdownTimeout,
		StoreOutageGrace: DefaultStoreOutageGrace,
		WriteTimeout:     DefaultWriteTimeout,
		Log:              Log{Level: DefaultLogLevel, Format: DefaultLogFormat},
		FailureBudget: FailureBudget{
			PerClient:           Rate{Count: DefaultPerClientFailures, Per: DefaultFailureWindow},
			PerCredential:       Rate{Count: DefaultPerCredentialFailures, Per: DefaultFailureWindow},
			PerCredentialGlobal: Rate{Count: DefaultPerCredentialGlobalFailures, Per: DefaultFailureWindow},
		},
		Authenticators: map[string]*Authenticator{},
	}
}

// root decodes the top-level mapping into c.
func (d *decoder) root(n *yaml.Node, c *Config) {
	if r := d.resolve(n); r != nil && r.Kind != yaml.MappingNode {
		d.problemf(n.Line, "the configuration must be a mapping of settings, found %s", describe(r))
		d.bad[""] = true
		return
	}
	entries, ok := d.mapping(n, "")
	if !ok {
		return
	}
	for _, e := range entries {
		d.src[join("", e.key)] = origin{line: e.line}
		switch e.key {
		case "listen":
			d.setString(e.val, "listen", &c.Listen)
		case "admin_listen":
			d.setString(e.val, "admin_listen", &c.AdminListen)
		case "realm":
			d.setString(e.val, "realm", &c.Realm)
		case "environment":
			d.setString(e.val, "environment", &c.Environment)
		case "store":
			d.storeSetting(e, c)
		case "tls":
			d.block(e, "tls", []string{"cert_file", "key_file"}, func(k entry, p string) {
				switch k.key {
				case "cert_file":
					d.setPath(k.val, p, &c.TLS.CertFile)
				case "key_file":
					d.setPath(k.val, p, &c.TLS.KeyFile)
				}
			})
		case "errors":
			d.block(e, "errors", []string{"detail"}, func(k entry, p string) {
				var v string
				d.setString(k.val, p, &v)
				if v != "" {
					c.Errors.Detail = ErrorDetail(v)
				}
			})
		case "cors":
			d.block(e, "cors", []string{"allowed_origins", "allowed_headers", "max_age"}, func(k entry, p string) {
				switch k.key {
				case "allowed_origins":
					origins, _ := d.strList(k.val, p)
					for i, o := range origins {
						if norm, err := normalizeOrigin(o); err == nil {
							origins[i] = norm
						}
					}
					c.CORS.AllowedOrigins = origins
				case "allowed_headers":
					c.CORS.AllowedHeaders, _ = d.strList(k.val, p)
				case "max_age":
					d.setDuration(k.val, p, &c.CORS.MaxAge)
				}
			})
		case "trusted_proxies":
			c.TrustedProxies = d.prefixes(e.val, "trusted_proxies")
		case "forward_auth":
			d.block(e, "forward_auth", []string{"path"}, func(k entry, p string) {
				d.setString(k.val, p, &c.ForwardAuth.Path)
			})
		case "ext_authz":
			d.block(e, "ext_authz", []string{"listen"}, func(k entry, p string) {
				d.setString(k.val, p, &c.ExtAuthz.Listen)
			})
		case "max_header_bytes":
			d.setInt(e.val, "max_header_bytes", &c.MaxHeaderBytes)
		case "resource":
			d.setString(e.val, "resource", &c.Resource)
		case "authorization_servers":
			c.AuthorizationServers, _ = d.strList(e.val, "authorization_servers")
		case "upstream_timeout":
			d.setDuration(e.val, "upstream_timeout", &c.UpstreamTimeout)
		case "shutdown_timeout":
			d.setDuration(e.val, "shutdown_timeout", &c.ShutdownTimeout)
		case "write_timeout":
			d.setDuration(e.val, "write_timeout", &c.WriteTimeout)
		case "store_outage_grace":
			d.setDuration(e.val, "store_outage_grace", &c.StoreOutageGrace)
		case "log":
			d.block(e, "log", []string{"level", "format"}, func(k entry, p string) {
				switch k.key {
				case "level":
					d.logLevel(k.val, p, &c.Log)
				case "format":
					var v string
					d.setString(k.val, p, &v)
					if v != "" {
						c.Log.Format = LogFormat(v)
					}
				}
			})
		case "failure_budget":
			d.block(e, "failure_budget", []string{"per_client", "per_credential", "per_credential_global", "redis", "redis_timeout"}, func(k entry, p string) {
				switch k.key {
				case "per_client":
					d.setRate(k.val, p, &c.FailureBudget.PerClient)
				case "per_credential":
					d.setRate(k.val, p, &c.FailureBudget.PerCredential)
				case "per_credential_global":
					d.setRate(k.val, p, &c.FailureBudget.PerCredentialGlobal)
				case "redis_timeout":
					d.setDuration(k.val, p, &c.FailureBudget.RedisTimeout)
				case "redis":
					if s, ok := d.scalar(k.val, p, "a redis:// URL"); ok && s.text != "" {
						r, err := ParseRedisURL(s.text)
						if err != nil {
							d.fail(p, s.line, "%v", err)
						} else {
							c.FailureBudget.Redis = r
						}
					}
				}
			})
		case "authenticators":
			d.authenticators(e.val, c)
		case "routes":
			d.routes(e.val, c)
		case "token_service":
			c.TokenService = d.tokenService(e)
		case "tracing":
			c.Tracing = d.tracing(e)
		default:
			// x- keys are extension fields, as in Compose files: a home for anchors.
			if !strings.HasPrefix(e.key, "x-") {
				d.unknownKey(e, "", topKeys)
			}
		}
	}
	selfDefaults(c)
}

// block decodes a small fixed mapping, calling each for every known key.
func (d *decoder) block(e entry, path string, known []string, each func(k entry, path string)) {
	entries, _ := d.mapping(e.val, path)
	for _, k := range entries {
		p := join(path, k.key)
		d.src[p] = origin{line: k.line}
		if !slices.Contains(known, k.key) {
			d.unknownKey(k, " in "+path, known)
			continue
		}
		each(k, p)
	}
}

var logLevels = map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}

func (d *decoder) logLevel(n *yaml.Node, path string, l *Log) {
	s, ok := d.scalar(n, path, "a string")
	if !ok || s.text == "" {
		return
	}
	lv, ok := logLevels[strings.ToLower(s.text)]
	if !ok {
		d.fail(path, s.line, "%s is not a level: use debug, info, warn or error%s", s.show(), didYouMean(s.text, []string{"debug", "info", "warn", "error"}))
		return
	}
	l.Level = lv
}

func (d *decoder) setRate(n *yaml.Node, path string, dst *Rate) {
	s, ok := d.scalar(n, path, "a rate such as 30/min")
	if !ok || s.text == "" {
		return
	}
	r, err := ParseRate(s.text)
	if err != nil {
		d.fail(path, s.line, "%s: %v", s.show(), err)
		return
	}
	*dst = r
}

// prefixes reads trusted_proxies: CIDR prefixes or bare addresses.
func (d *decoder) prefixes(n *yaml.Node, path string) []netip.Prefix {
	list, _ := d.strList(n, path)
	var out []netip.Prefix
	for i, s := range list {
		p := index(path, i)
		o := d.src[p]
		s = strings.TrimSpace(s)
		if s == "" {
			d.fail(p, o.line, "empty entry")
			continue
		}
		pfx, err := parseProxy(s)
		if err != nil {
			d.fail(p, o.line, "%s %v", showOrigin(o, s), err)
			continue
		}
		out = append(out, pfx)
	}
	return out
}

// parseProxy parses a CIDR prefix or a single address (as a /32 or /128 prefix). A prefix
// with host bits set is refused: "10.1.2.3/8" is more likely a typo than a wish to trust
// 10.0.0.0/8.
func parseProxy(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("is not an IP address or CIDR prefix")
		}
		if pfx.Masked() != pfx {
			return netip.Prefix{}, fmt.Errorf("has bits set past the prefix length: did you mean %s?", pfx.Masked())
		}
		return pfx, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("is not an IP address or CIDR prefix")
	}
	if a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("has a zone; zones are not supported")
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}
