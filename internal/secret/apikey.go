package secret

import (
	"crypto/rand"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
	"unsafe"
)

// Lengths of the parts of an API key (see the package documentation).
const (
	KeyPrefix      = "gk_"
	MaxEnvLen      = 16
	KeyIDLen       = 12
	KeySecretLen   = 32
	KeyChecksumLen = 6
)

// Errors from ParseAPIKey. The wrapping error names the part that is wrong and its length,
// never the key's content.
var (
	// ErrNotAPIKey: the value does not start with "gk_".
	ErrNotAPIKey = errors.New("not a gatehouse API key")
	// ErrKeyMalformed: the value starts with "gk_" but its parts have the wrong shape.
	ErrKeyMalformed = errors.New("malformed API key")
	// ErrKeyChecksum: the shape is right but the checksum does not match, so the key
	// was truncated or mistyped.
	ErrKeyChecksum = errors.New("API key checksum mismatch")
)

// APIKey is a parsed or generated API key. Its fields are substrings of the key; the
// whole key is only available from Reveal, and String redacts it, so an APIKey that
// reaches a log by accident shows no secret.
type APIKey struct {
	Env string
	ID  string
	s   string // the whole key
}

// NewAPIKey generates a key for env with a random id and secret from crypto/rand.
func NewAPIKey(env string) (APIKey, error) {
	if err := ValidateEnv(env); err != nil {
		return APIKey{}, err
	}
	id, err := randomBase62(KeyIDLen)
	if err != nil {
		return APIKey{}, err
	}
	return NewAPIKeyWithID(env, id)
}

// NewAPIKeyWithID generates a key with the given id (KeyIDLen base62 characters) and a
// random secret. It exists for callers that retry a colliding id, and for tests.
func NewAPIKeyWithID(env, id string) (APIKey, error) {
	if err := ValidateEnv(env); err != nil {
		return APIKey{}, err
	}
	if len(id) != KeyIDLen || !isBase62(id) {
		return APIKey{}, fmt.Errorf("new API key: the id must be %d base62 characters", KeyIDLen)
	}
	sec, err := randomBase62(KeySecretLen)
	if err != nil {
		return APIKey{}, err
	}
	body := KeyPrefix + env + "_" + id + "_" + sec
	s := body + checksum(body)
	return APIKey{Env: env, ID: id, s: s}, nil
}

// ValidateEnv checks an environment name: 1 to 16 characters of [a-z0-9].
func ValidateEnv(env string) error {
	if env == "" || len(env) > MaxEnvLen {
		return fmt.Errorf("environment must be 1-%d characters of a-z and 0-9 (got %d characters)", MaxEnvLen, len(env))
	}
	for i := 0; i < len(env); i++ {
		c := env[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return fmt.Errorf("environment must be 1-%d characters of a-z and 0-9 (byte %d is not)", MaxEnvLen, i)
		}
	}
	return nil
}

// ParseAPIKey parses and checks a key offline: shape, lengths and checksum. It never
// consults a store, so a bad key is refused before any lookup. The returned APIKey
// shares memory with s.
func ParseAPIKey(s string) (APIKey, error) {
	if !strings.HasPrefix(s, KeyPrefix) {
		return APIKey{}, ErrNotAPIKey
	}
	rest := s[len(KeyPrefix):]
	i := strings.IndexByte(rest, '_')
	if i < 0 {
		return APIKey{}, fmt.Errorf("%w: no '_' after the environment (%d characters in all; truncated?)", ErrKeyMalformed, len(s))
	}
	env := rest[:i]
	if err := ValidateEnv(env); err != nil {
		return APIKey{}, fmt.Errorf("%w: %v", ErrKeyMalformed, err)
	}
	rest = rest[i+1:]
	j := strings.IndexByte(rest, '_')
	if j < 0 {
		return APIKey{}, fmt.Errorf("%w: no '_' after the id (%d characters in all; truncated?)", ErrKeyMalformed, len(s))
	}
	id, tail := rest[:j], rest[j+1:]
	if len(id) != KeyIDLen || !isBase62(id) {
		return APIKey{}, fmt.Errorf("%w: the id must be %d base62 characters (got %d characters)", ErrKeyMalformed, KeyIDLen, len(id))
	}
	if want := KeySecretLen + KeyChecksumLen; len(tail) != want || !isBase62(tail) {
		if len(tail) < want && isBase62(tail) {
			return APIKey{}, fmt.Errorf("%w: the secret and checksum must be %d base62 characters, got %d: the key looks truncated", ErrKeyMalformed, want, len(tail))
		}
		return APIKey{}, fmt.Errorf("%w: the secret and checksum must be %d base62 characters (got %d characters)", ErrKeyMalformed, want, len(tail))
	}
	n := len(s) - KeyChecksumLen
	if !checksumMatches(s[:n], s[n:]) {
		return APIKey{}, fmt.Errorf("%w: the key was truncated or mistyped", ErrKeyChecksum)
	}
	return APIKey{Env: env, ID: id, s: s}, nil
}

// LooksLikeAPIKey reports whether s starts with the API key prefix; it checks nothing
// else and is what the gateway uses to route a Bearer value to the API-key verifier.
func LooksLikeAPIKey(s string) bool { return strings.HasPrefix(s, KeyPrefix) }

// Reveal returns the whole key. Call it only to show the key once at creation.
func (k APIKey) Reveal() string { return k.s }

// String returns a redacted form, gk_<env>_<id>_…, safe for logs.
func (k APIKey) String() string {
	if k.s == "" {
		return ""
	}
	return KeyPrefix + k.Env + "_" + k.ID + "_…"
}

// GoString redacts like String, so %#v shows no secret either.
func (k APIKey) GoString() string { return "secret.APIKey{" + k.String() + "}" }

// body is everything the checksum covers and the hash is computed over.
func (k APIKey) body() string {
	if len(k.s) < KeyChecksumLen {
		return ""
	}
	return k.s[:len(k.s)-KeyChecksumLen]
}

const base62Digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

var base62Table = func() (t [256]bool) {
	for i := 0; i < len(base62Digits); i++ {
		t[base62Digits[i]] = true
	}
	return t
}()

func isBase62(s string) bool {
	for i := 0; i < len(s); i++ {
		if !base62Table[s[i]] {
			return false
		}
	}
	return true
}

// randomBase62 returns n uniformly random base62 digits, drawing bytes from crypto/rand
// and rejecting those >= 248 (the largest multiple of 62 under 256) to avoid bias.
func randomBase62(n int) (string, error) {
	out := make([]byte, 0, n)
	var buf [64]byte
	for len(out) < n {
		if _, err := rand.Read(buf[:]); err != nil {
			return "", fmt.Errorf("generate random id: %w", err)
		}
		for _, b := range buf {
			if b >= 248 {
				continue
			}
			out = append(out, base62Digits[b%62])
			if len(out) == n {
				break
			}
		}
	}
	return string(out), nil
}

// checksum returns the 6 base62 digits of the CRC-32 of body.
func checksum(body string) string {
	var out [KeyChecksumLen]byte
	c := crc32String(body)
	for i := KeyChecksumLen - 1; i >= 0; i-- {
		out[i] = base62Digits[c%62]
		c /= 62
	}
	return string(out[:])
}

func checksumMatches(body, sum string) bool {
	c := crc32String(body)
	for i := KeyChecksumLen - 1; i >= 0; i-- {
		if sum[i] != base62Digits[c%62] {
			return false
		}
		c /= 62
	}
	return true
}

// crc32String is crc32.ChecksumIEEE over a string. It views the string's bytes in
// place instead of converting (which would allocate on every request): ChecksumIEEE only
// reads its argument.
func crc32String(s string) uint32 {
	return crc32.ChecksumIEEE(unsafe.Slice(unsafe.StringData(s), len(s)))
}
