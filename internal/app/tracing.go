package app

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"

	"github.com/gatehouse-dev/gatehouse/internal/buildinfo"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/tracing"
	jwtverify "github.com/gatehouse-dev/gatehouse/internal/verify/jwt"
)

// newTracer builds the tracer the configuration and the OTEL_* environment ask for;
// nil when tracing is off.
func (rt *Runtime) newTracer(cfg *config.Config) (*tracing.Tracer, error) {
	o := tracing.Options{
		ServiceVersion: buildinfo.Read().Version,
		Getenv:         rt.o.Getenv,
		OnDrop:         rt.Metrics.TracingDropped,
		Logger:         rt.log,
	}
	if t := cfg.Tracing; t != nil {
		headers, err := t.HeaderMap()
		if err != nil {
			return nil, err
		}
		o.Endpoint, o.Protocol, o.SamplingRatio, o.ServiceName, o.Headers = t.Endpoint, t.Protocol, t.SamplingRatio, t.ServiceName, headers
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return tracing.New(ctx, o)
}

// authClient is the HTTP client an authenticator calls out with (JWKS fetches,
// introspection): Options.HTTPClient, with every request a client span named name
// while tracing is on. Nil (the authenticator's own client) when neither applies.
func (rt *Runtime) authClient(name string, responseHeaderTimeout time.Duration) *http.Client {
	if rt.tracer == nil {
		return rt.o.HTTPClient
	}
	var c http.Client
	var base http.RoundTripper
	if rt.o.HTTPClient != nil {
		c = *rt.o.HTTPClient
		base = c.Transport
	}
	if base == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 32
		tr.ResponseHeaderTimeout = responseHeaderTimeout
		base = tr
	}
	c.Transport = rt.tracer.Transport(name, base)
	return &c
}

// decisionStore is the store the authenticators and the token service read: with
// tracing on, each lookup on the request path (an API key, a user, a client) is a span.
func (rt *Runtime) decisionStore() store.Store {
	if rt.tracer == nil || rt.store == nil {
		return rt.store
	}
	return &tracedStore{Store: rt.store, t: rt.tracer, system: string(rt.storeCfg.Driver)}
}

// tracedStore makes a span of each lookup the request path makes. A span names the
// operation and its outcome, never the id or name looked up.
type tracedStore struct {
	store.Store
	t      *tracing.Tracer
	system string
}

func (s *tracedStore) span(ctx context.Context, op string) (context.Context, func(error)) {
	ctx, span := s.t.Start(ctx, "store "+op,
		attribute.String("db.system.name", s.system), attribute.String("db.operation.name", op))
	return ctx, func(err error) {
		result := "found"
		switch {
		case errors.Is(err, store.ErrNotFound):
			result = "not_found"
		case err != nil:
			result = "error"
			span.SetStatus(codes.Error, "store lookup failed")
		}
		span.SetAttributes(attribute.String("gatehouse.store.result", result))
		span.End()
	}
}

// Key looks an API key up, in a span.
func (s *tracedStore) Key(ctx context.Context, id string) (store.APIKey, error) {
	ctx, end := s.span(ctx, "key")
	k, err := s.Store.Key(ctx, id)
	end(err)
	return k, err
}

// User looks a Basic user up, in a span.
func (s *tracedStore) User(ctx context.Context, name string) (store.User, error) {
	ctx, end := s.span(ctx, "user")
	u, err := s.Store.User(ctx, name)
	end(err)
	return u, err
}

// Client looks a token service client up, in a span.
func (s *tracedStore) Client(ctx context.Context, id string) (store.Client, error) {
	ctx, end := s.span(ctx, "client")
	c, err := s.Store.Client(ctx, id)
	end(err)
	return c, err
}

// syncOperatorMetrics reports what is read at scrape time: the age of every jwks_url
// authenticator's key set.
func (rt *Runtime) syncOperatorMetrics() {
	g := rt.current.Load()
	ages := map[string]time.Duration{}
	for name, la := range g.auths {
		if j, ok := la.auth.(*jwtverify.Authenticator); ok {
			if age, ok := j.KeySetAge(); ok {
				ages[name] = age
			}
		}
	}
	rt.Metrics.SetJWKSAges(ages)
}

// sameTracing reports whether two tracing blocks ask for the same tracing.
func sameTracing(a, b *config.Tracing) bool {
	if a == nil || b == nil {
		return a == b
	}
	ratio := func(p *float64) float64 {
		if p == nil {
			return -1
		}
		return *p
	}
	return a.Endpoint == b.Endpoint && a.Protocol == b.Protocol && a.ServiceName == b.ServiceName &&
		ratio(a.SamplingRatio) == ratio(b.SamplingRatio) && bytes.Equal(a.Headers.Reveal(), b.Headers.Reveal())
}
