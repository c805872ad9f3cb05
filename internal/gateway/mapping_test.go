package gateway

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
)

// mappedAuth is a token table whose principals carry claims.
func mappedAuth() *tokenAuth {
	return &tokenAuth{name: "idp", tokens: map[string]decision.Principal{
		"claims": {Subject: "alice", Claims: map[string]any{
			"email": "alice@example.com", "groups": []any{"billing", "ops"}, "n": json.Number("42"), "b": true,
			"obj": map[string]any{"a": "b"}, "realm_access": map[string]any{"roles": []any{"admin"}},
		}},
		"hostile": {Subject: "eve", Claims: map[string]any{
			"email": "eve@example.com\r\nX-Injected: 1", "groups": []any{"ok", "a,b"}, "n": "\xff\xfe",
		}},
		"none": {Subject: "bob"},
	}}
}

func mappingFor(t *testing.T) *identity.Mapping {
	t.Helper()
	m, err := identity.NewMapping([][2]string{{"X-User-Email", "email"}, {"X-User-Groups", "groups"}, {"X-User-N", "n"},
		{"X-Flag", "b"}, {"X-Obj", "obj"}, {"X-Roles", "realm_access.roles"}})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var spoofs = []string{"X-User-Email", "spoofed", "x_user_email", "spoofed", "X.User.Groups", "spoofed",
	"X-USER-N", "spoofed", "X-Obj", "spoofed", "X-Roles", "spoofed"}

func TestMappedHeadersReachTheUpstreamAndSpoofsNever(t *testing.T) {
	auth := mappedAuth()
	f := newFixture(t, func(o *Options) {
		up, _ := url.Parse(o.Routes[0].Upstream.String())
		o.Routes = append([]*Route{
			{Route: &decision.Route{Name: "mapped", PathPrefix: "/mapped", Authenticators: []decision.Authenticator{auth}}, Upstream: up},
			{Route: &decision.Route{Name: "mapped-decide", PathPrefix: "/mdecide", Authenticators: []decision.Authenticator{auth}}},
		}, o.Routes...)
		o.HeaderMappings = map[string]*identity.Mapping{"idp": mappingFor(t)}
	})
	tests := []struct {
		name, path string
		headers    []string
		want       map[string]string // "" means absent
	}{
		{"claims rendered", "/mapped/x", append([]string{"Authorization", "Bearer claims"}, spoofs...),
			map[string]string{"X-User-Email": "alice@example.com", "X-User-Groups": "billing,ops", "X-User-N": "42",
				"X-Flag": "true", "X-Obj": "", "X-Roles": "admin"}},
		{"hostile values are left out", "/mapped/x", append([]string{"Authorization", "Bearer hostile"}, spoofs...),
			map[string]string{"X-User-Email": "", "X-User-Groups": "", "X-User-N": "", "X-Injected": ""}},
		{"no claims", "/mapped/x", append([]string{"Authorization", "Bearer none"}, spoofs...),
			map[string]string{"X-User-Email": "", "X-User-Groups": ""}},
		{"Connection cannot drop them", "/mapped/x", []string{"Authorization", "Bearer claims", "Connection", "X-User-Email, X-User-Groups"},
			map[string]string{"X-User-Email": "alice@example.com", "X-User-Groups": "billing,ops"}},
		{"anonymous route strips them", "/public/x", spoofs, map[string]string{"X-User-Email": "", "X-User-Groups": "", "X-Roles": ""}},
		{"other authenticator's route strips them", "/api/x", append([]string{"Authorization", "Bearer good"}, spoofs...),
			map[string]string{"X-User-Email": "", "X-User-Groups": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := f.do(t, "GET", tt.path, tt.headers...)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			got := <-f.seen
			for name := range got {
				if v := got.Get(name); strings.Contains(strings.Join(got[name], ""), "spoofed") {
					t.Errorf("the upstream got the client's %s: %q", name, v)
				}
			}
			for name, want := range tt.want {
				if vals := got.Values(name); want == "" && len(vals) > 0 || want != "" && (len(vals) != 1 || vals[0] != want) {
					t.Errorf("%s = %q, want %q", name, vals, want)
				}
			}
		})
	}
	t.Run("decision-only route answers with them", func(t *testing.T) {
		resp, body := f.do(t, "GET", "/mdecide/x", append([]string{"Authorization", "Bearer claims"}, spoofs...)...)
		if resp.StatusCode != http.StatusNoContent || resp.Header.Get("X-User-Email") != "alice@example.com" ||
			resp.Header.Get("X-User-Groups") != "billing,ops" || resp.Header.Get("X-Obj") != "" {
			t.Fatalf("status %d headers %v: %s", resp.StatusCode, resp.Header, body)
		}
	})
}

func TestForwardAuthAnswersWithMappedHeaders(t *testing.T) {
	auth := mappedAuth()
	f := newDecideFixture(t, func(o *Options) {
		o.Routes = append([]*Route{{Route: &decision.Route{Name: "mapped", PathPrefix: "/mapped", Authenticators: []decision.Authenticator{auth}}}}, o.Routes...)
		o.HeaderMappings = map[string]*identity.Mapping{"idp": mappingFor(t)}
	})
	w := f.decide(t, proxyPeer, traefik("GET", "/mapped/x", append([]string{"Authorization", "Bearer claims"}, spoofs...)...)...)
	if w.Code != 200 || w.Header().Get("X-User-Email") != "alice@example.com" || w.Header().Get("X-User-Groups") != "billing,ops" ||
		w.Header().Get("X-Roles") != "admin" || len(w.Header().Values("X-Obj")) != 0 {
		t.Fatalf("status %d headers %v", w.Code, w.Header())
	}
	w = f.decide(t, proxyPeer, traefik("GET", "/mapped/x", append([]string{"Authorization", "Bearer hostile"}, spoofs...)...)...)
	if w.Code != 200 || len(w.Header().Values("X-User-Email")) != 0 || len(w.Header().Values("X-User-Groups")) != 0 {
		t.Fatalf("status %d headers %v", w.Code, w.Header())
	}
}

// audAuth is a tokenAuth whose tokens carry an audience, as jwt's do.
type audAuth struct {
	*tokenAuth
	aud []string
}

func (a audAuth) Audience() []string { return a.aud }

func TestProtectedResourceNamesTheRouteAudience(t *testing.T) {
	orders := audAuth{&tokenAuth{name: "orders"}, []string{"6e74172b-be56-4843-9ff4-e66a39bb12e3", "api://orders"}}
	billing := audAuth{&tokenAuth{name: "billing"}, []string{"https://billing.example.com"}}
	guid := audAuth{&tokenAuth{name: "guid"}, []string{"6e74172b-be56-4843-9ff4-e66a39bb12e3"}}
	routes := func(o *Options) {
		up := o.Routes[0].Upstream
		o.Routes = []*Route{
			{Route: &decision.Route{Name: "open", PathPrefix: "/open", Anonymous: true}, Upstream: up},
			{Route: &decision.Route{Name: "orders", PathPrefix: "/orders", Authenticators: []decision.Authenticator{orders}}, Upstream: up},
			{Route: &decision.Route{Name: "billing", PathPrefix: "/billing", Authenticators: []decision.Authenticator{billing}}, Upstream: up},
			{Route: &decision.Route{Name: "guid", PathPrefix: "/guid", Authenticators: []decision.Authenticator{guid}}, Upstream: up},
		}
	}
	f := newFixture(t, routes)
	configured := newFixture(t, func(o *Options) { routes(o); o.Resource = "https://api.example.com" })
	tests := []struct {
		f          *fixture
		path, want string
	}{
		{f, "/.well-known/oauth-protected-resource", "api://orders"},
		{f, "/.well-known/oauth-protected-resource/orders", "api://orders"},
		{f, "/.well-known/oauth-protected-resource/billing/x", "https://billing.example.com"},
		{f, "/.well-known/oauth-protected-resource/guid", f.gw.URL},
		{f, "/.well-known/oauth-protected-resource/open", f.gw.URL},
		{configured, "/.well-known/oauth-protected-resource/billing", "https://api.example.com"},
	}
	for _, tt := range tests {
		resp, body := tt.f.do(t, "GET", tt.path)
		var doc map[string]any
		if resp.StatusCode != 200 || json.Unmarshal(body, &doc) != nil || doc["resource"] != tt.want {
			t.Errorf("%s: %d %s, want resource %s", tt.path, resp.StatusCode, body, tt.want)
		}
	}
}
