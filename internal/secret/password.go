package secret

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// MaxPasswordBytes is the longest password Gatehouse hashes or verifies. Longer ones are
// refused before any hashing, so a huge password costs nothing.
const MaxPasswordBytes = 4096

// Argon2Params are argon2id parameters.
type Argon2Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
	SaltLen uint32
	KeyLen  uint32
}

// DefaultArgon2 are the parameters for new passwords: OWASP's minimum recommendation for
// argon2id (19 MiB, 2 passes, 1 lane), about 20-40 ms on one core.
var DefaultArgon2 = Argon2Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// Bounds on the parameters of a stored hash, so an imported file cannot make every
// verification take a gigabyte or a minute.
const (
	maxArgon2Memory  = 256 * 1024 // KiB
	maxArgon2Time    = 16
	maxArgon2Threads = 16
	MinBcryptCost    = 4
	MaxBcryptCost    = 16
)

// Errors about password hashes; the wrapping error says which format or bound.
var (
	// ErrHashUnsupported: a hash format Gatehouse refuses (weaker than bcrypt) or does not
	// know.
	ErrHashUnsupported = errors.New("unsupported password hash")
	// ErrHashInvalid: a supported format with bad syntax or out-of-bounds parameters.
	ErrHashInvalid = errors.New("invalid password hash")
	// ErrPasswordTooLong: more than MaxPasswordBytes.
	ErrPasswordTooLong = errors.New("password too long")
)

// HashPassword hashes a new password with argon2id and DefaultArgon2.
func HashPassword(password string) (string, error) {
	return HashPasswordWith(DefaultArgon2, password)
}

// HashPasswordWith hashes password with argon2id and p, as a PHC string.
func HashPasswordWith(p Argon2Params, password string) (string, error) {
	if len(password) > MaxPasswordBytes {
		return "", fmt.Errorf("hash password: %w (%d bytes; at most %d)", ErrPasswordTooLong, len(password), MaxPasswordBytes)
	}
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

var b64 = base64.RawStdEncoding

// argon2Hash is a parsed $argon2id$ PHC string.
type argon2Hash struct {
	p    Argon2Params
	salt []byte
	key  []byte
}

func parseArgon2id(h string) (argon2Hash, error) {
	var a argon2Hash
	parts := strings.Split(h, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, hash
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return a, fmt.Errorf("%w: argon2id hashes look like $argon2id$v=19$m=M,t=T,p=P$SALT$HASH", ErrHashInvalid)
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return a, fmt.Errorf("%w: argon2 version must be v=%d", ErrHashInvalid, argon2.Version)
	}
	var m, t, p uint64
	seen := 0
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if !ok || err != nil {
			return a, fmt.Errorf("%w: bad argon2 parameter list", ErrHashInvalid)
		}
		switch k {
		case "m":
			m = n
		case "t":
			t = n
		case "p":
			p = n
		default:
			return a, fmt.Errorf("%w: unknown argon2 parameter %q", ErrHashInvalid, k)
		}
		seen++
	}
	switch {
	case seen != 3 || m == 0 || t == 0 || p == 0:
		return a, fmt.Errorf("%w: argon2 needs m, t and p", ErrHashInvalid)
	case p > maxArgon2Threads:
		return a, fmt.Errorf("%w: argon2 p=%d is above %d", ErrHashInvalid, p, maxArgon2Threads)
	case m > maxArgon2Memory:
		return a, fmt.Errorf("%w: argon2 m=%d KiB is above %d", ErrHashInvalid, m, maxArgon2Memory)
	case m < 8*p:
		return a, fmt.Errorf("%w: argon2 m=%d is below 8*p", ErrHashInvalid, m)
	case t > maxArgon2Time:
		return a, fmt.Errorf("%w: argon2 t=%d is above %d", ErrHashInvalid, t, maxArgon2Time)
	}
	salt, err1 := b64.DecodeString(parts[4])
	key, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil {
		return a, fmt.Errorf("%w: argon2 salt and hash must be unpadded standard base64", ErrHashInvalid)
	}
	if len(salt) < 8 || len(salt) > 64 || len(key) < 16 || len(key) > 64 {
		return a, fmt.Errorf("%w: argon2 salt must be 8-64 bytes and the hash 16-64 bytes", ErrHashInvalid)
	}
	a.p = Argon2Params{Memory: uint32(m), Time: uint32(t), Threads: uint8(p), SaltLen: uint32(len(salt)), KeyLen: uint32(len(key))}
	a.salt, a.key = salt, key
	return a, nil
}

// HashKind names a password hash's format as the htpasswd(1) world knows it, for
// messages: "argon2id", "bcrypt", "MD5 (apr1)", "SHA-1 ({SHA})", ...
func HashKind(h string) string {
	switch {
	case strings.HasPrefix(h, "$argon2id$"):
		return "argon2id"
	case strings.HasPrefix(h, "$argon2i$"), strings.HasPrefix(h, "$argon2d$"):
		return "argon2i/argon2d"
	case strings.HasPrefix(h, "$2a$"), strings.HasPrefix(h, "$2b$"), strings.HasPrefix(h, "$2y$"):
		return "bcrypt"
	case strings.HasPrefix(h, "$2x$"), strings.HasPrefix(h, "$2$"):
		return "legacy bcrypt ($2x$/$2$)"
	case strings.HasPrefix(h, "$apr1$"):
		return "MD5 (apr1)"
	case strings.HasPrefix(h, "$1$"):
		return "MD5-crypt ($1$)"
	case strings.HasPrefix(h, "$5$"):
		return "SHA-256-crypt ($5$)"
	case strings.HasPrefix(h, "$6$"):
		return "SHA-512-crypt ($6$)"
	case strings.HasPrefix(h, "{SHA}"):
		return "SHA-1 ({SHA})"
	case strings.HasPrefix(h, "{SSHA}"):
		return "salted SHA-1 ({SSHA})"
	case len(h) == 13 && isCryptChars(h):
		return "DES crypt"
	case strings.HasPrefix(h, "$"):
		return "unknown"
	}
	return "plain text or unknown"
}

func isCryptChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '/') {
			return false
		}
	}
	return true
}

// CheckPasswordHash reports whether h is a hash Gatehouse accepts: argon2id within bounds,
// or bcrypt ($2a$, $2b$, $2y$) with a cost from MinBcryptCost to MaxBcryptCost. The error
// names the format and why it is refused, never the hash.
func CheckPasswordHash(h string) error {
	switch kind := HashKind(h); kind {
	case "argon2id":
		_, err := parseArgon2id(h)
		return err
	case "bcrypt":
		cost, err := bcrypt.Cost([]byte(h))
		if err != nil {
			return fmt.Errorf("%w: not a well-formed bcrypt hash", ErrHashInvalid)
		}
		if cost < MinBcryptCost || cost > MaxBcryptCost {
			return fmt.Errorf("%w: bcrypt cost %d is outside %d-%d", ErrHashInvalid, cost, MinBcryptCost, MaxBcryptCost)
		}
		if len(h) != 60 {
			return fmt.Errorf("%w: a bcrypt hash is 60 characters", ErrHashInvalid)
		}
		return nil
	case "plain text or unknown":
		return fmt.Errorf("%w: not a recognised hash (plain-text passwords are refused)", ErrHashUnsupported)
	default:
		return fmt.Errorf("%w: %s hashes are refused (weaker than bcrypt, or not supported); use bcrypt or argon2id", ErrHashUnsupported, kind)
	}
}

// VerifyPassword reports whether password matches the argon2id or bcrypt hash h. It runs
// in time that depends on the hash's parameters, not on where the password differs. An
// unsupported or malformed hash is an error, never a match.
func VerifyPassword(h, password string) (bool, error) {
	if len(password) > MaxPasswordBytes {
		return false, fmt.Errorf("verify password: %w", ErrPasswordTooLong)
	}
	switch HashKind(h) {
	case "argon2id":
		a, err := parseArgon2id(h)
		if err != nil {
			return false, fmt.Errorf("verify password: %w", err)
		}
		got := argon2.IDKey([]byte(password), a.salt, a.p.Time, a.p.Memory, a.p.Threads, a.p.KeyLen)
		return subtle.ConstantTimeCompare(got, a.key) == 1, nil
	case "bcrypt":
		if err := CheckPasswordHash(h); err != nil {
			return false, fmt.Errorf("verify password: %w", err)
		}
		err := bcrypt.CompareHashAndPassword([]byte(h), []byte(password))
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
			return false, nil
		}
		return false, fmt.Errorf("verify password: %w: bcrypt", ErrHashInvalid)
	}
	return false, fmt.Errorf("verify password: %w", CheckPasswordHash(h))
}

var dummy struct {
	once sync.Once
	hash string
}

// DummyHash returns an argon2id hash (DefaultArgon2) of a random password, made once per
// process. Verifying a password for a user who does not exist against it costs what a
// real verification costs, so response times do not reveal which users exist.
func DummyHash() string {
	dummy.once.Do(func() {
		pw, err := randomBase62(32)
		if err != nil {
			// crypto/rand does not fail on supported platforms; a fixed password still
			// gives a hash nobody can match by accident of timing.
			pw = "gatehouse-dummy"
		}
		h, err := HashPassword(pw)
		if err != nil {
			panic("secret: hashing the dummy password: " + err.Error())
		}
		dummy.hash = h
	})
	return dummy.hash
}

// PasswordVerifier verifies passwords against stored hashes with a bound on how many
// hashes run at once, so a burst of logins (or an attack) queues for CPU instead of
// taking 19 MiB of memory per concurrent request.
type PasswordVerifier struct {
	sem chan struct{}
}

// NewPasswordVerifier returns a verifier running at most maxConcurrent hashes at once;
// zero or less means 2 per CPU.
func NewPasswordVerifier(maxConcurrent int) *PasswordVerifier {
	if maxConcurrent <= 0 {
		maxConcurrent = 2 * runtime.GOMAXPROCS(0)
	}
	return &PasswordVerifier{sem: make(chan struct{}, maxConcurrent)}
}

// Verify waits for a slot (or ctx) and then runs VerifyPassword.
func (v *PasswordVerifier) Verify(ctx context.Context, hash, password string) (bool, error) {
	select {
	case v.sem <- struct{}{}:
	case <-ctx.Done():
		return false, fmt.Errorf("verify password: waiting for a hashing slot: %w", ctx.Err())
	}
	defer func() { <-v.sem }()
	return VerifyPassword(hash, password)
}
