package tokens

import (
	"errors"
	"strings"
	"sync"
	"testing"
)

// FuzzDecode checks that Decode never panics, and that what it accepts is consistent.
// Seeds live in testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	f.Add("eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln")
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1In0.")
	f.Add("a.b.c.d.e")
	f.Fuzz(func(t *testing.T, s string) {
		d, err := Decode(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrNotJWT) && !errors.Is(err, ErrJWE) &&
				!errors.Is(err, ErrEmpty) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		if d.Header == nil || d.Claims == nil || d.SignatureBytes < 0 {
			t.Fatalf("accepted with missing parts: %+v", d)
		}
		if strings.Count(s, ".") != 2 || len(s) > MaxTokenBytes {
			t.Fatalf("accepted a token of the wrong shape")
		}
		// Accessors must not panic on any decoded content.
		_ = d.Audience()
		_ = d.Scopes()
		_, _ = d.Time("exp")
		_ = d.HeaderString("alg")
	})
}

var (
	fuzzOnce sync.Once
	fuzzSet  *KeySet
	fuzzHMAC Keys
)

// FuzzVerify checks that Verify never panics, classifies every failure, never echoes the
// input, and never accepts a token: the keys are generated fresh for each run, so no input
// (committed seeds included) can carry a valid signature.
func FuzzVerify(f *testing.F) {
	fuzzOnce.Do(func() {
		es, err := GenerateES256()
		if err != nil {
			panic(err)
		}
		ed, err := GenerateEdDSA()
		if err != nil {
			panic(err)
		}
		fuzzSet, err = ParseJWKS(PublicJWKS(es, ed))
		if err != nil {
			panic(err)
		}
		secret := make([]byte, 64)
		copy(secret, "fuzz secret, fixed so that it is not the point of the test")
		fuzzHMAC, _ = NewHMACKey(secret)
	})
	algs, err := NewAlgorithms("ES256", "EdDSA", "RS256")
	if err != nil {
		f.Fatal(err)
	}
	hmacAlgs, err := NewAlgorithms("HS256", "HS512")
	if err != nil {
		f.Fatal(err)
	}
	f.Add("eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJ1In0.c2ln")
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1In0.")
	f.Add("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln")
	f.Fuzz(func(t *testing.T, s string) {
		for _, c := range []struct {
			algs Algorithms
			keys Keys
		}{{algs, fuzzSet}, {hmacAlgs, fuzzHMAC}} {
			tok, err := Verify(s, c.algs, c.keys)
			if err == nil {
				t.Fatalf("verified without the key: %+v", tok)
			}
			var ve *VerifyError
			if !errors.As(err, &ve) {
				t.Fatalf("error %T is not a *VerifyError", err)
			}
			switch ve.Kind {
			case ErrMalformed, ErrAlgorithmRejected, ErrKeyUnknown, ErrSignatureInvalid:
			default:
				t.Fatalf("unclassified error %v", err)
			}
			if ve.Detail == "" {
				t.Fatalf("error without detail: %+v", ve)
			}
			if len(s) >= 24 && strings.Contains(ve.Detail, s) {
				t.Fatalf("detail echoes the input: %q", ve.Detail)
			}
			if len(ve.KeyID) > 64 || len(ve.Algorithm) > 64 {
				t.Fatalf("unbounded header values: %+v", ve)
			}
		}
	})
}
