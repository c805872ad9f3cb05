package decision_test

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/budget"
	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/tokens"
	"github.com/gatehouse-dev/gatehouse/internal/verify/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/verify/basic"
	"github.com/gatehouse-dev/gatehouse/internal/verify/introspect"
	"github.com/gatehouse-dev/gatehouse/internal/verify/jwt"
)

const (
	issA    = "https://a.example"
	issB    = "https://b.example"
	issSelf = "https://gw.example"
	aud     = "api://orders"
)

// keyStore is a one-key store for the api_key authenticator.
type keyStore struct{ rec store.APIKey }

func (k keyStore) Key(_ context.Context, id string) (store.APIKey, error) {
	if id == k.rec.ID {
		return k.rec, nil
	}
	return store.APIKey{}, store.ErrNotFound
}
func (keyStore) TouchKeys(context.Context, map[string]time.Time) error { return nil }

type noRevocations struct{}

func (noRevocations) IsRevoked(string, string) bool   { return false }
func (noRevocations) OnRevoke(func()) (cancel func()) { return func() {} }

// counted counts the verifications an authenticator is asked for, keeping the optional
// interfaces Decide looks for (IssuerRecognizer, Cacher).
type counted struct {
	*jwt.Authenticator
	calls *atomic.Int32
}

func (c counted) Authenticate(ctx context.Context, cr decision.Credential) (decision.Principal, error) {
	c.calls.Add(1)
	return c.Authenticator.Authenticate(ctx, cr)
}

type countedSelf struct {
	*jwt.Self
	calls *atomic.Int32
}

func (c countedSelf) Authenticate(ctx context.Context, cr decision.Credential) (decision.Principal, error) {
	c.calls.Add(1)
	return c.Self.Authenticate(ctx, cr)
}

// mixed is every kind of authenticator, real, as a configuration would have them.
type mixed struct {
	a, b                   counted
	self                   countedSelf
	keys                   *apikey.Authenticator
	users                  *basic.Authenticator
	opaque                 *introspect.Authenticator
	signA, signB, signSelf *tokens.Signer
	signStranger           *tokens.Signer // a key A does not publish, with A's algorithm
	apiKey                 string
	introspections         atomic.Int32
}

func newMixed(t *testing.T) *mixed {
	t.Helper()
	m := &mixed{}
	var err error
	key := func() *tokens.SigningKey {
		k, err := tokens.GenerateES256()
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	kA, kSelf, kStranger := key(), key(), key()
	kStranger.ID = kA.ID + "-unknown"
	for _, p := range []struct {
		s **tokens.Signer
		k *tokens.SigningKey
	}{{&m.signA, kA}, {&m.signStranger, kStranger}} {
		if *p.s, err = tokens.NewSigner(p.k); err != nil {
			t.Fatal(err)
		}
	}
	if m.signSelf, err = tokens.NewAccessTokenSigner(kSelf); err != nil {
		t.Fatal(err)
	}
	hsKey, err := tokens.NewSigningKey("HS256", "b1", []byte(strings.Repeat("s", 32)))
	if err != nil {
		t.Fatal(err)
	}
	if m.signB, err = tokens.NewSigner(hsKey); err != nil {
		t.Fatal(err)
	}
	jwks := filepath.Join(t.TempDir(), "a.json")
	if err := os.WriteFile(jwks, tokens.PublicJWKS(kA), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := jwt.New(jwt.Config{Name: "corp_a", Issuer: issA, Audience: []string{aud}, Algorithms: []string{"ES256"}, JWKSFile: jwks})
	if err != nil {
		t.Fatal(err)
	}
	m.a = counted{Authenticator: a, calls: new(atomic.Int32)}
	b, err := jwt.New(jwt.Config{Name: "partner_b", Issuer: issB, Audience: []string{aud}, Algorithms: []string{"HS256"}, Secret: []byte(strings.Repeat("s", 32))})
	if err != nil {
		t.Fatal(err)
	}
	m.b = counted{Authenticator: b, calls: new(atomic.Int32)}
	pub, _ := kSelf.Public()
	self, err := jwt.NewSelf(jwt.SelfConfig{Name: "own", Issuer: issSelf, Audience: []string{aud}, Algorithms: []string{"ES256"},
		Keys: tokens.NewKeyRing(tokens.NewKeySet(pub)), Revocations: noRevocations{}})
	if err != nil {
		t.Fatal(err)
	}
	m.self = countedSelf{Self: self, calls: new(atomic.Int32)}

	hasher, err := secret.NewKeyHasher(nil)
	if err != nil {
		t.Fatal(err)
	}
	k, err := secret.NewAPIKey("live")
	if err != nil {
		t.Fatal(err)
	}
	m.apiKey = k.Reveal()
	rec := store.APIKey{ID: k.ID, Name: "billing", Env: "live", SecretHash: hasher.Hash(k), HashAlg: hasher.Alg(), CreatedAt: time.Now().Add(-time.Hour)}
	if m.keys, err = apikey.New(apikey.Config{Name: "keys", Header: "X-API-Key", Environment: "live", Store: keyStore{rec}, Hasher: hasher}); err != nil {
		t.Fatal(err)
	}
	if m.users, err = basic.New(basic.Config{Name: "staff", Store: users{store.User{Name: "root", PasswordHash: rootHash()}}}); err != nil {
		t.Fatal(err)
	}
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.introspections.Add(1)
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		if r.PostForm.Get("token") == "opaque-good" {
			io.WriteString(w, `{"active":true,"sub":"svc-1"}`)
			return
		}
		io.WriteString(w, `{"active":false}`)
	}))
	t.Cleanup(idp.Close)
	if m.opaque, err = introspect.New(introspect.Config{Name: "opaque", URL: idp.URL, ClientID: "gw", ClientSecret: "s3cret", CacheMaxTTL: -1}); err != nil {
		t.Fatal(err)
	}
	return m
}

func (m *mixed) token(t *testing.T, s *tokens.Signer, kv ...any) string {
	t.Helper()
	now := time.Now()
	c := map[string]any{"sub": "user-1", "aud": aud, "iat": now.Add(-time.Minute).Unix(), "exp": now.Add(10 * time.Minute).Unix()}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(c, kv[i].(string))
			continue
		}
		c[kv[i].(string)] = kv[i+1]
	}
	tok, err := s.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestMixedRoutesNameTheTrueReason is the table of docs/reasons.md, "Which authenticator
// explains a refusal": for each credential, on routes mixing two issuers, issuer: self,
// api_key, basic and introspection, the reason and the authenticator that gives it; and
// that a JWT is verified by its issuer's authenticator alone.
func TestMixedRoutesNameTheTrueReason(t *testing.T) {
	m := newMixed(t)
	all := []decision.Authenticator{m.b, m.a, m.self, m.keys, m.users, m.opaque}
	// Routes list the partner first on purpose: before, its answer about a corp token
	// (token_algorithm_rejected) hid the corp authenticator's.
	routes := map[string][]decision.Authenticator{
		"jwt+self+key+basic": {m.b, m.a, m.self, m.keys, m.users},
		"all":                {m.b, m.a, m.self, m.keys, m.users, m.opaque},
		"bearer+basic":       {m.b, m.a, m.users},
		"keys only":          {m.keys},
		"introspection only": {m.opaque},
	}
	basicAuth := func(u, p string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p)) }
	tokA := m.token(t, m.signA, "iss", issA)
	type want struct {
		reason decision.Reason // "" for allowed
		by     string          // the authenticator that decided
		detail string          // a fragment of the detail
	}
	tests := []struct {
		name   string
		header []string
		// verifications: how many JWT verifications the credential may cost, on every route.
		jwtCalls int32
		want     map[string]want
	}{
		{"corp token", []string{"Authorization", "Bearer " + tokA}, 1, map[string]want{
			"jwt+self+key+basic": {"", "corp_a", ""}, "all": {"", "corp_a", ""}, "bearer+basic": {"", "corp_a", ""},
			"keys only":          {decision.SchemeNotAccepted, "", "this route accepts API keys, not Bearer tokens"},
			"introspection only": {decision.TokenInactive, "opaque", ""},
		}},
		{"corp token signed by a key corp does not publish", []string{"Authorization", "Bearer " + m.token(t, m.signStranger, "iss", issA)}, 1, map[string]want{
			"jwt+self+key+basic": {decision.TokenKeyUnknown, "corp_a", ""}, "all": {decision.TokenKeyUnknown, "corp_a", ""},
			"bearer+basic": {decision.TokenKeyUnknown, "corp_a", ""},
		}},
		{"corp token for another audience", []string{"Authorization", "Bearer " + m.token(t, m.signA, "iss", issA, "aud", "api://billing")}, 1, map[string]want{
			"all": {decision.TokenAudienceMismatch, "corp_a", "this API expects api://orders"},
		}},
		{"corp token expired", []string{"Authorization", "Bearer " + m.token(t, m.signA, "iss", issA, "exp", time.Now().Add(-time.Hour).Unix())}, 1, map[string]want{
			"all": {decision.TokenExpired, "corp_a", "ago"},
		}},
		{"partner token", []string{"Authorization", "Bearer " + m.token(t, m.signB, "iss", issB)}, 1, map[string]want{
			"all": {"", "partner_b", ""}, "bearer+basic": {"", "partner_b", ""},
		}},
		{"partner token with a bad signature", []string{"Authorization", "Bearer " + m.token(t, m.signB, "iss", issB) + "x"}, 1, map[string]want{
			"all": {decision.TokenSignatureInvalid, "partner_b", ""},
		}},
		{"partner-signed token claiming the corp issuer", []string{"Authorization", "Bearer " + m.token(t, m.signB, "iss", issA)}, 1, map[string]want{
			"all": {decision.TokenAlgorithmRejected, "corp_a", "HS256"},
		}},
		{"token service token", []string{"Authorization", "Bearer " + m.token(t, m.signSelf, "iss", issSelf, "client_id", "svc")}, 1, map[string]want{
			"jwt+self+key+basic": {"", "own", ""}, "all": {"", "own", ""},
			"bearer+basic": {decision.TokenIssuerMismatch, "", "issuer is " + issSelf + ", this API expects one of " + issB + ", " + issA},
		}},
		{"token service token signed by a corp key", []string{"Authorization", "Bearer " + m.token(t, m.signA, "iss", issSelf)}, 1, map[string]want{
			"all": {decision.TokenKeyUnknown, "own", ""},
		}},
		{"token from an unknown issuer", []string{"Authorization", "Bearer " + m.token(t, m.signA, "iss", "https://stranger.example")}, 0, map[string]want{
			"jwt+self+key+basic": {decision.TokenIssuerMismatch, "", "issuer is https://stranger.example, this API expects one of " + issB + ", " + issA + ", " + issSelf},
			"all":                {decision.TokenInactive, "opaque", ""},
			"bearer+basic":       {decision.TokenIssuerMismatch, "", "this API expects one of " + issB + ", " + issA},
		}},
		{"corp issuer with a trailing slash", []string{"Authorization", "Bearer " + m.token(t, m.signA, "iss", issA+"/")}, 0, map[string]want{
			"bearer+basic": {decision.TokenIssuerMismatch, "", "issuer is " + issA + "/, this API expects"},
		}},
		{"token without an issuer", []string{"Authorization", "Bearer " + m.token(t, m.signA, "iss", nil)}, 0, map[string]want{
			"bearer+basic": {decision.TokenIssuerMismatch, "", "the token has no issuer (iss)"},
		}},
		{"JWT whose claims cannot be read", []string{"Authorization", "Bearer eyJhbGciOiJFUzI1NiJ9.bm90IGpzb24.c2ln"}, 2, map[string]want{
			// Claimed by both (no issuer to read), verified by both: the partner's
			// "not my algorithm" gives way to the corp authenticator's answer.
			"bearer+basic": {decision.TokenSignatureInvalid, "corp_a", ""},
		}},
		{"opaque token, active", []string{"Authorization", "Bearer opaque-good"}, 0, map[string]want{
			"all": {"", "opaque", ""}, "introspection only": {"", "opaque", ""},
			"keys only": {decision.SchemeNotAccepted, "", "this route accepts API keys, not Bearer tokens"},
		}},
		{"opaque token, inactive", []string{"Authorization", "Bearer opaque-bad"}, 0, map[string]want{
			"all": {decision.TokenInactive, "opaque", ""},
		}},
		{"API key as Bearer", []string{"Authorization", "Bearer " + m.apiKey}, 0, map[string]want{
			"all": {"", "keys", ""}, "keys only": {"", "keys", ""},
			"bearer+basic":       {decision.SchemeNotAccepted, "", "this route accepts Bearer tokens and Basic credentials, not API keys"},
			"introspection only": {decision.SchemeNotAccepted, "", "this route accepts Bearer tokens, not API keys"},
		}},
		{"API key header", []string{"X-API-Key", m.apiKey}, 0, map[string]want{
			"all": {"", "keys", ""}, "keys only": {"", "keys", ""},
			"bearer+basic":       {decision.SchemeNotAccepted, "", "this route accepts Bearer tokens and Basic credentials, not API keys"},
			"introspection only": {decision.SchemeNotAccepted, "", "this route accepts Bearer tokens, not API keys"},
		}},
		{"API key header with a bad checksum", []string{"X-API-Key", m.apiKey[:len(m.apiKey)-1] + "A"}, 0, map[string]want{
			"all": {decision.CredentialsMalformed, "keys", ""},
		}},
		{"unknown API key", []string{"X-API-Key", newKey(t)}, 0, map[string]want{
			"all": {decision.APIKeyInvalid, "keys", ""},
		}},
		{"accepted token with a stray API key header", []string{"Authorization", "Bearer " + tokA, "X-API-Key", "whatever"}, 1, map[string]want{
			"bearer+basic": {"", "corp_a", ""},
		}},
		{"Basic", []string{"Authorization", basicAuth("root", "correct horse")}, 0, map[string]want{
			"all": {"", "staff", ""}, "bearer+basic": {"", "staff", ""},
			"keys only": {decision.SchemeNotAccepted, "", "this route accepts API keys, not Basic credentials"},
		}},
		{"Basic, wrong password", []string{"Authorization", basicAuth("root", "wrong")}, 0, map[string]want{
			"all": {decision.CredentialsInvalid, "staff", ""},
		}},
		{"Digest", []string{"Authorization", `Digest username="root"`}, 0, map[string]want{
			"all": {decision.SchemeNotAccepted, "", "this route accepts Bearer tokens, API keys and Basic credentials, not Digest credentials"},
		}},
		{"nothing", nil, 0, map[string]want{
			"all": {decision.CredentialsMissing, "", "no credentials were sent"}, "keys only": {decision.CredentialsMissing, "", ""},
			"bearer+basic": {decision.CredentialsMissing, "", ""},
		}},
	}
	for _, tt := range tests {
		for route, w := range tt.want {
			t.Run(tt.name+"/"+route, func(t *testing.T) {
				var others []decision.Authenticator
				for _, a := range all {
					in := false
					for _, b := range routes[route] {
						in = in || a == b
					}
					if !in {
						others = append(others, a)
					}
				}
				b, err := budget.New(budget.Options{})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { b.Close() })
				rt := &decision.Route{Name: route, Authenticators: routes[route], Others: others, Budget: b}
				h := http.Header{}
				for i := 0; i+1 < len(tt.header); i += 2 {
					h.Add(tt.header[i], tt.header[i+1])
				}
				before := m.a.calls.Load() + m.b.calls.Load() + m.self.calls.Load()
				d := rt.Decide(context.Background(), &decision.Request{Method: "GET", Path: "/", Header: h, Client: netip.MustParseAddr("192.0.2.7")})
				if d.Reason != w.reason || d.Allow != (w.reason == "") || d.Authenticator != w.by || !strings.Contains(d.Detail, w.detail) {
					t.Fatalf("reason %q by %q (%s), want %q by %q with %q", d.Reason, d.Authenticator, d.Detail, w.reason, w.by, w.detail)
				}
				calls := m.a.calls.Load() + m.b.calls.Load() + m.self.calls.Load() - before
				if calls > tt.jwtCalls {
					t.Errorf("%d JWT verifications, want at most %d", calls, tt.jwtCalls)
				}
			})
		}
	}
}

func newKey(t *testing.T) string {
	t.Helper()
	k, err := secret.NewAPIKey("live")
	if err != nil {
		t.Fatal(err)
	}
	return k.Reveal()
}
