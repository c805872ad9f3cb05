package gateway

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/challenge"
	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/proxy"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// tokenAuth accepts Bearer tokens from a fixed table; anything else is a bad signature.
type tokenAuth struct {
	name   string
	tokens map[string]decision.Principal
}

func (a *tokenAuth) Name() string                   { return a.name }
func (a *tokenAuth) Scheme() string                 { return "Bearer" }
func (a *tokenAuth) Locations() []decision.Location { return nil }
func (a *tokenAuth) Claims(c decision.Credential) decision.Match {
	if c.Source == decision.FromAuthorization && c.Scheme == "bearer" {
		return decision.SchemeMatch
	}
	return decision.NoMatch
}
func (a *tokenAuth) Authenticate(_ context.Context, c decision.Credential) (decision.Principal, error) {
	if c.Value == "down" {
		return decision.Principal{}, &decision.Failure{Reason: decision.AuthenticatorUnavailable, Detail: "the key set could not be fetched", RetryAfter: 7 * time.Second}
	}
	p, ok := a.tokens[c.Value]
	if !ok {
		return p, &decision.Failure{Reason: decision.TokenSignatureInvalid, Detail: "signature does not verify"}
	}
	return p, nil
}

type basicAuth struct{}

func (basicAuth) Name() string                   { return "staff" }
func (basicAuth) Scheme() string                 { return "Basic" }
func (basicAuth) Locations() []decision.Location { return nil }
func (basicAuth) Claims(c decision.Credential) decision.Match {
	if c.Source == decision.FromAuthorization && c.Scheme == "basic" {
		return decision.SchemeMatch
	}
	return decision.NoMatch
}
func (basicAuth) Authenticate(context.Context, decision.Credential) (decision.Principal, error) {
	return decision.Principal{}, &decision.Failure{Reason: decision.CredentialsInvalid, Cause: "user_unknown"}
}

type fixture struct {
	gw       *httptest.Server
	upstream *httptest.Server
	logs     *syncBuffer
	seen     chan http.Header
}

func newFixture(t *testing.T, mutate func(*Options)) *fixture {
	t.Helper()
	f := &fixture{logs: &syncBuffer{}, seen: make(chan http.Header, 16)}
	f.upstream = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case f.seen <- r.Header.Clone():
		default:
		}
		if r.URL.Path == "/api/slow" {
			time.Sleep(1 * time.Second) // a slow upstream: latency under test, not a wait
		}
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "upstream "+r.URL.Path)
	}))
	t.Cleanup(f.upstream.Close)
	up, _ := url.Parse(f.upstream.URL)
	jwt := &tokenAuth{name: "corp_jwt", tokens: map[string]decision.Principal{
		"good":  {Subject: "alice", Scopes: []string{"orders:read", "orders:admin"}},
		"read":  {Subject: "bob", Scopes: []string{"orders:read"}},
		"weird": {Subject: "eve\r\nX-Injected: 1", Scopes: []string{"orders:read"}},
	}}
	o := Options{
		Realm: `orders "api"`,
		Routes: []*Route{
			{Route: &decision.Route{Name: "admin", PathPrefix: "/admin", Authenticators: []decision.Authenticator{jwt, basicAuth{}}, RequiredScopes: []string{"orders:admin"}}, Upstream: up, ForwardAuthorization: true},
			{Route: &decision.Route{Name: "public", PathPrefix: "/public", Anonymous: true}, Upstream: up},
			{Route: &decision.Route{Name: "noauthz", PathPrefix: "/strip", Authenticators: []decision.Authenticator{jwt}}, Upstream: up},
			{Route: &decision.Route{Name: "decide", PathPrefix: "/decide", Authenticators: []decision.Authenticator{jwt}}},
			{Route: &decision.Route{Name: "api", PathPrefix: "/api", Authenticators: []decision.Authenticator{jwt}}, Upstream: up, ForwardAuthorization: true},
		},
		CORS:      CORS{AllowedOrigins: []string{"http://localhost:3000"}, MaxAge: 10 * time.Minute},
		Logger:    slog.New(slog.NewJSONHandler(f.logs, nil)),
		Transport: transportWithTimeout(500 * time.Millisecond),
	}
	if mutate != nil {
		mutate(&o)
	}
	f.gw = httptest.NewServer(New(o))
	t.Cleanup(f.gw.Close)
	return f
}

func transportWithTimeout(d time.Duration) http.RoundTripper {
	return &http.Transport{ResponseHeaderTimeout: d}
}

func (f *fixture) do(t *testing.T, method, path string, h ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, f.gw.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(h); i += 2 {
		req.Header.Add(h[i], h[i+1])
	}
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

func problemOf(t *testing.T, resp *http.Response, body []byte) Problem {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q, want application/problem+json; body %s", ct, body)
	}
	var p Problem
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, body)
	}
	return p
}

func challengesOf(t *testing.T, resp *http.Response) []challenge.Challenge {
	t.Helper()
	cs, err := challenge.ParseChallenges(resp.Header.Values("WWW-Authenticate"))
	if err != nil {
		t.Fatalf("gateway rendered an unparseable challenge %q: %v", resp.Header.Values("WWW-Authenticate"), err)
	}
	return cs
}

func TestDenialContract(t *testing.T) {
	f := newFixture(t, nil)
	meta := f.gw.URL + "/.well-known/oauth-protected-resource"
	realm := `orders "api"`
	tests := []struct {
		name       string
		path       string
		headers    []string
		status     int
		reason     string
		challenges []challenge.Challenge
	}{
		{"missing credentials get challenges without error", "/admin", nil, 401, "credentials_missing", []challenge.Challenge{
			{Scheme: "Bearer", Params: []challenge.Param{{Name: "realm", Value: realm}, {Name: "resource_metadata", Value: meta}}},
			{Scheme: "Basic", Params: []challenge.Param{{Name: "realm", Value: realm}, {Name: "charset", Value: "UTF-8"}}},
		}},
		{"bad bearer gets invalid_token", "/admin", []string{"Authorization", "Bearer nope"}, 401, "token_signature_invalid", []challenge.Challenge{
			{Scheme: "Bearer", Params: []challenge.Param{{Name: "realm", Value: realm}, {Name: "error", Value: "invalid_token"}, {Name: "error_description", Value: "signature does not verify"}, {Name: "resource_metadata", Value: meta}}},
			{Scheme: "Basic", Params: []challenge.Param{{Name: "realm", Value: realm}, {Name: "charset", Value: "UTF-8"}}},
		}},
		{"basic failure gets no bearer error", "/admin", []string{"Authorization", "Basic YTpi"}, 401, "credentials_invalid", []challenge.Challenge{
			{Scheme: "Bearer", Params: []challenge.Param{{Name: "realm", Value: realm}, {Name: "resource_metadata", Value: meta}}},
			{Scheme: "Basic", Params: []challenge.Param{{Name: "realm", Value: realm}, {Name: "charset", Value: "UTF-8"}}},
		}},
		{"duplicated credentials are a 400", "/admin", []string{"Authorization", "Bearer a", "Authorization", "Bearer b"}, 400, "invalid_request", []challenge.Challenge{
			{Scheme: "Bearer", Params: []challenge.Param{{Name: "realm", Value: realm}, {Name: "error", Value: "invalid_request"}, {Name: "error_description", Value: "the Authorization header was sent more than once"}, {Name: "resource_metadata", Value: meta}}},
			{Scheme: "Basic", Params: []challenge.Param{{Name: "realm", Value: realm}, {Name: "charset", Value: "UTF-8"}}},
		}},
		{"missing scope is a 403 naming the scope", "/admin", []string{"Authorization", "Bearer read"}, 403, "insufficient_scope", []challenge.Challenge{
			{Scheme: "Bearer", Params: []challenge.Param{{Name: "realm", Value: realm}, {Name: "error", Value: "insufficient_scope"}, {Name: "scope", Value: "orders:admin"}, {Name: "error_description", Value: "missing scope orders:admin"}, {Name: "resource_metadata", Value: meta}}},
		}},
		{"outage is a 503 without challenge", "/api/x", []string{"Authorization", "Bearer down"}, 503, "authenticator_unavailable", nil},
		{"unknown path is a 404", "/nowhere", nil, 404, "route_not_found", nil},
		{"administrator is not under /admin", "/administrator", nil, 404, "route_not_found", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := f.do(t, "GET", tt.path, tt.headers...)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tt.status, body)
			}
			p := problemOf(t, resp, body)
			if p.Reason != tt.reason || p.Status != tt.status {
				t.Errorf("problem = %+v, want reason %s", p, tt.reason)
			}
			rid := resp.Header.Get("X-Request-Id")
			if rid == "" || p.RequestID != rid {
				t.Errorf("request id header %q vs body %q", rid, p.RequestID)
			}
			if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q", cc)
			}
			if diff := cmp.Diff(tt.challenges, challengesOf(t, resp), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("challenges (-want +got):\n%s", diff)
			}
			if tt.status == 503 && resp.Header.Get("Retry-After") != "7" {
				t.Errorf("Retry-After = %q, want 7", resp.Header.Get("Retry-After"))
			}
			if !strings.HasSuffix(p.Type, "#"+tt.reason) {
				t.Errorf("type = %q", p.Type)
			}
		})
	}
}

func TestTerseErrorsHideDetail(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.TerseErrors = true })
	resp, body := f.do(t, "GET", "/api/x", "Authorization", "Bearer nope")
	p := problemOf(t, resp, body)
	if p.Detail != "" || strings.Contains(resp.Header.Get("WWW-Authenticate"), "error_description") {
		t.Fatalf("terse mode leaked detail: %+v %q", p, resp.Header.Get("WWW-Authenticate"))
	}
	if p.Reason != "token_signature_invalid" {
		t.Fatalf("reason = %q", p.Reason)
	}
}

func TestAllowedRequestReachesUpstreamWithIdentity(t *testing.T) {
	f := newFixture(t, nil)
	resp, body := f.do(t, "GET", "/api/orders", "Authorization", "Bearer good",
		"X-Gatehouse-Subject", "root", "X_Gatehouse_Scopes", "everything", "x.gatehouse.authenticator", "forged", "X-Request-Id", "abc-123")
	if resp.StatusCode != 200 || string(body) != "upstream /api/orders" {
		t.Fatalf("status %d body %q", resp.StatusCode, body)
	}
	h := <-f.seen
	want := map[string]string{
		"X-Gatehouse-Subject":       "alice",
		"X-Gatehouse-Scopes":        "orders:read orders:admin",
		"X-Gatehouse-Authenticator": "corp_jwt",
		"X-Gatehouse-Request-Id":    resp.Header.Get("X-Request-Id"),
		"Authorization":             "Bearer good",
		// The client's own id passes as the header it is, for its correlation.
		"X-Request-Id": "abc-123",
	}
	for k, v := range want {
		if got := h.Values(k); len(got) != 1 || got[0] != v {
			t.Errorf("upstream %s = %q, want %q", k, got, v)
		}
	}
	for k := range h {
		if strings.Contains(strings.ToLower(k), "gatehouse") && h.Get(k) != want[http.CanonicalHeaderKey(k)] {
			t.Errorf("spoofed header reached upstream: %s: %q", k, h[k])
		}
	}
	if id := resp.Header.Get("X-Request-Id"); len(id) != 24 || id == "abc-123" {
		t.Errorf("X-Request-Id = %q, want the gateway's own id", id)
	}
	if xff := h.Get("X-Forwarded-For"); xff != "127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q", xff)
	}
}

func TestSpoofedIdentityHeadersRemovedOnAnonymousRoutes(t *testing.T) {
	f := newFixture(t, nil)
	resp, _ := f.do(t, "GET", "/public/x", "X-Gatehouse-Subject", "root", "X_GATEHOUSE_SCOPES", "admin", "X-Forwarded-For", "10.9.9.9")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	h := <-f.seen
	for k := range h {
		if strings.Contains(strings.ToLower(strings.NewReplacer("_", "-", ".", "-").Replace(k)), "x-gatehouse-") && k != "X-Gatehouse-Request-Id" {
			t.Errorf("identity header on anonymous route: %s", k)
		}
	}
	if xff := h.Get("X-Forwarded-For"); xff != "127.0.0.1" {
		t.Errorf("untrusted X-Forwarded-For believed: %q", xff)
	}
}

func TestIdentityHeaderValuesCannotInjectHeaders(t *testing.T) {
	f := newFixture(t, nil)
	resp, _ := f.do(t, "GET", "/api/x", "Authorization", "Bearer weird")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	h := <-f.seen
	if h.Get("X-Injected") != "" || strings.ContainsAny(h.Get("X-Gatehouse-Subject"), "\r\n") {
		t.Fatalf("header injection: %v", h)
	}
}

func TestForwardAuthorizationFalseStripsIt(t *testing.T) {
	f := newFixture(t, nil)
	f.do(t, "GET", "/strip/x", "Authorization", "Bearer good")
	if h := <-f.seen; h.Get("Authorization") != "" {
		t.Fatalf("Authorization forwarded: %q", h.Get("Authorization"))
	}
}

func TestDotDotCannotEscapeAnAnonymousRoute(t *testing.T) {
	f := newFixture(t, nil)
	// The raw path is sent as is (no client-side cleaning) over a raw connection.
	conn, err := net.Dial("tcp", strings.TrimPrefix(f.gw.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(conn, "GET /public/../admin/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufioReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 401 {
		t.Fatalf("GET /public/../admin/x = %d, want 401 (matched as /admin/x)", resp.StatusCode)
	}
}

func TestDecisionOnlyRouteAnswers204WithIdentity(t *testing.T) {
	f := newFixture(t, nil)
	resp, _ := f.do(t, "GET", "/decide", "Authorization", "Bearer good")
	if resp.StatusCode != 204 || resp.Header.Get("X-Gatehouse-Subject") != "alice" {
		t.Fatalf("status %d headers %v", resp.StatusCode, resp.Header)
	}
}

func TestUpstreamFailuresAreNever401(t *testing.T) {
	t.Run("down", func(t *testing.T) {
		f := newFixture(t, func(o *Options) {
			dead, _ := url.Parse("http://127.0.0.1:1")
			o.Routes[4].Upstream = dead
		})
		resp, body := f.do(t, "GET", "/api/x", "Authorization", "Bearer good")
		if resp.StatusCode != 502 {
			t.Fatalf("status %d %s", resp.StatusCode, body)
		}
		if p := problemOf(t, resp, body); p.Reason != "upstream_unavailable" {
			t.Fatalf("reason %q", p.Reason)
		}
	})
	t.Run("slow", func(t *testing.T) {
		f := newFixture(t, nil)
		resp, body := f.do(t, "GET", "/api/slow", "Authorization", "Bearer good")
		if resp.StatusCode != 504 {
			t.Fatalf("status %d %s", resp.StatusCode, body)
		}
	})
	t.Run("reset", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.(*net.TCPConn).SetLinger(0)
				c.Close()
			}
		}()
		f := newFixture(t, func(o *Options) {
			u, _ := url.Parse("http://" + ln.Addr().String())
			o.Routes[4].Upstream = u
		})
		resp, body := f.do(t, "GET", "/api/x", "Authorization", "Bearer good")
		if resp.StatusCode != 502 {
			t.Fatalf("status %d %s", resp.StatusCode, body)
		}
	})
}

func TestCORS(t *testing.T) {
	f := newFixture(t, nil)
	t.Run("preflight from allowed origin is answered without credentials", func(t *testing.T) {
		resp, _ := f.do(t, "OPTIONS", "/api/x", "Origin", "http://localhost:3000", "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "authorization, content-type")
		if resp.StatusCode != 204 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "http://localhost:3000" {
			t.Errorf("allow-origin %q", got)
		}
		if got := resp.Header.Get("Access-Control-Allow-Headers"); !strings.Contains(got, "Authorization") {
			t.Errorf("allow-headers %q lacks Authorization", got)
		}
	})
	t.Run("preflight from another origin is authenticated like any OPTIONS", func(t *testing.T) {
		resp, _ := f.do(t, "OPTIONS", "/api/x", "Origin", "http://evil.example", "Access-Control-Request-Method", "POST")
		if resp.StatusCode != 401 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("status %d allow-origin %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
		}
	})
	t.Run("plain OPTIONS is authenticated", func(t *testing.T) {
		resp, _ := f.do(t, "OPTIONS", "/api/x")
		if resp.StatusCode != 401 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	t.Run("denial to an allowed origin exposes the challenge", func(t *testing.T) {
		resp, _ := f.do(t, "GET", "/api/x", "Origin", "http://localhost:3000")
		if resp.StatusCode != 401 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		exp := resp.Header.Get("Access-Control-Expose-Headers")
		if !strings.Contains(exp, "WWW-Authenticate") || !strings.Contains(exp, "X-Request-Id") {
			t.Errorf("expose-headers %q", exp)
		}
		if resp.Header.Get("Access-Control-Allow-Origin") != "http://localhost:3000" {
			t.Errorf("no allow-origin on denial")
		}
	})
	t.Run("allowed response carries one allow-origin", func(t *testing.T) {
		resp, _ := f.do(t, "GET", "/api/x", "Origin", "http://localhost:3000", "Authorization", "Bearer good")
		if got := resp.Header.Values("Access-Control-Allow-Origin"); len(got) != 1 {
			t.Errorf("allow-origin %q", got)
		}
	})
}

func TestProtectedResourceMetadata(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.AuthorizationServers = []string{"https://id.example"} })
	resp, body := f.do(t, "GET", "/.well-known/oauth-protected-resource")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"resource":                 f.gw.URL,
		"authorization_servers":    []any{"https://id.example"},
		"scopes_supported":         []any{"orders:admin"},
		"bearer_methods_supported": []any{"header"},
		"resource_name":            `orders "api"`,
	}
	if diff := cmp.Diff(want, doc); diff != "" {
		t.Error(diff)
	}
}

func TestHostileHostDoesNotReachChallenges(t *testing.T) {
	f := newFixture(t, nil)
	req, _ := http.NewRequest("GET", f.gw.URL+"/api/x", nil)
	req.Host = `evil.example"/><script>`
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if strings.Contains(resp.Header.Get("WWW-Authenticate"), "script") {
		t.Fatalf("host reflected: %q", resp.Header.Get("WWW-Authenticate"))
	}
}

func TestEveryDecisionIsLoggedWithoutTheCredential(t *testing.T) {
	f := newFixture(t, nil)
	secret := "Bearer s3cr3t-t0ken-value"
	f.do(t, "GET", "/api/x", "Authorization", secret)
	f.do(t, "GET", "/api/x", "Authorization", "Bearer good")
	// The line of a proxied request is written after the response reaches the client.
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(f.logs.String(), "\n") < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	logs := f.logs.String()
	if strings.Contains(logs, "s3cr3t") {
		t.Fatalf("credential in logs: %s", logs)
	}
	lines := strings.Split(strings.TrimSpace(logs), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 decision lines, got %d:\n%s", len(lines), logs)
	}
	var first map[string]any
	json.Unmarshal([]byte(lines[0]), &first)
	for _, k := range []string{"request_id", "route", "reason", "fingerprint", "authenticator"} {
		if first[k] == nil || first[k] == "" {
			t.Errorf("log line lacks %s: %s", k, lines[0])
		}
	}
}

func TestClientRequestIDValidation(t *testing.T) {
	for in, keep := range map[string]bool{"abc": true, "a.b_c-1": true, "": false, strings.Repeat("a", 128): true, strings.Repeat("a", 129): false, "a b": false, "<x>": false, "a\r\nb": false} {
		got := clientRequestID(in)
		if want := map[bool]string{true: in, false: ""}[keep]; got != want {
			t.Errorf("clientRequestID(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestGeneratedRequestIDs are 24 lower-case hex digits and do not repeat.
func TestGeneratedRequestIDs(t *testing.T) {
	seen := map[string]bool{}
	for range 10000 {
		id := newRequestID()
		if len(id) != 24 || strings.Trim(id, "0123456789abcdef") != "" {
			t.Fatalf("generated id %q", id)
		}
		if seen[id] {
			t.Fatalf("id %q generated twice", id)
		}
		seen[id] = true
	}
}

// TestSetHeaders: every value lands under its key, the keys used are canonical (as
// Header.Get expects), and adding to one header leaves the others alone.
func TestSetHeaders(t *testing.T) {
	for _, k := range []string{proxy.HeaderSubject, proxy.HeaderScopes, proxy.HeaderAuthenticator, proxy.HeaderRequestID, "Cache-Control"} {
		if http.CanonicalHeaderKey(k) != k {
			t.Errorf("%q is not canonical", k)
		}
	}
	hd := http.Header{"X-Gatehouse-Subject": {"spoofed"}}
	setHeaders(hd, proxy.HeaderSubject, "alice", proxy.HeaderScopes, "a b", "Cache-Control", "no-store")
	hd.Add(proxy.HeaderSubject, "second")
	want := http.Header{"X-Gatehouse-Subject": {"alice", "second"}, "X-Gatehouse-Scopes": {"a b"}, "Cache-Control": {"no-store"}}
	if diff := cmp.Diff(want, hd); diff != "" {
		t.Fatalf("headers (-want +got):\n%s", diff)
	}
}
