package issuer

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// grantClientCredentials is the one grant type the token endpoint serves.
const grantClientCredentials = "client_credentials"

// accessClaims are the claims of an RFC 9068 access token, in the order they are
// written.
type accessClaims struct {
	Issuer   string `json:"iss"`
	Subject  string `json:"sub"`
	Audience string `json:"aud"`
	Expiry   int64  `json:"exp"`
	IssuedAt int64  `json:"iat"`
	ID       string `json:"jti"`
	ClientID string `json:"client_id"`
	Scope    string `json:"scope,omitempty"`
}

// tokenResponse is the RFC 6749 5.1 success response.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope,omitempty"`
}

func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	serveEndpoint(s, w, r, "token", s.token, nil)
}

// serveEndpoint runs one OAuth endpoint: it logs the event and renders either the RFC
// 6749 error or the result, with write (as JSON when write is nil).
func serveEndpoint[T any](s *Server, w http.ResponseWriter, r *http.Request, endpoint string,
	run func(http.ResponseWriter, *http.Request, *event) (T, *oauthError), write func(http.ResponseWriter, T)) {
	ev := &event{endpoint: endpoint, started: s.now()}
	defer s.logEvent(r, ev)
	resp, oe := run(w, r, ev)
	if endpoint == "token" && s.onToken != nil {
		result := "issued"
		if oe != nil {
			result = oe.code
		}
		s.onToken(ev.grant, result)
	}
	if oe != nil {
		ev.err = oe
		s.writeError(w, oe)
		return
	}
	if write == nil {
		writeJSON(w, resp)
		return
	}
	write(w, resp)
}

// token runs the client credentials grant (RFC 6749 4.4): a well-formed request, a
// supported grant type, an authenticated client, a subset of its scopes.
func (s *Server) token(w http.ResponseWriter, r *http.Request, ev *event) (*tokenResponse, *oauthError) {
	form, oe := readForm(w, r)
	if oe != nil {
		return nil, oe
	}
	// The grant type is checked before the client: a request this endpoint can never
	// serve is refused without touching a secret or the failure budget.
	switch gt := form.Get("grant_type"); gt {
	case "":
		return nil, errRequest("grant_type is missing; this server issues tokens with grant_type=client_credentials", "grant_type_missing")
	case grantClientCredentials:
		ev.grant = grantClientCredentials
	default:
		return nil, &oauthError{status: http.StatusBadRequest, code: codeUnsupportedGrantType,
			description: describeGrantType(gt) + " is not supported; this server issues tokens only with grant_type=client_credentials",
			cause:       "grant_type_unsupported"}
	}
	c, oe := s.authenticateClient(r, form, ev)
	if oe != nil {
		return nil, oe
	}
	scopes, oe := grantScopes(form.Get("scope"), c.Scopes)
	if oe != nil {
		return nil, oe
	}
	return s.issue(c, scopes, ev)
}

// issue signs an access token for c with the key that signs now.
func (s *Server) issue(c *store.Client, scopes []string, ev *event) (*tokenResponse, *oauthError) {
	now := s.now()
	signer, key := s.keys().signer(now)
	if signer == nil {
		s.log.Error("token service: no signing key signs now", "error", ErrNoSigningKey)
		return nil, errUnavailable("no signing key is available right now; try again shortly", "no_signing_key")
	}
	iat := now.Unix()
	ttl := min(c.AccessTokenTTL, store.MaxAccessTokenTTL)
	exp := iat + int64((ttl+time.Second-1)/time.Second)
	if !key.ExpiresAt.IsZero() {
		// A retiring key: no token may outlive its publication (see SigningKeyRetention).
		if limit := key.ExpiresAt.Add(-retentionMargin).Unix(); exp > limit {
			exp = max(limit, iat+1)
		}
	}
	jti, err := newTokenID()
	if err != nil {
		return nil, &oauthError{status: http.StatusInternalServerError, code: codeServerError, description: "the token could not be issued", cause: "jti_random"}
	}
	claims := accessClaims{
		Issuer: s.issuer, Subject: c.ID, Audience: c.Audience, Expiry: exp, IssuedAt: iat,
		ID: jti, ClientID: c.ID, Scope: strings.Join(scopes, " "),
	}
	tok, err := signer.Sign(&claims)
	if err != nil {
		s.log.Error("token service: signing failed", "kid", key.ID, "error", err)
		return nil, &oauthError{status: http.StatusInternalServerError, code: codeServerError, description: "the token could not be issued", cause: "sign_failed"}
	}
	ev.jti, ev.kid, ev.scope = jti, key.ID, claims.Scope
	return &tokenResponse{AccessToken: tok, TokenType: "Bearer", ExpiresIn: exp - iat, Scope: claims.Scope}, nil
}

// registeredGrantTypes are grant types a description may name. Any other value is not
// repeated back: a client that put its secret in the wrong parameter must not see it in
// an error message (or a proxy's log of one).
var registeredGrantTypes = []string{
	"authorization_code", "password", "refresh_token", "implicit",
	"urn:ietf:params:oauth:grant-type:jwt-bearer", "urn:ietf:params:oauth:grant-type:saml2-bearer",
	"urn:ietf:params:oauth:grant-type:device_code", "urn:ietf:params:oauth:grant-type:token-exchange",
	"urn:openid:params:grant-type:ciba",
}

func describeGrantType(gt string) string {
	switch {
	case slices.Contains(registeredGrantTypes, gt):
		return "grant type '" + gt + "'"
	case strings.EqualFold(gt, grantClientCredentials) || strings.HasPrefix(strings.ToLower(gt), "client_cred"):
		return "this grant type (did you mean client_credentials, in lower case?)"
	}
	return "this grant type"
}

// newTokenID returns 128 random bits, base64url: a jti no two tokens share.
func newTokenID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// grantScopes returns the scopes to grant: all of the client's when none were requested
// (RFC 6749 3.3 lets the server choose a default), else the requested ones, which must
// be well-formed scope-tokens separated by single spaces, and each the client's.
func grantScopes(requested string, allowed []string) ([]string, *oauthError) {
	if requested == "" {
		return slices.Clone(allowed), nil
	}
	var out []string
	for _, sc := range strings.Split(requested, " ") {
		if sc == "" {
			return nil, &oauthError{status: http.StatusBadRequest, code: codeInvalidScope,
				description: "the scope parameter is malformed: scopes are separated by single spaces", cause: "scope_malformed"}
		}
		if err := store.ValidateScopes([]string{sc}); err != nil {
			return nil, &oauthError{status: http.StatusBadRequest, code: codeInvalidScope,
				description: "the scope parameter is malformed: a scope is printable ASCII without spaces, quotes or backslashes", cause: "scope_malformed"}
		}
		if !slices.Contains(allowed, sc) {
			return nil, &oauthError{status: http.StatusBadRequest, code: codeInvalidScope,
				description: "scope " + quoteBounded(sc) + " is not granted to this client", cause: "scope_not_allowed"}
		}
		if !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	return out, nil
}

// quoteBounded quotes a caller-chosen value for an error description: at most 64 bytes,
// printable ASCII, in single quotes (error_description may not hold '"').
func quoteBounded(s string) string {
	cut := len(s) > 64
	if cut {
		s = s[:64]
	}
	s = descriptionSafe(s)
	if cut {
		s += "..."
	}
	return "'" + s + "'"
}
