package jwt

import (
	"context"
	"testing"
)

// TestCachedAnswersOnlyVerifiedTokens: Cached (which Decide asks before reserving from
// the failure budget) answers a token only once Authenticate has verified it.
func TestCachedAnswersOnlyVerifiedTokens(t *testing.T) {
	clk := newClock()
	a := fileAuthenticator(t, clk, nil)
	s := signers(t)
	c := bearer(sign(t, s.es, claimsAt(t0)))
	ctx := context.Background()
	if _, ok := a.Cached(ctx, c); ok {
		t.Fatal("answered a token never verified")
	}
	want, err := a.Authenticate(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := a.Cached(ctx, c); !ok || p.Subject != want.Subject {
		t.Errorf("Cached = %+v, %v after verification", p, ok)
	}
	tampered := c
	tampered.Value += "x"
	if _, ok := a.Cached(ctx, tampered); ok {
		t.Error("answered another token")
	}
}
