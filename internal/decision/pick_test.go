package decision

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestTheAuthenticatorThatRecognisesTheTokenExplainsTheFailure(t *testing.T) {
	other := &fakeAuth{name: "corp", scheme: "Bearer", err: &Failure{Reason: TokenKeyUnknown}}
	own := &fakeAuth{name: "own", scheme: "Bearer", err: &Failure{Reason: TokenRevoked}}
	d := (&Route{Authenticators: []Authenticator{other, own}}).Decide(context.Background(), &Request{Header: hdr("Authorization", "Bearer t")})
	if d.Reason != TokenRevoked || d.Authenticator != "own" {
		t.Fatalf("reason %s from %s, want token_revoked from own", d.Reason, d.Authenticator)
	}
	// With only "not mine" answers, the first one stands.
	other2 := &fakeAuth{name: "b", scheme: "Bearer", err: &Failure{Reason: TokenIssuerMismatch}}
	d = (&Route{Authenticators: []Authenticator{other, other2}}).Decide(context.Background(), &Request{Header: hdr("Authorization", "Bearer t")})
	if d.Reason != TokenKeyUnknown {
		t.Fatalf("reason %s", d.Reason)
	}
}

// issuerAuth is a fake jwt authenticator that recognises tokens "iss:<issuer>".
type issuerAuth struct {
	fakeAuth
	issuer string
	cached int
}

func (a *issuerAuth) Claims(c Credential) Match {
	iss, ok := strings.CutPrefix(c.Value, "iss:")
	switch {
	case c.Scheme != "bearer" || !ok:
		return NoMatch
	case iss == a.issuer:
		return IssuerMatch
	}
	return OtherIssuer
}
func (a *issuerAuth) Issuer() string { return a.issuer }
func (a *issuerAuth) CredentialIssuer(c Credential) (string, bool) {
	iss := strings.TrimPrefix(c.Value, "iss:")
	return iss, iss != ""
}
func (a *issuerAuth) Cached(context.Context, Credential) (Principal, bool) {
	a.cached++
	return Principal{}, false
}

type budgetLog struct {
	fakeBudget
	reserved []string
}

func (b *budgetLog) Reserve(ctx context.Context, c netip.Addr, id string) (Reservation, bool, time.Duration) {
	b.reserved = append(b.reserved, id)
	return b.fakeBudget.Reserve(ctx, c, id)
}

// TestOnlyTheRecognisingAuthenticatorPays: a token naming an issuer is verified by that
// issuer's authenticator alone, under one reserved unit; one naming no issuer of the
// route is refused without reservation or verification, and charged once.
func TestOnlyTheRecognisingAuthenticatorPays(t *testing.T) {
	a := &issuerAuth{fakeAuth: fakeAuth{name: "a", scheme: "Bearer", err: &Failure{Reason: TokenKeyUnknown}}, issuer: "A"}
	b := &issuerAuth{fakeAuth: fakeAuth{name: "b", scheme: "Bearer", err: &Failure{Reason: TokenAlgorithmRejected}}, issuer: "B"}
	req := func(tok string) *Request {
		return &Request{Header: hdr("Authorization", "Bearer "+tok), Client: netip.MustParseAddr("192.0.2.1")}
	}

	bl := &budgetLog{fakeBudget: fakeBudget{allow: true}}
	rt := &Route{Authenticators: []Authenticator{b, a}, Budget: bl}
	d := rt.Decide(context.Background(), req("iss:A"))
	if d.Reason != TokenKeyUnknown || d.Authenticator != "a" || a.calls != 1 || b.calls != 0 || b.cached != 0 {
		t.Fatalf("reason %s by %s; calls a %d b %d, b asked its cache %d times", d.Reason, d.Authenticator, a.calls, b.calls, b.cached)
	}
	if len(bl.reserved) != 1 || len(bl.failed) != 1 {
		t.Fatalf("reserved %d, failed %d; want one unit reserved and kept", len(bl.reserved), len(bl.failed))
	}

	bl = &budgetLog{fakeBudget: fakeBudget{allow: true}}
	rt = &Route{Authenticators: []Authenticator{b, a}, Budget: bl}
	d = rt.Decide(context.Background(), req("iss:C"))
	if d.Reason != TokenIssuerMismatch || d.Detail != "issuer is C, this API expects one of B, A" || d.Authenticator != "" {
		t.Fatalf("reason %s (%s) by %q", d.Reason, d.Detail, d.Authenticator)
	}
	if a.calls != 1 || b.calls != 0 || len(bl.reserved) != 0 || len(bl.failed) != 1 {
		t.Fatalf("calls a %d b %d, reserved %d, failed %d; want no verification and one failure charged", a.calls, b.calls, len(bl.reserved), len(bl.failed))
	}

	// With the budget closed, the mismatch is still named (it needed no verification),
	// as a malformed credential is.
	rt = &Route{Authenticators: []Authenticator{a}, Budget: &fakeBudget{allow: false}}
	if d := rt.Decide(context.Background(), req("iss:")); d.Reason != TokenIssuerMismatch || d.Detail != "the token has no issuer (iss); this API expects A" || d.Authenticator != "a" {
		t.Fatalf("reason %s (%s) by %q", d.Reason, d.Detail, d.Authenticator)
	}
}

// TestStrayCredentials: a credential in a place only other authenticators read is named;
// beside an accepted credential it changes nothing; nothing at all is still missing.
func TestStrayCredentials(t *testing.T) {
	bearer := &fakeAuth{name: "jwt", scheme: "Bearer", principal: Principal{Subject: "alice"}}
	basic := &fakeAuth{name: "users", scheme: "Basic"}
	keys := &fakeAuth{name: "keys", scheme: "Bearer", locs: []Location{{Source: FromHeader, Name: "X-Key"}, {Source: FromQuery, Name: "key"}},
		claim: func(c Credential) Match {
			if c.Source != FromAuthorization || strings.HasPrefix(c.Value, "gk_") {
				return ShapeMatch
			}
			return NoMatch
		}}
	rt := &Route{Authenticators: []Authenticator{bearer, basic}, Others: []Authenticator{keys}}
	q := func(name string) []string {
		if name == "key" {
			return []string{"gk_q"}
		}
		return nil
	}
	tests := []struct {
		name   string
		req    *Request
		reason Reason
		detail string
	}{
		{"default header", &Request{Header: hdr("X-API-Key", "k")}, SchemeNotAccepted, "this route accepts Bearer tokens and Basic credentials, not API keys"},
		{"another authenticator's header, any case", &Request{Header: hdr("x-key", "k")}, SchemeNotAccepted, "this route accepts Bearer tokens and Basic credentials, not API keys"},
		{"another authenticator's query parameter", &Request{Header: hdr(), Query: q}, SchemeNotAccepted, "this route accepts Bearer tokens and Basic credentials, not API keys"},
		{"API key as Bearer", &Request{Header: hdr("Authorization", "Bearer gk_x")}, "", ""},
		{"accepted credential beside a stray key", &Request{Header: hdr("Authorization", "Bearer t", "X-API-Key", "k")}, "", ""},
		{"nothing", &Request{Header: hdr("X-Other", "v")}, CredentialsMissing, "no credentials were sent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := rt.Decide(context.Background(), tt.req)
			if d.Reason != tt.reason || d.Detail != tt.detail || d.Allow != (tt.reason == "") {
				t.Fatalf("reason %s (%s), want %s (%s)", d.Reason, d.Detail, tt.reason, tt.detail)
			}
			if tt.reason == SchemeNotAccepted && !d.Presented {
				t.Error("a stray credential is presented")
			}
		})
	}
	// A key-only route names a Bearer token it cannot read.
	keysOnly := &Route{Authenticators: []Authenticator{keys}, Others: []Authenticator{bearer}}
	if d := keysOnly.Decide(context.Background(), &Request{Header: hdr("Authorization", "Bearer eyJ.x.y")}); d.Reason != SchemeNotAccepted || d.Detail != "this route accepts API keys, not Bearer tokens" {
		t.Fatalf("reason %s (%s)", d.Reason, d.Detail)
	}
}
