package budget

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time      { return c.t }
func (c *fakeClock) add(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *fakeClock               { return &fakeClock{time.Unix(1_900_000_000, 0)} }
func addr(s string) netip.Addr           { return netip.MustParseAddr(s) }

func newBudget(t testing.TB, c *fakeClock, o Options) *Budget {
	t.Helper()
	if c != nil {
		o.Now = c.now
	}
	b, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

var bg = context.Background()

// attempt is one verification that fails: a reservation kept as a failure.
func (b *Budget) attempt(client netip.Addr, cred string) (bool, time.Duration) {
	res, ok, wait := b.Reserve(bg, client, cred)
	if ok {
		b.Settle(bg, res, decision.Failed)
	}
	return ok, wait
}

// allowed reports whether a verification may run now, without charging anything.
func (b *Budget) allowed(client netip.Addr, cred string) (bool, time.Duration) {
	res, ok, wait := b.Reserve(bg, client, cred)
	if ok {
		b.Settle(bg, res, decision.Void)
	}
	return ok, wait
}

// succeed is one verification that succeeds.
func (b *Budget) succeed(client netip.Addr, cred string) bool {
	res, ok, _ := b.Reserve(bg, client, cred)
	if ok {
		b.Settle(bg, res, decision.Succeeded)
	}
	return ok
}

func TestParseRate(t *testing.T) {
	tests := []struct {
		in      string
		want    Rate
		wantErr bool
	}{
		{"30/min", Rate{30, time.Minute}, false},
		{"10/s", Rate{10, time.Second}, false},
		{"100/hour", Rate{100, time.Hour}, false},
		{"5/30s", Rate{5, 30 * time.Second}, false},
		{" 7 / m ", Rate{7, time.Minute}, false},
		{"0", Rate{}, false},
		{"30", Rate{}, true},
		{"x/min", Rate{}, true},
		{"-1/min", Rate{}, true},
		{"3/fortnight", Rate{}, true},
		{"3/-5s", Rate{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseRate(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("ParseRate(%q) error = %v, wantErr %v", tc.in, err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ParseRate(%q) (-want +got):\n%s", tc.in, diff)
			}
			if err == nil && got.Count > 0 {
				back, err := ParseRate(got.String())
				if err != nil || back != got {
					t.Errorf("String() = %q does not parse back: %v %v", got.String(), back, err)
				}
			}
		})
	}
}

func TestCredentialBudgetAllowsCountFailuresThenRefusesWithRetryAfter(t *testing.T) {
	c := newClock()
	b := newBudget(t, c, Options{PerCredential: Rate{10, time.Minute}})
	a := addr("192.0.2.1")
	for i := range 10 {
		if ok, _ := b.attempt(a, "key1"); !ok {
			t.Fatalf("attempt %d refused; 10 failures per minute are allowed", i+1)
		}
	}
	ok, retry := b.allowed(a, "key1")
	if ok {
		t.Fatal("the 11th attempt within a minute was allowed")
	}
	if retry != 6*time.Second {
		t.Errorf("retryAfter = %v, want 6s (one failure refills every 6s)", retry)
	}
	if ok, _ := b.allowed(a, "key2"); !ok {
		t.Error("another credential was refused")
	}
	c.add(retry)
	if ok, _ := b.allowed(a, "key1"); !ok {
		t.Error("still refused after Retry-After elapsed")
	}
}

// TestReservationsInFlightSpendTheBudget: verifications still running hold their unit,
// so a burst of concurrent guesses gets at most the budget's worth of verifications.
func TestReservationsInFlightSpendTheBudget(t *testing.T) {
	b := newBudget(t, newClock(), Options{PerClient: Rate{30, time.Minute}, PerCredential: Rate{10, time.Minute}})
	a := addr("192.0.2.1")
	var held []decision.Reservation
	for range 100 {
		if res, ok, _ := b.Reserve(bg, a, "root"); ok {
			held = append(held, res)
		}
	}
	if len(held) != 10 {
		t.Fatalf("%d reservations granted before any settled, want 10", len(held))
	}
	b.Settle(bg, held[0], decision.Void)
	if ok, _ := b.allowed(a, "root"); !ok {
		t.Error("a voided reservation did not return its unit")
	}
	b.Settle(bg, held[1], decision.Succeeded)
	for _, r := range held[2:] {
		b.Settle(bg, r, decision.Failed)
	}
	// 8 failures kept; the voided and the succeeded units came back.
	for i := range 2 {
		if ok, _ := b.attempt(a, "root"); !ok {
			t.Fatalf("failure %d of 10 refused: a returned unit was lost", 9+i)
		}
	}
	if ok, _ := b.allowed(a, "root"); ok {
		t.Error("allowed after 10 failures")
	}
}

func TestSuccessesNeverConsumeBudget(t *testing.T) {
	b := newBudget(t, newClock(), Options{PerClient: Rate{3, time.Minute}, PerCredential: Rate{3, time.Minute}, PerCredentialGlobal: Rate{3, time.Minute}})
	for range 1000 {
		if !b.succeed(addr("192.0.2.1"), "alice") {
			t.Fatal("successful requests were refused")
		}
	}
	if cl, cr := b.Len(); cl != 0 || cr != 0 {
		t.Errorf("successes left buckets: %d clients, %d credentials", cl, cr)
	}
}

// TestGuesserCannotLockOutTheOwner is the lock-out policy: one address guessing a
// credential spends its own budget; a client that has not failed, or has succeeded
// before, keeps working; guessing from many addresses is still bounded by the global
// per-credential limit, and the per-client limit still holds.
func TestGuesserCannotLockOutTheOwner(t *testing.T) {
	opts := Options{PerClient: Rate{30, time.Minute}, PerCredential: Rate{10, time.Minute}, PerCredentialGlobal: Rate{20, time.Minute}}
	attacker, victim, owner := addr("198.51.100.66"), addr("192.0.2.10"), addr("192.0.2.20")

	t.Run("attacker spends only its own budget", func(t *testing.T) {
		b := newBudget(t, newClock(), opts)
		for range 50 {
			b.attempt(attacker, "root")
		}
		if ok, _ := b.allowed(attacker, "root"); ok {
			t.Fatal("the attacker was not refused")
		}
		if !b.succeed(victim, "root") {
			t.Error("a client that never failed was refused because of another address's failures")
		}
	})
	t.Run("many addresses spend the global limit, which slows new clients", func(t *testing.T) {
		b := newBudget(t, newClock(), opts)
		if !b.succeed(owner, "root") {
			t.Fatal("owner refused")
		}
		granted := 0
		for i := range 100 {
			if ok, _ := b.attempt(netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}), "root"); ok {
				granted++
			}
		}
		if granted != 20 {
			t.Errorf("100 addresses got %d guesses on one credential, want the global 20", granted)
		}
		ok, wait := b.allowed(addr("192.0.2.99"), "root")
		if ok || wait <= 0 {
			t.Errorf("a brand-new client was not slowed by the spent global limit: %v %v", ok, wait)
		}
		if ok, _ := b.allowed(owner, "root"); !ok {
			t.Error("a client with a recent success was refused because of others' failures")
		}
		if ok, _ := b.allowed(addr("192.0.2.99"), "alice"); !ok {
			t.Error("another credential was refused")
		}
	})
	t.Run("the success memory expires", func(t *testing.T) {
		c := newClock()
		o := opts
		o.SuccessMemory = time.Hour
		b := newBudget(t, c, o)
		b.succeed(owner, "root")
		c.add(2 * time.Hour)
		for i := range 30 {
			b.attempt(netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}), "root")
		}
		if ok, _ := b.allowed(owner, "root"); ok {
			t.Error("a success two hours old still exempts from a spent global limit")
		}
	})
	t.Run("a client that succeeded is still limited on its own failures", func(t *testing.T) {
		b := newBudget(t, newClock(), opts)
		b.succeed(owner, "root")
		n := 0
		for range 50 {
			if ok, _ := b.attempt(owner, "root"); ok {
				n++
			}
		}
		if n != 10 {
			t.Errorf("%d failures granted after a success, want the per-credential 10", n)
		}
	})
	t.Run("the per-client limit still holds across credentials", func(t *testing.T) {
		b := newBudget(t, newClock(), opts)
		n := 0
		for i := range 100 {
			if ok, _ := b.attempt(attacker, fmt.Sprintf("user%d", i)); ok {
				n++
			}
		}
		if n != 30 {
			t.Errorf("one address got %d failures over many credentials, want 30", n)
		}
	})
}

func TestFailChargesPastTheLimit(t *testing.T) {
	c := newClock()
	b := newBudget(t, c, Options{PerClient: Rate{2, time.Minute}})
	for range 5 {
		b.Fail(bg, addr("192.0.2.1"), "")
	}
	_, wait := b.allowed(addr("192.0.2.1"), "")
	if wait != 30*time.Second {
		t.Errorf("after forced failures past the limit, wait %v; want 30s (a full bucket)", wait)
	}
}

func TestClientBudgetIsPerAddressAndIPv6PerSlash64(t *testing.T) {
	c := newClock()
	b := newBudget(t, c, Options{PerClient: Rate{2, time.Minute}})
	fail := func(a string) {
		b.Fail(bg, addr(a), "")
	}
	fail("2001:db8:1:2::1")
	fail("2001:db8:1:2:ffff::9") // same /64
	if ok, _ := b.allowed(addr("2001:db8:1:2::77"), ""); ok {
		t.Error("a third address in the same /64 was allowed after two failures")
	}
	if ok, _ := b.allowed(addr("2001:db8:1:3::1"), ""); !ok {
		t.Error("another /64 was refused")
	}
	fail("192.0.2.7")
	fail("::ffff:192.0.2.7") // IPv4-mapped is the same client
	if ok, _ := b.allowed(addr("192.0.2.7"), ""); ok {
		t.Error("IPv4 and its mapped form were counted apart")
	}
	if ok, _ := b.allowed(addr("192.0.2.8"), ""); !ok {
		t.Error("a neighbouring IPv4 address was refused")
	}
}

func TestRetryAfterIsTheLongestOfTheSpentLimits(t *testing.T) {
	c := newClock()
	b := newBudget(t, c, Options{PerClient: Rate{1, time.Minute}, PerCredential: Rate{1, time.Hour}})
	b.Fail(bg, addr("192.0.2.1"), "k")
	ok, retry := b.allowed(addr("192.0.2.1"), "k")
	if ok || retry != time.Hour {
		t.Errorf("Reserve = %v, %v; want refused for 1h", ok, retry)
	}
	// A refusal takes nothing: the client limit was not charged by the refused attempt.
	if ok, _ := b.allowed(addr("192.0.2.1"), "other"); ok {
		t.Error("the client limit (1/min, spent) allowed another credential")
	}
	c.add(time.Minute)
	if ok, _ := b.allowed(addr("192.0.2.1"), "other"); !ok {
		t.Error("a refused reservation kept a unit of the client limit")
	}
}

func TestZeroRatesDisableLimits(t *testing.T) {
	b := newBudget(t, nil, Options{})
	for range 100 {
		b.Fail(bg, addr("192.0.2.1"), "k")
	}
	if ok, _ := b.allowed(addr("192.0.2.1"), "k"); !ok {
		t.Error("a budget with zero rates refused")
	}
}

// TestAddressSprayKeepsTableAtCapacity: a million distinct addresses, each failing once,
// leave memory where it was, and the client that failed most is still refused.
func TestAddressSprayKeepsTableAtCapacity(t *testing.T) {
	c := newClock()
	const capacity = 4096
	b := newBudget(t, c, Options{PerClient: DefaultPerClient, PerCredential: DefaultPerCredential, Capacity: capacity})
	attacker := addr("198.51.100.66")
	for range 30 {
		b.Fail(bg, attacker, "")
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range 1_000_000 {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		if i%2 == 1 {
			a = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i), 15: 1})
		}
		b.attempt(a, "")
	}
	runtime.ReadMemStats(&after)
	if grew := int64(after.TotalAlloc) - int64(before.TotalAlloc); grew > 64<<10 {
		t.Errorf("a spray of 1,000,000 addresses allocated %d bytes; the tables are fixed", grew)
	}
	clients, _ := b.Len()
	if clients > b.Capacity() {
		t.Errorf("%d live client buckets, more than the capacity %d", clients, b.Capacity())
	}
	if b.Capacity() < capacity || b.Capacity() > capacity+nShards*groupSize {
		t.Errorf("Capacity = %d, want about %d", b.Capacity(), capacity)
	}
	if ok, _ := b.allowed(attacker, ""); ok {
		t.Error("the spray evicted the client that had failed most")
	}
}

func TestCredentialSprayDoesNotEvictExhaustedCredential(t *testing.T) {
	c := newClock()
	b := newBudget(t, c, Options{PerCredential: DefaultPerCredential, PerCredentialGlobal: DefaultPerCredential, Capacity: 1024})
	a := addr("192.0.2.1")
	for range 10 {
		b.Fail(bg, a, "alice")
	}
	for i := range 200_000 {
		b.Fail(bg, a, fmt.Sprintf("user%d", i))
	}
	if ok, _ := b.allowed(a, "alice"); ok {
		t.Error("a spray of one-off user names evicted the exhausted credential")
	}
}

func TestRefilledBucketsAreReused(t *testing.T) {
	c := newClock()
	b := newBudget(t, c, Options{PerClient: Rate{5, time.Minute}, Capacity: 64})
	for i := range 64 {
		b.Fail(bg, netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), "")
	}
	c.add(2 * time.Minute)
	if cl, _ := b.Len(); cl != 0 {
		t.Errorf("%d buckets still live after they refilled", cl)
	}
}

func TestLocalBudgetAllocatesNothing(t *testing.T) {
	b := newBudget(t, nil, Options{PerClient: DefaultPerClient, PerCredential: DefaultPerCredential, PerCredentialGlobal: DefaultPerCredentialGlobal})
	v4, v6 := addr("192.0.2.1"), addr("2001:db8::1")
	n := testing.AllocsPerRun(1000, func() {
		b.attempt(v4, "key-id-1")
		b.succeed(v6, "alice")
		b.allowed(v6, "alice")
		b.Fail(bg, v4, "key-id-2")
	})
	if n != 0 {
		t.Errorf("Reserve+Settle+Fail allocate %.1f times per call", n)
	}
}

func BenchmarkReserve(b *testing.B) {
	bud := newBudget(b, nil, Options{PerClient: DefaultPerClient, PerCredential: DefaultPerCredential, PerCredentialGlobal: DefaultPerCredentialGlobal})
	a := addr("192.0.2.1")
	b.ReportAllocs()
	for b.Loop() {
		bud.allowed(a, "key-id-1")
	}
}

func BenchmarkFailSpray(b *testing.B) {
	bud := newBudget(b, nil, Options{PerClient: DefaultPerClient})
	b.ReportAllocs()
	i := uint32(0)
	for b.Loop() {
		i++
		bud.Fail(bg, netip.AddrFrom4([4]byte{byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}), "")
	}
}
