//go:build !doctornohar

package doctor

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/doctor/har"
)

// maxHARBytes bounds what AnalyzeHAR reads from a HAR file.
const maxHARBytes = 256 << 20

// AnalyzeHAR reads a browser HAR export (streamed and bounded by the har package) and
// reports on every failing entry with the same rules as a live probe plus the HAR-only
// rules of internal/doctor/har. Nothing is sent over the network. The error is for a HAR
// that cannot be read (not JSON, too large); it wraps ErrUsage.
func AnalyzeHAR(ctx context.Context, r io.Reader, o Options) (*HARReport, error) {
	opts := o.withDefaults()
	l, err := har.Read(r, maxHARBytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUsage, err)
	}
	out := &HARReport{Entries: []HAREntryReport{}, Verdict: VerdictOK, Creator: l.Creator, Total: len(l.Entries), secrets: harSecrets(l)}
	analyzer := har.NewAnalyzer(l) // Failing lists entries in order, so one pass serves all
	for _, i := range har.Failing(l) {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		e := l.Entries[i]
		he := harEntry{
			Index: e.Index, StartedAt: e.StartedAt, Method: e.Method, URL: e.URL,
			Status: e.Status, StatusText: e.StatusText, Body: e.BodyPrefix,
			PostData: e.PostDataPrefix, Truncated: e.Truncated,
		}
		for _, h := range e.RequestHeaders {
			he.RequestHeaders = append(he.RequestHeaders, Header{Name: h.Name, Value: h.Value})
		}
		for _, h := range e.ResponseHeaders {
			he.RespHeaders = append(he.RespHeaders, Header{Name: h.Name, Value: h.Value})
		}
		f, err := factsFromHAR(he, l.Creator, opts)
		if err != nil {
			continue
		}
		rep := buildReport(f, evaluateHAR(f, analyzer.Analyze(i), e.Error))
		rep.secrets = out.secrets
		rep.Verdict = verdict(f, rep.Findings)
		if rep.Verdict == VerdictOK && len(rep.Findings) > 0 {
			// The har package judged a failure (a CORS error on a 200, say).
			rep.Verdict = rep.Findings[0].Code
		}
		if rep.Response != nil && rep.Response.Status == 0 {
			rep.Response = nil
		}
		out.Entries = append(out.Entries, HAREntryReport{Index: e.Index, URL: redactRawURL(e.URL), Report: rep})
	}
	if len(out.Entries) > 0 {
		out.Verdict = out.Entries[0].Verdict
	}
	return out, nil
}

// harSecrets collects the credentials of every entry of the log: request headers that
// carry one, credential-looking query and form parameters, and the cookies responses set.
func harSecrets(l *har.Log) *secrets {
	s := &secrets{}
	for i := range l.Entries {
		e := &l.Entries[i]
		for _, h := range e.RequestHeaders {
			s.addHeader(h.Name, h.Value)
		}
		for _, h := range e.ResponseHeaders {
			if strings.EqualFold(h.Name, "Set-Cookie") {
				for _, line := range strings.Split(h.Value, "\n") {
					s.addHeader("Set-Cookie", line)
				}
			}
		}
		if u, err := url.Parse(e.URL); err == nil {
			s.addURL(u)
		}
		if e.PostDataPrefix != "" {
			s.addQuery(e.PostDataPrefix)
		}
	}
	return s
}
