package budget

// The shared budgets: the same limits as the local tables, kept in Redis so that every
// replica counts the same failures.
//
// Each limit is a GCRA cell stored as one string key holding its theoretical arrival
// time in microseconds of Redis's own clock (TIME), so replicas whose clocks differ
// still agree; the key expires when the bucket has refilled. Reserve, Fail and Settle
// are each one Lua script (EVALSHA, then EVAL when Redis does not have it cached), so
// taking a unit from several limits is atomic. Keys are
//
//	<prefix>c:<client>              failures of one client address
//	<prefix>k:<credential>:<client> failures on one credential from one client
//	<prefix>g:<credential>          failures on one credential from every client
//	<prefix>s:<credential>:<client> a recent success (exempts from the g: limit)
//
// where <client> is the hex of the counted address (IPv6 by /64) and <credential> the
// first 16 bytes, in hex, of the SHA-256 of the credential id: a credential id never
// appears in a key.
//
// Redis failing (unreachable, timing out, refusing) is never a verdict: the call falls
// back to the local tables, the outage is logged once, each fallback is counted, and
// Redis is tried again at most once per RetryInterval (one request probes; the others
// stay local meanwhile).

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
)

// Defaults of RedisOptions.
const (
	DefaultRedisPrefix   = "gatehouse:budget:"
	DefaultRedisTimeout  = 20 * time.Millisecond
	DefaultRedisRetry    = time.Second
	redisPoolSizePerCore = 4
)

// RedisOptions share the budgets through Redis.
type RedisOptions struct {
	// URL is redis://[user:password@]host:port/DB or rediss:// (TLS). Empty: local only.
	URL string
	// Prefix starts every key; DefaultRedisPrefix when empty.
	Prefix string
	// Timeout bounds each call, dial included; DefaultRedisTimeout when zero. A Redis
	// that does not answer within it costs the request at most that long, once per
	// RetryInterval.
	Timeout time.Duration
	// RetryInterval is how long after a failed call the local tables answer before Redis
	// is tried again; DefaultRedisRetry when zero.
	RetryInterval time.Duration
}

// RedisStats describes the shared budgets for metrics.
type RedisStats struct {
	// Configured reports whether a Redis URL was given.
	Configured bool
	// Up reports whether the last call to Redis succeeded.
	Up bool
	// Fallbacks counts the budget calls answered by the local tables because Redis could
	// not be used; Outages counts the transitions from up to down.
	Fallbacks, Outages uint64
	// Calls counts the scripts sent to Redis.
	Calls uint64
}

// RedisStats reports the state of the shared budgets.
func (b *Budget) RedisStats() RedisStats {
	if b.remote == nil {
		return RedisStats{}
	}
	r := b.remote
	return RedisStats{Configured: true, Up: !r.down.Load(), Fallbacks: r.fallbacks.Load(), Outages: r.outages.Load(), Calls: r.calls.Load()}
}

type remote struct {
	client   *redis.Client
	prefix   string
	timeout  time.Duration
	retry    time.Duration
	log      *slog.Logger
	password string // scrubbed from logged errors
	now      func() time.Time

	// limits, in microseconds: interval and window of each of client, pair, global.
	iv, per [3]int64
	memory  int64 // success memory, milliseconds

	down      atomic.Bool
	retryAt   atomic.Int64 // unix ns after which a probe may run
	probing   atomic.Bool
	fallbacks atomic.Uint64
	outages   atomic.Uint64
	calls     atomic.Uint64
	logMu     sync.Mutex // orders the transition log lines
}

// ParseRedisURL checks a Redis URL the way the budget will use it. Its errors never
// quote the URL, which may hold a password.
func ParseRedisURL(s string) (*redis.Options, error) {
	u, err := url.Parse(s)
	if err != nil {
		// url errors quote the whole URL, password included: do not wrap.
		return nil, errors.New("the redis URL does not parse")
	}
	switch u.Scheme {
	case "redis", "rediss":
	default:
		return nil, errors.New("unsupported redis URL scheme: use redis://HOST:PORT/DB or rediss://HOST:PORT/DB")
	}
	if u.Host == "" {
		return nil, errors.New("the redis URL has no host: use redis://HOST:PORT/DB")
	}
	o, err := redis.ParseURL(s)
	if err != nil {
		// go-redis messages may quote parts of the URL; say what is wrong without them.
		return nil, errors.New("the redis URL is not valid: the path must be a database number (redis://HOST:PORT/0) and options must be ones go-redis knows")
	}
	return o, nil
}

func newRemote(o Options) (*remote, error) {
	ro, err := ParseRedisURL(o.Redis.URL)
	if err != nil {
		return nil, fmt.Errorf("failure budget: %w", err)
	}
	r := &remote{
		prefix: o.Redis.Prefix, timeout: o.Redis.Timeout, retry: o.Redis.RetryInterval,
		log: o.Logger, password: ro.Password, now: o.Now,
	}
	if r.prefix == "" {
		r.prefix = DefaultRedisPrefix
	}
	if r.timeout <= 0 {
		r.timeout = DefaultRedisTimeout
	}
	if r.retry <= 0 {
		r.retry = DefaultRedisRetry
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	for i, rate := range []Rate{o.PerClient, o.PerCredential, o.PerCredentialGlobal} {
		if rate.Count > 0 && rate.Per > 0 {
			r.per[i] = rate.Per.Microseconds()
			r.iv[i] = max(r.per[i]/int64(rate.Count), 1)
		}
	}
	r.memory = max(o.SuccessMemory.Milliseconds(), 1)
	// One attempt per call, bounded by the timeout: a slow or absent Redis must cost a
	// request milliseconds, not the client's default seconds of retries.
	ro.DialTimeout, ro.ReadTimeout, ro.WriteTimeout, ro.PoolTimeout = r.timeout, r.timeout, r.timeout, r.timeout
	ro.MaxRetries = -1
	ro.DialerRetries = 1
	ro.DialerRetryTimeout = time.Millisecond
	ro.ContextTimeoutEnabled = true
	ro.DisableIdentity = true
	r.client = redis.NewClient(ro)
	return r, nil
}

func (r *remote) close() error { return r.client.Close() }

// usable reports whether this call may go to Redis: always while it is up; while it is
// down, for one caller at a time once the retry interval has passed.
func (r *remote) usable() bool {
	if !r.down.Load() {
		return true
	}
	if r.now().UnixNano() < r.retryAt.Load() || !r.probing.CompareAndSwap(false, true) {
		return false
	}
	return true
}

// done records the outcome of a call that usable allowed. ctxErr is the caller's own
// context error: a request that went away says nothing about Redis.
func (r *remote) done(err, ctxErr error) {
	defer r.probing.Store(false)
	if err == nil {
		if r.down.CompareAndSwap(true, false) {
			r.logMu.Lock()
			r.log.Info("failure budget: Redis answers again; budgets are shared between replicas")
			r.logMu.Unlock()
		}
		return
	}
	r.fallbacks.Add(1)
	if ctxErr != nil {
		return
	}
	r.retryAt.Store(r.now().Add(r.retry).UnixNano())
	if r.down.CompareAndSwap(false, true) {
		r.outages.Add(1)
		r.logMu.Lock()
		r.log.Warn("failure budget: Redis unavailable; each replica counts failures locally until it answers",
			"error", r.scrub(err), "retry_every", r.retry.String())
		r.logMu.Unlock()
	}
}

// scrub removes the password from an error text, should a library ever quote it.
func (r *remote) scrub(err error) string {
	s := err.Error()
	if r.password != "" {
		s = strings.ReplaceAll(s, r.password, "xxxxx")
	}
	return s
}

// keys returns the four keys of a request; a side that does not apply gets a key that
// the script does not touch (its interval is zero).
func (r *remote) keys(client netip.Addr, credID string) (ks [4]string, hasClient, hasCred bool) {
	var c, k string
	if client.IsValid() {
		a := clientBytes(client)
		c = hex.EncodeToString(a[:])
		hasClient = true
	}
	if credID != "" {
		sum := sha256.Sum256([]byte(credID))
		k = hex.EncodeToString(sum[:16])
		hasCred = true
	}
	ks[0] = r.prefix + "c:" + c
	ks[1] = r.prefix + "k:" + k + ":" + c
	ks[2] = r.prefix + "g:" + k
	ks[3] = r.prefix + "s:" + k + ":" + c
	return ks, hasClient, hasCred
}

// reserveScript takes one unit from each enabled limit, all or none.
// KEYS: client, pair, global, success. ARGV: force (1: charge even past the limit),
// check success (1/0), then interval and window of client, pair and global, in µs (an
// interval of 0 skips that limit). Returns {1, held} or {0, wait µs}.
var reserveScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local force = ARGV[1] == '1'
local exempt = ARGV[2] == '1' and redis.call('EXISTS', KEYS[4]) == 1
local held, wait, bit = 0, 0, 1
local tats = {}
for i = 1, 3 do
  local iv, per = tonumber(ARGV[1 + 2 * i]), tonumber(ARGV[2 + 2 * i])
  if iv > 0 and not (i == 3 and exempt) then
    local tat = tonumber(redis.call('GET', KEYS[i]) or '0')
    if tat < now then tat = now end
    tat = tat + iv
    if tat - now > per then
      if force then tat = now + per else wait = math.max(wait, tat - now - per) end
    end
    tats[i] = tat
    held = held + bit
  end
  bit = bit * 2
end
if wait > 0 then return {0, wait} end
for i, tat in pairs(tats) do
  redis.call('SET', KEYS[i], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 1)
end
return {1, held}
`)

// settleScript returns the units a reservation held and, on success, remembers it.
// KEYS as reserveScript. ARGV: held, success memory in ms (0: not a success), then the
// intervals of client, pair and global in µs.
var settleScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local held, bit = tonumber(ARGV[1]), 1
for i = 1, 3 do
  if held % (2 * bit) >= bit then
    local tat = redis.call('GET', KEYS[i])
    if tat then
      tat = tonumber(tat) - tonumber(ARGV[2 + i])
      if tat <= now then
        redis.call('DEL', KEYS[i])
      else
        redis.call('SET', KEYS[i], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 1)
      end
    end
  end
  bit = bit * 2
end
if tonumber(ARGV[2]) > 0 then redis.call('SET', KEYS[4], '1', 'PX', ARGV[2]) end
return 1
`)

// reserve runs reserveScript. An error means Redis could not decide (the caller falls
// back to the local tables); the fallback is counted here.
func (r *remote) reserve(ctx context.Context, client netip.Addr, credID string, force bool) (held uint8, ok bool, wait time.Duration, err error) {
	if !r.usable() {
		r.fallbacks.Add(1)
		return 0, false, 0, errDown
	}
	ks, hasClient, hasCred := r.keys(client, credID)
	var iv, per [3]int64
	if hasClient {
		iv[0], per[0] = r.iv[0], r.per[0]
	}
	if hasClient && hasCred {
		iv[1], per[1] = r.iv[1], r.per[1]
	}
	if hasCred {
		iv[2], per[2] = r.iv[2], r.per[2]
	}
	f, check := "0", "0"
	if force {
		f = "1"
	}
	if hasClient && hasCred {
		check = "1"
	}
	cctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	r.calls.Add(1)
	vals, err := reserveScript.Run(cctx, r.client, ks[:], f, check, iv[0], per[0], iv[1], per[1], iv[2], per[2]).Int64Slice()
	if err == nil && len(vals) != 2 {
		err = fmt.Errorf("reserve script returned %d values", len(vals))
	}
	r.done(err, ctx.Err())
	if err != nil {
		return 0, false, 0, err
	}
	if vals[0] == 0 {
		return 0, false, time.Duration(vals[1]) * time.Microsecond, nil
	}
	return uint8(vals[1]), true, 0, nil
}

var errDown = errors.New("redis is marked down")

// settle runs settleScript. A failure loses the refund (the budget errs on the strict
// side) but never the verdict.
func (r *remote) settle(ctx context.Context, res decision.Reservation, succeeded bool) {
	if !r.usable() {
		r.fallbacks.Add(1)
		return
	}
	ks, _, _ := r.keys(res.Client, res.CredID)
	mem := int64(0)
	if succeeded && res.Client.IsValid() && res.CredID != "" && r.iv[2] > 0 {
		mem = r.memory
	}
	held := res.Held &^ heldRemote
	if held == 0 && mem == 0 {
		r.probing.Store(false)
		return
	}
	cctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	r.calls.Add(1)
	err := settleScript.Run(cctx, r.client, ks[:], int64(held), mem, r.iv[0], r.iv[1], r.iv[2]).Err()
	r.done(err, ctx.Err())
}
