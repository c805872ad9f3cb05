package gateway

import (
	"net/http"

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
