-- 0003: OAuth clients that may introspect tokens issued to other clients (the same
-- column as SQLite's 0003_client_introspect.sql).
--
-- Existing clients get false: after the upgrade a client may introspect only its own
-- tokens until an operator grants the permission (gatehouse clients create --introspect).
ALTER TABLE oauth_clients ADD COLUMN introspect boolean NOT NULL DEFAULT false;
