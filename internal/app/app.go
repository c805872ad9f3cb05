// Package app is Gatehouse's composition root: it turns a validated config.Config into
// running parts (authenticators, routes, the gateway handler, listeners) and runs them
// until the context ends. Nothing else constructs verifiers from configuration.
//
// A Runtime is what outlives one configuration: the credential store and its change
// feed, the failure budget, the metrics, the explain ring, and every authenticator,
// kept by the fingerprint of its settings. A reload compiles a whole new gateway from
// the new configuration, reusing the authenticators whose settings did not change (so
// their JWKS and verified-token caches survive), and swaps it in atomically: a request
// runs to its end on the gateway it started with.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/budget"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/explain"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/issuer"
	"github.com/gatehouse-dev/gatehouse/internal/logline"
	"github.com/gatehouse-dev/gatehouse/internal/metrics"
	"github.com/gatehouse-dev/gatehouse/internal/proxy"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/postgres"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlite" // also the sqlite:// backend
	"github.com/gatehouse-dev/gatehouse/internal/tracing"
)

// Options are the process-level dependencies of a gateway.
type Options struct {
	Logger *slog.Logger
	// HTTPClient fetches JWKS documents and calls introspection endpoints; nil means each
	// authenticator's own client.
	HTTPClient *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// ExplainSize is how many decisions the explain ring keeps; 0 means
	// explain.DefaultSize.
	ExplainSize int
	// Getenv reads the OTEL_* variables that turn tracing on; nil means os.Getenv.
	Getenv func(string) string
	// UpstreamTransport, when set, carries every proxied request instead of a transport
	// to the upstreams (`gatehouse decide` records the request there and contacts
	// nothing).
	UpstreamTransport http.RoundTripper
	// WrapAuthenticator, when set, wraps each authenticator as the routes see it (not
	// as the runtime starts, readies and closes it), to observe what a decision tried.
	WrapAuthenticator func(decision.Authenticator) decision.Authenticator
}

// Runtime is a running Gatehouse's state across configurations. It is an http.Handler
// that serves with the current configuration.
type Runtime struct {
	o       Options
	log     *slog.Logger
	Metrics *metrics.Metrics
	Ring    *explain.Ring

	current atomic.Pointer[Gateway]
	// tracer is OpenTelemetry tracing, fixed at Build; nil when tracing is off.
	tracer *tracing.Tracer

	mu        sync.Mutex // serialises Reload and guards what follows
	store     store.Store
	storeCfg  config.Store
	watcher   *store.Watcher
	outage    *store.Outage // the store's reachability; nil without a store
	budget    *budget.Budget
	budgetCfg config.FailureBudget
	// lastBudget is the budget's Redis counters last reported to metrics.
	lastBudget budget.RedisStats
	auths      map[string]*liveAuth // by config fingerprint
	// issuer is the token service, kept across reloads while token_service's settings
	// (issuer, secret, algorithm, lifetime) stay the same; issuerCfg is what built it.
	// issuerSubs unsubscribes each running token service from the change feed.
	issuer     *issuer.Server
	issuerCfg  *config.TokenService
	issuerSubs map[*issuer.Server]func()
	// transport carries proxied requests upstream. It is kept across reloads while
	// upstream_timeout stays the same (transportTimeout), so a reload neither opens a
	// fresh pool of upstream connections under load nor leaves the old pool's idle
	// connections open until their idle timeout.
	transport        *http.Transport
	transportTimeout time.Duration
	bg               context.Context // set by Start; background work of authenticators
	running          sync.WaitGroup
	started          bool
}

// liveAuth is one authenticator instance and what keeps it running.
type liveAuth struct {
	auth        decision.Authenticator
	stop        context.CancelFunc // ends its background work
	unsubscribe func()             // from the store's change feed
	users       int                // gateways (current and draining) that use it
	lastCache   [3]uint64          // cache counters last reported to metrics
}

// Gateway is one compiled configuration.
type Gateway struct {
	Config  *config.Config
	Handler *gateway.Handler
	// Issuer serves the token service's endpoints ahead of every route; nil without a
	// token_service block.
	Issuer *issuer.Server
	auths  map[string]*liveAuth // by authenticator name
	fps    []string             // the fingerprints it holds a use of
	store  store.Store          // the credential store; the same for every Gateway
	// transport is the Runtime's upstream transport this gateway proxies through.
	transport *http.Transport
}

// Build compiles cfg into a new Runtime. It fails for problems validation cannot see (a
// store that cannot be opened, say). Close releases what it opened.
func Build(cfg *config.Config, o Options) (*Runtime, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	size := o.ExplainSize
	if size <= 0 {
		size = explain.DefaultSize
	}
	rt := &Runtime{o: o, log: o.Logger, Metrics: metrics.New(), Ring: explain.New(size), auths: map[string]*liveAuth{}}
	tr, err := rt.newTracer(cfg)
	if err != nil {
		return nil, err
	}
	rt.tracer = tr
	g, err := rt.compile(cfg)
	if err != nil {
		rt.Close()
		return nil, err
	}
	rt.activate(g)
	return rt, nil
}

// Config is the configuration now serving.
func (rt *Runtime) Config() *config.Config { return rt.current.Load().Config }

// ServeHTTP serves r with the current configuration; it keeps that configuration to the
// end of the request even if a reload swaps in another meanwhile.
func (rt *Runtime) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt.Metrics.RequestStarted()
	defer rt.Metrics.RequestDone()
	g := rt.current.Load()
	if g.Issuer != nil && g.Issuer.Owns(r.URL.Path) {
		g.Issuer.Handler().ServeHTTP(w, r)
		return
	}
	g.Handler.ServeHTTP(w, r)
}

// Reload compiles cfg and, if that succeeds, makes it the current configuration. On
// error the current configuration keeps serving untouched.
func (rt *Runtime) Reload(cfg *config.Config) error {
	old := rt.current.Load().Config
	if !cfg.Store.Equal(old.Store) && rt.store != nil {
		return fmt.Errorf("store changed from %s to %s: the credential store cannot change without a restart", old.Store, cfg.Store)
	}
	g, err := rt.compile(cfg)
	if err != nil {
		return err
	}
	for _, what := range restartOnly(old, cfg) {
		rt.log.Warn("configuration change needs a restart to take effect", "setting", what)
	}
	rt.activate(g)
	return nil
}

// restartOnly lists settings that differ between a and b but are fixed while running.
func restartOnly(a, b *config.Config) []string {
	var out []string
	if a.Listen != b.Listen {
		out = append(out, "listen")
	}
	if a.AdminListen != b.AdminListen {
		out = append(out, "admin_listen")
	}
	if a.ExtAuthz != b.ExtAuthz {
		out = append(out, "ext_authz")
	}
	if a.MaxHeaderBytes != b.MaxHeaderBytes {
		out = append(out, "max_header_bytes")
	}
	if a.TLS.Enabled() != b.TLS.Enabled() {
		out = append(out, "tls (on/off)")
	}
	if a.Log != b.Log {
		out = append(out, "log")
	}
	if !sameTracing(a.Tracing, b.Tracing) {
		out = append(out, "tracing")
	}
	return out
}

// activate makes g current and retires the previous gateway once requests that started
// on it have had the shutdown timeout to finish.
func (rt *Runtime) activate(g *Gateway) {
	names := make([]string, 0, len(g.Config.Routes))
	for _, r := range g.Config.Routes {
		names = append(names, r.Name)
	}
	rt.Metrics.SetNames(names, g.Config.AuthenticatorNames())
	prev := rt.current.Swap(g)
	rt.mu.Lock()
	if rt.started {
		rt.startAuths(g)
	}
	rt.mu.Unlock()
	if prev == nil {
		return
	}
	grace := prev.Config.ShutdownTimeout
	time.AfterFunc(grace, func() { rt.release(prev) })
}

// release drops prev's uses of its authenticators, stopping those no gateway uses.
func (rt *Runtime) release(prev *Gateway) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if prev.transport != nil && prev.transport != rt.current.Load().transport {
		// upstream_timeout changed: the replaced pool's requests have had the grace to
		// finish, and its idle connections would otherwise stay open for IdleConnTimeout.
		prev.transport.CloseIdleConnections()
	}
	if prev.Issuer != nil && prev.Issuer != rt.issuer && prev.Issuer != rt.current.Load().Issuer {
		rt.dropIssuer(prev.Issuer)
	}
	for _, fp := range prev.fps {
		la := rt.auths[fp]
		if la == nil {
			continue
		}
		if la.users--; la.users == 0 {
			if la.stop != nil {
				la.stop()
			}
			if la.unsubscribe != nil {
				la.unsubscribe()
			}
			delete(rt.auths, fp)
		}
	}
}

// upstreamTransport returns the transport for upstream_timeout d: the one already in use
// when d has not changed, so that upstream connections survive a reload. It holds rt.mu.
func (rt *Runtime) upstreamTransport(d time.Duration) *http.Transport {
	if rt.transport == nil || rt.transportTimeout != d {
		rt.transport, rt.transportTimeout = proxy.NewTransport(d), d
	}
	return rt.transport
}

// compile builds a Gateway for cfg, reusing live authenticators with the same
// fingerprint. It holds rt.mu.
func (rt *Runtime) compile(cfg *config.Config) (*Gateway, error) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	// The store is opened for every configuration: besides the authenticators and the
	// token service that read it, the admin API checks its admin tokens there.
	if rt.store == nil {
		warnExposedStore(rt.log, cfg.Store)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		st, err := openStore(ctx, cfg.Store, rt.log.With("component", "store"))
		cancel()
		if err != nil {
			return nil, fmt.Errorf("open the credential store %s: %w", cfg.Store, err)
		}
		rt.store, rt.storeCfg = st, cfg.Store
		rt.outage = store.NewOutage(cfg.StoreOutageGrace, rt.o.Now)
		rt.outage.OnChange = func(err error) {
			if err != nil {
				rt.log.Warn("credential store unreachable: serving cached decisions for the grace period, then 503",
					"store_outage_grace", rt.outage.Grace().String(), "error", err)
				return
			}
			rt.log.Info("credential store reachable again")
		}
		rt.Metrics.StoreHealth(rt.outage.Down)
		rt.watcher = store.NewWatcher(st, store.WatcherOptions{Outage: rt.outage, OnError: func(err error) {
			rt.log.Warn("credential store change feed failing; revocations may be late", "error", err)
		}})
		rt.Metrics.StoreFeed(rt.watcher.LastSync)
		if rt.started {
			rt.startWatcher()
		}
	}
	if rt.outage != nil {
		rt.outage.SetGrace(cfg.StoreOutageGrace)
	}
	if rt.budget == nil || cfg.FailureBudget != rt.budgetCfg {
		b, err := budget.New(budget.Options{
			PerClient:           budget.Rate(cfg.FailureBudget.PerClient),
			PerCredential:       budget.Rate(cfg.FailureBudget.PerCredential),
			PerCredentialGlobal: budget.Rate(cfg.FailureBudget.PerCredentialGlobal),
			Redis:               budget.RedisOptions{URL: string(cfg.FailureBudget.Redis), Timeout: cfg.FailureBudget.RedisTimeout},
			Now:                 rt.o.Now,
			Logger:              rt.log,
		})
		if err != nil {
			return nil, err
		}
		if old := rt.budget; old != nil {
			// A draining gateway may still reserve from the old budget for a moment;
			// its Redis connection goes once those requests are done.
			time.AfterFunc(budgetDrain, func() { old.Close() })
		}
		rt.budget, rt.budgetCfg, rt.lastBudget = b, cfg.FailureBudget, budget.RedisStats{}
	}

	if err := rt.compileIssuer(cfg); err != nil {
		return nil, err
	}
	g := &Gateway{Config: cfg, Issuer: rt.issuer, auths: map[string]*liveAuth{}, store: rt.store}
	var fresh []*liveAuth
	var errs []error
	for _, name := range cfg.AuthenticatorNames() {
		fp := cfg.Fingerprint(name)
		la := rt.auths[fp]
		if la == nil {
			auth, err := rt.newAuthenticator(cfg, cfg.Authenticators[name])
			if err != nil {
				errs = append(errs, fmt.Errorf("authenticator %q: %w", name, err))
				continue
			}
			la = &liveAuth{auth: auth}
			fresh = append(fresh, la)
			rt.auths[fp] = la
		}
		g.auths[name] = la
		g.fps = append(g.fps, fp)
	}
	if len(errs) > 0 {
		// Forget what this attempt created; nothing else uses it yet.
		for fp, la := range rt.auths {
			for _, f := range fresh {
				if la == f {
					delete(rt.auths, fp)
				}
			}
		}
		return nil, errors.Join(errs...)
	}
	for _, fp := range g.fps {
		rt.auths[fp].users++
	}

	hidden := apiKeyHeaders(cfg)
	var routes []*gateway.Route
	for _, rc := range cfg.Routes {
		reqs, err := requirements(rc.Require, hidden)
		if err != nil {
			return nil, fmt.Errorf("route %q: %w", rc.Name, err)
		}
		r := &gateway.Route{
			Route: &decision.Route{
				Name:               rc.Name,
				PathPrefix:         rc.Match.PathPrefix,
				Methods:            rc.Match.Methods,
				CaseInsensitive:    rc.Match.CaseInsensitive,
				MethodsFallthrough: rc.Match.MethodsFallthrough,
				Anonymous:          rc.Anonymous,
				RequiredScopes:     rc.Require.Scopes,
				Host:               rc.Match.Host,
				Requirements:       reqs,
				Budget:             rt.budget,
			},
			ForwardAuthorization: rc.ForwardAuthorization,
		}
		for _, name := range rc.Authenticators {
			a := g.auths[name].auth
			if rt.o.WrapAuthenticator != nil {
				a = rt.o.WrapAuthenticator(a)
			}
			r.Authenticators = append(r.Authenticators, a)
		}
		// The others let a refusal name a credential meant for them (an API key sent
		// to a route without an api_key authenticator) instead of calling it missing.
		for _, name := range cfg.AuthenticatorNames() {
			if !slices.Contains(rc.Authenticators, name) {
				r.Others = append(r.Others, g.auths[name].auth)
			}
		}
		if rc.Upstream != "" {
			u, err := url.Parse(rc.Upstream)
			if err != nil {
				return nil, fmt.Errorf("route %q: upstream: %w", rc.Name, err)
			}
			r.Upstream = u
		}
		routes = append(routes, r)
	}
	mappings, err := headerMappings(cfg)
	if err != nil {
		return nil, err
	}
	ring, m := rt.Ring, rt.Metrics
	var transport http.RoundTripper = rt.o.UpstreamTransport
	if transport == nil {
		g.transport = rt.upstreamTransport(cfg.UpstreamTimeout)
		transport = g.transport
	}
	g.Handler = gateway.New(gateway.Options{
		HeaderMappings:       mappings,
		Realm:                cfg.Realm,
		TerseErrors:          cfg.Errors.Detail == config.DetailTerse,
		Routes:               routes,
		CORS:                 gateway.CORS{AllowedOrigins: cfg.CORS.AllowedOrigins, AllowedHeaders: cfg.CORS.AllowedHeaders, MaxAge: cfg.CORS.MaxAge},
		TrustedProxies:       cfg.TrustedProxies,
		ForwardAuthPath:      cfg.ForwardAuth.Path,
		Resource:             cfg.Resource,
		AuthorizationServers: authorizationServers(cfg),
		Transport:            transport,
		Logger:               rt.log,
		Observe: func(ev gateway.Event) {
			ring.Observe(ev)
			m.Observe(ev)
		},
		Now:            rt.o.Now,
		MaxHeaderBytes: cfg.MaxHeaderBytes,
		Tracer:         rt.tracer,
	})
	if g.Issuer != nil {
		// What a reload may change on a running token service, applied only once the
		// whole configuration compiled.
		trusted := cfg.TrustedProxies
		g.Issuer.SetPolicy(issuer.Policy{
			Realm:      cfg.Realm,
			Budget:     rt.budget,
			ClientAddr: func(r *http.Request) netip.Addr { return proxy.ClientAddr(r, trusted) },
		})
	}
	return g, nil
}

// compileIssuer builds the token service when cfg has one and none with the same
// settings runs yet. It holds rt.mu.
func (rt *Runtime) compileIssuer(cfg *config.Config) error {
	ts := cfg.TokenService
	if ts == nil {
		return nil
	}
	if rt.issuer == nil || !sameTokenService(rt.issuerCfg, ts) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		srv, err := issuer.New(ctx, issuer.Options{
			Issuer:           ts.Issuer,
			Store:            rt.decisionStore(),
			SigningKeySecret: ts.SigningKeySecret.Reveal(),
			Algorithm:        ts.SigningAlgorithm,
			DefaultTTL:       ts.AccessTokenTTL,
			Realm:            cfg.Realm,
			Logger:           rt.log.With("component", "token_service"),
			Now:              rt.o.Now,
			OnToken:          rt.Metrics.TokenRequest,
		})
		cancel()
		if err != nil {
			return err
		}
		if old := rt.issuer; old != nil && (rt.current.Load() == nil || rt.current.Load().Issuer != old) {
			rt.dropIssuer(old) // built by a reload that failed: no gateway uses it
		}
		rt.issuer, rt.issuerCfg = srv, ts
		rt.Metrics.InitTokenRequests()
		if rt.issuerSubs == nil {
			rt.issuerSubs = map[*issuer.Server]func(){}
		}
		rt.issuerSubs[srv] = rt.watcher.Subscribe(srv.Invalidate)
	}
	return nil
}

// dropIssuer stops a token service no gateway uses from following the change feed. It
// holds rt.mu.
func (rt *Runtime) dropIssuer(srv *issuer.Server) {
	if unsub := rt.issuerSubs[srv]; unsub != nil {
		unsub()
		delete(rt.issuerSubs, srv)
	}
}

// sameTokenService reports whether a running token service built from a can serve b.
func sameTokenService(a, b *config.TokenService) bool {
	return a.Issuer == b.Issuer && a.SigningAlgorithm == b.SigningAlgorithm && a.AccessTokenTTL == b.AccessTokenTTL &&
		secret.Equal(a.SigningKeySecret.Reveal(), b.SigningKeySecret.Reveal())
}

// authorizationServers are the issuers the RFC 9728 document names: the configured
// ones, then the issuer of every jwt authenticator a route uses (the token service's for
// issuer: self), in route order, and the token service's own.
func authorizationServers(cfg *config.Config) []string {
	out := slices.Clone(cfg.AuthorizationServers)
	add := func(iss string) {
		if iss != "" && !slices.Contains(out, iss) {
			out = append(out, iss)
		}
	}
	for _, rc := range cfg.Routes {
		for _, name := range rc.Authenticators {
			a := cfg.Authenticators[name]
			if a == nil || a.JWT == nil {
				continue
			}
			if a.JWT.Issuer == config.IssuerSelf {
				if cfg.TokenService != nil {
					add(cfg.TokenService.Issuer)
				}
				continue
			}
			add(a.JWT.Issuer)
		}
	}
	if ts := cfg.TokenService; ts != nil {
		add(ts.Issuer)
	}
	return out
}

// headerMappings compiles every authenticator's headers block, by name.
func headerMappings(cfg *config.Config) (map[string]*identity.Mapping, error) {
	var out map[string]*identity.Mapping
	for _, name := range cfg.AuthenticatorNames() {
		a := cfg.Authenticators[name]
		if a == nil || len(a.Headers) == 0 {
			continue
		}
		m, err := identity.NewMapping(a.HeaderPairs())
		if err != nil {
			return nil, fmt.Errorf("authenticator %q: %w", name, err)
		}
		if out == nil {
			out = map[string]*identity.Mapping{}
		}
		out[name] = m
	}
	return out, nil
}

// warnExposedStore logs, for each file of a SQLite store that other local users may read
// or write, its path, its mode and the command that fixes it. New stores are created
// private; an older one keeps its mode until the operator changes it, since silently
// changing the mode of an operator's file could break a deliberate setup (a backup user
// in the file's group, say).
func warnExposedStore(log *slog.Logger, s config.Store) {
	if s.Driver != config.StoreSQLite {
		return
	}
	for _, f := range sqlite.Exposed(s.Path) {
		log.Warn("credential store file is readable by other users: it holds password hashes, key hashes and sealed signing keys",
			"path", f.Path, "mode", fmt.Sprintf("%#o", f.Mode), "fix", "chmod 600 "+f.Path)
	}
}

// OpenStore opens the credential store the configuration names. A PostgreSQL store is
// connected, checked and migrated (see store/postgres); its listener logs to
// slog.Default().
func OpenStore(ctx context.Context, s config.Store) (store.Store, error) {
	return openStore(ctx, s, nil)
}

func openStore(ctx context.Context, s config.Store, log *slog.Logger) (store.Store, error) {
	switch s.Driver {
	case config.StoreSQLite:
		return store.Open(ctx, "sqlite://"+s.Path)
	case config.StorePostgres:
		return postgres.Open(ctx, PostgresConfig(s, log))
	}
	return nil, fmt.Errorf("open store: unknown driver %q", s.Driver)
}

// PostgresConfig turns the store settings into the backend's configuration.
func PostgresConfig(s config.Store, log *slog.Logger) postgres.Config {
	return postgres.Config{
		DSN:             s.DSN,
		Password:        string(s.Password.Reveal()),
		MaxConns:        int32(s.MaxConns),
		MinConns:        int32(s.MinConns),
		ConnectTimeout:  s.ConnectTimeout,
		QueryTimeout:    s.QueryTimeout,
		MaxConnLifetime: s.MaxConnLifetime,
		MaxConnIdleTime: s.MaxConnIdleTime,
		Logger:          log,
	}
}

func (rt *Runtime) newAuthenticator(cfg *config.Config, a *config.Authenticator) (decision.Authenticator, error) {
	kind, ok := authKinds[a.Type]
	if !ok {
		return nil, fmt.Errorf("type %s is not supported by this build", a.Type)
	}
	return kind.build(rt, cfg, a, rt.log.With("authenticator", a.Name))
}

// Start runs the background work until ctx ends: the store's change feed (revocations
// reach every cache within a poll interval), JWKS refreshes, and the batched
// last_used_at writer. Authenticators added by later reloads start as they come. A JWKS
// failure is logged, not fatal: the gateway answers 503 for tokens it cannot check until
// the key set arrives, and /readyz says it is not ready.
func (rt *Runtime) Start(ctx context.Context) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.bg, rt.started = ctx, true
	if rt.watcher != nil {
		rt.startWatcher()
	}
	rt.startAuths(rt.current.Load())
}

func (rt *Runtime) startWatcher() {
	if err := rt.watcher.Start(rt.bg); err != nil {
		rt.log.Warn("credential store change feed could not start; will retry", "error", err)
	}
	rt.running.Go(func() { rt.watcher.Run(rt.bg) })
}

// startAuths starts the background work of g's authenticators that are not running yet,
// by what each implements (see seams.go). It holds rt.mu.
func (rt *Runtime) startAuths(g *Gateway) {
	for _, la := range g.auths {
		if la.stop != nil {
			continue
		}
		ctx, stop := context.WithCancel(rt.bg)
		la.stop = stop
		a := la.auth
		if s, ok := a.(starter); ok {
			rt.running.Go(func() {
				if err := s.Start(ctx); err != nil {
					rt.log.Warn("jwks fetch failed; will retry", "authenticator", a.Name(), "error", err)
				}
			})
		}
		if r, ok := a.(runner); ok {
			rt.running.Go(func() { r.Run(ctx) })
		}
		if r, ok := a.(errRunner); ok {
			rt.running.Go(func() {
				if err := r.Run(ctx); err != nil {
					rt.log.Warn("authenticator background work ended with an error", "authenticator", a.Name(), "error", err)
				}
			})
		}
		var unsubs []func()
		if inv, ok := a.(invalidator); ok && rt.watcher != nil {
			unsubs = append(unsubs, rt.watcher.Subscribe(inv.Invalidate))
		}
		if c, ok := a.(closer); ok {
			unsubs = append(unsubs, c.Close)
		}
		if len(unsubs) > 0 {
			la.unsubscribe = func() {
				for _, u := range unsubs {
					u()
				}
			}
		}
	}
}

// Ready reports whether the current configuration can decide: key sets fetched, the
// store reachable and its change feed current.
func (rt *Runtime) Ready(ctx context.Context) error {
	g := rt.current.Load()
	for name, la := range g.auths {
		if r, ok := la.auth.(readier); ok && !r.Ready() {
			return fmt.Errorf("authenticator %q has no key set yet", name)
		}
	}
	// The store is always open (admin tokens live there), but only a configuration whose
	// decisions read it is unready without it: a JWT-only gateway keeps serving through a
	// database outage, and its admin API answers 503 on its own.
	if rt.store != nil && decidesWithStore(g.Config) {
		if down, since := rt.outage.Down(); down {
			return outageStatus(rt.o.Now().Sub(since), rt.outage.Grace())
		}
		if err := rt.store.Ping(ctx); err != nil {
			return fmt.Errorf("credential store: %w", err)
		}
		if last := rt.watcher.LastSync(); last.IsZero() || time.Since(last) > 5*time.Second {
			return errors.New("credential store change feed is behind")
		}
	}
	return nil
}

// decidesWithStore reports whether requests are decided with the credential store: an
// API-key or Basic authenticator, or the token service.
func decidesWithStore(cfg *config.Config) bool {
	if cfg.TokenService != nil {
		return true
	}
	for _, a := range cfg.Authenticators {
		if authKinds[a.Type].usesStore {
			return true
		}
	}
	return false
}

// outageStatus says, for /readyz, how long the store has been unreachable and what the
// gateway does about it.
func outageStatus(down, grace time.Duration) error {
	down = down.Round(time.Second)
	if left := grace - down; left > 0 {
		return fmt.Errorf("credential store unreachable for %s: cached decisions are served for %s more, anything else gets 503", down, left.Round(time.Second))
	}
	return fmt.Errorf("credential store unreachable for %s: past store_outage_grace (%s), requests that need the store get 503", down, grace)
}

// syncCacheMetrics reports the authenticators' cache counters to the metrics, as deltas
// since the last report; the admin listener calls it before each scrape.
// budgetDrain is how long a replaced failure budget keeps its Redis connection.
const budgetDrain = time.Minute

// syncCacheMetrics reports the authenticators' cache counters and the failure budget's
// Redis counters to the metrics, as deltas since the last report; the admin listener
// calls it before each scrape.
func (rt *Runtime) syncCacheMetrics() {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.budget != nil {
		st := rt.budget.RedisStats()
		rt.Metrics.AddBudgetRedis(st.Configured, st.Up, st.Fallbacks-rt.lastBudget.Fallbacks, st.Outages-rt.lastBudget.Outages)
		rt.lastBudget = st
	}
	g := rt.current.Load()
	for name, la := range g.auths {
		s, ok := la.auth.(cacheStatser)
		if !ok {
			continue
		}
		h, m, e := s.CacheStats()
		rt.Metrics.AddCache(name, h-la.lastCache[0], m-la.lastCache[1], e-la.lastCache[2])
		la.lastCache = [3]uint64{h, m, e}
	}
}

// Close stops background work (cancel Start's context first), waits for it, and
// releases the store. Nothing may be serving.
func (rt *Runtime) Close() error {
	rt.mu.Lock()
	for _, la := range rt.auths {
		if la.stop != nil {
			la.stop()
		}
	}
	b := rt.budget
	if rt.transport != nil {
		rt.transport.CloseIdleConnections()
	}
	rt.mu.Unlock()
	rt.running.Wait()
	if rt.tracer != nil {
		// What is buffered goes out, within a bound: a collector that is down does not
		// hold the shutdown.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = rt.tracer.Shutdown(ctx)
		cancel()
	}
	if b != nil {
		b.Close()
	}
	if rt.store != nil {
		return rt.store.Close()
	}
	return nil
}

// NewLogger builds the process logger from the log block (see package logline): lines
// are batched, so under load one write carries many decision lines; logline.Flush
// writes what is left.
func NewLogger(w io.Writer, l config.Log) *slog.Logger {
	return logline.New(w, l.Level, l.Format == config.LogText)
}
