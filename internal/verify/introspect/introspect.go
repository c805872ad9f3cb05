// Package introspect is the `type: introspection` authenticator: it verifies opaque
// Bearer tokens by asking an OAuth 2.0 token introspection endpoint (RFC 7662).
//
// The gateway authenticates to the endpoint with client_secret_basic (RFC 6749 section
// 2.3.1: client id and secret each form-urlencoded, then Basic). Answers are cached under
// the SHA-256 of the token, for min(exp - now, the configured maximum) when the token is
// active and for a short negative TTL when it is not; concurrent requests with one token
// share one call. `active: false` is token_inactive. An endpoint that cannot be reached,
// times out, answers other than 200, or answers something that is not an RFC 7662
// response is authenticator_unavailable (503), never a 401: an outage must not tell
// clients their token is bad.
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
	"github.com/gatehouse-dev/gatehouse/internal/secret"
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
	// CacheMaxTTL caps how long an active answer is reused; 60s when zero. Tokens
	// revoked at the issuer stay accepted for at most this long.
	CacheMaxTTL time.Duration
	// NegativeTTL is how long an inactive answer is reused; 10s when zero, and never
	// more than CacheMaxTTL.
	NegativeTTL time.Duration
	// CacheSize bounds the cache; 10000 when zero.
	CacheSize int
	// RetryAfter is suggested to clients when the endpoint is down; 5s when zero.
	RetryAfter time.Duration
	// HTTPClient replaces the default client (its own transport, Timeout, no redirects).
	HTTPClient *http.Client
	// Now is the clock; time.Now when nil.
	Now func() time.Time
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
}

// answer is a cached introspection result.
type answer struct {
	active    bool
	principal decision.Principal
	expires   time.Time // exp, zero when absent
	notBefore time.Time
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
		name: cfg.Name, endpoint: cfg.URL, host: u.Host, client: cfg.HTTPClient,
		maxTTL: cfg.CacheMaxTTL, negTTL: cfg.NegativeTTL, retryAfter: cfg.RetryAfter, now: cfg.Now,
	}
	// RFC 6749 section 2.3.1: form-urlencode each part before Basic, so a ':' in the id
	// or a non-ASCII secret survive the trip.
	a.authHeader = "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(cfg.ClientID)+":"+url.QueryEscape(cfg.ClientSecret)))
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	if a.client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 32
		tr.ResponseHeaderTimeout = timeout
		a.client = &http.Client{
			Transport: tr,
			Timeout:   timeout,
			// A redirect would replay the token and our client secret elsewhere.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if a.maxTTL <= 0 {
		a.maxTTL = time.Minute
	}
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
	a.cache = secret.NewCache[[32]byte, *answer](secret.CacheOptions{Size: cfg.CacheSize, MaxTTL: a.maxTTL, Now: a.now})
	return a, nil
}

// Name is the configured name.
func (a *Authenticator) Name() string { return a.name }

// Scheme is "Bearer".
func (a *Authenticator) Scheme() string { return "Bearer" }

// Locations is empty: tokens come in Authorization only.
func (a *Authenticator) Locations() []decision.Location { return nil }

// Claims claims Bearer values that are not Gatehouse API keys.
func (a *Authenticator) Claims(c decision.Credential) decision.Match {
	if c.Source == decision.FromAuthorization && c.Scheme == "bearer" && !secret.LooksLikeAPIKey(c.Value) {
		return decision.SchemeMatch
	}
	return decision.NoMatch
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

// response is the part of RFC 7662 section 2.2 Gatehouse reads.
type response struct {
	Active   *bool       `json:"active"`
	Scope    string      `json:"scope"`
	ClientID string      `json:"client_id"`
	Username string      `json:"username"`
	Sub      string      `json:"sub"`
	Exp      json.Number `json:"exp"`
	Nbf      json.Number `json:"nbf"`
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

// parse reads an RFC 7662 response body.
func (a *Authenticator) parse(contentType string, body []byte, token string) (*answer, time.Duration, error) {
	if mt, _, _ := mime.ParseMediaType(contentType); mt != "" && mt != "application/json" && !strings.HasSuffix(mt, "+json") {
		return nil, 0, fmt.Errorf("response is %q, not JSON", mt)
	}
	var r response
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&r); err != nil {
		return nil, 0, fmt.Errorf("response is not an RFC 7662 JSON object: %w", err)
	}
	if r.Active == nil {
		return nil, 0, fmt.Errorf("response has no boolean \"active\" member")
	}
	now := a.now()
	if !*r.Active {
		return &answer{}, a.negTTL, nil
	}
	ans := &answer{active: true}
	var err error
	if ans.expires, err = numericDate(r.Exp); err != nil {
		return nil, 0, fmt.Errorf("exp: %w", err)
	}
	if ans.notBefore, err = numericDate(r.Nbf); err != nil {
		return nil, 0, fmt.Errorf("nbf: %w", err)
	}
	subject := r.Sub
	if subject == "" {
		subject = r.Username
	}
	if subject == "" {
		subject = r.ClientID
	}
	key := secret.SHA256String(token)
	ans.principal = decision.Principal{
		Subject: subject, Scopes: strings.Fields(r.Scope), Authenticator: a.name,
		Fingerprint: hex.EncodeToString(key[:4]), ExpiresAt: ans.expires,
	}
	ttl := a.maxTTL
	if !ans.expires.IsZero() {
		ttl = min(ttl, ans.expires.Sub(now))
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
