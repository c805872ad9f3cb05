package har

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/doctor/finding"
	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

func readFixture(t *testing.T, name string) *Log {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l, err := Read(f, 10<<20)
	if err != nil {
		t.Fatalf("Read(%s): %v", name, err)
	}
	return l
}

func render(l *Log) string {
	var b strings.Builder
	fmt.Fprintf(&b, "creator %q %q pages %v entries %d sanitized=%v\n", l.Creator, l.CreatorVersion, l.PageOrigins, len(l.Entries), Sanitized(l))
	for _, i := range Failing(l) {
		fmt.Fprintf(&b, "== failing entry #%d %s %s -> %d %s\n", i, l.Entries[i].Method, l.Entries[i].URL, l.Entries[i].Status, l.Entries[i].Error)
		for _, f := range Analyze(l, i) {
			fmt.Fprintf(&b, "%s %s (score %d): %s\n", f.Severity, f.Code, f.Score, f.Summary)
			for _, e := range f.Evidence {
				fmt.Fprintf(&b, "    - %s\n", e)
			}
			fmt.Fprintf(&b, "    fix: %s\n", f.Fix)
		}
	}
	return b.String()
}

func codes(fs []finding.Finding) []string {
	out := []string{}
	for _, f := range fs {
		out = append(out, f.Code+"/"+string(f.Severity))
	}
	return out
}

func TestAnalyzeNamesTheCauseInEachFixture(t *testing.T) {
	tests := []struct {
		file    string
		failing []int
		// want lists the codes Analyze returns for each failing entry, in order.
		want map[int][]string
	}{
		{"chrome_sanitized.har", []int{1}, map[int][]string{1: {"credential_missing_or_empty/warning", "har_credentials_redacted/warning"}}},
		{"preflight_401.har", []int{1}, map[int][]string{1: {"cors_preflight_requires_auth/error"}}},
		{"cors_missing_authorization.har", []int{1}, map[int][]string{1: {"cors_authorization_not_allowed/error"}}},
		{"cookie_samesite.har", []int{2}, map[int][]string{2: {"cookie_blocked_by_attributes/error", "cookie_blocked_by_attributes/error"}}},
		{"csrf.har", []int{1}, map[int][]string{1: {"csrf_token_missing/error"}}},
		{"no_cors.har", []int{0}, map[int][]string{0: {"fetch_no_cors_mode/error"}}},
		{"expose.har", []int{1}, map[int][]string{1: {"www_authenticate_not_exposed/warning", "trailing_newline_or_cr/error"}}},
		{"healthy.har", nil, nil},
		{"session_expired.har", []int{2}, map[int][]string{2: {"session_missing_or_expired/error"}}},
		{"token_endpoint.har", []int{0}, map[int][]string{0: {"oauth_client_secret_basic_encoding/warning"}}},
	}
	for _, tt := range tests {
		t.Run(strings.TrimSuffix(tt.file, ".har"), func(t *testing.T) {
			l := readFixture(t, tt.file)
			if diff := cmp.Diff(tt.failing, Failing(l)); diff != "" {
				t.Errorf("Failing (-want +got):\n%s", diff)
			}
			for i, want := range tt.want {
				fs := Analyze(l, i)
				if diff := cmp.Diff(want, codes(fs)); diff != "" {
					t.Errorf("Analyze(%d) codes (-want +got):\n%s", i, diff)
				}
				for _, f := range fs {
					if f.Summary == "" || f.Fix == "" || len(f.Evidence) == 0 {
						t.Errorf("incomplete finding %+v", f)
					}
				}
			}
			got := render(l)
			for _, secret := range []string{"7f3a9c1e5b2d8f4a6c0e9b3d7f1a5c8e2b6d0f4a", "s3ss10nvalue0123456789", "c5rfT0k3nValue", "abc+def"} {
				if strings.Contains(got, secret) {
					t.Errorf("report reveals %q", secret)
				}
			}
			checkGolden(t, strings.TrimSuffix(tt.file, ".har"), got)
		})
	}
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name+".golden")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
	}
}
