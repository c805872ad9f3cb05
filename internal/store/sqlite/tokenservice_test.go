package sqlite_test

import (
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store/sqlite"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

// TestStoreOfTheFirstSchemaMigratesToTheTokenService opens a store written before the
// token service existed (schema version 1, with a key in it): it is migrated in place,
// the key survives, and the new tables work.
func TestStoreOfTheFirstSchemaMigratesToTheTokenService(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	init1, err := os.ReadFile("migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		string(init1),
		"CREATE TABLE schema_migrations (version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
		"INSERT INTO schema_migrations VALUES (1, 'init', 0)",
		"INSERT INTO api_keys (id, name, env, scopes, secret_hash, hash_alg, created_at) VALUES ('AAAAAAAAAAA1', 'old', 'live', '', x'00', 'sha256', 0)",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("building a version-1 store: %v", err)
		}
	}
	db.Close()

	s := openFile(t, path, sqlite.Options{})
	if _, err := s.Key(testCtx(t), "AAAAAAAAAAA1"); err != nil {
		t.Errorf("the key of the old schema: %v", err)
	}
	c := storetest.NewClient("gc_AAAAAAAAAAAAAAAA", time.Now())
	if err := s.CreateClient(testCtx(t), &c); err != nil {
		t.Errorf("CreateClient after the migration: %v", err)
	}
	k := storetest.NewSigningKey("kid-1", time.Now(), time.Now())
	if err := s.AddSigningKey(testCtx(t), &k, time.Hour); err != nil {
		t.Errorf("AddSigningKey after the migration: %v", err)
	}
	if v := sqlite.SchemaVersion(); v != 5 {
		t.Errorf("SchemaVersion = %d, want 5", v)
	}
}
