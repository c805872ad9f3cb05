package tokens

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"sync"
	"testing"
)

// testKeys are generated once per test binary: RSA generation is slow, and no test relies
// on particular key bytes.
type testKeySet struct {
	es256, es256b, es384, rs256, ps256, eddsa *SigningKey
	attacker                                  *SigningKey
}

var (
	keysOnce sync.Once
	keysVal  testKeySet
)

func testKeys(t testing.TB) *testKeySet {
	t.Helper()
	keysOnce.Do(func() {
		must := func(k *SigningKey, err error) *SigningKey {
			if err != nil {
				panic(err)
			}
			return k
		}
		keysVal.es256 = must(GenerateES256())
		keysVal.es256.ID = "es-1"
		keysVal.es256b = must(GenerateES256())
		keysVal.es256b.ID = "es-2"
		p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		if err != nil {
			panic(err)
		}
		keysVal.es384 = must(NewSigningKey("ES384", "es384-1", p384))
		keysVal.rs256 = must(GenerateRS256())
		keysVal.rs256.ID = "rs-1"
		rsaPS := keysVal.rs256.private.(*rsa.PrivateKey)
		keysVal.ps256 = must(NewSigningKey("PS256", "ps-1", rsaPS))
		keysVal.eddsa = must(GenerateEdDSA())
		keysVal.eddsa.ID = "ed-1"
		keysVal.attacker = must(GenerateES256())
		keysVal.attacker.ID = "es-1" // the attacker reuses the victim's kid
	})
	return &keysVal
}

// keySetOf builds a KeySet through the public JWKS path, as production does.
func keySetOf(t testing.TB, keys ...*SigningKey) *KeySet {
	t.Helper()
	s, err := ParseJWKS(PublicJWKS(keys...))
	if err != nil {
		t.Fatalf("ParseJWKS: %v", err)
	}
	return s
}

func signWith(t testing.TB, k *SigningKey, claims any) string {
	t.Helper()
	s, err := NewSigner(k)
	if err != nil {
		t.Fatalf("NewSigner: %v", err)
	}
	tok, err := s.Sign(claims)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return tok
}

func signHeader(t testing.TB, k *SigningKey, claims any, header map[string]any) string {
	t.Helper()
	s, err := NewSigner(k)
	if err != nil {
		t.Fatalf("NewSigner: %v", err)
	}
	tok, err := s.SignWithHeader(claims, header)
	if err != nil {
		t.Fatalf("SignWithHeader: %v", err)
	}
	return tok
}

func b64json(t testing.TB, v any) string {
	t.Helper()
	var b []byte
	switch x := v.(type) {
	case string:
		b = []byte(x)
	case []byte:
		b = x
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			t.Fatal(err)
		}
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// rawToken assembles a compact JWS by hand from a header, claims (a value or literal JSON
// text) and signature bytes, for shapes no well-behaved signer produces.
func rawToken(t testing.TB, header, claims any, sig []byte) string {
	t.Helper()
	return b64json(t, header) + "." + b64json(t, claims) + "." + base64.RawURLEncoding.EncodeToString(sig)
}
