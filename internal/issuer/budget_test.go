package issuer_test

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/budget"
	"github.com/gatehouse-dev/gatehouse/internal/issuer"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// gatedStore holds every client lookup until the test opens the gate, and counts them:
// each lookup is one client authentication being checked.
type gatedStore struct {
	store.TokenServiceStore
	lookups atomic.Int64
	gate    chan struct{}
}

func (s *gatedStore) Client(ctx context.Context, id string) (store.Client, error) {
	s.lookups.Add(1)
	select {
	case <-s.gate:
	case <-ctx.Done():
		return store.Client{}, ctx.Err()
	}
	return s.TokenServiceStore.Client(ctx, id)
}

// withClientHeader counts failures against the address in X-Test-Client, so one test
// can speak from several addresses.
func withClientHeader() envOption {
	return func(o *issuer.Options) {
		o.ClientAddr = func(r *http.Request) netip.Addr {
			a, _ := netip.ParseAddr(r.Header.Get("X-Test-Client"))
			return a
		}
	}
}

// TestConcurrentClientGuessesCostAtMostTheBudget: 60 wrong client authentications sent
// at once are checked at most the budget's worth of times; the rest get 429 without a
// lookup.
func TestConcurrentClientGuessesCostAtMostTheBudget(t *testing.T) {
	gs := &gatedStore{gate: make(chan struct{})}
	b := newBudget(t, budget.Options{PerClient: budget.Rate{Count: 5, Per: time.Minute}, PerCredential: budget.Rate{Count: 5, Per: time.Minute}})
	e := newEnv(t, withBudget(b), func(o *issuer.Options) { gs.TokenServiceStore = o.Store; o.Store = gs })
	const n = 60
	var refused atomic.Int64
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodPost, e.url+"/oauth2/token", strings.NewReader("grant_type=client_credentials"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(fmt.Sprintf("gc_guess%012d", i), "wrong")
			resp, err := e.client.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			statuses[i] = resp.StatusCode
			if resp.StatusCode == http.StatusTooManyRequests {
				refused.Add(1)
			}
		})
	}
	// Every request is either held in a lookup or already refused; then let them go.
	deadline := time.Now().Add(20 * time.Second)
	for gs.lookups.Load()+refused.Load() < n && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	close(gs.gate)
	wg.Wait()
	if got := gs.lookups.Load(); got > 5 {
		t.Errorf("%d concurrent guesses were checked; the budget allows 5", got)
	}
	checked := 0
	for _, s := range statuses {
		if s == http.StatusUnauthorized {
			checked++
		}
	}
	if checked != int(gs.lookups.Load()) || int(refused.Load()) != n-checked {
		t.Errorf("%d answered 401 and %d 429 for %d lookups", checked, refused.Load(), gs.lookups.Load())
	}
}

// TestGuessingAClientIDDoesNotLockOutTheClient: the client_id is public, so anyone can
// send wrong secrets for it; the real client, from another address, keeps working, and
// so does a client that succeeded before even when many addresses guess.
func TestGuessingAClientIDDoesNotLockOutTheClient(t *testing.T) {
	b := newBudget(t, budget.Options{PerClient: budget.Rate{Count: 30, Per: time.Minute},
		PerCredential: budget.Rate{Count: 10, Per: time.Minute}, PerCredentialGlobal: budget.Rate{Count: 20, Per: time.Minute}})
	e := newEnv(t, withBudget(b), withClientHeader())
	id, secret := e.newClient("a")
	from := func(a string) string { return "X-Test-Client: " + a }
	for range 15 {
		e.post("/oauth2/token", "grant_type=client_credentials", basic(id, "guess"), from("198.51.100.66"))
	}
	if r := e.post("/oauth2/token", "grant_type=client_credentials", basic(id, "guess"), from("198.51.100.66")); r.status != http.StatusTooManyRequests {
		t.Fatalf("the guessing address = %d, want 429", r.status)
	}
	if r := e.post("/oauth2/token", "grant_type=client_credentials", basic(id, secret), from("192.0.2.10")); r.status != http.StatusOK {
		t.Fatalf("the real client from another address = %d %s, want 200", r.status, r.body)
	}
	// Many addresses spend the global limit on this client_id.
	for i := range 40 {
		e.post("/oauth2/token", "grant_type=client_credentials", basic(id, "guess"), from(fmt.Sprintf("203.0.113.%d", i)))
	}
	if r := e.post("/oauth2/token", "grant_type=client_credentials", basic(id, "guess"), from("203.0.113.200")); r.status != http.StatusTooManyRequests {
		t.Errorf("a new address guessing after the global limit is spent = %d, want 429", r.status)
	}
	e.srv.Invalidate(store.Change{Kind: store.ChangeReset}) // the next check reserves from the budget
	if r := e.post("/oauth2/token", "grant_type=client_credentials", basic(id, secret), from("192.0.2.10")); r.status != http.StatusOK {
		t.Errorf("the client that succeeded before = %d %s, want 200", r.status, r.body)
	}
}
