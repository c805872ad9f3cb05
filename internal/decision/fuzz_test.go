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

// splitAuthorizationReference is splitAuthorization as first written, lower-casing the
// scheme and the whole credential with strings.ToLower, with one correction: the scheme
// is checked for token characters before it is lower-cased, so a Kelvin sign (which
// strings.ToLower turns into an ASCII k) no longer passes as a token. The
// allocation-free version must answer exactly as it does.
func splitAuthorizationReference(v string) (scheme, rest, malformed string) {
	if len(v) > MaxCredentialBytes+64 {
		return "", "", "the Authorization header is too long"
	}
	i := strings.IndexByte(v, ' ')
	if i <= 0 {
		if v == "" {
			return "", "", "the Authorization header is empty"
		}
		return "", "", "the Authorization header has no scheme: expected \"<scheme> <credentials>\""
	}
	for j := 0; j < i; j++ {
		if !isTokenChar(v[j]) {
			return "", "", "the Authorization scheme is not a valid token"
		}
	}
	scheme = strings.ToLower(v[:i])
	rest = v[i+1:]
	if rest == "" {
		return scheme, "", "the Authorization header has a scheme but no credentials"
	}
	if rest[0] == ' ' || rest[len(rest)-1] == ' ' || strings.HasPrefix(rest, scheme+" ") || strings.HasPrefix(strings.ToLower(rest), scheme+" ") {
		return scheme, "", "the Authorization header has extra spaces or a repeated scheme"
	}
	return scheme, rest, ""
}

// FuzzSplitAuthorizationMatchesReference holds the fast splitAuthorization to the
// behaviour of the reference: same scheme, same credential, same refusal (the length
// message aside, which names sizes).
func FuzzSplitAuthorizationMatchesReference(f *testing.F) {
	for _, s := range []string{
		"Bearer abc", "BEARER abc", "bEaReR abc", "Basic dXNlcjpwYXNz", "Bearer Bearer x", "Bearer bEARER x",
		"Bearer bearerx", "Bearer bearer", "Kerberos \u212Aerberos x", "Bearer \u212Aearer x", "bearer \xffearer x",
		"Négociate x", "\u212A x", "Digest a=b", "Bearer", "Bearer ", " Bearer x", "Bearer x ", "Token\tx y",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if len(v) > MaxCredentialBytes+64 {
			return
		}
		s1, r1, m1 := splitAuthorization(v)
		s2, r2, m2 := splitAuthorizationReference(v)
		if s1 != s2 || r1 != r2 || m1 != m2 {
			t.Fatalf("%q: got (%q, %q, %q), reference (%q, %q, %q)", v, s1, r1, m1, s2, r2, m2)
		}
	})
}
