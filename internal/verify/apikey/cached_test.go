package apikey

import (
	"context"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/secret"
)

// TestCachedAnswersOnlyTheRightSecretOfACachedKey: Cached (which Decide asks before
// reserving from the failure budget) answers a key whose record is cached and whose
// secret matches; a wrong secret for that id, an unknown key, or a record not yet
// cached is left to Authenticate.
func TestCachedAnswersOnlyTheRightSecretOfACachedKey(t *testing.T) {
	f := newFixture(t, nil)
	key, rec := f.add(t, "live", nil)
	ctx := context.Background()
	if _, ok := f.a.Cached(ctx, header(key)); ok {
		t.Fatal("answered a key whose record was never read")
	}
	if _, err := f.a.Authenticate(ctx, header(key)); err != nil {
		t.Fatal(err)
	}
	p, ok := f.a.Cached(ctx, header(key))
	if !ok || p.Fingerprint != rec.ID {
		t.Fatalf("Cached = %+v, %v after the record was cached", p, ok)
	}
	guess, err := secret.NewAPIKeyWithID("live", rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := f.a.Cached(ctx, header(guess.Reveal())); ok {
		t.Error("answered a wrong secret for a cached key id")
	}
	other, _ := f.add(t, "live", nil)
	if _, ok := f.a.Cached(ctx, header(other)); ok {
		t.Error("answered a key whose record is not cached")
	}
}
