package app

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/postgres/pgtest"
)

// storeRuntime builds a Runtime whose api_key authenticator reads the store at dsn
// (with the given failure_budget block), creates one key in that store and returns the
// runtime and the key.
func storeRuntime(b *testing.B, dsn, budget string) (*Runtime, string) {
	b.Helper()
	dir := b.TempDir()
	cfg, err := config.Parse([]byte(`
listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
realm: bench
trusted_proxies: [127.0.0.1/32]
store: `+dsn+`
failure_budget: `+budget+`
forward_auth: {path: /_gatehouse/decide}
authenticators:
  keys: {type: api_key, header: X-API-Key}
routes:
  - {name: keys, match: {path_prefix: /keys}, upstream: "http://127.0.0.1:9", authenticate: [keys]}
`), dir, func(string) string { return "" })
	if err != nil {
		b.Fatal(err)
	}
	rt, err := Build(cfg, Options{Logger: NewLogger(io.Discard, config.Log{Level: slog.LevelInfo, Format: config.LogJSON})})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { rt.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	rt.Start(ctx)
	k, err := secret.NewAPIKey("live")
	if err != nil {
		b.Fatal(err)
	}
	h, err := secret.NewKeyHasher(nil)
	if err != nil {
		b.Fatal(err)
	}
	rec := store.APIKey{ID: k.ID, Name: "bench", Env: "live", SecretHash: h.Hash(k), HashAlg: h.Alg(), CreatedAt: time.Now()}
	if err := rt.store.CreateKey(context.Background(), &rec); err != nil {
		b.Fatal(err)
	}
	return rt, k.Reveal()
}

// BenchmarkCachedAPIKeyDecision is one forward-auth decision for an API key whose record
// the authenticator has cached, through the whole Runtime, on each store backend: the
// store is not read on this path, so the two must cost the same.
func BenchmarkCachedAPIKeyDecision(b *testing.B) {
	backends := []struct {
		name string
		dsn  func(b *testing.B) string
	}{
		{"sqlite", func(b *testing.B) string { return "sqlite://" + filepath.Join(b.TempDir(), "bench.db") }},
		{"postgres", func(b *testing.B) string { return pgtest.NewDatabase(b) }},
	}
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			rt, key := storeRuntime(b, be.dsn(b), "{per_client: 30/min, per_credential: 30/min}")
			benchDecide(b, rt, "/keys/orders", "X-API-Key", key)
		})
	}
	// The same with the failure budgets shared in Redis: a cached decision makes no
	// round trip to it.
	b.Run("postgres+redis", func(b *testing.B) {
		rt, key := storeRuntime(b, pgtest.NewDatabase(b), "{per_client: 30/min, per_credential: 30/min, redis: 'redis://127.0.0.1:6379/14'}")
		benchDecide(b, rt, "/keys/orders", "X-API-Key", key)
	})
}

// benchDecide runs decide requests for path carrying the header name: value, each with
// a fresh header map as net/http gives each request, and reports CPU per decision.
func benchDecide(b *testing.B, rt *Runtime, path, name, value string) {
	b.Helper()
	req := httptest.NewRequest(http.MethodGet, "/_gatehouse/decide", nil)
	req.RemoteAddr = "127.0.0.1:40000"
	in := http.Header{
		http.CanonicalHeaderKey(name): {value},
		"X-Forwarded-Method":          {"GET"},
		"X-Forwarded-Uri":             {path},
		"User-Agent":                  {"wrk"},
	}
	w := &nopWriter{}
	b.ReportAllocs()
	start := processCPU()
	for b.Loop() {
		req.Header = in.Clone()
		w.h, w.status = make(http.Header, 8), 0
		rt.ServeHTTP(w, req)
		if w.status != http.StatusOK {
			b.Fatal(w.status)
		}
	}
	b.ReportMetric(float64(processCPU()-start)/float64(b.N), "cpu-ns/op")
}
