package tokens

import (
	"encoding/base64"
	"testing"
)

func tokenWithClaims(claims string) string {
	return "eyJhbGciOiJFUzI1NiJ9." + base64.RawURLEncoding.EncodeToString([]byte(claims)) + ".c2ln"
}

func TestUnverifiedIssuer(t *testing.T) {
	tests := []struct {
		name   string
		token  string
		want   string
		wantOK bool
	}{
		{"plain", tokenWithClaims(`{"sub":"a","iss":"https://id.example"}`), "https://id.example", true},
		{"first member", tokenWithClaims(`{"iss":"https://id.example","sub":"a"}`), "https://id.example", true},
		{"escaped value", tokenWithClaims(`{"iss":"https:\/\/id.example"}`), "https://id.example", true},
		{"escaped member name", tokenWithClaims(`{"\u0069ss":"https://id.example"}`), "https://id.example", true},
		{"nested iss is not the token's", tokenWithClaims(`{"act":{"iss":"https://evil.example"}}`), "", true},
		{"iss inside a string is not a member", tokenWithClaims(`{"note":"\"iss\":\"x\"","iss":"y"}`), "y", true},
		{"no issuer", tokenWithClaims(`{"sub":"a"}`), "", true},
		{"null issuer", tokenWithClaims(`{"iss":null}`), "", false},
		{"number issuer", tokenWithClaims(`{"iss":7}`), "", false},
		{"claims not JSON", tokenWithClaims(`not json`), "", false},
		{"claims an array", tokenWithClaims(`["iss"]`), "", false},
		{"trailing garbage", tokenWithClaims(`{"iss":"a"}x`), "", false},
		{"claims not base64url", "eyJhbGciOiJFUzI1NiJ9.e!y.c2ln", "", false},
		{"not a JWT", "opaque-token", "", false},
		{"large claims", tokenWithClaims(`{"pad":"` + pad(3000) + `","iss":"big"}`), "big", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := UnverifiedIssuer(tt.token)
			if got != tt.want || ok != tt.wantOK {
				t.Fatalf("UnverifiedIssuer = %q, %v; want %q, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func pad(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'x'
	}
	return string(b)
}

// TestUnverifiedIssuerAllocatesOnlyTheIssuer: it runs once per jwt authenticator on every
// request carrying a JWT.
func TestUnverifiedIssuerAllocatesOnlyTheIssuer(t *testing.T) {
	tok := tokenWithClaims(`{"iss":"https://id.example","sub":"user-42","aud":"api://orders","exp":1900000000,"scope":"orders:read orders:write"}`)
	if n := testing.AllocsPerRun(100, func() { UnverifiedIssuer(tok) }); n > 1 {
		t.Errorf("%v allocations, want at most 1", n)
	}
}

// FuzzUnverifiedIssuer: the issuer read to route a token never differs from the one
// the verifier's claim reader reads from the same claims, and nothing panics.
func FuzzUnverifiedIssuer(f *testing.F) {
	f.Add([]byte(`{"iss":"https://id.example","sub":"a","exp":1}`))
	f.Add([]byte(`{"\u0069ss":"x","iss":"y"}`))
	f.Add([]byte(`{"iss":"a\ud800b"}`))
	f.Add([]byte(`{"a":{"iss":"n"},"iss":"t"}`))
	f.Fuzz(func(t *testing.T, claims []byte) {
		tok := "eyJhbGciOiJFUzI1NiJ9." + base64.RawURLEncoding.EncodeToString(claims) + ".c2ln"
		iss, ok := UnverifiedIssuer(tok)
		var c Claims
		if err := decodeClaims(claims, &c); err != nil {
			return
		}
		if !ok || iss != c.Issuer {
			t.Fatalf("UnverifiedIssuer = %q, %v; the verifier reads %q", iss, ok, c.Issuer)
		}
	})
}

// BenchmarkUnverifiedIssuer is the cost each jwt authenticator of a route adds to a
// request carrying a JWT, to tell whether the token names its issuer.
func BenchmarkUnverifiedIssuer(b *testing.B) {
	tok := tokenWithClaims(`{"iss":"https://id.example","sub":"user-42","aud":"api://orders","iat":1800000000,"exp":1900000000,"jti":"j-1","scope":"orders:read orders:write"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := UnverifiedIssuer(tok); !ok {
			b.Fatal("unreadable")
		}
	}
}
