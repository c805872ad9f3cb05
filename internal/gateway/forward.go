package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/proxy"
)

// The forward-auth endpoint (docs/design.md, section 4): a reverse proxy in front of the API
// (nginx auth_request, Traefik ForwardAuth, ingress-nginx) asks Gatehouse about each
// request it receives and acts on the answer. The original request is described by
// headers the proxy sets; Gatehouse believes them only from a trusted proxy.

// Headers a proxy uses to describe the original request, as the proxies document them
// (the names errors use) and in canonical form (the header map's keys: looking a
// name such as X-Original-URI up with Header.Values would allocate its canonical form
// on every request).
var (
	headerForwardedMethod = forwardHeader{"X-Forwarded-Method", "X-Forwarded-Method"} // Traefik
	headerForwardedURI    = forwardHeader{"X-Forwarded-Uri", "X-Forwarded-Uri"}       // Traefik
	headerOriginalMethod  = forwardHeader{"X-Original-Method", "X-Original-Method"}   // nginx, ingress-nginx
	headerOriginalURI     = forwardHeader{"X-Original-URI", "X-Original-Uri"}         // nginx
	headerOriginalURL     = forwardHeader{"X-Original-URL", "X-Original-Url"}         // ingress-nginx: scheme://host/path?query

	methodHeaders = []forwardHeader{headerForwardedMethod, headerOriginalMethod}
	targetHeaders = []forwardHeader{headerForwardedURI, headerOriginalURI, headerOriginalURL}
)

// forwardHeader is a header name as documented and its canonical form.
type forwardHeader struct{ name, key string }

// HeaderProblem carries, on a forward-auth denial, the same problem+json document as the
// body, on one line of ASCII. nginx's auth_request discards the body of the answer it
// gets, but can read its headers: the nginx example returns this header as the body of
// the refusal, so clients behind nginx see the same document as clients of the gateway.
const HeaderProblem = "X-Gatehouse-Problem"

// HeaderPreflight marks the decide endpoint's answer to a CORS preflight from an allowed
// origin, with the value PreflightAnswer. That answer is a 403 carrying the preflight's
// Access-Control-* headers, never a 2xx: the proxy must answer the client itself (204
// with those headers) and never pass the preflight to the upstream.
const (
	HeaderPreflight = "X-Gatehouse-Preflight"
	PreflightAnswer = "answer"
)

// maxProblemHeader bounds HeaderProblem: larger documents are left out of the header
// (the body still carries them) rather than overflow a proxy's header buffer, which
// nginx reports as a 502.
const maxProblemHeader = 4 << 10

// maxTarget bounds the original request target a proxy may describe.
const maxTarget = 16 << 10

// original is the request a proxy asks about.
type original struct {
	method string
	path   string // cleaned, as the gateway matches it
	query  string // raw query
	scheme string // from X-Original-URL, when it names one
	host   string // from X-Original-URL, when it names one
}

// request is r as if it were the original request, for what renders a refusal or a
// preflight answer: logs, challenges and the resource_metadata URL name what the client
// asked for, not the decide endpoint.
func (o *original) request(r *http.Request) *http.Request {
	orig := r.WithContext(r.Context())
	orig.Method = o.method
	orig.URL = &url.URL{Path: o.path, RawQuery: o.query}
	orig.RequestURI = ""
	return orig
}

// serveDecide answers the forward-auth endpoint. Only a peer in trusted_proxies may ask;
// the original request is read from the proxy's headers, matched against every route
// (with or without an upstream) and decided with the credentials the proxy forwarded.
// An allowed request gets 200 with the identity headers and no body; a refusal gets the
// contract status, challenges and problem+json body of the gateway, with the problem
// also in HeaderProblem and every challenge in one WWW-Authenticate field. It returns the
// route of an allowed request, nil for every other answer. A non-nil malformed is the
// caller's own finding that the proxy's description cannot be read: it is refused as
// readOriginal's errors are, once the caller is known to be trusted.
func (h *Handler) serveDecide(w http.ResponseWriter, r *http.Request, rid, clientRID string, started time.Time, malformed error) *Route {
	peer := proxy.PeerAddr(r.RemoteAddr)
	ev := Event{RequestID: rid, ClientRequestID: clientRID, Started: started, Client: peer}
	if !peer.IsValid() || !proxy.Trusted(peer, h.opts.TrustedProxies) {
		// A caller that is not a trusted proxy could describe any request it likes and
		// learn which credentials pass; it is told nothing but that it may not ask.
		who := "this caller"
		if peer.IsValid() {
			who = peer.String()
		}
		d := decision.Decision{Reason: decision.Forbidden,
			Detail: "only a trusted proxy may ask for forward-auth decisions; " + who + " is not in trusted_proxies"}
		h.denyDecide(w, r, nil, d, &ev, "", false)
		return nil
	}
	ev.Client = proxy.ClientAddrOf(peer, r.Header, h.opts.TrustedProxies)

	o, err := readOriginal(r.Header)
	if malformed != nil {
		err = malformed
	}
	if err != nil {
		d := decision.Decision{Reason: decision.InvalidRequest, Detail: err.Error()}
		if errors.Is(err, decision.ErrPathRejected) {
			// The same refusal the gateway gives the path itself.
			d.Reason = decision.PathRejected
		}
		h.denyDecide(w, r, nil, d, &ev, "", false)
		return nil
	}
	if o.host != "" && r.Header.Get("X-Forwarded-Host") == "" {
		r.Header.Set("X-Forwarded-Host", o.host)
	}
	if o.scheme != "" && r.Header.Get("X-Forwarded-Proto") == "" {
		r.Header.Set("X-Forwarded-Proto", o.scheme)
	}

	origin, corsOK := h.allowedOrigin(r)
	if corsOK && o.method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		bw := newDecideWriter(w)
		h.preflight(bw, o.request(r), origin, o.path)
		if bw.status == http.StatusNoContent {
			// A proxy passes any 2xx on to the upstream, and a preflight passed on reaches
			// the API with whatever body it carries and no identity. The answer is a 403
			// the proxy can tell apart from a refusal: it answers the client 204 with the
			// Access-Control-* headers itself (the nginx example does); a proxy that does
			// not know the marker refuses the preflight, which fails closed.
			bw.Header().Set(HeaderPreflight, PreflightAnswer)
			bw.status = http.StatusForbidden
		}
		bw.flush()
		return nil
	}

	// The original host: X-Forwarded-Host (the caller is a trusted proxy; set above
	// from X-Original-URL when absent), else the Host the proxy sent.
	host := h.requestHost(r)
	rt, d := h.findRoute(w.Header(), host, o.method, o.path)
	if rt == nil {
		h.denyDecide(w, o.request(r), nil, d, &ev, origin, corsOK)
		return nil
	}
	ev.Route = rt.Name

	// The decide request's own TLS connection, if any, is the proxy's: its certificate
	// is not the client's, so the request is decided as one without a client certificate.
	req := decision.Request{Method: o.method, Path: o.path, Host: host, Header: r.Header, Client: ev.Client}
	if o.query != "" {
		var values url.Values
		req.Query = func(name string) []string {
			if values == nil {
				// As url.URL.Query does for the gateway: malformed pairs are dropped.
				values, _ = url.ParseQuery(o.query)
			}
			return values[name]
		}
	}
	d = h.decide(r.Context(), rt, &req)
	decided := h.now()
	ev.Decision = decided.Sub(started)
	if !d.Allow {
		h.denyDecide(w, o.request(r), rt, d, &ev, origin, corsOK)
		return nil
	}

	hd := w.Header()
	if rt.Anonymous {
		setHeaders(hd, proxy.HeaderRequestID, rid, "Cache-Control", "no-store")
	} else {
		setHeaders(hd, proxy.HeaderSubject, headerSafe(d.Principal.Subject),
			proxy.HeaderScopes, headerSafe(strings.Join(d.Principal.Scopes, " ")),
			proxy.HeaderAuthenticator, d.Authenticator, proxy.HeaderRequestID, rid, "Cache-Control", "no-store")
		h.opts.HeaderMappings[d.Authenticator].Apply(hd, d.Principal.Claims)
	}
	if corsOK {
		setCORS(hd, origin)
	}
	w.WriteHeader(http.StatusOK)
	ev.Allow, ev.Status = true, http.StatusOK
	ev.Authenticator, ev.Subject, ev.Fingerprint = d.Authenticator, d.Principal.Subject, d.Fingerprint
	h.record(r.Context(), decided, o.method, o.path, &ev)
	return rt
}

// denyDecide renders a refusal through deny, the one renderer, and adapts it for proxies.
func (h *Handler) denyDecide(w http.ResponseWriter, r *http.Request, rt *Route, d decision.Decision, ev *Event, origin string, corsOK bool) {
	bw := newDecideWriter(w)
	h.deny(bw, r, rt, d, ev, origin, corsOK)
	bw.flush()
}

// foldedHeaders are sent as one field on the decide endpoint's refusals and preflight
// answers: nginx before 1.23 reads only the first field of a name into
// $upstream_http_*, and auth_request passes on only the first WWW-Authenticate.
var foldedHeaders = []string{"WWW-Authenticate", "Vary"}

// decideWriter holds a response until it is complete, so the body can be copied into
// HeaderProblem and the challenges folded into one field before anything is sent.
type decideWriter struct {
	w      http.ResponseWriter
	status int
	body   bytes.Buffer
}

func newDecideWriter(w http.ResponseWriter) *decideWriter {
	return &decideWriter{w: w, status: http.StatusOK}
}

func (d *decideWriter) Header() http.Header { return d.w.Header() }

func (d *decideWriter) WriteHeader(status int) { d.status = status }

func (d *decideWriter) Write(b []byte) (int, error) { return d.body.Write(b) }

// flush sends the held response.
func (d *decideWriter) flush() {
	hd := d.w.Header()
	for _, name := range foldedHeaders {
		if vs := hd.Values(name); len(vs) > 1 {
			hd.Set(name, strings.Join(vs, ", "))
		}
	}
	if strings.HasPrefix(hd.Get("Content-Type"), "application/problem+json") {
		if p := asciiJSON(bytes.TrimSpace(d.body.Bytes())); p != "" && len(p) <= maxProblemHeader {
			hd.Set(HeaderProblem, p)
		}
	}
	d.w.WriteHeader(d.status)
	_, _ = d.w.Write(d.body.Bytes())
}

// asciiJSON returns a JSON document with every non-ASCII character and DEL written as a
// \u escape, so it can travel as a header value. b is valid UTF-8 (encoding/json
// replaces invalid bytes) and DEL, like every byte outside ASCII, can only occur inside
// a JSON string, where the escape means the same; encoding/json escapes the other
// control characters itself.
func asciiJSON(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b))
	for len(b) > 0 {
		c, size := utf8.DecodeRune(b)
		b = b[size:]
		switch {
		case c == 0x7f:
			// encoding/json leaves DEL raw; header values must not carry it.
			sb.WriteString(`\u007f`)
		case c < utf8.RuneSelf:
			sb.WriteByte(byte(c))
		case c > 0xFFFF:
			c -= 0x10000
			fmt.Fprintf(&sb, `\u%04x\u%04x`, 0xD800+(c>>10), 0xDC00+(c&0x3FF))
		default:
			fmt.Fprintf(&sb, `\u%04x`, c)
		}
	}
	return sb.String()
}

// readOriginal reads the original request from the headers a trusted proxy sets:
// X-Forwarded-Method and X-Forwarded-Uri (Traefik), X-Original-Method and X-Original-URI
// (nginx), or X-Original-URL (ingress-nginx). Proxies pass the client's own headers on
// to the decide endpoint, and each sets only its own family, so a client could add the
// other family's headers to describe a request it is not making: every header present
// must therefore agree, and any disagreement is a 400, never a guess.
func readOriginal(hd http.Header) (original, error) {
	var o original
	method, err := agree(hd, "method", parseMethod, methodHeaders)
	if err != nil {
		return o, err
	}
	target, err := agree(hd, "request target", parseTarget, targetHeaders)
	if err != nil {
		return o, err
	}
	o.method = method.method
	o.path, o.query = target.path, target.query
	// Only an absolute X-Original-URL names the scheme and host; the other headers
	// agree with it on path and query, so they cannot contradict it.
	if u := hd[headerOriginalURL.key]; len(u) == 1 {
		t, _ := parseTarget(u[0])
		o.scheme, o.host = t.scheme, t.host
	}
	return o, nil
}

// agree parses every header of names that is present and requires all of them to mean
// the same thing. what names the value in errors.
func agree(hd http.Header, what string, parse func(string) (original, error), headers []forwardHeader) (original, error) {
	var got original
	first := ""
	for _, fh := range headers {
		vals := hd[fh.key]
		switch {
		case len(vals) == 0:
			continue
		case len(vals) > 1:
			return original{}, fmt.Errorf("%s was sent more than once", fh.name)
		}
		v, err := parse(vals[0])
		if err != nil {
			return original{}, fmt.Errorf("%s: %w", fh.name, err)
		}
		if first == "" {
			got, first = v, fh.name
			continue
		}
		if v.method != got.method || v.path != got.path || v.query != got.query {
			return original{}, fmt.Errorf("%s and %s describe different requests; a proxy sets one of them, so the other came from the client", first, fh.name)
		}
	}
	if first == "" {
		names := make([]string, len(headers))
		for i, fh := range headers {
			names[i] = fh.name
		}
		return original{}, fmt.Errorf("the proxy sent no %s: set %s", what, strings.Join(names, " or "))
	}
	return got, nil
}

// parseMethod accepts an HTTP method: a token of at most 32 characters, case-sensitive.
func parseMethod(s string) (original, error) {
	if s == "" {
		return original{}, errors.New("the method is empty")
	}
	if len(s) > 32 {
		return original{}, fmt.Errorf("the method is %d characters long; methods are short tokens such as GET", len(s))
	}
	for i := 0; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			return original{}, fmt.Errorf("byte %d is not allowed in a method; methods are tokens such as GET or POST", i)
		}
	}
	return original{method: s}, nil
}

// parseTarget accepts a request target in origin form ("/path?query") or an absolute
// http(s) URL, and returns its path decoded once and cleaned as the gateway cleans
// paths, so that "/public/../admin" is decided as "/admin"; a path decision.CleanPath
// refuses ("/public/..;/admin") is refused with its error.
func parseTarget(s string) (original, error) {
	switch {
	case s == "":
		return original{}, errors.New("the request target is empty")
	case len(s) > maxTarget:
		return original{}, fmt.Errorf("the request target is %d bytes; at most %d are accepted", len(s), maxTarget)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f {
			return original{}, fmt.Errorf("the request target contains a space or control character at byte %d", i)
		}
	}
	if strings.IndexByte(s, '#') >= 0 {
		return original{}, errors.New("the request target contains a fragment (#); clients never send one")
	}
	if path, query, _ := strings.Cut(s, "?"); s[0] == '/' && strings.IndexByte(path, '%') < 0 {
		// The common case, an origin-form target with nothing escaped in its path:
		// url.ParseRequestURI would only split it, at the cost of a url.URL per
		// request (FuzzParseTargetFastPath holds the two to each other).
		p, err := decision.CleanPath(path)
		if err != nil {
			return original{}, err
		}
		return original{path: p, query: query}, nil
	}
	return parseTargetURL(s)
}

// parseTargetURL is parseTarget for any target, with url.ParseRequestURI.
func parseTargetURL(s string) (original, error) {
	abs := strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
	if !abs && s[0] != '/' {
		return original{}, errors.New("the request target must start with / or be an absolute http or https URL")
	}
	u, err := url.ParseRequestURI(s)
	if err != nil {
		return original{}, fmt.Errorf("the request target does not parse: %w", unwrapURLError(err))
	}
	p, err := decision.CleanPath(u.Path)
	if err != nil {
		return original{}, err
	}
	o := original{path: p, query: u.RawQuery}
	if abs {
		if u.Host == "" || !validHost(u.Host) {
			return original{}, errors.New("the URL has no valid host")
		}
		if u.User != nil {
			return original{}, errors.New("the URL carries user information; a request target never does")
		}
		o.scheme, o.host = u.Scheme, u.Host
	}
	return o, nil
}

// unwrapURLError drops *url.Error's repetition of the whole input, which may hold a
// credential in its query.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// isTokenChar reports whether c may appear in an RFC 9110 token.
func isTokenChar(c byte) bool {
	if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
