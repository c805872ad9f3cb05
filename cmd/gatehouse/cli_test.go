package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestHelpCommandPrintsThatCommandsHelp checks that "gatehouse help CMD [VERB]" and
// "gatehouse CMD --help" print the same help on stdout and exit 0, for every command.
func TestHelpCommandPrintsThatCommandsHelp(t *testing.T) {
	lines := [][]string{{"keys", "create"}, {"users", "list"}, {"config", "check"}, {"token", "inspect"}}
	for _, n := range commandNames() {
		lines = append(lines, []string{n})
	}
	for _, cmdline := range lines {
		t.Run(strings.Join(cmdline, "_"), func(t *testing.T) {
			code1, out1, err1 := runStoreCLI(t, "", append([]string{"help"}, cmdline...)...)
			code2, out2, err2 := runStoreCLI(t, "", append(slices.Clone(cmdline), "--help")...)
			if code1 != 0 || code2 != 0 || err1 != "" || err2 != "" {
				t.Fatalf("help: exit %d stderr %q; --help: exit %d stderr %q", code1, err1, code2, err2)
			}
			if !strings.Contains(out1, "gatehouse "+cmdline[0]) {
				t.Errorf("help %v does not show the command's usage:\n%s", cmdline, out1)
			}
			if diff := cmp.Diff(out2, out1); diff != "" {
				t.Errorf("help %v differs from --help (-want +got):\n%s", cmdline, diff)
			}
		})
	}
	if code, _, errs := runStoreCLI(t, "", "help", "nosuch"); code != 2 || !strings.Contains(errs, `unknown command "nosuch"`) {
		t.Errorf("help nosuch: exit %d, stderr %q; want 2 naming it", code, errs)
	}
}

// TestHelpTableIsAligned pins the top-level help (testdata/help.golden, -update rewrites
// it) and checks that every summary starts in the same column, the longest name too.
func TestHelpTableIsAligned(t *testing.T) {
	code, out, _ := runStoreCLI(t, "", "help")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	checkGolden(t, "testdata/help.golden", out)
	col := -1
	for _, n := range commandNames() {
		re := regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(n) + ` +()\S`)
		m := re.FindStringSubmatchIndex(out)
		if m == nil {
			t.Fatalf("no line for %s in:\n%s", n, out)
		}
		lineStart := strings.LastIndex(out[:m[0]+1], "\n") + 1
		if c := m[2] - lineStart; col == -1 {
			col = c
		} else if c != col {
			t.Errorf("the summary of %s starts at column %d, others at %d", n, c, col)
		}
	}
}

func checkGolden(t *testing.T, golden, got string) {
	t.Helper()
	if storeGoldenUpdate() {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got):\n%s", golden, diff)
	}
}

// TestJSONFailuresAreOneJSONObject runs failing commands with --json: stdout must be
// exactly one JSON object {"error", "code", "command"} (after any partial result), the
// exit status unchanged, and the human message still on stderr.
func TestJSONFailuresAreOneJSONObject(t *testing.T) {
	dir, cfg := storeTestDir(t, false)
	if code, _, errs := runStoreCLI(t, "pw\n", "users", "add", "--config", cfg, "alice"); code != 0 {
		t.Fatalf("users add: %d %s", code, errs)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("realm: r\nroutes: [{match: {path_prefix: /}, authenticate: [nope]}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.yaml")
	tests := []struct {
		name      string
		args      []string
		exit      int
		code, cmd string
	}{
		{"keys revoke unknown id", []string{"keys", "revoke", "--json", "--config", cfg, "k_nope"}, 1, "failed", "keys revoke"},
		{"keys revoke no config", []string{"keys", "revoke", "--json", "--config", missing, "k_nope"}, 1, "failed", "keys revoke"},
		{"keys revoke bad config", []string{"keys", "revoke", "--config", bad, "k_x", "--json"}, 1, "config", "keys revoke"},
		{"keys revoke no id", []string{"keys", "revoke", "--json", "--config", cfg}, 2, "usage", "keys revoke"},
		{"keys create no name", []string{"keys", "create", "--json", "--config", cfg}, 2, "usage", "keys create"},
		{"keys create bad flag", []string{"keys", "create", "--json", "--bogus"}, 2, "usage", "keys create"},
		{"keys list no store", []string{"keys", "list", "--json", "--config", filepath.Join(t.TempDir(), "x.yaml")}, 1, "failed", "keys list"},
		{"users passwd unknown", []string{"users", "passwd", "--json", "--config", cfg, "bob"}, 1, "failed", "users passwd"},
		{"users list bad config", []string{"users", "list", "--json", "--config", bad}, 1, "config", "users list"},
		{"clients remove unknown", []string{"clients", "remove", "--json", "--config", cfg, "c_nope"}, 1, "failed", "clients remove"},
		{"signing-keys list bad config", []string{"signing-keys", "list", "--json", "--config", bad}, 1, "config", "signing-keys list"},
		{"store migrate bad config", []string{"store", "migrate", "--json", "--config", bad}, 1, "", "store migrate"},
		{"explain bad id", []string{"explain", "--json", "bad id!"}, 2, "usage", "explain"},
		{"token inspect not a jwt", []string{"token", "inspect", "--json", "not-a-jwt"}, 1, "failed", "token inspect"},
		{"doctor no url", []string{"doctor", "--json"}, 2, "usage", "doctor"},
		{"config check bad flag", []string{"config", "check", "--json", "--bogus"}, 2, "usage", "config check"},
		{"unknown verb", []string{"keys", "frobnicate", "--json"}, 2, "usage", "keys"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runStoreCLI(t, "", tc.args...)
			if code != tc.exit {
				t.Errorf("exit %d, want %d; stderr %q", code, tc.exit, stderr)
			}
			if stderr == "" {
				t.Errorf("nothing on stderr")
			}
			var got struct {
				Error    string            `json:"error"`
				Code     string            `json:"code"`
				Command  string            `json:"command"`
				Problems []json.RawMessage `json:"problems"`
			}
			dec := json.NewDecoder(strings.NewReader(stdout))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&got); err != nil {
				t.Fatalf("stdout is not one JSON failure: %v\n%s", err, stdout)
			}
			if dec.More() {
				t.Errorf("more than one JSON value on stdout:\n%s", stdout)
			}
			if got.Error == "" || strings.HasPrefix(got.Error, "gatehouse ") || strings.Contains(got.Error, "Usage:") {
				t.Errorf("error = %q: want the message alone", got.Error)
			}
			if tc.code != "" && got.Code != tc.code {
				t.Errorf("code = %q, want %q", got.Code, tc.code)
			}
			if got.Command != tc.cmd {
				t.Errorf("command = %q, want %q", got.Command, tc.cmd)
			}
			if (got.Code == "config") != (len(got.Problems) > 0) {
				t.Errorf("code %q with %d problems", got.Code, len(got.Problems))
			}
		})
	}
}

// TestFailuresWithoutJSONStayText checks that without --json nothing changes: the
// message on stderr, nothing on stdout.
func TestFailuresWithoutJSONStayText(t *testing.T) {
	_, cfg := storeTestDir(t, false)
	code, stdout, stderr := runStoreCLI(t, "", "keys", "revoke", "--config", cfg, "k_nope")
	if code != 1 || stdout != "" || !strings.HasPrefix(stderr, "gatehouse keys revoke: ") {
		t.Errorf("exit %d stdout %q stderr %q", code, stdout, stderr)
	}
}

// TestUsersListShowsUsersNeverHashes lists users as a table and as JSON.
func TestUsersListShowsUsersNeverHashes(t *testing.T) {
	dir, cfg := storeTestDir(t, false)
	code, out, errs := runStoreCLI(t, "", "users", "list", "--config", cfg)
	if code != 1 || !strings.Contains(errs, "does not exist yet") {
		t.Errorf("list before any user: exit %d %q %q; want 1, no store yet", code, out, errs)
	}
	for _, u := range []string{"bob", "alice"} {
		if code, _, errs := runStoreCLI(t, "pw-"+u+"\n", "users", "add", "--config", cfg, "--scopes", "orders:read", u); code != 0 {
			t.Fatalf("users add %s: %s", u, errs)
		}
	}
	st := openTestStore(t, dir)
	hashes := map[string]string{}
	for _, u := range []string{"alice", "bob"} {
		rec, err := st.User(t.Context(), u)
		if err != nil {
			t.Fatal(err)
		}
		hashes[u] = rec.PasswordHash
	}
	code, table, _ := runStoreCLI(t, "", "users", "list", "--config", cfg)
	if code != 0 || !regexp.MustCompile(`(?s)^NAME +SCOPES +HASH +CREATED +UPDATED +ATTRIBUTES\nalice +orders:read +argon2id .*\nbob +orders:read +argon2id `).MatchString(table) {
		t.Errorf("table (exit %d):\n%s", code, table)
	}
	code, js, _ := runStoreCLI(t, "", "users", "list", "--config", cfg, "--json")
	var got []struct {
		Name, Hash string
		Scopes     []string
		CreatedAt  string `json:"created_at"`
		UpdatedAt  string `json:"updated_at"`
	}
	if err := json.Unmarshal([]byte(js), &got); code != 0 || err != nil {
		t.Fatalf("exit %d, %v:\n%s", code, err, js)
	}
	if len(got) != 2 || got[0].Name != "alice" || got[1].Name != "bob" || got[0].Hash != "argon2id" || got[0].CreatedAt == "" || got[0].UpdatedAt == "" || !slices.Equal(got[1].Scopes, []string{"orders:read"}) {
		t.Errorf("users = %+v", got)
	}
	for _, h := range hashes {
		if strings.Contains(table+js, h) || strings.Contains(table+js, strings.Split(h, "$")[len(strings.Split(h, "$"))-1]) {
			t.Errorf("a password hash is printed")
		}
	}
}

// TestCompletionScriptsParseAndKnowEveryCommand checks the scripts with the shells'
// own syntax checkers (zsh and fish only where installed) and that each names every
// command and every verb the help lists.
func TestCompletionScriptsParseAndKnowEveryCommand(t *testing.T) {
	checkers := map[string][]string{"bash": {"bash", "-n"}, "zsh": {"zsh", "-n"}, "fish": {"fish", "--no-execute"}}
	for _, sh := range []string{"bash", "zsh", "fish"} {
		t.Run(sh, func(t *testing.T) {
			code, script, errs := runStoreCLI(t, "", "completion", sh)
			if code != 0 || errs != "" {
				t.Fatalf("exit %d, stderr %q", code, errs)
			}
			for _, e := range completionTable(t.Context()) {
				if !strings.Contains(script, e.name) {
					t.Errorf("the %s script does not name %s", sh, e.name)
				}
				for _, v := range e.verbs {
					if !strings.Contains(script, v) {
						t.Errorf("the %s script does not name %s %s", sh, e.name, v)
					}
				}
			}
			c := checkers[sh]
			path, err := exec.LookPath(c[0])
			if err != nil {
				if sh == "bash" {
					t.Fatalf("bash is needed to check the bash script: %v", err)
				}
				t.Skipf("%s is not installed", sh)
			}
			f := filepath.Join(t.TempDir(), "gatehouse."+sh)
			if err := os.WriteFile(f, []byte(script), 0o600); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.CommandContext(t.Context(), path, append(c[1:], f)...).CombinedOutput(); err != nil {
				t.Errorf("%s rejects the script: %v\n%s", strings.Join(c, " "), err, out)
			}
			if sh != "bash" {
				return
			}
			// And it completes: a command, a verb, a verb's flag, a command after help.
			for words, want := range map[string]string{
				"gatehouse ke":               "keys",
				"gatehouse keys re":          "revoke",
				"gatehouse keys rotate --g":  "--grace",
				"gatehouse users l":          "list",
				"gatehouse config check --p": "--print",
				"gatehouse help sig":         "signing-keys",
				"gatehouse completion f":     "fish",
			} {
				w := strings.Fields(words)
				script := "source " + f + "; COMP_WORDS=(" + words + "); COMP_CWORD=" + fmt.Sprint(len(w)-1) + `; _gatehouse; echo "${COMPREPLY[*]}"`
				out, err := exec.CommandContext(t.Context(), path, "-c", script).CombinedOutput()
				if err != nil || strings.TrimSpace(string(out)) != want {
					t.Errorf("completing %q: %q (%v), want %q", words, out, err, want)
				}
			}
		})
	}
	if code, _, _ := runStoreCLI(t, "", "completion", "powershell"); code != 2 {
		t.Errorf("completion powershell: exit %d, want 2", code)
	}
}

// TestCompletionTableMatchesTheDispatchers checks that the verbs completion reads from
// the help are the verbs each command runs, and that a verb's flags are ones it accepts
// (each verb's --help with one of them still exits 0, an unknown one 2).
func TestCompletionTableMatchesTheDispatchers(t *testing.T) {
	want := map[string][]string{
		"clients": {"create", "list", "remove"}, "config": {"check"}, "keys": {"create", "list", "revoke", "rotate"},
		"signing-keys": {"rotate", "list"}, "store": {"migrate", "copy", "backup"}, "token": {"inspect"},
		"users": {"add", "passwd", "remove", "import", "list"}, "completion": {"bash", "zsh", "fish"},
		"admin-tokens": {"create", "list", "revoke"}, "audit": {"list"},
		// doctor reads a pasted command: a leading "curl" is taken as written.
		"doctor": {"curl"},
	}
	for _, e := range completionTable(t.Context()) {
		if diff := cmp.Diff(want[e.name], e.verbs); diff != "" {
			t.Errorf("verbs of %s (-want +got):\n%s", e.name, diff)
		}
		for _, v := range e.verbs {
			if code, _, errs := runStoreCLI(t, "", e.name, v, "--nosuchflag"); e.name != "completion" && (code != 2 || strings.Contains(errs, "unknown subcommand")) {
				t.Errorf("%s %s is not a verb the command runs: exit %d %q", e.name, v, code, errs)
			}
		}
	}
}

// TestDemoCLIWorksAfterGoRun checks how the demo's printed lines invoke gatehouse: the
// command on the PATH when that is this binary, a go build line and ./gatehouse for a
// "go run" binary (deleted when the demo stops), else this binary's quoted path.
func TestDemoCLIWorksAfterGoRun(t *testing.T) {
	dir := t.TempDir()
	installed := filepath.Join(dir, "bin", "gatehouse")
	if err := os.MkdirAll(filepath.Dir(installed), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(installed, []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	onPath := func(string) (string, error) { return installed, nil }
	notOnPath := func(string) (string, error) { return "", exec.ErrNotFound }
	tests := []struct {
		name, exe string
		lookPath  func(string) (string, error)
		cli       string
		hint      bool
	}{
		{"installed", installed, onPath, "gatehouse", false},
		{"go run", "/tmp/go-build2961/b001/exe/gatehouse", notOnPath, "./gatehouse", true},
		{"go run with another gatehouse installed", "/tmp/go-build2961/b001/exe/gatehouse", onPath, "./gatehouse", true},
		{"built elsewhere", "/home/me/src/gatehouse/gatehouse", onPath, "/home/me/src/gatehouse/gatehouse", false},
		{"path with a space", "/home/me/my tools/gatehouse", notOnPath, "'/home/me/my tools/gatehouse'", false},
		{"path with a quote", "/opt/it's/gatehouse", notOnPath, `'/opt/it'\''s/gatehouse'`, false},
	}
	for _, tc := range tests {
		cli, hint := demoCLI(tc.exe, tc.lookPath)
		if cli != tc.cli || (hint != "") != tc.hint {
			t.Errorf("%s: cli %q hint %q; want %q, hint %v", tc.name, cli, hint, tc.cli, tc.hint)
		}
		if tc.hint && !strings.Contains(hint, demoBuildLine) {
			t.Errorf("%s: the hint %q has no go build line", tc.name, hint)
		}
	}
}
