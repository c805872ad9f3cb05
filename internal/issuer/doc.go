// Package issuer is Gatehouse's token service: a small, strict OAuth 2.0 authorization
// server for machine clients. It serves, on the public listener,
//
//	POST /oauth2/token                         client credentials grant (RFC 6749 4.4)
//	POST /oauth2/introspect                    token introspection (RFC 7662)
//	POST /oauth2/revoke                        token revocation (RFC 7009)
//	GET  /.well-known/jwks.json                the public signing keys (RFC 7517)
//	GET  /.well-known/oauth-authorization-server  metadata (RFC 8414)
//
// below the path of the configured issuer URL (the metadata document, as RFC 8414
// section 3 says, at /.well-known/oauth-authorization-server followed by that path).
//
// Access tokens are JWTs in the profile of RFC 9068 (typ "at+jwt", kid, iss, sub, aud,
// exp, iat, jti, client_id, scope), signed with the current signing key. Clients, revoked
// tokens and signing keys live in the credential store; private keys are stored sealed
// (tokens.Sealer) under token_service.signing_key_secret.
//
// # Strictness
//
// Every refusal is an RFC 6749 section 5.2 error object with Cache-Control: no-store:
// invalid_client is 401 with a Basic challenge; invalid_request, invalid_scope,
// unsupported_grant_type and unauthorized_client are 400. A request is refused as
// invalid_request when it is not application/x-www-form-urlencoded, carries parameters
// in the URL, repeats a parameter (RFC 6749 3.1), uses two client authentication
// methods (2.3), or has a body over MaxBodyBytes, which is never read past that bound.
// client_secret_basic credentials are form-decoded after base64 (2.3.1), so secrets
// with reserved characters work with every conforming client. Client authentication
// reserves a unit of the gateway's failure budget (per client address and per client_id)
// before each check that is not answered from a cached client record, keeps it when the
// check fails and returns it when it succeeds; a spent budget is answered 429.
//
// invalid_grant is not produced: with the client credentials grant the grant is the
// client's own credentials, whose failure RFC 6749 section 4.4.2 answers as
// invalid_client.
//
// # Keys and trust
//
// At any time one signing key signs. Rotation (RotateSigningKey, `gatehouse signing-keys
// rotate`) adds a key that is published at once and signs only after a publication delay
// (by default the JWKS cache lifetime the JWKS endpoint advertises, so verifiers with a
// cached key set learn the key before its first token), and retires the previous one; a retired key stays in the JWKS until every token it signed has expired
// (tokens are never issued to outlive their key's publication), then leaves it and is
// deleted. The server exposes its live key set (KeyRing) and revocation set
// (Revocations) so the gateway's `issuer: self` authenticator verifies Gatehouse's own
// tokens without an HTTP round trip and refuses a revoked token at once. Invalidate
// follows the store's change feed, so a key rotated or a token revoked by another
// process or replica is seen within the watcher's poll interval.
package issuer
