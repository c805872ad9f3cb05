package secret

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func newTestCache(size int, ttl time.Duration) (*Cache[string, int], *fakeClock) {
	clk := &fakeClock{t: time.Unix(1_900_000_000, 0)}
	return NewCache[string, int](CacheOptions{Size: size, MaxTTL: ttl, Now: clk.now}), clk
}

func load(v int, ttl time.Duration) func() (int, time.Duration, error) {
	return func() (int, time.Duration, error) { return v, ttl, nil }
}

func TestCacheHitsUntilTTL(t *testing.T) {
	c, clk := newTestCache(10, time.Minute)
	if v, err := c.Do(context.Background(), "k", load(1, 30*time.Second)); v != 1 || err != nil {
		t.Fatalf("Do = %v, %v", v, err)
	}
	if v, ok := c.Get("k"); !ok || v != 1 {
		t.Errorf("Get = %v, %v", v, ok)
	}
	clk.add(29 * time.Second)
	if _, ok := c.Get("k"); !ok {
		t.Error("entry gone before its TTL")
	}
	clk.add(time.Second)
	if _, ok := c.Get("k"); ok {
		t.Error("entry outlived its TTL")
	}
}

func TestCacheTTLIsCappedAtMax(t *testing.T) {
	c, clk := newTestCache(10, time.Minute)
	c.Do(context.Background(), "k", load(1, time.Hour))
	clk.add(time.Minute)
	if _, ok := c.Get("k"); ok {
		t.Error("entry outlived MaxTTL")
	}
}

func TestCacheDoesNotStoreFailuresOrZeroTTL(t *testing.T) {
	c, _ := newTestCache(10, time.Minute)
	boom := errors.New("boom")
	if _, err := c.Do(context.Background(), "e", func() (int, time.Duration, error) { return 0, time.Minute, boom }); !errors.Is(err, boom) {
		t.Fatalf("Do = %v", err)
	}
	c.Do(context.Background(), "z", load(1, 0))
	if c.Len() != 0 {
		t.Errorf("Len = %d; failures and zero TTLs must not be cached", c.Len())
	}
}

func TestCacheIsBounded(t *testing.T) {
	c, _ := newTestCache(100, time.Hour)
	for i := range 10000 {
		c.Do(context.Background(), fmt.Sprint(i), load(i, time.Hour))
		if c.Len() > 100 {
			t.Fatalf("Len = %d after %d inserts; bound is 100", c.Len(), i+1)
		}
	}
}

func TestCacheKeepsRecentlyReadEntries(t *testing.T) {
	c, _ := newTestCache(8, time.Hour)
	c.Do(context.Background(), "hot", load(1, time.Hour))
	for i := range 100 {
		c.Get("hot")
		c.Do(context.Background(), fmt.Sprint(i), load(i, time.Hour))
	}
	if _, ok := c.Get("hot"); !ok {
		t.Error("an entry read between every insertion was evicted")
	}
}

// TestCacheSingleFlight runs in a synctest bubble: synctest.Wait returns once all 20
// callers are blocked (one in the load, 19 waiting for it), so the load is released only
// when every miss is truly concurrent, without guessing how long that takes.
func TestCacheSingleFlight(t *testing.T) { synctest.Test(t, testCacheSingleFlight) }

func testCacheSingleFlight(t *testing.T) {
	c, _ := newTestCache(10, time.Minute)
	var calls atomic.Int32
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := c.Do(context.Background(), "k", func() (int, time.Duration, error) {
				calls.Add(1)
				<-release
				return 7, time.Minute, nil
			})
			if v != 7 || err != nil {
				t.Errorf("Do = %v, %v", v, err)
			}
		}()
	}
	synctest.Wait()
	close(release)
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Errorf("load ran %d times for 20 concurrent misses, want 1", n)
	}
}

func TestCacheWaiterHonoursContext(t *testing.T) { synctest.Test(t, testCacheWaiterHonoursContext) }

func testCacheWaiterHonoursContext(t *testing.T) {
	c, _ := newTestCache(10, time.Minute)
	release := make(chan struct{})
	defer close(release)
	go c.Do(context.Background(), "k", func() (int, time.Duration, error) { <-release; return 1, time.Minute, nil })
	synctest.Wait() // the first load is in flight
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := c.Do(ctx, "k", load(2, time.Minute)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waiting Do = %v, want the context's error", err)
	}
}

// TestForgetDuringLoadKeepsStaleResultOut is the revocation race: a load reads the store
// before a revocation, the revocation's Forget arrives, then the load finishes. Its
// (stale) result must not be cached.
func TestForgetDuringLoadKeepsStaleResultOut(t *testing.T) {
	for _, drop := range []struct {
		name string
		fn   func(c *Cache[string, int])
	}{
		{"Forget", func(c *Cache[string, int]) { c.Forget("k") }},
		{"Purge", func(c *Cache[string, int]) { c.Purge() }},
	} {
		t.Run(drop.name, func(t *testing.T) {
			c, _ := newTestCache(10, time.Minute)
			started, release := make(chan struct{}), make(chan struct{})
			done := make(chan struct{})
			go func() {
				c.Do(context.Background(), "k", func() (int, time.Duration, error) {
					close(started)
					<-release
					return 1, time.Minute, nil
				})
				close(done)
			}()
			<-started
			drop.fn(c)
			close(release)
			<-done
			if _, ok := c.Get("k"); ok {
				t.Error("a result loaded before the invalidation was cached after it")
			}
		})
	}
}

func TestForgetAndPurge(t *testing.T) {
	c, _ := newTestCache(10, time.Minute)
	for i := range 5 {
		c.Do(context.Background(), fmt.Sprint(i), load(i, time.Minute))
	}
	c.Forget("2")
	c.Forget("absent")
	if _, ok := c.Get("2"); ok || c.Len() != 4 {
		t.Errorf("after Forget: Len %d", c.Len())
	}
	for _, k := range []string{"0", "1", "3", "4"} {
		if v, ok := c.Get(k); !ok || fmt.Sprint(v) != k {
			t.Errorf("Forget disturbed %s: %v %v", k, v, ok)
		}
	}
	// Insertions after a Forget keep working (the ring was compacted).
	for i := 10; i < 30; i++ {
		c.Do(context.Background(), fmt.Sprint(i), load(i, time.Minute))
	}
	if c.Len() != 10 {
		t.Errorf("Len = %d, want 10", c.Len())
	}
	c.Purge()
	if c.Len() != 0 {
		t.Errorf("after Purge: Len %d", c.Len())
	}
}

func TestCachePanickingLoadReleasesWaiters(t *testing.T) {
	c, _ := newTestCache(10, time.Minute)
	func() {
		defer func() { recover() }()
		c.Do(context.Background(), "k", func() (int, time.Duration, error) { panic("load") })
	}()
	if v, err := c.Do(context.Background(), "k", load(3, time.Minute)); v != 3 || err != nil {
		t.Errorf("after a panicking load: %v, %v", v, err)
	}
}

func TestCacheGetAllocatesNothing(t *testing.T) {
	c := NewCache[[32]byte, int](CacheOptions{})
	k := [32]byte{1}
	c.Put(k, 1, time.Minute)
	if n := testing.AllocsPerRun(100, func() { c.Get(k) }); n != 0 {
		t.Errorf("Get allocates %.0f times", n)
	}
}

func TestKeyerSeparatesFieldsAndProcesses(t *testing.T) {
	k := NewKeyer()
	if k.Key("ab", "c") == k.Key("a", "bc") {
		t.Error("(ab,c) and (a,bc) collide")
	}
	if a, b := k.Key("u", "p"), k.Key("u", "p"); a != b {
		t.Error("Key is not deterministic")
	}
	if NewKeyer().Key("u", "p") == k.Key("u", "p") {
		t.Error("two keyers share a key")
	}
	if raceEnabled {
		return
	}
	if n := testing.AllocsPerRun(100, func() { k.Key("alice", "correct horse") }); n != 0 {
		t.Errorf("Key allocates %.0f times", n)
	}
}

func BenchmarkCacheGetParallel(b *testing.B) {
	c := NewCache[[32]byte, int](CacheOptions{})
	k := [32]byte{1}
	c.Put(k, 1, time.Hour)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Get(k)
		}
	})
}

// TestCacheCountsEvictionsOfLiveEntriesOnly: an entry dropped to make room while still
// valid is an eviction (the metric that says the cache is too small); an expired entry
// replaced, or one removed by Forget or Purge, is not.
func TestCacheCountsEvictionsOfLiveEntriesOnly(t *testing.T) {
	ctx := context.Background()
	t.Run("live entries dropped for room", func(t *testing.T) {
		c, _ := newTestCache(10, time.Hour)
		for i := range 25 {
			c.Do(ctx, fmt.Sprint(i), load(i, time.Hour))
		}
		if got := c.Evictions(); got != 15 {
			t.Fatalf("Evictions = %d, want 15", got)
		}
	})
	t.Run("expired entries replaced", func(t *testing.T) {
		c, clk := newTestCache(10, time.Hour)
		for i := range 10 {
			c.Do(ctx, fmt.Sprint(i), load(i, time.Minute))
		}
		clk.add(2 * time.Minute)
		for i := range 10 {
			c.Do(ctx, fmt.Sprint(100+i), load(i, time.Minute))
		}
		if got := c.Evictions(); got != 0 {
			t.Fatalf("Evictions = %d, want 0", got)
		}
	})
	t.Run("forget and purge", func(t *testing.T) {
		c, _ := newTestCache(10, time.Hour)
		for i := range 10 {
			c.Do(ctx, fmt.Sprint(i), load(i, time.Hour))
		}
		c.Forget("3")
		c.Purge()
		if got := c.Evictions(); got != 0 {
			t.Fatalf("Evictions = %d, want 0", got)
		}
	})
}
