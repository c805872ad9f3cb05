package store

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// KeyStatus is what `keys list` reports for a key at a given time.
type KeyStatus string

// The statuses of docs/design.md, section 5.
const (
	KeyActive  KeyStatus = "active"
	KeyRevoked KeyStatus = "revoked"
	KeyExpired KeyStatus = "expired"
)

// APIKey is a stored API key. The secret itself is never stored: SecretHash is its hash
// under HashAlg (see secret.KeyHasher), and the only copy of the key is the one printed
// at creation.
type APIKey struct {
	// ID is the public lookup id, the <id> of gk_<env>_<id>_<secret><checksum>.
	ID string
	// Name says whom the key is for; it is the principal's subject and survives rotation.
	Name string
	// Env is the environment the key was created for; a deployment accepts only its own.
	Env    string
	Scopes []string
	// SecretHash is the hash of the key (never the key); HashAlg names how it was
	// computed ("sha256", or "hmac-sha256/<pepper id>").
	SecretHash []byte
	HashAlg    string
	CreatedAt  time.Time
	// ExpiresAt is when the key stops being valid; zero when it never expires.
	ExpiresAt time.Time
	// RevokedAt is when the key is (or was) revoked; zero when it is not. A rotation
	// sets it in the future, to the end of the grace period, and sets ReplacedBy.
	RevokedAt time.Time
	// ReplacedBy is the id of the key that replaced this one in a rotation.
	ReplacedBy string
	// LastUsedAt is when the key last authenticated a request, to within the gateway's
	// flush interval (a few seconds); zero when never.
	LastUsedAt time.Time
}

// Status reports the key's status at now. A key in its rotation grace period is active.
func (k *APIKey) Status(now time.Time) KeyStatus {
	switch {
	case !k.RevokedAt.IsZero() && !now.Before(k.RevokedAt):
		return KeyRevoked
	case !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt):
		return KeyExpired
	}
	return KeyActive
}

// User is a Basic user.
type User struct {
	// Name is the RFC 7617 user-id: UTF-8, no ':' and no control characters.
	Name string
	// PasswordHash is a PHC string: $argon2id$... or a bcrypt $2a$/$2b$/$2y$ hash.
	PasswordHash string
	Scopes       []string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// ChangeKind says what a Change changed.
type ChangeKind string

// The kinds of change. The subject of a key change is the key id; of a user change, the
// user name.
const (
	ChangeKeyCreated ChangeKind = "key_created"
	ChangeKeyRevoked ChangeKind = "key_revoked"
	// ChangeKeyRotated: the subject (the old key) now ends at its grace end.
	ChangeKeyRotated   ChangeKind = "key_rotated"
	ChangeUserAdded    ChangeKind = "user_added"
	ChangeUserRemoved  ChangeKind = "user_removed"
	ChangeUserPassword ChangeKind = "user_password"
	// ChangeUserUpdated: an import replaced the user's password hash and/or scopes.
	ChangeUserUpdated ChangeKind = "user_updated"
	// ChangeReset is never stored: a Watcher delivers it when it cannot tell what changed (the
	// sequence went backwards, or changes were pruned before it read them), and every
	// subscriber must then drop everything it cached.
	ChangeReset ChangeKind = "reset"
)

// IsKey reports whether the change concerns an API key.
func (k ChangeKind) IsKey() bool { return strings.HasPrefix(string(k), "key_") }

// IsUser reports whether the change concerns a Basic user.
func (k ChangeKind) IsUser() bool { return strings.HasPrefix(string(k), "user_") }

// Change is one entry of the change sequence. Seq increases strictly with every committed
// change and is never reused.
type Change struct {
	Seq     int64
	Kind    ChangeKind
	Subject string
	At      time.Time
}

// Limits on stored values; backends and the CLI enforce them.
const (
	MaxNameBytes  = 256
	MaxScopes     = 256
	MaxScopeBytes = 256
)

// ValidateScopes checks that every scope is an RFC 6749 scope-token (printable ASCII
// other than space, '"' and '\'), so scopes can be stored and sent space-separated.
func ValidateScopes(scopes []string) error {
	if len(scopes) > MaxScopes {
		return fmt.Errorf("too many scopes: %d (at most %d)", len(scopes), MaxScopes)
	}
	for i, s := range scopes {
		if s == "" {
			return fmt.Errorf("scope %d is empty", i+1)
		}
		if len(s) > MaxScopeBytes {
			return fmt.Errorf("scope %d is %d bytes (at most %d)", i+1, len(s), MaxScopeBytes)
		}
		for j := 0; j < len(s); j++ {
			c := s[j]
			if c <= 0x20 || c >= 0x7f || c == '"' || c == '\\' {
				return fmt.Errorf("scope %q has a character not allowed in an OAuth scope at byte %d", strings.ToValidUTF8(s, "?"), j)
			}
		}
	}
	return nil
}

// ValidateUserName checks an RFC 7617 user-id: non-empty, at most MaxNameBytes, valid
// UTF-8, without ':' (Basic splits at the first colon) or control characters.
func ValidateUserName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("user name is empty")
	case len(name) > MaxNameBytes:
		return fmt.Errorf("user name is %d bytes (at most %d)", len(name), MaxNameBytes)
	case !utf8.ValidString(name):
		return fmt.Errorf("user name is not valid UTF-8")
	case strings.Contains(name, ":"):
		return fmt.Errorf("user name contains ':', which Basic authentication cannot carry (RFC 7617)")
	}
	for i, r := range name {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return fmt.Errorf("user name has a control character at byte %d", i)
		}
	}
	return nil
}

// ValidateKey checks the fields of a key before it is stored.
func ValidateKey(k *APIKey) error {
	switch {
	case k.ID == "":
		return fmt.Errorf("key id is empty")
	case len(k.ID) > 64:
		return fmt.Errorf("key id is %d bytes (at most 64)", len(k.ID))
	case k.Name == "" || len(k.Name) > MaxNameBytes || !utf8.ValidString(k.Name):
		return fmt.Errorf("key name must be 1-%d bytes of UTF-8", MaxNameBytes)
	case k.Env == "":
		return fmt.Errorf("key environment is empty")
	case len(k.SecretHash) == 0 || k.HashAlg == "":
		return fmt.Errorf("key has no secret hash")
	case k.CreatedAt.IsZero():
		return fmt.Errorf("key has no creation time")
	}
	return ValidateScopes(k.Scopes)
}

// Micro truncates t to the precision every backend keeps (microseconds, UTC). Zero stays
// zero.
func Micro(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}
