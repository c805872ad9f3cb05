package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"
)

// The doctor's scenario corpus (docs/doctor.md#scenario-corpus): broken API setups, each
// run through `gatehouse doctor` exactly as a user would type the command, with the
// verdict a human expert would name. The servers are real where the cause belongs to a
// real server (nginx, Apache, Caddy, tinyproxy, Gatehouse itself: `gatehouse demo` and
// `gatehouse serve`), and small Go servers on 127.0.0.1 elsewhere. The test prints a
// confusion report and the accuracy, and asserts:
//
//   - every healthy setup gets the verdict ok;
//   - no credential of any scenario appears in any output (text, JSON, stderr);
//   - the verdict accuracy over the broken setups is at least corpusMinAccuracy.
//
// A scenario that needs a Debian server that is not installed is skipped with a message
// (under CI, where .ci/run installs them, it fails instead). A scenario written against a
// doctor feature that does not exist yet is pending: it runs and is reported, but it is
// not counted as passing.

// corpusMinAccuracy is the measured exact-verdict accuracy over the broken setups, in
// percent; docs/doctor.md#scenario-corpus reports the same number. It may only go up.
const corpusMinAccuracy = 98.9

// corpusCase is one scenario.
type corpusCase struct {
	name   string // unique, short
	group  string // the catalogue group the expected verdict belongs to (A-J, Z, GH), or "ok"
	server string // what answers: "Go", "nginx", "Apache", "Caddy", "tinyproxy", "Gatehouse demo", "Gatehouse serve"
	broken string // what is broken, in words
	want   string // the verdict a human expert would name
	// command is what the user types, with $VARS the setup fills in. It is split and
	// expanded as a POSIX shell would: no expansion inside single quotes.
	command string
	// fixHas, when set, is what the verdict's fix must name (Gatehouse's own knob, say).
	fixHas string
	// needs names a doctor feature the scenario is written against (a flag or form of the
	// command issue 15 asks for). When the command is refused as bad usage, the feature
	// is not there yet: the scenario is reported as pending, not counted as passing.
	needs string
	setup func(t *testing.T, w *corpusWorld) corpusVars
}

// corpusVars is what a scenario's setup returns.
type corpusVars struct {
	vars    map[string]string // $NAME in the command
	secrets []string          // values that must never be printed
	env     map[string]string // the doctor's environment (proxy variables, HOME)
	stdin   string
}

// corpusResult is one scenario's outcome.
type corpusResult struct {
	c       *corpusCase
	got     string
	skipped string
}

// pending reports why a scenario's result does not count: the command was refused as
// bad usage and the scenario needs a feature that is not there yet.
func (r *corpusResult) pending() string {
	if r.c.needs == "" || !strings.HasPrefix(r.got, "(") {
		return ""
	}
	return r.c.needs + " not available: " + r.got
}

func TestDoctorCorpus(t *testing.T) {
	w := newCorpusWorld(t)
	cases := corpusCases()
	seen := map[string]bool{}
	for _, c := range cases {
		if seen[c.name] {
			t.Fatalf("duplicate scenario name %q", c.name)
		}
		seen[c.name] = true
	}
	var results []*corpusResult
	for i := range cases {
		c := &cases[i]
		res := &corpusResult{c: c, skipped: "not run (-run filter)"}
		results = append(results, res)
		t.Run(c.name, func(t *testing.T) {
			res.skipped = "setup failed"
			w.lastSkip = ""
			defer func() {
				if t.Skipped() {
					res.skipped = w.lastSkip
					if res.skipped == "" {
						res.skipped = "skipped"
					}
				}
			}()
			v := c.setup(t, w)
			res.got = runCorpusCase(t, c, v)
			res.skipped = ""
			if c.group == "ok" && res.got != "ok" && res.pending() == "" {
				t.Errorf("healthy setup: verdict %q, want ok", res.got)
			}
		})
	}
	reportCorpus(t, results)
}

// runCorpusCase runs the scenario's command twice, as --json and as text, checks both
// for leaked secrets and returns the JSON verdict.
func runCorpusCase(t *testing.T, c *corpusCase, v corpusVars) string {
	t.Helper()
	argv, err := shellWords(c.command, v.vars)
	if err != nil {
		t.Fatalf("command %q: %v", c.command, err)
	}
	if len(argv) < 2 || argv[0] != "gatehouse" || argv[1] != "doctor" {
		t.Fatalf("command %q does not start with gatehouse doctor", c.command)
	}
	args := argv[1:]
	jsonOut, jsonErr, code := runCorpusCLI(t, v, append(append([]string{}, args...), "--json"))
	textOut, textErr, _ := runCorpusCLI(t, v, args)
	for _, s := range v.secrets {
		for _, form := range secretForms(s) {
			for where, out := range map[string]string{"JSON": jsonOut, "JSON stderr": jsonErr, "text": textOut, "text stderr": textErr} {
				if strings.Contains(out, form) {
					t.Errorf("a credential of the scenario (%d bytes) appears in the %s output", len(s), where)
				}
			}
		}
	}
	var rep struct {
		Verdict  string `json:"verdict"`
		Error    string `json:"error"`
		Findings []struct {
			Code string `json:"code"`
			Fix  string `json:"fix"`
		} `json:"findings"`
	}
	if err := json.Unmarshal([]byte(jsonOut), &rep); err != nil || (rep.Verdict == "" && rep.Error == "") {
		t.Logf("exit %d, stdout:\n%s\nstderr:\n%s", code, jsonOut, jsonErr)
		return fmt.Sprintf("(no JSON: exit %d)", code)
	}
	if rep.Verdict == "" {
		return "(error: " + clipCorpus(rep.Error, 60) + ")"
	}
	if rep.Verdict != c.want {
		t.Logf("verdict %q, want %q; the report:\n%s", rep.Verdict, c.want, textOut)
	} else if c.fixHas != "" {
		fix := ""
		if len(rep.Findings) > 0 {
			fix = rep.Findings[0].Fix
		}
		if !strings.Contains(fix, c.fixHas) {
			t.Errorf("the verdict's fix does not name %q: %q", c.fixHas, fix)
		}
	}
	return rep.Verdict
}

// secretForms are the ways a credential could leak: as given, and Base64-encoded (a Basic
// pair, a client secret).
func secretForms(s string) []string {
	if len(s) < 6 {
		return nil
	}
	return []string{s, base64.StdEncoding.EncodeToString([]byte(s))}
}

func runCorpusCLI(t *testing.T, v corpusVars, args []string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &cliEnv{stdin: strings.NewReader(v.stdin), stdout: &out, stderr: &errb, getenv: func(k string) string { return v.env[k] }}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	code = run(ctx, env, args)
	return out.String(), errb.String(), code
}

// reportCorpus prints the confusion report and asserts the accuracy.
func reportCorpus(t *testing.T, results []*corpusResult) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "\nDoctor scenario corpus\n%-44s %-8s %-38s %-38s %s\n", "scenario", "group", "expected", "got", "")
	broken, right, healthy, healthyOK, pending, skipped := 0, 0, 0, 0, 0, 0
	confusion := map[string]int{}
	type tally struct{ n, right int }
	groups := map[string]*tally{}
	for _, r := range results {
		mark := ""
		switch {
		case r.skipped != "":
			mark = "SKIPPED: " + r.skipped
			skipped++
		case r.pending() != "":
			mark = "PENDING: " + r.pending()
			pending++
		case r.c.group == "ok":
			healthy++
			if r.got == "ok" {
				healthyOK++
				mark = "ok"
			} else {
				mark = "WRONG"
			}
		default:
			broken++
			g := groups[r.c.group]
			if g == nil {
				g = &tally{}
				groups[r.c.group] = g
			}
			g.n++
			if r.got == r.c.want {
				right++
				g.right++
				mark = "ok"
			} else {
				mark = "MISS"
				confusion[r.c.want+" -> "+r.got]++
			}
		}
		fmt.Fprintf(&b, "%-44s %-8s %-38s %-38s %s\n", r.c.name, r.c.group, r.c.want, r.got, mark)
	}
	acc := 0.0
	if broken > 0 {
		acc = 100 * float64(right) / float64(broken)
	}
	fmt.Fprintf(&b, "\nbroken setups: %d of %d exact verdicts (%.1f%%); healthy: %d of %d ok; pending: %d; skipped: %d\n",
		right, broken, acc, healthyOK, healthy, pending, skipped)
	var names []string
	for k := range groups {
		names = append(names, k)
	}
	sort.Strings(names)
	b.WriteString("by group:")
	for _, k := range names {
		fmt.Fprintf(&b, " %s %d/%d;", k, groups[k].right, groups[k].n)
	}
	b.WriteString("\n")
	if len(confusion) > 0 {
		var keys []string
		for k := range confusion {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteString("confusions (expected -> got):\n")
		for _, k := range keys {
			fmt.Fprintf(&b, "  %dx %s\n", confusion[k], k)
		}
	}
	t.Log(b.String())
	if p := os.Getenv("DOCTOR_CORPUS_REPORT"); p != "" {
		_ = os.WriteFile(p, []byte(b.String()), 0o644)
	}
	if skipped > 0 && os.Getenv("CI") != "" {
		t.Errorf("%d scenarios skipped under CI", skipped)
	}
	if healthyOK != healthy {
		t.Errorf("healthy setups: %d of %d ok, want all", healthyOK, healthy)
	}
	if broken < 60 && skipped == 0 {
		t.Errorf("the corpus has %d broken setups that ran, want at least 60", broken)
	}
	if acc < corpusMinAccuracy {
		t.Errorf("verdict accuracy %.1f%% is below the documented %.1f%%", acc, corpusMinAccuracy)
	}
}

func clipCorpus(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// shellWords splits a command line as a POSIX shell would, for the subset the scenarios
// use: blanks separate words; '...' is literal; "..." and bare words expand $NAME and
// ${NAME} (an unset name expands to nothing) and take \" \\ \$ escapes. An expansion
// outside quotes is not split further (the scenarios' values are single words or are
// quoted).
func shellWords(line string, vars map[string]string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	expand := func(s string, i int) (string, int) {
		// s[i] == '$'
		j := i + 1
		if j < len(s) && s[j] == '{' {
			end := strings.IndexByte(s[j:], '}')
			if end < 0 {
				return "$", i + 1
			}
			return vars[s[j+1:j+end]], j + end + 1
		}
		k := j
		for k < len(s) && (s[k] == '_' || s[k] >= 'A' && s[k] <= 'Z' || s[k] >= 'a' && s[k] <= 'z' || s[k] >= '0' && s[k] <= '9') {
			k++
		}
		if k == j {
			return "$", j
		}
		return vars[s[j:k]], k
	}
	for i := 0; i < len(line); {
		ch := line[i]
		switch {
		case ch == ' ' || ch == '\t' || ch == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
			i++
		case ch == '\'':
			end := strings.IndexByte(line[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("unterminated single quote")
			}
			cur.WriteString(line[i+1 : i+1+end])
			inWord = true
			i += end + 2
		case ch == '"':
			inWord = true
			i++
			for {
				if i >= len(line) {
					return nil, fmt.Errorf("unterminated double quote")
				}
				c := line[i]
				if c == '"' {
					i++
					break
				}
				if c == '\\' && i+1 < len(line) && strings.IndexByte(`"\$`, line[i+1]) >= 0 {
					cur.WriteByte(line[i+1])
					i += 2
					continue
				}
				if c == '$' {
					v, next := expand(line, i)
					cur.WriteString(v)
					i = next
					continue
				}
				cur.WriteByte(c)
				i++
			}
		case ch == '\\' && i+1 < len(line):
			cur.WriteByte(line[i+1])
			inWord = true
			i += 2
		case ch == '$':
			v, next := expand(line, i)
			cur.WriteString(v)
			inWord = true
			i = next
		default:
			cur.WriteByte(ch)
			inWord = true
			i++
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

func TestShellWords(t *testing.T) {
	vars := map[string]string{"TOKEN": "abc", "URL": "http://h/x"}
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{`gatehouse doctor $URL -H "Authorization: Bearer $TOKEN"`, []string{"gatehouse", "doctor", "http://h/x", "-H", "Authorization: Bearer abc"}},
		{`gatehouse doctor $URL/y -H 'Authorization: Bearer $TOKEN'`, []string{"gatehouse", "doctor", "http://h/x/y", "-H", "Authorization: Bearer $TOKEN"}},
		{`a "x \"$TOKEN\"" ${TOKEN}z $UNSET "" b\ c`, []string{"a", `x "abc"`, "abcz", "", "", "b c"}},
	} {
		got, err := shellWords(tc.in, vars)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("shellWords(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
