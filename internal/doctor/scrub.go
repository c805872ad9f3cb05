package doctor

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// Scrubbing is the last step of every rendering (text, JSON, the HAR report): whatever a
// server reflected (a token in error_description, a password in a JSON body, a key in a
// custom header or a Location) and whatever a rule quoted, no credential value the doctor
// knows of leaves it. Redacting the credential where the doctor shows it on purpose
// (redactHeaderValue, redactURL) is not enough, because the server's answer is shown too.

// scrubMark starts the mark that replaces a known credential value in rendered output:
// markFor gives "[REDACTED sha256:1a2b3c4d]", the same short SHA-256 the report shows in
// the credential's deliberate redacted form ("eyJh…3pNg (424 bytes, sha256:1a2b3c4d)"),
// so one credential reads the same wherever it appears: in the request, in a body or
// header that reflected it, in a URL.
const scrubMark = "[REDACTED"

// markFor is the one redaction of a credential value.
func markFor(v string) string {
	sum := sha256.Sum256([]byte(v))
	return scrubMark + " sha256:" + hex.EncodeToString(sum[:4]) + "]"
}

// minSecretLen is the shortest value scrubbed: below it a value would match ordinary
// words of the report and is too weak to be worth hiding (lint reports short keys).
// minFragmentLen is the shortest piece of a value that clipping may leave at the cut.
const (
	minSecretLen   = 6
	minFragmentLen = 8
	// fragmentWindow is how far from a clip mark ("…") a cut value is looked for: the
	// longest clip the renderers make.
	fragmentWindow = 320
)

const clipMark = "…"

// secrets holds every credential value the doctor knows of, in each form a server or a
// renderer may show it. The zero value scrubs nothing; a nil *secrets too.
type secrets struct {
	// set maps each form to the mark that replaces it.
	set   map[string]string
	built bool
	// byStart indexes the forms by their first minSecretLen bytes, longest form first,
	// so that scrubbing costs one map look-up per byte of output whatever the number of
	// values (a HAR may hold a distinct signed URL per entry).
	byStart map[string][]string
	// byHead and byTail index the forms by their first and last minFragmentLen bytes,
	// to find a value cut by a clip.
	byHead, byTail map[string][]string
}

// add records a credential value and its derived forms: as escaped by the renderers, as
// a server would URL-, JSON- or Go-quote it.
func (s *secrets) add(v string) {
	s.addForms(v, markFor(v))
	if t := strings.TrimSpace(v); t != v {
		s.addForms(t, markFor(t))
	}
}

// addMarked records v with a mark of the caller's: a header value is marked as its
// scheme and its token's mark, as the report shows it.
func (s *secrets) addMarked(v, mark string) {
	s.addForms(v, mark)
}

func (s *secrets) addForms(v, mark string) {
	if len(v) < minSecretLen {
		return
	}
	if s.set == nil {
		s.set = map[string]string{}
	}
	js, _ := json.Marshal(v) // escapes <, > and & as \u003c..., as many servers do
	forms := []string{
		v,
		escape(v),
		url.QueryEscape(v),
		url.PathEscape(v),
		strings.ReplaceAll(url.QueryEscape(v), "+", "%20"),
		unquote(strconv.Quote(v)),
		unquote(string(js)),
		unquote(jsonNoHTML(v)),
		strings.ReplaceAll(v, "/", `\/`), // PHP's json_encode
	}
	for _, f := range forms {
		if _, seen := s.set[f]; len(f) >= minSecretLen && !seen {
			s.set[f] = mark
			s.built = false
		}
	}
}

// addBasic records a user:pass pair: the pair, its Base64 forms and the password alone.
func (s *secrets) addBasic(user, pass string) {
	pair := user + ":" + pass
	s.add(pair)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		s.add(enc.EncodeToString([]byte(pair)))
	}
	s.add(pass)
}

// addHeader records the value of a header that carries a credential (any header
// isSecretHeader names), with the token after an auth-scheme, every cookie value and,
// for Basic, the decoded pair.
func (s *secrets) addHeader(name, value string) {
	if !isSecretHeader(name) {
		return
	}
	if scheme, rest := splitScheme(value); scheme != "" && strings.TrimSpace(rest) != "" && isPrintableToken(scheme) {
		s.addMarked(value, scheme+" "+markFor(strings.TrimSpace(rest)))
	}
	s.add(value)
	lname := strings.ToLower(name)
	switch {
	case lname == "cookie":
		for _, part := range strings.Split(value, ";") {
			_, val, _ := strings.Cut(strings.TrimSpace(part), "=")
			s.add(val)
		}
		return
	case lname == "set-cookie":
		first, _, _ := strings.Cut(value, ";")
		_, val, _ := strings.Cut(first, "=")
		s.add(val)
		return
	}
	scheme, rest := splitScheme(value)
	s.add(rest)
	if strings.EqualFold(scheme, "Basic") {
		if raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(rest)); err == nil {
			user, pass, _ := strings.Cut(string(raw), ":")
			s.addBasic(user, pass)
		}
	}
	if scheme == "" || strings.EqualFold(scheme, "Bearer") || strings.EqualFold(scheme, "Basic") {
		return // a token68: its "=" is padding, not a parameter
	}
	// Digest, AWS4-HMAC-SHA256 and friends carry their secret in a parameter.
	for _, p := range strings.Split(rest, ",") {
		if _, val, ok := strings.Cut(p, "="); ok {
			s.add(strings.Trim(strings.TrimSpace(val), `"`))
		}
	}
}

// addURL records the URL's userinfo password and its credential-looking query values.
func (s *secrets) addURL(u *url.URL) {
	if u == nil {
		return
	}
	if u.User != nil {
		if p, ok := u.User.Password(); ok {
			s.addBasic(u.User.Username(), p)
		}
	}
	s.addQuery(u.RawQuery)
}

// addQuery records the values of credential-looking parameters of a query string or a
// form-encoded body.
func (s *secrets) addQuery(raw string) {
	q, _ := url.ParseQuery(raw) // a bad pair does not hide the good ones
	for k, vs := range q {
		if credentialQueryRE.MatchString(k) || credentialHeaderRE.MatchString(k) {
			for _, v := range vs {
				s.add(v)
			}
		}
	}
}

// addFacts records every credential of a live probe or a HAR entry: the headers sent,
// the URL, the credentials found and the values the options gave (-u, --var, the body).
func (s *secrets) addFacts(f *Facts) {
	if f == nil {
		return
	}
	for _, h := range f.Sent {
		s.addHeader(h.Name, h.Value)
	}
	for _, c := range f.Creds {
		if c.HeaderName != "" {
			s.addHeader(c.HeaderName, c.Value)
		}
		s.add(c.Value)
		s.add(c.Token)
	}
	s.addURL(f.Target)
	for _, v := range f.Known {
		s.add(v)
	}
	for _, v := range f.KnownPairs {
		user, pass, _ := strings.Cut(v, ":")
		s.addBasic(user, pass)
	}
	if f.HasBody {
		s.addQuery(f.Body)
	}
}

func (s *secrets) build() {
	if s.built {
		return
	}
	s.built = true
	forms := make([]string, 0, len(s.set))
	for f := range s.set {
		forms = append(forms, f)
	}
	// Longest first, so that "Bearer abc…" is replaced whole rather than leaving
	// "Bearer " before the mark.
	sort.Slice(forms, func(i, j int) bool {
		if len(forms[i]) != len(forms[j]) {
			return len(forms[i]) > len(forms[j])
		}
		return forms[i] < forms[j]
	})
	s.byStart = map[string][]string{}
	s.byHead, s.byTail = map[string][]string{}, map[string][]string{}
	for _, f := range forms {
		s.byStart[f[:minSecretLen]] = append(s.byStart[f[:minSecretLen]], f)
		// A value with a space is a header value with its scheme ("Bearer eyJ…"): its
		// token is a form of its own, and the scheme followed by the token's first
		// characters is how redact shows it on purpose.
		if len(f) > minFragmentLen && !strings.ContainsAny(f, " \t") {
			s.byHead[f[:minFragmentLen]] = append(s.byHead[f[:minFragmentLen]], f)
			s.byTail[f[len(f)-minFragmentLen:]] = append(s.byTail[f[len(f)-minFragmentLen:]], f)
		}
	}
}

// replaceAll replaces every whole known form in text, scanning left to right.
func (s *secrets) replaceAll(text string) string {
	var b strings.Builder
	done := 0 // text[:done] is written
	for i := 0; i+minSecretLen <= len(text); {
		n, mark := 0, ""
		for _, f := range s.byStart[text[i:i+minSecretLen]] {
			if strings.HasPrefix(text[i:], f) {
				n, mark = len(f), s.set[f]
				break
			}
		}
		if n == 0 {
			i++
			continue
		}
		if done == 0 {
			b.Grow(len(text))
		}
		b.WriteString(text[done:i])
		b.WriteString(mark)
		i += n
		done = i
	}
	if done == 0 {
		return text
	}
	b.WriteString(text[done:])
	return b.String()
}

// scrub replaces every known credential value in text, and every piece of one that a
// clip left next to its "…" (at least minFragmentLen bytes of the value's start before
// the mark, or of its end after it).
func (s *secrets) scrub(text string) string {
	if s == nil || len(s.set) == 0 {
		return text
	}
	s.build()
	text = s.replaceAll(text)
	if !strings.Contains(text, clipMark) {
		return text
	}
	var b strings.Builder
	rest := text
	for {
		i := strings.Index(rest, clipMark)
		if i < 0 {
			b.WriteString(rest)
			break
		}
		before := rest[:i]
		if n, mark := s.cutHead(before); n > 0 {
			before = before[:len(before)-n] + mark
		}
		b.WriteString(before)
		b.WriteString(clipMark)
		rest = rest[i+len(clipMark):]
		if n, mark := s.cutTail(rest); n > 0 {
			b.WriteString(mark)
			rest = rest[n:]
		}
	}
	return b.String()
}

// cutHead returns the length of the longest start of a known value that text ends with
// (0 when none is at least minFragmentLen long).
func (s *secrets) cutHead(text string) (int, string) {
	lo := max(0, len(text)-fragmentWindow)
	for start := lo; start <= len(text)-minFragmentLen; start++ {
		for _, f := range s.byHead[text[start:start+minFragmentLen]] {
			if frag := text[start:]; len(frag) < len(f) && strings.HasPrefix(f, frag) {
				return len(frag), s.set[f]
			}
		}
	}
	return 0, ""
}

// cutTail returns the length of the longest end of a known value that text starts with.
func (s *secrets) cutTail(text string) (int, string) {
	hi := min(len(text), fragmentWindow)
	for end := hi; end >= minFragmentLen; end-- {
		for _, f := range s.byTail[text[end-minFragmentLen:end]] {
			if frag := text[:end]; len(frag) < len(f) && strings.HasSuffix(f, frag) {
				return end, s.set[f]
			}
		}
	}
	return 0, ""
}

// scrubJSON rewrites every string (names and values) of the JSON document in data
// through scrub, keeping its structure and order, and indents it as the reports are.
func (s *secrets) scrubJSON(data []byte) ([]byte, error) {
	if s == nil || len(s.set) == 0 {
		return data, nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var out bytes.Buffer
	// Per open container: whether it is an object, how many members it has had, and
	// whether its next token is a member's value (after a name).
	type level struct {
		object, afterName bool
		n                 int
	}
	var stack []*level
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			out.WriteByte(byte(d))
			stack = stack[:len(stack)-1]
			continue
		}
		isName := false
		if len(stack) > 0 {
			l := stack[len(stack)-1]
			switch {
			case l.object && l.afterName:
				l.afterName = false
			default:
				if l.n > 0 {
					out.WriteByte(',')
				}
				l.n++
				isName = l.object
			}
		}
		switch v := tok.(type) {
		case json.Delim:
			out.WriteByte(byte(v))
			stack = append(stack, &level{object: v == '{'})
		case string:
			out.WriteString(jsonNoHTML(s.scrub(v)))
		case json.Number:
			out.WriteString(v.String())
		case bool:
			out.WriteString(strconv.FormatBool(v))
		case nil:
			out.WriteString("null")
		}
		if isName {
			out.WriteByte(':')
			stack[len(stack)-1].afterName = true
		}
	}
	var ind bytes.Buffer
	if err := json.Indent(&ind, out.Bytes(), "", "  "); err != nil {
		return nil, err
	}
	ind.WriteByte('\n')
	return ind.Bytes(), nil
}

// jsonNoHTML is s as a JSON string without HTML escaping, as the reports encode.
func jsonNoHTML(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return strings.TrimSuffix(b.String(), "\n")
}

// unquote strips the quotes of a quoted string, keeping its escapes.
func unquote(q string) string {
	if len(q) >= 2 {
		return q[1 : len(q)-1]
	}
	return q
}

// writeScrubbed encodes v as indented JSON and writes it through s.
func writeScrubbed(w io.Writer, s *secrets, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	out, err := s.scrubJSON(buf.Bytes())
	if err != nil {
		return err
	}
	_, err = w.Write(out)
	return err
}
