package client

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// Credentials attach one credential to a request.
type Credentials interface {
	// Apply sets the credential on h, the header of a clone of the request that is about
	// to be sent to the origin of the caller's first request. It must not keep h.
	Apply(ctx context.Context, h http.Header) error
	// Headers names the header fields Apply sets, so that the transport can remove them
	// from a request that goes to another origin.
	Headers() []string
}

// Refresher is implemented by credentials that can be renewed. The transport calls
// Refresh after a 401 that says the credential is invalid or expired, at most once for
// all the requests that failed with the same credential, then sends each again with what
// Apply sets afterwards. An error keeps the old credential.
type Refresher interface {
	Refresh(ctx context.Context) error
}

// DefaultAPIKeyHeader is the header APIKey uses, Gatehouse's default.
const DefaultAPIKeyHeader = "X-API-Key"

// Bearer returns credentials that send token as "Authorization: Bearer TOKEN". A static
// token cannot be refreshed: its 401 is returned to the caller.
func Bearer(token string) Credentials {
	return headerCred{name: "Authorization", value: "Bearer " + token}
}

// APIKey returns credentials that send key in the X-API-Key header.
func APIKey(key string) Credentials { return APIKeyHeader(DefaultAPIKeyHeader, key) }

// APIKeyHeader returns credentials that send key in the header name (as the
// authenticator's header setting says).
func APIKeyHeader(name, key string) Credentials {
	return headerCred{name: http.CanonicalHeaderKey(name), value: key}
}

// Basic returns credentials that send user and password with the Basic scheme (RFC 7617),
// encoded as UTF-8 as Gatehouse's challenge (charset="UTF-8") asks.
func Basic(user, password string) Credentials {
	return headerCred{name: "Authorization", value: "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))}
}

// headerCred is a static credential in one header.
type headerCred struct{ name, value string }

func (c headerCred) Apply(_ context.Context, h http.Header) error {
	h.Set(c.name, c.value)
	return nil
}

func (c headerCred) Headers() []string { return []string{c.name} }

// GoString keeps the credential out of %#v.
func (c headerCred) GoString() string { return "client.Credentials{" + c.name + ": [redacted]}" }

// String keeps the credential out of %v.
func (c headerCred) String() string { return c.GoString() }

// TokenSource returns credentials that send the access tokens of src as Bearer tokens.
// A token is reused until it expires (oauth2.Token.Valid); Refresh asks src for a new
// one. src must therefore be able to return a new token before the old one expires: a
// source wrapped in oauth2.ReuseTokenSource (as clientcredentials.Config.TokenSource is)
// returns the same token until it expires, and such a refresh fails. For the client
// credentials grant, use ClientCredentials.
func TokenSource(src oauth2.TokenSource) Credentials {
	return &tokenCred{fetch: func(context.Context) (*oauth2.Token, error) { return src.Token() }}
}

// ClientCredentials returns credentials that get access tokens with the OAuth 2.0 client
// credentials grant (RFC 6749 section 4.4) from cfg.TokenURL, such as Gatehouse's own
// token service (/oauth2/token). The token is cached until it expires and fetched again
// after a 401 that refuses it. The request's context is used for the token request (set
// oauth2.HTTPClient in it to choose the HTTP client).
func ClientCredentials(cfg *clientcredentials.Config) Credentials {
	return &tokenCred{fetch: cfg.Token}
}

// ErrSameToken is returned by a refresh whose token source gave the token the server had
// just refused.
var ErrSameToken = errors.New("client: the token source returned the token the server refused; it cannot renew it before it expires (do not wrap it in oauth2.ReuseTokenSource)")

// tokenCred caches OAuth 2.0 tokens from fetch.
type tokenCred struct {
	fetch func(context.Context) (*oauth2.Token, error)
	mu    sync.Mutex
	tok   *oauth2.Token
}

func (c *tokenCred) Headers() []string { return []string{"Authorization"} }

// Apply holds the lock while it fetches a token, so that concurrent first requests
// (or requests after the token expired) cause one fetch, not one each.
func (c *tokenCred) Apply(ctx context.Context, h http.Header) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.tok.Valid() {
		tok, err := c.get(ctx)
		if err != nil {
			return err
		}
		c.tok = tok
	}
	h.Set("Authorization", c.tok.Type()+" "+c.tok.AccessToken)
	return nil
}

func (c *tokenCred) Refresh(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	tok, err := c.get(ctx)
	if err != nil {
		return err
	}
	if c.tok != nil && tok.AccessToken == c.tok.AccessToken {
		return ErrSameToken
	}
	c.tok = tok
	return nil
}

// get fetches a token and says what failed without quoting the token endpoint's answer,
// which may echo what was sent to it.
func (c *tokenCred) get(ctx context.Context) (*oauth2.Token, error) {
	tok, err := c.fetch(ctx)
	if err != nil {
		if re, ok := errors.AsType[*oauth2.RetrieveError](err); ok {
			status := 0
			if re.Response != nil {
				status = re.Response.StatusCode
			}
			code := re.ErrorCode
			if !isReasonCode(code) {
				code = "no error code"
			}
			return nil, fmt.Errorf("client: get an access token: the token endpoint answered %d (%s)", status, code)
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, fmt.Errorf("client: get an access token: %w", ctxErr)
		}
		if ue, ok := errors.AsType[*url.Error](err); ok { // a network failure: says where, not what was sent
			return nil, fmt.Errorf("client: get an access token: %w", ue)
		}
		return nil, fmt.Errorf("client: get an access token: %w", scrubbedError{err})
	}
	if tok == nil || tok.AccessToken == "" {
		return nil, errors.New("client: get an access token: the token source returned no access token")
	}
	return tok, nil
}

// scrubbedError keeps an underlying error for errors.Is and errors.As, with a text that
// says only its type: an x/oauth2 error may quote a token endpoint's answer.
type scrubbedError struct{ err error }

func (e scrubbedError) Error() string { return fmt.Sprintf("token source failed (%T)", e.err) }
func (e scrubbedError) Unwrap() error { return e.err }
