package doctor

import (
	"net"
	"net/url"
	"strings"
)

// Change says how a redirect's target differs from the URL that was redirected.
type Change string

// Redirect changes, from least to most drastic.
const (
	SameOrigin  Change = "same origin"
	OtherPort   Change = "same host, other port"
	OtherScheme Change = "same host, other scheme"
	Subdomain   Change = "subdomain of the host"
	OtherHost   Change = "other host"
)

// CrossOrigin reports whether the change leaves the origin (scheme, host and port).
func (c Change) CrossOrigin() bool { return c != SameOrigin }

// ClientKeeps is the redirect matrix of docs/doctor.md#redirects-and-credentials: which common clients
// would still send Authorization to a redirect's target.
type ClientKeeps struct {
	Go       bool `json:"go"`
	Curl     bool `json:"curl"`
	Requests bool `json:"requests"`
	Browser  bool `json:"browser"`
}

// allKeep is the state before any redirect.
var allKeep = ClientKeeps{Go: true, Curl: true, Requests: true, Browser: true}

// effectivePort returns the URL's port, or the scheme's default.
func effectivePort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if u.Scheme == "https" {
		return "443"
	}
	return "80"
}

func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Hostname(), b.Hostname()) &&
		effectivePort(a) == effectivePort(b)
}

func originOf(u *url.URL) string {
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host)
}

// classify says how to differs from from.
func classify(from, to *url.URL) Change {
	fh, th := strings.ToLower(from.Hostname()), strings.ToLower(to.Hostname())
	switch {
	case fh != th && isSubdomain(th, fh):
		return Subdomain
	case fh != th:
		return OtherHost
	case !strings.EqualFold(from.Scheme, to.Scheme):
		return OtherScheme
	case effectivePort(from) != effectivePort(to):
		return OtherPort
	}
	return SameOrigin
}

// isSubdomain reports whether sub is a subdomain of parent ("www.foo.com" of "foo.com"),
// which Go's redirect rule treats like the same host. IP literals have no subdomains.
func isSubdomain(sub, parent string) bool {
	if net.ParseIP(parent) != nil || net.ParseIP(sub) != nil {
		return false
	}
	return strings.HasSuffix(sub, "."+parent)
}

// nextKeeps applies one redirect from -> to to the clients' state. initial is the first
// request's URL, which curl compares against. Once a client dropped the credential it
// never restores it.
func nextKeeps(prev ClientKeeps, initial, from, to *url.URL) ClientKeeps {
	k := prev
	// Go 1.26 compares host names only: same host on any port or scheme, or a subdomain.
	fh, th := strings.ToLower(from.Hostname()), strings.ToLower(to.Hostname())
	k.Go = k.Go && (fh == th || isSubdomain(th, fh))
	// curl: any change of scheme, host or port from the original URL is another host.
	k.Curl = k.Curl && sameOrigin(initial, to)
	// requests' should_strip_auth: another host name strips; on the same host, http to
	// https on the default ports keeps, and otherwise a change of scheme or port strips.
	k.Requests = k.Requests && requestsKeeps(from, to)
	// Browsers (and Node's fetch) follow the Fetch standard: any cross-origin redirect
	// drops Authorization.
	k.Browser = k.Browser && sameOrigin(from, to)
	return k
}

func requestsKeeps(from, to *url.URL) bool {
	if !strings.EqualFold(from.Hostname(), to.Hostname()) {
		return false
	}
	fs, ts := strings.ToLower(from.Scheme), strings.ToLower(to.Scheme)
	fp, tp := from.Port(), to.Port()
	if fs == "http" && (fp == "" || fp == "80") && ts == "https" && (tp == "" || tp == "443") {
		return true
	}
	if fs == ts && effectivePort(from) == effectivePort(to) {
		return true
	}
	return false
}

// namedOrigins are the places the user allowed the credential to go.
type namedOrigins struct {
	origins []*url.URL
	hosts   []string // --allow-host values, lower-cased: "host" or "host:port"
}

// allows reports whether the credential may be sent to u.
func (n *namedOrigins) allows(u *url.URL) bool {
	if n == nil {
		return false
	}
	for _, o := range n.origins {
		if sameOrigin(o, u) {
			return true
		}
	}
	h := strings.ToLower(u.Hostname())
	hp := h + ":" + effectivePort(u)
	for _, a := range n.hosts {
		if a == h || a == hp || a == strings.ToLower(u.Host) {
			return true
		}
	}
	return false
}

// keepWord renders one client's behaviour.
func keepWord(b bool) string {
	if b {
		return "kept"
	}
	return "dropped"
}
