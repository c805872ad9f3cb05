package proxy

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// newProxy returns a test server running New in front of upstream.
func newProxy(t testing.TB, upstream http.Handler) (*httptest.Server, *http.Client) {
	t.Helper()
	up := httptest.NewServer(upstream)
	t.Cleanup(up.Close)
	u, err := url.Parse(up.URL)
	if err != nil {
		t.Fatal(err)
	}
	gw := httptest.NewServer(New(Options{Upstream: u, Transport: NewTransport(10 * time.Second)}))
	t.Cleanup(gw.Close)
	return gw, &http.Client{Timeout: 10 * time.Second}
}

// TestStreamingResponsesReachTheClientBeforeTheyEnd guards streaming through the proxy:
// a server-sent events stream and a chunked body of unknown length must deliver each
// part while the upstream is still writing. The upstream waits for the client to have
// read the first part before it writes the second, so a proxy that held the response
// back would deadlock until the test's timeout.
func TestStreamingResponsesReachTheClientBeforeTheyEnd(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
	}{
		{"server-sent events", "text/event-stream"},
		{"chunked body of unknown length", "text/plain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			firstRead := make(chan struct{})
			gw, client := newProxy(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tt.contentType)
				io.WriteString(w, "part 1\n")
				w.(http.Flusher).Flush()
				select {
				case <-firstRead:
				case <-time.After(5 * time.Second):
					return // the test fails on its side
				}
				io.WriteString(w, "part 2\n")
			}))
			resp, err := client.Get(gw.URL + "/events")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			br := bufio.NewReader(resp.Body)
			done := make(chan string, 1)
			go func() {
				line, _ := br.ReadString('\n')
				done <- line
			}()
			select {
			case line := <-done:
				if line != "part 1\n" {
					t.Fatalf("first part %q", line)
				}
			case <-time.After(3 * time.Second):
				t.Fatal("the first part of a streaming response was held back by the proxy")
			}
			close(firstRead)
			rest, err := io.ReadAll(br)
			if err != nil || string(rest) != "part 2\n" {
				t.Fatalf("rest %q, %v", rest, err)
			}
		})
	}
}

// TestSlowBodyOfKnownLengthIsFlushedWithinTheInterval: a response with a Content-Length
// is buffered, but a part that the upstream has sent reaches the client within
// FlushInterval even when the rest is slow to come.
func TestSlowBodyOfKnownLengthIsFlushedWithinTheInterval(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	gw, client := newProxy(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		io.WriteString(w, "hello")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-time.After(5 * time.Second):
		}
		io.WriteString(w, "world")
	}))
	start := time.Now()
	resp, err := client.Get(gw.URL + "/slow")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 5)
	if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "hello" {
		t.Fatalf("first part %q, %v", buf, err)
	}
	if waited := time.Since(start); waited > 2*time.Second {
		t.Fatalf("the first part of a slow body took %s; FlushInterval is %s", waited, FlushInterval)
	}
}

// TestConcurrentBodiesAreCopiedIntact guards the pooled copy buffers: concurrent
// responses of many sizes (empty, one byte, exactly one buffer, several buffers) must
// each arrive byte for byte, never mixed with another response's bytes.
func TestConcurrentBodiesAreCopiedIntact(t *testing.T) {
	sizes := []int{0, 1, 100, copyBufferSize - 1, copyBufferSize, copyBufferSize + 1, 3*copyBufferSize + 17, 1 << 20}
	body := func(size, seed int) []byte {
		b := make([]byte, size)
		for i := range b {
			b[i] = byte(i*31 + seed)
		}
		return b
	}
	gw, client := newProxy(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		size, _ := strconv.Atoi(r.URL.Query().Get("size"))
		seed, _ := strconv.Atoi(r.URL.Query().Get("seed"))
		if r.URL.Query().Get("chunked") == "" {
			w.Header().Set("Content-Length", strconv.Itoa(size))
		}
		w.Write(body(size, seed))
	}))
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for seed := range 8 {
		for _, size := range sizes {
			for _, chunked := range []string{"", "1"} {
				wg.Go(func() {
					resp, err := client.Get(fmt.Sprintf("%s/b?size=%d&seed=%d&chunked=%s", gw.URL, size, seed, chunked))
					if err != nil {
						errs <- err
						return
					}
					defer resp.Body.Close()
					got, err := io.ReadAll(resp.Body)
					if err != nil {
						errs <- err
						return
					}
					if sha256.Sum256(got) != sha256.Sum256(body(size, seed)) {
						errs <- fmt.Errorf("size %d seed %d chunked %q: body differs (%d bytes)", size, seed, chunked, len(got))
					}
				})
			}
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestBufferPoolRecyclesOnlyItsOwnSize: a buffer of another size given back (by a
// caller that did not get it from the pool) is not handed out again.
func TestBufferPoolRecyclesOnlyItsOwnSize(t *testing.T) {
	copyBuffers.Put(make([]byte, 10))
	copyBuffers.Put(make([]byte, copyBufferSize+1)[:copyBufferSize])
	for range 4 {
		b := copyBuffers.Get()
		if len(b) != copyBufferSize || cap(b) != copyBufferSize {
			t.Fatalf("Get returned a buffer of len %d cap %d, want %d", len(b), cap(b), copyBufferSize)
		}
		copyBuffers.Put(b)
	}
}

// TestIdentityHeadersAreRecognisedInEverySpelling covers the names upstreams may fold
// into X-Gatehouse-*.
func TestIdentityHeadersAreRecognisedInEverySpelling(t *testing.T) {
	h := http.Header{}
	for _, name := range []string{"X-Gatehouse-Subject", "x_gatehouse_scopes", "X.Gatehouse.Authenticator", "X-GATEHOUSE-anything", "X-Gatehouse", "X-Other", "Authorization"} {
		h[name] = []string{"v"}
	}
	StripIdentityHeaders(h)
	var left []string
	for name := range h {
		left = append(left, name)
	}
	want := map[string]bool{"X-Gatehouse": true, "X-Other": true, "Authorization": true}
	got := map[string]bool{}
	for _, n := range left {
		got[n] = true
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("headers left (-want +got):\n%s", diff)
	}
}

// TestUpstreamReceivesForwardedHeadersAndNoAuthorization checks the Rewrite: the
// upstream sees the client's host in X-Forwarded-Host and no Authorization unless the
// route forwards it.
func TestUpstreamReceivesForwardedHeadersAndNoAuthorization(t *testing.T) {
	got := make(chan http.Header, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got <- r.Header.Clone() }))
	defer up.Close()
	u, _ := url.Parse(up.URL)
	for _, forward := range []bool{false, true} {
		gw := httptest.NewServer(New(Options{Upstream: u, ForwardAuthorization: forward}))
		req, _ := http.NewRequest("GET", gw.URL+"/x", nil)
		req.Host = "api.example"
		req.Header.Set("Authorization", "Bearer secret")
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		h := <-got
		gw.Close()
		if h.Get("X-Forwarded-Host") != "api.example" || h.Get("X-Forwarded-Proto") != "http" || !strings.HasPrefix(h.Get("X-Forwarded-For"), "127.0.0.1") {
			t.Errorf("forward=%v: X-Forwarded-* %v", forward, h)
		}
		if has := h.Get("Authorization") != ""; has != forward {
			t.Errorf("forward=%v: upstream got Authorization %v", forward, has)
		}
	}
}

// BenchmarkProxySmallResponse measures one proxied request with a 100-byte response over
// loopback (client, proxy and upstream in this process); allocs/op are the proxy's and
// the client's. Compare runs with benchstat.
func BenchmarkProxySmallResponse(b *testing.B) {
	payload := bytes.Repeat([]byte("x"), 100)
	gw, _ := newProxy(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.Write(payload)
	}))
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 10 * time.Second}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Get(gw.URL + "/orders")
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}

// TestStripQueryRemovesOnlyCredentials: the named parameters go, in any percent-encoding
// of their name; everything else stays byte for byte, in its order.
func TestStripQueryRemovesOnlyCredentials(t *testing.T) {
	names := []string{"access_token", "api_key"}
	tests := []struct{ in, want string }{
		{"", ""},
		{"a=1&b=2", "a=1&b=2"},
		{"access_token=x", ""},
		{"access_token=x&a=1", "a=1"},
		{"a=1&access_token=x", "a=1"},
		{"a=%2F+b&access_token=x&c=%c3%a9&d", "a=%2F+b&c=%c3%a9&d"},
		{"access%5Ftoken=x&api%5fkey=y&z=1", "z=1"},
		{"api_key&api_key=&api_key=1&keep=api_key", "keep=api_key"},
		{"&a=1&&access_token=x&", "&a=1&&"},
		{"Access_Token=x&api_key2=y", "Access_Token=x&api_key2=y"},
		{"access_token%zz=x&a=1", "access_token%zz=x&a=1"},
	}
	for _, tt := range tests {
		if got := StripQuery(tt.in, names); got != tt.want {
			t.Errorf("StripQuery(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzStripQuery: whatever the query, no pair of the result names a stripped
// parameter as url.ParseQuery reads it, and the kept pairs are the input's, in order.
func FuzzStripQuery(f *testing.F) {
	for _, s := range []string{"a=1&access_token=x", "access%5Ftoken=x&b", "&&", "a=%zz&access_token=1", "x=1;access_token=2"} {
		f.Add(s)
	}
	names := []string{"access_token", "k"}
	f.Fuzz(func(t *testing.T, raw string) {
		got := StripQuery(raw, names)
		v, _ := url.ParseQuery(got)
		for _, n := range names {
			if _, ok := v[n]; ok {
				t.Fatalf("StripQuery(%q) = %q keeps %s", raw, got, n)
			}
		}
		var kept []string
		for pair := range strings.SplitSeq(raw, "&") {
			if !queryNameIn(pair, names) {
				kept = append(kept, pair)
			}
		}
		if want := strings.Join(kept, "&"); got != want && !(len(kept) == 0 && got == "") {
			t.Fatalf("StripQuery(%q) = %q, want %q", raw, got, want)
		}
	})
}

// TestConnectionCannotDropForwardedCredentials: on a proxy that forwards credentials,
// a client naming them in Connection still has them forwarded; on one that does not,
// none arrives, in whatever spelling the route configured the header.
func TestConnectionCannotDropForwardedCredentials(t *testing.T) {
	got := make(chan *http.Request, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got <- r }))
	defer up.Close()
	u, _ := url.Parse(up.URL)
	for _, forward := range []bool{true, false} {
		gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			StripIdentityHeaders(r.Header)
			r.Header.Set(HeaderSubject, "alice")
			New(Options{Upstream: u, ForwardAuthorization: forward, CredentialHeaders: []string{"x-api-key"}, CredentialQuery: []string{"key"}}).ServeHTTP(w, r)
		}))
		req, _ := http.NewRequest("GET", gw.URL+"/x?key=k1&b=%41", nil)
		req.Header.Set("Authorization", "Bearer secret")
		req.Header.Set("X-API-Key", "k1")
		req.Header["Connection"] = []string{"X-API-Key, authorization", "X-Gatehouse-Subject"}
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		r := <-got
		gw.Close()
		wantQuery, wantAuthz, wantKey := "b=%41", "", ""
		if forward {
			wantQuery, wantAuthz, wantKey = "key=k1&b=%41", "Bearer secret", "k1"
		}
		if diff := cmp.Diff([]string{wantQuery, wantAuthz, wantKey, "alice"},
			[]string{r.URL.RawQuery, r.Header.Get("Authorization"), r.Header.Get("X-API-Key"), r.Header.Get(HeaderSubject)}); diff != "" {
			t.Errorf("forward=%v: upstream [query authorization key subject] (-want +got):\n%s", forward, diff)
		}
	}
}
