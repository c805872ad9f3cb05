-- 0003: OAuth clients that may introspect tokens issued to other clients.
--
-- Existing clients get 0: after the upgrade a client may introspect only its own tokens
-- until an operator grants the permission (gatehouse clients create --introspect).
ALTER TABLE oauth_clients ADD COLUMN introspect INTEGER NOT NULL DEFAULT 0;
