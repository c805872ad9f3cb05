package jwt

// Benchmarks for the budgets of docs/design.md, section 8: a cached JWT decision in at most
// 1 µs with a few allocations, and an uncached ES256/RS256 verification within 10% of
// the bare JOSE library call. Compare with:
//
//	go test -run '^$' -bench . -benchmem -count=6 ./internal/verify/jwt/ > bench.txt
//	benchstat bench.txt
//
// Besides ns/op, each benchmark reports cpu-ns/op (process CPU time per operation),
// which a busy shared machine disturbs far less than wall-clock time.
//
// The BareLibrary benchmarks import go-jose directly: that is the point of them, and it
// is confined to this test file (internal/tokens stays the only non-test importer).

import (
	"context"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-dev/gatehouse/internal/tokens"
)

// measureCPU reports the process CPU time per operation as "cpu-ns/op" when the
// benchmark ends. Call it right before the loop.
func measureCPU(b *testing.B) {
	start := processCPU()
	b.Cleanup(func() {
		if b.N > 0 {
			b.ReportMetric(float64(processCPU()-start)/float64(b.N), "cpu-ns/op")
		}
	})
}

func benchAuthenticator(b *testing.B, cacheSize int) (*Authenticator, *testSigners) {
	b.Helper()
	clk := newClock()
	a := fileAuthenticator(b, clk, func(c *Config) { c.CacheSize = cacheSize })
	return a, signers(b)
}

func BenchmarkCachedToken(b *testing.B) {
	a, s := benchAuthenticator(b, 0)
	c := bearer(sign(b, s.es, claimsAt(t0)))
	ctx := context.Background()
	if _, err := a.Authenticate(ctx, c); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	measureCPU(b)
	for b.Loop() {
		if _, err := a.Authenticate(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
}

func benchUncached(b *testing.B, signer func(*testSigners) *tokens.Signer) {
	a, s := benchAuthenticator(b, -1)
	c := bearer(sign(b, signer(s), claimsAt(t0)))
	ctx := context.Background()
	b.ReportAllocs()
	measureCPU(b)
	for b.Loop() {
		if _, err := a.Authenticate(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUncachedES256(b *testing.B) {
	benchUncached(b, func(s *testSigners) *tokens.Signer { return s.es })
}

func BenchmarkUncachedRS256(b *testing.B) {
	benchUncached(b, func(s *testSigners) *tokens.Signer { return s.rs })
}

// benchBare is the library alone: parse with an allow-list and verify with the key.
func benchBare(b *testing.B, signer *tokens.Signer) {
	tok := sign(b, signer, claimsAt(t0))
	pk, _ := signer.Key().Public()
	key := pk.Public()
	algs := []jose.SignatureAlgorithm{jose.ES256, jose.RS256}
	b.ReportAllocs()
	measureCPU(b)
	for b.Loop() {
		jws, err := jose.ParseSignedCompact(tok, algs)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := jws.Verify(key); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBareLibraryES256(b *testing.B) { benchBare(b, signers(b).es) }

func BenchmarkBareLibraryRS256(b *testing.B) { benchBare(b, signers(b).rs) }
