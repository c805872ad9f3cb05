package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gatehouse-dev/gatehouse/internal/challenge"
	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/proxy"
)

const decidePath = "/_gatehouse/decide"

// queryKeyAuth reads an API key from the api_key query parameter.
type queryKeyAuth struct{}

func (queryKeyAuth) Name() string   { return "keys" }
func (queryKeyAuth) Scheme() string { return "" }
func (queryKeyAuth) Locations() []decision.Location {
	return []decision.Location{{Source: decision.FromQuery, Name: "api_key"}}
}
func (queryKeyAuth) Claims(c decision.Credential) decision.Match {
	if c.Source == decision.FromQuery && c.Name == "api_key" {
		return decision.SchemeMatch
	}
	return decision.NoMatch
}
func (queryKeyAuth) Authenticate(_ context.Context, c decision.Credential) (decision.Principal, error) {
	if c.Value == "k1" {
		return decision.Principal{Subject: "svc-reports", Scopes: []string{"reports:read"}}, nil
	}
	return decision.Principal{}, &decision.Failure{Reason: decision.APIKeyInvalid, Detail: "unknown key"}
}

// closedBudget refuses every attempt, as a spent failure budget does.
type closedBudget struct{}

func (closedBudget) Reserve(context.Context, netip.Addr, string) (decision.Reservation, bool, time.Duration) {
	return decision.Reservation{}, false, 42 * time.Second
}
func (closedBudget) Settle(context.Context, decision.Reservation, decision.Outcome) {}
func (closedBudget) Fail(context.Context, netip.Addr, string)                       {}
func (closedBudget) Open(netip.Addr, string) bool                                   { return false }
func (closedBudget) Remember(netip.Addr, string)                                    {}

// decideFixture is a Handler with a forward-auth endpoint whose decisions are recorded.
type decideFixture struct {
	h      *Handler
	logs   *bytes.Buffer
	mu     sync.Mutex
	events []Event
}

func newDecideFixture(t *testing.T, mutate func(*Options)) *decideFixture {
	t.Helper()
	f := &decideFixture{logs: &bytes.Buffer{}}
	// Upstreams are never contacted: the decide endpoint only decides.
	up, _ := url.Parse("http://127.0.0.1:1")
	jwt := &tokenAuth{name: "corp_jwt", tokens: map[string]decision.Principal{
		"good":  {Subject: "alice", Scopes: []string{"orders:read", "orders:admin"}},
		"read":  {Subject: "bob", Scopes: []string{"orders:read"}},
		"weird": {Subject: "eve\r\nX-Injected: 1", Scopes: []string{"orders:read"}},
	}}
	o := Options{
		Realm:           "orders",
		TrustedProxies:  []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		ForwardAuthPath: decidePath,
		Routes: []*Route{
			{Route: &decision.Route{Name: "admin", PathPrefix: "/admin", Authenticators: []decision.Authenticator{jwt, basicAuth{}}, RequiredScopes: []string{"orders:admin"}}, Upstream: up},
			{Route: &decision.Route{Name: "public", PathPrefix: "/public", Anonymous: true}, Upstream: up},
			{Route: &decision.Route{Name: "limited", PathPrefix: "/limited", Authenticators: []decision.Authenticator{jwt}, Budget: closedBudget{}}},
			{Route: &decision.Route{Name: "reports", PathPrefix: "/reports", Authenticators: []decision.Authenticator{queryKeyAuth{}}}},
			{Route: &decision.Route{Name: "writes", PathPrefix: "/api", Methods: []string{"POST"}, Authenticators: []decision.Authenticator{jwt}, RequiredScopes: []string{"orders:admin"}}},
			{Route: &decision.Route{Name: "api", PathPrefix: "/api", Authenticators: []decision.Authenticator{jwt}}},
		},
		CORS:   CORS{AllowedOrigins: []string{"http://localhost:3000"}},
		Logger: slog.New(slog.NewJSONHandler(f.logs, nil)),
		Observe: func(ev Event) {
			f.mu.Lock()
			f.events = append(f.events, ev)
			f.mu.Unlock()
		},
	}
	if mutate != nil {
		mutate(&o)
	}
	f.h = New(o)
	return f
}

// decide sends one request to the decide endpoint from remote; headers are name, value
// pairs added in order.
func (f *decideFixture) decide(t *testing.T, remote string, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	return f.serve(t, "GET", decidePath, remote, headers...)
}

func (f *decideFixture) serve(t *testing.T, method, target, remote string, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	r.RemoteAddr = remote
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Add(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return w
}

func (f *decideFixture) lastEvent(t *testing.T) Event {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.events) == 0 {
		t.Fatal("no decision was observed")
	}
	return f.events[len(f.events)-1]
}

const proxyPeer = "10.1.2.3:41000"

func traefik(method, uri string, more ...string) []string {
	return append([]string{"X-Forwarded-Method", method, "X-Forwarded-Uri", uri}, more...)
}

func nginxStyle(method, uri string, more ...string) []string {
	return append([]string{"X-Original-Method", method, "X-Original-URI", uri}, more...)
}

func problemFrom(t *testing.T, w *httptest.ResponseRecorder) Problem {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q; body %s", ct, w.Body)
	}
	var p Problem
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, w.Body)
	}
	return p
}

var identityHeaders = []string{proxy.HeaderSubject, proxy.HeaderScopes, proxy.HeaderAuthenticator}

func TestDecideEndpointContract(t *testing.T) {
	tests := []struct {
		name    string
		remote  string
		headers []string
		status  int
		reason  string // for refusals
		route   string // the route the decision names; "" when none matched
		// identity is the X-Gatehouse-* answer of an allowed request; nil means none.
		identity map[string]string
		detail   string // a substring the refusal's detail must hold
	}{
		{name: "untrusted peer is forbidden however well it asks", remote: "192.0.2.7:5000",
			headers: traefik("GET", "/api/x", "Authorization", "Bearer good"), status: 403, reason: "forbidden", detail: "192.0.2.7 is not in trusted_proxies"},
		{name: "untrusted loopback peer is forbidden", remote: "127.0.0.1:5000",
			headers: nginxStyle("GET", "/public"), status: 403, reason: "forbidden"},
		{name: "unparseable peer address is forbidden", remote: "nonsense",
			headers: nginxStyle("GET", "/public"), status: 403, reason: "forbidden"},
		{name: "IPv4-mapped trusted peer is trusted", remote: "[::ffff:10.9.9.9]:443",
			headers: nginxStyle("GET", "/public"), status: 200, route: "public", identity: map[string]string{}},

		{name: "traefik headers, valid token", remote: proxyPeer,
			headers: traefik("GET", "/api/orders?page=2", "Authorization", "Bearer good", "X-Forwarded-Host", "api.example", "X-Forwarded-Proto", "https"),
			status:  200, route: "api", identity: map[string]string{proxy.HeaderSubject: "alice", proxy.HeaderScopes: "orders:read orders:admin", proxy.HeaderAuthenticator: "corp_jwt"}},
		{name: "nginx headers, valid token", remote: proxyPeer,
			headers: nginxStyle("GET", "/api/orders", "Authorization", "Bearer read"),
			status:  200, route: "api", identity: map[string]string{proxy.HeaderSubject: "bob", proxy.HeaderScopes: "orders:read", proxy.HeaderAuthenticator: "corp_jwt"}},
		{name: "ingress-nginx X-Original-URL", remote: proxyPeer,
			headers: []string{"X-Original-Method", "GET", "X-Original-URL", "https://shop.example/api/orders?x=1", "Authorization", "Bearer read"},
			status:  200, route: "api", identity: map[string]string{proxy.HeaderSubject: "bob", proxy.HeaderScopes: "orders:read", proxy.HeaderAuthenticator: "corp_jwt"}},
		{name: "X-Original-URL and X-Original-URI that agree", remote: proxyPeer,
			headers: []string{"X-Original-Method", "GET", "X-Original-URL", "https://shop.example/api/o?x=1", "X-Original-URI", "/api/o?x=1", "Authorization", "Bearer read"},
			status:  200, route: "api", identity: map[string]string{proxy.HeaderSubject: "bob", proxy.HeaderScopes: "orders:read", proxy.HeaderAuthenticator: "corp_jwt"}},
		{name: "the method decides the route", remote: proxyPeer,
			headers: traefik("POST", "/api/orders", "Authorization", "Bearer read"), status: 403, reason: "insufficient_scope", route: "writes"},
		{name: "a route with an upstream is decided, not proxied", remote: proxyPeer,
			headers: nginxStyle("GET", "/admin/users", "Authorization", "Bearer good"),
			status:  200, route: "admin", identity: map[string]string{proxy.HeaderSubject: "alice", proxy.HeaderScopes: "orders:read orders:admin", proxy.HeaderAuthenticator: "corp_jwt"}},
		{name: "anonymous route sets no identity, spoofed or not", remote: proxyPeer,
			headers: nginxStyle("GET", "/public/x", "X-Gatehouse-Subject", "root", "X_Gatehouse_Scopes", "all"), status: 200, route: "public", identity: map[string]string{}},
		{name: "query credentials are read from the original query", remote: proxyPeer,
			headers: nginxStyle("GET", "/reports/q1?api_key=k1&x=%20y"),
			status:  200, route: "reports", identity: map[string]string{proxy.HeaderSubject: "svc-reports", proxy.HeaderScopes: "reports:read", proxy.HeaderAuthenticator: "keys"}},
		{name: "subject that would split a header is cleaned", remote: proxyPeer,
			headers: nginxStyle("GET", "/api/x", "Authorization", "Bearer weird"),
			status:  200, route: "api", identity: map[string]string{proxy.HeaderSubject: "eveX-Injected: 1", proxy.HeaderScopes: "orders:read", proxy.HeaderAuthenticator: "corp_jwt"}},

		{name: "dot segments are resolved before matching", remote: proxyPeer,
			headers: nginxStyle("GET", "/public/../admin/users"), status: 401, reason: "credentials_missing", route: "admin"},
		{name: "encoded dot segments are resolved before matching", remote: proxyPeer,
			headers: traefik("GET", "/public/%2e%2e/admin"), status: 401, reason: "credentials_missing", route: "admin"},
		{name: "repeated slashes are collapsed", remote: proxyPeer,
			headers: nginxStyle("GET", "//admin//users"), status: 401, reason: "credentials_missing", route: "admin"},
		{name: "administrator is not under /admin", remote: proxyPeer,
			headers: nginxStyle("GET", "/administrator"), status: 404, reason: "route_not_found", detail: "GET /administrator"},

		{name: "missing credentials", remote: proxyPeer, headers: nginxStyle("GET", "/admin"), status: 401, reason: "credentials_missing", route: "admin"},
		{name: "bad token", remote: proxyPeer, headers: traefik("GET", "/api/x", "Authorization", "Bearer nope"), status: 401, reason: "token_signature_invalid", route: "api"},
		{name: "missing scope", remote: proxyPeer, headers: traefik("GET", "/admin", "Authorization", "Bearer read"), status: 403, reason: "insufficient_scope", route: "admin", detail: "orders:admin"},
		{name: "duplicated credentials", remote: proxyPeer, headers: traefik("GET", "/api/x", "Authorization", "Bearer a", "Authorization", "Bearer b"), status: 400, reason: "invalid_request", route: "api"},
		{name: "spent failure budget", remote: proxyPeer, headers: traefik("GET", "/limited", "Authorization", "Bearer nope"), status: 429, reason: "too_many_failures", route: "limited"},
		{name: "authenticator outage", remote: proxyPeer, headers: traefik("GET", "/api/x", "Authorization", "Bearer down"), status: 503, reason: "authenticator_unavailable", route: "api"},
		{name: "no route", remote: proxyPeer, headers: traefik("GET", "/nowhere"), status: 404, reason: "route_not_found"},

		{name: "no method header", remote: proxyPeer, headers: []string{"X-Original-URI", "/api"}, status: 400, reason: "invalid_request", detail: "X-Forwarded-Method or X-Original-Method"},
		{name: "no target header", remote: proxyPeer, headers: []string{"X-Original-Method", "GET"}, status: 400, reason: "invalid_request", detail: "X-Forwarded-Uri or X-Original-URI or X-Original-URL"},
		{name: "method with a space", remote: proxyPeer, headers: traefik("GE T", "/api"), status: 400, reason: "invalid_request", detail: "X-Forwarded-Method"},
		{name: "method with a separator", remote: proxyPeer, headers: nginxStyle("GET(", "/api"), status: 400, reason: "invalid_request", detail: "X-Original-Method"},
		{name: "empty method", remote: proxyPeer, headers: nginxStyle("", "/api"), status: 400, reason: "invalid_request", detail: "empty"},
		{name: "overlong method", remote: proxyPeer, headers: nginxStyle(strings.Repeat("G", 33), "/api"), status: 400, reason: "invalid_request"},
		{name: "target with a bad escape", remote: proxyPeer, headers: traefik("GET", "/api/%zz"), status: 400, reason: "invalid_request", detail: "X-Forwarded-Uri"},
		{name: "relative target", remote: proxyPeer, headers: traefik("GET", "api/x"), status: 400, reason: "invalid_request", detail: "must start with /"},
		{name: "target with a space", remote: proxyPeer, headers: nginxStyle("GET", "/api/a b"), status: 400, reason: "invalid_request", detail: "space or control"},
		{name: "target with a control character", remote: proxyPeer, headers: nginxStyle("GET", "/api/\x01"), status: 400, reason: "invalid_request", detail: "control"},
		{name: "target with a fragment", remote: proxyPeer, headers: nginxStyle("GET", "/api#x"), status: 400, reason: "invalid_request", detail: "fragment"},
		{name: "empty target", remote: proxyPeer, headers: nginxStyle("GET", ""), status: 400, reason: "invalid_request", detail: "empty"},
		{name: "overlong target", remote: proxyPeer, headers: nginxStyle("GET", "/"+strings.Repeat("a", maxTarget)), status: 400, reason: "invalid_request", detail: "bytes"},
		{name: "absolute URL without host", remote: proxyPeer, headers: []string{"X-Original-Method", "GET", "X-Original-URL", "https:///api"}, status: 400, reason: "invalid_request", detail: "host"},
		{name: "absolute URL with user information", remote: proxyPeer, headers: []string{"X-Original-Method", "GET", "X-Original-URL", "https://u:p@shop.example/api"}, status: 400, reason: "invalid_request", detail: "user information"},
		{name: "non-http URL", remote: proxyPeer, headers: []string{"X-Original-Method", "GET", "X-Original-URL", "ftp://shop.example/api"}, status: 400, reason: "invalid_request"},
		{name: "target header sent twice", remote: proxyPeer, headers: traefik("GET", "/public", "X-Forwarded-Uri", "/admin"), status: 400, reason: "invalid_request", detail: "more than once"},
		{name: "client's X-Original-URI beside Traefik's X-Forwarded-Uri", remote: proxyPeer,
			headers: traefik("GET", "/admin", "X-Original-URI", "/public"), status: 400, reason: "invalid_request", detail: "different requests"},
		{name: "client's X-Forwarded-Method beside nginx's X-Original-Method", remote: proxyPeer,
			headers: nginxStyle("POST", "/api/x", "X-Forwarded-Method", "GET"), status: 400, reason: "invalid_request", detail: "different requests"},
		{name: "client's X-Original-URL beside nginx's X-Original-URI", remote: proxyPeer,
			headers: nginxStyle("GET", "/admin", "X-Original-URL", "http://shop.example/public"), status: 400, reason: "invalid_request", detail: "different requests"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newDecideFixture(t, nil)
			w := f.decide(t, tt.remote, tt.headers...)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d; headers %v; body %s", w.Code, tt.status, w.Header(), w.Body)
			}
			ev := f.lastEvent(t)
			if ev.Route != tt.route || ev.Status != tt.status {
				t.Errorf("observed route %q status %d, want route %q", ev.Route, ev.Status, tt.route)
			}
			if tt.identity != nil {
				if w.Body.Len() != 0 {
					t.Errorf("an allowed decision has a body: %q", w.Body)
				}
				got := map[string]string{}
				for _, name := range identityHeaders {
					if v := w.Header().Values(name); len(v) > 0 {
						got[name] = strings.Join(v, "|")
					}
				}
				if diff := cmp.Diff(tt.identity, got); diff != "" {
					t.Errorf("identity headers (-want +got):\n%s", diff)
				}
				if rid := w.Header().Get(proxy.HeaderRequestID); rid == "" || rid != w.Header().Get("X-Request-Id") {
					t.Errorf("%s %q, X-Request-Id %q", proxy.HeaderRequestID, rid, w.Header().Get("X-Request-Id"))
				}
				if w.Header().Get("Cache-Control") != "no-store" {
					t.Errorf("Cache-Control %q", w.Header().Get("Cache-Control"))
				}
				return
			}
			p := problemFrom(t, w)
			if p.Reason != tt.reason || p.Status != tt.status || !strings.Contains(p.Detail, tt.detail) {
				t.Errorf("problem %+v, want reason %s and a detail holding %q", p, tt.reason, tt.detail)
			}
			if p.RequestID == "" || p.RequestID != w.Header().Get("X-Request-Id") {
				t.Errorf("request id %q vs header %q", p.RequestID, w.Header().Get("X-Request-Id"))
			}
			for _, name := range identityHeaders {
				if v := w.Header().Get(name); v != "" {
					t.Errorf("a refusal carries %s: %q", name, v)
				}
			}
			if got := w.Header().Get(HeaderProblem); got != strings.TrimSpace(w.Body.String()) {
				t.Errorf("%s = %q, want the body %q", HeaderProblem, got, w.Body)
			}
			if tt.status == 429 || tt.status == 503 {
				if w.Header().Get("Retry-After") == "" {
					t.Errorf("no Retry-After")
				}
			}
		})
	}
}

func TestDecideRefusalsFoldChallengesIntoOneField(t *testing.T) {
	f := newDecideFixture(t, nil)
	w := f.decide(t, proxyPeer, traefik("GET", "/admin", "X-Forwarded-Host", "shop.example", "X-Forwarded-Proto", "https")...)
	fields := w.Header().Values("WWW-Authenticate")
	if len(fields) != 1 {
		t.Fatalf("WWW-Authenticate fields %q, want one (nginx before 1.23 passes on only the first)", fields)
	}
	cs, err := challenge.ParseChallenges(fields)
	if err != nil {
		t.Fatal(err)
	}
	meta := "https://shop.example/.well-known/oauth-protected-resource"
	want := []challenge.Challenge{
		{Scheme: "Bearer", Params: []challenge.Param{{Name: "realm", Value: "orders"}, {Name: "resource_metadata", Value: meta}}},
		{Scheme: "Basic", Params: []challenge.Param{{Name: "realm", Value: "orders"}, {Name: "charset", Value: "UTF-8"}}},
	}
	if diff := cmp.Diff(want, cs, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("challenges (-want +got):\n%s", diff)
	}
}

func TestDecideTakesHostAndSchemeFromXOriginalURL(t *testing.T) {
	f := newDecideFixture(t, nil)
	w := f.decide(t, proxyPeer, "X-Original-Method", "GET", "X-Original-URL", "https://shop.example:8443/api/x")
	cs, err := challenge.ParseChallenges(w.Header().Values("WWW-Authenticate"))
	if err != nil || len(cs) != 1 {
		t.Fatalf("challenges %v %v", cs, err)
	}
	if got, _ := cs[0].Param("resource_metadata"); got != "https://shop.example:8443/.well-known/oauth-protected-resource" {
		t.Errorf("resource_metadata %q", got)
	}
}

func TestDecideCountsAndLogsTheClientTheProxyNames(t *testing.T) {
	tests := []struct {
		name, remote, xff, want string
	}{
		{"trusted proxy names the client", proxyPeer, "203.0.113.9", "203.0.113.9"},
		{"right-most untrusted address wins over a client's own claim", proxyPeer, "198.51.100.1, 203.0.113.9", "203.0.113.9"},
		{"a chain of trusted proxies is walked", proxyPeer, "203.0.113.9, 10.0.0.5", "203.0.113.9"},
		{"garbage stops the walk at the proxy", proxyPeer, "not-an-ip", "10.1.2.3"},
		{"no X-Forwarded-For: the proxy itself", proxyPeer, "", "10.1.2.3"},
		{"an untrusted caller is itself, whatever it claims", "192.0.2.7:1", "203.0.113.9", "192.0.2.7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newDecideFixture(t, nil)
			h := nginxStyle("GET", "/api/x", "Authorization", "Bearer nope")
			if tt.xff != "" {
				h = append(h, "X-Forwarded-For", tt.xff)
			}
			f.decide(t, tt.remote, h...)
			if got := f.lastEvent(t).Client.String(); got != tt.want {
				t.Errorf("client %s, want %s", got, tt.want)
			}
			var line map[string]any
			if err := json.Unmarshal(f.logs.Bytes(), &line); err != nil {
				t.Fatalf("log %q: %v", f.logs, err)
			}
			if line["client"] != tt.want {
				t.Errorf("logged client %v, want %s", line["client"], tt.want)
			}
		})
	}
}

// countingBudget records the client failures are charged to.
type countingBudget struct {
	mu      sync.Mutex
	charged []netip.Addr
}

func (b *countingBudget) Reserve(_ context.Context, c netip.Addr, id string) (decision.Reservation, bool, time.Duration) {
	return decision.Reservation{Client: c, CredID: id}, true, 0
}
func (b *countingBudget) Settle(_ context.Context, r decision.Reservation, o decision.Outcome) {
	if o == decision.Failed {
		b.Fail(context.Background(), r.Client, r.CredID)
	}
}
func (b *countingBudget) Fail(_ context.Context, c netip.Addr, _ string) {
	b.mu.Lock()
	b.charged = append(b.charged, c)
	b.mu.Unlock()
}
func (b *countingBudget) Open(netip.Addr, string) bool { return true }
func (b *countingBudget) Remember(netip.Addr, string)  {}

func TestDecideChargesFailuresToTheNamedClient(t *testing.T) {
	b := &countingBudget{}
	f := newDecideFixture(t, func(o *Options) {
		for _, rt := range o.Routes {
			rt.Budget = b
		}
	})
	f.decide(t, proxyPeer, nginxStyle("GET", "/api/x", "Authorization", "Bearer nope", "X-Forwarded-For", "203.0.113.9")...)
	want := []netip.Addr{netip.MustParseAddr("203.0.113.9")}
	if diff := cmp.Diff(want, b.charged, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("charged (-want +got):\n%s", diff)
	}
}

func TestDecideLogsTheOriginalRequest(t *testing.T) {
	f := newDecideFixture(t, nil)
	f.decide(t, proxyPeer, traefik("DELETE", "/api/orders/7?force=1", "Authorization", "Bearer good", "X-Request-Id", "rid-1")...)
	var line map[string]any
	if err := json.Unmarshal(f.logs.Bytes(), &line); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"method": "DELETE", "path": "/api/orders/7", "route": "api", "client_request_id": "rid-1", "status": float64(200)}
	if id, _ := line["request_id"].(string); len(id) != 24 {
		t.Errorf("log request_id = %q, want the gateway's own id", id)
	}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("log %s = %v, want %v (line %v)", k, line[k], v, line)
		}
	}
	if strings.Contains(f.logs.String(), "good") {
		t.Errorf("the credential reached the log: %s", f.logs)
	}
}

func TestDecidePreflight(t *testing.T) {
	f := newDecideFixture(t, nil)
	t.Run("allowed origin: never a 2xx, a marked 403 with CORS headers, no credentials needed", func(t *testing.T) {
		w := f.decide(t, proxyPeer, traefik("OPTIONS", "/api/orders",
			"Origin", "http://localhost:3000", "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "authorization")...)
		// A 2xx tells the proxy to pass the preflight, body and all, to the upstream.
		if w.Code != 403 || w.Body.Len() != 0 {
			t.Fatalf("status %d body %s, want 403 and no body", w.Code, w.Body)
		}
		want := map[string]string{
			HeaderPreflight:                PreflightAnswer,
			"Access-Control-Allow-Origin":  "http://localhost:3000",
			"Access-Control-Allow-Methods": "POST",
			"Access-Control-Allow-Headers": "Authorization",
			"Vary":                         "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
		}
		for k, v := range want {
			if got := w.Header().Values(k); len(got) != 1 || got[0] != v {
				t.Errorf("%s = %q, want %q", k, got, v)
			}
		}
	})
	t.Run("allowed origin, method no route takes: 404", func(t *testing.T) {
		w := f.decide(t, proxyPeer, traefik("OPTIONS", "/nowhere", "Origin", "http://localhost:3000", "Access-Control-Request-Method", "GET")...)
		if p := problemFrom(t, w); w.Code != 404 || p.Reason != "route_not_found" || w.Header().Get(HeaderProblem) == "" {
			t.Fatalf("status %d problem %+v headers %v", w.Code, p, w.Header())
		}
	})
	t.Run("other origin: decided as a plain OPTIONS", func(t *testing.T) {
		w := f.decide(t, proxyPeer, traefik("OPTIONS", "/api/orders", "Origin", "http://evil.example", "Access-Control-Request-Method", "POST")...)
		if w.Code != 401 || w.Header().Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("status %d headers %v", w.Code, w.Header())
		}
	})
	t.Run("refusal to an allowed origin exposes the challenge", func(t *testing.T) {
		w := f.decide(t, proxyPeer, traefik("GET", "/api/orders", "Origin", "http://localhost:3000")...)
		if w.Code != 401 || w.Header().Get("Access-Control-Allow-Origin") != "http://localhost:3000" ||
			!strings.Contains(w.Header().Get("Access-Control-Expose-Headers"), "WWW-Authenticate") {
			t.Fatalf("status %d headers %v", w.Code, w.Header())
		}
	})
	t.Run("allowed request to an allowed origin carries CORS headers", func(t *testing.T) {
		w := f.decide(t, proxyPeer, traefik("GET", "/api/orders", "Origin", "http://localhost:3000", "Authorization", "Bearer good")...)
		if w.Code != 200 || w.Header().Get("Access-Control-Allow-Origin") != "http://localhost:3000" {
			t.Fatalf("status %d headers %v", w.Code, w.Header())
		}
	})
}

func TestDecidePathTakesPrecedenceAndCanBeOff(t *testing.T) {
	catchAll := func(o *Options) {
		o.Routes = append(o.Routes, &Route{Route: &decision.Route{Name: "all", PathPrefix: "/", Anonymous: true}})
	}
	t.Run("a catch-all route does not shadow the endpoint", func(t *testing.T) {
		f := newDecideFixture(t, catchAll)
		if w := f.decide(t, "192.0.2.7:1", nginxStyle("GET", "/public")...); w.Code != 403 {
			t.Fatalf("status %d, want the endpoint's 403 for an untrusted caller", w.Code)
		}
	})
	t.Run("the endpoint answers any method, as nginx subrequests inherit the client's", func(t *testing.T) {
		f := newDecideFixture(t, nil)
		if w := f.serve(t, "POST", decidePath, proxyPeer, nginxStyle("POST", "/public")...); w.Code != 200 {
			t.Fatalf("status %d", w.Code)
		}
	})
	t.Run("a cleaned path reaches the endpoint", func(t *testing.T) {
		f := newDecideFixture(t, nil)
		if w := f.serve(t, "GET", "/_gatehouse/./decide", proxyPeer, nginxStyle("GET", "/public")...); w.Code != 200 {
			t.Fatalf("status %d", w.Code)
		}
	})
	t.Run("no path, no endpoint", func(t *testing.T) {
		f := newDecideFixture(t, func(o *Options) { catchAll(o); o.ForwardAuthPath = "" })
		w := f.decide(t, proxyPeer, nginxStyle("GET", "/admin")...)
		if w.Code != 204 {
			t.Fatalf("status %d, want the catch-all route's 204", w.Code)
		}
	})
}

func TestDecideNeverLeaksTheCredential(t *testing.T) {
	f := newDecideFixture(t, nil)
	secret := "s3cr3t-t0ken-value-0123456789"
	for _, h := range [][]string{
		traefik("GET", "/api/x", "Authorization", "Bearer "+secret),
		traefik("GET", "/api/x?api_key="+secret+"%zz", "Authorization", "Bearer "+secret),
		traefik("GET", "/reports?api_key="+secret),
	} {
		w := f.decide(t, proxyPeer, h...)
		var all strings.Builder
		for k, v := range w.Header() {
			all.WriteString(k + ": " + strings.Join(v, ",") + "\n")
		}
		all.Write(w.Body.Bytes())
		if strings.Contains(all.String(), secret) {
			t.Errorf("the credential is in the answer:\n%s", all.String())
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ev := range f.events {
		if strings.Contains(ev.Detail+ev.Cause+ev.Fingerprint, secret) {
			t.Errorf("the credential is in an event: %+v", ev)
		}
	}
	if strings.Contains(f.logs.String(), secret) {
		t.Errorf("the credential is in the logs: %s", f.logs)
	}
}

func TestDecideProblemHeaderIsASCIIAndMeansTheBody(t *testing.T) {
	f := newDecideFixture(t, func(o *Options) {
		o.Routes = append([]*Route{{Route: &decision.Route{Name: "intl", PathPrefix: "/intl", Authenticators: []decision.Authenticator{failWith{"clé expirée — 🔑 \u2028"}}}}}, o.Routes...)
	})
	w := f.decide(t, proxyPeer, traefik("GET", "/intl", "Authorization", "Bearer x")...)
	hp := w.Header().Get(HeaderProblem)
	for i := 0; i < len(hp); i++ {
		if hp[i] < 0x20 || hp[i] >= 0x7f {
			t.Fatalf("%s has byte %#x at %d: %q", HeaderProblem, hp[i], i, hp)
		}
	}
	var fromHeader, fromBody Problem
	if err := json.Unmarshal([]byte(hp), &fromHeader); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(w.Body.Bytes(), &fromBody); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(fromBody, fromHeader); diff != "" {
		t.Errorf("header and body differ (-body +header):\n%s", diff)
	}
	if fromBody.Detail != "clé expirée — 🔑 \u2028" {
		t.Errorf("detail %q", fromBody.Detail)
	}
}

func TestDecideOversizedProblemStaysInTheBodyOnly(t *testing.T) {
	long := strings.Repeat("x", maxProblemHeader)
	f := newDecideFixture(t, func(o *Options) {
		o.Routes = append([]*Route{{Route: &decision.Route{Name: "long", PathPrefix: "/long", Authenticators: []decision.Authenticator{failWith{long}}}}}, o.Routes...)
	})
	w := f.decide(t, proxyPeer, traefik("GET", "/long", "Authorization", "Bearer x")...)
	if w.Code != 401 || w.Header().Get(HeaderProblem) != "" || !strings.Contains(w.Body.String(), long) {
		t.Fatalf("status %d, header %d bytes, body %d bytes", w.Code, len(w.Header().Get(HeaderProblem)), w.Body.Len())
	}
}

// failWith refuses every Bearer token with a fixed detail.
type failWith struct{ detail string }

func (failWith) Name() string                   { return "fail" }
func (failWith) Scheme() string                 { return "Bearer" }
func (failWith) Locations() []decision.Location { return nil }
func (failWith) Claims(c decision.Credential) decision.Match {
	if c.Scheme == "bearer" {
		return decision.SchemeMatch
	}
	return decision.NoMatch
}
func (a failWith) Authenticate(context.Context, decision.Credential) (decision.Principal, error) {
	return decision.Principal{}, &decision.Failure{Reason: decision.TokenExpired, Detail: a.detail}
}

func TestDecideOverRealHTTP(t *testing.T) {
	// The same handler behind a real listener: the peer is 127.0.0.1, trusted here.
	f := newDecideFixture(t, func(o *Options) {
		o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	})
	srv := httptest.NewServer(f.h)
	t.Cleanup(srv.Close)
	req, _ := http.NewRequest("HEAD", srv.URL+decidePath, nil)
	req.Header.Set("X-Original-Method", "HEAD")
	req.Header.Set("X-Original-URI", "/api/x")
	req.Header.Set("Authorization", "Bearer nope")
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// A HEAD subrequest gets no body, but the problem is still in its header.
	if resp.StatusCode != 401 || len(body) != 0 || !strings.Contains(resp.Header.Get(HeaderProblem), "token_signature_invalid") {
		t.Fatalf("status %d body %q headers %v", resp.StatusCode, body, resp.Header)
	}
}

func TestDecideProblemHeaderEscapes(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"a":"b"}`, `{"a":"b"}`},
		{`{"a":"é"}`, `{"a":"\u00e9"}`},
		{`{"a":"🔑"}`, `{"a":"\ud83d\udd11"}`},
		{"{\"a\":\"\u2028\"}", `{"a":"\u2028"}`},
		{"{\"a\":\"\x7f\"}", `{"a":"\u007f"}`},
		{``, ``},
	}
	for _, tt := range tests {
		if got := asciiJSON([]byte(tt.in)); got != tt.want {
			t.Errorf("asciiJSON(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzParseTargetFastPath: parseTarget's shortcut for plain origin-form targets reads
// them exactly as url.ParseRequestURI does (parseTargetURL).
func FuzzParseTargetFastPath(f *testing.F) {
	for _, s := range []string{"/api/orders", "/a?b=c&d", "/a?", "//x//y/./z/", "/public/../admin?x=%2F", "/a/%2e%2e/b", "/?", "/a?b?c", "/é/ü?ö", "http://h/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fast, ferr := parseTarget(s)
		if ferr != nil || s == "" || s[0] != '/' {
			return
		}
		slow, serr := parseTargetURL(s)
		if serr != nil || fast != slow {
			t.Fatalf("%q: parseTarget %+v, url.ParseRequestURI %+v (%v)", s, fast, slow, serr)
		}
	})
}

// TestForwardHeaderKeysAreCanonical: the keys readOriginal looks up are the canonical
// forms of the names, as net/http stores request headers.
func TestForwardHeaderKeysAreCanonical(t *testing.T) {
	for _, fh := range append(append([]forwardHeader{}, methodHeaders...), targetHeaders...) {
		if k := http.CanonicalHeaderKey(fh.name); k != fh.key {
			t.Errorf("%s: key %q, canonical %q", fh.name, fh.key, k)
		}
	}
}

// FuzzDecideOriginalRequest feeds the headers a proxy sets to the parser of the original request:
// it must never panic, and what it accepts must be a token method and a clean absolute
// path, the same whichever of the agreeing headers carried it.
func FuzzDecideOriginalRequest(f *testing.F) {
	f.Add("GET", "/api/orders?x=1", "", "")
	f.Add("POST", "/public/../admin", "/admin", "")
	f.Add("GET", "", "", "https://shop.example:8443/a/%2e%2e/b?q")
	f.Add("G ET", "/%zz", "", "")
	f.Add("GET", "//x//y/./z/", "", "http://h/x/y/z/")
	f.Add("", "", "", "")
	f.Add("GET", "/public/..;/admin", "/public/..;/admin", "")
	f.Add("GET", "", "/public/..%5cadmin", "http://h/public/%252e%252e/admin")
	f.Fuzz(func(t *testing.T, method, fwdURI, origURI, origURL string) {
		hd := http.Header{}
		if method != "" {
			hd.Set(headerForwardedMethod.name, method)
		}
		for fh, v := range map[forwardHeader]string{headerForwardedURI: fwdURI, headerOriginalURI: origURI, headerOriginalURL: origURL} {
			if v != "" {
				hd[fh.key] = []string{v}
			}
		}
		o, err := readOriginal(hd)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if _, err := parseMethod(o.method); err != nil {
			t.Fatalf("accepted method %q: %v", o.method, err)
		}
		if !strings.HasPrefix(o.path, "/") || !cleanAlready(o.path) {
			t.Fatalf("accepted path %q is not clean, or not one the gateway accepts", o.path)
		}
		if strings.ContainsAny(o.query, " \r\n#") {
			t.Fatalf("query %q", o.query)
		}
	})
}

// FuzzDecideProblemHeader checks that the header form of a problem always decodes to the body.
func FuzzDecideProblemHeader(f *testing.F) {
	f.Add("plain")
	f.Add("clé 🔑 \u2028 \x00 \xff")
	f.Fuzz(func(t *testing.T, s string) {
		// encoding/json replaces invalid UTF-8; marshalling a map of strings cannot fail.
		b, err := json.Marshal(map[string]string{"detail": s})
		if err != nil {
			t.Fatal(err)
		}
		a := asciiJSON(b)
		for i := 0; i < len(a); i++ {
			if a[i] < 0x20 || a[i] >= 0x7f {
				t.Fatalf("byte %#x at %d in %q", a[i], i, a)
			}
		}
		var x, y map[string]string
		if err := json.Unmarshal(b, &x); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(a), &y); err != nil {
			t.Fatalf("%q: %v", a, err)
		}
		if x["detail"] != y["detail"] {
			t.Fatalf("%q became %q", x["detail"], y["detail"])
		}
	})
}

// cleanAlready reports whether p is its own clean form.
func cleanAlready(p string) bool {
	c, err := decision.CleanPath(p)
	return err == nil && c == p
}
