package doctor

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/doctor/finding"
)

// check is one named rule: it reads Facts and returns a finding or nil. Checks never do
// I/O and never see a secret they could print unredacted except through the helpers.
type check struct {
	code string
	run  func(*Facts) *finding.Finding
}

// checks lists every rule the doctor runs itself, group by group. Group C (browser, from
// a HAR), D (credential format) and G (sessions, from a HAR) come from lint and har; the
// live CORS rules of group C are here because only the doctor sends P3.
func checks() []check {
	var all []check
	for _, g := range [][]check{
		gatehouseChecks, redirectChecks, intermediaryChecks, corsChecks, deliveryChecks,
		tokenChecks, sessionChecks, transportChecks, notAuthChecks, cloudChecks,
	} {
		all = append(all, g...)
	}
	return all
}

// Scores (finding.Finding.Score) follow the strength of the evidence
// (docs/doctor.md#how-the-verdict-is-chosen): 90-100 proved (the bytes, the TLS
// handshake, the issuer's published keys, a Gatehouse reason, or what the user said the
// API expects show it), 85-89 inferred from the server's own words (an error_description,
// a body phrase), 60-84 circumstantial (what the exchange suggests), 30-59 a contributor.
// rank puts every such evidenced finding (60 and up) above a catch-all.
const (
	scoreProof      = 95
	scoreServerSaid = 89
	scoreStrong     = 80
	scoreLikely     = 65
	// scoreUnknown is credential_rejected_unknown's: above mere contributors, below
	// anything that explains the failure.
	scoreUnknown     = 55
	scoreContributor = 40
	scoreContext     = 20
)

// Outcome summarises the exchange for the verdict.
type Outcome struct {
	// Authenticated: the request got 2xx, or a 3xx that is not a login redirect.
	Authenticated bool
	// BrowserOK: with --origin, a browser could make the request and read the answer.
	BrowserOK bool
	// Reached: some response came back from the server (or its proxy).
	Reached bool
}

// outcome decides whether the request worked.
func (f *Facts) outcome() Outcome {
	var o Outcome
	r := f.finalResp()
	if r == nil {
		return o
	}
	o.Reached = true
	switch {
	case r.Status/100 == 2:
		o.Authenticated = true
	case r.Status/100 == 3:
		o.Authenticated = loginRedirect(f) == nil
	}
	for _, h := range f.Hops {
		if h.Next != nil && isLoginURL(h.Next) {
			o.Authenticated = false
		}
	}
	if last := f.Hops[len(f.Hops)-1]; last.Stop != "" {
		// The walk gave up in a loop or at the hop limit: no client gets an answer either.
		o.Authenticated = false
	}
	if last := f.Hops[len(f.Hops)-1]; last.Next != nil && last.Follow == "no" && last.Change.CrossOrigin() {
		// The walk stopped at a redirect to an origin nobody named: a client that follows
		// it arrives there without the credential, so the request did not succeed.
		o.Authenticated = false
	}
	if netrcRefused(f) {
		// Python requests and httpx send the netrc entry instead, and it is refused.
		o.Authenticated = false
	}
	if challengeNeverComes(f) {
		// The client the user named never sends its credential: it is waiting for a
		// challenge the server does not send, whatever the preemptive request got.
		o.Authenticated = false
	}
	o.BrowserOK = true
	if f.Origin != "" {
		o.BrowserOK = corsProblems(f) == nil
	}
	return o
}

// challengeNeverComes reports that a challenge-driven client (Options.ChallengeFirst)
// got a 401 without any WWW-Authenticate on its first, credential-less request.
func challengeNeverComes(f *Facts) bool {
	x := f.ChallengeProbe
	return x != nil && x.Resp != nil && x.Resp.Status == 401 && len(x.Resp.Header.Values("WWW-Authenticate")) == 0
}

// netrcRefused reports that the request as requests/httpx send it (the netrc entry in
// place of the Authorization header) was refused, while the header as given worked.
func netrcRefused(f *Facts) bool {
	x := f.NetrcProbe
	return x != nil && x.Resp != nil && isAuthFailure(x.Resp.Status)
}

// failed reports whether there is a failure to explain.
func (f *Facts) failed() bool {
	o := f.outcome()
	return !o.Authenticated || !o.BrowserOK
}

// status is the final status, or 0 when nothing came back.
func (f *Facts) status() int {
	if r := f.finalResp(); r != nil {
		return r.Status
	}
	return 0
}

// credStatus is the status of the last credentialed response.
func (f *Facts) credStatus() int {
	if r := f.credResp(); r != nil {
		return r.Status
	}
	return 0
}

// evaluate runs the checks and the external findings, merges duplicates and ranks.
func evaluate(f *Facts, external []finding.Finding) []finding.Finding {
	var all []finding.Finding
	all = append(all, f.EnvLint...)
	all = append(all, f.Lint...)
	all = append(all, external...)
	for _, c := range checks() {
		if fd := c.run(f); fd != nil {
			if fd.Code == "" {
				fd.Code = c.code
			}
			all = append(all, *fd)
		}
	}
	sanitized := f.Offline && containsCode(external, "har_credentials_redacted")
	if sanitized {
		// The export dropped cookies and auth headers: "nothing was sent" may only mean
		// "nothing was recorded".
		for i := range all {
			switch all[i].Code {
			case "credential_missing_or_empty", "session_missing_or_expired", "anonymous_principal_in_403",
				"app_server_drops_authorization", "cdn_or_proxy_drops_authorization":
				all[i].Score /= 2
				all[i].Severity = severityFor(all[i].Score)
				all[i].Evidence = append(all[i].Evidence, "confidence lowered: this HAR was exported without cookies and auth headers")
			case "har_credentials_redacted":
				// What was sent cannot be judged from this export: that is the finding to
				// act on (export again with sensitive data), above the guesses it weakens.
				all[i].Score = max(all[i].Score, scoreLikely)
				all[i].Severity = severityFor(all[i].Score)
			}
		}
	}
	all = merge(all)
	corroborate(f, all)
	demoteSymptoms(all)
	demoteUnseenToken(all)
	failed := f.failed() || (f.Offline && hasError(external))
	if failed && f.outcome().Reached && !sanitized {
		if z := unknownCause(f, all); z != nil {
			all = append(all, *z)
		}
	} else if !failed {
		// A request that worked has no "cause"; what was noticed stays, demoted to
		// warnings, so the report never contradicts its own verdict.
		for i := range all {
			if all[i].Severity == finding.Error {
				all[i].Severity = finding.Warning
			}
		}
	}
	rank(all)
	return all
}

// merge keeps one finding per code: the highest-scoring one, with the evidence lines of
// the others appended (without duplicates).
func merge(in []finding.Finding) []finding.Finding {
	idx := map[string]int{}
	var out []finding.Finding
	for _, fd := range in {
		i, ok := idx[fd.Code]
		if !ok {
			idx[fd.Code] = len(out)
			out = append(out, fd)
			continue
		}
		best, other := out[i], fd
		if other.Score > best.Score {
			best, other = other, best
		}
		for _, e := range other.Evidence {
			if !containsStr(best.Evidence, e) {
				best.Evidence = append(best.Evidence, e)
			}
		}
		out[i] = best
	}
	return out
}

// invalidClientRE is a token endpoint's RFC 6749 answer to client credentials it does
// not accept.
var invalidClientRE = regexp.MustCompile(`"error"\s*:\s*"invalid_client"|error="invalid_client"`)

// corroborate raises a lint finding that the server's answer confirms: the lint judges
// the credential before anything is sent and cannot know what the server made of it.
// OAuth client credentials that a token endpoint form-decodes differently (a '+' in the
// secret), answered with invalid_client, are the server's words for that cause.
func corroborate(f *Facts, all []finding.Finding) {
	r := f.credResp()
	if r == nil || (r.Status != 400 && r.Status != 401) {
		return
	}
	said := invalidClientRE.Match(r.Body)
	for _, v := range r.Header.Values("WWW-Authenticate") {
		said = said || invalidClientRE.MatchString(v)
	}
	if !said {
		return
	}
	for i := range all {
		if all[i].Code == "oauth_client_secret_basic_encoding" && all[i].Score >= scoreContributor {
			all[i].Score = max(all[i].Score, scoreServerSaid-3)
			all[i].Severity = severityFor(all[i].Score)
			all[i].Evidence = append(all[i].Evidence, "the token endpoint answered "+statusLine(r)+" with invalid_client: it did not recognise the client id and secret it decoded")
		}
	}
}

// symptomCauses maps a symptom code to the findings that explain it: "no credential was
// sent" is what a browser's no-cors mode or a cookie its attributes keep home looks like
// from the server, so those causes rank above it.
var symptomCauses = map[string][]string{
	"credential_missing_or_empty": {"fetch_no_cors_mode", "cookie_blocked_by_attributes"},
	"session_missing_or_expired":  {"cookie_blocked_by_attributes"},
}

// demoteSymptoms ranks a symptom just below an evidenced finding that explains it.
func demoteSymptoms(all []finding.Finding) {
	for i := range all {
		causes := symptomCauses[all[i].Code]
		for _, c := range all {
			if !containsStr(causes, c.Code) || c.Score < minEvidenced || all[i].Score < c.Score {
				continue
			}
			all[i].Score = c.Score - 1
			all[i].Severity = severityFor(all[i].Score)
			all[i].Evidence = append(all[i].Evidence, "ranked below "+c.Code+", which explains why: this is its symptom")
		}
	}
}

// deliveryCodes are findings that say the server never received the credential.
var deliveryCodes = map[string]bool{
	"app_server_drops_authorization": true, "cdn_or_proxy_drops_authorization": true,
	"underscore_header_dropped": true, "api_key_wrong_place": true, "anonymous_principal_in_403": true,
	"redirect_cross_origin_auth_dropped": true, "credential_missing_or_empty": true,
}

// tokenContentCodes are findings about what is inside the token, judged locally.
var tokenContentCodes = map[string]bool{
	"jwt_expired": true, "jwt_not_yet_valid_clock_skew": true, "jwt_audience_mismatch": true,
	"jwt_issuer_or_tenant_mismatch": true, "jwt_signing_key_unknown": true, "jwt_alg_mismatch": true,
	"id_token_instead_of_access_token": true, "opaque_token_where_jwt_expected": true,
	"access_token_where_id_token_expected": true,
}

// demoteUnseenToken ranks "the server never got the credential" above what is wrong
// inside the credential: the token's content cannot be why a server that never saw it
// refused, though it will matter once the token arrives.
func demoteUnseenToken(all []finding.Finding) {
	best := 0
	for _, f := range all {
		if deliveryCodes[f.Code] && f.Score >= scoreStrong && f.Score > best {
			best = f.Score
		}
	}
	if best == 0 {
		return
	}
	for i := range all {
		if tokenContentCodes[all[i].Code] && all[i].Score >= best {
			all[i].Score = best - 5
			all[i].Evidence = append(all[i].Evidence, "ranked below the delivery problem: the server never received the token, so this matters only once it arrives")
		}
	}
}

func hasError(fs []finding.Finding) bool {
	for _, f := range fs {
		if f.Severity == finding.Error {
			return true
		}
	}
	return false
}

var severityRank = map[finding.Severity]int{finding.Error: 3, finding.Warning: 2, finding.Info: 1}

// catchAllCodes name no specific cause: "the credential was refused" without saying
// why. A catch-all never outranks a specific, evidenced finding, except when the server
// stated it with authority (a Gatehouse reason such as token_revoked maps to
// credential_rejected_unknown with a score above scoreProof): the revocation is then the
// cause, and what the doctor guesses beside it is not.
var catchAllCodes = map[string]bool{"credential_rejected_unknown": true}

// isCatchAll reports whether a finding is a catch-all for ranking.
func isCatchAll(f finding.Finding) bool { return catchAllCodes[f.Code] && f.Score <= scoreProof }

// minEvidenced is the lowest score of a finding that explains the failure on its own.
const minEvidenced = 60

// rankClass orders findings before their scores: 2 a specific cause with evidence, 1 a
// catch-all, 0 a contributor or context.
func rankClass(f finding.Finding) int {
	switch {
	case isCatchAll(f):
		return 1
	case f.Score >= minEvidenced:
		return 2
	}
	return 0
}

// rank orders findings: class (specific and evidenced, catch-all, contributor), score,
// severity, then code, so the order is stable.
func rank(fs []finding.Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		if ci, cj := rankClass(fs[i]), rankClass(fs[j]); ci != cj {
			return ci > cj
		}
		if fs[i].Score != fs[j].Score {
			return fs[i].Score > fs[j].Score
		}
		if severityRank[fs[i].Severity] != severityRank[fs[j].Severity] {
			return severityRank[fs[i].Severity] > severityRank[fs[j].Severity]
		}
		return fs[i].Code < fs[j].Code
	})
}

// verdict is "ok" when the request worked, else the top finding's code.
func verdict(f *Facts, ranked []finding.Finding) string {
	if !f.failed() {
		return "ok"
	}
	if len(ranked) == 0 {
		return "credential_rejected_unknown"
	}
	return ranked[0].Code
}

// --- helpers for writing findings ---

// severityFor maps a score to a severity.
func severityFor(score int) finding.Severity {
	switch {
	case score >= 60:
		return finding.Error
	case score >= 30:
		return finding.Warning
	}
	return finding.Info
}

func newFinding(code string, score int, summary, fix string, evidence ...string) *finding.Finding {
	return &finding.Finding{
		Code:     code,
		Severity: severityFor(score),
		Summary:  summary,
		Evidence: evidence,
		Fix:      fix,
		Score:    score,
	}
}

// statusLine renders "401 Unauthorized".
func statusLine(r *Response) string {
	if r == nil {
		return "no response"
	}
	t := r.StatusText
	if t == "" {
		t = httpStatusText(r.Status)
	}
	return strings.TrimSpace(fmt.Sprintf("%d %s", r.Status, escape(t)))
}

// challengeLine renders the parsed challenges of a response, or the raw fields when they
// did not parse.
func challengeLine(r *Response) string {
	if r == nil {
		return ""
	}
	if r.ChallengeErr != nil {
		return "WWW-Authenticate (unparseable): " + clip(escape(toUTF8(strings.Join(r.Header.Values("WWW-Authenticate"), " | "))), 200)
	}
	if len(r.Challenges) == 0 {
		return "no WWW-Authenticate"
	}
	parts := make([]string, 0, len(r.Challenges))
	for _, c := range r.Challenges {
		parts = append(parts, escape(toUTF8(c.String())))
	}
	return "WWW-Authenticate: " + clip(strings.Join(parts, " | "), 300)
}

// fmtTime renders an instant in UTC to the second.
func fmtTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// fmtDur renders a duration for people: "42s", "14m", "14m5s", "3h", "3h2m", "2d4h".
func fmtDur(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	d = d.Round(time.Second)
	days, hours := int(d/(24*time.Hour)), int(d/time.Hour)%24
	mins, secs := int(d/time.Minute)%60, int(d/time.Second)%60
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%dd", days) + cond(hours > 0, fmt.Sprintf("%dh", hours), "")
	case d >= time.Hour:
		return fmt.Sprintf("%dh", days*24+hours) + cond(mins > 0, fmt.Sprintf("%dm", mins), "")
	case d >= time.Minute:
		return fmt.Sprintf("%dm", mins) + cond(secs > 0, fmt.Sprintf("%ds", secs), "")
	}
	return fmt.Sprintf("%ds", secs)
}

// clockLine states both clocks and their difference.
func clockLine(c ClockFacts) string {
	if !c.HaveServer {
		return c.localName() + " " + fmtTime(c.Local) + " (the server sent no Date header)"
	}
	skew := c.Skew
	rel := "agrees with the server within 1s"
	switch {
	case skew >= time.Second:
		rel = fmtDur(skew) + " behind the server"
	case skew <= -time.Second:
		rel = fmtDur(skew) + " ahead of the server"
	}
	return "server Date " + fmtTime(c.Server) + ", " + c.localName() + " " + fmtTime(c.Local) + " (" + rel + ")"
}

// hopTable renders the redirect walk, one line per hop, with the client matrix.
func hopTable(f *Facts) []string {
	var out []string
	for i, h := range f.Hops {
		line := fmt.Sprintf("hop %d: %s %s", i+1, h.Ex.Method, redactURL(h.Ex.URL))
		if h.Ex.Resp != nil {
			line += " → " + statusLine(h.Ex.Resp)
		} else if h.Ex.Err != nil {
			line += " → error: " + h.Ex.Err.Error()
		}
		if h.Next != nil {
			line += " " + redactURL(h.Next)
			if h.Change != SameOrigin {
				line += " (" + string(h.Change) + ")"
			}
		}
		if h.Ex.CredentialSent {
			line += " [credential sent]"
		} else if len(f.Creds) > 0 {
			line += " [sent without credential]"
		}
		out = append(out, line)
		if h.Next != nil && h.Change != SameOrigin {
			out = append(out, fmt.Sprintf("  clients on this redirect: Go %s, curl %s, Python requests %s, browsers %s",
				keepWord(h.Keeps.Go), keepWord(h.Keeps.Curl), keepWord(h.Keeps.Requests), keepWord(h.Keeps.Browser)))
		}
		if h.Follow == "no" && h.FollowWhy != "" {
			out = append(out, "  not followed: "+h.FollowWhy)
		}
	}
	return out
}

// sentCredentialLine shows the primary credential as sent, redacted.
func sentCredentialLine(f *Facts) string {
	c := f.primary()
	if c == nil {
		return "no credential in the request"
	}
	if c.QueryParam != "" {
		return "query parameter " + escape(c.QueryParam) + "=" + redact(c.Value) + " (from " + c.Source + ")"
	}
	return escape(c.HeaderName) + ": " + redactHeaderValue(c.HeaderName, c.Value) + " (from " + c.Source + ")"
}

// sameAnswer compares P1 and P2: status, challenges and body with per-request noise
// (ids, timestamps) removed.
func sameAnswer(a, b *Response) bool {
	if a == nil || b == nil || a.Status != b.Status {
		return false
	}
	if challengeLine(a) != challengeLine(b) {
		return false
	}
	return normalizeBody(a.Body) == normalizeBody(b.Body)
}

func normalizeBody(b []byte) string {
	return noiseRE.ReplaceAllString(string(b), "#")
}

// serverSaysNotProvided reports that the credentialed response says no credential
// arrived, though one was sent.
func (f *Facts) serverSaysNotProvided() bool {
	return len(f.Creds) > 0 && f.LastCredentialed != nil && len(f.hits(sigNotProvided, "response")) > 0
}

// controlMatches reports that the credential made no difference to the answer.
func (f *Facts) controlMatches() bool {
	return f.Anon != nil && f.LastCredentialed != nil && sameAnswer(f.LastCredentialed.Resp, f.Anon.Resp)
}

// controlLines renders P1 next to P2.
func controlLines(f *Facts) []string {
	if f.Anon == nil || f.LastCredentialed == nil {
		return nil
	}
	a, b := f.LastCredentialed.Resp, f.Anon.Resp
	out := []string{
		"with the credential:    " + statusLine(a) + "; " + challengeLine(a) + "; body " + bodySummary(a),
		"without the credential: " + statusLine(b) + "; " + challengeLine(b) + "; body " + bodySummary(b),
	}
	if sameAnswer(a, b) {
		out = append(out, "the two answers are identical: the application never saw your credential, or treats every failure alike")
	}
	return out
}

// bodySummary shows the start of a body, escaped.
func bodySummary(r *Response) string {
	if r == nil {
		return ""
	}
	if len(r.Body) == 0 {
		return "(empty)"
	}
	s := strings.Join(strings.Fields(toUTF8(string(r.Body))), " ")
	return fmt.Sprintf("%q", clip(s, 100))
}

// has reports whether the response carries a challenge with this scheme.
func hasScheme(r *Response, scheme string) bool {
	if r == nil {
		return false
	}
	for _, c := range r.Challenges {
		if strings.EqualFold(c.Scheme, scheme) {
			return true
		}
	}
	return false
}

// bearerParam returns a parameter of the first Bearer challenge.
func bearerParam(r *Response, name string) (string, bool) {
	if r == nil {
		return "", false
	}
	for _, c := range r.Challenges {
		if strings.EqualFold(c.Scheme, "Bearer") {
			return c.Param(name)
		}
	}
	return "", false
}

func hitEvidence(hs []FingerprintHit) []string {
	var out []string
	for _, h := range hs {
		out = append(out, h.evidence())
	}
	return out
}

// noiseRE matches per-request noise in bodies (UUIDs, long ids with digits, timestamps)
// so that two answers can be compared for what they say.
var noiseRE = regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|\d{4}-\d\d-\d\dT[0-9:.]+(Z|[+-]\d\d:?\d\d)?|[A-Za-z0-9_-]*[0-9][A-Za-z0-9_-]*[A-Za-z][A-Za-z0-9_-]*|[A-Za-z0-9_-]*[A-Za-z][A-Za-z0-9_-]*[0-9][A-Za-z0-9_-]*`)
