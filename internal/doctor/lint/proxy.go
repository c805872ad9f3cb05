package lint

import (
	"net"
	"net/url"
	"strings"
)

// ProxyFacts describes the outbound proxy a client would use for a URL, from the proxy
// environment variables. URL never holds the proxy password.
type ProxyFacts struct {
	Var string // the variable that applies: "HTTPS_PROXY", "https_proxy", "ALL_PROXY", ...
	URL string /* redacted: user:*** */
	// HasCredentials: the proxy URL has a user name (and perhaps a password) in it.
	// PercentEncoded: that user info contains %XX escapes.
	// Bypassed: NO_PROXY (or no_proxy) exempts the target host, or the host is loopback,
	// which Go never proxies; the proxy is then NOT used.
	HasCredentials, PercentEncoded, Bypassed bool
	// NeedsEncoding: the user info holds a character ('@', '#', '/', '?', '%' not
	// followed by two hex digits, or a space) that must be percent-encoded, so clients
	// misread the URL and send wrong proxy credentials or none.
	NeedsEncoding bool
	// NoProxy is the variable and entry that exempted the host, when Bypassed.
	NoProxy string
	// ReadBy says which common clients read Var: curl ignores upper-case HTTP_PROXY and
	// Go ignores ALL_PROXY, so a proxy may apply to one client and not another.
	ReadBy string
}

// Proxy returns the proxy the environment selects for target: HTTPS_PROXY/https_proxy for
// https URLs, HTTP_PROXY/http_proxy for http URLs (upper case first, as Go reads them),
// then ALL_PROXY/all_proxy (read by curl, not by Go). NO_PROXY/no_proxy is applied as Go
// applies it: "*", host names matching themselves and their subdomains (a leading "."
// for subdomains only), IP addresses, CIDR ranges and host:port. It returns nil when no
// proxy variable applies to the URL's scheme. Credentials in the proxy URL are reported
// as present, never returned.
func Proxy(target *url.URL, getenv func(string) string) *ProxyFacts {
	if target == nil {
		return nil
	}
	var names []string
	switch strings.ToLower(target.Scheme) {
	case "https":
		names = []string{"HTTPS_PROXY", "https_proxy"}
	case "http":
		names = []string{"HTTP_PROXY", "http_proxy"}
	default:
		return nil
	}
	names = append(names, "ALL_PROXY", "all_proxy")
	var facts *ProxyFacts
	for _, n := range names {
		v := strings.TrimSpace(getenv(n))
		if v == "" {
			continue
		}
		facts = describeProxy(v)
		facts.Var = n
		switch {
		case strings.EqualFold(n, "ALL_PROXY"):
			facts.ReadBy = "curl (Go ignores ALL_PROXY)"
		case n == "HTTP_PROXY":
			facts.ReadBy = "Go, Python requests (curl ignores upper-case HTTP_PROXY)"
		default:
			facts.ReadBy = "Go, curl, Python requests"
		}
		break
	}
	if facts == nil {
		return nil
	}
	host := target.Hostname()
	if isLoopback(host) {
		facts.Bypassed, facts.NoProxy = true, "loopback (Go never proxies localhost or loopback addresses)"
		return facts
	}
	for _, n := range []string{"NO_PROXY", "no_proxy"} {
		v := getenv(n)
		if v == "" {
			continue
		}
		if entry, ok := noProxyMatch(v, host, target.Port()); ok {
			facts.Bypassed, facts.NoProxy = true, n+"="+entry
		}
		break
	}
	return facts
}

// describeProxy parses a proxy URL and keeps only what may be shown.
func describeProxy(v string) *ProxyFacts {
	f := &ProxyFacts{}
	raw := v
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw // Go and curl assume http for a bare host:port
	}
	scheme, rest, _ := strings.Cut(raw, "://")
	authority := rest
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		// The authority ends at the first '/', '?' or '#' after the last '@' that could
		// belong to it; a raw '@' or '/' in a password makes this ambiguous, which is
		// exactly the NeedsEncoding case.
		if at := strings.LastIndex(rest, "@"); at > i {
			authority = rest[:at+1+strings.IndexAny(rest[at+1:]+"/", "/?#")]
			f.NeedsEncoding = true
		} else {
			authority = rest[:i]
		}
	}
	userinfo, hostport := "", authority
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		userinfo, hostport = authority[:at], authority[at+1:]
		f.HasCredentials = true
	}
	if f.HasCredentials {
		if strings.Contains(userinfo, "@") || strings.ContainsAny(userinfo, " #?/") || badPercent(userinfo) {
			f.NeedsEncoding = true
		}
		f.PercentEncoded = hasPercentEscape(userinfo)
		user, _, _ := strings.Cut(userinfo, ":")
		if u, err := url.PathUnescape(user); err == nil {
			user = u
		}
		shown := Escape(user)
		if len(shown) > 32 {
			shown = shown[:32] + "…"
		}
		f.URL = scheme + "://" + shown + ":***@" + Escape(hostport)
	} else {
		f.URL = scheme + "://" + Escape(hostport)
	}
	return f
}

func hasPercentEscape(s string) bool {
	for i := 0; i+2 < len(s); i++ {
		if s[i] == '%' && isHex(s[i+1]) && isHex(s[i+2]) {
			return true
		}
	}
	return false
}

func badPercent(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && (i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2])) {
			return true
		}
	}
	return false
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// noProxyMatch applies a NO_PROXY list to host and port and returns the entry that
// matched.
func noProxyMatch(list, host, port string) (string, bool) {
	host = strings.ToLower(host)
	ip := net.ParseIP(host)
	for _, e := range strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ' ' }) {
		entry := strings.ToLower(strings.TrimSpace(e))
		if entry == "" {
			continue
		}
		if entry == "*" {
			return e, true
		}
		if _, n, err := net.ParseCIDR(entry); err == nil {
			if ip != nil && n.Contains(ip) {
				return e, true
			}
			continue
		}
		ehost, eport := entry, ""
		if h, p, err := net.SplitHostPort(entry); err == nil {
			ehost, eport = h, p
		}
		if eport != "" && eport != port {
			continue
		}
		if eip := net.ParseIP(strings.Trim(ehost, "[]")); eip != nil {
			if ip != nil && eip.Equal(ip) {
				return e, true
			}
			continue
		}
		ehost = strings.TrimPrefix(ehost, "*")
		if strings.HasPrefix(ehost, ".") {
			if strings.HasSuffix(host, ehost) {
				return e, true
			}
			continue
		}
		if host == ehost || strings.HasSuffix(host, "."+ehost) {
			return e, true
		}
	}
	return "", false
}
