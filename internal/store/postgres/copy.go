package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/jackc/pgx/v5"
)

// Source is what CopyFrom reads: any store that can page through all its records (the
// SQLite and PostgreSQL stores can).
type Source interface {
	ListKeys(ctx context.Context, after string, limit int) ([]store.APIKey, error)
	ListUsers(ctx context.Context, after string, limit int) ([]store.User, error)
	ListClients(ctx context.Context, after string, limit int) ([]store.Client, error)
	ListRevokedTokens(ctx context.Context, expiringAfter time.Time, after string, limit int) ([]store.RevokedToken, error)
	SigningKeys(ctx context.Context) ([]store.SigningKey, error)
	store.ChangeLog
}

// CopyOptions tune CopyFrom.
type CopyOptions struct {
	// IntoNonEmpty allows copying into a store that already holds records: copied
	// records replace those with the same id, others are kept. Without it a target
	// with any record is refused, so a mistyped URL never mixes two deployments.
	IntoNonEmpty bool
	// Progress, when set, is told after every page how many records of a kind were
	// read so far.
	Progress func(kind string, copied int)
}

// CopyReport counts what CopyFrom copied, by kind.
type CopyReport struct {
	Keys, Users, Clients, RevokedTokens, SigningKeys, Changes int
	// LatestChange is the change sequence number the target continues from.
	LatestChange int64
}

// ErrTargetNotEmpty is returned by CopyFrom for a target that holds records, unless
// CopyOptions.IntoNonEmpty.
var ErrTargetNotEmpty = errors.New("the target store is not empty")

const copyPage = 1000

// CopyFrom copies every record of src into s as it is: API keys with their hashes,
// revocations, rotations and last use; users with their password hashes; OAuth clients,
// removed ones included; revoked tokens; signing keys still sealed, with their
// schedule; and the change sequence, so the target's numbers continue after the
// source's. Nothing is re-hashed or re-issued: every credential that verified against
// src verifies against s.
//
// The copy is one transaction under the write lock: all or nothing. It is idempotent:
// copying again (with IntoNonEmpty) leaves the same records. At the end it checks that
// every copied record is in the target. Run it while no replica serves from the target:
// records replaced by a copy append no change, so running replicas would not drop what
// they cached about them.
func (s *Store) CopyFrom(ctx context.Context, src Source, o CopyOptions) (CopyReport, error) {
	var rep CopyReport
	progress := o.Progress
	if progress == nil {
		progress = func(string, int) {}
	}
	err := s.write(ctx, "copy", func(tx pgx.Tx) error {
		rep = CopyReport{}
		if !o.IntoNonEmpty {
			n, err := s.countRecords(ctx, tx)
			if err != nil {
				return err
			}
			if n > 0 {
				return fmt.Errorf("postgres: copy into %s: %w (it holds %d records): pass --into-non-empty to merge into it", s.where, ErrTargetNotEmpty, n)
			}
		}
		var ids idSets
		var err error
		if rep.Keys, err = copyPages(ctx, s, tx, "keys", progress, src.ListKeys, func(k store.APIKey) string { return k.ID }, s.copyKey, &ids.keys); err != nil {
			return err
		}
		if err := s.linkReplacements(ctx, tx, src); err != nil {
			return err
		}
		if rep.Users, err = copyPages(ctx, s, tx, "users", progress, src.ListUsers, func(u store.User) string { return u.Name }, s.copyUser, &ids.users); err != nil {
			return err
		}
		if rep.Clients, err = copyPages(ctx, s, tx, "clients", progress, src.ListClients, func(c store.Client) string { return c.ID }, s.copyClient, &ids.clients); err != nil {
			return err
		}
		listRevoked := func(ctx context.Context, after string, limit int) ([]store.RevokedToken, error) {
			return src.ListRevokedTokens(ctx, time.Unix(0, 0), after, limit)
		}
		if rep.RevokedTokens, err = copyPages(ctx, s, tx, "revoked tokens", progress, listRevoked, func(t store.RevokedToken) string { return t.ID }, s.copyRevoked, &ids.revoked); err != nil {
			return err
		}
		sks, err := src.SigningKeys(ctx)
		if err != nil {
			return fmt.Errorf("postgres: copy: read signing keys: %w", err)
		}
		for i := range sks {
			if err := s.copySigningKey(ctx, tx, &sks[i]); err != nil {
				return err
			}
			ids.signing = append(ids.signing, sks[i].ID)
		}
		rep.SigningKeys = len(sks)
		progress("signing keys", len(sks))
		if rep.Changes, rep.LatestChange, err = s.copyChanges(ctx, tx, src, progress); err != nil {
			return err
		}
		return s.verifyCopy(ctx, tx, &ids, rep)
	})
	if err != nil {
		return CopyReport{}, err
	}
	return rep, nil
}

type idSets struct{ keys, users, clients, revoked, signing []string }

// copyPages pages through list and writes each record with put.
func copyPages[T any](ctx context.Context, s *Store, tx pgx.Tx, kind string, progress func(string, int),
	list func(context.Context, string, int) ([]T, error), id func(T) string,
	put func(context.Context, pgx.Tx, *T) error, ids *[]string) (int, error) {
	after, n := "", 0
	for {
		page, err := list(ctx, after, copyPage)
		if err != nil {
			return n, fmt.Errorf("postgres: copy: read %s: %w", kind, err)
		}
		for i := range page {
			if err := put(ctx, tx, &page[i]); err != nil {
				return n, err
			}
			*ids = append(*ids, id(page[i]))
		}
		n += len(page)
		progress(kind, n)
		if len(page) < copyPage {
			return n, nil
		}
		after = id(page[len(page)-1])
	}
}

func (s *Store) countRecords(ctx context.Context, tx pgx.Tx) (int64, error) {
	var n int64
	err := tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM api_keys) + (SELECT count(*) FROM users) +
		(SELECT count(*) FROM oauth_clients) + (SELECT count(*) FROM revoked_tokens) +
		(SELECT count(*) FROM signing_keys) + (SELECT count(*) FROM changes)`).Scan(&n)
	if err != nil {
		return 0, s.opErr("copy: count records", err)
	}
	return n, nil
}

// copyKey writes k without its replaced_by, which may name a key not copied yet;
// linkReplacements sets it once every key is in.
func (s *Store) copyKey(ctx context.Context, tx pgx.Tx, k *store.APIKey) error {
	_, err := tx.Exec(ctx, `INSERT INTO api_keys (`+keyColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, $10, $11)
		ON CONFLICT (id) DO UPDATE SET name = excluded.name, env = excluded.env, scopes = excluded.scopes,
		secret_hash = excluded.secret_hash, hash_alg = excluded.hash_alg, created_at = excluded.created_at,
		expires_at = excluded.expires_at, revoked_at = excluded.revoked_at, last_used_at = excluded.last_used_at,
		attributes = excluded.attributes`,
		k.ID, k.Name, k.Env, joinScopes(k.Scopes), k.SecretHash, k.HashAlg, k.CreatedAt.UTC(),
		nullTime(k.ExpiresAt), nullTime(k.RevokedAt), nullTime(k.LastUsedAt), store.EncodeAttributes(k.Attributes))
	if err != nil {
		return s.opErr("copy key "+k.ID, err)
	}
	return nil
}

func (s *Store) linkReplacements(ctx context.Context, tx pgx.Tx, src Source) error {
	after := ""
	for {
		page, err := src.ListKeys(ctx, after, copyPage)
		if err != nil {
			return fmt.Errorf("postgres: copy: read keys: %w", err)
		}
		for _, k := range page {
			if k.ReplacedBy == "" {
				continue
			}
			if _, err := tx.Exec(ctx, "UPDATE api_keys SET replaced_by = $1 WHERE id = $2", k.ReplacedBy, k.ID); err != nil {
				return s.opErr("copy key "+k.ID, err)
			}
		}
		if len(page) < copyPage {
			return nil
		}
		after = page[len(page)-1].ID
	}
}

func (s *Store) copyUser(ctx context.Context, tx pgx.Tx, u *store.User) error {
	_, err := tx.Exec(ctx, `INSERT INTO users (`+userColumns+`) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (name) DO UPDATE SET password_hash = excluded.password_hash, scopes = excluded.scopes,
		created_at = excluded.created_at, updated_at = excluded.updated_at, attributes = excluded.attributes`,
		u.Name, u.PasswordHash, joinScopes(u.Scopes), u.CreatedAt.UTC(), u.UpdatedAt.UTC(), store.EncodeAttributes(u.Attributes))
	if err != nil {
		return s.opErr("copy a user", err)
	}
	return nil
}

func (s *Store) copyClient(ctx context.Context, tx pgx.Tx, c *store.Client) error {
	// A removed client's secret hash is empty, which a driver may hand over as nil:
	// the column wants an empty value, not NULL.
	_, err := tx.Exec(ctx, `INSERT INTO oauth_clients (`+clientColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT (id) DO UPDATE SET name = excluded.name, secret_hash = excluded.secret_hash, hash_alg = excluded.hash_alg,
		scopes = excluded.scopes, audience = excluded.audience, access_token_ttl = excluded.access_token_ttl,
		created_at = excluded.created_at, removed_at = excluded.removed_at, introspect = excluded.introspect`,
		c.ID, c.Name, append([]byte{}, c.SecretHash...), c.HashAlg, joinScopes(c.Scopes), c.Audience, c.AccessTokenTTL.Microseconds(),
		c.CreatedAt.UTC(), nullTime(c.RemovedAt), c.Introspect)
	if err != nil {
		return s.opErr("copy client "+c.ID, err)
	}
	return nil
}

func (s *Store) copyRevoked(ctx context.Context, tx pgx.Tx, t *store.RevokedToken) error {
	_, err := tx.Exec(ctx, `INSERT INTO revoked_tokens (`+revokedColumns+`) VALUES ($1, $2, $3, $4)
		ON CONFLICT (jti) DO UPDATE SET client_id = excluded.client_id, expires_at = excluded.expires_at, revoked_at = excluded.revoked_at`,
		t.ID, t.ClientID, t.ExpiresAt.UTC(), t.RevokedAt.UTC())
	if err != nil {
		return s.opErr("copy revoked token", err)
	}
	return nil
}

func (s *Store) copySigningKey(ctx context.Context, tx pgx.Tx, k *store.SigningKey) error {
	_, err := tx.Exec(ctx, `INSERT INTO signing_keys (`+signingKeyColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (kid) DO UPDATE SET alg = excluded.alg, public_jwk = excluded.public_jwk, private_key = excluded.private_key,
		created_at = excluded.created_at, activates_at = excluded.activates_at, retires_at = excluded.retires_at, expires_at = excluded.expires_at`,
		k.ID, k.Algorithm, k.PublicJWK, k.PrivateKey, k.CreatedAt.UTC(), k.ActivatesAt.UTC(), nullTime(k.RetiresAt), nullTime(k.ExpiresAt))
	if err != nil {
		return s.opErr("copy signing key "+k.ID, err)
	}
	return nil
}

// copyChanges copies the change history the source still holds and moves the target's
// sequence to at least the source's latest number.
func (s *Store) copyChanges(ctx context.Context, tx pgx.Tx, src Source, progress func(string, int)) (int, int64, error) {
	latest, err := src.LatestChange(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("postgres: copy: read the change sequence: %w", err)
	}
	n := 0
	var after int64
	for after < latest {
		page, err := src.Changes(ctx, after)
		if errors.Is(err, store.ErrChangesPruned) {
			// The oldest changes are gone: the history restarts at latest, which is
			// what a watcher of the target starts from anyway.
			if _, err := tx.Exec(ctx, "UPDATE meta SET value = greatest(value, $1) WHERE key = 'changes_pruned_through'", latest); err != nil {
				return n, 0, s.opErr("copy changes", err)
			}
			break
		}
		if err != nil {
			return n, 0, fmt.Errorf("postgres: copy: read changes: %w", err)
		}
		if len(page) == 0 {
			break
		}
		for _, c := range page {
			if _, err := tx.Exec(ctx, "INSERT INTO changes (seq, kind, subject, at) VALUES ($1, $2, $3, $4) ON CONFLICT (seq) DO NOTHING",
				c.Seq, string(c.Kind), c.Subject, c.At.UTC()); err != nil {
				return n, 0, s.opErr("copy changes", err)
			}
			after = c.Seq
		}
		n += len(page)
		progress("changes", n)
	}
	var seq int64
	if err := tx.QueryRow(ctx, "UPDATE meta SET value = greatest(value, $1) WHERE key = 'change_seq' RETURNING value", latest).Scan(&seq); err != nil {
		return n, 0, s.opErr("copy changes", err)
	}
	return n, seq, nil
}

// verifyCopy checks, inside the copy's transaction, that every copied record is there.
func (s *Store) verifyCopy(ctx context.Context, tx pgx.Tx, ids *idSets, rep CopyReport) error {
	checks := []struct {
		kind, table, col string
		ids              []string
	}{
		{"keys", "api_keys", "id", ids.keys},
		{"users", "users", "name", ids.users},
		{"clients", "oauth_clients", "id", ids.clients},
		{"revoked tokens", "revoked_tokens", "jti", ids.revoked},
		{"signing keys", "signing_keys", "kid", ids.signing},
	}
	for _, c := range checks {
		var n int
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM "+c.table+" WHERE "+c.col+" = ANY($1)", c.ids).Scan(&n); err != nil {
			return s.opErr("copy: verify", err)
		}
		if n != len(c.ids) {
			return fmt.Errorf("postgres: copy: verify: %d %s read from the source but %d found in the target; nothing was committed", len(c.ids), c.kind, n)
		}
	}
	var latest int64
	if err := tx.QueryRow(ctx, "SELECT value FROM meta WHERE key = 'change_seq'").Scan(&latest); err != nil {
		return s.opErr("copy: verify", err)
	}
	if latest < rep.LatestChange {
		return fmt.Errorf("postgres: copy: verify: the change sequence is at %d, below the source's %d; nothing was committed", latest, rep.LatestChange)
	}
	return nil
}
