package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migrations returns the embedded migrations in version order (store.ReadMigrations).
func migrations() ([]store.Migration, error) {
	ms, err := store.ReadMigrations(migrationFS, "migrations")
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
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

// currentVersion reads the applied schema version without writing: 0 for an empty file.
// A file holding tables that are not Gatehouse's is refused, so a mistyped store path
// never grows our tables inside another program's database.
func (s *Store) currentVersion(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (int, error) {
	// One statement, one snapshot: two separate reads could straddle another process's
	// migration and see its tables without its schema_migrations.
	var n, tables int
	if err := q.QueryRowContext(ctx, "SELECT (SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'), (SELECT count(*) FROM sqlite_master WHERE type = 'table')").Scan(&n, &tables); err != nil {
		return 0, s.opErr("read schema version", err)
	}
	if n == 0 {
		if tables > 0 {
			return 0, fmt.Errorf("sqlite: open %s: the file is a SQLite database of another program (it has %d tables and no schema_migrations); refusing to use it as a gatehouse store", s.path, tables)
		}
		return 0, nil
	}
	var v sql.NullInt64
	if err := q.QueryRowContext(ctx, "SELECT max(version) FROM schema_migrations").Scan(&v); err != nil {
		return 0, s.opErr("read schema version", err)
	}
	return int(v.Int64), nil
}

// migrate applies the migrations the file lacks, each in its own transaction together
// with its schema_migrations row. Several processes opening a new store at once are
// safe: the version is re-read under the write lock.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	v, err := s.currentVersion(ctx, s.db)
	if err != nil {
		return err
	}
	switch {
	case v > len(ms):
		return fmt.Errorf("sqlite: open %s: %w (schema version %d, this build knows %d); upgrade gatehouse", s.path, store.ErrSchemaTooNew, v, len(ms))
	case v == len(ms):
		return nil
	case s.readOnly:
		return fmt.Errorf("sqlite: open %s: %w: the schema needs migrating (version %d to %d) but the store was opened read-only", s.path, store.ErrReadOnly, v, len(ms))
	}
	return s.tx(ctx, "migrate", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER NOT NULL PRIMARY KEY,
			name       TEXT    NOT NULL,
			applied_at INTEGER NOT NULL
		)`); err != nil {
			return s.opErr("migrate", err)
		}
		v, err := s.currentVersion(ctx, tx)
		if err != nil {
			return err
		}
		if v > len(ms) {
			return fmt.Errorf("sqlite: open %s: %w (schema version %d, this build knows %d)", s.path, store.ErrSchemaTooNew, v, len(ms))
		}
		for _, m := range ms[v:] {
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return fmt.Errorf("sqlite: migration %04d_%s: %w", m.Version, m.Name, classify(err))
			}
			if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
				m.Version, m.Name, time.Now().UnixMicro()); err != nil {
				return s.opErr("migrate", err)
			}
		}
		return nil
	})
}
