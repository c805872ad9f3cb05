package issuer

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/tokens"
)

// errNotOurs means a token is not a valid access token of this server: not a JWT, not
// signed by a published key, another issuer, or missing the claims every token we issue
// carries. Introspection answers it active=false and revocation 200, as RFC 7662 and
// RFC 7009 say.
var errNotOurs = errors.New("not an access token of this issuer")

// introspection is the RFC 7662 2.2 response. An inactive token gets only "active".
type introspection struct {
	Active    bool   `json:"active"`
	Scope     string `json:"scope,omitempty"`
	ClientID  string `json:"client_id,omitempty"`
	TokenType string `json:"token_type,omitempty"`
	Expiry    int64  `json:"exp,omitempty"`
	IssuedAt  int64  `json:"iat,omitempty"`
	Subject   string `json:"sub,omitempty"`
	Audience  any    `json:"aud,omitempty"`
	Issuer    string `json:"iss,omitempty"`
	ID        string `json:"jti,omitempty"`
}

func (s *Server) serveIntrospect(w http.ResponseWriter, r *http.Request) {
	serveEndpoint(s, w, r, "introspect", s.introspect, nil)
}

func (s *Server) introspect(w http.ResponseWriter, r *http.Request, ev *event) (*introspection, *oauthError) {
	form, oe := readForm(w, r)
	if oe != nil {
		return nil, oe
	}
	caller, oe := s.authenticateClient(r, form, ev)
	if oe != nil {
		return nil, oe
	}
	tok := form.Get("token")
	if tok == "" {
		return nil, errRequest("token is missing", "token_missing")
	}
	t, err := s.verifyOwn(r.Context(), tok)
	if err != nil {
		return &introspection{Active: false}, nil
	}
	ev.jti = t.Claims.ID
	// A client learns about its own tokens only, unless it was granted introspection of
	// others' (a resource server). Anything else gets the answer of an unknown token, so
	// the endpoint does not tell one client whether another's token is live (RFC 7662
	// section 4).
	if t.Claims.ClientID != caller.ID && !caller.Introspect {
		ev.cause = "introspect_not_permitted"
		return &introspection{Active: false}, nil
	}
	active, err := s.active(r.Context(), t)
	if err != nil {
		s.log.Warn("token service: introspection cannot read the store", "error", err)
		return nil, errUnavailable("the revocation store cannot be read right now; try again shortly", "store_unavailable")
	}
	if !active {
		return &introspection{Active: false}, nil
	}
	cl := &t.Claims
	out := &introspection{
		Active: true, Scope: joinScopes(cl.Scopes), ClientID: cl.ClientID, TokenType: "Bearer",
		Expiry: cl.Expiry.Unix(), IssuedAt: unixOrZero(cl.IssuedAt), Subject: cl.Subject,
		Issuer: cl.Issuer, ID: cl.ID,
	}
	switch len(cl.Audience) {
	case 0:
	case 1:
		out.Audience = cl.Audience[0]
	default:
		out.Audience = cl.Audience
	}
	return out, nil
}

// verifyOwn checks that tok is an access token this server issued: signature by a
// published key, typ at+jwt, iss, and the claims every such token carries. It does not
// check expiry or revocation.
func (s *Server) verifyOwn(ctx context.Context, tok string) (*tokens.Token, error) {
	s.keys() // drop keys that left the JWKS
	t, err := tokens.VerifyAccessToken(tok, s.verifyAlgs, s.ring)
	if errors.Is(err, tokens.ErrKeyUnknown) && s.RefreshKeys(ctx) {
		t, err = tokens.VerifyAccessToken(tok, s.verifyAlgs, s.ring)
	}
	if err != nil {
		return nil, errNotOurs
	}
	cl := &t.Claims
	if cl.Issuer != s.issuer || cl.ID == "" || cl.ClientID == "" || cl.Expiry.IsZero() {
		return nil, errNotOurs
	}
	return t, nil
}

// active reports whether a token of ours is unexpired, unrevoked and held by a client
// that still exists. It asks the store, not only the in-memory set, so an answer never
// lags a revocation made by another replica.
func (s *Server) active(ctx context.Context, t *tokens.Token) (bool, error) {
	cl := &t.Claims
	if !s.now().Before(cl.Expiry) {
		return false, nil
	}
	if s.revs.IsRevoked(cl.ID, cl.ClientID) {
		return false, nil
	}
	_, err := s.store.RevokedToken(ctx, cl.ID)
	switch {
	case err == nil:
		return false, nil
	case !errors.Is(err, store.ErrNotFound):
		return false, err
	}
	c, err := s.client(ctx, cl.ClientID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	case err != nil:
		return false, err
	}
	return !c.Removed(), nil
}

func joinScopes(s []string) string {
	out := ""
	for i, sc := range s {
		if i > 0 {
			out += " "
		}
		out += sc
	}
	return out
}

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}
