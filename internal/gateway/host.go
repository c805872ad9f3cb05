package gateway

import (
	"net/http"
	"unicode/utf8"

	"golang.org/x/net/idna"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/proxy"
)

// requestHost is the host r is for, as routes match it (decision.NormalizeHost): the
// Host header, or X-Forwarded-Host when the peer is a trusted proxy (its last entry
// when a chain of proxies appended to it: the one the nearest proxy, which is trusted,
// wrote, and the one the proxy forwards). A name in Unicode is compared in its ASCII
// (xn--) form. ok is false when the request names a host that is not a valid one
// ("admin.example:x"): findRoute refuses it when routes match by host, since it would
// otherwise fall through to routes without a host while the upstream reads it as the
// host it resembles. It allocates nothing for an ASCII lower-case Host, the common case.
func (h *Handler) requestHost(r *http.Request) (host string, ok bool) {
	raw := r.Host
	if len(r.Header["X-Forwarded-Host"]) > 0 && len(h.opts.TrustedProxies) > 0 {
		if peer := proxy.PeerAddr(r.RemoteAddr); peer.IsValid() && proxy.Trusted(peer, h.opts.TrustedProxies) {
			raw = proxy.LastForwardedHost(r.Header)
		}
	}
	host = RequestHost(raw)
	return host, host != "" || raw == ""
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
