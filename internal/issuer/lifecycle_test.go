package issuer_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse/internal/budget"
	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/issuer"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/tokens"
	jwtverify "github.com/gatehouse-dev/gatehouse/internal/verify/jwt"
)

// selfAuth is an `issuer: self` authenticator over e's server.
func selfAuth(t *testing.T, e *env) *jwtverify.Self {
	t.Helper()
	a, err := jwtverify.NewSelf(jwtverify.SelfConfig{
		Name: "self", Issuer: e.srv.Issuer(), Audience: []string{"api://orders"},
		Algorithms: []string{"ES256", "EdDSA", "RS256"}, Keys: e.srv.KeyRing(), Revocations: e.srv.Revocations(),
		RefreshKeys: e.srv.RefreshKeys, Now: e.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	return a
}

// authenticate runs a through the authenticator and returns the principal or the
// failure's reason.
func authenticate(t *testing.T, a decision.Authenticator, tok string) (decision.Principal, decision.Reason) {
	t.Helper()
	p, err := a.Authenticate(testCtx(t), decision.Credential{Source: decision.FromAuthorization, Scheme: "bearer", Value: tok})
	if err == nil {
		return p, ""
	}
	var f *decision.Failure
	if !errors.As(err, &f) {
		t.Fatalf("Authenticate: %v is not a *decision.Failure", err)
	}
	return p, f.Reason
}

func introspect(t *testing.T, e *env, id, secret, tok string) map[string]any {
	t.Helper()
	r := e.post("/oauth2/introspect", "token="+url.QueryEscape(tok), basic(id, secret))
	if r.status != http.StatusOK {
		t.Fatalf("introspect = %d %s", r.status, r.body)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("introspection Cache-Control = %q", r.header.Get("Cache-Control"))
	}
	return r.json
}

// TestClientCannotIntrospectAnotherClientsToken guards against one client learning
// whether (and as whom) another client's token is live: without the introspect
// permission, only its own tokens are answered; the rest are inactive, exactly like a
// token that does not exist.
func TestClientCannotIntrospectAnotherClientsToken(t *testing.T) {
	e := newEnv(t)
	alice, aliceSecret := e.newClient("orders:read")
	bob, bobSecret := e.newClient("orders:read")
	rs, rsSecret := e.newResourceServer()
	aliceTok := e.token(alice, aliceSecret, "orders:read")
	bobTok := e.token(bob, bobSecret, "orders:read")
	inactive := map[string]any{"active": false}
	tests := []struct {
		name           string
		caller, secret string
		tok            string
		wantActive     bool
	}{
		{"OwnToken", alice, aliceSecret, aliceTok, true},
		{"AnotherClientsToken", alice, aliceSecret, bobTok, false},
		{"AnotherClientsTokenTheOtherWay", bob, bobSecret, aliceTok, false},
		{"ResourceServerWithPermission", rs, rsSecret, aliceTok, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := introspect(t, e, tc.caller, tc.secret, tc.tok)
			if !tc.wantActive {
				if diff := cmp.Diff(inactive, got); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
				return
			}
			if got["active"] != true || got["client_id"] != alice {
				t.Errorf("got %v, want active for client %s", got, alice)
			}
		})
	}
}

// TestIntrospectionAnswersRFC7662 covers active and inactive tokens and the client
// authentication the endpoint requires.
func TestIntrospectionAnswersRFC7662(t *testing.T) {
	e := newEnv(t)
	id, secret := e.newClient("orders:read", "orders:write")
	rs, rsSecret := e.newResourceServer() // a resource server introspecting others' tokens
	tok := e.token(id, secret, "orders:read")
	_, claims := segments(t, tok)
	got := introspect(t, e, rs, rsSecret, tok)
	want := map[string]any{
		"active": true, "scope": "orders:read", "client_id": id, "token_type": "Bearer",
		"exp": claims["exp"], "iat": claims["iat"], "sub": id, "aud": "api://orders", "iss": e.url, "jti": claims["jti"],
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("introspection of an active token (-want +got):\n%s", diff)
	}

	foreign, err := tokens.GenerateES256()
	if err != nil {
		t.Fatal(err)
	}
	fs, _ := tokens.NewAccessTokenSigner(foreign)
	forged, _ := fs.Sign(claims) // same claims, another key

	inactive := map[string]any{"active": false}
	for _, tc := range []struct {
		name string
		tok  string
	}{
		{"Garbage", "not-a-token"},
		{"SignedByAnotherKey", forged},
		{"Truncated", tok[:len(tok)-5]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(inactive, introspect(t, e, rs, rsSecret, tc.tok)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	t.Run("RequiresClientAuthentication", func(t *testing.T) {
		checkError(t, e.post("/oauth2/introspect", "token="+tok), wantError{401, "invalid_client", "required"})
		checkError(t, e.post("/oauth2/introspect", "token="+tok, basic(rs, "wrong")), wantError{401, "invalid_client", "failed"})
	})
	t.Run("TokenIsRequired", func(t *testing.T) {
		checkError(t, e.post("/oauth2/introspect", "token_type_hint=access_token", basic(rs, rsSecret)), wantError{400, "invalid_request", "token is missing"})
	})
	t.Run("ExpiredIsInactive", func(t *testing.T) {
		e.clock.Advance(11 * time.Minute)
		defer e.clock.Advance(-11 * time.Minute)
		if diff := cmp.Diff(inactive, introspect(t, e, rs, rsSecret, tok)); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("RemovedClientsTokenIsInactive", func(t *testing.T) {
		other, otherSecret := e.newClient("a")
		otok := e.token(other, otherSecret, "")
		if _, err := e.st.RemoveClient(testCtx(t), other, e.clock.Now()); err != nil {
			t.Fatal(err)
		}
		e.srv.Invalidate(changeOf("client_removed", other))
		if diff := cmp.Diff(inactive, introspect(t, e, rs, rsSecret, otok)); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
}

// TestRevokedTokenIsRefusedAtOnce revokes a token (RFC 7009) and checks that
// introspection and the `issuer: self` verifier, with a verified copy cached, refuse it
// on the very next call.
func TestRevokedTokenIsRefusedAtOnce(t *testing.T) {
	e := newEnv(t)
	a := selfAuth(t, e)
	id, secret := e.newClient("orders:read")
	tok := e.token(id, secret, "")
	keep := e.token(id, secret, "")
	for range 2 { // the second call is served from the verified-token cache
		if p, reason := authenticate(t, a, tok); reason != "" || p.Subject != id || !slices.Equal(p.Scopes, []string{"orders:read"}) {
			t.Fatalf("before revocation: principal %+v reason %s", p, reason)
		}
	}
	r := e.post("/oauth2/revoke", "token="+tok+"&token_type_hint=access_token", basic(id, secret))
	if r.status != http.StatusOK || len(r.body) != 0 || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("revoke = %d %q Cache-Control %q", r.status, r.body, r.header.Get("Cache-Control"))
	}
	if _, reason := authenticate(t, a, tok); reason != decision.TokenRevoked {
		t.Errorf("after revocation: reason %q, want token_revoked", reason)
	}
	if got := introspect(t, e, id, secret, tok); got["active"] != false {
		t.Errorf("introspection after revocation: %v", got)
	}
	if _, reason := authenticate(t, a, keep); reason != "" {
		t.Errorf("another token of the same client was refused: %s", reason)
	}
	if _, err := e.st.RevokedToken(testCtx(t), jtiOf(t, tok)); err != nil {
		t.Errorf("the revocation was not stored: %v", err)
	}
	// Revoking again is fine and changes nothing.
	if r := e.post("/oauth2/revoke", "token="+tok, basic(id, secret)); r.status != http.StatusOK {
		t.Errorf("second revoke = %d", r.status)
	}
}

func jtiOf(t *testing.T, tok string) string {
	_, c := segments(t, tok)
	return c["jti"].(string)
}

// TestRevocationEndpointFollowsRFC7009 covers the answers other than a plain success.
func TestRevocationEndpointFollowsRFC7009(t *testing.T) {
	e := newEnv(t)
	id, secret := e.newClient("a")
	other, otherSecret := e.newClient("a")
	tok := e.token(id, secret, "")
	t.Run("InvalidTokenIsNotAnError", func(t *testing.T) {
		if r := e.post("/oauth2/revoke", "token=garbage", basic(id, secret)); r.status != http.StatusOK {
			t.Errorf("revoke garbage = %d %s", r.status, r.body)
		}
	})
	t.Run("AnotherClientsTokenIsRefused", func(t *testing.T) {
		checkError(t, e.post("/oauth2/revoke", "token="+tok, basic(other, otherSecret)), wantError{400, "unauthorized_client", "another client"})
		if got := introspect(t, e, id, secret, tok); got["active"] != true {
			t.Error("a refused revocation revoked the token")
		}
	})
	t.Run("RequiresClientAuthentication", func(t *testing.T) {
		checkError(t, e.post("/oauth2/revoke", "token="+tok), wantError{401, "invalid_client", ""})
	})
	t.Run("TokenIsRequired", func(t *testing.T) {
		checkError(t, e.post("/oauth2/revoke", "", basic(id, secret)), wantError{400, "invalid_request", "token is missing"})
	})
	t.Run("ExpiredTokenNeedsNoRecord", func(t *testing.T) {
		old := e.token(id, secret, "")
		e.clock.Advance(11 * time.Minute)
		defer e.clock.Advance(-11 * time.Minute)
		if r := e.post("/oauth2/revoke", "token="+old, basic(id, secret)); r.status != http.StatusOK {
			t.Errorf("revoke expired = %d", r.status)
		}
		if _, err := e.st.RevokedToken(testCtx(t), jtiOf(t, old)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("an expired token's revocation was stored: %v", err)
		}
	})
}

// TestRevocationReachesAnotherReplicaThroughTheChangeFeed: two servers share a store; a
// token revoked at one is refused by the other's `issuer: self` verifier once its
// watcher delivers the change, and a removed client's tokens likewise.
func TestRevocationReachesAnotherReplicaThroughTheChangeFeed(t *testing.T) {
	e1 := newEnv(t)
	e2 := newEnvOn(t, e1.st, e1.clock, withIssuer(e1.url))
	w := store.NewWatcher(e1.st, store.WatcherOptions{})
	w.Subscribe(e2.srv.Invalidate)
	if err := w.Start(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	a2 := selfAuth(t, e2)
	id, secret := e1.newClient("a")
	tok := e1.token(id, secret, "")
	if _, reason := authenticate(t, a2, tok); reason != "" {
		t.Fatalf("replica 2 refuses replica 1's token: %s", reason)
	}
	if r := e1.post("/oauth2/revoke", "token="+tok, basic(id, secret)); r.status != http.StatusOK {
		t.Fatal(r.status)
	}
	if err := w.Poll(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if _, reason := authenticate(t, a2, tok); reason != decision.TokenRevoked {
		t.Errorf("replica 2 after the feed: reason %q, want token_revoked", reason)
	}

	tok2 := e1.token(id, secret, "")
	if _, reason := authenticate(t, a2, tok2); reason != "" {
		t.Fatalf("replica 2 refuses a fresh token: %s", reason)
	}
	if _, err := e1.st.RemoveClient(testCtx(t), id, e1.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if err := w.Poll(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if _, reason := authenticate(t, a2, tok2); reason != decision.TokenRevoked {
		t.Errorf("a removed client's token on replica 2: reason %q, want token_revoked", reason)
	}
	// A third replica started now loads both from the store.
	e3 := newEnvOn(t, e1.st, e1.clock, withIssuer(e1.url))
	a3 := selfAuth(t, e3)
	for _, tk := range []string{tok, tok2} {
		if _, reason := authenticate(t, a3, tk); reason != decision.TokenRevoked {
			t.Errorf("a new replica: reason %q, want token_revoked", reason)
		}
	}
}

// jwksKids returns the key ids the server publishes.
func jwksKids(t *testing.T, e *env) []string {
	t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(e.get("/.well-known/jwks.json").body, &set); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, k := range set.Keys {
		ids = append(ids, k.KeyID)
	}
	slices.Sort(ids)
	return ids
}

func sorted(s ...string) []string { slices.Sort(s); return s }

func kidOf(t *testing.T, tok string) string {
	h, _ := segments(t, tok)
	return h["kid"].(string)
}

// rotate rotates the signing key the way `signing-keys rotate` does and delivers the
// change to the server the way its watcher would.
func rotate(t *testing.T, e *env, delay time.Duration) store.SigningKey {
	t.Helper()
	sealer, err := tokens.NewSealer(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := issuer.RotateSigningKey(testCtx(t), issuer.RotateOptions{
		Store: e.st, Sealer: sealer, PublicationDelay: delay, Immediate: delay == 0, DefaultTTL: 10 * time.Minute, Now: e.clock.Now,
	})
	if err != nil {
		t.Fatalf("RotateSigningKey: %v", err)
	}
	e.srv.Invalidate(changeOf("signing_key_added", rec.ID))
	return rec
}

// TestRotationKeepsOldTokensValidUntilTheyExpire rotates the signing key and follows
// both keys through the JWKS: new tokens carry the new kid at once, old tokens keep
// verifying (with go-jose against the JWKS, and in process) until they expire, and the
// old key leaves the JWKS once every token it signed has expired.
func TestRotationKeepsOldTokensValidUntilTheyExpire(t *testing.T) {
	e := newEnv(t)
	a := selfAuth(t, e)
	id, secret := e.newClient("a")
	oldTok := e.token(id, secret, "")
	oldKid := kidOf(t, oldTok)

	e.clock.Advance(time.Minute)
	rec := rotate(t, e, 0)
	newTok := e.token(id, secret, "")
	if kidOf(t, newTok) != rec.ID || rec.ID == oldKid {
		t.Fatalf("after rotation the token's kid is %s; want the new key %s", kidOf(t, newTok), rec.ID)
	}
	if diff := cmp.Diff(sorted(oldKid, rec.ID), jwksKids(t, e)); diff != "" {
		t.Errorf("JWKS after rotation (-want +got):\n%s", diff)
	}
	for _, tok := range []string{oldTok, newTok} {
		joseVerify(t, e, tok, jose.ES256)
		if _, reason := authenticate(t, a, tok); reason != "" {
			t.Errorf("token of %s refused after rotation: %s", kidOf(t, tok), reason)
		}
	}

	// The old token expires 10 minutes after it was issued, 9 after the rotation. The
	// old key could have signed a 10-minute token at the moment of rotation, so it stays
	// published for 10 minutes plus a 5-minute margin for verifiers' leeway after it.
	e.clock.Advance(9*time.Minute + time.Second)
	if _, reason := authenticate(t, a, oldTok); reason != decision.TokenExpired {
		t.Errorf("the old token after its exp: %q, want token_expired", reason)
	}
	if diff := cmp.Diff(sorted(oldKid, rec.ID), jwksKids(t, e)); diff != "" {
		t.Errorf("JWKS within the retention margin (-want +got):\n%s", diff)
	}
	e.clock.Advance(5*time.Minute + 58*time.Second)
	if diff := cmp.Diff(sorted(oldKid, rec.ID), jwksKids(t, e)); diff != "" {
		t.Errorf("JWKS a second before the old key's end (-want +got):\n%s", diff)
	}
	e.clock.Advance(time.Second)
	if diff := cmp.Diff([]string{rec.ID}, jwksKids(t, e)); diff != "" {
		t.Errorf("JWKS after every old token expired (-want +got):\n%s", diff)
	}
	if _, reason := authenticate(t, a, newTok); reason != decision.TokenExpired {
		// newTok was issued at rotation, 10m ago: expired too; what matters is that it
		// is not token_key_unknown.
		t.Errorf("the new token: %q", reason)
	}
	fresh := e.token(id, secret, "")
	if _, reason := authenticate(t, a, fresh); reason != "" || kidOf(t, fresh) != rec.ID {
		t.Errorf("a fresh token: reason %q kid %s", reason, kidOf(t, fresh))
	}
	// The next rotation deletes the expired key from the store.
	rotate(t, e, 0)
	keys, _ := e.st.SigningKeys(testCtx(t))
	for _, k := range keys {
		if k.ID == oldKid {
			t.Errorf("the expired key %s is still stored", oldKid)
		}
	}
}

// TestRotationByDefaultPublishesForTheAdvertisedJWKSCacheLifetimeBeforeSigning guards
// against a rotation whose key signs before verifiers with a cached JWKS can know it:
// with no delay given, the new key is in the JWKS at once and signs only after the
// max-age the JWKS endpoint advertises.
func TestRotationByDefaultPublishesForTheAdvertisedJWKSCacheLifetimeBeforeSigning(t *testing.T) {
	e := newEnv(t)
	id, secret := e.newClient("a")
	oldKid := kidOf(t, e.token(id, secret, ""))
	r := e.get("/.well-known/jwks.json")
	maxAge, err := strconv.Atoi(strings.TrimPrefix(r.header.Get("Cache-Control"), "public, max-age="))
	if err != nil || maxAge <= 0 {
		t.Fatalf("JWKS Cache-Control = %q", r.header.Get("Cache-Control"))
	}
	sealer, err := tokens.NewSealer(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := issuer.RotateSigningKey(testCtx(t), issuer.RotateOptions{Store: e.st, Sealer: sealer, DefaultTTL: 10 * time.Minute, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	e.srv.Invalidate(changeOf("signing_key_added", rec.ID))
	if got, want := rec.ActivatesAt.Sub(e.clock.Now()), time.Duration(maxAge)*time.Second; got < want {
		t.Errorf("the new key signs %v after the rotation; the JWKS may be cached for %v", got, want)
	}
	if diff := cmp.Diff(sorted(oldKid, rec.ID), jwksKids(t, e)); diff != "" {
		t.Errorf("JWKS right after the rotation (-want +got):\n%s", diff)
	}
	e.clock.Advance(time.Duration(maxAge)*time.Second - time.Second)
	if kid := kidOf(t, e.token(id, secret, "")); kid != oldKid {
		t.Errorf("a second before the cache lifetime is over, tokens are signed by %s, want the old key %s", kid, oldKid)
	}
	e.clock.Advance(time.Second)
	if kid := kidOf(t, e.token(id, secret, "")); kid != rec.ID {
		t.Errorf("after the cache lifetime tokens are signed by %s, want the new key %s", kid, rec.ID)
	}
}

// TestImmediateRotationSignsAtOnce: Immediate (signing-keys rotate --now) is for
// replacing a compromised key.
func TestImmediateRotationSignsAtOnce(t *testing.T) {
	e := newEnv(t)
	id, secret := e.newClient("a")
	rec := rotate(t, e, 0)
	if kid := kidOf(t, e.token(id, secret, "")); kid != rec.ID {
		t.Errorf("tokens are signed by %s, want the new key %s", kid, rec.ID)
	}
}

// TestPublicationDelayPublishesBeforeSigning: with a delay the new key is in the JWKS at
// once and signs only when the delay is over.
func TestPublicationDelayPublishesBeforeSigning(t *testing.T) {
	e := newEnv(t)
	id, secret := e.newClient("a")
	oldKid := kidOf(t, e.token(id, secret, ""))
	rec := rotate(t, e, 5*time.Minute)
	if diff := cmp.Diff(sorted(oldKid, rec.ID), jwksKids(t, e)); diff != "" {
		t.Errorf("JWKS during the delay (-want +got):\n%s", diff)
	}
	if kid := kidOf(t, e.token(id, secret, "")); kid != oldKid {
		t.Errorf("during the delay tokens are signed by %s, want the old key %s", kid, oldKid)
	}
	e.clock.Advance(5 * time.Minute)
	if kid := kidOf(t, e.token(id, secret, "")); kid != rec.ID {
		t.Errorf("after the delay tokens are signed by %s, want the new key %s", kid, rec.ID)
	}
}

// TestRetiringKeyNeverSignsTokensThatOutliveIt: a client created with a long lifetime
// during a publication delay gets tokens from the retiring key that expire no later than
// that key's publication.
func TestRetiringKeyNeverSignsTokensThatOutliveIt(t *testing.T) {
	e := newEnv(t)
	rotate(t, e, time.Hour) // the current key retires in an hour, published 15m more
	e.addClient("long", "long-lived-secret", []string{"a"}, 24*time.Hour)
	e.srv.Invalidate(changeOf("client_created", "long"))
	tok := e.token("long", "long-lived-secret", "")
	_, claims := segments(t, tok)
	keys, _ := e.st.SigningKeys(testCtx(t))
	var signer store.SigningKey
	for _, k := range keys {
		if k.ID == kidOf(t, tok) {
			signer = k
		}
	}
	if signer.ExpiresAt.IsZero() {
		t.Fatalf("the token was signed by %s, not by the retiring key", kidOf(t, tok))
	}
	if exp := time.Unix(int64(claims["exp"].(float64)), 0); exp.After(signer.ExpiresAt.Add(-5 * time.Minute)) {
		t.Errorf("the token expires at %v, past its key's publication end %v less the margin", exp, signer.ExpiresAt)
	}
}

// TestUnknownKidMakesTheVerifierReloadKeys: a replica that signs with a key the other
// has not loaded yet (its change feed lags) still gets its tokens accepted, because
// the verifier reloads on an unknown kid.
func TestUnknownKidMakesTheVerifierReloadKeys(t *testing.T) {
	e1 := newEnv(t)
	e2 := newEnvOn(t, e1.st, e1.clock, withIssuer(e1.url))
	a2 := selfAuth(t, e2)
	id, secret := e1.newClient("a")
	e1.clock.Advance(2 * time.Second) // past the reload rate limit
	rotate(t, e1, 0)                  // only e1 hears of it
	tok := e1.token(id, secret, "")
	if _, reason := authenticate(t, a2, tok); reason != "" {
		t.Errorf("replica 2 refused a token of the new key: %s", reason)
	}
}

// TestAlgorithmChangeRotatesToANewKey: a server started with another signing_algorithm
// than the stored key's rotates, so its tokens follow the configuration.
func TestAlgorithmChangeRotatesToANewKey(t *testing.T) {
	e := newEnv(t)
	e2 := newEnvOn(t, e.st, e.clock, withAlgorithm("EdDSA"))
	id, secret := e2.newClient("a")
	h, _ := segments(t, e2.token(id, secret, ""))
	if h["alg"] != "EdDSA" {
		t.Errorf("alg = %v after the configuration changed to EdDSA", h["alg"])
	}
}

// TestFailedClientAuthenticationSpendsTheBudget: failures are counted per address and
// per client_id; once spent, even the right secret gets 429 with Retry-After; a
// request without credentials costs nothing.
func TestFailedClientAuthenticationSpendsTheBudget(t *testing.T) {
	b := newBudget(t, budget.Options{PerClient: budget.Rate{Count: 3, Per: time.Minute}, PerCredential: budget.Rate{Count: 100, Per: time.Minute}})
	e := newEnv(t, withBudget(b))
	id, secret := e.newClient("a")
	for range 5 {
		checkError(t, e.post("/oauth2/token", "grant_type=client_credentials"), wantError{401, "invalid_client", "required"})
	}
	for range 3 {
		checkError(t, e.post("/oauth2/token", "grant_type=client_credentials", basic(id, "wrong")), wantError{401, "invalid_client", "failed"})
	}
	r := e.post("/oauth2/token", "grant_type=client_credentials", basic(id, secret))
	if r.status != http.StatusTooManyRequests || r.json["error"] != "too_many_failures" || r.header.Get("Retry-After") == "" {
		t.Fatalf("after the budget is spent: %d %s Retry-After %q", r.status, r.body, r.header.Get("Retry-After"))
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Error("the 429 lacks Cache-Control: no-store")
	}
	for _, path := range []string{"/oauth2/introspect", "/oauth2/revoke"} {
		if r := e.post(path, "token=x", basic(id, secret)); r.status != http.StatusTooManyRequests {
			t.Errorf("%s after the budget is spent = %d", path, r.status)
		}
	}
}

// TestPerClientIDBudgetStopsGuessingFromManyAddresses charges the client_id, so an
// attacker rotating addresses still runs out.
func TestPerClientIDBudgetStopsGuessingFromManyAddresses(t *testing.T) {
	b := newBudget(t, budget.Options{PerClient: budget.Rate{Count: 1000, Per: time.Minute}, PerCredential: budget.Rate{Count: 2, Per: time.Minute}})
	e := newEnv(t, withBudget(b))
	id, secret := e.newClient("a")
	other, otherSecret := e.newClient("a")
	for range 2 {
		e.post("/oauth2/token", "grant_type=client_credentials", basic(id, "guess"))
	}
	if r := e.post("/oauth2/token", "grant_type=client_credentials", basic(id, secret)); r.status != http.StatusTooManyRequests {
		t.Errorf("the guessed client after 2 failures = %d, want 429", r.status)
	}
	if r := e.post("/oauth2/token", "grant_type=client_credentials", basic(other, otherSecret)); r.status != http.StatusOK {
		t.Errorf("another client from the same address = %d, want 200", r.status)
	}
}

// TestSetPolicyTakesEffectOnTheNextRequest: a reload changes the realm and the budget
// of a running server; keys and clients are untouched.
func TestSetPolicyTakesEffectOnTheNextRequest(t *testing.T) {
	e := newEnv(t)
	id, secret := e.newClient("a")
	b := newBudget(t, budget.Options{PerClient: budget.Rate{Count: 1, Per: time.Hour}})
	e.srv.SetPolicy(issuer.Policy{Realm: "reloaded", Budget: b})
	r := e.post("/oauth2/token", "grant_type=client_credentials", basic(id, "wrong"))
	if got := r.header.Get("WWW-Authenticate"); got != `Basic realm="reloaded", charset="UTF-8"` {
		t.Errorf("challenge after SetPolicy = %q", got)
	}
	if r := e.post("/oauth2/token", "grant_type=client_credentials", basic(id, secret)); r.status != http.StatusTooManyRequests {
		t.Errorf("the new budget is not consulted: %d", r.status)
	}
	e.srv.SetPolicy(issuer.Policy{Realm: "test"})
	if r := e.post("/oauth2/token", "grant_type=client_credentials", basic(id, secret)); r.status != http.StatusOK {
		t.Errorf("without a budget: %d %s", r.status, r.body)
	}
}

// TestReplicasWithDifferentAlgorithmsDoNotRotateInTurn: during a rollout one replica
// signs with ES256 and a restarted one with EdDSA; the key added at the second's start
// reaches the first through the change feed without making it rotate back.
func TestReplicasWithDifferentAlgorithmsDoNotRotateInTurn(t *testing.T) {
	e1 := newEnv(t)
	w := store.NewWatcher(e1.st, store.WatcherOptions{})
	w.Subscribe(e1.srv.Invalidate)
	if err := w.Start(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	newEnvOn(t, e1.st, e1.clock, withAlgorithm("EdDSA"), withIssuer(e1.url))
	if err := w.Poll(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	keys, _ := e1.st.SigningKeys(testCtx(t))
	if len(keys) != 2 {
		t.Errorf("%d keys after the rollout, want 2 (no rotation back)", len(keys))
	}
}

// TestStoreOutageIsUnavailableNeverInvalidClient: when the store cannot be read, a
// client is told to retry (503 with Retry-After), never that its credentials are bad,
// and an introspection never calls a possibly revoked token active.
func TestStoreOutageIsUnavailableNeverInvalidClient(t *testing.T) {
	e := newEnv(t)
	id, secret := e.newClient("a")
	tok := e.token(id, secret, "") // id is now cached; fresh is not
	fresh, freshSecret := e.newClient("a")
	e.st.Close()
	r := e.post("/oauth2/token", "grant_type=client_credentials", basic(fresh, freshSecret))
	checkError(t, r, wantError{503, "temporarily_unavailable", "try again"})
	if r.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	checkError(t, e.post("/oauth2/introspect", "token="+tok, basic(id, secret)), wantError{503, "temporarily_unavailable", ""})
	checkError(t, e.post("/oauth2/revoke", "token="+tok, basic(id, secret)), wantError{503, "temporarily_unavailable", ""})
	// Issuing needs only the cached client and the loaded keys: it goes on.
	if r := e.post("/oauth2/token", "grant_type=client_credentials", basic(id, secret)); r.status != http.StatusOK {
		t.Errorf("a cached client during the outage = %d %s", r.status, r.body)
	}
}

// TestRevocationsAreForgottenAfterTheirTokensExpire keeps the in-memory set bounded.
func TestRevocationsAreForgottenAfterTheirTokensExpire(t *testing.T) {
	e := newEnv(t)
	id, secret := e.newClient("a")
	for range 3 {
		tok := e.token(id, secret, "")
		if r := e.post("/oauth2/revoke", "token="+tok, basic(id, secret)); r.status != http.StatusOK {
			t.Fatal(r.status)
		}
	}
	if n, _ := e.srv.Revocations().Len(); n != 3 {
		t.Fatalf("%d revocations held, want 3", n)
	}
	e.clock.Advance(10*time.Minute + 5*time.Minute + time.Second) // past exp and the margin
	tok := e.token(id, secret, "")
	if r := e.post("/oauth2/revoke", "token="+tok, basic(id, secret)); r.status != http.StatusOK {
		t.Fatal(r.status)
	}
	if n, _ := e.srv.Revocations().Len(); n != 1 {
		t.Errorf("%d revocations held after the first three expired, want 1", n)
	}
}
