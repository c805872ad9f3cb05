package jwt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/gatehouse-dev/gatehouse/internal/tokens"
)

// maxJWKSBytes bounds a fetched key set document. Real ones are a few KiB.
const maxJWKSBytes = 1 << 20

// Fetch results passed to Config.OnFetch.
const (
	FetchOK          = "ok"
	FetchError       = "error"
	FetchNotModified = "not_modified"
)

// keyState is one immutable snapshot of the remote key set.
type keyState struct {
	set *tokens.KeySet
	// fetchedAt is when the issuer last confirmed this set (200 or 304).
	fetchedAt time.Time
	// expiresAt is fetchedAt plus the document's max-age, clamped.
	expiresAt          time.Time
	etag, lastModified string
	// url is where the set was fetched (the discovered jwks_uri with discovery).
	url string
}

// errUnavailable means no key set recent enough to decide is available.
type errUnavailable struct {
	retryAfter time.Duration
	cause      error
}

func (e *errUnavailable) Error() string {
	if e.cause == nil {
		return "jwks unavailable"
	}
	return "jwks unavailable: " + e.cause.Error()
}

func (e *errUnavailable) Unwrap() error { return e.cause }

// remoteKeys fetches, caches and refreshes a JWKS from a URL (docs/design.md, section 6).
//
// Every fetch, whatever prompted it, goes through start, which decides under mu whether a
// new fetch may begin or an in-flight one is joined, so the rate limits cannot be raced.
type remoteKeys struct {
	url, redactedURL string
	client           *http.Client
	minRefresh       time.Duration
	maxStale         time.Duration
	negativeTTL      time.Duration
	fetchTimeout     time.Duration
	now              func() time.Time
	log              *slog.Logger
	onFetch          func(result string)
	// onKeysRemoved runs after a refresh that dropped a key id or changed the key behind
	// one, so tokens verified with a withdrawn key stop being served from the cache.
	onKeysRemoved func()
	// discovery, when set, finds url in the issuer's metadata before each fetch.
	discovery *discovery

	state   atomic.Pointer[keyState]
	sf      singleflight.Group
	async   atomic.Bool // a background refresh goroutine is running
	started atomic.Bool // Start's loop is running

	mu          sync.Mutex
	inflight    bool
	flights     uint64 // flights started, naming each one's singleflight key
	flightKey   string
	lastAttempt time.Time
	lastErr     error     // nil after a success
	failures    int       // consecutive failed fetches
	retryAt     time.Time // no new attempt before this after a failure
	negative    map[string]time.Time
}

// fetchPolicy is why a fetch is wanted; it decides which limits apply.
type fetchPolicy int

const (
	// policyNeeded: there is no usable set. Only the failure backoff applies.
	policyNeeded fetchPolicy = iota
	// policyUnknownKid: a token names a key id not in the set. At most one attempt per
	// minRefresh, and not during the failure backoff.
	policyUnknownKid
	// policyRefresh: the set passed its max-age. Not during the failure backoff.
	policyRefresh
)

const maxNegative = 4096

// start joins the in-flight fetch or starts one if policy allows. ch is nil when no fetch
// may start; failing then says whether the last attempt failed.
func (r *remoteKeys) start(policy fetchPolicy) (ch <-chan singleflight.Result, failing bool) {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.inflight {
		if now.Before(r.retryAt) {
			return nil, r.lastErr != nil
		}
		if policy == policyUnknownKid && !r.lastAttempt.IsZero() && now.Sub(r.lastAttempt) < r.minRefresh {
			return nil, r.lastErr != nil
		}
		r.inflight = true
		r.lastAttempt = now
		r.flights++
		r.flightKey = "jwks-" + strconv.FormatUint(r.flights, 10)
	}
	// Holding mu while calling DoChan is what makes joining exact: the flight clears
	// inflight under mu before it returns, so while inflight is true its singleflight
	// call is still registered and DoChan joins it. Each flight has its own key, so a new
	// flight never joins one that is finishing.
	return r.sf.DoChan(r.flightKey, r.flight), false
}

// flight is the single fetch shared by everyone who joined it. It is detached from any
// request's context and bounded by fetchTimeout.
func (r *remoteKeys) flight() (any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), r.fetchTimeout)
	defer cancel()
	err := r.fetch(ctx)
	r.mu.Lock()
	r.inflight = false
	r.mu.Unlock()
	return nil, err
}

// wait waits for a flight or for ctx.
func wait(ctx context.Context, ch <-chan singleflight.Result) error {
	select {
	case res := <-ch:
		return res.Err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// current returns a key set recent enough to decide with, fetching synchronously when
// there is none or the one held is older than maxStale. It kicks a background refresh
// when the set has passed its max-age.
func (r *remoteKeys) current(ctx context.Context) (*keyState, error) {
	st := r.state.Load()
	now := r.now()
	if st == nil || now.Sub(st.fetchedAt) > r.maxStale {
		ch, _ := r.start(policyNeeded)
		if ch == nil {
			return nil, r.unavailable(now)
		}
		if err := wait(ctx, ch); err != nil {
			if st = r.state.Load(); st == nil || r.now().Sub(st.fetchedAt) > r.maxStale {
				return nil, r.unavailable(r.now())
			}
		}
		st = r.state.Load()
		if st == nil {
			return nil, r.unavailable(r.now())
		}
		return st, nil
	}
	if now.After(st.expiresAt) {
		r.refreshInBackground()
	}
	return st, nil
}

// refetchForKid is called when a token names a key id the set does not hold. It returns
// the set to retry with, or nil when no fetch could be made; failing then says whether
// that is because the issuer is unreachable (the caller must not answer 401).
func (r *remoteKeys) refetchForKid(ctx context.Context, kid string, used *tokens.KeySet) (set *tokens.KeySet, failing bool, err error) {
	// Someone else's refresh may already have brought the key.
	if st := r.state.Load(); st != nil && st.set != used {
		return st.set, false, nil
	}
	now := r.now()
	r.mu.Lock()
	until, neg := r.negative[kid]
	r.mu.Unlock()
	if neg && now.Before(until) {
		return nil, false, nil
	}
	ch, failing := r.start(policyUnknownKid)
	if ch == nil {
		if st := r.state.Load(); st != nil && st.set != used {
			return st.set, false, nil
		}
		return nil, failing, nil
	}
	if err := wait(ctx, ch); err != nil {
		return nil, true, err
	}
	return r.state.Load().set, false, nil
}

// remember negative-caches a key id still unknown after a refetch.
func (r *remoteKeys) remember(kid string) {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.negative == nil {
		r.negative = make(map[string]time.Time)
	}
	if len(r.negative) >= maxNegative {
		for k, until := range r.negative {
			if !now.Before(until) {
				delete(r.negative, k)
			}
		}
		if len(r.negative) >= maxNegative {
			// Forgetting only permits more refetches, which stay rate-limited.
			clear(r.negative)
		}
	}
	r.negative[kid] = now.Add(r.negativeTTL)
}

func (r *remoteKeys) unavailable(now time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	retry := r.retryAt.Sub(now)
	if retry < time.Second {
		retry = time.Second
	}
	cause := r.lastErr
	if cause == nil {
		cause = errors.New("no key set fetched yet")
	}
	return &errUnavailable{retryAfter: retry, cause: cause}
}

// refreshInBackground starts one detached refresh unless one is running.
func (r *remoteKeys) refreshInBackground() {
	if !r.async.CompareAndSwap(false, true) {
		return
	}
	ch, _ := r.start(policyRefresh)
	if ch == nil {
		r.async.Store(false)
		return
	}
	go func() {
		<-ch // the flight is bounded by fetchTimeout
		r.async.Store(false)
	}()
}

// run refreshes the set before it expires until ctx is done.
func (r *remoteKeys) run(ctx context.Context) {
	t := time.NewTimer(r.nextRefresh())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if ch, _ := r.start(policyRefresh); ch != nil {
			_ = wait(ctx, ch)
		}
		t.Reset(r.nextRefresh())
	}
}

// nextRefresh is how long the background loop sleeps: until 80% of the set's lifetime
// has passed, or until the failure backoff ends.
func (r *remoteKeys) nextRefresh() time.Duration {
	now := r.now()
	r.mu.Lock()
	retryAt := r.retryAt
	r.mu.Unlock()
	if d := retryAt.Sub(now); d > 0 {
		return d
	}
	st := r.state.Load()
	if st == nil {
		return r.minRefresh
	}
	life := st.expiresAt.Sub(st.fetchedAt)
	d := st.fetchedAt.Add(life * 4 / 5).Sub(now)
	if d < time.Second {
		d = time.Second
	}
	return d
}

// ready reports whether a set usable for decisions is held.
func (r *remoteKeys) ready() bool {
	st := r.state.Load()
	return st != nil && r.now().Sub(st.fetchedAt) <= r.maxStale
}

// fetch performs one HTTP fetch and installs the result.
func (r *remoteKeys) fetch(ctx context.Context) error {
	prev := r.state.Load()
	jwksURL, redacted := r.url, r.redactedURL
	if r.discovery != nil {
		u, err := r.discover(ctx)
		if err != nil {
			return r.failed(err)
		}
		jwksURL, redacted = u.String(), u.Redacted()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, jwksURL, nil)
	if err != nil {
		return r.failed(fmt.Errorf("fetch jwks: %w", err))
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	if prev != nil && prev.url == jwksURL {
		if prev.etag != "" {
			req.Header.Set("If-None-Match", prev.etag)
		}
		if prev.lastModified != "" {
			req.Header.Set("If-Modified-Since", prev.lastModified)
		}
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return r.failed(fmt.Errorf("fetch jwks %s: %w", redacted, err))
	}
	defer resp.Body.Close()
	now := r.now()
	switch {
	case resp.StatusCode == http.StatusNotModified && prev != nil && prev.url == jwksURL:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		next := *prev
		next.fetchedAt = now
		next.expiresAt = now.Add(r.maxAge(resp.Header))
		r.state.Store(&next)
		r.succeeded(FetchNotModified)
		return nil
	case resp.StatusCode != http.StatusOK:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return r.failed(fmt.Errorf("fetch jwks %s: status %d", redacted, resp.StatusCode))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return r.failed(fmt.Errorf("fetch jwks %s: reading the body: %w", redacted, err))
	}
	if len(body) > maxJWKSBytes {
		return r.failed(fmt.Errorf("fetch jwks %s: the document is larger than %d bytes", redacted, maxJWKSBytes))
	}
	set, err := tokens.ParseJWKS(body)
	if err != nil {
		return r.failed(fmt.Errorf("fetch jwks %s: %w", redacted, err))
	}
	for _, w := range set.Warnings() {
		r.log.Warn("jwks key skipped", "url", redacted, "warning", w)
	}
	r.state.Store(&keyState{
		set:          set,
		fetchedAt:    now,
		expiresAt:    now.Add(r.maxAge(resp.Header)),
		etag:         resp.Header.Get("ETag"),
		lastModified: resp.Header.Get("Last-Modified"),
		url:          jwksURL,
	})
	r.mu.Lock()
	for kid := range r.negative {
		if set.Has(kid) {
			delete(r.negative, kid)
		}
	}
	r.mu.Unlock()
	r.succeeded(FetchOK)
	// A kid that is gone, or that now names other key material, purges the verified
	// tokens: one signed with the old key must not outlive the issuer's change.
	if prev != nil && r.onKeysRemoved != nil && prev.set.ChangedIn(set) {
		r.onKeysRemoved()
	}
	r.log.Debug("jwks fetched", "url", redacted, "keys", set.Len())
	return nil
}

func (r *remoteKeys) succeeded(result string) {
	r.mu.Lock()
	r.lastErr, r.failures, r.retryAt = nil, 0, time.Time{}
	r.mu.Unlock()
	r.onFetch(result)
}

// failed records a failed fetch and sets the backoff: 1s, 2s, 4s... capped at minRefresh.
func (r *remoteKeys) failed(err error) error {
	now := r.now()
	r.mu.Lock()
	r.failures++
	backoff := time.Second << min(r.failures-1, 16)
	if backoff > r.minRefresh {
		backoff = r.minRefresh
	}
	r.retryAt = now.Add(backoff)
	r.lastErr = err
	stale := r.state.Load()
	r.mu.Unlock()
	r.onFetch(FetchError)
	attrs := []any{"url", r.redactedURL, "error", err, "retry_in", backoff}
	if stale != nil {
		attrs = append(attrs, "serving_set_fetched", stale.fetchedAt.UTC().Format(time.RFC3339),
			"stale_until", stale.fetchedAt.Add(r.maxStale).UTC().Format(time.RFC3339))
	}
	r.log.Warn("jwks fetch failed", attrs...)
	return err
}

// maxAge reads Cache-Control max-age, clamped to [minRefresh, 24h]; no-store and no-cache
// count as 0 and an absent header as one hour. It is also kept under half of maxStale, so
// a refresh is due well before the set becomes too stale to use.
func (r *remoteKeys) maxAge(h http.Header) time.Duration {
	age, ok := parseMaxAge(h.Values("Cache-Control"))
	if !ok {
		age = time.Hour
	}
	return max(min(age, 24*time.Hour, r.maxStale/2), r.minRefresh)
}

func parseMaxAge(values []string) (time.Duration, bool) {
	found := false
	var age time.Duration
	for _, v := range values {
		for _, d := range strings.Split(v, ",") {
			name, val, _ := strings.Cut(strings.TrimSpace(d), "=")
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "no-store", "no-cache":
				return 0, true
			case "max-age":
				n, err := strconv.ParseInt(strings.Trim(strings.TrimSpace(val), `"`), 10, 64)
				if err != nil || n < 0 {
					continue
				}
				if n > 1<<31 {
					n = 1 << 31
				}
				age, found = time.Duration(n)*time.Second, true
			}
		}
	}
	return age, found
}
