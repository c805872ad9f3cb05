package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDoctorAgainstTheRealDemo runs the doctor against `gatehouse demo` (the real binary):
// the demo is never flagged as misconfigured (its token audience and its RFC 9728
// resource differ by design), an expired token is jwt_expired and nothing else, and a
// page on an origin the demo does not allow gets the Gatehouse knob as its fix.
func TestDoctorAgainstTheRealDemo(t *testing.T) {
	p := start(t, "demo", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0")
	p.waitFor(t, regexp.MustCompile(`Press Ctrl-C to stop`))
	out := p.out()
	m := regexp.MustCompile(`gateway\s+(http://127\.0\.0\.1:\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no gateway address in:\n%s", out)
	}
	base := m[1]
	vars := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		for _, name := range []string{"VALID", "EXPIRED"} {
			if v, ok := strings.CutPrefix(line, name+"="); ok {
				vars[name], _, _ = strings.Cut(v, " ")
			}
		}
	}
	type report struct {
		Verdict  string
		Findings []struct{ Code, Severity, Fix string }
	}
	doctor := func(args ...string) report {
		t.Helper()
		var o, e bytes.Buffer
		env := &cliEnv{stdin: strings.NewReader(""), stdout: &o, stderr: &e, getenv: func(string) string { return "" }}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		run(ctx, env, append([]string{"doctor", "--json"}, args...))
		var r report
		if err := json.Unmarshal(o.Bytes(), &r); err != nil {
			t.Fatalf("%v: %v\n%s\n%s", args, err, o.String(), e.String())
		}
		for _, v := range vars {
			if strings.Contains(o.String(), v) {
				t.Fatalf("a token leaked into the report")
			}
		}
		return r
	}

	r := doctor(base+"/orders", "-H", "Authorization: Bearer "+vars["VALID"])
	if r.Verdict != "ok" {
		t.Errorf("valid demo token: verdict %q", r.Verdict)
	}
	for _, f := range r.Findings {
		t.Errorf("valid demo token: the demo is flagged: %s (%s)", f.Code, f.Severity)
	}

	r = doctor(base+"/orders", "-H", "Authorization: Bearer "+vars["EXPIRED"])
	if r.Verdict != "jwt_expired" {
		t.Errorf("expired demo token: verdict %q", r.Verdict)
	}
	for _, f := range r.Findings {
		if f.Code == "jwt_audience_mismatch" {
			t.Errorf("expired demo token: the demo's audience is flagged")
		}
	}

	r = doctor(base+"/orders", "-H", "Authorization: Bearer "+vars["VALID"], "--origin", "http://evil.example:3000")
	if !strings.HasPrefix(r.Verdict, "cors_") {
		t.Fatalf("origin the demo does not allow: verdict %q", r.Verdict)
	}
	if fix := r.Findings[0].Fix; !strings.Contains(fix, "cors.allowed_origins") || !strings.Contains(fix, "http://evil.example:3000") {
		t.Errorf("the fix does not name Gatehouse's knob: %s", fix)
	}

	r = doctor(base+"/orders", "-H", "Authorization: Bearer "+vars["VALID"], "--origin", "http://localhost:3000")
	if r.Verdict != "ok" {
		t.Errorf("origin the demo allows: verdict %q", r.Verdict)
	}
}
