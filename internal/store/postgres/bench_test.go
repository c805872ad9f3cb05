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

	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/postgres"
	"github.com/gatehouse-dev/gatehouse/internal/store/postgres/pgtest"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlite"
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

// lookupLatency times every Key call and reports p50 and p99 in microseconds.
func lookupLatency(b *testing.B, s store.KeyStore, ids []string) {
	ctx := context.Background()
	for _, id := range ids[:256] { // warm the connections and the statement caches
		if _, err := s.Key(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		start := time.Now()
		if _, err := s.Key(ctx, ids[i%len(ids)]); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
		i++
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
