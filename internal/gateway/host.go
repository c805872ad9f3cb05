package gateway

import (
	"net/http"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/proxy"
)

// requestHost is the host r is for, as routes match it (decision.NormalizeHost): the
// Host header, or X-Forwarded-Host when the peer is a trusted proxy (its last entry
// when a chain of proxies appended to it: the one the nearest proxy, which is trusted,
// wrote). A name in Unicode is compared in its ASCII (xn--) form; a host that is not a
// valid name matches only routes without a host. It allocates nothing for an ASCII
// lower-case Host, the common case.
func (h *Handler) requestHost(r *http.Request) string {
	raw := r.Host
	if vals := r.Header["X-Forwarded-Host"]; len(vals) > 0 && len(h.opts.TrustedProxies) > 0 {
		if peer := proxy.PeerAddr(r.RemoteAddr); peer.IsValid() && proxy.Trusted(peer, h.opts.TrustedProxies) {
			raw = vals[len(vals)-1]
			if i := strings.LastIndexByte(raw, ','); i >= 0 {
				raw = raw[i+1:]
			}
			raw = strings.TrimSpace(raw)
		}
	}
	return RequestHost(raw)
}

// RequestHost normalizes a Host header value for route matching: no port, no trailing
// dot, lower case, and an internationalized name in its ASCII form ("bücher.example"
// is "xn--bcher-kva.example"); "" when it is not a valid host.
func RequestHost(raw string) string {
	host := decision.NormalizeHost(raw)
	for i := 0; i < len(host); i++ {
		if host[i] >= utf8.RuneSelf {
			if !utf8.ValidString(host) {
				return ""
			}
			ascii, err := idna.Lookup.ToASCII(host)
			if err != nil {
				return ""
			}
			return ascii
		}
	}
	return host
}
