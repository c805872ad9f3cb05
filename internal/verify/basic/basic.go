// Package basic is the `type: basic` authenticator: HTTP Basic (RFC 7617) against the
// users in the credential store.
//
// Credentials are UTF-8 (the challenge says charset="UTF-8"); bytes that are not UTF-8,
// or a password longer than secret.MaxPasswordBytes, are credentials_malformed and cost no
// hashing. An unknown user and a wrong password are both credentials_invalid with the
// same detail; only the log-only Cause differs (user_unknown, password_mismatch). The log
// names a known user; an unknown user name, which may be a password typed in the wrong
// field, is logged only as a keyed fingerprint ("user?" and 8 hex digits).
//
// An unknown user's password is still verified, against a dummy hash of the slowest
// family and cost stored for any user (and never cheaper than the hash of a new
// password), so an unknown user takes as long as the slowest known one. Run learns the
// slowest by reading every user at start and after a change-feed reset; Invalidate
// raises it when a user is added, imported or re-passworded. A removal does not lower it
// until the next full read: the unknown path may be slower than needed, never faster.
// Known users with cheaper hashes (bcrypt imported at a low cost) are still faster than
// unknown ones; rehashing fixes that: after a successful login with a hash weaker than
// a new password's (any bcrypt, or argon2id with less memory or fewer passes), Run
// hashes the password again with argon2id and stores it, off the request path, so
// imported users converge on one cost as they log in.
//
// Verified results are cached under an HMAC of (user, password) with a per-process key
// (secret.Keyer): bounded, with a TTL, and single-flight, so a burst of requests with one
// correct password costs one hash. The cache is purged when the store's Watcher reports
// that a user was removed, re-passworded or updated.
package basic

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/challenge"
	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// UserStore is what the authenticator needs from the credential store: lookups, a
// listing to learn the slowest stored hash, and SetPassword to store rehashed
// passwords (which appends a change, so every cache hears of it).
type UserStore interface {
	User(ctx context.Context, name string) (store.User, error)
	ListUsers(ctx context.Context, after string, limit int) ([]store.User, error)
	SetPassword(ctx context.Context, name, hash string, at time.Time) error
}

// PasswordHasher verifies a password against a stored hash; *secret.PasswordVerifier is
// the production one.
type PasswordHasher interface {
	Verify(ctx context.Context, hash, password string) (bool, error)
}

// Config configures an Authenticator. Name and Store are required.
type Config struct {
	Name  string
	Store UserStore
	// Hasher verifies passwords; a secret.PasswordVerifier with 2 slots per CPU when nil.
	Hasher PasswordHasher
	// DummyHash is the least an unknown user's password is verified against;
	// secret.DummyHash() (the parameters of new passwords) when empty. Run replaces it
	// with a dummy of the slowest stored hash when that is slower.
	DummyHash string
	// Logger receives the rare background events (a failed rehash, an unreadable
	// store); discarded when nil. Never a password or hash.
	Logger *slog.Logger
	// CacheSize bounds the verification cache; 10000 when zero.
	CacheSize int
	// CacheTTL is how long a verified password is trusted without hashing again; 5m when
	// zero; below zero, nothing is cached.
	CacheTTL time.Duration
	// Outage follows the store's reachability (shared by every store-backed
	// authenticator). While the store is down, verified passwords keep being served from
	// the cache for the outage's grace period, even past CacheTTL; then, and for
	// credentials not cached, the answer is 503. Nil treats the store as always up.
	Outage *store.Outage
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Authenticator verifies Basic credentials. It implements decision.Authenticator.
type Authenticator struct {
	name   string
	store  UserStore
	hasher PasswordHasher
	dummy  string
	keyer  *secret.Keyer
	// fpKeyer keys the log fingerprints of unknown user names; a separate key, so a
	// fingerprint never equals a cache key.
	fpKeyer *secret.Keyer
	cache   *secret.Cache[[32]byte, decision.Principal]
	ttl     time.Duration
	outage  *store.Outage
	now     func() time.Time
	log     *slog.Logger

	// floor is the dummy the unknown path never goes below; slow is the one it uses.
	floor slowest
	slow  atomic.Pointer[slowest]

	// pending holds the names of users whose hash changed, for Run to look at; rescan
	// asks Run to read every user. wake tells Run there is work.
	mu      sync.Mutex
	pending map[string]struct{}
	rescan  bool
	wake    chan struct{}
	rehash  chan rehashRequest
}

// slowest is a dummy hash and its estimated cost.
type slowest struct {
	hash   string
	params secret.HashParams
	work   uint64
}

// rehashRequest asks Run to store password, verified against hash, hashed anew.
type rehashRequest struct {
	user, hash, password string
}

// Bounds on the background work.
const (
	// maxPending bounds the names Invalidate queues; beyond it Run reads every user.
	maxPending = 1024
	// rehashQueue bounds waiting rehashes; a login that finds it full is rehashed at a
	// later login.
	rehashQueue = 16
	// listPage is the page size of the full read.
	listPage = 1000
	// retryInterval is how long Run waits before reading the users again after a
	// failure.
	retryInterval = 5 * time.Second
)

var _ decision.Authenticator = (*Authenticator)(nil)

// New returns an Authenticator for cfg.
func New(cfg Config) (*Authenticator, error) {
	if cfg.Name == "" || cfg.Store == nil {
		return nil, fmt.Errorf("basic authenticator %q: a name and a store are required", cfg.Name)
	}
	a := &Authenticator{
		name: cfg.Name, store: cfg.Store, hasher: cfg.Hasher, dummy: cfg.DummyHash, ttl: cfg.CacheTTL,
		keyer: secret.NewKeyer(), fpKeyer: secret.NewKeyer(), now: cfg.Now, log: cfg.Logger, outage: cfg.Outage,
		pending: map[string]struct{}{}, wake: make(chan struct{}, 1), rehash: make(chan rehashRequest, rehashQueue),
	}
	if a.hasher == nil {
		a.hasher = secret.NewPasswordVerifier(0)
	}
	if a.dummy == "" {
		a.dummy = secret.DummyHash()
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	a.floor = slowest{hash: a.dummy}
	if p, err := secret.ParseHashParams(a.dummy); err == nil {
		a.floor.params, a.floor.work = p, p.Work()
	}
	floor := a.floor
	a.slow.Store(&floor)
	switch {
	case a.ttl == 0:
		a.ttl = 5 * time.Minute
	case a.ttl < 0:
		a.ttl = 0
	}
	a.cache = secret.NewCache[[32]byte, decision.Principal](secret.CacheOptions{Size: cfg.CacheSize, MaxTTL: max(a.ttl, time.Second), Now: cfg.Now})
	return a, nil
}

// Name is the configured name.
func (a *Authenticator) Name() string { return a.name }

// Scheme is "Basic".
func (a *Authenticator) Scheme() string { return "Basic" }

// Locations is empty: Basic credentials only come in Authorization.
func (a *Authenticator) Locations() []decision.Location { return nil }

// Claims claims Authorization: Basic.
func (a *Authenticator) Claims(c decision.Credential) decision.Match {
	if c.Source == decision.FromAuthorization && c.Scheme == "basic" {
		return decision.SchemeMatch
	}
	return decision.NoMatch
}

// invalidDetail is the one answer for an unknown user and a wrong password.
const invalidDetail = "the user name or password is not valid"

// Authenticate verifies the Basic credentials in c.
func (a *Authenticator) Authenticate(ctx context.Context, c decision.Credential) (decision.Principal, error) {
	if a.Claims(c) == decision.NoMatch {
		return decision.Principal{}, decision.Fail(decision.SchemeNotAccepted, "not Basic credentials")
	}
	// Base64 of more than MaxPasswordBytes (plus a user name) cannot hold an acceptable
	// password: refuse before decoding anything.
	if limit := (secret.MaxPasswordBytes + store.MaxNameBytes + 1 + 2) / 3 * 4; len(c.Value) > limit {
		return decision.Principal{}, &decision.Failure{
			Reason: decision.CredentialsMalformed, Fingerprint: "oversized",
			Detail: fmt.Sprintf("the Basic credentials are %d bytes; passwords of at most %d bytes are accepted", len(c.Value), secret.MaxPasswordBytes),
		}
	}
	user, pass, err := challenge.DecodeBasic(c.Value)
	if err != nil {
		return decision.Principal{}, &decision.Failure{
			Reason: decision.CredentialsMalformed, Fingerprint: decision.Fingerprint(c.Value),
			Detail: "the Basic credentials are not valid: " + strings.TrimPrefix(err.Error(), "decode basic: "),
		}
	}
	if !utf8.ValidString(user) || !utf8.ValidString(pass) {
		return decision.Principal{}, &decision.Failure{
			Reason: decision.CredentialsMalformed, Fingerprint: decision.Fingerprint(c.Value),
			Detail: `the Basic user name or password is not valid UTF-8; this server reads them as UTF-8 (charset="UTF-8", RFC 7617)`,
		}
	}
	if len(pass) > secret.MaxPasswordBytes {
		return decision.Principal{}, &decision.Failure{
			Reason: decision.CredentialsMalformed, Fingerprint: "oversized",
			Detail: fmt.Sprintf("the password is %d bytes; at most %d are accepted", len(pass), secret.MaxPasswordBytes),
		}
	}
	key := a.keyer.Key(user, pass)
	if p, ok := a.cache.Get(key); ok {
		if f := a.outage.Refusal(); f != nil {
			return decision.Principal{}, f // the store is down past its grace period
		}
		return p, nil
	}
	p, err := a.cache.Do(ctx, key, func() (decision.Principal, time.Duration, error) {
		return a.verify(ctx, user, pass)
	})
	if store.IsOutage(err) {
		// The store cannot answer: the last verification known, within the outage's
		// grace period, else 503 (never 401: the password may well be right).
		if stale, ok := a.cache.GetStale(key); ok && a.outage.InGrace() {
			return stale, nil
		}
		f := a.outage.Unavailable(err)
		f.Fingerprint = fingerprint(user)
		return decision.Principal{}, f
	}
	return p, err
}

// Cached answers c from the verification cache alone, hashing nothing
// (decision.Cacher).
func (a *Authenticator) Cached(_ context.Context, c decision.Credential) (decision.Principal, bool) {
	if a.Claims(c) == decision.NoMatch || len(c.Value) > decision.MaxCredentialBytes {
		return decision.Principal{}, false
	}
	user, pass, err := challenge.DecodeBasic(c.Value)
	if err != nil {
		return decision.Principal{}, false
	}
	return a.cache.Get(a.keyer.Key(user, pass))
}

func (a *Authenticator) verify(ctx context.Context, user, pass string) (decision.Principal, time.Duration, error) {
	// A name the store could never hold (empty, or with control characters) is an
	// unknown user like any other, after the same work.
	var u store.User
	err := store.ValidateUserName(user)
	if err == nil {
		u, err = a.store.User(ctx, user)
		a.outage.Report(err)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return decision.Principal{}, 0, fmt.Errorf("basic: look up user: %w", err)
		}
	}
	if err != nil {
		fp := a.unknownFingerprint(user)
		if _, herr := a.hasher.Verify(ctx, a.slow.Load().hash, pass); herr != nil && ctx.Err() != nil {
			return decision.Principal{}, 0, fmt.Errorf("basic: %w", herr)
		}
		return decision.Principal{}, 0, &decision.Failure{
			Reason: decision.CredentialsInvalid, Detail: invalidDetail, Cause: "user_unknown",
			Fingerprint: fp, CredentialID: user,
		}
	}
	fp := fingerprint(u.Name)
	ok, err := a.hasher.Verify(ctx, u.PasswordHash, pass)
	if err != nil {
		// The stored hash is unusable (or the wait for a hashing slot ended): a server
		// problem, answered 503 and logged, never a verdict on the password.
		return decision.Principal{}, 0, fmt.Errorf("basic: verify password of user %q: %w", u.Name, err)
	}
	if !ok {
		return decision.Principal{}, 0, &decision.Failure{
			Reason: decision.CredentialsInvalid, Detail: invalidDetail, Cause: "password_mismatch",
			Fingerprint: fp, CredentialID: user,
		}
	}
	if secret.NeedsRehash(u.PasswordHash) {
		select {
		case a.rehash <- rehashRequest{user: u.Name, hash: u.PasswordHash, password: pass}:
			a.signal()
		default:
		}
	}
	return decision.Principal{Subject: u.Name, Scopes: u.Scopes, Authenticator: a.name, Fingerprint: fp,
		Claims: store.AttributeClaims(u.Attributes)}, a.ttl, nil
}

// fingerprint identifies a Basic credential of a known user in logs by the user name
// (never the password, nor a hash of it that could be tested offline). Only names
// found in the store are logged: they were chosen by an operator, not typed by a
// client.
func fingerprint(user string) string {
	if len(user) > 64 {
		user = user[:64]
	}
	return "user:" + strings.ToValidUTF8(user, "?")
}

// unknownFingerprint identifies a Basic credential whose user name is not in the store.
// Such a name is whatever the client typed, and clients paste passwords into the user
// field ("hunter2", "alice hunter2", a token): it is logged only as "user?" and 8 hex
// digits of an HMAC under a per-process key. Repeated attempts with one name share a
// fingerprint within a process, and the fingerprint cannot be tested offline against
// guessed passwords.
func (a *Authenticator) unknownFingerprint(user string) string {
	k := a.fpKeyer.Key("basic-user", user)
	return "user?" + hex.EncodeToString(k[:4])
}

// CredentialID returns the user name of Basic credentials, for the per-credential
// failure budget, or "" when they do not decode. It does no lookup and no hashing.
func (a *Authenticator) CredentialID(c decision.Credential) string {
	if a.Claims(c) == decision.NoMatch || len(c.Value) > decision.MaxCredentialBytes {
		return ""
	}
	user, _, err := challenge.DecodeBasic(c.Value)
	if err != nil || !utf8.ValidString(user) {
		return ""
	}
	return user
}

// Invalidate purges the verification cache when a user is removed, re-passworded or
// updated, or on a reset. Subscribe it to the store's Watcher. (Entries are keyed by an
// HMAC of the credential, so they cannot be found by user name; user changes are rare.)
// It also tells Run which users' hashes to look at for the slowest-hash dummy.
func (a *Authenticator) Invalidate(c store.Change) {
	switch c.Kind {
	case store.ChangeReset, store.ChangeUserRemoved, store.ChangeUserPassword, store.ChangeUserUpdated:
		a.cache.Purge()
	}
	switch c.Kind {
	case store.ChangeReset:
		a.mu.Lock()
		a.rescan = true
		a.mu.Unlock()
	case store.ChangeUserAdded, store.ChangeUserPassword, store.ChangeUserUpdated:
		a.mu.Lock()
		if len(a.pending) < maxPending {
			a.pending[c.Subject] = struct{}{}
		} else {
			a.rescan = true
		}
		a.mu.Unlock()
	default:
		return
	}
	a.signal()
}

func (a *Authenticator) signal() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// DummyParams reports the parameters of the hash an unknown user's password is
// verified against now.
func (a *Authenticator) DummyParams() secret.HashParams { return a.slow.Load().params }

// Run does the authenticator's background work until ctx ends: it reads every user
// once to learn the slowest stored hash (again after a change-feed reset, and after a
// retry interval while the store cannot be read), follows the users Invalidate
// reports, and stores rehashed passwords. Subscribe Invalidate to the store's Watcher
// and call Run in its own goroutine.
func (a *Authenticator) Run(ctx context.Context) {
	a.mu.Lock()
	a.rescan = true
	a.mu.Unlock()
	retry := time.NewTimer(retryInterval)
	retry.Stop()
	defer retry.Stop()
	for {
		a.work(ctx, retry)
		select {
		case <-ctx.Done():
			return
		case <-a.wake:
		case <-retry.C:
		}
	}
}

// work drains the rehash queue, then reads every user or the pending ones. On a store
// error it asks for a full read after retryInterval.
func (a *Authenticator) work(ctx context.Context, retry *time.Timer) {
	for drained := false; !drained; {
		select {
		case r := <-a.rehash:
			a.doRehash(ctx, r)
		default:
			drained = true
		}
	}
	a.mu.Lock()
	rescan, names := a.rescan, a.pending
	a.rescan, a.pending = false, map[string]struct{}{}
	a.mu.Unlock()
	failed := func(err error) {
		a.mu.Lock()
		a.rescan = true
		a.mu.Unlock()
		if ctx.Err() == nil {
			a.log.Warn("basic: reading users to size the unknown-user dummy hash failed; will retry",
				"authenticator", a.name, "error", err)
			retry.Reset(retryInterval)
		}
	}
	if rescan {
		if err := a.readAll(ctx); err != nil {
			failed(err)
		}
		return // a full read sees every pending user
	}
	for name := range names {
		u, err := a.store.User(ctx, name)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			failed(err)
			return
		}
		a.raise(u.PasswordHash)
	}
}

// readAll sets the dummy to the slowest stored hash, or the floor when that is slower.
func (a *Authenticator) readAll(ctx context.Context) error {
	best := a.floor
	for after := ""; ; {
		page, err := a.store.ListUsers(ctx, after, listPage)
		if err != nil {
			return fmt.Errorf("list users: %w", err)
		}
		if len(page) == 0 {
			break
		}
		for i := range page {
			if p, err := secret.ParseHashParams(page[i].PasswordHash); err == nil && p.Work() > best.work {
				best = slowest{params: p, work: p.Work()}
			}
		}
		after = page[len(page)-1].Name
	}
	if best.hash == "" {
		h, err := best.params.DummyHash()
		if err != nil {
			return err
		}
		best.hash = h
	}
	a.slow.Store(&best)
	return nil
}

// raise makes the dummy as slow as hash when hash is slower.
func (a *Authenticator) raise(hash string) {
	p, err := secret.ParseHashParams(hash)
	if err != nil || p.Work() <= a.slow.Load().work {
		return
	}
	h, err := p.DummyHash()
	if err != nil {
		return
	}
	next := &slowest{hash: h, params: p, work: p.Work()}
	for {
		cur := a.slow.Load()
		if p.Work() <= cur.work || a.slow.CompareAndSwap(cur, next) {
			return
		}
	}
}

// doRehash stores r's password hashed with argon2id, unless the user's hash changed
// since it was verified (a password set meanwhile must not be replaced by the old one).
func (a *Authenticator) doRehash(ctx context.Context, r rehashRequest) {
	h, err := secret.HashPassword(r.password)
	if err != nil {
		a.log.Warn("basic: rehashing a password failed", "authenticator", a.name, "user", r.user, "error", err)
		return
	}
	u, err := a.store.User(ctx, r.user)
	if err != nil || u.PasswordHash != r.hash {
		return
	}
	if err := a.store.SetPassword(ctx, r.user, h, a.now()); err != nil {
		if ctx.Err() == nil {
			a.log.Warn("basic: storing a rehashed password failed", "authenticator", a.name, "user", r.user, "error", err)
		}
		return
	}
	a.log.Info("basic: rehashed a password with argon2id", "authenticator", a.name, "user", r.user, "from", secret.HashKind(r.hash))
}

// Purge drops every cached verification.
func (a *Authenticator) Purge() { a.cache.Purge() }

// CacheStats reports the verification cache's counters since New, for the
// gatehouse_cache_requests_total and gatehouse_cache_evictions_total metrics.
func (a *Authenticator) CacheStats() (hits, misses, evictions uint64) {
	hits, misses = a.cache.Stats()
	return hits, misses, a.cache.Evictions()
}
