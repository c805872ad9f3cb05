package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseDotenv(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		vars  map[string]string
		probs []lineMsg
	}{
		{"plain", "A=1\nB=two words\n", map[string]string{"A": "1", "B": "two words"}, nil},
		{"comments and blank lines", "# a comment\n\n  # indented comment\nA=1\n", map[string]string{"A": "1"}, nil},
		{"export prefix", "export A=1\nexport\tB=2\nexported=3\n", map[string]string{"A": "1", "B": "2", "exported": "3"}, nil},
		{"double quotes removed", `A="hello world"` + "\n", map[string]string{"A": "hello world"}, nil},
		{"single quotes removed", `A='hello world'` + "\n", map[string]string{"A": "hello world"}, nil},
		{"single quotes are literal", `A='a\nb $X "q"'` + "\n", map[string]string{"A": `a\nb $X "q"`}, nil},
		{"double-quote escapes", `A="a\nb\t\"q\" \\ \x"` + "\n", map[string]string{"A": "a\nb\t\"q\" \\ \\x"}, nil},
		{"CRLF tolerated", "A=1\r\nB=\"two\"\r\nC='3'\r\n", map[string]string{"A": "1", "B": "two", "C": "3"}, nil},
		{"spaces around =", "A = 1 \n", map[string]string{"A": "1"}, nil},
		{"inline comment after unquoted value", "A=1 # one\nB=a#b\n", map[string]string{"A": "1", "B": "a#b"}, nil},
		{"comment after quoted value", `A="x" # c` + "\n", map[string]string{"A": "x"}, nil},
		{"empty value", "A=\nB=\"\"\n", map[string]string{"A": "", "B": ""}, nil},
		{"equals in value", "A=a=b\n", map[string]string{"A": "a=b"}, nil},
		{"later definition wins", "A=1\nA=2\n", map[string]string{"A": "2"}, nil},
		{"byte order mark", "\ufeffA=1\n", map[string]string{"A": "1"}, nil},
		{"no final newline", "A=1", map[string]string{"A": "1"}, nil},
		{"line without =", "A=1\nsk_live_abcdef\n", map[string]string{"A": "1"}, []lineMsg{{2, "expected KEY=VALUE"}}},
		{"invalid name", "1A=1\nA-B=2\n", map[string]string{}, []lineMsg{{1, "invalid variable name"}, {2, "invalid variable name"}}},
		{"unterminated double quote", "A=\"abc\nB=1\n", map[string]string{"B": "1"}, []lineMsg{{1, "A: unterminated double-quoted value"}}},
		{"unterminated single quote", "A='abc\n", map[string]string{}, []lineMsg{{1, "A: unterminated single-quoted value"}}},
		{"text after closing quote", `A="abc"def` + "\n", map[string]string{}, []lineMsg{{1, "A: unexpected text after the closing quote"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vars, probs := parseDotenv([]byte(tt.in))
			if diff := cmp.Diff(tt.vars, vars); diff != "" {
				t.Errorf("vars (-want +got):\n%s", diff)
			}
			if len(probs) != len(tt.probs) {
				t.Fatalf("problems = %v, want %v", probs, tt.probs)
			}
			for i, p := range probs {
				if p.line != tt.probs[i].line || !strings.Contains(p.msg, tt.probs[i].msg) {
					t.Errorf("problem %d = %v, want %v", i, p, tt.probs[i])
				}
			}
		})
	}
}

func TestDotenvProblemsNeverQuoteTheLine(t *testing.T) {
	const secret = "sk_live_1234567890abcdef"
	_, probs := parseDotenv([]byte(secret + "\nTOKEN=\"" + secret + "\n" + "BAD-NAME=" + secret + "\n"))
	if len(probs) != 3 {
		t.Fatalf("problems = %v, want 3", probs)
	}
	for _, p := range probs {
		if strings.Contains(p.msg, secret) || strings.Contains(p.msg, "sk_live") {
			t.Errorf("problem quotes the line: %q", p.msg)
		}
	}
}

func TestDotenvFillsOnlyUnsetVariables(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		".env": "export REALM='from-dotenv'\r\nLISTEN=\"127.0.0.1:7001\"\r\nENVIRONMENT=staging # comment\r\n",
		"gatehouse.yaml": "realm: ${REALM}\nlisten: ${LISTEN}\nenvironment: ${ENVIRONMENT}\n" +
			"routes: [{match: {path_prefix: /}, authenticate: anonymous}]\n",
	})
	// The real environment sets LISTEN (and wins) and sets ENVIRONMENT to "", which
	// counts as unset, so .env fills it.
	real := envOf(map[string]string{"LISTEN": "127.0.0.1:7002", "ENVIRONMENT": ""})
	c, err := Load(filepath.Join(dir, "gatehouse.yaml"), real)
	if err != nil {
		t.Fatal(err)
	}
	got := []string{c.Realm, c.Listen, c.Environment}
	want := []string{"from-dotenv", "127.0.0.1:7002", "staging"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("realm, listen, environment (-want +got):\n%s", diff)
	}
}

func TestDotenvProblemsNameTheDotenvFile(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		".env":           "GOOD=1\nnot an assignment\n",
		"gatehouse.yaml": "realm: ${GOOD}\nlisten: ${MISSING}\nroutes: [{match: {path_prefix: /}, authenticate: anonymous}]\n",
	})
	cfg := filepath.Join(dir, "gatehouse.yaml")
	_, err := Load(cfg, noEnv)
	got := problemsOf(t, err)
	want := []Problem{
		{Line: 2, Path: filepath.Join(dir, ".env"), Msg: "expected KEY=VALUE"},
		{Line: 2, Path: cfg, Key: "listen", Msg: "listen: ${MISSING} is not set"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

func TestDotenvUnreadableIsAProblem(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, ".env"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := Parse([]byte(minimal), dir, noEnv)
	got := problemsOf(t, err)
	if len(got) != 1 || got[0].Msg != "cannot read: not a regular file" {
		t.Errorf("problems = %v", got)
	}
}

func TestParseWithoutDirReadsNoDotenv(t *testing.T) {
	// Parse with dir "" must not pick up a .env from the working directory.
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{".env": "REALM=from-dotenv\n"})
	t.Chdir(dir)
	_, err := Parse([]byte("realm: ${REALM}\nroutes: [{match: {path_prefix: /}, authenticate: anonymous}]\n"), "", noEnv)
	if got := problemsOf(t, err); len(got) != 1 || got[0].Msg != "realm: ${REALM} is not set" {
		t.Errorf("problems = %v", got)
	}
}

func TestExpand(t *testing.T) {
	env := envOf(map[string]string{"A": "alpha", "B": "", "URL": "https://id.example", "Y": "key: [1, 2]"})
	tests := []struct {
		in       string
		out      string
		expanded bool
		errs     []string
	}{
		{"plain", "plain", false, nil},
		{"${A}", "alpha", true, nil},
		{"${URL}/jwks.json", "https://id.example/jwks.json", true, nil},
		{"${A}-${A}", "alpha-alpha", true, nil},
		{"${B:-fallback}", "fallback", true, nil},
		{"${NOPE:-fallback}", "fallback", true, nil},
		{"${A:-fallback}", "alpha", true, nil},
		{"${NOPE:-}", "", true, nil},
		{"${NOPE:-a:b}", "a:b", true, nil},
		{"$$", "$", false, nil},
		{"cost $$5 and $${A}", "cost $5 and ${A}", false, nil},
		{"${Y}", "key: [1, 2]", true, nil},
		{"${NOPE}", "", true, []string{"${NOPE} is not set"}},
		{"${B}", "", true, []string{"${B} is not set"}},
		{"${NOPE} ${ALSO}", "", true, []string{"${NOPE} is not set", "${ALSO} is not set"}},
		{"$A", "", false, []string{`"$" must start ${VAR}`}},
		{"trailing $", "", false, []string{`"$" must start ${VAR}`}},
		{"${A", "", true, []string{`"${" is not closed by "}"`}},
		{"${}", "", true, []string{`invalid variable name`}},
		{"${A-x}", "", true, []string{"${A...} is not supported"}},
		{"${A:?msg}", "", true, []string{"${A...} is not supported"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			out, expanded, errs := expand(tt.in, env)
			if out != tt.out || expanded != tt.expanded {
				t.Errorf("expand(%q) = %q, %v; want %q, %v", tt.in, out, expanded, tt.out, tt.expanded)
			}
			if len(errs) != len(tt.errs) {
				t.Fatalf("errors = %q, want %q", errs, tt.errs)
			}
			for i := range errs {
				if !strings.Contains(errs[i], tt.errs[i]) {
					t.Errorf("error %d = %q, want it to contain %q", i, errs[i], tt.errs[i])
				}
			}
		})
	}
}

// TestExpandedTextIsNeverParsedAsYAML guards against injection: a variable holding YAML
// structure stays one string.
func TestExpandedTextIsNeverParsedAsYAML(t *testing.T) {
	const iss = "https://id.example\n    audience: evil\n    algorithms: [HS256]"
	c, err := Parse([]byte(minimal+`authenticators:
  j:
    type: jwt
    issuer: ${ISS}
    audience: api://orders
    algorithms: [ES256]
    jwks_url: https://id.example/jwks
`), t.TempDir(), envOf(map[string]string{"ISS": iss}))
	if err != nil {
		t.Fatal(err)
	}
	j := c.Authenticators["j"].JWT
	got := []any{j.Issuer, j.Audience, j.Algorithms}
	want := []any{iss, []string{"api://orders"}, []string{"ES256"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("issuer, audience, algorithms (-want +got):\n%s", diff)
	}
}
