// Package client is the Go client side of Gatehouse: an http.RoundTripper that attaches
// a credential to every request, handles a 401 the way docs/design.md asks of a client
// ("on a 401 that says the token is bad, refresh once, then give up"), and never carries
// the credential to another origin. It works against any server that speaks RFC 6750 and
// RFC 9457, not only Gatehouse.
//
// # Credentials
//
// A Credentials value sets one header on each request:
//
//   - Bearer: a static token (no refresh);
//   - APIKey: an API key in X-API-Key, or in another header with APIKeyHeader;
//   - Basic: a user name and password (RFC 7617, UTF-8);
//   - TokenSource and ClientCredentials: OAuth 2.0 access tokens from golang.org/x/oauth2,
//     cached until they expire and fetched again after the server refuses one; requests
//     that find no valid token at the same time wait for one fetch.
//
// Any other type that implements Credentials (and Refresher, to be renewable) works too.
//
// # What the transport does
//
//   - It sets the credential on a clone of each request (the caller's request is never
//     modified) and sends it with Base.
//   - On a 401 whose Bearer challenge says error="invalid_token", or whose problem body's
//     reason is token_expired or invalid_token, and when the credentials implement
//     Refresher, it refreshes them once and sends the request again. Concurrent requests
//     that fail with the same credential share one refresh: ten concurrent 401s cause one
//     refresh, and a 401 that arrives after a refresh it did not wait for retries with the
//     new credential instead of refreshing again. A second 401 is returned to the caller.
//   - A request is sent again only when its body can be replayed: it has none, it has
//     GetBody (as http.NewRequest sets for bytes, strings and bytes.Reader bodies), or it is
//     at most MaxReplayBody bytes, which the transport then buffers. A larger body is sent
//     once, streamed, and its 401 is returned as it is.
//   - It never retries a 403 (a refresh does not change permissions) nor a 429 or 503,
//     unless the caller opts in with MaxRetryAfter: then a 429 or 503 whose Retry-After is at
//     most that long is retried once after waiting for it (the wait ends with the request's
//     context).
//   - On a redirect (http.Client calls RoundTrip once per hop), a request whose chain of
//     hops has left the origin (scheme, host and port) of the first request gets no
//     credential, and the transport removes Authorization, Cookie and the credentials' own
//     header (an API key's X-API-Key included) that http.Client copied from the first
//     request. Go's own client keeps custom headers such as X-API-Key on a redirect to
//     another host, and Authorization on a redirect to another port or scheme of the
//     same host; this transport keeps neither.
//
// # Errors
//
// RoundTrip returns the server's response, whatever its status, as a RoundTripper must.
// CheckResponse turns a refusal into an *Error with the status, the reason (the problem
// body's reason, or the Bearer challenge's error code), the detail, the request id and the
// parsed WWW-Authenticate challenges. Its text never holds a credential: every value the
// request carried in a header is cut out of the server's words before they are kept.
// Errors of the transport itself (a token source that fails, a body that cannot be read)
// name what failed, never a credential or a token endpoint's answer.
//
// WWW-Authenticate is parsed with the same RFC 9110 parser the gateway and the doctor use
// (an internal package of this module, which this public package may import; programs
// that import this package get it with it), and copied into this package's own Challenge
// type, so the public API does not depend on an internal one.
package client
