package budget

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
)

// testRedisAddr is the Redis the shared-budget tests use. They skip when it is not
// reachable, unless CI is set: there a missing Redis is a failure.
const testRedisAddr = "127.0.0.1:6379"

func needRedis(t testing.TB) {
	t.Helper()
	c, err := net.DialTimeout("tcp", testRedisAddr, time.Second)
	if err == nil {
		c.Close()
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("Redis at %s is not reachable (CI is set, so this fails): %v", testRedisAddr, err)
	}
	t.Skipf("Redis at %s is not reachable (%v); start it to run the shared-budget tests", testRedisAddr, err)
}

// testPrefix is a key prefix of this test alone, so parallel runs do not collide; its
// keys are deleted at the end.
func testPrefix(t testing.TB) string {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	p := "gatehouse-test:" + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() {
		c := redis.NewClient(&redis.Options{Addr: testRedisAddr})
		defer c.Close()
		ctx := context.Background()
		iter := c.Scan(ctx, 0, p+"*", 1000).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
	})
	return p
}

func redisBudget(t testing.TB, url, prefix string, o Options) *Budget {
	t.Helper()
	o.Redis.URL, o.Redis.Prefix = url, prefix
	if o.Redis.Timeout == 0 {
		o.Redis.Timeout = 2 * time.Second // the race detector and a busy machine are slow
	}
	return newBudget(t, nil, o)
}

var sharedOpts = Options{PerClient: Rate{30, time.Minute}, PerCredential: Rate{10, time.Minute}, PerCredentialGlobal: Rate{20, time.Minute}}

// TestRedisBudgetIsSharedBetweenReplicas: failures charged on one replica spend the
// budget on the other, with the local tables' semantics (10 per credential and client,
// the global limit sparing a client that succeeded, refunds returning units).
func TestRedisBudgetIsSharedBetweenReplicas(t *testing.T) {
	needRedis(t)
	prefix := testPrefix(t)
	a := redisBudget(t, "redis://"+testRedisAddr+"/0", prefix, sharedOpts)
	b := redisBudget(t, "redis://"+testRedisAddr+"/0", prefix, sharedOpts)
	attacker, victim := addr("198.51.100.66"), addr("192.0.2.10")

	for i := range 10 {
		if ok, _ := a.attempt(attacker, "root"); !ok {
			t.Fatalf("failure %d of 10 refused on replica A", i+1)
		}
	}
	ok, wait := b.allowed(attacker, "root")
	if ok {
		t.Fatal("replica B allowed an 11th failure charged on A")
	}
	if wait <= 0 || wait > 6*time.Second {
		t.Errorf("Retry-After from Redis = %v, want up to 6s (one failure refills every 6s)", wait)
	}
	if ok, _ := b.allowed(victim, "root"); !ok {
		t.Error("another address was refused on B: the per-credential limit must be keyed with the client")
	}

	// Reservations in flight hold their unit on every replica.
	var held []decision.Reservation
	for i := range 10 {
		r := b
		if i%2 == 0 {
			r = a
		}
		if res, ok, _ := r.Reserve(bg, victim, "alice"); ok {
			held = append(held, res)
		}
	}
	if ok, _ := a.allowed(victim, "alice"); ok || len(held) != 10 {
		t.Fatalf("%d reservations in flight, and an 11th allowed = %v", len(held), ok)
	}
	for _, r := range held {
		b.Settle(bg, r, decision.Void)
	}
	if ok, _ := a.allowed(victim, "alice"); !ok {
		t.Error("units returned on B are not seen on A")
	}

	// The victim succeeds on A; many addresses spend the global limit through B.
	if !a.succeed(victim, "root") {
		t.Fatal("the victim was refused")
	}
	for i := range 30 {
		b.attempt(netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}), "root")
	}
	if ok, _ := a.allowed(addr("203.0.113.200"), "root"); ok {
		t.Error("a new address was allowed on A after the global limit was spent on B")
	}
	if ok, _ := b.allowed(victim, "root"); !ok {
		t.Error("the victim's success on A does not exempt it on B")
	}
	if st := a.RedisStats(); !st.Up || st.Fallbacks != 0 || st.Calls == 0 {
		t.Errorf("stats %+v, want up, no fallbacks", st)
	}
}

// TestRedisKeysHoldNoCredential: keys are namespaced and carry a hash of the credential
// id, never the id itself.
func TestRedisKeysHoldNoCredential(t *testing.T) {
	needRedis(t)
	prefix := testPrefix(t)
	b := redisBudget(t, "redis://"+testRedisAddr+"/0", prefix, sharedOpts)
	b.attempt(addr("192.0.2.1"), "alice-the-user")
	b.succeed(addr("192.0.2.1"), "alice-the-user")
	b.attempt(addr("192.0.2.1"), "alice-the-user")
	c := redis.NewClient(&redis.Options{Addr: testRedisAddr})
	defer c.Close()
	keys, err := c.Keys(bg, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 4 {
		t.Errorf("keys %q, want the client, pair, global and success keys", keys)
	}
	for _, k := range keys {
		if strings.Contains(k, "alice") {
			t.Errorf("key %q holds the credential id", k)
		}
	}
}

// blockProxy forwards TCP to Redis while up; while down it accepts connections and never
// answers (a blocked Redis), and drops those it was forwarding.
type blockProxy struct {
	ln    net.Listener
	mu    sync.Mutex
	down  bool
	conns []net.Conn
	wg    sync.WaitGroup
}

func newBlockProxy(t *testing.T) *blockProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &blockProxy{ln: ln}
	p.wg.Go(p.serve)
	t.Cleanup(func() {
		ln.Close()
		p.setDown(true)
		p.wg.Wait()
	})
	return p
}

func (p *blockProxy) addr() string { return p.ln.Addr().String() }

func (p *blockProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.conns = append(p.conns, c)
		down := p.down
		p.mu.Unlock()
		if down {
			continue // held open, never answered, closed by setDown or cleanup
		}
		up, err := net.Dial("tcp", testRedisAddr)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, up)
		p.mu.Unlock()
		p.wg.Go(func() { io.Copy(up, c); up.Close() })
		p.wg.Go(func() { io.Copy(c, up); c.Close() })
	}
}

func (p *blockProxy) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// TestRedisOutageFallsBackToLocalBudgets: a Redis that stops answering costs a request
// at most the timeout, once per retry interval; meanwhile the local budgets decide
// (never refusing or allowing because of the outage), the outage is logged once and
// counted; when Redis answers again the budgets are shared again.
func TestRedisOutageFallsBackToLocalBudgets(t *testing.T) {
	needRedis(t)
	p := newBlockProxy(t)
	prefix := testPrefix(t)
	var logs syncBuffer
	o := sharedOpts
	o.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	o.Redis.Timeout = 300 * time.Millisecond
	o.Redis.RetryInterval = 500 * time.Millisecond
	a := redisBudget(t, "redis://"+p.addr()+"/0", prefix, o)
	other := redisBudget(t, "redis://"+testRedisAddr+"/0", prefix, sharedOpts)
	client := addr("198.51.100.7")

	a.attempt(client, "k1")
	if ok, _ := other.allowed(client, "k1"); !ok {
		t.Fatal("refused after one failure")
	}
	if st := a.RedisStats(); !st.Up || st.Calls == 0 {
		t.Fatalf("before the outage: %+v", st)
	}

	p.setDown(true)
	start := time.Now()
	for i := range 10 {
		if ok, _ := a.attempt(client, "k2"); !ok {
			t.Fatalf("failure %d of 10 refused during the outage: the local budget must allow it", i+1)
		}
	}
	if ok, _ := a.allowed(client, "k2"); ok {
		t.Error("the local budget allowed an 11th failure during the outage")
	}
	if ok, _ := a.allowed(addr("192.0.2.55"), "k2"); !ok {
		t.Error("a client that never failed was refused during the outage")
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("12 calls during the outage took %v: the circuit should keep them local", took)
	}
	st := a.RedisStats()
	if st.Up || st.Outages != 1 || st.Fallbacks < 12 {
		t.Errorf("during the outage: %+v, want down, 1 outage, at least 12 fallbacks", st)
	}
	if n := strings.Count(logs.String(), "Redis unavailable"); n != 1 {
		t.Errorf("the outage was logged %d times, want once:\n%s", n, logs.String())
	}

	p.setDown(false)
	deadline := time.Now().Add(10 * time.Second)
	for !a.RedisStats().Up && time.Now().Before(deadline) {
		a.allowed(client, "probe")
		time.Sleep(10 * time.Millisecond)
	}
	if !a.RedisStats().Up {
		t.Fatal("the budget never went back to Redis")
	}
	if n := strings.Count(logs.String(), "Redis answers again"); n != 1 {
		t.Errorf("the recovery was logged %d times, want once:\n%s", n, logs.String())
	}
	for range 10 {
		a.attempt(client, "k3")
	}
	if ok, _ := other.allowed(client, "k3"); ok {
		t.Error("after the recovery, failures on A are not seen by another replica")
	}
}

// TestRedisPasswordNeverLogged: a Redis that refuses the password is an outage; the log
// line does not hold the password.
func TestRedisPasswordNeverLogged(t *testing.T) {
	needRedis(t)
	var logs syncBuffer
	o := sharedOpts
	o.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	b := redisBudget(t, "redis://gatehouse:hunter2-secret@"+testRedisAddr+"/0", testPrefix(t), o)
	if ok, _ := b.attempt(addr("192.0.2.1"), "k"); !ok {
		t.Fatal("refused while Redis refuses the password: the local budget must decide")
	}
	if st := b.RedisStats(); st.Up || st.Outages != 1 {
		t.Fatalf("stats %+v, want the refused AUTH counted as an outage", st)
	}
	if !strings.Contains(logs.String(), "Redis unavailable") || strings.Contains(logs.String(), "hunter2") {
		t.Errorf("log:\n%s", logs.String())
	}
}

func TestRedisURLErrorsNeverQuoteIt(t *testing.T) {
	for _, u := range []string{"http://:hunter2@h:1/0", "redis://:hunter2@h:1/x", "redis://:hunter2@/0", "redis://:hunter2@h:1/0\x7f"} {
		_, err := New(Options{Redis: RedisOptions{URL: u}})
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("New(%q) error = %v", u, err)
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// BenchmarkRedisReserveSettle is what a verification that is not cached pays for the
// shared budget: two script calls (reserve, then return the unit of a success).
func BenchmarkRedisReserveSettle(b *testing.B) {
	needRedis(b)
	bud := redisBudget(b, "redis://"+testRedisAddr+"/0", testPrefix(b), sharedOpts)
	a := addr("192.0.2.1")
	b.ReportAllocs()
	for b.Loop() {
		if !bud.succeed(a, "alice") {
			b.Fatal("refused")
		}
	}
}
