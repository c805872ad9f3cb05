package decision

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// FuzzAuthorizationHeader drives the extraction of a credential from arbitrary
// Authorization values: it must never panic, and a value it accepts must round-trip into
// exactly the scheme and credential that were sent.
func FuzzAuthorizationHeader(f *testing.F) {
	for _, s := range []string{
		"Bearer abc", "bearer abc", "Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Bearer  x", "Bearer Bearer x",
		" Bearer x", "Bearer: x", "Bearer=x", "Bearer x,", "Bearer x y", "\x00", "Bearer \xff\xfe",
		"Digest username=\"a\", realm=\"b\"", strings.Repeat("A", 70000),
	} {
		f.Add(s)
	}
	auth := &fakeAuth{name: "any", scheme: "Bearer", claim: func(Credential) Match { return SchemeMatch }, principal: Principal{Subject: "s"}}
	rt := &Route{Authenticators: []Authenticator{auth}}
	f.Fuzz(func(t *testing.T, v string) {
		h := http.Header{"Authorization": {v}}
		d := rt.Decide(context.Background(), &Request{Header: h})
		if d.Allow {
			scheme, rest, bad := splitAuthorization(v)
			if bad != "" || strings.ToLower(v) != scheme+" "+strings.ToLower(rest) {
				t.Fatalf("accepted %q as %q %q", v, scheme, rest)
			}
			if len(rest) > MaxCredentialBytes {
				t.Fatalf("accepted an oversized credential")
			}
		} else if d.Reason == "" {
			t.Fatalf("denied without a reason: %q", v)
		}
		if strings.Contains(d.Detail, v) && len(v) > 8 {
			t.Fatalf("the detail echoes the credential: %q", d.Detail)
		}
	})
}
