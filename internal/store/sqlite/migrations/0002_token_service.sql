-- 0002: the token service: OAuth clients, revoked access tokens, signing keys.
--
-- Times are INTEGER microseconds since the Unix epoch (UTC); NULL means "not set".
-- access_token_ttl is INTEGER microseconds.

-- A removed client keeps its row (removed_at set, secret_hash emptied) so its id is
-- never reused and the tokens it was issued stay refused until they expire.
CREATE TABLE oauth_clients (
	id               TEXT    NOT NULL PRIMARY KEY,
	name             TEXT    NOT NULL,
	secret_hash      BLOB    NOT NULL,
	hash_alg         TEXT    NOT NULL,
	scopes           TEXT    NOT NULL DEFAULT '',
	audience         TEXT    NOT NULL,
	access_token_ttl INTEGER NOT NULL,
	created_at       INTEGER NOT NULL,
	removed_at       INTEGER
) WITHOUT ROWID;

-- A revocation matters until the token's own expiry; expired rows are pruned.
CREATE TABLE revoked_tokens (
	jti        TEXT    NOT NULL PRIMARY KEY,
	client_id  TEXT    NOT NULL,
	expires_at INTEGER NOT NULL,
	revoked_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX revoked_tokens_by_expiry ON revoked_tokens (expires_at);

-- private_key is sealed with AES-256-GCM under a key derived from
-- token_service.signing_key_secret; it is never stored in clear.
CREATE TABLE signing_keys (
	kid          TEXT    NOT NULL PRIMARY KEY,
	alg          TEXT    NOT NULL,
	public_jwk   BLOB    NOT NULL,
	private_key  BLOB    NOT NULL,
	created_at   INTEGER NOT NULL,
	activates_at INTEGER NOT NULL,
	retires_at   INTEGER,
	expires_at   INTEGER
) WITHOUT ROWID;
