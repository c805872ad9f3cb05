package issuer_test

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse/internal/issuer"
)

// wantError is one expected RFC 6749 5.2 answer.
type wantError struct {
	status int
	code   string
	// description is a substring of error_description; "" checks nothing.
	description string
}

// checkError asserts the status, the error object (exactly "error" and
// "error_description"), the headers every answer carries, and the challenge of
// invalid_client.
func checkError(t *testing.T, r response, want wantError) {
	t.Helper()
	if r.status != want.status || r.json["error"] != want.code {
		t.Fatalf("got %d %s, want %d %s", r.status, r.body, want.status, want.code)
	}
	if !strings.Contains(r.json["error_description"].(string), want.description) {
		t.Errorf("error_description %q does not say %q", r.json["error_description"], want.description)
	}
	for k := range r.json {
		if k != "error" && k != "error_description" {
			t.Errorf("the error object has the member %q", k)
		}
	}
	desc := r.json["error_description"].(string)
	for i := 0; i < len(desc); i++ {
		// RFC 6749 5.2: %x20-21 / %x23-5B / %x5D-7E.
		if c := desc[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			t.Errorf("error_description has the character %q, outside RFC 6749's set", c)
		}
	}
	for name, value := range map[string]string{"Cache-Control": "no-store", "Pragma": "no-cache", "Content-Type": "application/json"} {
		if got := r.header.Get(name); got != value {
			t.Errorf("%s = %q, want %q", name, got, value)
		}
	}
	challenge := r.header.Get("WWW-Authenticate")
	switch {
	case want.code == "invalid_client" && challenge != `Basic realm="test", charset="UTF-8"`:
		t.Errorf("invalid_client challenge = %q, want Basic with the realm", challenge)
	case want.code != "invalid_client" && challenge != "":
		t.Errorf("a %s answer carries a challenge %q", want.code, challenge)
	}
}

// TestTokenEndpointAnswersEveryErrorAsRFC6749Says walks every way a token request can be
// wrong, each alone in an otherwise valid request.
func TestTokenEndpointAnswersEveryErrorAsRFC6749Says(t *testing.T) {
	e := newEnv(t)
	id, secret := e.newClient("orders:read", "orders:write")
	removedID, removedSecret := e.newClient("orders:read")
	if _, err := e.st.RemoveClient(testCtx(t), removedID, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	e.srv.Invalidate(changeOf("client_removed", removedID))
	auth := basic(id, secret)
	const grant = "grant_type=client_credentials"
	post := func(body string, headers ...string) func() response {
		return func() response { return e.post("/oauth2/token", body, headers...) }
	}
	raw := func(method, contentType, body string, headers ...string) func() response {
		return func() response {
			req, _ := http.NewRequestWithContext(testCtx(t), method, e.url+"/oauth2/token", strings.NewReader(body))
			if contentType != "" {
				req.Header.Set("Content-Type", contentType)
			}
			for _, h := range headers {
				n, v, _ := strings.Cut(h, ": ")
				req.Header.Add(n, v)
			}
			return e.do(req)
		}
	}
	tests := []struct {
		name string
		send func() response
		want wantError
	}{
		// Request syntax: invalid_request, 400.
		{"GetIsNotAllowed", raw(http.MethodGet, "", "", auth), wantError{405, "invalid_request", "only POST"}},
		{"JSONBody", raw(http.MethodPost, "application/json", `{"grant_type":"client_credentials"}`, auth), wantError{400, "invalid_request", "application/x-www-form-urlencoded"}},
		{"NoContentType", raw(http.MethodPost, "", grant, auth), wantError{400, "invalid_request", "application/x-www-form-urlencoded"}},
		{"MultipartBody", raw(http.MethodPost, "multipart/form-data; boundary=x", grant, auth), wantError{400, "invalid_request", "application/x-www-form-urlencoded"}},
		{"OtherCharset", raw(http.MethodPost, "application/x-www-form-urlencoded; charset=iso-8859-1", grant, auth), wantError{400, "invalid_request", "charset=utf-8"}},
		{"Utf8CharsetIsFine", raw(http.MethodPost, "application/x-www-form-urlencoded; charset=UTF-8", grant+"&scope=nope", auth), wantError{400, "invalid_scope", "nope"}},
		{"ParametersInTheURL", func() response {
			req, _ := http.NewRequestWithContext(testCtx(t), http.MethodPost, e.url+"/oauth2/token?client_secret=x", strings.NewReader(grant))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return e.do(req)
		}, wantError{400, "invalid_request", "not in the URL"}},
		{"RepeatedGrantType", post(grant+"&"+grant, auth), wantError{400, "invalid_request", "grant_type is repeated"}},
		{"RepeatedScope", post(grant+"&scope=orders:read&scope=orders:write", auth), wantError{400, "invalid_request", "scope is repeated"}},
		{"RepeatedClientID", post(grant + "&client_id=" + id + "&client_id=" + id + "&client_secret=" + secret), wantError{400, "invalid_request", "client_id is repeated"}},
		{"RepeatedUnknownParameter", post(grant+"&x=1&x=2", auth), wantError{400, "invalid_request", "(a parameter) is repeated"}},
		{"BadPercentEncoding", post(grant+"&scope=%zz", auth), wantError{400, "invalid_request", "not valid application/x-www-form-urlencoded"}},
		{"SemicolonSeparator", post(grant+";scope=orders:read", auth), wantError{400, "invalid_request", "not valid"}},
		{"MissingGrantType", post("scope=orders:read", auth), wantError{400, "invalid_request", "grant_type is missing"}},
		{"EmptyGrantTypeIsMissing", post("grant_type=", auth), wantError{400, "invalid_request", "grant_type is missing"}},
		{"RepeatedAuthorizationHeader", post(grant, auth, auth), wantError{400, "invalid_request", "Authorization header is repeated"}},
		{"TwoAuthenticationMethods", post(grant+"&client_id="+id+"&client_secret="+secret, auth), wantError{400, "invalid_request", "authenticated twice"}},
		{"BodyClientIDDiffersFromBasic", post(grant+"&client_id=gc_other", auth), wantError{400, "invalid_request", "differs"}},

		// Grant types: unsupported_grant_type, 400.
		{"PasswordGrant", post("grant_type=password&username=a&password=b", auth), wantError{400, "unsupported_grant_type", "'password'"}},
		{"AuthorizationCodeGrant", post("grant_type=authorization_code&code=x", auth), wantError{400, "unsupported_grant_type", "client_credentials"}},
		{"RefreshTokenGrant", post("grant_type=refresh_token&refresh_token=x", auth), wantError{400, "unsupported_grant_type", ""}},
		{"JWTBearerGrant", post("grant_type="+url.QueryEscape("urn:ietf:params:oauth:grant-type:jwt-bearer"), auth), wantError{400, "unsupported_grant_type", ""}},
		{"GrantTypeCaseMatters", post("grant_type=Client_Credentials", auth), wantError{400, "unsupported_grant_type", "did you mean client_credentials"}},
		{"UnknownGrantTypeIsNotEchoed", post("grant_type="+url.QueryEscape("x\"\\\n"+strings.Repeat("y", 200)), auth), wantError{400, "unsupported_grant_type", "this grant type is not supported"}},

		// Client authentication: invalid_client, 401 with a Basic challenge.
		{"NoClientAuthentication", post(grant), wantError{401, "invalid_client", "client authentication is required"}},
		{"ClientIDWithoutSecret", post(grant + "&client_id=" + id), wantError{401, "invalid_client", "client authentication is required"}},
		{"SecretWithoutClientID", post(grant + "&client_secret=" + secret), wantError{401, "invalid_client", "without client_id"}},
		{"WrongSecretBasic", post(grant, basic(id, secret+"x")), wantError{401, "invalid_client", "client authentication failed"}},
		{"WrongSecretPost", post(grant + "&client_id=" + id + "&client_secret=nope"), wantError{401, "invalid_client", "client authentication failed"}},
		{"UnknownClient", post(grant, basic("gc_nobody", secret)), wantError{401, "invalid_client", "client authentication failed"}},
		{"RemovedClient", post(grant, basic(removedID, removedSecret)), wantError{401, "invalid_client", "client authentication failed"}},
		{"BearerScheme", post(grant, "Authorization: Bearer "+secret), wantError{401, "invalid_client", "client_secret_basic"}},
		{"BasicNotBase64", post(grant, "Authorization: Basic !!!"), wantError{401, "invalid_client", "not base64"}},
		{"BasicWithoutColon", post(grant, "Authorization: Basic "+b64(id)), wantError{401, "invalid_client", "not base64 of client_id:client_secret"}},
		{"BasicNotFormEncoded", post(grant, "Authorization: Basic "+b64(id+":100%")), wantError{401, "invalid_client", "form-urlencoded"}},
		{"OverlongSecret", post(grant, basic(id, strings.Repeat("s", 600))), wantError{401, "invalid_client", "client authentication failed"}},

		// Scope: invalid_scope, 400.
		{"ScopeNotGranted", post(grant+"&scope=admin", auth), wantError{400, "invalid_scope", "'admin' is not granted"}},
		{"OneScopeNotGranted", post(grant+"&scope="+url.QueryEscape("orders:read admin"), auth), wantError{400, "invalid_scope", "'admin'"}},
		{"DoubleSpace", post(grant+"&scope="+url.QueryEscape("orders:read  orders:write"), auth), wantError{400, "invalid_scope", "malformed"}},
		{"TrailingSpace", post(grant+"&scope="+url.QueryEscape("orders:read "), auth), wantError{400, "invalid_scope", "malformed"}},
		{"ScopeWithQuote", post(grant+"&scope="+url.QueryEscape(`orders"read`), auth), wantError{400, "invalid_scope", "malformed"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkError(t, tc.send(), tc.want)
		})
	}
	// And the same client, asking properly, gets a token: nothing above was refused for
	// a reason other than the one each case names.
	if r := e.post("/oauth2/token", grant+"&scope=orders:read", auth); r.status != http.StatusOK {
		t.Errorf("the valid request = %d %s", r.status, r.body)
	}
}

// TestHugeBodyIsRefusedWithoutBeingRead sends 10 MB, with and without a Content-Length:
// the answer is invalid_request, the connection is not kept to read the rest, and it
// comes quickly.
func TestHugeBodyIsRefusedWithoutBeingRead(t *testing.T) {
	e := newEnv(t)
	id, secret := e.newClient("a")
	huge := "grant_type=client_credentials&scope=" + strings.Repeat("a", 10<<20)
	for _, tc := range []struct {
		name string
		body io.Reader
	}{
		{"WithContentLength", strings.NewReader(huge)},
		{"Chunked", io.MultiReader(strings.NewReader(huge))}, // no length: sent chunked
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(testCtx(t), http.MethodPost, e.url+"/oauth2/token", tc.body)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Authorization", basic(id, secret)[len("Authorization: "):])
			start := time.Now()
			r := e.do(req)
			checkError(t, r, wantError{400, "invalid_request", "65536"})
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("refusing a 10 MB body took %v", d)
			}
		})
	}
}

// TestEveryCodeHasItsRFCStatus pins the status of each error code the service emits.
func TestEveryCodeHasItsRFCStatus(t *testing.T) {
	got := map[string]int{}
	for code, status := range issuer.StatusOfForTest() {
		got[code] = status
	}
	want := map[string]int{
		"invalid_request": 400, "invalid_client": 401, "invalid_grant": 400, "unauthorized_client": 400,
		"unsupported_grant_type": 400, "invalid_scope": 400, "temporarily_unavailable": 503,
		"too_many_failures": 429, "server_error": 500,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("status of each code (-want +got):\n%s", diff)
	}
}

// TestResponsesNeverEchoSecrets: neither the secret sent nor the token appears in any
// answer or log line.
func TestResponsesNeverEchoSecrets(t *testing.T) {
	var logs bytes.Buffer
	e := newEnv(t, withLogger(&logs))
	id, secret := e.newClient("a")
	answers := []response{
		e.post("/oauth2/token", "grant_type=client_credentials", basic(id, secret+"wrong")),
		e.post("/oauth2/token", "grant_type=client_credentials&client_id="+id+"&client_secret="+secret+"&scope=b"),
		e.post("/oauth2/token", "grant_type="+secret, basic(id, secret)),
	}
	tok := e.token(id, secret, "")
	answers = append(answers, e.post("/oauth2/introspect", "token="+tok, basic(id, secret+"x")))
	for i, r := range answers {
		if bytes.Contains(r.body, []byte(secret)) || bytes.Contains(r.body, []byte(tok)) {
			t.Errorf("answer %d echoes a secret: %s", i, r.body)
		}
	}
	if bytes.Contains(logs.Bytes(), []byte(secret)) || bytes.Contains(logs.Bytes(), []byte(tok)) {
		t.Errorf("the log holds a secret or a token:\n%s", logs.String())
	}
	if !bytes.Contains(logs.Bytes(), []byte(`"cause":"secret_mismatch"`)) {
		t.Errorf("the log lacks the finer cause of the failure:\n%s", logs.String())
	}
}
