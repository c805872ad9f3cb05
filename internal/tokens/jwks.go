package tokens

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
)

// MinRSABits is the smallest RSA modulus accepted from a key set. Smaller keys are skipped
// with a warning: they are factorable by a determined attacker, and Go refuses to verify
// with keys under 1024 bits anyway.
const MinRSABits = 2048

// ErrNoUsableKey is returned (wrapped) by ParseJWKS when a document parses but holds no key
// that can verify a signature.
var ErrNoUsableKey = errors.New("parse jwks: no usable signature key")

// Key is one public verification key from a key set. The zero Key is not usable.
type Key struct {
	// ID is the JWK "kid"; it may be empty when the set has a single key.
	ID string
	// Type is the JWK "kty": "RSA", "EC" or "OKP".
	Type string
	// Curve is the JWK "crv" for EC and OKP keys ("P-256", "P-384", "P-521", "Ed25519"),
	// empty for RSA.
	Curve string
	// Algorithm is the JWK "alg" when the set states one. A key with an algorithm verifies
	// only tokens whose header names that same algorithm.
	Algorithm string
	// public is *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey.
	public any
}

// Fits reports whether the key may verify a token signed with alg: the key's own alg, if
// any, must equal alg, and its type (and curve) must be the one alg is defined for. This
// is what binds the algorithm to the key, so that a header cannot choose how a key is
// used (the classic "HS256 signed with the RSA public key" confusion).
func (k *Key) Fits(alg string) bool {
	if k.public == nil {
		return false
	}
	if k.Algorithm != "" && k.Algorithm != alg {
		return false
	}
	fam, ok := algFamilies[alg]
	if !ok || fam.kty != k.Type {
		return false
	}
	return fam.crv == "" || fam.crv == k.Curve
}

// Public returns the Go public key: *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey.
func (k *Key) Public() any { return k.public }

// describe names the key for a message: `"k1" (EC P-256)`.
func (k *Key) describe() string {
	t := k.Type
	if k.Curve != "" {
		t += " " + k.Curve
	}
	if k.ID == "" {
		return "the key without a key id (" + t + ")"
	}
	return fmt.Sprintf("key %s (%s)", quoteSafe(k.ID), t)
}

// KeySet is an immutable set of public signature keys, usually parsed from a JWKS
// document. It is safe for concurrent use. A *KeySet is a Keys for Verify.
type KeySet struct {
	keys     []Key
	warnings []string
}

// NewKeySet builds a key set from keys already checked (for instance returned by another
// set's Keys). Keys that fit no algorithm are dropped.
func NewKeySet(keys ...Key) *KeySet {
	s := &KeySet{}
	for _, k := range keys {
		if k.public != nil {
			s.keys = append(s.keys, k)
		}
	}
	return s
}

// Len is the number of usable keys.
func (s *KeySet) Len() int { return len(s.keys) }

// Keys returns a copy of the usable keys, in document order.
func (s *KeySet) Keys() []Key { return append([]Key(nil), s.keys...) }

// Warnings lists the keys ParseJWKS skipped and why, one sentence each, in document order.
// The sentences name key ids and types, never key material.
func (s *KeySet) Warnings() []string { return append([]string(nil), s.warnings...) }

// Has reports whether the set holds a key with this key id.
func (s *KeySet) Has(kid string) bool {
	for i := range s.keys {
		if s.keys[i].ID == kid {
			return true
		}
	}
	return false
}

// KeyIDs returns the distinct key ids in the set, sorted.
func (s *KeySet) KeyIDs() []string {
	seen := make(map[string]bool, len(s.keys))
	var out []string
	for i := range s.keys {
		if id := s.keys[i].ID; !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// ChangedIn reports whether next withdraws or changes any key of s: a key id that is
// gone, or that now names different key material, type, curve or alg. Keys next adds
// are not a change. A verifier that caches what s verified must drop that cache when
// this is true: an issuer that replaces the key behind a kid (after a compromise, say)
// means every token signed with the old key to stop working at once.
func (s *KeySet) ChangedIn(next *KeySet) bool {
	if s == nil {
		return false
	}
	for i := range s.keys {
		if next == nil || !next.holds(&s.keys[i]) {
			return true
		}
	}
	return false
}

// holds reports whether s has a key identical to k.
func (s *KeySet) holds(k *Key) bool {
	for i := range s.keys {
		n := &s.keys[i]
		if n.ID == k.ID && n.Type == k.Type && n.Curve == k.Curve && n.Algorithm == k.Algorithm && samePublic(n.public, k.public) {
			return true
		}
	}
	return false
}

func samePublic(a, b any) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b)
}

// keyFor selects the key that verifies a token with this kid and alg. With a kid, the key
// must have that id and fit alg; without one, the set must hold exactly one key that fits.
func (s *KeySet) keyFor(kid, alg string) (any, error) {
	if s == nil {
		s = &KeySet{} // a nil *KeySet holds no key: every kid is unknown
	}
	if fam, ok := algFamilies[alg]; ok && fam.kty == "oct" {
		return nil, &VerifyError{Kind: ErrAlgorithmRejected, Algorithm: alg, KeyID: kid,
			Detail: fmt.Sprintf("algorithm %s needs a shared secret, and this issuer's key set holds only public keys", alg),
			Cause:  "hmac_with_public_keys"}
	}
	if kid == "" {
		var found *Key
		n := 0
		for i := range s.keys {
			if s.keys[i].Fits(alg) {
				n++
				found = &s.keys[i]
			}
		}
		switch n {
		case 1:
			return found.public, nil
		case 0:
			return nil, &VerifyError{Kind: ErrKeyUnknown, Algorithm: alg,
				Detail: fmt.Sprintf("the token has no key id (kid) and the issuer's key set has no key for %s", alg),
				Cause:  "no_kid_no_key"}
		default:
			return nil, &VerifyError{Kind: ErrKeyUnknown, Algorithm: alg,
				Detail: fmt.Sprintf("the token has no key id (kid) and the issuer's key set has %d keys for %s", n, alg),
				Cause:  "no_kid_ambiguous"}
		}
	}
	var mismatch *Key
	for i := range s.keys {
		k := &s.keys[i]
		if k.ID != kid {
			continue
		}
		if k.Fits(alg) {
			return k.public, nil
		}
		mismatch = k
	}
	if mismatch != nil {
		return nil, &VerifyError{Kind: ErrAlgorithmRejected, Algorithm: alg, KeyID: kid,
			Detail: fmt.Sprintf("%s cannot verify %s tokens", mismatch.describe(), alg) + mismatch.algNote(),
			Cause:  "key_algorithm_mismatch"}
	}
	return nil, &VerifyError{Kind: ErrKeyUnknown, Algorithm: alg, KeyID: kid,
		Detail: fmt.Sprintf("key id %s is not in the issuer's key set", quoteSafe(kid)),
		Cause:  "kid_not_in_set"}
}

func (k *Key) algNote() string {
	if k.Algorithm != "" {
		return " (the key set binds it to " + k.Algorithm + ")"
	}
	return ""
}

// jwkFields are the members of a JWK read before handing it to the JOSE library: enough
// to name the key in a warning and to refuse private or symmetric material unparsed.
type jwkFields struct {
	Kty    any             `json:"kty"`
	Kid    any             `json:"kid"`
	Use    any             `json:"use"`
	Alg    any             `json:"alg"`
	Crv    any             `json:"crv"`
	KeyOps []any           `json:"key_ops"`
	D      json.RawMessage `json:"d"`
	P      json.RawMessage `json:"p"`
	Q      json.RawMessage `json:"q"`
	K      json.RawMessage `json:"k"`
	Priv   json.RawMessage `json:"priv"`
}

// ParseJWKS parses a JWK Set document (RFC 7517 section 5) into the public signature keys
// it holds. Keys meant for encryption (use "enc", or key_ops without "verify"), symmetric
// keys (kty "oct": HMAC secrets never come from a key set), keys carrying private
// material, keys of unsupported types or curves, RSA keys under MinRSABits, and keys whose
// alg does not fit their type are skipped, each with a sentence in Warnings. A document
// that is not a JSON object with a "keys" array, or that leaves no usable key, is an error.
func ParseJWKS(data []byte) (*KeySet, error) {
	var doc struct {
		Keys *[]json.RawMessage `json:"keys"`
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, errors.New("parse jwks: the document is empty")
	}
	if trimmed[0] != '{' {
		return nil, fmt.Errorf("parse jwks: the document is not a JSON object (it starts with %s)", quoteSafe(string(firstRunes(trimmed, 12))))
	}
	if err := json.Unmarshal(trimmed, &doc); err != nil {
		return nil, fmt.Errorf("parse jwks: the document is not valid JSON: %w", err)
	}
	if doc.Keys == nil {
		var single jwkFields
		if json.Unmarshal(trimmed, &single) == nil && single.Kty != nil {
			return nil, errors.New(`parse jwks: the document is a single JWK, not a key set; wrap it as {"keys": [ ... ]}`)
		}
		return nil, errors.New(`parse jwks: the document has no "keys" array`)
	}
	s := &KeySet{}
	for i, raw := range *doc.Keys {
		k, warn := parseJWK(raw)
		if warn != "" {
			s.warnings = append(s.warnings, fmt.Sprintf("key %d%s: %s", i, kidSuffix(raw), warn))
			continue
		}
		s.keys = append(s.keys, k)
	}
	if len(s.keys) == 0 {
		if len(*doc.Keys) == 0 {
			return nil, fmt.Errorf("%w: the \"keys\" array is empty", ErrNoUsableKey)
		}
		return nil, fmt.Errorf("%w: %s", ErrNoUsableKey, strings.Join(s.warnings, "; "))
	}
	return s, nil
}

func kidSuffix(raw json.RawMessage) string {
	var f struct {
		Kid string `json:"kid"`
	}
	if json.Unmarshal(raw, &f) == nil && f.Kid != "" {
		return " (kid " + quoteSafe(f.Kid) + ")"
	}
	return ""
}

// parseJWK returns the key, or a warning saying why it was skipped.
func parseJWK(raw json.RawMessage) (Key, string) {
	var f jwkFields
	if err := json.Unmarshal(raw, &f); err != nil {
		return Key{}, "not a JSON object"
	}
	str := func(name string, v any) (string, string) {
		if v == nil {
			return "", ""
		}
		s, ok := v.(string)
		if !ok {
			return "", fmt.Sprintf("%q is not a string", name)
		}
		return s, ""
	}
	kty, w := str("kty", f.Kty)
	if w != "" {
		return Key{}, w
	}
	use, w := str("use", f.Use)
	if w != "" {
		return Key{}, w
	}
	alg, w := str("alg", f.Alg)
	if w != "" {
		return Key{}, w
	}
	if _, w := str("kid", f.Kid); w != "" {
		return Key{}, w
	}
	if _, w := str("crv", f.Crv); w != "" {
		return Key{}, w
	}
	switch {
	case kty == "":
		return Key{}, `no "kty"`
	case kty == "oct":
		return Key{}, "symmetric (oct) keys are not accepted from a key set; configure an HMAC secret with secret_file instead"
	case use != "" && use != "sig":
		return Key{}, fmt.Sprintf("use %s is not for signatures", quoteSafe(use))
	case f.KeyOps != nil && !containsAny(f.KeyOps, "verify"):
		return Key{}, `key_ops does not include "verify"`
	case f.D != nil || f.P != nil || f.Q != nil || f.K != nil || f.Priv != nil:
		return Key{}, "it contains private key material; a key set must publish public keys only (treat this key as compromised)"
	case kty != "RSA" && kty != "EC" && kty != "OKP":
		return Key{}, fmt.Sprintf("key type %s is not supported (supported: RSA, EC, OKP)", quoteSafe(kty))
	}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(raw); err != nil {
		if errors.Is(err, jose.ErrUnsupportedKeyType) {
			crv, _ := f.Crv.(string)
			return Key{}, fmt.Sprintf("%s curve %s is not supported", kty, quoteSafe(crv))
		}
		return Key{}, "invalid " + kty + " key: " + strings.TrimPrefix(err.Error(), "go-jose/go-jose: ")
	}
	k := Key{ID: jwk.KeyID, Type: kty, Algorithm: alg}
	switch pub := jwk.Key.(type) {
	case *rsa.PublicKey:
		if bits := pub.N.BitLen(); bits < MinRSABits {
			return Key{}, fmt.Sprintf("RSA key of %d bits is too small (at least %d)", bits, MinRSABits)
		}
		k.public = pub
	case *ecdsa.PublicKey:
		switch pub.Curve {
		case elliptic.P256():
			k.Curve = "P-256"
		case elliptic.P384():
			k.Curve = "P-384"
		case elliptic.P521():
			k.Curve = "P-521"
		default:
			return Key{}, "unsupported EC curve"
		}
		k.public = pub
	case ed25519.PublicKey:
		k.Curve = "Ed25519"
		k.public = pub
	default:
		return Key{}, fmt.Sprintf("key type %s is not supported", quoteSafe(kty))
	}
	if alg != "" {
		if _, ok := algFamilies[alg]; !ok {
			return Key{}, fmt.Sprintf("alg %s is not a supported signature algorithm", quoteSafe(alg))
		}
		if !k.Fits(alg) {
			return Key{}, fmt.Sprintf("alg %s does not fit a %s key", alg, strings.TrimSpace(k.Type+" "+k.Curve))
		}
	}
	return k, ""
}

func containsAny(list []any, want string) bool {
	for _, v := range list {
		if s, ok := v.(string); ok && s == want {
			return true
		}
	}
	return false
}

func firstRunes(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
