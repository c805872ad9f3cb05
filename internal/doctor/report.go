package doctor

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/challenge"
	"github.com/gatehouse-dev/gatehouse/internal/doctor/finding"
	"github.com/gatehouse-dev/gatehouse/internal/tokens"
)

// Report is the doctor's answer. Its JSON form is exactly docs/design.md, section 7's:
// {request, hops, response, credential, findings, verdict}.
type Report struct {
	Request    RequestView       `json:"request"`
	Hops       []HopView         `json:"hops"`
	Response   *ResponseView     `json:"response"`
	Credential *CredentialView   `json:"credential"`
	Findings   []finding.Finding `json:"findings"`
	Verdict    string            `json:"verdict"`

	// Unreachable says why no response came back, when the verdict is "unreachable".
	Unreachable string `json:"-"`
	// Facts are what the probes saw, for the terminal report.
	Facts *Facts `json:"-"`

	// secrets are the credential values scrubbed from every rendering.
	secrets *secrets
}

// VerdictOK and VerdictUnreachable are the two verdicts that are not finding codes.
const (
	VerdictOK          = "ok"
	VerdictUnreachable = "unreachable"
)

// ExitCode is the command's exit status for the report: 0 ok, 1 a failure was
// diagnosed, 3 the server could not be reached.
func (r *Report) ExitCode() int {
	switch r.Verdict {
	case VerdictOK:
		return 0
	case VerdictUnreachable:
		return 3
	}
	return 1
}

// RequestView is the request as sent, credentials redacted.
type RequestView struct {
	Method    string       `json:"method"`
	URL       string       `json:"url"`
	Headers   []HeaderView `json:"headers"`
	BodyBytes int          `json:"body_bytes"`
}

// HeaderView is one header, redacted and escaped.
type HeaderView struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// HopView is one request of the redirect walk.
type HopView struct {
	Method         string `json:"method"`
	URL            string `json:"url"`
	Status         int    `json:"status"`
	Location       string `json:"location,omitempty"`
	Change         string `json:"change,omitempty"`
	CredentialSent bool   `json:"credential_sent"`
	// Followed is how the doctor followed the redirect: "credential", "anonymous", "no".
	Followed string `json:"followed,omitempty"`
	// Clients says which clients keep the credential on this redirect.
	Clients map[string]string `json:"clients,omitempty"`
	Error   string            `json:"error,omitempty"`
}

// ResponseView is the final response.
type ResponseView struct {
	Status     int                 `json:"status"`
	Headers    map[string][]string `json:"headers"`
	Challenges []ChallengeView     `json:"challenges"`
}

// ChallengeView is one challenge: parameter names lower-cased, values unquoted, read as
// UTF-8 when valid and ISO-8859-1 otherwise.
type ChallengeView struct {
	Scheme  string            `json:"scheme"`
	Params  map[string]string `json:"params"`
	Token68 string            `json:"token68"`
}

// CredentialView is the decoded credential, secrets redacted.
type CredentialView struct {
	Source string     `json:"source"`
	Header string     `json:"header,omitempty"`
	Query  string     `json:"query,omitempty"`
	Scheme string     `json:"scheme,omitempty"`
	Value  string     `json:"value"`
	Kind   string     `json:"kind"`
	JWT    *JWTView   `json:"jwt,omitempty"`
	Basic  *BasicView `json:"basic,omitempty"`
}

// JWTView is a decoded, unverified JWT.
type JWTView struct {
	Header map[string]any `json:"header"`
	Claims map[string]any `json:"claims"`
}

// BasicView is a decoded Basic credential: the user name and the password's length.
type BasicView struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

// judge evaluates the rules over the facts and builds the report.
func judge(f *Facts) *Report {
	return buildReport(f, evaluate(f, nil))
}

func buildReport(f *Facts, ranked []finding.Finding) *Report {
	r := &Report{Facts: f, Findings: ranked, secrets: &secrets{}}
	r.secrets.addFacts(f)
	if r.Findings == nil {
		r.Findings = []finding.Finding{}
	}
	for i := range r.Findings {
		if r.Findings[i].Evidence == nil {
			r.Findings[i].Evidence = []string{}
		}
	}
	r.Request = requestView(f)
	r.Hops = hopViews(f)
	if resp := f.finalResp(); resp != nil {
		r.Response = responseView(resp)
	}
	r.Credential = credentialView(f)
	r.Verdict = verdict(f, ranked)
	if !f.outcome().Reached && !explainsNoAnswer(f, ranked) {
		r.Verdict = VerdictUnreachable
		r.Unreachable = r.secrets.scrub(unreachableMessage(f)) // the command prints it alone
	}
	return r
}

// explainsNoAnswer reports whether the top finding explains why no response came back:
// the proxy or the TLS handshake refused us, or the request could not even be sent (a
// credential lint finding then says why).
func explainsNoAnswer(f *Facts, ranked []finding.Finding) bool {
	if len(ranked) == 0 || ranked[0].Score < 60 {
		return false
	}
	switch ranked[0].Code {
	case "mtls_client_certificate_missing", "proxy_auth_required_407":
		return true
	}
	return f.Final != nil && f.Final.ErrKind == ErrInvalidRequest
}

func unreachableMessage(f *Facts) string {
	ex := f.Final
	host := f.Target.Host
	if ex == nil || ex.Err == nil {
		return "cannot reach " + host
	}
	msg := "cannot reach " + host + ": " + ex.Err.Error()
	switch ex.ErrKind {
	case ErrTLS:
		if strings.Contains(ex.Err.Error(), "x509") || strings.Contains(ex.Err.Error(), "certificate") {
			msg += " (to trust the server's CA pass --cacert FILE, or --insecure to skip verification)"
		}
	case ErrTimeout:
		msg += " (no answer within the timeout; --timeout sets it)"
	case ErrInvalidRequest:
		msg = "the request could not be sent: " + ex.Err.Error()
	case ErrProtocol:
		if strings.Contains(ex.Err.Error(), "malformed MIME header") || strings.Contains(ex.Err.Error(), "malformed HTTP") {
			msg += " (the server's answer breaks HTTP's syntax, a control character in a header for example: clients refuse it, so this is the server's bug, not your credential's)"
		}
	}
	return msg
}

func requestView(f *Facts) RequestView {
	v := RequestView{Method: f.Method, URL: redactURL(f.Target), Headers: []HeaderView{}, BodyBytes: len(f.Body)}
	for _, h := range f.Sent {
		v.Headers = append(v.Headers, HeaderView{Name: escape(h.Name), Value: redactHeaderValue(h.Name, h.Value)})
	}
	if !f.Offline && !hasHeader(f.Sent, "User-Agent") && f.UserAgent != "" {
		v.Headers = append(v.Headers, HeaderView{Name: "User-Agent", Value: escape(f.UserAgent)})
	}
	return v
}

func hopViews(f *Facts) []HopView {
	out := []HopView{}
	for _, h := range f.Hops {
		hv := HopView{Method: h.Ex.Method, URL: redactURL(h.Ex.URL), CredentialSent: h.Ex.CredentialSent}
		if h.Ex.Resp != nil {
			hv.Status = h.Ex.Resp.Status
		}
		if h.Ex.Err != nil {
			hv.Error = h.Ex.Err.Error()
		}
		if h.Next != nil {
			hv.Location = redactURL(h.Next)
			hv.Change = string(h.Change)
			hv.Followed = h.Follow
			hv.Clients = map[string]string{
				"go": keepWord(h.Keeps.Go), "curl": keepWord(h.Keeps.Curl),
				"requests": keepWord(h.Keeps.Requests), "browser": keepWord(h.Keeps.Browser),
			}
		} else if h.Location != "" {
			hv.Location = redactRawURL(h.Location)
			hv.Followed = h.Follow
		}
		out = append(out, hv)
	}
	return out
}

func responseView(r *Response) *ResponseView {
	v := &ResponseView{Status: r.Status, Headers: map[string][]string{}}
	for name, vals := range r.Header {
		for _, val := range vals {
			v.Headers[name] = append(v.Headers[name], redactResponseHeader(name, val))
		}
	}
	if r.ChallengeErr == nil {
		v.Challenges = challengeViews(r.Challenges)
	}
	return v
}

// redactResponseHeader hides secrets a server sends (session cookies, signed URLs).
func redactResponseHeader(name, val string) string {
	switch strings.ToLower(name) {
	case "set-cookie":
		return redactSetCookie(val)
	case "location", "content-location":
		return redactRawURL(val)
	}
	return toUTF8(val)
}

func challengeViews(cs []challenge.Challenge) []ChallengeView {
	out := []ChallengeView{}
	for _, c := range cs {
		cv := ChallengeView{Scheme: toUTF8(c.Scheme), Params: map[string]string{}, Token68: toUTF8(c.Token68)}
		for _, p := range c.Params {
			if _, dup := cv.Params[p.Name]; !dup {
				cv.Params[toUTF8(p.Name)] = toUTF8(p.Value)
			}
		}
		out = append(out, cv)
	}
	return out
}

func credentialView(f *Facts) *CredentialView {
	c := f.primary()
	if c == nil {
		return nil
	}
	v := &CredentialView{Source: c.Source, Header: escape(c.HeaderName), Query: escape(c.QueryParam)}
	if c.IsAuthorization() {
		v.Scheme = escape(c.Scheme)
	}
	if c.QueryParam != "" {
		v.Value = redact(c.Value)
	} else {
		v.Value = redactHeaderValue(c.HeaderName, c.Value)
	}
	v.Kind = credentialKind(f, c)
	if t := f.Token; t != nil && t.Decoded != nil {
		v.JWT = &JWTView{Header: t.Decoded.Header, Claims: t.Decoded.Claims}
	}
	if strings.EqualFold(c.Scheme, "Basic") {
		if user, pass, err := challenge.DecodeBasic(strings.TrimSpace(c.Token)); err == nil {
			v.Basic = &BasicView{User: escape(toUTF8(user)), Password: fmt.Sprintf("(%d bytes)", len(pass))}
		}
	}
	return v
}

func credentialKind(f *Facts, c *Credential) string {
	switch {
	case strings.EqualFold(c.HeaderName, "Cookie"):
		return "cookie"
	case strings.EqualFold(c.Scheme, "Basic"):
		return "basic"
	case strings.EqualFold(c.Scheme, "Digest"):
		return "digest"
	case strings.EqualFold(c.Scheme, "NTLM"), strings.EqualFold(c.Scheme, "Negotiate"):
		return strings.ToLower(c.Scheme)
	}
	if t := f.Token; t != nil {
		switch {
		case t.Decoded != nil:
			return "jwt"
		case errors.Is(t.Err, tokens.ErrJWE):
			return "jwe"
		case errors.Is(t.Err, tokens.ErrMalformed):
			return "malformed_jwt"
		}
	}
	if strings.TrimSpace(c.Value) == "" {
		return "empty"
	}
	if !c.IsAuthorization() {
		return "api_key"
	}
	return "opaque"
}

// WriteJSON writes the report as one JSON object followed by a newline.
func (r *Report) WriteJSON(w io.Writer) error {
	return writeScrubbed(w, r.secrets, r)
}

// sortedHeaderNames returns a header's names in order, for stable output.
func sortedHeaderNames(h http.Header) []string {
	names := make([]string, 0, len(h))
	for n := range h {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func httpStatusText(code int) string { return http.StatusText(code) }
