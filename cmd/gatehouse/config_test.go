package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// runConfigCmd runs the command line in process with env as the environment.
func runConfigCmd(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &cliEnv{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(k string) string { return env[k] }}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code = run(ctx, e, args)
	return code, out.String(), errb.String()
}

func TestConfigCheckAcceptsAValidFile(t *testing.T) {
	file := filepath.Join("..", "..", "internal", "config", "testdata", "good.yaml")
	env := map[string]string{"GATEHOUSE_REALM": "orders-api", "UPSTREAM": "http://127.0.0.1:9000", "KEY_PEPPER": "p"}
	code, stdout, stderr := runConfigCmd(t, env, "config", "check", file)
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	if want := file + ": ok (3 routes, 8 authenticators)\n"; stdout != want {
		t.Errorf("stdout = %q, want %q", stdout, want)
	}
}

func TestConfigCheckCountsInTheSingular(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "gatehouse.yaml")
	writeConfigFile(t, file, "realm: r\nauthenticators: {b: {type: basic}}\nroutes: [{match: {path_prefix: /}, authenticate: [b]}]\n")
	code, stdout, _ := runConfigCmd(t, nil, "config", "check", file)
	if want := file + ": ok (1 route, 1 authenticator)\n"; code != 0 || stdout != want {
		t.Errorf("exit %d, stdout %q; want 0, %q", code, stdout, want)
	}
}

func TestConfigCheckWarnsOfAMethodRestrictedRouteInFrontOfABroaderOne(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "gatehouse.yaml")
	writeConfigFile(t, file, `realm: r
authenticators: {b: {type: basic}}
routes:
  - name: reports
    match: {path_prefix: /reports, methods: [GET]}
    authenticate: [b]
  - name: all
    match: {path_prefix: /}
    authenticate: anonymous
`)
	code, stdout, stderr := runConfigCmd(t, nil, "config", "check", file)
	want := file + `:5: warning: routes[0].match.methods: route "reports" takes only GET, HEAD: other methods under /reports get 405 method_not_allowed, not route "all" (line 7); list them here, or set methods_fallthrough: true to have route "all" decide them` + "\n"
	if code != 0 || stderr != want || !strings.HasSuffix(stdout, ": ok (2 routes, 1 authenticator)\n") {
		t.Errorf("exit %d\nstdout %q\nstderr %q\nwant stderr %q", code, stdout, stderr, want)
	}
}

// TestConfigCheckListsEveryProblem checks the output shape scripts and editors rely on:
// one "FILE:LINE: message" per problem on stderr, the .env file named for its own.
func TestConfigCheckListsEveryProblem(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "gatehouse.yaml")
	writeConfigFile(t, filepath.Join(dir, ".env"), "OK=1\nthis line is wrong\n")
	writeConfigFile(t, file, `realm: r
listen: ${LISTEN}
environment: PROD
routes:
  - match: {path_prefix: /}
    authenticate: [nobody]
`)
	code, stdout, stderr := runConfigCmd(t, nil, "config", "check", file)
	if code != 1 || stdout != "" {
		t.Fatalf("exit %d, stdout %q; want 1 and nothing on stdout", code, stdout)
	}
	want := []string{
		filepath.Join(dir, ".env") + ":2: expected KEY=VALUE",
		file + ":2: listen: ${LISTEN} is not set",
		file + `:3: environment: "PROD" must be 1 to 16 lower-case letters or digits`,
		file + `:6: route "route-0" names authenticator "nobody" which is not defined`,
	}
	if diff := cmp.Diff(want, strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")); diff != "" {
		t.Errorf("stderr (-want +got):\n%s", diff)
	}
}

func TestConfigCheckUsage(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name       string
		args       []string
		code       int
		wantStdout string
		wantStderr string
	}{
		{"no subcommand", []string{"config"}, 2, "", "gatehouse config check [--config FILE]"},
		{"help", []string{"config", "--help"}, 0, "gatehouse config check [--config FILE]", ""},
		{"help command", []string{"help", "config", "check"}, 0, "--print", ""},
		{"unknown subcommand", []string{"config", "lint"}, 2, "", `unknown subcommand "lint"`},
		{"check help", []string{"config", "check", "--help"}, 0, "FILE: ok (N routes, M authenticators)", ""},
		{"check without file reads ./gatehouse.yaml", []string{"config", "check"}, 1, "", "gatehouse.yaml: config: load gatehouse.yaml"},
		{"check with two files", []string{"config", "check", "a", "b"}, 2, "", "want one FILE, got 2 arguments"},
		{"check with --config and another file", []string{"config", "check", "--config", "a", "b"}, 2, "", "give the file once"},
		{"check with unknown flag", []string{"config", "check", "--strict", "a"}, 2, "", "flag provided but not defined: -strict"},
		{"check a missing file", []string{"config", "check", filepath.Join(dir, "nope.yaml")}, 1, "", "no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runConfigCmd(t, nil, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d", code, tt.code)
			}
			if tt.wantStdout == "" && stdout != "" || !strings.Contains(stdout, tt.wantStdout) {
				t.Errorf("stdout = %q, want it to contain %q", stdout, tt.wantStdout)
			}
			if tt.wantStderr == "" && stderr != "" || !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("stderr = %q, want it to contain %q", stderr, tt.wantStderr)
			}
		})
	}
}

func writeConfigFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestConfigCheckNotesTheChangedMTLSPrincipalDefault: an mtls authenticator without
// principal_from used to take the CN and now takes the DNS SAN; config check says so,
// and says nothing once the field is set.
func TestConfigCheckNotesTheChangedMTLSPrincipalDefault(t *testing.T) {
	ca, err := os.ReadFile(filepath.Join("..", "..", "internal", "config", "testdata", "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, mtls string
		wantNote   bool
	}{
		{"Unset", "{type: mtls, ca_file: ca.pem}", true},
		{"SetToCN", "{type: mtls, ca_file: ca.pem, principal_from: cn}", false},
		{"SetToDNSSAN", "{type: mtls, ca_file: ca.pem, principal_from: san_dns}", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeConfigFile(t, filepath.Join(dir, "ca.pem"), string(ca))
			for _, f := range []string{"tls.crt", "tls.key"} {
				b, err := os.ReadFile(filepath.Join("..", "..", "internal", "config", "testdata", f))
				if err != nil {
					t.Fatal(err)
				}
				writeConfigFile(t, filepath.Join(dir, f), string(b))
			}
			file := filepath.Join(dir, "gatehouse.yaml")
			writeConfigFile(t, file, "realm: r\ntls: {cert_file: tls.crt, key_file: tls.key}\nauthenticators: {partners: "+tc.mtls+"}\nroutes: [{match: {path_prefix: /}, authenticate: [partners]}]\n")
			code, stdout, stderr := runConfigCmd(t, nil, "config", "check", file)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			note := ": warning: authenticators.partners: principal_from is not set: the principal now comes from the certificate's first DNS SAN (san_dns); earlier versions took the CN."
			if got := strings.Contains(stderr, note); got != tc.wantNote {
				t.Errorf("stdout = %q, stderr = %q; warning present %v, want %v", stdout, stderr, got, tc.wantNote)
			}
		})
	}
}

// TestConfigCheckTakesConfigLikeEveryCommand checks that --config FILE, the FILE
// argument and $GATEHOUSE_CONFIG name the same file.
func TestConfigCheckTakesConfigLikeEveryCommand(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "gh.yaml")
	writeConfigFile(t, file, "realm: r\nauthenticators: {b: {type: basic}}\nroutes: [{match: {path_prefix: /}, authenticate: [b]}]\n")
	want := file + ": ok (1 route, 1 authenticator)\n"
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"argument", nil, []string{"config", "check", file}},
		{"flag", nil, []string{"config", "check", "--config", file}},
		{"flag after", nil, []string{"config", "check", "--config=" + file}},
		{"both the same", nil, []string{"config", "check", "--config", file, file}},
		{"environment", map[string]string{"GATEHOUSE_CONFIG": file}, []string{"config", "check"}},
	} {
		if code, stdout, stderr := runConfigCmd(t, tc.env, tc.args...); code != 0 || stdout != want {
			t.Errorf("%s: exit %d, stdout %q, stderr %q", tc.name, code, stdout, stderr)
		}
	}
}

// TestConfigCheckJSON checks the --json report: ok, problems with file, line, key path
// and message, warnings beside them, and the exit status of the text form.
func TestConfigCheckJSON(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	writeConfigFile(t, bad, "realm: r\nlisten: 300.1.1.1:x\nroutes: [{match: {path_prefix: /}, authenticate: [nope]}]\n")
	warn := filepath.Join(dir, "warn.yaml")
	writeConfigFile(t, warn, "realm: r\nauthenticators: {b: {type: basic}}\nroutes:\n  - match: {path_prefix: /r, methods: [GET]}\n    authenticate: [b]\n  - match: {path_prefix: /}\n    authenticate: anonymous\n")
	tabbed := filepath.Join(dir, "tab.yaml")
	writeConfigFile(t, tabbed, "realm: r\nroutes:\n\t- match: {path_prefix: /}\n")

	type problem struct {
		File, Path, Message string
		Line                int
	}
	type report struct {
		OK                 bool
		File               string
		Problems, Warnings []problem
		Config             map[string]any
	}
	check := func(file string, wantCode int) report {
		t.Helper()
		code, stdout, _ := runConfigCmd(t, nil, "config", "check", "--json", file)
		if code != wantCode {
			t.Errorf("%s: exit %d, want %d", file, code, wantCode)
		}
		var r report
		dec := json.NewDecoder(strings.NewReader(stdout))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil || dec.More() {
			t.Fatalf("%s: not one report: %v\n%s", file, err, stdout)
		}
		if r.File != file || r.Problems == nil || r.Warnings == nil {
			t.Errorf("%s: report %+v: want the file and both lists, empty or not", file, r)
		}
		return r
	}
	r := check(bad, 1)
	if r.OK || len(r.Problems) != 2 {
		t.Fatalf("bad: %+v", r)
	}
	if p := r.Problems[0]; p.File != bad || p.Line != 2 || p.Path != "listen" || !strings.HasPrefix(p.Message, "listen: ") {
		t.Errorf("first problem = %+v", p)
	}
	if p := r.Problems[1]; p.Line != 3 || !strings.HasPrefix(p.Path, "routes[0].authenticate") || !strings.Contains(p.Message, "nope") {
		t.Errorf("second problem = %+v", p)
	}
	r = check(warn, 0)
	if !r.OK || len(r.Problems) != 0 || len(r.Warnings) != 1 || r.Warnings[0].Line != 4 || r.Warnings[0].Path == "" || r.Config != nil {
		t.Errorf("warn: %+v", r)
	}
	r = check(tabbed, 1)
	if len(r.Problems) != 1 || r.Problems[0].Line != 3 || !strings.Contains(r.Problems[0].Message, "tab") || r.Problems[0].Path != "" {
		t.Errorf("tab: %+v", r)
	}
	r = check(filepath.Join(dir, "missing.yaml"), 1)
	if len(r.Problems) != 1 || !strings.Contains(r.Problems[0].Message, "no such file") {
		t.Errorf("missing: %+v", r)
	}
}

// TestConfigCheckPrintNeverShowsASecret prints the effective configuration of files
// holding every kind of secret (inline, from a _file, from the environment; the store
// password in store.password, in the URL's user part and in its query), as YAML and as
// JSON: no secret may appear, each shows as [REDACTED] or xxxxx, and defaults are
// filled in.
func TestConfigCheckPrintNeverShowsASecret(t *testing.T) {
	dir := t.TempDir()
	secrets := map[string]string{
		"hmac":   "Hm4cS3cretThatIsLongEnoughForHS256-0123456789abcdef",
		"pepper": "P3pperFromTheEnvironment-0123456789",
		"client": "Cl1entS3cretInline",
		"sign":   "S1gningKeyS3cretInAFileThatIsLongEnough-0123456789abcdef",
		"store":  "St0rePassw0rdInline",
		"urlpw":  "Ur1Passw0rdInUserinfo",
		"qpw":    "Qu3ryPassw0rd",
		"otlp":   "0tlpH3aderT0ken",
	}
	writeConfigFile(t, filepath.Join(dir, "sign.key"), secrets["sign"])
	common := `realm: r
authenticators:
  j: {type: jwt, issuer: https://i.example, audience: a, algorithms: [HS256], secret: ` + secrets["hmac"] + `}
  k: {type: api_key, pepper: "${PEPPER}"}
  o: {type: introspection, url: https://i.example/introspect, client_id: gw, client_secret: ` + secrets["client"] + `}
routes: [{match: {path_prefix: /}, authenticate: [j, k, o]}]
token_service: {issuer: https://gw.example, audience: api://x, signing_key_secret_file: sign.key}
tracing: {endpoint: "http://127.0.0.1:4318", headers: "Authorization: Bearer ` + secrets["otlp"] + `"}
`
	env := map[string]string{"PEPPER": secrets["pepper"]}
	for _, tc := range []struct {
		name, store string
		redacted    int // [REDACTED] values
		xxxxx       bool
	}{
		{"store password", `store: {url: "postgres://gh@127.0.0.1/db?sslmode=disable", password: ` + secrets["store"] + "}\n", 6, false},
		{"password in the URL", `store: "postgres://gh:` + secrets["urlpw"] + `@127.0.0.1/db?sslmode=disable"` + "\n", 5, true},
		{"password in the query", `store: "postgres://127.0.0.1/db?sslmode=disable&user=gh&password=` + secrets["qpw"] + `"` + "\n", 5, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".yaml")
			writeConfigFile(t, file, common+tc.store)
			code, yamlOut, stderr := runConfigCmd(t, env, "config", "check", "--print", file)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			code, jsonOut, stderr := runConfigCmd(t, env, "config", "check", "--print", "--json", "--config", file)
			if code != 0 {
				t.Fatalf("--json: exit %d: %s", code, stderr)
			}
			for _, out := range []string{yamlOut, jsonOut} {
				for name, s := range secrets {
					if strings.Contains(out, s) {
						t.Errorf("the %s secret is printed:\n%s", name, out)
					}
				}
				if n := strings.Count(out, "[REDACTED]"); n != tc.redacted {
					t.Errorf("%d [REDACTED], want %d:\n%s", n, tc.redacted, out)
				}
				if strings.Contains(out, "xxxxx") != tc.xxxxx {
					t.Errorf("xxxxx in the store URL: %v, want %v", !tc.xxxxx, tc.xxxxx)
				}
				for _, def := range []string{"127.0.0.1:8080", "/_gatehouse/decide", "30/min", "X-API-Key", "ES256", "max_conn_idle_time"} {
					if !strings.Contains(out, def) {
						t.Errorf("default %q is missing", def)
					}
				}
			}
			var v struct{ Config map[string]any }
			if err := json.Unmarshal([]byte(jsonOut), &v); err != nil || v.Config["realm"] != "r" {
				t.Errorf("--json --print: %v, config %v", err, v.Config)
			}
			if !strings.HasPrefix(yamlOut, "# "+file+": ok (1 route, 3 authenticators)") {
				t.Errorf("the YAML does not start with the check's verdict:\n%s", yamlOut)
			}
		})
	}
}

// TestConfigCheckPrintShowsRequirementsInOrder: the effective configuration shows a
// route's host and every requirement, claims in the order they are checked.
func TestConfigCheckPrintShowsRequirementsInOrder(t *testing.T) {
	file := filepath.Join(t.TempDir(), "gatehouse.yaml")
	os.WriteFile(file, []byte(`realm: test
authenticators:
  corp: {type: jwt, issuer: https://idp.example.com, audience: api, algorithms: [ES256], jwks_url: https://idp.example.com/jwks}
routes:
  - match: {path_prefix: /admin, host: API.example.com}
    authenticate: [corp]
    require:
      scopes: [a]
      claims:
        z.roles: [admin]
        "https://example.com/t": acme
      expression: 'subject != ""'
`), 0o600)
	code, out, stderr := runConfigCmd(t, nil, "config", "check", "--print", file)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := `    match:
      path_prefix: /admin
      host: api.example.com
      case_insensitive: false
      methods_fallthrough: false
    authenticate: [corp]
    require:
      scopes: [a]
      claims:
        z.roles: [admin]
        https://example.com/t: [acme]
      expression:
        - subject != ""
`
	if !strings.Contains(out, want) {
		t.Errorf("output lacks\n%s\nin\n%s", want, out)
	}
	code, out, _ = runConfigCmd(t, nil, "config", "check", "--print", "--json", file)
	if code != 0 || !strings.Contains(out, `"claims": {
            "z.roles": [
              "admin"
            ],
            "https://example.com/t": [
              "acme"
            ]
          }`) {
		t.Errorf("JSON output:\n%s", out)
	}
}
