package tokens

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var sealSecret = []byte("a-signing-key-secret-of-44-bytes-0123456789")

func TestSealerRoundTripsBoundToItsLabel(t *testing.T) {
	s, err := NewSealer(sealSecret)
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte("private key bytes")
	sealed, err := s.Seal(plain, "kid-1")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, plain) {
		t.Error("the sealed value holds the plaintext")
	}
	again, _ := s.Seal(plain, "kid-1")
	if bytes.Equal(sealed, again) {
		t.Error("two seals of the same value are equal: the nonce is not random")
	}
	got, err := s.Open(sealed, "kid-1")
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	// The same secret gives the same sealer, in another process.
	s2, _ := NewSealer(sealSecret)
	if got, err := s2.Open(sealed, "kid-1"); err != nil || !bytes.Equal(got, plain) {
		t.Errorf("a second sealer over the same secret: %q, %v", got, err)
	}
	if s.ID() != s2.ID() || len(s.ID()) != 16 {
		t.Errorf("sealer ids %q and %q", s.ID(), s2.ID())
	}
}

func TestSealerRefusesWhatItDidNotSeal(t *testing.T) {
	s, _ := NewSealer(sealSecret)
	other, _ := NewSealer(append([]byte("x"), sealSecret...))
	sealed, _ := s.Seal([]byte("private key bytes"), "kid-1")
	flipped := bytes.Clone(sealed)
	flipped[len(flipped)-1] ^= 1
	tests := []struct {
		name   string
		sealer *Sealer
		value  []byte
		label  string
		want   error
	}{
		{"AnotherSecret", other, sealed, "kid-1", ErrSealedWithOtherSecret},
		{"AnotherLabel", s, sealed, "kid-2", ErrSealedCorrupt},
		{"FlippedBit", s, flipped, "kid-1", ErrSealedCorrupt},
		{"Truncated", s, sealed[:20], "kid-1", ErrSealedCorrupt},
		{"Empty", s, nil, "kid-1", ErrSealedCorrupt},
		{"UnknownVersion", s, append([]byte{9}, sealed[1:]...), "kid-1", ErrSealedCorrupt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.sealer.Open(tc.value, tc.label)
			if !errors.Is(err, tc.want) || got != nil {
				t.Errorf("Open = %q, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestSealerRefusesAShortSecret(t *testing.T) {
	if _, err := NewSealer(make([]byte, MinSealSecretBytes-1)); err == nil || strings.Contains(err.Error(), "\x00") {
		t.Errorf("NewSealer(31 bytes) = %v", err)
	}
}

func TestPrivateKeyRoundTripsSealedForEveryIssuingAlgorithm(t *testing.T) {
	s, _ := NewSealer(sealSecret)
	for _, alg := range IssuingAlgorithms {
		t.Run(alg, func(t *testing.T) {
			k, err := GenerateSigningKey(alg)
			if err != nil {
				t.Fatal(err)
			}
			tp, err := k.Thumbprint()
			if err != nil || tp != k.ID {
				t.Errorf("Thumbprint = %q, %v; want the key id %q", tp, err, k.ID)
			}
			sealed, err := k.SealPrivateKey(s)
			if err != nil {
				t.Fatal(err)
			}
			back, err := OpenPrivateKey(s, alg, k.ID, sealed)
			if err != nil {
				t.Fatalf("OpenPrivateKey: %v", err)
			}
			if diff := cmp.Diff(string(k.PublicJWK()), string(back.PublicJWK())); diff != "" {
				t.Errorf("public key after the round trip (-want +got):\n%s", diff)
			}
			// What the reopened key signs verifies with the original public key.
			signer, err := NewAccessTokenSigner(back)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := signer.Sign(map[string]any{"sub": "x", "exp": time.Now().Add(time.Minute).Unix()})
			if err != nil {
				t.Fatal(err)
			}
			algs, _ := NewAlgorithms(alg)
			if _, err := VerifyAccessToken(tok, algs, keySetOf(t, k)); err != nil {
				t.Errorf("a token of the reopened key does not verify with the original: %v", err)
			}
		})
	}
}

func TestParsePrivateKeyRefusesAMismatchedKid(t *testing.T) {
	a, _ := GenerateES256()
	b, _ := GenerateES256()
	der, err := a.MarshalPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParsePrivateKey("ES256", b.ID, der); err == nil || !strings.Contains(err.Error(), "thumbprint") {
		t.Errorf("ParsePrivateKey with another key's kid = %v", err)
	}
	if _, err := ParsePrivateKey("RS256", a.ID, der); err == nil {
		t.Error("ParsePrivateKey accepted an EC key for RS256")
	}
	if _, err := ParsePrivateKey("ES256", a.ID, []byte("not der")); err == nil || strings.Contains(err.Error(), "not der") {
		t.Errorf("ParsePrivateKey(garbage) = %v", err)
	}
	if _, err := GenerateSigningKey("HS256"); err == nil {
		t.Error("GenerateSigningKey(HS256) succeeded")
	}
}

func TestVerifyAccessTokenRequiresTheATJWTType(t *testing.T) {
	keys := testKeys(t)
	set := keySetOf(t, keys.es256)
	algs, _ := NewAlgorithms("ES256")
	claims := map[string]any{"sub": "x"}
	at, _ := NewAccessTokenSigner(keys.es256)
	plain, _ := NewSigner(keys.es256)
	tests := []struct {
		name      string
		sign      func() (string, error)
		wantCause string
	}{
		{"AtJWT", func() (string, error) { return at.Sign(claims) }, ""},
		{"ApplicationAtJWTAnyCase", func() (string, error) {
			return plain.SignWithHeader(claims, map[string]any{"typ": "Application/AT+JWT"})
		}, ""},
		{"PlainJWT", func() (string, error) { return plain.Sign(claims) }, "typ_not_at_jwt"},
		{"IDTokenType", func() (string, error) {
			return plain.SignWithHeader(claims, map[string]any{"typ": "id_token+jwt"})
		}, "typ_not_at_jwt"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := tc.sign()
			if err != nil {
				t.Fatal(err)
			}
			_, err = VerifyAccessToken(tok, algs, set)
			var ve *VerifyError
			switch {
			case tc.wantCause == "" && err != nil:
				t.Errorf("VerifyAccessToken = %v", err)
			case tc.wantCause != "" && (!errors.As(err, &ve) || ve.Cause != tc.wantCause || !errors.Is(err, ErrMalformed)):
				t.Errorf("VerifyAccessToken = %v, want cause %s", err, tc.wantCause)
			}
		})
	}
}

func TestKeyRingSwapsKeySetsInPlace(t *testing.T) {
	keys := testKeys(t)
	algs, _ := NewAlgorithms("ES256")
	at1, _ := NewAccessTokenSigner(keys.es256)
	at2, _ := NewAccessTokenSigner(keys.es256b)
	t1, _ := at1.Sign(map[string]any{"sub": "1"})
	t2, _ := at2.Sign(map[string]any{"sub": "2"})
	var zero KeyRing
	if _, err := Verify(t1, algs, &zero); !errors.Is(err, ErrKeyUnknown) {
		t.Errorf("an empty ring: %v, want ErrKeyUnknown", err)
	}
	ring := NewKeyRing(keySetOf(t, keys.es256))
	if _, err := Verify(t1, algs, ring); err != nil {
		t.Errorf("key 1 in the ring: %v", err)
	}
	if _, err := Verify(t2, algs, ring); !errors.Is(err, ErrKeyUnknown) {
		t.Errorf("key 2 before the swap: %v", err)
	}
	ring.Set(keySetOf(t, keys.es256b))
	if _, err := Verify(t2, algs, ring); err != nil {
		t.Errorf("key 2 after the swap: %v", err)
	}
	if _, err := Verify(t1, algs, ring); !errors.Is(err, ErrKeyUnknown) {
		t.Errorf("key 1 after it left the ring: %v", err)
	}
	if ring.KeySet().Len() != 1 {
		t.Errorf("KeySet().Len() = %d", ring.KeySet().Len())
	}
}
