package tokens

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
)

// MinSealSecretBytes is the shortest secret NewSealer accepts.
const MinSealSecretBytes = 32

// Errors from Sealer.Open. Neither says anything about the plaintext.
var (
	// ErrSealedWithOtherSecret: the value was sealed under another secret, so the
	// configured signing_key_secret is not the one the keys were stored with.
	ErrSealedWithOtherSecret = errors.New("sealed with another secret")
	// ErrSealedCorrupt: the value is not a sealed value, or it was altered, or it was
	// sealed for another label (a sealed key copied onto another key's row).
	ErrSealedCorrupt = errors.New("sealed value is corrupt or altered")
)

// sealVersion is the first byte of a sealed value.
const sealVersion = 1

// sealHeader is version (1) + secret id (8) + nonce (12).
const (
	sealIDLen     = 8
	sealNonceLen  = 12
	sealHeaderLen = 1 + sealIDLen + sealNonceLen
)

// Sealer encrypts small secrets (private signing keys) for storage: AES-256-GCM under a
// key derived with HKDF-SHA256 from a configured secret. A sealed value is
//
//	version (1 byte) || secret id (8 bytes) || nonce (12 bytes) || ciphertext and tag
//
// where the secret id is a second HKDF output (not the secret, not the AES key), so a
// value sealed under another secret is told apart from a damaged one. The version, the
// secret id and a caller-chosen label (the key id) are authenticated as additional data:
// a sealed key moved to another row does not open. Nonces are random; a Sealer seals far
// fewer than the 2^32 values that would make a collision a concern.
//
// A Sealer is safe for concurrent use.
type Sealer struct {
	aead cipher.AEAD
	id   [sealIDLen]byte
}

// NewSealer derives a Sealer from secret, which must be at least MinSealSecretBytes long
// (the raw bytes of token_service.signing_key_secret_file). The secret is not kept.
func NewSealer(secret []byte) (*Sealer, error) {
	if len(secret) < MinSealSecretBytes {
		return nil, fmt.Errorf("sealer: the secret is %d bytes; at least %d are required", len(secret), MinSealSecretBytes)
	}
	key, err := hkdf.Key(sha256.New, secret, nil, "gatehouse signing-key encryption v1", 32)
	if err != nil {
		return nil, fmt.Errorf("sealer: derive key: %w", err)
	}
	id, err := hkdf.Key(sha256.New, secret, nil, "gatehouse signing-key secret id v1", sealIDLen)
	if err != nil {
		return nil, fmt.Errorf("sealer: derive id: %w", err)
	}
	block, err := aes.NewCipher(key)
	clear(key)
	if err != nil {
		return nil, fmt.Errorf("sealer: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("sealer: %w", err)
	}
	s := &Sealer{aead: aead}
	copy(s.id[:], id)
	return s, nil
}

// ID is the public identifier of the secret: 16 hex digits that say whether two sealed
// values (or two configurations) use the same secret, and reveal nothing about it.
func (s *Sealer) ID() string { return fmt.Sprintf("%x", s.id[:]) }

func (s *Sealer) additionalData(label string) []byte {
	ad := make([]byte, 0, 1+sealIDLen+len("gatehouse sealed\x00")+len(label))
	ad = append(ad, sealVersion)
	ad = append(ad, s.id[:]...)
	ad = append(ad, "gatehouse sealed\x00"...)
	return append(ad, label...)
}

// Seal encrypts plaintext, bound to label.
func (s *Sealer) Seal(plaintext []byte, label string) ([]byte, error) {
	out := make([]byte, sealHeaderLen, sealHeaderLen+len(plaintext)+s.aead.Overhead())
	out[0] = sealVersion
	copy(out[1:], s.id[:])
	if _, err := rand.Read(out[1+sealIDLen : sealHeaderLen]); err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return s.aead.Seal(out, out[1+sealIDLen:sealHeaderLen], plaintext, s.additionalData(label)), nil
}

// Open decrypts a value Seal returned for the same label. It fails with
// ErrSealedWithOtherSecret or ErrSealedCorrupt, never with a partial plaintext.
func (s *Sealer) Open(sealed []byte, label string) ([]byte, error) {
	if len(sealed) < sealHeaderLen+s.aead.Overhead() || sealed[0] != sealVersion {
		return nil, fmt.Errorf("open sealed value: %w", ErrSealedCorrupt)
	}
	if subtle.ConstantTimeCompare(sealed[1:1+sealIDLen], s.id[:]) != 1 {
		return nil, fmt.Errorf("open sealed value: %w", ErrSealedWithOtherSecret)
	}
	nonce := sealed[1+sealIDLen : sealHeaderLen]
	out, err := s.aead.Open(nil, nonce, sealed[sealHeaderLen:], s.additionalData(label))
	if err != nil {
		return nil, fmt.Errorf("open sealed value: %w", ErrSealedCorrupt)
	}
	return out, nil
}
