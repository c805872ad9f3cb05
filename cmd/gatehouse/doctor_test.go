package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/doctor"
	"github.com/google/go-cmp/cmp"
)

func runDoctorCmd(t *testing.T, getenv map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &cliEnv{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(k string) string { return getenv[k] }}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code = run(ctx, env, append([]string{"doctor"}, args...))
	return code, out.String(), errb.String()
}

func TestDoctorArgsAreScannedInAnyOrder(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want doctor.Options
		json bool
	}{
		{
			name: "URL first",
			args: []string{"https://api.example.com/x", "-H", "Authorization: Bearer abc", "-X", "PUT"},
			want: doctor.Options{URL: "https://api.example.com/x", Method: "PUT", Headers: []doctor.Header{{Name: "Authorization", Value: "Bearer abc"}}},
		},
		{
			name: "URL between flags, attached short forms, = long forms",
			args: []string{"-XPOST", "-HX-Api-Key:k1", "https://api.example.com/x", "--origin=http://localhost:3000", "--json", "-d", "a=b"},
			want: doctor.Options{URL: "https://api.example.com/x", Method: "POST", Origin: "http://localhost:3000",
				Headers: []doctor.Header{{Name: "X-Api-Key", Value: "k1"}}, Body: "a=b", HasBody: true},
			json: true,
		},
		{
			name: "every flag",
			args: []string{"--expect-issuer", "https://id", "--expect-audience", "api://o", "--env-file", ".env", "--var", "TOKEN",
				"--allow-host", "cdn.example.com", "--allow-host", "b.example:8443", "--compare-url", "http://origin:8080",
				"--fetch-jwks", "--cacert", "ca.pem", "-k", "--retry-variants", "--timeout", "3s", "-u", "alice:pw", "--", "https://a/x"},
			want: doctor.Options{URL: "https://a/x", ExpectIssuer: "https://id", ExpectAudience: "api://o", EnvFile: ".env", EnvVar: "TOKEN",
				AllowHosts: []string{"cdn.example.com", "b.example:8443"}, CompareURL: "http://origin:8080", FetchJWKS: true,
				CACertFile: "ca.pem", Insecure: true, RetryVariants: true, Timeout: 3 * time.Second, UserPass: "alice:pw", HasUserPass: true},
		},
		{
			name: "header value keeps a trailing CR and an empty value",
			args: []string{"https://a/x", "-H", "Authorization: Bearer abc\r", "-H", "User-Agent:"},
			want: doctor.Options{URL: "https://a/x", Headers: []doctor.Header{{Name: "Authorization", Value: "Bearer abc\r"}, {Name: "User-Agent", Value: ""}}},
		},
		{
			name: "timeout in plain seconds",
			args: []string{"https://a/x", "--timeout", "2.5"},
			want: doctor.Options{URL: "https://a/x", Timeout: 2500 * time.Millisecond},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := parseDoctorArgs(tc.args, &cliEnv{stdin: strings.NewReader("")})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, a.opts); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
			if a.json != tc.json {
				t.Errorf("json = %v", a.json)
			}
		})
	}
}

func TestDoctorUsageErrorsExitTwo(t *testing.T) {
	tests := []struct {
		args []string
		msg  string
	}{
		{nil, "missing URL"},
		{[]string{"https://a/x", "https://b/y"}, "more than one URL"},
		{[]string{"https://a/x", "--bogus"}, "unknown flag --bogus"},
		{[]string{"https://a/x", "-H"}, "flag -H needs a value"},
		{[]string{"https://a/x", "-H", "no colon here"}, "-H wants 'Name: value'"},
		{[]string{"https://a/x", "--json=yes"}, "takes no value"},
		{[]string{"https://a/x", "--timeout", "soon"}, "--timeout wants a positive duration"},
		{[]string{"https://a/x", "--har", "x.har"}, "not both"},
		{[]string{"ht!tp://bad url"}, "URL does not parse"},
		{[]string{"ftp://example.com/x"}, "URL must start with http:// or https://"},
		{[]string{"http://[::1/x"}, "URL does not parse"},
		{[]string{"https://a/x", "--env-file", ".env"}, "--env-file and --var go together"},
		{[]string{"--har", "/nonexistent.har"}, "--har"},
		{[]string{"--har", "../../internal/doctor/testdata/har/not_json.har"}, "not JSON"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, _, stderr := runDoctorCmd(t, nil, tc.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if !strings.Contains(stderr, tc.msg) {
				t.Errorf("stderr %q lacks %q", stderr, tc.msg)
			}
		})
	}
}

func TestDoctorHelp(t *testing.T) {
	code, stdout, _ := runDoctorCmd(t, nil, "--help")
	if code != 0 || !strings.Contains(stdout, "Exit status: 0 ok") || !strings.Contains(stdout, "Examples:") {
		t.Fatalf("exit %d\n%s", code, stdout)
	}
}

func TestDoctorExitCodes(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/ok":
			_, _ = w.Write([]byte("{}"))
		case r.Host == "api.example.com":
			w.Header().Set("Proxy-Authenticate", `Basic realm="corp"`)
			w.WriteHeader(407)
		default:
			w.Header().Set("WWW-Authenticate", `Bearer realm="api", error="invalid_token"`)
			w.WriteHeader(401)
		}
	}))
	defer srv.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()

	tests := []struct {
		name   string
		env    map[string]string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{name: "authenticated", args: []string{srv.URL + "/ok", "-H", "Authorization: Bearer abcdefghijklmnopqrstuvwxyz"}, code: 0, stdout: "✓ verdict: ok"},
		{name: "refused", args: []string{srv.URL + "/orders", "-H", "Authorization: Bearer abcdefghijklmnopqrstuvwxyz"}, code: 1, stdout: "✗ verdict: credential_rejected_unknown"},
		{name: "proxy 407", env: map[string]string{"HTTP_PROXY": srv.URL}, args: []string{"http://api.example.com/orders"}, code: 1, stdout: "proxy_auth_required_407"},
		{name: "unreachable", args: []string{"http://" + closed + "/x"}, code: 3, stderr: "cannot reach " + closed},
		{name: "unreachable json", args: []string{"--json", "http://" + closed + "/x"}, code: 3, stdout: `"verdict": "unreachable"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runDoctorCmd(t, tc.env, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, stdout, stderr)
			}
			if !strings.Contains(stdout, tc.stdout) {
				t.Errorf("stdout lacks %q:\n%s", tc.stdout, stdout)
			}
			if !strings.Contains(stderr, tc.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderr, stderr)
			}
			if strings.Contains(stdout+stderr, "abcdefghijklmnopqrstuvwxyz") {
				t.Errorf("the output shows the token")
			}
		})
	}
}

func keysOf(m map[string]json.RawMessage) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestDoctorJSONIsTheContractShape(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("WWW-Authenticate", `Bearer realm="api", error="invalid_token", error_description="caf`+"\xe9"+`"`)
		w.Header().Add("WWW-Authenticate", `Basic realm="api", charset="UTF-8"`)
		w.WriteHeader(401)
	}))
	defer srv.Close()
	code, stdout, stderr := runDoctorCmd(t, nil, "--json", srv.URL+"/x", "-u", "alice:secret")
	if code != 1 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, stdout)
	}
	if diff := cmp.Diff([]string{"credential", "findings", "hops", "request", "response", "verdict"}, keysOf(doc)); diff != "" {
		t.Errorf("top-level keys (-want +got):\n%s", diff)
	}
	var resp struct {
		Status     int                 `json:"status"`
		Headers    map[string][]string `json:"headers"`
		Challenges []struct {
			Scheme  string            `json:"scheme"`
			Params  map[string]string `json:"params"`
			Token68 string            `json:"token68"`
		} `json:"challenges"`
	}
	if err := json.Unmarshal(doc["response"], &resp); err != nil {
		t.Fatal(err)
	}
	if resp.Status != 401 || len(resp.Challenges) != 2 || resp.Challenges[0].Params["error_description"] != "café" || resp.Challenges[1].Params["charset"] != "UTF-8" {
		t.Errorf("response = %+v", resp)
	}
	var findings []map[string]json.RawMessage
	if err := json.Unmarshal(doc["findings"], &findings); err != nil || len(findings) == 0 {
		t.Fatalf("findings: %v", err)
	}
	if diff := cmp.Diff([]string{"code", "evidence", "fix", "severity", "summary"}, keysOf(findings[0])); diff != "" {
		t.Errorf("finding keys (-want +got):\n%s", diff)
	}
	if strings.Contains(stdout, "secret") || strings.Contains(stdout, "YWxpY2U6c2VjcmV0") {
		t.Errorf("the JSON shows the password")
	}
}

func TestDoctorUnparseableChallengeGivesNullChallenges(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="unterminated`)
		w.WriteHeader(401)
	}))
	defer srv.Close()
	_, stdout, _ := runDoctorCmd(t, nil, "--json", srv.URL)
	var doc struct {
		Response struct {
			Challenges json.RawMessage `json:"challenges"`
		} `json:"response"`
		Findings []struct {
			Code     string   `json:"code"`
			Evidence []string `json:"evidence"`
		} `json:"findings"`
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatal(err)
	}
	if string(doc.Response.Challenges) != "null" {
		t.Errorf("challenges = %s, want null", doc.Response.Challenges)
	}
	found := false
	for _, f := range doc.Findings {
		if f.Code == "challenge_unparseable" && strings.Contains(strings.Join(f.Evidence, "\n"), "field 1 of 1") {
			found = true
		}
	}
	if !found {
		t.Errorf("no challenge_unparseable finding naming the field:\n%s", stdout)
	}
}

func TestDoctorHARJSON(t *testing.T) {
	code, stdout, stderr := runDoctorCmd(t, nil, "--har", "../../internal/doctor/testdata/har/expired_jwt.har", "--json")
	if code != 1 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var doc struct {
		Entries []struct {
			Index   int    `json:"index"`
			URL     string `json:"url"`
			Verdict string `json:"verdict"`
		} `json:"entries"`
		Verdict string `json:"verdict"`
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Verdict != "jwt_expired" || len(doc.Entries) != 2 || doc.Entries[0].Index != 1 || doc.Entries[0].URL != "https://api.example.com/orders" {
		t.Errorf("doc = %+v", doc)
	}
}

// TestDoctorAgainstARealGatehouse runs the doctor against the gateway binary: the
// gateway's problem+json reason must become the verdict, and a valid token must be ok.
func TestDoctorAgainstARealGatehouse(t *testing.T) {
	g := startGateway(t)
	tests := []struct {
		name    string
		path    string
		token   string
		extra   []string
		code    int
		verdict string
	}{
		{name: "valid token", path: "/orders", token: g.token(t, nil), code: 0, verdict: "ok"},
		{name: "no token", path: "/orders", code: 1, verdict: "credential_missing_or_empty"},
		{name: "expired", path: "/orders", token: g.token(t, map[string]any{"exp": time.Now().Add(-10 * time.Minute).Unix(), "iat": time.Now().Add(-time.Hour).Unix()}), code: 1, verdict: "jwt_expired"},
		{name: "wrong audience", path: "/orders", token: g.token(t, map[string]any{"aud": "api://billing"}), code: 1, verdict: "jwt_audience_mismatch"},
		{name: "wrong issuer", path: "/orders", token: g.token(t, map[string]any{"iss": "https://evil.test"}), code: 1, verdict: "jwt_issuer_or_tenant_mismatch"},
		{name: "missing scope", path: "/admin/users", token: g.token(t, nil), code: 1, verdict: "insufficient_scope_or_permission"},
		{name: "anonymous route", path: "/open/health", code: 0, verdict: "ok"},
		{name: "CORS from an unlisted origin", path: "/orders", token: g.token(t, nil), extra: []string{"--origin", "http://evil.test"}, code: 1, verdict: "cors_preflight_requires_auth"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"--json", g.base + tc.path}
			if tc.token != "" {
				args = append(args, "-H", "Authorization: Bearer "+tc.token)
			}
			args = append(args, tc.extra...)
			code, stdout, stderr := runDoctorCmd(t, nil, args...)
			var doc struct {
				Verdict  string `json:"verdict"`
				Findings []struct {
					Code     string   `json:"code"`
					Evidence []string `json:"evidence"`
				} `json:"findings"`
			}
			if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
				t.Fatalf("%v\n%s\n%s", err, stdout, stderr)
			}
			if code != tc.code || doc.Verdict != tc.verdict {
				t.Fatalf("exit %d verdict %q, want %d %q\n%s", code, doc.Verdict, tc.code, tc.verdict, stdout)
			}
			if tc.token != "" && strings.Contains(stdout, tc.token) {
				t.Errorf("the report shows the token")
			}
		})
	}
}
