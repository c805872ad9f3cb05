package gateway

import (
	"net/http"
	"strings"
	"testing"
)

// TestForwardAuthGivesTheGatewaysReasons: a credential the route does not accept gets
// the same reason, detail and challenges from the forward-auth endpoint as from the
// gateway itself (docs/reasons.md, "Which authenticator explains a refusal").
func TestForwardAuthGivesTheGatewaysReasons(t *testing.T) {
	f := newDecideFixture(t, nil)
	tests := []struct {
		name      string
		headers   []string
		status    int
		reason    string
		detail    string
		challenge string
	}{
		{"API key to a Bearer and Basic route", []string{"X-API-Key", "gk_live_abc_secret"}, 401, "scheme_not_accepted",
			"this route accepts Bearer tokens and Basic credentials, not API keys", `Bearer realm="orders", resource_metadata=`},
		{"stray API key beside an accepted token", []string{"Authorization", "Bearer good", "X-API-Key", "gk_live_abc_secret"}, 0, "", "", ""},
		{"Digest", []string{"Authorization", `Digest username="a"`}, 401, "scheme_not_accepted",
			"this route accepts Bearer tokens and Basic credentials, not Digest credentials", `Basic realm="orders", charset="UTF-8"`},
		{"nothing", nil, 401, "credentials_missing", "no credentials were sent", `Bearer realm="orders", resource_metadata=`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			direct := f.serve(t, "GET", "/admin/x", "192.0.2.1:5000", tt.headers...)
			fwd := f.decide(t, proxyPeer, traefik("GET", "/admin/x", tt.headers...)...)
			if tt.status == 0 {
				if fwd.Code != http.StatusOK {
					t.Fatalf("forward-auth %d %s, want 200", fwd.Code, fwd.Body)
				}
				if direct.Code == 401 {
					t.Fatalf("gateway refused: %s", direct.Body)
				}
				return
			}
			for _, w := range []struct {
				where string
				code  int
				hdr   http.Header
				p     Problem
			}{{"gateway", direct.Code, direct.Header(), problemFrom(t, direct)}, {"forward-auth", fwd.Code, fwd.Header(), problemFrom(t, fwd)}} {
				if w.code != tt.status || w.p.Reason != tt.reason || w.p.Detail != tt.detail {
					t.Errorf("%s: %d %s %q, want %d %s %q", w.where, w.code, w.p.Reason, w.p.Detail, tt.status, tt.reason, tt.detail)
				}
				if wa := strings.Join(w.hdr.Values("WWW-Authenticate"), ", "); !strings.Contains(wa, tt.challenge) || strings.Contains(wa, "error=") {
					t.Errorf("%s: WWW-Authenticate %q, want %q and no error", w.where, wa, tt.challenge)
				}
			}
			if ev := f.lastEvent(t); string(ev.Reason) != tt.reason || ev.Detail != tt.detail {
				t.Errorf("recorded %s %q", ev.Reason, ev.Detail)
			}
		})
	}
}
