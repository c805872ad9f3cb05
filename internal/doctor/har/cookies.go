package har

import (
	"net"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/publicsuffix"
)

// sessionCookieNames are the default session cookie names of common frameworks.
var sessionCookieNames = []string{
	"sessionid", "jsessionid", "connect.sid", "phpsessid", ".aspnetcore.cookies", ".aspnetcore.session",
	"asp.net_sessionid", ".aspxauth", "laravel_session", "_session_id", "rack.session", "session", "sid",
	"_oauth2_proxy", "auth_session", "__session", "next-auth.session-token", "__secure-next-auth.session-token",
	"authjs.session-token", "__secure-authjs.session-token", "appsession", "keycloak_session", "kc_restart",
}

// isSessionName reports whether a cookie name looks like a session cookie.
func isSessionName(name string) bool {
	n := strings.ToLower(name)
	n = strings.TrimPrefix(strings.TrimPrefix(n, "__host-"), "__secure-")
	for _, s := range sessionCookieNames {
		if n == s || n == strings.TrimPrefix(strings.TrimPrefix(s, "__secure-"), "__host-") {
			return true
		}
	}
	return strings.HasSuffix(n, "_session") || strings.HasSuffix(n, "-session") || strings.HasSuffix(n, "sessionid") ||
		strings.HasSuffix(n, "_sess") || strings.HasPrefix(n, "sess_") || strings.Contains(n, "session-token") ||
		strings.Contains(n, "auth_token") || strings.Contains(n, "access_token")
}

// csrfCookieNames are the cookies frameworks use to hand the CSRF token to scripts.
var csrfCookieNames = []string{"csrftoken", "xsrf-token", "_csrf", "csrf_token", "csrf-token", "_xsrf", "x-csrf-token"}

func isCSRFCookie(name string) bool {
	n := strings.ToLower(name)
	for _, c := range csrfCookieNames {
		if n == c {
			return true
		}
	}
	return false
}

var loginURL = regexp.MustCompile(`(?i)(log[-_]?in|sign[-_]?in|auth|session|oauth|sso|callback|token)`)

// storedCookie is a Set-Cookie seen in an earlier response.
type storedCookie struct {
	c      *http.Cookie
	entry  int
	setURL *url.URL
	at     time.Time
	// rejected is why the browser refused to store it, or "".
	rejected string
	// deleted: Max-Age<=0 or an Expires before the response's own time (a logout or a
	// server clearing the session).
	deleted bool
}

// line renders the Set-Cookie with its value hidden, for evidence.
func (sc storedCookie) line() string {
	c := sc.c
	var b strings.Builder
	b.WriteString("Set-Cookie: " + c.Name + "=<" + strconv.Itoa(len(c.Value)) + " bytes>")
	if c.Domain != "" {
		b.WriteString("; Domain=" + c.Domain)
	}
	if c.Path != "" {
		b.WriteString("; Path=" + c.Path)
	}
	if c.RawExpires != "" {
		b.WriteString("; Expires=" + c.RawExpires)
	}
	if c.MaxAge != 0 {
		if c.MaxAge < 0 {
			b.WriteString("; Max-Age=0")
		} else {
			b.WriteString("; Max-Age=" + strconv.Itoa(c.MaxAge))
		}
	}
	if c.Secure {
		b.WriteString("; Secure")
	}
	if c.HttpOnly {
		b.WriteString("; HttpOnly")
	}
	switch c.SameSite {
	case http.SameSiteLaxMode:
		b.WriteString("; SameSite=Lax")
	case http.SameSiteStrictMode:
		b.WriteString("; SameSite=Strict")
	case http.SameSiteNoneMode:
		b.WriteString("; SameSite=None")
	}
	return clip(b.String(), 300) + " (entry #" + strconv.Itoa(sc.entry) + ", " + clip(sc.setURL.Host+sc.setURL.Path, 120) + ")"
}

// authish reports whether a cookie is likely to carry a login: a session name, HttpOnly,
// or set by a login-like URL.
func (sc storedCookie) authish() bool {
	return isSessionName(sc.c.Name) || sc.c.HttpOnly || loginURL.MatchString(sc.setURL.Path)
}

// setCookies parses the Set-Cookie headers of entry j's response, whose URL is u.
func setCookies(e *Entry, j int, u *url.URL) []storedCookie {
	var out []storedCookie
	for _, v := range headerValues(e.ResponseHeaders, "Set-Cookie") {
		// Some exporters join several Set-Cookie lines with "\n".
		for _, line := range strings.Split(v, "\n") {
			c, err := http.ParseSetCookie(strings.TrimSpace(line))
			if err != nil {
				continue
			}
			sc := storedCookie{c: c, entry: j, setURL: u, at: e.StartedAt}
			sc.rejected = rejectReason(e, u, c)
			sc.deleted = c.MaxAge < 0 || (!c.Expires.IsZero() && !e.StartedAt.IsZero() && c.Expires.Before(e.StartedAt))
			out = append(out, sc)
		}
	}
	return out
}

// unsent returns the login-like cookies that earlier responses of site set (the newest
// for each name) and that are not in sent: at most maxCookiesConsidered of them, the most
// recently set, listed in the order their names were first set.
func (z *Analyzer) unsent(site string, sent map[string]bool) []storedCookie {
	jar := z.jars[site]
	if jar == nil {
		return nil
	}
	var out []storedCookie
	for el := jar.recent.Back(); el != nil && len(out) < maxCookiesConsidered; el = el.Prev() {
		if sc := el.Value.(storedCookie); !sent[sc.c.Name] {
			out = append(out, sc)
		}
	}
	sort.Slice(out, func(i, j int) bool { return z.firstSeen[out[i].c.Name] < z.firstSeen[out[j].c.Name] })
	return out
}

// rejectReason says why a browser would refuse to store c when set by the response to e.
func rejectReason(e *Entry, u *url.URL, c *http.Cookie) string {
	host := strings.ToLower(u.Hostname())
	switch {
	case c.SameSite == http.SameSiteNoneMode && !c.Secure:
		return "SameSite=None without Secure: browsers reject the cookie"
	case c.Secure && u.Scheme == "http" && !isLocalhost(host):
		return "Secure cookie set over plain http: browsers reject it (except on localhost)"
	case strings.HasPrefix(c.Name, "__Host-") && (!c.Secure || c.Domain != "" || c.Path != "/"):
		return "the __Host- prefix requires Secure, Path=/ and no Domain"
	case strings.HasPrefix(c.Name, "__Secure-") && !c.Secure:
		return "the __Secure- prefix requires Secure"
	}
	if c.Domain != "" {
		d := strings.TrimPrefix(strings.ToLower(c.Domain), ".")
		if !domainMatch(host, d) {
			return "Domain=" + c.Domain + " does not cover the host " + host + " that set it"
		}
		if ps, _ := publicsuffix.PublicSuffix(d); ps == d && net.ParseIP(d) == nil && d != "localhost" {
			return "Domain=" + c.Domain + " is a public suffix"
		}
	}
	if e.crossSite() && c.SameSite != http.SameSiteNoneMode {
		return "set by a cross-site response with SameSite " + sameSiteName(c) + ": browsers store such cookies only with SameSite=None; Secure"
	}
	return ""
}

func sameSiteName(c *http.Cookie) string {
	switch c.SameSite {
	case http.SameSiteLaxMode:
		return "Lax"
	case http.SameSiteStrictMode:
		return "Strict"
	case http.SameSiteNoneMode:
		return "None"
	}
	return "absent (treated as Lax)"
}

func isLocalhost(host string) bool {
	host = strings.Trim(host, "[]")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// domainMatch is RFC 6265 section 5.1.3.
func domainMatch(host, domain string) bool {
	host, domain = strings.ToLower(host), strings.ToLower(domain)
	if host == domain {
		return true
	}
	return strings.HasSuffix(host, "."+domain) && net.ParseIP(host) == nil
}

// pathMatch is RFC 6265 section 5.1.4, with an empty cookie path taken as the default
// path of the URL that set it.
func pathMatch(reqPath, cookiePath string) bool {
	if reqPath == "" {
		reqPath = "/"
	}
	if cookiePath == "" || cookiePath == reqPath {
		return true
	}
	if strings.HasPrefix(reqPath, cookiePath) {
		return strings.HasSuffix(cookiePath, "/") || reqPath[len(cookiePath)] == '/'
	}
	return false
}

func defaultPath(u *url.URL) string {
	p := u.Path
	if p == "" || p[0] != '/' {
		return "/"
	}
	i := strings.LastIndexByte(p, '/')
	if i == 0 {
		return "/"
	}
	return p[:i]
}

// site is the registrable domain (eTLD+1) of a host, or the host itself for IP
// addresses, localhost and names without a registrable part.
func site(host string) string {
	host = strings.ToLower(strings.Trim(host, "[]"))
	if net.ParseIP(host) != nil || host == "localhost" {
		return host
	}
	s, err := publicsuffix.EffectiveTLDPlusOne(host)
	if err != nil {
		return host
	}
	return s
}

// schemefulSite is scheme plus site, as browsers compare them for SameSite.
func schemefulSite(rawOrigin string) string {
	u, err := parseURL(rawOrigin)
	if err != nil || u.Host == "" {
		return ""
	}
	return strings.ToLower(u.Scheme) + "://" + site(u.Hostname())
}

// crossSite reports whether the request was cross-site from the page that made it.
func (e *Entry) crossSite() bool {
	if s, ok := e.RequestHeader("Sec-Fetch-Site"); ok {
		return strings.EqualFold(s, "cross-site")
	}
	o := e.requestOrigin()
	if o == "" {
		return false
	}
	return schemefulSite(o) != schemefulSite(originOf(e.URL))
}

// sentCookies returns the names of the cookies in the request's Cookie headers.
func sentCookies(e *Entry) map[string]bool {
	out := map[string]bool{}
	for _, name := range sentCookieNames(e) {
		out[name] = true
	}
	return out
}

// sentCookieNames returns the names of the cookies in the request's Cookie headers, in
// order.
func sentCookieNames(e *Entry) []string {
	var out []string
	for _, v := range headerValues(e.RequestHeaders, "Cookie") {
		for _, part := range strings.Split(v, ";") {
			name, _, _ := strings.Cut(strings.TrimSpace(part), "=")
			if name != "" {
				out = append(out, name)
			}
		}
	}
	return out
}
