package decision

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeAuth is an authenticator whose outcome the test chooses.
type fakeAuth struct {
	name, scheme string
	locs         []Location
	claim        func(Credential) Match
	principal    Principal
	err          error
	calls        int
}

func (f *fakeAuth) Name() string          { return f.name }
func (f *fakeAuth) Scheme() string        { return f.scheme }
func (f *fakeAuth) Locations() []Location { return f.locs }
func (f *fakeAuth) Claims(c Credential) Match {
	if f.claim != nil {
		return f.claim(c)
	}
	if c.Source == FromAuthorization && strings.EqualFold(c.Scheme, f.scheme) {
		return SchemeMatch
	}
	return NoMatch
}
func (f *fakeAuth) Authenticate(ctx context.Context, c Credential) (Principal, error) {
	f.calls++
	return f.principal, f.err
}

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func TestDecideReasonCodes(t *testing.T) {
	okBearer := &fakeAuth{name: "jwt", scheme: "Bearer", principal: Principal{Subject: "alice", Scopes: []string{"orders:read"}}}
	expired := &fakeAuth{name: "jwt", scheme: "Bearer", err: &Failure{Reason: TokenExpired, Detail: "expired 4m12s ago"}}
	broken := &fakeAuth{name: "jwt", scheme: "Bearer", err: errors.New("jwks fetch: connection refused")}
	keyAuth := &fakeAuth{name: "keys", scheme: "Bearer", locs: []Location{{Source: FromHeader, Name: "X-API-Key"}},
		claim: func(c Credential) Match {
			if c.Source == FromHeader || strings.HasPrefix(c.Value, "gk_") {
				return ShapeMatch
			}
			return NoMatch
		},
		principal: Principal{Subject: "key-1"}}
	basic := &fakeAuth{name: "staff", scheme: "Basic", err: &Failure{Reason: CredentialsInvalid, Cause: "user_unknown"}}

	tests := []struct {
		name    string
		route   *Route
		header  http.Header
		want    Reason
		allow   bool
		subject string
	}{
		{"anonymous route allows without credentials", &Route{Anonymous: true}, hdr(), "", true, ""},
		{"no credentials", &Route{Authenticators: []Authenticator{okBearer}}, hdr(), CredentialsMissing, false, ""},
		{"valid bearer", &Route{Authenticators: []Authenticator{okBearer}}, hdr("Authorization", "Bearer abc"), "", true, "alice"},
		{"scheme case-insensitive", &Route{Authenticators: []Authenticator{okBearer}}, hdr("Authorization", "bEaReR abc"), "", true, "alice"},
		{"expired token", &Route{Authenticators: []Authenticator{expired}}, hdr("Authorization", "Bearer abc"), TokenExpired, false, ""},
		{"unexpected error is unavailable, never 401", &Route{Authenticators: []Authenticator{broken}}, hdr("Authorization", "Bearer abc"), AuthenticatorUnavailable, false, ""},
		{"basic to bearer-only route", &Route{Authenticators: []Authenticator{okBearer}}, hdr("Authorization", "Basic YTpi"), SchemeNotAccepted, false, ""},
		{"two authorization headers", &Route{Authenticators: []Authenticator{okBearer}}, hdr("Authorization", "Bearer a", "Authorization", "Bearer b"), InvalidRequest, false, ""},
		{"authorization and api key header", &Route{Authenticators: []Authenticator{okBearer, keyAuth}}, hdr("Authorization", "Bearer a", "X-API-Key", "gk_x"), InvalidRequest, false, ""},
		{"api key header twice", &Route{Authenticators: []Authenticator{keyAuth}}, hdr("X-API-Key", "a", "X-API-Key", "b"), InvalidRequest, false, ""},
		{"api key in header", &Route{Authenticators: []Authenticator{okBearer, keyAuth}}, hdr("X-API-Key", "gk_live_x"), "", true, "key-1"},
		{"gk_ bearer goes to the key authenticator first", &Route{Authenticators: []Authenticator{expired, keyAuth}}, hdr("Authorization", "Bearer gk_live_x"), "", true, "key-1"},
		{"no scheme", &Route{Authenticators: []Authenticator{okBearer}}, hdr("Authorization", "abc"), CredentialsMalformed, false, ""},
		{"scheme without credentials", &Route{Authenticators: []Authenticator{okBearer}}, hdr("Authorization", "Bearer "), CredentialsMalformed, false, ""},
		{"bearer bearer", &Route{Authenticators: []Authenticator{okBearer}}, hdr("Authorization", "Bearer Bearer abc"), CredentialsMalformed, false, ""},
		{"double space", &Route{Authenticators: []Authenticator{okBearer}}, hdr("Authorization", "Bearer  abc"), CredentialsMalformed, false, ""},
		{"oversized credential", &Route{Authenticators: []Authenticator{okBearer}}, hdr("Authorization", "Bearer "+strings.Repeat("a", MaxCredentialBytes+1)), CredentialsMalformed, false, ""},
		{"missing scope", &Route{Authenticators: []Authenticator{okBearer}, RequiredScopes: []string{"orders:admin"}}, hdr("Authorization", "Bearer abc"), InsufficientScope, false, "alice"},
		{"present scope", &Route{Authenticators: []Authenticator{okBearer}, RequiredScopes: []string{"orders:read"}}, hdr("Authorization", "Bearer abc"), "", true, "alice"},
		{"basic user unknown", &Route{Authenticators: []Authenticator{okBearer, basic}}, hdr("Authorization", "Basic YTpi"), CredentialsInvalid, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.route.Decide(context.Background(), &Request{Method: "GET", Path: "/", Header: tt.header})
			if d.Allow != tt.allow || d.Reason != tt.want {
				t.Fatalf("Decide = allow %v reason %q (%s), want allow %v reason %q", d.Allow, d.Reason, d.Detail, tt.allow, tt.want)
			}
			if d.Principal.Subject != tt.subject {
				t.Errorf("subject = %q, want %q", d.Principal.Subject, tt.subject)
			}
		})
	}
}

func TestEveryReasonHasTheContractStatus(t *testing.T) {
	want := map[Reason]int{InvalidRequest: 400, InsufficientScope: 403, Forbidden: 403, TooManyFailures: 429, AuthenticatorUnavailable: 503, RouteNotFound: 404, MethodNotAllowed: 405, PathRejected: 400}
	for _, r := range Reasons {
		w, ok := want[r]
		if !ok {
			w = 401
		}
		if got := r.Status(); got != w {
			t.Errorf("%s.Status() = %d, want %d", r, got, w)
		}
	}
}

func TestQueryCredentialOnlyWhenConfigured(t *testing.T) {
	keyAuth := &fakeAuth{name: "keys", scheme: "Bearer", locs: []Location{{Source: FromQuery, Name: "api_key"}},
		claim: func(c Credential) Match { return ShapeMatch }, principal: Principal{Subject: "k"}}
	q := func(name string) []string {
		if name == "api_key" {
			return []string{"gk_x"}
		}
		return nil
	}
	rt := &Route{Authenticators: []Authenticator{keyAuth}}
	d := rt.Decide(context.Background(), &Request{Header: hdr(), Query: q})
	if !d.Allow {
		t.Fatalf("query key refused: %s", d.Reason)
	}
	rt2 := &Route{Authenticators: []Authenticator{&fakeAuth{name: "jwt", scheme: "Bearer"}}}
	if d := rt2.Decide(context.Background(), &Request{Header: hdr(), Query: q}); d.Reason != CredentialsMissing {
		t.Fatalf("query read without configuration: %s", d.Reason)
	}
}

func TestPathPrefixMatchesWholeSegments(t *testing.T) {
	tests := []struct {
		path, prefix string
		want         bool
	}{
		{"/admin", "/admin", true}, {"/admin/x", "/admin", true}, {"/administrator", "/admin", false},
		{"/", "/", true}, {"/x", "/", true}, {"/admin/", "/admin/", true}, {"/adm", "/admin", false},
	}
	for _, tt := range tests {
		if got := PathHasPrefix(tt.path, tt.prefix); got != tt.want {
			t.Errorf("PathHasPrefix(%q, %q) = %v", tt.path, tt.prefix, got)
		}
	}
}

func TestSchemesAreDeduplicated(t *testing.T) {
	rt := &Route{Authenticators: []Authenticator{&fakeAuth{scheme: "Bearer"}, &fakeAuth{scheme: "bearer"}, &fakeAuth{scheme: "Basic"}, &fakeAuth{scheme: ""}}}
	if diff := cmp.Diff([]string{"Bearer", "Basic"}, rt.Schemes()); diff != "" {
		t.Error(diff)
	}
}

func TestMissingScopesAreNamed(t *testing.T) {
	p := Principal{Scopes: []string{"a", "b"}}
	if diff := cmp.Diff([]string{"c"}, p.HasScopes([]string{"a", "c"})); diff != "" {
		t.Error(diff)
	}
}

type fakeBudget struct {
	allow  bool
	failed []string
}

func (b *fakeBudget) Reserve(_ context.Context, c netip.Addr, id string) (Reservation, bool, time.Duration) {
	if !b.allow {
		return Reservation{}, false, 3 * time.Second
	}
	return Reservation{Client: c, CredID: id, Held: 1}, true, 0
}

func (b *fakeBudget) Settle(_ context.Context, r Reservation, o Outcome) {
	if o == Failed {
		b.failed = append(b.failed, r.CredID)
	}
}

func (b *fakeBudget) Fail(_ context.Context, _ netip.Addr, id string) {
	b.failed = append(b.failed, id)
}
func (b *fakeBudget) Open(netip.Addr, string) bool { return b.allow }
func (b *fakeBudget) Remember(netip.Addr, string)  {}

func TestFailureBudget(t *testing.T) {
	bad := &fakeAuth{name: "jwt", scheme: "Bearer", err: &Failure{Reason: TokenSignatureInvalid}}
	good := &fakeAuth{name: "jwt", scheme: "Bearer", principal: Principal{Subject: "a"}}
	down := &fakeAuth{name: "jwt", scheme: "Bearer", err: &Failure{Reason: AuthenticatorUnavailable}}
	req := func(h http.Header) *Request { return &Request{Header: h, Client: netip.MustParseAddr("192.0.2.1")} }

	t.Run("a failure is charged to the token's hash, never its kid", func(t *testing.T) {
		b := &fakeBudget{allow: true}
		rt := &Route{Authenticators: []Authenticator{bad}, Budget: b}
		rt.Decide(context.Background(), req(hdr("Authorization", "Bearer tok")))
		if len(b.failed) != 1 || len(b.failed[0]) != 64 {
			t.Fatalf("charged %q", b.failed)
		}
	})
	t.Run("success, missing credentials and outages cost nothing", func(t *testing.T) {
		b := &fakeBudget{allow: true}
		(&Route{Authenticators: []Authenticator{good}, Budget: b}).Decide(context.Background(), req(hdr("Authorization", "Bearer tok")))
		(&Route{Authenticators: []Authenticator{good}, Budget: b}).Decide(context.Background(), req(hdr()))
		(&Route{Authenticators: []Authenticator{down}, Budget: b}).Decide(context.Background(), req(hdr("Authorization", "Bearer tok")))
		if len(b.failed) != 0 {
			t.Fatalf("charged %q", b.failed)
		}
	})
	t.Run("malformed credentials are charged", func(t *testing.T) {
		b := &fakeBudget{allow: true}
		(&Route{Authenticators: []Authenticator{good}, Budget: b}).Decide(context.Background(), req(hdr("Authorization", "Bearer  x")))
		if len(b.failed) != 1 {
			t.Fatalf("charged %q", b.failed)
		}
	})
	t.Run("an exhausted budget is a 429 before verifying", func(t *testing.T) {
		b := &fakeBudget{allow: false}
		g := &fakeAuth{name: "jwt", scheme: "Bearer", principal: Principal{Subject: "a"}}
		d := (&Route{Authenticators: []Authenticator{g}, Budget: b}).Decide(context.Background(), req(hdr("Authorization", "Bearer tok")))
		if d.Reason != TooManyFailures || d.RetryAfter != 3*time.Second || g.calls != 0 {
			t.Fatalf("reason %s retry %s calls %d", d.Reason, d.RetryAfter, g.calls)
		}
	})
}

// TestAuthenticatorsSeeTheCredentialsDigest: Decide hashes the credential once and the
// authenticator reads that digest (a cache key for the JWT authenticator); it must be
// the SHA-256 of the very value the authenticator receives, for every source.
func TestAuthenticatorsSeeTheCredentialsDigest(t *testing.T) {
	var seen []Credential
	a := &fakeAuth{name: "any", scheme: "Bearer", locs: []Location{{Source: FromHeader, Name: "X-API-Key"}},
		claim: func(c Credential) Match { return SchemeMatch }}
	rt := &Route{Authenticators: []Authenticator{&recordingAuth{fakeAuth: a, seen: &seen}}, Budget: &fakeBudget{allow: true}}
	for _, h := range []http.Header{hdr("Authorization", "Bearer one"), hdr("Authorization", "Bearer two"), hdr("X-API-Key", "three")} {
		rt.Decide(context.Background(), &Request{Header: h})
	}
	if len(seen) != 3 {
		t.Fatalf("authenticated %d credentials, want 3", len(seen))
	}
	for _, c := range seen {
		if c.sum == ([32]byte{}) || c.Sum() != sha256.Sum256([]byte(c.Value)) {
			t.Errorf("credential %q carries digest %x", c.Value, c.sum)
		}
	}
	if (&Credential{Value: "x"}).Sum() != sha256.Sum256([]byte("x")) {
		t.Error("Sum of a credential built outside Decide is not its SHA-256")
	}
}

type recordingAuth struct {
	*fakeAuth
	seen *[]Credential
}

func (r *recordingAuth) Authenticate(ctx context.Context, c Credential) (Principal, error) {
	*r.seen = append(*r.seen, c)
	return r.fakeAuth.Authenticate(ctx, c)
}

func TestUnrecognisedCredentialOfAnAcceptedScheme(t *testing.T) {
	keysOnly := &fakeAuth{name: "keys", scheme: "Bearer", claim: func(c Credential) Match {
		if strings.HasPrefix(c.Value, "gk_") {
			return ShapeMatch
		}
		return NoMatch
	}}
	d := (&Route{Authenticators: []Authenticator{keysOnly}}).Decide(context.Background(), &Request{Header: hdr("Authorization", "Bearer eyJhbGciOi.x.y")})
	if d.Reason != CredentialsMalformed || strings.Contains(d.Detail, "does not accept") {
		t.Fatalf("reason %s detail %q", d.Reason, d.Detail)
	}
}

func BenchmarkDecideAllow(b *testing.B) {
	auth := &fakeAuth{name: "jwt", scheme: "Bearer", principal: Principal{Subject: "alice", Scopes: []string{"a"}}}
	rt := &Route{Authenticators: []Authenticator{auth}, RequiredScopes: []string{"a"}}
	req := &Request{Header: hdr("Authorization", "Bearer abc")}
	b.ReportAllocs()
	for b.Loop() {
		if d := rt.Decide(context.Background(), req); !d.Allow {
			b.Fatal(d.Reason)
		}
	}
}

// TestRepeatedSchemeIsMalformedInAnyCase guards the allocation-free comparison of the
// credential's start with the scheme, including a start with non-ASCII bytes that
// Unicode case folding maps onto the scheme.
func TestRepeatedSchemeIsMalformedInAnyCase(t *testing.T) {
	tests := []struct {
		value     string
		malformed bool
	}{
		{"Bearer abc", false},
		{"Bearer Bearer abc", true},
		{"bearer BEARER abc", true},
		{"Bearer bearerabc", false},
		{"Bearer bearer", false},
		{"Kerberos \u212Aerberos abc", true}, // the Kelvin sign folds to k
		{"Basic basic", false},
		{"Basic Basic dXNlcjpwYXNz", true},
		{"\u212A abc", true}, // a Kelvin sign is not a token character, even if it lower-cases to k
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			_, _, malformed := splitAuthorization(tt.value)
			if got := malformed != ""; got != tt.malformed {
				t.Fatalf("malformed %v (%q), want %v", got, malformed, tt.malformed)
			}
		})
	}
}

// TestSplitAuthorizationAllocatesNothingForCommonSchemes: the extraction runs on every
// request, so the usual schemes in their usual spellings must not allocate.
func TestSplitAuthorizationAllocatesNothingForCommonSchemes(t *testing.T) {
	for _, v := range []string{"Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln", "Basic dXNlcjpwYXNz", "bearer gk_live_x"} {
		if n := testing.AllocsPerRun(100, func() { splitAuthorization(v) }); n != 0 {
			t.Errorf("%q: %v allocations", v, n)
		}
	}
}
