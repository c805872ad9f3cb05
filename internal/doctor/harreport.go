package doctor

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/doctor/finding"
)

// HARReport is the answer for a HAR file: one report per failing entry. Its JSON form is
// {"entries": [{"index", "url", ...report}], "verdict"}, the verdict being the first
// failing entry's (or "ok" when none failed).
type HARReport struct {
	Entries []HAREntryReport `json:"entries"`
	Verdict string           `json:"verdict"`
	// Creator is the tool that wrote the HAR; Total the number of entries in it.
	Creator string `json:"-"`
	Total   int    `json:"-"`

	// secrets are the credential values of every entry of the HAR, scrubbed from every
	// entry's report: a token one request carried may come back in another's response.
	secrets *secrets
}

// HAREntryReport is the report of one HAR entry, with its index and URL.
type HAREntryReport struct {
	Index int    `json:"index"`
	URL   string `json:"url"`
	*Report
}

// ExitCode is 0 when no entry failed, else 1.
func (h *HARReport) ExitCode() int {
	if h.Verdict == VerdictOK {
		return 0
	}
	return 1
}

// WriteJSON writes the HAR report as one JSON object.
func (h *HARReport) WriteJSON(w io.Writer) error {
	return writeScrubbed(w, h.secrets, h)
}

// WriteText writes each failing entry's report, separated by a rule.
func (h *HARReport) WriteText(w io.Writer, color bool) error {
	p := palette{on: color}
	var b strings.Builder
	head := fmt.Sprintf("HAR from %s: %d entries, %d failing", cond(h.Creator != "", h.Creator, "an unknown tool"), h.Total, len(h.Entries))
	fmt.Fprintln(&b, p.bold(head))
	if len(h.Entries) == 0 {
		fmt.Fprintln(&b, p.green("✓ verdict: ok")+"\n  No entry failed with 401, 403, 407 or a CORS error.")
	}
	for _, e := range h.Entries {
		fmt.Fprintf(&b, "\n%s\n", p.bold(fmt.Sprintf("── entry %d: %s %s", e.Index, e.Request.Method, e.URL)))
		b.WriteString(e.text(color))
	}
	_, err := io.WriteString(w, h.secrets.scrub(b.String()))
	return err
}

// harEntry is the doctor's view of a HAR entry, filled by the har bridge.
type harEntry struct {
	Index          int
	StartedAt      time.Time
	Method, URL    string
	RequestHeaders []Header
	Status         int
	StatusText     string
	RespHeaders    []Header
	Body           string
	PostData       string
	Truncated      bool
}

// factsFromHAR builds Facts from one entry, as if the doctor had sent it: the request as
// the browser sent it, its response as the single hop, no control and no preflight of
// our own (the har package judges the HAR's own preflights).
func factsFromHAR(e harEntry, creator string, o Options) (*Facts, error) {
	u, err := url.Parse(e.URL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("entry %d: URL does not parse", e.Index)
	}
	f := &Facts{
		Target: u, Method: strings.ToUpper(e.Method), Offline: true, HARCreator: creator,
		ExpectIssuer: o.ExpectIssuer, ExpectAudience: o.ExpectAudience,
		Named: &namedOrigins{origins: []*url.URL{u}},
		Body:  e.PostData, HasBody: e.PostData != "",
	}
	for _, h := range e.RequestHeaders {
		if strings.HasPrefix(h.Name, ":") {
			continue // HTTP/2 pseudo-headers
		}
		f.Sent = append(f.Sent, h)
	}
	src := map[int]string{}
	for i := range f.Sent {
		src[i] = fmt.Sprintf("HAR entry %d", e.Index)
	}
	f.Creds = findCredentials(f.Sent, u, src)
	f.RequestedHeaders = requestedHeaders(f.Sent)
	ex := &Exchange{Probe: "har", Method: f.Method, URL: u, Sent: f.Sent, CredentialSent: len(f.Creds) > 0, At: e.StartedAt}
	if e.Status > 0 {
		hdr := http.Header{}
		for _, h := range e.RespHeaders {
			hdr.Add(h.Name, h.Value)
		}
		resp := &Response{Status: e.Status, StatusText: e.StatusText, Proto: "", Header: hdr, Body: []byte(e.Body), BodyTruncated: e.Truncated}
		parseChallenges(resp)
		ex.Resp = resp
	} else {
		ex.Err, ex.ErrKind = fmt.Errorf("the browser got no response (status 0)"), ErrProtocol
	}
	hop := &Hop{Ex: ex}
	if ex.Resp != nil && isRedirect(ex.Resp.Status) {
		if loc := ex.Resp.Location(); loc != "" {
			hop.Location = loc
			if next, err := u.Parse(loc); err == nil {
				hop.Next, hop.Change = next, classify(u, next)
				hop.Keeps = nextKeeps(allKeep, u, u, next)
				hop.Follow = "no"
				hop.FollowWhy = "the HAR records each hop as its own entry"
			}
		}
	}
	f.Hops = []*Hop{hop}
	f.Final = ex
	if ex.Resp != nil && ex.CredentialSent {
		f.LastCredentialed = ex
	}
	f.Clock.Local = e.StartedAt
	f.Clock.LocalName = "browser clock (startedDateTime)"
	f.Lint = lintAll(f, nil, "")
	observe(f)
	if f.Clock.Local.IsZero() {
		f.Clock.Local = o.Now()
	}
	f.Token = decodeToken(f)
	return f, nil
}

// evaluateHAR runs the rules over a HAR entry's facts together with the har package's
// findings for it. browserErr is the browser's own error for the entry (net::ERR_FAILED).
func evaluateHAR(f *Facts, external []finding.Finding, browserErr string) []finding.Finding {
	if browserErr != "" && f.Final != nil && f.Final.Resp == nil {
		f.Final.Err = fmt.Errorf("the browser reported %s", escape(browserErr))
	}
	return evaluate(f, external)
}
