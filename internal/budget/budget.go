// Package budget limits failed authentications (docs/design.md, section 2, status 429
// too_many_failures): one token bucket per client address and one per credential id. A
// request that carries credentials is checked with Allow before it is verified; a
// verification failure is charged with Fail; a success costs nothing.
//
// Buckets live in fixed-size tables allocated once, so memory stays the same however
// many addresses an attacker sprays: a new bucket takes a free slot, or the slot of a
// bucket that has refilled completely (it holds no state worth keeping), or, when every
// slot nearby is busy, the one closest to full. The client that has failed most is
// therefore the last to be forgotten. Allow and Fail allocate nothing.
//
// IPv6 clients are counted per /64, the smallest block an ISP hands a customer, so an
// attacker cannot rotate through the 2^64 addresses of their own network; IPv4 clients
// (and IPv4-mapped IPv6) per address.
//
// Each bucket is a GCRA cell: one int64 "theoretical arrival time", which is equivalent
// to a token bucket of Count tokens refilling at Count per Per.
package budget

import (
	"fmt"
	"hash/maphash"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Rate is Count failures per Per; a zero Count disables the limit.
type Rate struct {
	Count int
	Per   time.Duration
}

// String renders the rate as ParseRate reads it ("30/min").
func (r Rate) String() string {
	switch r.Per {
	case time.Second:
		return strconv.Itoa(r.Count) + "/s"
	case time.Minute:
		return strconv.Itoa(r.Count) + "/min"
	case time.Hour:
		return strconv.Itoa(r.Count) + "/h"
	}
	return strconv.Itoa(r.Count) + "/" + r.Per.String()
}

// ParseRate reads "30/min", "10/s", "100/h", "5/30s" (any Go duration after the slash),
// or "0" for no limit.
func ParseRate(s string) (Rate, error) {
	if strings.TrimSpace(s) == "0" {
		return Rate{}, nil
	}
	n, per, ok := strings.Cut(strings.TrimSpace(s), "/")
	count, err := strconv.Atoi(strings.TrimSpace(n))
	if !ok || err != nil || count < 0 {
		return Rate{}, fmt.Errorf("rate %q: want COUNT/UNIT, like 30/min", s)
	}
	var d time.Duration
	switch strings.TrimSpace(per) {
	case "s", "sec", "second":
		d = time.Second
	case "m", "min", "minute":
		d = time.Minute
	case "h", "hour":
		d = time.Hour
	default:
		d, err = time.ParseDuration(strings.TrimSpace(per))
		if err != nil || d <= 0 {
			return Rate{}, fmt.Errorf("rate %q: the unit must be s, min, h or a duration like 30s", s)
		}
	}
	return Rate{Count: count, Per: d}, nil
}

// Defaults of docs/design.md, section 2.
var (
	DefaultPerClient     = Rate{Count: 30, Per: time.Minute}
	DefaultPerCredential = Rate{Count: 10, Per: time.Minute}
)

// DefaultCapacity is the number of buckets in each table when Options.Capacity is zero:
// 65536 buckets of 16 bytes, 1 MiB per table.
const DefaultCapacity = 1 << 16

// Options configure a Budget.
type Options struct {
	PerClient     Rate
	PerCredential Rate
	// Capacity is the number of buckets in each table; DefaultCapacity when zero.
	Capacity int
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Budget is the pair of tables. It is safe for concurrent use.
type Budget struct {
	clients *table
	creds   *table
	now     func() time.Time
}

// New returns a Budget. Zero rates in o disable that side.
func New(o Options) *Budget {
	if o.Capacity <= 0 {
		o.Capacity = DefaultCapacity
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Budget{clients: newTable(o.PerClient, o.Capacity), creds: newTable(o.PerCredential, o.Capacity), now: o.Now}
}

// Allow reports whether a request from client presenting the credential credID may be
// verified. When it may not, retryAfter is how long until it may (for Retry-After). An
// invalid client address or an empty credID skips that side.
func (b *Budget) Allow(client netip.Addr, credID string) (ok bool, retryAfter time.Duration) {
	now := b.now().UnixNano()
	if client.IsValid() && b.clients != nil {
		if ok, wait := b.clients.allow(b.clients.hashAddr(client), now); !ok {
			retryAfter = wait
		}
	}
	if credID != "" && b.creds != nil {
		if ok, wait := b.creds.allow(b.creds.hashString(credID), now); !ok && wait > retryAfter {
			retryAfter = wait
		}
	}
	return retryAfter == 0, retryAfter
}

// Fail charges one failed authentication to client and to credID.
func (b *Budget) Fail(client netip.Addr, credID string) {
	now := b.now().UnixNano()
	if client.IsValid() && b.clients != nil {
		b.clients.fail(b.clients.hashAddr(client), now)
	}
	if credID != "" && b.creds != nil {
		b.creds.fail(b.creds.hashString(credID), now)
	}
}

// Len reports how many buckets hold failures that have not yet refilled.
func (b *Budget) Len() (clients, credentials int) {
	now := b.now().UnixNano()
	return b.clients.live(now), b.creds.live(now)
}

// Capacity reports the fixed number of buckets in each table.
func (b *Budget) Capacity() int {
	if b.clients != nil {
		return b.clients.capacity()
	}
	if b.creds != nil {
		return b.creds.capacity()
	}
	return 0
}

const (
	nShards   = 64
	groupSize = 8 // slots probed per key: 128 bytes, two cache lines
)

type slot struct {
	h   uint64 // 0: empty
	tat int64  // theoretical arrival time, unix ns; the bucket is full when tat <= now
}

type shard struct {
	mu    sync.Mutex
	slots []slot
	_     [40]byte // keep neighbouring shards' locks off one cache line
}

type table struct {
	seed     maphash.Seed
	interval int64 // ns per failure (Per / Count)
	burst    int64 // tolerance: Per - interval
	per      int64
	shards   [nShards]shard
}

func newTable(r Rate, capacity int) *table {
	if r.Count <= 0 || r.Per <= 0 {
		return nil
	}
	perShard := (capacity + nShards - 1) / nShards
	perShard = (perShard + groupSize - 1) / groupSize * groupSize
	t := &table{seed: maphash.MakeSeed(), per: int64(r.Per)}
	t.interval = int64(r.Per) / int64(r.Count)
	if t.interval <= 0 {
		t.interval = 1
	}
	t.burst = t.per - t.interval
	for i := range t.shards {
		t.shards[i].slots = make([]slot, perShard)
	}
	return t
}

func (t *table) capacity() int { return len(t.shards) * len(t.shards[0].slots) }

func (t *table) hashString(s string) uint64 { return maphash.String(t.seed, s) | 1 }

func (t *table) hashAddr(a netip.Addr) uint64 {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		a = p.Addr()
	}
	b := a.As16()
	return maphash.Bytes(t.seed, b[:]) | 1
}

// group returns the shard and the slots a key may live in.
func (t *table) group(h uint64) (*shard, []slot) {
	sh := &t.shards[h%nShards]
	n := uint64(len(sh.slots) / groupSize)
	start := int((h/nShards)%n) * groupSize
	return sh, sh.slots[start : start+groupSize]
}

func (t *table) allow(h uint64, now int64) (bool, time.Duration) {
	sh, g := t.group(h)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for i := range g {
		if g[i].h == h {
			// One more failure would push tat past now+Per: refuse until it would not.
			if wait := g[i].tat - t.burst - now; wait > 0 {
				return false, time.Duration(wait)
			}
			return true, 0
		}
	}
	return true, 0
}

func (t *table) fail(h uint64, now int64) {
	sh, g := t.group(h)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	var s *slot
	for i := range g {
		if g[i].h == h {
			s = &g[i]
			break
		}
	}
	if s == nil {
		// A free slot, or a refilled bucket (nothing to remember), or else the bucket
		// nearest to full, so heavy failers are forgotten last.
		victim := 0
		for i := range g {
			if g[i].h == 0 || g[i].tat <= now {
				victim = i
				break
			}
			if g[i].tat < g[victim].tat {
				victim = i
			}
		}
		s = &g[victim]
		s.h, s.tat = h, now
	}
	tat := max(s.tat, now) + t.interval
	s.tat = min(tat, now+t.per)
}

func (t *table) live(now int64) int {
	if t == nil {
		return 0
	}
	n := 0
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		for _, s := range sh.slots {
			if s.h != 0 && s.tat > now {
				n++
			}
		}
		sh.mu.Unlock()
	}
	return n
}
