package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

const adminTokenColumns = "id, name, secret_hash, hash_alg, created_at, expires_at, revoked_at"

func scanAdminToken(r rowScanner) (store.AdminToken, error) {
	var (
		t                store.AdminToken
		created          int64
		expires, revoked sql.NullInt64
	)
	if err := r.Scan(&t.ID, &t.Name, &t.SecretHash, &t.HashAlg, &created, &expires, &revoked); err != nil {
		return t, err
	}
	t.CreatedAt = time.UnixMicro(created).UTC()
	t.ExpiresAt = fromMicro(expires)
	t.RevokedAt = fromMicro(revoked)
	return t, nil
}

// CreateAdminToken stores a new admin token.
func (s *Store) CreateAdminToken(ctx context.Context, t *store.AdminToken) error {
	if err := store.ValidateAdminToken(t); err != nil {
		return fmt.Errorf("sqlite: create admin token: %w: %v", store.ErrInvalid, err)
	}
	return s.tx(ctx, "create admin token", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO admin_tokens ("+adminTokenColumns+") VALUES (?, ?, ?, ?, ?, ?, NULL)",
			t.ID, t.Name, t.SecretHash, t.HashAlg, t.CreatedAt.UnixMicro(), toMicro(t.ExpiresAt))
		if isUniqueViolation(err) {
			return fmt.Errorf("sqlite: create admin token %s: %w", t.ID, store.ErrExists)
		}
		if err != nil {
			return s.opErr("create admin token", err)
		}
		return nil
	})
}

// AdminToken returns the admin token with id.
func (s *Store) AdminToken(ctx context.Context, id string) (store.AdminToken, error) {
	return s.adminTokenFrom(ctx, s.db, id)
}

func (s *Store) adminTokenFrom(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, id string) (store.AdminToken, error) {
	t, err := scanAdminToken(q.QueryRowContext(ctx, "SELECT "+adminTokenColumns+" FROM admin_tokens WHERE id = ?", id))
	return one(s, t, err, "get admin token", "admin token "+id)
}

// ListAdminTokens returns up to limit admin tokens with ids after `after`, in id order.
func (s *Store) ListAdminTokens(ctx context.Context, after string, limit int) ([]store.AdminToken, error) {
	return queryAll(ctx, s, s.db, "list admin tokens", scanAdminToken, "SELECT "+adminTokenColumns+" FROM admin_tokens WHERE id > ? ORDER BY id LIMIT ?", after, pageSize(limit))
}

// RevokeAdminToken revokes the admin token at at, unless it already was.
func (s *Store) RevokeAdminToken(ctx context.Context, id string, at time.Time) (store.AdminToken, error) {
	var out store.AdminToken
	err := s.tx(ctx, "revoke admin token", func(tx *sql.Tx) error {
		t, err := s.adminTokenFrom(ctx, tx, id)
		if err != nil {
			return err
		}
		if t.RevokedAt.IsZero() {
			if _, err := tx.ExecContext(ctx, "UPDATE admin_tokens SET revoked_at = ? WHERE id = ?", at.UnixMicro(), id); err != nil {
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
		return fmt.Errorf("sqlite: append audit entry: %w: %v", store.ErrInvalid, err)
	}
	return s.tx(ctx, "append audit entry", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "INSERT INTO audit_log (at, actor, action, target, remote, result) VALUES (?, ?, ?, ?, ?, ?)",
			e.At.UnixMicro(), e.Actor, e.Action, e.Target, e.Remote, e.Result)
		if err != nil {
			return s.opErr("append audit entry", err)
		}
		seq, err := res.LastInsertId()
		if err != nil {
			return s.opErr("append audit entry", err)
		}
		e.Seq = seq
		return nil
	})
}

func scanAudit(r rowScanner) (store.AuditEntry, error) {
	var (
		e  store.AuditEntry
		at int64
	)
	if err := r.Scan(&e.Seq, &at, &e.Actor, &e.Action, &e.Target, &e.Remote, &e.Result); err != nil {
		return e, err
	}
	e.At = time.UnixMicro(at).UTC()
	return e, nil
}

// ListAudit returns up to limit audit entries after seq `after`, in order.
func (s *Store) ListAudit(ctx context.Context, after int64, limit int) ([]store.AuditEntry, error) {
	return queryAll(ctx, s, s.db, "list audit log", scanAudit, "SELECT seq, at, actor, action, target, remote, result FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?", after, pageSize(limit))
}
