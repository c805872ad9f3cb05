package app

import (
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/tokens"
)

// benchRuntime builds a Runtime from a configuration like the load harness's (bench/):
// a JWT ES256 authenticator from a key file, the failure budget, the forward-auth
// endpoint, JSON decision lines through NewLogger to io.Discard, metrics and the explain
// ring. It returns the runtime and a valid token.
func benchRuntime(b *testing.B) (*Runtime, string) {
	b.Helper()
	return benchRuntimeWith(b, "")
}

// benchRuntimeWith is benchRuntime with extra top-level configuration appended.
func benchRuntimeWith(b *testing.B, extra string) (*Runtime, string) {
	b.Helper()
	dir := b.TempDir()
	key, err := tokens.GenerateES256()
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "jwks.json"), tokens.PublicJWKS(key), 0o600); err != nil {
		b.Fatal(err)
	}
	cfg, err := config.Parse([]byte(`
listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
realm: bench
trusted_proxies: [127.0.0.1/32]
failure_budget: {per_client: 30/min, per_credential: 30/min}
forward_auth: {path: /_gatehouse/decide}
authenticators:
  es: {type: jwt, issuer: "https://issuer.bench.invalid", audience: ["api://bench"], algorithms: [ES256], jwks_file: jwks.json}
routes:
  - {name: es, match: {path_prefix: /es}, upstream: "http://127.0.0.1:9", authenticate: [es]}
`+extra), dir, func(string) string { return "" })
	if err != nil {
		b.Fatal(err)
	}
	rt, err := Build(cfg, Options{Logger: NewLogger(io.Discard, config.Log{Level: slog.LevelInfo, Format: config.LogJSON}),
		Getenv: func(string) string { return "" }})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { rt.Close() })
	signer, err := tokens.NewSigner(key)
	if err != nil {
		b.Fatal(err)
	}
	tok, err := signer.Sign(map[string]any{"iss": "https://issuer.bench.invalid", "aud": "api://bench", "sub": "user-1",
		"scope": "orders:read", "email": "user1@bench.invalid", "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix()})
	if err != nil {
		b.Fatal(err)
	}
	return rt, tok
}

// nopWriter is the cheapest http.ResponseWriter: the benchmark measures Gatehouse, not
// httptest.ResponseRecorder.
type nopWriter struct {
	h      http.Header
	status int
}

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) WriteHeader(status int)      { w.status = status }
func (w *nopWriter) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkDecideEndpoint is one forward-auth decision, as the load harness's decide row
// makes them, through the whole Runtime: header hygiene, the request id, reading the
// proxy's headers, routing, the failure budget, the cached JWT verification, the
// identity headers, the JSON decision line, metrics and the explain ring. Each
// iteration gets a fresh header map, as net/http gives each request.
func BenchmarkDecideEndpoint(b *testing.B) {
	rt, tok := benchRuntime(b)
	benchDecide(b, rt, "/es/orders", "Authorization", "Bearer "+tok)
}

// processCPU is the process's user and system time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
