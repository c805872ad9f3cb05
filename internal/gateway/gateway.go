// Package gateway is the HTTP face of Gatehouse: the handler that every protected request
// passes through. It turns an *http.Request into a decision.Request, asks the matched
// route's decision.Route for a Decision, and then either forwards the request upstream or
// renders the denial. It is the only package that writes denials (status, challenges,
// problem+json body, log line); see deny.go.
package gateway

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/logline"
	"github.com/gatehouse-dev/gatehouse/internal/proxy"
	"github.com/gatehouse-dev/gatehouse/internal/tracing"
)

// Route is a compiled route: the decision policy plus where allowed requests go.
type Route struct {
	*decision.Route
	// Upstream is nil for a decision-only route: an allowed request is answered 204 with
	// the identity headers, as a forward-auth decision would be.
	Upstream *url.URL
	// Proxy forwards allowed requests to Upstream; set by New when nil.
	Proxy http.Handler
	// ForwardAuthorization keeps the client's credentials for the upstream: the
	// Authorization header and the headers and query parameters the route's
	// authenticators read. When false they are all removed, and so is access_token.
	ForwardAuthorization bool
}

// CORS is the cross-origin policy. The zero value allows no origin.
type CORS struct {
	// AllowedOrigins are exact origins ("https://app.example"), or "*" for any.
	AllowedOrigins []string
	// AllowedHeaders are request headers allowed besides Authorization and the API-key
	// headers of the route's authenticators.
	AllowedHeaders []string
	MaxAge         time.Duration
}

// Options configures a Handler. Realm is required; nil fields take documented defaults.
type Options struct {
	Realm string
	// TerseErrors leaves detail and error_description out of denials.
	TerseErrors bool
	Routes      []*Route
	CORS        CORS
	// TrustedProxies may name the client in X-Forwarded-For.
	TrustedProxies []netip.Prefix
	// ForwardAuthPath is where the forward-auth decision endpoint is served (see
	// forward.go); only TrustedProxies may call it. Empty means no endpoint.
	ForwardAuthPath string
	// Resource is the RFC 9728 resource identifier; empty means derived from the request.
	Resource             string
	AuthorizationServers []string
	// HeaderMappings are the authenticators' headers blocks, by authenticator name: an
	// allowed request verified by one of them carries the claims it maps to the
	// upstream (and, on the forward-auth endpoint and decision-only routes, in the
	// answer). Every header named in any of them is removed from every incoming request,
	// in every spelling, as the X-Gatehouse-* headers are.
	HeaderMappings map[string]*identity.Mapping
	// Transport carries proxied requests; nil means proxy.NewTransport(30s).
	Transport http.RoundTripper
	// Logger receives one line per decision; nil means slog.Default().
	Logger *slog.Logger
	// Observe, when set, is called once per decision after the response is written
	// (metrics, the explain ring).
	Observe func(Event)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxHeaderBytes is the most bytes a request's header section may have (the request
	// line and every field line, as HeaderBytes counts them); a larger one is refused
	// with 431 headers_too_large and a problem body. 0 means no limit. The server's own
	// limit must be set above it, or net/http answers first, without the problem body.
	MaxHeaderBytes int
	// Tracer, when set, starts a server span per request (see trace.go); nil is tracing
	// off, which costs the request path nothing.
	Tracer *tracing.Tracer
}

// Event is what Observe receives for each decided request: no credential, only its
// fingerprint.
type Event struct {
	// RequestID is the gateway's own id for the request, unique per request; the client
	// cannot choose it. ClientRequestID is the X-Request-Id the client sent, when it had
	// the accepted shape, kept for correlation only.
	RequestID       string
	ClientRequestID string
	Route           string
	Authenticator   string
	Allow           bool
	Status          int
	Reason          decision.Reason
	Detail          string
	Cause           string
	Subject         string
	Fingerprint     string
	Client          netip.Addr
	Started         time.Time
	Decision        time.Duration
	// Proxied is set when the request was passed to an upstream; Upstream is how long
	// that took, from the call to the last byte of the response copied to the client.
	Proxied  bool
	Upstream time.Duration
	// TraceID is the request's trace id while tracing is on, else empty.
	TraceID string
}

// Handler is the gateway's http.Handler. It is immutable once built; a configuration
// reload builds a new one.
type Handler struct {
	opts     Options
	routes   []*Route
	policies []*decision.Route // routes[i].Route, for decision.Select
	log      *slog.Logger
	now      func() time.Time
	scopes   []string // union of required scopes, for the RFC 9728 document
	origins  map[string]bool
	anyOrig  bool
	// mapped and folded are the header names of every HeaderMappings entry, canonical
	// and as proxy.FoldName folds them; nil when there are none.
	mapped, folded []string
}

// New compiles a Handler from o.
func New(o Options) *Handler {
	h := &Handler{opts: o, routes: o.Routes, log: o.Logger, now: o.Now, origins: map[string]bool{}}
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.now == nil {
		h.now = time.Now
	}
	if o.Transport == nil {
		o.Transport = proxy.NewTransport(30 * time.Second)
		h.opts.Transport = o.Transport
	}
	for _, m := range o.HeaderMappings {
		for _, name := range m.Names() {
			if !slices.Contains(h.mapped, name) {
				h.mapped = append(h.mapped, name)
			}
		}
	}
	slices.Sort(h.mapped)
	for _, name := range h.mapped {
		h.folded = append(h.folded, proxy.FoldName(name))
	}
	seen := map[string]bool{}
	for _, rt := range h.routes {
		h.policies = append(h.policies, rt.Route)
		for _, s := range rt.RequiredScopes {
			if !seen[s] {
				seen[s] = true
				h.scopes = append(h.scopes, s)
			}
		}
		if rt.Upstream != nil && rt.Proxy == nil {
			credHeaders, credQuery := credentialPlaces(rt.Route)
			rt.Proxy = proxy.New(proxy.Options{
				Upstream:             rt.Upstream,
				ForwardAuthorization: rt.ForwardAuthorization,
				Propagate:            propagate(o.Tracer),
				CredentialHeaders:    credHeaders,
				CredentialQuery:      credQuery,
				MappedHeaders:        h.mapped,
				TrustedProxies:       o.TrustedProxies,
				Transport:            o.Transport,
				ErrorHandler:         h.upstreamFailed,
				ModifyResponse:       h.corsOnResponse,
			})
		}
	}
	for _, origin := range o.CORS.AllowedOrigins {
		if origin == "*" {
			h.anyOrig = true
		}
		h.origins[origin] = true
	}
	return h
}

// ServeHTTP runs the request flow of docs/design.md, section 1.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	started := h.now()
	// The request is named by the gateway, whatever the client calls it: a client's
	// X-Request-Id is only repeated (in problem bodies, logs and explain) beside ours, so
	// that no client can reuse another request's id and take its place in explain.
	rid := newRequestID()
	clientRID := clientRequestID(r.Header.Get("X-Request-Id"))
	// Identity headers are ours alone: remove whatever the client sent before anything
	// else looks at the request, on every path including anonymous routes and errors.
	proxy.StripIdentityHeaders(r.Header)
	proxy.StripNamed(r.Header, h.folded)
	w.Header().Set("X-Request-Id", rid)
	if h.opts.Tracer != nil {
		var span trace.Span
		r, span = h.startSpan(r)
		defer span.End()
	}
	if limit := h.opts.MaxHeaderBytes; limit > 0 {
		if n := HeaderBytes(r); n > limit {
			h.headersTooLarge(w, r, rid, clientRID, started, n, limit)
			return
		}
	}

	if h.serveEnvoyHTTP(w, r, rid, clientRID, started) {
		return
	}
	p, err := decision.CleanPath(r.URL.Path)
	if err != nil {
		// Refused before anything else reads the path: the metadata and decide paths
		// are clean, so no request for them is lost here.
		ev := Event{RequestID: rid, Started: started, Client: proxy.ClientAddr(r, h.opts.TrustedProxies)}
		origin, corsOK := h.allowedOrigin(r)
		h.deny(w, r, nil, decision.Decision{Reason: decision.PathRejected, Detail: err.Error()}, &ev, origin, corsOK)
		return
	}
	if p != r.URL.Path {
		// Match and forward the same path: an upstream that resolves "/public/../admin"
		// itself must not receive a path the routes never saw.
		r.URL.Path, r.URL.RawPath = p, ""
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		if p == metadataPath || strings.HasPrefix(p, metadataPath+"/") {
			h.serveMetadata(w, r)
			return
		}
	}
	if h.opts.ForwardAuthPath != "" && p == h.opts.ForwardAuthPath {
		h.serveDecide(w, r, rid, clientRID, started, nil)
		return
	}

	origin, corsOK := h.allowedOrigin(r)
	if corsOK && r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		h.preflight(w, r, origin, p)
		return
	}

	host := h.requestHost(r)
	rt, d := h.findRoute(w.Header(), host, r.Method, p)
	ev := Event{RequestID: rid, ClientRequestID: clientRID, Started: started, Client: proxy.ClientAddr(r, h.opts.TrustedProxies)}
	if rt == nil {
		h.deny(w, r, nil, d, &ev, origin, corsOK)
		return
	}
	ev.Route = rt.Name

	req := decision.Request{Method: r.Method, Path: p, Host: host, Header: r.Header, Client: ev.Client}
	if r.TLS != nil {
		req.TLS, req.PeerCertificates = true, r.TLS.PeerCertificates
	}
	if r.URL.RawQuery != "" {
		req.Query = func(name string) []string { return r.URL.Query()[name] }
	}
	d = h.decide(r.Context(), rt, &req)
	ev.Decision = h.now().Sub(started)
	if !d.Allow {
		h.deny(w, r, rt, d, &ev, origin, corsOK)
		return
	}
	h.allow(w, r, rt, d, &ev, rid, origin, corsOK)
}

// credentialPlaces lists the headers and query parameters, besides Authorization, where
// the route's authenticators read credentials: a route that does not forward
// credentials removes all of them before the upstream.
func credentialPlaces(rt *decision.Route) (headers, query []string) {
	for _, a := range rt.Authenticators {
		for _, loc := range a.Locations() {
			switch loc.Source {
			case decision.FromHeader:
				headers = append(headers, loc.Name)
			case decision.FromQuery:
				query = append(query, loc.Name)
			}
		}
	}
	return headers, query
}

// decide asks rt for a decision on req, after refusing what must not reach any
// authenticator: an access_token query parameter next to an Authorization header is two
// methods in one request (RFC 6750 section 2), refused whether or not the route reads
// tokens from the query, so that the upstream never has to guess which one counted.
func (h *Handler) decide(ctx context.Context, rt *Route, req *decision.Request) decision.Decision {
	if !rt.Anonymous && req.Query != nil && req.Header != nil &&
		len(req.Header.Values("Authorization")) > 0 && len(req.Query(proxy.AccessTokenParam)) > 0 {
		return decision.Decision{Presented: true, Reason: decision.InvalidRequest,
			Detail: "credentials were sent in more than one place: Authorization and the access_token query parameter; send one"}
	}
	return rt.Decide(ctx, req)
}

// findRoute returns the route decision.Select chooses for method and the clean path p,
// or nil and the refusal: 404 route_not_found, 405 method_not_allowed when a route
// claims the path but not the method (with the methods it takes set in hd's Allow), or
// 400 path_rejected when ;parameters make the path name two routes.
func (h *Handler) findRoute(hd http.Header, host, method, p string) (*Route, decision.Decision) {
	sel := decision.SelectHost(h.policies, host, method, p)
	if sel.Index >= 0 {
		return h.routes[sel.Index], decision.Decision{}
	}
	if sel.Ambiguous {
		return nil, decision.Decision{Reason: decision.PathRejected,
			Detail: "the path's ;parameters put it under another route than the path as written; servers differ in reading them, so send the path without them"}
	}
	if len(sel.Allow) > 0 {
		allow := strings.Join(sel.Allow, ", ")
		hd.Set("Allow", allow)
		return nil, decision.Decision{Reason: decision.MethodNotAllowed,
			Detail: method + " is not allowed for " + p + "; the routes for it take " + allow}
	}
	return nil, decision.Decision{Reason: decision.RouteNotFound, Detail: "no route matches " + method + " " + p}
}

func (h *Handler) allow(w http.ResponseWriter, r *http.Request, rt *Route, d decision.Decision, ev *Event, rid, origin string, corsOK bool) {
	if rt.Anonymous {
		setHeaders(r.Header, proxy.HeaderRequestID, rid)
	} else {
		setHeaders(r.Header, proxy.HeaderSubject, headerSafe(d.Principal.Subject),
			proxy.HeaderScopes, headerSafe(strings.Join(d.Principal.Scopes, " ")),
			proxy.HeaderAuthenticator, d.Authenticator, proxy.HeaderRequestID, rid)
		h.opts.HeaderMappings[d.Authenticator].Apply(r.Header, d.Principal.Claims)
	}
	ev.Allow, ev.Status = true, http.StatusOK
	ev.Authenticator, ev.Subject, ev.Fingerprint = d.Authenticator, d.Principal.Subject, d.Fingerprint
	if rt.Proxy == nil {
		if corsOK {
			setCORS(w.Header(), origin)
		}
		// Decision-only route: answer like a forward-auth decision.
		for _, name := range []string{proxy.HeaderSubject, proxy.HeaderScopes, proxy.HeaderAuthenticator, proxy.HeaderRequestID} {
			if v := r.Header.Get(name); v != "" {
				w.Header().Set(name, v)
			}
		}
		for _, name := range h.mapped {
			if v := r.Header[name]; len(v) > 0 {
				w.Header()[name] = v
			}
		}
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNoContent)
		ev.Status = http.StatusNoContent
	} else {
		// The decision recorded is what the client got: the upstream's status, or the
		// 502/504 upstreamFailed noted.
		ev.TraceID = h.traceID(r.Context())
		uw := upstreamWriters.Get().(*upstreamWriter)
		uw.ResponseWriter, uw.rid, uw.clientRID, uw.traceID = w, ev.RequestID, ev.ClientRequestID, ev.TraceID
		proxyStarted := h.now()
		rt.Proxy.ServeHTTP(uw, r)
		ev.Proxied, ev.Upstream = true, h.now().Sub(proxyStarted)
		if uw.status != 0 {
			ev.Status = uw.status
		}
		if uw.reason != "" {
			ev.Allow, ev.Reason, ev.Detail, ev.Cause = false, uw.reason, uw.detail, uw.cause
		}
		*uw = upstreamWriter{}
		upstreamWriters.Put(uw)
	}
	h.record(r.Context(), time.Time{}, r.Method, r.URL.Path, ev)
}

// headersTooLarge refuses a request whose header section is larger than MaxHeaderBytes.
func (h *Handler) headersTooLarge(w http.ResponseWriter, r *http.Request, rid, clientRID string, started time.Time, n, limit int) {
	ev := Event{RequestID: rid, ClientRequestID: clientRID, Started: started, Client: proxy.ClientAddr(r, h.opts.TrustedProxies)}
	origin, corsOK := h.allowedOrigin(r)
	d := decision.Decision{Reason: HeadersTooLarge,
		Detail: "the request's header fields are " + strconv.Itoa(n) + " bytes; at most " + strconv.Itoa(limit) + " are accepted"}
	// The connection is not reused: what follows a request this large is not worth
	// reading.
	w.Header().Set("Connection", "close")
	h.deny(w, r, nil, d, &ev, origin, corsOK)
}

// HeaderBytes is the size of r's header section as HTTP/1.1 sends it: the request line,
// the Host field and every other field line, each with its CRLF, and the empty line that
// ends them. It is what max_header_bytes limits, net/http's own measure, computed the
// same way for HTTP/2 requests.
func HeaderBytes(r *http.Request) int {
	n := len(r.Method) + 1 + len(r.RequestURI) + 1 + len(r.Proto) + 2 + 2
	if r.Host != "" {
		n += len("Host: ") + len(r.Host) + 2
	}
	for name, vals := range r.Header {
		for _, v := range vals {
			n += len(name) + 2 + len(v) + 2
		}
	}
	return n
}

// headerSafe drops bytes that cannot appear in a header value, so an issuer's odd
// subject cannot split or break the upstream request.
func headerSafe(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return strings.Map(func(r rune) rune {
				if r < ' ' && r != '\t' || r == 0x7f {
					return -1
				}
				return r
			}, s)
		}
	}
	return s
}

// clientRequestID returns the client's X-Request-Id when it is 1-128 characters of
// [A-Za-z0-9._-], else "".
func clientRequestID(in string) string {
	n := len(in)
	if n < 1 || n > 128 {
		return ""
	}
	for i := 0; i < n; i++ {
		c := in[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return ""
		}
	}
	return in
}

// newRequestID returns a fresh request id: 24 lower-case hex digits.
func newRequestID() string {
	// Request ids name requests in logs and explain, they guard nothing, so
	// math/rand/v2's generator (ChaCha8, seeded from the operating system, no system
	// call per id) is enough: 96 bits do not repeat by chance, and a client that cannot
	// see the generator's state cannot predict the next one.
	var b [24]byte
	x, y := rand.Uint64(), rand.Uint32()
	for i := range 16 {
		b[i] = hexDigits[x>>(60-4*i)&0xf]
	}
	for i := range 8 {
		b[16+i] = hexDigits[y>>(28-4*i)&0xf]
	}
	return string(b[:])
}

const hexDigits = "0123456789abcdef"

// setHeaders sets each key of kv (key, value, key, value...) to its value in hd, with
// one allocation for all of them where Header.Set makes one per header. Keys must be
// in canonical form.
func setHeaders(hd http.Header, kv ...string) {
	vals := make([]string, len(kv)/2)
	for i := range vals {
		vals[i] = kv[2*i+1]
		// A full slice expression: appending to one header cannot overwrite the next.
		hd[kv[2*i]] = vals[i : i+1 : i+1]
	}
}

// record writes the decision's log line, dated t (zero: now), and hands ev to Observe.
// method and path are the request's as the gateway decided it (for the forward-auth
// endpoint, the original request's).
func (h *Handler) record(ctx context.Context, t time.Time, method, path string, ev *Event) {
	if t.IsZero() {
		t = h.now()
	}
	lvl := slog.LevelInfo
	if !ev.Allow && ev.Status >= 500 {
		lvl = slog.LevelWarn
	}
	msg := "allow"
	if !ev.Allow {
		msg = "deny"
	}
	// Built on the stack and written by logline without slog's generic path: this line
	// is written for every request (see package logline).
	var fields [14]logline.Field
	f := append(fields[:0],
		logline.String("request_id", ev.RequestID),
		logline.String("method", method),
		logline.String("path", path),
		logline.String("route", ev.Route),
		logline.Int("status", int64(ev.Status)),
		logline.Addr("client", ev.Client))
	if ev.ClientRequestID != "" {
		f = append(f, logline.String("client_request_id", ev.ClientRequestID))
	}
	if ev.Authenticator != "" {
		f = append(f, logline.String("authenticator", ev.Authenticator))
	}
	if ev.Reason != "" {
		f = append(f, logline.String("reason", string(ev.Reason)))
	}
	if ev.Cause != "" {
		f = append(f, logline.String("cause", ev.Cause))
	}
	if ev.Reason == decision.Forbidden && ev.Detail != "" {
		// The unmet route requirement, by name: operators read it here without the
		// client's copy of the problem (it never holds a credential's value).
		f = append(f, logline.String("detail", ev.Detail))
	}
	if ev.Subject != "" {
		f = append(f, logline.String("subject", ev.Subject))
	}
	if ev.Fingerprint != "" {
		f = append(f, logline.String("fingerprint", ev.Fingerprint))
	}
	if h.opts.Tracer != nil {
		h.endSpan(ctx, method, path, ev)
		if ev.TraceID != "" {
			f = append(f, logline.String("trace_id", ev.TraceID))
		}
	}
	f = append(f, logline.Int("decision_us", ev.Decision.Microseconds()))
	logline.Log(ctx, h.log, t, lvl, msg, f...)
	if h.opts.Observe != nil {
		h.opts.Observe(*ev)
	}
}
