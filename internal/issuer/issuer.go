package issuer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/budget"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/tokens"
)

// Options configure a Server. The security settings (Issuer, Store, SigningKeySecret,
// Realm) have no default: New refuses to start without them.
type Options struct {
	// Issuer is the iss of every token and the base URL of the endpoints
	// (token_service.issuer): https, or http on a loopback host; no query or fragment.
	Issuer string
	// Store keeps clients, revoked tokens and signing keys.
	Store store.TokenServiceStore
	// SigningKeySecret seals and opens the private signing keys in the store
	// (token_service.signing_key_secret); at least tokens.MinSealSecretBytes. It is not
	// kept after New.
	SigningKeySecret []byte
	// Algorithm signs new keys: ES256 (DefaultAlgorithm when empty), EdDSA or RS256.
	Algorithm string
	// DefaultTTL is token_service.access_token_ttl: the lifetime clients get unless they
	// chose another, and the floor of a retired key's retention. 10 minutes when zero.
	DefaultTTL time.Duration
	// Realm is the realm of the Basic challenge sent with invalid_client.
	Realm string
	// Budget is reserved from before each client authentication (per client address and
	// per client_id) and keeps a unit per failure; nil disables it.
	Budget *budget.Budget
	// ClientAddr names the address failures are counted against (the gateway's: the
	// socket peer, or what a trusted proxy says); nil means the socket peer.
	ClientAddr func(*http.Request) netip.Addr
	// Logger gets one line per request (client_id, jti, error code and cause; never a
	// secret or a token); nil discards.
	Logger *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// OnToken, when set, is told the outcome of every token request: the grant type
	// when it is one the service serves (else ""), and "issued" or the OAuth error code
	// answered. For metrics; never a client id, secret or token.
	OnToken func(grant, result string)
}

// DefaultAccessTokenTTL is Options.DefaultTTL when zero.
const DefaultAccessTokenTTL = 10 * time.Minute

// Server is the token service. It is safe for concurrent use.
type Server struct {
	issuer     string
	paths      paths
	urls       endpoints
	store      store.TokenServiceStore
	sealer     *tokens.Sealer
	alg        string
	defaultTTL time.Duration
	policy     atomic.Pointer[Policy]
	log        *slog.Logger
	now        func() time.Time
	onToken    func(grant, result string)

	keyState    atomic.Pointer[keyState]
	ring        *tokens.KeyRing
	reloadMu    sync.Mutex
	lastRefresh atomic.Int64
	revs        *Revocations
	clients     *secret.Cache[string, store.Client]
	verifyAlgs  tokens.Algorithms
	metadata    []byte
}

// paths are the request paths the server answers.
type paths struct {
	token, introspect, revoke, jwks, metadata string
}

// endpoints are the absolute URLs of the endpoints, for the metadata document.
type endpoints struct {
	token, introspect, revoke, jwks string
}

// New validates o, loads the signing keys (creating the first one in an empty store)
// and the revocations, and returns a Server ready to serve.
func New(ctx context.Context, o Options) (*Server, error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("token service: "+format, args...)) }
	base, err := ParseIssuer(o.Issuer)
	if err != nil {
		bad("%v", err)
	}
	if o.Store == nil {
		bad("a store is required")
	}
	if o.Algorithm == "" {
		o.Algorithm = DefaultAlgorithm
	}
	if !slices.Contains(tokens.IssuingAlgorithms, o.Algorithm) {
		bad("signing algorithm %q is not one of %s", o.Algorithm, strings.Join(tokens.IssuingAlgorithms, ", "))
	}
	if o.DefaultTTL == 0 {
		o.DefaultTTL = DefaultAccessTokenTTL
	}
	if o.DefaultTTL < time.Second || o.DefaultTTL > store.MaxAccessTokenTTL {
		bad("the default access token lifetime must be from 1s to %s", store.MaxAccessTokenTTL)
	}
	if o.Realm == "" {
		bad("a realm is required for the Basic challenge")
	}
	sealer, err := tokens.NewSealer(o.SigningKeySecret)
	if err != nil {
		bad("signing key secret: %v", err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	algs, err := tokens.NewAlgorithms(tokens.IssuingAlgorithms...)
	if err != nil {
		return nil, err
	}
	s := &Server{
		issuer: strings.TrimSuffix(o.Issuer, "/"), store: o.Store, sealer: sealer, alg: o.Algorithm,
		defaultTTL: o.DefaultTTL,
		log:        o.Logger, now: o.Now, ring: tokens.NewKeyRing(nil), revs: newRevocations(o.Now),
		clients:    secret.NewCache[string, store.Client](secret.CacheOptions{Size: 10000, MaxTTL: clientCacheTTL, Now: o.Now}),
		verifyAlgs: algs,
		onToken:    o.OnToken,
	}
	p := strings.TrimSuffix(base.Path, "/")
	s.paths = paths{
		token: p + "/oauth2/token", introspect: p + "/oauth2/introspect", revoke: p + "/oauth2/revoke",
		jwks: p + "/.well-known/jwks.json", metadata: "/.well-known/oauth-authorization-server" + p,
	}
	s.urls = endpoints{
		token: s.issuer + "/oauth2/token", introspect: s.issuer + "/oauth2/introspect",
		revoke: s.issuer + "/oauth2/revoke", jwks: s.issuer + "/.well-known/jwks.json",
	}
	s.SetPolicy(Policy{Realm: o.Realm, Budget: o.Budget, ClientAddr: o.ClientAddr})
	s.metadata = s.buildMetadata()
	if _, err := s.reloadKeys(ctx, true); err != nil {
		return nil, fmt.Errorf("token service: %w", err)
	}
	if err := s.loadRevocations(ctx); err != nil {
		return nil, fmt.Errorf("token service: %w", err)
	}
	return s, nil
}

// Policy is what a configuration reload may change while the Server keeps running:
// the realm of the Basic challenge, the failure budget and how client addresses are
// read. The keys, revocations and issuer stay.
type Policy struct {
	// Realm is the realm of the Basic challenge sent with invalid_client; required.
	Realm string
	// Budget is charged failed client authentications; nil disables it.
	Budget *budget.Budget
	// ClientAddr names the address failures are counted against; nil means the socket
	// peer.
	ClientAddr func(*http.Request) netip.Addr
}

// SetPolicy replaces the policy; requests already running finish with the old one. An
// empty realm is ignored (New requires one).
func (s *Server) SetPolicy(p Policy) {
	if p.ClientAddr == nil {
		p.ClientAddr = peerAddr
	}
	if p.Realm == "" {
		if old := s.policy.Load(); old != nil {
			p.Realm = old.Realm
		}
	}
	s.policy.Store(&p)
}

// ParseIssuer checks an issuer URL as RFC 8414 section 2 requires (https, no query or
// fragment; http is allowed on a loopback host, for development) and returns it parsed.
func ParseIssuer(issuer string) (*url.URL, error) {
	u, err := url.Parse(issuer)
	switch {
	case issuer == "":
		return nil, errors.New("the issuer URL is required")
	case err != nil || u.Host == "" || u.Opaque != "":
		return nil, fmt.Errorf("the issuer %q is not an absolute URL", issuer)
	case u.User != nil:
		return nil, errors.New("the issuer URL must not hold a user name or password")
	case u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(issuer, "?#"):
		return nil, fmt.Errorf("the issuer %q must not have a query or fragment (RFC 8414 2)", issuer)
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopback(u.Hostname()):
	default:
		return nil, fmt.Errorf("the issuer %q must be an https URL (http only on a loopback host)", issuer)
	}
	return u, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

func peerAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// Issuer is the iss of issued tokens.
func (s *Server) Issuer() string { return s.issuer }

// TokenURL is the token endpoint's absolute URL.
func (s *Server) TokenURL() string { return s.urls.token }

// JWKSURL is the JWKS document's absolute URL.
func (s *Server) JWKSURL() string { return s.urls.jwks }

// KeyRing is the live set of published public keys, for verifiers of self-issued tokens
// (`issuer: self`). The server swaps in a new set when keys are added or leave the JWKS.
func (s *Server) KeyRing() *tokens.KeyRing { return s.ring }

// Revocations is the live set of revoked tokens and removed clients, for verifiers of
// self-issued tokens.
func (s *Server) Revocations() *Revocations { return s.revs }

// Owns reports whether path is one of the server's endpoints; the public listener routes
// those to Handler before any gateway route is matched.
func (s *Server) Owns(path string) bool {
	switch path {
	case s.paths.token, s.paths.introspect, s.paths.revoke, s.paths.jwks, s.paths.metadata:
		return true
	}
	return false
}

// Handler serves the endpoints; any other path is 404.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// Wrap returns a handler that serves the token service's paths itself and passes every
// other request to next (the gateway), so the endpoints win over any route.
func (s *Server) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.Owns(r.URL.Path) {
			s.serveHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case s.paths.token:
		s.serveToken(w, r)
	case s.paths.introspect:
		s.serveIntrospect(w, r)
	case s.paths.revoke:
		s.serveRevoke(w, r)
	case s.paths.jwks:
		s.serveJWKS(w, r)
	case s.paths.metadata:
		s.serveMetadata(w, r)
	default:
		http.NotFound(w, r)
	}
}

// event is what one request's log line says.
type event struct {
	endpoint   string
	grant      string // the token endpoint's grant_type, once known to be served
	clientID   string
	authMethod string
	jti        string
	kid        string
	scope      string
	// cause says why a request that was answered (not refused) got the answer it did:
	// introspection of another client's token without the permission is active=false.
	cause   string
	err     *oauthError
	started time.Time
}

func (s *Server) logEvent(r *http.Request, ev *event) {
	attrs := []slog.Attr{
		slog.String("endpoint", ev.endpoint),
		slog.String("client_addr", s.policy.Load().ClientAddr(r).String()),
		slog.Duration("duration", s.now().Sub(ev.started)),
	}
	for _, a := range [][2]string{{"client_id", ev.clientID}, {"auth_method", ev.authMethod}, {"jti", ev.jti}, {"kid", ev.kid}, {"scope", ev.scope}} {
		if a[1] != "" {
			attrs = append(attrs, slog.String(a[0], a[1]))
		}
	}
	if ev.err == nil {
		if ev.cause != "" {
			attrs = append(attrs, slog.String("cause", ev.cause))
		}
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "token service request", attrs...)
		return
	}
	attrs = append(attrs, slog.String("error", ev.err.code), slog.String("cause", ev.err.cause))
	level := slog.LevelInfo
	if ev.err.status >= 500 {
		level = slog.LevelWarn
	}
	s.log.LogAttrs(r.Context(), level, "token service refused", attrs...)
}

// Invalidate follows the store's change feed: subscribe it to the gateway's
// store.Watcher. Client changes drop cached client records, revocations and client
// removals enter the revocation set (and purge the `issuer: self` caches), added keys
// are loaded, and a reset reloads everything.
func (s *Server) Invalidate(c store.Change) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	switch {
	case c.Kind == store.ChangeReset:
		s.clients.Purge()
		if _, err := s.ReloadKeys(ctx); err != nil {
			s.log.Warn("token service: reloading signing keys after a reset failed", "error", err)
		}
		if err := s.loadRevocations(ctx); err != nil {
			s.log.Warn("token service: reloading revocations after a reset failed", "error", err)
		}
	case c.Kind == store.ChangeClientRemoved:
		s.clients.Forget(c.Subject)
		// Until the last token the client can have been issued expires; without the
		// record, as long as any token can live.
		until := s.now().Add(store.MaxAccessTokenTTL)
		if cl, err := s.store.Client(ctx, c.Subject); err == nil {
			until = cl.RemovedAt.Add(cl.AccessTokenTTL + clientCacheTTL)
		}
		s.revs.removeClient(c.Subject, until)
	case c.Kind.IsClient():
		s.clients.Forget(c.Subject)
	case c.Kind == store.ChangeTokenRevoked:
		exp := s.now().Add(store.MaxAccessTokenTTL)
		if rt, err := s.store.RevokedToken(ctx, c.Subject); err == nil {
			exp = rt.ExpiresAt
		}
		s.revs.revokeToken(c.Subject, exp)
	case c.Kind.IsSigningKey():
		if _, err := s.ReloadKeys(ctx); err != nil {
			s.log.Warn("token service: reloading signing keys failed", "error", err)
		}
	}
}

// loadRevocations reads every revocation and client removal still in force.
func (s *Server) loadRevocations(ctx context.Context) error {
	now := s.now()
	jtis, clients := map[string]int64{}, map[string]int64{}
	for after := ""; ; {
		page, err := s.store.ListRevokedTokens(ctx, now.Add(-revocationMargin), after, 1000)
		if err != nil {
			return fmt.Errorf("load revocations: %w", err)
		}
		if len(page) == 0 {
			break
		}
		for _, t := range page {
			jtis[t.ID] = t.ExpiresAt.Add(revocationMargin).UnixNano()
		}
		after = page[len(page)-1].ID
	}
	for after := ""; ; {
		page, err := s.store.ListClients(ctx, after, 1000)
		if err != nil {
			return fmt.Errorf("load removed clients: %w", err)
		}
		if len(page) == 0 {
			break
		}
		for _, c := range page {
			if !c.Removed() {
				continue
			}
			if until := c.RemovedAt.Add(c.AccessTokenTTL + clientCacheTTL + revocationMargin); until.After(now) {
				clients[c.ID] = until.UnixNano()
			}
		}
		after = page[len(page)-1].ID
	}
	s.revs.replace(jtis, clients)
	return nil
}
