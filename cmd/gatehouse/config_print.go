package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/store/postgres"
)

// effectiveConfig is what "config check --print" shows: the configuration as the
// gateway runs it, under the keys of the file, every default filled in. Secrets keep
// the config.Secret type, which marshals as "[REDACTED]" whatever the encoder, so no
// field here can carry one by mistake; the store URL is shown as Store.String shows
// it, with any password in it replaced by xxxxx.
type effectiveConfig struct {
	Listen               string                            `json:"listen" yaml:"listen"`
	AdminListen          string                            `json:"admin_listen" yaml:"admin_listen"`
	TLS                  *effectiveTLS                     `json:"tls,omitempty" yaml:"tls,omitempty"`
	Realm                string                            `json:"realm" yaml:"realm"`
	Environment          string                            `json:"environment" yaml:"environment"`
	Store                effectiveStore                    `json:"store" yaml:"store"`
	Errors               map[string]string                 `json:"errors" yaml:"errors"`
	CORS                 effectiveCORS                     `json:"cors" yaml:"cors"`
	TrustedProxies       []string                          `json:"trusted_proxies" yaml:"trusted_proxies"`
	ForwardAuth          map[string]string                 `json:"forward_auth" yaml:"forward_auth"`
	ExtAuthz             map[string]string                 `json:"ext_authz,omitempty" yaml:"ext_authz,omitempty"`
	MaxHeaderBytes       int                               `json:"max_header_bytes" yaml:"max_header_bytes"`
	Resource             string                            `json:"resource,omitempty" yaml:"resource,omitempty"`
	AuthorizationServers []string                          `json:"authorization_servers,omitempty" yaml:"authorization_servers,omitempty"`
	UpstreamTimeout      string                            `json:"upstream_timeout" yaml:"upstream_timeout"`
	ShutdownTimeout      string                            `json:"shutdown_timeout" yaml:"shutdown_timeout"`
	WriteTimeout         string                            `json:"write_timeout" yaml:"write_timeout"`
	Log                  map[string]string                 `json:"log" yaml:"log"`
	FailureBudget        map[string]string                 `json:"failure_budget" yaml:"failure_budget"`
	Authenticators       map[string]effectiveAuthenticator `json:"authenticators" yaml:"authenticators"`
	Routes               []effectiveRoute                  `json:"routes" yaml:"routes"`
	TokenService         *effectiveTokenService            `json:"token_service,omitempty" yaml:"token_service,omitempty"`
	Tracing              *effectiveTracing                 `json:"tracing,omitempty" yaml:"tracing,omitempty"`
}

// effectiveTracing is the tracing block as written: settings left out are taken from
// the OTEL_* variables when the gateway starts, and are not shown.
type effectiveTracing struct {
	Endpoint      string        `json:"endpoint,omitempty" yaml:"endpoint,omitempty"`
	Protocol      string        `json:"protocol,omitempty" yaml:"protocol,omitempty"`
	SamplingRatio *float64      `json:"sampling_ratio,omitempty" yaml:"sampling_ratio,omitempty"`
	ServiceName   string        `json:"service_name,omitempty" yaml:"service_name,omitempty"`
	Headers       config.Secret `json:"headers,omitzero" yaml:"headers,omitempty"`
}

type effectiveTLS struct {
	CertFile string `json:"cert_file" yaml:"cert_file"`
	KeyFile  string `json:"key_file" yaml:"key_file"`
}

type effectiveStore struct {
	URL             string        `json:"url" yaml:"url"`
	Password        config.Secret `json:"password,omitzero" yaml:"password,omitempty"`
	MaxConns        int           `json:"max_conns,omitempty" yaml:"max_conns,omitempty"`
	MinConns        *int          `json:"min_conns,omitempty" yaml:"min_conns,omitempty"`
	ConnectTimeout  string        `json:"connect_timeout,omitempty" yaml:"connect_timeout,omitempty"`
	QueryTimeout    string        `json:"query_timeout,omitempty" yaml:"query_timeout,omitempty"`
	MaxConnLifetime string        `json:"max_conn_lifetime,omitempty" yaml:"max_conn_lifetime,omitempty"`
	MaxConnIdleTime string        `json:"max_conn_idle_time,omitempty" yaml:"max_conn_idle_time,omitempty"`
}

type effectiveCORS struct {
	AllowedOrigins []string `json:"allowed_origins" yaml:"allowed_origins"`
	AllowedHeaders []string `json:"allowed_headers" yaml:"allowed_headers"`
	MaxAge         string   `json:"max_age" yaml:"max_age"`
}

// effectiveAuthenticator holds the keys of every type; only its own type's are set.
type effectiveAuthenticator struct {
	Type string `json:"type" yaml:"type"`
	// jwt
	Issuer          string        `json:"issuer,omitempty" yaml:"issuer,omitempty"`
	Audience        []string      `json:"audience,omitempty" yaml:"audience,omitempty"`
	Algorithms      []string      `json:"algorithms,omitempty" yaml:"algorithms,omitempty"`
	JWKSURL         string        `json:"jwks_url,omitempty" yaml:"jwks_url,omitempty"`
	JWKSFile        string        `json:"jwks_file,omitempty" yaml:"jwks_file,omitempty"`
	Secret          config.Secret `json:"secret,omitzero" yaml:"secret,omitempty"`
	Leeway          string        `json:"leeway,omitempty" yaml:"leeway,omitempty"`
	JWKSMaxStale    string        `json:"jwks_max_stale,omitempty" yaml:"jwks_max_stale,omitempty"`
	JWKSMinRefresh  string        `json:"jwks_min_refresh,omitempty" yaml:"jwks_min_refresh,omitempty"`
	JWKSNegativeTTL string        `json:"jwks_negative_ttl,omitempty" yaml:"jwks_negative_ttl,omitempty"`
	JWKSTimeout     string        `json:"jwks_timeout,omitempty" yaml:"jwks_timeout,omitempty"`
	// api_key
	Header string        `json:"header,omitempty" yaml:"header,omitempty"`
	Query  string        `json:"query,omitempty" yaml:"query,omitempty"`
	Pepper config.Secret `json:"pepper,omitzero" yaml:"pepper,omitempty"`
	// basic
	CacheTTL string `json:"cache_ttl,omitempty" yaml:"cache_ttl,omitempty"`
	// jwt, basic
	CacheSize int `json:"cache_size,omitempty" yaml:"cache_size,omitempty"`
	// introspection
	URL          string        `json:"url,omitempty" yaml:"url,omitempty"`
	ClientID     string        `json:"client_id,omitempty" yaml:"client_id,omitempty"`
	ClientSecret config.Secret `json:"client_secret,omitzero" yaml:"client_secret,omitempty"`
	CacheMaxTTL  string        `json:"cache_max_ttl,omitempty" yaml:"cache_max_ttl,omitempty"`
	Timeout      string        `json:"timeout,omitempty" yaml:"timeout,omitempty"`
	// mtls
	CAFile        string `json:"ca_file,omitempty" yaml:"ca_file,omitempty"`
	PrincipalFrom string `json:"principal_from,omitempty" yaml:"principal_from,omitempty"`
}

type effectiveRoute struct {
	Name                 string            `json:"name,omitempty" yaml:"name,omitempty"`
	Match                effectiveMatch    `json:"match" yaml:"match"`
	Upstream             string            `json:"upstream,omitempty" yaml:"upstream,omitempty"`
	Authenticate         []string          `json:"authenticate" yaml:"authenticate,flow"`
	Require              *effectiveRequire `json:"require,omitempty" yaml:"require,omitempty"`
	ForwardAuthorization bool              `json:"forward_authorization" yaml:"forward_authorization"`
}

// effectiveRequire is a route's require block; claims keep their file order, which is
// the order they are checked in.
type effectiveRequire struct {
	Scopes     []string      `json:"scopes,omitempty" yaml:"scopes,omitempty,flow"`
	Claims     orderedClaims `json:"claims,omitempty" yaml:"claims,omitempty"`
	Expression []string      `json:"expression,omitempty" yaml:"expression,omitempty"`
}

// orderedClaims prints require.claims as a mapping in file order.
type orderedClaims []config.ClaimRequirement

func (o orderedClaims) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, c := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(c.Path)
		v, _ := json.Marshal(c.Values)
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func (o orderedClaims) MarshalYAML() (any, error) {
	n := &yaml.Node{Kind: yaml.MappingNode}
	for _, c := range o {
		vals := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
		for _, v := range c.Values {
			vals.Content = append(vals.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: v})
		}
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: c.Path}, vals)
	}
	return n, nil
}

type effectiveMatch struct {
	PathPrefix         string   `json:"path_prefix" yaml:"path_prefix"`
	Host               string   `json:"host,omitempty" yaml:"host,omitempty"`
	Methods            []string `json:"methods,omitempty" yaml:"methods,omitempty,flow"`
	CaseInsensitive    bool     `json:"case_insensitive" yaml:"case_insensitive"`
	MethodsFallthrough bool     `json:"methods_fallthrough" yaml:"methods_fallthrough"`
}

type effectiveTokenService struct {
	Issuer           string        `json:"issuer" yaml:"issuer"`
	SigningKeySecret config.Secret `json:"signing_key_secret,omitzero" yaml:"signing_key_secret,omitempty"`
	SigningAlgorithm string        `json:"signing_algorithm" yaml:"signing_algorithm"`
	Audience         string        `json:"audience,omitempty" yaml:"audience,omitempty"`
	AccessTokenTTL   string        `json:"access_token_ttl" yaml:"access_token_ttl"`
}

// span formats a duration, leaving out a zero one.
func span(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func emptyIfNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func newEffectiveConfig(c *config.Config) *effectiveConfig {
	e := &effectiveConfig{
		Listen: c.Listen, AdminListen: c.AdminListen, Realm: c.Realm, Environment: c.Environment,
		Store:          effectiveStore{URL: c.Store.String(), Password: c.Store.Password},
		Errors:         map[string]string{"detail": string(c.Errors.Detail)},
		CORS:           effectiveCORS{AllowedOrigins: emptyIfNil(c.CORS.AllowedOrigins), AllowedHeaders: emptyIfNil(c.CORS.AllowedHeaders), MaxAge: c.CORS.MaxAge.String()},
		TrustedProxies: []string{},
		ForwardAuth:    map[string]string{"path": c.ForwardAuth.Path},
		MaxHeaderBytes: c.MaxHeaderBytes, Resource: c.Resource, AuthorizationServers: c.AuthorizationServers,
		UpstreamTimeout: c.UpstreamTimeout.String(), ShutdownTimeout: c.ShutdownTimeout.String(), WriteTimeout: c.WriteTimeout.String(),
		Log:            map[string]string{"level": strings.ToLower(c.Log.Level.String()), "format": string(c.Log.Format)},
		FailureBudget:  map[string]string{"per_client": c.FailureBudget.PerClient.String(), "per_credential": c.FailureBudget.PerCredential.String()},
		Authenticators: map[string]effectiveAuthenticator{},
		Routes:         []effectiveRoute{},
	}
	if c.TLS.Enabled() {
		e.TLS = &effectiveTLS{CertFile: c.TLS.CertFile, KeyFile: c.TLS.KeyFile}
	}
	if c.ExtAuthz.Enabled() {
		e.ExtAuthz = map[string]string{"listen": c.ExtAuthz.Listen}
	}
	if s := c.Store; s.Driver == config.StorePostgres {
		minConns := s.MinConns
		e.Store.MaxConns = orDefault(s.MaxConns, postgres.DefaultMaxConns)
		e.Store.MinConns = &minConns
		e.Store.ConnectTimeout = orDefault(s.ConnectTimeout, postgres.DefaultConnectTimeout).String()
		e.Store.QueryTimeout = orDefault(s.QueryTimeout, postgres.DefaultQueryTimeout).String()
		e.Store.MaxConnLifetime = orDefault(s.MaxConnLifetime, postgres.DefaultMaxConnLifetime).String()
		e.Store.MaxConnIdleTime = orDefault(s.MaxConnIdleTime, postgres.DefaultMaxConnIdleTime).String()
	}
	for _, p := range c.TrustedProxies {
		e.TrustedProxies = append(e.TrustedProxies, p.String())
	}
	for name, a := range c.Authenticators {
		ea := effectiveAuthenticator{Type: string(a.Type)}
		switch {
		case a.JWT != nil:
			j := a.JWT
			ea.Issuer, ea.Audience, ea.Algorithms, ea.JWKSURL, ea.JWKSFile, ea.Secret = j.Issuer, j.Audience, j.Algorithms, j.JWKSURL, j.JWKSFile, j.Secret
			ea.Leeway, ea.JWKSMaxStale, ea.JWKSMinRefresh = j.Leeway.String(), span(j.JWKSMaxStale), span(j.JWKSMinRefresh)
			ea.JWKSNegativeTTL, ea.JWKSTimeout, ea.CacheSize = span(j.JWKSNegativeTTL), span(j.JWKSTimeout), j.CacheSize
		case a.APIKey != nil:
			ea.Header, ea.Query, ea.Pepper = a.APIKey.Header, a.APIKey.Query, a.APIKey.Pepper
		case a.Basic != nil:
			ea.CacheTTL, ea.CacheSize = a.Basic.CacheTTL.String(), a.Basic.CacheSize
		case a.Introspection != nil:
			i := a.Introspection
			ea.URL, ea.ClientID, ea.ClientSecret = i.URL, i.ClientID, i.ClientSecret
			ea.CacheMaxTTL, ea.Timeout = span(i.CacheMaxTTL), span(i.Timeout)
		case a.MTLS != nil:
			ea.CAFile, ea.PrincipalFrom = a.MTLS.CAFile, string(a.MTLS.PrincipalFrom)
		}
		e.Authenticators[name] = ea
	}
	for _, r := range c.Routes {
		er := effectiveRoute{
			Name: r.Name, Upstream: r.Upstream, Authenticate: r.Authenticators, ForwardAuthorization: r.ForwardAuthorization,
			Match: effectiveMatch{PathPrefix: r.Match.PathPrefix, Host: r.Match.Host, Methods: r.Match.Methods, CaseInsensitive: r.Match.CaseInsensitive, MethodsFallthrough: r.Match.MethodsFallthrough},
		}
		if r.Anonymous {
			er.Authenticate = []string{config.Anonymous}
		}
		if !r.Require.Empty() {
			er.Require = &effectiveRequire{Scopes: r.Require.Scopes, Claims: r.Require.Claims, Expression: r.Require.Expressions}
		}
		e.Routes = append(e.Routes, er)
	}
	if t := c.TokenService; t != nil {
		e.TokenService = &effectiveTokenService{
			Issuer: t.Issuer, SigningKeySecret: t.SigningKeySecret, SigningAlgorithm: t.SigningAlgorithm,
			Audience: t.Audience, AccessTokenTTL: t.AccessTokenTTL.String(),
		}
	}
	if t := c.Tracing; t != nil {
		e.Tracing = &effectiveTracing{Endpoint: t.Endpoint, Protocol: t.Protocol, SamplingRatio: t.SamplingRatio,
			ServiceName: t.ServiceName, Headers: t.Headers}
	}
	return e
}
