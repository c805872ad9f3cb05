package app

import (
	"context"
	"log/slog"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/verify/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/verify/basic"
	"github.com/gatehouse-dev/gatehouse/internal/verify/introspect"
	jwtverify "github.com/gatehouse-dev/gatehouse/internal/verify/jwt"
	"github.com/gatehouse-dev/gatehouse/internal/verify/mtls"
)

// The runtime's view of an authenticator beyond decision.Authenticator: each is
// optional, and the runtime uses whichever an authenticator implements. A new
// authenticator is its package plus one row of authKinds; nothing here names a concrete
// type.
type (
	// starter has work to do before it can decide (a JWKS prefetch) and keeps doing it
	// until ctx ends; an error is logged, not fatal.
	starter interface {
		Start(ctx context.Context) error
	}
	// runner and errRunner have background work that runs until ctx ends.
	runner interface {
		Run(ctx context.Context)
	}
	errRunner interface {
		Run(ctx context.Context) error
	}
	// invalidator follows the credential store's change feed.
	invalidator interface {
		Invalidate(store.Change)
	}
	// readier says whether it can decide yet (/readyz).
	readier interface {
		Ready() bool
	}
	// closer lets go of what it follows once no gateway uses it.
	closer interface {
		Close()
	}
	// cacheStatser reports its cache's counters to the metrics.
	cacheStatser interface {
		CacheStats() (hits, misses, evictions uint64)
	}
)

// authKind is how the runtime builds one authenticator type.
type authKind struct {
	build func(rt *Runtime, cfg *config.Config, a *config.Authenticator, log *slog.Logger) (decision.Authenticator, error)
	// usesStore is true when its decisions read the credential store, so /readyz
	// depends on the store.
	usesStore bool
}

// authKinds has one row per authenticator type (config.AuthenticatorTypes).
var authKinds = map[config.AuthenticatorType]authKind{
	config.TypeJWT:           {build: buildJWT},
	config.TypeAPIKey:        {build: buildAPIKey, usesStore: true},
	config.TypeBasic:         {build: buildBasic, usesStore: true},
	config.TypeIntrospection: {build: buildIntrospection},
	config.TypeMTLS:          {build: buildMTLS},
}

func buildJWT(rt *Runtime, _ *config.Config, a *config.Authenticator, log *slog.Logger) (decision.Authenticator, error) {
	j := a.JWT
	// config: cache_size 0 disables the cache; the verifier spells that -1.
	cacheSize := j.CacheSize
	if cacheSize == 0 {
		cacheSize = -1
	}
	rules, err := identity.NewRules(j.SubjectClaim, j.ScopeClaims)
	if err != nil {
		return nil, err
	}
	if j.Issuer == config.IssuerSelf {
		// Gatehouse's own tokens: the token service's live keys and revocations, in
		// process (config validation guarantees a token_service block).
		return jwtverify.NewSelf(jwtverify.SelfConfig{
			Name:        a.Name,
			Issuer:      rt.issuer.Issuer(),
			Audience:    j.Audience,
			Algorithms:  j.Algorithms,
			Keys:        rt.issuer.KeyRing(),
			Revocations: rt.issuer.Revocations(),
			RefreshKeys: rt.issuer.RefreshKeys,
			Leeway:      j.Leeway,
			CacheSize:   cacheSize,
			Now:         rt.o.Now,
			Logger:      log,
			Rules:       rules,
		})
	}
	m, name := rt.Metrics, a.Name
	return jwtverify.New(jwtverify.Config{
		Name:          a.Name,
		Issuer:        j.Issuer,
		Audience:      j.Audience,
		Algorithms:    j.Algorithms,
		JWKSFile:      j.JWKSFile,
		JWKSURL:       j.JWKSURL,
		Secret:        j.Secret.Reveal(),
		Leeway:        j.Leeway,
		MaxStale:      j.JWKSMaxStale,
		MinRefresh:    j.JWKSMinRefresh,
		NegativeTTL:   j.JWKSNegativeTTL,
		FetchTimeout:  j.JWKSTimeout,
		CacheSize:     cacheSize,
		HTTPClient:    rt.authClient("jwks fetch", j.JWKSTimeout), // nil: the verifier's client, which refuses https->http redirects
		Now:           rt.o.Now,
		Logger:        log,
		OnFetch:       func(result string) { m.JWKSFetch(name, result) },
		Discovery:     j.Discovery,
		AudienceClaim: j.AudienceClaim,
		Rules:         rules,
	})
}

func buildAPIKey(rt *Runtime, cfg *config.Config, a *config.Authenticator, log *slog.Logger) (decision.Authenticator, error) {
	hasher, err := secret.NewKeyHasher(a.APIKey.Pepper.Reveal())
	if err != nil {
		return nil, err
	}
	return apikey.New(apikey.Config{
		Name:        a.Name,
		Header:      a.APIKey.Header,
		Query:       a.APIKey.Query,
		Environment: cfg.Environment,
		Store:       rt.decisionStore(),
		Outage:      rt.outage,
		Hasher:      hasher,
		Logger:      log,
		Now:         rt.o.Now,
	})
}

func buildBasic(rt *Runtime, _ *config.Config, a *config.Authenticator, log *slog.Logger) (decision.Authenticator, error) {
	ttl := a.Basic.CacheTTL
	if a.Basic.CacheSize == 0 {
		ttl = -1 // config: cache_size 0 disables the cache
	}
	return basic.New(basic.Config{
		Name:      a.Name,
		Store:     rt.decisionStore(),
		Outage:    rt.outage,
		CacheSize: a.Basic.CacheSize,
		CacheTTL:  ttl,
		Logger:    log,
		Now:       rt.o.Now,
	})
}

func buildIntrospection(rt *Runtime, _ *config.Config, a *config.Authenticator, _ *slog.Logger) (decision.Authenticator, error) {
	in := a.Introspection
	rules, err := identity.NewRules(in.SubjectClaim, in.ScopeClaims)
	if err != nil {
		return nil, err
	}
	return introspect.New(introspect.Config{
		Rules:        rules,
		Name:         a.Name,
		URL:          in.URL,
		ClientID:     in.ClientID,
		ClientSecret: string(in.ClientSecret.Reveal()),
		Timeout:      in.Timeout,
		CacheMaxTTL:  in.CacheMaxTTL,
		HTTPClient:   rt.authClient("introspection", in.Timeout),
		Now:          rt.o.Now,
	})
}

func buildMTLS(rt *Runtime, _ *config.Config, a *config.Authenticator, _ *slog.Logger) (decision.Authenticator, error) {
	return mtls.New(mtls.Config{
		Name:          a.Name,
		CAFile:        a.MTLS.CAFile,
		PrincipalFrom: mtls.PrincipalFrom(a.MTLS.PrincipalFrom),
		Now:           rt.o.Now,
	})
}
