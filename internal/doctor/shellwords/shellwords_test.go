package shellwords

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func TestSplitCommandReadsShellQuoting(t *testing.T) {
	getenv := func(k string) string { return map[string]string{"TOKEN": "t0k3n-from-env"}[k] }
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"plain words", "curl https://a/x -H 'A: b'", []string{"curl", "https://a/x", "-H", "A: b"}},
		{"double quotes keep $ escapes", `curl "https://a/x" -H "X: \"q\" \$HOME \\ a"`, []string{"curl", "https://a/x", "-H", `X: "q" $HOME \ a`}},
		{"ANSI-C quoting", `--data-raw $'{"a":"line1\nline2\ttab \x41\u00e9 it\'s \\"}'`, []string{"--data-raw", "{\"a\":\"line1\nline2\ttab A\u00e9 it's \\\"}"}},
		{"backslash-newline continuations", "curl 'https://a/x' \\\n  -H 'A: b' \\\n  --compressed", []string{"curl", "https://a/x", "-H", "A: b", "--compressed"}},
		{"CRLF continuations", "curl 'https://a/x' \\\r\n  -H 'A: b'\r\n", []string{"curl", "https://a/x", "-H", "A: b"}},
		{"adjacent quoted parts make one word", `-H 'Authorization: Bearer '"abc"def`, []string{"-H", "Authorization: Bearer abcdef"}},
		{"a set variable is expanded, an unset one kept", `-H "Authorization: Bearer $TOKEN" -H "X-Key: ${MISSING}"`, []string{"-H", "Authorization: Bearer t0k3n-from-env", "-H", "X-Key: ${MISSING}"}},
		{"a pipe ends the command", "curl 'https://a/x' -s | jq .", []string{"curl", "https://a/x", "-s"}},
		{"a comment line", "# from DevTools\ncurl 'https://a/x'", []string{"curl", "https://a/x"}},
		{"empty quotes make an empty word", `-H ''`, []string{"-H", ""}},
		{"Chrome cmd", "curl ^\"https://a/x?q=1^&r=2^\" ^\n  -H ^\"accept: */*^\" ^\n  -H ^\"authorization: Bearer abc^\" ^\n  --data-raw ^\"^{^\\^\"a^\\^\":1^}^\" ^\n  --compressed",
			[]string{"curl", "https://a/x?q=1&r=2", "-H", "accept: */*", "-H", "authorization: Bearer abc", "--data-raw", `{"a":1}`, "--compressed"}},
		{"Chrome cmd: a newline inside a value", "--data-raw ^\"a^\n\nb^\"", []string{"--data-raw", "a\nb"}},
		{"hand-written cmd with plain quotes", "curl \"https://a/x\" ^\r\n  -H \"A: b^c\"", []string{"curl", "https://a/x", "-H", "A: b^c"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Split(tc.in, getenv)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("words (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSplitCommandRefusesUnterminatedQuotesWithoutQuotingThem(t *testing.T) {
	for _, in := range []string{`curl 'https://a/x' -H 'A: sekr3t-value`, `-H "sekr3t-value`, `$'sekr3t-value`, `curl ^"sekr3t-value" ^` + "\n" + `"`} {
		_, err := Split(in, nil)
		if err == nil {
			t.Errorf("%q: no error", in)
			continue
		}
		if strings.Contains(err.Error(), "sekr3t") {
			t.Errorf("the error quotes the input: %v", err)
		}
	}
}

// FuzzSplit: no input makes the splitter panic, the word count stays bounded, and words quoted with '...' split back to
// themselves.
func FuzzSplit(f *testing.F) {
	for _, s := range []string{
		"curl 'https://a/x' -H 'A: b' --compressed",
		"curl ^\"https://a/x^\" ^\n  -H ^\"a: b^\"",
		`--data-raw $'\x41\u00e9\U0001F600\101\cA'`,
		`"unterminated`, "a\\\nb", `${X} $Y $`, "-sSLXPOST https://a/x -d a -d b -G",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		words, err := Split(s, func(string) string { return "v" })
		if err != nil {
			return
		}
		if len(words) > MaxWords {
			t.Fatalf("%d words", len(words))
		}
		if IsCmdDialect(s) {
			return
		}
		var quoted []string
		for _, w := range words {
			if !utf8.ValidString(w) {
				return
			}
			quoted = append(quoted, "'"+strings.ReplaceAll(w, "'", `'\''`)+"'")
		}
		again, err := splitPOSIX(strings.Join(quoted, " "), nil)
		if err != nil {
			t.Fatalf("re-split: %v", err)
		}
		if len(words) > 0 && !cmp.Equal(words, again) {
			t.Fatalf("round trip: %q -> %q", words, again)
		}
	})
}
