package tokens

import (
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func mustAlgs(t testing.TB, names ...string) Algorithms {
	t.Helper()
	a, err := NewAlgorithms(names...)
	if err != nil {
		t.Fatalf("NewAlgorithms(%v): %v", names, err)
	}
	return a
}

// signPayload signs arbitrary payload bytes (not necessarily JSON) with k.
func signPayload(t testing.TB, k *SigningKey, payload []byte) string {
	t.Helper()
	js, err := newJoseSigner(k, nil)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := js.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// hs256 signs header.claims with HMAC-SHA256 under secret, by hand.
func hs256(t testing.TB, header, claims any, secret []byte) string {
	t.Helper()
	input := b64json(t, header) + "." + b64json(t, claims)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(input))
	return input + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

var baseClaims = map[string]any{"iss": "https://id.example", "sub": "user-1", "aud": "api://orders", "exp": 2000000000}

func TestVerifyAcceptsEachSupportedAlgorithm(t *testing.T) {
	k := testKeys(t)
	all := mustAlgs(t, "ES256", "ES384", "RS256", "PS256", "EdDSA")
	set := keySetOf(t, k.es256, k.es384, k.rs256, k.eddsa)
	// ps256 shares the RSA key of rs256 but is published with alg PS256 under its own kid.
	set = NewKeySet(append(set.Keys(), keySetOf(t, k.ps256).Keys()...)...)
	for _, sk := range []*SigningKey{k.es256, k.es384, k.rs256, k.ps256, k.eddsa} {
		t.Run(sk.Algorithm, func(t *testing.T) {
			tok, err := Verify(signWith(t, sk, baseClaims), all, set)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if tok.Algorithm != sk.Algorithm || tok.KeyID != sk.ID {
				t.Errorf("got alg %q kid %q, want %q %q", tok.Algorithm, tok.KeyID, sk.Algorithm, sk.ID)
			}
			if tok.Claims.Subject != "user-1" {
				t.Errorf("sub = %q", tok.Claims.Subject)
			}
		})
	}
}

func TestVerifyDecodesClaims(t *testing.T) {
	k := testKeys(t)
	algs := mustAlgs(t, "ES256")
	set := keySetOf(t, k.es256)
	tests := []struct {
		name   string
		claims map[string]any
		want   Claims
	}{
		{
			name: "registered claims and scope string",
			claims: map[string]any{"iss": "https://id.example", "sub": "u", "aud": []string{"a", "b"},
				"exp": 2000000000, "nbf": 1000000000, "iat": 1000000000.5, "jti": "j-1",
				"scope": "orders:read  orders:write", "client_id": "cli", "azp": "web"},
			want: Claims{Issuer: "https://id.example", Subject: "u", Audience: []string{"a", "b"},
				Expiry: time.Unix(2000000000, 0).UTC(), NotBefore: time.Unix(1000000000, 0).UTC(),
				IssuedAt: time.Unix(1000000000, 5e8).UTC(), ID: "j-1",
				Scopes: []string{"orders:read", "orders:write"}, ClientID: "cli", AuthorizedParty: "web"},
		},
		{
			name:   "scp array",
			claims: map[string]any{"aud": "a", "scp": []string{"orders:read", "orders:write"}},
			want:   Claims{Audience: []string{"a"}, Scopes: []string{"orders:read", "orders:write"}},
		},
		{
			name:   "scp space-separated string",
			claims: map[string]any{"scp": "orders:read orders:write"},
			want:   Claims{Scopes: []string{"orders:read", "orders:write"}},
		},
		{
			name:   "scope wins over scp",
			claims: map[string]any{"scope": "a", "scp": []string{"b"}},
			want:   Claims{Scopes: []string{"a"}},
		},
		{
			name:   "no optional claims",
			claims: map[string]any{},
			want:   Claims{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := Verify(signWith(t, k.es256, tt.claims), algs, set)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if diff := cmp.Diff(tt.want, tok.Claims, cmpopts.IgnoreUnexported(Claims{}), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("claims (-want +got):\n%s", diff)
			}
			raw, err := tok.Claims.Raw()
			if err != nil || len(raw) != len(tt.claims) {
				t.Errorf("Raw has %d claims (%v), want %d", len(raw), err, len(tt.claims))
			}
		})
	}
}

// TestVerifyRefuses is the table of every way a token is refused, with the class of the
// refusal and, where the message matters to the caller, a fragment of the detail.
func TestVerifyRefuses(t *testing.T) {
	k := testKeys(t)
	esRS := mustAlgs(t, "ES256", "RS256")
	rsOnly := mustAlgs(t, "RS256")
	set := keySetOf(t, k.es256, k.rs256)

	rsaPub := &k.rs256.private.(*rsa.PrivateKey).PublicKey
	der, err := x509.MarshalPKIXPublicKey(rsaPub)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	jwkBytes := k.rs256.PublicJWK()

	good := signWith(t, k.es256, baseClaims)
	parts := strings.Split(good, ".")
	noneHeader := func(alg string) string {
		return rawToken(t, map[string]any{"alg": alg, "typ": "JWT"}, baseClaims, nil)
	}
	attackerJWK := json.RawMessage(k.attacker.PublicJWK())
	twoES, err := ParseJWKS(PublicJWKS(k.es256, k.es256b))
	if err != nil {
		t.Fatal(err)
	}
	p384Only := keySetOf(t, k.es384)
	// The EC P-384 key published under the kid an ES256 token names, without an alg.
	wrongCurve := func() *KeySet {
		pk, _ := k.es384.Public()
		pk.ID, pk.Algorithm = "es-1", ""
		return NewKeySet(pk)
	}()
	boundToES384 := func() *KeySet {
		pk, _ := k.es256.Public()
		pk.Algorithm = "ES384"
		return NewKeySet(pk)
	}()

	tests := []struct {
		name   string
		token  string
		algs   Algorithms
		keys   Keys
		kind   error
		cause  string
		detail string // substring of Detail, when set
	}{
		{name: "alg none", token: noneHeader("none"), kind: ErrAlgorithmRejected, cause: "alg_none", detail: `algorithm "none" is not accepted: unsigned tokens are never accepted; accepted: ES256, RS256`},
		{name: "alg NONE", token: noneHeader("NONE"), kind: ErrAlgorithmRejected, cause: "alg_none"},
		{name: "alg nOnE", token: noneHeader("nOnE"), kind: ErrAlgorithmRejected, cause: "alg_none"},
		{name: "alg none with a signature", token: rawToken(t, map[string]any{"alg": "none"}, baseClaims, []byte("sig")), kind: ErrAlgorithmRejected},
		{name: "algorithm not in allow-list", token: signWith(t, k.es384, baseClaims), keys: p384Only, kind: ErrAlgorithmRejected, cause: "alg_not_allowed", detail: "algorithm ES384 is not accepted; accepted: ES256, RS256"},
		{name: "unknown algorithm is quoted", token: rawToken(t, map[string]any{"alg": "XX\n999"}, baseClaims, []byte("s")), kind: ErrAlgorithmRejected, detail: `algorithm "XX\n999" is not accepted`},
		{name: "alg missing", token: rawToken(t, map[string]any{"typ": "JWT"}, baseClaims, []byte("s")), kind: ErrMalformed, cause: "alg_missing"},
		{name: "HS256 signed with the RSA public key PEM, RS256 authenticator", token: hs256(t, map[string]any{"alg": "HS256", "kid": "rs-1"}, baseClaims, pemBytes), algs: rsOnly, kind: ErrAlgorithmRejected, detail: "algorithm HS256 is not accepted; accepted: RS256"},
		{name: "HS256 signed with the RSA public key DER", token: hs256(t, map[string]any{"alg": "HS256"}, baseClaims, der), algs: rsOnly, kind: ErrAlgorithmRejected},
		{name: "HS256 signed with the RSA JWK even when HS256 is allowed", token: hs256(t, map[string]any{"alg": "HS256", "kid": "rs-1"}, baseClaims, jwkBytes), algs: mustAlgs(t, "RS256", "HS256"), kind: ErrAlgorithmRejected, cause: "hmac_with_public_keys"},
		{name: "empty signature", token: parts[0] + "." + parts[1] + ".", kind: ErrSignatureInvalid, cause: "signature_empty", detail: "the token's signature is empty"},
		{name: "signature of another token", token: parts[0] + "." + b64json(t, map[string]any{"sub": "admin"}) + "." + parts[2], kind: ErrSignatureInvalid, cause: "signature_mismatch"},
		{name: "truncated signature", token: good[:len(good)-4], kind: ErrSignatureInvalid},
		{name: "crit header", token: signHeader(t, k.es256, baseClaims, map[string]any{"crit": []string{"exp"}, "exp": 1}), kind: ErrMalformed, cause: "crit_header"},
		{name: "b64 header", token: signHeader(t, k.es256, baseClaims, map[string]any{"b64": true}), kind: ErrMalformed, cause: "b64_header"},
		{name: "embedded jwk with the attacker's key and the victim's kid", token: signHeader(t, k.attacker, baseClaims, map[string]any{"jwk": attackerJWK}), kind: ErrSignatureInvalid},
		{name: "embedded jwk with the attacker's key and no kid", token: func() string {
			a := *k.attacker
			a.ID = ""
			return signHeader(t, &a, baseClaims, map[string]any{"jwk": attackerJWK})
		}(), keys: keySetOf(t, k.es256), kind: ErrSignatureInvalid},
		{name: "jku pointing at the attacker's key set", token: signHeader(t, k.attacker, baseClaims, map[string]any{"jku": "https://attacker.example/jwks.json"}), kind: ErrSignatureInvalid},
		{name: "x5u pointing at the attacker's certificate", token: signHeader(t, k.attacker, baseClaims, map[string]any{"x5u": "https://attacker.example/cert.pem"}), kind: ErrSignatureInvalid},
		{name: "x5c garbage", token: rawToken(t, map[string]any{"alg": "ES256", "x5c": []string{"AAAA"}}, baseClaims, []byte("s")), kind: ErrMalformed, cause: "header_x5c"},
		{name: "kid unknown", token: func() string { a := *k.attacker; a.ID = "k9"; return signWith(t, &a, baseClaims) }(), kind: ErrKeyUnknown, cause: "kid_not_in_set", detail: `key id "k9" is not in the issuer's key set`},
		{name: "kid unknown with hostile text", token: rawToken(t, map[string]any{"alg": "ES256", "kid": strings.Repeat("\x1b[31m", 40)}, baseClaims, []byte("s")), kind: ErrKeyUnknown, detail: `key id "\x1b[31m`},
		{name: "no kid and two keys fit", token: func() string { a := *k.es256; a.ID = ""; return signWith(t, &a, baseClaims) }(), keys: twoES, kind: ErrKeyUnknown, cause: "no_kid_ambiguous"},
		{name: "no kid and no key fits", token: func() string { a := *k.es256; a.ID = ""; return signWith(t, &a, baseClaims) }(), keys: keySetOf(t, k.rs256), kind: ErrKeyUnknown, cause: "no_kid_no_key"},
		{name: "kid names a key of another curve", token: signWith(t, k.es256, baseClaims), keys: wrongCurve, kind: ErrAlgorithmRejected, cause: "key_algorithm_mismatch", detail: `key "es-1" (EC P-384) cannot verify ES256 tokens`},
		{name: "kid names an RSA key, token is ES256", token: func() string { a := *k.es256; a.ID = "rs-1"; return signWith(t, &a, baseClaims) }(), kind: ErrAlgorithmRejected, cause: "key_algorithm_mismatch"},
		{name: "JWK alg differs from header alg", token: signWith(t, k.es256, baseClaims), algs: mustAlgs(t, "ES256", "ES384"), keys: boundToES384, kind: ErrAlgorithmRejected, detail: "binds it to ES384"},
		{name: "too large", token: "eyJ" + strings.Repeat("a", MaxTokenBytes), kind: ErrMalformed, cause: "token_too_large"},
		{name: "empty", token: "", kind: ErrMalformed, cause: "token_empty"},
		{name: "JWE", token: "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d", kind: ErrMalformed, cause: "jwe"},
		{name: "two segments", token: parts[0] + "." + parts[1], kind: ErrMalformed, cause: "not_jwt"},
		{name: "padding in a segment", token: parts[0] + "=." + parts[1] + "." + parts[2], kind: ErrMalformed, cause: "bad_base64"},
		{name: "whitespace", token: " " + good, kind: ErrMalformed, cause: "bad_base64"},
		{name: "header not JSON", token: b64json(t, "{nope") + "." + parts[1] + "." + parts[2], kind: ErrMalformed, cause: "header_not_json"},
		{name: "kid not a string", token: rawToken(t, map[string]any{"alg": "ES256", "kid": 7}, baseClaims, []byte("s")), kind: ErrMalformed, cause: "header_type"},
		{name: "broken JSON in signed claims", token: signPayload(t, k.es256, []byte(`{"sub":"u",`)), kind: ErrMalformed, cause: "claims_not_json"},
		{name: "claims are an array", token: signPayload(t, k.es256, []byte(`["sub"]`)), kind: ErrMalformed, cause: "claims_not_json"},
		{name: "claims are null", token: signPayload(t, k.es256, []byte(`null`)), kind: ErrMalformed, cause: "claims_not_json"},
		{name: "data after the claims", token: signPayload(t, k.es256, []byte(`{"sub":"u"}}`)), kind: ErrMalformed, cause: "claims_not_json"},
		{name: "aud is a number", token: signWith(t, k.es256, map[string]any{"aud": 7}), kind: ErrMalformed, detail: `the "aud" claim is not a string or an array of strings`},
		{name: "aud array holds a number", token: signWith(t, k.es256, map[string]any{"aud": []any{"api://orders", 7}}), kind: ErrMalformed, cause: "claim_type"},
		{name: "exp is a string", token: signWith(t, k.es256, map[string]any{"exp": "tomorrow"}), kind: ErrMalformed, detail: `the "exp" claim is not a NumericDate`},
		{name: "sub is an object", token: signWith(t, k.es256, map[string]any{"sub": map[string]any{}}), kind: ErrMalformed, detail: `the "sub" claim is not a string`},
		{name: "scope is an array", token: signWith(t, k.es256, map[string]any{"scope": []string{"a"}}), kind: ErrMalformed, cause: "claim_type"},
		{name: "zero allow-list", token: good, algs: Algorithms{}, kind: ErrAlgorithmRejected, cause: "empty_allow_list"},
		{name: "duplicate sub", token: signPayload(t, k.es256, []byte(`{"sub":"alice","sub":"admin"}`)), kind: ErrMalformed, detail: `the "sub" claim appears more than once`},
		{name: "duplicate sub spelled with an escape", token: signPayload(t, k.es256, []byte(`{"sub":"alice","s\u0075b":"admin"}`)), kind: ErrMalformed, cause: "claim_duplicate"},
		{name: "sub is null", token: signPayload(t, k.es256, []byte(`{"sub":null}`)), kind: ErrMalformed, cause: "claim_type"},
		{name: "nbf is true", token: signPayload(t, k.es256, []byte(`{"nbf":true}`)), kind: ErrMalformed, cause: "claim_type"},
		{name: "iat out of range", token: signPayload(t, k.es256, []byte(`{"iat":1e400}`)), kind: ErrMalformed, cause: "claim_type"},
		{name: "scp holds an object", token: signPayload(t, k.es256, []byte(`{"scp":[{"a":1}]}`)), kind: ErrMalformed, cause: "claim_type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			algs, keys := tt.algs, tt.keys
			if algs.names == nil && tt.cause != "empty_allow_list" {
				algs = esRS
			}
			if keys == nil {
				keys = set
			}
			tok, err := Verify(tt.token, algs, keys)
			if err == nil {
				t.Fatalf("Verify accepted the token: %+v", tok.Claims)
			}
			if !errors.Is(err, tt.kind) {
				t.Errorf("error %v is not %v", err, tt.kind)
			}
			var ve *VerifyError
			if !errors.As(err, &ve) {
				t.Fatalf("error %T is not a *VerifyError", err)
			}
			if tt.cause != "" && ve.Cause != tt.cause {
				t.Errorf("cause = %q, want %q (detail %q)", ve.Cause, tt.cause, ve.Detail)
			}
			if tt.detail != "" && !strings.Contains(ve.Detail, tt.detail) {
				t.Errorf("detail = %q, want it to contain %q", ve.Detail, tt.detail)
			}
			if len(tt.token) > 16 && strings.Contains(err.Error(), tt.token[len(tt.token)-16:]) {
				t.Errorf("error %q echoes the token", err)
			}
			if len(ve.KeyID) > 64 || len(ve.Algorithm) > 64 {
				t.Errorf("unbounded header values in error: alg %d bytes, kid %d bytes", len(ve.Algorithm), len(ve.KeyID))
			}
		})
	}
}

func TestVerifyIgnoresKeyURLHeadersOnAGenuineToken(t *testing.T) {
	k := testKeys(t)
	for _, h := range []string{"jku", "x5u"} {
		t.Run(h, func(t *testing.T) {
			tok := signHeader(t, k.es256, baseClaims, map[string]any{h: "https://attacker.example/keys"})
			if _, err := Verify(tok, mustAlgs(t, "ES256"), keySetOf(t, k.es256)); err != nil {
				t.Fatalf("Verify: %v", err)
			}
		})
	}
}

func TestVerifyUsesTheOnlyFittingKeyWhenTheTokenHasNoKid(t *testing.T) {
	k := testKeys(t)
	a := *k.es256
	a.ID = ""
	tok := signWith(t, &a, baseClaims)
	// Two keys, but only one fits ES256.
	if _, err := Verify(tok, mustAlgs(t, "ES256", "RS256"), keySetOf(t, k.es256, k.rs256)); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}

func TestVerifyHMAC(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef") // 32 bytes
	keys, err := NewHMACKey(secret)
	if err != nil {
		t.Fatal(err)
	}
	hsKey, err := NewSigningKey("HS256", "", secret)
	if err != nil {
		t.Fatal(err)
	}
	good := signWith(t, hsKey, baseClaims)
	other, _ := NewSigningKey("HS256", "", []byte(strings.Repeat("x", 32)))
	tests := []struct {
		name  string
		token string
		algs  Algorithms
		kind  error
	}{
		{name: "valid", token: good, algs: mustAlgs(t, "HS256")},
		{name: "kid is ignored", token: hs256(t, map[string]any{"alg": "HS256", "kid": "whatever"}, baseClaims, secret), algs: mustAlgs(t, "HS256")},
		{name: "other secret", token: signWith(t, other, baseClaims), algs: mustAlgs(t, "HS256"), kind: ErrSignatureInvalid},
		{name: "HS512 needs a longer secret", token: rawToken(t, map[string]any{"alg": "HS512"}, baseClaims, make([]byte, 64)), algs: mustAlgs(t, "HS256", "HS512"), kind: ErrAlgorithmRejected},
		{name: "RS256 with a secret", token: signWith(t, testKeys(t).rs256, baseClaims), algs: mustAlgs(t, "HS256", "RS256"), kind: ErrAlgorithmRejected},
		{name: "HS384 not in allow-list", token: rawToken(t, map[string]any{"alg": "HS384"}, baseClaims, make([]byte, 48)), algs: mustAlgs(t, "HS256"), kind: ErrAlgorithmRejected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Verify(tt.token, tt.algs, keys)
			if tt.kind == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.kind) {
				t.Fatalf("error %v, want %v", err, tt.kind)
			}
		})
	}
}

func TestNewHMACKeyRefusesShortSecrets(t *testing.T) {
	if _, err := NewHMACKey(make([]byte, 31)); err == nil {
		t.Fatal("a 31-byte secret was accepted")
	}
	if _, err := NewSigningKey("HS512", "", make([]byte, 32)); err == nil {
		t.Fatal("HS512 signing key with a 32-byte secret was accepted")
	}
}

func TestNewAlgorithms(t *testing.T) {
	tests := []struct {
		names   []string
		want    []string
		wantErr string
	}{
		{names: []string{"ES256", "RS256", "ES256"}, want: []string{"ES256", "RS256"}},
		{names: []string{"EdDSA", "HS512"}, want: []string{"EdDSA", "HS512"}},
		{names: nil, wantErr: "the allow-list is empty"},
		{names: []string{"none"}, wantErr: `"none" is never accepted`},
		{names: []string{"ES256", "None"}, wantErr: `"none" is never accepted`},
		{names: []string{"es256"}, wantErr: "did you mean ES256?"},
		{names: []string{"RSA-OAEP"}, wantErr: `"RSA-OAEP" is not supported`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.names, ","), func(t *testing.T) {
			a, err := NewAlgorithms(tt.names...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, a.Names()); diff != "" {
				t.Errorf("names (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSignerRefusesAKeyThatDoesNotFitTheAlgorithm(t *testing.T) {
	k := testKeys(t)
	if _, err := NewSigningKey("RS256", "", k.es256.private); err == nil {
		t.Fatal("an EC key was accepted for RS256")
	}
	if _, err := NewSigningKey("ES384", "", k.es256.private); err == nil {
		t.Fatal("a P-256 key was accepted for ES384")
	}
}

func TestPublicJWKSNeverPublishesPrivateOrSecretMaterial(t *testing.T) {
	k := testKeys(t)
	hs, err := NewSigningKey("HS256", "h", []byte(strings.Repeat("s", 32)))
	if err != nil {
		t.Fatal(err)
	}
	doc := PublicJWKS(k.es256, k.rs256, k.eddsa, hs)
	var parsed struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(doc, &parsed); err != nil {
		t.Fatal(err)
	}
	if len(parsed.Keys) != 3 {
		t.Fatalf("%d keys published, want 3 (the HMAC key must be left out)", len(parsed.Keys))
	}
	for _, key := range parsed.Keys {
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
			if _, ok := key[private]; ok {
				t.Errorf("key %v publishes private member %q", key["kid"], private)
			}
		}
		if key["use"] != "sig" || key["alg"] == nil || key["kid"] == nil {
			t.Errorf("key lacks use/alg/kid: %v", key)
		}
	}
}

func TestGeneratedKeyIDIsTheThumbprint(t *testing.T) {
	k, err := GenerateES256()
	if err != nil {
		t.Fatal(err)
	}
	if len(k.ID) != 43 { // base64url of 32 bytes
		t.Errorf("kid %q is not a SHA-256 thumbprint", k.ID)
	}
}
