package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// docExample is one block of docs/clients.md marked <!-- clients-test: NAME -->.
type docExample struct{ name, lang, code string }

var docExampleRe = regexp.MustCompile("(?s)<!-- clients-test: ([a-z-]+) -->\n```([a-z]+)\n(.*?)```")

// clientDocExamples reads the marked blocks of docs/clients.md.
func clientDocExamples(t *testing.T) map[string]docExample {
	t.Helper()
	md, err := os.ReadFile("../../docs/clients.md")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]docExample{}
	for _, m := range docExampleRe.FindAllStringSubmatch(string(md), -1) {
		if _, dup := out[m[1]]; dup {
			t.Fatalf("docs/clients.md marks two blocks %s", m[1])
		}
		out[m[1]] = docExample{m[1], m[2], m[3]}
	}
	return out
}

// demoAddr is the address the examples of docs/clients.md call: the demo's default.
const demoAddr = "http://127.0.0.1:8080"

// TestClientDocsExamples runs every example of docs/clients.md, as written there (only
// the demo's address is replaced by the test demo's), against a real `gatehouse demo`,
// and checks what each prints.
func TestClientDocsExamples(t *testing.T) {
	ex := clientDocExamples(t)
	for _, name := range []string{"curl", "curl-why", "python", "js-fetch", "js-client", "go"} {
		if _, ok := ex[name]; !ok {
			t.Fatalf("docs/clients.md has no block marked <!-- clients-test: %s -->", name)
		}
	}
	if len(ex) != 6 {
		t.Fatalf("docs/clients.md marks %d blocks; this test runs 6: add the new one here", len(ex))
	}
	d := startDemo(t)
	code := func(name string) string { return strings.ReplaceAll(ex[name].code, demoAddr, d.base) }
	env := func(token string) []string {
		return append(os.Environ(), "TOKEN="+token, "APIKEY="+d.vars["APIKEY"], "CLIENT_ID="+d.vars["CLIENT_ID"], "CLIENT_SECRET="+d.vars["CLIENT_SECRET"])
	}
	run := func(t *testing.T, env []string, dir string, stdin string, name string, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Env, cmd.Dir, cmd.Stdin = env, dir, strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	wantAll := func(t *testing.T, out string, wants ...string) {
		t.Helper()
		for _, w := range wants {
			if !strings.Contains(out, w) {
				t.Errorf("output lacks %q:\n%s", w, out)
			}
		}
	}

	t.Run("curl", func(t *testing.T) {
		if _, err := exec.LookPath("curl"); err != nil {
			t.Skip("curl is not installed (.ci/run installs it)")
		}
		out := run(t, env(d.vars["VALID"]), "", "", "sh", "-eu", "-c", code("curl"))
		if n := strings.Count(out, "HTTP/1.1 200"); n != 2 {
			t.Errorf("%d answers 200, want 2:\n%s", n, out)
		}
		out = run(t, env(d.vars["VALID"]), "", "", "sh", "-eu", "-c", code("curl-why"))
		wantAll(t, strings.ToLower(out), "http/1.1 401", `www-authenticate: bearer realm="demo", error="invalid_token"`, "x-request-id: ")
	})

	t.Run("python", func(t *testing.T) {
		const py = "/usr/bin/python3" // Debian's, with Debian's python3-requests
		if err := exec.Command(py, "-c", "import requests").Run(); err != nil {
			t.Skipf("%s with requests is not installed (Debian packages python3 python3-requests; .ci/run installs them): %v", py, err)
		}
		// A valid token; an expired one, refreshed once from the token service.
		wantAll(t, run(t, env(d.vars["VALID"]), "", code("python"), py, "-"), "200 alice")
		wantAll(t, run(t, env(d.vars["EXPIRED"]), "", code("python"), py, "-"), "200 "+d.vars["CLIENT_ID"])
	})

	t.Run("javascript", func(t *testing.T) {
		node := nodeOrSkip(t)
		// The page's own variables: token, and for the client, refreshToken (which asks
		// the demo's token service, as an application's backend would) and location.
		prelude := `let token = process.env.TOKEN;
let refreshes = 0;
const location = { assign: (url) => console.log('login', url) };
async function refreshToken() {
  refreshes++;
  const res = await fetch('` + d.base + `/oauth2/token', {
    method: 'POST',
    headers: { Authorization: 'Basic ' + btoa(process.env.CLIENT_ID + ':' + process.env.CLIENT_SECRET) },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'orders:read' }),
  });
  return (await res.json()).access_token;
}
`
		wantAll(t, run(t, env(d.vars["VALID"]), "", prelude+code("js-fetch"), node, "--input-type=module", "-"), "200 alice")
		wantAll(t, run(t, env(d.vars["EXPIRED"]), "", prelude+code("js-fetch"), node, "--input-type=module", "-"),
			`401 token_expired Bearer realm="demo", error="invalid_token"`)

		// The client package, imported by its published name from a node_modules folder.
		dir := t.TempDir()
		pkg, err := filepath.Abs("../../clients/js")
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Join(dir, "node_modules", "@gatehouse"), 0o755)
		if err := os.Symlink(pkg, filepath.Join(dir, "node_modules", "@gatehouse", "client")); err != nil {
			t.Fatal(err)
		}
		script := prelude + code("js-client") + "console.log('refreshes', refreshes);\n"
		os.WriteFile(filepath.Join(dir, "example.mjs"), []byte(script), 0o600)
		// Three concurrent calls with an expired token: one refresh, three 200s.
		out := run(t, env(d.vars["EXPIRED"]), dir, "", node, "example.mjs")
		wantAll(t, out, "200 200 200\n", "refreshes 1\n")
		if strings.Contains(out, "login") {
			t.Errorf("onLoginRequired was called:\n%s", out)
		}
	})

	t.Run("go", func(t *testing.T) {
		// The example as a program of its own module, which requires this one from the
		// working tree; every module it needs is in this module's go.sum and cache.
		dir := t.TempDir()
		root, err := filepath.Abs("../..")
		if err != nil {
			t.Fatal(err)
		}
		sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
		if err != nil {
			t.Fatal(err)
		}
		gomod := "module clientsexample\n\ngo 1.26.8\n\nrequire github.com/gatehouse-dev/gatehouse v0.0.0\n\nreplace github.com/gatehouse-dev/gatehouse => " + root + "\n"
		os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o600)
		os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o600)
		os.WriteFile(filepath.Join(dir, "main.go"), []byte(code("go")), 0o600)
		goEnv := append(env(""), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off")
		wantAll(t, run(t, goEnv, dir, "", "go", "run", "."), "200 true")
	})
}
