// Package postgres is the PostgreSQL backend of the credential store, on pgx v5 with a
// pgxpool connection pool, for several Gatehouse replicas sharing one database. It
// registers the DSN schemes "postgres" and "postgresql":
//
//	postgres://gatehouse@db.internal:5432/gatehouse?sslmode=verify-full
//
// Any libpq connection URL works, with libpq's parameters (sslmode, sslrootcert,
// connect_timeout, several hosts, target_session_attrs) and its PG* environment
// variables and password file. Open takes a Config, which adds a password kept out of
// the URL and the pool settings (size, connect and statement timeouts, connection
// lifetimes).
//
// # Opening
//
// Open connects, checks the database can be used and migrates its schema. Each way this
// can fail is one sentence that says what to fix, never with the password: a URL that
// does not parse, a server that cannot be reached or does not answer, a database that
// does not exist, a role that may not log in, a role without the rights the schema
// needs. All of them are store.ErrUnavailable.
//
// # Migrations
//
// The schema is created and upgraded by numbered migrations embedded in the binary
// (migrations/NNNN_name.sql), the same steps as SQLite's, recorded in
// schema_migrations. Replicas starting at the same moment migrate once: the migration
// runs under a session advisory lock, and the schema version is read again once the
// lock is held. A schema written by a newer Gatehouse is refused (store.ErrSchemaTooNew)
// rather than misread; with Config.NoMigrate an older one is refused too, for operators
// who migrate as a separate step (`gatehouse store migrate`). A database that already
// holds tables of another program is refused.
//
// # The change sequence across replicas
//
// Every mutation that must invalidate a cache (a key revoked or rotated, a user removed
// or re-passworded, a client removed, a token revoked, a signing key added) appends a
// Change in the same transaction, and queues `NOTIFY gatehouse_changes, '<seq>'`, which
// PostgreSQL delivers only if and when the transaction commits.
//
// Sequence numbers must never become visible out of order: a store.Watcher remembers
// the highest number it applied, so a change committed later with a lower number than
// one already seen would be skipped for good. A PostgreSQL sequence (nextval) does not
// give that: two transactions draw 5 and 6, and 6 may commit first. Here every
// transaction that appends a change first takes one transaction-level advisory lock
// (pg_advisory_xact_lock), held until it commits or rolls back, and draws its numbers
// from a counter row in meta. Writers of changes therefore commit one at a time, in the
// order of their numbers, and a reader's snapshot always holds a prefix of the sequence,
// without gaps (a rolled-back transaction undoes its increment too). Taking the lock
// first, before touching any row, also keeps two writers from deadlocking on each
// other's rows. The cost is that credential writes are serialised, which they are on
// SQLite too; lookups, and TouchKeys (which appends no change), never take the lock.
//
// Store implements store.Notifier. The first WaitForChange opens a dedicated LISTEN
// connection (application_name gatehouse-listen, outside the pool) and wakes the waiting
// Watcher on every notification; the Watcher then reads the changes after the last one it
// applied, so the payload is a hint, never trusted. A payload that is not a sequence
// number is logged and ignored, and the sequence is read all the same. When the
// connection is lost it is reopened with a backoff (100ms to 5s); while it is down,
// WaitForChange returns every Config.ListenFallback (200ms) so the Watcher polls the
// sequence instead, and on reconnect the Watcher catches up from its cursor. No
// invalidation is lost by a lost notification, only delayed by at most the fallback.
//
// Behind a connection pooler in transaction mode (PgBouncer's default) notifications do
// not reliably reach the listening session, and only the Watcher's own fallback poll
// (every 5s by default) bounds the delay. Point Gatehouse at the server, or at a
// session-mode pool.
//
// Changes are pruned as on SQLite: a Watcher that falls 100000 changes behind gets
// store.ErrChangesPruned and drops its caches.
//
// # Errors
//
// Driver errors are classified into the store's kinds: a unique or check violation or a
// value PostgreSQL cannot store (a NUL byte) is store.ErrInvalid, a read-only server
// store.ErrReadOnly, a full disk store.ErrFull, a deadlock, lock or statement timeout
// store.ErrLocked, data corruption store.ErrCorrupt, and anything else store.ErrUnavailable.
package postgres
