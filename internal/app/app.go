// Package app is Gatehouse's composition root: it turns a validated config.Config into
// running parts (authenticators, routes, the gateway handler, listeners) and runs them
// until the context ends. Nothing else constructs verifiers from configuration.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/budget"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/proxy"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	_ "github.com/gatehouse-dev/gatehouse/internal/store/sqlite" // the sqlite:// backend
	"github.com/gatehouse-dev/gatehouse/internal/verify/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/verify/basic"
	"github.com/gatehouse-dev/gatehouse/internal/verify/introspect"
	jwtverify "github.com/gatehouse-dev/gatehouse/internal/verify/jwt"
)

// Options are the process-level dependencies of a gateway.
type Options struct {
	Logger *slog.Logger
	// HTTPClient fetches JWKS documents; nil means a client with the authenticator's
	// jwks_timeout.
	HTTPClient *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Gateway is a compiled configuration: the handler and the authenticators behind it.
type Gateway struct {
	Handler        *gateway.Handler
	Authenticators map[string]decision.Authenticator
	// Store is the credential store, opened only when an authenticator needs it.
	Store   store.Store
	watcher *store.Watcher
	jwts    []*jwtverify.Authenticator
	apikeys []*apikey.Authenticator
	basics  []*basic.Authenticator
	budget  *budget.Budget
	running sync.WaitGroup // Start's goroutines; Close waits for them
}

// OpenStore opens the credential store the configuration names.
func OpenStore(ctx context.Context, s config.Store) (store.Store, error) {
	dsn := s.DSN
	if s.Driver == config.StoreSQLite {
		dsn = "sqlite://" + s.Path
	}
	return store.Open(ctx, dsn)
}

// needsStore reports whether any authenticator reads the credential store.
func needsStore(cfg *config.Config) bool {
	for _, a := range cfg.Authenticators {
		if a.Type == config.TypeAPIKey || a.Type == config.TypeBasic {
			return true
		}
	}
	return false
}

// Build compiles cfg. It fails only for problems validation cannot see (a JWKS file that
// became unreadable, a store that cannot be opened); a config that passed config.Load
// otherwise builds. Close releases what it opened.
func Build(cfg *config.Config, o Options) (*Gateway, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	g := &Gateway{Authenticators: map[string]decision.Authenticator{}}
	if needsStore(cfg) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		st, err := OpenStore(ctx, cfg.Store)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("open the credential store %s: %w", cfg.Store, err)
		}
		g.Store = st
		g.watcher = store.NewWatcher(st, store.WatcherOptions{OnError: func(err error) {
			o.Logger.Warn("credential store change feed failing; revocations may be late", "error", err)
		}})
	}
	g.budget = budget.New(budget.Options{
		PerClient:     budget.Rate(cfg.FailureBudget.PerClient),
		PerCredential: budget.Rate(cfg.FailureBudget.PerCredential),
		Now:           o.Now,
	})
	var errs []error
	for _, name := range cfg.AuthenticatorNames() {
		a := cfg.Authenticators[name]
		auth, err := g.buildAuthenticator(cfg, a, o)
		if err != nil {
			errs = append(errs, fmt.Errorf("authenticator %q: %w", name, err))
			continue
		}
		g.Authenticators[name] = auth
	}
	if len(errs) > 0 {
		g.Close()
		return nil, errors.Join(errs...)
	}
	if g.watcher != nil {
		for _, a := range g.apikeys {
			g.watcher.Subscribe(a.Invalidate)
		}
		for _, b := range g.basics {
			g.watcher.Subscribe(b.Invalidate)
		}
	}
	var routes []*gateway.Route
	for _, rc := range cfg.Routes {
		rt := &gateway.Route{
			Route: &decision.Route{
				Name:           rc.Name,
				PathPrefix:     rc.Match.PathPrefix,
				Methods:        rc.Match.Methods,
				Anonymous:      rc.Anonymous,
				RequiredScopes: rc.Require.Scopes,
				Budget:         g.budget,
			},
			ForwardAuthorization: rc.ForwardAuthorization,
		}
		for _, name := range rc.Authenticators {
			rt.Authenticators = append(rt.Authenticators, g.Authenticators[name])
		}
		if rc.Upstream != "" {
			u, err := url.Parse(rc.Upstream)
			if err != nil {
				g.Close()
				return nil, fmt.Errorf("route %q: upstream: %w", rc.Name, err)
			}
			rt.Upstream = u
		}
		routes = append(routes, rt)
	}
	g.Handler = gateway.New(gateway.Options{
		Realm:                cfg.Realm,
		TerseErrors:          cfg.Errors.Detail == config.DetailTerse,
		Routes:               routes,
		CORS:                 gateway.CORS{AllowedOrigins: cfg.CORS.AllowedOrigins, AllowedHeaders: cfg.CORS.AllowedHeaders, MaxAge: cfg.CORS.MaxAge},
		TrustedProxies:       cfg.TrustedProxies,
		Resource:             cfg.Resource,
		AuthorizationServers: cfg.AuthorizationServers,
		Transport:            proxy.NewTransport(cfg.UpstreamTimeout),
		Logger:               o.Logger,
		Now:                  o.Now,
	})
	return g, nil
}

func (g *Gateway) buildAuthenticator(cfg *config.Config, a *config.Authenticator, o Options) (decision.Authenticator, error) {
	switch a.Type {
	case config.TypeJWT:
		j := a.JWT
		// config: cache_size 0 disables the cache; the verifier spells that -1.
		cacheSize := j.CacheSize
		if cacheSize == 0 {
			cacheSize = -1
		}
		v, err := jwtverify.New(jwtverify.Config{
			Name:         a.Name,
			Issuer:       j.Issuer,
			Audience:     j.Audience,
			Algorithms:   j.Algorithms,
			JWKSFile:     j.JWKSFile,
			JWKSURL:      j.JWKSURL,
			Secret:       j.Secret.Reveal(),
			Leeway:       j.Leeway,
			MaxStale:     j.JWKSMaxStale,
			MinRefresh:   j.JWKSMinRefresh,
			NegativeTTL:  j.JWKSNegativeTTL,
			FetchTimeout: j.JWKSTimeout,
			CacheSize:    cacheSize,
			HTTPClient:   o.HTTPClient, // nil: the verifier's client, which refuses https->http redirects
			Now:          o.Now,
			Logger:       o.Logger.With("authenticator", a.Name),
		})
		if err != nil {
			return nil, err
		}
		g.jwts = append(g.jwts, v)
		return v, nil
	case config.TypeAPIKey:
		hasher, err := secret.NewKeyHasher(a.APIKey.Pepper.Reveal())
		if err != nil {
			return nil, err
		}
		v, err := apikey.New(apikey.Config{
			Name:        a.Name,
			Header:      a.APIKey.Header,
			Query:       a.APIKey.Query,
			Environment: cfg.Environment,
			Store:       g.Store,
			Hasher:      hasher,
			Logger:      o.Logger.With("authenticator", a.Name),
			Now:         o.Now,
		})
		if err != nil {
			return nil, err
		}
		g.apikeys = append(g.apikeys, v)
		return v, nil
	case config.TypeBasic:
		ttl := a.Basic.CacheTTL
		if a.Basic.CacheSize == 0 {
			ttl = -1 // config: cache_size 0 disables the cache
		}
		v, err := basic.New(basic.Config{
			Name:      a.Name,
			Store:     g.Store,
			CacheSize: a.Basic.CacheSize,
			CacheTTL:  ttl,
			Now:       o.Now,
		})
		if err != nil {
			return nil, err
		}
		g.basics = append(g.basics, v)
		return v, nil
	case config.TypeIntrospection:
		in := a.Introspection
		return introspect.New(introspect.Config{
			Name:         a.Name,
			URL:          in.URL,
			ClientID:     in.ClientID,
			ClientSecret: string(in.ClientSecret.Reveal()),
			Timeout:      in.Timeout,
			CacheMaxTTL:  in.CacheMaxTTL,
			HTTPClient:   o.HTTPClient,
			Now:          o.Now,
		})
	}
	return nil, fmt.Errorf("type %s is not supported by this build yet", a.Type)
}

// Close waits for Start's background work to end (cancel its context first), then
// releases the store. The handler must no longer be serving.
func (g *Gateway) Close() error {
	g.running.Wait()
	if g.Store != nil {
		return g.Store.Close()
	}
	return nil
}

// Start runs what the authenticators need in the background until ctx ends: JWKS
// prefetch, the store's change feed (revocations reach every cache within a poll
// interval), and the batched last_used_at writer. A JWKS failure is logged, not fatal:
// the gateway answers 503 for tokens it cannot check until the key set arrives, and
// /readyz says it is not ready.
func (g *Gateway) Start(ctx context.Context, log *slog.Logger) {
	if g.watcher != nil {
		if err := g.watcher.Start(ctx); err != nil {
			log.Warn("credential store change feed could not start; will retry", "error", err)
		}
		g.running.Go(func() { g.watcher.Run(ctx) })
	}
	for _, a := range g.apikeys {
		g.running.Go(func() { a.Run(ctx) }) // flushes last_used_at once more when ctx ends
	}
	for _, j := range g.jwts {
		if err := j.Prefetch(ctx); err != nil {
			log.Warn("jwks prefetch failed; will retry on demand", "authenticator", j.Name(), "error", err)
		}
	}
}

// Ready reports whether every authenticator can decide: key sets fetched, the store
// reachable and its change feed current.
func (g *Gateway) Ready(ctx context.Context) error {
	for _, j := range g.jwts {
		if !j.Ready() {
			return fmt.Errorf("authenticator %q has no key set yet", j.Name())
		}
	}
	if g.Store != nil {
		if err := g.Store.Ping(ctx); err != nil {
			return fmt.Errorf("credential store: %w", err)
		}
		if last := g.watcher.LastSync(); last.IsZero() || time.Since(last) > 5*time.Second {
			return errors.New("credential store change feed is behind")
		}
	}
	return nil
}

// Server runs a Gateway's public and admin listeners.
type Server struct {
	cfg    *config.Config
	gw     *Gateway
	log    *slog.Logger
	public net.Listener
	admin  net.Listener
}

// Listen binds both listeners, so a caller learns their addresses (and a port in use is
// reported) before serving starts.
func Listen(cfg *config.Config, gw *Gateway, log *slog.Logger) (*Server, error) {
	pub, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	adm, err := net.Listen("tcp", cfg.AdminListen)
	if err != nil {
		pub.Close()
		return nil, fmt.Errorf("admin listen %s: %w", cfg.AdminListen, err)
	}
	return &Server{cfg: cfg, gw: gw, log: log, public: pub, admin: adm}, nil
}

// PublicAddr and AdminAddr are the bound addresses.
func (s *Server) PublicAddr() string { return s.public.Addr().String() }

// AdminAddr is the bound admin address.
func (s *Server) AdminAddr() string { return s.admin.Addr().String() }

// Serve runs until ctx ends, then drains in-flight requests for up to the configured
// shutdown timeout.
func (s *Server) Serve(ctx context.Context) error {
	errLog := slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)
	pub := &http.Server{
		Handler:           s.gw.Handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    s.cfg.MaxHeaderBytes,
		ErrorLog:          errLog,
	}
	adm := &http.Server{
		Handler:           s.adminHandler(),
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          errLog,
	}
	// Background work (key fetches, the revocation feed) outlives ctx until the drain
	// is over, so requests still in flight see revocations.
	bg, stopBackground := context.WithCancel(context.Background())
	s.gw.Start(bg, s.log)
	s.log.Info("gatehouse listening", "listen", s.PublicAddr(), "admin_listen", s.AdminAddr(), "routes", len(s.cfg.Routes))

	errc := make(chan error, 2)
	go func() { errc <- pub.Serve(s.public) }()
	go func() { errc <- adm.Serve(s.admin) }()
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, srv := range []*http.Server{pub, adm} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if e := srv.Shutdown(sctx); e != nil {
				s.log.Warn("shutdown did not drain in time", "error", e)
				srv.Close()
			}
		}()
	}
	wg.Wait()
	stopBackground()
	if e := s.gw.Close(); e != nil {
		s.log.Warn("closing the credential store", "error", e)
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	s.log.Info("gatehouse stopped")
	return err
}

func (s *Server) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := s.gw.Ready(r.Context()); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "not ready: %v\n", err)
			return
		}
		io.WriteString(w, "ready\n")
	})
	return mux
}

// NewLogger builds the process logger from the log block.
func NewLogger(w io.Writer, l config.Log) *slog.Logger {
	opts := &slog.HandlerOptions{Level: l.Level}
	if l.Format == config.LogText {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
