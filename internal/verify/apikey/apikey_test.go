package apikey

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/google/go-cmp/cmp"
)

// fakeStore is an in-memory KeyStore that counts lookups.
type fakeStore struct {
	mu      sync.Mutex
	keys    map[string]store.APIKey
	lookups atomic.Int32
	touches []map[string]time.Time
	err     error // returned by every call when set
}

func newFakeStore() *fakeStore { return &fakeStore{keys: map[string]store.APIKey{}} }

func (f *fakeStore) Key(ctx context.Context, id string) (store.APIKey, error) {
	f.lookups.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return store.APIKey{}, f.err
	}
	k, ok := f.keys[id]
	if !ok {
		return k, fmt.Errorf("fake: %w", store.ErrNotFound)
	}
	return k, nil
}

func (f *fakeStore) TouchKeys(ctx context.Context, used map[string]time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.touches = append(f.touches, used)
	return nil
}

func (f *fakeStore) setErr(err error) { f.mu.Lock(); f.err = err; f.mu.Unlock() }

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

var t0 = time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)

type fixture struct {
	a      *Authenticator
	st     *fakeStore
	hasher *secret.KeyHasher
	clock  *clock
}

func newFixture(t *testing.T, mutate func(*Config)) *fixture {
	t.Helper()
	h, err := secret.NewKeyHasher(nil)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{st: newFakeStore(), hasher: h, clock: &clock{t0}}
	cfg := Config{Name: "keys", Header: "X-API-Key", Environment: "live", Store: f.st, Hasher: h, Now: f.clock.now}
	if mutate != nil {
		mutate(&cfg)
	}
	f.hasher = cfg.Hasher
	f.a, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// add stores a new key for env and returns its full text.
func (f *fixture) add(t *testing.T, env string, mutate func(*store.APIKey)) (string, store.APIKey) {
	t.Helper()
	k, err := secret.NewAPIKey(env)
	if err != nil {
		t.Fatal(err)
	}
	rec := store.APIKey{
		ID: k.ID, Name: "billing", Env: env, Scopes: []string{"orders:read"},
		SecretHash: f.hasher.Hash(k), HashAlg: f.hasher.Alg(), CreatedAt: t0.Add(-time.Hour),
	}
	if mutate != nil {
		mutate(&rec)
	}
	f.st.mu.Lock()
	f.st.keys[rec.ID] = rec
	f.st.mu.Unlock()
	return k.Reveal(), rec
}

func header(v string) decision.Credential {
	return decision.Credential{Source: decision.FromHeader, Name: "X-API-Key", Value: v}
}

func bearer(v string) decision.Credential {
	return decision.Credential{Source: decision.FromAuthorization, Scheme: "bearer", Value: v}
}

func failure(t *testing.T, err error) *decision.Failure {
	t.Helper()
	var f *decision.Failure
	if !errors.As(err, &f) {
		t.Fatalf("Authenticate error = %v (%T), want a *decision.Failure", err, err)
	}
	return f
}

func TestValidKeyInHeaderOrBearerYieldsPrincipal(t *testing.T) {
	f := newFixture(t, nil)
	key, rec := f.add(t, "live", nil)
	for _, c := range []decision.Credential{header(key), bearer(key)} {
		p, err := f.a.Authenticate(context.Background(), c)
		if err != nil {
			t.Fatalf("Authenticate(%v): %v", c.Source, err)
		}
		want := decision.Principal{Subject: "billing", Scopes: []string{"orders:read"}, Authenticator: "keys", Fingerprint: rec.ID}
		if diff := cmp.Diff(want, p); diff != "" {
			t.Errorf("principal (-want +got):\n%s", diff)
		}
	}
}

func TestClaims(t *testing.T) {
	withQuery := newFixture(t, func(c *Config) { c.Query = "api_key" }).a
	plain := newFixture(t, nil).a
	tests := []struct {
		name string
		a    *Authenticator
		c    decision.Credential
		want decision.Match
	}{
		{"BearerWithPrefixIsShapeMatch", plain, bearer("gk_live_x"), decision.ShapeMatch},
		{"BearerJWTIsLeftToOthers", plain, bearer("eyJhbGciOi.x.y"), decision.NoMatch},
		{"BasicIsNotClaimed", plain, decision.Credential{Source: decision.FromAuthorization, Scheme: "basic", Value: "gk_live_x"}, decision.NoMatch},
		{"OwnHeaderAnyValue", plain, header("not-a-key"), decision.ShapeMatch},
		{"OwnHeaderOtherCase", plain, decision.Credential{Source: decision.FromHeader, Name: "x-api-key", Value: "v"}, decision.ShapeMatch},
		{"OtherHeader", plain, decision.Credential{Source: decision.FromHeader, Name: "X-Other", Value: "gk_live_x"}, decision.NoMatch},
		{"QueryWhenNotConfigured", plain, decision.Credential{Source: decision.FromQuery, Name: "api_key", Value: "gk_live_x"}, decision.NoMatch},
		{"QueryWhenConfigured", withQuery, decision.Credential{Source: decision.FromQuery, Name: "api_key", Value: "gk_live_x"}, decision.ShapeMatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.a.Claims(tc.c); got != tc.want {
				t.Errorf("Claims = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestLocationsListQueryOnlyWhenConfigured(t *testing.T) {
	plain := newFixture(t, nil).a
	if diff := cmp.Diff([]decision.Location{{Source: decision.FromHeader, Name: "X-API-Key"}}, plain.Locations()); diff != "" {
		t.Errorf("Locations without query (-want +got):\n%s", diff)
	}
	q := newFixture(t, func(c *Config) { c.Query = "api_key" }).a
	want := []decision.Location{{Source: decision.FromHeader, Name: "X-API-Key"}, {Source: decision.FromQuery, Name: "api_key"}}
	if diff := cmp.Diff(want, q.Locations()); diff != "" {
		t.Errorf("Locations with query (-want +got):\n%s", diff)
	}
	if got := plain.Scheme(); got != "Bearer" {
		t.Errorf("Scheme = %q, want Bearer", got)
	}
}

func flip(s string, i int) string {
	b := []byte(s)
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

func TestMalformedKeysAreRefusedWithoutLookup(t *testing.T) {
	f := newFixture(t, nil)
	key, _ := f.add(t, "live", nil)
	tests := []struct {
		name, value, detail string
	}{
		{"WrongChecksum", flip(key, len(key)-1), "checksum does not match"},
		{"MistypedSecret", flip(key, len(key)-10), "checksum does not match"},
		{"Truncated", key[:len(key)-3], "truncated"},
		{"TruncatedInID", key[:12], "truncated"},
		{"WrongPrefix", "sk_" + key[3:], "not a Gatehouse API key"},
		{"Empty", "", "not a Gatehouse API key"},
		{"UpperCaseEnv", "gk_LIVE" + key[7:], "environment"},
		{"NonUTF8", "gk_live_\xff\xfe", "malformed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := f.st.lookups.Load()
			_, err := f.a.Authenticate(context.Background(), header(tc.value))
			fl := failure(t, err)
			if fl.Reason != decision.CredentialsMalformed {
				t.Errorf("reason = %s, want credentials_malformed", fl.Reason)
			}
			if !strings.Contains(fl.Detail, tc.detail) {
				t.Errorf("detail %q does not mention %q", fl.Detail, tc.detail)
			}
			if len(tc.value) > 20 && strings.Contains(fl.Detail, tc.value[20:]) {
				t.Errorf("detail echoes the credential: %q", fl.Detail)
			}
			if f.st.lookups.Load() != before {
				t.Error("a malformed key caused a store lookup")
			}
			if fl.CredentialID != "" {
				t.Errorf("a malformed key charged credential %q", fl.CredentialID)
			}
		})
	}
}

func TestWrongEnvironmentNamesBothWithoutLookup(t *testing.T) {
	f := newFixture(t, nil)
	key, rec := f.add(t, "test", nil)
	_, err := f.a.Authenticate(context.Background(), header(key))
	fl := failure(t, err)
	if fl.Reason != decision.CredentialsWrongEnvironment {
		t.Fatalf("reason = %s", fl.Reason)
	}
	if !strings.Contains(fl.Detail, `"test"`) || !strings.Contains(fl.Detail, `"live"`) {
		t.Errorf("detail %q does not name both environments", fl.Detail)
	}
	if f.st.lookups.Load() != 0 {
		t.Error("a wrong-environment key caused a store lookup")
	}
	if fl.CredentialID != rec.ID {
		t.Errorf("CredentialID = %q, want the key id", fl.CredentialID)
	}
}

func TestUnknownIDAndWrongSecretLookTheSame(t *testing.T) {
	f := newFixture(t, nil)
	key, rec := f.add(t, "live", nil)
	other, err := secret.NewAPIKeyWithID("live", rec.ID) // same id, another secret
	if err != nil {
		t.Fatal(err)
	}
	unknown, err := secret.NewAPIKey("live")
	if err != nil {
		t.Fatal(err)
	}
	_ = key
	_, err1 := f.a.Authenticate(context.Background(), header(other.Reveal()))
	_, err2 := f.a.Authenticate(context.Background(), header(unknown.Reveal()))
	f1, f2 := failure(t, err1), failure(t, err2)
	if f1.Reason != decision.APIKeyInvalid || f2.Reason != decision.APIKeyInvalid {
		t.Fatalf("reasons = %s, %s; want api_key_invalid for both", f1.Reason, f2.Reason)
	}
	if f1.Detail != f2.Detail {
		t.Errorf("details differ: %q vs %q", f1.Detail, f2.Detail)
	}
	if f1.Cause != "secret_mismatch" || f2.Cause != "key_unknown" {
		t.Errorf("log causes = %q, %q", f1.Cause, f2.Cause)
	}
}

func TestRevokedAndExpiredKeys(t *testing.T) {
	f := newFixture(t, nil)
	revoked, _ := f.add(t, "live", func(k *store.APIKey) { k.RevokedAt = t0.Add(-(4*time.Minute + 12*time.Second)) })
	expired, _ := f.add(t, "live", func(k *store.APIKey) { k.ExpiresAt = t0.Add(-time.Hour) })
	rotated, _ := f.add(t, "live", func(k *store.APIKey) { k.RevokedAt = t0.Add(-time.Minute); k.ReplacedBy = "NEWNEWNEWNEW" })
	tests := []struct {
		name   string
		key    string
		reason decision.Reason
		detail string
	}{
		{"Revoked", revoked, decision.APIKeyRevoked, "revoked 4m12s ago"},
		{"Expired", expired, decision.APIKeyExpired, "expired 1h0m0s ago"},
		{"RotatedPastGrace", rotated, decision.APIKeyRevoked, "replaced by a rotation and its grace period ended 1m0s ago"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.a.Authenticate(context.Background(), bearer(tc.key))
			fl := failure(t, err)
			if fl.Reason != tc.reason || !strings.Contains(fl.Detail, tc.detail) {
				t.Errorf("got %s %q, want %s containing %q", fl.Reason, fl.Detail, tc.reason, tc.detail)
			}
		})
	}
}

func TestRevokedKeyWithWrongSecretIsInvalidNotRevoked(t *testing.T) {
	f := newFixture(t, nil)
	_, rec := f.add(t, "live", func(k *store.APIKey) { k.RevokedAt = t0.Add(-time.Hour) })
	guess, _ := secret.NewAPIKeyWithID("live", rec.ID)
	_, err := f.a.Authenticate(context.Background(), header(guess.Reveal()))
	if fl := failure(t, err); fl.Reason != decision.APIKeyInvalid {
		t.Errorf("a guess at a revoked key's id learned %s; only the real key may learn it is revoked", fl.Reason)
	}
}

func TestOldKeyStaysValidUntilGraceEnd(t *testing.T) {
	f := newFixture(t, nil)
	key, _ := f.add(t, "live", func(k *store.APIKey) { k.RevokedAt = t0.Add(time.Hour); k.ReplacedBy = "NEWNEWNEWNEW" })
	p, err := f.a.Authenticate(context.Background(), header(key))
	if err != nil {
		t.Fatalf("key in its grace period: %v", err)
	}
	if !p.ExpiresAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("principal ExpiresAt = %v, want the grace end", p.ExpiresAt)
	}
	f.clock.t = t0.Add(time.Hour)
	_, err = f.a.Authenticate(context.Background(), header(key))
	if fl := failure(t, err); fl.Reason != decision.APIKeyRevoked {
		t.Errorf("at grace end: %s, want api_key_revoked", fl.Reason)
	}
}

func TestStoreOutageIs503WithRetryAfterNever401(t *testing.T) {
	f := newFixture(t, nil)
	key, _ := f.add(t, "live", nil)
	f.st.setErr(fmt.Errorf("sqlite: %w", store.ErrLocked))
	_, err := f.a.Authenticate(context.Background(), header(key))
	fl := failure(t, err)
	if fl.Reason != decision.AuthenticatorUnavailable || fl.RetryAfter <= 0 {
		t.Fatalf("store outage = %s (retry after %v); want authenticator_unavailable with a Retry-After", fl.Reason, fl.RetryAfter)
	}
	for _, s := range []string{fl.Detail, fl.Cause, fl.Error()} {
		if strings.Contains(s, key[20:]) {
			t.Errorf("failure text contains the key: %q", s)
		}
	}
}

// TestStoreOutageGrace walks an outage: cached keys keep working within the grace
// period (even past their cache lifetime), keys never seen are 503 at once, and after
// the grace everything is 503 until the store answers again.
func TestStoreOutageGrace(t *testing.T) {
	var f *fixture
	outage := store.NewOutage(time.Minute, func() time.Time { return f.clock.now() })
	f = newFixture(t, func(c *Config) { c.Outage = outage; c.CacheTTL = 10 * time.Second })
	cached, _ := f.add(t, "live", nil)
	unseen, _ := f.add(t, "live", nil)
	ctx := context.Background()
	if _, err := f.a.Authenticate(ctx, header(cached)); err != nil {
		t.Fatal(err)
	}
	f.st.setErr(fmt.Errorf("pg: %w", store.ErrUnavailable))
	outage.Report(fmt.Errorf("watch: %w", store.ErrUnavailable)) // the change feed noticed first

	steps := []struct {
		at   time.Duration
		key  string
		want decision.Reason // "" for allowed
	}{
		{5 * time.Second, cached, ""},
		{30 * time.Second, cached, ""}, // past the cache TTL: the stale record, within the grace
		{30 * time.Second, unseen, decision.AuthenticatorUnavailable},
		{59 * time.Second, cached, ""},
		{61 * time.Second, cached, decision.AuthenticatorUnavailable},
	}
	for _, s := range steps {
		f.clock.t = t0.Add(s.at)
		_, err := f.a.Authenticate(ctx, header(s.key))
		got := decision.Reason("")
		if err != nil {
			got = failure(t, err).Reason
		}
		if got != s.want {
			t.Errorf("at +%v, key %s: got %q, want %q", s.at, s.key[:12], got, s.want)
		}
	}
	// Recovery: the next store read succeeds and ends the outage; no restart.
	f.st.setErr(nil)
	if _, err := f.a.Authenticate(ctx, header(unseen)); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
	if down, _ := outage.Down(); down {
		t.Error("a successful read did not end the outage")
	}
	if _, err := f.a.Authenticate(ctx, header(cached)); err != nil {
		t.Fatalf("cached key after recovery: %v", err)
	}
}

func TestStoreOutageWithoutGraceServesNothingCached(t *testing.T) {
	var f *fixture
	outage := store.NewOutage(0, func() time.Time { return f.clock.now() })
	f = newFixture(t, func(c *Config) { c.Outage = outage })
	key, _ := f.add(t, "live", nil)
	if _, err := f.a.Authenticate(context.Background(), header(key)); err != nil {
		t.Fatal(err)
	}
	outage.Report(store.ErrUnavailable)
	_, err := f.a.Authenticate(context.Background(), header(key))
	if fl := failure(t, err); fl.Reason != decision.AuthenticatorUnavailable {
		t.Fatalf("grace 0, cached key during an outage: %s, want authenticator_unavailable", fl.Reason)
	}
}

func TestPepperMismatchIsAnOutageNotInvalid(t *testing.T) {
	f := newFixture(t, nil)
	key, _ := f.add(t, "live", nil) // hashed without a pepper
	peppered, err := secret.NewKeyHasher([]byte(strings.Repeat("p", 32)))
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Config{Name: "keys", Header: "X-API-Key", Environment: "live", Store: f.st, Hasher: peppered})
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.Authenticate(context.Background(), header(key))
	var fl *decision.Failure
	if err == nil || errors.As(err, &fl) || !errors.Is(err, secret.ErrHashAlgMismatch) {
		t.Errorf("pepper mismatch = %v; want a plain ErrHashAlgMismatch error", err)
	}
}

func TestCachedRecordIsDroppedOnChange(t *testing.T) {
	f := newFixture(t, nil)
	key, rec := f.add(t, "live", nil)
	for range 5 {
		if _, err := f.a.Authenticate(context.Background(), header(key)); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.st.lookups.Load(); n != 1 {
		t.Errorf("%d store lookups for 5 requests, want 1", n)
	}
	// Revoke in the store; the cache still holds the old record until told.
	f.st.mu.Lock()
	r := f.st.keys[rec.ID]
	r.RevokedAt = t0
	f.st.keys[rec.ID] = r
	f.st.mu.Unlock()
	f.a.Invalidate(store.Change{Kind: store.ChangeKeyRevoked, Subject: rec.ID})
	_, err := f.a.Authenticate(context.Background(), header(key))
	if fl := failure(t, err); fl.Reason != decision.APIKeyRevoked {
		t.Errorf("after invalidation: %s, want api_key_revoked", fl.Reason)
	}
}

func TestResetPurgesEverything(t *testing.T) {
	f := newFixture(t, nil)
	key, _ := f.add(t, "live", nil)
	f.a.Authenticate(context.Background(), header(key))
	f.a.Invalidate(store.Change{Kind: store.ChangeReset})
	f.a.Authenticate(context.Background(), header(key))
	if n := f.st.lookups.Load(); n != 2 {
		t.Errorf("%d lookups; a reset should force a second", n)
	}
}

func TestUserChangesDoNotTouchKeyCache(t *testing.T) {
	f := newFixture(t, nil)
	key, _ := f.add(t, "live", nil)
	f.a.Authenticate(context.Background(), header(key))
	f.a.Invalidate(store.Change{Kind: store.ChangeUserRemoved, Subject: "alice"})
	f.a.Authenticate(context.Background(), header(key))
	if n := f.st.lookups.Load(); n != 1 {
		t.Errorf("%d lookups; a user change should not evict keys", n)
	}
}

func TestLastUsedIsBatchedNotWrittenPerRequest(t *testing.T) {
	f := newFixture(t, nil)
	k1, r1 := f.add(t, "live", nil)
	k2, r2 := f.add(t, "live", nil)
	for i := range 50 {
		f.clock.t = t0.Add(time.Duration(i) * time.Second)
		f.a.Authenticate(context.Background(), header(k1))
		f.a.Authenticate(context.Background(), header(k2))
	}
	if len(f.st.touches) != 0 {
		t.Fatalf("%d writes before a flush", len(f.st.touches))
	}
	if err := f.a.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []map[string]time.Time{{r1.ID: t0.Add(49 * time.Second), r2.ID: t0.Add(49 * time.Second)}}
	if diff := cmp.Diff(want, f.st.touches); diff != "" {
		t.Errorf("batches (-want +got):\n%s", diff)
	}
	if err := f.a.Flush(context.Background()); err != nil || len(f.st.touches) != 1 {
		t.Errorf("an empty flush wrote: %v, %d batches", err, len(f.st.touches))
	}
}

func TestFailedFlushIsRetried(t *testing.T) {
	f := newFixture(t, nil)
	k1, r1 := f.add(t, "live", nil)
	f.a.Authenticate(context.Background(), header(k1))
	f.st.setErr(store.ErrLocked)
	if err := f.a.Flush(context.Background()); err == nil {
		t.Fatal("a failed flush reported success")
	}
	f.st.setErr(nil)
	if err := f.a.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(f.st.touches) != 1 || f.st.touches[0][r1.ID].IsZero() {
		t.Errorf("the batch was lost after a failed flush: %v", f.st.touches)
	}
}

func TestRunFlushesOnShutdown(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.FlushInterval = time.Hour })
	k1, _ := f.add(t, "live", nil)
	f.a.Authenticate(context.Background(), header(k1))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- f.a.Run(ctx) }()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(f.st.touches) != 1 {
		t.Errorf("Run did not flush on shutdown: %d batches", len(f.st.touches))
	}
}

func TestNewRefusesIncompleteConfig(t *testing.T) {
	h, _ := secret.NewKeyHasher(nil)
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"NoName", Config{Environment: "live", Store: newFakeStore(), Hasher: h}, "name is required"},
		{"BadEnv", Config{Name: "k", Environment: "Live!", Store: newFakeStore(), Hasher: h}, "environment"},
		{"NoStore", Config{Name: "k", Environment: "live", Hasher: h}, "store"},
		{"NoHasher", Config{Name: "k", Environment: "live", Store: newFakeStore()}, "hasher"},
		{"AuthorizationHeader", Config{Name: "k", Environment: "live", Store: newFakeStore(), Hasher: h, Header: "authorization"}, "Authorization is always read"},
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

func TestCredentialIDNeedsNoLookup(t *testing.T) {
	f := newFixture(t, nil)
	key, rec := f.add(t, "live", nil)
	if got := f.a.CredentialID(header(key)); got != rec.ID {
		t.Errorf("CredentialID = %q, want %q", got, rec.ID)
	}
	if got := f.a.CredentialID(header(flip(key, len(key)-1))); got != "" {
		t.Errorf("CredentialID of a bad-checksum key = %q, want empty", got)
	}
	if f.st.lookups.Load() != 0 {
		t.Error("CredentialID looked the key up")
	}
}

// TestDecideWithKeyAndJWTOnOneRoute runs the decision core over a route that takes JWTs
// and keys in the same header: a gk_ Bearer value goes to the key authenticator.
func TestDecideWithKeyAndJWTOnOneRoute(t *testing.T) {
	f := newFixture(t, nil)
	key, _ := f.add(t, "live", nil)
	route := &decision.Route{Name: "r", Authenticators: []decision.Authenticator{stubJWT{}, f.a}, RequiredScopes: []string{"orders:read"}}
	tests := []struct {
		name   string
		header http.Header
		allow  bool
		reason decision.Reason
	}{
		{"KeyAsBearer", http.Header{"Authorization": {"Bearer " + key}}, true, ""},
		{"KeyInHeader", http.Header{"X-Api-Key": {key}}, true, ""},
		{"KeyInBoth", http.Header{"Authorization": {"Bearer " + key}, "X-Api-Key": {key}}, false, decision.InvalidRequest},
		{"BadChecksum", http.Header{"Authorization": {"Bearer " + flip(key, len(key)-1)}}, false, decision.CredentialsMalformed},
		{"JWTGoesToJWT", http.Header{"Authorization": {"Bearer eyJ.x.y"}}, false, decision.TokenSignatureInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := route.Decide(context.Background(), &decision.Request{Method: "GET", Path: "/", Header: tc.header})
			if d.Allow != tc.allow || d.Reason != tc.reason {
				t.Errorf("Decide = allow %v reason %s (%s), want allow %v reason %s", d.Allow, d.Reason, d.Detail, tc.allow, tc.reason)
			}
		})
	}
}

type stubJWT struct{}

func (stubJWT) Name() string                   { return "jwt" }
func (stubJWT) Scheme() string                 { return "Bearer" }
func (stubJWT) Locations() []decision.Location { return nil }
func (stubJWT) Claims(c decision.Credential) decision.Match {
	if c.Scheme == "bearer" && strings.HasPrefix(c.Value, "eyJ") {
		return decision.ShapeMatch
	}
	if c.Scheme == "bearer" {
		return decision.SchemeMatch
	}
	return decision.NoMatch
}
func (stubJWT) Authenticate(context.Context, decision.Credential) (decision.Principal, error) {
	return decision.Principal{}, decision.Fail(decision.TokenSignatureInvalid, "bad signature")
}

func BenchmarkCachedDecision(b *testing.B) {
	for _, pepper := range []string{"", strings.Repeat("p", 32)} {
		name := "SHA256"
		if pepper != "" {
			name = "HMACPepper"
		}
		b.Run(name, func(b *testing.B) {
			h, _ := secret.NewKeyHasher([]byte(pepper))
			st := newFakeStore()
			a, _ := New(Config{Name: "keys", Header: "X-API-Key", Environment: "live", Store: st, Hasher: h})
			k, _ := secret.NewAPIKey("live")
			st.keys[k.ID] = store.APIKey{ID: k.ID, Name: "svc", Env: "live", Scopes: []string{"a"}, SecretHash: h.Hash(k), HashAlg: h.Alg(), CreatedAt: t0}
			c := header(k.Reveal())
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
		})
	}
}

// BenchmarkCachedRouteDecide is the whole decision core for a cached key: extraction,
// claim, verification and scope check.
func BenchmarkCachedRouteDecide(b *testing.B) {
	h, _ := secret.NewKeyHasher(nil)
	st := newFakeStore()
	a, _ := New(Config{Name: "keys", Header: "X-API-Key", Environment: "live", Store: st, Hasher: h})
	k, _ := secret.NewAPIKey("live")
	st.keys[k.ID] = store.APIKey{ID: k.ID, Name: "svc", Env: "live", Scopes: []string{"orders:read"}, SecretHash: h.Hash(k), HashAlg: h.Alg(), CreatedAt: t0}
	route := &decision.Route{Name: "r", Authenticators: []decision.Authenticator{a}, RequiredScopes: []string{"orders:read"}}
	req := &decision.Request{Method: "GET", Path: "/orders", Header: http.Header{"Authorization": {"Bearer " + k.Reveal()}}}
	if d := route.Decide(context.Background(), req); !d.Allow {
		b.Fatalf("not allowed: %s %s", d.Reason, d.Detail)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		route.Decide(context.Background(), req)
	}
}

// TestCacheStatsCountHitsMissesAndEvictions: the counters behind
// gatehouse_cache_requests_total and gatehouse_cache_evictions_total. With room for two
// records, five keys used once each evict three; using the last one again is a hit.
func TestCacheStatsCountHitsMissesAndEvictions(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.CacheSize = 2 })
	var keys []string
	for range 5 {
		k, _ := f.add(t, "live", nil)
		keys = append(keys, k)
	}
	ctx := context.Background()
	for _, k := range keys {
		if _, err := f.a.Authenticate(ctx, header(k)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.a.Authenticate(ctx, header(keys[4])); err != nil {
		t.Fatal(err)
	}
	hits, misses, evictions := f.a.CacheStats()
	// Each miss is counted twice: by the lookup and by the single-flight load's own.
	if hits != 1 || evictions != 3 || misses == 0 {
		t.Fatalf("hits %d misses %d evictions %d, want 1 hit and 3 evictions", hits, misses, evictions)
	}
}
