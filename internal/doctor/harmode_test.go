package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func analyzeFixture(t *testing.T, name string) (*HARReport, error) {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "har", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return AnalyzeHAR(context.Background(), f, baseOptions(""))
}

func TestHARVerdicts(t *testing.T) {
	tests := []struct {
		file     string
		verdict  string
		failing  []string // per failing entry, in order
		exitCode int
	}{
		{"expired_jwt.har", "jwt_expired", []string{"jwt_expired", "insufficient_scope_or_permission"}, 1},
		{"gatehouse_audience.har", "jwt_audience_mismatch", []string{"jwt_audience_mismatch"}, 1},
		{"preflight_401.har", "cors_preflight_requires_auth", []string{"cors_preflight_requires_auth"}, 1},
		{"healthy.har", "ok", nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			rep, err := analyzeFixture(t, tc.file)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range rep.Entries {
				got = append(got, e.Verdict)
			}
			if diff := cmp.Diff(tc.failing, got); diff != "" {
				t.Errorf("entry verdicts (-want +got):\n%s", diff)
			}
			if rep.Verdict != tc.verdict || rep.ExitCode() != tc.exitCode {
				t.Errorf("verdict %q exit %d, want %q %d", rep.Verdict, rep.ExitCode(), tc.verdict, tc.exitCode)
			}
		})
	}
}

func TestHARJSONShape(t *testing.T) {
	rep, err := analyzeFixture(t, "expired_jwt.har")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := rep.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Entries []map[string]json.RawMessage `json:"entries"`
		Verdict string                       `json:"verdict"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Verdict != "jwt_expired" || len(doc.Entries) != 2 {
		t.Fatalf("verdict %q, %d entries", doc.Verdict, len(doc.Entries))
	}
	var keys []string
	for k := range doc.Entries[0] {
		keys = append(keys, k)
	}
	want := []string{"credential", "findings", "hops", "index", "request", "response", "url", "verdict"}
	if diff := cmp.Diff(want, sortedStrings(keys)); diff != "" {
		t.Errorf("entry keys (-want +got):\n%s", diff)
	}
	if strings.Contains(buf.String(), "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImsxIn0.eyJ") {
		t.Errorf("the HAR report shows a whole token")
	}
	checkGolden(t, "har_expired_jwt.json", buf.Bytes())
	var text bytes.Buffer
	if err := rep.WriteText(&text, false); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "har_expired_jwt.txt", text.Bytes())
}

func TestHARThatIsNotJSONIsAUsageError(t *testing.T) {
	_, err := analyzeFixture(t, "not_json.har")
	if !errors.Is(err, ErrUsage) {
		t.Fatalf("err = %v, want ErrUsage", err)
	}
}

func TestHugeHARIsRefusedWithBoundedMemory(t *testing.T) {
	// A HAR whose single response body is far larger than anything kept: the reader must
	// stream it, keep only a bounded prefix, and still find the failing entry.
	var b strings.Builder
	b.WriteString(`{"log":{"version":"1.2","creator":{"name":"Firefox","version":"1"},"entries":[{"startedDateTime":"2026-03-14T09:26:53Z","request":{"method":"GET","url":"https://api.example.com/x","headers":[]},"response":{"status":401,"statusText":"Unauthorized","headers":[],"content":{"mimeType":"text/plain","text":"`)
	b.WriteString(strings.Repeat("A", 20<<20))
	b.WriteString(`"}}}]}}`)
	rep, err := AnalyzeHAR(context.Background(), strings.NewReader(b.String()), baseOptions(""))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Entries) != 1 || rep.Verdict != "credential_missing_or_empty" {
		t.Fatalf("entries %d verdict %q", len(rep.Entries), rep.Verdict)
	}
	if n := len(rep.Entries[0].Facts.finalResp().Body); n > 64<<10 {
		t.Errorf("kept %d bytes of the body", n)
	}
}

func sortedStrings(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}
