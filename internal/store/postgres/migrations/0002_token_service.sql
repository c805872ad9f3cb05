-- 0002: the token service: OAuth clients, revoked access tokens, signing keys (the same
-- records as SQLite's 0002_token_service.sql).

-- A removed client keeps its row (removed_at set, secret_hash emptied) so its id is
-- never reused and the tokens it was issued stay refused until they expire.
CREATE TABLE oauth_clients (
	id               text COLLATE "C" NOT NULL PRIMARY KEY,
	name             text        NOT NULL,
	secret_hash      bytea       NOT NULL,
	hash_alg         text        NOT NULL,
	scopes           text        NOT NULL DEFAULT '',
	audience         text        NOT NULL,
	access_token_ttl bigint      NOT NULL, -- microseconds
	created_at       timestamptz NOT NULL,
	removed_at       timestamptz
);

-- A revocation matters until the token's own expiry; expired rows are pruned.
CREATE TABLE revoked_tokens (
	jti        text COLLATE "C" NOT NULL PRIMARY KEY,
	client_id  text        NOT NULL,
	expires_at timestamptz NOT NULL,
	revoked_at timestamptz NOT NULL
);

CREATE INDEX revoked_tokens_by_expiry ON revoked_tokens (expires_at);

-- private_key is sealed with AES-256-GCM under a key derived from
-- token_service.signing_key_secret; it is never stored in clear.
CREATE TABLE signing_keys (
	kid          text COLLATE "C" NOT NULL PRIMARY KEY,
	alg          text        NOT NULL,
	public_jwk   bytea       NOT NULL,
	private_key  bytea       NOT NULL,
	created_at   timestamptz NOT NULL,
	activates_at timestamptz NOT NULL,
	retires_at   timestamptz,
	expires_at   timestamptz
);
