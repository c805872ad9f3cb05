package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/google/go-cmp/cmp"
)

// NewClient returns a valid client record with the given id, for tests.
func NewClient(id string, created time.Time) store.Client {
	return store.Client{
		ID: id, Name: "app-" + id, SecretHash: []byte("0123456789abcdef0123456789abcdef"), HashAlg: "sha256",
		Scopes: []string{"orders:read", "orders:write"}, Audience: "api://orders",
		AccessTokenTTL: 10 * time.Minute, CreatedAt: created,
	}
}

// NewSigningKey returns a valid signing key record (with placeholder key material) that
// activates at activates, for tests.
func NewSigningKey(kid string, created, activates time.Time) store.SigningKey {
	return store.SigningKey{
		ID: kid, Algorithm: "ES256",
		PublicJWK:  []byte(`{"kty":"EC","kid":"` + kid + `"}`),
		PrivateKey: []byte("sealed:" + kid),
		CreatedAt:  created, ActivatesAt: activates,
	}
}

func wantClient(c store.Client) store.Client {
	c.CreatedAt = store.Micro(c.CreatedAt)
	c.RemovedAt = store.Micro(c.RemovedAt)
	return c
}

func mustCreateClient(t *testing.T, st store.Store, c store.Client) {
	t.Helper()
	if err := st.CreateClient(ctx(t), &c); err != nil {
		t.Fatalf("CreateClient(%s): %v", c.ID, err)
	}
}

func (s suite) clientRoundTrip(t *testing.T) {
	st := s.store(t)
	c := NewClient("gc_AAAAAAAAAAAAAAAA", base)
	c.AccessTokenTTL = 90*time.Second + 123*time.Microsecond
	mustCreateClient(t, st, c)
	got, err := st.Client(ctx(t), c.ID)
	if err != nil {
		t.Fatalf("Client: %v", err)
	}
	if diff := cmp.Diff(wantClient(c), got, cmpOpts...); diff != "" {
		t.Errorf("Client round trip (-want +got):\n%s", diff)
	}
	if got.Introspect {
		t.Error("a client created without Introspect may introspect others' tokens")
	}
	if got.Removed() {
		t.Error("a new client reports Removed")
	}
	want := []kindSubject{{store.ChangeClientCreated, c.ID}}
	if diff := cmp.Diff(want, kinds(changesSince(t, st, 0))); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
	if _, err := st.Client(ctx(t), "gc_unknown"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Client(unknown) = %v, want ErrNotFound", err)
	}
}

func (s suite) clientIntrospectPermission(t *testing.T) {
	st := s.store(t)
	mustCreateClient(t, st, NewClient("gc_AAAAAAAAAAAAAAAA", base))
	rs := NewClient("gc_BBBBBBBBBBBBBBBB", base)
	rs.Introspect = true
	mustCreateClient(t, st, rs)
	if got, err := st.Client(ctx(t), rs.ID); err != nil || !got.Introspect {
		t.Errorf("Client with Introspect: Introspect=%v, err %v; want true", got.Introspect, err)
	}
	if all, err := st.ListClients(ctx(t), "", 10); err != nil || len(all) != 2 || all[0].Introspect || !all[1].Introspect {
		t.Errorf("ListClients does not carry Introspect: %+v, %v", all, err)
	}
}

func (s suite) createClientTaken(t *testing.T) {
	st := s.store(t)
	mustCreateClient(t, st, NewClient("gc_AAAAAAAAAAAAAAAA", base))
	before := latest(t, st)
	c := NewClient("gc_AAAAAAAAAAAAAAAA", base)
	c.Name = "other"
	if err := st.CreateClient(ctx(t), &c); !errors.Is(err, store.ErrExists) {
		t.Fatalf("CreateClient with a taken id = %v, want ErrExists", err)
	}
	if got, _ := st.Client(ctx(t), c.ID); got.Name != "app-gc_AAAAAAAAAAAAAAAA" {
		t.Errorf("the first client was overwritten: name %q", got.Name)
	}
	if n := latest(t, st); n != before {
		t.Errorf("a refused create recorded a change: %d -> %d", before, n)
	}
}

func (s suite) createClientInvalid(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *store.Client)
	}{
		{"EmptyID", func(c *store.Client) { c.ID = "" }},
		{"IDWithSpace", func(c *store.Client) { c.ID = "gc_a b" }},
		{"EmptyName", func(c *store.Client) { c.Name = "" }},
		{"NoHash", func(c *store.Client) { c.SecretHash = nil }},
		{"NoAudience", func(c *store.Client) { c.Audience = "" }},
		{"ZeroTTL", func(c *store.Client) { c.AccessTokenTTL = 0 }},
		{"TTLOverMax", func(c *store.Client) { c.AccessTokenTTL = store.MaxAccessTokenTTL + time.Second }},
		{"ScopeWithQuote", func(c *store.Client) { c.Scopes = []string{`a"b`} }},
		{"NoCreationTime", func(c *store.Client) { c.CreatedAt = time.Time{} }},
	}
	st := s.store(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := NewClient("gc_AAAAAAAAAAAAAAAA", base)
			tc.mutate(&c)
			if err := st.CreateClient(ctx(t), &c); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("CreateClient = %v, want ErrInvalid", err)
			}
		})
	}
	if n := latest(t, st); n != 0 {
		t.Errorf("refused creates recorded changes: latest = %d", n)
	}
}

func (s suite) listClients(t *testing.T) {
	st := s.store(t)
	var want []string
	for i := 14; i >= 0; i-- {
		id := fmt.Sprintf("gc_%016d", i)
		mustCreateClient(t, st, NewClient(id, base))
		want = append([]string{id}, want...)
	}
	if _, err := st.RemoveClient(ctx(t), want[3], base.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	var got []string
	removed := 0
	for after, pages := "", 0; ; pages++ {
		if pages > 10 {
			t.Fatal("ListClients does not make progress")
		}
		page, err := st.ListClients(ctx(t), after, 4)
		if err != nil {
			t.Fatalf("ListClients: %v", err)
		}
		if len(page) > 4 {
			t.Fatalf("ListClients returned %d clients, limit 4", len(page))
		}
		if len(page) == 0 {
			break
		}
		for _, c := range page {
			got = append(got, c.ID)
			if c.Removed() {
				removed++
			}
		}
		after = page[len(page)-1].ID
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ListClients pages (-want +got):\n%s", diff)
	}
	if removed != 1 {
		t.Errorf("ListClients showed %d removed clients, want 1", removed)
	}
}

func (s suite) removeClient(t *testing.T) {
	st := s.store(t)
	c := NewClient("gc_AAAAAAAAAAAAAAAA", base)
	mustCreateClient(t, st, c)
	before := latest(t, st)
	at := base.Add(time.Hour)
	old, err := st.RemoveClient(ctx(t), c.ID, at)
	if err != nil {
		t.Fatalf("RemoveClient: %v", err)
	}
	if diff := cmp.Diff(wantClient(c), old, cmpOpts...); diff != "" {
		t.Errorf("RemoveClient returned (-want +got):\n%s", diff)
	}
	got, err := st.Client(ctx(t), c.ID)
	if err != nil {
		t.Fatalf("Client after remove: %v", err)
	}
	if !got.RemovedAt.Equal(store.Micro(at)) || len(got.SecretHash) != 0 {
		t.Errorf("after remove: RemovedAt %v, secret hash kept %v", got.RemovedAt, len(got.SecretHash) != 0)
	}
	want := []kindSubject{{store.ChangeClientRemoved, c.ID}}
	if diff := cmp.Diff(want, kinds(changesSince(t, st, before))); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
	mid := latest(t, st)
	if _, err := st.RemoveClient(ctx(t), c.ID, at); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RemoveClient twice = %v, want ErrNotFound", err)
	}
	if _, err := st.RemoveClient(ctx(t), "gc_unknown", at); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RemoveClient(unknown) = %v, want ErrNotFound", err)
	}
	if n := latest(t, st); n != mid {
		t.Errorf("refused removals recorded changes: %d -> %d", mid, n)
	}
	again := NewClient("gc_AAAAAAAAAAAAAAAA", base)
	if err := st.CreateClient(ctx(t), &again); !errors.Is(err, store.ErrExists) {
		t.Errorf("CreateClient reusing a removed id = %v, want ErrExists", err)
	}
}

func newRevoked(jti string, expires, revoked time.Time) store.RevokedToken {
	return store.RevokedToken{ID: jti, ClientID: "gc_AAAAAAAAAAAAAAAA", ExpiresAt: expires, RevokedAt: revoked}
}

func (s suite) revokeToken(t *testing.T) {
	st := s.store(t)
	r := newRevoked("jti-1", base.Add(10*time.Minute), base)
	created, err := st.RevokeToken(ctx(t), &r)
	if err != nil || !created {
		t.Fatalf("RevokeToken = %v, %v; want true, nil", created, err)
	}
	got, err := st.RevokedToken(ctx(t), "jti-1")
	if err != nil {
		t.Fatalf("RevokedToken: %v", err)
	}
	want := r
	want.ExpiresAt, want.RevokedAt = store.Micro(r.ExpiresAt), store.Micro(r.RevokedAt)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("RevokedToken round trip (-want +got):\n%s", diff)
	}
	mid := latest(t, st)
	again := newRevoked("jti-1", base.Add(10*time.Minute), base.Add(time.Minute))
	if created, err := st.RevokeToken(ctx(t), &again); err != nil || created {
		t.Errorf("RevokeToken again = %v, %v; want false, nil", created, err)
	}
	if n := latest(t, st); n != mid {
		t.Errorf("a second revocation recorded a change: %d -> %d", mid, n)
	}
	if got, _ := st.RevokedToken(ctx(t), "jti-1"); !got.RevokedAt.Equal(store.Micro(base)) {
		t.Errorf("a second revocation moved RevokedAt to %v", got.RevokedAt)
	}
	if diff := cmp.Diff([]kindSubject{{store.ChangeTokenRevoked, "jti-1"}}, kinds(changesSince(t, st, 0))); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
	if _, err := st.RevokedToken(ctx(t), "jti-unknown"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RevokedToken(unknown) = %v, want ErrNotFound", err)
	}
}

func (s suite) revokeTokenPrunes(t *testing.T) {
	st := s.store(t)
	old := newRevoked("jti-old", base.Add(10*time.Minute), base)
	if _, err := st.RevokeToken(ctx(t), &old); err != nil {
		t.Fatal(err)
	}
	// Two days later, the old token is long expired: the next revocation prunes it.
	later := base.Add(48 * time.Hour)
	r := newRevoked("jti-new", later.Add(10*time.Minute), later)
	if _, err := st.RevokeToken(ctx(t), &r); err != nil {
		t.Fatal(err)
	}
	if _, err := st.RevokedToken(ctx(t), "jti-old"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an expired revocation was kept: %v", err)
	}
	if _, err := st.RevokedToken(ctx(t), "jti-new"); err != nil {
		t.Errorf("the new revocation: %v", err)
	}
}

func (s suite) listRevokedTokens(t *testing.T) {
	st := s.store(t)
	var want []string
	for i := range 12 {
		jti := fmt.Sprintf("jti-%02d", i)
		exp := base.Add(time.Duration(i) * time.Minute)
		r := newRevoked(jti, exp, base)
		if _, err := st.RevokeToken(ctx(t), &r); err != nil {
			t.Fatal(err)
		}
		if i > 4 {
			want = append(want, jti)
		}
	}
	var got []string
	for after, pages := "", 0; ; pages++ {
		if pages > 10 {
			t.Fatal("ListRevokedTokens does not make progress")
		}
		page, err := st.ListRevokedTokens(ctx(t), base.Add(4*time.Minute), after, 3)
		if err != nil {
			t.Fatalf("ListRevokedTokens: %v", err)
		}
		if len(page) == 0 {
			break
		}
		for _, r := range page {
			got = append(got, r.ID)
		}
		after = page[len(page)-1].ID
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ListRevokedTokens (-want +got):\n%s", diff)
	}
}

func (s suite) revokeTokenInvalid(t *testing.T) {
	st := s.store(t)
	for name, r := range map[string]store.RevokedToken{
		"EmptyID":     newRevoked("", base.Add(time.Minute), base),
		"IDWithSpace": newRevoked("a b", base.Add(time.Minute), base),
		"NoExpiry":    newRevoked("jti-1", time.Time{}, base),
		"NoRevokedAt": newRevoked("jti-1", base.Add(time.Minute), time.Time{}),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := st.RevokeToken(ctx(t), &r); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("RevokeToken = %v, want ErrInvalid", err)
			}
		})
	}
	if n := latest(t, st); n != 0 {
		t.Errorf("refused revocations recorded changes: latest = %d", n)
	}
}

func wantSigningKey(k store.SigningKey) store.SigningKey {
	k.CreatedAt = store.Micro(k.CreatedAt)
	k.ActivatesAt = store.Micro(k.ActivatesAt)
	k.RetiresAt = store.Micro(k.RetiresAt)
	k.ExpiresAt = store.Micro(k.ExpiresAt)
	return k
}

func signingKeys(t *testing.T, st store.Store) []store.SigningKey {
	t.Helper()
	keys, err := st.SigningKeys(ctx(t))
	if err != nil {
		t.Fatalf("SigningKeys: %v", err)
	}
	return keys
}

func (s suite) signingKeyRoundTrip(t *testing.T) {
	st := s.store(t)
	k := NewSigningKey("kid-1", base, base)
	if err := st.AddSigningKey(ctx(t), &k, time.Hour); err != nil {
		t.Fatalf("AddSigningKey: %v", err)
	}
	if diff := cmp.Diff([]store.SigningKey{wantSigningKey(k)}, signingKeys(t, st), cmpOpts...); diff != "" {
		t.Errorf("SigningKeys (-want +got):\n%s", diff)
	}
	want := []kindSubject{{store.ChangeSigningKeyAdded, "kid-1"}}
	if diff := cmp.Diff(want, kinds(changesSince(t, st, 0))); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
	bad := NewSigningKey("kid-2", base, base.Add(-time.Second))
	if err := st.AddSigningKey(ctx(t), &bad, time.Hour); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("AddSigningKey activating before creation = %v, want ErrInvalid", err)
	}
	noKey := NewSigningKey("kid-3", base, base)
	noKey.PrivateKey = nil
	if err := st.AddSigningKey(ctx(t), &noKey, time.Hour); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("AddSigningKey without a private key = %v, want ErrInvalid", err)
	}
}

func (s suite) addSigningKeyRetires(t *testing.T) {
	st := s.store(t)
	first := NewSigningKey("kid-1", base, base)
	if err := st.AddSigningKey(ctx(t), &first, time.Hour); err != nil {
		t.Fatal(err)
	}
	// Rotated a day later with a 5-minute publication delay: the first key signs until
	// the second activates, then stays published for the retention.
	now := base.Add(24 * time.Hour)
	second := NewSigningKey("kid-2", now, now.Add(5*time.Minute))
	if err := st.AddSigningKey(ctx(t), &second, 10*time.Minute); err != nil {
		t.Fatalf("AddSigningKey: %v", err)
	}
	first.RetiresAt = now.Add(5 * time.Minute)
	first.ExpiresAt = now.Add(15 * time.Minute)
	want := []store.SigningKey{wantSigningKey(first), wantSigningKey(second)}
	got := signingKeys(t, st)
	if diff := cmp.Diff(want, got, cmpOpts...); diff != "" {
		t.Fatalf("SigningKeys after rotation (-want +got):\n%s", diff)
	}
	signers := func(at time.Time) []string {
		var ids []string
		for _, k := range got {
			if k.Signs(at) {
				ids = append(ids, k.ID)
			}
		}
		return ids
	}
	for _, tc := range []struct {
		at   time.Time
		want []string
	}{
		{now, []string{"kid-1"}},
		{now.Add(5*time.Minute - time.Microsecond), []string{"kid-1"}},
		{now.Add(5 * time.Minute), []string{"kid-2"}},
		{now.Add(time.Hour), []string{"kid-2"}},
	} {
		if diff := cmp.Diff(tc.want, signers(tc.at)); diff != "" {
			t.Errorf("signers at %v (-want +got):\n%s", tc.at.Sub(now), diff)
		}
	}
}

func (s suite) addSigningKeyPending(t *testing.T) {
	st := s.store(t)
	first := NewSigningKey("kid-1", base, base)
	if err := st.AddSigningKey(ctx(t), &first, time.Hour); err != nil {
		t.Fatal(err)
	}
	now := base.Add(time.Hour)
	pending := NewSigningKey("kid-2", now, now.Add(time.Hour))
	if err := st.AddSigningKey(ctx(t), &pending, time.Hour); err != nil {
		t.Fatal(err)
	}
	// A second rotation at once, before kid-2 ever signs: kid-3 takes over now, kid-2
	// leaves the JWKS at once, and kid-1 retires now instead of in an hour.
	third := NewSigningKey("kid-3", now.Add(time.Minute), now.Add(time.Minute))
	if err := st.AddSigningKey(ctx(t), &third, 30*time.Minute); err != nil {
		t.Fatal(err)
	}
	byID := map[string]store.SigningKey{}
	for _, k := range signingKeys(t, st) {
		byID[k.ID] = k
	}
	at := now.Add(time.Minute)
	if got := byID["kid-1"]; !got.RetiresAt.Equal(store.Micro(at)) || !got.ExpiresAt.Equal(store.Micro(at.Add(30*time.Minute))) {
		t.Errorf("kid-1 retires %v expires %v; want %v and %v", got.RetiresAt, got.ExpiresAt, store.Micro(at), store.Micro(at.Add(30*time.Minute)))
	}
	if got := byID["kid-2"]; got.Published(at) || got.Status(at) != store.SigningKeyExpired {
		t.Errorf("kid-2, superseded before it signed: status %s, published %v", got.Status(at), got.Published(at))
	}
	if got := byID["kid-3"]; got.Status(at) != store.SigningKeyActive {
		t.Errorf("kid-3 status %s, want active", got.Status(at))
	}
	if got := byID["kid-3"]; got.Status(now.Add(2*time.Hour)) != store.SigningKeyActive {
		t.Error("kid-2's activation time took over from kid-3")
	}
}

func (s suite) addSigningKeyDeletesExpired(t *testing.T) {
	st := s.store(t)
	first := NewSigningKey("kid-1", base, base)
	if err := st.AddSigningKey(ctx(t), &first, time.Hour); err != nil {
		t.Fatal(err)
	}
	second := NewSigningKey("kid-2", base.Add(time.Hour), base.Add(time.Hour))
	if err := st.AddSigningKey(ctx(t), &second, time.Hour); err != nil {
		t.Fatal(err)
	}
	if n := len(signingKeys(t, st)); n != 2 {
		t.Fatalf("%d keys, want 2", n)
	}
	// kid-1 expired at base+2h; a rotation after that deletes it.
	third := NewSigningKey("kid-3", base.Add(3*time.Hour), base.Add(3*time.Hour))
	if err := st.AddSigningKey(ctx(t), &third, time.Hour); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, k := range signingKeys(t, st) {
		ids = append(ids, k.ID)
	}
	if diff := cmp.Diff([]string{"kid-2", "kid-3"}, ids); diff != "" {
		t.Errorf("keys after the expired one was pruned (-want +got):\n%s", diff)
	}
}

func (s suite) addSigningKeyTaken(t *testing.T) {
	st := s.store(t)
	first := NewSigningKey("kid-1", base, base)
	if err := st.AddSigningKey(ctx(t), &first, time.Hour); err != nil {
		t.Fatal(err)
	}
	before := latest(t, st)
	dup := NewSigningKey("kid-1", base.Add(time.Hour), base.Add(time.Hour))
	if err := st.AddSigningKey(ctx(t), &dup, time.Hour); !errors.Is(err, store.ErrExists) {
		t.Fatalf("AddSigningKey with a taken kid = %v, want ErrExists", err)
	}
	got := signingKeys(t, st)
	if len(got) != 1 || !got[0].RetiresAt.IsZero() {
		t.Errorf("a refused add changed the stored keys: %+v", got)
	}
	if n := latest(t, st); n != before {
		t.Errorf("a refused add recorded a change: %d -> %d", before, n)
	}
}

func (s suite) initSigningKey(t *testing.T) {
	st := s.store(t)
	k := NewSigningKey("kid-1", base, base)
	created, err := st.InitSigningKey(ctx(t), &k)
	if err != nil || !created {
		t.Fatalf("InitSigningKey on an empty store = %v, %v; want true, nil", created, err)
	}
	other := NewSigningKey("kid-2", base.Add(time.Minute), base.Add(time.Minute))
	created, err = st.InitSigningKey(ctx(t), &other)
	if err != nil || created {
		t.Fatalf("InitSigningKey with a signing key = %v, %v; want false, nil", created, err)
	}
	if n := len(signingKeys(t, st)); n != 1 {
		t.Errorf("%d keys stored, want 1", n)
	}
}

func (s suite) initSigningKeyConcurrent(t *testing.T) {
	st := s.store(t)
	const n = 8
	var wg sync.WaitGroup
	results := make(chan bool, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := NewSigningKey(fmt.Sprintf("kid-%d", i), base, base)
			created, err := st.InitSigningKey(ctx(t), &k)
			if err != nil {
				t.Errorf("InitSigningKey: %v", err)
			}
			results <- created
		}()
	}
	wg.Wait()
	close(results)
	made := 0
	for c := range results {
		if c {
			made++
		}
	}
	if made != 1 || len(signingKeys(t, st)) != 1 {
		t.Errorf("%d InitSigningKey calls reported creating, %d keys stored; want 1 and 1", made, len(signingKeys(t, st)))
	}
}
