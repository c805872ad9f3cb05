package config

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"hash"
	"sync"
)

// fingerprintKey keys Fingerprint's HMAC. It is random per process: fingerprints cover
// secret values, and a plain hash of a weak client secret could be brute-forced offline by
// anyone who sees a fingerprint.
var fingerprintKey = sync.OnceValue(func() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k) // crypto/rand.Read never fails (Go 1.24+)
	return k
})

// Fingerprint returns a hash of the effective settings of the authenticator called name,
// or "" when there is none. Two configurations loaded by the same process give the same
// fingerprint for an authenticator exactly when its verifier would behave the same, so a
// reload can keep the caches (verified tokens, JWKS, Basic results) of authenticators
// whose fingerprint did not change and rebuild the others.
//
// It covers the name, the type, every setting of the type with defaults applied, secret
// values, the contents of files the authenticator names (ca_file, jwks_file) as they were
// read when the configuration was validated, and the global settings its verifier depends
// on: environment and store for api_key and basic. It does not cover routes.
//
// The value is an HMAC under a key drawn at process start: stable for the life of the
// process, not comparable across processes, and no help to anyone guessing a secret.
func (c *Config) Fingerprint(name string) string {
	a, ok := c.Authenticators[name]
	if !ok || a == nil {
		return ""
	}
	h := hmac.New(sha256.New, fingerprintKey())
	field(h, "name", []byte(a.Name))
	field(h, "type", []byte(a.Type))
	var files []string
	switch a.Type {
	case TypeJWT:
		if a.JWT != nil {
			settings(h, a.JWT)
			field(h, "secret", a.JWT.Secret.b)
			files = append(files, a.JWT.JWKSFile)
			if a.JWT.Issuer == IssuerSelf && c.TokenService != nil {
				// A self-issued verifier is bound to the token service it trusts.
				settings(h, c.TokenService)
				field(h, "signing_key_secret", c.TokenService.SigningKeySecret.b)
			}
		}
	case TypeAPIKey:
		if a.APIKey != nil {
			settings(h, a.APIKey)
			field(h, "pepper", a.APIKey.Pepper.b)
		}
		field(h, "environment", []byte(c.Environment))
		field(h, "store", []byte(string(c.Store.Driver)+"\x00"+c.Store.Path+"\x00"+c.Store.DSN))
	case TypeBasic:
		if a.Basic != nil {
			settings(h, a.Basic)
		}
		field(h, "store", []byte(string(c.Store.Driver)+"\x00"+c.Store.Path+"\x00"+c.Store.DSN))
	case TypeIntrospection:
		if a.Introspection != nil {
			settings(h, a.Introspection)
			field(h, "client_secret", a.Introspection.ClientSecret.b)
		}
	case TypeMTLS:
		if a.MTLS != nil {
			settings(h, a.MTLS)
			files = append(files, a.MTLS.CAFile)
		}
	}
	for _, f := range files {
		if f == "" {
			continue
		}
		if sum, ok := c.digests[f]; ok {
			field(h, "file", sum[:])
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// settings writes the JSON encoding of a settings struct: every exported field, so a field
// added later is covered without touching this file. Secrets encode as "[REDACTED]" and
// are written separately.
func settings(h hash.Hash, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Settings structs hold only strings, numbers, slices and Secrets: unreachable.
		panic("config: fingerprint: " + err.Error())
	}
	field(h, "settings", b)
}

// field writes a length-prefixed label and value, so no two field sequences hash alike.
func field(h hash.Hash, label string, value []byte) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(label)))
	h.Write(n[:])
	h.Write([]byte(label))
	binary.BigEndian.PutUint64(n[:], uint64(len(value)))
	h.Write(n[:])
	h.Write(value)
}
