package main

import (
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
