package gateway

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
)

// rawRequest sends target as is (no client-side cleaning or escaping) over a raw
// connection and returns the response and its body.
func (f *fixture) rawRequest(t *testing.T, method, target string, headers ...string) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(f.gw.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	b.WriteString(method + " " + target + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n")
	for i := 0; i+1 < len(headers); i += 2 {
		b.WriteString(headers[i] + ": " + headers[i+1] + "\r\n")
	}
	b.WriteString("\r\n")
	io.WriteString(conn, b.String())
	resp, err := http.ReadResponse(bufioReader(conn), &http.Request{Method: method})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

// upstreamHit reports whether the upstream got a request since the last call. The proxy
// has finished with the upstream when the gateway's response is read, so this needs no
// waiting.
func (f *fixture) upstreamHit() bool {
	select {
	case <-f.seen:
		return true
	default:
		return false
	}
}

// withPathRoutes gives the fixture's admin route case-insensitive matching, a reports
// route that takes only GET with a scope, and an anonymous catch-all behind them all:
// the weaker route a path or method trick would reach.
func withPathRoutes(o *Options) {
	old := o.Routes[0].Route
	admin := &decision.Route{Name: old.Name, PathPrefix: old.PathPrefix, Authenticators: old.Authenticators,
		RequiredScopes: old.RequiredScopes, CaseInsensitive: true}
	o.Routes[0] = &Route{Route: admin, Upstream: o.Routes[0].Upstream, ForwardAuthorization: true}
	jwt := admin.Authenticators[0]
	o.Routes = append(o.Routes,
		&Route{Route: &decision.Route{Name: "reports", PathPrefix: "/reports", Methods: []string{"GET"},
			Authenticators: []decision.Authenticator{jwt}, RequiredScopes: []string{"orders:admin"}}, Upstream: o.Routes[1].Upstream},
		&Route{Route: &decision.Route{Name: "root", PathPrefix: "/", Anonymous: true}, Upstream: o.Routes[1].Upstream})
}

func TestPathsAnUpstreamReadsAsAnotherAreRefused(t *testing.T) {
	f := newFixture(t, withPathRoutes)
	tests := []struct {
		name, method, target string
		headers              []string
		status               int
		reason               string // empty: allowed
		allow                string // the 405's Allow
	}{
		{"dot-dot with parameters (Tomcat reads /admin)", "GET", "/public/..;/admin/x", nil, 400, "path_rejected", ""},
		{"encoded dot-dot with parameters", "GET", "/public/%2e%2e;x/admin", nil, 400, "path_rejected", ""},
		{"encoded backslash", "GET", "/public/..%5cadmin", nil, 400, "path_rejected", ""},
		{"raw backslash", "GET", `/public/..\admin`, nil, 400, "path_rejected", ""},
		{"double-encoded dots", "GET", "/public/%252e%252e/admin", nil, 400, "path_rejected", ""},
		{"double-encoded letter", "GET", "/%2561dmin/x", nil, 400, "path_rejected", ""},
		{"overlong UTF-8 dots", "GET", "/public/%c0%ae%c0%ae/admin", nil, 400, "path_rejected", ""},
		{"NUL", "GET", "/admin%00.css", nil, 400, "path_rejected", ""},
		{"upper case on a case-insensitive route", "GET", "/ADMIN/x", nil, 401, "credentials_missing", ""},
		{"parameters on the prefix segment: two routes, refused", "GET", "/admin;jsessionid=1/x", nil, 400, "path_rejected", ""},
		{"an empty segment with parameters: two routes, refused", "GET", "/;x/admin", nil, 400, "path_rejected", ""},
		{"parameters below the prefix: one route", "GET", "/admin/x;jsessionid=1", nil, 401, "credentials_missing", ""},
		{"another method on a GET-only route", "POST", "/reports", nil, 405, "method_not_allowed", "GET, HEAD"},
		{"another method below a GET-only route", "DELETE", "/reports/2024", []string{"Authorization", "Bearer read"}, 405, "method_not_allowed", "GET, HEAD"},
		{"HEAD follows GET: credentials needed", "HEAD", "/reports", nil, 401, "credentials_missing", ""},
		{"HEAD follows GET: the scope too", "HEAD", "/reports", []string{"Authorization", "Bearer read"}, 403, "insufficient_scope", ""},
		{"GET without the scope", "GET", "/reports", []string{"Authorization", "Bearer read"}, 403, "insufficient_scope", ""},
		{"GET with the scope", "GET", "/reports", []string{"Authorization", "Bearer good"}, 200, "", ""},
		{"a plain path", "GET", "/public/a%20b", nil, 200, "", ""},
		{"a percent that is no escape", "GET", "/public/100%25", nil, 200, "", ""},
		{"dot-dot still resolved", "GET", "/public/%2e%2e/admin", nil, 401, "credentials_missing", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.upstreamHit()
			resp, body := f.rawRequest(t, tt.method, tt.target, tt.headers...)
			if resp.StatusCode != tt.status {
				t.Fatalf("%s %s = %d %s, want %d", tt.method, tt.target, resp.StatusCode, body, tt.status)
			}
			if hit := f.upstreamHit(); hit != (tt.reason == "") {
				t.Errorf("upstream reached: %v", hit)
			}
			if got := resp.Header.Get("Allow"); got != tt.allow {
				t.Errorf("Allow %q, want %q", got, tt.allow)
			}
			if tt.reason == "" || tt.method == "HEAD" {
				return
			}
			if p := problemOf(t, resp, body); p.Reason != tt.reason || p.Status != tt.status {
				t.Errorf("problem %+v, want %s", p, tt.reason)
			}
		})
	}
}

func TestDecideRefusesPathsAsTheGatewayDoes(t *testing.T) {
	f := newDecideFixture(t, func(o *Options) {
		o.Routes = append([]*Route{{Route: &decision.Route{Name: "stats", PathPrefix: "/stats", Methods: []string{"GET"},
			Authenticators: o.Routes[0].Authenticators}}}, o.Routes...)
		o.Routes = append(o.Routes, &Route{Route: &decision.Route{Name: "root", PathPrefix: "/", Anonymous: true}})
	})
	tests := []struct {
		name    string
		headers []string
		status  int
		reason  string
		allow   string
	}{
		{"nginx: dot-dot with parameters", nginxStyle("GET", "/public/..;/admin"), 400, "path_rejected", ""},
		{"nginx: encoded backslash", nginxStyle("GET", "/public/..%5Cadmin"), 400, "path_rejected", ""},
		{"nginx: raw backslash", nginxStyle("GET", `/public/..\admin`), 400, "path_rejected", ""},
		{"nginx: double-encoded dots", nginxStyle("GET", "/public/%252e%252e/admin"), 400, "path_rejected", ""},
		{"nginx: overlong UTF-8", nginxStyle("GET", "/public/%c0%ae%c0%ae/admin"), 400, "path_rejected", ""},
		{"Traefik: dot-dot with parameters", traefik("GET", "/public/..;/admin"), 400, "path_rejected", ""},
		{"ingress-nginx: dot-dot with parameters", []string{"X-Original-Method", "GET", "X-Original-URL", "https://api.example/public/..;/admin"}, 400, "path_rejected", ""},
		{"a malformed target stays invalid_request", nginxStyle("GET", "/api/%zz"), 400, "invalid_request", ""},
		{"parameters on the prefix segment: two routes, refused", nginxStyle("GET", "/admin;x/y"), 400, "path_rejected", ""},
		{"parameters below the prefix: one route", nginxStyle("GET", "/admin/y;x"), 401, "credentials_missing", ""},
		{"method-restricted route: 405", nginxStyle("POST", "/stats"), 405, "method_not_allowed", "GET, HEAD"},
		{"HEAD follows GET", nginxStyle("HEAD", "/stats"), 401, "credentials_missing", ""},
		{"preflight for a method the route does not take", traefik("OPTIONS", "/stats",
			"Origin", "http://localhost:3000", "Access-Control-Request-Method", "DELETE"), 405, "method_not_allowed", "GET, HEAD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := f.decide(t, proxyPeer, tt.headers...)
			if p := problemFrom(t, w); w.Code != tt.status || p.Reason != tt.reason {
				t.Fatalf("status %d reason %s (%s), want %d %s", w.Code, p.Reason, p.Detail, tt.status, tt.reason)
			}
			if got := w.Header().Get("Allow"); got != tt.allow {
				t.Errorf("Allow %q, want %q", got, tt.allow)
			}
		})
	}
}
