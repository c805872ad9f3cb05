package gateway

import (
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/gatehouse-dev/gatehouse/internal/proxy"
)

// Credentials names where an allowed request's credentials are, for a proxy that must
// remove them before the upstream: the route does not forward them
// (forward_authorization: false).
type Credentials struct {
	// Headers are header names in canonical form, Authorization first.
	Headers []string
	// Query are query parameter names, access_token first.
	Query []string
}

// DecideForward answers r exactly as the forward-auth decision endpoint does, whatever
// r's path: the caller must be a trusted proxy (r.RemoteAddr in trusted_proxies), the
// original request is read from the same X-Forwarded-Method / X-Forwarded-Uri /
// X-Original-* headers, the client's identity headers are removed, max_header_bytes
// applies, and the answer (200 with identity headers, a refusal with its problem body,
// a CORS preflight answer) is what the endpoint writes. It serves callers that are not
// HTTP proxies, such as the Envoy ext_authz gRPC service, which turn their own request
// into r and w's answer into theirs.
//
// For an allowed request on a route that does not forward credentials, it returns where
// they are, for the proxy to remove; otherwise the zero Credentials. A non-nil malformed
// says the caller could not turn its request into r: a trusted caller gets the 400
// invalid_request (or path_rejected, when it wraps decision.ErrPathRejected) with
// malformed's text as detail, so it must name no credential.
func (h *Handler) DecideForward(w http.ResponseWriter, r *http.Request, malformed error) Credentials {
	started := h.now()
	rid := newRequestID()
	clientRID := clientRequestID(r.Header.Get("X-Request-Id"))
	proxy.StripIdentityHeaders(r.Header)
	w.Header().Set("X-Request-Id", rid)
	if h.opts.Tracer != nil {
		// The same server span as the decide endpoint's: a check is a request too.
		var span trace.Span
		r, span = h.startSpan(r)
		defer span.End()
	}
	if limit := h.opts.MaxHeaderBytes; limit > 0 {
		if n := HeaderBytes(r); n > limit {
			h.headersTooLarge(w, r, rid, clientRID, started, n, limit)
			return Credentials{}
		}
	}
	rt := h.serveDecide(w, r, rid, clientRID, started, malformed)
	if rt == nil || rt.ForwardAuthorization {
		return Credentials{}
	}
	headers, query := credentialPlaces(rt.Route)
	c := Credentials{Headers: []string{"Authorization"}, Query: []string{proxy.AccessTokenParam}}
	for _, name := range headers {
		c.Headers = append(c.Headers, http.CanonicalHeaderKey(name))
	}
	c.Query = append(c.Query, query...)
	return c
}

// HeaderEnvoyRemove is the header of an allowed answer that tells Envoy's HTTP
// ext_authz filter which request headers to remove before the upstream.
const HeaderEnvoyRemove = "X-Envoy-Auth-Headers-To-Remove"

// serveEnvoyHTTP answers Envoy's HTTP ext_authz mode, where the check is the original
// request itself, with its method and headers, sent to the decide path followed by the
// original request target (http_service.path_prefix set to forward_auth.path). It
// reports false, without writing, when r is not such a check. The target is read from
// the request line as sent, before any cleaning, and decided as the decide endpoint
// decides X-Forwarded-Uri: the same cleaning, the same refusals. On an allow, the
// identity headers Gatehouse did not set and, on a route that does not forward them,
// the credential headers are listed in HeaderEnvoyRemove.
func (h *Handler) serveEnvoyHTTP(w http.ResponseWriter, r *http.Request, rid, clientRID string, started time.Time) bool {
	fa := h.opts.ForwardAuthPath
	uri := r.RequestURI
	if fa == "" || len(uri) <= len(fa) || uri[len(fa)] != '/' || uri[:len(fa)] != fa {
		return false
	}
	// The request line describes the request; headers of the same name a client sent
	// through Envoy's allow-list are replaced, as Traefik replaces its own.
	setHeaders(r.Header, "X-Forwarded-Method", r.Method, "X-Forwarded-Uri", uri[len(fa):])
	bw := newDecideWriter(w)
	rt := h.serveDecide(bw, r, rid, clientRID, started, nil)
	if bw.status == http.StatusOK {
		var remove []string
		for _, name := range identityHeaderNames {
			if bw.Header().Get(name) == "" {
				remove = append(remove, strings.ToLower(name))
			}
		}
		if rt != nil && !rt.ForwardAuthorization {
			remove = append(remove, "authorization")
			headers, _ := credentialPlaces(rt.Route)
			for _, name := range headers {
				remove = append(remove, strings.ToLower(name))
			}
		}
		if len(remove) > 0 {
			bw.Header().Set(HeaderEnvoyRemove, strings.Join(remove, ", "))
		}
	}
	bw.flush()
	return true
}

// identityHeaderNames are the identity headers the decide endpoint may set.
var identityHeaderNames = []string{proxy.HeaderSubject, proxy.HeaderScopes, proxy.HeaderAuthenticator, proxy.HeaderRequestID}
