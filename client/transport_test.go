package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// rotating is a Refresher whose token becomes "tok-N" after N refreshes; it counts them
// and can hold each refresh until release is closed.
type rotating struct {
	mu        sync.Mutex
	n         int
	refreshes atomic.Int32
	release   chan struct{} // nil: refresh at once
	fail      error
	// entered, when set, is closed as the first refresh begins.
	entered     chan struct{}
	enteredOnce sync.Once
}

func (c *rotating) Apply(_ context.Context, h http.Header) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	h.Set("Authorization", fmt.Sprintf("Bearer tok-%d", c.n))
	return nil
}

func (c *rotating) Headers() []string { return []string{"Authorization"} }

func (c *rotating) Refresh(ctx context.Context) error {
	c.refreshes.Add(1)
	if c.entered != nil {
		c.enteredOnce.Do(func() { close(c.entered) })
	}
	if c.release != nil {
		select {
		case <-c.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if c.fail != nil {
		return c.fail
	}
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	return nil
}

// deny writes a Gatehouse-shaped 401.
func deny(w http.ResponseWriter, reason, bearerError string) {
	ch := `Bearer realm="orders"`
	if bearerError != "" {
		ch += `, error="` + bearerError + `", error_description="the token expired 3s ago"`
	}
	w.Header().Set("WWW-Authenticate", ch)
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Request-Id", "req-1")
	w.WriteHeader(http.StatusUnauthorized)
	json.NewEncoder(w).Encode(map[string]any{"status": 401, "reason": reason, "title": "Unauthorized", "detail": "the token expired 3s ago", "request_id": "req-1"})
}

// acceptOnly answers 200 to "Bearer good" and a token_expired 401 to anything else, and
// records the bodies it received.
type acceptOnly struct {
	good   string
	mu     sync.Mutex
	hits   int
	bodies []string
}

func (s *acceptOnly) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.hits++
	s.bodies = append(s.bodies, string(b))
	s.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer "+s.good {
		deny(w, "token_expired", "invalid_token")
		return
	}
	io.WriteString(w, "ok")
}

func do(t *testing.T, c *http.Client, req *http.Request) (int, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func newReq(t *testing.T, method, url string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestRefreshOnceThenRetry(t *testing.T) {
	tests := []struct {
		name         string
		good         string // the token the server takes
		wantStatus   int
		wantRefresh  int32
		wantHits     int
		serverReason string
	}{
		{"refresh fixes it", "tok-1", 200, 1, 2, "token_expired"},
		{"still refused after one refresh", "tok-9", 401, 1, 2, "token_expired"},
		{"valid at once", "tok-0", 200, 0, 1, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := &acceptOnly{good: tc.good}
			ts := httptest.NewServer(srv)
			defer ts.Close()
			cred := &rotating{}
			c := &http.Client{Transport: &Transport{Credentials: cred}}
			status, _ := do(t, c, newReq(t, "GET", ts.URL+"/orders", nil))
			if status != tc.wantStatus || cred.refreshes.Load() != tc.wantRefresh || srv.hits != tc.wantHits {
				t.Errorf("status %d, refreshes %d, hits %d; want %d, %d, %d", status, cred.refreshes.Load(), srv.hits, tc.wantStatus, tc.wantRefresh, tc.wantHits)
			}
		})
	}
}

// TestRefreshOnlyWhenTheChallengeOrReasonSaysSo: a 401 without invalid_token (no
// credential read, a wrong password) and a 403 are returned without a refresh or a retry.
func TestRefreshOnlyWhenTheChallengeOrReasonSaysSo(t *testing.T) {
	tests := []struct {
		name        string
		handler     http.HandlerFunc
		wantRefresh int32
		wantHits    int32
	}{
		{"bearer invalid_token", func(w http.ResponseWriter, r *http.Request) { deny(w, "token_revoked", "invalid_token") }, 1, 2},
		{"problem reason token_expired, no challenge", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(401)
			io.WriteString(w, `{"reason":"token_expired"}`)
		}, 1, 2},
		{"credentials_missing", func(w http.ResponseWriter, r *http.Request) { deny(w, "credentials_missing", "") }, 0, 1},
		{"basic credentials_invalid", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("WWW-Authenticate", `Basic realm="x", charset="UTF-8"`)
			w.WriteHeader(401)
		}, 0, 1},
		{"403 insufficient_scope", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="x", error="insufficient_scope", scope="orders:admin"`)
			w.WriteHeader(403)
		}, 0, 1},
		{"403 that claims invalid_token", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			w.WriteHeader(403)
		}, 0, 1},
		{"unparseable challenge", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token`)
			w.WriteHeader(401)
		}, 0, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var hits atomic.Int32
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1); tc.handler(w, r) }))
			defer ts.Close()
			cred := &rotating{}
			c := &http.Client{Transport: &Transport{Credentials: cred}}
			do(t, c, newReq(t, "GET", ts.URL, nil))
			if cred.refreshes.Load() != tc.wantRefresh || hits.Load() != tc.wantHits {
				t.Errorf("refreshes %d, hits %d; want %d, %d", cred.refreshes.Load(), hits.Load(), tc.wantRefresh, tc.wantHits)
			}
		})
	}
}

// TestTenConcurrent401sCauseOneRefresh holds every first request at the server until all
// ten have arrived with the stale token, and holds the refresh until all ten 401s have
// been answered, so every request fails with the same credential at the same time.
func TestTenConcurrent401sCauseOneRefresh(t *testing.T) {
	const n = 10
	var stale atomic.Int32
	allArrived := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "Bearer tok-1" {
			io.WriteString(w, "ok")
			return
		}
		if stale.Add(1) == n {
			close(allArrived)
		}
		select {
		case <-allArrived:
		case <-r.Context().Done():
		}
		deny(w, "token_expired", "invalid_token")
	}))
	defer ts.Close()
	cred := &rotating{release: make(chan struct{}), entered: make(chan struct{})}
	tr := &Transport{Credentials: cred}
	c := &http.Client{Transport: tr}
	var wg sync.WaitGroup
	statuses := make(chan int, n)
	for range n {
		wg.Go(func() {
			req := newReq(t, "GET", ts.URL, nil)
			resp, err := c.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		})
	}
	<-allArrived
	// Release the refresh only once every request is waiting on it (or has refreshed).
	select {
	case <-cred.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("no refresh began")
	}
	close(cred.release)
	wg.Wait()
	close(statuses)
	for s := range statuses {
		if s != 200 {
			t.Errorf("status %d, want 200", s)
		}
	}
	if got := cred.refreshes.Load(); got != 1 {
		t.Errorf("%d refreshes for %d concurrent 401s, want 1", got, n)
	}
}

// TestA401AfterARefreshRetriesWithoutRefreshingAgain: a request that sent the old token
// and gets its 401 after another request's refresh has finished uses the new token.
func TestA401AfterARefreshRetriesWithoutRefreshingAgain(t *testing.T) {
	slowArrived, releaseSlow := make(chan struct{}), make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Header.Get("Authorization") == "Bearer tok-1":
			io.WriteString(w, "ok")
		case r.URL.Path == "/slow":
			close(slowArrived)
			<-releaseSlow
			deny(w, "token_expired", "invalid_token")
		default:
			deny(w, "token_expired", "invalid_token")
		}
	}))
	defer ts.Close()
	cred := &rotating{}
	c := &http.Client{Transport: &Transport{Credentials: cred}}
	done := make(chan int)
	go func() {
		resp, err := c.Do(newReq(t, "GET", ts.URL+"/slow", nil))
		if err != nil {
			t.Error(err)
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	<-slowArrived // the slow request has sent tok-0
	if s, _ := do(t, c, newReq(t, "GET", ts.URL+"/fast", nil)); s != 200 {
		t.Fatalf("fast: %d", s)
	}
	close(releaseSlow)
	if s := <-done; s != 200 {
		t.Errorf("slow: %d", s)
	}
	if got := cred.refreshes.Load(); got != 1 {
		t.Errorf("%d refreshes, want 1", got)
	}
}

type onlyReader struct{ r io.Reader } // hides the concrete type, so NewRequest sets no GetBody

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func TestBodyReplay(t *testing.T) {
	body := strings.Repeat("order line\n", 100)
	tests := []struct {
		name      string
		body      func() io.Reader
		maxReplay int64
		want      int // status
		wantHits  int
	}{
		{"GetBody (strings.Reader)", func() io.Reader { return strings.NewReader(body) }, 0, 200, 2},
		{"buffered (no GetBody)", func() io.Reader { return onlyReader{strings.NewReader(body)} }, 0, 200, 2},
		{"buffered, exactly the limit", func() io.Reader { return onlyReader{strings.NewReader(body)} }, int64(len(body)), 200, 2},
		{"too large to replay: sent once", func() io.Reader { return onlyReader{strings.NewReader(body)} }, int64(len(body) - 1), 401, 1},
		{"buffering off", func() io.Reader { return onlyReader{strings.NewReader(body)} }, -1, 401, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := &acceptOnly{good: "tok-1"}
			ts := httptest.NewServer(srv)
			defer ts.Close()
			c := &http.Client{Transport: &Transport{Credentials: &rotating{}, MaxReplayBody: tc.maxReplay}}
			status, _ := do(t, c, newReq(t, "POST", ts.URL, tc.body()))
			if status != tc.want || srv.hits != tc.wantHits {
				t.Fatalf("status %d after %d sends, want %d after %d", status, srv.hits, tc.want, tc.wantHits)
			}
			for i, b := range srv.bodies {
				if b != body {
					t.Errorf("send %d carried %d bytes, want the whole body (%d)", i, len(b), len(body))
				}
			}
		})
	}
}

func TestNoRetryOf403Or429UnlessRetryAfterIsOptedIn(t *testing.T) {
	tests := []struct {
		name          string
		status        int
		retryAfter    string
		maxRetryAfter time.Duration
		wantHits      int32
		wantStatus    int
	}{
		{"403", 403, "", time.Minute, 1, 403},
		{"429 by default", 429, "1", 0, 1, 429},
		{"503 by default", 503, "1", 0, 1, 503},
		{"429 opted in", 429, "1", 5 * time.Second, 2, 200},
		{"503 opted in", 503, "1", 5 * time.Second, 2, 200},
		{"429 Retry-After beyond the max", 429, "60", 5 * time.Second, 1, 429},
		{"429 without Retry-After", 429, "", 5 * time.Second, 1, 429},
		{"429 with a garbage Retry-After", 429, "soon", 5 * time.Second, 1, 429},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var hits atomic.Int32
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if hits.Add(1) > 1 {
					io.WriteString(w, "ok")
					return
				}
				if tc.retryAfter != "" {
					w.Header().Set("Retry-After", tc.retryAfter)
				}
				w.WriteHeader(tc.status)
			}))
			defer ts.Close()
			cred := &rotating{}
			c := &http.Client{Transport: &Transport{Credentials: cred, MaxRetryAfter: tc.maxRetryAfter}}
			status, _ := do(t, c, newReq(t, "POST", ts.URL, strings.NewReader("x")))
			if hits.Load() != tc.wantHits || status != tc.wantStatus || cred.refreshes.Load() != 0 {
				t.Errorf("hits %d, status %d, refreshes %d; want %d, %d, 0", hits.Load(), status, cred.refreshes.Load(), tc.wantHits, tc.wantStatus)
			}
		})
	}
}

func TestRetryAfterWaitEndsWithTheContext(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(429)
	}))
	defer ts.Close()
	c := &http.Client{Transport: &Transport{Credentials: Bearer("t0ken-secret"), MaxRetryAfter: time.Minute}}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL, nil)
	_, err := c.Do(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want the context's deadline", err)
	}
}

// TestNoCredentialOnAnotherOrigin redirects from the API's origin to another one (another
// port of the same host: another origin) and back, for every kind of credential, and
// checks what each hop received.
func TestNoCredentialOnAnotherOrigin(t *testing.T) {
	type hop struct{ auth, apiKey, custom, cookie string }
	record := func(got *[]hop, mu *sync.Mutex, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		*got = append(*got, hop{r.Header.Get("Authorization"), r.Header.Get("X-API-Key"), r.Header.Get("X-Orders-Key"), r.Header.Get("Cookie")})
	}
	creds := map[string]Credentials{
		"bearer":             Bearer("s3cret-token"),
		"api key":            APIKey("gk_live_s3cret"),
		"api key, custom":    APIKeyHeader("x-orders-key", "gk_live_s3cret"),
		"basic":              Basic("alice", "s3cret-password"),
		"oauth token source": TokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "s3cret-oauth", Expiry: time.Now().Add(time.Hour)})),
	}
	for name, cred := range creds {
		t.Run(name, func(t *testing.T) {
			var mu sync.Mutex
			var onA, onB []hop
			var a, b *httptest.Server
			a = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				record(&onA, &mu, r)
				switch r.URL.Path {
				case "/start":
					http.Redirect(w, r, "/same", http.StatusFound) // same origin: keeps the credential
				case "/same":
					http.Redirect(w, r, b.URL+"/other", http.StatusTemporaryRedirect)
				default:
					io.WriteString(w, "back on A")
				}
			}))
			defer a.Close()
			b = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				record(&onB, &mu, r)
				http.Redirect(w, r, a.URL+"/back", http.StatusTemporaryRedirect)
			}))
			defer b.Close()
			c := &http.Client{Transport: &Transport{Credentials: cred}}
			req := newReq(t, "POST", a.URL+"/start", strings.NewReader("body"))
			req.Header.Set("Cookie", "session=s3cret-cookie") // set by the caller, copied by http.Client
			if s, body := do(t, c, req); s != 200 || body != "back on A" {
				t.Fatalf("%d %q", s, body)
			}
			if len(onA) != 3 || len(onB) != 1 {
				t.Fatalf("hops on A %d, on B %d", len(onA), len(onB))
			}
			for i, h := range onA[:2] {
				if h.auth == "" && h.apiKey == "" && h.custom == "" {
					t.Errorf("hop %d on the first origin lost the credential", i)
				}
			}
			for _, h := range append(onB, onA[2]) {
				for _, v := range []string{h.auth, h.apiKey, h.custom, h.cookie} {
					if v != "" {
						t.Errorf("a hop after leaving the origin received a credential header: %+v", h)
					}
				}
			}
		})
	}
}

func TestOrigin(t *testing.T) {
	tests := []struct{ a, b string }{
		{"http://Example.com/x", "http://example.com:80/y"},
		{"https://example.com", "https://example.com:443"},
		{"http://[::1]:8080/", "http://[::1]:8080/a"},
	}
	for _, tc := range tests {
		ra, _ := http.NewRequest("GET", tc.a, nil)
		rb, _ := http.NewRequest("GET", tc.b, nil)
		if origin(ra) != origin(rb) {
			t.Errorf("%s and %s: %s != %s", tc.a, tc.b, origin(ra), origin(rb))
		}
	}
	for _, pair := range [][2]string{{"http://a.test", "https://a.test"}, {"http://a.test", "http://a.test:8080"}, {"http://a.test", "http://b.a.test"}} {
		ra, _ := http.NewRequest("GET", pair[0], nil)
		rb, _ := http.NewRequest("GET", pair[1], nil)
		if origin(ra) == origin(rb) {
			t.Errorf("%s and %s are one origin", pair[0], pair[1])
		}
	}
}

func TestRefreshFailureIsAnErrorWithoutTheCredential(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { deny(w, "token_expired", "invalid_token") }))
	defer ts.Close()
	cred := &rotating{fail: errors.New("the identity provider is down")}
	c := &http.Client{Transport: &Transport{Credentials: cred}}
	_, err := c.Do(newReq(t, "GET", ts.URL, nil))
	if err == nil || !strings.Contains(err.Error(), "the identity provider is down") || strings.Contains(err.Error(), "tok-0") {
		t.Fatalf("err = %v", err)
	}
}

func TestNilCredentials(t *testing.T) {
	_, err := (&Transport{}).RoundTrip(httptest.NewRequest("GET", "http://x.test/", nil))
	if err == nil || !strings.Contains(err.Error(), "Credentials is nil") {
		t.Fatalf("err = %v", err)
	}
}
