package tokens

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	jose "github.com/go-jose/go-jose/v4"
)

// SigningKey is a private key together with the key id and algorithm it signs with. It
// serves the tests, the demo and the token service; verification never needs one.
type SigningKey struct {
	// ID is the kid written into token headers and into the public JWKS.
	ID string
	// Algorithm is the JWS alg the key signs with.
	Algorithm string
	private   any // *ecdsa.PrivateKey, *rsa.PrivateKey, ed25519.PrivateKey or []byte
}

// GenerateES256 returns a new P-256 key whose ID is its RFC 7638 thumbprint.
func GenerateES256() (*SigningKey, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate ES256 key: %w", err)
	}
	return NewSigningKey("ES256", "", priv)
}

// GenerateRS256 returns a new 2048-bit RSA key whose ID is its RFC 7638 thumbprint.
func GenerateRS256() (*SigningKey, error) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("generate RS256 key: %w", err)
	}
	return NewSigningKey("RS256", "", priv)
}

// GenerateEdDSA returns a new Ed25519 key whose ID is its RFC 7638 thumbprint.
func GenerateEdDSA() (*SigningKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate EdDSA key: %w", err)
	}
	return NewSigningKey("EdDSA", "", priv)
}

// NewSigningKey wraps an existing private key: *ecdsa.PrivateKey, *rsa.PrivateKey,
// ed25519.PrivateKey, or a []byte secret (at least 32 bytes) for HS256/384/512. The key
// must fit alg. An empty kid becomes the key's RFC 7638 thumbprint (HMAC keys keep an
// empty kid: a thumbprint would publish a hash of the secret).
func NewSigningKey(alg, kid string, private any) (*SigningKey, error) {
	k := &SigningKey{ID: kid, Algorithm: alg}
	var pub any
	switch p := private.(type) {
	case *ecdsa.PrivateKey:
		pub = &p.PublicKey
	case *rsa.PrivateKey:
		pub = &p.PublicKey
	case ed25519.PrivateKey:
		pub = p.Public()
	case []byte:
		if !IsHMAC(alg) {
			return nil, fmt.Errorf("signing key: a secret cannot sign %s", quoteSafe(alg))
		}
		if len(p) < hmacMinBytes(alg) {
			return nil, fmt.Errorf("signing key: %s needs a secret of at least %d bytes", alg, hmacMinBytes(alg))
		}
		k.private = bytes.Clone(p)
		return k, nil
	default:
		return nil, fmt.Errorf("signing key: unsupported key type %T", private)
	}
	k.private = private
	pk, err := publicKey(pub)
	if err != nil {
		return nil, err
	}
	if !pk.Fits(alg) {
		return nil, fmt.Errorf("signing key: a %s key cannot sign %s", pk.Type+" "+pk.Curve, quoteSafe(alg))
	}
	if k.ID == "" {
		tp, err := (&jose.JSONWebKey{Key: pub}).Thumbprint(crypto.SHA256)
		if err != nil {
			return nil, fmt.Errorf("signing key: thumbprint: %w", err)
		}
		k.ID = base64.RawURLEncoding.EncodeToString(tp)
	}
	return k, nil
}

// Public returns the public half as a Key bound to the signing algorithm, or false for an
// HMAC key, which has no public half.
func (k *SigningKey) Public() (Key, bool) {
	var pub any
	switch p := k.private.(type) {
	case *ecdsa.PrivateKey:
		pub = &p.PublicKey
	case *rsa.PrivateKey:
		pub = &p.PublicKey
	case ed25519.PrivateKey:
		pub = p.Public()
	default:
		return Key{}, false
	}
	pk, err := publicKey(pub)
	if err != nil {
		return Key{}, false
	}
	pk.ID, pk.Algorithm = k.ID, k.Algorithm
	return pk, true
}

// PublicJWK returns the public key as a JWK object with kid, alg and use "sig", or nil for
// an HMAC key.
func (k *SigningKey) PublicJWK() json.RawMessage {
	pk, ok := k.Public()
	if !ok {
		return nil
	}
	b, err := jose.JSONWebKey{Key: pk.public, KeyID: k.ID, Algorithm: k.Algorithm, Use: "sig"}.MarshalJSON()
	if err != nil {
		return nil
	}
	return b
}

// PublicJWKS returns a JWK Set document with the public half of each key, in order. HMAC
// keys are left out: a secret is never published.
func PublicJWKS(keys ...*SigningKey) []byte {
	doc := struct {
		Keys []json.RawMessage `json:"keys"`
	}{Keys: []json.RawMessage{}}
	for _, k := range keys {
		if j := k.PublicJWK(); j != nil {
			doc.Keys = append(doc.Keys, j)
		}
	}
	b, _ := json.Marshal(doc) // cannot fail: every element is valid JSON
	return b
}

func publicKey(pub any) (Key, error) {
	switch p := pub.(type) {
	case *ecdsa.PublicKey:
		k := Key{Type: "EC", public: p}
		switch p.Curve {
		case elliptic.P256():
			k.Curve = "P-256"
		case elliptic.P384():
			k.Curve = "P-384"
		case elliptic.P521():
			k.Curve = "P-521"
		default:
			return Key{}, errors.New("signing key: unsupported EC curve")
		}
		return k, nil
	case *rsa.PublicKey:
		return Key{Type: "RSA", public: p}, nil
	case ed25519.PublicKey:
		return Key{Type: "OKP", Curve: "Ed25519", public: p}, nil
	}
	return Key{}, fmt.Errorf("signing key: unsupported public key type %T", pub)
}

// Signer signs claims as compact JWS with one SigningKey. It is safe for concurrent use.
type Signer struct {
	key    *SigningKey
	signer jose.Signer
}

// NewSigner returns a Signer whose tokens carry typ "JWT", the key's alg and, unless the
// key is an HMAC secret without an ID, its kid.
func NewSigner(key *SigningKey) (*Signer, error) {
	s, err := newJoseSigner(key, nil)
	if err != nil {
		return nil, err
	}
	return &Signer{key: key, signer: s}, nil
}

func newJoseSigner(key *SigningKey, header map[string]any) (jose.Signer, error) {
	opts := (&jose.SignerOptions{}).WithType("JWT")
	for name, v := range header {
		if name == "crit" {
			names, ok := v.([]string)
			if !ok {
				return nil, errors.New(`sign token: header "crit" must be a []string`)
			}
			opts.WithCritical(names...)
			continue
		}
		opts.WithHeader(jose.HeaderKey(name), v)
	}
	var sk any = key.private
	if key.ID != "" {
		sk = jose.JSONWebKey{Key: key.private, KeyID: key.ID}
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(key.Algorithm), Key: sk}, opts)
	if err != nil {
		return nil, fmt.Errorf("sign token: %w", err)
	}
	return s, nil
}

// Key returns the signer's key.
func (s *Signer) Key() *SigningKey { return s.key }

// Sign marshals claims (a map or a struct) as JSON and signs them.
func (s *Signer) Sign(claims any) (string, error) { return sign(s.signer, claims) }

// SignWithHeader signs claims with extra protected header parameters, for tests that need
// hostile headers ("crit", "jwk", "jku", "x5u"). A "crit" value must be a []string.
func (s *Signer) SignWithHeader(claims any, header map[string]any) (string, error) {
	js, err := newJoseSigner(s.key, header)
	if err != nil {
		return "", err
	}
	return sign(js, claims)
}

func sign(js jose.Signer, claims any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("sign token: claims: %w", err)
	}
	obj, err := js.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return obj.CompactSerialize()
}
