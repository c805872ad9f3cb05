// Package budget limits failed authentications (status 429 too_many_failures).
//
// The policy has three limits and a memory of successes:
//
//   - per client: failures from one client address, whatever the credential;
//   - per credential, keyed with the client: failures on one credential id from one
//     client address, so that one address guessing a credential spends its own budget
//     and nobody else's;
//   - per credential, all clients together (the global limit): failures on one
//     credential id from every address, which bounds a guesser that spreads over many
//     addresses. It refuses only clients without a recent success on that credential,
//     so a client that has proved it knows the credential keeps working while others
//     guess at it.
//
// A verification is paid for before it runs: Reserve takes one unit from every limit
// that applies (atomically: all or none), or refuses with the time to wait. Settle
// returns the unit when the credential verified (and remembers the success) or when the
// verification decided nothing; a failure keeps it. So N concurrent guesses cost at
// most the budget's worth of verifications. Fail charges a failure that needed no
// verification (a malformed credential).
//
// Buckets live in fixed-size tables allocated once, so memory stays the same however
// many addresses an attacker sprays: a new bucket takes a free slot, or the slot of a
// bucket that has refilled completely (it holds no state worth keeping), or, when every
// slot nearby is busy, the one closest to full. The client that has failed most is
// therefore the last to be forgotten. The local tables allocate nothing per call.
//
// IPv6 clients are counted per /64, the smallest block an ISP hands a customer, so an
// attacker cannot rotate through the 2^64 addresses of their own network; IPv4 clients
// (and IPv4-mapped IPv6) per address.
//
// Each bucket is a GCRA cell: one int64 "theoretical arrival time", which is equivalent
// to a token bucket of Count tokens refilling at Count per Per.
//
// With Options.Redis the same limits live in Redis, shared by every replica (see
// redis.go); the local tables then answer only while Redis cannot.
package budget

import (
	"context"
	"fmt"
	"hash/maphash"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
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

// The default limits.
var (
	DefaultPerClient           = Rate{Count: 30, Per: time.Minute}
	DefaultPerCredential       = Rate{Count: 10, Per: time.Minute}
	DefaultPerCredentialGlobal = Rate{Count: 100, Per: time.Minute}
)

// DefaultSuccessMemory is how long a client that verified a credential is exempt from
// that credential's global limit when Options.SuccessMemory is zero.
const DefaultSuccessMemory = 24 * time.Hour

// DefaultCapacity is the number of buckets in each table when Options.Capacity is zero:
// 65536 buckets of 16 bytes, 1 MiB per table.
const DefaultCapacity = 1 << 16

// Options configure a Budget. A zero Rate disables that limit.
type Options struct {
	// PerClient limits failures per client address.
	PerClient Rate
	// PerCredential limits failures per credential id from one client address.
	PerCredential Rate
	// PerCredentialGlobal limits failures per credential id from all addresses together,
	// for clients without a recent success on it.
	PerCredentialGlobal Rate
	// SuccessMemory is how long a success exempts its client from the credential's
	// global limit; DefaultSuccessMemory when zero.
	SuccessMemory time.Duration
	// Capacity is the number of buckets in each table; DefaultCapacity when zero.
	Capacity int
	// Now is the clock of the local tables; time.Now when nil. (Redis keeps its own.)
	Now func() time.Time
	// Redis, when its URL is set, shares the budgets between replicas.
	Redis RedisOptions
	// Logger receives the Redis outage and recovery lines; slog.Default when nil.
	Logger *slog.Logger
}

// What a Reservation holds (decision.Reservation.Held).
const (
	heldClient uint8 = 1 << iota
	heldPair
	heldGlobal
	heldRemote // taken in Redis rather than in the local tables
)

// Budget is the set of limits. It implements decision.Budget and is safe for
// concurrent use. Close releases the Redis connection, if any.
type Budget struct {
	clients *table // per client address
	pairs   *table // per (credential, client)
	global  *table // per credential
	success *table // recent successes per (credential, client); tat is the expiry
	memory  int64
	seed    maphash.Seed
	now     func() time.Time
	remote  *remote // nil: local only
}

var _ decision.Budget = (*Budget)(nil)

// New returns a Budget. It fails only for a Redis URL that does not parse; it does not
// wait for Redis to answer (an unreachable Redis means local budgets until it answers).
func New(o Options) (*Budget, error) {
	if o.Capacity <= 0 {
		o.Capacity = DefaultCapacity
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.SuccessMemory <= 0 {
		o.SuccessMemory = DefaultSuccessMemory
	}
	b := &Budget{
		clients: newTable(o.PerClient, o.Capacity),
		pairs:   newTable(o.PerCredential, o.Capacity),
		global:  newTable(o.PerCredentialGlobal, o.Capacity),
		memory:  int64(o.SuccessMemory),
		seed:    maphash.MakeSeed(),
		now:     o.Now,
	}
	if b.global != nil {
		b.success = newTable(Rate{Count: 1, Per: o.SuccessMemory}, o.Capacity)
	}
	if o.Redis.URL != "" {
		r, err := newRemote(o)
		if err != nil {
			return nil, err
		}
		b.remote = r
	}
	return b, nil
}

// Close releases the Redis connection; a local-only Budget has nothing to release.
func (b *Budget) Close() error {
	if b.remote == nil {
		return nil
	}
	return b.remote.close()
}

// keys are the hashes a request's buckets live under.
type keys struct {
	client, pair, cred uint64 // 0: that side does not apply
}

func (b *Budget) keys(client netip.Addr, credID string) keys {
	var k keys
	var a [16]byte
	if client.IsValid() {
		a = clientBytes(client)
		k.client = maphash.Bytes(b.seed, a[:]) | 1
	}
	if credID != "" {
		k.cred = maphash.String(b.seed, credID) | 1
		if client.IsValid() {
			var h maphash.Hash
			h.SetSeed(b.seed)
			h.Write(a[:])
			h.WriteString(credID)
			k.pair = h.Sum64() | 1
		}
	}
	return k
}

// clientBytes is the address failures are counted under: IPv4 (and IPv4-mapped IPv6)
// as is, IPv6 by its /64.
func clientBytes(a netip.Addr) [16]byte {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		a = p.Addr()
	}
	return a.As16()
}

// Reserve takes one failure from every limit that applies to a verification of credID
// presented by client, or, when any of them is spent, takes nothing and reports how long
// until all would allow it. An invalid client address skips the per-client limits; an
// empty credID the per-credential ones.
func (b *Budget) Reserve(ctx context.Context, client netip.Addr, credID string) (decision.Reservation, bool, time.Duration) {
	res := decision.Reservation{Client: client, CredID: credID}
	if b.remote != nil {
		if held, ok, wait, err := b.remote.reserve(ctx, client, credID, false); err == nil {
			if !ok {
				// Remembered locally, so that Open refuses this guesser's next
				// requests without asking Redis.
				b.reserveLocal(b.keys(client, credID), b.now().UnixNano(), true)
			}
			res.Held = held | heldRemote
			return res, ok, wait
		}
	}
	held, ok, wait := b.reserveLocal(b.keys(client, credID), b.now().UnixNano(), false)
	res.Held = held
	return res, ok, wait
}

// Fail charges one failure to client and credID without a reservation, even past the
// limit (the bucket is then full for a whole window).
func (b *Budget) Fail(ctx context.Context, client netip.Addr, credID string) {
	if b.remote != nil {
		b.remote.reserve(ctx, client, credID, true)
	}
	b.reserveLocal(b.keys(client, credID), b.now().UnixNano(), true)
}

// Open reports, from this process's tables alone and without waiting for anything,
// whether a reservation for client and credID would be granted. Decide answers a
// credential from an authenticator's cache only when it is: otherwise a spent budget
// would still tell a guesser which guess is the cached, right one.
//
// With Redis, the local tables also hold every failure and refusal this process saw,
// so a guesser refused once by the shared budget is refused here without a round trip.
func (b *Budget) Open(client netip.Addr, credID string) bool {
	k := b.keys(client, credID)
	now := b.now().UnixNano()
	if b.clients.spent(k.client, now) || b.pairs.spent(k.pair, now) {
		return false
	}
	if b.global.spent(k.cred, now) {
		return k.pair != 0 && b.success != nil && b.success.holds(k.pair, now)
	}
	return true
}

// Remember records that client presented credID successfully without a reservation
// (Decide answered it from an authenticator's cache), so that the success exempts it
// from the credential's global limit as a verified one does. It never waits: when this
// process remembered the pair within the last SuccessMemory/24 it does nothing; else it
// marks the local table and, with Redis, sends the mark in the background.
func (b *Budget) Remember(client netip.Addr, credID string) {
	if b.success == nil || !client.IsValid() || credID == "" {
		return
	}
	k := b.keys(client, credID)
	now := b.now().UnixNano()
	if b.success.holds(k.pair, now+b.memory-b.memory/24) {
		return
	}
	b.success.mark(k.pair, now+b.memory)
	if b.remote != nil {
		go b.remote.settle(context.Background(), decision.Reservation{Client: client, CredID: credID, Held: heldRemote}, true)
	}
}

// Settle ends a reservation: Failed keeps the unit spent; Succeeded and Void return it,
// and Succeeded remembers that the client knows the credential.
func (b *Budget) Settle(ctx context.Context, res decision.Reservation, o decision.Outcome) {
	if o == decision.Failed {
		if res.Held&heldRemote != 0 {
			// Mirrored locally: Open and the fallback then know this client failed.
			b.reserveLocal(b.keys(res.Client, res.CredID), b.now().UnixNano(), true)
		}
		return
	}
	if res.Held == 0 && o != decision.Succeeded {
		return
	}
	succeeded := o == decision.Succeeded
	if res.Held&heldRemote != 0 {
		b.remote.settle(ctx, res, succeeded)
	} else {
		b.settleLocal(b.keys(res.Client, res.CredID), res.Held, b.now().UnixNano(), false)
	}
	if succeeded {
		// Remembered here too, so that a Redis outage does not forget who succeeded.
		b.settleLocal(b.keys(res.Client, res.CredID), 0, b.now().UnixNano(), true)
	}
}

func (b *Budget) reserveLocal(k keys, now int64, force bool) (held uint8, ok bool, retryAfter time.Duration) {
	exempt := k.pair != 0 && b.success != nil && b.success.holds(k.pair, now)
	var wait int64
	take := func(t *table, h uint64, bit uint8) {
		if t == nil || h == 0 {
			return
		}
		if w := t.take(h, now, force); w > 0 {
			wait = max(wait, w)
			return
		}
		held |= bit
	}
	take(b.clients, k.client, heldClient)
	take(b.pairs, k.pair, heldPair)
	if !exempt {
		take(b.global, k.cred, heldGlobal)
	}
	if wait > 0 {
		b.settleLocal(k, held, now, false)
		return 0, false, time.Duration(wait)
	}
	return held, true, 0
}

func (b *Budget) settleLocal(k keys, held uint8, now int64, succeeded bool) {
	if held&heldClient != 0 {
		b.clients.give(k.client, now)
	}
	if held&heldPair != 0 {
		b.pairs.give(k.pair, now)
	}
	if held&heldGlobal != 0 {
		b.global.give(k.cred, now)
	}
	if succeeded && k.pair != 0 && b.success != nil {
		b.success.mark(k.pair, now+b.memory)
	}
}

// Len reports how many buckets hold failures that have not yet refilled: per client,
// and per credential (keyed with the client).
func (b *Budget) Len() (clients, credentials int) {
	now := b.now().UnixNano()
	return b.clients.live(now), b.pairs.live(now)
}

// Capacity reports the fixed number of buckets in each table.
func (b *Budget) Capacity() int {
	for _, t := range []*table{b.clients, b.pairs, b.global} {
		if t != nil {
			return t.capacity()
		}
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
	interval int64 // ns per failure (Per / Count)
	per      int64
	shards   [nShards]shard
}

func newTable(r Rate, capacity int) *table {
	if r.Count <= 0 || r.Per <= 0 {
		return nil
	}
	perShard := (capacity + nShards - 1) / nShards
	perShard = (perShard + groupSize - 1) / groupSize * groupSize
	t := &table{per: int64(r.Per)}
	t.interval = int64(r.Per) / int64(r.Count)
	if t.interval <= 0 {
		t.interval = 1
	}
	for i := range t.shards {
		t.shards[i].slots = make([]slot, perShard)
	}
	return t
}

func (t *table) capacity() int { return len(t.shards) * len(t.shards[0].slots) }

// group returns the shard and the slots a key may live in.
func (t *table) group(h uint64) (*shard, []slot) {
	sh := &t.shards[h%nShards]
	n := uint64(len(sh.slots) / groupSize)
	start := int((h/nShards)%n) * groupSize
	return sh, sh.slots[start : start+groupSize]
}

// find returns the slot of h, or nil.
func find(g []slot, h uint64) *slot {
	for i := range g {
		if g[i].h == h {
			return &g[i]
		}
	}
	return nil
}

// claim returns a slot for a new key: a free slot, or a refilled bucket (nothing to
// remember), or else the bucket nearest to full, so heavy failers are forgotten last.
func claim(g []slot, h uint64, now int64) *slot {
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
	s := &g[victim]
	s.h, s.tat = h, now
	return s
}

// take adds one failure to h's bucket and returns 0, or, when that would overflow the
// bucket and force is false, leaves it and returns the nanoseconds until it would not.
// Forced, the bucket is at most full.
func (t *table) take(h uint64, now int64, force bool) (wait int64) {
	sh, g := t.group(h)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	s := find(g, h)
	tat := now
	if s != nil {
		tat = max(s.tat, now)
	}
	tat += t.interval
	if over := tat - now - t.per; over > 0 {
		if !force {
			return over
		}
		tat = now + t.per
	}
	if s == nil {
		s = claim(g, h, now)
	}
	s.tat = tat
	return 0
}

// give returns one failure to h's bucket.
func (t *table) give(h uint64, now int64) {
	sh, g := t.group(h)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if s := find(g, h); s != nil && s.tat > now {
		s.tat = max(s.tat-t.interval, now)
	}
}

// mark records h until the time until (the success table).
func (t *table) mark(h uint64, until int64) {
	sh, g := t.group(h)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	s := find(g, h)
	if s == nil {
		s = claim(g, h, until-t.per)
	}
	s.tat = until
}

// spent reports whether one more failure for h would be refused now; a nil table or a
// zero h is never spent.
func (t *table) spent(h uint64, now int64) bool {
	if t == nil || h == 0 {
		return false
	}
	sh, g := t.group(h)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	s := find(g, h)
	return s != nil && max(s.tat, now)+t.interval-now > t.per
}

// holds reports whether h is recorded and not yet expired (the success table).
func (t *table) holds(h uint64, now int64) bool {
	sh, g := t.group(h)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	s := find(g, h)
	return s != nil && s.tat > now
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
