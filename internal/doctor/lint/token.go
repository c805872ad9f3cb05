package lint

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/tokens"
)

// looksJWT reports whether s has the shape of a compact JWS (three base64url segments,
// the first starting with "ey").
func looksJWT(s string) bool { return tokens.LooksLikeJWT(s) }

// placeholderPattern is one way an unfilled template shows up in a value.
type placeholderPattern struct {
	re   *regexp.Regexp
	what string
	// tokenOnly patterns are skipped for passwords: "changeme" or "secret" is a weak but
	// real password, while as a bearer token or API key it can only be a placeholder.
	tokenOnly bool
}

// placeholderPatterns are the placeholders of unexpanded_placeholder
// (docs/doctor.md#d-the-credentials-bytes). A bare "$name" is matched separately (see
// shellVar) because a real password may contain '$' followed by letters.
var placeholderPatterns = []placeholderPattern{
	{regexp.MustCompile(`\$\{[A-Za-z_][A-Za-z0-9_]*(:?[-=?+][^}]*)?\}`), "a shell variable reference ${NAME} that was never expanded (single quotes, a .env loader without expansion, or a YAML/JSON file)", false},
	{regexp.MustCompile(`\$\(`), "a shell command substitution $(...) that was never run", false},
	{regexp.MustCompile(`\{\{[^{}]*\}\}`), "a template variable {{name}} that was never substituted (Postman, Insomnia, Helm, Jinja)", false},
	{regexp.MustCompile(`%[A-Za-z_][A-Za-z0-9_]*%`), "a Windows %NAME% variable that was never expanded", false},
	{regexp.MustCompile(`<[^<>]+>`), "a documentation placeholder in angle brackets", false},
	{regexp.MustCompile(`(?i)your[_-]?(api[_-]?|access[_-]?|auth[_-]?|secret[_-]?)?(key|token|secret|password)`), "sample text from documentation (\"your_api_key\")", false},
	{regexp.MustCompile(`[xX]{6,}`), "a run of x that documentation uses to stand for the real value", true},
	{regexp.MustCompile(`(?i)^(change[_-]?me|replace[_-]?me|todo|tbd|fixme|placeholder|dummy|example|sample|secret|token|password|api[_-]?key|access[_-]?token|insert[_-].+|paste[_-].+|enter[_-].+|.+[_-]here)$|(?i)(change[_-]?me|replace[_-]?me)`), "a placeholder word", true},
}

// shellVar matches "$NAME" where NAME looks like an environment variable name (capitals,
// digits, underscores). Lower-case "$word" is left to shell_mangled_secret, since random
// passwords contain such runs.
var shellVar = regexp.MustCompile(`\$[A-Z_][A-Z0-9_]{2,}(?:[^A-Za-z0-9_]|$)`)

// showMatch returns text matched by a placeholder pattern for evidence, when it is safe to
// show: made only of name-like characters, and shortened to fewer than 16 bytes so that it
// can never reproduce a secret value in full.
func showMatch(m string) string {
	for i := 0; i < len(m); i++ {
		b := m[i]
		if b >= 0x80 || !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || strings.IndexByte("_-.$%{}()<>* ", b) >= 0) {
			return ""
		}
	}
	if len(m) > 15 {
		return m[:12] + "…"
	}
	return m
}

// placeholder reports an unfilled template in v and returns whether it found one. token
// is true for bearer tokens and keys, false for passwords (see tokenOnly).
func (c *checker) placeholder(v, part string, token bool) bool {
	var ev []string
	for _, p := range placeholderPatterns {
		if p.tokenOnly && !token {
			continue
		}
		if loc := p.re.FindStringIndex(v); loc != nil {
			ev = append(ev, describeMatch(v, loc, p.what))
		}
	}
	if loc := shellVar.FindStringIndex(v); loc != nil {
		ev = append(ev, describeMatch(v, loc, "a $NAME environment variable reference that was never expanded"))
	}
	if len(ev) == 0 {
		return false
	}
	c.add(CodePlaceholder, 92, fmt.Sprintf("The %s is a placeholder that was never replaced by the real value.", part),
		"Replace the placeholder with the real secret: export the variable in the shell that runs the command, use double quotes (not single) where the shell should expand it, or fill in the template variable in your tool's environment.",
		ev...)
	return true
}

func describeMatch(v string, loc []int, what string) string {
	if shown := showMatch(v[loc[0]:loc[1]]); shown != "" {
		return fmt.Sprintf("byte %d: %q, %s", loc[0], shown, what)
	}
	return fmt.Sprintf("byte %d: %s", loc[0], what)
}

// masked reports an ellipsis or mask characters inside a value: a display form copied
// from a UI instead of the secret. It returns whether it found one.
func (c *checker) masked(v, part string) bool {
	var ev []string
	for _, m := range []struct{ s, what string }{
		{"…", "a U+2026 HORIZONTAL ELLIPSIS"},
		{"...", "three dots"},
		{"•••", "bullet characters used to mask a value"},
		{"***", "asterisks used to mask a value"},
	} {
		if i := strings.Index(v, m.s); i >= 0 {
			ev = append(ev, fmt.Sprintf("byte %d of the %s: %s", i, part, m.what))
		}
	}
	if len(ev) == 0 {
		return false
	}
	defer c.add(CodeTruncated, 88, fmt.Sprintf("The %s looks like a shortened display value, not the full secret.", part),
		"Copy the complete value (use the issuing app's copy or reveal button), or create a new credential if it is only shown once.",
		ev...)
	return true
}

// Expected signature lengths in bytes for fixed-size JWS algorithms (RFC 7518).
var sigLen = map[string]int{
	"HS256": 32, "HS384": 48, "HS512": 64,
	"ES256": 64, "ES384": 96, "ES512": 132, "ES256K": 64,
}

// jwt checks a value that is meant to be a JWT for missing segments and truncation.
func (c *checker) jwt(tok string) {
	segs := strings.Count(tok, ".") + 1
	const fix = "Copy the whole token again (all three dot-separated parts); a token cut by a terminal, a log line or a length limit cannot be used."
	switch {
	case segs == 5:
		return // an encrypted JWT (JWE): opaque to us, and a separate rule.
	case segs != 3:
		c.add(CodeTruncated, 85, fmt.Sprintf("The token starts like a JWT but has %d dot-separated segment(s) instead of 3.", segs),
			fix, fmt.Sprintf("%d segments, %d bytes", segs, len(tok)))
		return
	}
	d, err := tokens.Decode(tok)
	if err != nil {
		if errors.Is(err, tokens.ErrTooLarge) {
			return
		}
		c.add(CodeTruncated, 80, "The token has the shape of a JWT but one of its segments does not decode.",
			fix, "decoder: "+err.Error())
		return
	}
	alg := d.HeaderString("alg")
	switch want, fixed := sigLen[alg]; {
	case alg != "none" && d.SignatureBytes == 0:
		c.add(CodeTruncated, 88, "The JWT's signature segment is empty.", fix,
			fmt.Sprintf("header alg %q but the third segment is empty", alg))
	case fixed && d.SignatureBytes < want:
		c.add(CodeTruncated, 88, fmt.Sprintf("The JWT's signature is %d bytes; %s signatures are %d bytes, so the token was cut short.", d.SignatureBytes, alg, want), fix,
			fmt.Sprintf("alg %s, signature %d bytes, expected %d", alg, d.SignatureBytes, want))
	case (strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")) && d.SignatureBytes < 128:
		c.add(CodeTruncated, 85, fmt.Sprintf("The JWT's signature is %d bytes; an %s signature is as long as the RSA key (256 bytes for 2048 bits).", d.SignatureBytes, alg), fix,
			fmt.Sprintf("alg %s, signature %d bytes, expected at least 128", alg, d.SignatureBytes))
	}
	c.jwtEnvironment(d)
}

// keyShape compares a prefixed key's length with what its issuer produces.
func (c *checker) keyShape(v string, k keyKind) {
	if k.Prefix == "gk_" {
		c.gatehouseKey(v)
		return
	}
	c.keyEnvironment(v, k)
	if k.MinLen > 0 && len(v) < k.MinLen {
		expect := fmt.Sprintf("at least %d", k.MinLen)
		if k.MaxLen == k.MinLen {
			expect = fmt.Sprintf("%d", k.MinLen)
		}
		c.add(CodeTruncated, 75, fmt.Sprintf("This %s is %d characters; such keys are %s characters, so it is probably cut short.", k.Vendor, len(v), expect),
			"Copy the complete key again, or create a new one if the issuer shows it only once.",
			fmt.Sprintf("prefix %q (%s), length %d, expected %s", k.Prefix, k.Vendor, len(v), expect))
	}
}

// gatehouseKey checks a gk_ key offline: the parts and their lengths, then the checksum
// with the gateway's own code (secret.ParseAPIKey), so a key with one character changed
// is found before anything is sent.
func (c *checker) gatehouseKey(v string) {
	k, problem := parseGatehouseKey(v)
	if problem == "" {
		c.environment(k.Env, "the key's environment part", "gk_"+k.Env+"_…")
		if _, err := secret.ParseAPIKey(v); errors.Is(err, secret.ErrKeyChecksum) {
			c.add(CodeTruncated, 92, "This Gatehouse API key's checksum does not match: a character was changed, dropped or added when it was copied.",
				"Copy the key again from where it was saved at creation (it is shown once), or create a new one with 'gatehouse keys create'.",
				fmt.Sprintf("the last %d characters of a gk_ key are a checksum of the rest, checked offline as the gateway checks it; they do not match", secret.KeyChecksumLen))
		}
		return
	}
	c.add(CodeTruncated, 80, "This Gatehouse API key does not have the shape gk_<env>_<id>_<secret><checksum>: "+problem+".",
		"Copy the complete key again (it is shown once, at creation), or create a new one with 'gatehouse keys create'.",
		fmt.Sprintf("env %q, id %d characters, secret+checksum %d characters (at least %d expected)", k.Env, len(k.ID), k.SecretLen, gatehouseMinSecret))
}

// keyPlace reports a vendor key sent as a Bearer token where it does not belong.
func (c *checker) keyPlace(k keyKind) {
	offersBearer := false
	for _, s := range c.in.ServerSchemes {
		if strings.EqualFold(s, "Bearer") {
			offersBearer = true
		}
	}
	switch {
	case !k.Bearer:
		c.add(CodeAPIKeyWrongPlace, 60, fmt.Sprintf("A %s is sent as a Bearer token, but that is not where this kind of key goes.", k.Vendor),
			fmt.Sprintf("Send it in %s, as the API documents, not in 'Authorization: Bearer'.", k.Where),
			fmt.Sprintf("prefix %q identifies a %s", k.Prefix, k.Vendor))
	case c.in.ServerSchemes != nil && !offersBearer:
		offered := "no scheme at all"
		if len(c.in.ServerSchemes) > 0 {
			offered = strings.Join(c.in.ServerSchemes, ", ")
		}
		c.add(CodeAPIKeyWrongPlace, 55, fmt.Sprintf("A %s is sent as a Bearer token, but the server does not offer Bearer.", k.Vendor),
			"Send the key where this API expects it (often an X-Api-Key header or a query parameter; see its error message or OpenAPI securitySchemes), not in 'Authorization: Bearer'.",
			fmt.Sprintf("the server's challenges offer: %s", offered))
	}
}

// shell reports characters that a shell would have interpreted had the secret been
// written unquoted or in double quotes.
func (c *checker) shell(v, part string) {
	var found []string
	for _, ch := range []struct{ s, what string }{
		{"$", "'$' (variable expansion)"},
		{"`", "'`' (command substitution)"},
		{"!", "'!' (history expansion in interactive bash)"},
		{"\\", "'\\' (escape character)"},
	} {
		if strings.Contains(v, ch.s) {
			found = append(found, ch.what)
		}
	}
	if len(found) == 0 {
		return
	}
	c.add(CodeShellMangled, 30, fmt.Sprintf("The %s contains characters a shell rewrites, so the value that arrives may differ from the one you wrote.", part),
		"Put literal secrets in single quotes ('...'), or read them from a file (--env-file, $(cat file)), so the shell does not expand them. If the server rejects it, compare the length you expect with the length shown here.",
		fmt.Sprintf("the %s (%d bytes) contains %s", part, len(v), strings.Join(found, ", ")))
}

// envWords classify a host label or key part as production or not.
var envWords = map[string]string{
	"dev": "dev", "develop": "dev", "development": "dev", "local": "local", "localhost": "local",
	"staging": "staging", "stage": "staging", "stg": "staging", "preprod": "staging", "uat": "staging",
	"qa": "test", "test": "test", "testing": "test", "sandbox": "sandbox", "sbx": "sandbox",
	"prod": "prod", "production": "prod", "live": "prod", "prd": "prod",
}

// envOfName returns the environment a host name or key part names, or "".
func envOfName(s string) string {
	s = strings.ToLower(s)
	if s == "127.0.0.1" || s == "::1" || s == "[::1]" {
		return "local"
	}
	for _, w := range strings.FieldsFunc(s, func(r rune) bool { return r == '.' || r == '-' || r == '_' }) {
		if e, ok := envWords[w]; ok {
			return e
		}
		// "api-dev1", "staging2": strip trailing digits.
		if e, ok := envWords[strings.TrimRight(w, "0123456789")]; ok {
			return e
		}
	}
	return ""
}

// targetEnv classifies the host being called: an explicit environment word, or "prod"
// for a public-looking name without one.
func targetEnv(host string) string {
	h := strings.ToLower(host)
	if i := strings.LastIndexByte(h, ':'); i > 0 && !strings.Contains(h[i:], "]") && strings.Count(h, ":") == 1 {
		h = h[:i]
	}
	if e := envOfName(h); e != "" {
		return e
	}
	if strings.Contains(h, ".") && !isIPLiteral(h) && !strings.HasSuffix(h, ".internal") && !strings.HasSuffix(h, ".local") {
		return "prod"
	}
	return ""
}

func isIPLiteral(h string) bool {
	h = strings.Trim(h, "[]")
	if strings.Contains(h, ":") {
		return true
	}
	for i := 0; i < len(h); i++ {
		if !(h[i] >= '0' && h[i] <= '9' || h[i] == '.') {
			return false
		}
	}
	return h != ""
}

func isProd(e string) bool { return e == "prod" }

// environment compares the environment a credential names with the target host's.
func (c *checker) environment(credName, what, shown string) {
	credEnv := envOfName(credName)
	tgt := targetEnv(c.in.TargetHost)
	// A local target (localhost, loopback) is where any credential gets tried during
	// development, so it says nothing about the environment.
	if credEnv == "" || tgt == "" || tgt == "local" || isProd(credEnv) == isProd(tgt) {
		return
	}
	c.add(CodeWrongEnvironment, 45, fmt.Sprintf("The credential looks issued for %s, but %s looks like %s.", credEnv, c.in.TargetHost, tgt),
		"Use the credential issued for the environment you are calling (or call the environment the credential belongs to). Environments usually have separate issuers, keys and accounts.",
		fmt.Sprintf("%s: %s → environment %q", what, shown, credEnv),
		fmt.Sprintf("target host %s → environment %q", c.in.TargetHost, tgt))
}

// keyEnvironment handles vendor keys whose prefix names the mode. Such vendors serve both
// modes from one host, so only a host that itself names an environment is compared.
func (c *checker) keyEnvironment(v string, k keyKind) {
	if k.Env == "" || envOfName(c.in.TargetHost) == "" {
		return
	}
	c.environment(k.Env, "the key prefix", k.Prefix+"…")
}

// jwtEnvironment compares the host names in iss and aud with the target.
func (c *checker) jwtEnvironment(d *tokens.Decoded) {
	check := func(claim, v string) bool {
		host := v
		if u, err := url.Parse(v); err == nil && u.Host != "" {
			host = u.Hostname()
		}
		before := len(c.out)
		c.environment(host, "claim "+claim, fmt.Sprintf("%q", showClaim(v)))
		return len(c.out) > before
	}
	if iss := d.ClaimString("iss"); iss != "" && check("iss", iss) {
		return
	}
	for _, aud := range d.Audience() {
		if check("aud", aud) {
			return
		}
	}
}

// showClaim shortens a claim value for evidence. iss and aud are public identifiers, not
// secrets, but are bounded so evidence stays one line.
func showClaim(v string) string {
	v = Escape(v)
	if len(v) > 80 {
		return v[:77] + "…"
	}
	return v
}
