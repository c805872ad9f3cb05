package introspect

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/tokens"
	"github.com/google/go-cmp/cmp"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

var t0 = time.Unix(2_000_000_000, 0).UTC()

// idp is a fake introspection endpoint.
type idp struct {
	t       *testing.T
	hits    atomic.Int32
	handler func(w http.ResponseWriter, token string)
	lastReq struct {
		sync.Mutex
		user, pass, hint, ctype string
	}
}

func (p *idp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.hits.Add(1)
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	auth := strings.TrimPrefix(r.Header.Get("Authorization"), "Basic ")
	raw, _ := base64.StdEncoding.DecodeString(auth)
	u, pw, _ := strings.Cut(string(raw), ":")
	// RFC 6749 2.3.1: both parts are form-urlencoded.
	u, _ = url.QueryUnescape(u)
	pw, _ = url.QueryUnescape(pw)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	p.lastReq.Lock()
	p.lastReq.user, p.lastReq.pass, p.lastReq.hint, p.lastReq.ctype = u, pw, r.PostForm.Get("token_type_hint"), r.Header.Get("Content-Type")
	p.lastReq.Unlock()
	if u != "gw:1 é" || pw != "s3cr3t&+/=" {
		http.Error(w, "bad client", http.StatusUnauthorized)
		return
	}
	p.handler(w, r.PostForm.Get("token"))
}

func jsonReply(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	fmt.Fprint(w, body)
}

type fixture struct {
	a   *Authenticator
	idp *idp
	srv *httptest.Server
	clk *clock
}

func newFixture(t *testing.T, handler func(w http.ResponseWriter, token string), mutate func(*Config)) *fixture {
	t.Helper()
	f := &fixture{idp: &idp{t: t, handler: handler}, clk: &clock{t: t0}}
	f.srv = httptest.NewServer(f.idp)
	t.Cleanup(f.srv.Close)
	cfg := Config{Name: "opaque", URL: f.srv.URL + "/introspect", ClientID: "gw:1 é", ClientSecret: "s3cr3t&+/=",
		Timeout: 2 * time.Second, CacheMaxTTL: time.Minute, Now: f.clk.now}
	if mutate != nil {
		mutate(&cfg)
	}
	var err error
	f.a, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func bearer(tok string) decision.Credential {
	return decision.Credential{Source: decision.FromAuthorization, Scheme: "bearer", Value: tok}
}

func activeFor(exp time.Time) func(http.ResponseWriter, string) {
	return func(w http.ResponseWriter, token string) {
		if token != "good-token" {
			jsonReply(w, `{"active":false}`)
			return
		}
		jsonReply(w, fmt.Sprintf(`{"active":true,"sub":"user-42","client_id":"app","scope":"orders:read orders:write","exp":%d}`, exp.Unix()))
	}
}

func reason(t *testing.T, err error) *decision.Failure {
	t.Helper()
	var f *decision.Failure
	if !errors.As(err, &f) {
		t.Fatalf("error = %v (%T), want a *decision.Failure", err, err)
	}
	return f
}

func TestActiveTokenYieldsPrincipalWithScopes(t *testing.T) {
	f := newFixture(t, activeFor(t0.Add(time.Hour)), nil)
	p, err := f.a.Authenticate(context.Background(), bearer("good-token"))
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	want := decision.Principal{Subject: "user-42", Scopes: []string{"orders:read", "orders:write"}, Authenticator: "opaque", ExpiresAt: t0.Add(time.Hour),
		Claims: map[string]any{"active": true, "sub": "user-42", "client_id": "app", "scope": "orders:read orders:write",
			"exp": json.Number(fmt.Sprint(t0.Add(time.Hour).Unix()))}}
	if diff := cmp.Diff(want, p, cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Fingerprint" }, cmp.Ignore())); diff != "" {
		t.Errorf("principal (-want +got):\n%s", diff)
	}
	if p.Fingerprint == "" || strings.Contains(p.Fingerprint, "good") {
		t.Errorf("fingerprint %q", p.Fingerprint)
	}
	f.idp.lastReq.Lock()
	defer f.idp.lastReq.Unlock()
	if f.idp.lastReq.hint != "access_token" || !strings.HasPrefix(f.idp.lastReq.ctype, "application/x-www-form-urlencoded") {
		t.Errorf("request: hint %q content-type %q", f.idp.lastReq.hint, f.idp.lastReq.ctype)
	}
}

func TestClientSecretBasicFormEncodesIDAndSecret(t *testing.T) {
	// The idp only answers 200 when both decode, after form-unescaping, to the exact
	// values: a ':' and non-ASCII in the id, '&+/=' in the secret.
	f := newFixture(t, activeFor(t0.Add(time.Hour)), nil)
	if _, err := f.a.Authenticate(context.Background(), bearer("good-token")); err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
}

func TestAnswersAreCachedUntilExpOrMaxTTL(t *testing.T) {
	f := newFixture(t, activeFor(t0.Add(30*time.Second)), nil)
	for range 5 {
		if _, err := f.a.Authenticate(context.Background(), bearer("good-token")); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.idp.hits.Load(); n != 1 {
		t.Errorf("%d calls for 5 requests, want 1", n)
	}
	f.clk.add(31 * time.Second) // past exp: the entry's TTL was exp - now
	_, err := f.a.Authenticate(context.Background(), bearer("good-token"))
	if fl := reason(t, err); fl.Reason != decision.TokenExpired {
		t.Errorf("after exp: %s, want token_expired", fl.Reason)
	}
	if n := f.idp.hits.Load(); n != 2 {
		t.Errorf("%d calls; the answer should have left the cache at exp", n)
	}
}

func TestCacheTTLIsCappedByMax(t *testing.T) {
	f := newFixture(t, activeFor(t0.Add(24*time.Hour)), func(c *Config) { c.CacheMaxTTL = 10 * time.Second })
	f.a.Authenticate(context.Background(), bearer("good-token"))
	f.clk.add(11 * time.Second)
	f.a.Authenticate(context.Background(), bearer("good-token"))
	if n := f.idp.hits.Load(); n != 2 {
		t.Errorf("%d calls; the max TTL should have expired the entry", n)
	}
}

func TestInactiveTokenIsTokenInactiveAndBrieflyCached(t *testing.T) {
	f := newFixture(t, activeFor(t0.Add(time.Hour)), func(c *Config) { c.NegativeTTL = 5 * time.Second })
	for range 3 {
		_, err := f.a.Authenticate(context.Background(), bearer("revoked"))
		if fl := reason(t, err); fl.Reason != decision.TokenInactive {
			t.Fatalf("reason = %s, want token_inactive", fl.Reason)
		}
	}
	if n := f.idp.hits.Load(); n != 1 {
		t.Errorf("%d calls for 3 requests with one inactive token, want 1", n)
	}
	f.clk.add(6 * time.Second)
	f.a.Authenticate(context.Background(), bearer("revoked"))
	if n := f.idp.hits.Load(); n != 2 {
		t.Errorf("the negative answer outlived its TTL: %d calls", n)
	}
}

func TestActiveButTimesOutOfRange(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		reason decision.Reason
	}{
		{"ExpInPast", fmt.Sprintf(`{"active":true,"exp":%d}`, t0.Add(-time.Minute).Unix()), decision.TokenExpired},
		{"NbfInFuture", fmt.Sprintf(`{"active":true,"nbf":%d}`, t0.Add(time.Minute).Unix()), decision.TokenNotYetValid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(w http.ResponseWriter, _ string) { jsonReply(w, tc.body) }, nil)
			_, err := f.a.Authenticate(context.Background(), bearer("tok"))
			if fl := reason(t, err); fl.Reason != tc.reason {
				t.Errorf("reason = %s, want %s", fl.Reason, tc.reason)
			}
		})
	}
}

// TestEndpointFailuresAreUnavailableNeverUnauthorized: every way the endpoint can fail
// is a 503 authenticator_unavailable with Retry-After, and none is cached.
func TestEndpointFailuresAreUnavailableNeverUnauthorized(t *testing.T) {
	tests := []struct {
		name    string
		handler func(w http.ResponseWriter, token string)
		mutate  func(*Config)
		cause   string
	}{
		{"ServerError", func(w http.ResponseWriter, _ string) { http.Error(w, "boom", 500) }, nil, "status 500"},
		{"BadGateway", func(w http.ResponseWriter, _ string) { w.WriteHeader(502) }, nil, "status 502"},
		{"HTMLPage", func(w http.ResponseWriter, _ string) {
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "<html>login</html>")
		}, nil, "not JSON"},
		{"Garbage", func(w http.ResponseWriter, _ string) { jsonReply(w, `{"active":tru`) }, nil, "not an RFC 7662"},
		{"NoActiveMember", func(w http.ResponseWriter, _ string) { jsonReply(w, `{"sub":"x"}`) }, nil, `no boolean "active"`},
		{"ActiveNotBoolean", func(w http.ResponseWriter, _ string) { jsonReply(w, `{"active":"true"}`) }, nil, "not an RFC 7662"},
		{"BadExp", func(w http.ResponseWriter, _ string) { jsonReply(w, `{"active":true,"exp":"soon"}`) }, nil, "not an RFC 7662"},
		{"Huge", func(w http.ResponseWriter, _ string) {
			jsonReply(w, `{"active":true,"sub":"`+strings.Repeat("x", MaxResponseBytes)+`"}`)
		}, nil, "larger than"},
		{"Redirect", func(w http.ResponseWriter, _ string) {
			w.Header().Set("Location", "http://127.0.0.1:1/elsewhere")
			w.WriteHeader(http.StatusTemporaryRedirect)
		}, nil, "status 307"},
		{"WrongClientCredentials", nil, func(c *Config) { c.ClientSecret = "wrong" }, "refused the gateway's client credentials (401)"},
		{"Timeout", func(w http.ResponseWriter, _ string) {
			time.Sleep(600 * time.Millisecond) // a slow server, past the timeout under test
			jsonReply(w, `{"active":true}`)
		},
			func(c *Config) { c.Timeout = 100 * time.Millisecond }, "introspect at"},
		{"TimeoutWithACallersClient", func(w http.ResponseWriter, _ string) {
			time.Sleep(600 * time.Millisecond) // a slow server, past the timeout under test
			jsonReply(w, `{"active":true}`)
		},
			func(c *Config) { c.Timeout, c.HTTPClient = 100*time.Millisecond, &http.Client{} }, "introspect at"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.handler
			if h == nil {
				h = activeFor(t0.Add(time.Hour))
			}
			f := newFixture(t, h, tc.mutate)
			start := time.Now()
			_, err := f.a.Authenticate(context.Background(), bearer("good-token"))
			fl := reason(t, err)
			if fl.Reason != decision.AuthenticatorUnavailable || fl.Reason.Status() != 503 {
				t.Fatalf("reason = %s (%d), want authenticator_unavailable (503)", fl.Reason, fl.Reason.Status())
			}
			if !strings.Contains(fl.Cause, tc.cause) {
				t.Errorf("cause %q does not contain %q", fl.Cause, tc.cause)
			}
			if fl.RetryAfter <= 0 {
				t.Error("no Retry-After")
			}
			for _, s := range []string{"good-token", "s3cr3t", "wrong"} {
				if strings.Contains(fl.Cause+fl.Detail, s) {
					t.Errorf("failure leaks %q: %q / %q", s, fl.Cause, fl.Detail)
				}
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("took %v; the timeout should bound it", d)
			}
			before := f.idp.hits.Load()
			f.a.Authenticate(context.Background(), bearer("good-token"))
			if f.idp.hits.Load() == before {
				t.Error("a failure was cached")
			}
		})
	}
}

func TestUnreachableEndpointIsUnavailable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL
	srv.Close() // nothing listens there now
	a, err := New(Config{Name: "opaque", URL: u, ClientID: "gw", ClientSecret: "s", Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.Authenticate(context.Background(), bearer("tok"))
	if fl := reason(t, err); fl.Reason != decision.AuthenticatorUnavailable {
		t.Errorf("reason = %s", fl.Reason)
	}
}

func TestConcurrentRequestsShareOneCall(t *testing.T) {
	release := make(chan struct{})
	f := newFixture(t, func(w http.ResponseWriter, token string) {
		<-release
		activeFor(t0.Add(time.Hour))(w, token)
	}, nil)
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := f.a.Authenticate(context.Background(), bearer("good-token")); err != nil {
				t.Error(err)
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	if n := f.idp.hits.Load(); n != 1 {
		t.Errorf("%d calls for 10 concurrent requests, want 1", n)
	}
}

func TestSubjectFallsBackToUsernameThenClientID(t *testing.T) {
	tests := []struct{ body, want string }{
		{`{"active":true,"sub":"s","username":"u","client_id":"c"}`, "s"},
		{`{"active":true,"username":"u","client_id":"c"}`, "u"},
		{`{"active":true,"client_id":"c"}`, "c"},
	}
	for _, tc := range tests {
		f := newFixture(t, func(w http.ResponseWriter, _ string) { jsonReply(w, tc.body) }, nil)
		p, err := f.a.Authenticate(context.Background(), bearer("t"))
		if err != nil || p.Subject != tc.want {
			t.Errorf("%s: subject %q, err %v; want %q", tc.body, p.Subject, err, tc.want)
		}
	}
}

func TestClaims(t *testing.T) {
	f := newFixture(t, activeFor(t0), nil)
	tests := []struct {
		c    decision.Credential
		want decision.Match
	}{
		{bearer("opaque-token"), decision.ShapeMatch},
		{bearer("eyJhbGciOi.x.y"), decision.SchemeMatch},
		{bearer("eyJhbGciOi.x"), decision.ShapeMatch},
		{bearer("gk_live_abc"), decision.NoMatch},
		{decision.Credential{Source: decision.FromAuthorization, Scheme: "basic", Value: "x"}, decision.NoMatch},
		{decision.Credential{Source: decision.FromHeader, Name: "X-API-Key", Value: "x"}, decision.NoMatch},
	}
	for _, tc := range tests {
		if got := f.a.Claims(tc.c); got != tc.want {
			t.Errorf("Claims(%+v) = %v, want %v", tc.c.Scheme+" "+tc.c.Value, got, tc.want)
		}
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"NoURL", Config{Name: "o", ClientID: "a", ClientSecret: "b"}, "url is required"},
		{"RelativeURL", Config{Name: "o", URL: "/introspect", ClientID: "a", ClientSecret: "b"}, "absolute"},
		{"FTP", Config{Name: "o", URL: "ftp://x/y", ClientID: "a", ClientSecret: "b"}, "absolute http"},
		{"CredentialsInURL", Config{Name: "o", URL: "https://u:p@x/y", ClientID: "a", ClientSecret: "b"}, "must not contain credentials"},
		{"NoSecret", Config{Name: "o", URL: "https://x/y", ClientID: "a"}, "client_secret"},
		{"PlainHTTPToRemoteHost", Config{Name: "o", URL: "http://id.example/introspect", ClientID: "a", ClientSecret: "b"}, "must be an https URL"},
		{"PlainHTTPToPrivateAddress", Config{Name: "o", URL: "http://10.1.2.3:8080/introspect", ClientID: "a", ClientSecret: "b"}, "must be an https URL"},
		{"PlainHTTPToLocalhostLookalike", Config{Name: "o", URL: "http://localhost.id.example/introspect", ClientID: "a", ClientSecret: "b"}, "must be an https URL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestNewAcceptsHTTPSAndLoopbackHTTP(t *testing.T) {
	for _, u := range []string{"https://id.example/introspect", "http://127.0.0.1:8081/introspect",
		"http://[::1]:8081/introspect", "http://localhost/introspect", "http://LOCALHOST:9/i", "http://127.9.9.9/i"} {
		if _, err := New(Config{Name: "o", URL: u, ClientID: "a", ClientSecret: "b"}); err != nil {
			t.Errorf("New(%s): %v", u, err)
		}
	}
}

func BenchmarkIntrospectionCached(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		jsonReply(w, `{"active":true,"sub":"u","scope":"a b"}`)
	}))
	defer srv.Close()
	a, err := New(Config{Name: "opaque", URL: srv.URL, ClientID: "gw", ClientSecret: "s", CacheMaxTTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	c := bearer("an-opaque-access-token-of-typical-length-0123456789")
	if _, err := a.Authenticate(context.Background(), c); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := a.Authenticate(context.Background(), c); err != nil {
			b.Fatal(err)
		}
	}
}

// TestRedirectsAreNotFollowedEvenWithACallersClient: a redirect would replay the token
// (and, same-host, the client secret) elsewhere; a caller's HTTPClient, which follows
// redirects by default, is used under the no-redirect policy too.
func TestRedirectsAreNotFollowedEvenWithACallersClient(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		jsonReply(w, `{"active":true,"sub":"u"}`)
	}))
	t.Cleanup(other.Close)
	f := newFixture(t, func(w http.ResponseWriter, _ string) {
		w.Header().Set("Location", other.URL+"/introspect")
		w.WriteHeader(http.StatusPermanentRedirect)
	}, func(c *Config) { c.HTTPClient = &http.Client{Timeout: 2 * time.Second} })
	_, err := f.a.Authenticate(context.Background(), bearer("good-token"))
	if fl := reason(t, err); fl.Reason != decision.AuthenticatorUnavailable || !strings.Contains(fl.Cause, "status 308") {
		t.Fatalf("reason %s cause %q, want authenticator_unavailable with status 308", fl.Reason, fl.Cause)
	}
	if n := elsewhere.Load(); n != 0 {
		t.Fatalf("the redirect target was called %d times", n)
	}
}

// judgeBody runs one Authenticate against an endpoint that answers body.
func judgeBody(t *testing.T, body string) (decision.Principal, *decision.Failure) {
	t.Helper()
	f := newFixture(t, func(w http.ResponseWriter, _ string) { jsonReply(w, body) }, nil)
	p, err := f.a.Authenticate(context.Background(), bearer("tok"))
	if err == nil {
		return p, nil
	}
	return p, reason(t, err)
}

// TestZeroCacheMaxTTLCachesNothing: cache_max_ttl 0s means no cache, as documented, so a
// token revoked at the issuer is refused by the very next request.
func TestZeroCacheMaxTTLCachesNothing(t *testing.T) {
	var revoked atomic.Bool
	f := newFixture(t, func(w http.ResponseWriter, token string) {
		if revoked.Load() {
			jsonReply(w, `{"active":false}`)
			return
		}
		activeFor(t0.Add(time.Hour))(w, token)
	}, func(c *Config) { c.CacheMaxTTL = 0 })
	for range 3 {
		if _, err := f.a.Authenticate(context.Background(), bearer("good-token")); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.idp.hits.Load(); n != 3 {
		t.Fatalf("%d calls for 3 requests, want 3: an answer was cached", n)
	}
	revoked.Store(true)
	for range 2 {
		_, err := f.a.Authenticate(context.Background(), bearer("good-token"))
		if fl := reason(t, err); fl.Reason != decision.TokenInactive {
			t.Fatalf("right after revocation: %s, want token_inactive", fl.Reason)
		}
	}
	if n := f.idp.hits.Load(); n != 5 {
		t.Errorf("%d calls, want 5: the inactive answer was cached", n)
	}
}

// TestActiveTokenWithoutSubjectIsMalformed: an active answer that names nobody is refused
// as the jwt verifier refuses such a token, never accepted with an empty subject.
func TestActiveTokenWithoutSubjectIsMalformed(t *testing.T) {
	for _, body := range []string{
		`{"active":true}`,
		`{"active":true,"sub":"","username":"","client_id":""}`,
		`{"active":true,"sub":null,"scope":"orders:read"}`,
		fmt.Sprintf(`{"active":true,"exp":%d}`, t0.Add(time.Hour).Unix()),
	} {
		t.Run(body, func(t *testing.T) {
			p, fl := judgeBody(t, body)
			if fl == nil {
				t.Fatalf("accepted with principal %+v", p)
			}
			if fl.Reason != decision.CredentialsMalformed || fl.Cause != "sub_missing" {
				t.Errorf("reason %s cause %q, want credentials_malformed sub_missing", fl.Reason, fl.Cause)
			}
		})
	}
}

// TestResponsesAreParsedStrictly: member names match exactly, no member may appear twice
// and nothing may follow the object. What is not strict RFC 7662 JSON is the endpoint
// misbehaving: 503 authenticator_unavailable, never a guess.
func TestResponsesAreParsedStrictly(t *testing.T) {
	tests := []struct {
		name, body string
		reason     decision.Reason // "" for accepted
		subject    string
		cause      string
	}{
		{"Plain", `{"active":true,"sub":"u"}`, "", "u", ""},
		{"TrailingWhitespace", "{\"active\":true,\"sub\":\"u\"}\r\n \t", "", "u", ""},
		{"EscapedNameIsTheSameName", `{"\u0061ctive":true,"sub":"u"}`, "", "u", ""},
		{"UnknownMembersSkipped", `{"active":true,"sub":"u","ext":{"a":[1,{"sub":"x"}]},"aud":["x"]}`, "", "u", ""},
		{"NullIsAbsent", `{"active":true,"sub":"u","username":null,"exp":null,"scope":null}`, "", "u", ""},

		{"UpperCaseActiveIsNotActive", `{"ACTIVE":true,"sub":"u"}`, decision.AuthenticatorUnavailable, "", `no boolean "active"`},
		{"CaseVariantCannotOverride", `{"active":false,"Active":true,"sub":"u"}`, decision.TokenInactive, "", ""},
		{"CaseVariantSubIgnored", `{"active":true,"sub":"u","SUB":"admin"}`, "", "u", ""},
		{"DuplicateActive", `{"active":false,"active":true,"sub":"u"}`, decision.AuthenticatorUnavailable, "", `member "active" appears more than once`},
		{"DuplicateSub", `{"active":true,"sub":"u","sub":"admin"}`, decision.AuthenticatorUnavailable, "", "appears more than once"},
		{"DuplicateUnknownMember", `{"active":true,"sub":"u","x":1,"x":2}`, decision.AuthenticatorUnavailable, "", "appears more than once"},
		{"DuplicateByEscape", `{"active":true,"sub":"u","s\u0075b":"admin"}`, decision.AuthenticatorUnavailable, "", "appears more than once"},
		{"SecondObject", `{"active":true,"sub":"u"}{"active":false}`, decision.AuthenticatorUnavailable, "", "data after the JSON object"},
		{"TrailingGarbage", `{"active":true,"sub":"u"}x`, decision.AuthenticatorUnavailable, "", "data after the JSON object"},
		{"TrailingComma", `{"active":true,"sub":"u",}`, decision.AuthenticatorUnavailable, "", "not an RFC 7662"},
		{"Array", `[{"active":true,"sub":"u"}]`, decision.AuthenticatorUnavailable, "", "not a JSON object"},
		{"ActiveNull", `{"active":null,"sub":"u"}`, decision.AuthenticatorUnavailable, "", `"active" is not a boolean`},
		{"ActiveNumber", `{"active":1,"sub":"u"}`, decision.AuthenticatorUnavailable, "", `"active" is not a boolean`},
		{"SubNumber", `{"active":true,"sub":42}`, decision.AuthenticatorUnavailable, "", `"sub" is not a string`},
		{"ScopeArray", `{"active":true,"sub":"u","scope":["a"]}`, decision.AuthenticatorUnavailable, "", `"scope" is not a string`},
		{"ExpString", `{"active":true,"sub":"u","exp":"2000000000"}`, decision.AuthenticatorUnavailable, "", `"exp" is not a number`},
		{"Empty", ``, decision.AuthenticatorUnavailable, "", "not a JSON object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, fl := judgeBody(t, tc.body)
			switch {
			case tc.reason == "" && fl != nil:
				t.Fatalf("refused: %s (%s)", fl.Reason, fl.Cause)
			case tc.reason == "":
				if p.Subject != tc.subject {
					t.Errorf("subject %q, want %q", p.Subject, tc.subject)
				}
			case fl == nil:
				t.Fatalf("accepted (subject %q), want %s", p.Subject, tc.reason)
			case fl.Reason != tc.reason:
				t.Fatalf("reason %s (%s), want %s", fl.Reason, fl.Cause, tc.reason)
			case !strings.Contains(fl.Cause, tc.cause):
				t.Errorf("cause %q does not contain %q", fl.Cause, tc.cause)
			}
		})
	}
}

// TestNamesThatCouldCollapseAreMalformed: a subject, user name or client id (or a scope)
// that a later layer would fold into another value is credentials_malformed (401), so
// two identities never reach the upstream as one. Ordinary Unicode names pass.
func TestNamesThatCouldCollapseAreMalformed(t *testing.T) {
	tests := []struct {
		name, body string
		refused    bool
	}{
		{"NUL", `{"active":true,"sub":"ad\u0000min"}`, true},
		{"CRLF", `{"active":true,"sub":"admin\r\n"}`, true},
		{"DEL", "{\"active\":true,\"sub\":\"ad\x7fmin\"}", true},
		{"C1", `{"active":true,"sub":"ad\u009bmin"}`, true},
		{"InvalidUTF8", "{\"active\":true,\"sub\":\"ad\xffmin\"}", true},
		{"LoneSurrogate", `{"active":true,"sub":"ad\udc00min"}`, true},
		{"TrailingSpace", `{"active":true,"sub":"admin "}`, true},
		{"UsernameWithTab", `{"active":true,"username":"ad\tmin"}`, true},
		{"UsernameUnsafeEvenWithSub", `{"active":true,"sub":"u","username":"ad\u0000min"}`, true},
		{"ClientIDWithLF", `{"active":true,"client_id":"app\n"}`, true},
		{"ScopeWithTab", `{"active":true,"sub":"u","scope":"orders:read\tadmin"}`, true},
		{"ScopeWithNBSP", `{"active":true,"sub":"u","scope":"orders:read\u00a0admin"}`, true},

		{"Accented", `{"active":true,"sub":"Zoë 山田"}`, false},
		{"UsernameUnicode", `{"active":true,"username":"Jürgen Öst"}`, false},
		{"Emoji", `{"active":true,"sub":"fox 🦊","scope":"a b"}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, fl := judgeBody(t, tc.body)
			switch {
			case !tc.refused && fl != nil:
				t.Fatalf("refused: %s (%s)", fl.Reason, fl.Detail)
			case tc.refused && fl == nil:
				t.Fatalf("accepted with subject %q", p.Subject)
			case tc.refused && (fl.Reason != decision.CredentialsMalformed || fl.Reason.Status() != 401):
				t.Fatalf("reason %s, want credentials_malformed (401)", fl.Reason)
			}
		})
	}
}

// topLevelNames returns the member names of a JSON object in order, or ok false when
// body is not one.
func topLevelNames(body []byte) (names []string, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, false
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, false
		}
		names = append(names, tok.(string))
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return nil, false
		}
	}
	return names, true
}

// FuzzParseResponse checks the parser of untrusted introspection responses against
// encoding/json: whatever it accepts is one valid JSON object with no member named twice,
// its active flag and subject are what an exact-name reading of that object says, and
// an accepted principal's name is one that cannot collapse into another. Seeds live in
// testdata/fuzz/FuzzParseResponse.
func FuzzParseResponse(f *testing.F) {
	f.Add("application/json", `{"active":true,"sub":"u","scope":"a b","exp":2000000600,"nbf":1.5e9}`)
	f.Add("application/json", `{"active":false}`)
	f.Add("text/html", `<html>`)
	f.Add("", `{"active":"yes"}`)
	f.Add("application/token-introspection+json", `{"active":true,"exp":-1}`)
	f.Add("application/json", `{"active":false,"Active":true,"sub":"u"}`)
	f.Add("application/json", `{"active":true,"sub":"u","sub":"admin"}`)
	f.Add("application/json", `{"active":true,"sub":"u"} {}`)
	f.Add("application/json", `{"active":true,"sub":"ad\u0000min"}`)
	f.Add("application/json", `{"active":true,"username":"x","client_id":"c"}`)
	a, err := New(Config{Name: "o", URL: "http://127.0.0.1:1/", ClientID: "c", ClientSecret: "s", CacheMaxTTL: time.Minute, Now: func() time.Time { return t0 }})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, ctype, body string) {
		ans, ttl, err := a.parse(ctype, []byte(body), "tok")
		if err != nil {
			return
		}
		if ttl > time.Minute {
			t.Fatalf("ttl %v above the maximum", ttl)
		}
		if !ans.active && (ans.principal.Subject != "" || ttl > a.negTTL) {
			t.Fatalf("inactive answer %+v ttl %v", ans, ttl)
		}
		if !json.Valid([]byte(body)) {
			t.Fatalf("accepted %q, which is not valid JSON", body)
		}
		names, ok := topLevelNames([]byte(body))
		if !ok {
			t.Fatalf("accepted %q, which is not a JSON object", body)
		}
		seen := map[string]bool{}
		for _, n := range names {
			if seen[n] {
				t.Fatalf("accepted %q, which names %q twice", body, n)
			}
			seen[n] = true
		}
		// UseNumber: any JSON number is valid JSON, also one a float64 cannot hold (1e700)
		// in a member the parser ignores; the members it reads are checked for range.
		var m map[string]any
		dec := json.NewDecoder(strings.NewReader(body))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("accepted %q, which encoding/json refuses: %v", body, err)
		}
		if active, _ := m["active"].(bool); active != ans.active {
			t.Fatalf("%q: active %v, the exact member says %v", body, ans.active, active)
		}
		if !ans.active {
			return
		}
		if ans.refusal != "" {
			if ans.principal.Subject != "" || ttl > a.negTTL {
				t.Fatalf("refused answer %+v ttl %v", ans, ttl)
			}
			return
		}
		var want string
		for _, k := range []string{"sub", "username", "client_id"} {
			if v, _ := m[k].(string); want == "" {
				want = v
			}
		}
		if want == "" || ans.principal.Subject != want {
			t.Fatalf("%q: subject %q, want %q", body, ans.principal.Subject, want)
		}
		if p := tokens.NameProblem(ans.principal.Subject); p != "" {
			t.Fatalf("%q: accepted a subject that %s", body, p)
		}
	})
}
