package tokens

import (
	"unicode"
	"unicode/utf8"
)

// NameProblem says why s cannot name a principal (a subject, client id, azp or user
// name), or returns "" when it can. The rule keeps distinct identities distinct all the
// way to the upstream, where each layer would otherwise fold some of them together:
//   - invalid UTF-8, and U+FFFD, which JSON decoders put in its place (so "ad\xffmin" and
//     "ad\xfemin" would both arrive as "ad\uFFFDmin");
//   - control characters: C0 (tab, CR and LF included), DEL and C1, which header
//     sanitizers drop (so "ad\x00min" would reach the upstream as "admin");
//   - white space at either end, which HTTP field parsing (or the application reading
//     the header) trims: " admin" would be "admin".
//
// Any other Unicode text is accepted. The empty string has no problem here: whether a
// name is required is the caller's rule.
func NameProblem(s string) string {
	if p := textProblem(s, false); p != "" {
		return p
	}
	first, _ := utf8.DecodeRuneInString(s)
	last, _ := utf8.DecodeLastRuneInString(s)
	if s != "" && (unicode.IsSpace(first) || unicode.IsSpace(last)) {
		return "begins or ends with white space"
	}
	return ""
}

// ScopeProblem says why s cannot be a scope value (a space-separated "scope" claim or
// member, or one entry of an "scp" array), or returns "" when it can: invalid UTF-8,
// U+FFFD and control characters as for NameProblem, and any white space other than the
// ASCII space that separates scopes (the scope list would be split on it here and not at
// the issuer, or the other way round). With single, s is one scope (an "scp" entry): it
// may hold no space at all, and may not be empty.
func ScopeProblem(s string, single bool) string {
	if p := textProblem(s, true); p != "" {
		return p
	}
	if single {
		if s == "" {
			return "holds an empty scope"
		}
		for i := 0; i < len(s); i++ {
			if s[i] == ' ' {
				return "holds a space inside one scope"
			}
		}
	}
	return ""
}

func textProblem(s string, scope bool) string {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return "contains a control character"
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError:
			return "is not valid UTF-8 (or contains U+FFFD)"
		case unicode.IsControl(r):
			return "contains a control character"
		case scope && unicode.IsSpace(r):
			return "contains white space other than the space that separates scopes"
		}
		i += size
	}
	return ""
}
