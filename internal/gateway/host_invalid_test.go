package gateway

// A Host that names a host route's host but does not
// normalize (bad port, two trailing dots) matches only host-less routes, yet the
// upstream is told that host in X-Forwarded-Host, which lenient upstreams read as the
// protected host.

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
)

func TestAnInvalidHostIsRefusedWhereRoutesMatchByHost(t *testing.T) {
	f := newFixture(t, func(o *Options) {
		up, _ := url.Parse(o.Routes[0].Upstream.String())
		o.Routes = []*Route{
			{Route: &decision.Route{Name: "admin", Host: "admin.example", PathPrefix: "/", Authenticators: o.Routes[0].Route.Authenticators}, Upstream: up},
			{Route: &decision.Route{Name: "any", PathPrefix: "/", Anonymous: true}, Upstream: up},
		}
	})
	for _, host := range []string{"admin.example:x", "admin.example.."} {
		req := newReq(t, f.gw.URL+"/x")
		req.Host = host
		resp, err := clientDo(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == 200 {
			got := <-f.seen
			t.Errorf("Host %q: anonymous route answered 200 and the upstream got X-Forwarded-Host %q (admin.example's route requires a token)",
				host, got.Get("X-Forwarded-Host"))
		}
	}
}

func newReq(t *testing.T, u string) *http.Request {
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func clientDo(req *http.Request) (*http.Response, error) {
	return (&http.Client{Timeout: 5 * time.Second}).Do(req)
}
