package secret

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// HashParams are the family and cost parameters of a stored password hash: what
// decides how long verifying a password against it takes.
type HashParams struct {
	// Family is "argon2id" or "bcrypt".
	Family string
	// Argon2 holds the argon2id parameters (SaltLen and KeyLen of the stored hash).
	Argon2 Argon2Params
	// BcryptCost is the bcrypt cost (log2 of the rounds).
	BcryptCost int
}

// String names the parameters for logs and tests: "argon2id m=19456,t=2,p=1",
// "bcrypt cost=10".
func (p HashParams) String() string {
	if p.Family == "bcrypt" {
		return fmt.Sprintf("bcrypt cost=%d", p.BcryptCost)
	}
	return fmt.Sprintf("argon2id m=%d,t=%d,p=%d", p.Argon2.Memory, p.Argon2.Time, p.Argon2.Threads)
}

// bcryptRoundWork is one bcrypt round (of 2^cost) in the unit of Work, a KiB of argon2
// memory filled once. Measured on one core with golang.org/x/crypto: cost 10 about
// 220 ms, argon2id m=19456,t=2 about 37 ms, so one round costs as much as about 200
// KiB-passes. Only the order between families matters, and that holds within a factor
// of two either way for costs that are not close.
const bcryptRoundWork = 200

// Work estimates the time verifying a password against a hash with these parameters
// takes, in KiB-passes of argon2 (memory times passes); bcrypt is converted with a
// measured factor. It orders hashes by cost, across families.
func (p HashParams) Work() uint64 {
	if p.Family == "bcrypt" {
		return bcryptRoundWork << uint(p.BcryptCost)
	}
	return uint64(p.Argon2.Memory) * uint64(p.Argon2.Time)
}

// ParseHashParams returns the parameters of an accepted password hash (argon2id or
// bcrypt within CheckPasswordHash's bounds).
func ParseHashParams(h string) (HashParams, error) {
	if err := CheckPasswordHash(h); err != nil {
		return HashParams{}, fmt.Errorf("hash parameters: %w", err)
	}
	if HashKind(h) == "bcrypt" {
		cost, err := bcrypt.Cost([]byte(h))
		if err != nil {
			return HashParams{}, fmt.Errorf("hash parameters: %w: not a well-formed bcrypt hash", ErrHashInvalid)
		}
		return HashParams{Family: "bcrypt", BcryptCost: cost}, nil
	}
	a, err := parseArgon2id(h)
	if err != nil {
		return HashParams{}, fmt.Errorf("hash parameters: %w", err)
	}
	return HashParams{Family: "argon2id", Argon2: a.p}, nil
}

// bcryptB64 is bcrypt's base64 alphabet, without padding.
var bcryptB64 = base64.NewEncoding("./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789").WithPadding(base64.NoPadding)

// DummyHash returns a hash with these parameters, a random salt and a random digest:
// verifying any password against it costs what verifying against a real hash with the
// same parameters costs, and fails (a match would need a preimage of a random
// digest). Making it costs no hashing, so a dummy for bcrypt cost 16 is as cheap as
// one for cost 4.
func (p HashParams) DummyHash() (string, error) {
	switch p.Family {
	case "bcrypt":
		if p.BcryptCost < MinBcryptCost || p.BcryptCost > MaxBcryptCost {
			return "", fmt.Errorf("dummy hash: %w: bcrypt cost %d is outside %d-%d", ErrHashInvalid, p.BcryptCost, MinBcryptCost, MaxBcryptCost)
		}
		var salt [16]byte
		var digest [23]byte
		if _, err := rand.Read(salt[:]); err != nil {
			return "", fmt.Errorf("dummy hash: %w", err)
		}
		if _, err := rand.Read(digest[:]); err != nil {
			return "", fmt.Errorf("dummy hash: %w", err)
		}
		return fmt.Sprintf("$2b$%02d$%s%s", p.BcryptCost, bcryptB64.EncodeToString(salt[:]), bcryptB64.EncodeToString(digest[:])), nil
	case "argon2id":
		a := p.Argon2
		salt := make([]byte, max(a.SaltLen, 16))
		key := make([]byte, max(a.KeyLen, 32))
		if _, err := rand.Read(salt); err != nil {
			return "", fmt.Errorf("dummy hash: %w", err)
		}
		if _, err := rand.Read(key); err != nil {
			return "", fmt.Errorf("dummy hash: %w", err)
		}
		h := fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, a.Memory, a.Time, a.Threads,
			b64.EncodeToString(salt), b64.EncodeToString(key))
		if err := CheckPasswordHash(h); err != nil {
			return "", fmt.Errorf("dummy hash: %w", err)
		}
		return h, nil
	}
	return "", fmt.Errorf("dummy hash: %w: family %q", ErrHashUnsupported, p.Family)
}

// NeedsRehash reports whether a stored hash is weaker than what HashPassword makes
// now: any bcrypt hash, or argon2id with less memory or fewer passes than
// DefaultArgon2. A verified password with such a hash should be hashed again.
func NeedsRehash(h string) bool {
	p, err := ParseHashParams(h)
	if err != nil {
		return false // unusable hashes are an operator's problem, not a login's
	}
	if p.Family != "argon2id" {
		return true
	}
	return p.Argon2.Memory < DefaultArgon2.Memory || p.Argon2.Time < DefaultArgon2.Time || p.Argon2.KeyLen < DefaultArgon2.KeyLen
}
