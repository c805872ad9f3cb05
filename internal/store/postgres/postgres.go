package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

func init() {
	open := func(ctx context.Context, dsn string) (store.Store, error) {
		return Open(ctx, Config{DSN: dsn})
	}
	store.Register("postgres", open)
	store.Register("postgresql", open)
}

// The defaults of Config.
const (
	DefaultMaxConns        = 10
	DefaultConnectTimeout  = 5 * time.Second
	DefaultQueryTimeout    = 10 * time.Second
	DefaultMaxConnLifetime = time.Hour
	DefaultMaxConnIdleTime = 30 * time.Minute
	DefaultListenFallback  = 200 * time.Millisecond
)

// Config says how to reach the database. The zero value of every field but DSN means
// the documented default.
type Config struct {
	// DSN is a libpq connection URL, postgres://USER[:PASSWORD]@HOST[:PORT]/DB?PARAMS, with
	// every libpq parameter (sslmode, sslrootcert, connect_timeout, application_name,
	// several hosts, ...) honoured as libpq would, PG* environment variables and the
	// password file included. Errors never contain its password.
	DSN string
	// Password, when set, replaces the URL's password, so the URL can be written in the
	// configuration without a secret and the password read from a file.
	Password string
	// MaxConns bounds the pool; DefaultMaxConns when zero. MinConns connections are
	// kept open even when idle.
	MaxConns, MinConns int32
	// ConnectTimeout bounds one connection attempt (TCP, TLS and login); the URL's
	// connect_timeout, or DefaultConnectTimeout, when zero.
	ConnectTimeout time.Duration
	// QueryTimeout is the server's statement_timeout for every statement, so a stuck
	// query fails instead of holding a connection; DefaultQueryTimeout when zero.
	QueryTimeout time.Duration
	// MaxConnLifetime and MaxConnIdleTime retire pooled connections; the defaults are
	// DefaultMaxConnLifetime and DefaultMaxConnIdleTime.
	MaxConnLifetime, MaxConnIdleTime time.Duration
	// ListenFallback is how often the change sequence is polled while the LISTEN
	// connection is down; DefaultListenFallback when zero.
	ListenFallback time.Duration
	// NoMigrate makes Open refuse a schema older than this build's instead of migrating
	// it (for operators who run `gatehouse store migrate` as a separate step).
	NoMigrate bool
	// Logger receives the listener's reports (connection lost, back, unexpected
	// payloads); slog.Default() when nil. It never sees a password.
	Logger *slog.Logger
}

// Store is a credential store in a PostgreSQL database. It implements store.Store and
// store.Notifier.
type Store struct {
	pool    *pgxpool.Pool
	where   string // "database gatehouse on db.internal:5432", for messages
	connCfg *pgx.ConnConfig
	log     *slog.Logger

	fallback     time.Duration
	migratedFrom int
	migratedTo   int

	listenOnce sync.Once
	listen     atomic.Pointer[listener]
	closeOnce  sync.Once
	closed     chan struct{}
}

var (
	_ store.Store    = (*Store)(nil)
	_ store.Notifier = (*Store)(nil)
)

// ParseConfig checks c.DSN and the pool settings without connecting, and returns the
// pool configuration Open would use. Its errors are one sentence without the password,
// suitable for `gatehouse config check`.
func ParseConfig(c Config) (*pgxpool.Config, error) {
	if !strings.HasPrefix(c.DSN, "postgres://") && !strings.HasPrefix(c.DSN, "postgresql://") {
		return nil, errors.New("postgres: the store URL must start with postgres:// or postgresql://")
	}
	pc, err := pgxpool.ParseConfig(c.DSN)
	if err != nil {
		return nil, fmt.Errorf("postgres: the store URL is not valid: %s", parseReason(err, c))
	}
	cc := pc.ConnConfig
	if c.Password != "" {
		if cc.Password != "" && hasURLPassword(c.DSN) {
			return nil, errors.New("postgres: the password is given twice, in the store URL and as a separate setting: keep one")
		}
		cc.Password = c.Password
	}
	if cc.Database == "" {
		return nil, errors.New("postgres: the store URL names no database (postgres://USER@HOST/DATABASE)")
	}
	switch {
	case c.MaxConns < 0, c.MinConns < 0:
		return nil, errors.New("postgres: pool sizes cannot be negative")
	case c.MaxConns > 0:
		pc.MaxConns = c.MaxConns
	case !strings.Contains(c.DSN, "pool_max_conns"):
		pc.MaxConns = DefaultMaxConns
	}
	if c.MinConns > 0 {
		pc.MinConns = c.MinConns
	}
	if pc.MinConns > pc.MaxConns {
		return nil, fmt.Errorf("postgres: min_conns (%d) is more than max_conns (%d)", pc.MinConns, pc.MaxConns)
	}
	for _, d := range []time.Duration{c.ConnectTimeout, c.QueryTimeout, c.MaxConnLifetime, c.MaxConnIdleTime, c.ListenFallback} {
		if d < 0 {
			return nil, errors.New("postgres: timeouts and lifetimes cannot be negative")
		}
	}
	if c.ConnectTimeout > 0 {
		cc.ConnectTimeout = c.ConnectTimeout
	} else if cc.ConnectTimeout == 0 {
		cc.ConnectTimeout = DefaultConnectTimeout
	}
	qt := c.QueryTimeout
	if qt == 0 {
		qt = DefaultQueryTimeout
	}
	if _, set := cc.RuntimeParams["statement_timeout"]; !set || c.QueryTimeout > 0 {
		cc.RuntimeParams["statement_timeout"] = strconv.FormatInt(qt.Milliseconds(), 10)
	}
	if cc.RuntimeParams["application_name"] == "" {
		cc.RuntimeParams["application_name"] = "gatehouse"
	}
	if c.MaxConnLifetime > 0 {
		pc.MaxConnLifetime = c.MaxConnLifetime
	} else if !strings.Contains(c.DSN, "pool_max_conn_lifetime") {
		pc.MaxConnLifetime = DefaultMaxConnLifetime
	}
	if c.MaxConnIdleTime > 0 {
		pc.MaxConnIdleTime = c.MaxConnIdleTime
	} else if !strings.Contains(c.DSN, "pool_max_conn_idle_time") {
		pc.MaxConnIdleTime = DefaultMaxConnIdleTime
	}
	return pc, nil
}

// hasURLPassword reports whether the URL itself carries a password (user:pass@ or
// ?password=).
func hasURLPassword(dsn string) bool {
	rest := dsn[strings.Index(dsn, "://")+3:]
	if at := strings.LastIndex(strings.SplitN(rest, "/", 2)[0], "@"); at >= 0 {
		if strings.Contains(rest[:at], ":") {
			return true
		}
	}
	_, q, _ := strings.Cut(rest, "?")
	return strings.Contains("&"+q, "&password=")
}

// parseReason turns a pgconn parse error into the part after "cannot parse `URL`:",
// which names what is wrong; url.Parse errors quote the whole URL, so they are replaced.
func parseReason(err error, c Config) string {
	msg := err.Error()
	if strings.Contains(msg, "failed to parse as URL") {
		return "it is not a well-formed URL (check the characters of the user, password and host: reserved ones must be percent-encoded)"
	}
	if i := strings.Index(msg, "`: "); i >= 0 && strings.HasPrefix(msg, "cannot parse `") {
		msg = msg[i+3:]
	}
	return scrub(msg, c)
}

// scrub removes any password of c from msg, a last defence for driver messages.
func scrub(msg string, c Config) string {
	for _, pw := range []string{c.Password, urlPassword(c.DSN)} {
		if len(pw) >= 3 {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	}
	return msg
}

func urlPassword(dsn string) string {
	_, rest, ok := strings.Cut(dsn, "://")
	if !ok {
		return ""
	}
	hostPart, _, _ := strings.Cut(rest, "/")
	at := strings.LastIndex(hostPart, "@")
	if at < 0 {
		return ""
	}
	_, pw, _ := strings.Cut(hostPart[:at], ":")
	return pw
}

// Open connects to the database, checks that it can be used (reachable, the database
// exists, the role may log in and has the rights the schema needs) and brings the schema
// up to date, under an advisory lock so that replicas starting together migrate once.
// Each failure is one sentence that says what to fix, and wraps store.ErrUnavailable
// (store.ErrSchemaTooNew for a schema written by a newer Gatehouse).
func Open(ctx context.Context, c Config) (*Store, error) {
	pc, err := ParseConfig(c)
	if err != nil {
		return nil, unavailable{err}
	}
	s := &Store{
		where:    describe(pc.ConnConfig),
		connCfg:  pc.ConnConfig.Copy(),
		log:      c.Logger,
		fallback: c.ListenFallback,
		closed:   make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.fallback == 0 {
		s.fallback = DefaultListenFallback
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, s.connectErr(err, c)
	}
	s.pool = pool
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, s.connectErr(err, c)
	}
	if err := s.migrate(ctx, c.NoMigrate); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// unavailable is an error that reads as err and also matches store.ErrUnavailable.
type unavailable struct{ err error }

func (u unavailable) Error() string   { return u.err.Error() }
func (u unavailable) Unwrap() []error { return []error{u.err, store.ErrUnavailable} }

func unavailablef(format string, args ...any) error {
	return unavailable{fmt.Errorf(format, args...)}
}

// describe names the database and server of cc for messages: never the password.
func describe(cc *pgx.ConnConfig) string {
	host := cc.Host
	if strings.HasPrefix(host, "/") {
		host = "socket " + host
	} else {
		host = fmt.Sprintf("%s:%d", host, cc.Port)
	}
	return fmt.Sprintf("database %q on %s", cc.Database, host)
}

// Where names the database and server the store uses, without the password.
func (s *Store) Where() string { return s.where }

// Migrated reports the schema version Open found and the one it left, equal when
// nothing was migrated.
func (s *Store) Migrated() (from, to int) { return s.migratedFrom, s.migratedTo }

// connectErr explains a failed connection in one sentence.
func (s *Store) connectErr(err error, c Config) error {
	user := s.connCfg.User
	var pe *pgconn.PgError
	switch {
	case errors.As(err, &pe):
		switch pe.Code {
		case "3D000":
			return unavailablef("postgres: %s does not exist: create it (CREATE DATABASE %s OWNER %s) or fix the store URL", s.where, pgx.Identifier{s.connCfg.Database}.Sanitize(), pgx.Identifier{user}.Sanitize())
		case "28P01", "28000":
			return unavailablef("postgres: %s refused the login of role %q (%s): check the user and password of the store", s.where, user, scrub(pe.Message, c))
		case "42501":
			return unavailablef("postgres: role %q may not connect to %s (%s): GRANT CONNECT ON DATABASE %s TO %s", user, s.where, scrub(pe.Message, c), pgx.Identifier{s.connCfg.Database}.Sanitize(), pgx.Identifier{user}.Sanitize())
		}
		return unavailablef("postgres: %s refused the connection: %s (SQLSTATE %s)", s.where, scrub(pe.Message, c), pe.Code)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("postgres: connect to %s: %w: %w", s.where, store.ErrUnavailable, err)
	case pgconn.Timeout(err) || errors.Is(err, context.DeadlineExceeded):
		return unavailablef("postgres: the server of %s did not answer within %s: check the host and port, and that the server is up and reachable", s.where, s.connCfg.ConnectTimeout)
	}
	reason := lastCause(err)
	if strings.Contains(reason, "server refused TLS") || strings.Contains(reason, "tls:") || strings.Contains(reason, "x509:") {
		for _, p := range []string{"x509: ", "tls: ", "server refused TLS"} {
			if i := strings.Index(reason, p); i >= 0 {
				reason = reason[i:]
				break
			}
		}
		return unavailablef("postgres: the TLS handshake with the server of %s failed (%s): check sslmode and the certificates", s.where, scrub(reason, c))
	}
	return unavailablef("postgres: cannot reach the server of %s (%s): check the host and port, and that the server is up and reachable", s.where, scrub(reason, c))
}

// lastCause is the innermost message of err: "connect: connection refused" rather than
// pgconn's whole chain.
func lastCause(err error) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err.Error()
	}
	for {
		next := errors.Unwrap(err)
		if next == nil {
			break
		}
		err = next
	}
	return err.Error()
}

// opErr wraps a failure of an operation on an open store with its store error kind.
func (s *Store) opErr(op string, err error) error {
	return fmt.Errorf("postgres: %s: %w", op, classify(err))
}

// classify maps a driver error onto the store's error kinds, keeping it in the chain.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "23505", pe.Code == "23503", pe.Code == "23502", pe.Code == "23514",
			pe.Code == "22021", pe.Code == "22P05", pe.Code == "22001": // bad encoding (a NUL byte), value too long
			return fmt.Errorf("%w: %w", store.ErrInvalid, err)
		case pe.Code == "25006": // read_only_sql_transaction: a standby, or default_transaction_read_only
			return fmt.Errorf("%w: %w", store.ErrReadOnly, err)
		case pe.Code == "53100": // disk_full
			return fmt.Errorf("%w: %w", store.ErrFull, err)
		case pe.Code == "40P01", pe.Code == "55P03", pe.Code == "57014": // deadlock, lock timeout, statement timeout
			return fmt.Errorf("%w: %w", store.ErrLocked, err)
		case pe.Code == "XX001", pe.Code == "XX002": // data_corrupted, index_corrupted
			return fmt.Errorf("%w: %w", store.ErrCorrupt, err)
		}
	}
	if errors.Is(err, store.ErrUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
}

func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// writeLockKey is the transaction-level advisory lock every transaction that appends a
// change takes first; see the package documentation.
const writeLockKey = 0x6761746568_01 // "gateh" + 1

// write runs fn in a transaction that appends changes: it first takes the write lock,
// so such transactions commit one at a time, in the order of their sequence numbers.
func (s *Store) write(ctx context.Context, op string, fn func(tx pgx.Tx) error) error {
	return s.tx(ctx, op, true, fn)
}

func (s *Store) tx(ctx context.Context, op string, serialize bool, fn func(tx pgx.Tx) error) error {
	if s.isClosed() {
		return fmt.Errorf("postgres: %s: %w: the store is closed", op, store.ErrUnavailable)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return s.opErr(op, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
	if serialize {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(writeLockKey)); err != nil {
			return s.opErr(op, err)
		}
	}
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return s.opErr(op, err)
	}
	return nil
}

func (s *Store) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

// Ping checks that the store can be read.
func (s *Store) Ping(ctx context.Context) error {
	_, err := s.LatestChange(ctx)
	return err
}

// Close stops the listener and closes the pool. A second Close does nothing.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.closed)
		s.listenOnce.Do(func() {}) // waits for a listener being started
		if l := s.listen.Load(); l != nil {
			l.stop()
		}
		s.pool.Close()
	})
	return nil
}

// Pool returns the connection pool, for tools (store copy) that need raw access.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Times: timestamptz keeps microseconds; pgx truncates, as store.Micro does. A zero
// time.Time is NULL.

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC()
}

func fromNull(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

func joinScopes(s []string) string { return strings.Join(s, " ") }

func splitScopes(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Fields(s)
}
