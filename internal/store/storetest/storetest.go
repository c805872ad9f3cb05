// Package storetest is the conformance suite every credential store backend runs: one
// set of behaviours (records round-trip, errors classify, revocations and rotations are
// atomic with their change records, the change sequence is ordered) checked the same way
// against SQLite and PostgreSQL.
//
// A backend's test calls
//
//	storetest.Run(t, func(t *testing.T) store.Store { return openFreshStore(t) })
//
// where each call returns a new, empty store that the test may close (Run closes it in
// t.Cleanup; a second Close must not panic).
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// Opener returns a new, empty store.
type Opener func(t *testing.T) store.Store

// Run runs the whole suite, one test after another.
func Run(t *testing.T, open Opener) { run(t, open, false) }

// RunParallel runs the whole suite with its tests in parallel, for a backend whose
// stores are independent of each other (each opener call a database of its own) and
// whose opening is slow: a PostgreSQL server creates a database per test.
func RunParallel(t *testing.T, open Opener) { run(t, open, true) }

func run(t *testing.T, open Opener, parallel bool) {
	t.Helper()
	s := suite{open: open}
	tests := []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"KeyRoundTripsWithMicrosecondTimes", s.keyRoundTrip},
		{"CreateKeyWithTakenIDIsErrExists", s.createKeyTaken},
		{"CreateKeyRefusesInvalidRecords", s.createKeyInvalid},
		{"UnknownKeyIsErrNotFound", s.unknownKey},
		{"ListKeysPagesInIDOrder", s.listKeysPages},
		{"RevokeKeyRecordsChangeOnce", s.revokeKey},
		{"RevokeUnknownKeyIsErrNotFound", s.revokeUnknown},
		{"RotateKeyKeepsOldKeyUntilGraceEnd", s.rotateKey},
		{"RotateWithZeroGraceEndsOldKeyAtOnce", s.rotateZeroGrace},
		{"RotateRevokedKeyIsErrRevoked", s.rotateRevoked},
		{"RotateWithTakenIDChangesNothing", s.rotateTakenID},
		{"RotateKeepsEarlierScheduledRevocation", s.rotateKeepsEarlier},
		{"TouchKeysKeepsLatestAndRecordsNoChange", s.touchKeys},
		{"UserRoundTrips", s.userRoundTrip},
		{"KeyAttributesRoundTrip", s.keyAttributes},
		{"UserAttributesRoundTripAndImport", s.userAttributes},
		{"AttributesAreValidated", s.attributesInvalid},
		{"AddUserWithTakenNameIsErrExists", s.addUserTaken},
		{"AddUserRefusesNamesBasicCannotCarry", s.addUserInvalid},
		{"SetPasswordRecordsChange", s.setPassword},
		{"RemoveUserRecordsChange", s.removeUser},
		{"UnknownUserIsErrNotFound", s.unknownUser},
		{"ListUsersPagesInNameOrder", s.listUsersPages},
		{"ImportUsersAddsAndUpdates", s.importUsers},
		{"ImportUsersIsAllOrNothing", s.importAllOrNothing},
		{"ChangeSequenceIsOrderedAndComplete", s.changeSequence},
		{"ChangesAfterLatestIsEmpty", s.changesAfterLatest},
		{"WatcherDeliversRevocation", s.watcherDelivers},
		{"ConcurrentWritersAllCommit", s.concurrentWriters},
		{"CanceledContextFails", s.canceledContext},
		{"PingSucceedsOnOpenStore", s.ping},
		{"ClientRoundTripsWithMicrosecondTimes", s.clientRoundTrip},
		{"ClientIntrospectPermissionRoundTrips", s.clientIntrospectPermission},
		{"CreateClientWithTakenIDIsErrExists", s.createClientTaken},
		{"CreateClientRefusesInvalidRecords", s.createClientInvalid},
		{"ListClientsPagesInIDOrderWithRemoved", s.listClients},
		{"RemoveClientForgetsSecretAndRecordsChange", s.removeClient},
		{"RevokeTokenRecordsChangeOnce", s.revokeToken},
		{"RevokeTokenPrunesExpiredRevocations", s.revokeTokenPrunes},
		{"ListRevokedTokensSkipsExpiredAndPages", s.listRevokedTokens},
		{"RevokeTokenRefusesInvalidRecords", s.revokeTokenInvalid},
		{"SigningKeyRoundTrips", s.signingKeyRoundTrip},
		{"AddSigningKeyRetiresTheSignerAtActivation", s.addSigningKeyRetires},
		{"AddSigningKeyExpiresPendingKeyThatNeverSigns", s.addSigningKeyPending},
		{"AddSigningKeyDeletesExpiredKeys", s.addSigningKeyDeletesExpired},
		{"AddSigningKeyWithTakenKidChangesNothing", s.addSigningKeyTaken},
		{"InitSigningKeyCreatesOnlyTheFirst", s.initSigningKey},
		{"ConcurrentInitSigningKeyCreatesOne", s.initSigningKeyConcurrent},
		{"AdminTokenRoundTripsWithoutChange", s.adminTokenRoundTrip},
		{"CreateAdminTokenWithTakenIDIsErrExists", s.createAdminTokenTaken},
		{"CreateAdminTokenRefusesInvalidRecords", s.createAdminTokenInvalid},
		{"RevokeAdminTokenOnceAndUnknownIsErrNotFound", s.revokeAdminToken},
		{"ListAdminTokensPagesInIDOrder", s.listAdminTokens},
		{"AuditLogAppendsInOrderAndPages", s.auditLog},
		{"AppendAuditRefusesInvalidEntries", s.auditInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if parallel {
				t.Parallel()
			}
			tc.fn(t)
		})
	}
}

type suite struct{ open Opener }

func (s suite) store(t *testing.T) store.Store {
	t.Helper()
	st := s.open(t)
	t.Cleanup(func() { st.Close() })
	return st
}

// base has nanoseconds, so a backend that does not truncate to microseconds (or loses
// the time zone) fails the round trip.
var base = time.Date(2031, 3, 4, 5, 6, 7, 891234567, time.FixedZone("X", 3600))

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// NewKey returns a valid key record with the given id, for tests.
func NewKey(id string, created time.Time) store.APIKey {
	return store.APIKey{
		ID: id, Name: "svc-" + id, Env: "live", Scopes: []string{"orders:read", "orders:write"},
		SecretHash: []byte("0123456789abcdef0123456789abcdef"), HashAlg: "sha256",
		CreatedAt: created,
	}
}

func wantKey(k store.APIKey) store.APIKey {
	k.CreatedAt = store.Micro(k.CreatedAt)
	k.ExpiresAt = store.Micro(k.ExpiresAt)
	k.RevokedAt = store.Micro(k.RevokedAt)
	k.LastUsedAt = store.Micro(k.LastUsedAt)
	return k
}

var cmpOpts = []cmp.Option{cmpopts.EquateEmpty()}

func mustCreate(t *testing.T, st store.Store, k store.APIKey) {
	t.Helper()
	if err := st.CreateKey(ctx(t), &k); err != nil {
		t.Fatalf("CreateKey(%s): %v", k.ID, err)
	}
}

func changesSince(t *testing.T, st store.Store, after int64) []store.Change {
	t.Helper()
	chs, err := st.Changes(ctx(t), after)
	if err != nil {
		t.Fatalf("Changes(%d): %v", after, err)
	}
	return chs
}

func latest(t *testing.T, st store.Store) int64 {
	t.Helper()
	n, err := st.LatestChange(ctx(t))
	if err != nil {
		t.Fatalf("LatestChange: %v", err)
	}
	return n
}

type kindSubject struct {
	Kind    store.ChangeKind
	Subject string
}

func kinds(chs []store.Change) []kindSubject {
	out := make([]kindSubject, 0, len(chs))
	for _, c := range chs {
		out = append(out, kindSubject{c.Kind, c.Subject})
	}
	return out
}

func (s suite) keyRoundTrip(t *testing.T) {
	st := s.store(t)
	k := NewKey("AAAAAAAAAAA1", base)
	k.ExpiresAt = base.Add(24 * time.Hour)
	mustCreate(t, st, k)
	got, err := st.Key(ctx(t), k.ID)
	if err != nil {
		t.Fatalf("Key: %v", err)
	}
	if diff := cmp.Diff(wantKey(k), got, cmpOpts...); diff != "" {
		t.Errorf("Key round trip (-want +got):\n%s", diff)
	}
	if got.CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt location = %v, want UTC", got.CreatedAt.Location())
	}
	if st := got.Status(base); st != store.KeyActive {
		t.Errorf("Status = %s, want active", st)
	}
	if st := got.Status(base.Add(25 * time.Hour)); st != store.KeyExpired {
		t.Errorf("Status after expiry = %s, want expired", st)
	}
}

func (s suite) createKeyTaken(t *testing.T) {
	st := s.store(t)
	mustCreate(t, st, NewKey("AAAAAAAAAAA1", base))
	before := latest(t, st)
	k := NewKey("AAAAAAAAAAA1", base)
	k.Name = "other"
	if err := st.CreateKey(ctx(t), &k); !errors.Is(err, store.ErrExists) {
		t.Fatalf("CreateKey with a taken id = %v, want ErrExists", err)
	}
	if got, _ := st.Key(ctx(t), k.ID); got.Name != "svc-AAAAAAAAAAA1" {
		t.Errorf("the first key was overwritten: name %q", got.Name)
	}
	if after := latest(t, st); after != before {
		t.Errorf("a refused create recorded a change: latest %d -> %d", before, after)
	}
}

func (s suite) createKeyInvalid(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(k *store.APIKey)
	}{
		{"EmptyID", func(k *store.APIKey) { k.ID = "" }},
		{"EmptyName", func(k *store.APIKey) { k.Name = "" }},
		{"EmptyEnv", func(k *store.APIKey) { k.Env = "" }},
		{"NoHash", func(k *store.APIKey) { k.SecretHash = nil }},
		{"ScopeWithSpace", func(k *store.APIKey) { k.Scopes = []string{"a b"} }},
		{"EmptyScope", func(k *store.APIKey) { k.Scopes = []string{""} }},
		{"NoCreationTime", func(k *store.APIKey) { k.CreatedAt = time.Time{} }},
	}
	st := s.store(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := NewKey("AAAAAAAAAAA1", base)
			tc.mutate(&k)
			if err := st.CreateKey(ctx(t), &k); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("CreateKey = %v, want ErrInvalid", err)
			}
		})
	}
	if n := latest(t, st); n != 0 {
		t.Errorf("refused creates recorded changes: latest = %d", n)
	}
}

func (s suite) unknownKey(t *testing.T) {
	st := s.store(t)
	_, err := st.Key(ctx(t), "nope")
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Key(unknown) = %v, want ErrNotFound", err)
	}
	if errors.Is(err, store.ErrUnavailable) {
		t.Errorf("ErrNotFound must not also be ErrUnavailable: %v", err)
	}
}

func (s suite) listUsersPages(t *testing.T) {
	st := s.store(t)
	var want []string
	for i := 24; i >= 0; i-- {
		u := newUser(fmt.Sprintf("user-%02d", i))
		if err := st.AddUser(ctx(t), &u); err != nil {
			t.Fatalf("AddUser: %v", err)
		}
		want = append(want, u.Name)
	}
	sort.Strings(want)
	var got []string
	after := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("ListUsers does not make progress")
		}
		page, err := st.ListUsers(ctx(t), after, 10)
		if err != nil {
			t.Fatalf("ListUsers: %v", err)
		}
		if len(page) > 10 {
			t.Fatalf("ListUsers returned %d users, limit 10", len(page))
		}
		if len(page) == 0 {
			break
		}
		for _, u := range page {
			got = append(got, u.Name)
			if u.PasswordHash == "" {
				t.Errorf("ListUsers dropped the hash of %s", u.Name)
			}
		}
		after = page[len(page)-1].Name
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ListUsers pages (-want +got):\n%s", diff)
	}
}

func (s suite) listKeysPages(t *testing.T) {
	st := s.store(t)
	var want []string
	for i := 24; i >= 0; i-- {
		id := fmt.Sprintf("K%011d", i)
		mustCreate(t, st, NewKey(id, base))
		want = append(want, id)
	}
	sort.Strings(want)
	var got []string
	after := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("ListKeys does not make progress")
		}
		page, err := st.ListKeys(ctx(t), after, 10)
		if err != nil {
			t.Fatalf("ListKeys: %v", err)
		}
		if len(page) > 10 {
			t.Fatalf("ListKeys returned %d keys, limit 10", len(page))
		}
		if len(page) == 0 {
			break
		}
		for _, k := range page {
			got = append(got, k.ID)
			if len(k.SecretHash) == 0 {
				t.Errorf("ListKeys dropped the hash of %s", k.ID)
			}
		}
		after = page[len(page)-1].ID
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ListKeys pages (-want +got):\n%s", diff)
	}
}

func (s suite) revokeKey(t *testing.T) {
	st := s.store(t)
	mustCreate(t, st, NewKey("AAAAAAAAAAA1", base))
	before := latest(t, st)
	at := base.Add(time.Hour)
	got, err := st.RevokeKey(ctx(t), "AAAAAAAAAAA1", at)
	if err != nil {
		t.Fatalf("RevokeKey: %v", err)
	}
	if !got.RevokedAt.Equal(store.Micro(at)) {
		t.Errorf("RevokedAt = %v, want %v", got.RevokedAt, store.Micro(at))
	}
	stored, err := st.Key(ctx(t), "AAAAAAAAAAA1")
	if err != nil {
		t.Fatal(err)
	}
	if stored.Status(at) != store.KeyRevoked || stored.Status(at.Add(-time.Second)) != store.KeyActive {
		t.Errorf("status around revocation: at=%s before=%s", stored.Status(at), stored.Status(at.Add(-time.Second)))
	}
	want := []kindSubject{{store.ChangeKeyRevoked, "AAAAAAAAAAA1"}}
	if diff := cmp.Diff(want, kinds(changesSince(t, st, before))); diff != "" {
		t.Errorf("changes after revoke (-want +got):\n%s", diff)
	}
	// Revoking again keeps the first revocation time and records nothing.
	mid := latest(t, st)
	again, err := st.RevokeKey(ctx(t), "AAAAAAAAAAA1", at.Add(time.Hour))
	if err != nil {
		t.Fatalf("RevokeKey again: %v", err)
	}
	if !again.RevokedAt.Equal(store.Micro(at)) {
		t.Errorf("second revoke moved RevokedAt to %v", again.RevokedAt)
	}
	if n := latest(t, st); n != mid {
		t.Errorf("second revoke recorded a change: %d -> %d", mid, n)
	}
}

func (s suite) revokeUnknown(t *testing.T) {
	st := s.store(t)
	if _, err := st.RevokeKey(ctx(t), "nope", base); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RevokeKey(unknown) = %v, want ErrNotFound", err)
	}
	if n := latest(t, st); n != 0 {
		t.Errorf("latest = %d, want 0", n)
	}
}

func (s suite) rotateKey(t *testing.T) {
	st := s.store(t)
	mustCreate(t, st, NewKey("AAAAAAAAAAA1", base))
	before := latest(t, st)
	now := base.Add(time.Hour)
	next := NewKey("BBBBBBBBBBB2", now)
	graceEnd := now.Add(30 * time.Minute)
	old, err := st.RotateKey(ctx(t), "AAAAAAAAAAA1", &next, graceEnd)
	if err != nil {
		t.Fatalf("RotateKey: %v", err)
	}
	if !old.RevokedAt.Equal(store.Micro(graceEnd)) || old.ReplacedBy != "BBBBBBBBBBB2" {
		t.Errorf("old key after rotation: RevokedAt %v ReplacedBy %q", old.RevokedAt, old.ReplacedBy)
	}
	stored, err := st.Key(ctx(t), "AAAAAAAAAAA1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(old, stored, cmpOpts...); diff != "" {
		t.Errorf("RotateKey result differs from the stored key (-returned +stored):\n%s", diff)
	}
	if got := stored.Status(graceEnd.Add(-time.Second)); got != store.KeyActive {
		t.Errorf("old key during grace: %s, want active", got)
	}
	if got := stored.Status(graceEnd); got != store.KeyRevoked {
		t.Errorf("old key at grace end: %s, want revoked", got)
	}
	if _, err := st.Key(ctx(t), "BBBBBBBBBBB2"); err != nil {
		t.Errorf("new key: %v", err)
	}
	want := []kindSubject{{store.ChangeKeyRotated, "AAAAAAAAAAA1"}, {store.ChangeKeyCreated, "BBBBBBBBBBB2"}}
	if diff := cmp.Diff(want, kinds(changesSince(t, st, before))); diff != "" {
		t.Errorf("changes after rotate (-want +got):\n%s", diff)
	}
}

func (s suite) rotateZeroGrace(t *testing.T) {
	st := s.store(t)
	mustCreate(t, st, NewKey("AAAAAAAAAAA1", base))
	now := base.Add(time.Hour)
	next := NewKey("BBBBBBBBBBB2", now)
	old, err := st.RotateKey(ctx(t), "AAAAAAAAAAA1", &next, now)
	if err != nil {
		t.Fatalf("RotateKey: %v", err)
	}
	if got := old.Status(now); got != store.KeyRevoked {
		t.Errorf("old key right after a zero-grace rotation: %s, want revoked", got)
	}
}

func (s suite) rotateRevoked(t *testing.T) {
	st := s.store(t)
	mustCreate(t, st, NewKey("AAAAAAAAAAA1", base))
	if _, err := st.RevokeKey(ctx(t), "AAAAAAAAAAA1", base.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	next := NewKey("BBBBBBBBBBB2", base.Add(time.Hour))
	if _, err := st.RotateKey(ctx(t), "AAAAAAAAAAA1", &next, base.Add(2*time.Hour)); !errors.Is(err, store.ErrRevoked) {
		t.Fatalf("RotateKey(revoked) = %v, want ErrRevoked", err)
	}
	if _, err := st.Key(ctx(t), "BBBBBBBBBBB2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a refused rotation stored the new key: %v", err)
	}
	if _, err := st.RotateKey(ctx(t), "nope", &next, base.Add(2*time.Hour)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RotateKey(unknown) = %v, want ErrNotFound", err)
	}
}

func (s suite) rotateTakenID(t *testing.T) {
	st := s.store(t)
	mustCreate(t, st, NewKey("AAAAAAAAAAA1", base))
	mustCreate(t, st, NewKey("BBBBBBBBBBB2", base))
	before := latest(t, st)
	next := NewKey("BBBBBBBBBBB2", base.Add(time.Hour))
	if _, err := st.RotateKey(ctx(t), "AAAAAAAAAAA1", &next, base.Add(2*time.Hour)); !errors.Is(err, store.ErrExists) {
		t.Fatalf("RotateKey onto a taken id = %v, want ErrExists", err)
	}
	old, err := st.Key(ctx(t), "AAAAAAAAAAA1")
	if err != nil {
		t.Fatal(err)
	}
	if !old.RevokedAt.IsZero() || old.ReplacedBy != "" {
		t.Errorf("a failed rotation changed the old key: RevokedAt %v ReplacedBy %q", old.RevokedAt, old.ReplacedBy)
	}
	if n := latest(t, st); n != before {
		t.Errorf("a failed rotation recorded changes: %d -> %d", before, n)
	}
}

func (s suite) rotateKeepsEarlier(t *testing.T) {
	st := s.store(t)
	mustCreate(t, st, NewKey("AAAAAAAAAAA1", base))
	first := NewKey("BBBBBBBBBBB2", base.Add(time.Hour))
	if _, err := st.RotateKey(ctx(t), "AAAAAAAAAAA1", &first, base.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	second := NewKey("CCCCCCCCCCC3", base.Add(90*time.Minute))
	old, err := st.RotateKey(ctx(t), "AAAAAAAAAAA1", &second, base.Add(10*time.Hour))
	if err != nil {
		t.Fatalf("second rotation during grace: %v", err)
	}
	if want := store.Micro(base.Add(2 * time.Hour)); !old.RevokedAt.Equal(want) {
		t.Errorf("a longer second grace extended the old key to %v; want it kept at %v", old.RevokedAt, want)
	}
}

func (s suite) touchKeys(t *testing.T) {
	st := s.store(t)
	mustCreate(t, st, NewKey("AAAAAAAAAAA1", base))
	mustCreate(t, st, NewKey("BBBBBBBBBBB2", base))
	before := latest(t, st)
	t1 := base.Add(time.Minute)
	if err := st.TouchKeys(ctx(t), map[string]time.Time{"AAAAAAAAAAA1": t1, "unknown": t1}); err != nil {
		t.Fatalf("TouchKeys: %v", err)
	}
	// An older time (a slower gateway's batch) must not move last_used_at back.
	if err := st.TouchKeys(ctx(t), map[string]time.Time{"AAAAAAAAAAA1": base, "BBBBBBBBBBB2": t1}); err != nil {
		t.Fatalf("TouchKeys: %v", err)
	}
	for _, id := range []string{"AAAAAAAAAAA1", "BBBBBBBBBBB2"} {
		k, err := st.Key(ctx(t), id)
		if err != nil {
			t.Fatal(err)
		}
		if !k.LastUsedAt.Equal(store.Micro(t1)) {
			t.Errorf("%s LastUsedAt = %v, want %v", id, k.LastUsedAt, store.Micro(t1))
		}
	}
	if err := st.TouchKeys(ctx(t), nil); err != nil {
		t.Errorf("TouchKeys(nil) = %v", err)
	}
	if n := latest(t, st); n != before {
		t.Errorf("TouchKeys recorded changes: %d -> %d", before, n)
	}
}

func newUser(name string) store.User {
	return store.User{Name: name, PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA", Scopes: []string{"admin"}, CreatedAt: base, UpdatedAt: base}
}

func (s suite) userRoundTrip(t *testing.T) {
	st := s.store(t)
	u := newUser("Zoë Ünïcode")
	if err := st.AddUser(ctx(t), &u); err != nil {
		t.Fatalf("AddUser: %v", err)
	}
	got, err := st.User(ctx(t), u.Name)
	if err != nil {
		t.Fatalf("User: %v", err)
	}
	u.CreatedAt, u.UpdatedAt = store.Micro(u.CreatedAt), store.Micro(u.UpdatedAt)
	if diff := cmp.Diff(u, got, cmpOpts...); diff != "" {
		t.Errorf("User round trip (-want +got):\n%s", diff)
	}
	want := []kindSubject{{store.ChangeUserAdded, u.Name}}
	if diff := cmp.Diff(want, kinds(changesSince(t, st, 0))); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
}

func (s suite) addUserTaken(t *testing.T) {
	st := s.store(t)
	u := newUser("alice")
	if err := st.AddUser(ctx(t), &u); err != nil {
		t.Fatal(err)
	}
	u2 := newUser("alice")
	u2.PasswordHash = "$2y$10$abcdefghijklmnopqrstuu5Ve3lCNq/l2Qzv0O3gTj0gnIuW1A0Ky"
	if err := st.AddUser(ctx(t), &u2); !errors.Is(err, store.ErrExists) {
		t.Fatalf("AddUser(taken) = %v, want ErrExists", err)
	}
	got, _ := st.User(ctx(t), "alice")
	if got.PasswordHash != u.PasswordHash {
		t.Error("a refused AddUser replaced the password hash")
	}
}

func (s suite) addUserInvalid(t *testing.T) {
	st := s.store(t)
	for _, name := range []string{"", "a:b", "bad\xffutf8", "tab\there", string(make([]byte, store.MaxNameBytes+1))} {
		u := newUser(name)
		if err := st.AddUser(ctx(t), &u); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("AddUser(%q) = %v, want ErrInvalid", name, err)
		}
	}
	u := newUser("bob")
	u.PasswordHash = ""
	if err := st.AddUser(ctx(t), &u); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("AddUser without a hash = %v, want ErrInvalid", err)
	}
}

func (s suite) setPassword(t *testing.T) {
	st := s.store(t)
	u := newUser("alice")
	if err := st.AddUser(ctx(t), &u); err != nil {
		t.Fatal(err)
	}
	before := latest(t, st)
	at := base.Add(time.Hour)
	if err := st.SetPassword(ctx(t), "alice", "$2y$10$newnewnewnewnewnewnewuQ4yQG6lAJk0oC6wdA0Vgg1I4HMnNnu2", at); err != nil {
		t.Fatalf("SetPassword: %v", err)
	}
	got, _ := st.User(ctx(t), "alice")
	if got.PasswordHash != "$2y$10$newnewnewnewnewnewnewuQ4yQG6lAJk0oC6wdA0Vgg1I4HMnNnu2" || !got.UpdatedAt.Equal(store.Micro(at)) {
		t.Errorf("after SetPassword: hash changed=%v UpdatedAt=%v", got.PasswordHash != u.PasswordHash, got.UpdatedAt)
	}
	want := []kindSubject{{store.ChangeUserPassword, "alice"}}
	if diff := cmp.Diff(want, kinds(changesSince(t, st, before))); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
	if err := st.SetPassword(ctx(t), "nobody", "$2y$...", at); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetPassword(unknown) = %v, want ErrNotFound", err)
	}
}

func (s suite) removeUser(t *testing.T) {
	st := s.store(t)
	u := newUser("alice")
	if err := st.AddUser(ctx(t), &u); err != nil {
		t.Fatal(err)
	}
	before := latest(t, st)
	if err := st.RemoveUser(ctx(t), "alice"); err != nil {
		t.Fatalf("RemoveUser: %v", err)
	}
	if _, err := st.User(ctx(t), "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("User after remove = %v, want ErrNotFound", err)
	}
	want := []kindSubject{{store.ChangeUserRemoved, "alice"}}
	if diff := cmp.Diff(want, kinds(changesSince(t, st, before))); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
	if err := st.RemoveUser(ctx(t), "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RemoveUser twice = %v, want ErrNotFound", err)
	}
}

func (s suite) unknownUser(t *testing.T) {
	st := s.store(t)
	if _, err := st.User(ctx(t), "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("User(unknown) = %v, want ErrNotFound", err)
	}
}

func (s suite) importUsers(t *testing.T) {
	st := s.store(t)
	alice := newUser("alice")
	if err := st.AddUser(ctx(t), &alice); err != nil {
		t.Fatal(err)
	}
	before := latest(t, st)
	at := base.Add(time.Hour)
	in := []store.User{
		{Name: "bob", PasswordHash: "$2y$10$bobbobbobbobbobbobbobuQ4yQG6lAJk0oC6wdA0Vgg1I4HMnNnu2", Scopes: []string{"read"}, CreatedAt: at},
		{Name: "alice", PasswordHash: "$2y$10$alicealicealicealiceuQ4yQG6lAJk0oC6wdA0Vgg1I4HMnNnu2", CreatedAt: at},
	}
	res, err := st.ImportUsers(ctx(t), in)
	if err != nil {
		t.Fatalf("ImportUsers: %v", err)
	}
	if diff := cmp.Diff(store.ImportResult{Added: []string{"bob"}, Updated: []string{"alice"}}, res, cmpOpts...); diff != "" {
		t.Errorf("ImportResult (-want +got):\n%s", diff)
	}
	a, _ := st.User(ctx(t), "alice")
	if a.PasswordHash != in[1].PasswordHash {
		t.Error("import did not update alice's hash")
	}
	if diff := cmp.Diff([]string{"admin"}, a.Scopes); diff != "" {
		t.Errorf("import with nil scopes changed alice's scopes (-want +got):\n%s", diff)
	}
	b, _ := st.User(ctx(t), "bob")
	if diff := cmp.Diff([]string{"read"}, b.Scopes); diff != "" {
		t.Errorf("bob's scopes (-want +got):\n%s", diff)
	}
	want := []kindSubject{{store.ChangeUserAdded, "bob"}, {store.ChangeUserUpdated, "alice"}}
	if diff := cmp.Diff(want, kinds(changesSince(t, st, before))); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
}

func (s suite) importAllOrNothing(t *testing.T) {
	st := s.store(t)
	in := []store.User{
		{Name: "bob", PasswordHash: "$2y$10$x", CreatedAt: base},
		{Name: "bad:name", PasswordHash: "$2y$10$x", CreatedAt: base},
	}
	if _, err := st.ImportUsers(ctx(t), in); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("ImportUsers with an invalid user = %v, want ErrInvalid", err)
	}
	if _, err := st.User(ctx(t), "bob"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a refused import stored bob: %v", err)
	}
	dup := []store.User{
		{Name: "bob", PasswordHash: "$2y$10$x", CreatedAt: base},
		{Name: "bob", PasswordHash: "$2y$10$y", CreatedAt: base},
	}
	if _, err := st.ImportUsers(ctx(t), dup); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("ImportUsers with a duplicate = %v, want ErrInvalid", err)
	}
	if n := latest(t, st); n != 0 {
		t.Errorf("refused imports recorded changes: latest %d", n)
	}
}

func (s suite) changeSequence(t *testing.T) {
	st := s.store(t)
	mustCreate(t, st, NewKey("AAAAAAAAAAA1", base))
	if _, err := st.RevokeKey(ctx(t), "AAAAAAAAAAA1", base); err != nil {
		t.Fatal(err)
	}
	u := newUser("alice")
	if err := st.AddUser(ctx(t), &u); err != nil {
		t.Fatal(err)
	}
	if err := st.SetPassword(ctx(t), "alice", "$2y$10$x", base); err != nil {
		t.Fatal(err)
	}
	if err := st.RemoveUser(ctx(t), "alice"); err != nil {
		t.Fatal(err)
	}
	chs := changesSince(t, st, 0)
	want := []kindSubject{
		{store.ChangeKeyCreated, "AAAAAAAAAAA1"},
		{store.ChangeKeyRevoked, "AAAAAAAAAAA1"},
		{store.ChangeUserAdded, "alice"},
		{store.ChangeUserPassword, "alice"},
		{store.ChangeUserRemoved, "alice"},
	}
	if diff := cmp.Diff(want, kinds(chs)); diff != "" {
		t.Fatalf("changes (-want +got):\n%s", diff)
	}
	for i := 1; i < len(chs); i++ {
		if chs[i].Seq <= chs[i-1].Seq {
			t.Errorf("sequence not increasing: %d then %d", chs[i-1].Seq, chs[i].Seq)
		}
	}
	if got := latest(t, st); got != chs[len(chs)-1].Seq {
		t.Errorf("LatestChange = %d, want %d", got, chs[len(chs)-1].Seq)
	}
	tail := changesSince(t, st, chs[2].Seq)
	if diff := cmp.Diff(want[3:], kinds(tail)); diff != "" {
		t.Errorf("Changes(after the third) (-want +got):\n%s", diff)
	}
}

func (s suite) changesAfterLatest(t *testing.T) {
	st := s.store(t)
	if n := latest(t, st); n != 0 {
		t.Errorf("LatestChange of an empty store = %d, want 0", n)
	}
	mustCreate(t, st, NewKey("AAAAAAAAAAA1", base))
	if chs := changesSince(t, st, latest(t, st)); len(chs) != 0 {
		t.Errorf("Changes(latest) = %v, want none", chs)
	}
}

func (s suite) watcherDelivers(t *testing.T) {
	st := s.store(t)
	mustCreate(t, st, NewKey("AAAAAAAAAAA1", base))
	w := store.NewWatcher(st, store.WatcherOptions{})
	var got []kindSubject
	w.Subscribe(func(c store.Change) { got = append(got, kindSubject{c.Kind, c.Subject}) })
	if err := w.Start(ctx(t)); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if _, err := st.RevokeKey(ctx(t), "AAAAAAAAAAA1", base); err != nil {
		t.Fatal(err)
	}
	if err := w.Poll(ctx(t)); err != nil {
		t.Fatalf("Poll: %v", err)
	}
	want := []kindSubject{{store.ChangeKeyRevoked, "AAAAAAAAAAA1"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("delivered (-want +got):\n%s", diff)
	}
	if err := w.Poll(ctx(t)); err != nil {
		t.Fatalf("Poll: %v", err)
	}
	if len(got) != 1 {
		t.Errorf("a second poll redelivered: %v", got)
	}
}

func (s suite) concurrentWriters(t *testing.T) {
	st := s.store(t)
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := NewKey(fmt.Sprintf("C%011d", i), base)
			errs <- st.CreateKey(ctx(t), &k)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent CreateKey: %v", err)
		}
	}
	if chs := changesSince(t, st, 0); len(chs) != n {
		t.Errorf("%d changes recorded for %d creates", len(chs), n)
	}
}

func (s suite) canceledContext(t *testing.T) {
	st := s.store(t)
	c, cancel := context.WithCancel(context.Background())
	cancel()
	k := NewKey("AAAAAAAAAAA1", base)
	if err := st.CreateKey(c, &k); err == nil {
		t.Error("CreateKey with a canceled context succeeded")
	}
	if _, err := st.Key(c, "AAAAAAAAAAA1"); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Errorf("Key with a canceled context = %v, want a context error", err)
	}
}

func (s suite) ping(t *testing.T) {
	st := s.store(t)
	if err := st.Ping(ctx(t)); err != nil {
		t.Errorf("Ping: %v", err)
	}
}
