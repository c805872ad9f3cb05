// Package pgtest gives tests a PostgreSQL database of their own: NewDatabase creates a
// fresh, empty database on the test server and drops it when the test ends.
//
// The server is the one GATEHOUSE_TEST_POSTGRES names (a libpq URL of a role that may
// create databases), by default postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable.
// When it cannot be reached the test is skipped with the reason, unless the CI
// environment variable is set: there a missing server is a failure, not a skip.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultAdminDSN is the server tests use when GATEHOUSE_TEST_POSTGRES is not set.
const DefaultAdminDSN = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// AdminDSN is the URL of the test server's administrative role.
func AdminDSN() string {
	if v := os.Getenv("GATEHOUSE_TEST_POSTGRES"); v != "" {
		return v
	}
	return DefaultAdminDSN
}

// Admin connects to the test server as its administrative role, skipping (or, under
// CI, failing) the test when the server is unreachable. The connection is closed when
// the test ends.
func Admin(t testing.TB) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, AdminDSN())
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("PostgreSQL test server unreachable (CI is set, so this fails instead of skipping): %v", err)
		}
		t.Skipf("PostgreSQL test server unreachable, skipping (set GATEHOUSE_TEST_POSTGRES, or CI=1 to fail instead): %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// NewDatabase creates an empty database named gatehouse_test_<random> and returns a
// URL for it (the admin URL with the database replaced). The database is dropped, with
// any connection still open to it, when the test ends.
func NewDatabase(t testing.TB) string {
	t.Helper()
	admin := Admin(t)
	name := "gatehouse_test_" + randomHex(8)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	return WithDatabase(AdminDSN(), name)
}

// WithDatabase returns dsn with its database replaced by name.
func WithDatabase(dsn, name string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		panic("pgtest: bad DSN: " + err.Error())
	}
	u.Path = "/" + name
	return u.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
