-- 0001: API keys, Basic users and the change sequence.
--
-- Times are INTEGER microseconds since the Unix epoch (UTC); NULL means "not set".
-- Scopes are stored space-separated (an OAuth scope-token has no spaces).
-- Lookups are by primary key only, so WITHOUT ROWID tables keep each lookup to one
-- B-tree descent, also at millions of keys.

CREATE TABLE api_keys (
	id           TEXT    NOT NULL PRIMARY KEY,
	name         TEXT    NOT NULL,
	env          TEXT    NOT NULL,
	scopes       TEXT    NOT NULL DEFAULT '',
	secret_hash  BLOB    NOT NULL,
	hash_alg     TEXT    NOT NULL,
	created_at   INTEGER NOT NULL,
	expires_at   INTEGER,
	revoked_at   INTEGER,
	replaced_by  TEXT    REFERENCES api_keys (id),
	last_used_at INTEGER
) WITHOUT ROWID;

CREATE TABLE users (
	name          TEXT    NOT NULL PRIMARY KEY,
	password_hash TEXT    NOT NULL,
	scopes        TEXT    NOT NULL DEFAULT '',
	created_at    INTEGER NOT NULL,
	updated_at    INTEGER NOT NULL
) WITHOUT ROWID;

-- AUTOINCREMENT: a sequence number is never reused, even after pruning.
CREATE TABLE changes (
	seq     INTEGER PRIMARY KEY AUTOINCREMENT,
	kind    TEXT    NOT NULL,
	subject TEXT    NOT NULL,
	at      INTEGER NOT NULL
);

CREATE TABLE meta (
	key   TEXT    NOT NULL PRIMARY KEY,
	value INTEGER NOT NULL
) WITHOUT ROWID;
