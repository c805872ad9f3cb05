package jwt

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
)

func mustRules(t *testing.T, subject string, scopes []string) identity.Rules {
	t.Helper()
	r, err := identity.NewRules(subject, scopes)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestSubjectScopeAndAudienceClaims covers subject_claim, scope_claims and
// audience_claim: nested and URL-shaped paths, array and string scopes, wrong types and
// unsafe text refused as credentials_malformed.
func TestSubjectScopeAndAudienceClaims(t *testing.T) {
	s := signers(t)
	clk := newClock()
	now := clk.Now()
	tests := []struct {
		name     string
		subject  string
		scopes   []string
		audClaim string
		claims   map[string]any
		wantSub  string
		wantScp  []string
		reason   decision.Reason
		detail   string
	}{
		{name: "oid as subject", subject: "oid", claims: claimsAt(now, "oid", "00000000-aaaa"), wantSub: "00000000-aaaa",
			wantScp: []string{"orders:read", "orders:write"}},
		{name: "nested subject", subject: "user.id", claims: claimsAt(now, "user", map[string]any{"id": "u-9"}), wantSub: "u-9",
			wantScp: []string{"orders:read", "orders:write"}},
		{name: "URL-shaped top-level name wins", subject: "https://example.com/uid",
			claims: claimsAt(now, "https://example.com/uid", "u-url"), wantSub: "u-url", wantScp: []string{"orders:read", "orders:write"}},
		{name: "explicit subject has no fallback", subject: "email", claims: claimsAt(now),
			reason: decision.CredentialsMalformed, detail: `no "email" claim`},
		{name: "subject not a string", subject: "oid", claims: claimsAt(now, "oid", 42),
			reason: decision.CredentialsMalformed, detail: "is not a non-empty string"},
		{name: "subject with a newline", subject: "oid", claims: claimsAt(now, "oid", "a\nb"),
			reason: decision.CredentialsMalformed, detail: "control character"},
		{name: "roles array as scopes", scopes: []string{"roles"}, claims: claimsAt(now, "roles", []string{"Orders.Read", "Admin"}),
			wantSub: "user-42", wantScp: []string{"Orders.Read", "Admin"}},
		{name: "first present scope claim wins", scopes: []string{"missing", "scp", "scope"}, claims: claimsAt(now, "scp", "x y"),
			wantSub: "user-42", wantScp: []string{"x", "y"}},
		{name: "no scope claim present", scopes: []string{"roles"}, claims: claimsAt(now), wantSub: "user-42"},
		{name: "scope claim wrong type", scopes: []string{"roles"}, claims: claimsAt(now, "roles", map[string]any{"a": 1}),
			reason: decision.CredentialsMalformed, detail: `"roles" claim, which holds the scopes here, is not`},
		{name: "scope array with a number", scopes: []string{"roles"}, claims: claimsAt(now, "roles", []any{"a", 1}),
			reason: decision.CredentialsMalformed, detail: "is not a space-separated string or an array"},
		{name: "scope entry with a space", scopes: []string{"roles"}, claims: claimsAt(now, "roles", []string{"a b"}),
			reason: decision.CredentialsMalformed, detail: "space inside one scope"},
		{name: "cognito client_id as audience", audClaim: "client_id", claims: claimsAt(now, "aud", nil, "client_id", testAudience),
			wantSub: "user-42", wantScp: []string{"orders:read", "orders:write"}},
		{name: "audience claim mismatch", audClaim: "client_id", claims: claimsAt(now, "client_id", "other"),
			reason: decision.TokenAudienceMismatch, detail: "audience is other"},
		{name: "audience claim absent", audClaim: "client_id", claims: claimsAt(now),
			reason: decision.TokenAudienceMismatch, detail: "no audience (client_id)"},
		{name: "audience claim array", audClaim: "azp_list", claims: claimsAt(now, "azp_list", []string{"x", testAudience}),
			wantSub: "user-42", wantScp: []string{"orders:read", "orders:write"}},
		{name: "audience claim wrong type", audClaim: "client_id_n", claims: claimsAt(now, "client_id_n", 7),
			reason: decision.CredentialsMalformed, detail: "holds the audience here"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := fileAuthenticator(t, clk, func(c *Config) {
				c.Rules = mustRules(t, tt.subject, tt.scopes)
				c.AudienceClaim = tt.audClaim
			})
			p, err := a.Authenticate(ctxT(t), bearer(sign(t, s.es, tt.claims)))
			if tt.reason != "" {
				var f *decision.Failure
				if !errors.As(err, &f) || f.Reason != tt.reason || !strings.Contains(f.Detail, tt.detail) {
					t.Fatalf("got %v, want %s with %q", err, tt.reason, tt.detail)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Subject != tt.wantSub || !slices.Equal(p.Scopes, tt.wantScp) {
				t.Errorf("subject %q scopes %q, want %q %q", p.Subject, p.Scopes, tt.wantSub, tt.wantScp)
			}
			if p.Claims == nil {
				t.Error("no claims on the principal")
			}
		})
	}
}
