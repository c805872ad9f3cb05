package main

import (
	"bytes"
	"context"
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
		{"no subcommand", []string{"config"}, 2, "", "gatehouse config check FILE"},
		{"help", []string{"config", "--help"}, 0, "gatehouse config check FILE", ""},
		{"unknown subcommand", []string{"config", "lint"}, 2, "", `unknown subcommand "lint"`},
		{"check help", []string{"config", "check", "--help"}, 0, "FILE: ok (N routes, M authenticators)", ""},
		{"check without file", []string{"config", "check"}, 2, "", "want exactly one FILE, got 0 arguments"},
		{"check with two files", []string{"config", "check", "a", "b"}, 2, "", "want exactly one FILE, got 2 arguments"},
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
