package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migrations returns the embedded migrations in version order (store.ReadMigrations).
func migrations() ([]store.Migration, error) {
	ms, err := store.ReadMigrations(migrationFS, "migrations")
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return ms, nil
}

// SchemaVersion is the schema version this build migrates to.
func SchemaVersion() int {
	ms, err := migrations()
	if err != nil {
		return 0
	}
	return len(ms)
}

// migrationLockKey is the session-level advisory lock held while migrating, so that
// replicas starting at the same moment migrate once: the others wait, then find the
// schema current.
const migrationLockKey = 0x6761746568_02

type queryRower interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// currentVersion reads the applied schema version: 0 for an empty schema. A schema that
// holds tables but no schema_migrations belongs to another program and is refused, so a
// mistyped database name never grows our tables inside someone else's.
func (s *Store) currentVersion(ctx context.Context, q queryRower) (int, error) {
	var has bool
	var tables int
	err := q.QueryRow(ctx, `SELECT
		to_regclass('schema_migrations') IS NOT NULL,
		(SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema())`).Scan(&has, &tables)
	if err != nil {
		return 0, s.rightsErr("read the schema version", err)
	}
	if !has {
		if tables > 0 {
			return 0, unavailablef("postgres: %s already holds %d tables of another program and no gatehouse schema; refusing to use it as a gatehouse store (give gatehouse its own database)", s.where, tables)
		}
		return 0, nil
	}
	var v *int64
	if err := q.QueryRow(ctx, "SELECT max(version) FROM schema_migrations").Scan(&v); err != nil {
		return 0, s.rightsErr("read the schema version", err)
	}
	if v == nil {
		return 0, nil
	}
	return int(*v), nil
}

// rightsErr explains a permission failure in one sentence; other errors are classified.
func (s *Store) rightsErr(op string, err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42501" {
		return unavailablef("postgres: role %q lacks the rights gatehouse needs in %s (%s): make it the owner of the database, or GRANT USAGE, CREATE ON SCHEMA public and ALL ON ALL TABLES IN SCHEMA public TO it", s.connCfg.User, s.where, pe.Message)
	}
	return s.opErr(op, err)
}

// migrate brings the schema up to date (or, with noMigrate, only checks it).
func (s *Store) migrate(ctx context.Context, noMigrate bool) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	v, err := s.currentVersion(ctx, s.pool)
	if err != nil {
		return err
	}
	s.migratedFrom, s.migratedTo = v, v
	switch {
	case v > len(ms):
		return fmt.Errorf("postgres: %s: %w (schema version %d, this build knows %d): upgrade gatehouse", s.where, store.ErrSchemaTooNew, v, len(ms))
	case v == len(ms):
		return nil
	case noMigrate:
		return unavailablef("postgres: the schema of %s is at version %d and this build needs %d: run `gatehouse store migrate`", s.where, v, len(ms))
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return s.opErr("migrate", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", int64(migrationLockKey)); err != nil {
		return s.opErr("migrate: take the migration lock", err)
	}
	defer func() {
		if _, err := conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", int64(migrationLockKey)); err != nil {
			// The session lock would outlive us in the pool: drop the connection.
			conn.Conn().Close(context.WithoutCancel(ctx))
		}
	}()
	// Another replica may have migrated while we waited for the lock.
	v, err = s.currentVersion(ctx, conn)
	if err != nil {
		return err
	}
	s.migratedFrom, s.migratedTo = v, v
	if v > len(ms) {
		return fmt.Errorf("postgres: %s: %w (schema version %d, this build knows %d): upgrade gatehouse", s.where, store.ErrSchemaTooNew, v, len(ms))
	}
	for _, m := range ms[v:] {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
				version    integer     NOT NULL PRIMARY KEY,
				name       text        NOT NULL,
				applied_at timestamptz NOT NULL DEFAULT now()
			)`); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.Version, m.Name)
			return err
		})
		if err != nil {
			return s.rightsErr(fmt.Sprintf("migration %04d_%s", m.Version, m.Name), err)
		}
		s.migratedTo = m.Version
	}
	return nil
}
