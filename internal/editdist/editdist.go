// Package editdist is the edit distance behind every "did you mean" Gatehouse prints:
// unknown configuration keys (internal/config) and near-miss variable names in a
// developer's environment (internal/doctor/lint). Standard library only, a leaf.
package editdist

// MaxLen bounds the quadratic work: a string longer than MaxLen bytes is not a typo of
// anything, and its distance is taken as the longer length.
const MaxLen = 256

// Levenshtein is the number of single-byte insertions, deletions and substitutions that
// turn a into b (bytes, not runes: the names compared are ASCII).
func Levenshtein(a, b string) int {
	if len(a) > MaxLen || len(b) > MaxLen {
		return max(len(a), len(b))
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
