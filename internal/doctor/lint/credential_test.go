package lint

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/doctor/finding"
	"github.com/google/go-cmp/cmp"
)

// makeJWT builds a compact JWS with the given header, claims and a signature of sigLen
// bytes. Nothing verifies it; the lint only looks at its shape.
func makeJWT(t testing.TB, header, claims map[string]any, sigLen int) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	sig := make([]byte, sigLen)
	for i := range sig {
		sig[i] = byte(i*7 + 3)
	}
	return enc(header) + "." + enc(claims) + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func basic(userpass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(userpass))
}

// Fake keys are assembled from parts so that secret scanners do not flag the test file.
var (
	fakeGitHub    = "gh" + "p_" + strings.Repeat("A1b2C3d4E5", 3) + "f6G7h8"           // 40
	fakeGoogle    = "AI" + "za" + "SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q"                // 39
	fakeGatehouse = "gk_" + "live_k7Fq2_Zr8mQ4vX1pL9sT3nB6yH0cW5eJ2dA"                 // healthy
	fakeStripe    = "sk_" + "test_" + strings.Repeat("Zx9Yw8Vu7", 3) + "Ts6"           // 35
	opaque        = "7f3a9c1e5b2d8f4a6c0e9b3d7f1a5c8e2b6d0f4a9c3e7b1d5f8a2c6e0b4d9f3a" // 64 hex
)

func TestCredentialFindsEachFault(t *testing.T) {
	es256 := map[string]any{"alg": "ES256", "typ": "JWT"}
	prodClaims := map[string]any{"iss": "https://auth.example.com", "aud": "https://api.example.com", "sub": "u1"}
	stagingClaims := map[string]any{"iss": "https://auth.staging.example.com", "aud": "api", "sub": "u1"}
	goodJWT := makeJWT(t, es256, prodClaims, 64)
	tests := []struct {
		name      string
		in        Input
		want      []string // code/severity, in order
		evidence  string   // a substring some evidence line must contain
		notInText []string // substrings that must not appear anywhere in the output
	}{
		{name: "EmptyValue", in: Input{Value: ""}, want: []string{"credential_missing_or_empty/error"}},
		{name: "BearerWithNothing", in: Input{Value: "Bearer "}, want: []string{"credential_missing_or_empty/error"}},
		{name: "SchemeOnly", in: Input{Value: "Bearer"}, want: []string{"credential_missing_or_empty/error"}},
		{name: "BearerUndefined", in: Input{Value: "Bearer undefined"}, want: []string{"credential_missing_or_empty/error"}, evidence: `"undefined"`},
		{name: "BearerNull", in: Input{Value: "Bearer null"}, want: []string{"credential_missing_or_empty/error"}},
		{name: "BearerNonePython", in: Input{Value: "Bearer None"}, want: []string{"credential_missing_or_empty/error"}},
		{name: "KeyHeaderNil", in: Input{HeaderName: "X-Api-Key", Value: "nil"}, want: []string{"credential_missing_or_empty/error"}},
		{name: "ShellBraceVariable", in: Input{Value: "Bearer ${API_TOKEN}"}, want: []string{"unexpanded_placeholder/error"}, evidence: `"${API_TOKEN}"`},
		{name: "ShellPlainVariable", in: Input{Value: "Bearer $API_TOKEN"}, want: []string{"unexpanded_placeholder/error", "shell_mangled_secret/warning"}[:1], evidence: "$NAME"},
		{name: "CommandSubstitution", in: Input{Value: "Bearer $(cat token.txt)"}, want: []string{"unexpanded_placeholder/error"}},
		{name: "PostmanVariable", in: Input{Value: "Bearer {{access_token}}"}, want: []string{"unexpanded_placeholder/error"}, evidence: `"{{access_tok…"`},
		{name: "AngleBrackets", in: Input{Value: "Bearer <YOUR_TOKEN>"}, want: []string{"unexpanded_placeholder/error"}},
		{name: "YourApiKey", in: Input{HeaderName: "X-API-Key", Value: "your_api_key_here"}, want: []string{"unexpanded_placeholder/error"}},
		{name: "RunOfX", in: Input{Value: "Bearer sk-xxxxxxxxxxxxxxxxxxxxxxxx"}, want: []string{"unexpanded_placeholder/error"}},
		{name: "ChangeMe", in: Input{HeaderName: "X-API-Key", Value: "changeme"}, want: []string{"unexpanded_placeholder/error"}},
		{name: "ReplaceMe", in: Input{Value: "Bearer REPLACE_ME"}, want: []string{"unexpanded_placeholder/error"}},
		{name: "TrailingNewline", in: Input{Value: "Bearer " + opaque + "\n", Source: "-H flag"}, want: []string{"trailing_newline_or_cr/error"}, evidence: `ends with "\n" (1 bytes)`},
		{name: "TrailingCRLF", in: Input{Value: "Bearer " + opaque + "\r\n"}, want: []string{"trailing_newline_or_cr/error"}, evidence: "invalid header field value"},
		{name: "LeadingTab", in: Input{HeaderName: "X-Api-Key", Value: "\t" + fakeGatehouse}, want: []string{"trailing_newline_or_cr/warning"}, evidence: `starts with "\t"`},
		{name: "BasicEchoNewline", in: Input{Value: basic("alice:correct-horse\n")}, want: []string{"basic_base64_trailing_newline/error"}, evidence: `user "alice", password (13 bytes), then "\n"`, notInText: []string{"correct-horse"}},
		{name: "BasicCRLFNewline", in: Input{Value: basic("alice:correct-horse\r\n")}, want: []string{"basic_base64_trailing_newline/error"}, evidence: `"\r\n"`},
		{name: "BasicBase64URL", in: Input{Value: "Basic " + base64.URLEncoding.EncodeToString([]byte("al?ce:pa>>word"))}, want: []string{"basic_credentials_malformed/error"}, evidence: "base64url"},
		{name: "BasicNoColon", in: Input{Value: basic("justatoken")}, want: []string{"basic_credentials_malformed/error"}, evidence: "no ':'"},
		{name: "BasicNotEncoded", in: Input{Value: "Basic alice:secret"}, want: []string{"basic_credentials_malformed/error"}, notInText: []string{"alice:secret"}},
		{name: "BasicMissingPadding", in: Input{Value: "Basic " + base64.RawStdEncoding.EncodeToString([]byte("alice:pw"))}, want: []string{"basic_credentials_malformed/error"}, evidence: "padding was stripped"},
		{name: "BasicLatin1WhenServerWantsUTF8", in: Input{Value: basic("j\xf6rg:pass-word"), BasicCharset: "UTF-8"}, want: []string{"basic_credentials_malformed/error"}, evidence: "not UTF-8"},
		{name: "BasicUTF8NoCharset", in: Input{Value: basic("jörg:pass-word")}, want: []string{"basic_credentials_malformed/warning"}, evidence: "valid UTF-8"},
		{name: "BasicEmptyBoth", in: Input{Value: basic(":")}, want: []string{"credential_missing_or_empty/error"}},
		{name: "BasicEmptyPassword", in: Input{Value: basic("alice:")}, want: []string{"credential_missing_or_empty/warning"}},
		{name: "BasicPlaceholderPassword", in: Input{Value: basic("alice:${DB_PASSWORD}")}, want: []string{"unexpanded_placeholder/error"}},
		{name: "QuotedToken", in: Input{Value: `Bearer "` + opaque + `"`}, want: []string{"value_wrapped_in_quotes/error"}, evidence: "double quotes"},
		{name: "QuotedWholeHeader", in: Input{Value: `'Bearer ` + opaque + `'`}, want: []string{"value_wrapped_in_quotes/error"}},
		{name: "SmartQuotedKey", in: Input{HeaderName: "X-Api-Key", Value: "“" + fakeGatehouse + "”"}, want: []string{"non_ascii_or_invisible_chars/error", "value_wrapped_in_quotes/error"}},
		{name: "ZeroWidthSpace", in: Input{Value: "Bearer abc\u200b" + opaque}, want: []string{"non_ascii_or_invisible_chars/error"}, evidence: "character 11 (byte 10): U+200B ZERO WIDTH SPACE"},
		{name: "NoBreakSpace", in: Input{Value: "Bearer\u00a0" + opaque}, want: []string{"non_ascii_or_invisible_chars/error", "scheme_prefix_malformed/error"}, evidence: "U+00A0 NO-BREAK SPACE"},
		{name: "ByteOrderMark", in: Input{Value: "\ufeffBearer " + opaque}, want: []string{"non_ascii_or_invisible_chars/error"}, evidence: "U+FEFF"},
		{name: "CyrillicHomoglyph", in: Input{HeaderName: "X-Api-Key", Value: "gk_live_k7Fq2_Zr8mQ4vX1pL9sT3nB6yH0cW5eJ2d\u0430"}, want: []string{"non_ascii_or_invisible_chars/error", "truncated_or_masked_credential/error"}, evidence: "CYRILLIC SMALL LETTER (looks like Latin 'a')"},
		{name: "InvalidUTF8Byte", in: Input{Value: "Bearer abc\xff" + opaque}, want: []string{"non_ascii_or_invisible_chars/error"}, evidence: "0xFF is not valid UTF-8"},
		{name: "EllipsisInside", in: Input{Value: "Bearer eyJhbGciOi…Xk9"}, want: []string{"non_ascii_or_invisible_chars/error", "truncated_or_masked_credential/error"}, evidence: "HORIZONTAL ELLIPSIS"},
		{name: "ThreeDotsInside", in: Input{HeaderName: "X-Api-Key", Value: "gk_live_k7Fq2...eJ2dA"}, want: []string{"truncated_or_masked_credential/error"}, evidence: "three dots"},
		{name: "JWTTwoSegments", in: Input{Value: "Bearer " + goodJWT[:strings.LastIndexByte(goodJWT, '.')]}, want: []string{"truncated_or_masked_credential/error"}, evidence: "2 segments"},
		{name: "JWTShortSignature", in: Input{Value: "Bearer " + goodJWT[:len(goodJWT)-20]}, want: []string{"truncated_or_masked_credential/error"}, evidence: "expected 64"},
		{name: "JWTBadClaims", in: Input{Value: "Bearer eyJhbGciOiJFUzI1NiJ9.@@@.abc"}, want: []string{"truncated_or_masked_credential/error"}, evidence: "claims segment"},
		{name: "JWTEmptySignature", in: Input{Value: "Bearer " + makeJWT(t, es256, prodClaims, 0)}, want: []string{"truncated_or_masked_credential/error"}, evidence: "third segment is empty"},
		{name: "GitHubTokenTooShort", in: Input{Value: "Bearer " + fakeGitHub[:25]}, want: []string{"truncated_or_masked_credential/error"}, evidence: "expected 40"},
		{name: "GatehouseKeyNoSecret", in: Input{HeaderName: "X-Api-Key", Value: "gk_live_k7Fq2_Zr8m"}, want: []string{"truncated_or_masked_credential/error"}, evidence: "secret+checksum 4 characters"},
		{name: "GatehouseKeyNoID", in: Input{HeaderName: "X-Api-Key", Value: "gk_live"}, want: []string{"truncated_or_masked_credential/error"}},
		{name: "DoubleBearer", in: Input{Value: "Bearer Bearer " + opaque}, want: []string{"scheme_prefix_malformed/error"}},
		{name: "BearerThenToken", in: Input{Value: "Bearer Token " + opaque}, want: []string{"scheme_prefix_malformed/error"}},
		{name: "BareJWT", in: Input{Value: goodJWT}, want: []string{"scheme_prefix_malformed/error"}, evidence: "single word"},
		{name: "BearerColon", in: Input{Value: "Bearer: " + opaque}, want: []string{"scheme_prefix_malformed/error"}},
		{name: "BearerColonNoSpace", in: Input{Value: "Bearer:" + opaque}, want: []string{"scheme_prefix_malformed/error"}},
		{name: "BearerEquals", in: Input{Value: "Bearer=" + opaque}, want: []string{"scheme_prefix_malformed/error"}},
		{name: "DoubleSpace", in: Input{Value: "Bearer  " + opaque}, want: []string{"scheme_prefix_malformed/warning"}},
		{name: "TrailingComma", in: Input{Value: "Bearer " + opaque + ","}, want: []string{"scheme_prefix_malformed/error"}},
		{name: "TwoCredentials", in: Input{Value: "Bearer " + opaque + ", Basic YWxpY2U6cHc="}, want: []string{"scheme_prefix_malformed/error"}},
		{name: "BasicWithJWT", in: Input{Value: "Basic " + goodJWT}, want: []string{"scheme_prefix_malformed/error"}},
		{name: "HeaderNameRepeated", in: Input{Value: "Authorization: Bearer " + opaque}, want: []string{"scheme_prefix_malformed/error"}},
		{name: "SpaceInsideToken", in: Input{Value: "Bearer abc def"}, want: []string{"scheme_prefix_malformed/error"}, evidence: "parsing stopped at byte"},
		{name: "KeyHeaderWithScheme", in: Input{HeaderName: "X-Api-Key", Value: "Bearer " + fakeGatehouse}, want: []string{"scheme_prefix_malformed/error"}},
		{name: "ServerWantsToken", in: Input{Value: "Bearer " + opaque, ServerSchemes: []string{"Token"}}, want: []string{"scheme_name_or_case_mismatch/error"}, evidence: "offered by the server: Token"},
		{name: "LowercaseBearerServerCapitalised", in: Input{Value: "bearer " + opaque, ServerSchemes: []string{"Bearer"}}, want: []string{"scheme_name_or_case_mismatch/warning"}},
		{name: "LowercaseBearerNoChallenge", in: Input{Value: "bearer " + opaque}, want: []string{"scheme_name_or_case_mismatch/info"}},
		{name: "ClientSecretWithPlus", in: Input{Value: basic("my-client:abc+def/ghi"), TokenEndpoint: true}, want: []string{"oauth_client_secret_basic_encoding/warning"}, evidence: "the client secret contains '+', which the server form-decodes to a space", notInText: []string{"abc+def"}},
		{name: "ClientSecretNotTokenEndpoint", in: Input{Value: basic("my-client:abc+def/ghi")}, want: []string{}},
		{name: "ShellCharsInToken", in: Input{HeaderName: "X-Api-Key", Value: "k7Fq2Zr8$mQ4vX1pL9sT3n!B6yH0"}, want: []string{"shell_mangled_secret/warning"}},
		{name: "ShellCharsInPassword", in: Input{Value: basic("alice:pa$$w0rd!")}, want: []string{"shell_mangled_secret/warning"}},
		{name: "StagingIssuerAgainstProd", in: Input{Value: "Bearer " + makeJWT(t, es256, stagingClaims, 64), TargetHost: "api.example.com"}, want: []string{"wrong_environment_or_account_credential/warning"}, evidence: "environment \"staging\""},
		{name: "TestKeyAgainstProdHost", in: Input{HeaderName: "X-Api-Key", Value: "gk_test_k7Fq2_Zr8mQ4vX1pL9sT3nB6yH0cW5eJ2dA", TargetHost: "api.example.com"}, want: []string{"wrong_environment_or_account_credential/warning"}},
		{name: "LiveKeyAgainstStaging", in: Input{HeaderName: "X-Api-Key", Value: fakeGatehouse, TargetHost: "api.staging.example.com"}, want: []string{"wrong_environment_or_account_credential/warning"}},
		{name: "UnderscoreHeader", in: Input{HeaderName: "X_API_KEY", Value: fakeGatehouse}, want: []string{"underscore_header_dropped/warning"}, evidence: "nginx"},
		{name: "GoogleKeyAsBearer", in: Input{Value: "Bearer " + fakeGoogle}, want: []string{"api_key_wrong_place/error"}, evidence: "Google API key"},
		{name: "KeyAsBearerServerOffersApiKey", in: Input{Value: "Bearer " + fakeGatehouse, ServerSchemes: []string{"ApiKey"}}, want: []string{"api_key_wrong_place/warning", "scheme_name_or_case_mismatch/error"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := Credential(tt.in)
			if diff := cmp.Diff(tt.want, codesOf(fs)); diff != "" {
				t.Errorf("codes (-want +got):\n%s\n%s", diff, renderFindings(fs))
			}
			text := renderFindings(fs)
			if tt.evidence != "" && !strings.Contains(text, tt.evidence) {
				t.Errorf("no evidence contains %q:\n%s", tt.evidence, text)
			}
			for _, s := range tt.notInText {
				if strings.Contains(text, s) {
					t.Errorf("output reveals %q:\n%s", s, text)
				}
			}
			assertNoSecret(t, tt.in.Value, fs)
			for _, f := range fs {
				if f.Summary == "" || f.Fix == "" || len(f.Evidence) == 0 {
					t.Errorf("%s: summary, fix and evidence are required: %+v", f.Code, f)
				}
			}
		})
	}
}

// assertNoSecret fails when any output string contains the value or the credential part
// after its scheme, for values long enough to be secrets.
func assertNoSecret(t testing.TB, value string, fs []finding.Finding) {
	t.Helper()
	secrets := []string{value, strings.TrimSpace(value)}
	if _, rest, ok := strings.Cut(strings.TrimSpace(value), " "); ok {
		secrets = append(secrets, rest)
	}
	for _, f := range fs {
		for _, s := range append([]string{f.Summary, f.Fix}, f.Evidence...) {
			for _, secret := range secrets {
				if len(secret) >= 16 && strings.Contains(s, secret) {
					t.Fatalf("%s output contains the secret (%d bytes): %q", f.Code, len(secret), s)
				}
			}
		}
	}
}

func TestCredentialHealthyValuesGiveNoErrorFinding(t *testing.T) {
	rs256 := makeJWT(t, map[string]any{"alg": "RS256", "kid": "k1"}, map[string]any{"iss": "https://login.example.com", "aud": "api://example", "exp": 1900000000}, 256)
	tests := []struct {
		name string
		in   Input
	}{
		{"OpaqueBearer", Input{Value: "Bearer " + opaque, ServerSchemes: []string{"Bearer"}}},
		{"RS256JWT", Input{Value: "Bearer " + rs256, TargetHost: "api.example.com"}},
		{"GitHubToken", Input{Value: "Bearer " + fakeGitHub, TargetHost: "api.github.com"}},
		{"GitHubTokenScheme", Input{Value: "token " + fakeGitHub, ServerSchemes: []string{"token"}}},
		{"StripeKeyAsBearer", Input{Value: "Bearer " + fakeStripe, TargetHost: "api.stripe.com", ServerSchemes: []string{"Bearer"}}},
		{"StripeKeyAsBasicUser", Input{Value: basic(fakeStripe + ":"), TargetHost: "api.stripe.com"}},
		{"BasicASCII", Input{Value: basic("alice:correct-horse-battery"), ServerSchemes: []string{"Basic"}}},
		{"BasicUTF8ServerUTF8", Input{Value: basic("jörg:pässwort"), BasicCharset: "UTF-8"}},
		{"BasicPasswordWithColon", Input{Value: basic("alice:a:b:c")}},
		{"GatehouseKeyHeader", Input{HeaderName: "X-Api-Key", Value: fakeGatehouse, TargetHost: "api.example.com"}},
		{"GatehouseKeyBearer", Input{Value: "Bearer " + fakeGatehouse, TargetHost: "api.example.com", ServerSchemes: []string{"Bearer", "ApiKey"}}},
		{"DigestCredentials", Input{Value: `Digest username="alice", realm="r", nonce="n", uri="/x", response="0123456789abcdef0123456789abcdef"`}},
		{"Token68WithPadding", Input{Value: "Bearer abcDEF123456789012345678901234=="}},
		{"ClientSecretPlain", Input{Value: basic("client-1:s3cretValue123"), TokenEndpoint: true}},
		{"Localhost", Input{Value: "Bearer " + opaque, TargetHost: "127.0.0.1:8080"}},
		{"LiveKeyOnLocalhost", Input{HeaderName: "X-Api-Key", Value: fakeGatehouse, TargetHost: "localhost:8080"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, f := range Credential(tt.in) {
				if f.Severity == finding.Error || f.Score >= 60 {
					t.Errorf("unexpected %s (score %d): %s\n%s", f.Code, f.Score, f.Summary, strings.Join(f.Evidence, "\n"))
				}
			}
		})
	}
}

func TestCredentialScoresFollowSeverity(t *testing.T) {
	for _, score := range []int{0, 29, 30, 59, 60, 100} {
		want := finding.Info
		if score >= 60 {
			want = finding.Error
		} else if score >= 30 {
			want = finding.Warning
		}
		if got := severityFor(score); got != want {
			t.Errorf("severityFor(%d) = %s, want %s", score, got, want)
		}
	}
	_ = fmt.Sprint()
}

func BenchmarkCredential(b *testing.B) {
	in := Input{Value: "Bearer " + makeJWT(b, map[string]any{"alg": "RS256"}, map[string]any{"iss": "https://auth.example.com", "aud": "api"}, 256), TargetHost: "api.example.com", ServerSchemes: []string{"Bearer"}}
	for b.Loop() {
		Credential(in)
	}
}
