package jwt

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/tokens"
)

const (
	testIssuer   = "https://id.example"
	testAudience = "api://orders"
)

// t0 is the fixed start of every test clock.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: t0} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// signers are generated once per test binary.
type testSigners struct {
	es, es2, rs, attacker *tokens.Signer
}

var (
	signersOnce sync.Once
	signersVal  testSigners
)

func signers(t testing.TB) *testSigners {
	t.Helper()
	signersOnce.Do(func() {
		mk := func(gen func() (*tokens.SigningKey, error), kid string) *tokens.Signer {
			k, err := gen()
			if err != nil {
				panic(err)
			}
			k.ID = kid
			s, err := tokens.NewSigner(k)
			if err != nil {
				panic(err)
			}
			return s
		}
		signersVal.es = mk(tokens.GenerateES256, "es-1")
		signersVal.es2 = mk(tokens.GenerateES256, "es-2")
		signersVal.rs = mk(tokens.GenerateRS256, "rs-1")
		signersVal.attacker = mk(tokens.GenerateES256, "es-1")
	})
	return &signersVal
}

// claimsAt returns valid claims for a clock at now, with overrides applied (a nil value
// deletes the claim).
func claimsAt(now time.Time, kv ...any) map[string]any {
	c := map[string]any{
		"iss": testIssuer, "sub": "user-42", "aud": testAudience,
		"iat": now.Add(-time.Minute).Unix(), "exp": now.Add(10 * time.Minute).Unix(),
		"jti": "j-1", "scope": "orders:read orders:write",
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(c, kv[i].(string))
			continue
		}
		c[kv[i].(string)] = kv[i+1]
	}
	return c
}

func sign(t testing.TB, s *tokens.Signer, claims any) string {
	t.Helper()
	tok, err := s.Sign(claims)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return tok
}

func bearer(tok string) decision.Credential {
	return decision.Credential{Source: decision.FromAuthorization, Scheme: "bearer", Value: tok}
}

// jwksServer serves a JWKS document on 127.0.0.1 and counts requests.
type jwksServer struct {
	*httptest.Server
	hits atomic.Int64

	mu           sync.Mutex
	doc          []byte
	status       int
	cacheControl string
	etag         string
	delay        time.Duration
}

func newJWKSServer(t testing.TB, keys ...*tokens.Signer) *jwksServer {
	t.Helper()
	s := &jwksServer{status: http.StatusOK}
	s.setKeys(keys...)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		doc, status, cc, etag, delay := s.doc, s.status, s.cacheControl, s.etag, s.delay
		s.mu.Unlock()
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		if cc != "" {
			w.Header().Set("Cache-Control", cc)
		}
		if etag != "" {
			w.Header().Set("ETag", etag)
			if r.Header.Get("If-None-Match") == etag {
				w.WriteHeader(http.StatusNotModified)
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(doc)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) setKeys(keys ...*tokens.Signer) {
	sk := make([]*tokens.SigningKey, len(keys))
	for i, k := range keys {
		sk[i] = k.Key()
	}
	s.setDoc(tokens.PublicJWKS(sk...))
}

func (s *jwksServer) setDoc(doc []byte) {
	s.mu.Lock()
	s.doc = doc
	s.mu.Unlock()
}

func (s *jwksServer) set(f func(s *jwksServer)) {
	s.mu.Lock()
	f(s)
	s.mu.Unlock()
}

// fetchLog records OnFetch results.
type fetchLog struct {
	mu      sync.Mutex
	results []string
}

func (l *fetchLog) record(r string) {
	l.mu.Lock()
	l.results = append(l.results, r)
	l.mu.Unlock()
}

func (l *fetchLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.results...)
}

// waitFor polls cond until it holds or a few seconds pass; background refreshes are
// asynchronous by design.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// remoteConfig is a Config against srv with a test clock.
func remoteConfig(srv *jwksServer, clk *clock, log *fetchLog) Config {
	cfg := Config{
		Name: "corp_jwt", Issuer: testIssuer, Audience: []string{testAudience},
		Algorithms: []string{"ES256", "RS256"}, JWKSURL: srv.URL + "/jwks.json",
		Leeway: 30 * time.Second, MinRefresh: time.Minute, NegativeTTL: 5 * time.Minute,
		MaxStale: time.Hour, FetchTimeout: 2 * time.Second,
		HTTPClient: &http.Client{Timeout: 2 * time.Second},
		Now:        clk.Now,
	}
	if log != nil {
		cfg.OnFetch = log.record
	}
	return cfg
}

func mustNew(t testing.TB, cfg Config) *Authenticator {
	t.Helper()
	a, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}
