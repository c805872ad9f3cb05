-- 0004: the admin API's credentials and the audit log.

-- An admin token's secret is never stored, only its hash (secret_hash under hash_alg).
-- A revoked token keeps its row so its id is never reused and the audit log's actor
-- names stay meaningful.
CREATE TABLE admin_tokens (
	id          TEXT    NOT NULL PRIMARY KEY,
	name        TEXT    NOT NULL,
	secret_hash BLOB    NOT NULL,
	hash_alg    TEXT    NOT NULL,
	created_at  INTEGER NOT NULL,
	expires_at  INTEGER,
	revoked_at  INTEGER
) WITHOUT ROWID;

-- Every change made through the admin service; never a secret.
CREATE TABLE audit_log (
	seq    INTEGER PRIMARY KEY AUTOINCREMENT,
	at     INTEGER NOT NULL,
	actor  TEXT    NOT NULL,
	action TEXT    NOT NULL,
	target TEXT    NOT NULL DEFAULT '',
	remote TEXT    NOT NULL DEFAULT '',
	result TEXT    NOT NULL
);
