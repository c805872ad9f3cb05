package lint

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

// renderEnv prints a reading and its findings the way a report would: values redacted.
func renderEnv(r *EnvReading, fs []finding.Finding) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name %s line %d crlf=%v quoted=%v export=%v value %s\n", r.Name, r.Line, r.CRLF, r.Quoted, r.ExportPrefix, Redact(r.Value))
	for _, l := range r.Loaders {
		fmt.Fprintf(&b, "  loader %-24s set=%-5v %s", l.Loader, l.Set, Redact(l.Value))
		if l.Note != "" {
			fmt.Fprintf(&b, " (%s)", l.Note)
		}
		b.WriteString("\n")
	}
	if len(r.NearMiss) > 0 {
		fmt.Fprintf(&b, "  near misses: %s\n", strings.Join(r.NearMiss, ", "))
	}
	b.WriteString(renderFindings(fs))
	return b.String()
}

func renderFindings(fs []finding.Finding) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "%s %s (score %d): %s\n", f.Severity, f.Code, f.Score, f.Summary)
		for _, e := range f.Evidence {
			fmt.Fprintf(&b, "    - %s\n", e)
		}
		fmt.Fprintf(&b, "    fix: %s\n", f.Fix)
	}
	return b.String()
}

func codesOf(fs []finding.Finding) []string {
	out := []string{}
	for _, f := range fs {
		out = append(out, fmt.Sprintf("%s/%s", f.Code, f.Severity))
	}
	return out
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name+".golden")
	if *update {
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

func TestReadEnvReportsHowEachLoaderReadsTheFile(t *testing.T) {
	tests := []struct {
		file, name string
		wantValue  string
		wantCodes  []string
	}{
		{"healthy.env", "API_KEY", "gk_live_k7Fq2_Zr8mQ4vX1pL9sT3nB6yH0cW5eJ2dA", []string{}},
		{"crlf.env", "API_KEY", "gk_test_p3Lm9_Qw7eR2tY5uI8oP1aS4dF6gH9jK0lZ", []string{CodeTrailingNewline + "/error"}},
		{"quoted.env", "API_KEY", "gk_live_k7Fq2_Zr8mQ4vX1pL9sT3nB6yH0cW5eJ2dA", []string{CodeQuoted + "/error"}},
		{"quoted.env", "QUOTED_SINGLE", "abc$def", []string{CodeQuoted + "/error"}},
		{"export.env", "API_KEY", "gk_live_k7Fq2_Zr8mQ4vX1pL9sT3nB6yH0cW5eJ2dA", []string{CodeMissingOrEmpty + "/warning", CodeMissingOrEmpty + "/warning"}},
		{"nearmiss.env", "API_KEY", "", []string{CodeMissingOrEmpty + "/error"}},
		{"shell.env", "PASSWORD", "pa$word123!x", []string{CodeShellMangled + "/error"}},
		{"shell.env", "DB_PASS", "s3cr$ETvalue", []string{CodeQuoted + "/error", CodeShellMangled + "/error"}},
		{"shell.env", "TEMPLATE", "${API_SECRET}", []string{CodePlaceholder + "/error"}},
		{"shell.env", "SPACED", "abc def", []string{CodeMissingOrEmpty + "/warning"}},
		{"shell.env", "COMMENTED", "abc", []string{CodeShellMangled + "/warning", CodeShellMangled + "/warning"}},
		{"shell.env", "ESCAPED", `ab\\cd`, []string{CodeShellMangled + "/warning", CodeShellMangled + "/error"}},
		{"bom.env", "API_KEY", "gk_live_k7Fq2_Zr8mQ4vX1pL9sT3nB6yH0cW5eJ2dA", []string{CodeMissingOrEmpty + "/warning", CodeMissingOrEmpty + "/warning", CodeNonASCII + "/warning"}},
		{"empty.env", "API_KEY", "", []string{CodeMissingOrEmpty + "/error"}},
		{"empty.env", "MULTI", "line1\nline2", []string{CodeQuoted + "/error"}},
	}
	for _, tt := range tests {
		t.Run(tt.file+"/"+tt.name, func(t *testing.T) {
			r, fs, err := ReadEnv(filepath.Join("testdata", tt.file), tt.name)
			if err != nil {
				t.Fatal(err)
			}
			if r.Value != tt.wantValue {
				t.Errorf("Value = %q, want %q", r.Value, tt.wantValue)
			}
			if diff := cmp.Diff(tt.wantCodes, codesOf(fs)); diff != "" {
				t.Errorf("codes (-want +got):\n%s\n%s", diff, renderFindings(fs))
			}
			checkGolden(t, strings.TrimSuffix(tt.file, ".env")+"_"+tt.name, renderEnv(r, fs))
		})
	}
}
