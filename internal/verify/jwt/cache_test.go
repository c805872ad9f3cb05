package jwt

import (
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
)

type stats struct{ hits, misses, evictions uint64 }

func statsOf(a *Authenticator) stats {
	h, m, e := a.CacheStats()
	return stats{h, m, e}
}

func TestTokenCacheHitReturnsTheSamePrincipalAndPurgeEmptiesIt(t *testing.T) {
	s := signers(t)
	srv := newJWKSServer(t, s.es)
	clk := newClock()
	a := mustNew(t, remoteConfig(srv, clk, nil))
	tok := sign(t, s.es, claimsAt(clk.Now()))
	first, err := a.Authenticate(ctxT(t), bearer(tok))
	if err != nil {
		t.Fatal(err)
	}
	second, err := a.Authenticate(ctxT(t), bearer(tok))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(first, second); diff != "" {
		t.Errorf("cached principal differs (-first +second):\n%s", diff)
	}
	if diff := cmp.Diff(stats{hits: 1, misses: 1}, statsOf(a), cmp.AllowUnexported(stats{})); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
	// A revocation event purges; the token is verified again (and cached again).
	a.Purge()
	if _, err := a.Authenticate(ctxT(t), bearer(tok)); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(stats{hits: 1, misses: 2}, statsOf(a), cmp.AllowUnexported(stats{})); diff != "" {
		t.Errorf("stats after purge (-want +got):\n%s", diff)
	}
}

func TestCachedTokenStopsAnsweringAtExpiry(t *testing.T) {
	s := signers(t)
	clk := newClock()
	a := fileAuthenticator(t, clk, nil) // leeway 30s
	tok := sign(t, s.es, claimsAt(clk.Now(), "exp", clk.Now().Add(time.Minute).Unix()))
	if _, err := a.Authenticate(ctxT(t), bearer(tok)); err != nil {
		t.Fatal(err)
	}
	clk.Advance(89 * time.Second) // exp + leeway - 1s: still valid, from the cache
	if _, err := a.Authenticate(ctxT(t), bearer(tok)); err != nil {
		t.Fatalf("within leeway: %v", err)
	}
	clk.Advance(time.Second)
	_, err := a.Authenticate(ctxT(t), bearer(tok))
	if r, f := reasonOf(t, err); r != decision.TokenExpired || f.Detail != "expired 30s ago" {
		t.Fatalf("after exp+leeway: %v", err)
	}
	if st := statsOf(a); st.hits != 1 {
		t.Errorf("hits %d, want 1", st.hits)
	}
}

func TestFailedVerificationsAreNotCached(t *testing.T) {
	s := signers(t)
	clk := newClock()
	a := fileAuthenticator(t, clk, nil)
	bad := sign(t, s.attacker, claimsAt(clk.Now()))
	for range 3 {
		_, err := a.Authenticate(ctxT(t), bearer(bad))
		if r, _ := reasonOf(t, err); r != decision.TokenSignatureInvalid {
			t.Fatalf("reason %s", r)
		}
	}
	if st := statsOf(a); st.hits != 0 || st.misses != 3 {
		t.Errorf("stats %+v, want 0 hits and 3 misses", st)
	}
}

func TestTokenCacheIsBoundedAndEvicts(t *testing.T) {
	s := signers(t)
	clk := newClock()
	a := fileAuthenticator(t, clk, func(c *Config) { c.CacheSize = 2 })
	toks := make([]string, 3)
	for i := range toks {
		toks[i] = sign(t, s.es, claimsAt(clk.Now(), "jti", fmt.Sprint(i)))
		if _, err := a.Authenticate(ctxT(t), bearer(toks[i])); err != nil {
			t.Fatal(err)
		}
	}
	if st := statsOf(a); st.evictions != 1 {
		t.Errorf("evictions %d, want 1", st.evictions)
	}
	// The newest token is cached.
	if _, err := a.Authenticate(ctxT(t), bearer(toks[2])); err != nil {
		t.Fatal(err)
	}
	if st := statsOf(a); st.hits != 1 {
		t.Errorf("hits %d, want 1", st.hits)
	}
}

func TestDisabledCacheVerifiesEveryTime(t *testing.T) {
	s := signers(t)
	clk := newClock()
	a := fileAuthenticator(t, clk, func(c *Config) { c.CacheSize = -1 })
	tok := sign(t, s.es, claimsAt(clk.Now()))
	for range 2 {
		if _, err := a.Authenticate(ctxT(t), bearer(tok)); err != nil {
			t.Fatal(err)
		}
	}
	if st := statsOf(a); st != (stats{}) {
		t.Errorf("stats %+v with the cache disabled", st)
	}
	a.Purge() // must not panic
}

func TestTokenCacheClockEviction(t *testing.T) {
	now := t0
	c := newTokenCache(3)
	key := func(i int) *[32]byte { k := sha256.Sum256([]byte(fmt.Sprint(i))); return &k }
	p := func(i int) decision.Principal { return decision.Principal{Subject: fmt.Sprint(i)} }
	until := now.Add(time.Hour)
	for i := range 3 {
		c.put(key(i), p(i), time.Time{}, until, now, c.generation())
	}
	// 0 and 2 are referenced; 1 is not, so it is the victim.
	c.get(key(0), now)
	c.get(key(2), now)
	c.put(key(3), p(3), time.Time{}, until, now, c.generation())
	if _, ok := c.get(key(1), now); ok {
		t.Error("the unreferenced entry survived")
	}
	for _, i := range []int{0, 2, 3} {
		if got, ok := c.get(key(i), now); !ok || got.Subject != fmt.Sprint(i) {
			t.Errorf("entry %d lost", i)
		}
	}
	// An expired entry never answers, and its slot is freed for the next insert.
	c.put(key(4), p(4), time.Time{}, now.Add(time.Second), now, c.generation())
	later := now.Add(2 * time.Second)
	if _, ok := c.get(key(4), later); ok {
		t.Error("an expired entry answered")
	}
	ev := c.evictions.Load()
	c.put(key(5), p(5), time.Time{}, until, later, c.generation())
	if _, ok := c.get(key(5), later); !ok {
		t.Error("entry 5 missing")
	}
	if c.evictions.Load() != ev {
		t.Error("a live entry was evicted although the expired entry's slot was free")
	}
	// notBefore is honoured.
	c.put(key(6), p(6), later.Add(time.Minute), until, later, c.generation())
	if _, ok := c.get(key(6), later); ok {
		t.Error("an entry answered before its notBefore")
	}
}

func TestTokenCacheConcurrentUse(t *testing.T) {
	c := newTokenCache(1000)
	now := t0
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				k := sha256.Sum256([]byte(fmt.Sprint(g, i%1500)))
				if _, ok := c.get(&k, now); !ok {
					c.put(&k, decision.Principal{Subject: "s"}, time.Time{}, now.Add(time.Hour), now, c.generation())
				}
				if i%700 == 0 && g == 0 {
					c.purge()
				}
			}
		}()
	}
	wg.Wait()
	total := 0
	for i := range c.shards {
		total += len(c.shards[i].index)
	}
	if total > 1000+len(c.shards) {
		t.Errorf("cache holds %d entries, bound is about 1000", total)
	}
}

func TestAVerificationThatStartedBeforeAPurgeIsNotCached(t *testing.T) {
	c := newTokenCache(10)
	k := sha256.Sum256([]byte("token"))
	gen := c.generation() // read before verifying
	c.purge()             // a revocation event or a withdrawn key arrives meanwhile
	c.put(&k, decision.Principal{Subject: "s"}, time.Time{}, t0.Add(time.Hour), t0, gen)
	if _, ok := c.get(&k, t0); ok {
		t.Fatal("a result verified before the purge was cached after it")
	}
}
