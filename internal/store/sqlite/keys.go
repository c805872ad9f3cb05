package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

const keyColumns = "id, name, env, scopes, secret_hash, hash_alg, created_at, expires_at, revoked_at, replaced_by, last_used_at, attributes"

type rowScanner interface{ Scan(dest ...any) error }

// queryer runs a query on the database or inside a transaction.
type queryer interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}

// one finishes a single-row read: no row is what (ErrNotFound), any other error the
// operation's. what names the record without a secret ("key gk1", "user").
func one[T any](s *Store, v T, err error, op, what string) (T, error) {
	if errors.Is(err, sql.ErrNoRows) {
		return v, fmt.Errorf("sqlite: %s: %w", what, store.ErrNotFound)
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

// queryAll runs query and scans every row with scan; op names the operation in errors.
func queryAll[T any](ctx context.Context, s *Store, q queryer, op string, scan func(rowScanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, s.opErr(op, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, s.opErr(op, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, s.opErr(op, err)
	}
	return out, nil
}

func scanKey(r rowScanner) (store.APIKey, error) {
	var (
		k                          store.APIKey
		scopes                     string
		created                    int64
		expires, revoked, lastUsed sql.NullInt64
		replacedBy                 sql.NullString
		attrs                      string
	)
	if err := r.Scan(&k.ID, &k.Name, &k.Env, &scopes, &k.SecretHash, &k.HashAlg, &created, &expires, &revoked, &replacedBy, &lastUsed, &attrs); err != nil {
		return k, err
	}
	var err error
	if k.Attributes, err = store.DecodeAttributes(attrs); err != nil {
		return k, err
	}
	k.Scopes = splitScopes(scopes)
	k.CreatedAt = time.UnixMicro(created).UTC()
	k.ExpiresAt = fromMicro(expires)
	k.RevokedAt = fromMicro(revoked)
	k.ReplacedBy = replacedBy.String
	k.LastUsedAt = fromMicro(lastUsed)
	return k, nil
}

// CreateKey stores a new key and appends key_created.
func (s *Store) CreateKey(ctx context.Context, k *store.APIKey) error {
	if err := store.ValidateKey(k); err != nil {
		return fmt.Errorf("sqlite: create key: %w: %v", store.ErrInvalid, err)
	}
	return s.tx(ctx, "create key", func(tx *sql.Tx) error {
		if err := s.insertKey(ctx, tx, k); err != nil {
			return err
		}
		return s.appendChange(ctx, tx, store.ChangeKeyCreated, k.ID, k.CreatedAt)
	})
}

func (s *Store) insertKey(ctx context.Context, tx *sql.Tx, k *store.APIKey) error {
	_, err := tx.ExecContext(ctx, "INSERT INTO api_keys ("+keyColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?)",
		k.ID, k.Name, k.Env, joinScopes(k.Scopes), k.SecretHash, k.HashAlg, k.CreatedAt.UnixMicro(),
		toMicro(k.ExpiresAt), toMicro(k.RevokedAt), store.EncodeAttributes(k.Attributes))
	if isUniqueViolation(err) {
		return fmt.Errorf("sqlite: create key %s: %w", k.ID, store.ErrExists)
	}
	if err != nil {
		return s.opErr("create key", err)
	}
	return nil
}

// Key returns the key with id.
func (s *Store) Key(ctx context.Context, id string) (store.APIKey, error) {
	k, err := scanKey(s.getKey.QueryRowContext(ctx, id))
	return one(s, k, err, "get key", "key "+id)
}

func (s *Store) keyTx(ctx context.Context, tx *sql.Tx, id string) (store.APIKey, error) {
	k, err := scanKey(tx.QueryRowContext(ctx, "SELECT "+keyColumns+" FROM api_keys WHERE id = ?", id))
	return one(s, k, err, "get key", "key "+id)
}

// ListKeys returns up to limit keys with ids after `after`, in id order.
func (s *Store) ListKeys(ctx context.Context, after string, limit int) ([]store.APIKey, error) {
	return queryAll(ctx, s, s.db, "list keys", scanKey, "SELECT "+keyColumns+" FROM api_keys WHERE id > ? ORDER BY id LIMIT ?", after, pageSize(limit))
}

// RevokeKey revokes the key at at, unless it already was.
func (s *Store) RevokeKey(ctx context.Context, id string, at time.Time) (store.APIKey, error) {
	var out store.APIKey
	err := s.tx(ctx, "revoke key", func(tx *sql.Tx) error {
		k, err := s.keyTx(ctx, tx, id)
		if err != nil {
			return err
		}
		if !k.RevokedAt.IsZero() && !k.RevokedAt.After(at) {
			out = k
			return nil
		}
		if _, err := tx.ExecContext(ctx, "UPDATE api_keys SET revoked_at = ? WHERE id = ?", at.UnixMicro(), id); err != nil {
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
		return store.APIKey{}, fmt.Errorf("sqlite: rotate key: %w: %v", store.ErrInvalid, err)
	}
	now := next.CreatedAt
	var out store.APIKey
	err := s.tx(ctx, "rotate key", func(tx *sql.Tx) error {
		old, err := s.keyTx(ctx, tx, oldID)
		if err != nil {
			return err
		}
		if old.Status(now) == store.KeyRevoked {
			return fmt.Errorf("sqlite: rotate key %s: %w", oldID, store.ErrRevoked)
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
		if _, err := tx.ExecContext(ctx, "UPDATE api_keys SET revoked_at = ?, replaced_by = ? WHERE id = ?", end.UnixMicro(), next.ID, oldID); err != nil {
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

// TouchKeys records last-used times, keeping the later of stored and given.
func (s *Store) TouchKeys(ctx context.Context, used map[string]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	return s.tx(ctx, "touch keys", func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, "UPDATE api_keys SET last_used_at = max(coalesce(last_used_at, 0), ?) WHERE id = ?")
		if err != nil {
			return s.opErr("touch keys", err)
		}
		defer st.Close()
		for id, t := range used {
			if _, err := st.ExecContext(ctx, t.UnixMicro(), id); err != nil {
				return s.opErr("touch keys", err)
			}
		}
		return nil
	})
}
