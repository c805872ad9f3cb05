package doctor

import (
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/doctor/finding"
)

// Group A: redirects (docs/doctor.md#a-redirects).
var redirectChecks = []check{
	{"redirect_cross_origin_auth_dropped", checkCrossOriginDropped},
	{"redirect_http_to_https", checkHTTPToHTTPS},
	{"redirect_trailing_slash", checkTrailingSlash},
	{"redirect_to_login_page", checkLoginRedirect},
	{"auth_forwarded_to_presigned_url", checkPresigned},
	{"redirect_loop", checkRedirectLoop},
}

// checkRedirectLoop explains a walk that stopped in a loop or at the hop limit: no
// client ever gets an answer, so the request cannot have worked. The evidence names the
// hop where the chain comes back and the cycle itself.
func checkRedirectLoop(f *Facts) *finding.Finding {
	if len(f.Hops) == 0 {
		return nil
	}
	last := f.Hops[len(f.Hops)-1]
	if last.Stop == "" || last.Next == nil {
		return nil
	}
	ev := hopTable(f)
	// The shortest cycle ends at the last hop: back from it to the latest hop that
	// requested last.Next; it is shown from the first hop that entered it.
	n := len(f.Hops) - 1
	j := -1
	for i := n; i >= 0; i-- {
		if f.Hops[i].Ex.URL != nil && f.Hops[i].Ex.URL.String() == last.Next.String() {
			j = i
			break
		}
	}
	start := -1
	if j >= 0 {
		inCycle := map[string]bool{}
		for _, h := range f.Hops[j:] {
			inCycle[h.Ex.URL.String()] = true
		}
		for i, h := range f.Hops {
			if inCycle[h.Ex.URL.String()] {
				start = i
				break
			}
		}
		j = n - j + 1 // the cycle's length
	}
	summary := "The server redirects more than " + itoa(maxHops) + " times without answering: no client gets a response."
	if start >= 0 {
		var cyc []string
		for _, h := range f.Hops[start : start+j] {
			cyc = append(cyc, h.Ex.Method+" "+redactURL(h.Ex.URL))
		}
		cyc = append(cyc, redactURL(f.Hops[start].Ex.URL))
		ev = append(ev, "the chain cycles from hop "+itoa(start+1)+": "+strings.Join(cyc, " → "))
		summary = "The server redirects in a loop (hop " + itoa(start+1) + " comes back after " + itoa(j) + " redirect" + cond(j == 1, "", "s") + "), so no client ever gets an answer."
	} else {
		ev = append(ev, "the walk stopped after "+itoa(len(f.Hops))+" requests; curl stops at 50 redirects, Go at 10, browsers at 20")
	}
	fix := "Something answers every request with a redirect. Common causes: a proxy that terminates TLS and " +
		"forwards plain HTTP to an app that redirects back to https (set X-Forwarded-Proto and make the app trust " +
		"it), a sign-in page that is itself protected, a cookie the client does not keep between hops, or two " +
		"rules that each add and remove a trailing slash or a www."
	if loginRedirect(f) != nil {
		fix = "A sign-in gate redirects to a page that is itself protected, or sets a cookie the client never " +
			"sends back. " + fix
	}
	return newFinding("redirect_loop", scoreProof, summary, fix, ev...)
}

// matrixLines explains the client matrix once per finding.
func matrixLines(h *Hop) string {
	return "Go " + keepWord(h.Keeps.Go) + ", curl " + keepWord(h.Keeps.Curl) +
		", Python requests " + keepWord(h.Keeps.Requests) + ", browsers/fetch " + keepWord(h.Keeps.Browser) +
		" the credential on this redirect"
}

// firstCrossHop returns the first redirect that leaves the named origins.
func firstCrossHop(f *Facts) (int, *Hop) {
	for i, h := range f.Hops {
		if h.Next != nil && h.Change.CrossOrigin() {
			return i, h
		}
	}
	return -1, nil
}

func checkCrossOriginDropped(f *Facts) *finding.Finding {
	i, h := firstCrossHop(f)
	if h == nil || len(f.Creds) == 0 {
		return nil
	}
	// A pure http->https upgrade and a slash redirect have their own, more precise rules.
	if h.Change == OtherScheme && strings.EqualFold(h.Ex.URL.Scheme, "http") && h.Next.Scheme == "https" {
		return nil
	}
	if isSlashVariant(h.Ex.URL.Path, h.Next.Path) {
		return nil
	}
	if isLoginURL(h.Next) || isPresigned(h.Next) {
		return nil
	}
	ev := append([]string{}, hopTable(f)...)
	ev = append(ev, "hop "+itoa(i+1)+" leaves "+originOf(h.Ex.URL)+" for "+originOf(h.Next)+", an origin you did not name, so the doctor did not send the credential there either")
	r := f.finalResp()
	score := scoreLikely
	summary := "The server redirected the request to another origin, where clients do not send the credential."
	switch {
	case h.Follow == "credential":
		// The user allowed the host; the credential went along, so the outcome there is
		// the evidence.
		if f.status() == 401 || f.status() == 403 {
			score = scoreStrong - 5
			ev = append(ev, "with --allow-host the credential was sent to "+originOf(h.Next)+" and it answered "+statusLine(r))
		} else {
			return newFinding("redirect_cross_origin_auth_dropped", scoreContext,
				"The request was redirected to another origin; it works there only because you allowed that host.",
				crossOriginFix, ev...)
		}
	case r != nil && (r.Status == 401 || r.Status == 403):
		score = scoreProof - 7
		ev = append(ev, "the final hop, reached without the credential, answered "+statusLine(r)+"; "+challengeLine(r))
	case r != nil && r.Status/100 == 2:
		// The other origin did not need the credential (a CDN or signed URL): fine.
		return newFinding("redirect_cross_origin_auth_dropped", scoreContext,
			"The request was redirected to another origin, which answered without needing the credential.",
			crossOriginFix, ev...)
	case h.Follow == "no":
		ev = append(ev, "the doctor did not follow it ("+h.FollowWhy+"), so the other origin's answer is unknown")
	}
	return newFinding("redirect_cross_origin_auth_dropped", score, summary, crossOriginFix, ev...)
}

const crossOriginFix = "Your client was right not to forward the credential to another origin. Call the final URL " +
	"directly with a credential meant for that host, or fix the base URL so no redirect is needed. Forward the " +
	"credential only to a host you trust, and only explicitly: curl --location-trusted, a requests Session whose " +
	"rebuild_auth keeps it for an allow-list, or a Go CheckRedirect that re-adds the header for named hosts."

func checkHTTPToHTTPS(f *Facts) *finding.Finding {
	if len(f.Hops) == 0 {
		return nil
	}
	h := f.Hops[0]
	if h.Next == nil || !strings.EqualFold(h.Ex.URL.Scheme, "http") || h.Next.Scheme != "https" ||
		!strings.EqualFold(h.Ex.URL.Hostname(), h.Next.Hostname()) {
		return nil
	}
	ev := hopTable(f)
	if h.Ex.CredentialSent {
		ev = append(ev, "the credential crossed the network unencrypted on hop 1 ("+sentCredentialLine(f)+")")
	}
	if m := redirectMethod(h.Ex.Resp.Status, h.Ex.Method); m != h.Ex.Method {
		ev = append(ev, h.Ex.Method+" became "+m+" on the "+itoa(h.Ex.Resp.Status)+" redirect, and the body was dropped")
	}
	ev = append(ev, "on this redirect: "+matrixLines(h))
	score := scoreContributor + 5
	if f.failed() {
		score = scoreProof - 5
	}
	return newFinding("redirect_http_to_https", score,
		"The URL uses http://, and the server redirects to https://; the credential was sent in clear text and some clients drop it on the scheme change.",
		"Use https:// in the base URL. The credential went over the network unencrypted on the first request, so "+
			"consider rotating it. curl, browsers and httpx drop the credential when the scheme changes; a POST "+
			"redirected with 301/302 also becomes a GET.",
		ev...)
}

// isSlashVariant reports whether b is a with a trailing slash added or removed.
func isSlashVariant(a, b string) bool {
	if a == b || a == "" || b == "" {
		return false
	}
	return a+"/" == b || b+"/" == a
}

func checkTrailingSlash(f *Facts) *finding.Finding {
	hs := f.hits("redirect_trailing_slash")
	for i, h := range f.Hops {
		if h.Next == nil || !isSlashVariant(h.Ex.URL.Path, h.Next.Path) {
			continue
		}
		ev := hopTable(f)
		score := scoreLikely
		var why []string
		if h.Change != SameOrigin {
			why = append(why, "the redirect also changes the origin ("+string(h.Change)+": "+originOf(h.Ex.URL)+" → "+originOf(h.Next)+"), so clients drop the credential")
			if strings.EqualFold(h.Ex.URL.Scheme, "https") && h.Next.Scheme == "http" {
				why = append(why, "it downgrades https to http: the app behind a TLS proxy builds redirects from the scheme it sees")
			}
		}
		if m := redirectMethod(h.Ex.Resp.Status, h.Ex.Method); m != h.Ex.Method {
			why = append(why, h.Ex.Method+" became "+m+" on the "+itoa(h.Ex.Resp.Status)+", and the body was dropped")
		}
		if len(why) > 0 {
			score = scoreProof - 3
		}
		if !f.failed() && len(why) == 0 {
			score = scoreContext
		}
		ev = append(ev, "hop "+itoa(i+1)+" only adds or removes a trailing slash")
		ev = append(ev, why...)
		ev = append(ev, hitEvidence(hs)...)
		return newFinding("redirect_trailing_slash", score,
			"The server redirects to the same path with the trailing slash added or removed"+cond(len(why) > 0, ", and that redirect loses the credential or the method.", "."),
			"Call the canonical path (with or without the slash, as the server wants) directly. Server owners: turn "+
				"off slash redirects for APIs (FastAPI redirect_slashes=False, Django APPEND_SLASH=False or DRF's "+
				"trailing_slash, Flask strict_slashes=False) and make the app trust X-Forwarded-Proto so its "+
				"redirects keep https.",
			ev...)
	}
	if len(hs) > 0 {
		return newFinding("redirect_trailing_slash", scoreServerSaid,
			"Django refuses the POST because the URL lacks its trailing slash (APPEND_SLASH).",
			"Add the trailing slash to the URL, or set APPEND_SLASH=False for the API.", hitEvidence(hs)...)
	}
	return nil
}

// loginPathRE recognises a sign-in page in a Location.
var loginPathRE = regexp.MustCompile(`(?i)(^|/|\b)(log-?in|sign-?in|sign_in|logon|sso|saml|cas/login|oauth2?/(authorize|auth|start)|openid-connect/auth|account/login|auth/realms/|adfs/ls|_oauth|oauth2/sign_in)(\b|/|\?|$)|[?&](returnurl|return_to|redirect_uri|rd)=`)

func isLoginURL(u *url.URL) bool {
	return u != nil && loginPathRE.MatchString(u.Path+"?"+u.RawQuery)
}

func loginRedirect(f *Facts) *Hop {
	for _, h := range f.Hops {
		if h.Next != nil && isLoginURL(h.Next) {
			return h
		}
	}
	return nil
}

func checkLoginRedirect(f *Facts) *finding.Finding {
	h := loginRedirect(f)
	if h == nil {
		return nil
	}
	ev := hopTable(f)
	ev = append(ev, "the Location "+redactURL(h.Next)+" is a sign-in page, not the API's answer")
	if r := f.finalResp(); r != nil && r.Status/100 == 2 && strings.Contains(strings.ToLower(r.Header.Get("Content-Type")), "html") {
		ev = append(ev, "the final response is an HTML page ("+statusLine(r)+"), which API clients misread as success")
	}
	return newFinding("redirect_to_login_page", scoreProof-2,
		"Instead of answering 401, the server redirects to a sign-in page: it wants a browser session (cookie or SSO), and your credential was not accepted in its place.",
		"This endpoint is protected by a cookie or SSO login meant for browsers. Use the API's token "+
			"authentication (a separate API path or host, or the header it documents), or send the session cookie. "+
			"Server owners: answer API requests with 401 instead of a redirect (ASP.NET: handle "+
			"OnRedirectToLogin for API paths; oauth2-proxy: --api-route or skip-auth for Bearer tokens).",
		ev...)
}

var presignedRE = regexp.MustCompile(`(?i)(^|&)(x-amz-signature|x-amz-algorithm|x-goog-signature|x-goog-algorithm|sig|signature)=`)

func isPresigned(u *url.URL) bool { return u != nil && presignedRE.MatchString(u.RawQuery) }

func checkPresigned(f *Facts) *finding.Finding {
	hs := f.hits("auth_forwarded_to_presigned_url")
	for i, h := range f.Hops {
		if h.Next == nil || !isPresigned(h.Next) {
			continue
		}
		ev := hopTable(f)
		var next *Hop
		if i+1 < len(f.Hops) {
			next = f.Hops[i+1]
		}
		switch {
		case next != nil && next.Ex.CredentialSent && hasHeader(next.Ex.Sent, "Authorization"):
			ev = append(ev, "hop "+itoa(i+2)+" went to the signed URL with Authorization still attached")
			ev = append(ev, hitEvidence(hs)...)
			score := scoreStrong
			if next.Ex.Resp != nil && next.Ex.Resp.Status/100 != 2 {
				score = scoreProof
				ev = append(ev, "the storage answered "+statusLine(next.Ex.Resp)+"; "+bodySummary(next.Ex.Resp))
			}
			return newFinding("auth_forwarded_to_presigned_url", score,
				"The download redirects to an already-signed storage URL, and the request still carried your Authorization header there.",
				presignedFix, ev...)
		case h.Keeps.Go:
			ev = append(ev, "the signed URL is on the same host or a subdomain, so Go's client would keep Authorization and the storage would refuse two auth mechanisms")
			return newFinding("auth_forwarded_to_presigned_url", scoreContributor,
				"The redirect leads to a signed storage URL where some clients (Go) would still send Authorization.",
				presignedFix, ev...)
		}
	}
	if len(hs) > 0 {
		return newFinding("auth_forwarded_to_presigned_url", scoreServerSaid,
			"The storage refused the request because it carried two auth mechanisms: your Authorization header and a signed URL (probably a proxy followed the redirect and kept the header).",
			presignedFix, hitEvidence(hs)...)
	}
	return nil
}

const presignedFix = "The storage URL is already signed, so sending your API credential too makes it fail. " +
	"Follow that redirect without Authorization. If a proxy follows the redirect for you, it must clear the header " +
	"(nginx: proxy_set_header Authorization \"\";)."

func cond(b bool, yes, no string) string {
	if b {
		return yes
	}
	return no
}

func itoa(i int) string { return strconv.Itoa(i) }
