package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/doctor"
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
			got, err := splitCommand(tc.in, getenv)
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
		_, err := splitCommand(in, nil)
		if err == nil {
			t.Errorf("%q: no error", in)
			continue
		}
		if strings.Contains(err.Error(), "sekr3t") {
			t.Errorf("the error quotes the input: %v", err)
		}
	}
}

// TestDoctorTakesCopiedCurlCommands: the commands Chrome's and Firefox's "Copy as cURL"
// and Postman's export produce are understood as they are, after "gatehouse doctor" or
// on stdin with "-".
func TestDoctorTakesCopiedCurlCommands(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		stdin string
		want  doctor.Options
	}{
		{
			name: "Chrome Copy as cURL (bash), as arguments",
			args: []string{"curl", "https://api.example.com/v1/orders", "-H", "accept: application/json", "-H", "authorization: Bearer eyJabc",
				"-b", "session=s3cr3t; theme=dark", "-H", "sec-ch-ua-mobile: ?0", "--data-raw", `{"q":1}`, "--compressed"},
			want: doctor.Options{URL: "https://api.example.com/v1/orders", Headers: []doctor.Header{
				{Name: "accept", Value: "application/json"}, {Name: "authorization", Value: "Bearer eyJabc"},
				{Name: "sec-ch-ua-mobile", Value: "?0"}, {Name: "Cookie", Value: "session=s3cr3t; theme=dark"}},
				Body: `{"q":1}`, HasBody: true},
		},
		{
			name: "Firefox Copy as cURL, on stdin",
			args: []string{"--json", "-"},
			stdin: "curl 'https://api.example.com/v1/orders' -X POST -H 'User-Agent: Mozilla/5.0' -H 'Accept: */*' " +
				"-H 'Authorization: Bearer eyJabc' -H 'Content-Type: application/json' -H 'Origin: https://app.example.com' " +
				"-H 'Connection: keep-alive' -H 'Sec-Fetch-Mode: cors' --data-raw '{\"q\":1}' --compressed --http2\n",
			want: doctor.Options{URL: "https://api.example.com/v1/orders", Method: "POST", Headers: []doctor.Header{
				{Name: "User-Agent", Value: "Mozilla/5.0"}, {Name: "Accept", Value: "*/*"}, {Name: "Authorization", Value: "Bearer eyJabc"},
				{Name: "Content-Type", Value: "application/json"}, {Name: "Origin", Value: "https://app.example.com"},
				{Name: "Connection", Value: "keep-alive"}, {Name: "Sec-Fetch-Mode", Value: "cors"}},
				Body: `{"q":1}`, HasBody: true},
		},
		{
			name: "Postman export, with continuations, on stdin",
			args: []string{"-"},
			stdin: "curl --location --request PUT 'https://api.example.com/v1/items/7' \\\n" +
				"--header 'X-Api-Key: k_live_123456' \\\n--header 'Content-Type: application/x-www-form-urlencoded' \\\n" +
				"--data-urlencode 'name=a b&c' \\\n--data-urlencode 'note=é'",
			want: doctor.Options{URL: "https://api.example.com/v1/items/7", Method: "PUT", Headers: []doctor.Header{
				{Name: "X-Api-Key", Value: "k_live_123456"}, {Name: "Content-Type", Value: "application/x-www-form-urlencoded"}},
				Body: "name=a+b%26c&note=%C3%A9", HasBody: true},
		},
		{
			name: "short flag runs, -G, -m, -x, --cert",
			args: []string{"curl", "-sSLk", "-G", "https://a.example/s", "-d", "q=1", "-d", "r=2", "-m", "3", "-x", "http://proxy:3128",
				"--cert", "c.pem", "--key", "k.pem", "-o", "/dev/null", "-w", "%{http_code}"},
			want: doctor.Options{URL: "https://a.example/s?q=1&r=2", Method: "GET", Insecure: true, Timeout: 3e9,
				Proxy: "http://proxy:3128", CertFile: "c.pem", KeyFile: "k.pem"},
		},
		{
			name: "--oauth2-bearer, -A, -e, -I, --url",
			args: []string{"--url", "https://a.example/x", "--oauth2-bearer", "tok", "-A", "ua/1", "-e", "https://ref/", "-I"},
			want: doctor.Options{URL: "https://a.example/x", Method: "HEAD", Headers: []doctor.Header{
				{Name: "Authorization", Value: "Bearer tok"}, {Name: "User-Agent", Value: "ua/1"}, {Name: "Referer", Value: "https://ref/"}}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := parseDoctorArgs(tc.args, &cliEnv{stdin: strings.NewReader(tc.stdin), getenv: func(string) string { return "" }})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, a.opts); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDoctorMultipartForm(t *testing.T) {
	a, err := parseDoctorArgs([]string{"curl", "https://a.example/up", "--form", `title="x"`, "--form-string", "raw=@not-a-file"},
		&cliEnv{stdin: strings.NewReader("")})
	if err != nil {
		t.Fatal(err)
	}
	ct := ""
	for _, h := range a.opts.Headers {
		if h.Name == "Content-Type" {
			ct = h.Value
		}
	}
	if !strings.HasPrefix(ct, "multipart/form-data; boundary=") || !strings.Contains(a.opts.Body, `name="raw"`) ||
		!strings.Contains(a.opts.Body, "@not-a-file") || !a.opts.HasBody {
		t.Errorf("Content-Type %q, body %q", ct, a.opts.Body)
	}
}

func TestDoctorPasteErrors(t *testing.T) {
	tests := []struct {
		args  []string
		stdin string
		want  string
	}{
		{[]string{"-"}, "", "stdin holds no command"},
		{[]string{"-"}, "curl -H 'A: b'", "has no URL"},
		{[]string{"-"}, "curl https://a/x -", "may not itself say '-'"},
		{[]string{"https://a/x", "-"}, "curl https://b/y", "not both"},
		{[]string{"-"}, "curl 'https://a/x", "unterminated single quote"},
		{[]string{"curl", "https://a/x", "-b", "cookies.txt"}, "", "cookie file"},
		{[]string{"curl", "https://a/x", "--frobnicate"}, "", "unknown flag --frobnicate"},
		{[]string{"-"}, strings.Repeat("a", maxPastedCommand+1), "larger than 1 MiB"},
	}
	for _, tc := range tests {
		_, err := parseDoctorArgs(tc.args, &cliEnv{stdin: strings.NewReader(tc.stdin), getenv: func(string) string { return "" }})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want %q", tc.args, err, tc.want)
		}
	}
}

// TestDoctorHelpListsEveryCurlFlag: every flag the parser accepts, ignored ones
// included, is named in --help.
func TestDoctorHelpListsEveryCurlFlag(t *testing.T) {
	for name := range doctorFlags() {
		if !strings.Contains(doctorUsage, name) {
			t.Errorf("--help does not mention %s", name)
		}
	}
}

// FuzzSplitCommand: no input makes the splitter (or the argument parser after it)
// panic, the word count stays bounded, and words quoted with '...' split back to
// themselves.
func FuzzSplitCommand(f *testing.F) {
	for _, s := range []string{
		"curl 'https://a/x' -H 'A: b' --compressed",
		"curl ^\"https://a/x^\" ^\n  -H ^\"a: b^\"",
		`--data-raw $'\x41\u00e9\U0001F600\101\cA'`,
		`"unterminated`, "a\\\nb", `${X} $Y $`, "-sSLXPOST https://a/x -d a -d b -G",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		words, err := splitCommand(s, func(string) string { return "v" })
		if err != nil {
			return
		}
		if len(words) > maxPastedWords {
			t.Fatalf("%d words", len(words))
		}
		_, _ = parseDoctorArgs(words, &cliEnv{stdin: strings.NewReader(""), getenv: func(string) string { return "" }})
		if isCmdDialect(s) {
			return
		}
		var quoted []string
		for _, w := range words {
			if !utf8.ValidString(w) {
				return
			}
			quoted = append(quoted, "'"+strings.ReplaceAll(w, "'", `'\''`)+"'")
		}
		again, err := splitCommand(strings.Join(quoted, " "), nil)
		if err != nil {
			t.Fatalf("re-split: %v", err)
		}
		if len(words) > 0 && !cmp.Equal(words, again) {
			t.Fatalf("round trip: %q -> %q", words, again)
		}
	})
}

// TestDoctorPastedCommandEndToEnd: a Chrome "Copy as cURL" command on stdin reaches the
// server with its headers and cookies, is diagnosed, and its secrets stay redacted.
func TestDoctorPastedCommandEndToEnd(t *testing.T) {
	var gotAuth, gotCookie string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" { // not the anonymous control
			gotAuth, gotCookie = r.Header.Get("Authorization"), r.Header.Get("Cookie")
		}
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="The token expired"`)
		w.WriteHeader(401)
	}))
	defer srv.Close()
	cmd := "curl '" + srv.URL + "/v1/me' \\\n  -H 'accept: application/json' \\\n  -H 'authorization: Bearer opaque-secret-token-123456' \\\n" +
		"  -b 'sid=cookie-secret-987654' \\\n  --compressed"
	var out, errb bytes.Buffer
	env := &cliEnv{stdin: strings.NewReader(cmd), stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code := run(ctx, env, []string{"doctor", "--json", "-"})
	if code != 1 {
		t.Fatalf("exit %d, stderr %s", code, errb.String())
	}
	if gotAuth != "Bearer opaque-secret-token-123456" || gotCookie != "sid=cookie-secret-987654" {
		t.Errorf("server got Authorization %q, Cookie %q", gotAuth, gotCookie)
	}
	var rep struct{ Verdict string }
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Verdict != "jwt_expired" {
		t.Errorf("verdict %q", rep.Verdict)
	}
	if s := out.String(); strings.Contains(s, "opaque-secret-token-123456") || strings.Contains(s, "cookie-secret-987654") {
		t.Errorf("a secret leaked into the report")
	}
}
