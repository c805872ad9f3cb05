package client

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/challenge"
)

// Param is one parameter of a challenge: the name lower-cased, the value unquoted.
type Param struct{ Name, Value string }

// Challenge is one challenge of a WWW-Authenticate field (RFC 9110 section 11.6.1).
type Challenge struct {
	Scheme  string  // as sent; compare with strings.EqualFold
	Token68 string  // "" when Params are used
	Params  []Param // in order, duplicates kept
}

// Param returns the value of the first parameter named name (ASCII case ignored).
func (c Challenge) Param(name string) (string, bool) {
	for _, p := range c.Params {
		if strings.EqualFold(p.Name, name) {
			return p.Value, true
		}
	}
	return "", false
}

// Error is a refusal (a status of 400 or more) as CheckResponse reads it. Its fields and
// its text hold the server's words with every value the request carried in a header cut
// out, so it can be logged.
type Error struct {
	Status int    // the HTTP status code
	Reason string // the problem body's reason (docs/reasons.md), else the Bearer challenge's error code, else ""
	Title  string // the problem body's title
	Detail string // the problem body's detail, else the Bearer challenge's error_description
	// RequestID is the problem body's request_id, else the X-Request-Id response header:
	// the id `gatehouse explain` takes.
	RequestID string
	// Challenges are the response's WWW-Authenticate challenges, parsed; nil when it had
	// none or they could not be parsed (ChallengeErr says why).
	Challenges   []Challenge
	ChallengeErr error
	// RetryAfter is the Retry-After header as a duration (0 when absent or a date in the past).
	RetryAfter time.Duration
	// LoginURL is the problem body's login_url: where a browser user logs in, when the
	// server protects a web application with sessions. It is an absolute http(s) URL
	// (relative ones are resolved against the request's URL) or empty: anything else the
	// server sent (javascript:, data:) is dropped. Its origin is the server's choice:
	// check it against the origins you trust before sending a user there.
	LoginURL string
}

// Error returns "STATUS TEXT: REASON: DETAIL (request id ID)", leaving out the parts the
// response did not have.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s", e.Status, http.StatusText(e.Status))
	if e.Reason != "" {
		b.WriteString(": " + e.Reason)
	}
	if e.Detail != "" {
		b.WriteString(": " + e.Detail)
	}
	if e.RequestID != "" {
		b.WriteString(" (request id " + e.RequestID + ")")
	}
	return b.String()
}

// maxProblemBytes bounds how much of a refusal's body is read to find its reason.
const maxProblemBytes = 64 << 10

// CheckResponse returns nil for a status below 400 and an *Error otherwise. It reads at
// most 64 KiB of a problem+json or JSON body and puts back what it read, so resp.Body
// still reads the whole body afterwards.
func CheckResponse(resp *http.Response) error {
	if resp.StatusCode < 400 {
		return nil
	}
	return newError(resp, peekBody(resp))
}

// peekBody reads up to maxProblemBytes of a JSON body and puts it back in front of the
// rest. It returns nil for other media types.
func peekBody(resp *http.Response) []byte {
	if resp.Body == nil || resp.Body == http.NoBody {
		return nil
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt != "application/problem+json" && mt != "application/json" {
		return nil
	}
	buf, err := io.ReadAll(io.LimitReader(resp.Body, maxProblemBytes))
	resp.Body = readCloser{io.MultiReader(bytes.NewReader(buf), errReader{err}, resp.Body), resp.Body}
	return buf
}

type readCloser struct {
	io.Reader
	io.Closer
}

// errReader returns err (or EOF) so that a read error met while peeking is seen by the
// caller at the same place in the stream.
type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	return 0, io.EOF
}

// problem is the part of an RFC 9457 body the client reads.
type problem struct {
	Title     string `json:"title"`
	Detail    string `json:"detail"`
	Reason    string `json:"reason"`
	RequestID string `json:"request_id"`
	LoginURL  string `json:"login_url"`
}

func newError(resp *http.Response, body []byte) *Error {
	e := &Error{Status: resp.StatusCode}
	var p problem
	if len(body) > 0 && json.Unmarshal(body, &p) == nil {
		e.Title, e.Detail, e.Reason, e.RequestID, e.LoginURL = p.Title, p.Detail, p.Reason, p.RequestID, p.LoginURL
	}
	if fields := resp.Header.Values("WWW-Authenticate"); len(fields) > 0 {
		cs, err := challenge.ParseChallenges(fields)
		if err != nil {
			e.ChallengeErr = err // a SyntaxError never quotes the input
		} else {
			for _, c := range cs {
				pc := Challenge{Scheme: c.Scheme, Token68: c.Token68}
				for _, p := range c.Params {
					pc.Params = append(pc.Params, Param{p.Name, p.Value})
				}
				e.Challenges = append(e.Challenges, pc)
			}
		}
	}
	if bearer, ok := bearerChallenge(e.Challenges); ok {
		if code, ok := bearer.Param("error"); ok && e.Reason == "" {
			e.Reason = code
		}
		if desc, ok := bearer.Param("error_description"); ok && e.Detail == "" {
			e.Detail = desc
		}
	}
	if e.RequestID == "" {
		e.RequestID = resp.Header.Get("X-Request-Id")
	}
	if !isReasonCode(e.Reason) {
		e.Reason = ""
	}
	if !isRequestID(e.RequestID) {
		e.RequestID = ""
	}
	e.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), time.Now())
	var sent http.Header
	if resp.Request != nil {
		sent = resp.Request.Header
	}
	secrets := sentValues(sent)
	e.Title = scrub(e.Title, secrets)
	e.Detail = scrub(e.Detail, secrets)
	e.LoginURL = scrub(loginURL(e.LoginURL, resp.Request), secrets)
	for i := range e.Challenges {
		e.Challenges[i].Token68 = scrub(e.Challenges[i].Token68, secrets)
		for j := range e.Challenges[i].Params {
			e.Challenges[i].Params[j].Value = scrub(e.Challenges[i].Params[j].Value, secrets)
		}
	}
	return e
}

func bearerChallenge(cs []Challenge) (Challenge, bool) {
	for _, c := range cs {
		if strings.EqualFold(c.Scheme, "Bearer") {
			return c, true
		}
	}
	return Challenge{}, false
}

// isReasonCode accepts the shape of reason and error codes (lower-case letters, digits
// and '_', at most 64), so a hostile server cannot put arbitrary text there.
func isReasonCode(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// isRequestID accepts 1-128 characters of A-Za-z0-9._- (docs/design.md, section 2).
func isRequestID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// retryAfter reads a Retry-After value: seconds, or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 || n > int64(24*time.Hour/time.Second) {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// minSecret is the shortest header value treated as a secret to cut out; shorter ones
// ("1", "gzip") would cut ordinary words.
const minSecret = 6

// sentValues returns every header value the request carried, with each credential's
// parts (after the scheme; a Basic credential's decoded user:password and password), for
// scrub to cut out.
func sentValues(h http.Header) []string {
	var out []string
	add := func(s string) {
		if len(s) >= minSecret {
			out = append(out, s)
		}
	}
	for _, vals := range h {
		for _, v := range vals {
			add(v)
			scheme, rest, ok := strings.Cut(v, " ")
			if !ok {
				continue
			}
			rest = strings.TrimSpace(rest)
			add(rest)
			if strings.EqualFold(scheme, "Basic") {
				if dec, err := base64.StdEncoding.DecodeString(rest); err == nil {
					add(string(dec))
					if _, pass, ok := strings.Cut(string(dec), ":"); ok {
						add(pass)
					}
				}
			}
		}
	}
	// Longest first, so that a value containing another is cut whole.
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
	return out
}

// scrub replaces each secret in s with "[redacted]".
func scrub(s string, secrets []string) string {
	for _, sec := range secrets {
		if strings.Contains(s, sec) {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return s
}

// loginURL returns raw as an absolute http(s) URL, resolved against the request's URL
// when relative, or "" when it is anything else.
func loginURL(raw string, req *http.Request) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	if req != nil && req.URL != nil {
		u = req.URL.ResolveReference(u)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return ""
	}
	return u.String()
}
