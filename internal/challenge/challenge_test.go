package challenge

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// p builds a parameter list from name, value pairs.
func p(kv ...string) []Param {
	ps := make([]Param, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		ps = append(ps, Param{Name: kv[i], Value: kv[i+1]})
	}
	return ps
}

var equateEmpty = cmpopts.EquateEmpty()

func TestParseChallengesAcceptsRealWorldFields(t *testing.T) {
	tests := []struct {
		name   string
		fields []string
		want   []Challenge
	}{
		{
			name:   "RFC 9110 section 11.6.1 example with two challenges in one field",
			fields: []string{`Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple"`},
			want: []Challenge{
				{Scheme: "Newauth", Params: p("realm", "apps", "type", "1", "title", `Login to "apps"`)},
				{Scheme: "Basic", Params: p("realm", "simple")},
			},
		},
		{
			name:   "RFC 7617 Basic with charset",
			fields: []string{`Basic realm="x", charset="UTF-8"`},
			want:   []Challenge{{Scheme: "Basic", Params: p("realm", "x", "charset", "UTF-8")}},
		},
		{
			name:   "RFC 6750 Bearer without credentials carries only the realm",
			fields: []string{`Bearer realm="example"`},
			want:   []Challenge{{Scheme: "Bearer", Params: p("realm", "example")}},
		},
		{
			name:   "RFC 6750 Bearer invalid_token with description",
			fields: []string{`Bearer realm="example", error="invalid_token", error_description="The access token expired"`},
			want: []Challenge{{Scheme: "Bearer", Params: p(
				"realm", "example", "error", "invalid_token", "error_description", "The access token expired")}},
		},
		{
			name:   "RFC 6750 Bearer insufficient_scope with space-separated scopes",
			fields: []string{`Bearer realm="orders-api", error="insufficient_scope", scope="orders:read orders:write"`},
			want: []Challenge{{Scheme: "Bearer", Params: p(
				"realm", "orders-api", "error", "insufficient_scope", "scope", "orders:read orders:write")}},
		},
		{
			name:   "RFC 9728 Bearer with resource_metadata",
			fields: []string{`Bearer resource_metadata="https://resource.example.com/.well-known/oauth-protected-resource"`},
			want: []Challenge{{Scheme: "Bearer", Params: p(
				"resource_metadata", "https://resource.example.com/.well-known/oauth-protected-resource")}},
		},
		{
			name: "RFC 7616 Digest with a comma inside quoted qop, two fields",
			fields: []string{
				`Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"`,
				`Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=MD5, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"`,
			},
			want: []Challenge{
				{Scheme: "Digest", Params: p("realm", "http-auth@example.org", "qop", "auth, auth-int", "algorithm", "SHA-256",
					"nonce", "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", "opaque", "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS")},
				{Scheme: "Digest", Params: p("realm", "http-auth@example.org", "qop", "auth, auth-int", "algorithm", "MD5",
					"nonce", "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", "opaque", "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS")},
			},
		},
		{
			name:   "Digest stale flag as a token",
			fields: []string{`Digest realm="cam", nonce="abc", stale=TRUE, algorithm=MD5-sess`},
			want:   []Challenge{{Scheme: "Digest", Params: p("realm", "cam", "nonce", "abc", "stale", "TRUE", "algorithm", "MD5-sess")}},
		},
		{
			name:   "two fields, one challenge each, in order",
			fields: []string{`Bearer realm="api"`, `Basic realm="api", charset="UTF-8"`},
			want: []Challenge{
				{Scheme: "Bearer", Params: p("realm", "api")},
				{Scheme: "Basic", Params: p("realm", "api", "charset", "UTF-8")},
			},
		},
		{
			name:   "Negotiate and NTLM without parameters, in separate fields",
			fields: []string{"Negotiate", "NTLM"},
			want:   []Challenge{{Scheme: "Negotiate"}, {Scheme: "NTLM"}},
		},
		{
			name:   "Negotiate and NTLM without parameters, in one field",
			fields: []string{"Negotiate, NTLM"},
			want:   []Challenge{{Scheme: "Negotiate"}, {Scheme: "NTLM"}},
		},
		{
			name:   "Negotiate with a token68 carrying padding",
			fields: []string{"Negotiate YIIB=="},
			want:   []Challenge{{Scheme: "Negotiate", Token68: "YIIB=="}},
		},
		{
			name:   "token68 with padding followed by another challenge",
			fields: []string{`Negotiate YIIB==, Basic realm="x"`},
			want: []Challenge{
				{Scheme: "Negotiate", Token68: "YIIB=="},
				{Scheme: "Basic", Params: p("realm", "x")},
			},
		},
		{
			name:   "token68 with one padding byte",
			fields: []string{"Negotiate oRQwEqADCgEA="},
			want:   []Challenge{{Scheme: "Negotiate", Token68: "oRQwEqADCgEA="}},
		},
		{
			name:   "token68 using every token68 character",
			fields: []string{"Foo a.b/c+d~e_f-g9=="},
			want:   []Challenge{{Scheme: "Foo", Token68: "a.b/c+d~e_f-g9=="}},
		},
		{
			name:   "token68 without padding followed by a scheme-only challenge",
			fields: []string{"Negotiate abc, NTLM"},
			want:   []Challenge{{Scheme: "Negotiate", Token68: "abc"}, {Scheme: "NTLM"}},
		},
		{
			name:   "lone name= right after the scheme is a token68, as the grammar says",
			fields: []string{"Bearer realm="},
			want:   []Challenge{{Scheme: "Bearer", Token68: "realm="}},
		},
		{
			name:   "AWS API Gateway style Bearer with an empty scope",
			fields: []string{`Bearer scope="", error="invalid_token", error_description="the token does not have a valid audience"`},
			want: []Challenge{{Scheme: "Bearer", Params: p(
				"scope", "", "error", "invalid_token", "error_description", "the token does not have a valid audience")}},
		},
		{
			name:   "Azure AD style Bearer with an empty realm and a client_id",
			fields: []string{`Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000002-0000-0000-c000-000000000000"`},
			want: []Challenge{{Scheme: "Bearer", Params: p(
				"realm", "", "authorization_uri", "https://login.microsoftonline.com/common/oauth2/authorize",
				"client_id", "00000002-0000-0000-c000-000000000000")}},
		},
		{
			name:   "Azure AD style description with an apostrophe and a period",
			fields: []string{`Bearer authorization_uri="https://login.microsoftonline.com/t/oauth2/authorize", error="invalid_token", error_description="The authentication failed because of missing 'Authorization' header."`},
			want: []Challenge{{Scheme: "Bearer", Params: p(
				"authorization_uri", "https://login.microsoftonline.com/t/oauth2/authorize", "error", "invalid_token",
				"error_description", "The authentication failed because of missing 'Authorization' header.")}},
		},
		{
			name:   "DRF Token scheme and Tinyproxy realm",
			fields: []string{`Token`, `Basic realm="Tinyproxy"`},
			want:   []Challenge{{Scheme: "Token"}, {Scheme: "Basic", Params: p("realm", "Tinyproxy")}},
		},
		{
			name:   "escaped quotes and backslashes are unescaped",
			fields: []string{`Basic realm="a \"quoted\" \\ path \x"`},
			want:   []Challenge{{Scheme: "Basic", Params: p("realm", `a "quoted" \ path x`)}},
		},
		{
			name:   "empty quoted values",
			fields: []string{`Bearer realm="", error=""`},
			want:   []Challenge{{Scheme: "Bearer", Params: p("realm", "", "error", "")}},
		},
		{
			name:   "duplicate parameters are kept in order",
			fields: []string{`Bearer realm="a", realm="b", REALM="c"`},
			want:   []Challenge{{Scheme: "Bearer", Params: p("realm", "a", "realm", "b", "realm", "c")}},
		},
		{
			name:   "parameter names are lower-cased, the scheme keeps its case",
			fields: []string{`BEARER Realm="X", ERROR="invalid_token"`},
			want:   []Challenge{{Scheme: "BEARER", Params: p("realm", "X", "error", "invalid_token")}},
		},
		{
			name:   "whitespace around '=' and commas (BWS and OWS)",
			fields: []string{"Basic realm = \"x\" ,\tcharset=  \"UTF-8\"  "},
			want:   []Challenge{{Scheme: "Basic", Params: p("realm", "x", "charset", "UTF-8")}},
		},
		{
			name:   "empty list elements are ignored",
			fields: []string{`, ,Basic realm="x",, ,charset="UTF-8",, Bearer,,`},
			want: []Challenge{
				{Scheme: "Basic", Params: p("realm", "x", "charset", "UTF-8")},
				{Scheme: "Bearer"},
			},
		},
		{
			name:   "empty and comma-only fields hold no challenge",
			fields: []string{"", " , ", `Basic realm="x"`},
			want:   []Challenge{{Scheme: "Basic", Params: p("realm", "x")}},
		},
		{
			name:   "obs-text bytes are returned as they were sent",
			fields: []string{"Basic realm=\"caf\xe9\", charset=\"UTF-8\""},
			want:   []Challenge{{Scheme: "Basic", Params: p("realm", "caf\xe9", "charset", "UTF-8")}},
		},
		{
			name:   "UTF-8 in a quoted value",
			fields: []string{`Basic realm="café ☕"`},
			want:   []Challenge{{Scheme: "Basic", Params: p("realm", "café ☕")}},
		},
		{
			name:   "horizontal tab inside a quoted value",
			fields: []string{"Basic realm=\"a\tb\""},
			want:   []Challenge{{Scheme: "Basic", Params: p("realm", "a\tb")}},
		},
		{
			name:   "quoted value holding commas, equals signs and a scheme-like word",
			fields: []string{`Bearer error_description="a=b, Basic c=d", error="invalid_token"`},
			want:   []Challenge{{Scheme: "Bearer", Params: p("error_description", "a=b, Basic c=d", "error", "invalid_token")}},
		},
		{
			name:   "token values use the whole tchar alphabet",
			fields: []string{"X a=!#$%&'*+-.^_`|~09AZaz"},
			want:   []Challenge{{Scheme: "X", Params: p("a", "!#$%&'*+-.^_`|~09AZaz")}},
		},
		{
			name:   "scheme-only challenge after a challenge with parameters",
			fields: []string{`Bearer error="invalid_token", Negotiate, NTLM`},
			want: []Challenge{
				{Scheme: "Bearer", Params: p("error", "invalid_token")},
				{Scheme: "Negotiate"},
				{Scheme: "NTLM"},
			},
		},
		{
			name:   "token68 challenge after a challenge with parameters",
			fields: []string{`Basic realm="x", Negotiate abc=`},
			want: []Challenge{
				{Scheme: "Basic", Params: p("realm", "x")},
				{Scheme: "Negotiate", Token68: "abc="},
			},
		},
		{
			name:   "parameter directly after a comma that follows the scheme belongs to it",
			fields: []string{`Basic, realm="x"`},
			want:   []Challenge{{Scheme: "Basic", Params: p("realm", "x")}},
		},
		{
			name:   "leading and trailing whitespace around the field value",
			fields: []string{"  Basic realm=\"x\"\t "},
			want:   []Challenge{{Scheme: "Basic", Params: p("realm", "x")}},
		},
		{
			name:   "tab instead of space after the scheme is tolerated",
			fields: []string{"Basic\trealm=\"x\""},
			want:   []Challenge{{Scheme: "Basic", Params: p("realm", "x")}},
		},
		{
			name:   "Bearer realm and Basic realm and charset, as the gateway renders them",
			fields: []string{`Bearer realm="orders-api", error="invalid_token", error_description="token expired", resource_metadata="https://api.example.com/.well-known/oauth-protected-resource"`, `Basic realm="orders-api", charset="UTF-8"`},
			want: []Challenge{
				{Scheme: "Bearer", Params: p("realm", "orders-api", "error", "invalid_token", "error_description", "token expired",
					"resource_metadata", "https://api.example.com/.well-known/oauth-protected-resource")},
				{Scheme: "Basic", Params: p("realm", "orders-api", "charset", "UTF-8")},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseChallenges(tt.fields)
			if err != nil {
				t.Fatalf("ParseChallenges(%q) error: %v", tt.fields, err)
			}
			if diff := cmp.Diff(tt.want, got, equateEmpty); diff != "" {
				t.Errorf("ParseChallenges(%q) mismatch (-want +got):\n%s", tt.fields, diff)
			}

			// What parses renders back to the same challenges, both as one field and as one
			// field per challenge.
			again, err := ParseChallenges([]string{Render(got...)})
			if err != nil {
				t.Fatalf("re-parse of Render %q: %v", Render(got...), err)
			}
			if diff := cmp.Diff(got, again, equateEmpty); diff != "" {
				t.Errorf("Render round trip mismatch (-first +again):\n%s", diff)
			}
			var perField []string
			for _, c := range got {
				perField = append(perField, c.String())
			}
			again, err = ParseChallenges(perField)
			if err != nil {
				t.Fatalf("re-parse of String fields %q: %v", perField, err)
			}
			if diff := cmp.Diff(got, again, equateEmpty); diff != "" {
				t.Errorf("String round trip mismatch (-first +again):\n%s", diff)
			}
		})
	}
}

func TestParseChallengesNilAndEmptyInputGiveEmptyNonNilResult(t *testing.T) {
	for _, fields := range [][]string{nil, {}, {""}, {",", " "}} {
		got, err := ParseChallenges(fields)
		if err != nil {
			t.Fatalf("ParseChallenges(%q) error: %v", fields, err)
		}
		if got == nil || len(got) != 0 {
			t.Errorf("ParseChallenges(%q) = %#v, want a non-nil empty slice", fields, got)
		}
	}
}

func TestParseChallengesRejectsMalformedFieldsWithPosition(t *testing.T) {
	tests := []struct {
		name   string
		fields []string
		want   SyntaxError
	}{
		{"unterminated quoted string points at the opening quote", []string{`Basic realm="x`},
			SyntaxError{0, 12, "unterminated quoted string"}},
		{"backslash at the very end", []string{`Basic realm="x\`},
			SyntaxError{0, 12, "unterminated quoted string"}},
		{"parameter without a value at the end", []string{`Basic charset="x", realm=`},
			SyntaxError{0, 25, "parameter without a value"}},
		{"parameter without a value before a comma", []string{`Basic charset="x", realm=, a="b"`},
			SyntaxError{0, 25, "parameter without a value"}},
		{"lone name= first, then parameters", []string{`Basic realm=, charset="UTF-8"`},
			SyntaxError{0, 14, "parameter after a token68"}},
		{"token68 followed by a parameter", []string{`Negotiate YIIB==, realm="x"`},
			SyntaxError{0, 18, "parameter after a token68"}},
		{"parameters separated by spaces only (seen from some API gateways)", []string{`Bearer scope="" error="invalid_token"`},
			SyntaxError{0, 16, "expected ',' between parameters"}},
		{"challenges separated by a space only", []string{`Basic realm="x" Bearer realm="y"`},
			SyntaxError{0, 16, "expected ',' between challenges"}},
		{"scheme-only challenge after parameters without a comma", []string{`Basic realm="x" Negotiate`},
			SyntaxError{0, 16, "expected ',' between challenges"}},
		{"junk after a quoted value", []string{`Basic realm="x"y"`},
			SyntaxError{0, 15, "expected ',' after parameter value"}},
		{"quote right after a quoted value", []string{`Basic realm="x""y"`},
			SyntaxError{0, 15, "expected ',' after parameter value"}},
		{"unquoted value with a slash", []string{`Basic realm=x/y`},
			SyntaxError{0, 13, "expected ',' after parameter value"}},
		{"parameter before any scheme", []string{`realm="x"`},
			SyntaxError{0, 0, "auth-param without an auth scheme"}},
		{"parameter with spaces before any scheme", []string{`realm = "x"`},
			SyntaxError{0, 0, "auth-param without an auth scheme"}},
		{"quoted string where the scheme should be", []string{`"Basic"`},
			SyntaxError{0, 0, "expected an auth scheme"}},
		{"no space after the scheme", []string{`Bearer@x`},
			SyntaxError{0, 6, "expected a space after the auth scheme"}},
		{"quoted string right after the scheme's space", []string{`Bearer "x"`},
			SyntaxError{0, 7, "expected a token68 or an auth-param"}},
		{"control character in a quoted value", []string{"Basic realm=\"a\x01b\""},
			SyntaxError{0, 14, "control character in quoted string"}},
		{"CR LF in a quoted value", []string{"Basic realm=\"a\r\nb\""},
			SyntaxError{0, 14, "control character in quoted string"}},
		{"DEL in a quoted value", []string{"Basic realm=\"a\x7f\""},
			SyntaxError{0, 14, "control character in quoted string"}},
		{"quoted-pair escaping a control character", []string{"Basic realm=\"a\\\x00\""},
			SyntaxError{0, 15, "control character in quoted string"}},
		{"quoted string where a parameter should be", []string{`Basic realm="x",  "y"`},
			SyntaxError{0, 18, "expected an auth-param or an auth scheme"}},
		{"double equals followed by a value", []string{`Basic realm==x`},
			SyntaxError{0, 13, "expected ',' after token68"}},
		{"token68 followed by another word", []string{`Negotiate abc def`},
			SyntaxError{0, 14, "expected ',' after token68"}},
		{"token character outside the token68 alphabet", []string{`Foo a!b`},
			SyntaxError{0, 5, "invalid character in token68"}},
		{"token name= with a non-token68 character", []string{`Foo a!b=`},
			SyntaxError{0, 8, "parameter without a value"}},
		{"slash in a parameter name", []string{`Foo a/b="x"`},
			SyntaxError{0, 5, "invalid character in parameter name"}},
		{"value starting with a non-token character", []string{`Basic realm=@`},
			SyntaxError{0, 12, "invalid character in parameter value"}},
		{"name followed by a quoted string without '='", []string{`Basic realm "x"`},
			SyntaxError{0, 12, "expected '=' after parameter name"}},
		{"second field is the malformed one", []string{`Basic realm="x"`, `Bearer realm="y`},
			SyntaxError{1, 13, "unterminated quoted string"}},
		{"one field over the size limit", []string{strings.Repeat("a", MaxFieldBytes+1)},
			SyntaxError{0, MaxFieldBytes, "header fields exceed 64 KiB"}},
		{"fields over the size limit together", []string{strings.Repeat("a", 40<<10), strings.Repeat("b", 40<<10)},
			SyntaxError{1, 24 << 10, "header fields exceed 64 KiB"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseChallenges(tt.fields)
			if err == nil {
				t.Fatalf("ParseChallenges(%q) = %+v, want error %+v", tt.fields, got, tt.want)
			}
			if got != nil {
				t.Errorf("ParseChallenges returned %+v along with an error, want nil", got)
			}
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %v is %T, want *SyntaxError", err, err)
			}
			if diff := cmp.Diff(tt.want, *se); diff != "" {
				t.Errorf("ParseChallenges(%q) error mismatch (-want +got):\n%s", tt.fields, diff)
			}
		})
	}
}

func TestParseChallengesAtTheSizeLimitIsAccepted(t *testing.T) {
	field := "Basic realm=\"" + strings.Repeat("r", MaxFieldBytes-len(`Basic realm=""`)) + "\""
	got, err := ParseChallenges([]string{field})
	if err != nil {
		t.Fatalf("ParseChallenges(64 KiB field): %v", err)
	}
	if len(got) != 1 || len(got[0].Params) != 1 || len(got[0].Params[0].Value) != MaxFieldBytes-len(`Basic realm=""`) {
		t.Errorf("ParseChallenges(64 KiB field) = unexpected shape")
	}
}

func TestParseCredentials(t *testing.T) {
	tests := []struct {
		name  string
		value string
		want  Challenge
	}{
		{"Bearer JWT", "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln",
			Challenge{Scheme: "Bearer", Token68: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln"}},
		{"Basic", "Basic dXNlcjpwYXNz", Challenge{Scheme: "Basic", Token68: "dXNlcjpwYXNz"}},
		{"Negotiate with padding", "Negotiate YIIB==", Challenge{Scheme: "Negotiate", Token68: "YIIB=="}},
		{"scheme keeps its case", "bearer abc", Challenge{Scheme: "bearer", Token68: "abc"}},
		{"scheme only", "Bearer", Challenge{Scheme: "Bearer"}},
		{"several spaces after the scheme (1*SP)", "Bearer   abc", Challenge{Scheme: "Bearer", Token68: "abc"}},
		{"surrounding whitespace", " Bearer abc\t", Challenge{Scheme: "Bearer", Token68: "abc"}},
		{"RFC 7616 Digest response",
			`Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", nc=00000001, cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", qop=auth, response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"`,
			Challenge{Scheme: "Digest", Params: p("username", "Mufasa", "realm", "http-auth@example.org", "uri", "/dir/index.html",
				"algorithm", "SHA-256", "nonce", "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", "nc", "00000001",
				"cnonce", "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", "qop", "auth",
				"response", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
				"opaque", "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS")}},
		{"parameter list with a trailing comma (list rule)", `Digest username="x",`,
			Challenge{Scheme: "Digest", Params: p("username", "x")}},
		{"duplicate parameters kept", `Custom a=1, A=2`, Challenge{Scheme: "Custom", Params: p("a", "1", "a", "2")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCredentials(tt.value)
			if err != nil {
				t.Fatalf("ParseCredentials error: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, equateEmpty); diff != "" {
				t.Errorf("ParseCredentials mismatch (-want +got):\n%s", diff)
			}
			again, err := ParseCredentials(got.String())
			if err != nil {
				t.Fatalf("re-parse of %q: %v", got.String(), err)
			}
			if diff := cmp.Diff(got, again, equateEmpty); diff != "" {
				t.Errorf("String round trip mismatch (-first +again):\n%s", diff)
			}
		})
	}
}

func TestParseCredentialsRejectsMalformedValuesWithPosition(t *testing.T) {
	tests := []struct {
		name  string
		value string
		want  SyntaxError
	}{
		{"empty", "", SyntaxError{0, 0, "missing auth scheme"}},
		{"whitespace only", "  ", SyntaxError{0, 2, "missing auth scheme"}},
		{"colon after the scheme", "Bearer: abc", SyntaxError{0, 6, "expected a space after the auth scheme"}},
		{"equals after the scheme", "Bearer=abc", SyntaxError{0, 6, "expected a space after the auth scheme"}},
		{"comma right after the scheme", "Basic,", SyntaxError{0, 5, "expected a space after the auth scheme"}},
		{"duplicated scheme", "Bearer Bearer abc", SyntaxError{0, 14, "unexpected data after token68"}},
		{"trailing comma after a token68", "Bearer abc,", SyntaxError{0, 10, "unexpected ',' after token68 (credentials hold one token68)"}},
		{"two credentials joined by a comma", "Bearer abc, Bearer abc", SyntaxError{0, 10, "unexpected ',' after token68 (credentials hold one token68)"}},
		{"CR LF after the token", "Bearer abc\r\n", SyntaxError{0, 10, "unexpected data after token68"}},
		{"quoted token", `Bearer "abc"`, SyntaxError{0, 7, "expected a token68 or an auth-param"}},
		{"quoted whole value", `"Bearer abc"`, SyntaxError{0, 0, "expected an auth scheme"}},
		{"bare word after parameters", `Digest username="x", foo`, SyntaxError{0, 24, "expected '=' after parameter name"}},
		{"a second scheme after parameters", `Digest username="x", Basic abc`, SyntaxError{0, 27, "expected '=' after parameter name"}},
		{"parameters without commas", `Digest username="x" realm="y"`, SyntaxError{0, 20, "expected ',' between parameters"}},
		{"word after a parameter without a comma", `Digest username="x" Basic`, SyntaxError{0, 20, "expected ',' after parameter value"}},
		{"AWS SigV4 is not RFC 9110 grammar (unquoted '/')",
			"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=fe5f",
			SyntaxError{0, 48, "expected ',' after parameter value"}},
		{"Azure Storage SharedKey is not RFC 9110 grammar (':')", "SharedKey myaccount:c3ln", SyntaxError{0, 19, "unexpected data after token68"}},
		{"over the size limit", "Bearer " + strings.Repeat("a", MaxFieldBytes), SyntaxError{0, MaxFieldBytes, "credentials exceed 64 KiB"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCredentials(tt.value)
			if err == nil {
				t.Fatalf("ParseCredentials = %+v, want error %+v", got, tt.want)
			}
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %v is %T, want *SyntaxError", err, err)
			}
			if diff := cmp.Diff(tt.want, *se); diff != "" {
				t.Errorf("ParseCredentials error mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSyntaxErrorMessageNamesFieldAndOffsetButNotTheInput(t *testing.T) {
	const secret = "s3cr3t-t0k3n"
	_, err := ParseCredentials("Bearer " + secret + " " + secret)
	if err == nil {
		t.Fatal("ParseCredentials accepted two words after the scheme")
	}
	want := "challenge: field 0, byte 20: unexpected data after token68"
	if err.Error() != want {
		t.Errorf("Error() = %q, want %q", err.Error(), want)
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("Error() %q echoes the credential", err.Error())
	}
}

func TestChallengeParamIsCaseInsensitiveAndReturnsFirst(t *testing.T) {
	c := Challenge{Scheme: "Bearer", Params: p("realm", "a", "error", "", "realm", "b")}
	tests := []struct {
		name   string
		lookup string
		want   string
		wantOK bool
	}{
		{"exact", "realm", "a", true},
		{"upper case lookup", "REALM", "a", true},
		{"present but empty", "error", "", true},
		{"absent", "scope", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := c.Param(tt.lookup)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("Param(%q) = %q, %v; want %q, %v", tt.lookup, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestChallengeStringQuotesEscapesAndSanitizes(t *testing.T) {
	tests := []struct {
		name string
		c    Challenge
		want string
	}{
		{"scheme only", Challenge{Scheme: "Negotiate"}, "Negotiate"},
		{"token68 after one space", Challenge{Scheme: "Negotiate", Token68: "YIIB=="}, "Negotiate YIIB=="},
		{"params always quoted, joined by comma space",
			Challenge{Scheme: "Bearer", Params: p("realm", "api", "error", "invalid_token")},
			`Bearer realm="api", error="invalid_token"`},
		{"empty value", Challenge{Scheme: "Bearer", Params: p("realm", "")}, `Bearer realm=""`},
		{"quote and backslash escaped", Challenge{Scheme: "Basic", Params: p("realm", `a"b\c`)}, `Basic realm="a\"b\\c"`},
		{"control characters become spaces, tab and obs-text kept",
			Challenge{Scheme: "Bearer", Params: p("error_description", "a\r\nb\x00c\x7fd\te\xe9")},
			"Bearer error_description=\"a  b c d\te\xe9\""},
		{"token68 wins over params", Challenge{Scheme: "X", Token68: "abc", Params: p("a", "b")}, "X abc"},
		{"invalid scheme bytes become underscores", Challenge{Scheme: "Bad Scheme\r\n"}, "Bad_Scheme__"},
		{"empty scheme and name become underscores", Challenge{Params: p("", "v")}, `_ _="v"`},
		{"invalid name bytes become underscores", Challenge{Scheme: "X", Params: p("a b", "v")}, `X a_b="v"`},
		{"token68 keeps only trailing padding", Challenge{Scheme: "X", Token68: "=a=b c=="}, "X _a_b_c=="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.c.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRenderJoinsChallenges(t *testing.T) {
	tests := []struct {
		name string
		cs   []Challenge
		want string
	}{
		{"none", nil, ""},
		{"one", []Challenge{{Scheme: "Basic", Params: p("realm", "y")}}, `Basic realm="y"`},
		{"bearer then basic",
			[]Challenge{{Scheme: "Bearer", Params: p("realm", "x")}, {Scheme: "Basic", Params: p("realm", "y", "charset", "UTF-8")}},
			`Bearer realm="x", Basic realm="y", charset="UTF-8"`},
		{"scheme-only and token68", []Challenge{{Scheme: "Negotiate"}, {Scheme: "NTLM", Token68: "TlRMTVNTUAAB"}},
			"Negotiate, NTLM TlRMTVNTUAAB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Render(tt.cs...); got != tt.want {
				t.Errorf("Render() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestValidateReportsWhatStringWouldRepair(t *testing.T) {
	tests := []struct {
		name    string
		c       Challenge
		wantErr bool
	}{
		{"bearer", Challenge{Scheme: "Bearer", Params: p("realm", "x\r\n")}, false},
		{"token68", Challenge{Scheme: "Negotiate", Token68: "YIIB=="}, false},
		{"scheme only", Challenge{Scheme: "NTLM"}, false},
		{"empty scheme", Challenge{}, true},
		{"scheme with space", Challenge{Scheme: "a b"}, true},
		{"bad name", Challenge{Scheme: "X", Params: p("a=b", "v")}, true},
		{"bad token68", Challenge{Scheme: "X", Token68: "a b"}, true},
		{"padding only token68", Challenge{Scheme: "X", Token68: "=="}, true},
		{"token68 and params", Challenge{Scheme: "X", Token68: "a", Params: p("a", "b")}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.Validate()
			if (err != nil) != tt.wantErr {
				t.Errorf("Validate() = %v, wantErr %v", err, tt.wantErr)
			}
		})
	}
}

// TestParseChallengesStrict: the strict parser refuses what RFC 9110 forbids and the
// lenient one salvages, and agrees with the lenient one everywhere else.
func TestParseChallengesStrict(t *testing.T) {
	tests := []struct {
		field   string
		offset  int // -1: valid in both
		message string
	}{
		{`Basic, realm="x"`, 5, "comma after the auth scheme"},
		{`Bearer realm="a", error="invalid_token", realm="b"`, 41, "repeated"},
		{`Bearer realm="a", REALM="b"`, 18, "repeated"},
		{`Bearer realm="a",error="x",Error="y"`, 27, "repeated"},
		{`Basic, Bearer realm="x"`, -1, ""},
		{`Basic realm="x", Bearer realm="x"`, -1, ""},
		{`Negotiate, NTLM`, -1, ""},
		{`Bearer realm="api", error="invalid_token"`, -1, ""},
	}
	for _, tc := range tests {
		t.Run(tc.field, func(t *testing.T) {
			lenient, lerr := ParseChallenges([]string{tc.field})
			if lerr != nil {
				t.Fatalf("lenient: %v", lerr)
			}
			strict, err := ParseChallengesStrict([]string{tc.field})
			if tc.offset < 0 {
				if err != nil {
					t.Fatalf("strict: %v", err)
				}
				if !cmp.Equal(lenient, strict) {
					t.Errorf("strict %v, lenient %v", strict, lenient)
				}
				return
			}
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("strict err = %v, want a *SyntaxError", err)
			}
			if se.Offset != tc.offset || !strings.Contains(se.Msg, tc.message) {
				t.Errorf("got %v, want byte %d and %q", se, tc.offset, tc.message)
			}
		})
	}
}
