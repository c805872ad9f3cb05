// Package store is Gatehouse's credential store: the records it keeps (API keys, Basic
// users, the token service's OAuth clients, revoked tokens and signing keys, the change
// sequence), the errors every backend returns, the Store interface the
// CLI and the verifiers use, and the Watcher that turns committed changes into cache
// invalidations.
//
// Backends live in sibling packages (store/sqlite and store/postgres) and
// register a DSN scheme with Register; Open picks one by the DSN's scheme. Each backend
// runs the conformance suite in store/storetest.
//
// # Revocation at once
//
// Every mutation of a credential (a key created, revoked or rotated; a user added,
// removed, re-passworded or imported; a client created or removed; an access token
// revoked; a signing key added) appends a Change to a monotonically increasing
// change sequence in the same transaction as the mutation itself, so a change is visible
// exactly when the data is. A Watcher follows the sequence: by polling LatestChange (one
// indexed read) on SQLite, or, for a backend that implements Notifier (PostgreSQL with
// LISTEN/NOTIFY), by waiting for a notification and reading the sequence then. Verifiers
// subscribe to the Watcher and drop what they cached about the changed subject, so a key
// revoked by the CLI in another process is refused by a running gateway on the next
// request after the next poll (200 ms by default).
//
// # Times
//
// Times are stored in UTC with microsecond precision (what PostgreSQL's timestamptz
// keeps); a zero time.Time means "not set" (no expiry, never used, not revoked).
package store
