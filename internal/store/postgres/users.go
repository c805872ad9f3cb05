package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/jackc/pgx/v5"
)

const userColumns = "name, password_hash, scopes, created_at, updated_at, attributes"

func scanUser(r pgx.Row) (store.User, error) {
	var (
		u      store.User
		scopes string
		attrs  string
	)
	if err := r.Scan(&u.Name, &u.PasswordHash, &scopes, &u.CreatedAt, &u.UpdatedAt, &attrs); err != nil {
		return u, err
	}
	var err error
	if u.Attributes, err = store.DecodeAttributes(attrs); err != nil {
		return u, err
	}
	u.Scopes = splitScopes(scopes)
	u.CreatedAt, u.UpdatedAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC()
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
		return fmt.Errorf("postgres: add user: %w: %v", store.ErrInvalid, err)
	}
	updated := u.UpdatedAt
	if updated.IsZero() {
		updated = u.CreatedAt
	}
	return s.write(ctx, "add user", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO users ("+userColumns+") VALUES ($1, $2, $3, $4, $5, $6)",
			u.Name, u.PasswordHash, joinScopes(u.Scopes), u.CreatedAt.UTC(), updated.UTC(), store.EncodeAttributes(u.Attributes))
		if isUniqueViolation(err) {
			return fmt.Errorf("postgres: add user %q: %w", u.Name, store.ErrExists)
		}
		if err != nil {
			return s.opErr("add user", err)
		}
		return s.appendChange(ctx, tx, store.ChangeUserAdded, u.Name, u.CreatedAt)
	})
}

// User returns the user called name.
func (s *Store) User(ctx context.Context, name string) (store.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, "SELECT "+userColumns+" FROM users WHERE name = $1", name))
	return one(s, u, err, "get user", "user")
}

// SetPassword replaces a user's password hash and appends user_password.
func (s *Store) SetPassword(ctx context.Context, name, hash string, at time.Time) error {
	if hash == "" {
		return fmt.Errorf("postgres: set password: %w: empty hash", store.ErrInvalid)
	}
	return s.write(ctx, "set password", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "UPDATE users SET password_hash = $1, updated_at = $2 WHERE name = $3", hash, at.UTC(), name)
		if err != nil {
			return s.opErr("set password", err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("postgres: set password: user %q: %w", name, store.ErrNotFound)
		}
		return s.appendChange(ctx, tx, store.ChangeUserPassword, name, at)
	})
}

// RemoveUser deletes a user and appends user_removed.
func (s *Store) RemoveUser(ctx context.Context, name string) error {
	return s.write(ctx, "remove user", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "DELETE FROM users WHERE name = $1", name)
		if err != nil {
			return s.opErr("remove user", err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("postgres: remove user %q: %w", name, store.ErrNotFound)
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
			return res, fmt.Errorf("postgres: import users: user %d: %w: %v", i+1, store.ErrInvalid, err)
		}
		if seen[users[i].Name] {
			return res, fmt.Errorf("postgres: import users: %w: user %q appears twice", store.ErrInvalid, users[i].Name)
		}
		seen[users[i].Name] = true
	}
	err := s.write(ctx, "import users", func(tx pgx.Tx) error {
		res = store.ImportResult{}
		for _, u := range users {
			var exists int
			err := tx.QueryRow(ctx, "SELECT 1 FROM users WHERE name = $1", u.Name).Scan(&exists)
			switch {
			case errors.Is(err, pgx.ErrNoRows):
				if _, err := tx.Exec(ctx, "INSERT INTO users ("+userColumns+") VALUES ($1, $2, $3, $4, $4, $5)",
					u.Name, u.PasswordHash, joinScopes(u.Scopes), u.CreatedAt.UTC(), store.EncodeAttributes(u.Attributes)); err != nil {
					return s.opErr("import users", err)
				}
				if err := s.appendChange(ctx, tx, store.ChangeUserAdded, u.Name, u.CreatedAt); err != nil {
					return err
				}
				res.Added = append(res.Added, u.Name)
			case err != nil:
				return s.opErr("import users", err)
			default:
				q := "UPDATE users SET password_hash = $1, updated_at = $2 WHERE name = $3"
				args := []any{u.PasswordHash, u.CreatedAt.UTC(), u.Name}
				if u.Scopes != nil {
					q = "UPDATE users SET password_hash = $1, updated_at = $2, scopes = $4 WHERE name = $3"
					args = append(args, joinScopes(u.Scopes))
				}
				if _, err := tx.Exec(ctx, q, args...); err != nil {
					return s.opErr("import users", err)
				}
				if u.Attributes != nil {
					if _, err := tx.Exec(ctx, "UPDATE users SET attributes = $1 WHERE name = $2", store.EncodeAttributes(u.Attributes), u.Name); err != nil {
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

// ListUsers returns up to limit users with names greater than after, in name order (for
// `gatehouse store copy`).
func (s *Store) ListUsers(ctx context.Context, after string, limit int) ([]store.User, error) {
	return queryAll(ctx, s, s.pool, "list users", scanUser, "SELECT "+userColumns+" FROM users WHERE name > $1 ORDER BY name LIMIT $2", after, pageSize(limit))
}
