// Package introspect is the `type: introspection` authenticator: it verifies opaque
// Bearer tokens by asking an OAuth 2.0 token introspection endpoint (RFC 7662).
//
// The endpoint must be https (http only on a loopback host), and its redirects are never
// followed. The gateway authenticates to it with client_secret_basic (RFC 6749 section
// 2.3.1: client id and secret each form-urlencoded, then Basic). Answers are cached under
// the SHA-256 of the token, for min(exp - now, the configured maximum) when the token is
// active and for a short negative TTL when it is not; a maximum of zero caches nothing.
// Concurrent requests with one token share one call.
//
// Judging an answer:
//   - `active: false` is token_inactive.
//   - The response is parsed strictly (see decodeResponse): exact member names, no
//     member twice, nothing after the object, RFC 7662 types. An endpoint that cannot be
//     reached, times out, answers other than 200, or answers anything else is
//     authenticator_unavailable (503), never a 401: the token was not judged, and an
//     outage or a misbehaving server must not tell clients their token is bad.
//   - An active token names its principal by sub, else username, else client_id; with
//     none, or with one of them (or the scope) holding text that could collapse into
//     another name upstream (tokens.NameProblem), it is credentials_malformed (401), as
//     the jwt verifier refuses such a token.
package introspect

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/tokens"
)

// MaxResponseBytes bounds an introspection response.
const MaxResponseBytes = 1 << 20

// Config configures an Authenticator. Name, URL, ClientID and ClientSecret are required.
type Config struct {
	Name string
	// URL is the introspection endpoint: https, or http only on a loopback host
	// (localhost, 127.0.0.0/8, ::1); New refuses plain http to any other host.
	URL          string
	ClientID     string
	ClientSecret string
	// Timeout bounds one introspection call, connection included; 5s when zero.
	Timeout time.Duration
	// CacheMaxTTL caps how long an active answer is reused (never past the token's exp).
	// Tokens revoked at the issuer stay accepted for at most this long. Zero (or less)
	// caches nothing: every request asks the endpoint, though concurrent requests with
	// one token still share one call. There is no default: the configuration's is 5m.
	CacheMaxTTL time.Duration
	// NegativeTTL is how long an inactive answer is reused; 10s when zero, and never
	// more than CacheMaxTTL (so nothing with a zero CacheMaxTTL).
	NegativeTTL time.Duration
	// CacheSize bounds the cache; 10000 when zero.
	CacheSize int
	// RetryAfter is suggested to clients when the endpoint is down; 5s when zero.
	RetryAfter time.Duration
	// HTTPClient replaces the default client (its own transport, Timeout). It is used
	// through a copy that never follows redirects (one would replay the token and the
	// client secret elsewhere) and that has Timeout when it has none of its own.
	HTTPClient *http.Client
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Rules say which members name the subject and the scopes; the zero Rules read sub
	// (then username, then client_id) and scope.
	Rules identity.Rules
}

// Authenticator verifies opaque tokens by introspection. It implements
// decision.Authenticator.
type Authenticator struct {
	name       string
	endpoint   string
	host       string
	authHeader string
	client     *http.Client
	maxTTL     time.Duration
	negTTL     time.Duration
	retryAfter time.Duration
	cache      *secret.Cache[[32]byte, *answer]
	now        func() time.Time
	rules      identity.Rules
}

// answer is a cached introspection result.
type answer struct {
	active bool
	// refusal, when set, is why an active token is refused as credentials_malformed
	// (no subject, or one that could collapse into another); cause is its log code.
	refusal, cause string
	principal      decision.Principal
	expires        time.Time // exp, zero when absent
	notBefore      time.Time
}

var _ decision.Authenticator = (*Authenticator)(nil)

// New returns an Authenticator for cfg.
func New(cfg Config) (*Authenticator, error) {
	var problems []error
	if cfg.Name == "" {
		problems = append(problems, errors.New("name is required"))
	}
	u, err := url.Parse(cfg.URL)
	switch {
	case cfg.URL == "":
		problems = append(problems, errors.New("url is required"))
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		problems = append(problems, errors.New("url must be an absolute http(s) URL"))
	case u.User != nil:
		problems = append(problems, errors.New("url must not contain credentials; use client_id and client_secret"))
	case u.Scheme != "https" && !isLoopback(u.Hostname()):
		// Each call carries a client's token and our client secret, and the answer decides
		// who gets in: over plain http, anyone on the path reads both and can say "active".
		problems = append(problems, errors.New("url must be an https URL (http only on a loopback host)"))
	}
	if cfg.ClientID == "" || cfg.ClientSecret == "" {
		problems = append(problems, errors.New("client_id and client_secret are required"))
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("introspection authenticator %q: %w", cfg.Name, errors.Join(problems...))
	}
	a := &Authenticator{
		rules: cfg.Rules,
		name:  cfg.Name, endpoint: cfg.URL, host: u.Host, client: cfg.HTTPClient,
		maxTTL: cfg.CacheMaxTTL, negTTL: cfg.NegativeTTL, retryAfter: cfg.RetryAfter, now: cfg.Now,
	}
	// RFC 6749 section 2.3.1: form-urlencode each part before Basic, so a ':' in the id
	// or a non-ASCII secret survive the trip.
	a.authHeader = "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(cfg.ClientID)+":"+url.QueryEscape(cfg.ClientSecret)))
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	if a.client != nil {
		c := *a.client
		c.CheckRedirect = noRedirects
		if c.Timeout <= 0 {
			c.Timeout = timeout // a call may serve many waiting requests: it must end
		}
		a.client = &c
	} else {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 32
		tr.ResponseHeaderTimeout = timeout
		a.client = &http.Client{
			Transport:     tr,
			Timeout:       timeout,
			CheckRedirect: noRedirects,
		}
	}
	// A zero CacheMaxTTL means no cache, as the configuration documents it: a revoked
	// token must not keep working for a default the operator turned off.
	a.maxTTL = max(a.maxTTL, 0)
	if a.negTTL <= 0 {
		a.negTTL = 10 * time.Second
	}
	a.negTTL = min(a.negTTL, a.maxTTL)
	if a.retryAfter <= 0 {
		a.retryAfter = 5 * time.Second
	}
	if a.now == nil {
		a.now = time.Now
	}
	// With maxTTL zero every load returns a zero TTL and the cache stores nothing; it
	// still joins concurrent calls for one token.
	a.cache = secret.NewCache[[32]byte, *answer](secret.CacheOptions{Size: cfg.CacheSize, MaxTTL: max(a.maxTTL, time.Second), Now: a.now})
	return a, nil
}

// Name is the configured name.
func (a *Authenticator) Name() string { return a.name }

// Scheme is "Bearer".
func (a *Authenticator) Scheme() string { return "Bearer" }

// Locations is empty: tokens come in Authorization only.
func (a *Authenticator) Locations() []decision.Location { return nil }

// Claims claims Bearer values that are not Gatehouse API keys: ShapeMatch for an opaque
// token, ahead of jwt authenticators, which cannot read one; SchemeMatch for a JWT, which
// an authorization server may introspect too, but which a jwt authenticator of the route
// takes first when it trusts the issuer the JWT names.
func (a *Authenticator) Claims(c decision.Credential) decision.Match {
	if c.Source != decision.FromAuthorization || c.Scheme != "bearer" || secret.LooksLikeAPIKey(c.Value) {
		return decision.NoMatch
	}
	if tokens.LooksLikeJWT(c.Value) {
		return decision.SchemeMatch
	}
	return decision.ShapeMatch
}

// Authenticate introspects the token in c, or answers from the cache.
func (a *Authenticator) Authenticate(ctx context.Context, c decision.Credential) (decision.Principal, error) {
	key := secret.SHA256String(c.Value)
	ans, ok := a.cache.Get(key)
	if !ok {
		var err error
		ans, err = a.cache.Do(ctx, key, func() (*answer, time.Duration, error) {
			return a.introspect(ctx, c.Value)
		})
		if err != nil {
			return decision.Principal{}, a.unavailable(key, err)
		}
	}
	return a.judge(key, ans)
}

// judge turns an answer into a principal or a failure, re-checking times on every use.
func (a *Authenticator) judge(key [32]byte, ans *answer) (decision.Principal, error) {
	now := a.now()
	switch {
	case !ans.active:
		return decision.Principal{}, a.fail(key, decision.TokenInactive, "the token is not active: the issuer says it is expired, revoked or unknown")
	case !ans.expires.IsZero() && !now.Before(ans.expires):
		return decision.Principal{}, a.fail(key, decision.TokenExpired, "the token expired "+now.Sub(ans.expires).Round(time.Second).String()+" ago")
	case !ans.notBefore.IsZero() && now.Before(ans.notBefore):
		return decision.Principal{}, a.fail(key, decision.TokenNotYetValid, "the token is not valid for another "+ans.notBefore.Sub(now).Round(time.Second).String())
	case ans.refusal != "":
		f := a.fail(key, decision.CredentialsMalformed, ans.refusal)
		f.Cause = ans.cause
		return decision.Principal{}, f
	}
	return ans.principal, nil
}

func (a *Authenticator) fail(key [32]byte, reason decision.Reason, detail string) *decision.Failure {
	return &decision.Failure{Reason: reason, Detail: detail, Fingerprint: hex.EncodeToString(key[:4]), CredentialID: "sha256:" + hex.EncodeToString(key[:8])}
}

func (a *Authenticator) unavailable(key [32]byte, err error) *decision.Failure {
	var f *decision.Failure
	if errors.As(err, &f) {
		return f
	}
	return &decision.Failure{
		Reason:      decision.AuthenticatorUnavailable,
		Detail:      "the token introspection service could not be reached; try again shortly",
		Cause:       err.Error(),
		Fingerprint: hex.EncodeToString(key[:4]),
		RetryAfter:  a.retryAfter,
	}
}

// response is the part of RFC 7662 section 2.2 Gatehouse reads. A member that is absent
// or null is the zero value.
type response struct {
	active                         *bool
	scope, clientID, username, sub string
	exp, nbf                       json.Number
}

// decodeResponse reads an introspection response strictly: exactly one JSON object and
// nothing after it but white space; member names compared exactly (after JSON
// unescaping: "Active" is not "active"); no member named twice, whichever it is; and
// the members read must have their RFC 7662 type (active a boolean, exp and nbf numbers,
// the others strings), where null counts as absent. Other members are skipped unread.
// A lenient reader here would let two parsers of one answer (a proxy's, the issuer's
// own) disagree on whether a token is active or whose it is.
func decodeResponse(body []byte) (response, error) {
	var r response
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return r, errors.New("not a JSON object")
	}
	seen := make(map[string]bool, 8)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return r, errors.New("not valid JSON")
		}
		name, _ := tok.(string)
		if seen[name] {
			return r, fmt.Errorf("member %s appears more than once", strconv.QuoteToASCII(truncate(name, 40)))
		}
		seen[name] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return r, errors.New("not valid JSON")
		}
		ok, want := true, "a string"
		switch name {
		case "active":
			want = "a boolean"
			var b bool
			ok = (string(raw) == "true" || string(raw) == "false") && json.Unmarshal(raw, &b) == nil
			if ok {
				r.active = &b
			}
		case "scope":
			ok = stringMember(raw, &r.scope)
		case "client_id":
			ok = stringMember(raw, &r.clientID)
		case "username":
			ok = stringMember(raw, &r.username)
		case "sub":
			ok = stringMember(raw, &r.sub)
		case "exp":
			ok, want = numberMember(raw, &r.exp), "a number"
		case "nbf":
			ok, want = numberMember(raw, &r.nbf), "a number"
		}
		if !ok {
			return r, fmt.Errorf("member %q is not %s", name, want)
		}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return r, errors.New("not valid JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return r, errors.New("data after the JSON object")
	}
	return r, nil
}

func stringMember(raw json.RawMessage, dst *string) bool {
	if string(raw) == "null" {
		return true
	}
	return len(raw) > 0 && raw[0] == '"' && json.Unmarshal(raw, dst) == nil
}

func numberMember(raw json.RawMessage, dst *json.Number) bool {
	if string(raw) == "null" {
		return true
	}
	if len(raw) == 0 || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
		return false
	}
	*dst = json.Number(raw)
	return true
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// introspect calls the endpoint. Its errors never contain the token or the client secret.
func (a *Authenticator) introspect(ctx context.Context, token string) (*answer, time.Duration, error) {
	// The call may serve several waiting requests: one client going away must not
	// cancel it for the others. The client's Timeout still bounds it.
	ctx = context.WithoutCancel(ctx)
	form := "token=" + url.QueryEscape(token) + "&token_type_hint=access_token"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.endpoint, strings.NewReader(form))
	if err != nil {
		return nil, 0, fmt.Errorf("introspect at %s: %w", a.host, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", a.authHeader)
	resp, err := a.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the URL; we name the host ourselves
		}
		return nil, 0, fmt.Errorf("introspect at %s: %w", a.host, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		return nil, 0, fmt.Errorf("introspect at %s: read response: %w", a.host, err)
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return nil, 0, fmt.Errorf("introspect at %s: the endpoint refused the gateway's client credentials (%d); check client_id and client_secret", a.host, resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		return nil, 0, fmt.Errorf("introspect at %s: status %d", a.host, resp.StatusCode)
	case len(body) > MaxResponseBytes:
		return nil, 0, fmt.Errorf("introspect at %s: response larger than %d bytes", a.host, MaxResponseBytes)
	}
	ans, ttl, err := a.parse(resp.Header.Get("Content-Type"), body, token)
	if err != nil {
		return nil, 0, fmt.Errorf("introspect at %s: %w", a.host, err)
	}
	return ans, ttl, nil
}

// parse reads an RFC 7662 response body. A response that is not strict RFC 7662 JSON is
// an error (the caller answers authenticator_unavailable: the endpoint misbehaves, the
// token was not judged). An active answer that names no usable principal is a cached
// answer that judge refuses as credentials_malformed, as the jwt verifier refuses such a
// token.
func (a *Authenticator) parse(contentType string, body []byte, token string) (*answer, time.Duration, error) {
	if mt, _, _ := mime.ParseMediaType(contentType); mt != "" && mt != "application/json" && !strings.HasSuffix(mt, "+json") {
		return nil, 0, fmt.Errorf("response is %q, not JSON", mt)
	}
	r, err := decodeResponse(body)
	if err != nil {
		return nil, 0, fmt.Errorf("response is not an RFC 7662 JSON object: %w", err)
	}
	if r.active == nil {
		return nil, 0, fmt.Errorf("response has no boolean \"active\" member")
	}
	now := a.now()
	if !*r.active {
		return &answer{}, a.negTTL, nil
	}
	ans := &answer{active: true}
	if ans.expires, err = numericDate(r.exp); err != nil {
		return nil, 0, fmt.Errorf("exp: %w", err)
	}
	if ans.notBefore, err = numericDate(r.nbf); err != nil {
		return nil, 0, fmt.Errorf("nbf: %w", err)
	}
	ttl := a.maxTTL
	if !ans.expires.IsZero() {
		ttl = min(ttl, ans.expires.Sub(now))
	}
	// The principal's name and scopes must not be able to turn into another's on the
	// way to the upstream (see tokens.NameProblem).
	for _, m := range []struct{ name, v string }{{"sub", r.sub}, {"username", r.username}, {"client_id", r.clientID}} {
		if p := tokens.NameProblem(m.v); p != "" {
			ans.refusal, ans.cause = fmt.Sprintf("the token's %s %s; it is refused so that two identities cannot become one", m.name, p), "name_unsafe"
			return ans, min(ttl, a.negTTL), nil
		}
	}
	if p := tokens.ScopeProblem(r.scope, false); p != "" {
		ans.refusal, ans.cause = "the token's scope "+p+"; it is refused so that two identities cannot become one", "scope_unsafe"
		return ans, min(ttl, a.negTTL), nil
	}
	// Every member, for route requirements and header mappings; decodeResponse has
	// proved the body one strict JSON object.
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil {
		return nil, 0, fmt.Errorf("response is not an RFC 7662 JSON object: %w", err)
	}
	subject, scopes := r.sub, strings.Fields(r.scope)
	if a.rules.Subject.IsZero() {
		if subject == "" {
			subject = r.username
		}
		if subject == "" {
			subject = r.clientID
		}
		if subject == "" {
			ans.refusal, ans.cause = "the token names no subject (sub, username or client_id)", "sub_missing"
			return ans, min(ttl, a.negTTL), nil
		}
	} else {
		var problem string
		if subject, problem = a.rules.SubjectFrom(claims); problem != "" {
			ans.refusal, ans.cause = problem, "sub_missing"
			return ans, min(ttl, a.negTTL), nil
		}
		if p := tokens.NameProblem(subject); p != "" {
			ans.refusal, ans.cause = fmt.Sprintf("the token's %s %s; it is refused so that two identities cannot become one", a.rules.Subject, p), "name_unsafe"
			return ans, min(ttl, a.negTTL), nil
		}
	}
	if a.rules.Scopes != nil {
		var claim, problem string
		if scopes, claim, problem = a.rules.ScopesFrom(claims, tokens.ScopeProblem); problem != "" {
			ans.refusal, ans.cause = fmt.Sprintf("the token's %s, which holds the scopes here, %s", claim, problem), "scope_unsafe"
			return ans, min(ttl, a.negTTL), nil
		}
	}
	key := secret.SHA256String(token)
	ans.principal = decision.Principal{
		Subject: subject, Scopes: scopes, Authenticator: a.name,
		Fingerprint: hex.EncodeToString(key[:4]), ExpiresAt: ans.expires, Claims: claims,
	}
	return ans, ttl, nil
}

// numericDate reads an RFC 7519 NumericDate (seconds, possibly fractional); empty is zero.
func numericDate(n json.Number) (time.Time, error) {
	if n == "" {
		return time.Time{}, nil
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || f < 0 || f > 1e11 {
		return time.Time{}, fmt.Errorf("%q is not a NumericDate", string(n))
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)).UTC(), nil
}

// noRedirects makes a redirect the answer: a redirect would replay the token and our
// client secret elsewhere, and a 3xx is then authenticator_unavailable.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// isLoopback reports whether host is localhost or a loopback IP literal.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// CredentialID returns the per-credential budget key for a token: a prefix of its
// SHA-256, never the token.
func (a *Authenticator) CredentialID(c decision.Credential) string {
	if a.Claims(c) == decision.NoMatch {
		return ""
	}
	key := secret.SHA256String(c.Value)
	return "sha256:" + hex.EncodeToString(key[:8])
}

// Purge drops every cached answer (for a revocation event from Gatehouse's own token
// service, or an operator's request).
func (a *Authenticator) Purge() { a.cache.Purge() }
