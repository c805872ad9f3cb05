package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/jackc/pgx/v5"
)

const keyColumns = "id, name, env, scopes, secret_hash, hash_alg, created_at, expires_at, revoked_at, replaced_by, last_used_at, attributes"

// one finishes a single-row read: no row is what (ErrNotFound), any other error the
// operation's. what names the record without a secret ("key gk1", "user").
func one[T any](s *Store, v T, err error, op, what string) (T, error) {
	if errors.Is(err, pgx.ErrNoRows) {
		return v, fmt.Errorf("postgres: %s: %w", what, store.ErrNotFound)
	}
	if err != nil {
		return v, s.opErr(op, err)
	}
	return v, nil
}

// pageSize bounds the page of a list query: 1000 when absent or over 10000.
func pageSize(limit int) int {
	if limit <= 0 || limit > 10000 {
		return 1000
	}
	return limit
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// queryAll runs query and scans every row with scan.
func queryAll[T any](ctx context.Context, s *Store, q querier, op string, scan func(pgx.Row) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, s.opErr(op, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (T, error) { return scan(r) })
	if err != nil {
		return nil, s.opErr(op, err)
	}
	return out, nil
}

func scanKey(r pgx.Row) (store.APIKey, error) {
	var (
		k                          store.APIKey
		scopes                     string
		expires, revoked, lastUsed *time.Time
		replacedBy                 *string
		attrs                      string
	)
	if err := r.Scan(&k.ID, &k.Name, &k.Env, &scopes, &k.SecretHash, &k.HashAlg, &k.CreatedAt, &expires, &revoked, &replacedBy, &lastUsed, &attrs); err != nil {
		return k, err
	}
	var err error
	if k.Attributes, err = store.DecodeAttributes(attrs); err != nil {
		return k, err
	}
	k.Scopes = splitScopes(scopes)
	k.CreatedAt = k.CreatedAt.UTC()
	k.ExpiresAt = fromNull(expires)
	k.RevokedAt = fromNull(revoked)
	if replacedBy != nil {
		k.ReplacedBy = *replacedBy
	}
	k.LastUsedAt = fromNull(lastUsed)
	return k, nil
}

// CreateKey stores a new key and appends key_created.
func (s *Store) CreateKey(ctx context.Context, k *store.APIKey) error {
	if err := store.ValidateKey(k); err != nil {
		return fmt.Errorf("postgres: create key: %w: %v", store.ErrInvalid, err)
	}
	return s.write(ctx, "create key", func(tx pgx.Tx) error {
		if err := s.insertKey(ctx, tx, k); err != nil {
			return err
		}
		return s.appendChange(ctx, tx, store.ChangeKeyCreated, k.ID, k.CreatedAt)
	})
}

func (s *Store) insertKey(ctx context.Context, tx pgx.Tx, k *store.APIKey) error {
	_, err := tx.Exec(ctx, "INSERT INTO api_keys ("+keyColumns+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, NULL, $10)",
		k.ID, k.Name, k.Env, joinScopes(k.Scopes), k.SecretHash, k.HashAlg, k.CreatedAt.UTC(),
		nullTime(k.ExpiresAt), nullTime(k.RevokedAt), store.EncodeAttributes(k.Attributes))
	if isUniqueViolation(err) {
		return fmt.Errorf("postgres: create key %s: %w", k.ID, store.ErrExists)
	}
	if err != nil {
		return s.opErr("create key", err)
	}
	return nil
}

// Key returns the key with id.
func (s *Store) Key(ctx context.Context, id string) (store.APIKey, error) {
	k, err := scanKey(s.pool.QueryRow(ctx, "SELECT "+keyColumns+" FROM api_keys WHERE id = $1", id))
	return one(s, k, err, "get key", "key "+id)
}

func (s *Store) keyTx(ctx context.Context, tx pgx.Tx, id string) (store.APIKey, error) {
	k, err := scanKey(tx.QueryRow(ctx, "SELECT "+keyColumns+" FROM api_keys WHERE id = $1 FOR UPDATE", id))
	return one(s, k, err, "get key", "key "+id)
}

// ListKeys returns up to limit keys with ids after `after`, in id order.
func (s *Store) ListKeys(ctx context.Context, after string, limit int) ([]store.APIKey, error) {
	return queryAll(ctx, s, s.pool, "list keys", scanKey, "SELECT "+keyColumns+" FROM api_keys WHERE id > $1 ORDER BY id LIMIT $2", after, pageSize(limit))
}

// RevokeKey revokes the key at at, unless it already was.
func (s *Store) RevokeKey(ctx context.Context, id string, at time.Time) (store.APIKey, error) {
	var out store.APIKey
	err := s.write(ctx, "revoke key", func(tx pgx.Tx) error {
		k, err := s.keyTx(ctx, tx, id)
		if err != nil {
			return err
		}
		if !k.RevokedAt.IsZero() && !k.RevokedAt.After(at) {
			out = k
			return nil
		}
		if _, err := tx.Exec(ctx, "UPDATE api_keys SET revoked_at = $1 WHERE id = $2", at.UTC(), id); err != nil {
			return s.opErr("revoke key", err)
		}
		if err := s.appendChange(ctx, tx, store.ChangeKeyRevoked, id, at); err != nil {
			return err
		}
		k.RevokedAt = store.Micro(at)
		out = k
		return nil
	})
	return out, err
}

// RotateKey stores next as the replacement of oldID and ends oldID at graceEnd.
func (s *Store) RotateKey(ctx context.Context, oldID string, next *store.APIKey, graceEnd time.Time) (store.APIKey, error) {
	if err := store.ValidateKey(next); err != nil {
		return store.APIKey{}, fmt.Errorf("postgres: rotate key: %w: %v", store.ErrInvalid, err)
	}
	now := next.CreatedAt
	var out store.APIKey
	err := s.write(ctx, "rotate key", func(tx pgx.Tx) error {
		old, err := s.keyTx(ctx, tx, oldID)
		if err != nil {
			return err
		}
		if old.Status(now) == store.KeyRevoked {
			return fmt.Errorf("postgres: rotate key %s: %w", oldID, store.ErrRevoked)
		}
		if err := s.insertKey(ctx, tx, next); err != nil {
			return err
		}
		end := store.Micro(graceEnd)
		if end.Before(store.Micro(now)) {
			end = store.Micro(now)
		}
		if !old.RevokedAt.IsZero() && old.RevokedAt.Before(end) {
			end = old.RevokedAt
		}
		if _, err := tx.Exec(ctx, "UPDATE api_keys SET revoked_at = $1, replaced_by = $2 WHERE id = $3", end, next.ID, oldID); err != nil {
			return s.opErr("rotate key", err)
		}
		if err := s.appendChange(ctx, tx, store.ChangeKeyRotated, oldID, now); err != nil {
			return err
		}
		if err := s.appendChange(ctx, tx, store.ChangeKeyCreated, next.ID, now); err != nil {
			return err
		}
		old.RevokedAt, old.ReplacedBy = end, next.ID
		out = old
		return nil
	})
	return out, err
}

// TouchKeys records last-used times, keeping the later of stored and given. It appends
// no change, so it does not take the write lock: one statement updates the whole batch.
func (s *Store) TouchKeys(ctx context.Context, used map[string]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	ids := make([]string, 0, len(used))
	times := make([]time.Time, 0, len(used))
	for id, t := range used {
		ids = append(ids, id)
		times = append(times, t.UTC())
	}
	_, err := s.pool.Exec(ctx, `UPDATE api_keys AS k SET last_used_at = greatest(k.last_used_at, u.t)
		FROM unnest($1::text[], $2::timestamptz[]) AS u(id, t) WHERE k.id = u.id`, ids, times)
	if err != nil {
		return s.opErr("touch keys", err)
	}
	return nil
}
