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

	"github.com/gatehouse-dev/gatehouse/internal/doctor"
	"github.com/gatehouse-dev/gatehouse/internal/doctor/shellwords"
	"github.com/google/go-cmp/cmp"
)

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

// FuzzDoctorPaste: no pasted command makes the argument parser panic.
func FuzzDoctorPaste(f *testing.F) {
	f.Add("curl 'https://a/x' -H 'A: b' --compressed -sSLXPOST -d a -d b -G -F x=y -b c=d")
	f.Fuzz(func(t *testing.T, s string) {
		words, err := shellwords.Split(s, func(string) string { return "v" })
		if err != nil {
			return
		}
		_, _ = parseDoctorArgs(words, &cliEnv{stdin: strings.NewReader(""), getenv: func(string) string { return "" }})
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
