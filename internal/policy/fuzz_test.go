package policy

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseClaimPath: a claim path from the configuration never panics the parser, a
// path it accepts looks up any claim set without panicking, names a top-level claim of
// its exact name, and the failure texts of its rule never hold anything but the path and
// the values.
func FuzzParseClaimPath(f *testing.F) {
	for _, s := range []string{"roles", "realm_access.roles", "https://example.com/roles", "a..b", ".a", "a.", "", " a", "a\x00b",
		"\xff\xfe", "ä.ö", strings.Repeat("a.", 20), "cognito:groups", "resource_access.account.roles"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseClaimPath(s)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if s == "" || !utf8.ValidString(s) || len(s) > MaxClaimPathBytes || p.String() != s {
			t.Fatalf("accepted %q as %q", s, p.String())
		}
		claims := map[string]any{"a": map[string]any{"b": []any{"x", 1.0, nil, map[string]any{}}}}
		claims[s] = "exact"
		if v, ok := p.Lookup(claims); !ok || v != "exact" {
			t.Fatalf("Lookup(%q) = %v, %v; want the top-level claim", s, v, ok)
		}
		delete(claims, s)
		p.Lookup(claims)
		p.Lookup(nil)
		r, err := NewClaimRule(s, []string{"x"})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(r.unmet, "claim "+s+" ") || !strings.HasPrefix(r.absent, "claim "+s+" ") {
			t.Fatalf("failure texts %q, %q", r.unmet, r.absent)
		}
	})
}
