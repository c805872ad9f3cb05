package sqlite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
	var c Counts
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return c, s.opErr("count", err)
	}
	defer tx.Rollback()
	for _, q := range []struct {
		sql string
		dst any
	}{
		{"SELECT count(*) FROM api_keys", &c.Keys},
		{"SELECT count(*) FROM users", &c.Users},
		{"SELECT count(*) FROM oauth_clients", &c.Clients},
		{"SELECT count(*) FROM revoked_tokens", &c.RevokedTokens},
		{"SELECT count(*) FROM signing_keys", &c.SigningKeys},
		{"SELECT count(*) FROM changes", &c.Changes},
		{"SELECT coalesce(max(seq), 0) FROM changes", &c.LatestChange},
		{"SELECT coalesce(max(version), 0) FROM schema_migrations", &c.SchemaVersion},
	} {
		if err := tx.QueryRowContext(ctx, q.sql).Scan(q.dst); err != nil {
			return c, s.opErr("count", err)
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
	var none Counts
	if path == "" || path == ":memory:" {
		return none, errors.New("sqlite: backup: the target must be a file path")
	}
	if err := s.refuseOwnFiles(path); err != nil {
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
	if _, err := s.db.ExecContext(ctx, "VACUUM INTO ?", tmpPath); err != nil {
		return none, s.opErr("backup", err)
	}
	if err := syncFile(tmpPath); err != nil {
		return none, fmt.Errorf("sqlite: backup to %s: %w", path, err)
	}

	// Check what was written before it gets the name asked for.
	copyStore, err := Open(ctx, tmpPath, Options{ReadOnly: true, MaxConns: 1})
	if err != nil {
		return none, fmt.Errorf("sqlite: backup to %s: the copy does not open: %w", path, err)
	}
	counts, err := copyStore.Counts(ctx)
	if err == nil {
		err = copyStore.Check(ctx)
	}
	copyStore.Close()
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

// refuseOwnFiles refuses a backup target that is the store's database or one of its
// -wal and -shm files: replacing any of them under a running store would destroy it.
func (s *Store) refuseOwnFiles(target string) error {
	if s.path == "" || s.path == ":memory:" {
		return nil
	}
	tfi, err := os.Stat(target)
	if err != nil {
		return nil // nothing there (yet): it cannot be one of ours
	}
	for _, p := range []string{s.path, s.path + "-wal", s.path + "-shm", s.path + "-journal"} {
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
