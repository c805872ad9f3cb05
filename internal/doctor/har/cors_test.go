package har

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestEvaluatePreflightComparesRequestedWithAllowed(t *testing.T) {
	const app = "https://app.example.com"
	h := func(kv ...string) []Header {
		var out []Header
		for i := 0; i < len(kv); i += 2 {
			out = append(out, Header{kv[i], kv[i+1]})
		}
		return out
	}
	good := h("Access-Control-Allow-Origin", app, "Access-Control-Allow-Methods", "GET, POST, DELETE", "Access-Control-Allow-Headers", "Authorization, Content-Type")
	tests := []struct {
		name         string
		method       string
		headers      []string
		credentialed bool
		status       int
		resp         []Header
		want         []string
		evidence     string
	}{
		{name: "HealthyPreflight", method: "DELETE", headers: []string{"authorization", "content-type"}, status: 204, resp: good, want: []string{}},
		{name: "HealthyCaseInsensitive", method: "GET", headers: []string{"Authorization"}, status: 200, resp: h("access-control-allow-origin", app, "access-control-allow-headers", "AUTHORIZATION"), want: []string{}},
		{name: "SimpleMethodNeedsNoListing", method: "POST", headers: []string{"authorization"}, status: 204, resp: h("Access-Control-Allow-Origin", "*", "Access-Control-Allow-Headers", "authorization"), want: []string{}},
		{name: "Unauthorized", method: "GET", headers: []string{"authorization"}, status: 401, resp: h("WWW-Authenticate", "Bearer"), want: []string{"cors_preflight_requires_auth"}, evidence: "OPTIONS preflight answered 401"},
		{name: "Forbidden", method: "GET", headers: []string{"authorization"}, status: 403, want: []string{"cors_preflight_requires_auth"}},
		{name: "MethodNotAllowedStatus", method: "GET", headers: []string{"authorization"}, status: 405, resp: good, want: []string{"cors_authorization_not_allowed"}, evidence: "browsers require a 2xx status"},
		{name: "WildcardDoesNotCoverAuthorization", method: "GET", headers: []string{"authorization", "x-trace"}, status: 204, resp: h("Access-Control-Allow-Origin", app, "Access-Control-Allow-Headers", "*"), want: []string{"cors_authorization_not_allowed"}, evidence: "does not list authorization ('*' does not cover Authorization)"},
		{name: "MissingAllowOrigin", method: "GET", headers: []string{"authorization"}, status: 204, resp: h("Access-Control-Allow-Headers", "authorization"), want: []string{"cors_authorization_not_allowed"}, evidence: "Access-Control-Allow-Origin is missing"},
		{name: "WrongAllowOrigin", method: "GET", headers: []string{"authorization"}, status: 204, resp: h("Access-Control-Allow-Origin", "https://other.example.com", "Access-Control-Allow-Headers", "authorization"), want: []string{"cors_authorization_not_allowed"}, evidence: `not the page's origin "https://app.example.com"`},
		{name: "MethodNotListed", method: "PUT", headers: nil, status: 204, resp: h("Access-Control-Allow-Origin", app, "Access-Control-Allow-Methods", "GET"), want: []string{"cors_authorization_not_allowed"}, evidence: "✗ method"},
		{name: "CredentialedWildcardOrigin", method: "GET", headers: []string{"authorization"}, credentialed: true, status: 204, resp: h("Access-Control-Allow-Origin", "*", "Access-Control-Allow-Headers", "authorization", "Access-Control-Allow-Credentials", "true"), want: []string{"cors_credentials_misconfigured"}, evidence: "'*', which browsers reject"},
		{name: "CredentialedWithoutAllowCredentials", method: "GET", headers: nil, credentialed: true, status: 204, resp: h("Access-Control-Allow-Origin", app), want: []string{"cors_credentials_misconfigured"}, evidence: "Access-Control-Allow-Credentials: true is missing"},
		{name: "CredentialedHealthy", method: "GET", headers: []string{"x-csrftoken"}, credentialed: true, status: 204, resp: h("Access-Control-Allow-Origin", app, "Access-Control-Allow-Credentials", "true", "Access-Control-Allow-Headers", "X-CSRFToken"), want: []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eval := EvaluatePreflight
			if tt.credentialed {
				eval = EvaluateCredentialedPreflight
			}
			fs := eval(app, tt.method, tt.headers, tt.status, tt.resp)
			got := []string{}
			var text strings.Builder
			for _, f := range fs {
				got = append(got, f.Code)
				text.WriteString(f.Summary + "\n" + strings.Join(f.Evidence, "\n") + "\n")
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("codes (-want +got):\n%s\n%s", diff, text.String())
			}
			if !strings.Contains(text.String(), tt.evidence) {
				t.Errorf("evidence lacks %q:\n%s", tt.evidence, text.String())
			}
		})
	}
}

func TestExposeCheckWantsWWWAuthenticateExposed(t *testing.T) {
	const app = "https://app.example.com"
	base := []Header{{"Access-Control-Allow-Origin", app}, {"WWW-Authenticate", `Bearer error="invalid_token"`}}
	tests := []struct {
		name   string
		origin string
		resp   []Header
		want   bool
	}{
		{"NotExposed", app, base, true},
		{"Exposed", app, append(base, Header{"Access-Control-Expose-Headers", "X-Request-Id, www-authenticate"}), false},
		{"WildcardWithoutCredentials", app, append(base, Header{"Access-Control-Expose-Headers", "*"}), false},
		{"WildcardWithCredentials", app, append(base, Header{"Access-Control-Expose-Headers", "*"}, Header{"Access-Control-Allow-Credentials", "true"}), true},
		{"NoChallenge", app, []Header{{"Access-Control-Allow-Origin", app}}, false},
		{"OriginNotAllowed", app, []Header{{"Access-Control-Allow-Origin", "https://x"}, {"WWW-Authenticate", "Bearer"}}, false},
		{"SameOrigin", "", base, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := ExposeCheck(tt.origin, 401, tt.resp)
			if (f != nil) != tt.want {
				t.Fatalf("ExposeCheck = %+v, want finding %v", f, tt.want)
			}
			if f != nil && f.Code != CodeWWWAuthenticateNotExposed {
				t.Errorf("code %s", f.Code)
			}
		})
	}
}

func TestSanitizeRedactsCredentialsInPlace(t *testing.T) {
	l := &Log{Entries: []Entry{{
		URL: "https://u:p@api.example.com/x?access_token=abcdefghijklmnopqrstuvwxyz&page=2",
		RequestHeaders: []Header{
			{"Authorization", "Bearer abcdefghijklmnopqrstuvwxyz0123"},
			{"Cookie", "sessionid=s3ss10nvalue0123456789; theme=dark"},
			{"X-API-Key", "gk_live_k7Fq2_Zr8mQ4vX1pL9sT3nB6yH0cW5eJ2dA"},
			{"Accept", "application/json"},
		},
		ResponseHeaders: []Header{{"Set-Cookie", "sessionid=s3ss10nvalue0123456789; Path=/; HttpOnly"}},
		BodyPrefix:      `{"access_token":"eyJhbGciOiJIUzI1NiJ9.e30.sig-abcdefghijkl","ok":true}`,
		PostDataPrefix:  "password=hunter2",
	}}}
	Sanitize(l)
	e := l.Entries[0]
	all := e.URL + e.BodyPrefix + e.PostDataPrefix
	for _, h := range append(e.RequestHeaders, e.ResponseHeaders...) {
		all += "\n" + h.Name + ": " + h.Value
	}
	for _, secret := range []string{"abcdefghijklmnopqrstuvwxyz", "s3ss10nvalue", "k7Fq2_Zr8mQ4vX1pL9sT3nB6y", "hunter2", "sig-abcdefghijkl", "u:p@"} {
		if strings.Contains(all, secret) {
			t.Errorf("sanitised log still holds %q:\n%s", secret, all)
		}
	}
	for _, kept := range []string{"page=2", "theme=<4 bytes>", "Path=/; HttpOnly", "Accept: application/json", `"ok":true`, "Authorization: Bearer "} {
		if !strings.Contains(all, kept) {
			t.Errorf("sanitised log lost %q:\n%s", kept, all)
		}
	}
}
