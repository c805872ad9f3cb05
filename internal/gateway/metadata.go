package gateway

import (
	"encoding/json"
	"net/http"
	"strings"

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

func (h *Handler) serveMetadata(w http.ResponseWriter, r *http.Request) {
	doc := resourceMetadata{
		Resource:               h.baseURL(r),
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
