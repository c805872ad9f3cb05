package jwt

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/tokens"
)

func reasonOf(t testing.TB, err error) (decision.Reason, *decision.Failure) {
	t.Helper()
	if err == nil {
		return "", nil
	}
	var f *decision.Failure
	if !errors.As(err, &f) {
		t.Fatalf("error %T %v is not a *decision.Failure", err, err)
	}
	return f.Reason, f
}

// signerWithKid returns a signer over a fresh ES256 key with the given kid.
func signerWithKid(t testing.TB, kid string) *tokens.Signer {
	t.Helper()
	k, err := tokens.GenerateES256()
	if err != nil {
		t.Fatal(err)
	}
	k.ID = kid
	s, err := tokens.NewSigner(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestJWKSIsFetchedLazilyOnFirstUse(t *testing.T) {
	s := signers(t)
	srv := newJWKSServer(t, s.es)
	clk := newClock()
	log := &fetchLog{}
	a := mustNew(t, remoteConfig(srv, clk, log))
	if srv.hits.Load() != 0 || a.Ready() {
		t.Fatalf("New fetched (%d hits) or is ready before any use", srv.hits.Load())
	}
	if _, err := a.Authenticate(ctxT(t), bearer(sign(t, s.es, claimsAt(clk.Now())))); err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	if srv.hits.Load() != 1 || !a.Ready() {
		t.Errorf("hits %d ready %v, want 1 true", srv.hits.Load(), a.Ready())
	}
	if diff := cmp.Diff([]string{FetchOK}, log.get()); diff != "" {
		t.Errorf("OnFetch (-want +got):\n%s", diff)
	}
}

func TestPrefetchLoadsTheKeySetAtStartup(t *testing.T) {
	srv := newJWKSServer(t, signers(t).es)
	a := mustNew(t, remoteConfig(srv, newClock(), nil))
	if err := a.Prefetch(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if !a.Ready() || srv.hits.Load() != 1 {
		t.Fatalf("ready %v hits %d", a.Ready(), srv.hits.Load())
	}
}

func TestUnknownKidTriggersARefetchThatFindsARotatedKey(t *testing.T) {
	s := signers(t)
	srv := newJWKSServer(t, s.es)
	clk := newClock()
	a := mustNew(t, remoteConfig(srv, clk, nil))
	if err := a.Prefetch(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Minute) // past MinRefresh since the startup fetch
	srv.setKeys(s.es, s.es2)     // the issuer rotates in es-2
	_, err := a.Authenticate(ctxT(t), bearer(sign(t, s.es2, claimsAt(clk.Now()))))
	if err != nil {
		t.Fatalf("token signed with the rotated-in key: %v", err)
	}
	if got := srv.hits.Load(); got != 2 {
		t.Errorf("hits %d, want 2 (startup + one refetch)", got)
	}
}

func TestSprayingUnknownKidsCausesAtMostOneFetchPerMinRefresh(t *testing.T) {
	s := signers(t)
	srv := newJWKSServer(t, s.es)
	clk := newClock()
	a := mustNew(t, remoteConfig(srv, clk, nil))
	if err := a.Prefetch(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Minute)
	// 100 tokens with random kids, half of them concurrently.
	attackers := make([]string, 100)
	for i := range attackers {
		attackers[i] = sign(t, signerWithKid(t, fmt.Sprintf("spray-%d", i)), claimsAt(clk.Now()))
	}
	var wg sync.WaitGroup
	for _, tok := range attackers[:50] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := a.Authenticate(ctxT(t), bearer(tok))
			if r, _ := reasonOf(t, err); r != decision.TokenKeyUnknown {
				t.Errorf("reason %s, want token_key_unknown", r)
			}
		}()
	}
	wg.Wait()
	for _, tok := range attackers[50:] {
		_, err := a.Authenticate(ctxT(t), bearer(tok))
		if r, _ := reasonOf(t, err); r != decision.TokenKeyUnknown {
			t.Errorf("reason %s, want token_key_unknown", r)
		}
	}
	if got := srv.hits.Load(); got > 2 {
		t.Fatalf("%d fetches for 100 unknown kids, want at most 2 (startup + one refetch)", got)
	}
	// The next interval allows exactly one more.
	clk.Advance(time.Minute)
	for i := range 20 {
		_, _ = a.Authenticate(ctxT(t), bearer(sign(t, signerWithKid(t, fmt.Sprintf("later-%d", i)), claimsAt(clk.Now()))))
	}
	if got := srv.hits.Load(); got > 3 {
		t.Fatalf("%d fetches after a second interval, want at most 3", got)
	}
}

func TestKidStillUnknownAfterARefetchIsNegativelyCached(t *testing.T) {
	s := signers(t)
	srv := newJWKSServer(t, s.es)
	clk := newClock()
	a := mustNew(t, remoteConfig(srv, clk, nil))
	if err := a.Prefetch(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	ghost := signerWithKid(t, "ghost")
	clk.Advance(2 * time.Minute)
	_, _ = a.Authenticate(ctxT(t), bearer(sign(t, ghost, claimsAt(clk.Now()))))
	if got := srv.hits.Load(); got != 2 {
		t.Fatalf("hits %d, want 2", got)
	}
	// Past MinRefresh but within NegativeTTL: the same kid does not fetch again...
	clk.Advance(2 * time.Minute)
	_, err := a.Authenticate(ctxT(t), bearer(sign(t, ghost, claimsAt(clk.Now(), "jti", "j-2"))))
	if r, _ := reasonOf(t, err); r != decision.TokenKeyUnknown || srv.hits.Load() != 2 {
		t.Fatalf("reason %s hits %d, want token_key_unknown and still 2", r, srv.hits.Load())
	}
	// ...while another unknown kid may.
	_, _ = a.Authenticate(ctxT(t), bearer(sign(t, signerWithKid(t, "other"), claimsAt(clk.Now()))))
	if got := srv.hits.Load(); got != 3 {
		t.Fatalf("hits %d, want 3", got)
	}
	// After NegativeTTL the ghost kid may be looked up again, and once it is published
	// it verifies.
	clk.Advance(6 * time.Minute)
	srv.setKeys(s.es, ghost)
	if _, err := a.Authenticate(ctxT(t), bearer(sign(t, ghost, claimsAt(clk.Now(), "jti", "j-3")))); err != nil {
		t.Fatalf("published ghost key: %v", err)
	}
}

func TestJWKSOutageKeepsTheLastGoodSetUntilMaxStaleThenAnswers503(t *testing.T) {
	s := signers(t)
	srv := newJWKSServer(t, s.es)
	srv.set(func(s *jwksServer) { s.cacheControl = "max-age=300" })
	clk := newClock()
	log := &fetchLog{}
	a := mustNew(t, remoteConfig(srv, clk, log)) // MaxStale 1h
	if err := a.Prefetch(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	srv.set(func(s *jwksServer) { s.status = http.StatusServiceUnavailable; s.doc = []byte("down") })

	// Past max-age: the stale set still decides, and a background refresh is attempted.
	clk.Advance(10 * time.Minute)
	if _, err := a.Authenticate(ctxT(t), bearer(sign(t, s.es, claimsAt(clk.Now())))); err != nil {
		t.Fatalf("within MaxStale: %v", err)
	}
	waitFor(t, "the background refresh", func() bool { return len(log.get()) == 2 })
	if diff := cmp.Diff([]string{FetchOK, FetchError}, log.get()); diff != "" {
		t.Errorf("OnFetch (-want +got):\n%s", diff)
	}
	// A bad token is still a 401 while the set is usable.
	_, err := a.Authenticate(ctxT(t), bearer(sign(t, s.es, claimsAt(clk.Now(), "aud", "api://billing"))))
	if r, _ := reasonOf(t, err); r != decision.TokenAudienceMismatch {
		t.Errorf("reason %s, want token_audience_mismatch", r)
	}
	// An unknown kid during the outage is not the client's fault: 503, not 401.
	clk.Advance(2 * time.Minute)
	_, err = a.Authenticate(ctxT(t), bearer(sign(t, signerWithKid(t, "new"), claimsAt(clk.Now()))))
	if r, f := reasonOf(t, err); r != decision.AuthenticatorUnavailable || f.RetryAfter <= 0 {
		t.Errorf("unknown kid during outage: reason %s, want authenticator_unavailable with Retry-After", r)
	}

	// Past MaxStale: nothing can decide an uncached token.
	clk.Advance(time.Hour)
	fresh := sign(t, s.es, claimsAt(clk.Now(), "jti", "other"))
	_, err = a.Authenticate(ctxT(t), bearer(fresh))
	r, f := reasonOf(t, err)
	if r != decision.AuthenticatorUnavailable {
		t.Fatalf("past MaxStale: reason %s, want authenticator_unavailable", r)
	}
	if f.RetryAfter < time.Second || r.Status() != 503 {
		t.Errorf("RetryAfter %v status %d", f.RetryAfter, r.Status())
	}
	if a.Ready() {
		t.Error("Ready after MaxStale")
	}

	// The issuer comes back: the next request after the backoff fetches and verifies.
	srv.setKeys(s.es)
	srv.set(func(s *jwksServer) { s.status = http.StatusOK })
	clk.Advance(time.Minute)
	if _, err := a.Authenticate(ctxT(t), bearer(fresh)); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
	if !a.Ready() {
		t.Error("not Ready after recovery")
	}
}

func TestJWKSUnavailableAtFirstUseIsA503(t *testing.T) {
	s := signers(t)
	tests := []struct {
		name   string
		status int
		doc    []byte
	}{
		{"server error", http.StatusInternalServerError, []byte("oops")},
		{"not JSON", http.StatusOK, []byte("<html>login</html>")},
		{"only a symmetric key", http.StatusOK, []byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}]}`)},
		{"not found", http.StatusNotFound, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newJWKSServer(t)
			srv.set(func(s *jwksServer) { s.status, s.doc = tt.status, tt.doc })
			clk := newClock()
			log := &fetchLog{}
			a := mustNew(t, remoteConfig(srv, clk, log))
			tok := sign(t, s.es, claimsAt(clk.Now()))
			_, err := a.Authenticate(ctxT(t), bearer(tok))
			if r, _ := reasonOf(t, err); r != decision.AuthenticatorUnavailable {
				t.Fatalf("reason %s, want authenticator_unavailable", r)
			}
			// Within the failure backoff, requests answer at once without fetching.
			_, err = a.Authenticate(ctxT(t), bearer(tok))
			if r, _ := reasonOf(t, err); r != decision.AuthenticatorUnavailable || srv.hits.Load() != 1 {
				t.Fatalf("reason %s hits %d", r, srv.hits.Load())
			}
			if err := a.Prefetch(ctxT(t)); err == nil {
				t.Error("Prefetch succeeded")
			}
			if diff := cmp.Diff([]string{FetchError}, log.get()); diff != "" {
				t.Errorf("OnFetch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestJWKSWithAKeyOfTheWrongTypeUsesTheOthers(t *testing.T) {
	s := signers(t)
	srv := newJWKSServer(t)
	good := tokens.PublicJWKS(s.es.Key())
	doc := []byte(`{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"},` + string(good[len(`{"keys":[`):]))
	srv.setDoc(doc)
	clk := newClock()
	a := mustNew(t, remoteConfig(srv, clk, nil))
	if _, err := a.Authenticate(ctxT(t), bearer(sign(t, s.es, claimsAt(clk.Now())))); err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
}

func TestCacheControlMaxAgeDecidesWhenTheSetIsRefreshed(t *testing.T) {
	s := signers(t)
	tests := []struct {
		name         string
		cacheControl string
		noRefetchAt  time.Duration // still fresh
		refetchAt    time.Duration // expired: one background refresh
	}{
		{"max-age honoured", "public, max-age=600", 599 * time.Second, 601 * time.Second},
		{"max-age below MinRefresh is raised to it", "max-age=5", 30 * time.Second, 61 * time.Second},
		{"no-cache counts as zero", "no-cache", 30 * time.Second, 61 * time.Second},
		{"absent means one hour", "", 59 * time.Minute, 61 * time.Minute},
		{"above a day is capped", "max-age=864000", 23 * time.Hour, 25 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newJWKSServer(t, s.es)
			srv.set(func(s *jwksServer) { s.cacheControl = tt.cacheControl })
			clk := newClock()
			cfg := remoteConfig(srv, clk, nil)
			cfg.MaxStale = 48 * time.Hour
			cfg.CacheSize = -1 // every request consults the key set
			a := mustNew(t, cfg)
			if err := a.Prefetch(ctxT(t)); err != nil {
				t.Fatal(err)
			}
			clk.Advance(tt.noRefetchAt)
			if _, err := a.Authenticate(ctxT(t), bearer(sign(t, s.es, claimsAt(clk.Now())))); err != nil {
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond) // a wrongly started refresh would land here
			if got := srv.hits.Load(); got != 1 {
				t.Fatalf("hits %d at +%v, want 1", got, tt.noRefetchAt)
			}
			clk.Advance(tt.refetchAt - tt.noRefetchAt)
			if _, err := a.Authenticate(ctxT(t), bearer(sign(t, s.es, claimsAt(clk.Now())))); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the refresh", func() bool { return srv.hits.Load() == 2 })
		})
	}
}

func TestNotModifiedExtendsTheSet(t *testing.T) {
	s := signers(t)
	srv := newJWKSServer(t, s.es)
	srv.set(func(s *jwksServer) { s.etag, s.cacheControl = `"v1"`, "max-age=120" })
	clk := newClock()
	log := &fetchLog{}
	cfg := remoteConfig(srv, clk, log)
	cfg.CacheSize = -1
	a := mustNew(t, cfg)
	if err := a.Prefetch(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	clk.Advance(3 * time.Minute)
	if _, err := a.Authenticate(ctxT(t), bearer(sign(t, s.es, claimsAt(clk.Now())))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the conditional refresh", func() bool { return len(log.get()) == 2 })
	if diff := cmp.Diff([]string{FetchOK, FetchNotModified}, log.get()); diff != "" {
		t.Errorf("OnFetch (-want +got):\n%s", diff)
	}
	clk.Advance(time.Minute) // within the renewed max-age
	if _, err := a.Authenticate(ctxT(t), bearer(sign(t, s.es, claimsAt(clk.Now())))); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	if got := srv.hits.Load(); got != 2 {
		t.Errorf("hits %d, want 2", got)
	}
}

func TestStartRefreshesInTheBackgroundUntilCancelled(t *testing.T) {
	s := signers(t)
	srv := newJWKSServer(t, s.es)
	srv.set(func(s *jwksServer) { s.cacheControl = "max-age=1" })
	cfg := remoteConfig(srv, &clock{}, nil)
	cfg.Now = nil // real time: the loop sleeps on real timers
	cfg.MinRefresh = time.Second
	a := mustNew(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	if err := a.Start(ctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	waitFor(t, "a background refresh", func() bool { return srv.hits.Load() >= 2 })
	cancel()
	time.Sleep(1500 * time.Millisecond)
	n := srv.hits.Load()
	time.Sleep(1500 * time.Millisecond)
	if got := srv.hits.Load(); got != n {
		t.Errorf("fetches continued after cancel: %d then %d", n, got)
	}
}

func TestAWithdrawnKeyPurgesTheTokenCache(t *testing.T) {
	s := signers(t)
	srv := newJWKSServer(t, s.es, s.es2)
	clk := newClock()
	a := mustNew(t, remoteConfig(srv, clk, nil))
	tok := sign(t, s.es2, claimsAt(clk.Now()))
	if _, err := a.Authenticate(ctxT(t), bearer(tok)); err != nil {
		t.Fatal(err)
	}
	// The issuer withdraws es-2 (compromised); a later refresh sees it gone.
	srv.setKeys(s.es)
	clk.Advance(2 * time.Minute)
	_, _ = a.Authenticate(ctxT(t), bearer(sign(t, signerWithKid(t, "x"), claimsAt(clk.Now())))) // prompts a refetch
	_, err := a.Authenticate(ctxT(t), bearer(tok))
	if r, _ := reasonOf(t, err); r != decision.TokenKeyUnknown {
		t.Fatalf("token signed by a withdrawn key: reason %s, want token_key_unknown", r)
	}
}

func TestJKUHeaderIsNeverFetched(t *testing.T) {
	s := signers(t)
	srv := newJWKSServer(t, s.es)
	evil := newJWKSServer(t, s.attacker)
	clk := newClock()
	a := mustNew(t, remoteConfig(srv, clk, nil))
	for _, h := range []string{"jku", "x5u"} {
		tok, err := s.attacker.SignWithHeader(claimsAt(clk.Now()), map[string]any{h: evil.URL + "/jwks.json"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = a.Authenticate(ctxT(t), bearer(tok))
		if r, _ := reasonOf(t, err); r != decision.TokenSignatureInvalid {
			t.Errorf("%s: reason %s, want token_signature_invalid", h, r)
		}
	}
	if evil.hits.Load() != 0 {
		t.Fatalf("the attacker's URL was fetched %d times", evil.hits.Load())
	}
}

func TestSlowJWKSRespectsTheRequestContext(t *testing.T) {
	s := signers(t)
	srv := newJWKSServer(t, s.es)
	srv.set(func(s *jwksServer) { s.delay = time.Second })
	a := mustNew(t, remoteConfig(srv, newClock(), nil))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := a.Authenticate(ctx, bearer(sign(t, s.es, claimsAt(t0))))
	if r, _ := reasonOf(t, err); r != decision.AuthenticatorUnavailable {
		t.Fatalf("reason %s, want authenticator_unavailable", r)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("waited %v for a cancelled request", d)
	}
	// The shared fetch was not cancelled with that request: it completes for the next one.
	waitFor(t, "the detached fetch", a.Ready)
}

func TestWithoutAKeySetMalformedTokensAreStill401(t *testing.T) {
	s := signers(t)
	srv := newJWKSServer(t)
	srv.set(func(s *jwksServer) { s.status = http.StatusBadGateway })
	clk := newClock()
	a := mustNew(t, remoteConfig(srv, clk, nil))
	tests := []struct {
		name  string
		token string
		want  decision.Reason
	}{
		{"alg none", unsigned(t, map[string]any{"alg": "none"}, claimsAt(clk.Now())), decision.TokenAlgorithmRejected},
		{"not a JWT", "2YotnFZFEjr1zCsicMWpAA", decision.CredentialsMalformed},
		{"a well-formed token needs the keys", sign(t, s.es, claimsAt(clk.Now())), decision.AuthenticatorUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := a.Authenticate(ctxT(t), bearer(tt.token))
			if r, _ := reasonOf(t, err); r != tt.want {
				t.Errorf("reason %s, want %s", r, tt.want)
			}
		})
	}
}

// TestJWKSRedirectsAreFollowedOnlyWithinTheOrigin runs real servers: a key set is trusted
// for where it was fetched from, so a redirect may not carry that trust to plain http
// (not even on loopback) or to another host.
func TestJWKSRedirectsAreFollowedOnlyWithinTheOrigin(t *testing.T) {
	s := signers(t)
	plain := newJWKSServer(t, s.attacker) // http://127.0.0.1:port
	var otherHits atomic.Int64
	otherTLS := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		otherHits.Add(1)
		w.Write(tokens.PublicJWKS(s.attacker.Key()))
	}))
	t.Cleanup(otherTLS.Close)

	tests := []struct {
		name     string
		tls      bool
		location func(self string) string // where /start redirects to
		refused  string                   // "" when the fetch must succeed
	}{
		{"same origin https", true, func(self string) string { return self + "/jwks.json" }, ""},
		{"same origin https, relative", true, func(string) string { return "/jwks.json" }, ""},
		{"same origin http on loopback", false, func(self string) string { return self + "/jwks.json" }, ""},
		{"https to http on loopback", true, func(string) string { return plain.URL + "/jwks.json" }, "refusing a redirect to http://127.0.0.1"},
		{"https to another https origin (port)", true, func(string) string { return otherTLS.URL + "/jwks.json" }, "refusing a redirect"},
		{"https to another host, same port", true, func(self string) string {
			return strings.Replace(self, "127.0.0.1", "localhost", 1) + "/jwks.json"
		}, "refusing a redirect to https://localhost"},
		{"redirect loop within the origin", true, func(self string) string { return self + "/start" }, "too many redirects"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var hits atomic.Int64
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				if r.URL.Path == "/start" {
					self := "http://" + r.Host
					if r.TLS != nil {
						self = "https://" + r.Host
					}
					http.Redirect(w, r, tc.location(self), http.StatusFound)
					return
				}
				w.Write(tokens.PublicJWKS(s.es.Key()))
			})
			var srv *httptest.Server
			if tc.tls {
				srv = httptest.NewTLSServer(h)
			} else {
				srv = httptest.NewServer(h)
			}
			t.Cleanup(srv.Close)
			clk := newClock()
			cfg := remoteConfig(&jwksServer{Server: srv}, clk, nil)
			cfg.JWKSURL = srv.URL + "/start"
			// The test server's client trusts its certificate, and follows any redirect:
			// the verifier must put its own policy on it.
			cfg.HTTPClient = srv.Client()
			a := mustNew(t, cfg)
			plainBefore, otherBefore := plain.hits.Load(), otherHits.Load()
			err := a.Prefetch(ctxT(t))
			if tc.refused == "" {
				if err != nil {
					t.Fatalf("Prefetch: %v", err)
				}
				if _, err := a.Authenticate(ctxT(t), bearer(sign(t, s.es, claimsAt(clk.Now())))); err != nil {
					t.Fatalf("Authenticate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.refused) {
				t.Fatalf("Prefetch = %v, want an error containing %q", err, tc.refused)
			}
			if plain.hits.Load() != plainBefore || otherHits.Load() != otherBefore {
				t.Error("the redirect target was fetched")
			}
			// The attacker's key was never installed: its token is not accepted.
			_, err = a.Authenticate(ctxT(t), bearer(sign(t, s.attacker, claimsAt(clk.Now()))))
			if r, _ := reasonOf(t, err); r != decision.AuthenticatorUnavailable {
				t.Errorf("token of the redirect target's key: reason %s, want authenticator_unavailable", r)
			}
		})
	}
}

// TestAKeyReplacedUnderTheSameKidPurgesTheTokenCache: an issuer that keeps a kid but
// swaps the key behind it (after a compromise, say) means tokens signed with the old key
// to stop working; a cached verification must not outlive the refresh that sees it.
func TestAKeyReplacedUnderTheSameKidPurgesTheTokenCache(t *testing.T) {
	s := signers(t)
	srv := newJWKSServer(t, s.es, s.es2)
	clk := newClock()
	a := mustNew(t, remoteConfig(srv, clk, nil))
	old := sign(t, s.es, claimsAt(clk.Now()))
	for range 2 {
		if _, err := a.Authenticate(ctxT(t), bearer(old)); err != nil {
			t.Fatal(err)
		}
	}
	if hits, _, _ := a.CacheStats(); hits != 1 {
		t.Fatalf("cache hits %d, want 1: the token should be served from the cache", hits)
	}
	// Same kid "es-1", other key material.
	srv.setKeys(s.attacker, s.es2)
	fetches := srv.hits.Load()
	if err := a.Prefetch(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if srv.hits.Load() != fetches+1 {
		t.Fatalf("no refresh happened")
	}
	_, err := a.Authenticate(ctxT(t), bearer(old))
	if r, _ := reasonOf(t, err); r != decision.TokenSignatureInvalid {
		t.Fatalf("token of the replaced key after the refresh: reason %s, want token_signature_invalid", r)
	}
	// A refresh that changes nothing keeps the cache.
	fresh := sign(t, s.es2, claimsAt(clk.Now()))
	if _, err := a.Authenticate(ctxT(t), bearer(fresh)); err != nil {
		t.Fatal(err)
	}
	if err := a.Prefetch(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	hits, _, _ := a.CacheStats()
	if _, err := a.Authenticate(ctxT(t), bearer(fresh)); err != nil {
		t.Fatal(err)
	}
	if h, _, _ := a.CacheStats(); h != hits+1 {
		t.Error("an unchanged key set purged the cache")
	}
}
