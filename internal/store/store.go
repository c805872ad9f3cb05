package store

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Store is what every backend implements. It is the backend contract, checked by
// store/storetest; consumers should declare the few methods they use as their own small
// interface (the API-key verifier needs only Key and TouchKeys).
//
// All methods are safe for concurrent use. Times passed in are stored with microsecond
// precision in UTC. Errors wrap ErrNotFound, ErrExists, ErrRevoked, ErrInvalid or
// ErrUnavailable (and its kinds: ErrLocked, ErrReadOnly, ErrCorrupt, ErrFull).
type Store interface {
	KeyStore
	UserStore
	TokenServiceStore
	AdminStore
	ChangeLog
	// Ping checks that the store can be read, for readiness probes.
	Ping(ctx context.Context) error
	// Close releases the store. Calls after Close fail.
	Close() error
}

// KeyStore keeps API keys.
type KeyStore interface {
	// CreateKey stores a new key and appends a key_created change. A taken id is
	// ErrExists; the caller draws a new id and retries.
	CreateKey(ctx context.Context, k *APIKey) error
	// Key returns the key with that id, or ErrNotFound.
	Key(ctx context.Context, id string) (APIKey, error)
	// ListKeys returns up to limit keys with ids greater than after, in id order, so a
	// caller can page through a million keys without holding them all.
	ListKeys(ctx context.Context, after string, limit int) ([]APIKey, error)
	// RevokeKey revokes the key at at and appends a key_revoked change, in one
	// transaction. A key already revoked at or before at is returned unchanged, with no
	// change appended; a key in a rotation grace period is revoked at once.
	RevokeKey(ctx context.Context, id string, at time.Time) (APIKey, error)
	// RotateKey stores next as the replacement of the key oldID and ends the old key at
	// graceEnd (or at its earlier scheduled revocation), appending key_rotated for the
	// old key and key_created for the new one, in one transaction. It returns the old
	// key as updated. A revoked old key is ErrRevoked.
	RotateKey(ctx context.Context, oldID string, next *APIKey, graceEnd time.Time) (APIKey, error)
	// TouchKeys records when keys were last used, keeping the later of the stored and
	// the given time. Unknown ids are ignored. It appends no change: it is called every
	// few seconds with a batch, never once per request.
	TouchKeys(ctx context.Context, used map[string]time.Time) error
}

// UserStore keeps Basic users.
type UserStore interface {
	// AddUser stores a new user and appends user_added; a taken name is ErrExists.
	AddUser(ctx context.Context, u *User) error
	// User returns the user with that name, or ErrNotFound.
	User(ctx context.Context, name string) (User, error)
	// ListUsers returns up to limit users with names greater than after (byte order),
	// in name order, so a caller can page through every user.
	ListUsers(ctx context.Context, after string, limit int) ([]User, error)
	// SetPassword replaces a user's password hash and appends user_password.
	SetPassword(ctx context.Context, name, hash string, at time.Time) error
	// RemoveUser deletes a user and appends user_removed.
	RemoveUser(ctx context.Context, name string) error
	// ImportUsers adds or updates users in one transaction: all or nothing. An existing
	// user gets the new password hash, and the new scopes when they are not nil.
	ImportUsers(ctx context.Context, users []User) (ImportResult, error)
}

// ImportResult lists the names ImportUsers added and updated, in input order.
type ImportResult struct {
	Added   []string
	Updated []string
}

// ChangeLog is the change sequence a Watcher follows.
type ChangeLog interface {
	// Changes returns committed changes with Seq greater than after, in order, at most
	// MaxChangesBatch at a time. When changes after `after` were pruned it returns
	// ErrChangesPruned.
	Changes(ctx context.Context, after int64) ([]Change, error)
	// LatestChange returns the highest committed Seq, or 0 when there is none. It must
	// be cheap: a Watcher calls it several times a second.
	LatestChange(ctx context.Context) (int64, error)
}

// MaxChangesBatch is the most changes one Changes call returns.
const MaxChangesBatch = 1000

// Notifier is implemented by backends that can push change notifications (PostgreSQL's
// LISTEN/NOTIFY). A Watcher over a Notifier waits for notifications instead of polling,
// and still polls at its fallback interval in case one is lost.
type Notifier interface {
	// WaitForChange blocks until a change may have been committed, or ctx is done.
	WaitForChange(ctx context.Context) error
}

// OpenFunc opens a backend for a DSN of its scheme.
type OpenFunc func(ctx context.Context, dsn string) (Store, error)

var (
	backendsMu sync.RWMutex
	backends   = map[string]OpenFunc{}
)

// Register makes a backend available to Open under a DSN scheme ("sqlite"). Backends
// call it from init, so a program selects the backends it supports by importing them.
func Register(scheme string, open OpenFunc) {
	backendsMu.Lock()
	defer backendsMu.Unlock()
	if _, dup := backends[scheme]; dup {
		panic("store: backend registered twice: " + scheme)
	}
	backends[scheme] = open
}

// Open opens the store a DSN names, by its scheme: sqlite://PATH (see store/sqlite).
// A relative path is relative to the working directory; use ResolveDSN first to make it
// relative to the configuration file. Errors never contain the DSN's password.
func Open(ctx context.Context, dsn string) (Store, error) {
	scheme, _, ok := strings.Cut(dsn, "://")
	if !ok || scheme == "" {
		return nil, fmt.Errorf("open store: %q is not a store URL (expected sqlite://PATH)", RedactDSN(dsn))
	}
	backendsMu.RLock()
	open, found := backends[scheme]
	backendsMu.RUnlock()
	if !found {
		return nil, fmt.Errorf("open store: unsupported scheme %q (supported: %s)", scheme, strings.Join(Schemes(), ", "))
	}
	return open(ctx, dsn)
}

// Schemes lists the registered backend schemes, sorted.
func Schemes() []string {
	backendsMu.RLock()
	defer backendsMu.RUnlock()
	out := make([]string, 0, len(backends))
	for s := range backends {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// ResolveDSN makes the path of a sqlite DSN relative to baseDir (the configuration's
// folder) unless it is absolute or ":memory:". Other schemes are returned as they are.
// An empty dsn is the default, sqlite://gatehouse.db beside the configuration.
func ResolveDSN(dsn, baseDir string) string {
	if dsn == "" {
		dsn = "sqlite://gatehouse.db"
	}
	rest, ok := strings.CutPrefix(dsn, "sqlite://")
	if !ok {
		return dsn
	}
	path, query, _ := strings.Cut(rest, "?")
	if path == "" || path == ":memory:" || filepath.IsAbs(path) {
		return dsn
	}
	out := "sqlite://" + filepath.Join(baseDir, path)
	if query != "" {
		out += "?" + query
	}
	return out
}

// RedactDSN returns dsn with any password replaced by "xxxxx", for messages and logs.
func RedactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		if i := strings.Index(dsn, "@"); i >= 0 && strings.Contains(dsn[:i], ":") && strings.Contains(dsn, "://") {
			// Unparsable but looks like user:pass@host: drop the userinfo entirely.
			scheme, _, _ := strings.Cut(dsn, "://")
			return scheme + "://xxxxx@" + dsn[i+1:]
		}
		return dsn
	}
	return u.Redacted()
}
