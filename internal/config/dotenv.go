package config

import (
	"bytes"
	"strings"
)

// lineMsg is a problem found before the file it belongs to is known.
type lineMsg struct {
	line int
	msg  string
}

// parseDotenv reads a .env file: KEY=VALUE lines, blank lines and # comments, an optional
// "export " prefix, values in single quotes (literal) or double quotes (with \n, \r, \t, \"
// and \\ escapes), unquoted values trimmed and cut at a " #" comment, LF or CRLF line ends.
// Values are literal: no ${VAR} expansion happens inside a .env file. A later definition
// of a variable replaces an earlier one. Messages never quote a value, nor a line that is
// not a KEY=VALUE assignment (it may be a stray secret).
func parseDotenv(data []byte) (map[string]string, []lineMsg) {
	vars := map[string]string{}
	var probs []lineMsg
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	for i, raw := range strings.Split(string(data), "\n") {
		line := i + 1
		s := strings.TrimSuffix(raw, "\r")
		s = strings.TrimLeft(s, " \t")
		if s == "" || s[0] == '#' {
			continue
		}
		if rest, ok := strings.CutPrefix(s, "export"); ok && rest != "" && (rest[0] == ' ' || rest[0] == '\t') {
			s = strings.TrimLeft(rest, " \t")
		}
		key, value, ok := strings.Cut(s, "=")
		if !ok {
			probs = append(probs, lineMsg{line, "expected KEY=VALUE"})
			continue
		}
		key = strings.TrimRight(key, " \t")
		if !isEnvName(key) {
			probs = append(probs, lineMsg{line, "invalid variable name: use letters, digits and _, not starting with a digit"})
			continue
		}
		v, msg := dotenvValue(strings.TrimLeft(value, " \t"))
		if msg != "" {
			probs = append(probs, lineMsg{line, key + ": " + msg})
			continue
		}
		vars[key] = v
	}
	return vars, probs
}

// dotenvValue decodes the value part of one .env line.
func dotenvValue(s string) (string, string) {
	if s == "" {
		return "", ""
	}
	switch s[0] {
	case '\'':
		end := strings.IndexByte(s[1:], '\'')
		if end < 0 {
			return "", "unterminated single-quoted value (values cannot span lines)"
		}
		if !onlyComment(s[end+2:]) {
			return "", "unexpected text after the closing quote"
		}
		return s[1 : end+1], ""
	case '"':
		var b strings.Builder
		for i := 1; i < len(s); i++ {
			c := s[i]
			switch {
			case c == '"':
				if !onlyComment(s[i+1:]) {
					return "", "unexpected text after the closing quote"
				}
				return b.String(), ""
			case c == '\\' && i+1 < len(s):
				i++
				switch s[i] {
				case 'n':
					b.WriteByte('\n')
				case 'r':
					b.WriteByte('\r')
				case 't':
					b.WriteByte('\t')
				case '"', '\\':
					b.WriteByte(s[i])
				default:
					// An unknown escape stays as written, as in most loaders.
					b.WriteByte('\\')
					b.WriteByte(s[i])
				}
			default:
				b.WriteByte(c)
			}
		}
		return "", "unterminated double-quoted value (values cannot span lines)"
	}
	// Unquoted: a comment starts at a # preceded by whitespace.
	for i := 1; i < len(s); i++ {
		if s[i] == '#' && (s[i-1] == ' ' || s[i-1] == '\t') {
			s = s[:i]
			break
		}
	}
	return strings.TrimRight(s, " \t"), ""
}

// onlyComment reports whether s is blank or a # comment.
func onlyComment(s string) bool {
	s = strings.TrimLeft(s, " \t")
	return s == "" || s[0] == '#'
}

// isEnvName reports whether s is a valid environment variable name.
func isEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
