package tokens

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"

	jose "github.com/go-jose/go-jose/v4"
)

// IssuingAlgorithms are the algorithms the token service can sign with, in the order a
// configuration lists them: ES256 is the default.
var IssuingAlgorithms = []string{"ES256", "EdDSA", "RS256"}

// GenerateSigningKey returns a new key for one of IssuingAlgorithms, with its RFC 7638
// thumbprint as ID.
func GenerateSigningKey(alg string) (*SigningKey, error) {
	switch alg {
	case "ES256":
		return GenerateES256()
	case "EdDSA":
		return GenerateEdDSA()
	case "RS256":
		return GenerateRS256()
	}
	return nil, fmt.Errorf("generate signing key: %s is not one of %v", quoteSafe(alg), IssuingAlgorithms)
}

// MarshalPrivateKey returns the private half as PKCS #8 DER. It is the key itself: seal
// it (see Sealer) before it goes anywhere, and clear the slice after.
func (k *SigningKey) MarshalPrivateKey() ([]byte, error) {
	switch k.private.(type) {
	case *ecdsa.PrivateKey, *rsa.PrivateKey, ed25519.PrivateKey:
	default:
		return nil, errors.New("marshal private key: only ECDSA, RSA and Ed25519 keys have a PKCS #8 form")
	}
	der, err := x509.MarshalPKCS8PrivateKey(k.private)
	if err != nil {
		return nil, fmt.Errorf("marshal private key: %w", err)
	}
	return der, nil
}

// ParsePrivateKey rebuilds a SigningKey from MarshalPrivateKey's output. The key must fit
// alg, and kid must be the key's RFC 7638 thumbprint, so a stored kid cannot be paired
// with another key. Errors never contain key material.
func ParsePrivateKey(alg, kid string, der []byte) (*SigningKey, error) {
	priv, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, errors.New("parse private key: not a PKCS #8 private key")
	}
	k, err := NewSigningKey(alg, "", priv)
	if err != nil {
		return nil, fmt.Errorf("parse private key: %w", err)
	}
	if subtle.ConstantTimeCompare([]byte(k.ID), []byte(kid)) != 1 {
		return nil, fmt.Errorf("parse private key: the key's thumbprint is not its stored key id %s", quoteSafe(kid))
	}
	return k, nil
}

// SealPrivateKey marshals and seals the private half, bound to the key's ID.
func (k *SigningKey) SealPrivateKey(s *Sealer) ([]byte, error) {
	der, err := k.MarshalPrivateKey()
	if err != nil {
		return nil, err
	}
	defer clear(der)
	return s.Seal(der, k.ID)
}

// OpenPrivateKey opens a key SealPrivateKey sealed and parses it (see ParsePrivateKey).
func OpenPrivateKey(s *Sealer, alg, kid string, sealed []byte) (*SigningKey, error) {
	der, err := s.Open(sealed, kid)
	if err != nil {
		return nil, err
	}
	defer clear(der)
	return ParsePrivateKey(alg, kid, der)
}

// Thumbprint returns the RFC 7638 SHA-256 thumbprint of the key's public half, base64url
// without padding: the kid NewSigningKey gives a key by default.
func (k *SigningKey) Thumbprint() (string, error) {
	pk, ok := k.Public()
	if !ok {
		return "", errors.New("thumbprint: an HMAC key has no public half")
	}
	tp, err := (&jose.JSONWebKey{Key: pk.public}).Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}
