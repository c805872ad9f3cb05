package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse/internal/buildinfo"
)

func TestVersionPrintsTheBuildFacts(t *testing.T) {
	release := buildinfo.Info{Version: "v1.2.0", Revision: "3f2c1a9b4d5e6f708192a3b4c5d6e7f809112233",
		Time: "2026-12-07T22:00:00Z", Dirty: true, GoVersion: "go1.26.8", Platform: "linux/amd64"}
	old := readBuildInfo
	readBuildInfo = func() buildinfo.Info { return release }
	t.Cleanup(func() { readBuildInfo = old })

	line := "gatehouse v1.2.0 (revision 3f2c1a9b4d5e, 2026-12-07T22:00:00Z, dirty) go1.26.8 linux/amd64\n"
	tests := []struct {
		args       []string
		code       int
		out, inErr string
	}{
		{[]string{"version"}, 0, line, ""},
		{[]string{"--version"}, 0, line, ""},
		{[]string{"-version"}, 0, line, ""},
		{[]string{"version", "--json"}, 0, "json", ""},
		{[]string{"--version", "--json"}, 0, "json", ""},
		{[]string{"version", "--help"}, 0, "usage", ""},
		{[]string{"version", "--yaml"}, 2, "", "flag provided but not defined: -yaml"},
		{[]string{"version", "extra"}, 2, "", `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			env := &cliEnv{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
			if code := run(context.Background(), env, tt.args); code != tt.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tt.code, errb.String())
			}
			if !strings.Contains(errb.String(), tt.inErr) {
				t.Errorf("stderr %q does not contain %q", errb.String(), tt.inErr)
			}
			if tt.out == "usage" {
				if !strings.HasPrefix(out.String(), "Usage: gatehouse version") {
					t.Errorf("stdout %q, want the usage", out.String())
				}
				return
			}
			if tt.out != "json" {
				if out.String() != tt.out {
					t.Errorf("stdout %q, want %q", out.String(), tt.out)
				}
				return
			}
			var got map[string]any
			if err := json.Unmarshal(out.Bytes(), &got); err != nil {
				t.Fatalf("--json output does not parse: %v\n%s", err, out.String())
			}
			want := map[string]any{"version": "v1.2.0", "revision": "3f2c1a9b4d5e6f708192a3b4c5d6e7f809112233",
				"time": "2026-12-07T22:00:00Z", "dirty": true, "go_version": "go1.26.8", "platform": "linux/amd64"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("--json (-want +got):\n%s", diff)
			}
		})
	}
}

func TestVersionIsAUserAgentProductVersion(t *testing.T) {
	tests := map[string]string{
		"(devel)": "devel",
		"v1.2.0":  "v1.2.0",
		"v0.0.0-20261207220000-3f2c1a9b4d5e+dirty": "v0.0.0-20261207220000-3f2c1a9b4d5e+dirty",
		"v1.2.0 (patched)\r\nX-Evil: 1":            "v1.2.0patchedX-Evil1",
		"()":                                       "devel",
	}
	for in, want := range tests {
		if got := productVersion(in); got != want {
			t.Errorf("productVersion(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestVersionHealthzAndMetricAgree runs the built binary: gatehouse version --json, the
// admin listener's /healthz (text and JSON) and gatehouse_build_info all name one build.
func TestVersionHealthzAndMetricAgree(t *testing.T) {
	out, err := exec.Command(binPath, "version", "--json").Output()
	if err != nil {
		t.Fatalf("gatehouse version --json: %v", err)
	}
	var info buildinfo.Info
	if err := json.Unmarshal(out, &info); err != nil {
		t.Fatalf("version --json: %v\n%s", err, out)
	}
	line, err := exec.Command(binPath, "--version").Output()
	if err != nil {
		t.Fatalf("gatehouse --version: %v", err)
	}
	if want := info.String() + "\n"; string(line) != want {
		t.Errorf("--version printed %q; --json says %q", line, want)
	}

	g := startGateway(t)
	resp, body := get(t, g.admin+"/healthz")
	if resp.StatusCode != 200 || string(body) != "ok\n"+info.String()+"\n" {
		t.Errorf("/healthz: %d %q, want 200 ok and %q", resp.StatusCode, body, info.String())
	}
	resp, body = get(t, g.admin+"/healthz", "Accept", "application/json")
	var health struct {
		Status string `json:"status"`
		buildinfo.Info
	}
	if err := json.Unmarshal(body, &health); err != nil || resp.StatusCode != 200 {
		t.Fatalf("/healthz as JSON: %d %v\n%s", resp.StatusCode, err, body)
	}
	if health.Status != "ok" || health.Info != info {
		t.Errorf("/healthz as JSON: %+v, want status ok and %+v", health, info)
	}
	_, body = get(t, g.admin+"/metrics")
	metric := fmt.Sprintf(`gatehouse_build_info{dirty="%t",goversion="%s",platform="%s",revision="%s",revision_time="%s",version="%s"} 1`,
		info.Dirty, info.GoVersion, info.Platform, info.Revision, info.Time, info.Version)
	if !strings.Contains(string(body), metric+"\n") {
		t.Errorf("/metrics lacks %s", metric)
	}
}
