package client

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// response builds a response to a request that carried sent (header name, value pairs).
func response(status int, header http.Header, body string, sent ...string) *http.Response {
	req, _ := http.NewRequest("GET", "http://api.test/orders", nil)
	for i := 0; i+1 < len(sent); i += 2 {
		req.Header.Add(sent[i], sent[i+1])
	}
	if header == nil {
		header = http.Header{}
	}
	return &http.Response{StatusCode: status, Header: header, Body: io.NopCloser(strings.NewReader(body)), Request: req}
}

func TestCheckResponse(t *testing.T) {
	problem := http.Header{"Content-Type": {"application/problem+json"}, "X-Request-Id": {"hdr-id"}}
	tests := []struct {
		name   string
		resp   *http.Response
		want   *Error
		text   string
		wantOK bool
	}{
		{name: "200", resp: response(200, nil, "ok"), wantOK: true},
		{name: "302", resp: response(302, nil, ""), wantOK: true},
		{
			name: "gatehouse 401 token_expired",
			resp: response(401, http.Header{
				"Content-Type":     {"application/problem+json"},
				"X-Request-Id":     {"01J0REQ"},
				"Www-Authenticate": {`Bearer realm="orders", error="invalid_token", error_description="expired 4m12s ago"`},
			}, `{"type":"https://x/reasons.md#token_expired","title":"Token expired","status":401,"detail":"expired 4m12s ago","reason":"token_expired","request_id":"01J0REQ"}`),
			want: &Error{Status: 401, Reason: "token_expired", Title: "Token expired", Detail: "expired 4m12s ago", RequestID: "01J0REQ",
				Challenges: []Challenge{{Scheme: "Bearer", Params: []Param{{"realm", "orders"}, {"error", "invalid_token"}, {"error_description", "expired 4m12s ago"}}}}},
			text: "401 Unauthorized: token_expired: expired 4m12s ago (request id 01J0REQ)",
		},
		{
			name: "plain RFC 6750 server: the reason is the challenge's error",
			resp: response(401, http.Header{"Www-Authenticate": {`Bearer realm="api", error="invalid_token", error_description="The access token expired"`, `Basic realm="api"`}}, "expired"),
			want: &Error{Status: 401, Reason: "invalid_token", Detail: "The access token expired",
				Challenges: []Challenge{
					{Scheme: "Bearer", Params: []Param{{"realm", "api"}, {"error", "invalid_token"}, {"error_description", "The access token expired"}}},
					{Scheme: "Basic", Params: []Param{{"realm", "api"}}},
				}},
			text: "401 Unauthorized: invalid_token: The access token expired",
		},
		{
			name: "session login url",
			resp: response(401, problem, `{"reason":"credentials_missing","request_id":"r1","login_url":"https://app.test/_gatehouse/login?rd=%2Fx"}`),
			want: &Error{Status: 401, Reason: "credentials_missing", RequestID: "r1", LoginURL: "https://app.test/_gatehouse/login?rd=%2Fx"},
			text: "401 Unauthorized: credentials_missing (request id r1)",
		},
		{
			name: "429 Retry-After",
			resp: response(429, http.Header{"Retry-After": {"7"}, "Content-Type": {"application/problem+json"}}, `{"reason":"too_many_failures"}`),
			want: &Error{Status: 429, Reason: "too_many_failures", RetryAfter: 7 * time.Second},
			text: "429 Too Many Requests: too_many_failures",
		},
		{
			name: "a reason and request id that are not codes are dropped",
			resp: response(403, problem, `{"reason":"Forbidden! see <script>","request_id":"a b\nc"}`),
			want: &Error{Status: 403},
			text: "403 Forbidden",
		},
		{
			name: "header request id when the body has none",
			resp: response(500, http.Header{"X-Request-Id": {"hdr-id"}}, "<html>oops</html>"),
			want: &Error{Status: 500, RequestID: "hdr-id"},
			text: "500 Internal Server Error (request id hdr-id)",
		},
		{
			name: "unparseable challenge",
			resp: response(401, http.Header{"Www-Authenticate": {`Bearer error="unterminated`}}, ""),
			want: &Error{Status: 401},
			text: "401 Unauthorized",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckResponse(tc.resp)
			if tc.wantOK {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			e, ok := err.(*Error)
			if !ok {
				t.Fatalf("err = %T %v", err, err)
			}
			if diff := cmp.Diff(tc.want, e, cmpopts.IgnoreFields(Error{}, "ChallengeErr")); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if e.Error() != tc.text {
				t.Errorf("text %q, want %q", e.Error(), tc.text)
			}
		})
	}
}

// TestCheckResponseLeavesTheBodyReadable: the caller still reads the whole body.
func TestCheckResponseLeavesTheBodyReadable(t *testing.T) {
	body := `{"reason":"forbidden","pad":"` + strings.Repeat("x", maxProblemBytes) + `"}`
	resp := response(403, http.Header{"Content-Type": {"application/problem+json"}}, body)
	CheckResponse(resp)
	got, _ := io.ReadAll(resp.Body)
	if string(got) != body {
		t.Fatalf("body after CheckResponse: %d bytes, want %d", len(got), len(body))
	}
}

// TestErrorNeverHoldsTheCredential: a server that echoes what it was sent, in the
// detail, the title or a challenge, does not get the credential into the error.
func TestErrorNeverHoldsTheCredential(t *testing.T) {
	const token = "eyJhbGciOiJFUzI1NiJ9.c2VjcmV0.c2ln"
	const password = "correct horse battery"
	basic := "Basic " + "YWxpY2U6Y29ycmVjdCBob3JzZSBiYXR0ZXJ5" // alice:correct horse battery
	tests := []struct {
		name, echo string
		sent       []string
		secrets    []string
	}{
		{"bearer token", token, []string{"Authorization", "Bearer " + token}, []string{token}},
		{"whole authorization header", "Bearer " + token, []string{"Authorization", "Bearer " + token}, []string{token}},
		{"api key", "gk_live_abc_s3cretkeyvalue", []string{"X-API-Key", "gk_live_abc_s3cretkeyvalue"}, []string{"gk_live_abc_s3cretkeyvalue"}},
		{"basic password", "wrong password '" + password + "' for alice", []string{"Authorization", basic}, []string{password}},
		{"basic encoded", basic, []string{"Authorization", basic}, []string{"YWxpY2U6Y29ycmVjdCBob3JzZSBiYXR0ZXJ5"}},
		{"cookie", "session=abcdef123456", []string{"Cookie", "session=abcdef123456"}, []string{"abcdef123456"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hdr := http.Header{
				"Content-Type":     {"application/problem+json"},
				"Www-Authenticate": {`Bearer error="invalid_token", error_description="` + strings.ReplaceAll(tc.echo, `"`, `\"`) + `"`},
			}
			body := `{"reason":"token_expired","title":"` + tc.echo + `","detail":"you sent ` + tc.echo + `","login_url":"https://x.test/?t=` + tc.echo + `"}`
			e := CheckResponse(response(401, hdr, body, tc.sent...)).(*Error)
			all := e.Error() + e.Title + e.Detail + e.LoginURL
			for _, c := range e.Challenges {
				for _, p := range c.Params {
					all += p.Value
				}
			}
			for _, s := range tc.secrets {
				if strings.Contains(all, s) {
					t.Errorf("error holds %q:\n%s", s, all)
				}
			}
			if !strings.Contains(e.Detail, "[redacted]") {
				t.Errorf("detail %q: nothing redacted", e.Detail)
			}
		})
	}
}

func TestCredentialsHideTheirValueFromFormatting(t *testing.T) {
	for _, c := range []Credentials{Bearer("tok-s3cret"), APIKey("tok-s3cret"), Basic("u", "tok-s3cret")} {
		for _, s := range []string{fmtV(c), fmtGo(c)} {
			if strings.Contains(s, "tok-s3cret") || strings.Contains(s, "dTp0b2stczNjcmV0") {
				t.Errorf("formatting shows the credential: %s", s)
			}
		}
	}
}

func TestRetryAfterParsing(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0}, {"0", 0}, {"5", 5 * time.Second}, {" 12 ", 12 * time.Second}, {"-1", 0}, {"9999999999", 0}, {"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
	}
	for _, tc := range tests {
		if got := retryAfter(tc.in, now); got != tc.want {
			t.Errorf("retryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func fmtV(c Credentials) string  { return fmt.Sprintf("%v %+v %s", c, c, c) }
func fmtGo(c Credentials) string { return fmt.Sprintf("%#v", c) }

// TestLoginURLIsAnHTTPURLOrNothing: a login_url that is not http(s) (javascript:, data:)
// never reaches the caller, and a relative one is resolved against the request.
func TestLoginURLIsAnHTTPURLOrNothing(t *testing.T) {
	for _, tt := range []struct{ sent, want string }{
		{"javascript:alert(1)", ""},
		{"data:text/html,hi", ""},
		{"/_gatehouse/login?rd=%2Fx", "https://api.example.com/_gatehouse/login?rd=%2Fx"},
		{"https://idp.example.com/login", "https://idp.example.com/login"},
	} {
		req, _ := http.NewRequest("GET", "https://api.example.com/orders", nil)
		resp := &http.Response{StatusCode: 401, Request: req, Header: http.Header{"Content-Type": {"application/problem+json"}},
			Body: io.NopCloser(strings.NewReader(`{"reason":"credentials_missing","login_url":` + strconv.Quote(tt.sent) + `}`))}
		var e *Error
		if !errors.As(CheckResponse(resp), &e) {
			t.Fatalf("%q: no *Error", tt.sent)
		}
		if e.LoginURL != tt.want {
			t.Errorf("login_url %q: LoginURL %q, want %q", tt.sent, e.LoginURL, tt.want)
		}
	}
}
