package config

import (
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/editdist"
)

// suggest returns the candidate closest to s by edit distance (case-insensitive), when it
// is close enough to be a likely typo, or "".
func suggest(s string, candidates []string) string {
	// Long words and long candidate lists are not typos worth the quadratic work.
	if s == "" || len(s) > 64 || len(candidates) > 1000 {
		return ""
	}
	best, bestD := "", -1
	ls := strings.ToLower(s)
	for _, c := range candidates {
		d := editdist.Levenshtein(ls, strings.ToLower(c))
		if bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	// One edit per three characters, at least one, at most three.
	limit := min(max(len(s)/3, 1), 3)
	if bestD >= 0 && bestD <= limit {
		return best
	}
	// A truncated or extended word ("warning" for "warn", "verb" for "verbose").
	if len(s) >= 3 {
		for _, c := range candidates {
			lc := strings.ToLower(c)
			if len(c) >= 3 && (strings.HasPrefix(ls, lc) || strings.HasPrefix(lc, ls)) {
				return c
			}
		}
	}
	return ""
}

// didYouMean formats a suggestion for the end of a message.
func didYouMean(s string, candidates []string) string {
	if c := suggest(s, candidates); c != "" {
		return ` (did you mean "` + c + `"?)`
	}
	return ""
}
