package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlite"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func openFile(t *testing.T, path string, o sqlite.Options) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(testCtx(t), path, o)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openFile(t, filepath.Join(t.TempDir(), "gatehouse.db"), sqlite.Options{})
	})
}

func TestConformanceInMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openFile(t, ":memory:", sqlite.Options{})
	})
}

func TestOpenByDSNSelectsSQLite(t *testing.T) {
	dir := t.TempDir()
	dsn := store.ResolveDSN("sqlite://data.db?busy_timeout=2s", dir)
	if want := "sqlite://" + filepath.Join(dir, "data.db") + "?busy_timeout=2s"; dsn != want {
		t.Fatalf("ResolveDSN = %q, want %q", dsn, want)
	}
	s, err := store.Open(testCtx(t), dsn)
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	defer s.Close()
	if _, err := os.Stat(filepath.Join(dir, "data.db")); err != nil {
		t.Errorf("the store file was not created beside the config: %v", err)
	}
}

func TestOpenRefusesUnknownSchemesAndParameters(t *testing.T) {
	tests := []struct{ dsn, want string }{
		{"mysql://x", "unsupported scheme"},
		{"gatehouse.db", "not a store URL"},
		{"sqlite://", "no path"},
		{"sqlite://x.db?cache=shared", "unknown DSN parameter"},
		{"sqlite://x.db?busy_timeout=soon", "not a duration"},
		{"sqlite://x.db?mode=rwc", "mode must be"},
	}
	for _, tc := range tests {
		t.Run(tc.dsn, func(t *testing.T) {
			_, err := store.Open(testCtx(t), tc.dsn)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open(%q) = %v, want an error containing %q", tc.dsn, err, tc.want)
			}
		})
	}
}

func TestRedactDSNHidesPasswords(t *testing.T) {
	got := store.RedactDSN("postgres://gw:hunter2@db.internal/gatehouse")
	if strings.Contains(got, "hunter2") {
		t.Errorf("RedactDSN kept the password: %s", got)
	}
	if _, err := store.Open(testCtx(t), "postgres://gw:hunter2@db.internal/gatehouse"); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("Open error leaks the password or succeeds: %v", err)
	}
}

func TestSchemaIsMigratedOnceAndRecorded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "g.db")
	s := openFile(t, path, sqlite.Options{})
	s.Close()
	// Concurrent opens of an existing store must not re-run migrations.
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := sqlite.Open(testCtx(t), path, sqlite.Options{})
			if err != nil {
				t.Errorf("reopen: %v", err)
				return
			}
			s.Close()
		}()
	}
	wg.Wait()
	if sqlite.SchemaVersion() < 1 {
		t.Fatalf("SchemaVersion = %d", sqlite.SchemaVersion())
	}
}

func TestConcurrentFirstOpensMigrateOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "g.db")
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := sqlite.Open(testCtx(t), path, sqlite.Options{})
			if err != nil {
				t.Errorf("first open: %v", err)
				return
			}
			s.Close()
		}()
	}
	wg.Wait()
	s := openFile(t, path, sqlite.Options{})
	k := storetest.NewKey("AAAAAAAAAAA1", time.Now())
	if err := s.CreateKey(testCtx(t), &k); err != nil {
		t.Fatalf("CreateKey after concurrent first opens: %v", err)
	}
}
