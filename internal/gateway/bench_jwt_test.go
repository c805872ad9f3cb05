package gateway

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/tokens"
	jwtverify "github.com/gatehouse-dev/gatehouse/internal/verify/jwt"
)

// BenchmarkHandlerCachedJWT is the full handler with the real JWT authenticator (a
// verified token served from its cache) in front of an in-memory upstream: header
// hygiene, routing, the decision, identity headers and the JSON log line.
func BenchmarkHandlerCachedJWT(b *testing.B) {
	for _, alg := range []string{"ES256", "RS256"} {
		b.Run(alg, func(b *testing.B) {
			var key *tokens.SigningKey
			var err error
			if alg == "ES256" {
				key, err = tokens.GenerateES256()
			} else {
				key, err = tokens.GenerateRS256()
			}
			if err != nil {
				b.Fatal(err)
			}
			dir := b.TempDir()
			jwks := filepath.Join(dir, "jwks.json")
			os.WriteFile(jwks, tokens.PublicJWKS(key), 0o600)
			auth, err := jwtverify.New(jwtverify.Config{
				Name: "corp", Issuer: "https://id.test", Audience: []string{"api://x"}, Algorithms: []string{alg},
				JWKSFile: jwks, Leeway: 30 * time.Second, CacheSize: 1000,
			})
			if err != nil {
				b.Fatal(err)
			}
			signer, _ := tokens.NewSigner(key)
			tok, _ := signer.Sign(map[string]any{"iss": "https://id.test", "aud": "api://x", "sub": "alice", "scope": "a b", "exp": time.Now().Add(time.Hour).Unix()})
			upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })
			h := New(Options{
				Realm:  "bench",
				Routes: []*Route{{Route: &decision.Route{Name: "api", PathPrefix: "/", Authenticators: []decision.Authenticator{auth}, RequiredScopes: []string{"a"}}, Proxy: upstream}},
				Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
			})
			req := httptest.NewRequest("GET", "/orders", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != 200 {
					b.Fatal(w.Code, w.Body.String())
				}
			}
		})
	}
}
