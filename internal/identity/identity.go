// Package identity turns a verified principal's claims into what the upstream sees: the
// subject and scopes read from configurable claims (subject_claim, scope_claims), and the
// headers an authenticator maps claims to (headers: {X-User-Email: email}). It is shared
// by every authenticator that has claims (jwt, introspection, and the API keys and Basic
// users whose attributes are claims), so a new one (oidc) reuses it as is.
//
// Claim paths: a path names a top-level claim when a claim of exactly that name exists
// ("https://example.com/roles", "cognito:groups"); otherwise it is split at '.' and walks
// nested objects ("realm_access.roles"). A path never indexes into arrays.
//
// Header values: a string is sent as is; an array of strings, numbers or booleans is
// joined with ','; numbers are rendered canonically (an integer as its digits, others
// in the shortest form that reads back as the same float64) and booleans as true/false.
// A value that cannot be sent faithfully leaves the header out (the request still goes
// through, without it): a control character or invalid UTF-8 anywhere, an array entry
// holding ',' (it would read as two entries), an object or an array of them, null, an
// empty array, or more than MaxHeaderValueBytes once rendered. The header is never
// half-sent: the whole value is omitted, so an upstream never sees a truncated list.
package identity

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxHeaderValueBytes bounds one mapped header's rendered value; a longer value leaves
// the header out.
const MaxHeaderValueBytes = 8 << 10

// Limits of a claim path in the configuration.
const (
	// MaxPathBytes bounds a claim path.
	MaxPathBytes = 256
	// MaxPathDepth bounds the segments of a nested claim path.
	MaxPathDepth = 16
)

// Path names a claim: a top-level claim by its exact name, else a nested claim by the
// dot-separated names leading to it ("realm_access.roles"). The exact name wins, so a
// URL-shaped claim name such as "https://example.com/roles" names that claim as written.
// A path with an empty segment ("a..b", ".a", "a.") names only a top-level claim. It is
// the one claim-path rule of the gateway: subject_claim, scope_claims, header mappings,
// audience_claim and route requirements all read claims through it. The zero Path names
// nothing.
type Path struct {
	raw   string
	parts []string // nil when the path names only a top-level claim
}

// ParsePath checks and compiles a claim path. It refuses an empty path, one longer than
// MaxPathBytes, invalid UTF-8, control characters (C0, DEL, C1), surrounding spaces and
// more than MaxPathDepth segments.
func ParsePath(s string) (Path, error) {
	switch {
	case s == "":
		return Path{}, errors.New("the claim path is empty")
	case len(s) > MaxPathBytes:
		return Path{}, fmt.Errorf("the claim path is %d bytes; at most %d are accepted", len(s), MaxPathBytes)
	case !utf8.ValidString(s):
		return Path{}, errors.New("the claim path is not valid UTF-8")
	case strings.TrimSpace(s) != s:
		return Path{}, errors.New("the claim path starts or ends with a space")
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return Path{}, errors.New("the claim path holds a control character")
		}
	}
	p := Path{raw: s}
	if !strings.Contains(s, ".") {
		return p, nil
	}
	parts := strings.Split(s, ".")
	if len(parts) > MaxPathDepth {
		return Path{}, fmt.Errorf("the claim path has %d segments; at most %d are accepted", len(parts), MaxPathDepth)
	}
	for _, seg := range parts {
		if seg == "" {
			return p, nil // a top-level name only
		}
	}
	p.parts = parts
	return p, nil
}

// Nested reports whether the path may name a nested claim.
func (p Path) Nested() bool { return p.parts != nil }

// MustPath is ParsePath for constant paths; it panics on a bad one.
func MustPath(s string) Path {
	p, err := ParsePath(s)
	if err != nil {
		panic(err)
	}
	return p
}

// String returns the path as configured.
func (p Path) String() string { return p.raw }

// IsZero reports whether p names nothing.
func (p Path) IsZero() bool { return p.raw == "" }

// Lookup returns the value p names in claims: the top-level claim of exactly p's name
// when there is one, else the nested value reached segment by segment.
func (p Path) Lookup(claims map[string]any) (any, bool) {
	if p.raw == "" || claims == nil {
		return nil, false
	}
	if v, ok := claims[p.raw]; ok {
		return v, true
	}
	if p.parts == nil {
		return nil, false
	}
	var cur any = claims
	for _, seg := range p.parts {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[seg]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// DefaultScopeClaims are the claims scopes are read from when scope_claims is not set:
// scope (RFC 8693, a space-separated string), then scp (an array, as Entra ID and Okta
// send it).
var DefaultScopeClaims = []string{"scope", "scp"}

// Rules say where an authenticator finds the subject and the scopes among the claims.
// The zero Rules mean the authenticator's defaults.
type Rules struct {
	// Subject, when set, is the only claim the subject is read from; zero means the
	// authenticator's default (sub, then its fallbacks).
	Subject Path
	// Scopes, when set, are tried in order and the first present one wins; nil means
	// DefaultScopeClaims.
	Scopes []Path
}

// NewRules compiles subject_claim and scope_claims; empty values keep the defaults.
func NewRules(subject string, scopes []string) (Rules, error) {
	var r Rules
	var errs []error
	if subject != "" {
		p, err := ParsePath(subject)
		if err != nil {
			errs = append(errs, fmt.Errorf("subject_claim: %w", err))
		}
		r.Subject = p
	}
	for i, s := range scopes {
		p, err := ParsePath(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("scope_claims[%d]: %w", i, err))
			continue
		}
		r.Scopes = append(r.Scopes, p)
	}
	return r, errors.Join(errs...)
}

// IsDefault reports whether r keeps both defaults: the authenticators' fast paths apply.
func (r Rules) IsDefault() bool {
	if !r.Subject.IsZero() && r.Subject.raw != "sub" {
		return false
	}
	if r.Scopes == nil {
		return true
	}
	if len(r.Scopes) != len(DefaultScopeClaims) {
		return false
	}
	for i, p := range r.Scopes {
		if p.raw != DefaultScopeClaims[i] {
			return false
		}
	}
	return true
}

// SubjectFrom reads the subject r.Subject names. It returns the claim's string value,
// or a problem saying why there is none: absent, or not a string.
func (r Rules) SubjectFrom(claims map[string]any) (string, string) {
	v, ok := r.Subject.Lookup(claims)
	if !ok {
		return "", fmt.Sprintf("the token has no %q claim, which names the subject here", r.Subject.raw)
	}
	s, ok := v.(string)
	if !ok || s == "" {
		return "", fmt.Sprintf("the %q claim, which names the subject here, is not a non-empty string", r.Subject.raw)
	}
	return s, ""
}

// ScopesFrom reads the scopes: the first of r.Scopes present in claims, a space-separated
// string or an array of strings. ok is false (with the claim's name) when that claim has
// another type; check names the scope text check each scope (or, for a string, the
// whole value) passes, returning a problem or "".
func (r Rules) ScopesFrom(claims map[string]any, check func(s string, single bool) string) (scopes []string, claim, problem string) {
	paths := r.Scopes
	if paths == nil {
		paths = defaultScopePaths
	}
	for _, p := range paths {
		v, ok := p.Lookup(claims)
		if !ok || v == nil {
			continue
		}
		switch v := v.(type) {
		case string:
			if pr := check(v, false); pr != "" {
				return nil, p.raw, pr
			}
			return strings.Fields(v), p.raw, ""
		case []any:
			out := make([]string, 0, len(v))
			for _, e := range v {
				s, ok := e.(string)
				if !ok {
					return nil, p.raw, "is not a space-separated string or an array of strings"
				}
				if pr := check(s, true); pr != "" {
					return nil, p.raw, pr
				}
				out = append(out, s)
			}
			return out, p.raw, ""
		default:
			return nil, p.raw, "is not a space-separated string or an array of strings"
		}
	}
	return nil, "", ""
}

var defaultScopePaths = []Path{MustPath("scope"), MustPath("scp")}

// Render turns a claim value into a header value, or reports false when it cannot be
// sent faithfully (see the package documentation).
func Render(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, safeValue(v)
	case bool, float64, json.Number, int, int64:
		return scalar(v)
	case []any:
		if len(v) == 0 {
			return "", false
		}
		// Arrays of strings (groups, roles) are the common case: size the result once.
		n := len(v) - 1
		for _, e := range v {
			if s, ok := e.(string); ok {
				n += len(s)
			} else {
				n += 8
			}
		}
		if n > MaxHeaderValueBytes {
			return "", false
		}
		var b strings.Builder
		b.Grow(n)
		for i, e := range v {
			s, ok := scalar(e)
			if !ok || strings.IndexByte(s, ',') >= 0 {
				return "", false
			}
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(s)
			if b.Len() > MaxHeaderValueBytes {
				return "", false
			}
		}
		return b.String(), true
	case []string:
		if len(v) == 0 {
			return "", false
		}
		for _, s := range v {
			if !safeValue(s) || strings.IndexByte(s, ',') >= 0 {
				return "", false
			}
		}
		s := strings.Join(v, ",")
		return s, len(s) <= MaxHeaderValueBytes
	}
	return "", false
}

// scalar renders a string, number or boolean.
func scalar(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, safeValue(v)
	case bool:
		if v {
			return "true", true
		}
		return "false", true
	case json.Number:
		return number(v)
	case float64:
		return formatFloat(v)
	case int:
		return strconv.Itoa(v), true
	case int64:
		return strconv.FormatInt(v, 10), true
	}
	return "", false
}

// number renders a JSON number canonically: an integer literal as its digits (without
// a leading minus for zero), anything else as the float64 it denotes.
func number(n json.Number) (string, bool) {
	s := string(n)
	if s == "" {
		return "", false
	}
	integer := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c == '-' && i == 0) {
			integer = false
			break
		}
	}
	if integer && len(s) <= 40 {
		if s == "-0" {
			return "0", true
		}
		return s, len(s) > 0 && s != "-"
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return "", false
	}
	return formatFloat(f)
}

func formatFloat(f float64) (string, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "", false
	}
	if f == 0 {
		return "0", true // never "-0"
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e21 {
		return strconv.FormatFloat(f, 'f', -1, 64), true
	}
	return strconv.FormatFloat(f, 'g', -1, 64), true
}

// safeValue reports whether s can be a header value as is: valid UTF-8, no control
// character (tab included, which some parsers fold), at most MaxHeaderValueBytes.
//
// Nor may it start or end with a space: that is optional white space every HTTP parser
// strips (RFC 9110, section 5.5), so " alice@example.com", another identity at the IdP,
// would reach the upstream as "alice@example.com"; two identities must not become one.
func safeValue(s string) bool {
	if len(s) > MaxHeaderValueBytes {
		return false
	}
	if s != "" && (s[0] == ' ' || s[len(s)-1] == ' ') {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f {
			return false
		}
		if c >= utf8.RuneSelf {
			return utf8.ValidString(s[i:]) && !hasControl(s[i:])
		}
	}
	return true
}

// hasControl reports whether s holds a C0 or C1 control character or DEL.
func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 {
			return true
		}
	}
	return false
}

// Header is one mapping of a claim to an upstream header.
type Header struct {
	// Name is the header name in canonical form.
	Name string
	// Claim is the claim path whose value the header carries.
	Claim Path
}

// Mapping is an authenticator's compiled headers block. A nil *Mapping maps nothing.
type Mapping struct {
	headers []Header
}

// NewMapping compiles a headers block, given as header name and claim path pairs in
// configuration order. Every name must pass CheckHeaderName and every path ParsePath.
func NewMapping(pairs [][2]string) (*Mapping, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	m := &Mapping{}
	var errs []error
	seen := map[string]bool{}
	for _, kv := range pairs {
		if err := CheckHeaderName(kv[0]); err != nil {
			errs = append(errs, fmt.Errorf("headers: %s: %w", kv[0], err))
			continue
		}
		name := http.CanonicalHeaderKey(kv[0])
		if seen[name] {
			errs = append(errs, fmt.Errorf("headers: %s is mapped twice (header names are case-insensitive)", kv[0]))
			continue
		}
		seen[name] = true
		p, err := ParsePath(kv[1])
		if err != nil {
			errs = append(errs, fmt.Errorf("headers: %s: %w", kv[0], err))
			continue
		}
		m.headers = append(m.headers, Header{Name: name, Claim: p})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return m, nil
}

// Headers returns the mapped headers in configuration order.
func (m *Mapping) Headers() []Header {
	if m == nil {
		return nil
	}
	return slices.Clone(m.headers)
}

// Names returns the mapped header names, canonical, in configuration order.
func (m *Mapping) Names() []string {
	if m == nil {
		return nil
	}
	out := make([]string, len(m.headers))
	for i, h := range m.headers {
		out[i] = h.Name
	}
	return out
}

// Apply sets, in h, every mapped header whose claim has a value that renders (see
// Render), and deletes the others: a header left out is never one the client sent.
// The caller has stripped the client's copies already. A nil m does nothing.
func (m *Mapping) Apply(h http.Header, claims map[string]any) {
	if m == nil {
		return
	}
	// One backing array for every header's value slice; full slice expressions keep an
	// append to one from overwriting the next.
	vals := make([]string, len(m.headers))
	for i, hd := range m.headers {
		v, ok := hd.Claim.Lookup(claims)
		if !ok {
			delete(h, hd.Name)
			continue
		}
		s, ok := Render(v)
		if !ok || s == "" {
			delete(h, hd.Name)
			continue
		}
		vals[i] = s
		h[hd.Name] = vals[i : i+1 : i+1]
	}
}

// reserved are header names a mapping may never set: hop-by-hop headers, those that
// carry credentials or frame the message, and the ones the gateway sets itself.
var reserved = []string{
	"Authorization", "Cookie", "Set-Cookie", "Host", "Content-Length", "Content-Type",
	"Content-Encoding", "Transfer-Encoding", "Connection", "Keep-Alive", "Upgrade", "Te",
	"Trailer", "Forwarded", "Via", "Expect", "X-Real-Ip", "X-Request-Id",
	// What the browser and CORS decide on, and the trace context the gateway propagates.
	"Origin", "Traceparent", "Tracestate", "Baggage",
}

// CheckHeaderName says why name cannot be a mapped header, or returns nil: it must be an
// RFC 9110 token, and not a hop-by-hop, framing or credential header, any Proxy-*,
// Forwarded or X-Forwarded-* header, nor one of the gateway's own X-Gatehouse-*
// headers, nor CORS (Origin, Access-Control-*), trace context (Traceparent, Tracestate,
// Baggage) or Envoy's X-Envoy-* headers. '_' and '.' count as '-' in these comparisons, as upstreams that fold them
// (PHP, nginx) would read them.
func CheckHeaderName(name string) error {
	if name == "" {
		return errors.New("the header name is empty")
	}
	for i := 0; i < len(name); i++ {
		if !isTokenChar(name[i]) {
			return fmt.Errorf("%s is not a valid header name (letters, digits and !#$%%&'*+-.^_`|~ only)", strconv.QuoteToASCII(name))
		}
	}
	folded := fold(name)
	for _, r := range reserved {
		if folded == fold(r) {
			return fmt.Errorf("%s is reserved: it is a hop-by-hop, framing or credential header, or one the gateway sets itself", name)
		}
	}
	for _, prefix := range []string{"proxy-", "x-forwarded-", "x-gatehouse-", "sec-", "access-control-", "x-envoy-"} {
		if strings.HasPrefix(folded, prefix) {
			return fmt.Errorf("%s is reserved: %s* headers belong to proxies, the gateway, Envoy or the browser", name, http.CanonicalHeaderKey(prefix))
		}
	}
	return nil
}

// fold lower-cases name and reads '_' and '.' as '-'.
func fold(name string) string {
	b := []byte(strings.ToLower(name))
	for i, c := range b {
		if c == '_' || c == '.' {
			b[i] = '-'
		}
	}
	return string(b)
}

func isTokenChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// objectClaims are registered or widely used claims that are JSON objects, so a header
// mapped to one of them could never be sent.
var objectClaims = []string{"address", "cnf", "act", "may_act", "realm_access", "resource_access", "_claim_names", "_claim_sources"}

// KnownObject reports whether the claim path names a claim that is a JSON object by
// definition (OpenID Connect's address, RFC 7800's cnf, RFC 8693's act, Keycloak's
// realm_access): a header mapped to it is refused at load instead of being always
// omitted.
func KnownObject(path string) bool { return slices.Contains(objectClaims, path) }
