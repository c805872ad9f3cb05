package basic

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// TestStoreOutageGraceServesVerifiedPasswords walks an outage: a password verified
// before it keeps working within the grace period (even past the cache lifetime), one
// never verified is 503 at once (never 401), and after the grace everything is 503
// until the store answers again.
func TestStoreOutageGraceServesVerifiedPasswords(t *testing.T) {
	now := time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := func() time.Time { return now }
	outage := store.NewOutage(time.Minute, clock)
	users := &fakeUsers{users: map[string]store.User{}}
	users.set(store.User{Name: "alice", PasswordHash: mustHash(t, "right")})
	users.set(store.User{Name: "bob", PasswordHash: mustHash(t, "right")})
	a, err := New(Config{Name: "staff", Store: users, Hasher: secret.NewPasswordVerifier(0),
		DummyHash: mustHash(t, "dummy"), CacheTTL: 10 * time.Second, Outage: outage, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := a.Authenticate(ctx, cred("alice", "right")); err != nil {
		t.Fatal(err)
	}
	users.mu.Lock()
	users.err = fmt.Errorf("pg: %w", store.ErrUnavailable)
	users.mu.Unlock()
	outage.Report(fmt.Errorf("watch: %w", store.ErrUnavailable)) // the change feed noticed first

	steps := []struct {
		at         time.Duration
		user, pass string
		want       decision.Reason
	}{
		{5 * time.Second, "alice", "right", ""},
		{30 * time.Second, "alice", "right", ""}, // past the cache TTL, within the grace
		{30 * time.Second, "bob", "right", decision.AuthenticatorUnavailable},
		{30 * time.Second, "alice", "wrong", decision.AuthenticatorUnavailable},
		{61 * time.Second, "alice", "right", decision.AuthenticatorUnavailable},
	}
	for _, s := range steps {
		now = time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC).Add(s.at)
		_, err := a.Authenticate(ctx, cred(s.user, s.pass))
		got := decision.Reason("")
		if err != nil {
			got = asFailure(t, err).Reason
		}
		if got != s.want {
			t.Errorf("at +%v, %s/%s: got %q, want %q", s.at, s.user, s.pass, got, s.want)
		}
	}
	users.mu.Lock()
	users.err = nil
	users.mu.Unlock()
	if _, err := a.Authenticate(ctx, cred("bob", "right")); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
	if down, _ := outage.Down(); down {
		t.Error("a successful read did not end the outage")
	}
}
