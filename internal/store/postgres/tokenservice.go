package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/jackc/pgx/v5"
)

// revocationPruneMargin is how long past its token's expiry a revocation is kept: long
// enough for any verifier's clock leeway.
const revocationPruneMargin = time.Hour

const clientColumns = "id, name, secret_hash, hash_alg, scopes, audience, access_token_ttl, created_at, removed_at, introspect"

func scanClient(r pgx.Row) (store.Client, error) {
	var (
		c       store.Client
		scopes  string
		ttl     int64
		removed *time.Time
	)
	if err := r.Scan(&c.ID, &c.Name, &c.SecretHash, &c.HashAlg, &scopes, &c.Audience, &ttl, &c.CreatedAt, &removed, &c.Introspect); err != nil {
		return c, err
	}
	c.Scopes = splitScopes(scopes)
	c.AccessTokenTTL = time.Duration(ttl) * time.Microsecond
	c.CreatedAt = c.CreatedAt.UTC()
	c.RemovedAt = fromNull(removed)
	return c, nil
}

// CreateClient stores a new client and appends client_created.
func (s *Store) CreateClient(ctx context.Context, c *store.Client) error {
	if err := store.ValidateClient(c); err != nil {
		return fmt.Errorf("postgres: create client: %w: %v", store.ErrInvalid, err)
	}
	return s.write(ctx, "create client", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO oauth_clients ("+clientColumns+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, $9)",
			c.ID, c.Name, c.SecretHash, c.HashAlg, joinScopes(c.Scopes), c.Audience,
			c.AccessTokenTTL.Microseconds(), c.CreatedAt.UTC(), c.Introspect)
		if isUniqueViolation(err) {
			return fmt.Errorf("postgres: create client %s: %w", c.ID, store.ErrExists)
		}
		if err != nil {
			return s.opErr("create client", err)
		}
		return s.appendChange(ctx, tx, store.ChangeClientCreated, c.ID, c.CreatedAt)
	})
}

// Client returns the client with id, removed or not.
func (s *Store) Client(ctx context.Context, id string) (store.Client, error) {
	c, err := scanClient(s.pool.QueryRow(ctx, "SELECT "+clientColumns+" FROM oauth_clients WHERE id = $1", id))
	return one(s, c, err, "get client", "client "+id)
}

// ListClients returns up to limit clients with ids after `after`, in id order.
func (s *Store) ListClients(ctx context.Context, after string, limit int) ([]store.Client, error) {
	return queryAll(ctx, s, s.pool, "list clients", scanClient, "SELECT "+clientColumns+" FROM oauth_clients WHERE id > $1 ORDER BY id LIMIT $2", after, pageSize(limit))
}

// RemoveClient marks the client removed and forgets its secret hash.
func (s *Store) RemoveClient(ctx context.Context, id string, at time.Time) (store.Client, error) {
	var out store.Client
	err := s.write(ctx, "remove client", func(tx pgx.Tx) error {
		c, err := scanClient(tx.QueryRow(ctx, "SELECT "+clientColumns+" FROM oauth_clients WHERE id = $1 FOR UPDATE", id))
		if c, err = one(s, c, err, "get client", "client "+id); err != nil {
			return err
		}
		if c.Removed() {
			return fmt.Errorf("postgres: remove client %s: %w (already removed)", id, store.ErrNotFound)
		}
		if _, err := tx.Exec(ctx, "UPDATE oauth_clients SET removed_at = $1, secret_hash = ''::bytea WHERE id = $2", at.UTC(), id); err != nil {
			return s.opErr("remove client", err)
		}
		out = c
		return s.appendChange(ctx, tx, store.ChangeClientRemoved, id, at)
	})
	return out, err
}

// RevokeToken records a revoked token, once.
func (s *Store) RevokeToken(ctx context.Context, t *store.RevokedToken) (bool, error) {
	if err := store.ValidateRevokedToken(t); err != nil {
		return false, fmt.Errorf("postgres: revoke token: %w: %v", store.ErrInvalid, err)
	}
	var created bool
	err := s.write(ctx, "revoke token", func(tx pgx.Tx) error {
		created = false
		tag, err := tx.Exec(ctx, "INSERT INTO revoked_tokens (jti, client_id, expires_at, revoked_at) VALUES ($1, $2, $3, $4) ON CONFLICT (jti) DO NOTHING",
			t.ID, t.ClientID, t.ExpiresAt.UTC(), t.RevokedAt.UTC())
		if err != nil {
			return s.opErr("revoke token", err)
		}
		if tag.RowsAffected() == 0 {
			return nil
		}
		created = true
		if _, err := tx.Exec(ctx, "DELETE FROM revoked_tokens WHERE expires_at < $1", t.RevokedAt.Add(-revocationPruneMargin).UTC()); err != nil {
			return s.opErr("prune revoked tokens", err)
		}
		return s.appendChange(ctx, tx, store.ChangeTokenRevoked, t.ID, t.RevokedAt)
	})
	return created, err
}

const revokedColumns = "jti, client_id, expires_at, revoked_at"

func scanRevoked(r pgx.Row) (store.RevokedToken, error) {
	var t store.RevokedToken
	if err := r.Scan(&t.ID, &t.ClientID, &t.ExpiresAt, &t.RevokedAt); err != nil {
		return t, err
	}
	t.ExpiresAt, t.RevokedAt = t.ExpiresAt.UTC(), t.RevokedAt.UTC()
	return t, nil
}

// RevokedToken returns the revocation of the token with jti.
func (s *Store) RevokedToken(ctx context.Context, jti string) (store.RevokedToken, error) {
	t, err := scanRevoked(s.pool.QueryRow(ctx, "SELECT "+revokedColumns+" FROM revoked_tokens WHERE jti = $1", jti))
	return one(s, t, err, "get revoked token", "revoked token")
}

// ListRevokedTokens pages through the revocations still in force after expiringAfter.
func (s *Store) ListRevokedTokens(ctx context.Context, expiringAfter time.Time, after string, limit int) ([]store.RevokedToken, error) {
	return queryAll(ctx, s, s.pool, "list revoked tokens", scanRevoked,
		"SELECT "+revokedColumns+" FROM revoked_tokens WHERE jti > $1 AND expires_at > $2 ORDER BY jti LIMIT $3", after, expiringAfter.UTC(), pageSize(limit))
}

const signingKeyColumns = "kid, alg, public_jwk, private_key, created_at, activates_at, retires_at, expires_at"

func scanSigningKey(r pgx.Row) (store.SigningKey, error) {
	var (
		k                store.SigningKey
		retires, expires *time.Time
	)
	if err := r.Scan(&k.ID, &k.Algorithm, &k.PublicJWK, &k.PrivateKey, &k.CreatedAt, &k.ActivatesAt, &retires, &expires); err != nil {
		return k, err
	}
	k.CreatedAt, k.ActivatesAt = k.CreatedAt.UTC(), k.ActivatesAt.UTC()
	k.RetiresAt = fromNull(retires)
	k.ExpiresAt = fromNull(expires)
	return k, nil
}

// SigningKeys returns every stored signing key in activation order.
func (s *Store) SigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	return s.signingKeys(ctx, s.pool)
}

func (s *Store) signingKeys(ctx context.Context, q querier) ([]store.SigningKey, error) {
	return queryAll(ctx, s, q, "list signing keys", scanSigningKey, "SELECT "+signingKeyColumns+" FROM signing_keys ORDER BY activates_at, created_at, kid")
}

// AddSigningKey stores k and retires the keys it replaces.
func (s *Store) AddSigningKey(ctx context.Context, k *store.SigningKey, retain time.Duration) error {
	if err := store.ValidateSigningKey(k); err != nil {
		return fmt.Errorf("postgres: add signing key: %w: %v", store.ErrInvalid, err)
	}
	if retain < 0 {
		return fmt.Errorf("postgres: add signing key: %w: negative retention", store.ErrInvalid)
	}
	return s.write(ctx, "add signing key", func(tx pgx.Tx) error {
		return s.addSigningKey(ctx, tx, k, retain)
	})
}

// InitSigningKey stores k unless a key already signs at or after k.ActivatesAt. The
// write lock makes two token services starting at once create one key between them.
func (s *Store) InitSigningKey(ctx context.Context, k *store.SigningKey) (bool, error) {
	if err := store.ValidateSigningKey(k); err != nil {
		return false, fmt.Errorf("postgres: init signing key: %w: %v", store.ErrInvalid, err)
	}
	var created bool
	err := s.write(ctx, "init signing key", func(tx pgx.Tx) error {
		created = false
		keys, err := s.signingKeys(ctx, tx)
		if err != nil {
			return err
		}
		at := store.Micro(k.ActivatesAt)
		for i := range keys {
			if keys[i].RetiresAt.IsZero() || keys[i].RetiresAt.After(at) {
				return nil // a key signs now or will: nothing to initialise
			}
		}
		created = true
		return s.addSigningKey(ctx, tx, k, 0)
	})
	if err != nil {
		return false, err
	}
	return created, nil
}

func (s *Store) addSigningKey(ctx context.Context, tx pgx.Tx, k *store.SigningKey, retain time.Duration) error {
	keys, err := s.signingKeys(ctx, tx)
	if err != nil {
		return err
	}
	at := store.Micro(k.ActivatesAt)
	created := store.Micro(k.CreatedAt)
	for _, old := range keys {
		if !old.ExpiresAt.IsZero() && !old.ExpiresAt.After(created) {
			// Expired: no token it signed is valid, so its private key is only a liability.
			if _, err := tx.Exec(ctx, "DELETE FROM signing_keys WHERE kid = $1", old.ID); err != nil {
				return s.opErr("add signing key", err)
			}
			continue
		}
		if !old.RetiresAt.IsZero() && !old.RetiresAt.After(at) {
			continue // already stops signing before the new key starts
		}
		expires := at.Add(retain)
		if !old.ActivatesAt.Before(at) {
			// It never gets to sign a token: nothing it signed needs verifying.
			expires = created
		} else if !old.ExpiresAt.IsZero() && old.ExpiresAt.Before(expires) {
			expires = old.ExpiresAt
		}
		if _, err := tx.Exec(ctx, "UPDATE signing_keys SET retires_at = $1, expires_at = $2 WHERE kid = $3", at, expires, old.ID); err != nil {
			return s.opErr("add signing key", err)
		}
	}
	_, err = tx.Exec(ctx, "INSERT INTO signing_keys ("+signingKeyColumns+") VALUES ($1, $2, $3, $4, $5, $6, NULL, NULL)",
		k.ID, k.Algorithm, k.PublicJWK, k.PrivateKey, created, at)
	if isUniqueViolation(err) {
		return fmt.Errorf("postgres: add signing key %s: %w", k.ID, store.ErrExists)
	}
	if err != nil {
		return s.opErr("add signing key", err)
	}
	return s.appendChange(ctx, tx, store.ChangeSigningKeyAdded, k.ID, created)
}
