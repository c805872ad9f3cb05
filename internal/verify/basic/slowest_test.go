package basic

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"golang.org/x/crypto/bcrypt"
)

func mustBcrypt(t testing.TB, pw string, cost int) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), cost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// runInBackground runs a.Run until the test ends.
func runInBackground(t *testing.T, a *Authenticator) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// waitFor polls cond until it holds, failing the test after 5 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// unknownUserParams authenticates an unknown user and returns the parameters of the
// hash the verification ran against, as the injected hasher saw it.
func unknownUserParams(t *testing.T, f *fixture) secret.HashParams {
	t.Helper()
	before := len(f.hasher.calls())
	if _, err := f.a.Authenticate(context.Background(), cred("nobody-"+time.Now().String(), "guess")); err == nil {
		t.Fatal("an unknown user was accepted")
	}
	calls := f.hasher.calls()[before:]
	if len(calls) != 1 {
		t.Fatalf("the unknown user cost %d verifications, want 1", len(calls))
	}
	p, err := secret.ParseHashParams(calls[0])
	if err != nil {
		t.Fatalf("the unknown user was verified against an unusable hash: %v", err)
	}
	return p
}

// TestUnknownUserIsVerifiedAgainstTheSlowestStoredHash guards against timing telling
// users apart from unknown names: with imported bcrypt users slower than the argon2id
// of new passwords, an unknown user must cost a bcrypt verification of the highest
// stored cost, followed through additions and a reset, and never less than the floor.
func TestUnknownUserIsVerifiedAgainstTheSlowestStoredHash(t *testing.T) {
	f := newFixture(t) // floor: argon2id m=64,t=1 (work 64)
	floor, _ := secret.ParseHashParams(f.dummy)
	f.users.set(store.User{Name: "alice", PasswordHash: mustHash(t, "a")})
	f.users.set(store.User{Name: "imported", PasswordHash: mustBcrypt(t, "b", 4)})
	bcryptCost := func(c int) secret.HashParams { return secret.HashParams{Family: "bcrypt", BcryptCost: c} }

	if got := unknownUserParams(t, f); got != floor {
		t.Errorf("before Run read the store: unknown user verified against %s, want the floor %s", got, floor)
	}
	runInBackground(t, f.a)
	waitFor(t, "the first read of the users", func() bool { return f.a.DummyParams() == bcryptCost(4) })
	if got := unknownUserParams(t, f); got != bcryptCost(4) {
		t.Errorf("unknown user verified against %s, want %s like the slowest user", got, bcryptCost(4))
	}

	// An import with a higher cost raises it, through the change feed.
	f.users.set(store.User{Name: "imported-later", PasswordHash: mustBcrypt(t, "c", 6)})
	f.a.Invalidate(store.Change{Kind: store.ChangeUserAdded, Subject: "imported-later"})
	waitFor(t, "the added user's cost", func() bool { return f.a.DummyParams() == bcryptCost(6) })
	if got := unknownUserParams(t, f); got != bcryptCost(6) {
		t.Errorf("after the import: unknown user verified against %s, want %s", got, bcryptCost(6))
	}

	// A cheaper hash lowers it only when a reset reads every user again.
	f.users.set(store.User{Name: "imported-later", PasswordHash: mustHash(t, "c")})
	f.a.Invalidate(store.Change{Kind: store.ChangeReset})
	waitFor(t, "the reset's full read", func() bool { return f.a.DummyParams() == bcryptCost(4) })

	// With every stored hash cheaper than the floor, the floor stays.
	f.users.set(store.User{Name: "imported", PasswordHash: mustHash(t, "b")})
	f.a.Invalidate(store.Change{Kind: store.ChangeReset})
	waitFor(t, "the floor", func() bool { return f.a.DummyParams() == floor })
	if got := unknownUserParams(t, f); got != floor {
		t.Errorf("unknown user verified against %s, want the floor %s", got, floor)
	}
}

// TestSuccessfulLoginRehashesWeakHashesOnce: a bcrypt user who logs in gets an argon2id
// hash of the same password stored; a user whose hash changed since the verification
// keeps the new one; the log never holds the password.
func TestSuccessfulLoginRehashesWeakHashesOnce(t *testing.T) {
	var logs bytes.Buffer
	users := &fakeUsers{users: map[string]store.User{}}
	old := mustBcrypt(t, "s3cret-horse", 4)
	users.set(store.User{Name: "imported", PasswordHash: old})
	users.set(store.User{Name: "raced", PasswordHash: mustBcrypt(t, "raced-pw", 4)})
	a, err := New(Config{Name: "staff", Store: users, DummyHash: mustHash(t, "x"), Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, c := range []struct{ user, pw string }{{"imported", "s3cret-horse"}, {"raced", "raced-pw"}} {
		if _, err := a.Authenticate(ctx, cred(c.user, c.pw)); err != nil {
			t.Fatalf("%s: %v", c.user, err)
		}
	}
	// An operator sets a new password for "raced" before the rehash runs.
	replaced := mustHash(t, "operator-set")
	users.set(store.User{Name: "raced", PasswordHash: replaced})
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	a.work(ctx, timer)

	got, _ := users.User(ctx, "imported")
	if secret.HashKind(got.PasswordHash) != "argon2id" || secret.NeedsRehash(got.PasswordHash) {
		t.Fatalf("after a login the hash is %s, want argon2id with the current parameters", secret.HashKind(got.PasswordHash))
	}
	if ok, err := secret.VerifyPassword(got.PasswordHash, "s3cret-horse"); !ok || err != nil {
		t.Errorf("the rehashed password does not verify: %v %v", ok, err)
	}
	if r, _ := users.User(ctx, "raced"); r.PasswordHash != replaced {
		t.Error("the rehash overwrote a password set after the login")
	}
	if strings.Contains(logs.String(), "s3cret") || strings.Contains(logs.String(), old) {
		t.Errorf("the log holds the password or its hash:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "rehashed") {
		t.Errorf("the rehash was not logged:\n%s", logs.String())
	}
	// A current hash is not rehashed again.
	a.Purge()
	if _, err := a.Authenticate(ctx, cred("imported", "s3cret-horse")); err != nil {
		t.Fatal(err)
	}
	if len(a.rehash) != 0 {
		t.Error("a login with a current argon2id hash queued a rehash")
	}
}
