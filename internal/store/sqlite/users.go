package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

const userColumns = "name, password_hash, scopes, created_at, updated_at, attributes"

func scanUser(r rowScanner) (store.User, error) {
	var (
		u                store.User
		scopes           string
		created, updated int64
		attrs            string
	)
	if err := r.Scan(&u.Name, &u.PasswordHash, &scopes, &created, &updated, &attrs); err != nil {
		return u, err
	}
	var err error
	if u.Attributes, err = store.DecodeAttributes(attrs); err != nil {
		return u, err
	}
	u.Scopes = splitScopes(scopes)
	u.CreatedAt = time.UnixMicro(created).UTC()
	u.UpdatedAt = time.UnixMicro(updated).UTC()
	return u, nil
}

func validateUser(u *store.User) error {
	if err := store.ValidateUserName(u.Name); err != nil {
		return err
	}
	if u.PasswordHash == "" {
		return errors.New("user has no password hash")
	}
	if u.CreatedAt.IsZero() {
		return errors.New("user has no creation time")
	}
	if err := store.ValidateScopes(u.Scopes); err != nil {
		return err
	}
	return store.ValidateAttributes(u.Attributes)
}

// AddUser stores a new user and appends user_added.
func (s *Store) AddUser(ctx context.Context, u *store.User) error {
	if err := validateUser(u); err != nil {
		return fmt.Errorf("sqlite: add user: %w: %v", store.ErrInvalid, err)
	}
	updated := u.UpdatedAt
	if updated.IsZero() {
		updated = u.CreatedAt
	}
	return s.tx(ctx, "add user", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO users ("+userColumns+") VALUES (?, ?, ?, ?, ?, ?)",
			u.Name, u.PasswordHash, joinScopes(u.Scopes), u.CreatedAt.UnixMicro(), updated.UnixMicro(), store.EncodeAttributes(u.Attributes))
		if isUniqueViolation(err) {
			return fmt.Errorf("sqlite: add user %q: %w", u.Name, store.ErrExists)
		}
		if err != nil {
			return s.opErr("add user", err)
		}
		return s.appendChange(ctx, tx, store.ChangeUserAdded, u.Name, u.CreatedAt)
	})
}

// User returns the user called name.
func (s *Store) User(ctx context.Context, name string) (store.User, error) {
	u, err := scanUser(s.getUser.QueryRowContext(ctx, name))
	return one(s, u, err, "get user", "user")
}

// ListUsers returns up to limit users with names after `after`, in name order.
func (s *Store) ListUsers(ctx context.Context, after string, limit int) ([]store.User, error) {
	return queryAll(ctx, s, s.db, "list users", scanUser, "SELECT "+userColumns+" FROM users WHERE name > ? ORDER BY name LIMIT ?", after, pageSize(limit))
}

// SetPassword replaces a user's password hash and appends user_password.
func (s *Store) SetPassword(ctx context.Context, name, hash string, at time.Time) error {
	if hash == "" {
		return fmt.Errorf("sqlite: set password: %w: empty hash", store.ErrInvalid)
	}
	return s.tx(ctx, "set password", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE users SET password_hash = ?, updated_at = ? WHERE name = ?", hash, at.UnixMicro(), name)
		if err != nil {
			return s.opErr("set password", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return s.opErr("set password", err)
		} else if n == 0 {
			return fmt.Errorf("sqlite: set password: user %q: %w", name, store.ErrNotFound)
		}
		return s.appendChange(ctx, tx, store.ChangeUserPassword, name, at)
	})
}

// RemoveUser deletes a user and appends user_removed.
func (s *Store) RemoveUser(ctx context.Context, name string) error {
	return s.tx(ctx, "remove user", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM users WHERE name = ?", name)
		if err != nil {
			return s.opErr("remove user", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return s.opErr("remove user", err)
		} else if n == 0 {
			return fmt.Errorf("sqlite: remove user %q: %w", name, store.ErrNotFound)
		}
		return s.appendChange(ctx, tx, store.ChangeUserRemoved, name, time.Now())
	})
}

// ImportUsers adds or updates users in one transaction.
func (s *Store) ImportUsers(ctx context.Context, users []store.User) (store.ImportResult, error) {
	var res store.ImportResult
	seen := map[string]bool{}
	for i := range users {
		if err := validateUser(&users[i]); err != nil {
			return res, fmt.Errorf("sqlite: import users: user %d: %w: %v", i+1, store.ErrInvalid, err)
		}
		if seen[users[i].Name] {
			return res, fmt.Errorf("sqlite: import users: %w: user %q appears twice", store.ErrInvalid, users[i].Name)
		}
		seen[users[i].Name] = true
	}
	err := s.tx(ctx, "import users", func(tx *sql.Tx) error {
		res = store.ImportResult{}
		for _, u := range users {
			var exists int
			err := tx.QueryRowContext(ctx, "SELECT 1 FROM users WHERE name = ?", u.Name).Scan(&exists)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				if _, err := tx.ExecContext(ctx, "INSERT INTO users ("+userColumns+") VALUES (?, ?, ?, ?, ?, ?)",
					u.Name, u.PasswordHash, joinScopes(u.Scopes), u.CreatedAt.UnixMicro(), u.CreatedAt.UnixMicro(), store.EncodeAttributes(u.Attributes)); err != nil {
					return s.opErr("import users", err)
				}
				if err := s.appendChange(ctx, tx, store.ChangeUserAdded, u.Name, u.CreatedAt); err != nil {
					return err
				}
				res.Added = append(res.Added, u.Name)
			case err != nil:
				return s.opErr("import users", err)
			default:
				q := "UPDATE users SET password_hash = ?, updated_at = ? WHERE name = ?"
				args := []any{u.PasswordHash, u.CreatedAt.UnixMicro(), u.Name}
				if u.Scopes != nil {
					q = "UPDATE users SET password_hash = ?, updated_at = ?, scopes = ? WHERE name = ?"
					args = []any{u.PasswordHash, u.CreatedAt.UnixMicro(), joinScopes(u.Scopes), u.Name}
				}
				if _, err := tx.ExecContext(ctx, q, args...); err != nil {
					return s.opErr("import users", err)
				}
				if u.Attributes != nil {
					if _, err := tx.ExecContext(ctx, "UPDATE users SET attributes = ? WHERE name = ?", store.EncodeAttributes(u.Attributes), u.Name); err != nil {
						return s.opErr("import users", err)
					}
				}
				if err := s.appendChange(ctx, tx, store.ChangeUserUpdated, u.Name, u.CreatedAt); err != nil {
					return err
				}
				res.Updated = append(res.Updated, u.Name)
			}
		}
		return nil
	})
	if err != nil {
		return store.ImportResult{}, err
	}
	return res, nil
}
