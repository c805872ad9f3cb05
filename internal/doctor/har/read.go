package har

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// Bounds on what Read keeps. Everything beyond them is read and discarded, so memory
// stays bounded whatever the size of the file.
const (
	// MaxBodyPrefix is the most of one response body kept (Entry.BodyPrefix).
	MaxBodyPrefix = 64 << 10
	// smallBody is what is kept of a 2xx/3xx body, or of any body once the total budget
	// is spent: enough for an error message.
	smallBody = 1 << 10
	// bodyBudget bounds the response text kept across all entries.
	bodyBudget = 32 << 20
	// maxPostData is the most of a request body kept (Entry.PostDataPrefix).
	maxPostData = 8 << 10
	// maxHeaderValue bounds one header value; maxHeaderBytes all of one entry's headers.
	maxHeaderValue = 16 << 10
	maxHeaderBytes = 256 << 10
	maxHeaders     = 512
	// maxURL bounds a URL; maxString any other string kept.
	maxURL    = 16 << 10
	maxString = 4 << 10
	// MaxEntries bounds the entries kept; Read fails beyond it.
	MaxEntries = 200_000
	// maxDepth bounds the nesting of skipped values.
	maxDepth = 512
	// DefaultMaxBytes is the input bound used when Read is given maxBytes <= 0.
	DefaultMaxBytes = 2 << 30
)

// Errors returned by Read, wrapped with the offset; test with errors.Is.
var (
	// ErrNotJSON means the input is not JSON (or not a HAR-shaped JSON document).
	ErrNotJSON = errors.New("not JSON")
	// ErrNotHAR means the input is JSON but has no log object.
	ErrNotHAR = errors.New("not a HAR file: no \"log\" object")
	// ErrTooLarge means the input is longer than the maxBytes given to Read.
	ErrTooLarge = errors.New("input too large")
)

// Read parses a HAR document from r as a stream, keeping only what the analysis needs:
// for each entry its method, URL, headers, status, at most 64 KiB of the response text
// (1 KiB for successful responses; base64 bodies are decoded only when textual), at most
// 8 KiB of the request body, and the Chrome extensions _resourceType and _error. Large
// fields (postData, content.text, images) are read and discarded without being held in
// memory. Input longer than maxBytes (DefaultMaxBytes when maxBytes <= 0) is refused with
// ErrTooLarge; input that is not JSON fails with ErrNotJSON naming the byte offset.
func Read(r io.Reader, maxBytes int64) (*Log, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	s := &scanner{r: bufio.NewReaderSize(r, 64<<10), max: maxBytes}
	l := &Log{}
	p := &harParser{s: s, log: l, pages: map[string]string{}, origins: map[string]bool{}}
	c, err := s.peek()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("read har: %w: the input is empty", ErrNotJSON)
		}
		return nil, err
	}
	if c != '{' {
		return nil, s.syntax("expected '{' at the start of a HAR file, found %s", describeByte(c))
	}
	found := false
	err = s.object(func(key string) error {
		if key != "log" {
			return s.skip()
		}
		found = true
		return p.logObject()
	})
	if err != nil {
		return nil, err
	}
	if c, err := s.peek(); err == nil {
		return nil, s.syntax("unexpected %s after the end of the HAR object", describeByte(c))
	} else if !errors.Is(err, io.EOF) {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("read har: %w", ErrNotHAR)
	}
	for i := range l.Entries {
		e := &l.Entries[i]
		e.Index = i
		if e.PageOrigin == "" {
			e.PageOrigin = p.pages[e.PageRef]
		}
	}
	return l, nil
}

func describeByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return fmt.Sprintf("'%c'", c)
	}
	return fmt.Sprintf("byte 0x%02X", c)
}

// harParser maps the HAR structure onto Log.
type harParser struct {
	s        *scanner
	log      *Log
	pages    map[string]string // page id -> origin
	origins  map[string]bool   // the origins already in log.PageOrigins
	bodyUsed int
}

func (p *harParser) logObject() error {
	s := p.s
	return s.object(func(key string) error {
		switch key {
		case "creator":
			return s.object(func(k string) error {
				switch k {
				case "name":
					v, err := s.stringOrNull(maxString)
					p.log.Creator = v
					return err
				case "version":
					v, err := s.stringOrNull(maxString)
					p.log.CreatorVersion = v
					return err
				}
				return s.skip()
			})
		case "pages":
			return s.array(func() error { return p.page() })
		case "entries":
			return s.array(func() error {
				if len(p.log.Entries) >= MaxEntries {
					return fmt.Errorf("read har: more than %d entries: %w", MaxEntries, ErrTooLarge)
				}
				var e Entry
				if err := p.entry(&e); err != nil {
					return err
				}
				p.log.Entries = append(p.log.Entries, e)
				return nil
			})
		}
		return s.skip()
	})
}

func (p *harParser) page() error {
	s := p.s
	var id, title string
	err := s.object(func(k string) error {
		var err error
		switch k {
		case "id":
			id, err = s.stringOrNull(maxString)
		case "title":
			title, err = s.stringOrNull(maxURL)
		default:
			err = s.skip()
		}
		return err
	})
	if o := originOf(title); o != "" {
		p.pages[id] = o
		if !p.origins[o] {
			p.origins[o] = true
			p.log.PageOrigins = append(p.log.PageOrigins, o)
		}
	}
	return err
}

func (p *harParser) entry(e *Entry) error {
	s := p.s
	return s.object(func(k string) error {
		var err error
		switch k {
		case "startedDateTime":
			var v string
			if v, err = s.stringOrNull(maxString); err == nil {
				e.StartedAt, _ = time.Parse(time.RFC3339Nano, v)
			}
		case "pageref":
			e.PageRef, err = s.stringOrNull(maxString)
		case "_resourceType":
			e.ResourceType, err = s.stringOrNull(maxString)
		case "_error":
			e.Error, err = s.stringOrNull(maxString)
		case "request":
			err = p.request(e)
		case "response":
			err = p.response(e)
		default:
			err = s.skip()
		}
		return err
	})
}

func (p *harParser) request(e *Entry) error {
	s := p.s
	return s.object(func(k string) error {
		var err error
		switch k {
		case "method":
			e.Method, err = s.stringOrNull(maxString)
		case "url":
			var trunc bool
			e.URL, trunc, err = s.stringLimited(maxURL)
			e.Truncated = e.Truncated || trunc
		case "headers":
			e.RequestHeaders, err = p.headers(e)
		case "postData":
			err = s.object(func(k string) error {
				if k != "text" {
					return s.skip()
				}
				v, _, err := s.stringLimited(maxPostData)
				e.PostDataPrefix = v
				return err
			})
		default:
			err = s.skip()
		}
		return err
	})
}

func (p *harParser) response(e *Entry) error {
	s := p.s
	return s.object(func(k string) error {
		var err error
		switch k {
		case "status":
			e.Status, err = s.integer()
		case "statusText":
			e.StatusText, err = s.stringOrNull(maxString)
		case "headers":
			e.ResponseHeaders, err = p.headers(e)
		case "_error":
			e.Error, err = s.stringOrNull(maxString)
		case "content":
			err = p.content(e)
		default:
			err = s.skip()
		}
		return err
	})
}

func (p *harParser) content(e *Entry) error {
	s := p.s
	var text, encoding string
	var trunc bool
	err := s.object(func(k string) error {
		var err error
		switch k {
		case "mimeType":
			e.MimeType, err = s.stringOrNull(maxString)
		case "encoding":
			encoding, err = s.stringOrNull(maxString)
		case "text":
			limit := MaxBodyPrefix
			if (e.Status >= 200 && e.Status < 400) || p.bodyUsed >= bodyBudget {
				limit = smallBody
			}
			text, trunc, err = s.stringLimited(limit)
		default:
			err = s.skip()
		}
		return err
	})
	if err != nil {
		return err
	}
	if strings.EqualFold(encoding, "base64") {
		text = decodeBase64Prefix(text, e.MimeType)
	}
	if !utf8.ValidString(text) {
		text = strings.ToValidUTF8(text, "\uFFFD")
	}
	e.BodyPrefix, e.Truncated = text, e.Truncated || trunc
	p.bodyUsed += len(text)
	return nil
}

// decodeBase64Prefix decodes as much of a (possibly cut) base64 body as forms whole
// quanta, and only for textual types; binary bodies are dropped.
func decodeBase64Prefix(s, mime string) string {
	m := strings.ToLower(mime)
	if !(strings.HasPrefix(m, "text/") || strings.Contains(m, "json") || strings.Contains(m, "xml") || strings.Contains(m, "javascript") || strings.Contains(m, "x-www-form-urlencoded")) {
		return ""
	}
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == ' ' {
			return -1
		}
		return r
	}, s)
	s = s[:len(s)-len(s)%4]
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return ""
	}
	return string(b)
}

func (p *harParser) headers(e *Entry) ([]Header, error) {
	s := p.s
	var hs []Header
	total := 0
	err := s.array(func() error {
		var h Header
		var keep = len(hs) < maxHeaders && total < maxHeaderBytes
		err := s.object(func(k string) error {
			switch k {
			case "name":
				v, _, err := s.stringLimited(maxString)
				h.Name = v
				return err
			case "value":
				v, trunc, err := s.stringLimited(maxHeaderValue)
				h.Value = v
				e.Truncated = e.Truncated || trunc
				return err
			}
			return s.skip()
		})
		if err != nil {
			return err
		}
		if keep {
			hs = append(hs, h)
			total += len(h.Name) + len(h.Value)
		} else {
			e.Truncated = true
		}
		return nil
	})
	return hs, err
}

// scanner is a pull tokenizer over a byte stream. It never holds more of a string than
// the caller's limit, and skips values of any size in constant memory.
type scanner struct {
	r   *bufio.Reader
	off int64 // bytes consumed
	max int64
}

func (s *scanner) syntax(format string, args ...any) error {
	return fmt.Errorf("read har: %w at byte %d: %s", ErrNotJSON, s.off, fmt.Sprintf(format, args...))
}

func (s *scanner) readByte() (byte, error) {
	c, err := s.r.ReadByte()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return 0, s.syntax("unexpected end of input")
		}
		return 0, fmt.Errorf("read har: %w", err)
	}
	s.off++
	if s.off > s.max {
		return 0, fmt.Errorf("read har: %w: more than %d bytes", ErrTooLarge, s.max)
	}
	return c, nil
}

// peek skips whitespace and returns the next byte without consuming it. At the end of
// the input it returns io.EOF itself (unwrapped) so callers can tell a clean end.
func (s *scanner) peek() (byte, error) {
	for {
		c, err := s.r.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return 0, io.EOF
			}
			return 0, fmt.Errorf("read har: %w", err)
		}
		switch c {
		case ' ', '\t', '\n', '\r':
			s.off++
			if s.off > s.max {
				return 0, fmt.Errorf("read har: %w: more than %d bytes", ErrTooLarge, s.max)
			}
			continue
		}
		if err := s.r.UnreadByte(); err != nil {
			return 0, fmt.Errorf("read har: %w", err)
		}
		return c, nil
	}
}

func (s *scanner) peekValue() (byte, error) {
	c, err := s.peek()
	if errors.Is(err, io.EOF) {
		return 0, s.syntax("unexpected end of input")
	}
	return c, err
}

func (s *scanner) expect(want byte) error {
	c, err := s.peekValue()
	if err != nil {
		return err
	}
	if c != want {
		return s.syntax("expected '%c', found %s", want, describeByte(c))
	}
	_, err = s.readByte()
	return err
}

// object iterates over the members of an object; fn must consume each value.
func (s *scanner) object(fn func(key string) error) error {
	if err := s.expect('{'); err != nil {
		return err
	}
	c, err := s.peekValue()
	if err != nil {
		return err
	}
	if c == '}' {
		_, err := s.readByte()
		return err
	}
	for {
		if c, err := s.peekValue(); err != nil {
			return err
		} else if c != '"' {
			return s.syntax("expected a member name, found %s", describeByte(c))
		}
		key, _, err := s.stringLimited(maxString)
		if err != nil {
			return err
		}
		if err := s.expect(':'); err != nil {
			return err
		}
		if err := fn(key); err != nil {
			return err
		}
		c, err := s.peekValue()
		if err != nil {
			return err
		}
		if _, err := s.readByte(); err != nil {
			return err
		}
		switch c {
		case ',':
		case '}':
			return nil
		default:
			return s.syntax("expected ',' or '}' in an object, found %s", describeByte(c))
		}
	}
}

// array iterates over the elements of an array (or nothing for null); fn must consume
// each element.
func (s *scanner) array(fn func() error) error {
	c, err := s.peekValue()
	if err != nil {
		return err
	}
	if c == 'n' {
		return s.literal()
	}
	if err := s.expect('['); err != nil {
		return err
	}
	if c, err = s.peekValue(); err != nil {
		return err
	}
	if c == ']' {
		_, err := s.readByte()
		return err
	}
	for {
		if err := fn(); err != nil {
			return err
		}
		c, err := s.peekValue()
		if err != nil {
			return err
		}
		if _, err := s.readByte(); err != nil {
			return err
		}
		switch c {
		case ',':
		case ']':
			return nil
		default:
			return s.syntax("expected ',' or ']' in an array, found %s", describeByte(c))
		}
	}
}

// stringOrNull reads a string (kept up to limit bytes) or null, and fails on anything
// else; other scalar types are read as their literal text.
func (s *scanner) stringOrNull(limit int) (string, error) {
	c, err := s.peekValue()
	if err != nil {
		return "", err
	}
	switch {
	case c == '"':
		v, _, err := s.stringLimited(limit)
		return v, err
	case c == 'n' || c == 't' || c == 'f':
		return "", s.literal()
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number()
	}
	return "", s.syntax("expected a string, found %s", describeByte(c))
}

// stringLimited reads a JSON string, decoding escapes, and keeps at most limit bytes of
// it; truncated reports that more was read and discarded.
func (s *scanner) stringLimited(limit int) (v string, truncated bool, err error) {
	if err := s.expect('"'); err != nil {
		return "", false, err
	}
	var b strings.Builder
	put := func(r rune) {
		if b.Len()+utf8.RuneLen(r) > limit {
			truncated = true
			return
		}
		b.WriteRune(r)
	}
	putByte := func(c byte) {
		if b.Len() >= limit {
			truncated = true
			return
		}
		b.WriteByte(c)
	}
	for {
		c, err := s.readByte()
		if err != nil {
			return "", false, err
		}
		switch {
		case c == '"':
			return b.String(), truncated, nil
		case c == '\\':
			e, err := s.readByte()
			if err != nil {
				return "", false, err
			}
			switch e {
			case '"', '\\', '/':
				putByte(e)
			case 'b':
				putByte('\b')
			case 'f':
				putByte('\f')
			case 'n':
				putByte('\n')
			case 'r':
				putByte('\r')
			case 't':
				putByte('\t')
			case 'u':
				r, err := s.hex4()
				if err != nil {
					return "", false, err
				}
				if utf16.IsSurrogate(r) {
					r = s.lowSurrogate(r)
				}
				put(r)
			default:
				return "", false, s.syntax("invalid escape '\\%c' in a string", e)
			}
		case c < 0x20:
			return "", false, s.syntax("control character %s inside a string", describeByte(c))
		default:
			putByte(c)
		}
	}
}

func (s *scanner) hex4() (rune, error) {
	var r rune
	for range 4 {
		c, err := s.readByte()
		if err != nil {
			return 0, err
		}
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, s.syntax("invalid \\u escape")
		}
		r = r<<4 | rune(d)
	}
	return r, nil
}

// lowSurrogate completes a UTF-16 surrogate pair when the next escape is its second half;
// a lone surrogate becomes U+FFFD, as encoding/json does.
func (s *scanner) lowSurrogate(hi rune) rune {
	if b, err := s.r.Peek(2); err != nil || b[0] != '\\' || b[1] != 'u' {
		return utf8.RuneError
	}
	if _, err := s.readByte(); err != nil {
		return utf8.RuneError
	}
	if _, err := s.readByte(); err != nil {
		return utf8.RuneError
	}
	lo, err := s.hex4()
	if err != nil {
		return utf8.RuneError
	}
	if r := utf16.DecodeRune(hi, lo); r != utf8.RuneError {
		return r
	}
	return utf8.RuneError
}

func (s *scanner) number() (string, error) {
	var b strings.Builder
	for {
		c, err := s.r.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return "", fmt.Errorf("read har: %w", err)
		}
		if !(c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E') {
			if err := s.r.UnreadByte(); err != nil {
				return "", fmt.Errorf("read har: %w", err)
			}
			break
		}
		s.off++
		if s.off > s.max {
			return "", fmt.Errorf("read har: %w: more than %d bytes", ErrTooLarge, s.max)
		}
		if b.Len() < 64 {
			b.WriteByte(c)
		}
	}
	n := b.String()
	if _, err := strconv.ParseFloat(n, 64); err != nil {
		return "", s.syntax("invalid number")
	}
	return n, nil
}

// integer reads a number (or null, as 0) and returns its integer part.
func (s *scanner) integer() (int, error) {
	c, err := s.peekValue()
	if err != nil {
		return 0, err
	}
	if c == 'n' {
		return 0, s.literal()
	}
	if c == '"' { // some exporters quote numbers
		v, _, err := s.stringLimited(32)
		if err != nil {
			return 0, err
		}
		n, _ := strconv.Atoi(strings.TrimSpace(v))
		return n, nil
	}
	if !(c == '-' || c >= '0' && c <= '9') {
		return 0, s.syntax("expected a number, found %s", describeByte(c))
	}
	n, err := s.number()
	if err != nil {
		return 0, err
	}
	f, _ := strconv.ParseFloat(n, 64)
	if f > 1e9 || f < -1e9 {
		return 0, nil
	}
	return int(f), nil
}

func (s *scanner) literal() error {
	c, err := s.peekValue()
	if err != nil {
		return err
	}
	var want string
	switch c {
	case 't':
		want = "true"
	case 'f':
		want = "false"
	case 'n':
		want = "null"
	default:
		return s.syntax("unexpected %s", describeByte(c))
	}
	for i := 0; i < len(want); i++ {
		got, err := s.readByte()
		if err != nil {
			return err
		}
		if got != want[i] {
			return s.syntax("invalid literal (expected %q)", want)
		}
	}
	return nil
}

// skip consumes one value of any type and size without keeping it. Nesting is tracked
// on a small explicit stack, not by recursion, and bounded by maxDepth.
func (s *scanner) skip() error {
	var stack []byte // the open containers, '{' or '['
	for {
		// A value is expected here.
		c, err := s.peekValue()
		if err != nil {
			return err
		}
		switch {
		case c == '{' || c == '[':
			if _, err := s.readByte(); err != nil {
				return err
			}
			closer := byte('}')
			if c == '[' {
				closer = ']'
			}
			nc, err := s.peekValue()
			if err != nil {
				return err
			}
			if nc == closer {
				if _, err := s.readByte(); err != nil {
					return err
				}
				break // an empty container is a complete value
			}
			if len(stack) >= maxDepth {
				return s.syntax("nesting deeper than %d levels", maxDepth)
			}
			stack = append(stack, c)
			if c == '{' {
				if err := s.memberName(); err != nil {
					return err
				}
			}
			continue
		case c == '"':
			if _, _, err := s.stringLimited(0); err != nil {
				return err
			}
		case c == 't' || c == 'f' || c == 'n':
			if err := s.literal(); err != nil {
				return err
			}
		case c == '-' || (c >= '0' && c <= '9'):
			if _, err := s.number(); err != nil {
				return err
			}
		default:
			return s.syntax("unexpected %s where a value should be", describeByte(c))
		}
		// A value is complete: close containers, or move on to the next element.
	next:
		for {
			if len(stack) == 0 {
				return nil
			}
			top := stack[len(stack)-1]
			c, err := s.peekValue()
			if err != nil {
				return err
			}
			switch {
			case (top == '{' && c == '}') || (top == '[' && c == ']'):
				if _, err := s.readByte(); err != nil {
					return err
				}
				stack = stack[:len(stack)-1]
			case c == ',':
				if _, err := s.readByte(); err != nil {
					return err
				}
				if top == '{' {
					if err := s.memberName(); err != nil {
						return err
					}
				}
				break next
			default:
				return s.syntax("expected ',' or a closing bracket, found %s", describeByte(c))
			}
		}
	}
}

// memberName consumes `"name" :` inside an object.
func (s *scanner) memberName() error {
	c, err := s.peekValue()
	if err != nil {
		return err
	}
	if c != '"' {
		return s.syntax("expected a member name, found %s", describeByte(c))
	}
	if _, _, err := s.stringLimited(0); err != nil {
		return err
	}
	return s.expect(':')
}
