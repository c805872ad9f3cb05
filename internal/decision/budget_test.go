package decision_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/budget"
	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/verify/basic"
)

// users is a one-user store for the Basic authenticator.
type users struct{ root store.User }

func (u users) User(_ context.Context, name string) (store.User, error) {
	if name == u.root.Name {
		return u.root, nil
	}
	return store.User{}, store.ErrNotFound
}

func (u users) ListUsers(_ context.Context, after string, limit int) ([]store.User, error) {
	if after < u.root.Name && limit > 0 {
		return []store.User{u.root}, nil
	}
	return nil, nil
}

func (u users) SetPassword(context.Context, string, string, time.Time) error { return nil }

// countingHasher is the production argon2id verifier behind a counter and, optionally,
// a gate that holds every hash until the test opens it.
type countingHasher struct {
	real   *secret.PasswordVerifier
	hashes atomic.Int64
	gate   chan struct{} // nil: no gate
}

func (h *countingHasher) Verify(ctx context.Context, hash, password string) (bool, error) {
	h.hashes.Add(1)
	if h.gate != nil {
		select {
		case <-h.gate:
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
	return h.real.Verify(ctx, hash, password)
}

var rootHash = sync.OnceValue(func() string {
	h, err := secret.HashPassword("correct horse")
	if err != nil {
		panic(err)
	}
	return h
})

type basicFixture struct {
	route  *decision.Route
	auth   *basic.Authenticator
	hasher *countingHasher
}

func newBasicFixture(t *testing.T, o budget.Options, gated bool) *basicFixture {
	t.Helper()
	h := &countingHasher{real: secret.NewPasswordVerifier(0)}
	if gated {
		h.gate = make(chan struct{})
	}
	a, err := basic.New(basic.Config{Name: "users", Store: users{store.User{Name: "root", PasswordHash: rootHash(), Scopes: []string{"admin"}}}, Hasher: h})
	if err != nil {
		t.Fatal(err)
	}
	if o.Now == nil {
		// A stopped clock: slow hashing (the race detector) must not refill the budgets
		// half-way through a test.
		now := time.Now()
		o.Now = func() time.Time { return now }
	}
	b, err := budget.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return &basicFixture{route: &decision.Route{Name: "api", Authenticators: []decision.Authenticator{a}, Budget: b}, auth: a, hasher: h}
}

func (f *basicFixture) decide(from, user, pass string) decision.Decision {
	h := http.Header{}
	h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+pass)))
	return f.route.Decide(context.Background(), &decision.Request{Method: "GET", Path: "/", Header: h, Client: netip.MustParseAddr(from)})
}

// TestConcurrentGuessesCostAtMostTheBudget is the burst of the issue: 100 wrong
// passwords sent at once get at most the budget's worth of argon2id hashes; the rest are
// refused with 429 before any hashing.
func TestConcurrentGuessesCostAtMostTheBudget(t *testing.T) {
	for _, tc := range []struct {
		name string
		user func(i int) string
		want int64
	}{
		{"one user, per-credential limit", func(int) string { return "root" }, 5},
		{"many users, per-client limit", func(i int) string { return fmt.Sprintf("user%d", i) }, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newBasicFixture(t, budget.Options{PerClient: budget.Rate{Count: 8, Per: time.Minute},
				PerCredential: budget.Rate{Count: 5, Per: time.Minute}, PerCredentialGlobal: budget.Rate{Count: 50, Per: time.Minute}}, true)
			const n = 100
			var refused atomic.Int64
			var wg sync.WaitGroup
			results := make([]decision.Decision, n)
			for i := range n {
				wg.Go(func() {
					results[i] = f.decide("198.51.100.66", tc.user(i), fmt.Sprintf("wrong%d", i))
					if results[i].Reason == decision.TooManyFailures {
						refused.Add(1)
					}
				})
			}
			deadline := time.Now().Add(20 * time.Second)
			for f.hasher.hashes.Load()+refused.Load() < n && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			close(f.hasher.gate)
			wg.Wait()
			if got := f.hasher.hashes.Load(); got > tc.want {
				t.Errorf("%d concurrent guesses cost %d password hashes; the budget allows %d", n, got, tc.want)
			}
			invalid := 0
			for _, d := range results {
				if d.Reason == decision.CredentialsInvalid {
					invalid++
				} else if d.Reason != decision.TooManyFailures {
					t.Errorf("unexpected decision %s %q", d.Reason, d.Detail)
				}
			}
			if int64(invalid) != f.hasher.hashes.Load() {
				t.Errorf("%d answered 401 for %d hashes", invalid, f.hasher.hashes.Load())
			}
		})
	}
}

// TestGuesserCannotLockOutTheUser: wrong passwords for root from one address do not
// refuse root from another; a client that logged in before keeps working while many
// addresses guess; a new client guessing is still slowed by the global limit.
func TestGuesserCannotLockOutTheUser(t *testing.T) {
	opts := budget.Options{PerClient: budget.Rate{Count: 30, Per: time.Minute},
		PerCredential: budget.Rate{Count: 10, Per: time.Minute}, PerCredentialGlobal: budget.Rate{Count: 20, Per: time.Minute}}
	const attacker, victim = "198.51.100.66", "192.0.2.10"

	f := newBasicFixture(t, opts, false)
	for i := range 11 {
		f.decide(attacker, "root", fmt.Sprintf("guess%d", i))
	}
	if d := f.decide(attacker, "root", "guess"); d.Reason != decision.TooManyFailures {
		t.Fatalf("the guessing address after 10 failures: %s, want too_many_failures", d.Reason)
	}
	if d := f.decide(victim, "root", "correct horse"); !d.Allow {
		t.Fatalf("the user from another address: %s %q, want allowed", d.Reason, d.Detail)
	}
	if d := f.decide(attacker, "root", "correct horse"); d.Reason != decision.TooManyFailures {
		t.Errorf("the spent guesser sending the cached right password: %s; a 200 here would tell it which guess is right", d.Reason)
	}

	// Many addresses together spend the global limit on root.
	for i := range 12 {
		f.decide(fmt.Sprintf("203.0.113.%d", i), "root", "guess")
	}
	if d := f.decide("203.0.113.200", "root", "guess"); d.Reason != decision.TooManyFailures {
		t.Errorf("a brand-new address guessing after the global limit is spent: %s, want too_many_failures", d.Reason)
	}
	if d := f.decide(victim, "root", "correct horse"); !d.Allow {
		t.Errorf("the user who succeeded before (cached): %s, want allowed", d.Reason)
	}
	f.auth.Purge()
	if d := f.decide(victim, "root", "correct horse"); !d.Allow {
		t.Errorf("the user who succeeded before (verified again): %s, want allowed", d.Reason)
	}
	if d := f.decide(victim, "root", "wrong"); d.Reason != decision.CredentialsInvalid {
		t.Errorf("a wrong password from the user's address is still checked: %s", d.Reason)
	}
}

// countingBudget counts what Decide asks of a budget.
type countingBudget struct {
	decision.Budget
	reserves atomic.Int64
}

func (b *countingBudget) Reserve(ctx context.Context, c netip.Addr, id string) (decision.Reservation, bool, time.Duration) {
	b.reserves.Add(1)
	return b.Budget.Reserve(ctx, c, id)
}

// TestCachedSuccessReservesNothing: once a password verified, the same credentials are
// answered from the cache without a reservation (with Redis, without a round trip).
func TestCachedSuccessReservesNothing(t *testing.T) {
	f := newBasicFixture(t, budget.Options{PerClient: budget.DefaultPerClient, PerCredential: budget.DefaultPerCredential, PerCredentialGlobal: budget.DefaultPerCredentialGlobal}, false)
	cb := &countingBudget{Budget: f.route.Budget}
	f.route.Budget = cb
	for i := range 5 {
		if d := f.decide("192.0.2.10", "root", "correct horse"); !d.Allow {
			t.Fatalf("request %d: %s", i, d.Reason)
		}
	}
	if got := cb.reserves.Load(); got != 1 {
		t.Errorf("5 requests with one good password made %d reservations, want 1", got)
	}
	if got := f.hasher.hashes.Load(); got != 1 {
		t.Errorf("%d hashes, want 1", got)
	}
}

// sharedBudget is a budget on the Redis at 127.0.0.1:6379 under a key prefix of its own,
// or a skip when that Redis is not reachable and CI is not set.
func sharedBudget(t testing.TB) *budget.Budget {
	t.Helper()
	if c, err := net.DialTimeout("tcp", "127.0.0.1:6379", time.Second); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("Redis at 127.0.0.1:6379 is not reachable (CI is set, so this fails): %v", err)
		}
		t.Skipf("Redis at 127.0.0.1:6379 is not reachable (%v); start it to run this", err)
	} else {
		c.Close()
	}
	var p [6]byte
	rand.Read(p[:])
	b, err := budget.New(budget.Options{PerClient: budget.DefaultPerClient, PerCredential: budget.DefaultPerCredential,
		PerCredentialGlobal: budget.DefaultPerCredentialGlobal, SuccessMemory: time.Minute,
		Redis: budget.RedisOptions{URL: "redis://127.0.0.1:6379/0", Prefix: "gatehouse-test:" + hex.EncodeToString(p[:]) + ":", Timeout: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// TestCachedDecisionMakesNoRedisCall: with a shared budget, the first (verified)
// success talks to Redis; the cached ones after it do not.
func TestCachedDecisionMakesNoRedisCall(t *testing.T) {
	f := newBasicFixture(t, budget.Options{}, false)
	b := sharedBudget(t)
	f.route.Budget = b
	if d := f.decide("192.0.2.10", "root", "correct horse"); !d.Allow {
		t.Fatalf("first request: %s", d.Reason)
	}
	before := b.RedisStats()
	if before.Calls == 0 || !before.Up {
		t.Fatalf("the verified success did not reach Redis: %+v", before)
	}
	for range 100 {
		if d := f.decide("192.0.2.10", "root", "correct horse"); !d.Allow {
			t.Fatalf("cached request: %s", d.Reason)
		}
	}
	if after := b.RedisStats(); after.Calls != before.Calls {
		t.Errorf("100 cached successes made %d Redis calls", after.Calls-before.Calls)
	}
}

// BenchmarkDecideCached measures a cached Basic success with a local budget and with a
// Redis budget: the two must cost the same, since neither reaches the budget's store.
func BenchmarkDecideCached(b *testing.B) {
	for _, tc := range []struct {
		name   string
		budget func(testing.TB) decision.Budget
	}{
		{"LocalBudget", func(t testing.TB) decision.Budget {
			bud, _ := budget.New(budget.Options{PerClient: budget.DefaultPerClient, PerCredential: budget.DefaultPerCredential, PerCredentialGlobal: budget.DefaultPerCredentialGlobal})
			return bud
		}},
		{"RedisBudget", func(t testing.TB) decision.Budget { return sharedBudget(t) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			bud := tc.budget(b)
			a, err := basic.New(basic.Config{Name: "users", Store: users{store.User{Name: "root", PasswordHash: rootHash()}}})
			if err != nil {
				b.Fatal(err)
			}
			rt := &decision.Route{Name: "api", Authenticators: []decision.Authenticator{a}, Budget: bud}
			h := http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("root:correct horse"))}}
			req := &decision.Request{Method: "GET", Path: "/", Header: h, Client: netip.MustParseAddr("192.0.2.10")}
			if d := rt.Decide(context.Background(), req); !d.Allow {
				b.Fatal(d.Reason)
			}
			b.ReportAllocs()
			for b.Loop() {
				if d := rt.Decide(context.Background(), req); !d.Allow {
					b.Fatal(d.Reason)
				}
			}
			if s, ok := bud.(*budget.Budget); ok && s.RedisStats().Configured {
				b.ReportMetric(float64(s.RedisStats().Calls), "redis-calls")
			}
		})
	}
}
