package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// demoEnv is a running `gatehouse demo`: its gateway URL and the sample credentials it
// printed (VALID, EXPIRED, READONLY, APIKEY, CLIENT_ID, CLIENT_SECRET).
type demoEnv struct {
	base string
	vars map[string]string
}

// startDemo runs `gatehouse demo` on free loopback ports and reads what it printed.
func startDemo(t *testing.T) demoEnv {
	t.Helper()
	p := start(t, "demo", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0")
	p.waitFor(t, regexp.MustCompile(`Press Ctrl-C to stop`))
	out := p.out()
	m := regexp.MustCompile(`gateway\s+(http://127\.0\.0\.1:\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no gateway address in:\n%s", out)
	}
	d := demoEnv{base: m[1], vars: map[string]string{}}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		for _, name := range []string{"VALID", "EXPIRED", "READONLY", "APIKEY", "CLIENT_ID", "CLIENT_SECRET"} {
			if v, ok := strings.CutPrefix(line, name+"="); ok {
				d.vars[name], _, _ = strings.Cut(v, " ")
			}
		}
	}
	if len(d.vars) != 6 {
		t.Fatalf("demo printed %v:\n%s", d.vars, out)
	}
	return d
}

// nodeOrSkip returns the path of node, or skips the test with what is missing.
func nodeOrSkip(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the JavaScript client's tests (clients/js) need Node.js 18 or later (Debian package nodejs)")
	}
	return node
}

// TestJSClientAgainstGatehouse runs the JavaScript client's tests (clients/js, Node's
// built-in test runner) with a real `gatehouse demo` to call, so `go test ./...` runs
// them too. Every test must run: none may skip, so the Gatehouse tests cannot silently
// turn into skips.
func TestJSClientAgainstGatehouse(t *testing.T) {
	node := nodeOrSkip(t)
	d := startDemo(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "test/")
	cmd.Dir = "../../clients/js"
	cmd.Env = append(os.Environ(), "GATEHOUSE_URL="+d.base)
	for k, v := range d.vars {
		cmd.Env = append(cmd.Env, "GATEHOUSE_"+k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test: %v\n%s", err, out)
	}
	for _, want := range []string{"\n# fail 0\n", "\n# skipped 0\n", "\n# cancelled 0\n"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("node --test output lacks %q:\n%s", strings.TrimSpace(want), out)
		}
	}
	if m := regexp.MustCompile(`\n# pass (\d+)\n`).FindStringSubmatch(string(out)); m == nil || m[1] == "0" {
		t.Errorf("node --test passed no test:\n%s", out)
	}
}
