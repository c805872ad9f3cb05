package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
)

func TestRequestHost(t *testing.T) {
	tests := []struct{ in, want string }{
		{"api.example.com", "api.example.com"},
		{"API.Example.COM", "api.example.com"},
		{"api.example.com:8443", "api.example.com"},
		{"api.example.com.", "api.example.com"},
		{"api.example.com.:80", "api.example.com"},
		{"bücher.example", "xn--bcher-kva.example"},
		{"BÜCHER.example:443", "xn--bcher-kva.example"},
		{"xn--bcher-kva.example", "xn--bcher-kva.example"},
		{"127.0.0.1:8080", "127.0.0.1"},
		{"[::1]:8080", "::1"},
		{"[::1", ""},
		{"api.example.com:http", ""},
		{"", ""},
		{"\xff.example", ""},
	}
	for _, tt := range tests {
		if got := RequestHost(tt.in); got != tt.want {
			t.Errorf("RequestHost(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestRoutesMatchByHost(t *testing.T) {
	f := newDecideFixture(t, func(o *Options) {
		o.Routes = []*Route{
			{Route: &decision.Route{Name: "api", Host: "api.example.com", PathPrefix: "/", Anonymous: true}},
			{Route: &decision.Route{Name: "tenants", Host: "*.example.com", PathPrefix: "/", Methods: []string{"GET"}, Anonymous: true}},
			{Route: &decision.Route{Name: "idn", Host: "xn--bcher-kva.example", PathPrefix: "/", Anonymous: true}},
			{Route: &decision.Route{Name: "fallback", PathPrefix: "/public", Anonymous: true}},
		}
	})
	tests := []struct {
		name, host, method, xfh, remote string
		route                           string // "" when refused
		status                          int
	}{
		{"exact", "api.example.com", "GET", "", "192.0.2.1:1", "api", 204},
		{"port", "api.example.com:8080", "GET", "", "192.0.2.1:1", "api", 204},
		{"case", "API.EXAMPLE.com", "GET", "", "192.0.2.1:1", "api", 204},
		{"trailing dot", "api.example.com.", "GET", "", "192.0.2.1:1", "api", 204},
		{"one label wildcard", "acme.example.com", "GET", "", "192.0.2.1:1", "tenants", 204},
		{"two labels are not one", "a.b.example.com", "GET", "", "192.0.2.1:1", "", 404},
		{"the bare domain is not a wildcard match", "example.com", "GET", "", "192.0.2.1:1", "", 404},
		{"a host route's methods", "acme.example.com", "POST", "", "192.0.2.1:1", "", 405},
		{"a route without host takes any host", "other.test", "GET", "", "192.0.2.1:1", "", 404},
		{"punycode host", "xn--bcher-kva.example", "GET", "", "192.0.2.1:1", "idn", 204},
		{"X-Forwarded-Host from a trusted proxy", "gatehouse.internal", "GET", "api.example.com", proxyPeer, "api", 204},
		{"X-Forwarded-Host chain: the nearest proxy's entry", "gatehouse.internal", "GET", "evil.example.com, api.example.com", proxyPeer, "api", 204},
		{"X-Forwarded-Host from anyone else is ignored", "other.test", "GET", "api.example.com", "192.0.2.1:1", "", 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, "/x", nil)
			r.Host, r.RemoteAddr = tt.host, tt.remote
			if tt.xfh != "" {
				r.Header.Set("X-Forwarded-Host", tt.xfh)
			}
			w := httptest.NewRecorder()
			f.h.ServeHTTP(w, r)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
			if ev := f.lastEvent(t); ev.Route != tt.route {
				t.Errorf("route %q, want %q", ev.Route, tt.route)
			}
		})
	}
	t.Run("a wildcard path route under another host still serves its own", func(t *testing.T) {
		r := httptest.NewRequest("GET", "/public/x", nil)
		r.Host = "other.test"
		w := httptest.NewRecorder()
		f.h.ServeHTTP(w, r)
		if w.Code != 204 || f.lastEvent(t).Route != "fallback" {
			t.Errorf("status %d route %q", w.Code, f.lastEvent(t).Route)
		}
	})
}

func TestDecideEndpointMatchesTheForwardedHost(t *testing.T) {
	f := newDecideFixture(t, func(o *Options) {
		o.Routes = []*Route{
			{Route: &decision.Route{Name: "api", Host: "api.example.com", PathPrefix: "/", Anonymous: true}},
		}
	})
	tests := []struct {
		name    string
		headers []string
		status  int
	}{
		{"X-Forwarded-Host", traefik("GET", "/x", "X-Forwarded-Host", "API.example.com:443"), 200},
		{"X-Original-URL", []string{"X-Original-Method", "GET", "X-Original-URL", "https://api.example.com/x"}, 200},
		{"X-Original-URL of another host", []string{"X-Original-Method", "GET", "X-Original-URL", "https://www.example.com/x"}, 404},
		{"another host", traefik("GET", "/x", "X-Forwarded-Host", "www.example.com"), 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if w := f.decide(t, proxyPeer, tt.headers...); w.Code != tt.status {
				t.Errorf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
		})
	}
}

// claimRule is a Requirement on one top-level string claim, as package policy builds
// them; the gateway only needs the interface.
type claimRule struct{ claim, value string }

func (c claimRule) Check(_ context.Context, p *decision.Principal, req *decision.Request) (string, string) {
	if v, _ := p.Claims[c.claim].(string); v == c.value && req.Host == "api.example.com" {
		return "", ""
	}
	return "claim " + c.claim + " must contain one of [" + c.value + "]", "claim_mismatch"
}

func TestUnmetRequirementIsForbidden(t *testing.T) {
	jwt := &tokenAuth{name: "corp_jwt", tokens: map[string]decision.Principal{
		"admin": {Subject: "alice", Claims: map[string]any{"role": "admin"}},
		"user":  {Subject: "bob", Claims: map[string]any{"role": "secret-role-value"}},
	}}
	f := newDecideFixture(t, func(o *Options) {
		o.Routes = []*Route{{Route: &decision.Route{Name: "admin", PathPrefix: "/", Authenticators: []decision.Authenticator{jwt},
			Requirements: []decision.Requirement{claimRule{"role", "admin"}}}}}
	})
	for _, tc := range []struct {
		token  string
		status int
	}{{"admin", 204}, {"user", 403}} {
		r := httptest.NewRequest("GET", "/x", nil)
		r.Host = "api.example.com"
		r.Header.Set("Authorization", "Bearer "+tc.token)
		w := httptest.NewRecorder()
		f.h.ServeHTTP(w, r)
		if w.Code != tc.status {
			t.Fatalf("%s: status %d, want %d", tc.token, w.Code, tc.status)
		}
		if tc.status != 403 {
			continue
		}
		var p map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
		if p["reason"] != "forbidden" || p["detail"] != "claim role must contain one of [admin]" {
			t.Errorf("problem %v", p)
		}
		if strings.Contains(w.Body.String()+f.logs.String(), "secret-role-value") {
			t.Error("a claim value reached the response or the log")
		}
		if ev := f.lastEvent(t); ev.Reason != decision.Forbidden || ev.Cause != "claim_mismatch" {
			t.Errorf("event %+v", ev)
		}
		if !strings.Contains(f.logs.String(), `"detail":"claim role must contain one of [admin]"`) {
			t.Errorf("the log line does not name the unmet requirement:\n%s", f.logs)
		}
		if got := w.Header().Values("WWW-Authenticate"); len(got) != 0 && strings.Contains(strings.Join(got, ""), "insufficient_scope") {
			t.Errorf("forbidden is not insufficient_scope: %q", got)
		}
	}
	_ = http.StatusForbidden
}
