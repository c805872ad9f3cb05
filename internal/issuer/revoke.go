package issuer

import (
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func (s *Server) serveRevoke(w http.ResponseWriter, r *http.Request) {
	run := func(w http.ResponseWriter, r *http.Request, ev *event) (struct{}, *oauthError) {
		return struct{}{}, s.revoke(w, r, ev)
	}
	serveEndpoint(s, w, r, "revoke", run, func(w http.ResponseWriter, _ struct{}) {
		// RFC 7009 2.2: 200, whether or not the token was valid; the body is ignored.
		noStore(w.Header())
		w.WriteHeader(http.StatusOK)
	})
}

// revoke implements RFC 7009: the client authenticates, and a token issued to it is
// revoked for every verifier at once. An invalid or unknown token is not an error (2.2);
// a token issued to another client is refused (2.1). token_type_hint is ignored, as
// 2.1 allows: this server issues access tokens only.
func (s *Server) revoke(w http.ResponseWriter, r *http.Request, ev *event) *oauthError {
	form, oe := readForm(w, r)
	if oe != nil {
		return oe
	}
	c, oe := s.authenticateClient(r, form, ev)
	if oe != nil {
		return oe
	}
	tok := form.Get("token")
	if tok == "" {
		return errRequest("token is missing", "token_missing")
	}
	t, err := s.verifyOwn(r.Context(), tok)
	if err != nil {
		return nil
	}
	cl := &t.Claims
	ev.jti = cl.ID
	if cl.ClientID != c.ID {
		return &oauthError{status: http.StatusBadRequest, code: codeUnauthorizedClient,
			description: "the token was issued to another client; a client may revoke only its own tokens (RFC 7009 2.1)",
			cause:       "token_of_other_client"}
	}
	now := s.now()
	if !now.Before(cl.Expiry) {
		return nil // expired: nothing left to revoke
	}
	if _, err := s.store.RevokeToken(r.Context(), &store.RevokedToken{ID: cl.ID, ClientID: c.ID, ExpiresAt: cl.Expiry, RevokedAt: now}); err != nil {
		s.log.Warn("token service: recording a revocation failed", "jti", cl.ID, "error", err)
		return errUnavailable("the revocation could not be recorded; try again shortly", "store_unavailable")
	}
	// The change feed brings it to other replicas; this one refuses the token now.
	s.revs.revokeToken(cl.ID, cl.Expiry)
	return nil
}
