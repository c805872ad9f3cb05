package gateway

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
)

// allowedOrigin returns the request's Origin and whether the CORS policy allows it.
func (h *Handler) allowedOrigin(r *http.Request) (string, bool) {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return "", false
	}
	return origin, h.anyOrig || h.origins[origin]
}

// setCORS adds the headers an allowed origin needs to read a response, denials included:
// browser code must be able to read WWW-Authenticate and X-Request-Id to tell an expired
// token from other failures.
func setCORS(hd http.Header, origin string) {
	hd.Set("Access-Control-Allow-Origin", origin)
	hd.Add("Vary", "Origin")
	hd.Set("Access-Control-Expose-Headers", "WWW-Authenticate, X-Request-Id")
}

// preflight answers a CORS preflight from an allowed origin without authentication:
// browsers never attach credentials to preflights, so challenging one breaks every
// cross-origin call. The response lists Authorization and the route's API-key headers.
func (h *Handler) preflight(w http.ResponseWriter, r *http.Request, origin, p string) {
	method := r.Header.Get("Access-Control-Request-Method")
	rt, d := h.findRoute(w.Header(), h.requestHost(r), method, p)
	if rt == nil {
		rid := w.Header().Get("X-Request-Id")
		ev := Event{RequestID: rid, Started: h.now()}
		h.deny(w, r, nil, d, &ev, origin, true)
		return
	}
	hd := w.Header()
	hd.Set("Access-Control-Allow-Origin", origin)
	hd.Add("Vary", "Origin")
	hd.Add("Vary", "Access-Control-Request-Method")
	hd.Add("Vary", "Access-Control-Request-Headers")
	hd.Set("Access-Control-Allow-Methods", method)
	allowed := []string{"Authorization"}
	seen := map[string]bool{"authorization": true}
	for _, a := range rt.Authenticators {
		for _, loc := range a.Locations() {
			if loc.Source == decision.FromHeader && !seen[strings.ToLower(loc.Name)] {
				seen[strings.ToLower(loc.Name)] = true
				allowed = append(allowed, loc.Name)
			}
		}
	}
	for _, name := range h.opts.CORS.AllowedHeaders {
		if !seen[strings.ToLower(name)] {
			seen[strings.ToLower(name)] = true
			allowed = append(allowed, name)
		}
	}
	// Echo the simple request headers the browser asks for that are always safe.
	for _, name := range strings.Split(r.Header.Get("Access-Control-Request-Headers"), ",") {
		name = strings.ToLower(strings.TrimSpace(name))
		if (name == "content-type" || name == "x-request-id") && !seen[name] {
			seen[name] = true
			allowed = append(allowed, name)
		}
	}
	hd.Set("Access-Control-Allow-Headers", strings.Join(allowed, ", "))
	if age := h.opts.CORS.MaxAge; age > 0 {
		hd.Set("Access-Control-Max-Age", strconv.Itoa(int(age.Seconds())))
	}
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// corsOnResponse gives a proxied response the gateway's CORS headers when the request's
// origin is allowed. The gateway owns the CORS policy of the routes it protects, so an
// upstream's own Access-Control-Allow-Origin is replaced rather than duplicated.
func (h *Handler) corsOnResponse(resp *http.Response) error {
	if resp.Request == nil {
		return nil
	}
	origin, ok := h.allowedOrigin(resp.Request)
	if !ok {
		return nil
	}
	resp.Header.Del("Access-Control-Allow-Origin")
	setCORS(resp.Header, origin)
	return nil
}
