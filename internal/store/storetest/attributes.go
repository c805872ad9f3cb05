package storetest

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// keyAttributes: a key's attributes round-trip through CreateKey, Key and ListKeys; a
// key without any reads back without any; and its creation is on the change feed, which
// is how caches learn about it.
func (s suite) keyAttributes(t *testing.T) {
	st := s.store(t)
	k := NewKey("AAAAAAAAATT1", base)
	k.Attributes = map[string]string{"team": "billing", "tier": "gold", "cost:center": "Zoë 42", "empty": ""}
	mustCreate(t, st, k)
	plain := NewKey("AAAAAAAAATT2", base)
	mustCreate(t, st, plain)
	got, err := st.Key(ctx(t), k.ID)
	if err != nil {
		t.Fatalf("Key: %v", err)
	}
	if diff := cmp.Diff(k.Attributes, got.Attributes); diff != "" {
		t.Errorf("attributes (-want +got):\n%s", diff)
	}
	list, err := st.ListKeys(ctx(t), "", 10)
	if err != nil || len(list) != 2 {
		t.Fatalf("ListKeys: %d keys, %v", len(list), err)
	}
	if diff := cmp.Diff(k.Attributes, list[0].Attributes); diff != "" {
		t.Errorf("listed attributes (-want +got):\n%s", diff)
	}
	if list[1].Attributes != nil {
		t.Errorf("a key created without attributes reads back %v", list[1].Attributes)
	}
	want := []kindSubject{{store.ChangeKeyCreated, k.ID}, {store.ChangeKeyCreated, plain.ID}}
	if diff := cmp.Diff(want, kinds(changesSince(t, st, 0))); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
}

// userAttributes: a user's attributes round-trip through AddUser, User, ListUsers and
// ImportUsers (which replaces them when given and keeps them when nil).
func (s suite) userAttributes(t *testing.T) {
	st := s.store(t)
	u := newUser("alice")
	u.Attributes = map[string]string{"team": "ops"}
	if err := st.AddUser(ctx(t), &u); err != nil {
		t.Fatalf("AddUser: %v", err)
	}
	got, err := st.User(ctx(t), "alice")
	if err != nil || got.Attributes["team"] != "ops" || len(got.Attributes) != 1 {
		t.Fatalf("User = %v, %v", got.Attributes, err)
	}
	keep := newUser("alice") // nil attributes: kept
	keep.CreatedAt = base.Add(1)
	repl := newUser("bob")
	repl.Attributes = map[string]string{"team": "billing"}
	if _, err := st.ImportUsers(ctx(t), []store.User{keep, repl}); err != nil {
		t.Fatalf("ImportUsers: %v", err)
	}
	users, err := st.ListUsers(ctx(t), "", 10)
	if err != nil || len(users) != 2 {
		t.Fatalf("ListUsers: %d, %v", len(users), err)
	}
	if users[0].Attributes["team"] != "ops" || users[1].Attributes["team"] != "billing" {
		t.Errorf("attributes after import: %v %v", users[0].Attributes, users[1].Attributes)
	}
	change := newUser("alice")
	change.Attributes = map[string]string{"team": "sales"}
	if _, err := st.ImportUsers(ctx(t), []store.User{change}); err != nil {
		t.Fatalf("ImportUsers: %v", err)
	}
	if got, _ := st.User(ctx(t), "alice"); got.Attributes["team"] != "sales" {
		t.Errorf("attributes after a replacing import: %v", got.Attributes)
	}
}

// attributesInvalid: bad attribute keys and values are ErrInvalid, for keys and users.
func (s suite) attributesInvalid(t *testing.T) {
	st := s.store(t)
	many := map[string]string{}
	for i := range store.MaxAttributes + 1 {
		many["k"+strings.Repeat("x", i)] = "v"
	}
	for name, attrs := range map[string]map[string]string{
		"empty key":        {"": "v"},
		"dotted key":       {"a.b": "v"},
		"key with a space": {"a b": "v"},
		"key from a digit": {"1a": "v"},
		"long key":         {strings.Repeat("k", store.MaxAttributeKeyBytes+1): "v"},
		"control in value": {"team": "a\nb"},
		"C1 in value":      {"team": "a\u0085b"},
		"invalid UTF-8":    {"team": "\xff"},
		"long value":       {"team": strings.Repeat("v", store.MaxAttributeValueBytes+1)},
		"too many":         many,
	} {
		k := NewKey("AAAAAAAAATT3", base)
		k.Attributes = attrs
		if err := st.CreateKey(ctx(t), &k); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: CreateKey = %v, want ErrInvalid", name, err)
		}
		u := newUser("carol")
		u.Attributes = attrs
		if err := st.AddUser(ctx(t), &u); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: AddUser = %v, want ErrInvalid", name, err)
		}
	}
}
