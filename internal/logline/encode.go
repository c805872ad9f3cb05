package logline

import (
	"log/slog"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"
)

// The encoders below write what log/slog's JSONHandler and TextHandler write for a
// record with no source, no groups and string, integer and address attributes: the
// same keys, the same order, the same escaping and quoting, the same time format. The
// tests compare them with slog byte for byte.

// appendLine appends one whole line, newline included.
func appendLine(b []byte, text bool, t time.Time, level slog.Level, msg string, fields []Field) []byte {
	if text {
		b = append(b, "time="...)
		b = appendRFC3339Millis(b, t)
		b = append(b, " level="...)
		b = appendText(b, level.String())
		b = append(b, " msg="...)
		b = appendText(b, msg)
		for i := range fields {
			f := &fields[i]
			b = append(b, ' ')
			b = appendText(b, f.Key)
			b = append(b, '=')
			switch f.kind {
			case kindInt:
				b = strconv.AppendInt(b, f.num, 10)
			case kindAddr:
				b = appendAddr(b, f, true)
			default:
				b = appendText(b, f.str)
			}
		}
		return append(b, '\n')
	}
	b = append(b, `{"time":"`...)
	b = t.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":`...)
	b = appendJSON(b, level.String())
	b = append(b, `,"msg":`...)
	b = appendJSON(b, msg)
	for i := range fields {
		f := &fields[i]
		b = append(b, ',')
		b = appendJSON(b, f.Key)
		b = append(b, ':')
		switch f.kind {
		case kindInt:
			b = strconv.AppendInt(b, f.num, 10)
		case kindAddr:
			b = appendAddr(b, f, false)
		default:
			b = appendJSON(b, f.str)
		}
	}
	return append(b, "}\n"...)
}

// appendAddr writes an address field as the string netip.Addr.String returns, without
// allocating it for a valid address (which never needs quoting or escaping).
func appendAddr(b []byte, f *Field, text bool) []byte {
	switch {
	case !f.addr.IsValid() && text:
		return appendText(b, f.addr.String())
	case !f.addr.IsValid():
		return appendJSON(b, f.addr.String())
	case text:
		return f.addr.AppendTo(b)
	}
	b = append(b, '"')
	b = f.addr.AppendTo(b)
	return append(b, '"')
}

// appendRFC3339Millis is the text handler's time format: RFC 3339 with exactly three
// digits of milliseconds, truncated. (The JSON handler writes RFC3339Nano.)
func appendRFC3339Millis(b []byte, t time.Time) []byte {
	const prefixLen = len("2006-01-02T15:04:05.000")
	n := len(b)
	// RFC3339Nano drops trailing zeros: a tenth of a millisecond guarantees four
	// fraction digits, and the fourth is cut.
	t = t.Truncate(time.Millisecond).Add(time.Millisecond / 10)
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b[:n+prefixLen], b[n+prefixLen+1:]...)
}

const hexDigits = "0123456789abcdef"

// appendJSON appends s as a JSON string, escaped as slog's JSON handler escapes it:
// quote, backslash and control characters escaped, invalid UTF-8 as U+FFFD, U+2028 and
// U+2029 escaped, everything else (HTML characters included) as it is.
func appendJSON(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= ' ' && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendText appends s as slog's text handler writes a string: as it is, or quoted with
// strconv.Quote when it is empty or holds a space, '=', a quote, a control character,
// invalid UTF-8 or a non-printing or space character.
func appendText(b []byte, s string) []byte {
	if needsQuoting(s) {
		return strconv.AppendQuote(b, s)
	}
	return append(b, s...)
}

func needsQuoting(s string) bool {
	if len(s) == 0 {
		return true
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c != '\\' && (c <= ' ' || c == '=' || c == '"') {
				return true
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return true
		}
		i += size
	}
	return false
}
