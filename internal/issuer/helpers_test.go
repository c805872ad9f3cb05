package issuer_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/budget"
	"github.com/gatehouse-dev/gatehouse/internal/issuer"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlite"
)

// testSecret is the signing_key_secret of every test server.
var testSecret = []byte("0123456789abcdef0123456789abcdef-test-secret")

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().Truncate(time.Second)} }

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

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// env is a running token service: its store, clock, HTTP server and base URL.
type env struct {
	t      testing.TB
	srv    *issuer.Server
	st     *sqlite.Store
	clock  *clock
	http   *httptest.Server
	url    string
	client *http.Client
}

type envOption func(*issuer.Options)

func withAlgorithm(alg string) envOption { return func(o *issuer.Options) { o.Algorithm = alg } }

func withBudget(b *budget.Budget) envOption { return func(o *issuer.Options) { o.Budget = b } }

func newBudget(t testing.TB, o budget.Options) *budget.Budget {
	t.Helper()
	if o.Now == nil {
		now := time.Now() // stopped: a slow run must not refill the budget mid-test
		o.Now = func() time.Time { return now }
	}
	b, err := budget.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// withIssuer makes a replica share another server's issuer URL.
func withIssuer(iss string) envOption { return func(o *issuer.Options) { o.Issuer = iss } }

func withLogger(w io.Writer) envOption {
	return func(o *issuer.Options) { o.Logger = slog.New(slog.NewJSONHandler(w, nil)) }
}

// changeOf is a change as the store's watcher delivers it.
func changeOf(kind, subject string) store.Change {
	return store.Change{Kind: store.ChangeKind(kind), Subject: subject, At: time.Now()}
}

// newEnv starts a token service on 127.0.0.1 over a new in-memory store.
func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	st, err := sqlite.Open(testCtx(t), ":memory:", sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return newEnvOn(t, st, newClock(), opts...)
}

// newEnvOn starts a token service over an existing store, as a second replica would.
func newEnvOn(t testing.TB, st *sqlite.Store, clk *clock, opts ...envOption) *env {
	t.Helper()
	hs := httptest.NewUnstartedServer(nil)
	base := "http://" + hs.Listener.Addr().String()
	o := issuer.Options{
		Issuer: base, Store: st, SigningKeySecret: testSecret, Realm: "test", Now: clk.Now,
	}
	for _, f := range opts {
		f(&o)
	}
	srv, err := issuer.New(testCtx(t), o)
	if err != nil {
		hs.Listener.Close()
		t.Fatalf("issuer.New: %v", err)
	}
	hs.Config.Handler = srv.Handler()
	hs.Start()
	t.Cleanup(hs.Close)
	return &env{t: t, srv: srv, st: st, clock: clk, http: hs, url: base,
		client: &http.Client{Timeout: 30 * time.Second}}
}

// addClient stores a client with the given secret (any bytes, reserved characters
// included) and returns it.
func (e *env) addClient(id, secret string, scopes []string, ttl time.Duration) store.Client {
	e.t.Helper()
	c := store.Client{
		ID: id, Name: "test " + id, SecretHash: issuer.HashClientSecret(secret), HashAlg: "sha256",
		Scopes: scopes, Audience: "api://orders", AccessTokenTTL: ttl, CreatedAt: e.clock.Now(),
	}
	if err := e.st.CreateClient(testCtx(e.t), &c); err != nil {
		e.t.Fatalf("CreateClient: %v", err)
	}
	return c
}

// newClient creates a client the way `clients create` does and returns id and secret.
func (e *env) newClient(scopes ...string) (id, secret string) {
	e.t.Helper()
	return e.newClientSpec(issuer.ClientSpec{Scopes: scopes})
}

// newResourceServer stores a client allowed to introspect other clients' tokens.
func (e *env) newResourceServer() (id, secret string) {
	e.t.Helper()
	return e.newClientSpec(issuer.ClientSpec{Introspect: true})
}

func (e *env) newClientSpec(spec issuer.ClientSpec) (id, secret string) {
	e.t.Helper()
	spec.Name, spec.Audience, spec.AccessTokenTTL, spec.Now = "app", "api://orders", 10*time.Minute, e.clock.Now()
	rec, sec, err := issuer.NewClient(spec)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.st.CreateClient(testCtx(e.t), &rec); err != nil {
		e.t.Fatal(err)
	}
	return rec.ID, sec
}

// response is a decoded token-service answer.
type response struct {
	status int
	header http.Header
	body   []byte
	json   map[string]any
}

// post sends a form to path with optional headers ("Name: value").
func (e *env) post(path, body string, headers ...string) response {
	e.t.Helper()
	req, err := http.NewRequestWithContext(testCtx(e.t), http.MethodPost, e.url+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, h := range headers {
		name, value, _ := strings.Cut(h, ": ")
		if value == "" {
			req.Header.Del(name)
			continue
		}
		req.Header.Add(name, value)
	}
	return e.do(req)
}

func (e *env) do(req *http.Request) response {
	e.t.Helper()
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	r := response{status: resp.StatusCode, header: resp.Header, body: b}
	if len(b) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/") {
		if err := json.Unmarshal(b, &r.json); err != nil {
			e.t.Fatalf("%s %s: body is not JSON: %q", req.Method, req.URL.Path, b)
		}
	}
	return r
}

func (e *env) get(path string) response {
	e.t.Helper()
	req, err := http.NewRequestWithContext(testCtx(e.t), http.MethodGet, e.url+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.do(req)
}

// basic is an Authorization header for client_secret_basic, form-encoding id and secret
// as RFC 6749 2.3.1 says.
func basic(id, secret string) string {
	return "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// token gets a token with client_secret_basic and fails the test otherwise.
func (e *env) token(id, secret string, scope string) string {
	e.t.Helper()
	body := "grant_type=client_credentials"
	if scope != "" {
		body += "&scope=" + url.QueryEscape(scope)
	}
	r := e.post("/oauth2/token", body, basic(id, secret))
	if r.status != http.StatusOK {
		e.t.Fatalf("token request = %d %s", r.status, r.body)
	}
	return r.json["access_token"].(string)
}

// segments decodes a JWT's header and claims without verifying it.
func segments(t testing.TB, tok string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS compact serialization: %d parts", len(parts))
	}
	for i, dst := range []*map[string]any{&header, &claims} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			t.Fatal(err)
		}
	}
	return header, claims
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
