// Package shellwords splits a pasted command line into words the way the shell it was
// copied for would (POSIX shells and Windows cmd), so that `gatehouse doctor -` takes a
// browser's or Postman's "Copy as cURL" as is. It depends on the standard library only.
package shellwords

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxWords bounds the number of words Split returns: a browser's "Copy as cURL" of a
// large upload stays well below it.
const MaxWords = 10000

// Split splits a pasted command line into words the way the shell it was copied
// for would, so that `gatehouse doctor -` takes a browser's or Postman's "Copy as cURL"
// as is. Two dialects are understood:
//
//   - POSIX shells (bash, zsh; what Chrome's and Firefox's "Copy as cURL (bash)" and
//     Postman emit): blanks separate words; '...' is literal; "..." keeps everything but
//     \ before $ ` " \ and newline; $'...' decodes the ANSI-C escapes (\n, \t, \xHH,
//     \uHHHH, \0NNN...); a backslash outside quotes takes the next byte literally and a
//     backslash-newline joins two lines; a word starting with # starts a comment; an
//     unquoted | ; & < or > ends the command (`curl ... | jq` is read up to the pipe).
//     $NAME and ${NAME} are replaced through getenv when the variable is set, as the
//     shell would, and otherwise kept as written so the credential lint can name the
//     unexpanded placeholder.
//   - Windows cmd (Chrome's "Copy as cURL (cmd)", and hand-written commands whose lines
//     end in ^): detected by a ^" or a line ending in ^. cmd's own pass removes each ^
//     outside its quotes and keeps the byte after it (a ^ before a newline joins two
//     lines); the C runtime's rules then split the result: blanks separate words, "
//     toggles quoting, and backslashes are literal except before a quote (2n backslashes
//     and a quote: n backslashes and a toggle; 2n+1: n backslashes and a literal quote).
//
// The caller bounds the input; an unterminated quote is an error that names the
// byte offset, never the text around it (which may be a credential).
func Split(s string, getenv func(string) string) ([]string, error) {
	if IsCmdDialect(s) {
		return splitCmd(s)
	}
	return splitPOSIX(s, getenv)
}

// IsCmdDialect reports whether a pasted command was written for Windows cmd.
func IsCmdDialect(s string) bool {
	if strings.Contains(s, `^"`) {
		return true
	}
	for _, line := range strings.Split(s, "\n") {
		if strings.HasSuffix(strings.TrimRight(line, " \t\r"), "^") {
			return true
		}
	}
	return false
}

var errTooManyWords = fmt.Errorf("the command has more than %d words", MaxWords)

// splitPOSIX implements the POSIX dialect of Split.
func splitPOSIX(s string, getenv func(string) string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	emit := func() error {
		if inWord {
			if len(words) >= MaxWords {
				return errTooManyWords
			}
			words = append(words, cur.String())
		}
		cur.Reset()
		inWord = false
		return nil
	}
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if err := emit(); err != nil {
				return nil, err
			}
			i++
		case c == '#' && !inWord:
			// A comment runs to the end of the line.
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == '|' || c == ';' || c == '&' || c == '<' || c == '>':
			// The end of this command: what follows is another one (a pipe to jq, a
			// redirection of the output).
			if err := emit(); err != nil {
				return nil, err
			}
			return words, nil
		case c == '\\':
			switch {
			case i+1 >= len(s):
				i++
			case s[i+1] == '\n':
				i += 2
			case s[i+1] == '\r' && i+2 < len(s) && s[i+2] == '\n':
				i += 3 // a continuation pasted with CRLF line ends
			default:
				inWord = true
				cur.WriteByte(s[i+1])
				i += 2
			}
		case c == '\'':
			inWord = true
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("unterminated single quote at byte %d", i)
			}
			cur.WriteString(s[i+1 : i+1+end])
			i += end + 2
		case c == '$' && i+1 < len(s) && s[i+1] == '\'':
			inWord = true
			n, err := ansiC(s, i+2, &cur)
			if err != nil {
				return nil, err
			}
			i = n
		case c == '"':
			inWord = true
			n, err := doubleQuoted(s, i+1, &cur, getenv)
			if err != nil {
				return nil, err
			}
			i = n
		case c == '$':
			inWord = true
			i = expandVar(s, i, &cur, getenv)
		default:
			inWord = true
			cur.WriteByte(c)
			i++
		}
	}
	if err := emit(); err != nil {
		return nil, err
	}
	return words, nil
}

// doubleQuoted reads a "..." string whose opening quote ends at start; it returns the
// index after the closing quote.
func doubleQuoted(s string, start int, cur *strings.Builder, getenv func(string) string) (int, error) {
	i := start
	for i < len(s) {
		switch c := s[i]; c {
		case '"':
			return i + 1, nil
		case '\\':
			if i+1 < len(s) {
				switch s[i+1] {
				case '$', '`', '"', '\\':
					cur.WriteByte(s[i+1])
					i += 2
					continue
				case '\n':
					i += 2
					continue
				}
			}
			cur.WriteByte(c)
			i++
		case '$':
			i = expandVar(s, i, cur, getenv)
		default:
			cur.WriteByte(c)
			i++
		}
	}
	return 0, fmt.Errorf("unterminated double quote at byte %d", start-1)
}

// expandVar handles a $ at s[i]: $NAME or ${NAME} set in the environment is replaced by
// its value; anything else is kept as written. It returns the index after what it read.
func expandVar(s string, i int, cur *strings.Builder, getenv func(string) string) int {
	j := i + 1
	braced := j < len(s) && s[j] == '{'
	if braced {
		j++
	}
	k := j
	for k < len(s) && isNameByte(s[k]) {
		k++
	}
	if k == j || (braced && (k >= len(s) || s[k] != '}')) {
		cur.WriteByte('$')
		return i + 1
	}
	name := s[j:k]
	end := k
	if braced {
		end++
	}
	if v := lookupEnv(getenv, name); v != "" {
		cur.WriteString(v)
	} else {
		cur.WriteString(s[i:end])
	}
	return end
}

func isNameByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// ansiC decodes a $'...' string starting after the opening quote; it returns the index
// after the closing quote.
func ansiC(s string, start int, cur *strings.Builder) (int, error) {
	i := start
	for i < len(s) {
		c := s[i]
		if c == '\'' {
			return i + 1, nil
		}
		if c != '\\' || i+1 >= len(s) {
			cur.WriteByte(c)
			i++
			continue
		}
		e := s[i+1]
		i += 2
		switch e {
		case 'n':
			cur.WriteByte('\n')
		case 't':
			cur.WriteByte('\t')
		case 'r':
			cur.WriteByte('\r')
		case 'a':
			cur.WriteByte(7)
		case 'b':
			cur.WriteByte(8)
		case 'e', 'E':
			cur.WriteByte(27)
		case 'f':
			cur.WriteByte(12)
		case 'v':
			cur.WriteByte(11)
		case '\\', '\'', '"', '?':
			cur.WriteByte(e)
		case 'x':
			v, n := hexDigits(s, i, 2)
			if n == 0 {
				cur.WriteString(`\x`)
				continue
			}
			cur.WriteByte(byte(v))
			i += n
		case 'u', 'U':
			maxN := 4
			if e == 'U' {
				maxN = 8
			}
			v, n := hexDigits(s, i, maxN)
			if n == 0 {
				cur.WriteByte('\\')
				cur.WriteByte(e)
				continue
			}
			r := rune(v)
			if v > utf8.MaxRune {
				r = utf8.RuneError
			}
			cur.WriteRune(r)
			i += n
		case '0', '1', '2', '3', '4', '5', '6', '7':
			v, n := int(e-'0'), 0
			for n < 2 && i+n < len(s) && s[i+n] >= '0' && s[i+n] <= '7' {
				v = v*8 + int(s[i+n]-'0')
				n++
			}
			cur.WriteByte(byte(v))
			i += n
		case 'c':
			if i < len(s) {
				cur.WriteByte(s[i] & 0x1f)
				i++
			}
		default:
			cur.WriteByte('\\')
			cur.WriteByte(e)
		}
	}
	return 0, fmt.Errorf("unterminated $' quote at byte %d", start-2)
}

// hexDigits reads up to maxN hex digits at s[i:].
func hexDigits(s string, i, maxN int) (uint64, int) {
	n := 0
	for n < maxN && i+n < len(s) {
		if _, err := strconv.ParseUint(s[i+n:i+n+1], 16, 8); err != nil {
			break
		}
		n++
	}
	if n == 0 {
		return 0, 0
	}
	v, _ := strconv.ParseUint(s[i:i+n], 16, 64)
	return v, n
}

// splitCmd implements the Windows cmd dialect of Split: cmd's caret pass, then
// the C runtime's argument rules.
func splitCmd(s string) ([]string, error) {
	// Pass 1, cmd: outside its quotes, ^X is X and ^ before a line end joins the lines
	// (the byte after the line end is then taken literally, as cmd does). A ^" does not
	// open a quote.
	type rb struct {
		c       byte
		literal bool // escaped with ^: a blank that cannot separate words
	}
	var bs []rb
	inQuote := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			inQuote = !inQuote
			bs = append(bs, rb{c: c})
		case c == '^' && !inQuote:
			if i+1 >= len(s) {
				continue
			}
			i++
			if s[i] == '\r' && i+1 < len(s) && s[i+1] == '\n' {
				i++
			}
			if s[i] == '\n' {
				// A continuation: the next byte is literal, unless it is the blank
				// indentation of the next line.
				if i+1 < len(s) && s[i+1] == '\n' {
					i++
					bs = append(bs, rb{c: '\n', literal: true})
				}
				continue
			}
			bs = append(bs, rb{c: s[i], literal: s[i] != '"'})
		case c == '\r':
			// CRLF line ends: the CR is noise.
		default:
			bs = append(bs, rb{c: c})
		}
	}
	if inQuote {
		return nil, errors.New("unterminated double quote")
	}
	// Pass 2, the C runtime.
	var words []string
	var cur strings.Builder
	inWord, quoted := false, false
	for i := 0; i < len(bs); i++ {
		b := bs[i]
		switch {
		case !quoted && !b.literal && (b.c == ' ' || b.c == '\t' || b.c == '\n'):
			if inWord {
				if len(words) >= MaxWords {
					return nil, errTooManyWords
				}
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case b.c == '\\':
			n := 0
			for i+n < len(bs) && bs[i+n].c == '\\' {
				n++
			}
			inWord = true
			if i+n < len(bs) && bs[i+n].c == '"' {
				cur.WriteString(strings.Repeat(`\`, n/2))
				if n%2 == 1 {
					cur.WriteByte('"')
					i += n
				} else {
					i += n - 1 // the quote is read next, as a toggle
				}
				continue
			}
			cur.WriteString(strings.Repeat(`\`, n))
			i += n - 1
		case b.c == '"':
			inWord = true
			if quoted && i+1 < len(bs) && bs[i+1].c == '"' {
				// "" inside quotes is a literal quote (the runtime's rule since 2008).
				cur.WriteByte('"')
				i++
				continue
			}
			quoted = !quoted
		default:
			inWord = true
			cur.WriteByte(b.c)
		}
	}
	if quoted {
		return nil, errors.New("unterminated double quote")
	}
	if inWord {
		if len(words) >= MaxWords {
			return nil, errTooManyWords
		}
		words = append(words, cur.String())
	}
	return words, nil
}

func lookupEnv(getenv func(string) string, name string) string {
	if getenv == nil {
		return ""
	}
	return getenv(name)
}
