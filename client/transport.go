package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// DefaultMaxReplayBody is how much of a request body without GetBody the transport
// buffers so that it can send it again after a refresh.
const DefaultMaxReplayBody = 1 << 20

// refreshTimeout bounds one refresh, which runs for every request waiting on it and so
// does not end with the context of the request that started it.
const refreshTimeout = 30 * time.Second

// Transport is an http.RoundTripper that attaches Credentials to each request and handles
// a 401, a redirect and Retry-After as the package documentation describes. Its fields
// must not change after its first use; it is safe for concurrent use. Use one Transport
// per credential: the single-flight refresh is per Transport.
type Transport struct {
	// Credentials is attached to every request to the origin of the caller's request.
	// Required.
	Credentials Credentials
	// Base sends the requests; http.DefaultTransport when nil.
	Base http.RoundTripper
	// MaxReplayBody is how many bytes of a body without GetBody are buffered so that the
	// request can be sent again; DefaultMaxReplayBody when 0, no buffering when negative.
	MaxReplayBody int64
	// MaxRetryAfter opts in to retrying a 429 or 503 once, after waiting for its
	// Retry-After, when that is at most MaxRetryAfter. Zero (the default) never retries
	// them.
	MaxRetryAfter time.Duration

	mu     sync.Mutex
	gen    uint64  // how many refreshes succeeded
	flight *flight // the refresh in progress, if any
}

type flight struct {
	done chan struct{}
	err  error
}

// NewClient returns an *http.Client whose transport attaches creds with the defaults of
// Transport. The client has no timeout; give each request a context with a deadline.
func NewClient(creds Credentials) *http.Client {
	return &http.Client{Transport: &Transport{Credentials: creds}}
}

func (t *Transport) base() http.RoundTripper {
	if t.Base != nil {
		return t.Base
	}
	return http.DefaultTransport
}

// RoundTrip sends req with the credential (when it stays on its first origin), refreshes
// once on a 401 that asks for it, and returns the last response.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.Credentials == nil {
		closeBody(req)
		return nil, errors.New("client: Transport.Credentials is nil")
	}
	if leftOrigin(req) {
		out := req.Clone(req.Context())
		for _, name := range t.credentialHeaders() {
			out.Header.Del(name)
		}
		return t.base().RoundTrip(out)
	}
	getBody, err := t.replayable(req)
	if err != nil {
		return nil, err
	}
	resp, gen, err := t.send(req, getBody, false)
	if err != nil || getBody == nil {
		return resp, err
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		ref, ok := t.Credentials.(Refresher)
		if !ok || !refreshable(resp) {
			return resp, nil
		}
		if err := t.refresh(req.Context(), ref, gen); err != nil {
			discard(resp)
			return nil, fmt.Errorf("client: refresh the credential after a 401 from %s: %w", origin(req), err)
		}
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable:
		wait := retryAfter(resp.Header.Get("Retry-After"), time.Now())
		if t.MaxRetryAfter <= 0 || wait <= 0 || wait > t.MaxRetryAfter {
			return resp, nil
		}
		discard(resp)
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-req.Context().Done():
			timer.Stop()
			return nil, req.Context().Err()
		}
	default:
		return resp, nil
	}
	discard(resp)
	resp, _, err = t.send(req, getBody, true)
	return resp, err
}

// send clones req, sets its body (a fresh copy when replay), attaches the credential and
// sends it. It returns the refresh generation the credential belongs to.
func (t *Transport) send(req *http.Request, getBody func() (io.ReadCloser, error), replay bool) (*http.Response, uint64, error) {
	out := req.Clone(req.Context())
	if getBody != nil {
		if replay || req.GetBody == nil { // the first send of a buffered body reads the buffer too
			body, err := getBody()
			if err != nil {
				return nil, 0, fmt.Errorf("client: replay the request body: %w", err)
			}
			out.Body = body
		}
		out.GetBody = getBody
	}
	t.mu.Lock()
	gen := t.gen // read before Apply, so that a refresh in between cannot be missed
	t.mu.Unlock()
	if err := t.Credentials.Apply(req.Context(), out.Header); err != nil {
		closeBody(out)
		return nil, 0, err
	}
	resp, err := t.base().RoundTrip(out)
	return resp, gen, err
}

// replayable returns a function that gives a fresh copy of req's body, or nil when the
// body cannot be replayed. A body without GetBody of at most MaxReplayBody bytes is read
// into memory (and req.Body closed); a larger one is kept for a single streamed send.
func (t *Transport) replayable(req *http.Request) (func() (io.ReadCloser, error), error) {
	if req.Body == nil || req.Body == http.NoBody {
		return func() (io.ReadCloser, error) { return http.NoBody, nil }, nil
	}
	if req.GetBody != nil {
		return req.GetBody, nil
	}
	limit := t.MaxReplayBody
	if limit == 0 {
		limit = DefaultMaxReplayBody
	}
	if limit < 0 {
		return nil, nil
	}
	buf, err := io.ReadAll(io.LimitReader(req.Body, limit+1))
	if err != nil {
		closeBody(req)
		return nil, fmt.Errorf("client: read the request body: %w", err)
	}
	if int64(len(buf)) > limit {
		// Too large to keep: send what was read followed by the rest, once.
		req.Body = readCloser{io.MultiReader(bytes.NewReader(buf), req.Body), req.Body}
		return nil, nil
	}
	closeBody(req)
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf)), nil }, nil
}

// refresh renews the credentials once for every request that failed with the credential
// of generation gen. A request whose credential is older than the current one retries
// at once; one that arrives while a refresh runs waits for it.
func (t *Transport) refresh(ctx context.Context, ref Refresher, gen uint64) error {
	t.mu.Lock()
	if t.gen != gen {
		t.mu.Unlock()
		return nil
	}
	if f := t.flight; f != nil {
		t.mu.Unlock()
		select {
		case <-f.done:
			return f.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f := &flight{done: make(chan struct{})}
	t.flight = f
	t.mu.Unlock()

	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), refreshTimeout)
	err := ref.Refresh(rctx)
	cancel()

	t.mu.Lock()
	if err == nil {
		t.gen++
	}
	f.err = err
	t.flight = nil
	t.mu.Unlock()
	close(f.done)
	return err
}

// refreshable reports whether a 401 says the credential is invalid or expired: a Bearer
// challenge with error="invalid_token", or a problem body whose reason is token_expired
// or invalid_token. A 401 without either (no credential read, a wrong password) is not
// one a refresh fixes.
func refreshable(resp *http.Response) bool {
	e := newError(resp, peekBody(resp))
	if c, ok := bearerChallenge(e.Challenges); ok {
		if code, _ := c.Param("error"); code == "invalid_token" {
			return true
		}
	}
	return e.Reason == "token_expired" || e.Reason == "invalid_token"
}

// credentialHeaders are the fields removed from a request that has left its origin.
func (t *Transport) credentialHeaders() []string {
	return append([]string{"Authorization", "Cookie"}, t.Credentials.Headers()...)
}

// leftOrigin reports whether req is a redirect hop whose chain has been, at any hop, on
// another origin than the first request's.
func leftOrigin(req *http.Request) bool {
	var chain []*http.Request
	for r := req; r != nil; {
		chain = append(chain, r)
		if r.Response == nil {
			break
		}
		r = r.Response.Request
	}
	first := origin(chain[len(chain)-1])
	for _, r := range chain[:len(chain)-1] {
		if origin(r) != first {
			return true
		}
	}
	return false
}

// origin returns scheme://host:port of r's URL, with the scheme's default port made
// explicit and the host lower-cased.
func origin(r *http.Request) string {
	u := r.URL
	scheme := strings.ToLower(u.Scheme)
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if port == "" {
		switch scheme {
		case "http":
			port = "80"
		case "https":
			port = "443"
		}
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return scheme + "://" + host + ":" + port
}

func closeBody(r *http.Request) {
	if r.Body != nil {
		r.Body.Close()
	}
}

// discard drains a little of a response that is not returned, so its connection can be
// reused, and closes it.
func discard(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}
