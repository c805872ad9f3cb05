package secret

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"hash"
	"sync"
	"sync/atomic"
	"time"
)

// CacheOptions configures a Cache. Zero fields mean the documented defaults.
type CacheOptions struct {
	// Size is the most entries kept; 10000 when zero. When full, an insertion evicts an
	// expired entry or one not read since the clock hand last passed it.
	Size int
	// MaxTTL caps every entry's lifetime; 5 minutes when zero.
	MaxTTL time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Cache is a bounded cache of verification results with per-entry TTLs and
// single-flight loading: concurrent misses for one key run one load. Reads take a shared
// lock and allocate nothing. Keys are never raw credentials: Basic uses an HMAC of the
// credential (see Keyer), introspection a SHA-256 of the token, API keys their public id.
//
// Forget and Purge also cancel the caching of loads already running, so a result read
// from the store before a revocation is never cached after it.
type Cache[K comparable, V any] struct {
	size   int
	maxTTL time.Duration
	now    func() time.Time

	mu      sync.RWMutex
	m       map[K]*cacheEntry[K, V]
	ring    []*cacheEntry[K, V]
	hand    int
	flights map[K]*flight[V]
	gen     uint64 // bumped by Forget and Purge
	hits    atomic.Uint64
	misses  atomic.Uint64
	evicted atomic.Uint64 // live entries dropped to make room
}

type cacheEntry[K comparable, V any] struct {
	key     K
	val     V
	expires int64 // unix nanoseconds
	ref     atomic.Bool
	slot    int
}

type flight[V any] struct {
	done chan struct{}
	val  V
	err  error
}

// NewCache returns an empty cache.
func NewCache[K comparable, V any](o CacheOptions) *Cache[K, V] {
	if o.Size <= 0 {
		o.Size = 10000
	}
	if o.MaxTTL <= 0 {
		o.MaxTTL = 5 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Cache[K, V]{
		size: o.Size, maxTTL: o.MaxTTL, now: o.Now,
		m:       make(map[K]*cacheEntry[K, V], min(o.Size, 1024)),
		flights: map[K]*flight[V]{},
	}
}

// Get returns the live entry for k.
func (c *Cache[K, V]) Get(k K) (V, bool) {
	now := c.now().UnixNano()
	c.mu.RLock()
	e := c.m[k]
	if e == nil || now >= e.expires {
		c.mu.RUnlock()
		c.misses.Add(1)
		var zero V
		return zero, false
	}
	if !e.ref.Load() {
		e.ref.Store(true)
	}
	v := e.val
	c.mu.RUnlock()
	c.hits.Add(1)
	return v, true
}

// GetStale returns the entry for k even when its lifetime has passed, as long as it was
// neither forgotten, purged nor evicted: the last answer known, for a caller that may
// serve it while the source cannot be read (a store outage within its grace period). It
// counts as neither a hit nor a miss.
func (c *Cache[K, V]) GetStale(k K) (V, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if e := c.m[k]; e != nil {
		return e.val, true
	}
	var zero V
	return zero, false
}

// Do returns the cached value for k, or runs load once for all concurrent callers asking
// for k and returns its result. load returns how long the value may be cached: zero or
// less caches nothing (a failure, say), and anything above MaxTTL is cut to MaxTTL. A
// caller whose ctx ends while waiting for another's load gets ctx's error.
func (c *Cache[K, V]) Do(ctx context.Context, k K, load func() (V, time.Duration, error)) (V, error) {
	if v, ok := c.Get(k); ok {
		return v, nil
	}
	c.mu.Lock()
	if f, ok := c.flights[k]; ok {
		c.mu.Unlock()
		select {
		case <-f.done:
			return f.val, f.err
		case <-ctx.Done():
			var zero V
			return zero, ctx.Err()
		}
	}
	f := &flight[V]{done: make(chan struct{})}
	c.flights[k] = f
	gen := c.gen
	c.mu.Unlock()

	var ttl time.Duration
	func() {
		defer func() {
			if r := recover(); r != nil {
				c.finish(k, f)
				panic(r)
			}
		}()
		f.val, ttl, f.err = load()
	}()

	c.mu.Lock()
	if f.err == nil && ttl > 0 && c.gen == gen {
		c.insertLocked(k, f.val, min(ttl, c.maxTTL))
	}
	delete(c.flights, k)
	c.mu.Unlock()
	close(f.done)
	return f.val, f.err
}

func (c *Cache[K, V]) finish(k K, f *flight[V]) {
	c.mu.Lock()
	delete(c.flights, k)
	c.mu.Unlock()
	f.err = errLoadPanicked
	close(f.done)
}

var errLoadPanicked = &cacheError{"cache load panicked"}

type cacheError struct{ s string }

func (e *cacheError) Error() string { return e.s }

// Put stores v for k for ttl (capped at MaxTTL).
func (c *Cache[K, V]) Put(k K, v V, ttl time.Duration) {
	if ttl <= 0 {
		return
	}
	c.mu.Lock()
	c.insertLocked(k, v, min(ttl, c.maxTTL))
	c.mu.Unlock()
}

func (c *Cache[K, V]) insertLocked(k K, v V, ttl time.Duration) {
	now := c.now().UnixNano()
	exp := now + int64(ttl)
	if e, ok := c.m[k]; ok {
		e.val, e.expires = v, exp
		return
	}
	e := &cacheEntry[K, V]{key: k, val: v, expires: exp}
	if len(c.ring) < c.size {
		e.slot = len(c.ring)
		c.ring = append(c.ring, e)
		c.m[k] = e
		return
	}
	// Clock: skip (and clear) recently read entries, evict the first that was not read
	// since the hand last passed, or that has expired. Two turns always find one.
	for i := 0; i < 2*len(c.ring); i++ {
		old := c.ring[c.hand]
		if now >= old.expires || !old.ref.Load() {
			break
		}
		old.ref.Store(false)
		c.hand = (c.hand + 1) % len(c.ring)
	}
	old := c.ring[c.hand]
	if now < old.expires {
		c.evicted.Add(1)
	}
	delete(c.m, old.key)
	e.slot = c.hand
	c.ring[c.hand] = e
	c.m[k] = e
	c.hand = (c.hand + 1) % len(c.ring)
}

// Forget drops k, and keeps any load running now from being cached.
func (c *Cache[K, V]) Forget(k K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	e, ok := c.m[k]
	if !ok {
		return
	}
	delete(c.m, k)
	last := len(c.ring) - 1
	moved := c.ring[last]
	c.ring[e.slot] = moved
	moved.slot = e.slot
	c.ring[last] = nil
	c.ring = c.ring[:last]
	if c.hand >= len(c.ring) {
		c.hand = 0
	}
}

// Purge drops every entry, and keeps every load running now from being cached.
func (c *Cache[K, V]) Purge() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.m)
	clear(c.ring)
	c.ring = c.ring[:0]
	c.hand = 0
}

// Len is the number of entries, live or expired but not yet evicted.
func (c *Cache[K, V]) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

// Stats returns the numbers of hits and misses so far.
func (c *Cache[K, V]) Stats() (hits, misses uint64) { return c.hits.Load(), c.misses.Load() }

// Evictions returns how many live (unexpired) entries were dropped to make room for new
// ones so far: a cache too small for its working set shows here. Expired entries
// replaced, Forget and Purge do not count.
func (c *Cache[K, V]) Evictions() uint64 { return c.evicted.Load() }

// Keyer derives cache keys from credentials with HMAC-SHA256 under a random key made
// when the process starts, so a cache key is useless outside this process and a memory
// dump of the cache yields nothing to test password guesses against.
type Keyer struct {
	pool sync.Pool
}

type keyerState struct {
	mac hash.Hash
	buf []byte
	sum []byte
}

// NewKeyer returns a Keyer with a fresh random key.
func NewKeyer() *Keyer {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		panic("secret: crypto/rand failed: " + err.Error())
	}
	k := &Keyer{}
	k.pool.New = func() any {
		return &keyerState{mac: hmac.New(sha256.New, key), buf: make([]byte, 0, 256), sum: make([]byte, 0, sha256.Size)}
	}
	return k
}

// Key returns HMAC-SHA256(process key, a \x00 b): for Basic, a is the user and b the
// password. The NUL separator keeps ("ab","c") and ("a","bc") apart.
func (k *Keyer) Key(a, b string) [32]byte {
	st := k.pool.Get().(*keyerState)
	st.mac.Reset()
	st.buf = append(append(append(st.buf[:0], a...), 0), b...)
	st.mac.Write(st.buf)
	st.sum = st.mac.Sum(st.sum[:0])
	var out [32]byte
	copy(out[:], st.sum)
	if cap(st.buf) <= 64<<10 {
		clear(st.buf)
		k.pool.Put(st)
	}
	return out
}
