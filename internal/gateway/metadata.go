package gateway

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/proxy"
)

// metadataPath is where RFC 9728 places a protected resource's metadata.
const metadataPath = "/.well-known/oauth-protected-resource"

// resourceMetadata is the RFC 9728 document.
type resourceMetadata struct {
	Resource               string   `json:"resource"`
	AuthorizationServers   []string `json:"authorization_servers,omitempty"`
	ScopesSupported        []string `json:"scopes_supported,omitempty"`
	BearerMethodsSupported []string `json:"bearer_methods_supported"`
	ResourceName           string   `json:"resource_name,omitempty"`
}

// baseURL is the scheme and authority clients used to reach the gateway: the configured
// resource when there is one, else derived from the request (X-Forwarded-Proto/Host are
// believed only from trusted proxies).
func (h *Handler) baseURL(r *http.Request) string {
	if h.opts.Resource != "" {
		return strings.TrimSuffix(h.opts.Resource, "/")
	}
	scheme, host := "http", r.Host
	if r.TLS != nil {
		scheme = "https"
	}
	if proxy.Trusted(proxy.PeerAddr(r.RemoteAddr), h.opts.TrustedProxies) {
		if p := r.Header.Get("X-Forwarded-Proto"); p == "http" || p == "https" {
			scheme = p
		}
		if fh := r.Header.Get("X-Forwarded-Host"); validHost(fh) {
			host = fh
		}
	}
	if !validHost(host) {
		host = "localhost"
	}
	return scheme + "://" + host
}

// validHost accepts a host[:port] made of the characters a host name or IP literal uses,
// so a hostile Host header cannot inject text into challenges or the metadata document.
func validHost(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(".-:[]_", c) >= 0) {
			return false
		}
	}
	return true
}

func (h *Handler) metadataURL(r *http.Request) string {
	return h.baseURL(r) + metadataPath
}

// audiencer is implemented by authenticators whose tokens carry an audience (jwt).
type audiencer interface{ Audience() []string }

// resource is the document's resource: the configured one; else the first audience of
// the authenticators of the route the document describes (the route of the path after
// the well-known prefix, or, for the document at the prefix itself, the first route
// with such an authenticator) that is an absolute URI, so that a client asks its
// authorization server for a token with the audience this gateway accepts; else the
// gateway's own base URL.
func (h *Handler) resource(r *http.Request, p string) string {
	if h.opts.Resource != "" {
		return h.baseURL(r)
	}
	routes := h.routes
	if sub := strings.TrimPrefix(p, metadataPath); sub != "" {
		routes = nil
		if sel := decision.Select(h.policies, http.MethodGet, sub); sel.Index >= 0 {
			routes = h.routes[sel.Index : sel.Index+1]
		}
	}
	for _, rt := range routes {
		for _, a := range rt.Authenticators {
			if au, ok := a.(audiencer); ok {
				for _, aud := range au.Audience() {
					if u, err := url.Parse(aud); err == nil && u.Scheme != "" && u.Opaque == "" && u.Fragment == "" {
						return aud
					}
				}
			}
		}
	}
	return h.baseURL(r)
}

func (h *Handler) serveMetadata(w http.ResponseWriter, r *http.Request) {
	doc := resourceMetadata{
		Resource:               h.resource(r, r.URL.Path),
		AuthorizationServers:   h.opts.AuthorizationServers,
		ScopesSupported:        h.scopes,
		BearerMethodsSupported: []string{"header"},
		ResourceName:           h.opts.Realm,
	}
	body, _ := json.MarshalIndent(doc, "", "  ")
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	if origin, ok := h.allowedOrigin(r); ok {
		setCORS(w.Header(), origin)
	}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(append(body, '\n'))
	}
}
