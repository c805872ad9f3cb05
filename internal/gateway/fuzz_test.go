package gateway

import (
	"bufio"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
)

// refRoute is a route as a reference reader sees it: the name, the prefix and the
// credentials that may pass it, written out by hand rather than taken from the Handler.
type refRoute struct {
	name    string
	prefix  string
	methods []string
	// allows reports whether a request with this Authorization header and query may
	// pass; nil means anonymous.
	allows func(authz string, query url.Values) bool
}

func bearerIn(tokens ...string) func(string, url.Values) bool {
	// The scheme is case-insensitive and the separator may be any run of whitespace: the
	// reference is as lenient as any reading could be, so it only flags real escapes.
	return func(authz string, _ url.Values) bool {
		f := strings.Fields(authz)
		return len(f) == 2 && strings.EqualFold(f[0], "Bearer") && contains(tokens, f[1])
	}
}

// refMatch is the first route whose prefix holds p on a segment boundary, written
// independently of decision.PathHasPrefix.
func refMatch(routes []refRoute, method, p string) *refRoute {
	for i := range routes {
		r := &routes[i]
		if len(r.methods) > 0 && !contains(r.methods, method) {
			continue
		}
		if p == r.prefix || strings.HasPrefix(p, r.prefix+"/") {
			return r
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// upstreamPath is how an upstream that resolves dot segments itself reads a decoded
// request path.
func upstreamPath(p string) string {
	if p == "" {
		return "/"
	}
	return path.Clean("/" + p)
}

// FuzzProxiedPathIsTheMatchedPath sends an arbitrary request line through the gateway to
// a real upstream and holds two properties. Whatever the upstream receives is decided by
// the route that the upstream's own reading of the path (percent-decoded, dot segments
// resolved) falls under: "/public/../admin", "/public/%2e%2e/admin" or "//admin" can never
// reach /admin as an anonymous /public request. And a request that reaches a protected
// route's upstream carried a credential that route accepts. No request is answered 5xx.
func FuzzProxiedPathIsTheMatchedPath(f *testing.F) {
	for _, s := range []string{
		"/public/x", "/public/../admin/x", "/public/%2e%2e/admin", "/public/%2E%2E%2Fadmin",
		"//admin", "/public//../admin", "/public/./../api/orders", "/admin", "/api/orders?x=1",
		"/public/..%2fadmin", "/public%2f..%2fadmin", "/publicx/../admin", "/./admin",
		"http://x/public/../admin", "*", "/public/%00/../admin", "/public/\\../admin",
	} {
		f.Add(s, "")
		f.Add(s, "Bearer good")
	}
	var (
		mu   sync.Mutex
		seen []string // decoded paths the upstream received
	)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.Path)
		mu.Unlock()
		io.WriteString(w, "ok")
	}))
	f.Cleanup(upstream.Close)
	up, _ := url.Parse(upstream.URL)
	jwt := &tokenAuth{name: "corp_jwt", tokens: map[string]decision.Principal{
		"good": {Subject: "alice", Scopes: []string{"orders:read", "orders:admin"}},
		"read": {Subject: "bob", Scopes: []string{"orders:read"}},
	}}
	var (
		evMu sync.Mutex
		last *Event
	)
	h := New(Options{
		Realm: "orders",
		Routes: []*Route{
			{Route: &decision.Route{Name: "admin", PathPrefix: "/admin", Authenticators: []decision.Authenticator{jwt, basicAuth{}}, RequiredScopes: []string{"orders:admin"}}, Upstream: up},
			{Route: &decision.Route{Name: "public", PathPrefix: "/public", Anonymous: true}, Upstream: up},
			{Route: &decision.Route{Name: "api", PathPrefix: "/api", Authenticators: []decision.Authenticator{jwt}}, Upstream: up},
		},
		Logger:    slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Transport: upstream.Client().Transport,
		Observe: func(ev Event) {
			evMu.Lock()
			last = &ev
			evMu.Unlock()
		},
	})
	refs := []refRoute{
		{name: "admin", prefix: "/admin", allows: bearerIn("good")},
		{name: "public", prefix: "/public"},
		{name: "api", prefix: "/api", allows: bearerIn("good", "read")},
	}
	f.Fuzz(func(t *testing.T, target, authz string) {
		if strings.ContainsAny(target, " \r\n") || strings.ContainsAny(authz, "\r\n") || len(target) > 4096 {
			return
		}
		raw := "GET " + target + " HTTP/1.1\r\nHost: gw.test\r\n"
		if authz != "" {
			raw += "Authorization: " + authz + "\r\n"
		}
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw + "\r\n")))
		if err != nil {
			return // net/http refuses it before any handler runs
		}
		r.RemoteAddr = "192.0.2.7:40000"
		mu.Lock()
		seen = seen[:0]
		mu.Unlock()
		evMu.Lock()
		last = nil
		evMu.Unlock()

		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)

		if w.Code >= 500 {
			t.Fatalf("GET %q answered %d", target, w.Code)
		}
		mu.Lock()
		got := append([]string(nil), seen...)
		mu.Unlock()
		if len(got) == 0 {
			return
		}
		if len(got) > 1 {
			t.Fatalf("GET %q reached the upstream %d times", target, len(got))
		}
		evMu.Lock()
		ev := last
		evMu.Unlock()
		if ev == nil || !ev.Allow {
			t.Fatalf("GET %q reached the upstream as %q without an allow decision: %+v", target, got[0], ev)
		}
		ref := refMatch(refs, "GET", upstreamPath(got[0]))
		if ref == nil {
			t.Fatalf("GET %q reached the upstream as %q, which no route covers (decided by %q)", target, got[0], ev.Route)
		}
		if ref.name != ev.Route {
			t.Fatalf("GET %q: the upstream read %q (route %q) but route %q decided", target, got[0], ref.name, ev.Route)
		}
		if ref.allows != nil && !ref.allows(authz, nil) {
			t.Fatalf("GET %q with Authorization %q reached protected route %q", target, authz, ref.name)
		}
	})
}

// FuzzDecideEndpoint sends arbitrary forwarded-request headers (X-Forwarded-Method,
// X-Forwarded-Uri, X-Original-URL) and an Authorization header to the forward-auth
// endpoint from a trusted proxy. Whatever it allows must be allowed by the route that
// covers the original request as an upstream reads it (the first of the agreeing headers,
// percent-decoded, dot segments resolved) with the credential that route accepts, and it
// never answers 5xx except 503 for an authenticator outage.
func FuzzDecideEndpoint(f *testing.F) {
	for _, s := range [][4]string{
		{"GET", "/admin/x", "", "Bearer good"},
		{"GET", "/public/../admin/x", "", ""},
		{"GET", "/public/%2e%2e/admin", "", ""},
		{"GET", "", "https://shop.example/public/..%2fadmin", ""},
		{"POST", "/api/orders", "", "Bearer read"},
		{"GET", "/reports/x?api_key=k1", "", ""},
		{"GET", "/reports/x?api_key=k1&api_key=k2", "", ""},
		{"GET", "/limited/x", "", "Bearer good"},
		{"GET", "/public/x", "http://h/admin", ""},
		{"get", "//admin", "", ""},
		{"GET", "/api/x", "", "Bearer down"},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	var (
		once sync.Once
		fx   *decideFixture
	)
	refs := []refRoute{
		{name: "admin", prefix: "/admin", allows: bearerIn("good")},
		{name: "public", prefix: "/public"},
		{name: "limited", prefix: "/limited", allows: func(string, url.Values) bool { return false }},
		{name: "reports", prefix: "/reports", allows: func(_ string, q url.Values) bool { return contains(q["api_key"], "k1") }},
		{name: "writes", prefix: "/api", methods: []string{"POST"}, allows: bearerIn("good")},
		{name: "api", prefix: "/api", allows: bearerIn("good", "read", "weird")},
	}
	f.Fuzz(func(t *testing.T, method, fwdURI, origURL, authz string) {
		once.Do(func() {
			fx = newDecideFixture(t, func(o *Options) {
				o.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
			})
		})
		var hdr []string
		if method != "" {
			hdr = append(hdr, "X-Forwarded-Method", method)
		}
		if fwdURI != "" {
			hdr = append(hdr, "X-Forwarded-Uri", fwdURI)
		}
		if origURL != "" {
			hdr = append(hdr, "X-Original-Url", origURL)
		}
		if authz != "" {
			hdr = append(hdr, "Authorization", authz)
		}
		fx.mu.Lock()
		fx.events = fx.events[:0]
		fx.mu.Unlock()
		r := httptest.NewRequest("GET", decidePath, nil)
		r.RemoteAddr = proxyPeer
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Add(hdr[i], hdr[i+1])
		}
		w := httptest.NewRecorder()
		fx.h.ServeHTTP(w, r)

		fx.mu.Lock()
		var ev *Event
		if n := len(fx.events); n > 0 {
			e := fx.events[n-1]
			ev = &e
		}
		fx.mu.Unlock()
		if w.Code >= 500 && !(w.Code == 503 && ev != nil && ev.Reason == decision.AuthenticatorUnavailable) {
			t.Fatalf("%q %q %q answered %d (%+v)", method, fwdURI, origURL, w.Code, ev)
		}
		if w.Code >= 300 {
			return
		}
		// Allowed: the original request must be one a reference reader understands, and
		// the route that covers it must let this credential through.
		target := fwdURI
		if target == "" {
			target = origURL
		}
		u, err := url.Parse(target)
		if err != nil {
			t.Fatalf("allowed %q %q %q, which does not parse as a URL: %v", method, fwdURI, origURL, err)
		}
		// Methods are case-sensitive (RFC 9110 section 9.1): "post" is not POST.
		m := method
		ref := refMatch(refs, m, upstreamPath(u.Path))
		if ref == nil {
			t.Fatalf("allowed %s %q, which no route covers", m, u.Path)
		}
		if ev == nil || ev.Route != ref.name {
			t.Fatalf("allowed %s %q: the upstream reads route %q, decided by %+v", m, u.Path, ref.name, ev)
		}
		q, _ := url.ParseQuery(u.RawQuery)
		if ref.allows != nil && !ref.allows(authz, q) {
			t.Fatalf("allowed %s %q (route %q) with Authorization %q", m, target, ref.name, authz)
		}
	})
}
