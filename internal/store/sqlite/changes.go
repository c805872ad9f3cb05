package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Changes are pruned so the table stays small: every pruneEvery-th change deletes those
// more than keepChanges behind it. A watcher that falls that far behind gets
// store.ErrChangesPruned and drops its caches.
const (
	keepChanges = 100000
	pruneEvery  = 1000
)

// appendChange records a change inside the caller's transaction, so it commits (or not)
// with the mutation it describes.
func (s *Store) appendChange(ctx context.Context, tx *sql.Tx, kind store.ChangeKind, subject string, at time.Time) error {
	res, err := tx.ExecContext(ctx, "INSERT INTO changes (kind, subject, at) VALUES (?, ?, ?)", string(kind), subject, at.UnixMicro())
	if err != nil {
		return s.opErr("record change", err)
	}
	seq, err := res.LastInsertId()
	if err != nil {
		return s.opErr("record change", err)
	}
	if seq%pruneEvery == 0 && seq > keepChanges {
		through := seq - keepChanges
		if _, err := tx.ExecContext(ctx, "DELETE FROM changes WHERE seq <= ?", through); err != nil {
			return s.opErr("prune changes", err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO meta (key, value) VALUES ('changes_pruned_through', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", through); err != nil {
			return s.opErr("prune changes", err)
		}
	}
	return nil
}

// LatestChange returns the highest committed change sequence number: one read of the
// last entry of the changes table's B-tree.
func (s *Store) LatestChange(ctx context.Context) (int64, error) {
	var seq int64
	if err := s.latest.QueryRowContext(ctx).Scan(&seq); err != nil {
		return 0, s.opErr("latest change", err)
	}
	return seq, nil
}

// Changes returns up to store.MaxChangesBatch changes after `after`.
func (s *Store) Changes(ctx context.Context, after int64) ([]store.Change, error) {
	var pruned int64
	err := s.db.QueryRowContext(ctx, "SELECT value FROM meta WHERE key = 'changes_pruned_through'").Scan(&pruned)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, s.opErr("read changes", err)
	}
	if after < pruned {
		return nil, fmt.Errorf("sqlite: read changes after %d: %w (pruned through %d)", after, store.ErrChangesPruned, pruned)
	}
	rows, err := s.db.QueryContext(ctx, "SELECT seq, kind, subject, at FROM changes WHERE seq > ? ORDER BY seq LIMIT ?", after, store.MaxChangesBatch)
	if err != nil {
		return nil, s.opErr("read changes", err)
	}
	defer rows.Close()
	var out []store.Change
	for rows.Next() {
		var (
			c    store.Change
			kind string
			at   int64
		)
		if err := rows.Scan(&c.Seq, &kind, &c.Subject, &at); err != nil {
			return nil, s.opErr("read changes", err)
		}
		c.Kind = store.ChangeKind(kind)
		c.At = time.UnixMicro(at).UTC()
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, s.opErr("read changes", err)
	}
	return out, nil
}
