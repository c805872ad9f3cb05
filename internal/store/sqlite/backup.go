package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// ErrBackupExists is returned by Backup when the target file exists and overwriting was
// not asked for.
var ErrBackupExists = errors.New("the backup file already exists")

// BackupOptions tune Backup. The zero value refuses to replace an existing file.
type BackupOptions struct {
	// Overwrite replaces an existing file at the target path. The replacement is
	// atomic: the old file stays whole until the new copy is complete.
	Overwrite bool
}

// Counts are the records of a store, by kind.
type Counts struct {
	Keys          int   `json:"keys"`
	Users         int   `json:"users"`
	Clients       int   `json:"clients"`
	RevokedTokens int   `json:"revoked_tokens"`
	SigningKeys   int   `json:"signing_keys"`
	Changes       int   `json:"changes"`
	LatestChange  int64 `json:"latest_change"`
	// SchemaVersion is the highest migration applied.
	SchemaVersion int `json:"schema_version"`
}

// Counts counts the store's records in one read transaction, so the numbers agree with
// each other.
func (s *Store) Counts(ctx context.Context) (Counts, error) {
	c, err := countRecords(ctx, s.db)
	if err != nil {
		return c, s.opErr("count", err)
	}
	return c, nil
}

// countRecords counts the records of the database behind db in one read transaction.
// Tables that the file's schema version does not have yet count as empty, so a store
// written by an older Gatehouse can be counted (and backed up) without migrating it.
func countRecords(ctx context.Context, db *sql.DB) (Counts, error) {
	var c Counts
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return c, err
	}
	defer tx.Rollback()
	present := map[string]bool{}
	rows, err := tx.QueryContext(ctx, "SELECT name FROM sqlite_master WHERE type = 'table'")
	if err != nil {
		return c, err
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return c, err
		}
		present[name] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return c, err
	}
	if !present["schema_migrations"] {
		return c, errors.New("not a gatehouse store: it has no schema_migrations table")
	}
	for _, q := range []struct {
		table, sql string
		dst        any
	}{
		{"api_keys", "SELECT count(*) FROM api_keys", &c.Keys},
		{"users", "SELECT count(*) FROM users", &c.Users},
		{"oauth_clients", "SELECT count(*) FROM oauth_clients", &c.Clients},
		{"revoked_tokens", "SELECT count(*) FROM revoked_tokens", &c.RevokedTokens},
		{"signing_keys", "SELECT count(*) FROM signing_keys", &c.SigningKeys},
		{"changes", "SELECT count(*) FROM changes", &c.Changes},
		{"changes", "SELECT coalesce(max(seq), 0) FROM changes", &c.LatestChange},
		{"schema_migrations", "SELECT coalesce(max(version), 0) FROM schema_migrations", &c.SchemaVersion},
	} {
		if !present[q.table] {
			continue
		}
		if err := tx.QueryRowContext(ctx, q.sql).Scan(q.dst); err != nil {
			return c, err
		}
	}
	return c, nil
}

// Backup writes a consistent copy of the store to path while the store stays in use,
// and returns the records found in the copy.
//
// The copy is SQLite's VACUUM INTO: it reads the database inside one read transaction,
// so it is a snapshot of one committed state (never half a transaction), and in WAL mode
// it blocks neither the gateway's readers nor the writers of other processes (a CLI
// creating keys, another gateway). The result is a single self-contained file, with no
// -wal to carry along, compacted as a side effect.
//
// The copy is written beside path under a temporary name, created with FileMode (it
// holds the same password hashes, key hashes and sealed signing keys as the store),
// synced, checked with quick_check and counted, and only then put in place: an
// interrupted backup never leaves a partial file under the name asked for. An existing
// file at path is refused with ErrBackupExists unless o.Overwrite is set; the store's
// own files are always refused.
func (s *Store) Backup(ctx context.Context, path string, o BackupOptions) (Counts, error) {
	return backup(ctx, s.db, s.path, path, o)
}

// BackupFile is Backup of the store file at src, opened read-only and as it is: the file
// is neither created nor migrated, so a store written by an older Gatehouse (one that
// Open would have to migrate) can be backed up before an upgrade migrates it. A file that
// does not exist, or that is not a Gatehouse store, is refused.
func BackupFile(ctx context.Context, src, path string, o BackupOptions) (Counts, error) {
	var none Counts
	if src == "" || src == ":memory:" {
		return none, errors.New("sqlite: backup: the store must be a file")
	}
	if _, err := os.Stat(src); err != nil {
		return none, fmt.Errorf("sqlite: backup of %s: %w: %w", src, store.ErrUnavailable, err)
	}
	db, err := openRaw(src, 5*time.Second)
	if err != nil {
		return none, fmt.Errorf("sqlite: backup of %s: %w", src, classify(err))
	}
	defer db.Close()
	// Check the source before anything is written: a mistyped path must not produce a
	// "backup" of some other program's database.
	if _, err := countRecords(ctx, db); err != nil {
		return none, fmt.Errorf("sqlite: backup of %s: %w", src, classify(err))
	}
	return backup(ctx, db, src, path, o)
}

// openRaw opens the database file at path read-only, with no migration and no schema
// check, on one connection.
func openRaw(path string, busy time.Duration) (*sql.DB, error) {
	params := url.Values{}
	params.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busy.Milliseconds()))
	params.Set("mode", "ro")
	db, err := sql.Open("sqlite", "file:"+escapePath(path)+"?"+params.Encode())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// backup copies the database behind db (whose file, if any, is srcPath) to path.
func backup(ctx context.Context, db *sql.DB, srcPath, path string, o BackupOptions) (Counts, error) {
	var none Counts
	if path == "" || path == ":memory:" {
		return none, errors.New("sqlite: backup: the target must be a file path")
	}
	if err := refuseOwnFiles(srcPath, path); err != nil {
		return none, err
	}
	fi, err := os.Lstat(path)
	switch {
	case err == nil && !o.Overwrite:
		return none, fmt.Errorf("sqlite: backup to %s: %w (give --force to replace it)", path, ErrBackupExists)
	case err == nil && !fi.Mode().IsRegular() && fi.Mode()&os.ModeSymlink == 0:
		return none, fmt.Errorf("sqlite: backup to %s: it exists and is not a regular file", path)
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return none, fmt.Errorf("sqlite: backup to %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".partial-*")
	if err != nil {
		return none, fmt.Errorf("sqlite: backup to %s: %w", path, err)
	}
	tmpPath := tmp.Name()
	keep := false
	defer func() {
		if !keep {
			os.Remove(tmpPath)
		}
	}()
	// CreateTemp makes the file 0600 already; Chmod also covers file systems that
	// honour the umask differently. VACUUM INTO accepts an existing empty file and
	// keeps its mode.
	if err := tmp.Chmod(FileMode); err != nil {
		tmp.Close()
		return none, fmt.Errorf("sqlite: backup to %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return none, fmt.Errorf("sqlite: backup to %s: %w", path, err)
	}
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", tmpPath); err != nil {
		return none, fmt.Errorf("sqlite: backup (%s): %w", srcPath, classify(err))
	}
	if err := syncFile(tmpPath); err != nil {
		return none, fmt.Errorf("sqlite: backup to %s: %w", path, err)
	}

	// Check what was written before it gets the name asked for.
	counts, err := checkCopy(ctx, tmpPath)
	if err != nil {
		return none, fmt.Errorf("sqlite: backup to %s: the copy is not sound: %w", path, err)
	}

	if o.Overwrite {
		err = os.Rename(tmpPath, path)
	} else {
		// A hard link fails if path appeared meanwhile, so a file created by someone
		// else between the check above and now is never replaced.
		if err = os.Link(tmpPath, path); err == nil {
			os.Remove(tmpPath)
		} else if errors.Is(err, os.ErrExist) {
			err = fmt.Errorf("%w (give --force to replace it)", ErrBackupExists)
		}
	}
	if err != nil {
		return none, fmt.Errorf("sqlite: backup to %s: %w", path, err)
	}
	keep = true
	syncDir(dir)
	return counts, nil
}

// checkCopy runs quick_check over the copy at path and counts its records.
func checkCopy(ctx context.Context, path string) (Counts, error) {
	db, err := openRaw(path, time.Second)
	if err != nil {
		return Counts{}, err
	}
	defer db.Close()
	var result string
	if err := db.QueryRowContext(ctx, "PRAGMA quick_check(1)").Scan(&result); err != nil {
		return Counts{}, classify(err)
	}
	if result != "ok" {
		return Counts{}, fmt.Errorf("%w: %s", store.ErrCorrupt, result)
	}
	c, err := countRecords(ctx, db)
	if err != nil {
		return c, classify(err)
	}
	return c, nil
}

// refuseOwnFiles refuses a backup target that is the store's database or one of its
// -wal and -shm files: replacing any of them under a running store would destroy it.
func refuseOwnFiles(storePath, target string) error {
	if storePath == "" || storePath == ":memory:" {
		return nil
	}
	tfi, err := os.Stat(target)
	if err != nil {
		return nil // nothing there (yet): it cannot be one of ours
	}
	for _, p := range []string{storePath, storePath + "-wal", storePath + "-shm", storePath + "-journal"} {
		if fi, err := os.Stat(p); err == nil && os.SameFile(fi, tfi) {
			return fmt.Errorf("sqlite: backup to %s: that is the store's own file %s", target, filepath.Base(p))
		}
	}
	return nil
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// syncDir makes a rename or link in dir durable. It is best effort: some file systems
// cannot sync a directory, and the backup itself is already on disk.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
