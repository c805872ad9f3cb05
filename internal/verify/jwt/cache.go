package jwt

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
)

// tokenCache holds verified principals keyed by the SHA-256 of the token, never the token
// itself. It is a fixed-capacity set of shards, each a map into a slot array evicted by
// the CLOCK algorithm: a lookup sets a slot's reference bit, and the eviction hand clears
// bits until it finds a slot not used since its last pass. Lookups and inserts are O(1)
// (amortized for inserts) and allocate nothing once the shard has grown.
type tokenCache struct {
	shards                  []cacheShard
	mask                    uint8
	hits, misses, evictions atomic.Uint64
	// gen counts purges. A verification that started before a purge must not insert its
	// result after it (it may have used a withdrawn key), so put takes the generation
	// read before verifying and drops the entry if a purge happened since.
	gen atomic.Uint64
}

type cacheShard struct {
	mu    sync.Mutex
	index map[[32]byte]int32
	slots []cacheSlot
	free  []int32
	limit int
	hand  int
	_     [40]byte // keep neighbouring shards' locks off one cache line
}

type cacheSlot struct {
	key                 [32]byte
	ref                 bool
	notBefore, notAfter int64 // unix nanoseconds: the entry answers only in [notBefore, notAfter)
	principal           decision.Principal
}

// newTokenCache returns a cache of about size entries, or nil (no caching) when size <= 0.
func newTokenCache(size int) *tokenCache {
	if size <= 0 {
		return nil
	}
	n := 16
	if size < 256 {
		n = 1 // small caches (tests, tiny deployments) keep an exact bound
	}
	c := &tokenCache{shards: make([]cacheShard, n), mask: uint8(n - 1)}
	per := (size + n - 1) / n
	for i := range c.shards {
		c.shards[i].limit = per
		c.shards[i].index = make(map[[32]byte]int32, min(per, 1024))
	}
	return c
}

func (c *tokenCache) shard(key *[32]byte) *cacheShard { return &c.shards[key[0]&c.mask] }

// get returns the principal cached for key if the entry is valid at now.
func (c *tokenCache) get(key *[32]byte, now time.Time) (decision.Principal, bool) {
	s := c.shard(key)
	t := now.UnixNano()
	s.mu.Lock()
	i, ok := s.index[*key]
	if ok {
		sl := &s.slots[i]
		switch {
		case t >= sl.notAfter:
			s.remove(i)
			ok = false
		case t < sl.notBefore:
			ok = false
		default:
			sl.ref = true
			p := sl.principal
			s.mu.Unlock()
			c.hits.Add(1)
			return p, true
		}
	}
	s.mu.Unlock()
	c.misses.Add(1)
	return decision.Principal{}, false
}

// generation returns the purge generation, to pass to put.
func (c *tokenCache) generation() uint64 { return c.gen.Load() }

// put stores p for key, valid in [notBefore, notAfter), unless the cache was purged since
// gen was read.
func (c *tokenCache) put(key *[32]byte, p decision.Principal, notBefore, notAfter, now time.Time, gen uint64) {
	s := c.shard(key)
	nb, na, t := notBefore.UnixNano(), notAfter.UnixNano(), now.UnixNano()
	if notBefore.IsZero() {
		nb = 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.gen.Load() != gen {
		return
	}
	if i, ok := s.index[*key]; ok {
		sl := &s.slots[i]
		sl.principal, sl.notBefore, sl.notAfter = p, nb, na
		return
	}
	var i int32
	switch {
	case len(s.free) > 0:
		i = s.free[len(s.free)-1]
		s.free = s.free[:len(s.free)-1]
	case len(s.slots) < s.limit:
		s.slots = append(s.slots, cacheSlot{})
		i = int32(len(s.slots) - 1)
	default:
		i = s.victim(t, &c.evictions)
	}
	s.slots[i] = cacheSlot{key: *key, notBefore: nb, notAfter: na, principal: p}
	s.index[*key] = i
}

// victim advances the CLOCK hand to a slot to reuse: an expired one, else the first one
// not referenced since the hand last passed. Two turns always find one.
func (s *cacheShard) victim(now int64, evictions *atomic.Uint64) int32 {
	for range 2 * len(s.slots) {
		i := s.hand
		s.hand = (s.hand + 1) % len(s.slots)
		sl := &s.slots[i]
		if sl.notAfter <= now {
			delete(s.index, sl.key)
			return int32(i)
		}
		if sl.ref {
			sl.ref = false
			continue
		}
		delete(s.index, sl.key)
		evictions.Add(1)
		return int32(i)
	}
	i := s.hand // unreachable: the second turn finds every bit cleared
	delete(s.index, s.slots[i].key)
	evictions.Add(1)
	return int32(i)
}

func (s *cacheShard) remove(i int32) {
	delete(s.index, s.slots[i].key)
	s.slots[i] = cacheSlot{}
	s.free = append(s.free, i)
}

// purge empties the cache.
func (c *tokenCache) purge() {
	c.gen.Add(1) // before clearing: see put
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		clear(s.index)
		clear(s.slots) // drop references to principals
		s.slots, s.free, s.hand = s.slots[:0], s.free[:0], 0
		s.mu.Unlock()
	}
}
