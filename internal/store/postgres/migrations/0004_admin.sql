-- 0004: the admin API's credentials and the audit log (the same records as SQLite's
-- 0004_admin.sql).

-- An admin token's secret is never stored, only its hash (secret_hash under hash_alg).
-- A revoked token keeps its row so its id is never reused.
CREATE TABLE admin_tokens (
	id          text COLLATE "C" NOT NULL PRIMARY KEY,
	name        text        NOT NULL,
	secret_hash bytea       NOT NULL,
	hash_alg    text        NOT NULL,
	created_at  timestamptz NOT NULL,
	expires_at  timestamptz,
	revoked_at  timestamptz
);

-- Every change made through the admin service; never a secret.
CREATE TABLE audit_log (
	seq    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at     timestamptz NOT NULL,
	actor  text        NOT NULL,
	action text        NOT NULL,
	target text        NOT NULL DEFAULT '',
	remote text        NOT NULL DEFAULT '',
	result text        NOT NULL
);
