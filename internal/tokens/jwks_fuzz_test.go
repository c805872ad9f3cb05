package tokens

import (
	"crypto/rsa"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParseJWKS feeds arbitrary documents to ParseJWKS, the parser of what an issuer's
// jwks_uri serves. Checked against a reference reading of the document with encoding/json:
// an accepted set holds only public signature keys of a supported type, each fitting its
// own alg, and no more of them than the document has entries that are not symmetric,
// private, or meant for encryption; every entry is either a key or a warning; a set with
// no usable key is an error wrapping ErrNoUsableKey or a plain parse error; and no warning
// quotes private key material from the document.
func FuzzParseJWKS(f *testing.F) {
	files, _ := filepath.Glob("testdata/jwks/*.json")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	es, err := GenerateES256()
	if err != nil {
		f.Fatal(err)
	}
	ed, err := GenerateEdDSA()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(PublicJWKS(es, ed))
	f.Add([]byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0","alg":"HS256"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA","d":"cHJpdmF0ZXByaXZhdGU"}]}`))
	f.Add([]byte(`{"kty":"EC"}`))
	f.Add([]byte(`{"keys":[]}`))
	f.Add([]byte(`{"keys":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		set, err := ParseJWKS(data)

		// The reference reading: each entry of "keys" as a generic JSON object.
		var doc struct {
			Keys []json.RawMessage `json:"keys"`
		}
		refOK := json.Unmarshal(data, &doc) == nil
		eligible := 0
		var private []string
		for _, raw := range doc.Keys {
			var m map[string]any
			if json.Unmarshal(raw, &m) != nil {
				continue
			}
			priv := false
			for _, name := range []string{"d", "p", "q", "k", "priv", "dp", "dq", "qi"} {
				if v, ok := m[name]; ok && v != nil {
					if name == "d" || name == "p" || name == "q" || name == "k" || name == "priv" {
						priv = true
					}
					if s, ok := v.(string); ok && len(s) >= 8 {
						private = append(private, s)
					}
				}
			}
			kty, _ := m["kty"].(string)
			if use, ok := m["use"].(string); ok && use != "" && use != "sig" {
				continue
			}
			if priv || kty == "oct" || (kty != "RSA" && kty != "EC" && kty != "OKP") {
				continue
			}
			eligible++
		}

		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			for _, p := range private {
				if strings.Contains(err.Error(), p) {
					t.Fatalf("error quotes private material %q: %v", p, err)
				}
			}
			if errors.Is(err, ErrNoUsableKey) && !refOK {
				t.Fatalf("ErrNoUsableKey for a document encoding/json does not read: %v", err)
			}
			return
		}
		if !refOK {
			t.Fatalf("accepted a document encoding/json refuses: %q", data)
		}
		if set.Len() == 0 {
			t.Fatal("accepted a set without a usable key")
		}
		if set.Len() > eligible {
			t.Fatalf("accepted %d keys from %d eligible entries (symmetric, private or encryption keys got through)", set.Len(), eligible)
		}
		if set.Len()+len(set.Warnings()) != len(doc.Keys) {
			t.Fatalf("%d keys and %d warnings for %d entries", set.Len(), len(set.Warnings()), len(doc.Keys))
		}
		for _, w := range set.Warnings() {
			for _, p := range private {
				if strings.Contains(w, p) {
					t.Fatalf("warning quotes private material %q: %s", p, w)
				}
			}
		}
		for _, k := range set.Keys() {
			if k.Public() == nil {
				t.Fatalf("key %+v has no public key", k)
			}
			switch k.Type {
			case "RSA":
				if pk, ok := k.Public().(*rsa.PublicKey); !ok || pk.N.BitLen() < MinRSABits {
					t.Fatalf("RSA key %q below %d bits or of the wrong type", k.ID, MinRSABits)
				}
			case "EC", "OKP":
			default:
				t.Fatalf("key of type %q", k.Type)
			}
			if k.Algorithm != "" && !k.Fits(k.Algorithm) {
				t.Fatalf("key %q does not fit its own alg %q", k.ID, k.Algorithm)
			}
			if !set.Has(k.ID) && k.ID != "" {
				t.Fatalf("Has(%q) is false for a key of the set", k.ID)
			}
		}
		if again := NewKeySet(set.Keys()...); again.Len() != set.Len() {
			t.Fatalf("NewKeySet of the parsed keys holds %d, want %d", again.Len(), set.Len())
		}
	})
}
