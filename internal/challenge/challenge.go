package challenge

import (
	"errors"
	"fmt"
	"strings"
)

// Param is one auth-param. Parse lower-cases Name; Value is unquoted and unescaped.
type Param struct{ Name, Value string }

// Challenge is one challenge (or one credentials value): a scheme and either a token68 or
// params. The same type serves both because RFC 9110 gives them the same grammar.
type Challenge struct {
	Scheme  string  // as sent (case preserved); compare with strings.EqualFold
	Token68 string  // "" when params are used
	Params  []Param // in order, duplicates kept
}

// Param returns the value of the first parameter whose name equals name, ignoring ASCII
// case, and whether there was one.
func (c Challenge) Param(name string) (string, bool) {
	for _, p := range c.Params {
		if strings.EqualFold(p.Name, name) {
			return p.Value, true
		}
	}
	return "", false
}

// String renders the challenge as one field value: the scheme, then either one space and
// the token68, or one space and the parameters as name="value" joined by ", ". Values are
// always quoted, with '\' and '"' escaped; control characters other than horizontal tab
// become spaces. When both Token68 and Params are set, only Token68 is rendered (Validate
// reports that combination). Bytes that cannot appear in the scheme, a parameter name or
// the token68 are rendered as '_' so the result is always a valid header value.
func (c Challenge) String() string {
	var b strings.Builder
	c.writeTo(&b)
	return b.String()
}

func (c Challenge) writeTo(b *strings.Builder) {
	writeToken(b, c.Scheme)
	switch {
	case c.Token68 != "":
		b.WriteByte(' ')
		writeToken68(b, c.Token68)
	case len(c.Params) > 0:
		b.WriteByte(' ')
		for i, p := range c.Params {
			if i > 0 {
				b.WriteString(", ")
			}
			writeToken(b, p.Name)
			b.WriteString(`="`)
			writeQuotedContent(b, p.Value)
			b.WriteByte('"')
		}
	}
}

// Render joins challenges into one header value, separated by ", "
// ("Bearer realm=\"x\", Basic realm=\"y\""). The gateway normally emits one
// WWW-Authenticate field per challenge using Challenge.String instead; both forms parse to
// the same challenges.
func Render(cs ...Challenge) string {
	var b strings.Builder
	for i, c := range cs {
		if i > 0 {
			b.WriteString(", ")
		}
		c.writeTo(&b)
	}
	return b.String()
}

// Validate reports whether c can be rendered exactly as it is: the scheme and every
// parameter name are tokens, the token68 (if any) is a token68, and not both a token68 and
// parameters are set. Values are not checked, because String makes every value sendable.
// It is meant for configuration time, so that String never has to repair anything.
func (c Challenge) Validate() error {
	var errs []error
	if !isToken(c.Scheme) {
		errs = append(errs, fmt.Errorf("validate challenge: scheme %q is not a token", c.Scheme))
	}
	if c.Token68 != "" {
		if !isToken68(c.Token68) {
			errs = append(errs, errors.New("validate challenge: token68 has characters outside the token68 alphabet"))
		}
		if len(c.Params) > 0 {
			errs = append(errs, errors.New("validate challenge: both token68 and parameters are set"))
		}
	}
	for _, p := range c.Params {
		if !isToken(p.Name) {
			errs = append(errs, fmt.Errorf("validate challenge: parameter name %q is not a token", p.Name))
		}
	}
	return errors.Join(errs...)
}

// writeToken writes s with every non-tchar byte replaced by '_' (and "_" for an empty s).
func writeToken(b *strings.Builder, s string) {
	if s == "" {
		b.WriteByte('_')
		return
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; isTchar(c) {
			b.WriteByte(c)
		} else {
			b.WriteByte('_')
		}
	}
}

// writeToken68 writes s with bytes outside the token68 alphabet replaced by '_'; '=' is
// kept only in the trailing padding run.
func writeToken68(b *strings.Builder, s string) {
	pad := len(s)
	for pad > 1 && s[pad-1] == '=' { // the first byte cannot be padding
		pad--
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case i >= pad && c == '=':
			b.WriteByte(c)
		case isToken68Char(c):
			b.WriteByte(c)
		default:
			b.WriteByte('_')
		}
	}
}

// writeQuotedContent writes s as the inside of a quoted-string.
func writeQuotedContent(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case isCTL(c):
			b.WriteByte(' ')
		default:
			b.WriteByte(c)
		}
	}
}

// Character classes from RFC 9110 section 5.6.2 (tchar) and 11.2 (token68).
var (
	tcharTable   [256]bool
	token68Table [256]bool
)

func init() {
	for c := '0'; c <= '9'; c++ {
		tcharTable[c], token68Table[c] = true, true
	}
	for c := 'a'; c <= 'z'; c++ {
		tcharTable[c], token68Table[c] = true, true
		tcharTable[c-'a'+'A'], token68Table[c-'a'+'A'] = true, true
	}
	for _, c := range []byte("!#$%&'*+-.^_`|~") {
		tcharTable[c] = true
	}
	for _, c := range []byte("-._~+/") {
		token68Table[c] = true
	}
}

func isTchar(c byte) bool       { return tcharTable[c] }
func isToken68Char(c byte) bool { return token68Table[c] }

// isCTL reports a control character that may not appear in a field value (HTAB may).
func isCTL(c byte) bool { return (c < ' ' && c != '\t') || c == 0x7f }

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTchar(s[i]) {
			return false
		}
	}
	return true
}

func isToken68(s string) bool {
	i := 0
	for i < len(s) && isToken68Char(s[i]) {
		i++
	}
	if i == 0 {
		return false
	}
	for i < len(s) && s[i] == '=' {
		i++
	}
	return i == len(s)
}
