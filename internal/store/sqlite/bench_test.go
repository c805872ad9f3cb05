package sqlite_test

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlite"
	"github.com/gatehouse-dev/gatehouse/internal/verify/apikey"
	"go.uber.org/goleak"
)

// bigStore is one store with a million keys, built once per test binary run: building it
// takes a few seconds, and every benchmark that needs it shares it.
var bigStore struct {
	once sync.Once
	dir  string
	path string
	ids  []string // a random sample of stored ids
	err  error
	took time.Duration
}

const bigKeys = 1_000_000

func TestMain(m *testing.M) {
	code := m.Run()
	if bigStore.dir != "" {
		os.RemoveAll(bigStore.dir)
	}
	// No goroutine may outlive the tests: a store's watcher, a database/sql connection
	// opener or a last_used_at flusher left running is a leak in the code under test.
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// millionKeyStore returns the path of a store holding bigKeys keys and a sample of ids.
// The rows go in with one INSERT ... SELECT over a recursive CTE in one transaction,
// which is how an operator would bulk-load too; the lookups benchmarked are the
// gateway's ordinary prepared point reads.
func millionKeyStore(b *testing.B) (string, []string) {
	b.Helper()
	bigStore.once.Do(func() {
		start := time.Now()
		dir, err := os.MkdirTemp("", "gatehouse-bench-")
		if err != nil {
			bigStore.err = err
			return
		}
		bigStore.dir = dir
		bigStore.path = filepath.Join(dir, "million.db")
		s, err := sqlite.Open(context.Background(), bigStore.path, sqlite.Options{})
		if err != nil {
			bigStore.err = err
			return
		}
		s.Close()
		db, err := sql.Open("sqlite", "file:"+bigStore.path+"?_pragma=synchronous(OFF)&_pragma=cache_size(-200000)")
		if err != nil {
			bigStore.err = err
			return
		}
		defer db.Close()
		_, err = db.Exec(`
			WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
			INSERT INTO api_keys (id, name, env, scopes, secret_hash, hash_alg, created_at)
			SELECT printf('k%011d', i), 'svc-' || (i % 5000), 'live', 'orders:read orders:write',
			       randomblob(32), 'sha256', 1700000000000000 + i
			FROM n`, bigKeys-1)
		if err != nil {
			bigStore.err = fmt.Errorf("bulk insert: %w", err)
			return
		}
		if _, err := db.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
			bigStore.err = err
			return
		}
		r := rand.New(rand.NewPCG(1, 2))
		for range 4096 {
			bigStore.ids = append(bigStore.ids, fmt.Sprintf("k%011d", r.IntN(bigKeys)))
		}
		bigStore.took = time.Since(start)
	})
	if bigStore.err != nil {
		b.Fatalf("building the million-key store: %v", bigStore.err)
	}
	return bigStore.path, bigStore.ids
}

// BenchmarkKeyLookupMillionKeys measures Store.Key, the gateway's uncached API-key read,
// against a store of one million keys, and reports the process's resident memory with
// the store open (keys are not loaded into memory; only SQLite's page cache is).
func BenchmarkKeyLookupMillionKeys(b *testing.B) {
	path, ids := millionKeyStore(b)
	b.Logf("store with %d keys built in %v", bigKeys, bigStore.took)
	s, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if _, err := s.Key(ctx, ids[i%len(ids)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.StopTimer()
	if rss, ok := rssMB(); ok {
		b.ReportMetric(rss, "MB-rss")
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "MB-heap")
}

// BenchmarkKeyLookupMillionKeysParallel is the same read from GOMAXPROCS goroutines.
func BenchmarkKeyLookupMillionKeysParallel(b *testing.B) {
	path, ids := millionKeyStore(b)
	s, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		r := rand.New(rand.NewPCG(rand.Uint64(), 3))
		for pb.Next() {
			if _, err := s.Key(context.Background(), ids[r.IntN(len(ids))]); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkLatestChange is the Watcher's poll: one read of max(seq).
func BenchmarkLatestChange(b *testing.B) {
	path, _ := millionKeyStore(b)
	s, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.LatestChange(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAPIKeyDecisionUncachedMillionKeys is the API-key authenticator with its cache
// disabled over the million-key store: parse and checksum, a store read by primary key,
// and the hash comparison, for keys that really are in the store.
func BenchmarkAPIKeyDecisionUncachedMillionKeys(b *testing.B) {
	path, _ := millionKeyStore(b)
	s, err := sqlite.Open(context.Background(), path, sqlite.Options{})
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
		if err := s.CreateKey(context.Background(), &rec); err != nil && !errors.Is(err, store.ErrExists) {
			b.Fatal(err)
		}
		creds = append(creds, decision.Credential{Source: decision.FromHeader, Name: "X-API-Key", Value: k.Reveal()})
	}
	a, err := apikey.New(apikey.Config{Name: "keys", Header: "X-API-Key", Environment: "live", Store: s, Hasher: h, CacheTTL: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if _, err := a.Authenticate(context.Background(), creds[i%len(creds)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.StopTimer()
	if rss, ok := rssMB(); ok {
		b.ReportMetric(rss, "MB-rss")
	}
}

// rssMB reads VmRSS from /proc (Linux only).
func rssMB() (float64, bool) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			if err != nil {
				return 0, false
			}
			return float64(kb) / 1024, true
		}
	}
	return 0, false
}
