package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/challenge"
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
	// The files by name: how node --test reads a directory argument changed across
	// versions (a folder to search until Node.js 20, glob patterns from 21).
	files, _ := filepath.Glob("../../clients/js/test/*.test.js")
	if len(files) == 0 {
		t.Fatal("no clients/js/test/*.test.js")
	}
	args := []string{"--test"}
	for _, f := range files {
		args = append(args, filepath.Join("test", filepath.Base(f)))
	}
	cmd := exec.CommandContext(ctx, node, args...)
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

// TestJSChallengeParserAgreesWithGo feeds the same WWW-Authenticate values to the
// JavaScript client's parseChallenges and to the gateway's own RFC 9110 parser
// (internal/challenge): the fuzz seeds of the Go parser, real-world fields, and
// thousands of values assembled at random from the grammar's pieces. Both must accept
// or refuse each value alike, and agree on every scheme, token68 and first parameter.
func TestJSChallengeParserAgreesWithGo(t *testing.T) {
	node := nodeOrSkip(t)
	inputs := []string{
		`Bearer realm="orders", error="invalid_token", error_description="expired 4m12s ago"`,
		`Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple"`,
		`Negotiate YIIB==, Basic realm="a, b"`, `Bearer`, `Bearer a=`, `Basic, realm="x"`,
		"Bearer\trealm=\"x\"", ` Bearer realm="x" `, `Bearer realm="x",, Basic`, `Bearer realm="x", a=`,
		`Bearer realm=x y`, `"quoted"`, `Bearer realm="x`, `Bearer a="\"`, `Bearer a = "b"`,
		`Bearer constructor="c", __proto__="p", toString=t`, `Basic __proto__=x`,
	}
	seeds, _ := filepath.Glob("../../internal/challenge/testdata/fuzz/FuzzParseChallenges/*")
	for _, f := range seeds {
		b, _ := os.ReadFile(f)
		for _, line := range strings.Split(string(b), "\n")[1:] {
			if s, ok := strings.CutPrefix(line, "string("); ok {
				if v, err := strconv.Unquote(strings.TrimSuffix(s, ")")); err == nil && utf8.ValidString(v) {
					inputs = append(inputs, v)
				}
			}
		}
	}
	pieces := []string{"Bearer", "Basic", "realm", "error", "=", "==", `"x"`, `"a, b"`, `"q\"q"`, `""`, ",", ", ", " ", "\t", "abc", "a.b~c/d+e", "YIIB", `"`, `\`, "="}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 3000 {
		var b strings.Builder
		for range 1 + rng.IntN(8) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		inputs = append(inputs, b.String())
	}

	script := `import { parseChallenges } from './index.js';
let data = '';
for await (const chunk of process.stdin) data += chunk;
const out = JSON.parse(data).map((v) => { try { return { ok: true, challenges: parseChallenges(v) }; } catch (e) { if (!(e instanceof SyntaxError)) throw e; return { ok: false }; } });
process.stdout.write(JSON.stringify(out));
`
	in, _ := json.Marshal(inputs)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--input-type=module", "-e", script)
	cmd.Dir = "../../clients/js"
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	type jsChallenge struct {
		Scheme  string            `json:"scheme"`
		Token68 *string           `json:"token68"`
		Params  map[string]string `json:"params"`
	}
	var results []struct {
		OK         bool          `json:"ok"`
		Challenges []jsChallenge `json:"challenges"`
	}
	if err := json.Unmarshal(out, &results); err != nil || len(results) != len(inputs) {
		t.Fatalf("node printed %d results for %d inputs (%v)", len(results), len(inputs), err)
	}
	disagree := 0
	for i, v := range inputs {
		goCs, goErr := challenge.ParseChallenges([]string{v})
		var want []jsChallenge
		for _, c := range goCs {
			jc := jsChallenge{Scheme: c.Scheme, Params: map[string]string{}}
			if c.Token68 != "" {
				tok := c.Token68
				jc.Token68 = &tok
			}
			for _, p := range c.Params {
				if _, dup := jc.Params[p.Name]; !dup {
					jc.Params[p.Name] = p.Value
				}
			}
			want = append(want, jc)
		}
		r := results[i]
		wj, _ := json.Marshal(want)
		gj, _ := json.Marshal(r.Challenges)
		same := string(wj) == string(gj) || len(want) == 0 && len(r.Challenges) == 0
		if r.OK != (goErr == nil) || r.OK && !same {
			if disagree++; disagree <= 10 {
				t.Errorf("%q: Go %v %+v, JavaScript ok=%v %+v", v, goErr, want, r.OK, r.Challenges)
			}
		}
	}
	if disagree > 0 {
		t.Errorf("the parsers disagree on %d of %d values", disagree, len(inputs))
	}
}
