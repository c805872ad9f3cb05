-- 0001: API keys, Basic users and the change sequence (the same records as SQLite's
-- 0001_init.sql).
--
-- Keys, names and ids are COLLATE "C": pages and orders compare bytes, as Go and SQLite do.
-- Times are timestamptz (microsecond precision); NULL means "not set".
-- Scopes are stored space-separated (an OAuth scope-token has no spaces).

CREATE TABLE api_keys (
	id           text COLLATE "C" NOT NULL PRIMARY KEY,
	name         text        NOT NULL,
	env          text        NOT NULL,
	scopes       text        NOT NULL DEFAULT '',
	secret_hash  bytea       NOT NULL,
	hash_alg     text        NOT NULL,
	created_at   timestamptz NOT NULL,
	expires_at   timestamptz,
	revoked_at   timestamptz,
	replaced_by  text COLLATE "C" REFERENCES api_keys (id),
	last_used_at timestamptz
);

CREATE TABLE users (
	name          text COLLATE "C" NOT NULL PRIMARY KEY,
	password_hash text        NOT NULL,
	scopes        text        NOT NULL DEFAULT '',
	created_at    timestamptz NOT NULL,
	updated_at    timestamptz NOT NULL
);

-- seq is not a serial: it is drawn from the change_seq counter in meta, whose row lock
-- orders the sequence by commit (see the package documentation).
CREATE TABLE changes (
	seq     bigint      NOT NULL PRIMARY KEY,
	kind    text        NOT NULL,
	subject text        NOT NULL,
	at      timestamptz NOT NULL
);

CREATE TABLE meta (
	key   text   NOT NULL PRIMARY KEY,
	value bigint NOT NULL
);

INSERT INTO meta (key, value) VALUES ('change_seq', 0), ('changes_pruned_through', 0);
