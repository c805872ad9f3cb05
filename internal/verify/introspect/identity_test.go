package introspect

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
)

// TestSubjectAndScopeClaims covers subject_claim and scope_claims on introspection
// answers: custom members, nested paths, and refusals for absent or wrong-typed ones.
func TestSubjectAndScopeClaims(t *testing.T) {
	tests := []struct {
		name, body, subject string
		scopes              []string
		wantSub             string
		wantScp             []string
		refusal             string
	}{
		{name: "username as subject", subject: "username", body: `{"active":true,"sub":"s","username":"alice","scope":"a"}`,
			wantSub: "alice", wantScp: []string{"a"}},
		{name: "nested subject", subject: "ext.uid", body: `{"active":true,"ext":{"uid":"u-1"}}`, wantSub: "u-1"},
		{name: "roles array as scopes", scopes: []string{"roles"}, body: `{"active":true,"sub":"s","roles":["r1","r2"],"scope":"x"}`,
			wantSub: "s", wantScp: []string{"r1", "r2"}},
		{name: "subject absent", subject: "email", body: `{"active":true,"sub":"s"}`, refusal: `no "email" claim`},
		{name: "subject unsafe", subject: "email", body: `{"active":true,"email":"a\u0000b"}`, refusal: "control character"},
		{name: "scopes wrong type", scopes: []string{"roles"}, body: `{"active":true,"sub":"s","roles":7}`, refusal: "is not a space-separated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, func(w http.ResponseWriter, _ string) { jsonReply(w, tt.body) }, func(c *Config) {
				r, err := identity.NewRules(tt.subject, tt.scopes)
				if err != nil {
					t.Fatal(err)
				}
				c.Rules = r
			})
			p, err := f.a.Authenticate(context.Background(), bearer("t"))
			if tt.refusal != "" {
				if fl := reason(t, err); fl.Reason != decision.CredentialsMalformed || !strings.Contains(fl.Detail, tt.refusal) {
					t.Fatalf("got %+v, want credentials_malformed with %q", fl, tt.refusal)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Subject != tt.wantSub || !slices.Equal(p.Scopes, tt.wantScp) || p.Claims["active"] != true {
				t.Errorf("principal %+v", p)
			}
		})
	}
}
