package issuer

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// jwksMaxAge is how long a verifier may cache the JWKS. A publication delay of at least
// this long lets every verifier that honours it learn a new key before it signs.
const jwksMaxAge = 300

// authMethods are the client authentication methods every endpoint accepts.
var authMethods = []string{string(authBasic), string(authPost)}

// serverMetadata is the RFC 8414 document.
type serverMetadata struct {
	Issuer                           string   `json:"issuer"`
	TokenEndpoint                    string   `json:"token_endpoint"`
	JWKSURI                          string   `json:"jwks_uri"`
	ResponseTypesSupported           []string `json:"response_types_supported"`
	GrantTypesSupported              []string `json:"grant_types_supported"`
	TokenEndpointAuthMethods         []string `json:"token_endpoint_auth_methods_supported"`
	IntrospectionEndpoint            string   `json:"introspection_endpoint"`
	IntrospectionEndpointAuthMethods []string `json:"introspection_endpoint_auth_methods_supported"`
	RevocationEndpoint               string   `json:"revocation_endpoint"`
	RevocationEndpointAuthMethods    []string `json:"revocation_endpoint_auth_methods_supported"`
}

func (s *Server) buildMetadata() []byte {
	doc := serverMetadata{
		Issuer:        s.issuer,
		TokenEndpoint: s.urls.token,
		JWKSURI:       s.urls.jwks,
		// There is no authorization endpoint, so no response type; RFC 8414 makes the
		// member required, and an empty list says exactly that.
		ResponseTypesSupported:           []string{},
		GrantTypesSupported:              []string{grantClientCredentials},
		TokenEndpointAuthMethods:         authMethods,
		IntrospectionEndpoint:            s.urls.introspect,
		IntrospectionEndpointAuthMethods: authMethods,
		RevocationEndpoint:               s.urls.revoke,
		RevocationEndpointAuthMethods:    authMethods,
	}
	b, _ := json.MarshalIndent(doc, "", "  ")
	return append(b, '\n')
}

// getOnly answers anything but GET and HEAD with 405; it reports whether to go on.
func getOnly(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	return false
}

func (s *Server) serveMetadata(w http.ResponseWriter, r *http.Request) {
	if !getOnly(w, r) {
		return
	}
	writePublic(w, r, "application/json", s.metadata, 3600)
}

func (s *Server) serveJWKS(w http.ResponseWriter, r *http.Request) {
	if !getOnly(w, r) {
		return
	}
	writePublic(w, r, "application/jwk-set+json", s.keys().jwks, jwksMaxAge)
}

// writePublic serves a public document any origin may read and any cache may keep for
// maxAge seconds.
func writePublic(w http.ResponseWriter, r *http.Request, contentType string, body []byte, maxAge int) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", "public, max-age="+strconv.Itoa(maxAge))
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}
