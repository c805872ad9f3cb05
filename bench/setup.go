package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/tokens"
)

// The issuer and audience of the harness's tokens.
const (
	benchIssuer   = "https://issuer.bench.invalid"
	benchAudience = "api://bench"
)

// issuer signs the harness's tokens with an ES256 and an RS256 key.
type issuer struct {
	es, rs *tokens.Signer
	jwks   string // path of the public JWK Set
}

func newIssuer(dir string) (*issuer, error) {
	esKey, err := tokens.GenerateES256()
	if err != nil {
		return nil, err
	}
	rsKey, err := tokens.GenerateRS256()
	if err != nil {
		return nil, err
	}
	is := &issuer{jwks: filepath.Join(dir, "jwks.json")}
	if is.es, err = tokens.NewSigner(esKey); err != nil {
		return nil, err
	}
	if is.rs, err = tokens.NewSigner(rsKey); err != nil {
		return nil, err
	}
	if err := os.WriteFile(is.jwks, tokens.PublicJWKS(esKey, rsKey), 0o600); err != nil {
		return nil, err
	}
	return is, nil
}

// claims are a valid access token's claims; n makes each token distinct (jti).
func claims(iss, aud string, n int) map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": iss, "aud": aud, "sub": "user-" + strconv.Itoa(n%1000), "jti": "t" + strconv.Itoa(n),
		"iat": now.Unix(), "exp": now.Add(3 * time.Hour).Unix(), "scope": "orders:read orders:write",
		"email": "user" + strconv.Itoa(n%1000) + "@bench.invalid", "email_verified": true,
	}
}

func (is *issuer) token(s *tokens.Signer, n int) (string, error) {
	return s.Sign(claims(benchIssuer, benchAudience, n))
}

// badSignature returns tok with one character of its signature changed: the same
// header (a known kid) and claims, so the key is found and the signature check fails.
func badSignature(tok string) string {
	i := strings.LastIndexByte(tok, '.') + (len(tok)-strings.LastIndexByte(tok, '.'))/2
	c := byte('A')
	if tok[i] == 'A' {
		c = 'B'
	}
	return tok[:i] + string(c) + tok[i+1:]
}

// unknownKid returns tok with a header naming a key id the key set does not hold.
func unknownKid(tok, alg string, n int) string {
	hdr, _ := json.Marshal(map[string]string{"alg": alg, "kid": "bench-unknown-" + strconv.Itoa(n), "typ": "JWT"})
	_, rest, _ := strings.Cut(tok, ".")
	return base64.RawURLEncoding.EncodeToString(hdr) + "." + rest
}

// tokenLine is one line of a tokens file: the status the request must get and the value
// of the credential header.
type tokenLine struct {
	expect int
	value  string
}

func writeTokens(path string, lines []tokenLine) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for _, l := range lines {
		fmt.Fprintf(w, "%d\t%s\n", l.expect, l.value)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// mixedTokens alternates valid tokens (200) and invalid ones (401): every other invalid
// one has a bad signature, the rest an unknown kid. Each token is distinct.
func (is *issuer) mixedTokens(valid, invalid, offset int) ([]tokenLine, error) {
	var good, bad []tokenLine
	for i := range valid {
		t, err := is.token(is.es, offset+i)
		if err != nil {
			return nil, err
		}
		good = append(good, tokenLine{200, "Bearer " + t})
	}
	for i := range invalid {
		t, err := is.token(is.es, offset+valid+i)
		if err != nil {
			return nil, err
		}
		if i%2 == 0 {
			t = badSignature(t)
		} else {
			t = unknownKid(t, "ES256", offset+i)
		}
		bad = append(bad, tokenLine{401, "Bearer " + t})
	}
	out := make([]tokenLine, 0, valid+invalid)
	for i := 0; i < max(valid, invalid); i++ {
		if i < valid {
			out = append(out, good[i])
		}
		if i < invalid {
			out = append(out, bad[i])
		}
	}
	return out, nil
}

// gatewayConfig is the bench gateway's configuration. The failure budget is set far
// above any rate the harness reaches, so that the invalid-token rows measure the
// verification of every bad token rather than the cheap 429 that the default budget
// (30/min per client) would answer after the first 30 failures.
func gatewayConfig(upstream, jwks, logLevel string) string {
	return fmt.Sprintf(`listen: {{listen}}
admin_listen: {{admin}}
realm: bench
log: {level: %[5]s}
store: sqlite://gatehouse.db
trusted_proxies: [127.0.0.1/32]
failure_budget: {per_client: 1000000/s, per_credential: 1000000/s}
authenticators:
  es: {type: jwt, issuer: %[3]q, audience: [%[4]q], algorithms: [ES256], jwks_file: %[2]q}
  rs: {type: jwt, issuer: %[3]q, audience: [%[4]q], algorithms: [RS256], jwks_file: %[2]q}
  keys: {type: api_key, header: X-API-Key}
  staff: {type: basic, cache_ttl: 5m}
routes:
  - {name: anon, match: {path_prefix: /anon}, upstream: %[1]q, authenticate: anonymous}
  - {name: es, match: {path_prefix: /es}, upstream: %[1]q, authenticate: [es]}
  - {name: rs, match: {path_prefix: /rs}, upstream: %[1]q, authenticate: [rs]}
  - {name: key, match: {path_prefix: /key}, upstream: %[1]q, authenticate: [keys]}
  - {name: basic, match: {path_prefix: /basic}, upstream: %[1]q, authenticate: [staff]}
`, upstream, jwks, benchIssuer, benchAudience, logLevel)
}
