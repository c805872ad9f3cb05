package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// TestParseWrkReadsTheLatencyReportAndTheScriptsCounts parses a real wrk --latency
// report followed by the lines bench.lua's done() prints.
func TestParseWrkReadsTheLatencyReportAndTheScriptsCounts(t *testing.T) {
	out, err := os.ReadFile("testdata/wrk-latency.txt")
	if err != nil {
		t.Fatal(err)
	}
	got, err := parseWrk(string(out))
	if err != nil {
		t.Fatal(err)
	}
	want := wrkResult{
		Requests: 51985, Elapsed: 5 * time.Second, RPS: 10391.47,
		P50: 2750 * time.Microsecond, P99: 11930 * time.Microsecond,
		Statuses: map[int]int64{200: 51960, 401: 25}, Wrong: 25, SocketErrors: 2,
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(wrkResult{}, "Raw"), cmpopts.EquateApprox(0, float64(time.Microsecond))); diff != "" {
		t.Fatalf("parseWrk (-want +got):\n%s", diff)
	}
}

// TestParseWrkRefusesIncompleteOutput: a report without the latency distribution (wrk
// run without --latency) or without the script's counts is an error, never zeros.
func TestParseWrkRefusesIncompleteOutput(t *testing.T) {
	tests := map[string]string{
		"no latency distribution": "  100 requests in 1.00s, 1KB read\nRequests/sec: 100.00\nbench-wrong 0\n",
		"no script counts":        "  Latency Distribution\n     50%  1.00ms\n     99%  2.00ms\n  100 requests in 1.00s, 1KB read\nRequests/sec: 100.00\n",
		"empty":                   "",
	}
	for name, out := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := parseWrk(out); err == nil {
				t.Fatal("parseWrk accepted it")
			}
		})
	}
}

func TestWrkDurationUnits(t *testing.T) {
	tests := []struct {
		num, unit string
		want      time.Duration
	}{
		{"812.00", "us", 812 * time.Microsecond},
		{"1.50", "ms", 1500 * time.Microsecond},
		{"2.00", "s", 2 * time.Second},
		{"1.00", "m", time.Minute},
	}
	for _, tt := range tests {
		if got := wrkDuration(tt.num, tt.unit); got != tt.want {
			t.Errorf("wrkDuration(%s%s) = %s, want %s", tt.num, tt.unit, got, tt.want)
		}
	}
}

// TestSumMetricAddsTheSamplesOfOneFamily reads a Prometheus exposition: every label set
// of the family, optionally filtered by a label, never another family with a longer name.
func TestSumMetricAddsTheSamplesOfOneFamily(t *testing.T) {
	text := `# HELP gatehouse_cache_evictions_total Entries evicted.
# TYPE gatehouse_cache_evictions_total counter
gatehouse_cache_evictions_total{cache="es"} 1523
gatehouse_cache_evictions_total{cache="keys"} 7
gatehouse_cache_evictions_total_extra 1000
gatehouse_cache_requests_total{cache="es",result="hit"} 900
gatehouse_cache_requests_total{cache="es",result="miss"} 100
gatehouse_up 1
`
	tests := []struct {
		name, label string
		want        float64
	}{
		{"gatehouse_cache_evictions_total", "", 1530},
		{"gatehouse_cache_requests_total", `result="hit"`, 900},
		{"gatehouse_cache_requests_total", "", 1000},
		{"gatehouse_up", "", 1},
		{"gatehouse_missing", "", 0},
	}
	for _, tt := range tests {
		if got := sumMetric(text, tt.name, tt.label); got != tt.want {
			t.Errorf("sumMetric(%s, %q) = %v, want %v", tt.name, tt.label, got, tt.want)
		}
	}
}

// TestInvalidTokensAreInvalidTheIntendedWay: a bad-signature token keeps its header and
// claims, and an unknown-kid token keeps its claims and signature, so each exercises the
// path it is named for.
func TestInvalidTokensAreInvalidTheIntendedWay(t *testing.T) {
	const tok = "eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJhIn0.QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo"
	bad := badSignature(tok)
	if bad == tok || len(bad) != len(tok) || bad[:len(tok)-40] != tok[:len(tok)-40] {
		t.Fatalf("badSignature changed more than the signature: %q", bad)
	}
	unk := unknownKid(tok, "ES256", 3)
	if _, rest, _ := strings.Cut(tok, "."); unk == tok || !strings.HasSuffix(unk, "."+rest) {
		t.Fatalf("unknownKid changed more than the header: %q", unk)
	}
}
