package config

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// tsHead is a valid configuration with a self-issued jwt authenticator (lines 1-6),
// followed by a token_service block the case writes from line 7 on.
const tsHead = "realm: test\n" +
	"authenticators:\n" +
	"  own: {type: jwt, issuer: self, audience: api://orders}\n" +
	"routes:\n" +
	"  - {match: {path_prefix: /}, authenticate: [own], upstream: http://127.0.0.1:9}\n" +
	"token_service:\n"

const signingSecret = "0123456789abcdef0123456789abcdef0123"

func TestTokenServiceBlockLoadsWithDefaults(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"sk": signingSecret + "\n"})
	c, err := Parse([]byte(tsHead+"  issuer: https://api.example\n  signing_key_secret_file: sk\n"), dir, noEnv)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	ts := c.TokenService
	if ts == nil {
		t.Fatal("TokenService is nil")
	}
	got := struct {
		Issuer, Alg, Audience string
		TTL                   time.Duration
		Secret                string
		SelfAlgs              []string
	}{ts.Issuer, ts.SigningAlgorithm, ts.Audience, ts.AccessTokenTTL, string(ts.SigningKeySecret.Reveal()), c.Authenticators["own"].JWT.Algorithms}
	want := got
	want.Issuer, want.Alg, want.Audience, want.TTL, want.Secret, want.SelfAlgs = "https://api.example", "ES256", "", 10*time.Minute, signingSecret, []string{"ES256"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("token service (-want +got):\n%s", diff)
	}
}

func TestSelfAlgorithmsDefaultToTheSigningAlgorithm(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"sk": signingSecret})
	// token_service comes after the authenticator in the file; the default still applies.
	c, err := Parse([]byte(tsHead+"  {issuer: https://api.example, signing_key_secret_file: sk, signing_algorithm: EdDSA,\n   audience: api://orders, access_token_ttl: 1h}\n"), dir, noEnv)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if diff := cmp.Diff([]string{"EdDSA"}, c.Authenticators["own"].JWT.Algorithms); diff != "" {
		t.Errorf("self algorithms (-want +got):\n%s", diff)
	}
	if c.TokenService.AccessTokenTTL != time.Hour || c.TokenService.Audience != "api://orders" {
		t.Errorf("ttl %v audience %q", c.TokenService.AccessTokenTTL, c.TokenService.Audience)
	}
}

func TestTokenServiceProblemsCarryLineAndMessage(t *testing.T) {
	files := map[string]string{"sk": signingSecret, "short": "too short"}
	good := "  issuer: https://api.example\n  signing_key_secret_file: sk\n"
	tests := []struct {
		name string
		yaml string
		want []want
	}{
		{"EmptyBlock", tsHead + "  {}\n", []want{{6, "token_service.issuer: required"}, {6, "token_service.signing_key_secret: required: give signing_key_secret_file"}}},
		{"PlainHTTPIssuer", tsHead + "  issuer: http://api.example\n  signing_key_secret_file: sk\n", []want{{7, `token_service.issuer: "http://api.example" must be an https:// URL`}}},
		{"LoopbackHTTPIssuerIsFine", tsHead + "  issuer: http://127.0.0.1:8080\n  signing_key_secret_file: sk\n", nil},
		{"IssuerWithQuery", tsHead + "  issuer: https://api.example/?x=1\n  signing_key_secret_file: sk\n", []want{{7, "must not hold a query"}}},
		{"IssuerWithFragment", tsHead + "  issuer: \"https://api.example/#x\"\n  signing_key_secret_file: sk\n", []want{{7, "must not hold a fragment"}}},
		{"ShortSecret", tsHead + "  issuer: https://api.example\n  signing_key_secret_file: short\n", []want{{8, "token_service.signing_key_secret: the secret is 9 bytes; at least 32 are required"}}},
		{"SecretTwice", tsHead + good + "  signing_key_secret: " + signingSecret + "\n", []want{{9, "give signing_key_secret or signing_key_secret_file, not both"}}},
		{"HMACSigningAlgorithm", tsHead + good + "  signing_algorithm: HS256\n", []want{{9, `token_service.signing_algorithm: "HS256" is not a signing algorithm of the token service: use ES256, EdDSA, RS256`}}},
		{"LowerCaseSigningAlgorithm", tsHead + good + "  signing_algorithm: es256\n", []want{{9, `did you mean "ES256"?`}}},
		{"TTLTooLong", tsHead + good + "  access_token_ttl: 25h\n", []want{{9, "token_service.access_token_ttl: must be from 1s to 24h, not 25h"}}},
		{"AudienceWithSpace", tsHead + good + "  audience: \"api orders\"\n", []want{{9, "token_service.audience: must be printable ASCII without spaces"}}},
		{"UnknownKey", tsHead + good + "  signing_algo: ES256\n", []want{{9, `unknown key "signing_algo" in token_service (did you mean "signing_algorithm"?)`}}},
		{"NotAMapping", tsHead + "  [a]\n", []want{{7, "token_service: expected a mapping, found a sequence"}}},
		{"SelfWithoutTheSigningAlgorithm",
			strings.Replace(tsHead, "audience: api://orders}", "audience: api://orders, algorithms: [RS256]}", 1) + good,
			[]want{{3, "authenticators.own.algorithms: does not include ES256, the token service's signing_algorithm"}}},
		{"SelfWithAnAlgorithmNothingSigns",
			strings.Replace(tsHead, "audience: api://orders}", "audience: api://orders, algorithms: [ES256, PS256]}", 1) + good,
			[]want{{3, "authenticators.own.algorithms[1]: PS256: the token service signs only with ES256, EdDSA, RS256"}}},
		{"SelfWithoutTokenService", strings.TrimSuffix(tsHead, "token_service:\n"), []want{{3, `authenticators.own.issuer: issuer "self" needs Gatehouse's token service: add a token_service block`}}},
		{"SelfWithAKeySource",
			strings.Replace(tsHead, "audience: api://orders}", "audience: api://orders, jwks_url: https://id.example/k}", 1) + good,
			[]want{{3, `authenticators.own.jwks_url: issuer "self" verifies with the token service's own keys: remove jwks_url`}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, files)
			_, err := Parse([]byte(tc.yaml), dir, noEnv)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("want no problem, got:\n%v", err)
				}
				return
			}
			got := problemsOf(t, err)
			if !matches(got, tc.want) {
				t.Errorf("problems:\n%s\nwant:\n%s", formatProblems(got), formatWants(tc.want))
			}
		})
	}
}

func TestSigningKeySecretNeverAppearsInProblems(t *testing.T) {
	dir := t.TempDir()
	_, err := Parse([]byte(tsHead+"  issuer: ftp://x\n  signing_key_secret: hunter2-not-long-enough\n"), dir, noEnv)
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("problems = %v", err)
	}
}

func TestSelfFingerprintFollowsTheTokenService(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"sk": signingSecret, "sk2": signingSecret + "x"})
	load := func(block string) string {
		c, err := Parse([]byte(tsHead+block), dir, noEnv)
		if err != nil {
			t.Fatal(err)
		}
		return c.Fingerprint("own")
	}
	base := load("  {issuer: https://api.example, signing_key_secret_file: sk}\n")
	for name, block := range map[string]string{
		"Issuer":    "  {issuer: https://other.example, signing_key_secret_file: sk}\n",
		"Secret":    "  {issuer: https://api.example, signing_key_secret_file: sk2}\n",
		"Algorithm": "  {issuer: https://api.example, signing_key_secret_file: sk, signing_algorithm: RS256}\n",
	} {
		if load(block) == base {
			t.Errorf("changing the token service's %s leaves the self authenticator's fingerprint unchanged", name)
		}
	}
	if load("  {issuer: https://api.example, signing_key_secret_file: sk}\n") != base {
		t.Error("the same configuration gives another fingerprint")
	}
}
