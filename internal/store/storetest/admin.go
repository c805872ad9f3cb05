package storetest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/google/go-cmp/cmp"
)

// NewAdminToken returns a valid admin token record with the given id, for tests.
func NewAdminToken(id string, created time.Time) store.AdminToken {
	return store.AdminToken{
		ID: id, Name: "ops-" + id, SecretHash: []byte("0123456789abcdef0123456789abcdef"), HashAlg: "sha256",
		CreatedAt: created,
	}
}

func wantAdminToken(t store.AdminToken) store.AdminToken {
	t.CreatedAt = store.Micro(t.CreatedAt)
	t.ExpiresAt = store.Micro(t.ExpiresAt)
	t.RevokedAt = store.Micro(t.RevokedAt)
	return t
}

func mustCreateAdminToken(t *testing.T, st store.Store, a store.AdminToken) {
	t.Helper()
	if err := st.CreateAdminToken(ctx(t), &a); err != nil {
		t.Fatalf("CreateAdminToken(%s): %v", a.ID, err)
	}
}

func (s suite) adminTokenRoundTrip(t *testing.T) {
	st := s.store(t)
	a := NewAdminToken("AAAAAAAAAAAAAAAA", base)
	a.ExpiresAt = base.Add(48*time.Hour + time.Nanosecond)
	mustCreateAdminToken(t, st, a)
	got, err := st.AdminToken(ctx(t), a.ID)
	if err != nil {
		t.Fatalf("AdminToken: %v", err)
	}
	if diff := cmp.Diff(wantAdminToken(a), got, cmpOpts...); diff != "" {
		t.Errorf("AdminToken round trip (-want +got):\n%s", diff)
	}
	if !got.Valid(base) || got.Valid(a.ExpiresAt) {
		t.Errorf("Valid: want valid at creation and invalid at expiry")
	}
	if n := latest(t, st); n != 0 {
		t.Errorf("creating an admin token appended changes (latest %d); admin tokens are read per call", n)
	}
	if _, err := st.AdminToken(ctx(t), "unknown"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("AdminToken(unknown) = %v, want ErrNotFound", err)
	}
}

func (s suite) createAdminTokenTaken(t *testing.T) {
	st := s.store(t)
	a := NewAdminToken("AAAAAAAAAAAAAAAA", base)
	mustCreateAdminToken(t, st, a)
	b := a
	b.Name = "other"
	if err := st.CreateAdminToken(ctx(t), &b); !errors.Is(err, store.ErrExists) {
		t.Fatalf("CreateAdminToken(taken id) = %v, want ErrExists", err)
	}
	got, err := st.AdminToken(ctx(t), a.ID)
	if err != nil || got.Name != a.Name {
		t.Errorf("after a refused create: %+v, %v; want the first token unchanged", got, err)
	}
}

func (s suite) createAdminTokenInvalid(t *testing.T) {
	st := s.store(t)
	for name, mut := range map[string]func(*store.AdminToken){
		"no id":      func(a *store.AdminToken) { a.ID = "" },
		"no name":    func(a *store.AdminToken) { a.Name = "" },
		"long name":  func(a *store.AdminToken) { a.Name = strings.Repeat("n", store.MaxNameBytes+1) },
		"no hash":    func(a *store.AdminToken) { a.SecretHash = nil },
		"no created": func(a *store.AdminToken) { a.CreatedAt = time.Time{} },
		"revoked":    func(a *store.AdminToken) { a.RevokedAt = base },
	} {
		t.Run(name, func(t *testing.T) {
			a := NewAdminToken("BBBBBBBBBBBBBBBB", base)
			mut(&a)
			if err := st.CreateAdminToken(ctx(t), &a); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("CreateAdminToken = %v, want ErrInvalid", err)
			}
		})
	}
	if got, err := st.ListAdminTokens(ctx(t), "", 10); err != nil || len(got) != 0 {
		t.Errorf("after refused creates: %d tokens, %v; want none", len(got), err)
	}
}

func (s suite) revokeAdminToken(t *testing.T) {
	st := s.store(t)
	a := NewAdminToken("AAAAAAAAAAAAAAAA", base)
	mustCreateAdminToken(t, st, a)
	at := base.Add(time.Hour)
	got, err := st.RevokeAdminToken(ctx(t), a.ID, at)
	if err != nil {
		t.Fatalf("RevokeAdminToken: %v", err)
	}
	if !got.RevokedAt.Equal(store.Micro(at)) || got.Valid(at) {
		t.Errorf("revoked token: RevokedAt %v, Valid %v; want %v, false", got.RevokedAt, got.Valid(at), store.Micro(at))
	}
	again, err := st.RevokeAdminToken(ctx(t), a.ID, at.Add(time.Hour))
	if err != nil || !again.RevokedAt.Equal(store.Micro(at)) {
		t.Errorf("second revoke: %v, %v; want the first revocation time kept", again.RevokedAt, err)
	}
	stored, err := st.AdminToken(ctx(t), a.ID)
	if err != nil || !stored.RevokedAt.Equal(store.Micro(at)) {
		t.Errorf("stored after revoke: %v, %v", stored.RevokedAt, err)
	}
	if _, err := st.RevokeAdminToken(ctx(t), "unknown", at); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RevokeAdminToken(unknown) = %v, want ErrNotFound", err)
	}
}

func (s suite) listAdminTokens(t *testing.T) {
	st := s.store(t)
	var want []string
	for i := 0; i < 7; i++ {
		id := fmt.Sprintf("T%03d", 6-i)
		mustCreateAdminToken(t, st, NewAdminToken(id, base))
	}
	for i := 0; i < 7; i++ {
		want = append(want, fmt.Sprintf("T%03d", i))
	}
	var got []string
	for after := ""; ; {
		page, err := st.ListAdminTokens(ctx(t), after, 3)
		if err != nil {
			t.Fatalf("ListAdminTokens: %v", err)
		}
		if len(page) == 0 {
			break
		}
		if len(page) > 3 {
			t.Fatalf("page of %d, want at most 3", len(page))
		}
		for _, a := range page {
			got = append(got, a.ID)
		}
		after = page[len(page)-1].ID
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ids (-want +got):\n%s", diff)
	}
}

func (s suite) auditLog(t *testing.T) {
	st := s.store(t)
	var want []store.AuditEntry
	for i := 0; i < 5; i++ {
		e := store.AuditEntry{
			At: base.Add(time.Duration(i) * time.Second), Actor: "admin-token:AAAA (ops)", Action: "keys.create",
			Target: fmt.Sprintf("key%d", i), Remote: "127.0.0.1:5000", Result: "ok",
		}
		if err := st.AppendAudit(ctx(t), &e); err != nil {
			t.Fatalf("AppendAudit: %v", err)
		}
		if e.Seq <= 0 || (len(want) > 0 && e.Seq <= want[len(want)-1].Seq) {
			t.Fatalf("AppendAudit set Seq %d, want increasing positive numbers", e.Seq)
		}
		e.At = store.Micro(e.At)
		want = append(want, e)
	}
	var got []store.AuditEntry
	for after := int64(0); ; {
		page, err := st.ListAudit(ctx(t), after, 2)
		if err != nil {
			t.Fatalf("ListAudit: %v", err)
		}
		if len(page) == 0 {
			break
		}
		got = append(got, page...)
		after = page[len(page)-1].Seq
	}
	if diff := cmp.Diff(want, got, cmpOpts...); diff != "" {
		t.Errorf("audit log (-want +got):\n%s", diff)
	}
	if n := latest(t, st); n != 0 {
		t.Errorf("audit entries appended changes (latest %d)", n)
	}
}

func (s suite) auditInvalid(t *testing.T) {
	st := s.store(t)
	for name, e := range map[string]store.AuditEntry{
		"no time":   {Actor: "a", Action: "b", Result: "ok"},
		"no actor":  {At: base, Action: "b", Result: "ok"},
		"long":      {At: base, Actor: "a", Action: "b", Result: "ok", Target: strings.Repeat("x", store.MaxAuditField+1)},
		"bad utf-8": {At: base, Actor: "a\xff", Action: "b", Result: "ok"},
	} {
		if err := st.AppendAudit(ctx(t), &e); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: AppendAudit = %v, want ErrInvalid", name, err)
		}
	}
	if got, err := st.ListAudit(ctx(t), 0, 10); err != nil || len(got) != 0 {
		t.Errorf("after refused appends: %d entries, %v", len(got), err)
	}
}
