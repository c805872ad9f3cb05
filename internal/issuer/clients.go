package issuer

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/challenge"
	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Client credential formats. A client_id is "gc_" and 16 base62 characters (95 random
// bits: unique, not secret); a secret is "gcs_" and 40 base62 characters (238 bits), so
// scanners can recognise a leaked one and a fast hash is as good as a slow one.
const (
	ClientIDPrefix     = "gc_"
	ClientSecretPrefix = "gcs_"
	clientIDChars      = 16
	clientSecretChars  = 40
	// secretHashAlg is the HashAlg of client records.
	secretHashAlg = "sha256"
)

// Bounds on presented credentials, checked before any lookup or hashing.
const (
	maxClientIDBytes     = 64
	maxClientSecretBytes = 512
)

// ClientSpec is what `clients create` asks for.
type ClientSpec struct {
	Name   string
	Scopes []string
	// Audience is the aud of the client's tokens (token_service.audience by default).
	Audience string
	// AccessTokenTTL is the lifetime of the client's tokens.
	AccessTokenTTL time.Duration
	// Introspect lets the client introspect tokens issued to other clients; without it,
	// only its own.
	Introspect bool
	// Now is the creation time; time.Now() when zero.
	Now time.Time
}

// NewClient generates a client_id and secret for spec and returns the record to store
// (holding only the secret's hash) and the secret, which is shown once and never again.
func NewClient(spec ClientSpec) (store.Client, string, error) {
	if spec.Now.IsZero() {
		spec.Now = time.Now()
	}
	id, err := randomBase62(clientIDChars)
	if err != nil {
		return store.Client{}, "", fmt.Errorf("new client: %w", err)
	}
	sec, err := randomBase62(clientSecretChars)
	if err != nil {
		return store.Client{}, "", fmt.Errorf("new client: %w", err)
	}
	c := store.Client{
		ID: ClientIDPrefix + id, Name: spec.Name, SecretHash: HashClientSecret(ClientSecretPrefix + sec), HashAlg: secretHashAlg,
		Scopes: spec.Scopes, Audience: spec.Audience, AccessTokenTTL: spec.AccessTokenTTL, CreatedAt: spec.Now,
		Introspect: spec.Introspect,
	}
	if err := store.ValidateClient(&c); err != nil {
		return store.Client{}, "", fmt.Errorf("new client: %w", err)
	}
	return c, ClientSecretPrefix + sec, nil
}

// HashClientSecret returns the stored hash of a client secret.
func HashClientSecret(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func randomBase62(n int) (string, error) {
	b := make([]byte, n)
	max := big.NewInt(int64(len(base62)))
	for i := range b {
		v, err := rand.Int(rand.Reader, max)
		if err != nil {
			return "", err
		}
		b[i] = base62[v.Int64()]
	}
	return string(b), nil
}

// dummyHash is compared against when the client is unknown, so an unknown client_id
// costs what a wrong secret costs.
var dummyHash = HashClientSecret("gatehouse: no such client")

// authMethod is how a request authenticated its client.
type authMethod string

const (
	authBasic authMethod = "client_secret_basic"
	authPost  authMethod = "client_secret_post"
)

// presented are the client credentials a request carries.
type presented struct {
	id, secret string
	method     authMethod
}

// clientCredentials reads the client's credentials from the Authorization header
// (client_secret_basic: base64, then each half form-decoded per RFC 6749 2.3.1) or from
// the form (client_secret_post). It refuses two methods at once (RFC 6749 2.3).
func clientCredentials(r *http.Request, form url.Values) (presented, *oauthError) {
	authz := r.Header.Values("Authorization")
	postSecret, postID := form.Get("client_secret"), form.Get("client_id")
	switch {
	case len(authz) > 1:
		return presented{}, errRequest("the Authorization header is repeated", "authorization_repeated")
	case len(authz) == 1:
		scheme, token68, _ := strings.Cut(strings.TrimSpace(authz[0]), " ")
		if !strings.EqualFold(scheme, "Basic") {
			return presented{}, errClient("client authentication must use client_secret_basic (the Basic scheme) or client_secret_post", "scheme_not_basic")
		}
		if postSecret != "" {
			return presented{}, errRequest("the client authenticated twice, with Basic and with client_secret in the body; use one method (RFC 6749 2.3)", "two_auth_methods")
		}
		user, pass, err := challenge.DecodeBasic(strings.TrimSpace(token68))
		if err != nil {
			return presented{}, errClient("the Basic credentials are not base64 of client_id:client_secret", "basic_malformed")
		}
		id, err1 := url.QueryUnescape(user)
		sec, err2 := url.QueryUnescape(pass)
		if err1 != nil || err2 != nil {
			return presented{}, errClient("client_id and client_secret must be form-urlencoded inside Basic credentials (RFC 6749 2.3.1)", "basic_not_form_encoded")
		}
		if postID != "" && postID != id {
			return presented{}, errRequest("client_id in the body differs from the client in the Authorization header", "client_id_mismatch")
		}
		return presented{id: id, secret: sec, method: authBasic}, nil
	case postSecret != "":
		if postID == "" {
			return presented{}, errClient("client_secret was sent without client_id", "post_without_id")
		}
		return presented{id: postID, secret: postSecret, method: authPost}, nil
	case postID != "":
		return presented{}, errClient("client authentication is required: send client_secret with client_id, or use Basic", "no_secret")
	}
	return presented{}, errClient("client authentication is required: use Basic (client_secret_basic) or client_id and client_secret in the body", "no_credentials")
}

// authenticateClient checks the request's client credentials against the store. A
// client whose record is cached and whose secret matches costs nothing more (unless the
// budget, as this process knows it, is spent for it); any other check first reserves one failure from the budget (per address, per client_id), so
// concurrent guesses cannot outrun it, and hands it back when the secret matched.
func (s *Server) authenticateClient(r *http.Request, form url.Values, ev *event) (*store.Client, *oauthError) {
	p, oe := clientCredentials(r, form)
	if oe != nil {
		if oe.code == codeInvalidClient && oe.cause != "no_credentials" {
			s.charge(r, "")
		}
		return nil, oe
	}
	ev.clientID = logSafe(p.id)
	ev.authMethod = string(p.method)
	credID := ""
	if len(p.id) <= maxClientIDBytes {
		credID = "client:" + p.id
	}
	ctx := r.Context()
	pol := s.policy.Load()
	if len(p.id) <= maxClientIDBytes && len(p.secret) <= maxClientSecretBytes &&
		(pol.Budget == nil || pol.Budget.Open(pol.ClientAddr(r), credID)) {
		if c, ok := s.clients.Get(p.id); ok && clientSecretMatches(&c, p.secret) {
			if pol.Budget != nil {
				pol.Budget.Remember(pol.ClientAddr(r), credID)
			}
			return &c, nil
		}
	}
	var res decision.Reservation
	if pol.Budget != nil {
		var ok bool
		var wait time.Duration
		if res, ok, wait = pol.Budget.Reserve(ctx, pol.ClientAddr(r), credID); !ok {
			return nil, &oauthError{status: http.StatusTooManyRequests, code: codeTooManyFailures,
				description: "too many failed client authentications; retry after " + retrySeconds(wait) + " seconds",
				retryAfter:  wait, cause: "budget_spent"}
		}
	}
	settle := func(o decision.Outcome) {
		if pol.Budget != nil {
			pol.Budget.Settle(ctx, res, o)
		}
	}
	fail := func(cause string) *oauthError {
		settle(decision.Failed)
		return errClient("client authentication failed", cause)
	}
	if len(p.id) > maxClientIDBytes || len(p.secret) > maxClientSecretBytes {
		return nil, fail("credentials_too_long")
	}
	c, err := s.client(ctx, p.id)
	sum := HashClientSecret(p.secret)
	switch {
	case errors.Is(err, store.ErrNotFound):
		subtle.ConstantTimeCompare(sum, dummyHash)
		return nil, fail("client_unknown")
	case err != nil:
		settle(decision.Void)
		s.log.Warn("token service: client lookup failed", "client_id", ev.clientID, "error", err)
		return nil, errUnavailable("the client store cannot be read right now; try again shortly", "store_unavailable")
	case c.Removed():
		subtle.ConstantTimeCompare(sum, dummyHash)
		return nil, fail("client_removed")
	case c.HashAlg != secretHashAlg:
		s.log.Warn("token service: client secret hash of unknown algorithm", "client_id", ev.clientID, "hash_alg", c.HashAlg)
		return nil, fail("hash_alg_unknown")
	case subtle.ConstantTimeCompare(sum, c.SecretHash) != 1:
		return nil, fail("secret_mismatch")
	}
	settle(decision.Succeeded)
	return &c, nil
}

// clientSecretMatches reports whether secret is the secret of the live client c.
func clientSecretMatches(c *store.Client, secret string) bool {
	if c.Removed() || c.HashAlg != secretHashAlg {
		return false
	}
	return subtle.ConstantTimeCompare(HashClientSecret(secret), c.SecretHash) == 1
}

// charge counts a failed client authentication that needed no check against the
// request's address and, when known, the client_id.
func (s *Server) charge(r *http.Request, credID string) {
	if pol := s.policy.Load(); pol.Budget != nil {
		pol.Budget.Fail(r.Context(), pol.ClientAddr(r), credID)
	}
}

// client returns the client record, from the cache when possible.
func (s *Server) client(ctx context.Context, id string) (store.Client, error) {
	return s.clients.Do(ctx, id, func() (store.Client, time.Duration, error) {
		c, err := s.store.Client(ctx, id)
		if err != nil {
			return c, 0, err
		}
		return c, clientCacheTTL, nil
	})
}

// clientCacheTTL bounds how long a client record is served from memory. Removals reach
// the cache at once through the change feed; the TTL only bounds staleness if the feed
// stalls.
const clientCacheTTL = time.Minute

func retrySeconds(d time.Duration) string {
	n := int64((d + time.Second - 1) / time.Second)
	if n < 1 {
		n = 1
	}
	return fmt.Sprint(n)
}

// logSafe keeps a presented client_id for logs only when it is short printable ASCII.
func logSafe(s string) string {
	if len(s) > maxClientIDBytes {
		return "(too long)"
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
			return "(unprintable)"
		}
	}
	return s
}
