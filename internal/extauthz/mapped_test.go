package extauthz

// The headers authenticators map claims to are the gateway's own on the Envoy paths as
// on every other: set from the decision when it has them, and any copy the client sent,
// in any spelling, removed before the upstream (a security review found both Envoy
// modes protecting only the X-Gatehouse-* names).

import (
	"context"
	"io"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
)

type claimsBearer struct{}

func (claimsBearer) Name() string                   { return "idp" }
func (claimsBearer) Scheme() string                 { return "Bearer" }
func (claimsBearer) Locations() []decision.Location { return nil }
func (claimsBearer) Claims(c decision.Credential) decision.Match {
	if c.Source == decision.FromAuthorization && c.Scheme == "bearer" {
		return decision.SchemeMatch
	}
	return decision.NoMatch
}
func (claimsBearer) Authenticate(_ context.Context, c decision.Credential) (decision.Principal, error) {
	switch c.Value {
	case "with-email":
		return decision.Principal{Subject: "alice", Claims: map[string]any{"email": "alice@example.com"}}, nil
	case "no-email":
		return decision.Principal{Subject: "bob", Claims: map[string]any{}}, nil
	}
	return decision.Principal{}, &decision.Failure{Reason: decision.TokenSignatureInvalid, Detail: "no"}
}

func mappedHandler(t *testing.T) *gateway.Handler {
	m, err := identity.NewMapping([][2]string{{"X-User-Email", "email"}})
	if err != nil {
		t.Fatal(err)
	}
	up, _ := url.Parse("http://127.0.0.1:1")
	return gateway.New(gateway.Options{
		Realm: "orders", TrustedProxies: loopback, ForwardAuthPath: decidePath,
		Routes: []*gateway.Route{{Route: &decision.Route{Name: "m", PathPrefix: "/m",
			Authenticators: []decision.Authenticator{claimsBearer{}}}, Upstream: up, ForwardAuthorization: true}},
		HeaderMappings: map[string]*identity.Mapping{"idp": m},
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
}

func TestCheckProtectsMappedHeaders(t *testing.T) {
	f := newFixture(t, mappedHandler(t), 8<<10)
	// 1. The claim is present: the upstream must get Gatehouse's value, not the client's.
	resp := f.check(t, checkRequest(httpReq{method: "GET", path: "/m/x", headers: map[string]string{
		"authorization": "Bearer with-email", "x-user-email": "ceo@example.com"}}))
	ok := resp.GetOkResponse()
	if ok == nil {
		t.Fatalf("not allowed: %v", resp)
	}
	if got := headerOptions(ok.GetHeaders())["x-user-email"]; got != "alice@example.com" {
		t.Errorf("ok_response sets x-user-email=%q; the client's ceo@example.com reaches the upstream", got)
	}
	// 2. The claim is absent, and 3. another spelling: the client's copies must be removed.
	resp = f.check(t, checkRequest(httpReq{method: "GET", path: "/m/x", headers: map[string]string{
		"authorization": "Bearer no-email", "x-user-email": "ceo@example.com", "x_user_email": "ceo@example.com"}}))
	ok = resp.GetOkResponse()
	if ok == nil {
		t.Fatalf("not allowed: %v", resp)
	}
	for _, name := range []string{"x-user-email", "x_user_email"} {
		if !slices.Contains(ok.GetHeadersToRemove(), name) {
			t.Errorf("headers_to_remove %v lacks the client's %s", ok.GetHeadersToRemove(), name)
		}
	}
}

func TestEnvoyHTTPProtectsMappedHeaders(t *testing.T) {
	h := mappedHandler(t)
	w := envoyHTTP(h, httpReq{method: "GET", path: "/m/x", headers: map[string]string{
		"authorization": "Bearer no-email", "x-user-email": "ceo@example.com"}})
	if w.Code != 200 {
		t.Fatalf("status %d", w.Code)
	}
	if got := w.Header().Get(gateway.HeaderEnvoyRemove); !strings.Contains(got, "x-user-email") {
		t.Errorf("%s = %q: the client's x-user-email (claim absent) reaches the upstream", gateway.HeaderEnvoyRemove, got)
	}
	// Other spellings, which Envoy's underscore setting does not catch (dots), are listed
	// too; a header the answer sets is replaced by Envoy, never listed for removal.
	w = envoyHTTP(h, httpReq{method: "GET", path: "/m/x", headers: map[string]string{
		"authorization": "Bearer with-email", "x-user-email": "ceo@example.com", "x.user.email": "ceo@example.com",
		"x.gatehouse.subject": "root"}})
	if w.Code != 200 || w.Header().Get("X-User-Email") != "alice@example.com" {
		t.Fatalf("status %d, X-User-Email %q", w.Code, w.Header().Get("X-User-Email"))
	}
	remove := strings.Split(w.Header().Get(gateway.HeaderEnvoyRemove), ", ")
	for _, name := range []string{"x.user.email", "x.gatehouse.subject"} {
		if !slices.Contains(remove, name) {
			t.Errorf("%s = %v lacks the client's %s", gateway.HeaderEnvoyRemove, remove, name)
		}
	}
	if slices.Contains(remove, "x-user-email") {
		t.Errorf("%s = %v removes the x-user-email this answer sets", gateway.HeaderEnvoyRemove, remove)
	}
}

// In Envoy's HTTP mode nothing removes a query credential: on a route with
// forward_authorization: false, ?api_key= (or ?access_token=) reaches the upstream, which
// the gRPC mode prevents with query_parameters_to_remove.
func TestEnvoyHTTPRefusesAQueryCredentialItCannotRemove(t *testing.T) {
	h := newHandler(loopback, 8<<10)
	w := envoyHTTP(h, httpReq{method: "GET", path: "/reports/q?api_key=k1"})
	if w.Code == 200 {
		t.Errorf("HTTP mode allowed a query credential on a forward_authorization: false route; Envoy forwards ?api_key=k1 to the upstream (remove list %q)",
			w.Header().Get(gateway.HeaderEnvoyRemove))
	}
}
