package main

import (
	"bytes"
	"context"
	"encoding/json"
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
		{[]string{"version", "--help"}, 0, "", "Usage: gatehouse version"},
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
		"(devel)":                                  "devel",
		"v1.2.0":                                   "v1.2.0",
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
