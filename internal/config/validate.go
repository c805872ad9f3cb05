package config

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/tokenrules"
)

var (
	environmentRe = regexp.MustCompile(`^[a-z0-9]{1,16}$`)
	authNameRe    = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,63}$`)
	routeNameRe   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	queryParamRe  = regexp.MustCompile(`^[A-Za-z0-9._~-]{1,64}$`)
)

// Validate checks the semantic rules of a configuration built in code (Load and Parse
// already apply them): required settings, value ranges, references between routes and
// authenticators, and that files named by ca_file and jwks_file are readable and hold what
// they should. It does not apply defaults. It returns an *Error listing every problem, or
// nil. It records digests of the files it reads for Fingerprint, so it must not run
// concurrently with other methods of c.
func (c *Config) Validate() error {
	ps := &problems{}
	newValidator(c, ps, c.File, nil, nil).run()
	return ps.err()
}

// validator checks a decoded Config. src and bad come from the decoder (nil for a Config
// built in code): src gives each value's line, bad silences paths already reported.
type validator struct {
	c    *Config
	ps   *problems
	file string
	src  map[string]origin
	bad  map[string]bool
	// authNames caches the sorted authenticator names for suggestions.
	authNames []string
}

func newValidator(c *Config, ps *problems, file string, src map[string]origin, bad map[string]bool) *validator {
	return &validator{c: c, ps: ps, file: file, src: src, bad: bad}
}

// parent strips the last segment of a path ("a.b[2]" -> "a.b", "a.b" -> "a").
func parent(path string) string {
	if strings.HasSuffix(path, "]") {
		if i := strings.LastIndexByte(path, '['); i >= 0 {
			return path[:i]
		}
	}
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[:i]
	}
	return ""
}

// lineOf returns the line of path, or of its nearest ancestor that has one.
func (v *validator) lineOf(path string) int {
	for p := path; ; p = parent(p) {
		if o, ok := v.src[p]; ok {
			return o.line
		}
		if p == "" {
			return 0
		}
	}
}

// isBad reports whether path or an ancestor was already reported while decoding.
func (v *validator) isBad(path string) bool {
	for p := path; ; p = parent(p) {
		if v.bad[p] {
			return true
		}
		if p == "" {
			return false
		}
	}
}

// problemf reports a problem with the value at path, prefixing the message with path.
// warnf records a warning at the line of path, prefixed with path like a problem.
func (v *validator) warnf(path, format string, args ...any) {
	if v.isBad(path) {
		return
	}
	v.c.Warnings = append(v.c.Warnings, Problem{Line: v.lineOf(path), Path: v.file, Key: path, Msg: path + ": " + fmt.Sprintf(format, args...)})
}

func (v *validator) problemf(path, format string, args ...any) {
	v.reportf(path, path, format, args...)
}

// reportf reports a problem at the line of path, prefixing the message with shown.
func (v *validator) reportf(path, shown, format string, args ...any) {
	if v.isBad(path) {
		return
	}
	msg := fmt.Sprintf(format, args...)
	if shown != "" {
		msg = shown + ": " + msg
	}
	v.ps.add(Problem{Line: v.lineOf(path), Path: v.file, Key: path, Msg: msg})
}

// show quotes the value at path, unless it came from the environment.
func (v *validator) show(path, value string) string { return showOrigin(v.src[path], value) }

func (v *validator) run() {
	c := v.c
	c.Warnings = nil
	defer func() {
		slices.SortStableFunc(c.Warnings, func(a, b Problem) int { return a.Line - b.Line })
	}()
	v.listen("listen", c.Listen, false)
	v.listen("admin_listen", c.AdminListen, true)
	if c.Listen != "" && c.Listen == c.AdminListen {
		if _, port, err := net.SplitHostPort(c.Listen); err == nil && port != "0" {
			v.problemf("admin_listen", "must differ from listen: the admin API needs its own listener")
		}
	}
	v.realm()
	if !environmentRe.MatchString(c.Environment) {
		v.problemf("environment", "%s must be 1 to 16 lower-case letters or digits", v.show("environment", c.Environment))
	}
	v.store()
	switch c.Errors.Detail {
	case DetailVerbose, DetailTerse:
	default:
		v.problemf("errors.detail", "%s is not a detail level: use verbose or terse%s", v.show("errors.detail", string(c.Errors.Detail)), didYouMean(string(c.Errors.Detail), []string{"verbose", "terse"}))
	}
	v.cors()
	v.tls()
	for i, p := range c.TrustedProxies {
		if !p.IsValid() {
			v.problemf(index("trusted_proxies", i), "invalid prefix")
		}
	}
	v.forwardAuth()
	if c.ExtAuthz.Enabled() {
		v.listen("ext_authz.listen", c.ExtAuthz.Listen, false)
		_, port, _ := net.SplitHostPort(c.ExtAuthz.Listen)
		if port != "0" && (c.ExtAuthz.Listen == c.Listen || c.ExtAuthz.Listen == c.AdminListen) {
			v.problemf("ext_authz.listen", "must differ from listen and admin_listen: the gRPC service needs its own listener")
		}
	}
	if c.MaxHeaderBytes < MinMaxHeaderBytes || c.MaxHeaderBytes > MaxMaxHeaderBytes {
		v.problemf("max_header_bytes", "must be from %d to %d, not %d", MinMaxHeaderBytes, MaxMaxHeaderBytes, c.MaxHeaderBytes)
	}
	if c.Resource != "" {
		if err := checkURL(c.Resource, false); err != nil {
			v.problemf("resource", "%v", err)
		}
	}
	for i, s := range c.AuthorizationServers {
		p := index("authorization_servers", i)
		if s == "" {
			v.problemf(p, "empty entry")
		} else if err := checkURL(s, false); err != nil {
			v.problemf(p, "%v", err)
		}
	}
	v.positive("upstream_timeout", c.UpstreamTimeout)
	v.positive("shutdown_timeout", c.ShutdownTimeout)
	v.nonNegative("store_outage_grace", c.StoreOutageGrace)
	v.positive("write_timeout", c.WriteTimeout)
	switch c.Log.Format {
	case LogJSON, LogText:
	default:
		v.problemf("log.format", "%s is not a log format: use json or text%s", v.show("log.format", string(c.Log.Format)), didYouMean(string(c.Log.Format), []string{"json", "text"}))
	}
	if t := c.FailureBudget.RedisTimeout; t < 0 || t > 5*time.Second {
		v.problemf("failure_budget.redis_timeout", "must be between 0 (the default, 20ms) and 5s: every failed call to Redis waits this long")
	}
	v.rate("failure_budget.per_client", c.FailureBudget.PerClient)
	v.rate("failure_budget.per_credential", c.FailureBudget.PerCredential)
	v.rate("failure_budget.per_credential_global", c.FailureBudget.PerCredentialGlobal)
	v.tokenService()
	v.tracing()

	names := c.AuthenticatorNames()
	line := func(n string) int {
		if a := c.Authenticators[n]; a != nil {
			return a.Line
		}
		return 0
	}
	slices.SortStableFunc(names, func(a, b string) int { return line(a) - line(b) })
	for _, name := range names {
		if c.Authenticators[name] == nil {
			v.problemf(join("authenticators", name), "no settings")
			continue
		}
		v.authenticator(name, c.Authenticators[name])
	}
	v.routes()
}

func (v *validator) listen(path, addr string, admin bool) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.problemf(path, "%s is not host:port; write an address such as 127.0.0.1:8080", v.show(path, addr))
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		v.problemf(path, "%s: the port must be a number from 0 to 65535", v.show(path, addr))
		return
	}
	if !admin {
		return
	}
	if err := CheckAdminListen(context.Background(), addr, systemResolver); err != nil {
		v.problemf(path, "%s %s", v.show(path, addr), err)
	}
}

// systemResolver resolves an admin_listen host name during validation.
var systemResolver Resolver = net.DefaultResolver

func (v *validator) realm() {
	r := v.c.Realm
	switch {
	case r == "":
		v.problemf("realm", "required: the realm of every challenge, such as realm: orders-api")
		return
	case !utf8.ValidString(r) || len(r) > 256:
		v.problemf("realm", "must be valid UTF-8 of at most 256 bytes")
		return
	}
	for _, ch := range r {
		if unicode.IsControl(ch) {
			v.problemf("realm", "must not hold control characters")
			return
		}
	}
}

func (v *validator) store() {
	s := v.c.Store
	switch s.Driver {
	case StoreSQLite:
		if s.Path == "" {
			v.problemf("store", "the sqlite store needs a file path")
		}
		v.sqliteStoreHasNoPool()
	case StorePostgres:
		if s.DSN == "" {
			v.problemf("store", "the postgres store needs a connection URL")
			return
		}
		v.postgresStore()
	default:
		v.problemf("store", "unknown store driver; use sqlite:// or postgres://")
	}
}

func (v *validator) cors() {
	c := v.c.CORS
	for i, o := range c.AllowedOrigins {
		p := index("cors.allowed_origins", i)
		if o == "*" {
			if len(c.AllowedOrigins) > 1 {
				v.problemf(p, `"*" allows every origin: list it alone`)
			}
			continue
		}
		if _, err := normalizeOrigin(o); err != nil {
			v.problemf(p, "%s %v", v.show(p, o), err)
		}
	}
	for i, h := range c.AllowedHeaders {
		p := index("cors.allowed_headers", i)
		if !isToken(h) {
			v.problemf(p, "%s is not a valid header name", v.show(p, h))
		}
	}
	if c.MaxAge < 0 || c.MaxAge > MaxCORSMaxAge {
		v.problemf("cors.max_age", "must be from 0 to %s, not %s", fmtDuration(MaxCORSMaxAge), fmtDuration(c.MaxAge))
	}
}

// normalizeOrigin checks that s is a serialized origin and returns it as browsers send it:
// scheme and host in lower case, default port omitted.
func normalizeOrigin(s string) (string, error) {
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Scheme == "" || u.Host == "" || u.Opaque != "":
		return "", fmt.Errorf(`is not an origin: write scheme://host[:port], such as "https://app.example.com"`)
	case u.User != nil:
		return "", fmt.Errorf("is not an origin: it must not hold a user name")
	case u.Path == "/":
		return "", fmt.Errorf("is not an origin: remove the trailing /")
	case u.Path != "" || u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(s, "?#"):
		return "", fmt.Errorf("is not an origin: it must not hold a path, query or fragment")
	}
	scheme, host, port := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname()), u.Port()
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host, nil
}

func (v *validator) forwardAuth() {
	p := v.c.ForwardAuth.Path
	switch {
	case !strings.HasPrefix(p, "/"):
		v.problemf("forward_auth.path", "%s must start with /", v.show("forward_auth.path", p))
	case strings.ContainsAny(p, "?# \t") || hasControl(p):
		v.problemf("forward_auth.path", "%s must be a plain path, without query, fragment or spaces", v.show("forward_auth.path", p))
	}
}

func (v *validator) positive(path string, d time.Duration) {
	if d <= 0 {
		v.problemf(path, "must be positive, not %s", fmtDuration(d))
	}
}

func (v *validator) nonNegative(path string, d time.Duration) {
	if d < 0 {
		v.problemf(path, "must not be negative")
	}
}

func (v *validator) rate(path string, r Rate) {
	if r.Count < 1 || r.Count > maxRateCount || r.Per <= 0 {
		v.problemf(path, "must be N/unit with N from 1 to %d and a positive unit", maxRateCount)
	}
}

func (v *validator) authenticator(name string, a *Authenticator) {
	path := join("authenticators", name)
	if name == Anonymous {
		v.problemf(path, "the name %q is reserved: authenticate: %s means no authentication", Anonymous, Anonymous)
	} else if !authNameRe.MatchString(name) {
		v.problemf(path, "invalid authenticator name: use 1 to 64 lower-case letters, digits, _ and -, starting with a letter")
	}
	types := make([]string, 0, 5)
	for _, t := range AuthenticatorTypes() {
		types = append(types, string(t))
	}
	if a.Name != name {
		v.problemf(path, "the authenticator's Name %q differs from its key", a.Name)
	}
	if v.isBad(join(path, "type")) {
		return
	}
	var settings bool
	switch a.Type {
	case "":
		v.problemf(path, "type is required: one of %s", strings.Join(types, ", "))
		return
	case TypeJWT:
		settings = a.JWT != nil
		if settings {
			v.jwt(path, a.JWT)
		}
	case TypeAPIKey:
		settings = a.APIKey != nil
		if settings {
			v.apiKey(path, a.APIKey)
		}
	case TypeBasic:
		settings = a.Basic != nil
		if settings {
			v.nonNegative(join(path, "cache_ttl"), a.Basic.CacheTTL)
			v.cacheSize(join(path, "cache_size"), a.Basic.CacheSize)
		}
	case TypeIntrospection:
		settings = a.Introspection != nil
		if settings {
			v.introspection(path, a.Introspection)
		}
	case TypeMTLS:
		settings = a.MTLS != nil
		if settings {
			v.mtls(path, a.MTLS)
		}
	default:
		p := join(path, "type")
		v.problemf(p, "%s is not an authenticator type: use one of %s%s", v.show(p, string(a.Type)), strings.Join(types, ", "), didYouMean(string(a.Type), types))
		return
	}
	if !settings {
		v.problemf(path, "type %s has no %s settings", a.Type, a.Type)
	}
	v.headerMappings(path, a)
}

func (v *validator) cacheSize(path string, n int) {
	if n < 0 {
		v.problemf(path, "must not be negative (0 disables the cache)")
	}
}

func (v *validator) jwt(path string, j *JWT) {
	if j.Issuer == "" {
		v.problemf(join(path, "issuer"), "required: the exact iss of accepted tokens, or %q for Gatehouse's own token service", IssuerSelf)
	}
	if len(j.Audience) == 0 {
		v.problemf(join(path, "audience"), "required: the aud value (or list of values) accepted tokens must carry")
	}
	for i, a := range j.Audience {
		if a == "" {
			v.problemf(index(join(path, "audience"), i), "empty audience")
		}
	}
	v.algorithms(path, j)

	secretGiven := !j.Secret.IsZero() || v.isBad(join(path, "secret"))
	var sources []string
	if j.JWKSURL != "" || v.isBad(join(path, "jwks_url")) {
		sources = append(sources, "jwks_url")
	}
	if j.JWKSFile != "" || v.isBad(join(path, "jwks_file")) {
		sources = append(sources, "jwks_file")
	}
	if secretGiven {
		sources = append(sources, "secret")
	}
	if j.Discovery && j.Issuer != IssuerSelf {
		sources = append(sources, "discovery")
	}
	switch {
	case j.Issuer == IssuerSelf:
		if len(sources) > 0 {
			v.problemf(join(path, sources[0]), "issuer %q verifies with the token service's own keys: remove %s", IssuerSelf, strings.Join(sources, " and "))
		}
		v.selfJWT(path, j)
	case len(sources) == 0:
		v.problemf(path, "needs a key source: jwks_url, jwks_file, discovery: true, or secret_file for HMAC")
	case len(sources) > 1:
		v.problemf(join(path, sources[1]), "give exactly one key source, not %s", strings.Join(sources, " and "))
	}
	if j.JWKSURL != "" {
		if err := checkURL(j.JWKSURL, true); err != nil {
			v.problemf(join(path, "jwks_url"), "%v", err)
		} else if u, _ := url.Parse(j.JWKSURL); !tokenrules.KeyURLAllowed(u) {
			// Keys fetched over plain http can be swapped by anyone on the path, and then
			// every token they sign verifies.
			v.problemf(join(path, "jwks_url"), "must be an https:// URL (http:// only for a loopback host such as 127.0.0.1)")
		}
	}
	if j.JWKSFile != "" {
		v.jwksFile(join(path, "jwks_file"), j.JWKSFile)
	}
	if !j.Secret.IsZero() {
		// RFC 7518 3.2: the key must be at least as long as the hash output.
		need := MinHMACSecretBytes
		for _, alg := range j.Algorithms {
			need = max(need, tokenrules.MinHMACKeyBytes(alg))
		}
		if j.Secret.Len() < need {
			v.problemf(join(path, "secret"), "the secret is %d bytes; an HMAC key for %s needs at least %d (generate one with: openssl rand -base64 64)", j.Secret.Len(), strings.Join(j.Algorithms, ", "), need)
		}
	}

	leeway := join(path, "leeway")
	if !tokenrules.LeewayAllowed(j.Leeway) {
		v.problemf(leeway, "must be from 0 to %s, not %s", fmtDuration(MaxLeeway), fmtDuration(j.Leeway))
	}
	v.nonNegative(join(path, "jwks_max_stale"), j.JWKSMaxStale)
	if j.JWKSMinRefresh < time.Second {
		v.problemf(join(path, "jwks_min_refresh"), "must be at least 1s: refetching on every unknown kid would let any client hammer the issuer")
	}
	v.nonNegative(join(path, "jwks_negative_ttl"), j.JWKSNegativeTTL)
	v.positive(join(path, "jwks_timeout"), j.JWKSTimeout)
	v.cacheSize(join(path, "cache_size"), j.CacheSize)
	v.discovery(path, j)
	if j.AudienceClaim != "" {
		if _, err := identity.ParsePath(j.AudienceClaim); err != nil {
			v.problemf(join(path, "audience_claim"), "%v", err)
		}
	}
	v.claimRules(path, j.ClaimRules)
}

func (v *validator) algorithms(path string, j *JWT) {
	ap := join(path, "algorithms")
	if len(j.Algorithms) == 0 {
		if j.Issuer != IssuerSelf { // self defaults to the token service's algorithm
			v.problemf(ap, "required: the list of accepted algorithms, such as [ES256, RS256]")
		}
		return
	}
	supported := SupportedAlgorithms()
	var hmac, asym []string
	seen := map[string]bool{}
	for i, alg := range j.Algorithms {
		p := index(ap, i)
		switch {
		case strings.EqualFold(strings.TrimSpace(alg), "none"):
			v.problemf(p, `"none" is never accepted: it would let unsigned tokens through`)
			continue
		case !slices.Contains(supported, alg):
			hint := ""
			for _, s := range supported {
				if strings.EqualFold(s, alg) {
					hint = fmt.Sprintf(" (did you mean %q?)", s)
				}
			}
			if hint == "" {
				hint = "; supported: " + strings.Join(supported, ", ")
			}
			v.problemf(p, "%s is not a supported algorithm%s", v.show(p, alg), hint)
			continue
		case seen[alg]:
			v.problemf(p, "%s is listed twice", alg)
			continue
		}
		seen[alg] = true
		if isHMAC(alg) {
			hmac = append(hmac, alg)
		} else {
			asym = append(asym, alg)
		}
	}
	secretGiven := !j.Secret.IsZero() || v.isBad(join(path, "secret"))
	switch {
	case len(hmac) > 0 && len(asym) > 0:
		v.problemf(ap, "HMAC (%s) cannot be mixed with public-key algorithms (%s): a token could then be verified with the wrong kind of key", strings.Join(hmac, ", "), strings.Join(asym, ", "))
	case len(hmac) > 0 && !secretGiven && j.Issuer != IssuerSelf:
		v.problemf(ap, "%s needs secret or secret_file (an HMAC key of at least %d bytes)", strings.Join(hmac, ", "), MinHMACSecretBytes)
	case len(asym) > 0 && secretGiven:
		v.problemf(ap, "with a secret only HS256, HS384 and HS512 are allowed, not %s", strings.Join(asym, ", "))
	}
}

func (v *validator) jwksFile(path, file string) {
	b, err := readFileLimited(file, MaxFileBytes)
	if err != nil {
		v.problemf(path, "cannot read %s: %v", v.showPath(path, file), err)
		return
	}
	v.digest(file, b)
	var set struct {
		Keys []map[string]json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil || set.Keys == nil {
		v.problemf(path, `%s is not a JWK Set (a JSON object with a "keys" array)`, v.showPath(path, file))
		return
	}
	if len(set.Keys) == 0 {
		v.problemf(path, "%s holds no keys", v.showPath(path, file))
	}
	for i, k := range set.Keys {
		if _, private := k["d"]; private {
			v.problemf(path, "key %d of %s holds private key material; a verifier needs only the public keys", i, v.showPath(path, file))
		}
	}
}

// showPath shows a file path: the resolved path when written literally, the reference
// when it came from the environment.
func (v *validator) showPath(path, file string) string {
	if o := v.src[path]; o.expanded {
		return showOrigin(o, file)
	}
	return strconv.Quote(file)
}

func (v *validator) digest(file string, b []byte) {
	if v.c.digests == nil {
		v.c.digests = map[string][32]byte{}
	}
	v.c.digests[file] = sha256.Sum256(b)
}

func (v *validator) apiKey(path string, k *APIKey) {
	hp := join(path, "header")
	switch {
	case !isToken(k.Header):
		v.problemf(hp, "%s is not a valid header name", v.show(hp, k.Header))
	case strings.EqualFold(k.Header, "Authorization"):
		v.problemf(hp, "keys are already read from Authorization as Bearer gk_...; name another header")
	}
	if k.Query != "" && !queryParamRe.MatchString(k.Query) {
		qp := join(path, "query")
		v.problemf(qp, "%s is not a plain query parameter name (letters, digits, . _ ~ -)", v.show(qp, k.Query))
	}
}

func (v *validator) introspection(path string, in *Introspection) {
	up := join(path, "url")
	if in.URL == "" {
		v.problemf(up, "required: the RFC 7662 introspection endpoint")
	} else if err := checkURL(in.URL, true); err != nil {
		v.problemf(up, "%v", err)
	} else if u, _ := url.Parse(in.URL); u.Scheme != "https" && !isLoopbackHost(u.Hostname()) {
		// Every call carries a client's token and Gatehouse's own client secret; over
		// plain http anyone on the path reads both, and can answer "active" for any token.
		v.problemf(up, "must be an https:// URL (http:// only for a loopback host such as 127.0.0.1): each call carries a token and the client secret")
	}
	if in.ClientID == "" {
		v.problemf(join(path, "client_id"), "required: the client id Gatehouse authenticates to the endpoint with")
	}
	if in.ClientSecret.IsZero() && !v.isBad(join(path, "client_secret")) {
		v.problemf(join(path, "client_secret"), "required: give client_secret or client_secret_file")
	}
	v.nonNegative(join(path, "cache_max_ttl"), in.CacheMaxTTL)
	v.positive(join(path, "timeout"), in.Timeout)
	v.claimRules(path, in.ClaimRules)
}

// tls checks that the certificate and key are given together and load as a pair. The
// key's content never appears in a message.
func (v *validator) tls() {
	t := v.c.TLS
	switch {
	case t.CertFile == "" && t.KeyFile == "":
		return
	case t.CertFile == "":
		v.problemf("tls.cert_file", "required with tls.key_file: the PEM certificate chain to serve")
		return
	case t.KeyFile == "":
		v.problemf("tls.key_file", "required with tls.cert_file: the certificate's PEM private key")
		return
	}
	if _, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile); err != nil {
		v.problemf("tls.cert_file", "%s and %s do not load as a certificate and key: %v", v.showPath("tls.cert_file", t.CertFile), v.showPath("tls.key_file", t.KeyFile), tlsLoadError(err))
	}
}

// tlsLoadError reduces a crypto/tls load error to its kind: the error text of a failed
// PEM parse can quote the file.
func tlsLoadError(err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "no such file"):
		return "no such file"
	case strings.Contains(msg, "permission denied"):
		return "permission denied"
	case strings.Contains(msg, "private key does not match"):
		return "the private key does not match the certificate"
	case strings.Contains(msg, "find any PEM data") || strings.Contains(msg, "failed to find"):
		return "no PEM certificate or key found"
	}
	return "not a valid PEM certificate and key"
}

func (v *validator) mtls(path string, m *MTLS) {
	cp := join(path, "ca_file")
	if m.CAFile == "" {
		v.problemf(cp, "required: a PEM file of the CAs client certificates must chain to")
	} else if b, err := readFileLimited(m.CAFile, MaxFileBytes); err != nil {
		v.problemf(cp, "cannot read %s: %v", v.showPath(cp, m.CAFile), err)
	} else {
		v.digest(m.CAFile, b)
		if !x509.NewCertPool().AppendCertsFromPEM(b) {
			v.problemf(cp, "%s holds no PEM certificate", v.showPath(cp, m.CAFile))
		}
	}
	switch m.PrincipalFrom {
	case PrincipalCN, PrincipalSANURI, PrincipalSANDNS, PrincipalSANEmail:
	default:
		pp := join(path, "principal_from")
		all := []string{string(PrincipalCN), string(PrincipalSANURI), string(PrincipalSANDNS), string(PrincipalSANEmail)}
		v.problemf(pp, "%s is not a certificate field: use %s%s", v.show(pp, string(m.PrincipalFrom)), strings.Join(all, ", "), didYouMean(string(m.PrincipalFrom), all))
	}
	if m.principalFromDefaulted {
		v.warnf(path, "principal_from is not set: the principal now comes from the certificate's first DNS SAN (%s); "+
			"earlier versions took the CN. Set principal_from to say which field you mean (cn is refused under CAs with name constraints)",
			DefaultPrincipalFrom)
	}
}

func (v *validator) routes() {
	c := v.c
	if len(c.Routes) == 0 {
		v.problemf("routes", "at least one route is required")
		return
	}
	names := map[string]int{}
	for i := range c.Routes {
		r := &c.Routes[i]
		path := index("routes", i)
		np := join(path, "name")
		if first, dup := names[r.Name]; dup {
			v.problemf(np, "route name %s is used twice (first at line %d)", v.show(np, r.Name), first)
		} else if !routeNameRe.MatchString(r.Name) {
			v.problemf(np, "%s is not a valid route name: use 1 to 64 letters, digits, . _ and -", v.show(np, r.Name))
		} else {
			names[r.Name] = v.lineOf(path)
		}
		v.route(i, r)
	}
	// A route that earlier routes always win over can never match. Routes are checked
	// per host: a route limited to a host only competes with routes that take that host.
	for _, h := range routeHosts(c.Routes) {
		t := &prefixNode{}
		for j := range c.Routes {
			r := &c.Routes[j]
			if !strings.HasPrefix(r.Match.PathPrefix, "/") || len(r.Match.PathPrefix) > MaxPathPrefixBytes ||
				len(r.Match.Methods) > MaxRouteMethods || v.isBad(join(index("routes", j), "match")) || !hostTakes(r.Match.Host, h) {
				continue
			}
			if r.Match.Host == h {
				if by := t.shadowing(r); len(by) > 0 {
					v.problemf(index("routes", j), "route %s can never match: %s", v.routeLabel(j), v.describeShadow(by))
				}
			}
			t.add(r, j)
		}
		v.routeMatching(h)
	}
}

// routeHosts lists the distinct match.host values of routes, "" (every host) first.
func routeHosts(routes []Route) []string {
	hosts := []string{""}
	for _, r := range routes {
		if !slices.Contains(hosts, r.Match.Host) {
			hosts = append(hosts, r.Match.Host)
		}
	}
	return hosts
}

// hostTakes reports whether a route whose match.host is pattern takes every request for
// host (a match.host value): pattern is empty, the same, or a wildcard over host's one
// label.
func hostTakes(pattern, host string) bool {
	switch {
	case pattern == "" || pattern == host:
		return true
	case host == "" || !strings.HasPrefix(pattern, "*.") || strings.HasPrefix(host, "*."):
		return false
	}
	label, ok := strings.CutSuffix(host, pattern[1:])
	return ok && label != "" && !strings.Contains(label, ".")
}

// routeMatching checks how routes share paths: a case-sensitive route that a later
// case-insensitive one covers (a problem: a case variant of its paths would skip it), and
// a method-restricted route in front of a broader route (a warning: other methods get
// 405 there, where they once fell through). Routes are visited last to first, each
// checked against a trie of the routes after it, so the work grows with the number of
// routes times their depth, not with its square.
//
// It looks at the routes that take requests for host (every route when host is "", the
// routes without a host), and reports on those whose match.host is host.
func (v *validator) routeMatching(host string) {
	routes := v.c.Routes
	exact, folded := &laterNode{}, &laterNode{} // later case-sensitive, case-insensitive routes
	for i := len(routes) - 1; i >= 0; i-- {
		r := &routes[i]
		if p := r.Match.PathPrefix; !strings.HasPrefix(p, "/") || len(p) > MaxPathPrefixBytes ||
			len(r.Match.Methods) > MaxRouteMethods || v.isBad(join(index("routes", i), "match")) || !hostTakes(r.Match.Host, host) {
			continue
		}
		if r.Match.Host != host {
			// Recorded for the routes before it, reported on in its own host's pass.
			segs := segments(r.Match.PathPrefix)
			if r.Match.CaseInsensitive {
				fsegs := make([]string, len(segs))
				for k, sg := range segs {
					fsegs[k] = foldKey(sg)
				}
				folded.add(fsegs, r, i)
			} else {
				exact.add(segs, r, i)
			}
			continue
		}
		mp := join(index("routes", i), "match")
		segs := segments(r.Match.PathPrefix)
		fsegs := make([]string, len(segs))
		for k, sg := range segs {
			fsegs[k] = foldKey(sg)
		}
		if r.Match.MethodsFallthrough && len(r.Match.Methods) == 0 {
			v.warnf(join(mp, "methods_fallthrough"), "has no effect without methods: route %s takes every method", v.routeLabel(i))
		}
		if !r.Match.CaseInsensitive {
			if j := folded.firstCaseInsensitive(fsegs); j >= 0 {
				o := &routes[j]
				v.problemf(mp, "route %s matches case-sensitively, but route %s (line %d) after it matches %s without regard to case: "+
					"a request for %s would skip %s and reach %s, whose upstream reads it as a path of %s; set case_insensitive: true on %s too",
					v.routeLabel(i), v.routeLabel(j), v.lineOf(index("routes", j)), o.Match.PathPrefix,
					strings.ToUpper(prefixPath(r.Match.PathPrefix)), v.routeLabel(i), v.routeLabel(j), v.routeLabel(i), v.routeLabel(i))
			}
		}
		if len(r.Match.Methods) > 0 && !r.Match.MethodsFallthrough {
			have := withHead(r.Match.Methods)
			j := min1(exact.firstOtherMethod(segs, have), folded.firstOtherMethod(fsegs, have))
			if j >= 0 {
				v.warnf(join(mp, "methods"), "route %s takes only %s: other methods under %s get 405 method_not_allowed, not route %s (line %d); "+
					"list them here, or set methods_fallthrough: true to have route %s decide them",
					v.routeLabel(i), strings.Join(have, ", "), r.Match.PathPrefix, v.routeLabel(j), v.lineOf(index("routes", j)), v.routeLabel(j))
			}
		}
		if r.Match.CaseInsensitive {
			folded.add(fsegs, r, i)
		} else {
			exact.add(segs, r, i)
		}
	}
}

// laterNode is a trie of path segments holding, for the routes added so far (those after
// the route being checked), the first route at each prefix that takes every method, the
// first for each listed method, and the first case-insensitive one.
type laterNode struct {
	children map[string]*laterNode
	all      int // 1 + index; 0 when none
	ci       int
	// methods holds the methods of the first routes here, first route first, each method
	// once and at most maxFirstMethods of them: a route lists at most MaxRouteMethods
	// methods (and HEAD), so among that many at least one is not its own.
	methods []methodAt
}

type methodAt struct {
	method string
	index  int
}

const maxFirstMethods = MaxRouteMethods + 2

// add records route r, index i, at segs. Routes are added last to first, so each
// assignment keeps the first route.
func (t *laterNode) add(segs []string, r *Route, i int) {
	n := t
	for _, sg := range segs {
		c := n.children[sg]
		if c == nil {
			if n.children == nil {
				n.children = map[string]*laterNode{}
			}
			c = &laterNode{}
			n.children[sg] = c
		}
		n = c
	}
	if r.Match.CaseInsensitive {
		n.ci = i + 1
	}
	if len(r.Match.Methods) == 0 {
		n.all = i + 1
		return
	}
	ms := withHead(r.Match.Methods)
	first := make([]methodAt, 0, maxFirstMethods)
	for _, m := range ms {
		first = append(first, methodAt{m, i})
	}
	for _, ma := range n.methods {
		if len(first) == maxFirstMethods {
			break
		}
		if !slices.Contains(ms, ma.method) {
			first = append(first, ma)
		}
	}
	n.methods = first
}

// walk calls f on the node of every prefix of segs (the root included) that holds routes.
func (t *laterNode) walk(segs []string, f func(*laterNode)) {
	n := t
	for depth := 0; n != nil; depth++ {
		f(n)
		if depth == len(segs) {
			return
		}
		n = n.children[segs[depth]]
	}
}

// firstCaseInsensitive returns the first recorded case-insensitive route whose prefix
// covers segs, or -1.
func (t *laterNode) firstCaseInsensitive(segs []string) int {
	best := -1
	t.walk(segs, func(n *laterNode) { best = min1(best, n.ci-1) })
	return best
}

// firstOtherMethod returns the first recorded route whose prefix covers segs and that
// takes a method outside have, or -1.
func (t *laterNode) firstOtherMethod(segs []string, have []string) int {
	best := -1
	t.walk(segs, func(n *laterNode) {
		best = min1(best, n.all-1)
		for _, ma := range n.methods {
			if !slices.Contains(have, ma.method) {
				best = min1(best, ma.index)
				break
			}
		}
	})
	return best
}

// min1 is the smaller of two indexes where -1 means none.
func min1(a, b int) int {
	switch {
	case a < 0:
		return b
	case b < 0:
		return a
	}
	return min(a, b)
}

// foldKey maps s to a key equal for exactly the strings strings.EqualFold holds equal:
// each rune becomes the smallest rune of its case-folding orbit.
func foldKey(s string) string {
	return strings.Map(func(r rune) rune {
		m := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			m = min(m, f)
		}
		return m
	}, s)
}

// prefixPath is a path_prefix as a path: without its trailing slash, "/" for the root.
func prefixPath(p string) string {
	if p = strings.TrimSuffix(p, "/"); p == "" {
		return "/"
	}
	return p
}

// withHead returns methods with HEAD added after GET, as routes take them.
func withHead(methods []string) []string {
	out := slices.Clone(methods)
	if slices.Contains(out, "GET") && !slices.Contains(out, "HEAD") {
		out = slices.Insert(out, slices.Index(out, "GET")+1, "HEAD")
	}
	return out
}

// describeShadow names the earlier routes that together match every request of a route.
func (v *validator) describeShadow(by []int) string {
	var names []string
	for _, i := range by {
		names = append(names, fmt.Sprintf("%s (line %d)", v.routeLabel(i), v.lineOf(index("routes", i))))
	}
	if len(names) == 1 {
		return "route " + names[0] + " comes first and matches every request it would"
	}
	return "routes " + strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1] + " come first and together match every request it would"
}

// prefixNode is a trie of path segments holding, for each prefix, the first route that
// matches every method there and the first route for each listed method. Checking each
// route against it costs its depth times its methods, where comparing every pair of routes
// would be quadratic in their number.
type prefixNode struct {
	children map[string]*prefixNode
	all      int // 1 + index of the first route for every method; 0 when none
	methods  map[string]int
}

// segments splits a path prefix the way decision.PathHasPrefix compares it.
func segments(prefix string) []string {
	p := strings.TrimSuffix(prefix, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p[1:], "/")
}

func (t *prefixNode) add(r *Route, i int) {
	n := t
	for _, s := range segments(r.Match.PathPrefix) {
		c := n.children[s]
		if c == nil {
			if n.children == nil {
				n.children = map[string]*prefixNode{}
			}
			c = &prefixNode{}
			n.children[s] = c
		}
		n = c
	}
	if len(r.Match.Methods) == 0 {
		if n.all == 0 {
			n.all = i + 1
		}
		return
	}
	if n.methods == nil {
		n.methods = map[string]int{}
	}
	for _, m := range r.Match.Methods {
		if _, ok := n.methods[m]; !ok {
			n.methods[m] = i + 1
		}
	}
}

// shadowing returns the indexes of earlier routes that together match every request r
// would, or nil when r can match something.
func (t *prefixNode) shadowing(r *Route) []int {
	uncovered := map[string]bool{}
	for _, m := range r.Match.Methods {
		uncovered[m] = true
	}
	by := map[int]bool{}
	n := t
	segs := segments(r.Match.PathPrefix)
	for depth := 0; n != nil; depth++ {
		if n.all > 0 {
			return []int{n.all - 1}
		}
		for m := range uncovered {
			i, ok := n.methods[m]
			if g, get := n.methods["GET"]; m == "HEAD" && get && (!ok || g < i) {
				// A route that takes GET takes HEAD too.
				i, ok = g, true
			}
			if ok {
				by[i-1] = true
				delete(uncovered, m)
			}
		}
		if len(r.Match.Methods) > 0 && len(uncovered) == 0 {
			return slices.Sorted(maps.Keys(by))
		}
		if depth == len(segs) {
			break
		}
		n = n.children[segs[depth]]
	}
	return nil
}

// routeLabel names route i in a message: its quoted name, or routes[i] when the name came
// from the environment.
func (v *validator) routeLabel(i int) string {
	path := index("routes", i)
	if v.src[join(path, "name")].expanded {
		return path
	}
	return strconv.Quote(v.c.Routes[i].Name)
}

func (v *validator) route(i int, r *Route) {
	path := index("routes", i)
	label := v.routeLabel(i)
	pp := join(join(path, "match"), "path_prefix")
	switch p := r.Match.PathPrefix; {
	case p == "":
		v.problemf(join(path, "match"), "path_prefix is required, such as path_prefix: /api")
	case len(p) > MaxPathPrefixBytes:
		v.problemf(pp, "must be at most %d bytes", MaxPathPrefixBytes)
	case !strings.HasPrefix(p, "/"):
		v.problemf(pp, "%s must start with /", v.show(pp, p))
	case strings.ContainsAny(p, "?# \t") || hasControl(p):
		v.problemf(pp, "%s must be a plain path, without query, fragment or spaces", v.show(pp, p))
	}
	if len(r.Match.Methods) > MaxRouteMethods {
		v.problemf(join(join(path, "match"), "methods"), "at most %d methods", MaxRouteMethods)
	}
	seen := map[string]bool{}
	for i, m := range r.Match.Methods {
		mp := index(join(join(path, "match"), "methods"), i)
		switch {
		case !isToken(m):
			v.problemf(mp, "%s is not a valid method name", v.show(mp, m))
		case seen[m]:
			v.problemf(mp, "method %s is listed twice", m)
		}
		seen[m] = true
	}
	if r.Upstream != "" {
		if err := checkURL(r.Upstream, true); err != nil {
			v.problemf(join(path, "upstream"), "%v", err)
		}
	}
	ap := join(path, "authenticate")
	switch {
	case r.Anonymous && len(r.Authenticators) > 0:
		v.problemf(ap, "%s cannot be combined with authenticators: a route is either open or authenticated", Anonymous)
	case !r.Anonymous && len(r.Authenticators) == 0:
		v.problemf(ap, "route %s needs authenticate: a list of authenticator names, or %s", label, Anonymous)
	}
	for _, name := range r.Authenticators {
		if a, ok := v.c.Authenticators[name]; ok && a.Type == TypeMTLS && !v.c.TLS.Enabled() {
			np := join(ap, name)
			v.reportf(np, "", "route %s uses mtls authenticator %s, which needs TLS on the public listener: set tls.cert_file and tls.key_file", label, v.show(np, name))
		}
		if _, ok := v.c.Authenticators[name]; !ok {
			if v.authNames == nil {
				v.authNames = v.c.AuthenticatorNames()
			}
			known := v.authNames
			np := join(ap, name)
			v.reportf(np, "", "route %s names authenticator %s which is not defined%s", label, v.show(np, name), didYouMean(name, known))
		}
	}
	v.host(join(join(path, "match"), "host"), &r.Match.Host)
	sp := join(join(path, "require"), "scopes")
	if r.Anonymous && len(r.Require.Scopes) > 0 {
		v.problemf(sp, "an anonymous route has no principal to hold scopes: remove require or name authenticators")
	}
	v.require(join(path, "require"), r)
	for i, s := range r.Require.Scopes {
		p := index(sp, i)
		if !isScopeToken(s) {
			v.problemf(p, "%s is not a valid scope (printable ASCII without spaces, quotes or backslashes)", v.show(p, s))
		}
	}
}

// checkURL checks an absolute http(s) URL with a host and no fragment; unless allowQuery,
// it also refuses a query. Its errors never quote the URL, which may hold credentials.
func checkURL(s string, allowQuery bool) error {
	u, err := url.Parse(s)
	switch {
	case !strings.Contains(s, "://"):
		return fmt.Errorf("must be an http:// or https:// URL")
	case err != nil:
		return fmt.Errorf("is not a valid URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("must be an http:// or https:// URL")
	case u.Host == "" || u.Hostname() == "":
		return fmt.Errorf("must name a host")
	case u.User != nil:
		return fmt.Errorf("must not hold a user name or password; credentials in URLs end up in logs")
	case u.Fragment != "" || strings.Contains(s, "#"):
		return fmt.Errorf("must not hold a fragment")
	case !allowQuery && (u.RawQuery != "" || u.ForceQuery):
		return fmt.Errorf("must not hold a query")
	}
	return nil
}

// isToken reports whether s is an RFC 9110 token (header names, methods).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// isScopeToken reports whether s is an RFC 6749 scope-token.
func isScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

func hasControl(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) {
			return true
		}
	}
	return false
}

// fmtDuration formats a duration without trailing zero units: 5m, 1h30m, 24h.
func fmtDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// isLoopbackHost reports whether host is localhost or a loopback IP literal.
func isLoopbackHost(host string) bool { return tokenrules.IsLoopbackHost(host) }
