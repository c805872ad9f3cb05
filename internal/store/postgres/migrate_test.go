package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
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

// exec runs statements on dsn's database as the test's admin role.
func exec(t *testing.T, dsn string, stmts ...string) {
	t.Helper()
	conn, err := pgx.Connect(testCtx(t), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for _, q := range stmts {
		if _, err := conn.Exec(testCtx(t), q); err != nil {
			t.Fatalf("%.60s...: %v", q, err)
		}
	}
}

func TestEmptyDatabaseMigratesToTheLatestSchema(t *testing.T) {
	s, _ := openFresh(t)
	from, to := s.Migrated()
	if from != 0 || to != postgres.SchemaVersion() {
		t.Errorf("Migrated() = %d, %d; want 0, %d", from, to, postgres.SchemaVersion())
	}
	if v := postgres.SchemaVersion(); v != 5 {
		t.Errorf("SchemaVersion = %d, want 5", v)
	}
}

// TestStoreOfTheFirstSchemaMigratesToTheTokenService opens a database written before the
// token service existed (schema version 1, with a key in it): it is migrated in place,
// the key survives, and the new tables work.
func TestStoreOfTheFirstSchemaMigratesToTheTokenService(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	init1, err := os.ReadFile("migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	exec(t, dsn,
		string(init1),
		"CREATE TABLE schema_migrations (version integer NOT NULL PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
		"INSERT INTO schema_migrations (version, name) VALUES (1, 'init')",
		"INSERT INTO api_keys (id, name, env, scopes, secret_hash, hash_alg, created_at) VALUES ('AAAAAAAAAAA1', 'old', 'live', '', '\\x00', 'sha256', now())",
	)

	if _, err := postgres.Open(testCtx(t), postgres.Config{DSN: dsn, NoMigrate: true}); err == nil || !strings.Contains(err.Error(), "gatehouse store migrate") {
		t.Errorf("Open with NoMigrate on version 1 = %v, want a refusal naming `gatehouse store migrate`", err)
	}

	s := openDSN(t, postgres.Config{DSN: dsn})
	if from, to := s.Migrated(); from != 1 || to != postgres.SchemaVersion() {
		t.Errorf("Migrated() = %d, %d; want 1, %d", from, to, postgres.SchemaVersion())
	}
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
}

func TestSchemaNewerThanThisBuildIsRefused(t *testing.T) {
	s, dsn := openFresh(t)
	s.Close()
	exec(t, dsn, "INSERT INTO schema_migrations (version, name) VALUES (99, 'from_the_future')")
	_, err := postgres.Open(testCtx(t), postgres.Config{DSN: dsn})
	if !errors.Is(err, store.ErrSchemaTooNew) || !strings.Contains(err.Error(), "upgrade gatehouse") {
		t.Fatalf("Open on schema 99 = %v, want ErrSchemaTooNew saying to upgrade", err)
	}
}

func TestDatabaseOfAnotherProgramIsRefused(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	exec(t, dsn, "CREATE TABLE invoices (id int PRIMARY KEY)")
	_, err := postgres.Open(testCtx(t), postgres.Config{DSN: dsn})
	if err == nil || !strings.Contains(err.Error(), "another program") {
		t.Fatalf("Open on a database with foreign tables = %v, want a refusal", err)
	}
}

// TestReplicasStartingTogetherMigrateOnce opens the same empty database from several
// stores at once, as replicas of one deployment starting together do: every one
// succeeds, exactly one applies the migrations, and each migration is recorded once.
func TestReplicasStartingTogetherMigrateOnce(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	const n = 4
	stores := make([]*postgres.Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			stores[i], errs[i] = postgres.Open(testCtx(t), postgres.Config{DSN: dsn})
		}()
	}
	close(start)
	wg.Wait()
	migrated := 0
	for i := range n {
		if errs[i] != nil {
			t.Errorf("replica %d: %v", i, errs[i])
			continue
		}
		defer stores[i].Close()
		if from, to := stores[i].Migrated(); from != to {
			migrated++
		}
	}
	if migrated != 1 {
		t.Errorf("%d replicas migrated, want exactly 1", migrated)
	}
	conn, err := pgx.Connect(testCtx(t), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var rows, distinct int
	if err := conn.QueryRow(testCtx(t), "SELECT count(*), count(DISTINCT version) FROM schema_migrations").Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	if rows != postgres.SchemaVersion() || distinct != rows {
		t.Errorf("schema_migrations has %d rows (%d versions), want %d", rows, distinct, postgres.SchemaVersion())
	}
}

// TestStoreOfThePreviousSchemaMigratesInPlace opens a database at the schema before
// this build's (the previous release's), holding an OAuth client: it is migrated to the
// latest version in place, the client survives, and it gets the new column's default
// (no permission to introspect other clients' tokens).
func TestStoreOfThePreviousSchemaMigratesInPlace(t *testing.T) {
	prev := postgres.SchemaVersion() - 1
	dsn := pgtest.NewDatabase(t)
	stmts := []string{"CREATE TABLE schema_migrations (version integer NOT NULL PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"}
	files, err := filepath.Glob("migrations/*.sql")
	if err != nil || len(files) < prev {
		t.Fatalf("migrations: %v %v", files, err)
	}
	slices.Sort(files)
	for i, f := range files[:prev] {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		stmts = append(stmts, string(b), fmt.Sprintf("INSERT INTO schema_migrations (version, name) VALUES (%d, 'v%d')", i+1, i+1))
	}
	stmts = append(stmts, `INSERT INTO oauth_clients (id, name, secret_hash, hash_alg, scopes, audience, access_token_ttl, created_at)
		VALUES ('gc_PREVIOUSVERSION1', 'old', '\x00', 'sha256', 'orders:read', 'api://orders', 60000000, now())`)
	exec(t, dsn, stmts...)

	s := openDSN(t, postgres.Config{DSN: dsn})
	if from, to := s.Migrated(); from != prev || to != postgres.SchemaVersion() {
		t.Fatalf("Migrated() = %d, %d; want %d, %d", from, to, prev, postgres.SchemaVersion())
	}
	c, err := s.Client(testCtx(t), "gc_PREVIOUSVERSION1")
	if err != nil {
		t.Fatalf("the client of the previous schema: %v", err)
	}
	if c.Introspect || c.Name != "old" {
		t.Errorf("migrated client = %+v, want it kept, without the introspect permission", c)
	}
}
