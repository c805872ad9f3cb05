package gateway

// The route is chosen by the LAST X-Forwarded-Host entry
// (requestHost), but the upstream is sent the FIRST (setForwarded: Header.Get), which a
// client behind an appending trusted proxy controls.

import (
	"net/http"
	"net/netip"
	"net/url"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
)

func TestForwardedHostTheRouteWasChosenOnIsTheOneForwarded(t *testing.T) {
	f := newFixture(t, func(o *Options) {
		up, _ := url.Parse(o.Routes[0].Upstream.String())
		o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
		o.Routes = []*Route{
			{Route: &decision.Route{Name: "admin", Host: "admin.example", PathPrefix: "/", Authenticators: o.Routes[0].Route.Authenticators, RequiredScopes: []string{"orders:admin"}}, Upstream: up},
			{Route: &decision.Route{Name: "www", Host: "www.example", PathPrefix: "/", Anonymous: true}, Upstream: up},
		}
	})
	for _, hdrs := range [][]string{
		{"X-Forwarded-Host", "admin.example", "X-Forwarded-Host", "www.example"}, // two lines
		{"X-Forwarded-Host", "admin.example, www.example"},                       // one list
	} {
		resp, body := f.do(t, "GET", "/x", hdrs...)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%v: %d %s", hdrs, resp.StatusCode, body)
		}
		got := <-f.seen
		if v := got.Values("X-Forwarded-Host"); len(v) != 1 || v[0] != "www.example" {
			t.Errorf("%v: decided for www.example (anonymous) but the upstream got X-Forwarded-Host %q", hdrs, v)
		}
	}
}
