package postgres_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/postgres"
	"github.com/gatehouse-dev/gatehouse/internal/store/postgres/pgtest"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlite"
	"github.com/gatehouse-dev/gatehouse/internal/verify/apikey"
)

// benchKeys is how many keys the latency benchmarks' stores hold.
const benchKeys = 100_000

// BenchmarkKeyLookupLatency measures Store.Key, the API-key authenticator's read when
// its cache misses, on PostgreSQL over loopback and on SQLite, each holding benchKeys
// keys, and reports the median and 99th percentile of the single-lookup latency (the
// time of every operation is kept, not only the mean). Run with
//
//	go test -run '^$' -bench KeyLookupLatency -benchtime 20000x ./internal/store/postgres/
func BenchmarkKeyLookupLatency(b *testing.B) {
	ids := make([]string, 4096)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range ids {
		ids[i] = fmt.Sprintf("k%011d", r.IntN(benchKeys))
	}
	b.Run("postgres", func(b *testing.B) {
		dsn := pgtest.NewDatabase(b)
		s, err := postgres.Open(context.Background(), postgres.Config{DSN: dsn})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		_, err = s.Pool().Exec(context.Background(), `INSERT INTO api_keys (id, name, env, scopes, secret_hash, hash_alg, created_at)
			SELECT 'k' || lpad(i::text, 11, '0'), 'svc-' || (i % 5000), 'live', 'orders:read orders:write',
			       sha256(i::text::bytea), 'sha256', now()
			FROM generate_series(0, $1 - 1) AS i`, benchKeys)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Pool().Exec(context.Background(), "ANALYZE api_keys"); err != nil {
			b.Fatal(err)
		}
		lookupLatency(b, s, ids)
	})
	b.Run("sqlite", func(b *testing.B) {
		path := filepath.Join(b.TempDir(), "bench.db")
		s, err := sqlite.Open(context.Background(), path, sqlite.Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		db, err := sql.Open("sqlite", "file:"+path)
		if err != nil {
			b.Fatal(err)
		}
		_, err = db.Exec(`
			WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
			INSERT INTO api_keys (id, name, env, scopes, secret_hash, hash_alg, created_at)
			SELECT printf('k%011d', i), 'svc-' || (i % 5000), 'live', 'orders:read orders:write',
			       randomblob(32), 'sha256', 1700000000000000 + i
			FROM n`, benchKeys-1)
		db.Close()
		if err != nil {
			b.Fatal(err)
		}
		lookupLatency(b, s, ids)
	})
}

// BenchmarkAPIKeyDecisionUncachedLatency is the API-key authenticator with its cache
// disabled over a PostgreSQL store on loopback: parse and checksum, one store read by
// primary key, the hash comparison. It reports p50 and p99 per decision.
//
//	go test -run '^$' -bench APIKeyDecisionUncachedLatency -benchtime 20000x ./internal/store/postgres/
func BenchmarkAPIKeyDecisionUncachedLatency(b *testing.B) {
	dsn := pgtest.NewDatabase(b)
	s, err := postgres.Open(context.Background(), postgres.Config{DSN: dsn})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	h, _ := secret.NewKeyHasher(nil)
	creds := make([]decision.Credential, 0, 512)
	for range cap(creds) {
		k, err := secret.NewAPIKey("live")
		if err != nil {
			b.Fatal(err)
		}
		rec := store.APIKey{ID: k.ID, Name: "bench", Env: "live", Scopes: []string{"orders:read"}, SecretHash: h.Hash(k), HashAlg: h.Alg(), CreatedAt: time.Now()}
		if err := s.CreateKey(context.Background(), &rec); err != nil {
			b.Fatal(err)
		}
		creds = append(creds, decision.Credential{Source: decision.FromHeader, Name: "X-API-Key", Value: k.Reveal()})
	}
	a, err := apikey.New(apikey.Config{Name: "keys", Header: "X-API-Key", Environment: "live", Store: s, Hasher: h, CacheTTL: -1})
	if err != nil {
		b.Fatal(err)
	}
	i := 0
	latency(b, func() error {
		_, err := a.Authenticate(context.Background(), creds[i%len(creds)])
		i++
		return err
	})
}

// lookupLatency times every Key call and reports p50 and p99 in microseconds.
func lookupLatency(b *testing.B, s store.KeyStore, ids []string) {
	ctx := context.Background()
	i := 0
	latency(b, func() error {
		_, err := s.Key(ctx, ids[i%len(ids)])
		i++
		return err
	})
}

// latency warms op up, then times every call of it and reports p50, p99 and p99.9 in
// microseconds.
func latency(b *testing.B, op func() error) {
	for range 256 { // warm the connections and the statement caches
		if err := op(); err != nil {
			b.Fatal(err)
		}
	}
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		if err := op(); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	at := func(q float64) float64 {
		return float64(lat[min(len(lat)-1, int(q*float64(len(lat))))].Nanoseconds()) / 1e3
	}
	b.ReportMetric(at(0.50), "p50-µs")
	b.ReportMetric(at(0.99), "p99-µs")
	b.ReportMetric(at(0.999), "p99.9-µs")
}
