package issuer_test

import (
	"slices"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse/internal/issuer"
)

// TestOnTokenReportsEveryTokenRequest: each token request is reported once, with the
// grant when it is one the service serves and "issued" or the OAuth error code; other
// endpoints are not reported.
func TestOnTokenReportsEveryTokenRequest(t *testing.T) {
	var mu sync.Mutex
	var got [][2]string
	e := newEnv(t, func(o *issuer.Options) {
		o.OnToken = func(grant, result string) {
			mu.Lock()
			got = append(got, [2]string{grant, result})
			mu.Unlock()
		}
	})
	id, secret := e.newClient("orders:read")
	e.post("/oauth2/token", "grant_type=client_credentials", basic(id, secret))
	e.post("/oauth2/token", "grant_type=client_credentials", basic(id, "wrong-secret"))
	e.post("/oauth2/token", "grant_type=client_credentials&scope=orders:write", basic(id, secret))
	e.post("/oauth2/token", "grant_type=password&username=alice", basic(id, secret))
	e.post("/oauth2/token", "", basic(id, secret))
	e.post("/oauth2/introspect", "token=x", basic(id, secret))
	e.get("/.well-known/jwks.json")

	want := [][2]string{
		{"client_credentials", "issued"},
		{"client_credentials", "invalid_client"},
		{"client_credentials", "invalid_scope"},
		{"", "unsupported_grant_type"},
		{"", "invalid_request"},
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff(want, slices.Clone(got)); diff != "" {
		t.Errorf("reported (-want +got):\n%s", diff)
	}
}
