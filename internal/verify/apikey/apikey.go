// Package apikey is the `type: api_key` authenticator: it verifies Gatehouse API keys
// (gk_<env>_<id>_<secret><checksum>, see package secret) presented in the configured
// header, as `Authorization: Bearer gk_...`, or in a query parameter when one is
// configured.
//
// The order of checks is what keeps it cheap and uninformative to attackers: the
// checksum is checked offline (a mistyped key is credentials_malformed with no store
// lookup), then the environment (credentials_wrong_environment, also without a lookup),
// then the key record is fetched (from a small positive cache, else the store) and the
// secret's hash compared in constant time. Only a key whose secret matches learns
// whether it is revoked or expired; an unknown id and a wrong secret get the same
// api_key_invalid answer after the same hashing work.
//
// Cached records are dropped when the store's Watcher reports a change to the key
// (Invalidate), so a revocation made by the CLI in another process is refused on the
// next request. last_used_at is recorded in memory and written in one batch every few
// seconds by Run, never once per request.
package apikey

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// KeyStore is what the authenticator needs from the credential store.
type KeyStore interface {
	Key(ctx context.Context, id string) (store.APIKey, error)
	TouchKeys(ctx context.Context, used map[string]time.Time) error
}

// Config configures an Authenticator. Name, Environment, Store and Hasher are required.
type Config struct {
	// Name is the authenticator's configured name.
	Name string
	// Header is the header carrying keys (e.g. X-API-Key); empty means only
	// Authorization: Bearer.
	Header string
	// Query is the query parameter carrying keys; empty (the default) disables it, since
	// query strings end up in access logs and browser history.
	Query string
	// Environment is the environment this deployment accepts keys of.
	Environment string
	Store       KeyStore
	// Hasher must use the same pepper the keys were created with.
	Hasher *secret.KeyHasher
	// CacheSize bounds the positive cache of key records; 10000 when zero.
	CacheSize int
	// CacheTTL bounds how long a record is trusted without a store read even if no
	// change event arrives (the Watcher delivers revocations well before); 30s when
	// zero; below zero, nothing is cached and every request reads the store.
	CacheTTL time.Duration
	// Outage follows the store's reachability (shared by every store-backed
	// authenticator). While the store is down, cached records keep being served for the
	// outage's grace period, even past CacheTTL; then, and for keys not cached, the answer
	// is 503. Nil treats the store as always up, and a failed lookup as a 503.
	Outage *store.Outage
	// FlushInterval is how often Run writes last_used_at; 5s when zero.
	FlushInterval time.Duration
	// Logger receives flush failures; discarded when nil.
	Logger *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Authenticator verifies API keys. It implements decision.Authenticator.
type Authenticator struct {
	name       string
	env        string
	header     string
	query      string
	locations  []decision.Location
	store      KeyStore
	hasher     *secret.KeyHasher
	cache      *secret.Cache[string, *entry]
	outage     *store.Outage
	ttl        time.Duration
	flushEvery time.Duration
	log        *slog.Logger
	now        func() time.Time
	dummy      []byte

	mu   sync.Mutex
	used map[string]time.Time
}

// entry is a cached key record with the principal it yields, built once.
type entry struct {
	hashAlg   string
	hash      []byte
	expiresAt time.Time
	revokedAt time.Time
	replaced  bool
	principal decision.Principal
	id        string
}

var _ decision.Authenticator = (*Authenticator)(nil)

// New returns an Authenticator for cfg.
func New(cfg Config) (*Authenticator, error) {
	var problems []error
	if cfg.Name == "" {
		problems = append(problems, errors.New("name is required"))
	}
	if err := secret.ValidateEnv(cfg.Environment); err != nil {
		problems = append(problems, fmt.Errorf("environment: %w", err))
	}
	if cfg.Store == nil {
		problems = append(problems, errors.New("a store is required"))
	}
	if cfg.Hasher == nil {
		problems = append(problems, errors.New("a key hasher is required"))
	}
	if cfg.Header != "" && strings.EqualFold(cfg.Header, "Authorization") {
		problems = append(problems, errors.New("header: Authorization is always read (as Bearer); name another header or leave it empty"))
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("api_key authenticator %q: %w", cfg.Name, errors.Join(problems...))
	}
	a := &Authenticator{
		name: cfg.Name, env: cfg.Environment, header: cfg.Header, query: cfg.Query,
		store: cfg.Store, hasher: cfg.Hasher, ttl: cfg.CacheTTL, flushEvery: cfg.FlushInterval,
		log: cfg.Logger, now: cfg.Now, used: map[string]time.Time{}, outage: cfg.Outage,
	}
	switch {
	case a.ttl == 0:
		a.ttl = 30 * time.Second
	case a.ttl < 0:
		a.ttl = 0 // Cache.Do caches nothing with a zero TTL
	}
	if a.flushEvery <= 0 {
		a.flushEvery = 5 * time.Second
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.header != "" {
		a.locations = append(a.locations, decision.Location{Source: decision.FromHeader, Name: a.header})
	}
	if a.query != "" {
		a.locations = append(a.locations, decision.Location{Source: decision.FromQuery, Name: a.query})
	}
	a.cache = secret.NewCache[string, *entry](secret.CacheOptions{Size: cfg.CacheSize, MaxTTL: max(a.ttl, time.Second), Now: a.now})
	a.dummy = a.hasher.Hash(secret.APIKey{})
	return a, nil
}

// Name is the configured name.
func (a *Authenticator) Name() string { return a.name }

// Scheme is "Bearer": keys are also accepted as Authorization: Bearer gk_..., and a 401
// carries a Bearer challenge for them.
func (a *Authenticator) Scheme() string { return "Bearer" }

// Locations are the configured header and, when configured, the query parameter.
func (a *Authenticator) Locations() []decision.Location { return a.locations }

// Claims claims a Bearer value that starts with gk_ (ShapeMatch, ahead of JWT and
// introspection authenticators), and anything in its own header or query parameter. A
// Bearer value without the prefix is not a key and is left to other authenticators.
func (a *Authenticator) Claims(c decision.Credential) decision.Match {
	switch c.Source {
	case decision.FromAuthorization:
		if c.Scheme == "bearer" && secret.LooksLikeAPIKey(c.Value) {
			return decision.ShapeMatch
		}
	case decision.FromHeader:
		if a.header != "" && strings.EqualFold(c.Name, a.header) {
			return decision.ShapeMatch
		}
	case decision.FromQuery:
		if a.query != "" && c.Name == a.query {
			return decision.ShapeMatch
		}
	}
	return decision.NoMatch
}

// Detail shared by unknown ids and wrong secrets, so the two cannot be told apart.
const invalidDetail = "the API key is not valid"

// Authenticate verifies the key in c.
func (a *Authenticator) Authenticate(ctx context.Context, c decision.Credential) (decision.Principal, error) {
	now := a.now()
	key, err := secret.ParseAPIKey(c.Value)
	if err != nil {
		return decision.Principal{}, &decision.Failure{
			Reason: decision.CredentialsMalformed, Detail: malformedDetail(c, err),
			Cause: "key_malformed", Fingerprint: decision.Fingerprint(c.Value),
		}
	}
	if key.Env != a.env {
		return decision.Principal{}, &decision.Failure{
			Reason:      decision.CredentialsWrongEnvironment,
			Detail:      fmt.Sprintf("the API key is for the %q environment; this deployment accepts %q keys", key.Env, a.env),
			Fingerprint: key.ID, CredentialID: key.ID,
		}
	}
	e, ok := a.cache.Get(key.ID)
	if ok {
		if f := a.outage.Refusal(); f != nil {
			return decision.Principal{}, f // the store is down past its grace period
		}
	} else {
		// Clone the id: a cache key that is a substring of the credential would keep
		// the whole secret in memory for as long as the entry lives.
		id := strings.Clone(key.ID)
		e, err = a.cache.Do(ctx, id, func() (*entry, time.Duration, error) {
			rec, err := a.store.Key(ctx, id)
			a.outage.Report(err)
			if err != nil {
				return nil, 0, err
			}
			return newEntry(a.name, &rec), a.ttl, nil
		})
		if errors.Is(err, store.ErrNotFound) {
			// Spend what a known key costs, so response times do not tell ids apart.
			a.hasher.Verify(key, a.hasher.Alg(), a.dummy)
			return decision.Principal{}, &decision.Failure{
				Reason: decision.APIKeyInvalid, Detail: invalidDetail, Cause: "key_unknown",
				Fingerprint: key.ID, CredentialID: key.ID,
			}
		}
		if err != nil {
			// The store cannot answer: the last record known, within the outage's
			// grace period, else 503 (never 401: the key may well be valid).
			stale, ok := a.cache.GetStale(key.ID)
			if !ok || !a.outage.InGrace() {
				f := a.outage.Unavailable(err)
				f.Fingerprint, f.CredentialID = key.ID, key.ID
				return decision.Principal{}, f
			}
			e = stale
		}
	}
	match, err := a.hasher.Verify(key, e.hashAlg, e.hash)
	if err != nil {
		// A deployment problem (wrong or missing pepper), not a bad key: 503 and a log
		// line, rather than telling every client its key is invalid.
		return decision.Principal{}, fmt.Errorf("api key %s: stored hash is %s, this gateway hashes with %s: %w", key.ID, e.hashAlg, a.hasher.Alg(), err)
	}
	if !match {
		return decision.Principal{}, &decision.Failure{
			Reason: decision.APIKeyInvalid, Detail: invalidDetail, Cause: "secret_mismatch",
			Fingerprint: key.ID, CredentialID: key.ID,
		}
	}
	if !e.revokedAt.IsZero() && !now.Before(e.revokedAt) {
		detail := "the API key was revoked " + ago(now.Sub(e.revokedAt))
		if e.replaced {
			detail = "the API key was replaced by a rotation and its grace period ended " + ago(now.Sub(e.revokedAt))
		}
		return decision.Principal{}, &decision.Failure{
			Reason: decision.APIKeyRevoked, Detail: detail, Fingerprint: key.ID, CredentialID: key.ID,
		}
	}
	if !e.expiresAt.IsZero() && !now.Before(e.expiresAt) {
		return decision.Principal{}, &decision.Failure{
			Reason: decision.APIKeyExpired, Detail: "the API key expired " + ago(now.Sub(e.expiresAt)),
			Fingerprint: key.ID, CredentialID: key.ID,
		}
	}
	a.touch(e.id, now)
	return e.principal, nil
}

// Cached answers c when its key record is cached, so that checking it needs no store
// read, only the fast secret hash (decision.Cacher).
func (a *Authenticator) Cached(ctx context.Context, c decision.Credential) (decision.Principal, bool) {
	key, err := secret.ParseAPIKey(c.Value)
	if err != nil || key.Env != a.env {
		return decision.Principal{}, false
	}
	if _, ok := a.cache.Get(key.ID); !ok {
		return decision.Principal{}, false
	}
	p, err := a.Authenticate(ctx, c)
	return p, err == nil
}

func newEntry(name string, k *store.APIKey) *entry {
	e := &entry{
		id: k.ID, hashAlg: k.HashAlg, hash: k.SecretHash,
		expiresAt: k.ExpiresAt, revokedAt: k.RevokedAt, replaced: k.ReplacedBy != "",
	}
	exp := k.ExpiresAt
	if !k.RevokedAt.IsZero() && (exp.IsZero() || k.RevokedAt.Before(exp)) {
		exp = k.RevokedAt // a key in its rotation grace period ends then
	}
	e.principal = decision.Principal{
		Subject: k.Name, Scopes: k.Scopes, Authenticator: name, Fingerprint: k.ID, ExpiresAt: exp,
		Claims: store.AttributeClaims(k.Attributes),
	}
	return e
}

func malformedDetail(c decision.Credential, err error) string {
	switch {
	case errors.Is(err, secret.ErrNotAPIKey):
		where := "the credential"
		if c.Source == decision.FromHeader {
			where = "the value of " + c.Name
		} else if c.Source == decision.FromQuery {
			where = "the " + c.Name + " query parameter"
		}
		return where + " is not a Gatehouse API key (keys start with gk_)"
	case errors.Is(err, secret.ErrKeyChecksum):
		return "the API key's checksum does not match: it was truncated or mistyped"
	}
	// ParseAPIKey's messages name lengths and positions, never content.
	return "the API key is malformed: " + strings.TrimPrefix(err.Error(), secret.ErrKeyMalformed.Error()+": ")
}

// ago renders a duration for a client-facing detail: "4m12s ago".
func ago(d time.Duration) string {
	if d < time.Second {
		return "just now"
	}
	return d.Round(time.Second).String() + " ago"
}

// CredentialID returns the key id of a credential for the per-credential failure
// budget, or "" when the value is not a well-formed key. It does no lookup, so the
// gateway can call it before Authenticate to check the budget.
func (a *Authenticator) CredentialID(c decision.Credential) string {
	if a.Claims(c) == decision.NoMatch {
		return ""
	}
	k, err := secret.ParseAPIKey(c.Value)
	if err != nil {
		return ""
	}
	return k.ID
}

// Invalidate drops what is cached about the key a change concerns, or everything on a
// reset. Subscribe it to the store's Watcher.
func (a *Authenticator) Invalidate(c store.Change) {
	switch {
	case c.Kind == store.ChangeReset:
		a.cache.Purge()
	case c.Kind.IsKey():
		a.cache.Forget(c.Subject)
	}
}

// Purge drops every cached record.
func (a *Authenticator) Purge() { a.cache.Purge() }

// CacheStats reports the key-record cache's counters since New, for the
// gatehouse_cache_requests_total and gatehouse_cache_evictions_total metrics.
func (a *Authenticator) CacheStats() (hits, misses, evictions uint64) {
	hits, misses = a.cache.Stats()
	return hits, misses, a.cache.Evictions()
}

func (a *Authenticator) touch(id string, now time.Time) {
	a.mu.Lock()
	a.used[id] = now
	a.mu.Unlock()
}

// Flush writes the batched last_used_at times. On failure the batch is kept (merged with
// newer uses) and written by the next flush.
func (a *Authenticator) Flush(ctx context.Context) error {
	a.mu.Lock()
	batch := a.used
	if len(batch) == 0 {
		a.mu.Unlock()
		return nil
	}
	a.used = make(map[string]time.Time, len(batch))
	a.mu.Unlock()
	if err := a.store.TouchKeys(ctx, batch); err != nil {
		a.mu.Lock()
		for id, t := range batch {
			if cur, ok := a.used[id]; !ok || t.After(cur) {
				a.used[id] = t
			}
		}
		a.mu.Unlock()
		return fmt.Errorf("api key authenticator %q: record last use of %d keys: %w", a.name, len(batch), err)
	}
	return nil
}

// Run flushes last_used_at every FlushInterval until ctx is done, then flushes once more
// (with a short deadline of its own) and returns.
func (a *Authenticator) Run(ctx context.Context) error {
	t := time.NewTicker(a.flushEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := a.Flush(fctx)
			cancel()
			return err
		case <-t.C:
			if err := a.Flush(ctx); err != nil {
				a.log.Warn("api key last-use flush failed; will retry", "authenticator", a.name, "error", err)
			}
		}
	}
}
