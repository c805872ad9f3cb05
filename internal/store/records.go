package store

import (
	"encoding/json"
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
	// Attributes are what the key's principal carries besides name and scopes
	// (team=billing), exposed as string claims to route requirements and header
	// mappings; nil when none. See ValidateAttributes.
	Attributes map[string]string
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
	// Attributes are as for APIKey. ImportUsers replaces them when not nil.
	Attributes map[string]string
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
	if err := ValidateScopes(k.Scopes); err != nil {
		return err
	}
	return ValidateAttributes(k.Attributes)
}

// Limits on attributes.
const (
	MaxAttributes          = 32
	MaxAttributeKeyBytes   = 64
	MaxAttributeValueBytes = 1024
)

// ValidateAttributes checks a key's or user's attributes: at most MaxAttributes; each
// key 1-64 bytes of ASCII letters, digits, '_', '-' and ':', starting with a letter (no
// '.', which claim paths use to reach nested claims); each value at most 1024 bytes of
// UTF-8 without control characters (C0, DEL, C1), so it can always be sent in a header.
// An empty value is allowed.
func ValidateAttributes(attrs map[string]string) error {
	if len(attrs) > MaxAttributes {
		return fmt.Errorf("too many attributes: %d (at most %d)", len(attrs), MaxAttributes)
	}
	for k, v := range attrs {
		if err := ValidateAttributeKey(k); err != nil {
			return err
		}
		switch {
		case len(v) > MaxAttributeValueBytes:
			return fmt.Errorf("attribute %s: the value is %d bytes (at most %d)", k, len(v), MaxAttributeValueBytes)
		case !utf8.ValidString(v):
			return fmt.Errorf("attribute %s: the value is not valid UTF-8", k)
		}
		for _, r := range v {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
				return fmt.Errorf("attribute %s: the value has a control character", k)
			}
		}
	}
	return nil
}

// ValidateAttributeKey checks one attribute key (see ValidateAttributes).
func ValidateAttributeKey(k string) error {
	if k == "" || len(k) > MaxAttributeKeyBytes {
		return fmt.Errorf("attribute key %q must be 1-%d bytes", strings.ToValidUTF8(k, "?"), MaxAttributeKeyBytes)
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !(letter || i > 0 && (c >= '0' && c <= '9' || c == '_' || c == '-' || c == ':')) {
			return fmt.Errorf("attribute key %q: use letters, digits, '_', '-' and ':', starting with a letter", strings.ToValidUTF8(k, "?"))
		}
	}
	return nil
}

// EncodeAttributes is how backends store attributes: "" for none, else a JSON object
// with sorted keys.
func EncodeAttributes(attrs map[string]string) string {
	if len(attrs) == 0 {
		return ""
	}
	b, _ := json.Marshal(attrs) // a map of strings always encodes
	return string(b)
}

// DecodeAttributes reads what EncodeAttributes wrote; "" is nil.
func DecodeAttributes(s string) (map[string]string, error) {
	if s == "" {
		return nil, nil
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, fmt.Errorf("stored attributes are not a JSON object of strings: %w", err)
	}
	if len(m) == 0 {
		return nil, nil
	}
	return m, nil
}

// AttributeClaims returns attrs as a principal's claims (string values), or nil.
func AttributeClaims(attrs map[string]string) map[string]any {
	if len(attrs) == 0 {
		return nil
	}
	out := make(map[string]any, len(attrs))
	for k, v := range attrs {
		out[k] = v
	}
	return out
}

// Micro truncates t to the precision every backend keeps (microseconds, UTC). Zero stays
// zero.
func Micro(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}
