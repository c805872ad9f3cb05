package sqlite

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustOpen(t *testing.T, path string, o Options) *Store {
	t.Helper()
	s, err := Open(ctxT(t), path, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func createN(t *testing.T, s *Store, prefix string, n int) {
	t.Helper()
	for i := range n {
		k := storetest.NewKey(fmt.Sprintf("%s%0*d", prefix, 12-len(prefix), i), time.Now())
		if err := s.CreateKey(ctxT(t), &k); err != nil {
			t.Fatalf("CreateKey %d: %v", i, err)
		}
	}
}

func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(0)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestWriteLockHeldPastBusyTimeoutIsErrLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "g.db")
	s := mustOpen(t, path, Options{BusyTimeout: 150 * time.Millisecond})
	createN(t, s, "A", 3)

	// Another connection (as another process would) takes the write lock and keeps it.
	conn, err := rawDB(t, path).Conn(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctxT(t), "BEGIN IMMEDIATE"); err != nil {
		t.Fatalf("taking the write lock: %v", err)
	}

	start := time.Now()
	k := storetest.NewKey("LOCKED000001", time.Now())
	err = s.CreateKey(ctxT(t), &k)
	if !errors.Is(err, store.ErrLocked) || !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("CreateKey under a held write lock = %v, want ErrLocked (and ErrUnavailable)", err)
	}
	if waited := time.Since(start); waited < 100*time.Millisecond {
		t.Errorf("gave up after %v, before the busy timeout", waited)
	}
	if !strings.Contains(err.Error(), "locked") {
		t.Errorf("error does not say the store is locked: %v", err)
	}
	// WAL: reads go on while another writer holds the lock.
	if _, err := s.Key(ctxT(t), "A00000000000"); err != nil {
		t.Errorf("read under a held write lock: %v", err)
	}
	if _, err := conn.ExecContext(ctxT(t), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateKey(ctxT(t), &k); err != nil {
		t.Errorf("CreateKey after the lock was released: %v", err)
	}
}

func TestReadOnlyStoreRefusesWritesAndServesReads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "g.db")
	s := mustOpen(t, path, Options{})
	createN(t, s, "A", 2)
	s.Close()

	ro, err := store.Open(ctxT(t), "sqlite://"+path+"?mode=ro")
	if err != nil {
		t.Fatalf("open read-only: %v", err)
	}
	defer ro.Close()
	if _, err := ro.Key(ctxT(t), "A00000000001"); err != nil {
		t.Errorf("read from a read-only store: %v", err)
	}
	if _, err := ro.RevokeKey(ctxT(t), "A00000000001", time.Now()); !errors.Is(err, store.ErrReadOnly) {
		t.Errorf("RevokeKey on a read-only store = %v, want ErrReadOnly", err)
	}
	// The driver's own refusal classifies the same way.
	if err := classify(driverError(t, path)); !errors.Is(err, store.ErrReadOnly) {
		t.Errorf("SQLITE_READONLY classified as %v", err)
	}
}

// driverError provokes a real SQLITE_READONLY from the driver.
func driverError(t *testing.T, path string) error {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, err = db.Exec("DELETE FROM api_keys")
	if err == nil {
		t.Fatal("a write through a mode=ro connection succeeded")
	}
	return err
}

func TestReadOnlyFileIsRefusedClearly(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "g.db")
	s := mustOpen(t, path, Options{})
	createN(t, s, "A", 1)
	s.Close()
	makeReadOnly(t, dir, path)

	s2, err := Open(ctxT(t), path, Options{})
	if err == nil {
		defer s2.Close()
		k := storetest.NewKey("B00000000000", time.Now())
		err = s2.CreateKey(ctxT(t), &k)
	}
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("writing to a read-only file = %v, want ErrUnavailable", err)
	}
	t.Logf("read-only file: %v", err)
	if !errors.Is(err, store.ErrReadOnly) || !strings.Contains(err.Error(), "not writable") {
		t.Errorf("the error does not say the store is read-only: %v", err)
	}
}

// makeReadOnly makes the store's files and folder unwritable: by permissions, or, for
// root (whom permissions do not stop), with the immutable attribute.
func makeReadOnly(t *testing.T, dir, path string) {
	t.Helper()
	files := []string{path}
	for _, p := range []string{path + "-wal", path + "-shm"} {
		if _, err := os.Stat(p); err == nil {
			files = append(files, p)
		}
	}
	if os.Geteuid() != 0 {
		for _, p := range files {
			os.Chmod(p, 0o444)
		}
		os.Chmod(dir, 0o555)
		t.Cleanup(func() { os.Chmod(dir, 0o755) })
		return
	}
	chattr, err := exec.LookPath("chattr")
	if err != nil {
		t.Skip("running as root without chattr: cannot make a file read-only")
	}
	targets := append(files, dir)
	if out, err := exec.Command(chattr, append([]string{"+i"}, targets...)...).CombinedOutput(); err != nil {
		t.Skipf("running as root and chattr +i failed (%v: %s): cannot make a file read-only", err, out)
	}
	t.Cleanup(func() { exec.Command(chattr, append([]string{"-i"}, targets...)...).Run() })
}

func TestGarbageFileIsErrCorruptAndLeftUntouched(t *testing.T) {
	path := filepath.Join(t.TempDir(), "g.db")
	garbage := make([]byte, 8192)
	rand.Read(garbage)
	if err := os.WriteFile(path, garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(ctxT(t), path, Options{})
	if !errors.Is(err, store.ErrCorrupt) || !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Open(garbage) = %v, want ErrCorrupt", err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error does not name the file: %v", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(after, garbage) {
		t.Error("Open modified a file that is not a database")
	}
}

func TestDamagedPagesAreErrCorruptWithoutPanic(t *testing.T) {
	path := filepath.Join(t.TempDir(), "g.db")
	s := mustOpen(t, path, Options{})
	createN(t, s, "A", 3000)
	s.Close()
	// Fold the WAL into the file, then scribble over pages in the middle of it.
	db := rawDB(t, path)
	if _, err := db.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := f.Stat()
	junk := bytes.Repeat([]byte{0xA5}, 4096*8)
	if _, err := f.WriteAt(junk, st.Size()/2); err != nil {
		t.Fatal(err)
	}
	f.Close()

	s2, err := Open(ctxT(t), path, Options{})
	if err != nil {
		if !errors.Is(err, store.ErrCorrupt) {
			t.Fatalf("Open(damaged) = %v, want ErrCorrupt or success", err)
		}
		return
	}
	defer s2.Close()
	var sawCorrupt bool
	after := ""
	for range 10 {
		page, err := s2.ListKeys(ctxT(t), after, 1000)
		if err != nil {
			if !errors.Is(err, store.ErrCorrupt) {
				t.Fatalf("ListKeys over damaged pages = %v, want ErrCorrupt", err)
			}
			sawCorrupt = true
			break
		}
		if len(page) == 0 {
			break
		}
		after = page[len(page)-1].ID
	}
	if err := s2.Check(ctxT(t)); !errors.Is(err, store.ErrCorrupt) {
		t.Errorf("Check on a damaged file = %v, want ErrCorrupt", err)
	} else {
		sawCorrupt = true
	}
	if !sawCorrupt {
		t.Error("damage went unnoticed")
	}
}

func TestFullStoreIsErrFullAndKeepsCommittedKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "g.db")
	s := mustOpen(t, path, Options{})
	createN(t, s, "A", 5)
	var pages int64
	if err := s.db.QueryRow("PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	s.Close()

	full := mustOpen(t, path, Options{maxPageCount: pages + 2})
	var created int
	var err error
	for i := range 2000 {
		k := storetest.NewKey(fmt.Sprintf("F%011d", i), time.Now())
		k.Name = strings.Repeat("n", 200)
		if err = full.CreateKey(ctxT(t), &k); err != nil {
			break
		}
		created++
	}
	if !errors.Is(err, store.ErrFull) || !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("CreateKey into a full store = %v, want ErrFull", err)
	}
	full.Close()

	s2 := mustOpen(t, path, Options{})
	n := 0
	after := ""
	for {
		page, err := s2.ListKeys(ctxT(t), after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		n += len(page)
		after = page[len(page)-1].ID
	}
	if n != 5+created {
		t.Errorf("after the store filled up, %d keys remain; want %d (5 + %d committed)", n, 5+created, created)
	}
	chs, err := s2.Changes(ctxT(t), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(chs) != n {
		t.Errorf("%d changes for %d keys: a change was committed without its key or the reverse", len(chs), n)
	}
}

func TestOtherProgramsDatabaseIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "other.db")
	db := rawDB(t, path)
	if _, err := db.Exec("CREATE TABLE invoices (id INTEGER PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err := Open(ctxT(t), path, Options{})
	if err == nil || !strings.Contains(err.Error(), "another program") {
		t.Fatalf("Open(other program's database) = %v, want a refusal", err)
	}
	db = rawDB(t, path)
	var n int
	db.QueryRow("SELECT count(*) FROM sqlite_master WHERE name = 'api_keys'").Scan(&n)
	if n != 0 {
		t.Error("Open created gatehouse tables inside another program's database")
	}
}

func TestNewerSchemaIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "g.db")
	s := mustOpen(t, path, Options{})
	if _, err := s.db.Exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 0)"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err := Open(ctxT(t), path, Options{})
	if !errors.Is(err, store.ErrSchemaTooNew) {
		t.Fatalf("Open(newer schema) = %v, want ErrSchemaTooNew", err)
	}
}

func TestMissingFolderIsAClearError(t *testing.T) {
	_, err := Open(ctxT(t), filepath.Join(t.TempDir(), "no", "such", "dir", "g.db"), Options{})
	if !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), "folder does not exist") {
		t.Errorf("Open in a missing folder = %v", err)
	}
}

func TestPrunedChangesAreReported(t *testing.T) {
	path := filepath.Join(t.TempDir(), "g.db")
	s := mustOpen(t, path, Options{})
	// Pretend a long history was pruned.
	if _, err := s.db.Exec("INSERT INTO meta (key, value) VALUES ('changes_pruned_through', 50)"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Changes(ctxT(t), 10); !errors.Is(err, store.ErrChangesPruned) {
		t.Errorf("Changes(before the pruned point) = %v, want ErrChangesPruned", err)
	}
	var resets int
	w := store.NewWatcher(s, store.WatcherOptions{})
	w.Subscribe(func(c store.Change) {
		if c.Kind == store.ChangeReset {
			resets++
		}
	})
	if err := w.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	createN(t, s, "A", 1)
	// The watcher's cursor (0) is behind the pruned point: it must reset, not miss.
	if err := w.Poll(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if resets != 1 {
		t.Errorf("resets = %d, want 1", resets)
	}
}
