package policy

import (
	"context"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/budget"
	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/tokens"
	jwtverify "github.com/gatehouse-dev/gatehouse/internal/verify/jwt"
)

// measureCPU reports the process CPU time per operation as "cpu-ns/op" when the
// benchmark ends: on a shared machine, wall-clock ns/op measures the neighbours too.
// Call it right before the loop.
func measureCPU(b *testing.B) {
	start := processCPU()
	b.Cleanup(func() {
		if b.N > 0 {
			b.ReportMetric(float64(processCPU()-start)/float64(b.N), "cpu-ns/op")
		}
	})
}

// BenchmarkCachedDecision is a whole decision (Route.Decide) for a JWT the real
// verifier answers from its cache, with the failure budget, on a route that requires
// nothing beyond a scope, a claims rule, a typical CEL expression, or both. The
// difference to None is what a requirement costs.
func BenchmarkCachedDecision(b *testing.B) {
	key, err := tokens.GenerateES256()
	if err != nil {
		b.Fatal(err)
	}
	jwks := filepath.Join(b.TempDir(), "jwks.json")
	os.WriteFile(jwks, tokens.PublicJWKS(key), 0o600)
	auth, err := jwtverify.New(jwtverify.Config{Name: "corp", Issuer: "https://id.test", Audience: []string{"api://x"},
		Algorithms: []string{"ES256"}, JWKSFile: jwks, Leeway: 30 * time.Second, CacheSize: 1000})
	if err != nil {
		b.Fatal(err)
	}
	signer, _ := tokens.NewSigner(key)
	tok, _ := signer.Sign(map[string]any{"iss": "https://id.test", "aud": "api://x", "sub": "alice", "scope": "orders:read orders:write",
		"exp": time.Now().Add(time.Hour).Unix(), "email": "alice@example.com",
		"realm_access":               map[string]any{"roles": []string{"offline_access", "uma_authorization", "user", "admin"}},
		"https://example.com/tenant": "acme", "groups": []string{"/staff", "/staff/ops"}})
	claim, _ := NewClaimRule("realm_access.roles", []string{"admin"})
	expr, err := Compile(`"admin" in claims.realm_access.roles && request.method == "GET" && claims.email.endsWith("@example.com")`, 1, nil)
	if err != nil {
		b.Fatal(err)
	}
	bud, _ := budget.New(budget.Options{PerClient: budget.DefaultPerClient, PerCredential: budget.DefaultPerCredential, PerCredentialGlobal: budget.DefaultPerCredentialGlobal})
	for _, tc := range []struct {
		name string
		reqs []decision.Requirement
	}{
		{"None", nil},
		{"Claims", []decision.Requirement{claim}},
		{"Expression", []decision.Requirement{expr}},
		{"ClaimsAndExpression", []decision.Requirement{claim, expr}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			rt := &decision.Route{Name: "api", PathPrefix: "/", Authenticators: []decision.Authenticator{auth}, Budget: bud,
				RequiredScopes: []string{"orders:read"}, Requirements: tc.reqs}
			req := &decision.Request{Method: "GET", Path: "/orders", Host: "api.example.com",
				Header: http.Header{"Authorization": {"Bearer " + tok}, "Accept": {"application/json"}}, Client: netip.MustParseAddr("192.0.2.10")}
			if d := rt.Decide(context.Background(), req); !d.Allow {
				b.Fatal(d.Reason, d.Detail)
			}
			b.ReportAllocs()
			measureCPU(b)
			for b.Loop() {
				if d := rt.Decide(context.Background(), req); !d.Allow {
					b.Fatal(d.Reason)
				}
			}
		})
	}
}

// BenchmarkRequirement is one requirement's Check on its own.
func BenchmarkRequirement(b *testing.B) {
	p := &decision.Principal{Subject: "alice", Scopes: []string{"orders:read"}, Claims: map[string]any{
		"email": "alice@example.com", "realm_access": map[string]any{"roles": []any{"offline_access", "uma_authorization", "user", "admin"}}}}
	req := &decision.Request{Method: "GET", Path: "/orders", Host: "api.example.com", Header: http.Header{"Accept": {"application/json"}}}
	claim, _ := NewClaimRule("realm_access.roles", []string{"admin"})
	expr, _ := Compile(`"admin" in claims.realm_access.roles && request.method == "GET" && claims.email.endsWith("@example.com")`, 1, nil)
	headers, _ := Compile(`request.headers["accept"] == "application/json"`, 1, nil)
	for _, tc := range []struct {
		name string
		r    decision.Requirement
	}{{"Claims", claim}, {"Expression", expr}, {"ExpressionWithHeaders", headers}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			measureCPU(b)
			for b.Loop() {
				if unmet, _ := tc.r.Check(context.Background(), p, req); unmet != "" {
					b.Fatal(unmet)
				}
			}
		})
	}
}
