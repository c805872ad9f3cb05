package app

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/config"
)

// TestEveryAuthenticatorTypeIsComplete: a type the configuration accepts has a builder
// here, keys in the configuration schema and a fingerprint of its own (a reload keeps or
// rebuilds it by that), so adding a type cannot be done halfway.
func TestEveryAuthenticatorTypeIsComplete(t *testing.T) {
	seen := map[string]config.AuthenticatorType{}
	for _, typ := range config.AuthenticatorTypes() {
		kind, ok := authKinds[typ]
		if !ok || kind.build == nil {
			t.Errorf("type %s has no row in authKinds", typ)
		}
		if len(config.AuthenticatorKeys(typ)) == 0 {
			t.Errorf("type %s has no keys in the configuration schema", typ)
		}
		c := &config.Config{Authenticators: map[string]*config.Authenticator{"a": {Name: "a", Type: typ}}}
		fp := c.Fingerprint("a")
		if fp == "" {
			t.Errorf("type %s has no fingerprint", typ)
		}
		if other, dup := seen[fp]; dup {
			t.Errorf("types %s and %s have the same fingerprint", typ, other)
		}
		seen[fp] = typ
	}
	if len(authKinds) != len(config.AuthenticatorTypes()) {
		t.Errorf("authKinds has %d rows for %d types", len(authKinds), len(config.AuthenticatorTypes()))
	}
}
