package issuer_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/issuer"
	jwtverify "github.com/gatehouse-dev/gatehouse/internal/verify/jwt"
)

// joseVerify checks tok against the JWKS the server publishes, with go-jose alone:
// nothing of Gatehouse's verifier is involved.
func joseVerify(t *testing.T, e *env, tok string, alg jose.SignatureAlgorithm) (header jose.Header, claims map[string]any) {
	t.Helper()
	r := e.get("/.well-known/jwks.json")
	if r.status != http.StatusOK {
		t.Fatalf("GET jwks = %d", r.status)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(r.body, &set); err != nil {
		t.Fatalf("the JWKS does not parse with go-jose: %v", err)
	}
	jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{alg})
	if err != nil {
		t.Fatalf("go-jose ParseSignedCompact: %v", err)
	}
	header = jws.Signatures[0].Protected
	keys := set.Key(header.KeyID)
	if len(keys) != 1 {
		t.Fatalf("the JWKS holds %d keys with kid %q, want 1", len(keys), header.KeyID)
	}
	if keys[0].Algorithm != string(alg) || keys[0].Use != "sig" || !keys[0].IsPublic() {
		t.Errorf("published key: alg %q use %q public %v", keys[0].Algorithm, keys[0].Use, keys[0].IsPublic())
	}
	payload, err := jws.Verify(keys[0])
	if err != nil {
		t.Fatalf("go-jose Verify with the published key: %v", err)
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	return header, claims
}

// TestOAuth2ClientCredentialsLibraryGetsVerifiableTokens runs golang.org/x/oauth2's
// client credentials flow against the token endpoint, with both ways of sending the
// secret and every signing algorithm, and verifies each token with go-jose against
// the published JWKS.
func TestOAuth2ClientCredentialsLibraryGetsVerifiableTokens(t *testing.T) {
	for _, alg := range []string{"ES256", "EdDSA", "RS256"} {
		for _, style := range []struct {
			name  string
			style oauth2.AuthStyle
		}{{"client_secret_basic", oauth2.AuthStyleInHeader}, {"client_secret_post", oauth2.AuthStyleInParams}} {
			t.Run(alg+"/"+style.name, func(t *testing.T) {
				e := newEnv(t, withAlgorithm(alg))
				id, secret := e.newClient("orders:read", "orders:write")
				cc := clientcredentials.Config{
					ClientID: id, ClientSecret: secret, TokenURL: e.url + "/oauth2/token",
					Scopes: []string{"orders:read"}, AuthStyle: style.style,
				}
				ctx := oauth2ctx(t, e)
				tok, err := cc.Token(ctx)
				if err != nil {
					t.Fatalf("clientcredentials Token: %v", err)
				}
				if tok.TokenType != "Bearer" || tok.Expiry.IsZero() {
					t.Errorf("token type %q expiry %v", tok.TokenType, tok.Expiry)
				}
				if got := tok.Extra("scope"); got != "orders:read" {
					t.Errorf("granted scope = %v, want orders:read", got)
				}
				header, claims := joseVerify(t, e, tok.AccessToken, jose.SignatureAlgorithm(alg))
				if typ := header.ExtraHeaders["typ"]; typ != "at+jwt" {
					t.Errorf("typ = %v, want at+jwt (RFC 9068 2.1)", typ)
				}
				if header.KeyID == "" {
					t.Error("no kid in the header")
				}
				now := e.clock.Now().Unix()
				want := map[string]any{
					"iss": e.url, "sub": id, "aud": "api://orders", "client_id": id, "scope": "orders:read",
					"iat": float64(now), "exp": float64(now + 600),
				}
				jti, _ := claims["jti"].(string)
				delete(claims, "jti")
				if diff := cmp.Diff(want, claims); diff != "" {
					t.Errorf("claims (-want +got):\n%s", diff)
				}
				if len(jti) < 16 {
					t.Errorf("jti %q is too short to be unique", jti)
				}
			})
		}
	}
}

// oauth2ctx gives the oauth2 library a bounded HTTP client.
func oauth2ctx(t *testing.T, e *env) context.Context {
	return context.WithValue(testCtx(t), oauth2.HTTPClient, e.client)
}

// TestClientCredentialsTokenCallsProtectedRouteThroughGateway is the whole loop: the
// oauth2 library gets a token from the token service and calls a route of the gateway
// whose `issuer: self` authenticator verifies it in process; a revoked token is then
// refused at once with token_revoked.
func TestClientCredentialsTokenCallsProtectedRouteThroughGateway(t *testing.T) {
	e := newEnv(t)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello "+r.Header.Get("X-Gatehouse-Subject")+" with "+r.Header.Get("X-Gatehouse-Scopes"))
	}))
	t.Cleanup(upstream.Close)
	self, err := jwtverify.NewSelf(jwtverify.SelfConfig{
		Name: "self", Issuer: e.srv.Issuer(), Audience: []string{"api://orders"}, Algorithms: []string{"ES256"},
		Keys: e.srv.KeyRing(), Revocations: e.srv.Revocations(), RefreshKeys: e.srv.RefreshKeys, Now: e.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(self.Close)
	up, _ := url.Parse(upstream.URL)
	gw := gateway.New(gateway.Options{
		Realm: "test",
		Routes: []*gateway.Route{{
			Route:    &decision.Route{Name: "orders", PathPrefix: "/orders", Authenticators: []decision.Authenticator{self}, RequiredScopes: []string{"orders:read"}},
			Upstream: up,
		}},
		Now: e.clock.Now,
	})
	e.http.Config.Handler = e.srv.Wrap(gw)

	id, secret := e.newClient("orders:read", "orders:write")
	cc := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: e.url + "/oauth2/token"}
	ctx := oauth2ctx(t, e)
	hc := cc.Client(ctx)
	hc.Timeout = 30 * time.Second
	resp, err := hc.Get(e.url + "/orders/1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "hello "+id+" with orders:read orders:write" {
		t.Fatalf("GET /orders/1 through the gateway = %d %q", resp.StatusCode, body)
	}

	tok, err := cc.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r := e.post("/oauth2/revoke", "token="+tok.AccessToken, basic(id, secret)); r.status != http.StatusOK {
		t.Fatalf("revoke = %d %s", r.status, r.body)
	}
	req, _ := http.NewRequestWithContext(testCtx(t), http.MethodGet, e.url+"/orders/1", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	r := e.do(req)
	if r.status != http.StatusUnauthorized || r.json["reason"] != "token_revoked" {
		t.Fatalf("a revoked token through the gateway = %d %s, want 401 token_revoked", r.status, r.body)
	}
	if ch := r.header.Get("WWW-Authenticate"); !strings.Contains(ch, `error="invalid_token"`) {
		t.Errorf("challenge %q lacks invalid_token", ch)
	}
}

// TestSecretWithReservedCharactersAuthenticatesEveryWay: RFC 6749 2.3.1 form-encodes the
// client id and secret before Basic, so a secret with ':', '%', '+', '&' and spaces
// works with Basic (encoded), with the body, and with the oauth2 library.
func TestSecretWithReservedCharactersAuthenticatesEveryWay(t *testing.T) {
	e := newEnv(t)
	const id, secret = "svc:reserved", "p@ss:w%rd+/= &?é"
	e.addClient(id, secret, []string{"a"}, time.Minute)
	cases := []struct {
		name    string
		body    string
		headers []string
		status  int
	}{
		{"BasicFormEncoded", "grant_type=client_credentials", []string{basic(id, secret)}, http.StatusOK},
		{"Post", "grant_type=client_credentials&client_id=" + url.QueryEscape(id) + "&client_secret=" + url.QueryEscape(secret), nil, http.StatusOK},
		// Sent raw, "%rd" is not a valid escape and ":" splits the id: refused, as a
		// client that ignores 2.3.1 must be.
		{"BasicNotEncoded", "grant_type=client_credentials", []string{"Authorization: Basic " + b64(id+":"+secret)}, http.StatusUnauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.post("/oauth2/token", tc.body, tc.headers...)
			if r.status != tc.status {
				t.Fatalf("status %d %s, want %d", r.status, r.body, tc.status)
			}
		})
	}
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
		cc := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: e.url + "/oauth2/token", AuthStyle: style}
		if _, err := cc.Token(oauth2ctx(t, e)); err != nil {
			t.Errorf("oauth2 library with auth style %d: %v", style, err)
		}
	}
}

// TestScopesAreASubsetOfTheClients covers what a client may ask for.
func TestScopesAreASubsetOfTheClients(t *testing.T) {
	e := newEnv(t)
	id, secret := e.newClient("orders:read", "orders:write", "admin")
	for _, tc := range []struct {
		name, scope, want string
	}{
		{"NoneRequestedGetsAll", "", "orders:read orders:write admin"},
		{"Subset", "orders:write", "orders:write"},
		{"SubsetInRequestOrder", "admin orders:read", "admin orders:read"},
		{"DuplicatesCollapse", "admin admin", "admin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := e.token(id, secret, tc.scope)
			_, claims := segments(t, tok)
			if claims["scope"] != tc.want {
				t.Errorf("scope claim = %v, want %q", claims["scope"], tc.want)
			}
		})
	}
}

// TestTokenLifetimeIsTheClients checks exp against the client's ttl and expires_in.
func TestTokenLifetimeIsTheClients(t *testing.T) {
	e := newEnv(t)
	e.addClient("short", "s3cret-s3cret", []string{"a"}, 90*time.Second)
	r := e.post("/oauth2/token", "grant_type=client_credentials", basic("short", "s3cret-s3cret"))
	if r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if r.json["expires_in"] != float64(90) || r.json["token_type"] != "Bearer" {
		t.Errorf("expires_in %v token_type %v", r.json["expires_in"], r.json["token_type"])
	}
	if got := r.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
	if got := r.header.Get("Pragma"); got != "no-cache" {
		t.Errorf("Pragma = %q, want no-cache", got)
	}
	_, claims := segments(t, r.json["access_token"].(string))
	if exp, iat := claims["exp"].(float64), claims["iat"].(float64); exp-iat != 90 {
		t.Errorf("exp - iat = %v, want 90", exp-iat)
	}
	other := e.token("short", "s3cret-s3cret", "")
	_, c2 := segments(t, other)
	if c2["jti"] == claims["jti"] {
		t.Error("two tokens share a jti")
	}
}

// TestMetadataDescribesTheServer checks the RFC 8414 document and the JWKS.
func TestMetadataDescribesTheServer(t *testing.T) {
	e := newEnv(t)
	r := e.get("/.well-known/oauth-authorization-server")
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("metadata = %d %q", r.status, r.header.Get("Content-Type"))
	}
	methods := []any{"client_secret_basic", "client_secret_post"}
	want := map[string]any{
		"issuer":                                e.url,
		"token_endpoint":                        e.url + "/oauth2/token",
		"jwks_uri":                              e.url + "/.well-known/jwks.json",
		"response_types_supported":              []any{},
		"grant_types_supported":                 []any{"client_credentials"},
		"token_endpoint_auth_methods_supported": methods,
		"introspection_endpoint":                e.url + "/oauth2/introspect",
		"introspection_endpoint_auth_methods_supported": methods,
		"revocation_endpoint":                           e.url + "/oauth2/revoke",
		"revocation_endpoint_auth_methods_supported":    methods,
	}
	if diff := cmp.Diff(want, r.json); diff != "" {
		t.Errorf("metadata (-want +got):\n%s", diff)
	}
	j := e.get("/.well-known/jwks.json")
	if j.status != http.StatusOK || j.header.Get("Content-Type") != "application/jwk-set+json" {
		t.Fatalf("jwks = %d %q", j.status, j.header.Get("Content-Type"))
	}
	if !strings.HasPrefix(j.header.Get("Cache-Control"), "public, max-age=") {
		t.Errorf("jwks Cache-Control = %q", j.header.Get("Cache-Control"))
	}
	keys := j.json["keys"].([]any)
	if len(keys) != 1 {
		t.Fatalf("%d keys published, want 1", len(keys))
	}
	k := keys[0].(map[string]any)
	for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
		if _, ok := k[private]; ok {
			t.Errorf("the published key has the private member %q", private)
		}
	}
	if k["kid"] == "" || k["alg"] != "ES256" || k["use"] != "sig" {
		t.Errorf("published key: kid %v alg %v use %v", k["kid"], k["alg"], k["use"])
	}
	for _, tc := range []struct{ method, path string }{
		{http.MethodPost, "/.well-known/jwks.json"}, {http.MethodDelete, "/.well-known/oauth-authorization-server"},
	} {
		req, _ := http.NewRequestWithContext(testCtx(t), tc.method, e.url+tc.path, nil)
		if r := e.do(req); r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s %s = %d Allow %q", tc.method, tc.path, r.status, r.header.Get("Allow"))
		}
	}
}

// TestIssuerWithPathServesEndpointsBelowIt: an issuer with a path puts the endpoints
// below it and the metadata at /.well-known/oauth-authorization-server/<path> (RFC 8414
// section 3.1), and Wrap leaves every other path to the gateway.
func TestIssuerWithPathServesEndpointsBelowIt(t *testing.T) {
	st := newEnv(t).st // a store with nothing but a key
	srv, err := issuer.New(testCtx(t), issuer.Options{Issuer: "https://api.example/auth", Store: st, SigningKeySecret: testSecret, Realm: "r"})
	if err != nil {
		t.Fatal(err)
	}
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	h := srv.Wrap(next)
	for path, want := range map[string]int{
		"/auth/oauth2/token":                           http.StatusMethodNotAllowed, // ours: GET is refused
		"/auth/.well-known/jwks.json":                  http.StatusOK,
		"/.well-known/oauth-authorization-server/auth": http.StatusOK,
		"/oauth2/token":                                http.StatusTeapot,
		"/.well-known/oauth-authorization-server":      http.StatusTeapot,
		"/auth/oauth2/token/":                          http.StatusTeapot,
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != want {
			t.Errorf("GET %s = %d, want %d", path, rec.Code, want)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/.well-known/oauth-authorization-server/auth", nil))
	var md map[string]any
	json.Unmarshal(rec.Body.Bytes(), &md)
	if md["issuer"] != "https://api.example/auth" || md["token_endpoint"] != "https://api.example/auth/oauth2/token" {
		t.Errorf("metadata issuer %v token_endpoint %v", md["issuer"], md["token_endpoint"])
	}
}

// TestNewRefusesInsecureSettings: the security settings have no default.
func TestNewRefusesInsecureSettings(t *testing.T) {
	st := newEnv(t).st
	good := issuer.Options{Issuer: "https://id.example", Store: st, SigningKeySecret: testSecret, Realm: "r"}
	for _, tc := range []struct {
		name   string
		mutate func(o *issuer.Options)
		want   string
	}{
		{"PlainHTTPIssuer", func(o *issuer.Options) { o.Issuer = "http://id.example" }, "must be an https URL"},
		{"IssuerWithQuery", func(o *issuer.Options) { o.Issuer = "https://id.example/?a=b" }, "query or fragment"},
		{"NoIssuer", func(o *issuer.Options) { o.Issuer = "" }, "issuer URL is required"},
		{"ShortSecret", func(o *issuer.Options) { o.SigningKeySecret = []byte("short") }, "at least 32 are required"},
		{"HMACAlgorithm", func(o *issuer.Options) { o.Algorithm = "HS256" }, "not one of ES256, EdDSA, RS256"},
		{"NoRealm", func(o *issuer.Options) { o.Realm = "" }, "realm is required"},
		{"NoStore", func(o *issuer.Options) { o.Store = nil }, "a store is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := good
			tc.mutate(&o)
			_, err := issuer.New(testCtx(t), o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if _, err := issuer.New(testCtx(t), good); err != nil {
		t.Errorf("New with good options: %v", err)
	}
}

// TestAnotherSecretCannotOpenTheStoredKeys: a server started with the wrong
// signing_key_secret refuses to start and says why, instead of minting a new key.
func TestAnotherSecretCannotOpenTheStoredKeys(t *testing.T) {
	st := newEnv(t).st
	_, err := issuer.New(testCtx(t), issuer.Options{Issuer: "https://id.example", Store: st, Realm: "r",
		SigningKeySecret: []byte("another-secret-another-secret-another-secret")})
	if err == nil || !strings.Contains(err.Error(), "another signing_key_secret") {
		t.Fatalf("New with another secret = %v", err)
	}
	keys, _ := st.SigningKeys(testCtx(t))
	if len(keys) != 1 {
		t.Errorf("%d keys stored, want the original 1", len(keys))
	}
}

// TestPrivateKeysAreStoredSealed: what the store holds is not the key.
func TestPrivateKeysAreStoredSealed(t *testing.T) {
	e := newEnv(t, withAlgorithm("RS256"))
	keys, err := e.st.SigningKeys(testCtx(t))
	if err != nil || len(keys) != 1 {
		t.Fatalf("SigningKeys = %d keys, %v", len(keys), err)
	}
	k := keys[0]
	if k.PrivateKey[0] != 1 || len(k.PrivateKey) < 1000 {
		t.Errorf("the stored private key does not look sealed: version %d, %d bytes", k.PrivateKey[0], len(k.PrivateKey))
	}
	// A PKCS #8 RSA key starts with SEQUENCE, INTEGER 0, and the rsaEncryption OID.
	if strings.Contains(string(k.PrivateKey), "\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01") {
		t.Error("the stored private key holds the PKCS #8 algorithm identifier in clear")
	}
	if k.Algorithm != "RS256" {
		t.Errorf("stored algorithm %q, want RS256", k.Algorithm)
	}
}
