package admin

import (
	"context"
	"fmt"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Users is what the CLI's users add, passwd and remove need; Session and Client
// implement it.
type Users interface {
	// User returns the user with that name (never its password hash).
	User(ctx context.Context, name string) (UserResult, error)
	AddUser(ctx context.Context, r AddUserRequest) (UserResult, error)
	SetPassword(ctx context.Context, name string, r SetPasswordRequest) (UserResult, error)
	RemoveUser(ctx context.Context, name string) (UserResult, error)
}

// AddUserRequest is the body of POST /admin/v1/users.
type AddUserRequest struct {
	Name   string   `json:"name"`
	Scopes []string `json:"scopes,omitempty"`
	// Password is hashed with argon2id by the service; it is never stored, logged or
	// audited.
	Password string `json:"password"`
}

// SetPasswordRequest is the body of POST /admin/v1/users/{name}/passwd.
type SetPasswordRequest struct {
	Password string `json:"password"`
}

// UserResult is the answer to a user operation: never a password or its hash.
type UserResult struct {
	Name    string   `json:"name"`
	Scopes  []string `json:"scopes,omitempty"`
	Removed bool     `json:"removed,omitempty"`
}

// CheckPassword checks a new password: present, at most secret.MaxPasswordBytes, UTF-8.
func CheckPassword(pw string) error {
	switch {
	case pw == "":
		return fmt.Errorf("no password: give it on the first line of standard input, or run in a terminal to be prompted")
	case len(pw) > secret.MaxPasswordBytes:
		return fmt.Errorf("the password is longer than %d bytes", secret.MaxPasswordBytes)
	case !utf8.ValidString(pw):
		return fmt.Errorf(`the password is not valid UTF-8; Basic clients send UTF-8 (charset="UTF-8"), so it could never be matched`)
	}
	return nil
}

// User returns a user's name and scopes.
func (s *Session) User(ctx context.Context, name string) (UserResult, error) {
	if err := store.ValidateUserName(name); err != nil {
		return UserResult{}, badRequest("%v", err)
	}
	u, err := s.svc.Store.User(ctx, name)
	if err != nil {
		return UserResult{}, classify(err, fmt.Sprintf("no user %q (add it with: gatehouse users add)", name), "")
	}
	return UserResult{Name: u.Name, Scopes: nonNil(u.Scopes)}, nil
}

// AddUser adds a Basic user.
func (s *Session) AddUser(ctx context.Context, r AddUserRequest) (UserResult, error) {
	out, err := s.addUser(ctx, r)
	return out, s.audit(ctx, "users.add", auditName(r.Name), err)
}

func (s *Session) addUser(ctx context.Context, r AddUserRequest) (UserResult, error) {
	if err := store.ValidateUserName(r.Name); err != nil {
		return UserResult{}, badRequest("%v", err)
	}
	if err := store.ValidateScopes(r.Scopes); err != nil {
		return UserResult{}, badRequest("--scopes: %v", err)
	}
	if err := CheckPassword(r.Password); err != nil {
		return UserResult{}, badRequest("%v", err)
	}
	hash, err := secret.HashPassword(r.Password)
	if err != nil {
		return UserResult{}, err
	}
	now := s.svc.now()
	err = s.svc.Store.AddUser(ctx, &store.User{Name: r.Name, PasswordHash: hash, Scopes: r.Scopes, CreatedAt: now, UpdatedAt: now})
	if err != nil {
		return UserResult{}, classify(err, "", fmt.Sprintf("user %q already exists (change the password with: gatehouse users passwd)", r.Name))
	}
	return UserResult{Name: r.Name, Scopes: nonNil(r.Scopes)}, nil
}

// SetPassword replaces a user's password.
func (s *Session) SetPassword(ctx context.Context, name string, r SetPasswordRequest) (UserResult, error) {
	out, err := s.setPassword(ctx, name, r)
	return out, s.audit(ctx, "users.passwd", auditName(name), err)
}

func (s *Session) setPassword(ctx context.Context, name string, r SetPasswordRequest) (UserResult, error) {
	if err := store.ValidateUserName(name); err != nil {
		return UserResult{}, badRequest("%v", err)
	}
	if err := CheckPassword(r.Password); err != nil {
		return UserResult{}, badRequest("%v", err)
	}
	hash, err := secret.HashPassword(r.Password)
	if err != nil {
		return UserResult{}, err
	}
	if err := s.svc.Store.SetPassword(ctx, name, hash, s.svc.now()); err != nil {
		return UserResult{}, classify(err, fmt.Sprintf("no user %q", name), "")
	}
	return UserResult{Name: name}, nil
}

// RemoveUser removes a Basic user.
func (s *Session) RemoveUser(ctx context.Context, name string) (UserResult, error) {
	err := store.ValidateUserName(name)
	if err != nil {
		err = badRequest("%v", err)
	} else if err = s.svc.Store.RemoveUser(ctx, name); err != nil {
		err = classify(err, fmt.Sprintf("no user %q", name), "")
	}
	if err != nil {
		return UserResult{}, s.audit(ctx, "users.remove", auditName(name), err)
	}
	return UserResult{Name: name, Removed: true}, s.audit(ctx, "users.remove", auditName(name), nil)
}

// auditName keeps a user name that is not valid UTF-8 out of the audit log's text.
func auditName(name string) string {
	if !utf8.ValidString(name) {
		return "(invalid name)"
	}
	return sanitize(name)
}

// ImportResult is the answer to an import: the names added and updated, in input order.
type ImportResult struct {
	Added   []string `json:"added"`
	Updated []string `json:"updated"`
}

// ImportUsers adds or updates users whose password hashes were read from an htpasswd
// file, all or nothing. It is local only (the CLI reads the file); the audit entry
// names how many users, not who, since a file may hold thousands.
func (s *Session) ImportUsers(ctx context.Context, users []store.User) (ImportResult, error) {
	res, err := s.svc.Store.ImportUsers(ctx, users)
	if err != nil {
		return ImportResult{}, s.audit(ctx, "users.import", fmt.Sprintf("%d users", len(users)), classify(err, "", ""))
	}
	out := ImportResult{Added: nonNil(res.Added), Updated: nonNil(res.Updated)}
	return out, s.audit(ctx, "users.import", fmt.Sprintf("%d users (%d added, %d updated)", len(users), len(res.Added), len(res.Updated)), nil)
}
