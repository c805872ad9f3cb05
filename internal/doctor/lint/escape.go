package lint

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Escape returns s with every byte or character that is not printable ASCII written the
// way Go writes it in a string literal: \n, \r, \t, \\, \x00-style escapes for other
// control bytes and for bytes that are not UTF-8, and \u00a0 or \U0001f600 for non-ASCII
// characters. Printable ASCII (including the double quote) is kept as it is, so an
// escaped value reads like the original and shows exactly where the odd bytes are.
func Escape(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '\\' {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		default:
			escapeRune(&b, r)
		}
		i += size
	}
	return b.String()
}

func escapeRune(b *strings.Builder, r rune) {
	switch {
	case r == '\n':
		b.WriteString(`\n`)
	case r == '\r':
		b.WriteString(`\r`)
	case r == '\t':
		b.WriteString(`\t`)
	case r == '\\':
		b.WriteString(`\\`)
	case r < 0x20 || r == 0x7f:
		fmt.Fprintf(b, `\x%02x`, r)
	case r < 0x7f:
		b.WriteRune(r)
	case r <= 0xffff:
		fmt.Fprintf(b, `\u%04x`, r)
	default:
		fmt.Fprintf(b, `\U%08x`, r)
	}
}

// redactVisibleMin is the length (in characters) from which Redact shows the first and
// last four characters. Below it, eight characters would be too large a share of the
// secret, so only the length and the hash are shown.
const redactVisibleMin = 16

// Redact returns a safe stand-in for a secret value: its first and last four characters
// (escaped) when it is at least 16 characters long, its length in bytes and the first
// eight hex digits of its SHA-256, e.g. "Bear…xyz9 (41 bytes, sha256:1a2b3c4d)". Shorter
// values show only the length and the hash. The hash lets two reports be compared ("is it
// the same token?") without revealing more of it. An empty value is "(0 bytes)".
func Redact(value string) string {
	if value == "" {
		return "(0 bytes)"
	}
	sum := sha256.Sum256([]byte(value))
	tail := fmt.Sprintf("(%d bytes, sha256:%s)", len(value), hex.EncodeToString(sum[:4]))
	if utf8.RuneCountInString(value) < redactVisibleMin {
		return tail
	}
	return Escape(firstRunes(value, 4)) + "…" + Escape(lastRunes(value, 4)) + " " + tail
}

// redactLength is for values of which not even four characters may be shown, such as a
// Basic password: only the length.
func redactLength(value string) string {
	return fmt.Sprintf("(%d bytes)", len(value))
}

// firstRunes returns the first n characters of s (bytes that are not UTF-8 count as one).
func firstRunes(s string, n int) string {
	i := 0
	for k := 0; k < n && i < len(s); k++ {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return s[:i]
}

// lastRunes returns the last n characters of s.
func lastRunes(s string, n int) string {
	i := len(s)
	for k := 0; k < n && i > 0; k++ {
		_, size := utf8.DecodeLastRuneInString(s[:i])
		i -= size
	}
	return s[i:]
}

// q returns s escaped and in double quotes, for evidence.
func q(s string) string {
	return `"` + strings.ReplaceAll(Escape(s), `"`, `\"`) + `"`
}
