package decision

import (
	"context"
	"testing"
)

func TestTheAuthenticatorThatRecognisesTheTokenExplainsTheFailure(t *testing.T) {
	other := &fakeAuth{name: "corp", scheme: "Bearer", err: &Failure{Reason: TokenKeyUnknown}}
	own := &fakeAuth{name: "own", scheme: "Bearer", err: &Failure{Reason: TokenRevoked}}
	d := (&Route{Authenticators: []Authenticator{other, own}}).Decide(context.Background(), &Request{Header: hdr("Authorization", "Bearer t")})
	if d.Reason != TokenRevoked || d.Authenticator != "own" {
		t.Fatalf("reason %s from %s, want token_revoked from own", d.Reason, d.Authenticator)
	}
	// With only "not mine" answers, the first one stands.
	other2 := &fakeAuth{name: "b", scheme: "Bearer", err: &Failure{Reason: TokenIssuerMismatch}}
	d = (&Route{Authenticators: []Authenticator{other, other2}}).Decide(context.Background(), &Request{Header: hdr("Authorization", "Bearer t")})
	if d.Reason != TokenKeyUnknown {
		t.Fatalf("reason %s", d.Reason)
	}
}
