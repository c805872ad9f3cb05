package admin

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Users is what the CLI's users commands need; Session and Client implement it.
type Users interface {
	// User returns the user with that name (never its password hash).
	User(ctx context.Context, name string) (UserResult, error)
	AddUser(ctx context.Context, r AddUserRequest) (UserResult, error)
	SetPassword(ctx context.Context, name string, r SetPasswordRequest) (UserResult, error)
	RemoveUser(ctx context.Context, name string) (UserResult, error)
	// ListUsers returns up to limit users with names greater than after (byte order),
	// in name order; never a password hash, only its algorithm.
	ListUsers(ctx context.Context, after string, limit int) ([]ListedUser, error)
	// ImportUsers adds or updates users from htpasswd entries, all or nothing.
	ImportUsers(ctx context.Context, r ImportUsersRequest) (ImportResult, error)
}

// ListedUser is one user of a listing (users list --json): the algorithm of its password
// hash, never the hash.
type ListedUser struct {
	Name      string   `json:"name"`
	Scopes    []string `json:"scopes"`
	Hash      string   `json:"hash"`
	CreatedAt Time     `json:"created_at"`
	UpdatedAt Time     `json:"updated_at"`
	// Attributes are the user's attributes.
	Attributes map[string]string `json:"attributes,omitempty"`
}

// ImportUsersRequest is the body of POST /admin/v1/users/import: the entries of an
// htpasswd file the caller read and parsed, and the scopes for every one of them.
type ImportUsersRequest struct {
	Users []ImportedUser `json:"users"`
	// Scopes, when not empty, replace every imported user's scopes; otherwise existing
	// users keep theirs and new ones get none.
	Scopes []string `json:"scopes,omitempty"`
}

// ImportedUser is one htpasswd entry to import. Line is its line in the caller's file,
// so a refusal can name it.
type ImportedUser struct {
	Name string `json:"name"`
	Hash string `json:"hash"`
	Line int    `json:"line"`
}

// HashAlg names a stored password hash's algorithm (argon2id or bcrypt), so weaker
// imported hashes show in a listing without the hash.
func HashAlg(h string) string {
	switch {
	case strings.HasPrefix(h, "$argon2id$"):
		return "argon2id"
	case strings.HasPrefix(h, "$2a$"), strings.HasPrefix(h, "$2b$"), strings.HasPrefix(h, "$2y$"):
		return "bcrypt"
	}
	return "unknown"
}

// ListUsers returns a page of users: names, scopes, hash algorithms and times.
func (s *Session) ListUsers(ctx context.Context, after string, limit int) ([]ListedUser, error) {
	us, err := s.svc.Store.ListUsers(ctx, after, limit)
	if err != nil {
		return nil, classify(err, "", "")
	}
	out := make([]ListedUser, 0, len(us))
	for _, u := range us {
		out = append(out, ListedUser{Name: u.Name, Scopes: nonNil(u.Scopes), Hash: HashAlg(u.PasswordHash),
			CreatedAt: Time(u.CreatedAt), UpdatedAt: Time(u.UpdatedAt), Attributes: u.Attributes})
	}
	return out, nil
}

// AddUserRequest is the body of POST /admin/v1/users.
type AddUserRequest struct {
	Name   string   `json:"name"`
	Scopes []string `json:"scopes,omitempty"`
	// Password is hashed with argon2id by the service; it is never stored, logged or
	// audited.
	Password string `json:"password"`
	// Attributes become the user's claims (--attr team=ops); see
	// store.ValidateAttributes.
	Attributes map[string]string `json:"attributes,omitempty"`
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
	// Attributes are the user's attributes.
	Attributes map[string]string `json:"attributes,omitempty"`
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
	return UserResult{Name: u.Name, Scopes: nonNil(u.Scopes), Attributes: u.Attributes}, nil
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
	if err := store.ValidateAttributes(r.Attributes); err != nil {
		return UserResult{}, badRequest("--attr: %v", err)
	}
	if err := CheckPassword(r.Password); err != nil {
		return UserResult{}, badRequest("%v", err)
	}
	hash, err := secret.HashPassword(r.Password)
	if err != nil {
		return UserResult{}, err
	}
	now := s.svc.now()
	err = s.svc.Store.AddUser(ctx, &store.User{Name: r.Name, PasswordHash: hash, Scopes: r.Scopes, Attributes: r.Attributes, CreatedAt: now, UpdatedAt: now})
	if err != nil {
		return UserResult{}, classify(err, "", fmt.Sprintf("user %q already exists (change the password with: gatehouse users passwd)", r.Name))
	}
	return UserResult{Name: r.Name, Scopes: nonNil(r.Scopes), Attributes: r.Attributes}, nil
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
// file, all or nothing. Every entry is checked again (name, hash family and bounds, no
// name twice), since an API caller need not be the CLI; a refusal names the line. The
// audit entry names how many users and who (clipped to the audit field), never a hash.
func (s *Session) ImportUsers(ctx context.Context, r ImportUsersRequest) (ImportResult, error) {
	res, err := s.importUsers(ctx, r)
	var b strings.Builder
	if err == nil {
		fmt.Fprintf(&b, "%d users (%d added, %d updated)", len(r.Users), len(res.Added), len(res.Updated))
	} else {
		fmt.Fprintf(&b, "%d users", len(r.Users))
	}
	// The names, as many as fit in the audit field (audit clips the rest).
	for i, u := range r.Users {
		if b.Len() > store.MaxAuditField {
			break
		}
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteByte(' ')
		}
		b.WriteString(auditName(u.Name))
	}
	return res, s.audit(ctx, "users.import", b.String(), err)
}

func (s *Session) importUsers(ctx context.Context, r ImportUsersRequest) (ImportResult, error) {
	if len(r.Users) == 0 {
		return ImportResult{}, badRequest("no users to import")
	}
	if err := store.ValidateScopes(r.Scopes); err != nil {
		return ImportResult{}, badRequest("--scopes: %v", err)
	}
	var scopes []string
	if len(r.Scopes) > 0 {
		scopes = r.Scopes
	}
	now := s.svc.now()
	seen := make(map[string]int, len(r.Users))
	users := make([]store.User, 0, len(r.Users))
	for _, u := range r.Users {
		if err := store.ValidateUserName(u.Name); err != nil {
			return ImportResult{}, badRequest("line %d: %v", u.Line, err)
		}
		if first, dup := seen[u.Name]; dup {
			return ImportResult{}, badRequest("line %d: user %q appears again (first on line %d)", u.Line, u.Name, first)
		}
		seen[u.Name] = u.Line
		if err := secret.CheckPasswordHash(u.Hash); err != nil {
			// The error names the hash's format and why, never the hash.
			return ImportResult{}, badRequest("line %d: user %q: %v", u.Line, u.Name, err)
		}
		users = append(users, store.User{Name: u.Name, PasswordHash: u.Hash, Scopes: scopes, CreatedAt: now, UpdatedAt: now})
	}
	res, err := s.svc.Store.ImportUsers(ctx, users)
	if err != nil {
		return ImportResult{}, classify(err, "", "")
	}
	return ImportResult{Added: nonNil(res.Added), Updated: nonNil(res.Updated)}, nil
}
