package postgres

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/jackc/pgx/v5"
)

// Changes are pruned so the table stays small, as in SQLite: every pruneEvery-th change
// deletes those more than keepChanges behind it. A watcher that falls that far behind
// gets store.ErrChangesPruned and drops its caches.
const (
	keepChanges = 100000
	pruneEvery  = 1000
)

// Channel is the LISTEN/NOTIFY channel the store announces committed changes on. The
// payload is the change's sequence number in decimal.
const Channel = "gatehouse_changes"

// appendChange records a change inside the caller's transaction (which holds the write
// lock, see write), so it commits (or not) with the mutation it describes, and queues a
// NOTIFY that PostgreSQL delivers at commit.
func (s *Store) appendChange(ctx context.Context, tx pgx.Tx, kind store.ChangeKind, subject string, at time.Time) error {
	var seq int64
	if err := tx.QueryRow(ctx, "UPDATE meta SET value = value + 1 WHERE key = 'change_seq' RETURNING value").Scan(&seq); err != nil {
		return s.opErr("record change", err)
	}
	if _, err := tx.Exec(ctx, "INSERT INTO changes (seq, kind, subject, at) VALUES ($1, $2, $3, $4)", seq, string(kind), subject, at.UTC()); err != nil {
		return s.opErr("record change", err)
	}
	if _, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", Channel, strconv.FormatInt(seq, 10)); err != nil {
		return s.opErr("record change", err)
	}
	if seq%pruneEvery == 0 && seq > keepChanges {
		through := seq - keepChanges
		if _, err := tx.Exec(ctx, "DELETE FROM changes WHERE seq <= $1", through); err != nil {
			return s.opErr("prune changes", err)
		}
		if _, err := tx.Exec(ctx, "UPDATE meta SET value = $1 WHERE key = 'changes_pruned_through'", through); err != nil {
			return s.opErr("prune changes", err)
		}
	}
	return nil
}

// LatestChange returns the highest committed change sequence number: one primary-key
// read of the counter.
func (s *Store) LatestChange(ctx context.Context) (int64, error) {
	var seq int64
	if err := s.pool.QueryRow(ctx, "SELECT value FROM meta WHERE key = 'change_seq'").Scan(&seq); err != nil {
		return 0, s.opErr("latest change", err)
	}
	return seq, nil
}

// Changes returns up to store.MaxChangesBatch changes after `after`.
func (s *Store) Changes(ctx context.Context, after int64) ([]store.Change, error) {
	var pruned int64
	if err := s.pool.QueryRow(ctx, "SELECT value FROM meta WHERE key = 'changes_pruned_through'").Scan(&pruned); err != nil {
		return nil, s.opErr("read changes", err)
	}
	if after < pruned {
		return nil, fmt.Errorf("postgres: read changes after %d: %w (pruned through %d)", after, store.ErrChangesPruned, pruned)
	}
	rows, err := s.pool.Query(ctx, "SELECT seq, kind, subject, at FROM changes WHERE seq > $1 ORDER BY seq LIMIT $2", after, store.MaxChangesBatch)
	if err != nil {
		return nil, s.opErr("read changes", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Change, error) {
		var (
			c    store.Change
			kind string
		)
		err := r.Scan(&c.Seq, &kind, &c.Subject, &c.At)
		c.Kind = store.ChangeKind(kind)
		c.At = c.At.UTC()
		return c, err
	})
	if err != nil {
		return nil, s.opErr("read changes", err)
	}
	return out, nil
}
