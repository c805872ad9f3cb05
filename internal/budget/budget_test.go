package budget

import (
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time             { return c.t }
func (c *fakeClock) add(d time.Duration)        { c.t = c.t.Add(d) }
func newClock() *fakeClock                      { return &fakeClock{time.Unix(1_900_000_000, 0)} }
func addr(s string) netip.Addr                  { return netip.MustParseAddr(s) }
func newBudget(c *fakeClock, o Options) *Budget { o.Now = c.now; return New(o) }

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
	b := newBudget(c, Options{PerCredential: Rate{10, time.Minute}})
	for i := range 10 {
		if ok, _ := b.Allow(netip.Addr{}, "key1"); !ok {
			t.Fatalf("attempt %d refused; 10 failures per minute are allowed", i+1)
		}
		b.Fail(netip.Addr{}, "key1")
	}
	ok, retry := b.Allow(netip.Addr{}, "key1")
	if ok {
		t.Fatal("the 11th attempt within a minute was allowed")
	}
	if retry != 6*time.Second {
		t.Errorf("retryAfter = %v, want 6s (one failure refills every 6s)", retry)
	}
	if ok, _ := b.Allow(netip.Addr{}, "key2"); !ok {
		t.Error("another credential was refused")
	}
	c.add(retry)
	if ok, _ := b.Allow(netip.Addr{}, "key1"); !ok {
		t.Error("still refused after Retry-After elapsed")
	}
}

func TestSuccessesNeverConsumeBudget(t *testing.T) {
	c := newClock()
	b := newBudget(c, Options{PerClient: Rate{3, time.Minute}, PerCredential: Rate{3, time.Minute}})
	for range 1000 {
		// A success is an Allow without a Fail.
		if ok, _ := b.Allow(addr("192.0.2.1"), "alice"); !ok {
			t.Fatal("successful requests were refused")
		}
	}
	if cl, cr := b.Len(); cl != 0 || cr != 0 {
		t.Errorf("successes left buckets: %d clients, %d credentials", cl, cr)
	}
}

func TestClientBudgetIsPerAddressAndIPv6PerSlash64(t *testing.T) {
	c := newClock()
	b := newBudget(c, Options{PerClient: Rate{2, time.Minute}})
	fail := func(a string) {
		b.Fail(addr(a), "")
	}
	fail("2001:db8:1:2::1")
	fail("2001:db8:1:2:ffff::9") // same /64
	if ok, _ := b.Allow(addr("2001:db8:1:2::77"), ""); ok {
		t.Error("a third address in the same /64 was allowed after two failures")
	}
	if ok, _ := b.Allow(addr("2001:db8:1:3::1"), ""); !ok {
		t.Error("another /64 was refused")
	}
	fail("192.0.2.7")
	fail("::ffff:192.0.2.7") // IPv4-mapped is the same client
	if ok, _ := b.Allow(addr("192.0.2.7"), ""); ok {
		t.Error("IPv4 and its mapped form were counted apart")
	}
	if ok, _ := b.Allow(addr("192.0.2.8"), ""); !ok {
		t.Error("a neighbouring IPv4 address was refused")
	}
}

func TestRetryAfterIsTheLongerOfBothSides(t *testing.T) {
	c := newClock()
	b := newBudget(c, Options{PerClient: Rate{1, time.Minute}, PerCredential: Rate{1, time.Hour}})
	b.Fail(addr("192.0.2.1"), "k")
	ok, retry := b.Allow(addr("192.0.2.1"), "k")
	if ok || retry != time.Hour {
		t.Errorf("Allow = %v, %v; want refused for 1h", ok, retry)
	}
}

func TestZeroRatesDisableLimits(t *testing.T) {
	b := New(Options{})
	for range 100 {
		b.Fail(addr("192.0.2.1"), "k")
	}
	if ok, _ := b.Allow(addr("192.0.2.1"), "k"); !ok {
		t.Error("a budget with zero rates refused")
	}
}

// TestAddressSprayKeepsTableAtCapacity: a million distinct addresses, each failing once,
// leave memory where it was, and the client that failed most is still refused.
func TestAddressSprayKeepsTableAtCapacity(t *testing.T) {
	c := newClock()
	const capacity = 4096
	b := newBudget(c, Options{PerClient: DefaultPerClient, PerCredential: DefaultPerCredential, Capacity: capacity})
	attacker := addr("198.51.100.66")
	for range 30 {
		b.Fail(attacker, "")
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range 1_000_000 {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		if i%2 == 1 {
			a = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i), 15: 1})
		}
		b.Allow(a, "")
		b.Fail(a, "")
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
	if ok, _ := b.Allow(attacker, ""); ok {
		t.Error("the spray evicted the client that had failed most")
	}
}

func TestCredentialSprayDoesNotEvictExhaustedCredential(t *testing.T) {
	c := newClock()
	b := newBudget(c, Options{PerCredential: DefaultPerCredential, Capacity: 1024})
	for range 10 {
		b.Fail(netip.Addr{}, "alice")
	}
	for i := range 200_000 {
		b.Fail(netip.Addr{}, fmt.Sprintf("user%d", i))
	}
	if ok, _ := b.Allow(netip.Addr{}, "alice"); ok {
		t.Error("a spray of one-off user names evicted the exhausted credential")
	}
}

func TestRefilledBucketsAreReused(t *testing.T) {
	c := newClock()
	b := newBudget(c, Options{PerClient: Rate{5, time.Minute}, Capacity: 64})
	for i := range 64 {
		b.Fail(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), "")
	}
	c.add(2 * time.Minute)
	if cl, _ := b.Len(); cl != 0 {
		t.Errorf("%d buckets still live after they refilled", cl)
	}
}

func TestAllowAndFailAllocateNothing(t *testing.T) {
	b := New(Options{PerClient: DefaultPerClient, PerCredential: DefaultPerCredential})
	v4, v6 := addr("192.0.2.1"), addr("2001:db8::1")
	n := testing.AllocsPerRun(1000, func() {
		b.Allow(v4, "key-id-1")
		b.Fail(v4, "key-id-1")
		b.Allow(v6, "alice")
		b.Fail(v6, "alice")
	})
	if n != 0 {
		t.Errorf("Allow+Fail allocate %.1f times per call", n)
	}
}

func BenchmarkAllow(b *testing.B) {
	bud := New(Options{PerClient: DefaultPerClient, PerCredential: DefaultPerCredential})
	a := addr("192.0.2.1")
	b.ReportAllocs()
	for b.Loop() {
		bud.Allow(a, "key-id-1")
	}
}

func BenchmarkFailSpray(b *testing.B) {
	bud := New(Options{PerClient: DefaultPerClient})
	b.ReportAllocs()
	i := uint32(0)
	for b.Loop() {
		i++
		bud.Fail(netip.AddrFrom4([4]byte{byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}), "")
	}
}
