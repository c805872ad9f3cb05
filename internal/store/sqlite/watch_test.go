package sqlite_test

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlite"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

// TestRevocationThroughAnotherConnectionReachesWatcherWithinOneSecond is the mechanism
// behind "a key revoked by the CLI is refused at once": the gateway's store and the
// CLI's are different connections (different processes in production) on one file.
func TestRevocationThroughAnotherConnectionReachesWatcherWithinOneSecond(t *testing.T) {
	path := filepath.Join(t.TempDir(), "g.db")
	gateway := openFile(t, path, sqlite.Options{})
	cli := openFile(t, path, sqlite.Options{})
	k := storetest.NewKey("AAAAAAAAAAA1", time.Now())
	if err := cli.CreateKey(testCtx(t), &k); err != nil {
		t.Fatal(err)
	}

	w := store.NewWatcher(gateway, store.WatcherOptions{})
	fired := make(chan store.Change, 4)
	w.Subscribe(func(c store.Change) { fired <- c })
	if err := w.Start(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	for round := range 3 {
		id := k.ID
		if round > 0 {
			nk := storetest.NewKey("RRRRRRRRRRR"+string(rune('0'+round)), time.Now())
			if err := cli.CreateKey(testCtx(t), &nk); err != nil {
				t.Fatal(err)
			}
			id = nk.ID
			drain(t, fired, store.ChangeKeyCreated)
		}
		start := time.Now()
		if _, err := cli.RevokeKey(testCtx(t), id, time.Now()); err != nil {
			t.Fatal(err)
		}
		select {
		case c := <-fired:
			if c.Kind != store.ChangeKeyRevoked || c.Subject != id {
				t.Fatalf("watcher delivered %+v, want key_revoked %s", c, id)
			}
			t.Logf("round %d: revocation delivered after %v", round, time.Since(start))
			if d := time.Since(start); d > time.Second {
				t.Errorf("revocation took %v to reach the watcher; the contract is 1s", d)
			}
		case <-time.After(2 * time.Second):
			t.Fatal("the watcher did not see a revocation made through another connection")
		}
	}
}

func drain(t *testing.T, ch <-chan store.Change, kind store.ChangeKind) {
	t.Helper()
	select {
	case c := <-ch:
		if c.Kind != kind {
			t.Fatalf("delivered %s, want %s", c.Kind, kind)
		}
	case <-time.After(2 * time.Second):
		t.Fatalf("no %s delivered", kind)
	}
}

func TestWatcherReportsErrorsOncePerStreak(t *testing.T) {
	path := filepath.Join(t.TempDir(), "g.db")
	s, err := sqlite.Open(testCtx(t), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var reports atomic.Int32
	w := store.NewWatcher(s, store.WatcherOptions{Interval: 10 * time.Millisecond, OnError: func(err error) {
		if err != nil {
			reports.Add(1)
		}
	}})
	if err := w.Start(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	s.Close() // every poll now fails
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	w.Run(ctx)
	if n := reports.Load(); n != 1 {
		t.Errorf("OnError called %d times for one failing streak, want 1", n)
	}
}

func TestWatcherResetsWhenSequenceGoesBackwards(t *testing.T) {
	dir := t.TempDir()
	a := openFile(t, filepath.Join(dir, "a.db"), sqlite.Options{})
	for i := range 3 {
		k := storetest.NewKey("AAAAAAAAAAA"+string(rune('0'+i)), time.Now())
		if err := a.CreateKey(testCtx(t), &k); err != nil {
			t.Fatal(err)
		}
	}
	b := openFile(t, filepath.Join(dir, "b.db"), sqlite.Options{})
	src := &switchable{ChangeLog: a}
	w := store.NewWatcher(src, store.WatcherOptions{})
	var got []store.ChangeKind
	w.Subscribe(func(c store.Change) { got = append(got, c.Kind) })
	if err := w.Start(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	src.ChangeLog = b // the store file was replaced by an older or empty one
	if err := w.Poll(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != store.ChangeReset {
		t.Errorf("delivered %v, want one reset", got)
	}
}

type switchable struct{ store.ChangeLog }
