package postgres_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/postgres"
	"github.com/gatehouse-dev/gatehouse/internal/store/postgres/pgtest"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
	"github.com/jackc/pgx/v5"
)

// syncBuffer is a log sink tests can read while the listener writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// recorder collects what a watcher delivers.
type recorder struct {
	mu  sync.Mutex
	got []store.Change
}

func (r *recorder) add(c store.Change) {
	r.mu.Lock()
	r.got = append(r.got, c)
	r.mu.Unlock()
}

func (r *recorder) changes() []store.Change {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]store.Change(nil), r.got...)
}

// watch runs a watcher over s until the test ends. The watcher's own polling interval
// is a minute, so within a test anything it delivers came through a notification (or
// through the store's polling fallback while LISTEN is down).
func watch(t *testing.T, s *postgres.Store) *recorder {
	t.Helper()
	w := store.NewWatcher(s, store.WatcherOptions{Interval: time.Minute})
	r := &recorder{}
	w.Subscribe(r.add)
	if err := w.Start(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return r
}

// waitFor polls cond every 10ms until it holds, failing the test after limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// twoReplicas opens two stores on one new database: a gateway replica that watches,
// and another process (the CLI, another replica) that writes.
func twoReplicas(t *testing.T, gw postgres.Config) (gateway, writer *postgres.Store, dsn string) {
	t.Helper()
	dsn = pgtest.NewDatabase(t)
	writer = openDSN(t, postgres.Config{DSN: dsn})
	gw.DSN = dsn
	gateway = openDSN(t, gw)
	return gateway, writer, dsn
}

func TestRevocationOnAnotherReplicaReachesWatcherByNotification(t *testing.T) {
	gateway, writer, _ := twoReplicas(t, postgres.Config{})
	k := storetest.NewKey("AAAAAAAAAAA1", time.Now())
	if err := writer.CreateKey(testCtx(t), &k); err != nil {
		t.Fatal(err)
	}
	r := watch(t, gateway)
	waitFor(t, 10*time.Second, "the LISTEN connection", func() bool { return gateway.ListenerPID() != 0 })
	start := time.Now()
	if _, err := writer.RevokeKey(testCtx(t), k.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the revocation", func() bool {
		for _, c := range r.changes() {
			if c.Kind == store.ChangeKeyRevoked && c.Subject == k.ID {
				return true
			}
		}
		return false
	})
	t.Logf("revocation delivered %s after commit", time.Since(start))
}

// TestKilledListenConnectionReconnectsAndLosesNothing terminates the LISTEN connection
// (as a failover or an idle-connection reaper would) three times while another replica
// keeps writing: every change is delivered once, in order.
func TestKilledListenConnectionReconnectsAndLosesNothing(t *testing.T) {
	gateway, writer, _ := twoReplicas(t, postgres.Config{ListenFallback: 20 * time.Millisecond})
	admin := pgtest.Admin(t)
	r := watch(t, gateway)
	waitFor(t, 10*time.Second, "the LISTEN connection", func() bool { return gateway.ListenerPID() != 0 })

	const n = 60
	writeErr := make(chan error, 1)
	go func() {
		for i := range n {
			k := storetest.NewKey(fmt.Sprintf("K%011d", i), time.Now())
			if err := writer.CreateKey(context.Background(), &k); err != nil {
				writeErr <- err
				return
			}
		}
		writeErr <- nil
	}()
	for range 3 {
		pid := gateway.ListenerPID()
		waitFor(t, 10*time.Second, "a LISTEN connection", func() bool { pid = gateway.ListenerPID(); return pid != 0 })
		var ok bool
		if err := admin.QueryRow(testCtx(t), "SELECT pg_terminate_backend($1)", int32(pid)).Scan(&ok); err != nil || !ok {
			t.Fatalf("pg_terminate_backend(%d) = %v, %v", pid, ok, err)
		}
		waitFor(t, 10*time.Second, "a new LISTEN connection", func() bool {
			p := gateway.ListenerPID()
			return p != 0 && p != pid
		})
	}
	if err := <-writeErr; err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, fmt.Sprintf("%d changes", n), func() bool { return len(r.changes()) >= n })
	got := r.changes()
	if len(got) != n {
		t.Fatalf("delivered %d changes, want %d", len(got), n)
	}
	for i, c := range got {
		if want := fmt.Sprintf("K%011d", i); c.Kind != store.ChangeKeyCreated || c.Subject != want {
			t.Fatalf("change %d = %s %s, want key_created %s", i, c.Kind, c.Subject, want)
		}
	}
}

// TestChangesArriveByPollingWhileListenIsDown keeps the LISTEN connection from coming
// back (the database refuses new connections) while changes are committed on pooled
// connections: the watcher still gets them, by the polling fallback.
func TestChangesArriveByPollingWhileListenIsDown(t *testing.T) {
	var logs syncBuffer
	gateway, writer, dsn := twoReplicas(t, postgres.Config{ListenFallback: 20 * time.Millisecond, MinConns: 1,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	admin := pgtest.Admin(t)
	name := dsn[strings.LastIndex(dsn, "/")+1:]
	if i := strings.IndexByte(name, '?'); i >= 0 {
		name = name[:i]
	}
	db := pgx.Identifier{name}.Sanitize()
	r := watch(t, gateway)
	waitFor(t, 10*time.Second, "the LISTEN connection", func() bool { return gateway.ListenerPID() != 0 })
	// Warm both pools so writes and polls have a connection while new ones are refused.
	if _, err := writer.LatestChange(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(testCtx(t), "ALTER DATABASE "+db+" ALLOW_CONNECTIONS false"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Exec(context.Background(), "ALTER DATABASE "+db+" ALLOW_CONNECTIONS true") })
	pid := gateway.ListenerPID()
	if _, err := admin.Exec(testCtx(t), "SELECT pg_terminate_backend($1)", int32(pid)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the listener to notice", func() bool { return strings.Contains(logs.String(), "notifications lost") })
	k := storetest.NewKey("AAAAAAAAAAA1", time.Now())
	if err := writer.CreateKey(testCtx(t), &k); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the change, by polling", func() bool { return len(r.changes()) == 1 })
	if gateway.ListenerPID() != 0 {
		t.Fatal("the LISTEN connection came back although the database refuses connections")
	}
	if _, err := admin.Exec(testCtx(t), "ALTER DATABASE "+db+" ALLOW_CONNECTIONS true"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "the LISTEN connection to come back", func() bool { return gateway.ListenerPID() != 0 })
	waitFor(t, 5*time.Second, "the log to say so", func() bool { return strings.Contains(logs.String(), "notifications are back") })
	if strings.Contains(logs.String(), password) {
		t.Error("a log line holds the password")
	}
}

// TestForeignNotificationIsIgnoredLoggedAndCaughtUp sends on the store's channel what
// Gatehouse never writes, right after a change committed without a notification: the
// payload is not trusted, it is logged, and the watcher reads the sequence, so the
// silent change is delivered all the same.
func TestForeignNotificationIsIgnoredLoggedAndCaughtUp(t *testing.T) {
	var logs syncBuffer
	gateway, _, dsn := twoReplicas(t, postgres.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	r := watch(t, gateway)
	waitFor(t, 10*time.Second, "the LISTEN connection", func() bool { return gateway.ListenerPID() != 0 })
	exec(t, dsn,
		`BEGIN;
		UPDATE meta SET value = value + 1 WHERE key = 'change_seq';
		INSERT INTO changes (seq, kind, subject, at) SELECT value, 'key_revoked', 'AAAAAAAAAAA9', now() FROM meta WHERE key = 'change_seq';
		COMMIT`,
		"NOTIFY "+postgres.Channel+", '-1; DROP TABLE api_keys'",
	)
	waitFor(t, 5*time.Second, "the silent change", func() bool { return len(r.changes()) == 1 })
	if c := r.changes()[0]; c.Kind != store.ChangeKeyRevoked || c.Subject != "AAAAAAAAAAA9" {
		t.Errorf("delivered %+v", c)
	}
	waitFor(t, 5*time.Second, "the log line", func() bool { return strings.Contains(logs.String(), "unexpected payload") })
}

// TestConcurrentWritersNeverHideAChangeFromAWatcher runs writers on two stores against
// a watcher polling as fast as it can: a change that commits after a later-numbered one
// was seen would be skipped for good. The write lock makes the sequence commit in order,
// so every change is delivered exactly once.
func TestConcurrentWritersNeverHideAChangeFromAWatcher(t *testing.T) {
	a, b, _ := twoReplicas(t, postgres.Config{})
	w := store.NewWatcher(a, store.WatcherOptions{})
	r := &recorder{}
	w.Subscribe(r.add)
	if err := w.Start(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		for {
			select {
			case <-stop:
				return
			default:
				w.Poll(context.Background())
			}
		}
	}()
	const perWriter = 25
	var wg sync.WaitGroup
	for wi, st := range []*postgres.Store{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				k := storetest.NewKey(fmt.Sprintf("W%d%010d", wi, i), time.Now())
				if err := st.CreateKey(context.Background(), &k); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-polled
	if err := w.Poll(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	got := r.changes()
	if len(got) != 4*perWriter {
		t.Fatalf("delivered %d changes, want %d", len(got), 4*perWriter)
	}
	for i, c := range got {
		if c.Seq != int64(i+1) {
			t.Fatalf("change %d has seq %d: the sequence has a gap or is out of order", i, c.Seq)
		}
	}
}
