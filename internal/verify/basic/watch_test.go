package basic_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/challenge"
	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlite"
	"github.com/gatehouse-dev/gatehouse/internal/verify/basic"
	"golang.org/x/crypto/bcrypt"
)

// TestUserRemovedThroughAnotherConnectionIsRefusedWithinOneSecond: the Basic cache
// holds alice's verified password for an hour, yet removing her through another
// connection to the store (as the CLI does) is refused on the next poll.
func TestUserRemovedThroughAnotherConnectionIsRefusedWithinOneSecond(t *testing.T) {
	path := filepath.Join(t.TempDir(), "g.db")
	ctx := context.Background()
	gw, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	cli, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	h, err := secret.HashPasswordWith(secret.Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, "pw")
	if err != nil {
		t.Fatal(err)
	}
	if err := cli.AddUser(ctx, &store.User{Name: "alice", PasswordHash: h, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	a, err := basic.New(basic.Config{Name: "staff", Store: gw, CacheTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	w := store.NewWatcher(gw, store.WatcherOptions{})
	w.Subscribe(a.Invalidate)
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { w.Run(rctx); close(done) }()
	defer func() { cancel(); <-done }()

	cred := decision.Credential{Source: decision.FromAuthorization, Scheme: "basic", Value: challenge.EncodeBasic("alice", "pw")}
	if _, err := a.Authenticate(ctx, cred); err != nil {
		t.Fatalf("before removal: %v", err)
	}
	if err := cli.RemoveUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	removed := time.Now()
	for {
		_, err := a.Authenticate(ctx, cred)
		var f *decision.Failure
		if errors.As(err, &f) && f.Reason == decision.CredentialsInvalid {
			t.Logf("refused %v after removal", time.Since(removed))
			return
		}
		if time.Since(removed) > time.Second {
			t.Fatalf("alice still accepted %v after removal", time.Since(removed))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestImportedBcryptUserIsRehashedInTheSQLiteStore runs the whole path against SQLite:
// a user imported with bcrypt logs in, Run stores an argon2id hash of the password
// (appending user_password, so every cache hears of it), and the user still logs in.
func TestImportedBcryptUserIsRehashedInTheSQLiteStore(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "g.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	bc, err := bcrypt.GenerateFromPassword([]byte("imported-pw"), 5)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.ImportUsers(ctx, []store.User{{Name: "bob", PasswordHash: string(bc), CreatedAt: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	before, err := st.LatestChange(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a, err := basic.New(basic.Config{Name: "staff", Store: st})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { a.Run(rctx); close(done) }()
	defer func() { cancel(); <-done }()

	cred := decision.Credential{Source: decision.FromAuthorization, Scheme: "basic", Value: challenge.EncodeBasic("bob", "imported-pw")}
	if _, err := a.Authenticate(ctx, cred); err != nil {
		t.Fatalf("imported user: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	var u store.User
	for {
		if u, err = st.User(ctx, "bob"); err != nil {
			t.Fatal(err)
		}
		if secret.HashKind(u.PasswordHash) == "argon2id" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("10s after the login bob's hash is still %s", secret.HashKind(u.PasswordHash))
		}
		time.Sleep(5 * time.Millisecond)
	}
	if secret.NeedsRehash(u.PasswordHash) {
		t.Errorf("the new hash is weaker than a new password's")
	}
	changes, err := st.Changes(ctx, before)
	if err != nil || len(changes) != 1 || changes[0].Kind != store.ChangeUserPassword || changes[0].Subject != "bob" {
		t.Errorf("changes after the rehash = %+v, %v; want one user_password for bob", changes, err)
	}
	a.Invalidate(changes[0])
	if _, err := a.Authenticate(ctx, cred); err != nil {
		t.Errorf("bob after the rehash: %v", err)
	}
	if _, err := a.Authenticate(ctx, decision.Credential{Source: decision.FromAuthorization, Scheme: "basic", Value: challenge.EncodeBasic("bob", "wrong")}); err == nil {
		t.Error("a wrong password is accepted after the rehash")
	}
}
