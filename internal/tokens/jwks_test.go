package tokens

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// jwkMap returns k's public JWK as a map the test may mutate.
func jwkMap(t testing.TB, k *SigningKey) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(k.PublicJWK(), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func with(m map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
			continue
		}
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

func jwksDoc(t testing.TB, keys ...any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseJWKSSkipsUnusableKeysWithAWarning(t *testing.T) {
	k := testKeys(t)
	es := jwkMap(t, k.es256)
	rs := jwkMap(t, k.rs256)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	smallKey, err := NewSigningKey("RS256", "small", small)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		key      any
		wantWarn string
	}{
		{name: "symmetric key", key: map[string]any{"kty": "oct", "kid": "h", "k": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}, wantWarn: `key 1 (kid "h"): symmetric (oct) keys are not accepted from a key set; configure an HMAC secret with secret_file instead`},
		{name: "encryption key", key: with(rs, "kid", "enc-1", "use", "enc", "alg", nil), wantWarn: `key 1 (kid "enc-1"): use "enc" is not for signatures`},
		{name: "key_ops without verify", key: with(rs, "kid", "ops", "use", nil, "key_ops", []string{"encrypt"}), wantWarn: `key 1 (kid "ops"): key_ops does not include "verify"`},
		{name: "private EC key", key: with(es, "kid", "priv", "d", "AAAA"), wantWarn: `key 1 (kid "priv"): it contains private key material`},
		{name: "unknown key type", key: map[string]any{"kty": "XYZ", "kid": "x"}, wantWarn: `key 1 (kid "x"): key type "XYZ" is not supported (supported: RSA, EC, OKP)`},
		{name: "X25519 is not for signatures", key: map[string]any{"kty": "OKP", "crv": "X25519", "kid": "x", "x": "hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo"}, wantWarn: `key 1 (kid "x"): OKP curve "X25519" is not supported`},
		{name: "EC key with alg for RSA", key: with(es, "kid", "mix", "alg", "RS256"), wantWarn: `key 1 (kid "mix"): alg RS256 does not fit a EC P-256 key`},
		{name: "EC key with an encryption alg", key: with(es, "kid", "ecdh", "alg", "ECDH-ES"), wantWarn: `key 1 (kid "ecdh"): alg "ECDH-ES" is not a supported signature algorithm`},
		{name: "RSA key under 2048 bits", key: json.RawMessage(smallKey.PublicJWK()), wantWarn: `key 1 (kid "small"): RSA key of 1024 bits is too small (at least 2048)`},
		{name: "EC point not on the curve", key: with(es, "kid", "bad", "x", "AQ"), wantWarn: `key 1 (kid "bad"): invalid EC key`},
		{name: "kty missing", key: map[string]any{"kid": "none"}, wantWarn: `key 1 (kid "none"): no "kty"`},
		{name: "kty not a string", key: map[string]any{"kty": 3}, wantWarn: `key 1: "kty" is not a string`},
		{name: "not an object", key: "RSA", wantWarn: "key 1: not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, err := ParseJWKS(jwksDoc(t, es, tt.key))
			if err != nil {
				t.Fatalf("ParseJWKS: %v", err)
			}
			if set.Len() != 1 || !set.Has(k.es256.ID) {
				t.Errorf("set has %v, want only %q", set.KeyIDs(), k.es256.ID)
			}
			w := set.Warnings()
			if len(w) != 1 || !strings.HasPrefix(w[0], tt.wantWarn) {
				t.Errorf("warnings %q, want one starting with %q", w, tt.wantWarn)
			}
		})
	}
}

func TestParseJWKSRefusesDocumentsWithoutAUsableKey(t *testing.T) {
	k := testKeys(t)
	tests := []struct {
		name     string
		doc      string
		noUsable bool
		wantErr  string
	}{
		{name: "empty", doc: "  ", wantErr: "parse jwks: the document is empty"},
		{name: "HTML error page", doc: "<html><body>502 Bad Gateway", wantErr: `parse jwks: the document is not a JSON object (it starts with "<html><body>")`},
		{name: "JSON array", doc: `[{"kty":"EC"}]`, wantErr: "not a JSON object"},
		{name: "truncated JSON", doc: `{"keys":[{"kty":"EC"`, wantErr: "parse jwks: the document is not valid JSON"},
		{name: "no keys member", doc: `{"issuer":"x"}`, wantErr: `parse jwks: the document has no "keys" array`},
		{name: "a single JWK", doc: string(k.es256.PublicJWK()), wantErr: `parse jwks: the document is a single JWK, not a key set; wrap it as {"keys": [ ... ]}`},
		{name: "keys is not an array", doc: `{"keys":{}}`, wantErr: "not valid JSON"},
		{name: "empty keys", doc: `{"keys":[]}`, noUsable: true, wantErr: `the "keys" array is empty`},
		{name: "only symmetric keys", doc: `{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`, noUsable: true, wantErr: "key 0: symmetric (oct) keys are not accepted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseJWKS([]byte(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
			if got := errors.Is(err, ErrNoUsableKey); got != tt.noUsable {
				t.Errorf("errors.Is(ErrNoUsableKey) = %v, want %v", got, tt.noUsable)
			}
		})
	}
}

// TestParseJWKSReadsRealWorldDocuments parses committed key sets shaped like those of
// common issuers (x5c chains, duplicate kids across types, extra members).
func TestParseJWKSReadsRealWorldDocuments(t *testing.T) {
	files, err := filepath.Glob("testdata/jwks/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	want := map[string]struct {
		kids     []string
		warnings int
	}{
		"auth0-like.json":    {kids: []string{"auth0-1", "auth0-2"}},
		"entra-like.json":    {kids: []string{"entra-a"}, warnings: 1},
		"keycloak-like.json": {kids: []string{"kc-sig"}, warnings: 1},
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			set, err := ParseJWKS(data)
			if err != nil {
				t.Fatalf("ParseJWKS: %v", err)
			}
			w, ok := want[name]
			if !ok {
				t.Fatalf("no expectation for fixture %s", name)
			}
			if diff := cmp.Diff(w.kids, set.KeyIDs()); diff != "" {
				t.Errorf("kids (-want +got):\n%s", diff)
			}
			if len(set.Warnings()) != w.warnings {
				t.Errorf("warnings %q, want %d", set.Warnings(), w.warnings)
			}
		})
	}
}

func TestKeyFits(t *testing.T) {
	k := testKeys(t)
	es, _ := k.es256.Public()
	rs, _ := k.rs256.Public()
	ed, _ := k.eddsa.Public()
	rsNoAlg := rs
	rsNoAlg.Algorithm = ""
	tests := []struct {
		key  Key
		alg  string
		want bool
	}{
		{es, "ES256", true}, {es, "ES384", false}, {es, "RS256", false}, {es, "HS256", false},
		{rs, "RS256", true}, {rs, "PS256", false}, {rsNoAlg, "PS256", true}, {rsNoAlg, "RS512", true},
		{rsNoAlg, "ES256", false}, {rsNoAlg, "HS256", false}, {rsNoAlg, "none", false},
		{ed, "EdDSA", true}, {ed, "ES256", false}, {Key{}, "ES256", false},
	}
	for _, tt := range tests {
		if got := tt.key.Fits(tt.alg); got != tt.want {
			t.Errorf("%s key (alg %q) Fits(%s) = %v, want %v", tt.key.Type, tt.key.Algorithm, tt.alg, got, tt.want)
		}
	}
}

func TestKeySetChangedIn(t *testing.T) {
	k := testKeys(t)
	parse := func(doc []byte) *KeySet {
		t.Helper()
		s, err := ParseJWKS(doc)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	es1, es2, rs1 := jwkMap(t, k.es256), jwkMap(t, k.es256b), jwkMap(t, k.rs256)
	prev := parse(jwksDoc(t, es1, es2))
	tests := []struct {
		name string
		next *KeySet
		want bool
	}{
		{"same keys", parse(jwksDoc(t, es1, es2)), false},
		{"same keys, other order", parse(jwksDoc(t, es2, es1)), false},
		{"a key added", parse(jwksDoc(t, es1, es2, rs1)), false},
		{"a kid withdrawn", parse(jwksDoc(t, es1)), true},
		{"same kid, other key material", parse(jwksDoc(t, jwkMap(t, k.attacker), es2)), true},
		{"same key, alg binding changed", parse(jwksDoc(t, with(es1, "alg", nil), es2)), true},
		{"same key under another kid", parse(jwksDoc(t, with(es1, "kid", "es-1b"), es2)), true},
		{"nil set", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := prev.ChangedIn(tc.next); got != tc.want {
				t.Errorf("ChangedIn = %v, want %v", got, tc.want)
			}
		})
	}
}
