package challenge

import (
	"fmt"
	"strings"
)

// MaxFieldBytes bounds the input of the parsers: ParseChallenges refuses fields whose
// lengths add up to more, and ParseCredentials refuses a longer value. It matches the
// gateway's default max_header_bytes.
const MaxFieldBytes = 64 << 10

// SyntaxError says which field failed and where.
type SyntaxError struct {
	// Field is the 0-based index of the field in the slice given to ParseChallenges; it is
	// always 0 for ParseCredentials.
	Field int
	// Offset is the byte offset inside that field where parsing stopped: the unexpected
	// byte, or the opening quote of an unterminated quoted string.
	Offset int
	// Msg says what was wrong or expected, in plain words. It never quotes the input.
	Msg string
}

// Error returns "challenge: field F, byte O: Msg".
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("challenge: field %d, byte %d: %s", e.Field, e.Offset, e.Msg)
}

// ParseChallenges parses every WWW-Authenticate (or Proxy-Authenticate) field value, in order,
// each possibly holding several comma-separated challenges. The result has one entry per
// challenge across all fields; on success it is non-nil, and empty when the fields hold
// no challenge at all (empty values or bare commas). Any malformed field fails the whole
// call with a *SyntaxError naming it, so a caller never acts on half of a list.
func ParseChallenges(fields []string) ([]Challenge, error) {
	return parseFields(fields, false)
}

// ParseChallengesStrict is ParseChallenges without the leniency the package doc lists
// for a comma directly after the scheme, and with RFC 9110's rule that a parameter name
// occurs at most once per challenge: `Basic, realm="x"` and `Bearer realm="a",
// realm="b"` are *SyntaxErrors here. A caller that reports a server's mistakes (the
// doctor) uses this, and may show the lenient reading of ParseChallenges beside it.
func ParseChallengesStrict(fields []string) ([]Challenge, error) {
	return parseFields(fields, true)
}

func parseFields(fields []string, strict bool) ([]Challenge, error) {
	total := 0
	for i, f := range fields {
		if len(f) > MaxFieldBytes-total {
			return nil, &SyntaxError{Field: i, Offset: MaxFieldBytes - total, Msg: "header fields exceed 64 KiB"}
		}
		total += len(f)
	}
	out := make([]Challenge, 0, len(fields))
	for i, f := range fields {
		p := parser{s: f, field: i, strict: strict}
		var err error
		if out, err = p.challenges(out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ParseCredentials parses one Authorization / Proxy-Authorization value:
// credentials = auth-scheme [ 1*SP ( token68 / #auth-param ) ].
// Unlike a challenge field, a credentials value holds exactly one credential, so
// "Bearer a, Bearer b" and "Bearer a," are refused.
func ParseCredentials(value string) (Challenge, error) {
	if len(value) > MaxFieldBytes {
		return Challenge{}, &SyntaxError{Offset: MaxFieldBytes, Msg: "credentials exceed 64 KiB"}
	}
	p := parser{s: value, creds: true}
	p.skipOWS()
	if p.eof() {
		return Challenge{}, p.fail(p.pos, "missing auth scheme")
	}
	c, err := p.challenge()
	if err != nil {
		return Challenge{}, err
	}
	if !p.eof() { // unreachable by construction; kept so a future change cannot drop input
		return Challenge{}, p.fail(p.pos, "unexpected data after credentials")
	}
	return c, nil
}

// parser reads one field value. Every method leaves pos on the first byte it did not
// consume; errors carry offsets into s.
type parser struct {
	s     string
	pos   int
	field int
	creds bool // parsing credentials: one challenge, no list of challenges
	// strict refuses a comma directly after the scheme and a repeated parameter name
	// (ParseChallengesStrict).
	strict bool
}

// addParam appends a parameter whose name starts at nameStart, refusing a repeated name
// in strict mode.
func (p *parser) addParam(c *Challenge, nameStart int, name, value string) error {
	name = lowerASCII(name)
	if p.strict {
		for _, q := range c.Params {
			if q.Name == name {
				return p.fail(nameStart, "parameter repeated in one challenge (RFC 9110 allows each name once)")
			}
		}
	}
	c.Params = append(c.Params, Param{Name: name, Value: value})
	return nil
}

func (p *parser) fail(off int, msg string) error {
	return &SyntaxError{Field: p.field, Offset: off, Msg: msg}
}

func (p *parser) eof() bool { return p.pos >= len(p.s) }

func (p *parser) skipOWS() { p.pos = owsEnd(p.s, p.pos) }

// skipSeparators skips OWS and commas: the empty list elements the list rule allows.
func (p *parser) skipSeparators() {
	for p.pos < len(p.s) {
		switch p.s[p.pos] {
		case ' ', '\t', ',':
			p.pos++
		default:
			return
		}
	}
}

// token consumes and returns a (possibly empty) run of tchar.
func (p *parser) token() string {
	start := p.pos
	for p.pos < len(p.s) && isTchar(p.s[p.pos]) {
		p.pos++
	}
	return p.s[start:p.pos]
}

// owsEnd returns the index of the first byte at or after i that is not SP or HTAB.
func owsEnd(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}

// challenges appends every challenge of the field to out.
func (p *parser) challenges(out []Challenge) ([]Challenge, error) {
	p.skipSeparators()
	for !p.eof() {
		c, err := p.challenge()
		if err != nil {
			return out, err
		}
		out = append(out, c)
		// challenge stops at the end or on the first byte of the next scheme.
	}
	return out, nil
}

// challenge parses a scheme and whatever belongs to it. In list mode it returns with pos
// at the end of the field or at the start of the next challenge.
func (p *parser) challenge() (Challenge, error) {
	start := p.pos
	scheme := p.token()
	if scheme == "" {
		return Challenge{}, p.fail(start, "expected an auth scheme")
	}
	c := Challenge{Scheme: scheme}
	wsStart := p.pos
	p.skipOWS()
	switch {
	case p.eof():
		return c, nil
	case p.s[p.pos] == '=' && !p.creds:
		// "realm=..." where a challenge must start: only possible at the start of a field,
		// since after a comma a parameter belongs to the challenge before it.
		return Challenge{}, p.fail(start, "auth-param without an auth scheme")
	case p.pos == wsStart:
		if p.s[p.pos] == ',' && !p.creds {
			// "Basic, ..." ends a scheme-only challenge; a parameter that follows is read as
			// this challenge's (see the package doc), except in strict mode, where the
			// grammar wants the next list element to be a challenge.
			comma := p.pos
			if err := p.paramList(&c); err != nil {
				return c, err
			}
			if p.strict && len(c.Params) > 0 {
				return Challenge{}, p.fail(comma, "comma after the auth scheme: its parameters must follow a space, not a comma")
			}
			return c, nil
		}
		return Challenge{}, p.fail(p.pos, "expected a space after the auth scheme")
	case p.s[p.pos] == ',':
		// "Basic ,": the parameter list after the space starts with an empty element.
		return c, p.paramList(&c)
	}
	return c, p.first(&c)
}

// first parses the element right after "scheme 1*SP", the only place a token68 may be.
func (p *parser) first(c *Challenge) error {
	s := p.s
	runStart := p.pos
	i := runStart
	for i < len(s) && (isTchar(s[i]) || s[i] == '/') { // tchar and token68 characters
		i++
	}
	if i == runStart {
		return p.fail(i, "expected a token68 or an auth-param")
	}
	runEnd := i
	for i < len(s) && s[i] == '=' {
		i++
	}
	eqEnd := i
	pads := eqEnd - runEnd
	after := owsEnd(s, eqEnd)

	if after == len(s) || s[after] == ',' {
		// Nothing but padding follows the run: a token68.
		for k := runStart; k < runEnd; k++ {
			if !isToken68Char(s[k]) {
				if pads == 1 && isToken(s[runStart:runEnd]) {
					return p.fail(eqEnd, "parameter without a value")
				}
				return p.fail(k, "invalid character in token68")
			}
		}
		c.Token68 = s[runStart:eqEnd]
		p.pos = after
		return p.afterToken68()
	}
	// Something other than a comma follows; after decides (it is < len(s) here).
	switch pads {
	case 0:
		switch {
		case s[after] == '=': // "name = value"
			return p.param(c, runStart, runEnd, after)
		case s[after] == '"':
			return p.fail(after, "expected '=' after parameter name")
		default:
			return p.fail(after, p.afterToken68Msg())
		}
	case 1:
		return p.param(c, runStart, runEnd, runEnd)
	default:
		return p.fail(after, p.afterToken68Msg())
	}
}

func (p *parser) afterToken68Msg() string {
	if p.creds {
		return "unexpected data after token68"
	}
	return "expected ',' after token68"
}

// afterToken68 runs with pos at the end or on the ',' after a token68.
func (p *parser) afterToken68() error {
	if p.eof() {
		return nil
	}
	if p.creds {
		return p.fail(p.pos, "unexpected ',' after token68 (credentials hold one token68)")
	}
	p.skipSeparators()
	if p.eof() {
		return nil
	}
	// The next element must start a new challenge: a challenge with a token68 has no
	// parameters.
	start := p.pos
	if name := p.token(); name != "" {
		if j := owsEnd(p.s, p.pos); j < len(p.s) && p.s[j] == '=' {
			return p.fail(start, "parameter after a token68")
		}
	}
	p.pos = start
	return nil
}

// param parses the value of the parameter whose name is s[nameStart:nameEnd] and whose
// '=' is at eq, appends it to c, and continues with the rest of the list.
func (p *parser) param(c *Challenge, nameStart, nameEnd, eq int) error {
	name := p.s[nameStart:nameEnd]
	if k := strings.IndexByte(name, '/'); k >= 0 {
		return p.fail(nameStart+k, "invalid character in parameter name")
	}
	p.pos = eq + 1
	p.skipOWS()
	v, err := p.value()
	if err != nil {
		return err
	}
	if err := p.addParam(c, nameStart, name, v); err != nil {
		return err
	}
	return p.afterParam(c)
}

// afterParam runs after a parameter value: the list goes on, ends, or lacks a comma.
func (p *parser) afterParam(c *Challenge) error {
	p.skipOWS()
	if p.eof() {
		return nil
	}
	if p.s[p.pos] == ',' {
		return p.paramList(c)
	}
	return p.fail(p.pos, p.missingCommaMsg())
}

// missingCommaMsg describes what follows a parameter value without a comma in between.
func (p *parser) missingCommaMsg() string {
	s := p.s
	i := p.pos
	for i < len(s) && isTchar(s[i]) {
		i++
	}
	if i == p.pos {
		return "expected ',' after parameter value"
	}
	if j := owsEnd(s, i); j < len(s) && s[j] == '=' {
		return "expected ',' between parameters"
	}
	if p.creds || (i < len(s) && s[i] != ' ' && s[i] != '\t' && s[i] != ',') {
		return "expected ',' after parameter value"
	}
	return "expected ',' between challenges"
}

// paramList parses the rest of a parameter list, starting on a ','. In list mode it stops
// at the first element that is not a parameter: that element starts the next challenge.
func (p *parser) paramList(c *Challenge) error {
	for {
		p.skipSeparators()
		if p.eof() {
			return nil
		}
		start := p.pos
		name := p.token()
		if name == "" {
			if p.creds {
				return p.fail(start, "expected an auth-param")
			}
			return p.fail(start, "expected an auth-param or an auth scheme")
		}
		j := owsEnd(p.s, p.pos)
		if j < len(p.s) && p.s[j] == '=' {
			p.pos = j + 1
			p.skipOWS()
			v, err := p.value()
			if err != nil {
				return err
			}
			if err := p.addParam(c, start, name, v); err != nil {
				return err
			}
			p.skipOWS()
			if p.eof() {
				return nil
			}
			if p.s[p.pos] != ',' {
				return p.fail(p.pos, p.missingCommaMsg())
			}
			continue
		}
		if p.creds {
			return p.fail(j, "expected '=' after parameter name")
		}
		p.pos = start // a token not followed by '=' starts the next challenge
		return nil
	}
}

// value parses token / quoted-string.
func (p *parser) value() (string, error) {
	if p.eof() || p.s[p.pos] == ',' {
		return "", p.fail(p.pos, "parameter without a value")
	}
	if p.s[p.pos] == '"' {
		return p.quoted()
	}
	start := p.pos
	if p.token() == "" {
		return "", p.fail(start, "invalid character in parameter value")
	}
	return p.s[start:p.pos], nil
}

// quoted parses a quoted-string starting on its opening quote and returns its content
// with quoted-pairs resolved. qdtext and quoted-pair admit HTAB, SP, VCHAR and obs-text;
// any other control character is refused.
func (p *parser) quoted() (string, error) {
	s := p.s
	open := p.pos
	p.pos++
	start := p.pos
	var buf []byte // nil until the first quoted-pair; most values are returned as substrings
	for p.pos < len(s) {
		c := s[p.pos]
		switch {
		case c == '"':
			v := s[start:p.pos]
			if buf != nil {
				v = string(buf)
			}
			p.pos++
			return v, nil
		case c == '\\':
			if p.pos+1 >= len(s) {
				return "", p.fail(open, "unterminated quoted string")
			}
			n := s[p.pos+1]
			if isCTL(n) {
				return "", p.fail(p.pos+1, "control character in quoted string")
			}
			if buf == nil {
				buf = append(make([]byte, 0, len(s)-start), s[start:p.pos]...)
			}
			buf = append(buf, n)
			p.pos += 2
		case isCTL(c):
			return "", p.fail(p.pos, "control character in quoted string")
		default:
			if buf != nil {
				buf = append(buf, c)
			}
			p.pos++
		}
	}
	return "", p.fail(open, "unterminated quoted string")
}

// lowerASCII lower-cases a token without allocating when it is already lower case.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}
