// Package sqlite is the SQLite backend of the credential store, on modernc.org/sqlite
// (pure Go, no cgo). It registers the DSN scheme "sqlite":
//
//	sqlite://gatehouse.db          relative to the working directory (see store.ResolveDSN)
//	sqlite:///var/lib/gatehouse.db absolute
//	sqlite://:memory:              in memory, one connection (demo and tests)
//
// with optional query parameters busy_timeout (a Go duration, default 5s) and mode=ro.
//
// The database runs in WAL mode (readers never block the writer, so a CLI revoking a key
// does not stall a gateway serving requests), with synchronous=FULL so a committed key is
// on disk before `keys create` prints it, foreign keys on, and write transactions that
// take the write lock up front (BEGIN IMMEDIATE) and wait up to the busy timeout for it.
// The schema is created and upgraded by numbered migrations embedded in the binary
// (migrations/NNNN_name.sql), recorded in schema_migrations; a store written by a newer
// Gatehouse is refused rather than misread.
//
// Driver failures are classified into the store's errors: a write lock held past the
// busy timeout is store.ErrLocked, a read-only file store.ErrReadOnly, a file that is not
// a database or has damaged pages store.ErrCorrupt, a full disk store.ErrFull. All of
// them are store.ErrUnavailable; none loses committed data.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

func init() {
	store.Register("sqlite", func(ctx context.Context, dsn string) (store.Store, error) {
		path, opts, err := ParseDSN(dsn)
		if err != nil {
			return nil, err
		}
		return Open(ctx, path, opts)
	})
}

// Options tune Open. The zero value means the documented defaults.
type Options struct {
	// BusyTimeout is how long a write waits for another writer's lock before failing
	// with store.ErrLocked; 5s when zero.
	BusyTimeout time.Duration
	// ReadOnly opens the file read-only: every write fails with store.ErrReadOnly. The
	// schema must already be current.
	ReadOnly bool
	// MaxConns bounds the connection pool; 8 when zero. An in-memory store always has 1.
	MaxConns int

	// maxPageCount caps the database size in pages, so tests can fill it.
	maxPageCount int64
}

// ParseDSN splits a sqlite:// DSN into the file path and options.
func ParseDSN(dsn string) (string, Options, error) {
	var o Options
	rest, ok := strings.CutPrefix(dsn, "sqlite://")
	if !ok {
		return "", o, fmt.Errorf("sqlite: %q is not a sqlite:// URL", dsn)
	}
	path, query, _ := strings.Cut(rest, "?")
	if path == "" {
		return "", o, fmt.Errorf("sqlite: the DSN has no path (sqlite://PATH)")
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return "", o, fmt.Errorf("sqlite: bad DSN query: %w", err)
	}
	for k, v := range q {
		switch k {
		case "busy_timeout":
			d, err := time.ParseDuration(v[0])
			if err != nil || d < 0 {
				return "", o, fmt.Errorf("sqlite: busy_timeout %q is not a duration like 5s", v[0])
			}
			o.BusyTimeout = d
		case "mode":
			if v[0] != "ro" && v[0] != "rw" {
				return "", o, fmt.Errorf("sqlite: mode must be ro or rw")
			}
			o.ReadOnly = v[0] == "ro"
		default:
			return "", o, fmt.Errorf("sqlite: unknown DSN parameter %q (known: busy_timeout, mode)", k)
		}
	}
	return path, o, nil
}

// Store is a credential store in one SQLite file. It implements store.Store.
type Store struct {
	db          *sql.DB
	path        string
	readOnly    bool
	busyTimeout time.Duration
	getKey      *sql.Stmt
	getUser     *sql.Stmt
	latest      *sql.Stmt
}

var _ store.Store = (*Store)(nil)

// Open opens (creating it if needed, unless read-only) the store at path and brings its
// schema up to date.
func Open(ctx context.Context, path string, o Options) (*Store, error) {
	if o.BusyTimeout == 0 {
		o.BusyTimeout = 5 * time.Second
	}
	if o.MaxConns <= 0 {
		o.MaxConns = 8
	}
	memory := path == ":memory:"
	if !memory && !o.ReadOnly {
		if dir := filepath.Dir(path); dir != "" {
			if _, err := os.Stat(dir); err != nil {
				return nil, fmt.Errorf("sqlite: open %s: the folder does not exist: %w: %w", path, store.ErrUnavailable, err)
			}
		}
	} else if o.ReadOnly {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("sqlite: open %s read-only: %w: %w", path, store.ErrUnavailable, err)
		}
	}
	if !memory && !o.ReadOnly {
		if err := createPrivate(path); err != nil {
			return nil, fmt.Errorf("sqlite: create %s: %w: %w", path, store.ErrUnavailable, err)
		}
	}
	params := url.Values{}
	params.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", o.BusyTimeout.Milliseconds()))
	params.Add("_pragma", "foreign_keys(1)")
	params.Add("_pragma", "synchronous(FULL)")
	params.Set("_txlock", "immediate")
	if o.maxPageCount > 0 {
		params.Add("_pragma", fmt.Sprintf("max_page_count(%d)", o.maxPageCount))
	}
	var name string
	if memory {
		name = ":memory:?" + params.Encode()
		o.MaxConns = 1
	} else {
		if o.ReadOnly {
			params.Set("mode", "ro")
		}
		name = "file:" + escapePath(path) + "?" + params.Encode()
	}
	db, err := sql.Open("sqlite", name)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, classify(err))
	}
	db.SetMaxOpenConns(o.MaxConns)
	db.SetMaxIdleConns(o.MaxConns)
	s := &Store{db: db, path: path, readOnly: o.ReadOnly, busyTimeout: o.BusyTimeout}
	if err := s.init(ctx, memory); err != nil {
		db.Close()
		if !memory && !o.ReadOnly {
			if werr := checkWritable(path); werr != nil && !errors.Is(err, store.ErrCorrupt) {
				return nil, fmt.Errorf("sqlite: open %s: %w: %w (%w)", path, store.ErrReadOnly, werr, err)
			}
		}
		return nil, err
	}
	return s, nil
}

// FileMode is the mode Open creates a store's files with: the database holds password
// hashes, key hashes and sealed signing keys, so only the owner may read it.
const FileMode os.FileMode = 0o600

// createPrivate creates the database file, empty and with FileMode, when it does not
// exist. SQLite gives the -wal and -shm files it creates later the database file's own
// permissions, so creating the database ourselves (rather than letting SQLite create it
// with 0644 less the umask) is what keeps all three private. An existing file is left
// as it is: Exposed reports it when it is too open.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, FileMode)
	if errors.Is(err, os.ErrExist) {
		return nil
	}
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			// A read-only folder: let the open below fail and checkWritable explain it.
			return nil
		}
		return err
	}
	// The umask can only remove bits, but a file system may ignore the mode asked for.
	if err := f.Chmod(FileMode); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ExposedFile is a file of a store that users other than its owner may access.
type ExposedFile struct {
	Path string
	Mode os.FileMode
}

// Exposed returns the files of the store at path (the database and, when they exist, its
// -wal and -shm files) that the group or other users may read or write, so that the
// caller can warn: they hold password hashes, key hashes and sealed signing keys. An
// in-memory store has none. Files that cannot be examined are left out.
func Exposed(path string) []ExposedFile {
	if path == "" || path == ":memory:" {
		return nil
	}
	var out []ExposedFile
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if m := fi.Mode().Perm(); m&0o077 != 0 {
			out = append(out, ExposedFile{Path: p, Mode: m})
		}
	}
	return out
}

// checkWritable explains a failed open: SQLite reports a file it may only read, or a
// folder where it cannot create its -wal and -shm files, as "unable to open".
func checkWritable(path string) error {
	if f, err := os.OpenFile(path, os.O_RDWR, 0); err == nil {
		f.Close()
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("the file is not writable: %w", err)
	}
	probe, err := os.CreateTemp(filepath.Dir(path), ".gatehouse-write-probe-*")
	if err != nil {
		return fmt.Errorf("the folder is not writable (SQLite needs to create %s-wal and -shm beside the file): %w", filepath.Base(path), err)
	}
	probe.Close()
	os.Remove(probe.Name())
	return nil
}

// escapePath makes a file path safe inside a file: URI.
func escapePath(p string) string {
	r := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23")
	return r.Replace(p)
}

// enableWAL switches the file to WAL. Changing the journal mode needs an exclusive lock
// and SQLite answers SQLITE_BUSY at once, without its busy handler, when another process
// opens the same new file at the same moment (serve starting while keys create runs), so
// it is retried here for up to the busy timeout.
func (s *Store) enableWAL(ctx context.Context) (string, error) {
	deadline := time.Now().Add(s.busyTimeout)
	for wait := 5 * time.Millisecond; ; wait = min(wait*2, 100*time.Millisecond) {
		var mode string
		err := s.db.QueryRowContext(ctx, "PRAGMA journal_mode=WAL").Scan(&mode)
		if err == nil || !isBusy(err) || time.Now().After(deadline) {
			return mode, err
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(wait):
		}
	}
}

func isBusy(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "SQLITE_BUSY") || strings.Contains(msg, "database is locked")
}

func (s *Store) init(ctx context.Context, memory bool) error {
	if !memory && !s.readOnly {
		// WAL is a property of the file: set it once here rather than on every
		// connection. Readers then never block the writer, and the writer never
		// blocks readers.
		mode, err := s.enableWAL(ctx)
		if err != nil {
			return s.opErr("open", err)
		}
		if !strings.EqualFold(mode, "wal") {
			return fmt.Errorf("sqlite: open %s: could not switch to WAL mode (journal mode is %s)", s.path, mode)
		}
	}
	if err := s.migrate(ctx); err != nil {
		return err
	}
	var err error
	if s.getKey, err = s.db.PrepareContext(ctx, "SELECT "+keyColumns+" FROM api_keys WHERE id = ?"); err != nil {
		return s.opErr("prepare", err)
	}
	if s.getUser, err = s.db.PrepareContext(ctx, "SELECT "+userColumns+" FROM users WHERE name = ?"); err != nil {
		return s.opErr("prepare", err)
	}
	if s.latest, err = s.db.PrepareContext(ctx, "SELECT coalesce(max(seq), 0) FROM changes"); err != nil {
		return s.opErr("prepare", err)
	}
	return nil
}

// Path is the file the store was opened on.
func (s *Store) Path() string { return s.path }

// Ping checks that the store can be read.
func (s *Store) Ping(ctx context.Context) error {
	_, err := s.LatestChange(ctx)
	return err
}

// Check runs SQLite's quick_check over the whole file, for `doctor`-style diagnostics; it
// reads every page, so it takes a while on large stores.
func (s *Store) Check(ctx context.Context) error {
	rows, err := s.db.QueryContext(ctx, "PRAGMA quick_check")
	if err != nil {
		return s.opErr("check", err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return s.opErr("check", err)
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	if err := rows.Err(); err != nil {
		return s.opErr("check", err)
	}
	if len(problems) > 0 {
		if len(problems) > 5 {
			problems = append(problems[:5], fmt.Sprintf("and %d more", len(problems)-5))
		}
		return fmt.Errorf("sqlite: check %s: %w: %s", s.path, store.ErrCorrupt, strings.Join(problems, "; "))
	}
	return nil
}

// Close closes the store.
func (s *Store) Close() error {
	for _, st := range []*sql.Stmt{s.getKey, s.getUser, s.latest} {
		if st != nil {
			st.Close()
		}
	}
	if err := s.db.Close(); err != nil {
		return s.opErr("close", err)
	}
	return nil
}

// opErr wraps a driver error with the operation and its store error kind.
func (s *Store) opErr(op string, err error) error {
	return fmt.Errorf("sqlite: %s (%s): %w", op, s.path, classify(err))
}

// classify maps a driver error onto the store's error kinds, keeping the driver error in
// the chain for errors.As and for the log.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return fmt.Errorf("%w: %w", store.ErrLocked, err)
		case sqlite3.SQLITE_READONLY:
			return fmt.Errorf("%w: %w", store.ErrReadOnly, err)
		case sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
			return fmt.Errorf("%w: %w", store.ErrCorrupt, err)
		case sqlite3.SQLITE_FULL:
			return fmt.Errorf("%w: %w", store.ErrFull, err)
		case sqlite3.SQLITE_CONSTRAINT:
			return fmt.Errorf("%w: %w", store.ErrInvalid, err)
		case sqlite3.SQLITE_CANTOPEN:
			return fmt.Errorf("%w: cannot open the database file or its -wal/-shm files: %w", store.ErrUnavailable, err)
		case sqlite3.SQLITE_IOERR:
			return fmt.Errorf("%w: disk I/O error: %w", store.ErrUnavailable, err)
		}
	}
	if errors.Is(err, store.ErrUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
}

func isUniqueViolation(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && (se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE)
}

// tx runs fn in a write transaction (BEGIN IMMEDIATE), committing when it returns nil.
func (s *Store) tx(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	if s.readOnly {
		return fmt.Errorf("sqlite: %s (%s): %w: opened with mode=ro", op, s.path, store.ErrReadOnly)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.opErr(op, err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return s.opErr(op, err)
	}
	return nil
}

// Times are microseconds since the epoch; NULL is the zero time.

func toMicro(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func fromMicro(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.UnixMicro(n.Int64).UTC()
}

func joinScopes(s []string) string { return strings.Join(s, " ") }

func splitScopes(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Fields(s)
}
