// Package basic is the `type: basic` authenticator: HTTP Basic (RFC 7617) against the
// users in the credential store.
//
// Credentials are UTF-8 (the challenge says charset="UTF-8"); bytes that are not UTF-8,
// or a password longer than secret.MaxPasswordBytes, are credentials_malformed and cost no
// hashing. An unknown user and a wrong password are both credentials_invalid with the
// same detail; only the log-only Cause differs (user_unknown, password_mismatch). An
// unknown user's password is still verified, against a dummy hash of the same algorithm
// and parameters as new passwords, so the two take the same time.
//
// Verified results are cached under an HMAC of (user, password) with a per-process key
// (secret.Keyer): bounded, with a TTL, and single-flight, so a burst of requests with one
// correct password costs one hash. The cache is purged when the store's Watcher reports
// that a user was removed, re-passworded or updated.
package basic

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/challenge"
	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// UserStore is what the authenticator needs from the credential store.
type UserStore interface {
	User(ctx context.Context, name string) (store.User, error)
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
	// DummyHash is verified for unknown users; secret.DummyHash() when empty.
	DummyHash string
	// CacheSize bounds the verification cache; 10000 when zero.
	CacheSize int
	// CacheTTL is how long a verified password is trusted without hashing again; 5m when
	// zero; below zero, nothing is cached.
	CacheTTL time.Duration
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
	cache  *secret.Cache[[32]byte, decision.Principal]
	ttl    time.Duration
}

var _ decision.Authenticator = (*Authenticator)(nil)

// New returns an Authenticator for cfg.
func New(cfg Config) (*Authenticator, error) {
	if cfg.Name == "" || cfg.Store == nil {
		return nil, fmt.Errorf("basic authenticator %q: a name and a store are required", cfg.Name)
	}
	a := &Authenticator{name: cfg.Name, store: cfg.Store, hasher: cfg.Hasher, dummy: cfg.DummyHash, ttl: cfg.CacheTTL, keyer: secret.NewKeyer()}
	if a.hasher == nil {
		a.hasher = secret.NewPasswordVerifier(0)
	}
	if a.dummy == "" {
		a.dummy = secret.DummyHash()
	}
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
		return p, nil
	}
	return a.cache.Do(ctx, key, func() (decision.Principal, time.Duration, error) {
		return a.verify(ctx, user, pass)
	})
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
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return decision.Principal{}, 0, fmt.Errorf("basic: look up user: %w", err)
		}
	}
	fp := fingerprint(user)
	if err != nil {
		if _, herr := a.hasher.Verify(ctx, a.dummy, pass); herr != nil && ctx.Err() != nil {
			return decision.Principal{}, 0, fmt.Errorf("basic: %w", herr)
		}
		return decision.Principal{}, 0, &decision.Failure{
			Reason: decision.CredentialsInvalid, Detail: invalidDetail, Cause: "user_unknown",
			Fingerprint: fp, CredentialID: user,
		}
	}
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
	return decision.Principal{Subject: u.Name, Scopes: u.Scopes, Authenticator: a.name, Fingerprint: fp}, a.ttl, nil
}

// fingerprint identifies a Basic credential in logs by its user name (never the
// password, nor a hash of it that could be tested offline).
func fingerprint(user string) string {
	if len(user) > 64 {
		user = user[:64]
	}
	return "user:" + strings.ToValidUTF8(user, "?")
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
func (a *Authenticator) Invalidate(c store.Change) {
	switch c.Kind {
	case store.ChangeReset, store.ChangeUserRemoved, store.ChangeUserPassword, store.ChangeUserUpdated:
		a.cache.Purge()
	}
}

// Purge drops every cached verification.
func (a *Authenticator) Purge() { a.cache.Purge() }

// CacheStats reports the verification cache's counters since New, for the
// gatehouse_cache_requests_total and gatehouse_cache_evictions_total metrics.
func (a *Authenticator) CacheStats() (hits, misses, evictions uint64) {
	hits, misses = a.cache.Stats()
	return hits, misses, a.cache.Evictions()
}
