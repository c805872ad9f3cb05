package jwt

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/tokens"
)

// fakeRevocations is a Revocations the test controls.
type fakeRevocations struct {
	mu      sync.Mutex
	jtis    map[string]bool
	clients map[string]bool
	subs    map[int]func()
	next    int
}

func newFakeRevocations() *fakeRevocations {
	return &fakeRevocations{jtis: map[string]bool{}, clients: map[string]bool{}, subs: map[int]func(){}}
}

func (f *fakeRevocations) IsRevoked(jti, clientID string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.jtis[jti] || f.clients[clientID]
}

func (f *fakeRevocations) OnRevoke(fn func()) func() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.next++
	id := f.next
	f.subs[id] = fn
	return func() { f.mu.Lock(); delete(f.subs, id); f.mu.Unlock() }
}

func (f *fakeRevocations) revoke(jti, client string) {
	f.mu.Lock()
	if jti != "" {
		f.jtis[jti] = true
	}
	if client != "" {
		f.clients[client] = true
	}
	subs := make([]func(), 0, len(f.subs))
	for _, fn := range f.subs {
		subs = append(subs, fn)
	}
	f.mu.Unlock()
	for _, fn := range subs {
		fn()
	}
}

func (f *fakeRevocations) subscribers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs)
}

// selfSetup is a Self authenticator over a ring holding es (an at+jwt signer) and a
// clock.
type selfSetup struct {
	a    *Self
	at   *tokens.Signer
	revs *fakeRevocations
	clk  *clock
	ring *tokens.KeyRing
}

func newSelfSetup(t testing.TB, mod func(*SelfConfig)) *selfSetup {
	t.Helper()
	s := signers(t)
	at, err := tokens.NewAccessTokenSigner(s.es.Key())
	if err != nil {
		t.Fatal(err)
	}
	set, err := tokens.ParseJWKS(tokens.PublicJWKS(s.es.Key()))
	if err != nil {
		t.Fatal(err)
	}
	clk := newClock()
	revs := newFakeRevocations()
	cfg := SelfConfig{
		Name: "self", Issuer: testIssuer, Audience: []string{testAudience}, Algorithms: []string{"ES256"},
		Keys: tokens.NewKeyRing(set), Revocations: revs, Now: clk.Now,
	}
	if mod != nil {
		mod(&cfg)
	}
	a, err := NewSelf(cfg)
	if err != nil {
		t.Fatalf("NewSelf: %v", err)
	}
	t.Cleanup(a.Close)
	return &selfSetup{a: a, at: at, revs: revs, clk: clk, ring: cfg.Keys}
}

func (s *selfSetup) reason(t *testing.T, tok string) decision.Reason {
	t.Helper()
	_, err := s.a.Authenticate(ctxT(t), bearer(tok))
	if err == nil {
		return ""
	}
	var f *decision.Failure
	if !errors.As(err, &f) {
		t.Fatalf("Authenticate: %v is not a *decision.Failure", err)
	}
	return f.Reason
}

func TestSelfAcceptsTheTokenServicesAccessTokens(t *testing.T) {
	s := newSelfSetup(t, nil)
	tok := sign(t, s.at, claimsAt(s.clk.Now(), "sub", "gc_app", "client_id", "gc_app"))
	p, err := s.a.Authenticate(ctxT(t), bearer(tok))
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	if p.Subject != "gc_app" || p.Authenticator != "self" || strings.Join(p.Scopes, " ") != "orders:read orders:write" {
		t.Errorf("principal %+v", p)
	}
	if !s.a.Ready() || s.a.Scheme() != "Bearer" {
		t.Error("a self authenticator is not Ready or not Bearer")
	}
	if err := s.a.Prefetch(ctxT(t)); err != nil {
		t.Errorf("Prefetch = %v; there is nothing to fetch", err)
	}
}

func TestSelfRefusesWithTheRightReason(t *testing.T) {
	s := newSelfSetup(t, nil)
	now := s.clk.Now()
	plain := signers(t).es // typ JWT, same key
	tests := []struct {
		name string
		tok  string
		want decision.Reason
	}{
		{"NotAnAccessTokenType", sign(t, plain, claimsAt(now)), decision.CredentialsMalformed},
		{"OtherKey", sign(t, signers(t).es2, claimsAt(now)), decision.TokenKeyUnknown},
		{"OtherIssuer", sign(t, s.at, claimsAt(now, "iss", "https://other.example")), decision.TokenIssuerMismatch},
		{"OtherAudience", sign(t, s.at, claimsAt(now, "aud", "api://billing")), decision.TokenAudienceMismatch},
		{"Expired", sign(t, s.at, claimsAt(now, "exp", now.Add(-time.Hour).Unix())), decision.TokenExpired},
		{"RSAlgorithmNotAllowed", sign(t, signers(t).rs, claimsAt(now)), decision.TokenAlgorithmRejected},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := s.reason(t, tc.tok); got != tc.want {
				t.Errorf("reason = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestSelfRevocationPurgesACachedToken: a token verified and cached is refused as
// token_revoked on the first request after the revocation, and so is every token of a
// removed client.
func TestSelfRevocationPurgesACachedToken(t *testing.T) {
	s := newSelfSetup(t, nil)
	now := s.clk.Now()
	tok := sign(t, s.at, claimsAt(now, "jti", "j-revoked", "client_id", "gc_a"))
	other := sign(t, s.at, claimsAt(now, "jti", "j-other", "client_id", "gc_a"))
	thirdParty := sign(t, s.at, claimsAt(now, "jti", "j-b", "client_id", "gc_b"))
	for range 2 {
		if r := s.reason(t, tok); r != "" {
			t.Fatalf("before revocation: %s", r)
		}
	}
	hits, _, _ := s.a.CacheStats()
	if hits == 0 {
		t.Fatal("the second verification was not a cache hit; the test would prove nothing")
	}
	s.revs.revoke("j-revoked", "")
	if r := s.reason(t, tok); r != decision.TokenRevoked {
		t.Errorf("after revocation: %q, want token_revoked", r)
	}
	if r := s.reason(t, other); r != "" {
		t.Errorf("another token of the client: %q", r)
	}
	s.revs.revoke("", "gc_a")
	if r := s.reason(t, other); r != decision.TokenRevoked {
		t.Errorf("a removed client's token: %q, want token_revoked", r)
	}
	if r := s.reason(t, thirdParty); r != "" {
		t.Errorf("another client's token: %q", r)
	}
}

// TestSelfRevocationRacingVerificationsNeverCachesARevokedToken runs verifications
// while the token is revoked; after the revocation returns, no call may succeed.
func TestSelfRevocationRacingVerificationsNeverCachesARevokedToken(t *testing.T) {
	for round := range 20 {
		s := newSelfSetup(t, nil)
		tok := sign(t, s.at, claimsAt(s.clk.Now(), "jti", "race"))
		var revoked atomic.Bool
		var wg sync.WaitGroup
		errs := make(chan string, 64)
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 200; i++ {
					after := revoked.Load()
					_, err := s.a.Authenticate(context.Background(), bearer(tok))
					if after && err == nil {
						errs <- "accepted after the revocation returned"
						return
					}
				}
			}()
		}
		s.revs.revoke("race", "")
		revoked.Store(true)
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Fatalf("round %d: %s", round, e)
		}
	}
}

func TestSelfReloadsKeysOnAnUnknownKid(t *testing.T) {
	var asked atomic.Int32
	var s *selfSetup
	s = newSelfSetup(t, func(c *SelfConfig) {
		c.RefreshKeys = func(ctx context.Context) bool {
			asked.Add(1)
			set, _ := tokens.ParseJWKS(tokens.PublicJWKS(signers(t).es.Key(), signers(t).es2.Key()))
			s.ring.Set(set)
			return true
		}
	})
	at2, _ := tokens.NewAccessTokenSigner(signers(t).es2.Key())
	if r := s.reason(t, sign(t, at2, claimsAt(s.clk.Now()))); r != "" {
		t.Errorf("a token of a key the ring learns on reload: %q", r)
	}
	if asked.Load() != 1 {
		t.Errorf("RefreshKeys asked %d times, want 1", asked.Load())
	}
}

func TestNewSelfRefusesIncompleteSettings(t *testing.T) {
	set := tokens.NewKeySet()
	for _, tc := range []struct {
		name string
		cfg  SelfConfig
		want string
	}{
		{"NoKeys", SelfConfig{Name: "s", Issuer: "i", Audience: []string{"a"}, Algorithms: []string{"ES256"}, Revocations: newFakeRevocations()}, "key ring"},
		{"NoRevocations", SelfConfig{Name: "s", Issuer: "i", Audience: []string{"a"}, Algorithms: []string{"ES256"}, Keys: tokens.NewKeyRing(set)}, "revocations"},
		{"NoAudience", SelfConfig{Name: "s", Issuer: "i", Algorithms: []string{"ES256"}, Keys: tokens.NewKeyRing(set), Revocations: newFakeRevocations()}, "audience is required"},
		{"HMAC", SelfConfig{Name: "s", Issuer: "i", Audience: []string{"a"}, Algorithms: []string{"HS256"}, Keys: tokens.NewKeyRing(set), Revocations: newFakeRevocations()}, "HS256 is not accepted"},
		{"NoIssuer", SelfConfig{Name: "s", Audience: []string{"a"}, Algorithms: []string{"ES256"}, Keys: tokens.NewKeyRing(set), Revocations: newFakeRevocations()}, "issuer URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewSelf(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("NewSelf = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestSelfCloseStopsFollowingRevocations(t *testing.T) {
	s := newSelfSetup(t, nil)
	if n := s.revs.subscribers(); n != 1 {
		t.Fatalf("%d subscribers, want 1", n)
	}
	s.a.Close()
	if n := s.revs.subscribers(); n != 0 {
		t.Errorf("%d subscribers after Close, want 0", n)
	}
	s.a.Close() // twice is harmless
}

// BenchmarkSelfCachedToken is the decision cost of a self-issued token already verified:
// the budget of docs/design.md, section 8 is at most a microsecond and a few allocations.
func BenchmarkSelfCachedToken(b *testing.B) {
	s := newSelfSetup(b, nil)
	tok := sign(b, s.at, claimsAt(s.clk.Now()))
	cred := bearer(tok)
	ctx := context.Background()
	if _, err := s.a.Authenticate(ctx, cred); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.a.Authenticate(ctx, cred); err != nil {
			b.Fatal(err)
		}
	}
}
