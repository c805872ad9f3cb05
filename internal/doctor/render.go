package doctor

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/doctor/finding"
	"github.com/gatehouse-dev/gatehouse/internal/tokens"
)

// palette colours the terminal report; the zero value prints plain text.
type palette struct{ on bool }

func (p palette) wrap(code, s string) string {
	if !p.on {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}
func (p palette) bold(s string) string   { return p.wrap("1", s) }
func (p palette) red(s string) string    { return p.wrap("1;31", s) }
func (p palette) green(s string) string  { return p.wrap("1;32", s) }
func (p palette) yellow(s string) string { return p.wrap("33", s) }
func (p palette) dim(s string) string    { return p.wrap("2", s) }

// WriteText writes the terminal report: the verdict first, then its evidence and fix,
// then the request, redirects, response, credential and every finding. color adds ANSI
// colours (the caller decides: a TTY, and NO_COLOR unset).
func (r *Report) WriteText(w io.Writer, color bool) error {
	_, err := io.WriteString(w, r.secrets.scrub(r.text(color)))
	return err
}

// text renders the terminal report before scrubbing.
func (r *Report) text(color bool) string {
	p := palette{on: color}
	var b strings.Builder
	top := r.topFinding()
	switch {
	case r.Verdict == VerdictOK:
		fmt.Fprintf(&b, "%s\n", p.green("✓ verdict: ok"))
		fmt.Fprintf(&b, "  %s\n", okSummary(r))
	case r.Verdict == VerdictUnreachable:
		fmt.Fprintf(&b, "%s\n", p.red("✗ verdict: unreachable"))
		fmt.Fprintf(&b, "  %s\n", r.Unreachable)
	default:
		fmt.Fprintf(&b, "%s\n", p.red("✗ verdict: "+r.Verdict))
		if top != nil {
			fmt.Fprintf(&b, "  %s\n", top.Summary)
			if len(top.Evidence) > 0 {
				fmt.Fprintf(&b, "\n%s\n", p.bold("Evidence"))
				for _, e := range top.Evidence {
					writeItem(&b, "  ", e)
				}
			}
			if top.Fix != "" {
				fmt.Fprintf(&b, "\n%s\n", p.bold("Fix"))
				writeWrapped(&b, "  ", top.Fix)
			}
		}
	}

	f := r.Facts
	fmt.Fprintf(&b, "\n%s\n", p.bold("Request"))
	fmt.Fprintf(&b, "  %s %s\n", r.Request.Method, r.Request.URL)
	for _, h := range r.Request.Headers {
		fmt.Fprintf(&b, "  %s: %s\n", h.Name, h.Value)
	}
	if r.Request.BodyBytes > 0 {
		fmt.Fprintf(&b, "  %s\n", p.dim(fmt.Sprintf("(body: %d bytes)", r.Request.BodyBytes)))
	}

	if f != nil && (len(f.Hops) > 1 || (len(f.Hops) == 1 && f.Hops[0].Location != "")) {
		fmt.Fprintf(&b, "\n%s\n", p.bold("Redirects"))
		for _, line := range hopTable(f) {
			fmt.Fprintf(&b, "  %s\n", line)
		}
	}

	if f != nil {
		if resp := f.finalResp(); resp != nil {
			fmt.Fprintf(&b, "\n%s\n", p.bold("Response"))
			fmt.Fprintf(&b, "  %s\n", strings.TrimSpace(resp.Proto+" "+statusLine(resp)))
			writeResponseDetail(&b, resp)
		}
		if f.Anon != nil && f.Anon.Resp != nil {
			fmt.Fprintf(&b, "  %s\n", p.dim("anonymous control (same request, no credential): "+statusLine(f.Anon.Resp)+"; "+challengeLine(f.Anon.Resp)))
		}
		if f.Preflight != nil && f.Preflight.Resp != nil {
			fmt.Fprintf(&b, "  %s\n", p.dim("CORS preflight from "+f.Origin+": "+statusLine(f.Preflight.Resp)))
		}
		if f.Compare != nil {
			fmt.Fprintf(&b, "  %s\n", p.dim(compareLine(f)))
		}
		if f.Clock.HaveServer {
			fmt.Fprintf(&b, "  %s\n", p.dim(clockLine(f.Clock)))
		}
	}

	if c := r.Credential; c != nil {
		fmt.Fprintf(&b, "\n%s\n", p.bold("Credential"))
		where := c.Header
		if c.Query != "" {
			where = "query parameter " + c.Query
		}
		fmt.Fprintf(&b, "  %s in %s (from %s): %s\n", c.Kind, where, c.Source, c.Value)
		if c.Basic != nil {
			fmt.Fprintf(&b, "  user %q, password %s\n", c.Basic.User, c.Basic.Password)
		}
		if c.JWT != nil {
			fmt.Fprintf(&b, "  header  %s\n", compactJSON(c.JWT.Header))
			writeClaims(&b, c.JWT.Claims)
		} else if f != nil && f.Token != nil && f.Token.Err != nil && c.Kind != "api_key" {
			fmt.Fprintf(&b, "  %s\n", p.dim("not decoded: "+tokenShape(f.Token)))
		}
	}

	others := r.Findings
	if top != nil && len(others) > 0 && others[0].Code == top.Code {
		others = others[1:]
	}
	if len(others) > 0 {
		title := "Also noticed"
		if r.Verdict == VerdictOK {
			title = "Noticed"
		}
		fmt.Fprintf(&b, "\n%s\n", p.bold(title))
		for i, fd := range others {
			fmt.Fprintf(&b, "  %d. %s (%s) %s\n", i+1, p.yellow(fd.Code), fd.Severity, fd.Summary)
			for _, e := range fd.Evidence {
				writeItem(&b, "       ", e)
			}
			if fd.Fix != "" {
				writeWrapped(&b, "     fix: ", fd.Fix)
			}
		}
	}
	return b.String()
}

func (r *Report) topFinding() *finding.Finding {
	if r.Verdict == VerdictOK || r.Verdict == VerdictUnreachable || len(r.Findings) == 0 {
		return nil
	}
	if r.Findings[0].Code == r.Verdict {
		return &r.Findings[0]
	}
	return nil
}

func okSummary(r *Report) string {
	f := r.Facts
	if f == nil || f.finalResp() == nil {
		return "The request was authenticated."
	}
	s := "The request was authenticated: " + statusLine(f.finalResp()) + "."
	if f.Origin != "" {
		s += " A page on " + f.Origin + " can make it and read the answer."
	}
	return s
}

// writeItem writes one evidence line as a bullet, continuation lines indented.
func writeItem(b *strings.Builder, indent, s string) {
	if strings.HasPrefix(s, "  ") {
		fmt.Fprintf(b, "%s  %s\n", indent, strings.TrimLeft(s, " "))
		return
	}
	fmt.Fprintf(b, "%s• %s\n", indent, s)
}

// writeWrapped writes text wrapped at about 100 columns.
func writeWrapped(b *strings.Builder, first string, text string) {
	indent := strings.Repeat(" ", len([]rune(first)))
	line := first
	width := len([]rune(first))
	for _, word := range strings.Fields(text) {
		if width > len([]rune(first)) && width+1+len([]rune(word)) > 100 {
			b.WriteString(strings.TrimRight(line, " ") + "\n")
			line, width = indent, len(indent)
		}
		if width > len([]rune(line)) || strings.HasSuffix(line, " ") || line == "" {
			line += word
		} else {
			line += " " + word
			width++
		}
		width += len([]rune(word))
	}
	b.WriteString(line + "\n")
}

// secretJSONRE hides token-like values a body might carry.
var secretJSONRE = regexp.MustCompile(`(?i)("(access_token|refresh_token|id_token|client_secret|password|secret|token|api_key|apikey|key)"\s*:\s*")([^"]*)(")`)

func writeResponseDetail(b *strings.Builder, r *Response) {
	for _, name := range sortedHeaderNames(r.Header) {
		switch strings.ToLower(name) {
		case "www-authenticate", "proxy-authenticate", "location", "content-type", "server", "via",
			"x-request-id", "retry-after", "access-control-allow-origin", "access-control-allow-headers",
			"access-control-allow-methods", "access-control-allow-credentials", "access-control-expose-headers",
			"x-ratelimit-remaining", "x-ratelimit-reset", "x-powered-by", "cf-ray", "x-amz-cf-id", "x-cache",
			"x-oauth-scopes", "x-accepted-oauth-scopes", "set-cookie", "connection", "date":
			for _, v := range r.Header[name] {
				fmt.Fprintf(b, "  %s: %s\n", name, clip(escape(redactResponseHeader(name, v)), 300))
			}
		}
	}
	if len(r.Challenges) > 0 {
		for i, c := range r.Challenges {
			fmt.Fprintf(b, "  challenge %d: %s", i+1, escape(toUTF8(c.Scheme)))
			if c.Token68 != "" {
				fmt.Fprintf(b, " token68 %s", escape(toUTF8(c.Token68)))
			}
			for _, prm := range c.Params {
				fmt.Fprintf(b, " %s=%q", escape(toUTF8(prm.Name)), toUTF8(prm.Value))
			}
			b.WriteString("\n")
		}
	}
	if r.ChallengeErr != nil {
		fmt.Fprintf(b, "  challenges: unparseable (%s)\n", r.ChallengeErr.Error())
	}
	if r.Status/100 != 2 && len(r.Body) > 0 {
		body := secretJSONRE.ReplaceAllStringFunc(toUTF8(string(r.Body)), func(m string) string {
			sm := secretJSONRE.FindStringSubmatch(m)
			return sm[1] + markFor(sm[3]) + sm[4]
		})
		s := strings.Join(strings.Fields(body), " ")
		fmt.Fprintf(b, "  body: %s%s\n", clip(escape(s), 240), cond(r.BodyTruncated, " (truncated: only the first part was read)", ""))
	} else if r.BodyTruncated {
		fmt.Fprintf(b, "  body: larger than the read limit; only the first part was read\n")
	}
}

func compactJSON(v any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "(unprintable)"
	}
	return escape(strings.TrimSpace(buf.String()))
}

func writeClaims(b *strings.Builder, claims map[string]any) {
	keys := make([]string, 0, len(claims))
	for k := range claims {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := compactJSON(claims[k])
		switch k {
		case "exp", "nbf", "iat", "auth_time":
			if t, ok := tokens.NumericDate(claims[k]); ok {
				v += " (" + fmtTime(t) + ")"
			}
		}
		fmt.Fprintf(b, "  %-7s %s\n", escape(k), clip(v, 200))
	}
}
