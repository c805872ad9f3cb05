package issuer_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/tokens"
)

// BenchmarkTokenEndpoint measures issuance through the token endpoint's handler: form
// parsing, client authentication (cached client record, one SHA-256), claims and one
// signature, in parallel on every core. It reports issuances per second.
//
//	go test -run '^$' -bench TokenEndpoint -benchtime 3s ./internal/issuer
func BenchmarkTokenEndpoint(b *testing.B) {
	for _, alg := range []string{"ES256", "EdDSA", "RS256"} {
		b.Run(alg, func(b *testing.B) {
			e := newEnv(b, withAlgorithm(alg))
			e.addClient("bench", "bench-secret-0123456789", []string{"orders:read", "orders:write"}, 10*time.Minute)
			h := e.srv.Handler()
			auth := basic("bench", "bench-secret-0123456789")[len("Authorization: "):]
			const body = "grant_type=client_credentials&scope=orders:read"
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(body))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					req.Header.Set("Authorization", auth)
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, req)
					if rec.Code != http.StatusOK {
						b.Fatalf("status %d: %s", rec.Code, rec.Body)
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "issuances/s")
		})
	}
}

// BenchmarkSignatureAlone is the floor of BenchmarkTokenEndpoint: one signature of the
// same claims with the same key type, in parallel, nothing else.
func BenchmarkSignatureAlone(b *testing.B) {
	for _, alg := range []string{"ES256", "EdDSA", "RS256"} {
		b.Run(alg, func(b *testing.B) {
			k, err := tokens.GenerateSigningKey(alg)
			if err != nil {
				b.Fatal(err)
			}
			s, err := tokens.NewAccessTokenSigner(k)
			if err != nil {
				b.Fatal(err)
			}
			claims := map[string]any{
				"iss": "https://api.example", "sub": "bench", "aud": "api://orders", "exp": 2000000000, "iat": 1999999400,
				"jti": "0123456789abcdefghijkl", "client_id": "bench", "scope": "orders:read",
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := s.Sign(claims); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "signatures/s")
		})
	}
}
