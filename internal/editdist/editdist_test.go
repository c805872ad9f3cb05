package editdist

import (
	"strings"
	"testing"
)

func TestLevenshtein(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"", "abc", 3},
		{"abc", "", 3},
		{"listen", "listen", 0},
		{"lisen", "listen", 1},
		{"API_TOKEN", "API_TOKN", 1},
		{"kitten", "sitting", 3},
		{"realm", "ream", 1},
		{"ab", "ba", 2},
		{strings.Repeat("a", MaxLen+1), "a", MaxLen + 1},
	} {
		if got := Levenshtein(tt.a, tt.b); got != tt.want {
			t.Errorf("Levenshtein(%.20q, %.20q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := Levenshtein(tt.b, tt.a); got != tt.want {
			t.Errorf("Levenshtein(%.20q, %.20q) = %d, want %d (not symmetric)", tt.b, tt.a, got, tt.want)
		}
	}
}
