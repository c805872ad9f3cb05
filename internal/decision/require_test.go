package decision

import (
	"context"
	"testing"
)

// claimIs is a ClaimsRequirement on one top-level string claim.
type claimIs struct{ claim, value string }

func (c claimIs) Check(_ context.Context, p *Principal, _ *Request) (string, string) {
	return c.CheckClaims(p.Claims)
}

func (c claimIs) CheckClaims(claims map[string]any) (string, string) {
	if v, _ := claims[c.claim].(string); v == c.value {
		return "", ""
	}
	return "claim " + c.claim + " must contain one of [" + c.value + "]", "claim_mismatch"
}

// hostIs is a general Requirement reading the request.
type hostIs string

func (h hostIs) Check(_ context.Context, _ *Principal, req *Request) (string, string) {
	if req.Host == string(h) && req.Method == "GET" && req.Header.Values("Accept") != nil {
		return "", ""
	}
	return "expression #1 is false", "expression_false"
}

func TestAuthorizeRequirements(t *testing.T) {
	alice := Principal{Subject: "alice", Scopes: []string{"read"}, Claims: map[string]any{"role": "admin", "tenant": "acme"}}
	tests := []struct {
		name   string
		scopes []string
		reqs   []Requirement
		host   string
		reason Reason
		detail string
	}{
		{"no requirement", nil, nil, "api.example.com", "", ""},
		{"all hold", []string{"read"}, []Requirement{claimIs{"role", "admin"}, hostIs("api.example.com")}, "api.example.com", "", ""},
		{"scopes are checked first", []string{"write"}, []Requirement{claimIs{"role", "root"}}, "api.example.com", InsufficientScope, "missing scope write"},
		{"the first unmet requirement answers", nil, []Requirement{claimIs{"tenant", "acme"}, claimIs{"role", "root"}, hostIs("x")}, "api.example.com",
			Forbidden, "claim role must contain one of [root]"},
		{"a requirement on the request", nil, []Requirement{claimIs{"role", "admin"}, hostIs("api.example.com")}, "www.example.com",
			Forbidden, "expression #1 is false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := &Route{Authenticators: []Authenticator{&fakeAuth{name: "jwt", scheme: "Bearer", principal: alice}},
				RequiredScopes: tt.scopes, Requirements: tt.reqs}
			d := rt.Decide(context.Background(), &Request{Method: "GET", Host: tt.host, Header: hdr("Authorization", "Bearer abc", "Accept", "*/*")})
			if d.Allow != (tt.reason == "") || d.Reason != tt.reason || d.Detail != tt.detail {
				t.Errorf("decision allow=%v %s %q; want %s %q", d.Allow, d.Reason, d.Detail, tt.reason, tt.detail)
			}
			if tt.reason == Forbidden && (d.Principal.Subject != "alice" || d.Authenticator != "jwt" || d.Cause == "") {
				t.Errorf("a forbidden decision keeps the principal and the cause: %+v", d)
			}
		})
	}
}

// TestRequirementsCostNoAllocationsUnlessGeneral: a route without requirements, or with
// claim rules only, allocates nothing more per decision than before requirements
// existed; only a general requirement (an expression) gets copies to read.
func TestRequirementsCostNoAllocationsUnlessGeneral(t *testing.T) {
	alice := Principal{Subject: "alice", Claims: map[string]any{"role": "admin"}}
	req := &Request{Method: "GET", Host: "api.example.com", Header: hdr("Authorization", "Bearer abc")}
	allocs := func(reqs ...Requirement) float64 {
		rt := &Route{Authenticators: []Authenticator{&fakeAuth{name: "jwt", scheme: "Bearer", principal: alice}}, Requirements: reqs}
		return testing.AllocsPerRun(200, func() {
			if d := rt.Decide(context.Background(), req); !d.Allow {
				t.Fatal(d.Reason)
			}
		})
	}
	none := allocs()
	if got := allocs(claimIs{"role", "admin"}); got != none {
		t.Errorf("a claims rule: %v allocations per decision, %v without", got, none)
	}
	if none != 0 {
		t.Errorf("a decision without requirements allocates %v times", none)
	}
}
