package jwt

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/tokens"
)

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func b64JSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b64(b)
}

// unsigned builds header.claims. with no signature.
func unsigned(t testing.TB, header, claims any) string {
	return b64JSON(t, header) + "." + b64JSON(t, claims) + "."
}

func hs256(t testing.TB, header, claims any, key []byte) string {
	input := b64JSON(t, header) + "." + b64JSON(t, claims)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(input))
	return input + "." + b64(m.Sum(nil))
}

// fileAuthenticator is an ES256+RS256 authenticator over a JWKS file with the es and rs keys.
func fileAuthenticator(t testing.TB, clk *clock, mod func(*Config)) *Authenticator {
	t.Helper()
	s := signers(t)
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, tokens.PublicJWKS(s.es.Key(), s.rs.Key()), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Name: "corp_jwt", Issuer: testIssuer, Audience: []string{testAudience},
		Algorithms: []string{"ES256", "RS256"}, JWKSFile: path, Leeway: 30 * time.Second, Now: clk.Now,
	}
	if mod != nil {
		mod(&cfg)
	}
	return mustNew(t, cfg)
}

func TestAuthenticateRefusesWithTheRightReason(t *testing.T) {
	s := signers(t)
	clk := newClock()
	now := clk.Now()
	a := fileAuthenticator(t, clk, nil)
	rsOnly := fileAuthenticator(t, clk, func(c *Config) { c.Algorithms = []string{"RS256"} })
	rsaPub, _ := s.rs.Key().Public()
	der, err := x509.MarshalPKIXPublicKey(rsaPub.Public())
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	good := sign(t, s.es, claimsAt(now))
	parts := strings.Split(good, ".")
	attackerJWK := json.RawMessage(s.attacker.Key().PublicJWK())
	signH := func(sg *tokens.Signer, h map[string]any) string {
		tok, err := sg.SignWithHeader(claimsAt(now), h)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}

	tests := []struct {
		name   string
		auth   *Authenticator
		token  string
		reason decision.Reason
		detail string // exact when it starts with "=", else a substring
	}{
		{name: "expired", token: sign(t, s.es, claimsAt(now, "exp", now.Add(-4*time.Minute-12*time.Second).Unix())), reason: decision.TokenExpired, detail: "=expired 4m12s ago"},
		{name: "expired just past the leeway", token: sign(t, s.es, claimsAt(now, "exp", now.Add(-31*time.Second).Unix())), reason: decision.TokenExpired, detail: "=expired 31s ago"},
		{name: "not yet valid", token: sign(t, s.es, claimsAt(now, "nbf", now.Add(3*time.Minute).Unix())), reason: decision.TokenNotYetValid, detail: "=not valid before 2026-03-01T12:03:00Z, 3m from now; check the clocks of the issuer and of this API"},
		{name: "issued in the future", token: sign(t, s.es, claimsAt(now, "iat", now.Add(40*time.Second).Unix())), reason: decision.TokenNotYetValid, detail: "issued 40s in the future"},
		{name: "wrong issuer", token: sign(t, s.es, claimsAt(now, "iss", "https://a")), reason: decision.TokenIssuerMismatch, detail: "=issuer is https://a, this API expects https://id.example"},
		{name: "issuer differs by a trailing slash", token: sign(t, s.es, claimsAt(now, "iss", testIssuer+"/")), reason: decision.TokenIssuerMismatch},
		{name: "no issuer", token: sign(t, s.es, claimsAt(now, "iss", nil)), reason: decision.TokenIssuerMismatch, detail: "the token has no issuer (iss)"},
		{name: "audience none of", token: sign(t, s.es, claimsAt(now, "aud", "api://billing")), reason: decision.TokenAudienceMismatch, detail: "=audience is api://billing, this API expects api://orders"},
		{name: "audience array none of", token: sign(t, s.es, claimsAt(now, "aud", []string{"api://billing", "api://x"})), reason: decision.TokenAudienceMismatch, detail: "=audience is [api://billing, api://x], this API expects api://orders"},
		{name: "no audience", token: sign(t, s.es, claimsAt(now, "aud", nil)), reason: decision.TokenAudienceMismatch, detail: "the token has no audience (aud)"},
		{name: "algorithm not in allow-list", auth: rsOnly, token: good, reason: decision.TokenAlgorithmRejected, detail: "=algorithm ES256 is not accepted; accepted: RS256"},
		{name: "alg none", token: unsigned(t, map[string]any{"alg": "none"}, claimsAt(now)), reason: decision.TokenAlgorithmRejected, detail: "unsigned tokens are never accepted"},
		{name: "alg NONE", token: unsigned(t, map[string]any{"alg": "NONE"}, claimsAt(now)), reason: decision.TokenAlgorithmRejected},
		{name: "alg nOnE", token: unsigned(t, map[string]any{"alg": "nOnE", "kid": "es-1"}, claimsAt(now)), reason: decision.TokenAlgorithmRejected},
		{name: "HS256 signed with the RSA public key on an RS256 authenticator", auth: rsOnly, token: hs256(t, map[string]any{"alg": "HS256", "kid": "rs-1"}, claimsAt(now), pemKey), reason: decision.TokenAlgorithmRejected, detail: "=algorithm HS256 is not accepted; accepted: RS256"},
		{name: "empty signature", token: parts[0] + "." + parts[1] + ".", reason: decision.TokenSignatureInvalid, detail: "=the token's signature is empty"},
		{name: "forged claims", token: parts[0] + "." + b64JSON(t, claimsAt(now, "sub", "admin")) + "." + parts[2], reason: decision.TokenSignatureInvalid},
		{name: "crit header", token: signH(s.es, map[string]any{"crit": []string{"x"}, "x": 1}), reason: decision.CredentialsMalformed, detail: "crit"},
		{name: "embedded jwk with the attacker's own key", token: signH(s.attacker, map[string]any{"jwk": attackerJWK}), reason: decision.TokenSignatureInvalid},
		{name: "kid unknown", token: func() string {
			k := *s.attacker.Key()
			k.ID = "k9"
			sg, _ := tokens.NewSigner(&k)
			return sign(t, sg, claimsAt(now))
		}(), reason: decision.TokenKeyUnknown, detail: `=key id "k9" is not in the issuer's key set`},
		{name: "huge token", token: "eyJ" + strings.Repeat("A", 16<<10), reason: decision.CredentialsMalformed, detail: "at most 16384 are accepted"},
		{name: "opaque token", token: "2YotnFZFEjr1zCsicMWpAA", reason: decision.CredentialsMalformed, detail: "the token is not a JWT"},
		{name: "broken JSON in claims under another token's signature", token: parts[0] + "." + b64([]byte(`{"sub":`)) + "." + parts[2], reason: decision.TokenSignatureInvalid},
		{name: "no exp", token: sign(t, s.es, claimsAt(now, "exp", nil)), reason: decision.CredentialsMalformed, detail: "the token has no expiry (exp)"},
		{name: "no subject", token: sign(t, s.es, claimsAt(now, "sub", nil)), reason: decision.CredentialsMalformed, detail: "names no subject"},
		{name: "exp not a number", token: sign(t, s.es, claimsAt(now, "exp", "soon")), reason: decision.CredentialsMalformed, detail: `"exp" claim is not a NumericDate`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			auth := tt.auth
			if auth == nil {
				auth = a
			}
			p, err := auth.Authenticate(ctxT(t), bearer(tt.token))
			if err == nil {
				t.Fatalf("accepted: %+v", p)
			}
			var f *decision.Failure
			if !errors.As(err, &f) {
				t.Fatalf("error %T %v is not a *decision.Failure", err, err)
			}
			if f.Reason != tt.reason {
				t.Errorf("reason %s (%q), want %s", f.Reason, f.Detail, tt.reason)
			}
			if want, exact := strings.CutPrefix(tt.detail, "="); exact && f.Detail != want {
				t.Errorf("detail %q, want %q", f.Detail, want)
			} else if !exact && !strings.Contains(f.Detail, tt.detail) {
				t.Errorf("detail %q, want it to contain %q", f.Detail, tt.detail)
			}
			sum := sha256.Sum256([]byte(tt.token))
			if f.CredentialID != hex.EncodeToString(sum[:]) {
				t.Errorf("CredentialID %q is not the token's SHA-256", f.CredentialID)
			}
			if f.Fingerprint != hex.EncodeToString(sum[:4]) {
				t.Errorf("Fingerprint %q", f.Fingerprint)
			}
			for _, seg := range strings.Split(tt.token, ".") {
				if len(seg) >= 12 && (strings.Contains(f.Detail, seg) || strings.Contains(f.Cause, seg)) {
					t.Errorf("failure echoes a token segment: %+v", f)
				}
			}
		})
	}
}

func TestBrokenJSONInSignedClaimsIsMalformed(t *testing.T) {
	// The signature covers the broken claims, so this is a malformed token, not a forgery.
	secret := []byte(strings.Repeat("k", 32))
	clk := newClock()
	a := mustNew(t, Config{Name: "h", Issuer: testIssuer, Audience: []string{testAudience},
		Algorithms: []string{"HS256"}, Secret: secret, Now: clk.Now})
	input := b64JSON(t, map[string]any{"alg": "HS256"}) + "." + b64([]byte(`{"sub":"u",`))
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(input))
	_, err := a.Authenticate(ctxT(t), bearer(input+"."+b64(m.Sum(nil))))
	var f *decision.Failure
	if !errors.As(err, &f) || f.Reason != decision.CredentialsMalformed || f.Detail != "the claims segment is not a JSON object" {
		t.Fatalf("got %v", err)
	}
}

func TestAuthenticateAccepts(t *testing.T) {
	s := signers(t)
	clk := newClock()
	now := clk.Now()
	a := fileAuthenticator(t, clk, func(c *Config) { c.Audience = []string{"api://orders", "api://legacy"} })
	tests := []struct {
		name   string
		signer *tokens.Signer
		claims map[string]any
		want   decision.Principal
	}{
		{name: "ES256 with scope string", signer: s.es, claims: claimsAt(now),
			want: decision.Principal{Subject: "user-42", Scopes: []string{"orders:read", "orders:write"}, Fingerprint: "kid=es-1 jti=j-1"}},
		{name: "RS256 with scp array", signer: s.rs, claims: claimsAt(now, "scope", nil, "scp", []string{"a", "b"}),
			want: decision.Principal{Subject: "user-42", Scopes: []string{"a", "b"}, Fingerprint: "kid=rs-1 jti=j-1"}},
		{name: "audience one of many", signer: s.es, claims: claimsAt(now, "aud", []string{"api://x", "api://legacy"}),
			want: decision.Principal{Subject: "user-42", Scopes: []string{"orders:read", "orders:write"}, Fingerprint: "kid=es-1 jti=j-1"}},
		{name: "expired within the leeway", signer: s.es, claims: claimsAt(now, "exp", now.Add(-20*time.Second).Unix(), "jti", nil),
			want: decision.Principal{Subject: "user-42", Scopes: []string{"orders:read", "orders:write"}, Fingerprint: "kid=es-1"}},
		{name: "nbf and iat within the leeway", signer: s.es, claims: claimsAt(now, "nbf", now.Add(20*time.Second).Unix(), "iat", now.Add(25*time.Second).Unix()),
			want: decision.Principal{Subject: "user-42", Scopes: []string{"orders:read", "orders:write"}, Fingerprint: "kid=es-1 jti=j-1"}},
		{name: "client credentials token without sub", signer: s.es, claims: claimsAt(now, "sub", nil, "client_id", "svc-7", "scope", nil),
			want: decision.Principal{Subject: "svc-7", Fingerprint: "kid=es-1 jti=j-1"}},
		{name: "hostile jti is kept out of the fingerprint", signer: s.es, claims: claimsAt(now, "jti", "a b\nc"),
			want: decision.Principal{Subject: "user-42", Scopes: []string{"orders:read", "orders:write"}, Fingerprint: "kid=es-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := a.Authenticate(ctxT(t), bearer(sign(t, tt.signer, tt.claims)))
			if err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
			want := tt.want
			want.Authenticator = "corp_jwt"
			want.ExpiresAt = time.Unix(tt.claims["exp"].(int64), 0).UTC()
			if diff := cmp.Diff(want, p, cmpopts.IgnoreFields(decision.Principal{}, "Claims")); diff != "" {
				t.Errorf("principal (-want +got):\n%s", diff)
			}
			// Claims holds every verified claim, numbers as json.Number.
			if p.Claims["iss"] != testIssuer || p.Claims["exp"] != json.Number(fmt.Sprint(tt.claims["exp"])) {
				t.Errorf("claims = %v", p.Claims)
			}
		})
	}
}

func TestHMACAuthenticatorFingerprintsByHashWithoutKidOrJti(t *testing.T) {
	secret := []byte(strings.Repeat("s", 32))
	clk := newClock()
	a := mustNew(t, Config{Name: "h", Issuer: testIssuer, Audience: []string{testAudience},
		Algorithms: []string{"HS256"}, Secret: secret, Now: clk.Now})
	tok := hs256(t, map[string]any{"alg": "HS256"}, claimsAt(clk.Now(), "jti", nil), secret)
	p, err := a.Authenticate(ctxT(t), bearer(tok))
	if err != nil {
		t.Fatal(err)
	}
	if want := decision.Fingerprint(tok); p.Fingerprint != want {
		t.Errorf("fingerprint %q, want %q", p.Fingerprint, want)
	}
	// The same secret must not let an RS256-only authenticator accept it, and the HMAC
	// authenticator must refuse public-key algorithms.
	_, err = a.Authenticate(ctxT(t), bearer(sign(t, signers(t).es, claimsAt(clk.Now()))))
	var f *decision.Failure
	if !errors.As(err, &f) || f.Reason != decision.TokenAlgorithmRejected {
		t.Fatalf("ES256 token on an HMAC authenticator: %v", err)
	}
}

func TestClaims(t *testing.T) {
	a := fileAuthenticator(t, newClock(), nil)
	jwt := sign(t, signers(t).es, claimsAt(t0))
	tests := []struct {
		name string
		c    decision.Credential
		want decision.Match
	}{
		{"JWT naming this issuer", bearer(jwt), decision.IssuerMatch},
		{"JWT naming another issuer", bearer(sign(t, signers(t).es, claimsAt(t0, "iss", "https://other.example"))), decision.OtherIssuer},
		{"JWT naming this issuer with a trailing slash", bearer(sign(t, signers(t).es, claimsAt(t0, "iss", testIssuer+"/"))), decision.OtherIssuer},
		{"JWT naming no issuer", bearer(sign(t, signers(t).es, claimsAt(t0, "iss", nil))), decision.OtherIssuer},
		{"JWT whose iss is not a string", bearer(sign(t, signers(t).es, claimsAt(t0, "iss", 7))), decision.ShapeMatch},
		{"JWT whose claims are not JSON", bearer("eyJhbGciOiJFUzI1NiJ9.bm90IGpzb24.c2ln"), decision.ShapeMatch},
		{"opaque Bearer token", bearer("2YotnFZFEjr1zCsicMWpAA"), decision.SchemeMatch},
		{"API key as Bearer", bearer("gk_live_abc_def"), decision.NoMatch},
		{"Basic", decision.Credential{Source: decision.FromAuthorization, Scheme: "basic", Value: "dXNlcjpwYXNz"}, decision.NoMatch},
		{"JWT in a header", decision.Credential{Source: decision.FromHeader, Name: "X-API-Key", Value: jwt}, decision.NoMatch},
		{"JWT in the query", decision.Credential{Source: decision.FromQuery, Name: "access_token", Value: jwt}, decision.NoMatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := a.Claims(tt.c); got != tt.want {
				t.Errorf("Claims = %v, want %v", got, tt.want)
			}
		})
	}
	if a.Scheme() != "Bearer" || a.Locations() != nil || a.Name() != "corp_jwt" {
		t.Errorf("Scheme %q Locations %v Name %q", a.Scheme(), a.Locations(), a.Name())
	}
	if a.Issuer() != testIssuer {
		t.Errorf("Issuer = %q", a.Issuer())
	}
	for _, tt := range []struct {
		tok  string
		want string
		ok   bool
	}{
		{sign(t, signers(t).es, claimsAt(t0, "iss", "https://other.example")), "https://other.example", true},
		{sign(t, signers(t).es, claimsAt(t0, "iss", "https://x.example/\n\x00")), `"https://x.example/\n\x00"`, true},
		{sign(t, signers(t).es, claimsAt(t0, "iss", "a\ab")), `"a\ab"`, true},
		{sign(t, signers(t).es, claimsAt(t0, "iss", nil)), "", false},
		{"opaque", "", false},
	} {
		if got, ok := a.CredentialIssuer(bearer(tt.tok)); got != tt.want || ok != tt.ok {
			t.Errorf("CredentialIssuer = %q, %v; want %q, %v", got, ok, tt.want, tt.ok)
		}
	}
}

func TestNewRefusesUnsafeOrIncompleteConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(good, tokens.PublicJWKS(signers(t).es.Key()), 0o600); err != nil {
		t.Fatal(err)
	}
	notJSON := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(notJSON, []byte("<html>"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := func() Config {
		return Config{Name: "j", Issuer: testIssuer, Audience: []string{testAudience}, Algorithms: []string{"ES256"}, JWKSFile: good}
	}
	tests := []struct {
		name string
		mod  func(*Config)
		want []string
	}{
		{"no name", func(c *Config) { c.Name = "" }, []string{"name is required"}},
		{"no issuer, audience or algorithms", func(c *Config) { c.Issuer, c.Audience, c.Algorithms = "", nil, nil },
			[]string{"issuer is required", "audience is required", "the allow-list is empty"}},
		{"empty audience entry", func(c *Config) { c.Audience = []string{""} }, []string{"audience has an empty entry"}},
		{"alg none", func(c *Config) { c.Algorithms = []string{"ES256", "none"} }, []string{`"none" is never accepted`}},
		{"no key source", func(c *Config) { c.JWKSFile = "" }, []string{"exactly one of jwks_file, jwks_url (or discovery) and secret_file is required (0 given)"}},
		{"two key sources", func(c *Config) { c.JWKSURL = "https://id.example/jwks" }, []string{"(2 given)"}},
		{"HMAC algorithm with a key set", func(c *Config) { c.Algorithms = []string{"ES256", "HS256"} }, []string{"accepted only with secret_file"}},
		{"public algorithm with a secret", func(c *Config) { c.JWKSFile, c.Secret = "", make([]byte, 32) }, []string{"algorithms must be HS256, HS384 or HS512 only"}},
		{"short secret", func(c *Config) { c.JWKSFile, c.Secret, c.Algorithms = "", make([]byte, 16), []string{"HS256"} }, []string{"at least 32 are required"}},
		{"HS512 with a 32-byte secret", func(c *Config) { c.JWKSFile, c.Secret, c.Algorithms = "", make([]byte, 32), []string{"HS512"} }, []string{"HS512 needs a secret of at least 64 bytes"}},
		{"plain http JWKS URL", func(c *Config) { c.JWKSFile, c.JWKSURL = "", "http://id.example/jwks" }, []string{"jwks_url must be an https URL"}},
		{"unreadable JWKS file", func(c *Config) { c.JWKSFile = filepath.Join(dir, "missing.json") }, []string{"jwks_file: open"}},
		{"JWKS file not JSON", func(c *Config) { c.JWKSFile = notJSON }, []string{"the document is not a JSON object"}},
		{"leeway too large", func(c *Config) { c.Leeway = time.Hour }, []string{"leeway must be between 0 and 5m0s"}},
		{"negative durations", func(c *Config) { c.MaxStale, c.MinRefresh = -1, -1 }, []string{"max_stale must not be negative", "min_refresh must not be negative"}},
		{"sub-second min refresh", func(c *Config) { c.MinRefresh = time.Millisecond }, []string{"min_refresh must be at least 1s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base()
			tt.mod(&cfg)
			_, err := New(cfg)
			if err == nil {
				t.Fatal("New accepted the config")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	t.Run("loopback http is allowed", func(t *testing.T) {
		for _, u := range []string{"http://127.0.0.1:1/jwks", "http://[::1]:1/jwks", "http://localhost:1/jwks", "https://id.example/jwks"} {
			cfg := base()
			cfg.JWKSFile, cfg.JWKSURL = "", u
			if _, err := New(cfg); err != nil {
				t.Errorf("%s: %v", u, err)
			}
		}
	})
}
