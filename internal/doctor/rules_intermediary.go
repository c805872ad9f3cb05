package doctor

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/doctor/finding"
	"github.com/gatehouse-dev/gatehouse/internal/tokens"
)

// Group B: intermediaries that remove or alter credentials.
var intermediaryChecks = []check{
	{"app_server_drops_authorization", checkAppServerDrops},
	{"cdn_or_proxy_drops_authorization", checkCDNDrops},
	{"proxy_auth_layer_conflict", checkLayerConflict},
	{"underscore_header_dropped", checkUnderscore},
	{"header_too_large", checkHeaderTooLarge},
	{"forward_auth_unreachable", checkForwardAuthUnreachable},
}

// checkForwardAuthUnreachable recognises nginx's own 500 page: with auth_request, nginx
// turns an auth subrequest that gets no usable answer (the gateway down or unreachable,
// or answering something other than 2xx, 401 or 403) into 500, while a plain proxy_pass
// to a dead upstream gives 502. The request never reached the gateway's verdict, so the
// credential is not in question.
func checkForwardAuthUnreachable(f *Facts) *finding.Finding {
	hs := f.hits(sigNginx500, "response", "final response")
	if len(hs) == 0 {
		return nil
	}
	ev := append([]string{"the answer is " + statusLine(f.finalResp()) + " from nginx itself, not from an application"}, hitEvidence(hs)...)
	score := scoreLikely + 5
	if a := anonResp(f); a != nil && a.Status == 500 {
		ev = append(ev, "without the credential the answer is the same 500: nginx fails before anything looks at the credential")
		score = scoreStrong
	}
	ev = append(ev, "nginx answers 500 when its auth_request subrequest cannot be completed (connection refused, a timeout, or the gateway answering 5xx); a dead proxy_pass upstream would give 502")
	return newFinding("forward_auth_unreachable", score,
		"nginx could not get an answer from the authentication gateway it asks first (auth_request): your request was never judged.",
		"Check the gateway nginx's auth_request location points at: that it runs (gatehouse serve; its /readyz), "+
			"that nginx can reach its address (proxy_pass in the auth location), and nginx's error log (\"auth "+
			"request unexpected status\" or \"connect() failed\"). If the gateway itself answers 503, its own "+
			"reason (authenticator_unavailable) says why. Nothing is wrong with your credential.",
		ev...)
}

// credentialUnseen gathers the evidence that the server did not see the credential:
// the control matched, or the server said so, or --compare-url worked.
type unseen struct {
	same, notProvided, compareOK bool
	ev                           []string
}

func credentialUnseen(f *Facts) unseen {
	var u unseen
	if len(f.Creds) == 0 || f.LastCredentialed == nil || !isAuthFailure(f.credStatus()) {
		return u
	}
	u.same = f.controlMatches()
	u.notProvided = f.serverSaysNotProvided()
	if f.Compare != nil && f.Compare.Resp != nil && f.Compare.Resp.Status/100 == 2 {
		u.compareOK = true
	}
	u.ev = controlLines(f)
	if u.notProvided {
		u.ev = append(u.ev, hitEvidence(f.hits(sigNotProvided, "response"))...)
	}
	if f.Compare != nil {
		u.ev = append(u.ev, compareLine(f))
	}
	return u
}

func (u unseen) any() bool { return u.same || u.notProvided }

func compareLine(f *Facts) string {
	if f.Compare == nil {
		return ""
	}
	if f.Compare.Resp == nil {
		return "--compare-url " + redactURL(f.Compare.URL) + ": no answer (" + errText(f.Compare) + ")"
	}
	return "the same request to --compare-url " + redactURL(f.Compare.URL) + " got " + statusLine(f.Compare.Resp) +
		cond(f.Compare.Resp.Status/100 == 2, ": the credential works there", "")
}

func errText(ex *Exchange) string {
	if ex == nil || ex.Err == nil {
		return ""
	}
	return ex.Err.Error()
}

func isAuthFailure(status int) bool { return status == 401 || status == 403 }

func checkAppServerDrops(f *Facts) *finding.Finding {
	c := f.primary()
	if c == nil || !c.IsAuthorization() {
		return nil
	}
	u := credentialUnseen(f)
	if !u.any() && !(u.compareOK && f.failed()) {
		return nil
	}
	appServer := append(f.hits(sigApache, "response"), f.hits(sigPHP, "response")...)
	cdn := proxyHits(f)
	if len(appServer) == 0 && len(cdn) > 0 {
		return nil // the CDN rule explains it
	}
	if len(appServer) == 0 && !u.notProvided && !u.compareOK && serverReadToken(f) {
		return nil // the server said something about the token, so it saw it
	}
	// Identical answers alone are a fact worth showing, not a diagnosis: many servers
	// answer every failure alike.
	score := scoreContext + 5
	switch {
	case len(appServer) > 0 && u.notProvided:
		score = scoreServerSaid
	case len(appServer) > 0 && (u.same || u.compareOK):
		score = scoreStrong + 5
	case u.notProvided, u.same && u.compareOK:
		score = scoreStrong - 8
	}
	ev := append([]string{sentCredentialLine(f)}, u.ev...)
	ev = append(ev, hitEvidence(appServer)...)
	if len(appServer) == 0 {
		ev = append(ev, "no app-server fingerprint (Server: Apache, X-Powered-By: PHP) was seen; a proxy in front could be removing the header instead: --compare-url against the application itself would tell them apart")
	}
	summary := "The application never saw your Authorization header: the server in front of it (Apache mod_wsgi, CGI, PHP-FPM) does not pass it on."
	fix := "Something between the web server and the application removes Authorization. Apache with mod_wsgi: " +
		"WSGIPassAuthorization On. Apache with CGI, FastCGI or PHP-FPM: CGIPassAuth On (Apache 2.4.13 and " +
		"later) or SetEnvIf Authorization \"(.+)\" HTTP_AUTHORIZATION=$1."
	if score < scoreLikely {
		summary = "The server answers exactly the same with and without your credential; it may never see the Authorization header (or it answers every failure alike)."
		fix = "If the application should have seen the credential, check what sits in front of it: s" + fix[1:]
	}
	return newFinding("app_server_drops_authorization", score, summary, fix, ev...)
}

// proxyHits are the fingerprints of a CDN or reverse proxy in front of the application:
// CDN headers, Cloudflare, and nginx when nothing says PHP runs behind it (nginx with
// PHP-FPM passes Authorization by default, so there nginx is the app server's front) that
// relays an answer rather than writing its own 401 page.
func proxyHits(f *Facts) []FingerprintHit {
	hs := append(f.hits(sigCDN, "response"), f.hits(sigCloudflare, "response")...)
	if len(f.hits(sigPHP, "response")) == 0 && len(f.hits(sigEdgeNginx401, "response")) == 0 {
		// (nginx's own 401 page: nginx itself refused, it did not relay an app's answer)
		hs = append(hs, f.hits(sigNginx, "response")...)
	}
	return hs
}

func checkCDNDrops(f *Facts) *finding.Finding {
	c := f.primary()
	if c == nil || c.HeaderName == "" || strings.EqualFold(c.HeaderName, "Cookie") {
		return nil
	}
	if strings.Contains(c.HeaderName, "_") {
		return nil // the underscore rule explains it
	}
	u := credentialUnseen(f)
	appServer := append(f.hits(sigApache, "response"), f.hits(sigPHP, "response")...)
	cdn := proxyHits(f)
	var score int
	switch {
	case len(cdn) > 0 && u.notProvided:
		score = scoreServerSaid
	case len(cdn) > 0 && (u.same || u.compareOK):
		score = scoreStrong + 5
	case u.compareOK && len(appServer) == 0 && f.failed():
		score = scoreStrong - 5
	default:
		return nil
	}
	ev := append([]string{sentCredentialLine(f)}, u.ev...)
	ev = append(ev, hitEvidence(cdn)...)
	return newFinding("cdn_or_proxy_drops_authorization", score,
		"A CDN or proxy in front of the API does not forward your "+escape(c.HeaderName)+" header to the origin.",
		"A CDN or proxy in front of the API is not forwarding the credential header. CloudFront: add "+
			"Authorization to the cache policy (or use the AllViewer origin request policy when caching is off). "+
			"nginx: remove proxy_set_header Authorization \"\" (or a more_clear_input_headers) from the location. "+
			"Other proxies and ingress controllers: stop removing or overwriting the header.",
		ev...)
}

// twoCredentialsRE finds a second scheme after a comma in one Authorization value.
var twoCredentialsRE = regexp.MustCompile(`(?i),\s*(Bearer|Basic|Digest|Token|Negotiate|NTLM)\b`)

func checkLayerConflict(f *Facts) *finding.Finding {
	var auth []Header
	for _, h := range f.Sent {
		if strings.EqualFold(h.Name, "Authorization") {
			auth = append(auth, h)
		}
	}
	var ev []string
	switch {
	case len(auth) > 1:
		for _, h := range auth {
			ev = append(ev, "Authorization: "+redactHeaderValue(h.Name, h.Value))
		}
		ev = append(ev, fmt.Sprintf("the request carries %d Authorization headers; servers join them with a comma or take one at random", len(auth)))
	case len(auth) == 1 && twoCredentialsRE.MatchString(auth[0].Value):
		ev = append(ev, "one Authorization value holds two credentials joined by a comma ("+redactHeaderValue("Authorization", auth[0].Value)+")")
	}
	if len(ev) > 0 {
		score := scoreStrong + 8
		if !f.failed() {
			score = scoreContributor
		}
		return newFinding("proxy_auth_layer_conflict", score,
			"The request carries two credentials in Authorization, which can hold only one.", layerFix, ev...)
	}
	// Two layers: the anonymous request is challenged by one scheme, the credentialed one
	// (which satisfied that scheme) by another.
	if f.Anon == nil || f.Anon.Resp == nil || f.LastCredentialed == nil || f.credStatus() != 401 {
		return nil
	}
	c := f.primary()
	if c == nil || !c.IsAuthorization() {
		return nil
	}
	a, p := f.Anon.Resp, f.credResp()
	if hasScheme(a, c.Scheme) && !hasScheme(p, c.Scheme) && len(p.Challenges) > 0 {
		ev = append(ev,
			"without a credential: "+challengeLine(a)+" (the outer layer)",
			"with your "+escape(c.Scheme)+" credential: "+challengeLine(p)+" (a second layer behind it)",
			"your "+escape(c.Scheme)+" credential passed the first layer, and the layer behind it wants "+schemesOf(p)+" in the same header")
		ev = append(ev, hitEvidence(append(f.hits(sigEdgeNginx401), f.hits(sigEdgeApache)...))...)
		return newFinding("proxy_auth_layer_conflict", scoreStrong+5,
			"Two layers protect this URL, each wanting its own credential in the one Authorization header.", layerFix, ev...)
	}
	return nil
}

const layerFix = "One Authorization header can carry only one credential. Authenticate one of the layers with " +
	"another header (an X-Api-Key for the app, say), or let the proxy authenticate and forward identity headers " +
	"to the app. Do not send both in Authorization."

func schemesOf(r *Response) string {
	var s []string
	for _, c := range r.Challenges {
		s = append(s, c.Scheme)
	}
	return strings.Join(s, ", ")
}

func checkUnderscore(f *Facts) *finding.Finding {
	var c *Credential
	for i := range f.Creds {
		if strings.Contains(f.Creds[i].HeaderName, "_") {
			c = &f.Creds[i]
			break
		}
	}
	if c == nil || !f.failed() {
		return nil
	}
	u := credentialUnseen(f)
	nginx := f.hits(sigNginx)
	score := scoreContributor
	switch {
	case len(nginx) > 0 && u.any():
		score = scoreProof - 3
	case len(nginx) > 0, u.any():
		score = scoreStrong - 10
	}
	ev := []string{"the credential travels in " + escape(c.HeaderName) + ", a header name with an underscore"}
	ev = append(ev, hitEvidence(nginx)...)
	ev = append(ev, u.ev...)
	ev = append(ev, "nginx (and ingress-nginx, and other proxies) silently discard header names with underscores unless underscores_in_headers is on")
	return newFinding("underscore_header_dropped", score,
		"The "+escape(c.HeaderName)+" header has an underscore in its name, and proxies such as nginx drop such headers silently.",
		"Use the hyphenated name if the API accepts it ("+strings.ReplaceAll(escape(c.HeaderName), "_", "-")+"). "+
			"Server owners: set underscores_in_headers on; in the nginx server block that receives the request "+
			"(the default server for that address and port).",
		ev...)
}

func checkHeaderTooLarge(f *Facts) *finding.Finding {
	hs := f.hits("header_too_large")
	total := headerBytes(f.Sent)
	r := f.finalResp()
	if len(hs) == 0 && !(r != nil && r.Status == 400 && total > 8<<10) {
		return nil
	}
	score := scoreProof
	if len(hs) == 0 {
		score = scoreLikely
	}
	ev := hitEvidence(hs)
	ev = append(ev, fmt.Sprintf("request headers: %d bytes in all", total))
	for _, h := range f.Sent {
		if strings.EqualFold(h.Name, "Authorization") || strings.EqualFold(h.Name, "Cookie") || len(h.Value) > 1024 {
			ev = append(ev, fmt.Sprintf("%s: %d bytes", escape(h.Name), len(h.Value)))
		}
	}
	if f.Token == nil {
		f.Token = decodeToken(f)
	}
	if f.Token != nil && f.Token.Decoded != nil {
		ev = append(ev, bigClaims(f.Token.Decoded)...)
	}
	return newFinding("header_too_large", score,
		"The request headers are larger than the server (or a proxy in front of it) accepts.",
		"Shrink what you send: a token with fewer claims or groups (or a reference token), or fewer cookies. "+
			"Server owners: raise nginx's large_client_header_buffers, Apache's LimitRequestFieldSize, or the "+
			"proxy's equivalent; for 502 \"upstream sent too big header\", nginx's proxy_buffer_size.",
		ev...)
}

func headerBytes(hs []Header) int {
	n := 0
	for _, h := range hs {
		n += len(h.Name) + 2 + len(h.Value) + 2
	}
	return n
}

// bigClaims names the largest claims of a token, the usual reason it grew.
func bigClaims(d *tokens.Decoded) []string {
	type kv struct {
		name string
		n    int
	}
	var list []kv
	for k, v := range d.Claims {
		if a, ok := v.([]any); ok && len(a) > 0 {
			list = append(list, kv{k, len(a)})
		}
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].n != list[j].n {
			return list[i].n > list[j].n
		}
		return list[i].name < list[j].name
	})
	var out []string
	for i, e := range list {
		if i == 3 {
			break
		}
		out = append(out, fmt.Sprintf("token claim %q holds %d entries", e.name, e.n))
	}
	return out
}

// serverReadToken reports that the response speaks about the token itself (RFC 6750's
// invalid_token, or a statement about its expiry, audience, issuer, key or algorithm),
// which a server that never received it could not do.
func serverReadToken(f *Facts) bool {
	if e, ok := bearerParam(f.credResp(), "error"); ok && e == "invalid_token" {
		if a, ok := bearerParam(anonResp(f), "error"); !ok || a != "invalid_token" {
			return true
		}
	}
	for _, code := range []string{"jwt_expired", "jwt_audience_mismatch", "jwt_issuer_or_tenant_mismatch", "jwt_signing_key_unknown", "jwt_alg_mismatch"} {
		if f.hit(code) {
			return true
		}
	}
	return false
}
