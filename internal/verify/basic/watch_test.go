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
