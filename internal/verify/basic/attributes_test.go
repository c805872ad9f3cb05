package basic

import (
	"context"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func TestAttributesAreTheUsersClaims(t *testing.T) {
	f := newFixture(t)
	f.users.set(store.User{Name: "alice", PasswordHash: mustHash(t, "pw-alice-123"), Attributes: map[string]string{"team": "ops"}})
	p, err := f.a.Authenticate(context.Background(), cred("alice", "pw-alice-123"))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Claims) != 1 || p.Claims["team"] != "ops" {
		t.Errorf("claims = %v", p.Claims)
	}
}
