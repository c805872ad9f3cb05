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

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/proxy"
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
	jwts           []*jwtverify.Authenticator
}

// Build compiles cfg. It fails only for problems validation cannot see (a JWKS file that
// became unreadable, say); a config that passed config.Load builds.
func Build(cfg *config.Config, o Options) (*Gateway, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	g := &Gateway{Authenticators: map[string]decision.Authenticator{}}
	var errs []error
	for _, name := range cfg.AuthenticatorNames() {
		a := cfg.Authenticators[name]
		auth, err := g.buildAuthenticator(a, o)
		if err != nil {
			errs = append(errs, fmt.Errorf("authenticator %q: %w", name, err))
			continue
		}
		g.Authenticators[name] = auth
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
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
			},
			ForwardAuthorization: rc.ForwardAuthorization,
		}
		for _, name := range rc.Authenticators {
			rt.Authenticators = append(rt.Authenticators, g.Authenticators[name])
		}
		if rc.Upstream != "" {
			u, err := url.Parse(rc.Upstream)
			if err != nil {
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

func (g *Gateway) buildAuthenticator(a *config.Authenticator, o Options) (decision.Authenticator, error) {
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
	}
	return nil, fmt.Errorf("type %s is not supported by this build yet", a.Type)
}

// Start fetches what the authenticators need before traffic arrives (JWKS documents).
// A failure is logged, not fatal: the gateway answers 503 for tokens it cannot check
// until the key set arrives, and /readyz says it is not ready.
func (g *Gateway) Start(ctx context.Context, log *slog.Logger) {
	for _, j := range g.jwts {
		if err := j.Prefetch(ctx); err != nil {
			log.Warn("jwks prefetch failed; will retry on demand", "authenticator", j.Name(), "error", err)
		}
	}
}

// Ready reports whether every authenticator can decide (key sets fetched).
func (g *Gateway) Ready() error {
	for _, j := range g.jwts {
		if !j.Ready() {
			return fmt.Errorf("authenticator %q has no key set yet", j.Name())
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
	s.gw.Start(ctx, s.log)
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
		if err := s.gw.Ready(); err != nil {
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
