package explain

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)

func event(id string, i int) gateway.Event {
	return gateway.Event{
		RequestID:     id,
		Route:         "orders",
		Authenticator: "corp_jwt",
		Status:        401,
		Reason:        decision.TokenExpired,
		Detail:        "expired 4m12s ago",
		Fingerprint:   fmt.Sprintf("kid=k%d", i),
		Client:        netip.MustParseAddr("192.0.2.7"),
		Started:       t0.Add(time.Duration(i) * time.Second),
		Decision:      42 * time.Microsecond,
	}
}

func TestLookupReturnsTheEntryWithItsFix(t *testing.T) {
	r := New(4)
	r.Observe(event("req-1", 1))
	allowed := event("req-2", 2)
	allowed.Allow, allowed.Status, allowed.Reason, allowed.Detail, allowed.Subject = true, 200, "", "", "alice"
	r.Observe(allowed)

	tests := []struct {
		id   string
		want Entry
	}{
		{"req-1", Entry{
			RequestID: "req-1", Time: t0.Add(time.Second), Route: "orders", Authenticator: "corp_jwt",
			Status: 401, Reason: decision.TokenExpired, Detail: "expired 4m12s ago", Fingerprint: "kid=k1",
			Client: "192.0.2.7", DecisionMS: 0.042, Fix: "Get a new token; refresh before exp.",
		}},
		{"req-2", Entry{
			RequestID: "req-2", Time: t0.Add(2 * time.Second), Route: "orders", Authenticator: "corp_jwt",
			Allow: true, Status: 200, Subject: "alice", Fingerprint: "kid=k2",
			Client: "192.0.2.7", DecisionMS: 0.042, Fix: FixAllowed,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			got, ok := r.Lookup(tt.id)
			if !ok {
				t.Fatal("not found")
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("entry (-want +got):\n%s", diff)
			}
		})
	}
	if _, ok := r.Lookup("req-3"); ok {
		t.Error("an unseen id was found")
	}
}

func TestRingEvictsTheOldestWhenFull(t *testing.T) {
	const n = 5
	r := New(n)
	for i := range n + 1 {
		r.Observe(event(fmt.Sprintf("req-%d", i), i))
	}
	if _, ok := r.Lookup("req-0"); ok {
		t.Error("the oldest decision survived N+1 events")
	}
	for i := 1; i <= n; i++ {
		if _, ok := r.Lookup(fmt.Sprintf("req-%d", i)); !ok {
			t.Errorf("req-%d was evicted; only req-0 should be", i)
		}
	}
	if r.Len() != n {
		t.Errorf("Len %d; want %d", r.Len(), n)
	}
	// Many more events never grow it.
	for i := range 10 * n {
		r.Observe(event(fmt.Sprintf("more-%d", i), i))
	}
	if r.Len() != n || len(r.slots) != n {
		t.Errorf("after %d more events: Len %d, slots %d; want %d", 10*n, r.Len(), len(r.slots), n)
	}
}

func TestRepeatedRequestIDKeepsTheLatest(t *testing.T) {
	r := New(3)
	first := event("dup", 1)
	r.Observe(first)
	r.Observe(event("other", 2))
	second := event("dup", 3)
	second.Reason, second.Detail = decision.TokenRevoked, "revoked"
	r.Observe(second)
	got, ok := r.Lookup("dup")
	if !ok || got.Reason != decision.TokenRevoked || !got.Time.Equal(t0.Add(3*time.Second)) {
		t.Fatalf("Lookup(dup) = %+v, %v; want the second decision", got, ok)
	}
	// The latest is now the newest: two more events evict "other" and the hole the
	// first "dup" left, not "dup".
	r.Observe(event("a", 4))
	r.Observe(event("b", 5))
	if _, ok := r.Lookup("dup"); !ok {
		t.Error("the repeated id was evicted as if it kept its first position")
	}
	if _, ok := r.Lookup("other"); ok {
		t.Error("other should have been evicted")
	}
	if r.Len() > r.Size() {
		t.Errorf("Len %d exceeds Size %d", r.Len(), r.Size())
	}
}

func TestEventsThatCannotBeLookedUpAreNotKept(t *testing.T) {
	r := New(2)
	r.Observe(event("", 1))
	r.Observe(event(strings.Repeat("a", 129), 2))
	if r.Len() != 0 {
		t.Errorf("Len = %d, want 0", r.Len())
	}
	if n := New(0).Size(); n != 1 {
		t.Errorf("New(0).Size() = %d, want 1", n)
	}
}

func TestLongFieldsAreTruncatedOnARuneBoundary(t *testing.T) {
	r := New(1)
	ev := event("long", 1)
	ev.Detail = strings.Repeat("é", MaxFieldBytes) // 2 bytes a rune
	ev.Subject = strings.Repeat("s", 10*MaxFieldBytes)
	r.Observe(ev)
	got, _ := r.Lookup("long")
	for name, v := range map[string]string{"detail": got.Detail, "subject": got.Subject} {
		if len(v) > MaxFieldBytes || !strings.HasSuffix(v, "...") || !isValidUTF8(v) {
			t.Errorf("%s: %d bytes, suffix %q, valid UTF-8 %v", name, len(v), v[max(0, len(v)-5):], isValidUTF8(v))
		}
	}
}

func isValidUTF8(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

// TestConcurrentObserveAndLookup is meant for -race: writers and readers at once, with
// ids that collide, must leave the ring consistent.
func TestConcurrentObserveAndLookup(t *testing.T) {
	const n, writers, perWriter = 64, 8, 2000
	r := New(n)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				r.Observe(event(fmt.Sprintf("id-%d", (w*perWriter+i)%(3*n)), i))
			}
		}()
		go func() {
			defer wg.Done()
			for i := range perWriter {
				if e, ok := r.Lookup(fmt.Sprintf("id-%d", i%(3*n))); ok && !strings.HasPrefix(e.RequestID, "id-") {
					t.Errorf("Lookup returned %q", e.RequestID)
				}
			}
		}()
	}
	wg.Wait()
	if r.Len() > n {
		t.Fatalf("Len %d exceeds %d", r.Len(), n)
	}
}

// TestFixMatchesTheReasonsDocument keeps Fix and docs/reasons.md saying the same thing:
// every reason code has a fix, and it is the document's "what to do" column.
func TestFixMatchesTheReasonsDocument(t *testing.T) {
	doc, err := os.ReadFile("../../docs/reasons.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| <a id=\"([a-z_]+)\"></a>`[a-z_]+` \\| \\d+ \\| .*? \\| (.*) \\|$")
	documented := map[decision.Reason]string{}
	for _, m := range row.FindAllStringSubmatch(string(doc), -1) {
		documented[decision.Reason(m[1])] = strings.ReplaceAll(m[2], "`", "")
	}
	if len(documented) == 0 {
		t.Fatal("no rows parsed from docs/reasons.md")
	}
	for _, r := range append(slices.Clone(decision.Reasons), gateway.Reasons...) {
		if _, ok := documented[r]; !ok {
			t.Errorf("reason %s is not in docs/reasons.md", r)
		}
	}
	for r, want := range documented {
		if got := Fix(r); got != want {
			t.Errorf("Fix(%s) = %q\ndocs/reasons.md says %q", r, got, want)
		}
	}
	for r := range fixes {
		if _, ok := documented[r]; !ok {
			t.Errorf("Fix knows %s, which docs/reasons.md does not document", r)
		}
	}
	if Fix("") != FixAllowed || Fix("no_such_reason") != fixUnknown {
		t.Errorf("Fix(\"\") = %q, Fix(unknown) = %q", Fix(""), Fix("no_such_reason"))
	}
}

// BenchmarkObserve is the ring's cost per request: a full default-sized ring, a fresh
// id each time (as the gateway generates them), and a lookup now and then.
func BenchmarkObserve(b *testing.B) {
	r := New(DefaultSize)
	ids := make([]string, 4*DefaultSize)
	for i := range ids {
		ids[i] = fmt.Sprintf("%024x", i*7919)
	}
	for i := range DefaultSize {
		r.Observe(event(ids[i], i))
	}
	ev := event("", 1)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		ev.RequestID = ids[i%len(ids)]
		r.Observe(ev)
		i++
	}
	b.StopTimer()
	if _, ok := r.Lookup(ev.RequestID); !ok {
		b.Fatal("the last event is not kept")
	}
}

// BenchmarkLookup is the admin API's cost to find the oldest decision of a full ring.
func BenchmarkLookup(b *testing.B) {
	r := New(DefaultSize)
	for i := range DefaultSize {
		r.Observe(event(fmt.Sprintf("%024x", i), i))
	}
	oldest := fmt.Sprintf("%024x", 0)
	for b.Loop() {
		if _, ok := r.Lookup(oldest); !ok {
			b.Fatal("not found")
		}
	}
}

// TestSameClientRequestIDKeepsBothDecisions: two requests through a real gateway with the
// same X-Request-Id are kept under the gateway's ids, each with its own outcome; the
// client's id names neither.
func TestSameClientRequestIDKeepsBothDecisions(t *testing.T) {
	ring := New(16)
	gw := httptest.NewServer(gateway.New(gateway.Options{
		Realm:   "r",
		Routes:  []*gateway.Route{{Route: &decision.Route{Name: "open", PathPrefix: "/open", Anonymous: true}}},
		Logger:  slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Observe: ring.Observe,
	}))
	defer gw.Close()
	send := func(path string) (id string, status int) {
		req, _ := http.NewRequest("GET", gw.URL+path, nil)
		req.Header.Set("X-Request-Id", "same-id")
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header.Get("X-Request-Id"), resp.StatusCode
	}
	allowedID, s1 := send("/open/x")
	refusedID, s2 := send("/elsewhere")
	if s1 != 204 || s2 != 404 {
		t.Fatalf("statuses %d, %d; want 204, 404", s1, s2)
	}
	for _, tt := range []struct {
		id     string
		allow  bool
		reason decision.Reason
	}{{allowedID, true, ""}, {refusedID, false, decision.RouteNotFound}} {
		e, ok := ring.Lookup(tt.id)
		if !ok {
			t.Fatalf("request %s is not explainable", tt.id)
		}
		if e.Allow != tt.allow || e.Reason != tt.reason || e.ClientRequestID != "same-id" || e.RequestID != tt.id {
			t.Errorf("Lookup(%s) = %+v", tt.id, e)
		}
	}
	if _, ok := ring.Lookup("same-id"); ok {
		t.Error("the client's id finds a decision")
	}
}
