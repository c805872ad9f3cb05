package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeLog is an in-memory ChangeLog; with notify set it is also a Notifier.
type fakeLog struct {
	mu      sync.Mutex
	changes []Change
	pruned  int64
	err     error
	notify  chan struct{}
	reads   int
}

func (f *fakeLog) append(kind ChangeKind, subject string) {
	f.mu.Lock()
	f.changes = append(f.changes, Change{Seq: int64(len(f.changes)) + 1, Kind: kind, Subject: subject})
	f.mu.Unlock()
	if f.notify != nil {
		select {
		case f.notify <- struct{}{}:
		default:
		}
	}
}

func (f *fakeLog) Changes(ctx context.Context, after int64) ([]Change, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	if f.err != nil {
		return nil, f.err
	}
	if after < f.pruned {
		return nil, ErrChangesPruned
	}
	var out []Change
	for _, c := range f.changes {
		if c.Seq > after && len(out) < MaxChangesBatch {
			out = append(out, c)
		}
	}
	return out, nil
}

func (f *fakeLog) LatestChange(ctx context.Context) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return 0, f.err
	}
	return int64(len(f.changes)), nil
}

type notifyingLog struct{ *fakeLog }

func (n notifyingLog) WaitForChange(ctx context.Context) error {
	select {
	case <-n.notify:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func collect(w *Watcher) (get func() []Change) {
	var mu sync.Mutex
	var got []Change
	w.Subscribe(func(c Change) { mu.Lock(); got = append(got, c); mu.Unlock() })
	return func() []Change { mu.Lock(); defer mu.Unlock(); return append([]Change(nil), got...) }
}

func TestWatcherDeliversOnlyChangesAfterStart(t *testing.T) {
	log := &fakeLog{}
	log.append(ChangeKeyCreated, "old")
	w := NewWatcher(log, WatcherOptions{})
	got := collect(w)
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	log.append(ChangeKeyRevoked, "k1")
	log.append(ChangeUserRemoved, "alice")
	if err := w.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []Change{{Seq: 2, Kind: ChangeKeyRevoked, Subject: "k1"}, {Seq: 3, Kind: ChangeUserRemoved, Subject: "alice"}}
	if diff := cmp.Diff(want, got()); diff != "" {
		t.Errorf("delivered (-want +got):\n%s", diff)
	}
	if w.Cursor() != 3 || w.LastSync().IsZero() {
		t.Errorf("Cursor %d LastSync %v", w.Cursor(), w.LastSync())
	}
}

func TestWatcherPagesThroughLargeBatches(t *testing.T) {
	log := &fakeLog{}
	w := NewWatcher(log, WatcherOptions{})
	got := collect(w)
	w.Start(context.Background())
	for i := range 2500 {
		log.append(ChangeKeyCreated, fmt.Sprint(i))
	}
	if err := w.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	chs := got()
	if len(chs) != 2500 || chs[0].Seq != 1 || chs[2499].Seq != 2500 {
		t.Errorf("delivered %d changes", len(chs))
	}
}

func TestWatcherWithoutStartResetsFirst(t *testing.T) {
	log := &fakeLog{}
	log.append(ChangeKeyCreated, "x")
	w := NewWatcher(log, WatcherOptions{})
	got := collect(w)
	w.Poll(context.Background())
	if c := got(); len(c) != 1 || c[0].Kind != ChangeReset {
		t.Errorf("first poll without Start delivered %v, want one reset", c)
	}
}

func TestWatcherResetsWhenChangesWerePruned(t *testing.T) {
	log := &fakeLog{}
	w := NewWatcher(log, WatcherOptions{})
	got := collect(w)
	w.Start(context.Background())
	for range 5 {
		log.append(ChangeKeyRevoked, "k")
	}
	log.pruned = 3
	w.Poll(context.Background())
	if c := got(); len(c) != 1 || c[0].Kind != ChangeReset {
		t.Errorf("delivered %v, want one reset", c)
	}
	if w.Cursor() != 5 {
		t.Errorf("cursor %d, want 5", w.Cursor())
	}
}

func TestWatcherKeepsCursorOnError(t *testing.T) {
	log := &fakeLog{}
	w := NewWatcher(log, WatcherOptions{})
	got := collect(w)
	w.Start(context.Background())
	log.append(ChangeKeyRevoked, "k")
	log.err = fmt.Errorf("sqlite: %w", ErrLocked)
	if err := w.Poll(context.Background()); !errors.Is(err, ErrLocked) {
		t.Fatalf("Poll = %v", err)
	}
	log.err = nil
	w.Poll(context.Background())
	if c := got(); len(c) != 1 || c[0].Subject != "k" {
		t.Errorf("after recovery delivered %v; the change must not be lost", c)
	}
}

func TestWatcherUnsubscribe(t *testing.T) {
	log := &fakeLog{}
	w := NewWatcher(log, WatcherOptions{})
	n := 0
	unsub := w.Subscribe(func(Change) { n++ })
	w.Start(context.Background())
	log.append(ChangeKeyRevoked, "a")
	w.Poll(context.Background())
	unsub()
	log.append(ChangeKeyRevoked, "b")
	w.Poll(context.Background())
	if n != 1 {
		t.Errorf("calls = %d, want 1", n)
	}
}

// TestWatcherWithNotifierWakesOnNotification is the PostgreSQL shape: LISTEN/NOTIFY
// wakes the watcher long before its fallback poll. It runs on synctest's fake clock:
// synctest.Wait returns once Run is blocked waiting, and a wake-up by the hourly poll
// instead of the notification would show as an hour gone by.
func TestWatcherWithNotifierWakesOnNotification(t *testing.T) {
	synctest.Test(t, testWatcherWithNotifierWakesOnNotification)
}

func testWatcherWithNotifierWakesOnNotification(t *testing.T) {
	log := notifyingLog{&fakeLog{notify: make(chan struct{}, 1)}}
	w := NewWatcher(log, WatcherOptions{Interval: time.Hour})
	fired := make(chan Change, 1)
	w.Subscribe(func(c Change) { fired <- c })
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	synctest.Wait()
	start := time.Now()
	log.append(ChangeKeyRevoked, "k")
	select {
	case c := <-fired:
		if c.Subject != "k" {
			t.Errorf("delivered %+v", c)
		}
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Errorf("took %v despite the notification", d)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the notification did not wake the watcher")
	}
}

func TestResolveDSN(t *testing.T) {
	tests := []struct{ in, base, want string }{
		{"", "/etc/gh", "sqlite:///etc/gh/gatehouse.db"},
		{"sqlite://data.db", "/etc/gh", "sqlite:///etc/gh/data.db"},
		{"sqlite://sub/data.db?busy_timeout=1s", "/etc/gh", "sqlite:///etc/gh/sub/data.db?busy_timeout=1s"},
		{"sqlite:///var/lib/g.db", "/etc/gh", "sqlite:///var/lib/g.db"},
		{"sqlite://:memory:", "/etc/gh", "sqlite://:memory:"},
		{"postgres://u@h/db", "/etc/gh", "postgres://u@h/db"},
	}
	for _, tc := range tests {
		if got := ResolveDSN(tc.in, tc.base); got != tc.want {
			t.Errorf("ResolveDSN(%q, %q) = %q, want %q", tc.in, tc.base, got, tc.want)
		}
	}
}

func TestRedactDSN(t *testing.T) {
	for _, dsn := range []string{"postgres://gw:hunter2@db/x", "postgres://gw:hunter2@db/x?sslmode=require", "postgres://gw:hun%zzter2@db/x"} {
		if got := RedactDSN(dsn); strings.Contains(got, "hunter2") || strings.Contains(got, "hun%zz") {
			t.Errorf("RedactDSN(%q) = %q", dsn, got)
		}
	}
	if got := RedactDSN("sqlite:///a/b.db"); got != "sqlite:///a/b.db" {
		t.Errorf("RedactDSN changed a DSN without a password: %q", got)
	}
}

func TestOpenUnknownScheme(t *testing.T) {
	_, err := Open(context.Background(), "mysql://x")
	if err == nil || !strings.Contains(err.Error(), "unsupported scheme") {
		t.Errorf("Open = %v", err)
	}
}

func TestValidateUserName(t *testing.T) {
	for _, ok := range []string{"alice", "Zoë", "o'brien", "a b", "x@example.com"} {
		if err := ValidateUserName(ok); err != nil {
			t.Errorf("ValidateUserName(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a:b", "\xff", "a\x00b", "a\nb", "a\u0085b", strings.Repeat("a", MaxNameBytes+1)} {
		if err := ValidateUserName(bad); err == nil {
			t.Errorf("ValidateUserName(%q) accepted", bad)
		}
	}
}

func TestValidateScopes(t *testing.T) {
	if err := ValidateScopes([]string{"orders:read", "admin", "https://api.example/x"}); err != nil {
		t.Errorf("valid scopes refused: %v", err)
	}
	for _, bad := range [][]string{{""}, {"a b"}, {`a"b`}, {`a\b`}, {"é"}, {strings.Repeat("s", MaxScopeBytes+1)}} {
		if err := ValidateScopes(bad); err == nil {
			t.Errorf("ValidateScopes(%q) accepted", bad)
		}
	}
}

func TestKeyStatus(t *testing.T) {
	now := time.Unix(1_900_000_000, 0)
	tests := []struct {
		name string
		k    APIKey
		want KeyStatus
	}{
		{"Plain", APIKey{}, KeyActive},
		{"Expired", APIKey{ExpiresAt: now}, KeyExpired},
		{"NotYetExpired", APIKey{ExpiresAt: now.Add(time.Second)}, KeyActive},
		{"Revoked", APIKey{RevokedAt: now.Add(-time.Second)}, KeyRevoked},
		{"InGrace", APIKey{RevokedAt: now.Add(time.Hour), ReplacedBy: "x"}, KeyActive},
		{"RevokedAndExpired", APIKey{RevokedAt: now.Add(-time.Hour), ExpiresAt: now.Add(-time.Hour)}, KeyRevoked},
	}
	for _, tc := range tests {
		if got := tc.k.Status(now); got != tc.want {
			t.Errorf("%s: Status = %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestUnavailableKindsMatchErrUnavailable(t *testing.T) {
	for _, err := range []error{ErrLocked, ErrReadOnly, ErrCorrupt, ErrFull, ErrSchemaTooNew} {
		wrapped := fmt.Errorf("sqlite: op: %w: driver says no", err)
		if !errors.Is(wrapped, ErrUnavailable) || !errors.Is(wrapped, err) {
			t.Errorf("%v does not match both itself and ErrUnavailable", err)
		}
	}
	if errors.Is(ErrNotFound, ErrUnavailable) || errors.Is(ErrExists, ErrUnavailable) {
		t.Error("a verdict error matches ErrUnavailable")
	}
}
