package basic

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/challenge"
	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/bcrypt"
)

// cheap keeps tests fast; the production parameters are benchmarked below.
var cheap = secret.Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func mustHash(t testing.TB, pw string) string {
	t.Helper()
	h, err := secret.HashPasswordWith(cheap, pw)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

type fakeUsers struct {
	mu      sync.Mutex
	users   map[string]store.User
	lookups atomic.Int32
	err     error
}

func (f *fakeUsers) User(ctx context.Context, name string) (store.User, error) {
	f.lookups.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return store.User{}, f.err
	}
	u, ok := f.users[name]
	if !ok {
		return u, fmt.Errorf("fake: %w", store.ErrNotFound)
	}
	return u, nil
}

func (f *fakeUsers) ListUsers(ctx context.Context, after string, limit int) ([]store.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	names := slices.Sorted(maps.Keys(f.users))
	var out []store.User
	for _, n := range names {
		if n > after && len(out) < limit {
			out = append(out, f.users[n])
		}
	}
	return out, nil
}

func (f *fakeUsers) SetPassword(ctx context.Context, name, hash string, at time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.users[name]
	if !ok {
		return fmt.Errorf("fake: %w", store.ErrNotFound)
	}
	u.PasswordHash, u.UpdatedAt = hash, at
	f.users[name] = u
	return nil
}

func (f *fakeUsers) set(u store.User) {
	f.mu.Lock()
	f.users[u.Name] = u
	f.mu.Unlock()
}

// countingHasher records which hashes were verified.
type countingHasher struct {
	mu     sync.Mutex
	hashes []string
	inner  PasswordHasher
	delay  time.Duration
}

func (c *countingHasher) Verify(ctx context.Context, hash, pw string) (bool, error) {
	c.mu.Lock()
	c.hashes = append(c.hashes, hash)
	c.mu.Unlock()
	time.Sleep(c.delay)
	return c.inner.Verify(ctx, hash, pw)
}

func (c *countingHasher) calls() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.hashes...)
}

type fixture struct {
	a      *Authenticator
	users  *fakeUsers
	hasher *countingHasher
	dummy  string
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{users: &fakeUsers{users: map[string]store.User{}}, hasher: &countingHasher{inner: secret.NewPasswordVerifier(0)}}
	f.dummy = mustHash(t, "dummy-password-nobody-has")
	var err error
	f.a, err = New(Config{Name: "staff", Store: f.users, Hasher: f.hasher, DummyHash: f.dummy})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func cred(user, pass string) decision.Credential {
	return decision.Credential{Source: decision.FromAuthorization, Scheme: "basic", Value: challenge.EncodeBasic(user, pass)}
}

func rawCred(b []byte) decision.Credential {
	return decision.Credential{Source: decision.FromAuthorization, Scheme: "basic", Value: base64.StdEncoding.EncodeToString(b)}
}

func asFailure(t *testing.T, err error) *decision.Failure {
	t.Helper()
	var f *decision.Failure
	if !errors.As(err, &f) {
		t.Fatalf("error = %v (%T), want *decision.Failure", err, err)
	}
	return f
}

func TestCorrectPasswordYieldsPrincipal(t *testing.T) {
	f := newFixture(t)
	f.users.set(store.User{Name: "alice", PasswordHash: mustHash(t, "s3cret: with colon"), Scopes: []string{"admin"}})
	p, err := f.a.Authenticate(context.Background(), cred("alice", "s3cret: with colon"))
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	want := decision.Principal{Subject: "alice", Scopes: []string{"admin"}, Authenticator: "staff", Fingerprint: "user:alice"}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Errorf("principal (-want +got):\n%s", diff)
	}
}

func TestUTF8CredentialsPerRFC7617(t *testing.T) {
	f := newFixture(t)
	f.users.set(store.User{Name: "Zoë", PasswordHash: mustHash(t, "пароль🔑")})
	if _, err := f.a.Authenticate(context.Background(), cred("Zoë", "пароль🔑")); err != nil {
		t.Errorf("UTF-8 user and password: %v", err)
	}
}

func TestBcryptHashesVerify(t *testing.T) {
	f := newFixture(t)
	h, err := bcrypt.GenerateFromPassword([]byte("hunter2"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{"$2a$", "$2b$", "$2y$"} {
		f.users.set(store.User{Name: "bob" + prefix, PasswordHash: prefix + string(h[4:])})
		if _, err := f.a.Authenticate(context.Background(), cred("bob"+prefix, "hunter2")); err != nil {
			t.Errorf("bcrypt %s: %v", prefix, err)
		}
	}
}

// TestUnknownUserAndWrongPasswordAreIndistinguishable: same reason, same detail, and the
// same hashing work (one verification against a hash of the same kind), so neither the
// answer nor its timing tells whether a user exists. Only the log cause differs.
func TestUnknownUserAndWrongPasswordAreIndistinguishable(t *testing.T) {
	f := newFixture(t)
	real := mustHash(t, "right")
	f.users.set(store.User{Name: "alice", PasswordHash: real})

	_, errWrong := f.a.Authenticate(context.Background(), cred("alice", "wrong"))
	wrongCalls := f.hasher.calls()
	_, errUnknown := f.a.Authenticate(context.Background(), cred("mallory", "wrong"))
	unknownCalls := f.hasher.calls()[len(wrongCalls):]

	fw, fu := asFailure(t, errWrong), asFailure(t, errUnknown)
	if fw.Reason != decision.CredentialsInvalid || fu.Reason != decision.CredentialsInvalid {
		t.Fatalf("reasons: %s, %s; want credentials_invalid for both", fw.Reason, fu.Reason)
	}
	if fw.Detail != fu.Detail {
		t.Errorf("details differ: %q vs %q", fw.Detail, fu.Detail)
	}
	if fw.Cause != "password_mismatch" || fu.Cause != "user_unknown" {
		t.Errorf("causes = %q, %q", fw.Cause, fu.Cause)
	}
	if diff := cmp.Diff([]string{real}, wrongCalls); diff != "" {
		t.Errorf("wrong password hashed (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{f.dummy}, unknownCalls); diff != "" {
		t.Errorf("unknown user hashed (-want +got):\n%s", diff)
	}
	if paramsOf(real) != paramsOf(f.dummy) {
		t.Errorf("dummy hash %s has other parameters than users' %s", paramsOf(f.dummy), paramsOf(real))
	}
	if f.users.lookups.Load() != 2 {
		t.Errorf("store lookups = %d, want one per request", f.users.lookups.Load())
	}
}

// paramsOf is a PHC hash without its salt and digest.
func paramsOf(h string) string {
	parts := strings.Split(h, "$")
	return strings.Join(parts[:4], "$")
}

func TestDefaultDummyHashMatchesNewPasswordParameters(t *testing.T) {
	users := &fakeUsers{users: map[string]store.User{}}
	a, err := New(Config{Name: "staff", Store: users})
	if err != nil {
		t.Fatal(err)
	}
	newPw, err := secret.HashPassword("x")
	if err != nil {
		t.Fatal(err)
	}
	if paramsOf(a.dummy) != paramsOf(newPw) {
		t.Errorf("default dummy %s, new passwords %s", paramsOf(a.dummy), paramsOf(newPw))
	}
}

func TestMalformedCredentialsCostNoHashing(t *testing.T) {
	f := newFixture(t)
	f.users.set(store.User{Name: "alice", PasswordHash: mustHash(t, "pw")})
	tests := []struct {
		name   string
		c      decision.Credential
		detail string
	}{
		{"NotBase64", decision.Credential{Source: decision.FromAuthorization, Scheme: "basic", Value: "!!!!"}, "not standard base64"},
		{"Base64URL", decision.Credential{Source: decision.FromAuthorization, Scheme: "basic", Value: "YW-_"}, "base64url"},
		{"NoColon", rawCred([]byte("alicepw")), "no ':'"},
		{"NonUTF8User", rawCred([]byte("al\xffice:pw")), "not valid UTF-8"},
		{"NonUTF8Password", rawCred([]byte("alice:p\xc3\x28w")), "not valid UTF-8"},
		{"Latin1Password", rawCred([]byte("alice:caf\xe9")), "not valid UTF-8"},
		{"MegabytePassword", cred("alice", strings.Repeat("x", 1<<20)), "passwords of at most 4096 bytes"},
		{"JustOverLimit", cred("alice", strings.Repeat("x", secret.MaxPasswordBytes+1)), "at most 4096"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(f.hasher.calls())
			_, err := f.a.Authenticate(context.Background(), tc.c)
			fl := asFailure(t, err)
			if fl.Reason != decision.CredentialsMalformed || !strings.Contains(fl.Detail, tc.detail) {
				t.Errorf("got %s %q, want credentials_malformed containing %q", fl.Reason, fl.Detail, tc.detail)
			}
			if len(f.hasher.calls()) != before {
				t.Error("a malformed credential was hashed")
			}
			if strings.Contains(fl.Detail, "pw") || strings.Contains(fl.Detail, "alice") {
				t.Errorf("detail echoes the credential: %q", fl.Detail)
			}
		})
	}
}

func TestUserNameWithColonCannotAuthenticate(t *testing.T) {
	// RFC 7617 splits at the first colon: "a:b" + "pw" arrives as user "a", password "b:pw".
	f := newFixture(t)
	f.users.set(store.User{Name: "a", PasswordHash: mustHash(t, "other")})
	_, err := f.a.Authenticate(context.Background(), cred("a:b", "pw"))
	if fl := asFailure(t, err); fl.Reason != decision.CredentialsInvalid {
		t.Errorf("user with a colon: %s, want credentials_invalid", fl.Reason)
	}
}

func TestInvalidUserNamesAreUnknownUsersAfterTheSameWork(t *testing.T) {
	f := newFixture(t)
	for _, user := range []string{"", "tab\tname", strings.Repeat("u", 300)} {
		before := len(f.hasher.calls())
		_, err := f.a.Authenticate(context.Background(), cred(user, "pw"))
		if fl := asFailure(t, err); fl.Reason != decision.CredentialsInvalid || fl.Cause != "user_unknown" {
			t.Errorf("user %q: %s/%s", user, fl.Reason, fl.Cause)
		}
		if len(f.hasher.calls()) != before+1 {
			t.Errorf("user %q: %d hashes, want 1", user, len(f.hasher.calls())-before)
		}
	}
}

func TestCorrectPasswordCostsOneHashPerTTL(t *testing.T) {
	f := newFixture(t)
	f.users.set(store.User{Name: "alice", PasswordHash: mustHash(t, "pw")})
	for range 20 {
		if _, err := f.a.Authenticate(context.Background(), cred("alice", "pw")); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(f.hasher.calls()); n != 1 {
		t.Errorf("%d hashes for 20 requests, want 1", n)
	}
}

func TestConcurrentMissesShareOneHash(t *testing.T) {
	f := newFixture(t)
	f.hasher.delay = 50 * time.Millisecond
	f.users.set(store.User{Name: "alice", PasswordHash: mustHash(t, "pw")})
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := f.a.Authenticate(context.Background(), cred("alice", "pw")); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := len(f.hasher.calls()); n != 1 {
		t.Errorf("%d hashes for 16 concurrent requests, want 1 (single flight)", n)
	}
}

func TestWrongPasswordIsNeverCached(t *testing.T) {
	f := newFixture(t)
	f.users.set(store.User{Name: "alice", PasswordHash: mustHash(t, "pw")})
	f.a.Authenticate(context.Background(), cred("alice", "wrong"))
	f.users.set(store.User{Name: "alice", PasswordHash: mustHash(t, "wrong")})
	if _, err := f.a.Authenticate(context.Background(), cred("alice", "wrong")); err != nil {
		t.Errorf("a failure was cached: %v", err)
	}
}

func TestUserChangesPurgeTheCache(t *testing.T) {
	for _, kind := range []store.ChangeKind{store.ChangeUserRemoved, store.ChangeUserPassword, store.ChangeUserUpdated, store.ChangeReset} {
		t.Run(string(kind), func(t *testing.T) {
			f := newFixture(t)
			f.users.set(store.User{Name: "alice", PasswordHash: mustHash(t, "pw")})
			if _, err := f.a.Authenticate(context.Background(), cred("alice", "pw")); err != nil {
				t.Fatal(err)
			}
			f.users.mu.Lock()
			delete(f.users.users, "alice")
			f.users.mu.Unlock()
			f.a.Invalidate(store.Change{Kind: kind, Subject: "alice"})
			_, err := f.a.Authenticate(context.Background(), cred("alice", "pw"))
			if fl := asFailure(t, err); fl.Cause != "user_unknown" {
				t.Errorf("after %s the cached result was used: %v", kind, err)
			}
		})
	}
}

func TestStoreOutageIs503NotAVerdict(t *testing.T) {
	f := newFixture(t)
	f.users.err = fmt.Errorf("sqlite: %w", store.ErrCorrupt)
	_, err := f.a.Authenticate(context.Background(), cred("alice", "pw"))
	if fl := asFailure(t, err); fl.Reason != decision.AuthenticatorUnavailable || fl.RetryAfter <= 0 {
		t.Errorf("store outage = %v; want authenticator_unavailable (503) with a Retry-After", err)
	}
	if strings.Contains(err.Error(), "pw") {
		t.Errorf("error contains the password: %v", err)
	}
}

func TestUnusableStoredHashIsNotAVerdict(t *testing.T) {
	f := newFixture(t)
	f.users.set(store.User{Name: "alice", PasswordHash: "$apr1$weak$hash"})
	_, err := f.a.Authenticate(context.Background(), cred("alice", "pw"))
	var fl *decision.Failure
	if err == nil || errors.As(err, &fl) {
		t.Errorf("an unusable stored hash = %v; want a plain error", err)
	}
}

func TestCredentialID(t *testing.T) {
	f := newFixture(t)
	if got := f.a.CredentialID(cred("alice", "pw")); got != "alice" {
		t.Errorf("CredentialID = %q", got)
	}
	if got := f.a.CredentialID(rawCred([]byte("nocolon"))); got != "" {
		t.Errorf("CredentialID of garbage = %q", got)
	}
	if len(f.hasher.calls()) != 0 {
		t.Error("CredentialID hashed")
	}
}

func TestClaimsAndScheme(t *testing.T) {
	f := newFixture(t)
	if f.a.Claims(cred("a", "b")) != decision.SchemeMatch {
		t.Error("Basic not claimed")
	}
	if f.a.Claims(decision.Credential{Source: decision.FromAuthorization, Scheme: "bearer", Value: "x"}) != decision.NoMatch {
		t.Error("Bearer claimed")
	}
	if f.a.Scheme() != "Basic" || f.a.Locations() != nil {
		t.Error("Scheme/Locations")
	}
}

func BenchmarkBasicCached(b *testing.B) {
	f := newFixture(b)
	f.users.set(store.User{Name: "alice", PasswordHash: mustHash(b, "correct horse battery staple")})
	c := cred("alice", "correct horse battery staple")
	if _, err := f.a.Authenticate(context.Background(), c); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := f.a.Authenticate(context.Background(), c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBasicUncached measures a full verification with the production argon2id
// parameters (secret.DefaultArgon2): the cost of a cache miss, and of every failed login.
func BenchmarkBasicUncached(b *testing.B) {
	users := &fakeUsers{users: map[string]store.User{}}
	h, err := secret.HashPassword("correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	users.set(store.User{Name: "alice", PasswordHash: h})
	a, err := New(Config{Name: "staff", Store: users, CacheTTL: -1})
	if err != nil {
		b.Fatal(err)
	}
	c := cred("alice", "correct horse battery staple")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := a.Authenticate(context.Background(), c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBasicUncachedBcrypt is the same with an imported bcrypt hash of cost 10.
func BenchmarkBasicUncachedBcrypt(b *testing.B) {
	users := &fakeUsers{users: map[string]store.User{}}
	h, err := bcrypt.GenerateFromPassword([]byte("correct horse battery staple"), 10)
	if err != nil {
		b.Fatal(err)
	}
	users.set(store.User{Name: "alice", PasswordHash: string(h)})
	a, err := New(Config{Name: "staff", Store: users, CacheTTL: -1})
	if err != nil {
		b.Fatal(err)
	}
	c := cred("alice", "correct horse battery staple")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Authenticate(context.Background(), c); err != nil {
			b.Fatal(err)
		}
	}
}

// TestCacheStatsCountHitsMissesAndEvictions: the counters behind
// gatehouse_cache_requests_total and gatehouse_cache_evictions_total.
func TestCacheStatsCountHitsMissesAndEvictions(t *testing.T) {
	users := &fakeUsers{users: map[string]store.User{}}
	for _, name := range []string{"ann", "bob", "cat"} {
		users.set(store.User{Name: name, PasswordHash: mustHash(t, "pw-"+name)})
	}
	a, err := New(Config{Name: "staff", Store: users, DummyHash: mustHash(t, "dummy"), CacheSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, name := range []string{"ann", "bob", "cat", "cat"} {
		if _, err := a.Authenticate(ctx, cred(name, "pw-"+name)); err != nil {
			t.Fatal(err)
		}
	}
	hits, misses, evictions := a.CacheStats()
	if hits != 1 || evictions != 1 || misses == 0 {
		t.Fatalf("hits %d misses %d evictions %d, want 1 hit and 1 eviction", hits, misses, evictions)
	}
}

// TestFailedLoginNeverLogsAPasswordTypedAsUserName guards the log fingerprint of a
// failed Basic login: a user name the store does not hold may be a password typed in
// the wrong field, so no part of it may reach the log; a known user is named.
func TestFailedLoginNeverLogsAPasswordTypedAsUserName(t *testing.T) {
	f := newFixture(t)
	f.users.set(store.User{Name: "alice", PasswordHash: mustHash(t, "hunter2-correct")})
	tests := []struct {
		name, user, pass string
		secret           string // must not appear in the fingerprint
		wantFP           string // exact fingerprint, or "" for the unknown-user form
	}{
		{"PasswordInUserField", "hunter2-correct", "", "hunter2", ""},
		{"UserAndPasswordInUserField", "alice hunter2-correct", "x", "hunter2", ""},
		{"LongHighEntropyName", "ghp_" + strings.Repeat("Zx9Qw7", 12), "", "Zx9Qw7", ""},
		{"PastedAfterColonSplitsIntoPassword", "alice", "hunter2:hunter2", "hunter2", "user:alice"},
		{"KnownUserWrongPassword", "alice", "hunter3", "hunter3", "user:alice"},
	}
	seen := map[string]string{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.a.Authenticate(context.Background(), cred(tc.user, tc.pass))
			fl := asFailure(t, err)
			if strings.Contains(fl.Fingerprint, tc.secret) || (tc.pass != "" && strings.Contains(fl.Fingerprint, tc.pass)) {
				t.Errorf("fingerprint %q carries the secret", fl.Fingerprint)
			}
			if tc.wantFP != "" {
				if fl.Fingerprint != tc.wantFP {
					t.Errorf("fingerprint = %q, want %q", fl.Fingerprint, tc.wantFP)
				}
				return
			}
			if !strings.HasPrefix(fl.Fingerprint, "user?") || len(fl.Fingerprint) != len("user?")+8 {
				t.Errorf("fingerprint = %q, want user? and 8 hex digits", fl.Fingerprint)
			}
			if prev, dup := seen[fl.Fingerprint]; dup {
				t.Errorf("names %q and %q share fingerprint %q", prev, tc.user, fl.Fingerprint)
			}
			seen[fl.Fingerprint] = tc.user
			// The same name gets the same fingerprint, so repeated attempts correlate.
			_, err = f.a.Authenticate(context.Background(), cred(tc.user, tc.pass+"!"))
			if again := asFailure(t, err).Fingerprint; again != fl.Fingerprint {
				t.Errorf("second attempt fingerprint %q, first %q", again, fl.Fingerprint)
			}
		})
	}
}
