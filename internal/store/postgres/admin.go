package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/jackc/pgx/v5"
)

const adminTokenColumns = "id, name, secret_hash, hash_alg, created_at, expires_at, revoked_at"

func scanAdminToken(r pgx.Row) (store.AdminToken, error) {
	var (
		t                store.AdminToken
		expires, revoked *time.Time
	)
	if err := r.Scan(&t.ID, &t.Name, &t.SecretHash, &t.HashAlg, &t.CreatedAt, &expires, &revoked); err != nil {
		return t, err
	}
	t.CreatedAt = t.CreatedAt.UTC()
	t.ExpiresAt = fromNull(expires)
	t.RevokedAt = fromNull(revoked)
	return t, nil
}

// CreateAdminToken stores a new admin token.
func (s *Store) CreateAdminToken(ctx context.Context, t *store.AdminToken) error {
	if err := store.ValidateAdminToken(t); err != nil {
		return fmt.Errorf("postgres: create admin token: %w: %v", store.ErrInvalid, err)
	}
	return s.write(ctx, "create admin token", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO admin_tokens ("+adminTokenColumns+") VALUES ($1, $2, $3, $4, $5, $6, NULL)",
			t.ID, t.Name, t.SecretHash, t.HashAlg, t.CreatedAt.UTC(), nullTime(t.ExpiresAt))
		if isUniqueViolation(err) {
			return fmt.Errorf("postgres: create admin token %s: %w", t.ID, store.ErrExists)
		}
		if err != nil {
			return s.opErr("create admin token", err)
		}
		return nil
	})
}

// AdminToken returns the admin token with id.
func (s *Store) AdminToken(ctx context.Context, id string) (store.AdminToken, error) {
	t, err := scanAdminToken(s.pool.QueryRow(ctx, "SELECT "+adminTokenColumns+" FROM admin_tokens WHERE id = $1", id))
	return one(s, t, err, "get admin token", "admin token "+id)
}

// ListAdminTokens returns up to limit admin tokens with ids after `after`, in id order.
func (s *Store) ListAdminTokens(ctx context.Context, after string, limit int) ([]store.AdminToken, error) {
	return queryAll(ctx, s, s.pool, "list admin tokens", scanAdminToken, "SELECT "+adminTokenColumns+" FROM admin_tokens WHERE id > $1 ORDER BY id LIMIT $2", after, pageSize(limit))
}

// RevokeAdminToken revokes the admin token at at, unless it already was.
func (s *Store) RevokeAdminToken(ctx context.Context, id string, at time.Time) (store.AdminToken, error) {
	var out store.AdminToken
	err := s.write(ctx, "revoke admin token", func(tx pgx.Tx) error {
		t, err := scanAdminToken(tx.QueryRow(ctx, "SELECT "+adminTokenColumns+" FROM admin_tokens WHERE id = $1 FOR UPDATE", id))
		if t, err = one(s, t, err, "get admin token", "admin token "+id); err != nil {
			return err
		}
		if t.RevokedAt.IsZero() {
			if _, err := tx.Exec(ctx, "UPDATE admin_tokens SET revoked_at = $1 WHERE id = $2", at.UTC(), id); err != nil {
				return s.opErr("revoke admin token", err)
			}
			t.RevokedAt = store.Micro(at)
		}
		out = t
		return nil
	})
	return out, err
}

// AppendAudit stores an audit entry and sets its Seq.
func (s *Store) AppendAudit(ctx context.Context, e *store.AuditEntry) error {
	if err := store.ValidateAuditEntry(e); err != nil {
		return fmt.Errorf("postgres: append audit entry: %w: %v", store.ErrInvalid, err)
	}
	var seq int64
	err := s.write(ctx, "append audit entry", func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, "INSERT INTO audit_log (at, actor, action, target, remote, result) VALUES ($1, $2, $3, $4, $5, $6) RETURNING seq",
			e.At.UTC(), e.Actor, e.Action, e.Target, e.Remote, e.Result).Scan(&seq)
		if err != nil {
			return s.opErr("append audit entry", err)
		}
		return nil
	})
	if err == nil {
		e.Seq = seq
	}
	return err
}

func scanAudit(r pgx.Row) (store.AuditEntry, error) {
	var e store.AuditEntry
	if err := r.Scan(&e.Seq, &e.At, &e.Actor, &e.Action, &e.Target, &e.Remote, &e.Result); err != nil {
		return e, err
	}
	e.At = e.At.UTC()
	return e, nil
}

// ListAudit returns up to limit audit entries after seq `after`, in order.
func (s *Store) ListAudit(ctx context.Context, after int64, limit int) ([]store.AuditEntry, error) {
	return queryAll(ctx, s, s.pool, "list audit log", scanAudit, "SELECT seq, at, actor, action, target, remote, result FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2", after, pageSize(limit))
}
