package main

import (
	"fmt"
	"math"
	"testing"
	"time"
)

// TestAddedP99PairsTheRounds: the p99 added by authentication is the median of the
// per-round differences, not the difference of the medians.
func TestAddedP99PairsTheRounds(t *testing.T) {
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	res := func(p99s ...float64) []wrkResult {
		var out []wrkResult
		for _, p := range p99s {
			out = append(out, wrkResult{P99: ms(p)})
		}
		return out
	}
	rows := []*row{
		{key: "anon", res: res(5, 9, 7)},
		{key: "jwt-es256", res: res(5.5, 9.1, 8.2)},
		{key: "api-key", res: res(4)}, // a row with fewer rounds pairs what it has
	}
	add, rounds, ok := addedP99(rows, "jwt-es256")
	// The medians (7 and 8.2) differ by 1.2 ms; the rounds by 0.5, 0.1 and 1.2 ms.
	if !ok || add != ms(0.5) || rounds != "+500 µs, +100 µs, +1.20 ms" {
		t.Fatalf("addedP99 = %v, %q, %v", add, rounds, ok)
	}
	if add, _, ok := addedP99(rows, "api-key"); !ok || add != ms(-1) {
		t.Fatalf("api-key: %v, %v", add, ok)
	}
	if _, _, ok := addedP99(rows, "basic"); ok {
		t.Fatal("a row that did not run has no added p99")
	}
}

// TestDecisionQuantileFromTwoScrapes reads the decision histogram before and after a
// round and finds the bucket holding the 99th percentile of that round's decisions.
func TestDecisionQuantileFromTwoScrapes(t *testing.T) {
	scrape := func(n1, n5, n10, inf int) string {
		return "# TYPE gatehouse_decision_duration_seconds histogram\n" +
			fmt.Sprintf("gatehouse_decision_duration_seconds_bucket{route=\"es\",le=\"1e-06\"} %d\n", n1) +
			fmt.Sprintf("gatehouse_decision_duration_seconds_bucket{route=\"es\",le=\"5e-06\"} %d\n", n5) +
			fmt.Sprintf("gatehouse_decision_duration_seconds_bucket{route=\"es\",le=\"1e-05\"} %d\n", n10) +
			fmt.Sprintf("gatehouse_decision_duration_seconds_bucket{route=\"es\",le=\"+Inf\"} %d\n", inf) +
			"gatehouse_decision_duration_seconds_bucket{route=\"anon\",le=\"+Inf\"} 7\n" +
			"gatehouse_decision_duration_seconds_sum{route=\"es\"} 0.5\n"
	}
	before := histogramBuckets(scrape(10, 10, 10, 10), "gatehouse_decision_duration_seconds")
	if before[math.Inf(1)] != 17 || before[1e-6] != 10 {
		t.Fatalf("buckets %v", before)
	}
	// 1000 decisions in the round: 900 under 1 µs, 985 under 5 µs, 995 under 10 µs.
	after := histogramBuckets(scrape(910, 995, 1005, 1010), "gatehouse_decision_duration_seconds")
	if q := bucketQuantile(before, after, 0.99); q != 1e-5 {
		t.Fatalf("p99 bucket %v, want 1e-05", q)
	}
	if q := bucketQuantile(before, after, 0.5); q != 1e-6 {
		t.Fatalf("p50 bucket %v, want 1e-06", q)
	}
	if q := bucketQuantile(after, after, 0.99); q != 0 {
		t.Fatalf("no decisions: %v, want 0", q)
	}
}
