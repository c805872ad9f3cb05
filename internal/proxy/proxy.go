// Package proxy forwards authenticated requests to upstreams. It wraps
// net/http/httputil.ReverseProxy (in Rewrite mode, never Director) with the header hygiene
// an authentication gateway owes its upstreams: identity headers a client tried to spoof
// are removed, Gatehouse's own are set, X-Forwarded-* describe the real client, and an
// upstream failure is reported as 502/504, never as an authentication failure.
package proxy

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Identity headers Gatehouse sets for upstreams (docs/config.md, under a route's
// upstream).
const (
	HeaderSubject       = "X-Gatehouse-Subject"
	HeaderScopes        = "X-Gatehouse-Scopes"
	HeaderAuthenticator = "X-Gatehouse-Authenticator"
	HeaderRequestID     = "X-Gatehouse-Request-Id"
)

// identityHeaders are the headers Rewrite copies from the incoming request to the
// outgoing one, in canonical form.
var identityHeaders = [...]string{HeaderSubject, HeaderScopes, HeaderAuthenticator, HeaderRequestID}

// AccessTokenParam is the query parameter RFC 6750 section 2.3 defines for bearer
// tokens. It is treated as a credential on every route, whether or not an authenticator
// reads it: a route that does not forward credentials never passes it upstream.
const AccessTokenParam = "access_token"

// StripIdentityHeaders removes every header whose name, compared case-insensitively with
// '_' and '.' read as '-', starts with "x-gatehouse-". Upstreams such as PHP or nginx fold
// '_' into '-', so "X_Gatehouse_Subject" would otherwise reach them as our header. It
// runs on every request, anonymous routes included, whether or not this request will set
// the header.
func StripIdentityHeaders(h http.Header) {
	for name := range h {
		if isIdentityHeader(name) {
			delete(h, name)
		}
	}
}

const identityPrefix = "x-gatehouse-"

// FoldName lower-cases a header name and reads '_' and '.' as '-': the form StripNamed
// compares, since upstreams such as PHP or nginx fold '_' into '-'.
func FoldName(name string) string {
	b := []byte(strings.ToLower(name))
	for i, c := range b {
		if c == '_' || c == '.' {
			b[i] = '-'
		}
	}
	return string(b)
}

// StripNamed removes every header of h whose name, folded as FoldName folds it, is in
// folded (names already folded). It is how the headers authenticators map claims to
// are kept the gateway's own: a client's copy, in any spelling, never reaches the
// upstream. With no names it returns at once.
func StripNamed(h http.Header, folded []string) {
	if len(folded) == 0 {
		return
	}
	for name := range h {
		for _, f := range folded {
			if foldedEqual(name, f) {
				delete(h, name)
				break
			}
		}
	}
}

// foldedEqual reports whether name, folded, equals f, without allocating.
func foldedEqual(name, f string) bool {
	if len(name) != len(f) {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		case c == '_' || c == '.':
			c = '-'
		}
		if c != f[i] {
			return false
		}
	}
	return true
}

func isIdentityHeader(name string) bool {
	if len(name) < len(identityPrefix) {
		return false
	}
	for i := 0; i < len(identityPrefix); i++ {
		c := name[i]
		switch {
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		case c == '_' || c == '.':
			c = '-'
		}
		if c != identityPrefix[i] {
			return false
		}
	}
	return true
}

// Options configures a Proxy. Nil fields take the documented defaults.
type Options struct {
	// Upstream is the base URL requests are forwarded to. Required.
	Upstream *url.URL
	// ForwardAuthorization keeps the client's credentials for the upstream: the
	// Authorization header and the headers and query parameters named in
	// CredentialHeaders and CredentialQuery. When false, all of them are removed from the
	// outgoing request, and so is the access_token query parameter.
	ForwardAuthorization bool
	// CredentialHeaders are the headers, besides Authorization, where the route reads
	// credentials (API-key headers), in any spelling http.Header.Get accepts.
	CredentialHeaders []string
	// MappedHeaders are the headers, in canonical form, that authenticators map claims
	// to: like the identity headers, every spelling of them is removed from the outgoing
	// request and the gateway's own copy (set on the incoming request) is kept.
	MappedHeaders []string
	// CredentialQuery are the query parameters where the route reads credentials;
	// AccessTokenParam need not be listed.
	CredentialQuery []string
	// TrustedProxies are peers whose X-Forwarded-For is extended rather than replaced.
	TrustedProxies []netip.Prefix
	// Transport carries requests upstream; nil means NewTransport(30 * time.Second).
	Transport http.RoundTripper
	// ModifyResponse, when set, may adjust the upstream's response (CORS headers).
	ModifyResponse func(*http.Response) error
	// ErrorHandler renders upstream failures; status is 502 or 504.
	ErrorHandler func(w http.ResponseWriter, r *http.Request, status int, err error)
	// Propagate, when set, writes the trace context of the incoming request's context
	// into the outgoing headers, replacing whatever traceparent and tracestate the
	// client sent. Nil (tracing off) forwards them untouched, like any other header.
	Propagate func(ctx context.Context, h http.Header)
}

// New returns a handler that forwards to o.Upstream. The caller sets identity headers on
// the incoming request (after StripIdentityHeaders) before calling ServeHTTP; the
// Rewrite copies them, and nothing else that looks like one, to the outgoing request.
//
// The Rewrite runs after ReverseProxy has removed the hop-by-hop headers, including
// every header the client named in Connection. That removal is the client's to ask for
// its own headers, never for the gateway's: identity headers and, on a route that
// forwards credentials, the credential headers are set on the outgoing request after
// it, so "Connection: X-Gatehouse-Subject, Authorization" changes nothing the upstream
// sees from Gatehouse.
func New(o Options) http.Handler {
	if o.Transport == nil {
		o.Transport = NewTransport(30 * time.Second)
	}
	trusted := o.TrustedProxies
	credHeaders := []string{"Authorization"}
	for _, name := range o.CredentialHeaders {
		credHeaders = append(credHeaders, http.CanonicalHeaderKey(name))
	}
	credQuery := append([]string{AccessTokenParam}, o.CredentialQuery...)
	mapped := make([]string, len(o.MappedHeaders))
	folded := make([]string, len(o.MappedHeaders))
	for i, name := range o.MappedHeaders {
		mapped[i], folded[i] = http.CanonicalHeaderKey(name), FoldName(name)
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			if !o.ForwardAuthorization {
				// Before SetURL, which appends the query to the upstream's own.
				pr.Out.URL.RawQuery = StripQuery(pr.Out.URL.RawQuery, credQuery)
			}
			pr.SetURL(o.Upstream)
			// SetURL rewrites Host to the upstream's; keep the client's Host visible in
			// X-Forwarded-Host instead, as a reverse proxy should.
			setForwarded(pr, trusted)
			out, in := pr.Out.Header, pr.In.Header
			StripIdentityHeaders(out)
			if o.Propagate != nil {
				o.Propagate(pr.In.Context(), out)
			}
			for _, name := range identityHeaders {
				if v := in[name]; len(v) > 0 {
					out[name] = v
				}
			}
			if len(mapped) > 0 {
				StripNamed(out, folded)
				for _, name := range mapped {
					if v := in[name]; len(v) > 0 {
						out[name] = v
					}
				}
			}
			for _, name := range credHeaders {
				if v := in[name]; o.ForwardAuthorization && len(v) > 0 {
					out[name] = v
				} else {
					delete(out, name)
				}
			}
		},
		Transport:      o.Transport,
		ModifyResponse: o.ModifyResponse,
		// Responses of unknown length (chunked) and server-sent events are flushed
		// after every write by ReverseProxy itself, whatever FlushInterval says. A
		// response of known length is written through the server's buffer and flushed
		// at most FlushInterval after a write, so a slow body still trickles through.
		// (-1 here flushed the headers from a timer goroutine and every body write
		// on its own: two or three write syscalls for a small response instead of one.)
		FlushInterval: FlushInterval,
		// A 32 KiB copy buffer per response was most of what the gateway allocated.
		BufferPool: copyBuffers,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			status := http.StatusBadGateway
			if isTimeout(err) {
				status = http.StatusGatewayTimeout
			}
			if o.ErrorHandler != nil {
				o.ErrorHandler(w, r, status, err)
				return
			}
			w.WriteHeader(status)
		},
	}
	return rp
}

// StripQuery returns raw without the pairs whose name, percent-decoded as url.ParseQuery
// decodes it, is one of names; every other pair is kept byte for byte, in its order.
// A name that does not decode is kept (ReverseProxy has already re-encoded a query
// that holds one, so this does not happen on the proxy's path).
func StripQuery(raw string, names []string) string {
	if raw == "" || len(names) == 0 {
		return raw
	}
	drop := false
	for pair := range strings.SplitSeq(raw, "&") {
		if queryNameIn(pair, names) {
			drop = true
			break
		}
	}
	if !drop {
		return raw // the common case: no allocation
	}
	var b strings.Builder
	b.Grow(len(raw))
	first := true
	for pair := range strings.SplitSeq(raw, "&") {
		if queryNameIn(pair, names) {
			continue
		}
		if !first {
			b.WriteByte('&')
		}
		first = false
		b.WriteString(pair)
	}
	return b.String()
}

func queryNameIn(pair string, names []string) bool {
	name, _, _ := strings.Cut(pair, "=")
	if strings.ContainsAny(name, "%+") {
		n, err := url.QueryUnescape(name)
		if err != nil {
			return false
		}
		name = n
	}
	for _, n := range names {
		if name == n {
			return true
		}
	}
	return false
}

// FlushInterval is how long a response of known length may wait in the server's buffer
// after a write before it is flushed to the client.
const FlushInterval = 100 * time.Millisecond

// copyBufferSize is the size of the buffers responses are copied through, as
// ReverseProxy's own.
const copyBufferSize = 32 << 10

// bufferPool recycles the copy buffers of ReverseProxy (httputil.BufferPool).
type bufferPool struct{ p sync.Pool }

// The pool holds array pointers: converting a slice back to one allocates nothing,
// where putting a *[]byte would allocate on every Put.
var copyBuffers = &bufferPool{p: sync.Pool{New: func() any { return new([copyBufferSize]byte) }}}

func (bp *bufferPool) Get() []byte { return bp.p.Get().(*[copyBufferSize]byte)[:] }

// Put takes back a buffer from Get; buffers of another size are left to the collector.
func (bp *bufferPool) Put(b []byte) {
	if cap(b) != copyBufferSize {
		return
	}
	bp.p.Put((*[copyBufferSize]byte)(b[:copyBufferSize]))
}

// setForwarded writes X-Forwarded-For/Host/Proto. A client's own X-Forwarded-For is
// believed (and extended) only when its peer address is a trusted proxy.
func setForwarded(pr *httputil.ProxyRequest, trusted []netip.Prefix) {
	peer := PeerAddr(pr.In.RemoteAddr)
	if peer.IsValid() && Trusted(peer, trusted) {
		pr.SetXForwarded()
		if p := pr.In.Header.Get("X-Forwarded-Proto"); p == "http" || p == "https" {
			pr.Out.Header.Set("X-Forwarded-Proto", p)
		}
		if h := pr.In.Header.Get("X-Forwarded-Host"); h != "" {
			pr.Out.Header.Set("X-Forwarded-Host", h)
		}
		return
	}
	if peer.IsValid() {
		pr.Out.Header.Set("X-Forwarded-For", peer.String())
	}
	pr.Out.Header.Set("X-Forwarded-Host", pr.In.Host)
	if pr.In.TLS != nil {
		pr.Out.Header.Set("X-Forwarded-Proto", "https")
	} else {
		pr.Out.Header.Set("X-Forwarded-Proto", "http")
	}
}

// PeerAddr parses the IP of a RemoteAddr ("ip:port"); the zero Addr if it does not parse.
func PeerAddr(remote string) netip.Addr {
	ap, err := netip.ParseAddrPort(remote)
	if err == nil {
		return ap.Addr().Unmap()
	}
	a, err := netip.ParseAddr(remote)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

// Trusted reports whether addr falls in one of prefixes.
func Trusted(addr netip.Addr, prefixes []netip.Prefix) bool {
	for _, p := range prefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// ClientAddr is the address a request comes from for logs and failure budgets: the socket
// peer, or, when the peer is a trusted proxy, the right-most untrusted address it names
// in X-Forwarded-For.
func ClientAddr(r *http.Request, trusted []netip.Prefix) netip.Addr {
	return ClientAddrOf(PeerAddr(r.RemoteAddr), r.Header, trusted)
}

// ClientAddrOf is ClientAddr for a request whose peer address is already parsed.
func ClientAddrOf(peer netip.Addr, h http.Header, trusted []netip.Prefix) netip.Addr {
	if !peer.IsValid() || !Trusted(peer, trusted) {
		return peer
	}
	vals := h["X-Forwarded-For"]
	for i := len(vals) - 1; i >= 0; i-- {
		parts := strings.Split(vals[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				return peer
			}
			a = a.Unmap()
			if !Trusted(a, trusted) {
				return a
			}
			peer = a
		}
	}
	return peer
}

// NewTransport returns the upstream transport: unlike http.DefaultTransport, which keeps
// only two idle connections per host, it keeps enough for a busy gateway to reuse
// connections instead of opening new ones under load. responseHeaderTimeout bounds the wait
// for an upstream's response headers without cutting off a streaming body.
func NewTransport(responseHeaderTimeout time.Duration) *http.Transport {
	return &http.Transport{
		Proxy: nil, // a gateway talks to its upstreams directly, whatever HTTP_PROXY says
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: 1 * time.Second,
		ResponseHeaderTimeout: responseHeaderTimeout,
	}
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
