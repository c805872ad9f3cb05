package har

import (
	"container/list"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/challenge"
	"github.com/gatehouse-dev/gatehouse/internal/doctor/finding"
	"github.com/gatehouse-dev/gatehouse/internal/doctor/lint"
)

// lookBack bounds how far Analyze searches earlier entries for a matching preflight.
const (
	lookBackEntries = 50
	lookBackTime    = 2 * time.Minute
)

// Failing returns the indexes of the entries worth a report: answers 401, 403 or 407;
// requests that got no response (status 0) with an error other than net::ERR_ABORTED
// (which only means the page cancelled them), or a scripted cross-origin status 0 without
// one (how Firefox records a CORS failure); scripted cross-origin responses the browser
// hid from the page because Access-Control-Allow-Origin did not admit it; and failed
// CORS preflights, unless the request they guarded appears right after them (the report
// is then about that request).
func Failing(l *Log) []int {
	var out []int
	for i := range l.Entries {
		e := &l.Entries[i]
		switch {
		case e.isPreflight():
			if preflightFails(e) && !guardedRequestFollows(l, i) {
				out = append(out, i)
			}
		case e.Status == 401 || e.Status == 403 || e.Status == 407:
			out = append(out, i)
		case e.Status == 0:
			if (e.Error != "" && !strings.Contains(e.Error, "ERR_ABORTED")) || (e.Error == "" && e.isScripted() && e.crossOrigin()) {
				out = append(out, i)
			}
		case e.isScripted() && e.crossOrigin() && !acaoAdmits(e):
			out = append(out, i)
		}
	}
	return out
}

func preflightFails(e *Entry) bool {
	method, _ := e.RequestHeader("Access-Control-Request-Method")
	hs, _ := e.RequestHeader("Access-Control-Request-Headers")
	return len(EvaluatePreflight(e.requestOrigin(), method, strings.Split(hs, ","), e.Status, e.ResponseHeaders)) > 0
}

func guardedRequestFollows(l *Log, i int) bool {
	p := &l.Entries[i]
	for j := i + 1; j < len(l.Entries) && j <= i+lookBackEntries; j++ {
		if e := &l.Entries[j]; sameURL(e.URL, p.URL) && !e.isPreflight() {
			return true
		}
	}
	return false
}

// acaoAdmits reports whether the actual response's Access-Control-Allow-Origin lets the
// page read it.
func acaoAdmits(e *Entry) bool {
	acao, ok := e.ResponseHeader("Access-Control-Allow-Origin")
	if !ok {
		return false
	}
	acao = strings.TrimSpace(acao)
	if acao == "*" {
		return len(sentCookies(e)) == 0
	}
	return strings.EqualFold(strings.TrimRight(acao, "/"), e.requestOrigin())
}

func sameURL(a, b string) bool {
	strip := func(s string) string {
		s, _, _ = strings.Cut(s, "#")
		return s
	}
	return strip(a) == strip(b)
}

// credentialHeaders are headers that carry credentials, checked for a sanitised export.
var credentialHeaders = []string{"Authorization", "Cookie", "Set-Cookie", "Proxy-Authorization"}

// keyHeaderName matches custom credential header names (X-API-Key, Api-Key, X-Auth-Token).
var keyHeaderName = regexp.MustCompile(`(?i)^(x-)?(api[-_]?key|apikey|auth[-_]?token|access[-_]?token|x-token|token|app[-_]?key|subscription[-_]?key|ocp-apim-subscription-key)$`)

// Sanitized reports whether the HAR looks exported without credentials: Chrome (creator
// WebInspector) and Edge remove Cookie, Set-Cookie and Authorization by default, so a
// Chrome export in which no entry carries any of them, although the app evidently
// authenticates (a login-like URL, a 401/403, or a POST), was almost certainly sanitised.
// Findings about a missing credential are then unreliable; Analyze lowers their scores
// and adds har_credentials_redacted.
func Sanitized(l *Log) bool {
	return NewAnalyzer(l).sanitized
}

func (z *Analyzer) isSanitized() bool {
	l := z.l
	c := strings.ToLower(l.Creator)
	if !strings.Contains(c, "webinspector") && !strings.Contains(c, "chrome") && !strings.Contains(c, "edge") {
		return false
	}
	logsIn := false
	for i := range l.Entries {
		e := &l.Entries[i]
		for _, h := range credentialHeaders {
			if _, ok := headerValue(e.RequestHeaders, h); ok {
				return false
			}
			if _, ok := headerValue(e.ResponseHeaders, h); ok {
				return false
			}
		}
		if u := z.urls[i]; u != nil && loginURL.MatchString(u.Path) {
			logsIn = true
		} else if u == nil {
			if u, err := parseURL(e.URL); err == nil && loginURL.MatchString(u.Path) {
				logsIn = true
			}
		}
		if e.Status == 401 || e.Status == 403 || strings.EqualFold(e.Method, "POST") {
			logsIn = true
		}
	}
	return logsIn
}

// Sanitize redacts, in place, every credential the log holds so that it can be shown or
// stored: Authorization-like and key headers become lint.Redact forms, cookie values are
// replaced by their length (names and attributes are kept), credential-looking query
// parameters are redacted, request bodies are dropped and token fields in response
// bodies are redacted. Run Analyze first: it needs the real values.
func Sanitize(l *Log) {
	for i := range l.Entries {
		e := &l.Entries[i]
		sanitizeHeaders(e.RequestHeaders)
		sanitizeHeaders(e.ResponseHeaders)
		e.URL = sanitizeURL(e.URL)
		e.PostDataPrefix = ""
		e.BodyPrefix = bodySecret.ReplaceAllStringFunc(e.BodyPrefix, func(m string) string {
			sub := bodySecret.FindStringSubmatch(m)
			return fmt.Sprintf(`"%s":"%s"`, sub[1], lint.Redact(sub[2]))
		})
	}
}

var bodySecret = regexp.MustCompile(`"((?i:access_token|refresh_token|id_token|token|password|secret|client_secret|api_key|apikey|key|session|csrf_token))"\s*:\s*"([^"]*)"`)

var secretParam = regexp.MustCompile(`(?i)^(access_token|id_token|refresh_token|token|key|api_key|apikey|code|password|secret|client_secret|sig|signature|x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature|session|sessionid)$`)

func sanitizeHeaders(hs []Header) {
	for j := range hs {
		h := &hs[j]
		switch strings.ToLower(h.Name) {
		case "cookie":
			h.Value = redactCookies(h.Value, ";", false)
		case "set-cookie":
			h.Value = redactCookies(h.Value, "\n", true)
		case "authorization", "proxy-authorization":
			scheme, rest, ok := strings.Cut(h.Value, " ")
			if ok {
				h.Value = scheme + " " + lint.Redact(rest)
			} else {
				h.Value = lint.Redact(h.Value)
			}
		default:
			if keyHeaderName.MatchString(h.Name) || strings.Contains(strings.ToLower(h.Name), "csrf") || strings.Contains(strings.ToLower(h.Name), "xsrf") {
				h.Value = lint.Redact(h.Value)
			}
		}
	}
}

// redactCookies replaces each cookie value by its length. In a Set-Cookie line only the
// first pair is the cookie; the rest are attributes and are kept.
func redactCookies(v, sep string, setCookie bool) string {
	parts := strings.Split(v, sep)
	for i, p := range parts {
		if setCookie {
			first, attrs, _ := strings.Cut(p, ";")
			name, val, ok := strings.Cut(first, "=")
			if ok {
				parts[i] = fmt.Sprintf("%s=<%d bytes>", name, len(val))
				if attrs != "" {
					parts[i] += ";" + attrs
				}
			}
			continue
		}
		name, val, ok := strings.Cut(p, "=")
		if ok {
			parts[i] = fmt.Sprintf("%s=<%d bytes>", name, len(val))
		}
	}
	return strings.Join(parts, sep)
}

func sanitizeURL(raw string) string {
	u, err := parseURL(raw)
	if err != nil {
		return raw
	}
	if u.User != nil {
		u.User = url.User("***")
	}
	if u.RawQuery == "" {
		return u.String()
	}
	q := u.Query()
	changed := false
	for k, vs := range q {
		if secretParam.MatchString(k) {
			for i := range vs {
				vs[i] = lint.Redact(vs[i])
			}
			changed = true
		}
	}
	if changed {
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// missingCredentialCodes are the findings whose evidence is "a credential was absent",
// which a sanitised export makes unreliable.
var missingCredentialCodes = map[string]bool{
	lint.CodeMissingOrEmpty:      true,
	CodeSessionMissingOrExpired:  true,
	CodeCredentialsMisconfigured: true,
	CodeCookieBlocked:            true,
	CodeCSRFTokenMissing:         true,
	CodeNoCORSMode:               true,
}

// Analyze diagnoses entry i of l; see Analyzer.Analyze. To analyse several entries of one
// log, use one Analyzer: Analyze alone costs a pass over the whole log each time.
func Analyze(l *Log, i int) []finding.Finding {
	return NewAnalyzer(l).Analyze(i)
}

// Analyzer diagnoses the entries of one log. It reads each entry's URL once, and keeps
// what the entries before the one analysed showed (the cookies set, per site; per host
// the last request that carried a session cookie and the last safe request that
// succeeded with cookies), moving forward through the log as it is asked about later
// entries. Analysing every failing entry of a log in order therefore costs time linear
// in the log's length, where rescanning the earlier entries for each failing one was
// quadratic (a 20,000-entry HAR took minutes). An Analyzer is not safe for concurrent
// use.
type Analyzer struct {
	l         *Log
	sanitized bool
	// urls and hosts are each entry's parsed URL (nil when it does not parse or has no
	// host) and lower-case host name.
	urls  []*url.URL
	hosts []string

	// next is the first entry not yet absorbed into the state below.
	next int
	// jars holds, per site, the cookies that earlier responses set and that could carry
	// a login (see storedCookie.authish), the newest last; firstSeen orders cookie names
	// by their first Set-Cookie, as findings list them.
	jars      map[string]*siteJar
	firstSeen map[string]int
	// lastSession and lastSafeGet are, per host, the last earlier entry that sent a
	// session cookie (and its name) and the last earlier GET answered 2xx with cookies.
	lastSession map[string]sessionSeen
	lastSafeGet map[string]int
}

type sessionSeen struct {
	entry int
	name  string
}

// siteJar is the cookies of one site, by name, in the order they were last set.
type siteJar struct {
	byName map[string]*list.Element // of storedCookie
	recent *list.List
}

// maxCookiesConsidered bounds the stored cookies Analyze weighs for one entry: the most
// recently set ones. A real site sets a handful; a hostile HAR setting thousands of
// names must not make each entry's analysis as long as the log.
const maxCookiesConsidered = 32

// NewAnalyzer prepares the analysis of l: one pass that parses each URL and decides
// whether the export was sanitised (see Sanitized).
func NewAnalyzer(l *Log) *Analyzer {
	z := &Analyzer{l: l}
	if l == nil {
		return z
	}
	z.urls = make([]*url.URL, len(l.Entries))
	z.hosts = make([]string, len(l.Entries))
	for i := range l.Entries {
		if u, err := parseURL(l.Entries[i].URL); err == nil {
			z.hosts[i] = strings.ToLower(u.Hostname())
			if u.Host != "" {
				z.urls[i] = u
			}
		}
	}
	z.sanitized = z.isSanitized()
	z.reset()
	return z
}

func (z *Analyzer) reset() {
	z.next = 0
	z.jars = map[string]*siteJar{}
	z.firstSeen = map[string]int{}
	z.lastSession = map[string]sessionSeen{}
	z.lastSafeGet = map[string]int{}
}

// advance absorbs the entries before i. Asked about an earlier entry than the last, it
// starts over from the beginning.
func (z *Analyzer) advance(i int) {
	if i < z.next {
		z.reset()
	}
	for ; z.next < i; z.next++ {
		z.absorb(z.next)
	}
}

// absorb adds entry j to the state: the cookies its response set, the session cookie it
// sent, and whether it was a safe request that succeeded with cookies.
func (z *Analyzer) absorb(j int) {
	e := &z.l.Entries[j]
	host := z.hosts[j]
	for _, name := range sentCookieNames(e) {
		if isSessionName(name) {
			z.lastSession[host] = sessionSeen{entry: j, name: name}
			break
		}
	}
	if strings.EqualFold(e.Method, "GET") && e.Status >= 200 && e.Status < 300 && len(sentCookieNames(e)) > 0 {
		z.lastSafeGet[host] = j
	}
	u := z.urls[j]
	if u == nil {
		return
	}
	for _, sc := range setCookies(e, j, u) {
		if _, ok := z.firstSeen[sc.c.Name]; !ok {
			z.firstSeen[sc.c.Name] = len(z.firstSeen)
		}
		s := site(strings.ToLower(u.Hostname()))
		jar := z.jars[s]
		if jar == nil {
			jar = &siteJar{byName: map[string]*list.Element{}, recent: list.New()}
			z.jars[s] = jar
		}
		if el, ok := jar.byName[sc.c.Name]; ok {
			jar.recent.Remove(el)
			delete(jar.byName, sc.c.Name)
		}
		// The newest Set-Cookie wins for a name; one that cannot carry a login is never
		// reported, so it only removes the older one.
		if sc.authish() {
			jar.byName[sc.c.Name] = jar.recent.PushBack(sc)
		}
	}
}

// Analyze diagnoses entry i from what the entries before it show: the group-C CORS rules
// (the preflight for it, its actual response, cookies it should have carried, no-cors
// mode, the exposed challenge), the group-G session and CSRF rules, and the group-D lint
// of the credential it carried (Authorization, Proxy-Authorization for a 407, or a key
// header). When the export was sanitised (see Sanitized) it adds har_credentials_redacted
// and halves the scores of the findings that rest on a credential being absent, so the
// caller need not adjust them; the caller should still rank with the returned scores.
func (z *Analyzer) Analyze(i int) []finding.Finding {
	l := z.l
	if l == nil || i < 0 || i >= len(l.Entries) {
		return nil
	}
	z.advance(i)
	a := &analysis{l: l, i: i, e: &l.Entries[i], z: z}
	a.preflight()
	a.actualResponse()
	a.noCORS()
	a.cookies()
	a.csrf()
	a.credential()
	if z.sanitized {
		for k := range a.out {
			if missingCredentialCodes[a.out[k].Code] {
				a.out[k].Score /= 2
				a.out[k].Evidence = append(a.out[k].Evidence, "confidence lowered: this HAR was exported without cookies and auth headers")
				if a.out[k].Severity == finding.Error {
					a.out[k].Severity = finding.Warning
				}
			}
		}
		a.out = append(a.out, finding.Finding{
			Code: CodeCredentialsRedacted, Severity: finding.Warning, Score: 25,
			Summary: "This HAR was exported without cookies and auth headers, so the doctor cannot see which credentials the browser sent.",
			Evidence: []string{
				fmt.Sprintf("creator %s %s; no entry has a Cookie, Set-Cookie or Authorization header", clip(l.Creator, 40), clip(l.CreatorVersion, 20)),
				"Chrome and Edge sanitise HAR exports by default",
			},
			Fix: "Re-export with sensitive data: in DevTools settings enable 'Allow to generate HAR with sensitive data', then use 'Export HAR (with sensitive data)'. The doctor redacts secrets in its output.",
		})
	}
	return a.out
}

type analysis struct {
	l   *Log
	i   int
	e   *Entry
	z   *Analyzer
	out []finding.Finding
}

func (a *analysis) tag(fs ...finding.Finding) {
	for _, f := range fs {
		f.Evidence = append([]string{a.where()}, f.Evidence...)
		a.out = append(a.out, f)
	}
}

func (a *analysis) where() string {
	e := a.e
	status := fmt.Sprint(e.Status)
	if e.Status == 0 {
		status = "no response"
		if e.Error != "" {
			status += " (" + clip(e.Error, 60) + ")"
		}
	}
	return fmt.Sprintf("entry #%d: %s %s → %s", a.i, clip(e.Method, 10), clip(lint.Escape(sanitizeURL(e.URL)), 160), status)
}

// findPreflight returns the preflight that guarded entry i, if the HAR has one.
func (a *analysis) findPreflight() *Entry {
	e := a.e
	for j := a.i - 1; j >= 0 && j >= a.i-lookBackEntries; j-- {
		p := &a.l.Entries[j]
		if !e.StartedAt.IsZero() && !p.StartedAt.IsZero() && e.StartedAt.Sub(p.StartedAt) > lookBackTime {
			break
		}
		if !p.isPreflight() || !sameURL(p.URL, e.URL) {
			continue
		}
		if m, ok := p.RequestHeader("Access-Control-Request-Method"); ok && !strings.EqualFold(strings.TrimSpace(m), e.Method) {
			continue
		}
		return p
	}
	return nil
}

func (a *analysis) preflight() {
	e := a.e
	p := e
	if !e.isPreflight() {
		p = a.findPreflight()
	}
	if p == nil {
		if e.Status == 0 && e.isScripted() && e.crossOrigin() {
			a.tag(finding.Finding{
				Code: CodeAuthorizationNotAllowed, Severity: finding.Warning, Score: 40,
				Summary:  "The browser blocked this cross-origin request, and the HAR holds no preflight or response that shows why.",
				Evidence: []string{fmt.Sprintf("page origin %s, request origin %s", orNone(e.requestOrigin()), orNone(originOf(e.URL)))},
				Fix:      "Run the doctor against the URL with --origin " + orNone(e.requestOrigin()) + " to send the CORS preflight and see what the server answers, or export the HAR again with the preflight (Chrome lists it as a separate OPTIONS entry).",
			})
		}
		return
	}
	method, _ := p.RequestHeader("Access-Control-Request-Method")
	hs, _ := p.RequestHeader("Access-Control-Request-Headers")
	origin := p.requestOrigin()
	var fs []finding.Finding
	if len(sentCookies(e)) > 0 && e != p {
		fs = EvaluateCredentialedPreflight(origin, method, strings.Split(hs, ","), p.Status, p.ResponseHeaders)
	} else {
		fs = EvaluatePreflight(origin, method, strings.Split(hs, ","), p.Status, p.ResponseHeaders)
	}
	for k := range fs {
		if p != e {
			fs[k].Evidence = append([]string{fmt.Sprintf("preflight: entry #%d OPTIONS answered %d", p.Index, p.Status)}, fs[k].Evidence...)
			if e.Status == 0 {
				fs[k].Score = min(fs[k].Score+4, 95)
			}
		}
	}
	a.tag(fs...)
}

// actualResponse checks the CORS headers of a cross-origin response that was received.
func (a *analysis) actualResponse() {
	e := a.e
	if e.isPreflight() || e.Status == 0 || !e.isScripted() || !e.crossOrigin() {
		return
	}
	if mode, _ := e.RequestHeader("Sec-Fetch-Mode"); !strings.EqualFold(mode, "cors") && mode != "" {
		return // no-cors and navigations are not subject to the CORS response check
	}
	origin := e.requestOrigin()
	acao, hasACAO := e.ResponseHeader("Access-Control-Allow-Origin")
	acao = strings.TrimSpace(acao)
	credentialed := len(sentCookies(e)) > 0
	switch {
	case !hasACAO:
		a.tag(finding.Finding{
			Code: CodeAuthorizationNotAllowed, Severity: finding.Error, Score: 75,
			Summary:  fmt.Sprintf("The %d response has no Access-Control-Allow-Origin, so the browser hides it from the page (the app sees a network error, not the status).", e.Status),
			Evidence: []string{fmt.Sprintf("request Origin %s; response Access-Control-Allow-Origin (absent)", orNone(origin))},
			Fix:      "Send the CORS headers on every response of the API, error responses included (many frameworks skip them on 401/403 produced before the CORS middleware runs: register CORS first).",
		})
	case credentialed && acao == "*":
		a.tag(finding.Finding{
			Code: CodeCredentialsMisconfigured, Severity: finding.Error, Score: 85,
			Summary:  "The request carries cookies but the response allows any origin ('*'), which browsers refuse for credentialed requests.",
			Evidence: []string{"request has a Cookie header", "response: Access-Control-Allow-Origin: *"},
			Fix:      "Echo the exact origin in Access-Control-Allow-Origin (and add Vary: Origin) and send Access-Control-Allow-Credentials: true.",
		})
	case acao != "*" && !strings.EqualFold(strings.TrimRight(acao, "/"), origin):
		a.tag(finding.Finding{
			Code: CodeAuthorizationNotAllowed, Severity: finding.Error, Score: 75,
			Summary:  "The response's Access-Control-Allow-Origin names another origin, so the browser hides the response from the page.",
			Evidence: []string{fmt.Sprintf("request Origin %s; response Access-Control-Allow-Origin %s", orNone(origin), clip(acao, 120))},
			Fix:      "Echo the requesting origin (from an allow-list) in Access-Control-Allow-Origin, with Vary: Origin.",
		})
	}
	if credentialed && hasACAO && acao != "*" {
		if acac, _ := e.ResponseHeader("Access-Control-Allow-Credentials"); !strings.EqualFold(strings.TrimSpace(acac), "true") {
			a.tag(finding.Finding{
				Code: CodeCredentialsMisconfigured, Severity: finding.Error, Score: 80,
				Summary:  "The request carries cookies but the response lacks Access-Control-Allow-Credentials: true, so the browser hides it from the page.",
				Evidence: []string{"request has a Cookie header", "response: Access-Control-Allow-Credentials " + orAbsent(acac)},
				Fix:      "Add Access-Control-Allow-Credentials: true to the API's responses (with an exact origin, not '*').",
			})
		}
	}
	if f := ExposeCheck(origin, e.Status, e.ResponseHeaders); f != nil && e.Status == 401 {
		a.tag(*f)
	}
}

func (a *analysis) noCORS() {
	e := a.e
	mode, _ := e.RequestHeader("Sec-Fetch-Mode")
	if !strings.EqualFold(strings.TrimSpace(mode), "no-cors") {
		return
	}
	if _, ok := e.RequestHeader("Authorization"); ok {
		return
	}
	rt := strings.ToLower(e.ResourceType)
	dest, _ := e.RequestHeader("Sec-Fetch-Dest")
	if !(rt == "fetch" || rt == "xhr" || (rt == "" && strings.EqualFold(dest, "empty"))) {
		return // images, scripts and styles are fetched in no-cors mode by design
	}
	score := 75
	if e.Status == 401 || e.Status == 403 {
		score = 88
	}
	a.tag(finding.Finding{
		Code: CodeNoCORSMode, Severity: finding.Error, Score: score,
		Summary:  "The request was made with fetch mode 'no-cors', which silently drops the Authorization header and makes the response unreadable (status 0 to the page).",
		Evidence: []string{"request: Sec-Fetch-Mode: no-cors, resource type " + orNone(e.ResourceType) + ", no Authorization header"},
		Fix:      "Remove mode: 'no-cors' from the fetch call and fix CORS on the server instead (allow the origin and the Authorization header).",
	})
}

// cookies explains auth-like cookies that earlier responses set and this request lacks.
func (a *analysis) cookies() {
	e := a.e
	if e.Status != 401 && e.Status != 403 && e.Status != 0 && !(e.Status >= 300 && e.Status < 400) {
		return
	}
	u := a.z.urls[a.i]
	if u == nil {
		return
	}
	host := a.z.hosts[a.i]
	sent := sentCookies(e)
	reported := false
	for _, sc := range a.z.unsent(site(host), sent) {
		name := sc.c.Name
		cookieHost := strings.ToLower(sc.setURL.Hostname())
		var reason string
		switch {
		case sc.deleted:
			a.tag(finding.Finding{
				Code: CodeSessionMissingOrExpired, Severity: finding.Error, Score: 75,
				Summary:  fmt.Sprintf("An earlier response deleted the session cookie %s (expired or Max-Age=0), so this request went without it.", name),
				Evidence: []string{sc.line(), fmt.Sprintf("this request has no %s cookie", name)},
				Fix:      "The session ended (a logout, a server-side expiry, or a clash between two apps using the same cookie name). Log in again; for scripts, use an API token instead of a browser session.",
			})
			reported = true
			continue
		case sc.rejected != "":
			reason = "the browser refused to store it: " + sc.rejected
		case !sc.c.Expires.IsZero() && !e.StartedAt.IsZero() && sc.c.Expires.Before(e.StartedAt):
			a.tag(finding.Finding{
				Code: CodeSessionMissingOrExpired, Severity: finding.Error, Score: 75,
				Summary:  fmt.Sprintf("The cookie %s had expired by the time of this request.", name),
				Evidence: []string{sc.line(), fmt.Sprintf("request made at %s, cookie expired at %s", e.StartedAt.UTC().Format(time.RFC3339), sc.c.Expires.UTC().Format(time.RFC3339))},
				Fix:      "Log in again; if sessions expire too soon, raise the session lifetime or refresh it while the app is in use.",
			})
			reported = true
			continue
		case sc.c.Domain == "" && cookieHost != host:
			reason = fmt.Sprintf("it was set by %s without a Domain attribute, so it is sent only to that exact host, not to %s", cookieHost, host)
		case sc.c.Domain != "" && !domainMatch(host, strings.TrimPrefix(sc.c.Domain, ".")):
			reason = fmt.Sprintf("its Domain=%s does not cover %s", sc.c.Domain, host)
		case !pathMatch(u.Path, cookiePath(sc)):
			reason = fmt.Sprintf("its Path=%s does not cover %s", cookiePath(sc), clip(u.Path, 80))
		case sc.c.Secure && u.Scheme == "http" && !isLocalhost(host):
			reason = "it is Secure and this request is plain http"
		case e.crossSite() && sc.c.SameSite != http.SameSiteNoneMode:
			reason = fmt.Sprintf("this is a cross-site request and the cookie's SameSite is %s; only SameSite=None; Secure cookies go on cross-site fetches", sameSiteName(sc.c))
		}
		if reason != "" {
			a.tag(finding.Finding{
				Code: CodeCookieBlocked, Severity: finding.Error, Score: 85,
				Summary:  fmt.Sprintf("The browser did not send the cookie %s with this request because of its attributes.", name),
				Evidence: []string{sc.line(), fmt.Sprintf("this request has no %s cookie: %s", name, reason)},
				Fix:      "For cross-site API calls set the cookie with SameSite=None; Secure over HTTPS (and Domain covering the API host if another host sets it); otherwise serve the app and the API from the same site.",
			})
			reported = true
			continue
		}
		// Nothing in the attributes blocks it: the page did not ask for credentials.
		if e.crossOrigin() && e.isScripted() {
			a.tag(finding.Finding{
				Code: CodeCredentialsMisconfigured, Severity: finding.Error, Score: 65,
				Summary:  fmt.Sprintf("The browser holds the cookie %s for this API but did not send it: the cross-origin request was made without credentials.", name),
				Evidence: []string{sc.line(), "this request has no Cookie header although nothing in the cookie's attributes blocks it"},
				Fix:      "Make the call with credentials (fetch: credentials: 'include'; XHR/axios: withCredentials: true), and have the server answer with the exact origin and Access-Control-Allow-Credentials: true.",
			})
			reported = true
		}
	}
	if !reported {
		a.sessionDropped(sent)
	}
}

func cookiePath(sc storedCookie) string {
	if sc.c.Path != "" {
		return sc.c.Path
	}
	return defaultPath(sc.setURL)
}

// sessionDropped reports a request without the session cookie that earlier requests to
// the same host carried.
func (a *analysis) sessionDropped(sent map[string]bool) {
	e := a.e
	if e.Status != 401 && e.Status != 403 {
		return
	}
	for name := range sent {
		if isSessionName(name) {
			return
		}
	}
	host := a.z.hosts[a.i]
	seen, ok := a.z.lastSession[host]
	if !ok {
		return
	}
	j, name := seen.entry, seen.name
	p := &a.l.Entries[j]
	a.tag(finding.Finding{
		Code: CodeSessionMissingOrExpired, Severity: finding.Error, Score: 70,
		Summary:  fmt.Sprintf("Earlier requests to %s carried the session cookie %s; this one does not.", host, name),
		Evidence: []string{fmt.Sprintf("entry #%d (%s %s → %d) sent Cookie: %s=…", j, clip(p.Method, 10), clip(sanitizeURL(p.URL), 120), p.Status, name), fmt.Sprintf("this request has no %s cookie", name)},
		Fix:      "This API authenticates with a browser session cookie that this request lacks. Send it (credentials: 'include' for cross-origin calls), or use an API token for scripts.",
	})
}

var csrfBody = regexp.MustCompile(`(?i)csrf|xsrf|forgery`)

var csrfHeaders = []string{"X-CSRFToken", "X-CSRF-Token", "X-XSRF-TOKEN", "X-Csrf-Token", "Csrf-Token", "X-Requested-With"}

func (a *analysis) csrf() {
	e := a.e
	switch strings.ToUpper(e.Method) {
	case "POST", "PUT", "PATCH", "DELETE":
	default:
		return
	}
	if e.Status != 403 && e.Status != 419 {
		return
	}
	sent := sentCookies(e)
	var header string
	for _, h := range csrfHeaders {
		if _, ok := e.RequestHeader(h); ok && !strings.EqualFold(h, "X-Requested-With") {
			header = h
		}
	}
	bodySays := csrfBody.MatchString(e.BodyPrefix)
	session := ""
	csrfCookie := ""
	for name := range sent {
		if isSessionName(name) {
			session = name
		}
		if isCSRFCookie(name) {
			csrfCookie = name
		}
	}
	var ev []string
	score := 0
	switch {
	case bodySays:
		score = 92
		ev = append(ev, "the response body mentions CSRF: "+quoteBody(e.BodyPrefix))
	case session != "" && header == "":
		score = 70
	default:
		return
	}
	if session != "" {
		ev = append(ev, fmt.Sprintf("the request is authenticated by the session cookie %s", session))
	}
	if header == "" {
		ev = append(ev, "the request has no CSRF header (X-CSRFToken, X-CSRF-Token or X-XSRF-TOKEN)")
	} else {
		ev = append(ev, fmt.Sprintf("the request has %s, but the server rejected it (stale token, or a cookie/header mismatch)", header))
	}
	if csrfCookie != "" {
		ev = append(ev, fmt.Sprintf("the browser holds the CSRF cookie %s; its value belongs in the header", csrfCookie))
	}
	if g := a.earlierSafeSuccess(); g != "" {
		ev = append(ev, g)
	}
	a.tag(finding.Finding{
		Code: CodeCSRFTokenMissing, Severity: finding.Error, Score: score,
		Summary:  fmt.Sprintf("The %s was refused for a missing or wrong CSRF token: a session-authenticated unsafe request needs one.", strings.ToUpper(e.Method)),
		Evidence: ev,
		Fix:      "Read the CSRF cookie (Django csrftoken, Angular/Spring XSRF-TOKEN) and send its value in the header the framework expects (X-CSRFToken, X-XSRF-TOKEN), or authenticate API clients with a token instead of the session cookie.",
	})
}

// earlierSafeSuccess describes an earlier successful GET to the same host, which shows
// that the session itself works.
func (a *analysis) earlierSafeSuccess() string {
	j, ok := a.z.lastSafeGet[a.z.hosts[a.i]]
	if !ok {
		return ""
	}
	p := &a.l.Entries[j]
	return fmt.Sprintf("entry #%d: GET %s → %d with the same cookies (reads work; only unsafe methods fail)", j, clip(sanitizeURL(p.URL), 120), p.Status)
}

func quoteBody(b string) string {
	loc := csrfBody.FindStringIndex(b)
	if loc == nil {
		return ""
	}
	start, end := max(0, loc[0]-40), min(len(b), loc[1]+60)
	return "…" + clip(lint.Escape(b[start:end]), 140) + "…"
}

// credential lints the credential the entry carried, and reports its absence.
func (a *analysis) credential() {
	e := a.e
	if e.isPreflight() {
		return
	}
	name, value, ok := "", "", false
	if e.Status == 407 {
		name = "Proxy-Authorization"
		value, ok = e.RequestHeader(name)
	}
	if !ok {
		name = "Authorization"
		value, ok = e.RequestHeader(name)
	}
	if !ok {
		for _, h := range e.RequestHeaders {
			if keyHeaderName.MatchString(h.Name) {
				name, value, ok = h.Name, h.Value, true
				break
			}
		}
	}
	if !ok {
		for _, f := range a.out {
			if f.Code == CodeCookieBlocked || f.Code == CodeSessionMissingOrExpired || f.Code == CodeCredentialsMisconfigured || f.Code == CodeNoCORSMode {
				return // a more specific finding already explains the absence
			}
		}
		if (e.Status == 401 || e.Status == 403 || e.Status == 407) && len(sentCookies(e)) == 0 {
			a.tag(finding.Finding{
				Code: lint.CodeMissingOrEmpty, Severity: finding.Error, Score: 60,
				Summary:  fmt.Sprintf("The request carried no credential at all (no Authorization, API-key header or Cookie), and the server answered %d.", e.Status),
				Evidence: []string{"request headers: " + headerNames(e.RequestHeaders)},
				Fix:      "Check the code that attaches the credential to this call (an interceptor that skips this URL, a token that was not loaded yet, or a cross-origin call made without credentials).",
			})
		}
		return
	}
	in := lint.Input{
		HeaderName:    name,
		Value:         value,
		Source:        fmt.Sprintf("HAR entry #%d", a.i),
		TargetHost:    hostPort(e.URL),
		TokenEndpoint: strings.Contains(e.PostDataPrefix, "grant_type="),
	}
	chName := "WWW-Authenticate"
	if e.Status == 407 {
		chName = "Proxy-Authenticate"
	}
	if fields := headerValues(e.ResponseHeaders, chName); len(fields) > 0 {
		if cs, err := challenge.ParseChallenges(fields); err == nil {
			in.ServerSchemes = []string{}
			for _, c := range cs {
				in.ServerSchemes = append(in.ServerSchemes, c.Scheme)
				if strings.EqualFold(c.Scheme, "Basic") {
					if cs, ok := c.Param("charset"); ok {
						in.BasicCharset = cs
					}
				}
			}
		}
	}
	a.out = append(a.out, lint.Credential(in)...)
}

func hostPort(raw string) string {
	u, err := parseURL(raw)
	if err != nil {
		return ""
	}
	return u.Host
}

func headerNames(hs []Header) string {
	var names []string
	for _, h := range hs {
		if !strings.HasPrefix(h.Name, ":") {
			names = append(names, h.Name)
		}
	}
	if len(names) == 0 {
		return "(none)"
	}
	return clip(strings.Join(names, ", "), 300)
}
