package config

import (
	"log/slog"
	"net/netip"
	"slices"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/tokenrules"
)

// Defaults applied by Load and Parse when a key is absent. Security settings (realm, an
// authenticator's issuer, audience and algorithms, a route's authenticate) have no default:
// leaving them out is a problem, never a permissive zero value.
const (
	DefaultListen          = "127.0.0.1:8080"
	DefaultAdminListen     = "127.0.0.1:9090"
	DefaultEnvironment     = "live"
	DefaultStoreFile       = "gatehouse.db"
	DefaultForwardAuthPath = "/_gatehouse/decide"
	DefaultMaxHeaderBytes  = 64 << 10
	DefaultCORSMaxAge      = 10 * time.Minute
	DefaultUpstreamTimeout = 30 * time.Second
	DefaultShutdownTimeout = 15 * time.Second
	// DefaultStoreOutageGrace is how long cached store answers keep being served while
	// the credential store is unreachable.
	DefaultStoreOutageGrace = 30 * time.Second
	DefaultWriteTimeout     = 60 * time.Second
	DefaultLogLevel         = slog.LevelInfo
	DefaultLogFormat        = LogJSON
	DefaultErrorDetail      = DetailVerbose
	// DefaultPerClientFailures and DefaultPerCredentialFailures are the failure_budget
	// defaults, counted per DefaultFailureWindow ("30/min" and "10/min").
	DefaultPerClientFailures     = 30
	DefaultPerCredentialFailures = 10
	// DefaultPerCredentialGlobalFailures is failure_budget.per_credential_global
	// ("100/min").
	DefaultPerCredentialGlobalFailures = 100
	DefaultFailureWindow               = time.Minute

	DefaultLeeway          = 30 * time.Second
	DefaultJWKSMaxStale    = 24 * time.Hour
	DefaultJWKSMinRefresh  = time.Minute
	DefaultJWKSNegativeTTL = 30 * time.Second
	DefaultJWKSTimeout     = 5 * time.Second
	DefaultJWTCacheSize    = 100000

	DefaultAPIKeyHeader = "X-API-Key"

	DefaultBasicCacheTTL  = 5 * time.Minute
	DefaultBasicCacheSize = 10000

	DefaultIntrospectionCacheMaxTTL = 5 * time.Minute
	DefaultIntrospectionTimeout     = 5 * time.Second

	// DefaultPrincipalFrom is a SAN, not the CN: CA name constraints govern SANs and
	// never the CN. (Before, the default was cn; see MTLS.PrincipalFromDefaulted.)
	DefaultPrincipalFrom = PrincipalSANDNS

	// DefaultSigningAlgorithm signs the token service's access tokens unless
	// token_service.signing_algorithm names another.
	DefaultSigningAlgorithm = "ES256"
	// DefaultAccessTokenTTL is token_service.access_token_ttl when absent: the lifetime
	// of a new client's tokens unless `clients create --ttl` says otherwise.
	DefaultAccessTokenTTL = 10 * time.Minute
)

// Limits enforced by validation.
const (
	// MaxLeeway is the largest clock-skew allowance a jwt authenticator may set (the
	// verifiers' own, from package tokenrules).
	MaxLeeway = tokenrules.MaxLeeway
	// MinHMACSecretBytes is the shortest secret an HS256/384/512 authenticator accepts.
	MinHMACSecretBytes = tokenrules.MinHMACSecretBytes
	// MinMaxHeaderBytes and MaxMaxHeaderBytes bound max_header_bytes.
	MinMaxHeaderBytes = 4 << 10
	MaxMaxHeaderBytes = 1 << 20
	// MaxCORSMaxAge bounds cors.max_age; browsers cap preflight caching lower anyway.
	MaxCORSMaxAge = 24 * time.Hour
	// MaxFileBytes is the largest secret, CA or JWKS file read while loading.
	MaxFileBytes = 1 << 20
	// MaxConfigBytes is the largest configuration (and .env) file accepted.
	MaxConfigBytes = 4 << 20
	// MaxPathPrefixBytes bounds a route's path_prefix.
	MaxPathPrefixBytes = 1024
	// MaxRouteMethods bounds the methods a route lists.
	MaxRouteMethods = 32
	// MinSigningKeySecretBytes is the shortest token_service.signing_key_secret.
	MinSigningKeySecretBytes = 32
	// MaxAccessTokenTTL bounds token_service.access_token_ttl and every client's.
	MaxAccessTokenTTL = 24 * time.Hour
)

// Reserved names.
const (
	// Anonymous is what a route's authenticate says to let every request through without
	// credentials; no authenticator may take this name.
	Anonymous = "anonymous"
	// IssuerSelf, as a jwt authenticator's issuer, means tokens issued by Gatehouse's own
	// token service, verified with its own keys; such an authenticator takes no key source.
	IssuerSelf = "self"
)

// Config is a loaded, validated configuration. Fields hold their effective values:
// defaults are applied and relative paths are resolved against Dir.
type Config struct {
	// File is the path the configuration was loaded from, as given to Load; empty after
	// Parse.
	File string
	// Warnings are what validation found questionable but not wrong, ordered by line
	// ("gatehouse config check" prints them). Load, Parse and Validate set them.
	Warnings []Problem
	// Dir is the folder relative paths were resolved against (absolute after Load).
	Dir string

	// Listen is the public listener's host:port (listen). An empty host means every
	// interface.
	Listen string
	// AdminListen is the host:port of the listener for health, metrics and the admin API
	// (admin_listen). It always names a host: the admin API is never on every interface.
	AdminListen string
	// Realm is the realm of every challenge (realm). Required.
	Realm string
	// Environment is the credential environment this deployment accepts (environment):
	// API keys of other environments are refused as credentials_wrong_environment.
	Environment string
	// Store is the credential store (store).
	Store Store
	// TLS, when set, serves the public listener over TLS (tls).
	TLS TLS
	// Errors controls denial bodies (errors).
	Errors Errors
	// CORS is the cross-origin policy (cors).
	CORS CORS
	// TrustedProxies may set X-Forwarded-* and X-Original-* headers (trusted_proxies). A
	// bare IP is a single-address prefix. Empty means no proxy is trusted.
	TrustedProxies []netip.Prefix
	// ForwardAuth configures the forward-auth decision endpoint (forward_auth).
	ForwardAuth ForwardAuth
	// ExtAuthz configures the Envoy ext_authz gRPC listener (ext_authz).
	ExtAuthz ExtAuthz
	// MaxHeaderBytes caps the size of request headers; larger requests get 431
	// (max_header_bytes).
	MaxHeaderBytes int
	// Resource is the RFC 9728 resource identifier of the protected API (resource). Empty
	// means derived at runtime from each request's scheme and host.
	Resource string
	// AuthorizationServers lists issuer URLs for the RFC 9728 metadata document
	// (authorization_servers).
	AuthorizationServers []string
	// UpstreamTimeout bounds the wait for an upstream's response headers
	// (upstream_timeout).
	UpstreamTimeout time.Duration
	// ShutdownTimeout bounds the graceful drain on shutdown (shutdown_timeout).
	ShutdownTimeout time.Duration
	// WriteTimeout is the longest a response may go without a successful write to the
	// client (write_timeout): a client that stops reading is cut off, while a streaming
	// response that keeps writing is not.
	WriteTimeout time.Duration
	// StoreOutageGrace is how long answers the authenticators cached from the credential
	// store keep being served once the store stops answering (store_outage_grace); then,
	// and for anything not cached, requests get 503. Zero serves nothing cached during an
	// outage.
	StoreOutageGrace time.Duration
	// Log configures the structured logger (log).
	Log Log
	// FailureBudget bounds failed authentications before 429 (failure_budget).
	FailureBudget FailureBudget
	// Authenticators maps each configured authenticator's name to its settings
	// (authenticators).
	Authenticators map[string]*Authenticator
	// Routes are tried in order; the first match wins (routes). At least one.
	Routes []Route
	// TokenService is Gatehouse's own OAuth 2.0 token service (token_service); nil when
	// the block is absent.
	TokenService *TokenService
	// Tracing is OpenTelemetry tracing (tracing); nil when the block is absent, and
	// tracing may still be on through the OTEL_* environment variables.
	Tracing *Tracing

	// digests holds the SHA-256 of each file named by a path setting (ca_file, jwks_file)
	// as read during validation, keyed by path, so Fingerprint notices a changed file.
	digests map[string][32]byte
}

// AuthenticatorNames returns the names of the configured authenticators, sorted.
func (c *Config) AuthenticatorNames() []string {
	names := make([]string, 0, len(c.Authenticators))
	for n := range c.Authenticators {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// TLS is the tls block: the public listener's certificate. The files are read again
// when they change, so a renewed certificate is served without a restart.
type TLS struct {
	// CertFile is a PEM certificate chain, leaf first; KeyFile its private key. Both or
	// neither; resolved against the config's folder.
	CertFile string
	KeyFile  string
}

// Enabled reports whether the public listener serves TLS.
func (t TLS) Enabled() bool { return t.CertFile != "" }

// ErrorDetail says how much a denial body explains.
type ErrorDetail string

// The values of errors.detail.
const (
	// DetailVerbose puts the actionable explanation in detail and error_description.
	DetailVerbose ErrorDetail = "verbose"
	// DetailTerse keeps only the reason code and a generic title.
	DetailTerse ErrorDetail = "terse"
)

// Errors is the errors block.
type Errors struct {
	// Detail is verbose (default) or terse.
	Detail ErrorDetail
}

// CORS is the cors block. With no allowed origins, no CORS headers are sent.
type CORS struct {
	// AllowedOrigins are serialized origins ("scheme://host[:port]", lower case, default
	// port omitted, as browsers send them), or the single entry "*".
	AllowedOrigins []string
	// AllowedHeaders are request headers allowed in addition to Authorization and the
	// API-key headers.
	AllowedHeaders []string
	// MaxAge is how long a browser may cache a preflight answer.
	MaxAge time.Duration
}

// ForwardAuth is the forward_auth block.
type ForwardAuth struct {
	// Path is where the decision endpoint is served; it starts with "/".
	Path string
}

// ExtAuthz is the ext_authz block: Envoy's external authorization gRPC service
// (envoy.service.auth.v3.Authorization), on a listener of its own. It serves with the
// tls block's certificate when that is set, and answers only peers in trusted_proxies,
// as the forward-auth endpoint does.
type ExtAuthz struct {
	// Listen is the listener's host:port; empty means no ext_authz listener.
	Listen string
}

// Enabled reports whether the ext_authz listener is configured.
func (e ExtAuthz) Enabled() bool { return e.Listen != "" }

// LogFormat is the encoding of log lines.
type LogFormat string

// The values of log.format.
const (
	LogJSON LogFormat = "json"
	LogText LogFormat = "text"
)

// Log is the log block.
type Log struct {
	// Level is the minimum level logged (debug, info, warn, error).
	Level slog.Level
	// Format is json (default) or text.
	Format LogFormat
}

// FailureBudget is the failure_budget block: how many failed authentications of requests
// that carried credentials are allowed before 429 too_many_failures.
type FailureBudget struct {
	// PerClient counts per client address (the socket peer, or the address a trusted
	// proxy names).
	PerClient Rate
	// PerCredential counts per credential id (an API key id, a user name, a token hash)
	// from one client address: a guesser spends its own budget, not its victim's.
	PerCredential Rate
	// PerCredentialGlobal counts per credential id from all addresses together; it
	// refuses only clients without a recent success on that credential.
	PerCredentialGlobal Rate
	// Redis, when set, shares the budgets between replicas.
	Redis RedisURL
	// RedisTimeout bounds each call to Redis, dial included (redis_timeout); zero means
	// the budget's default (20ms). Past it the replica counts locally for a while.
	RedisTimeout time.Duration
}

// AuthenticatorType is the kind of an authenticator.
type AuthenticatorType string

// The values of an authenticator's type.
const (
	TypeJWT           AuthenticatorType = "jwt"
	TypeAPIKey        AuthenticatorType = "api_key"
	TypeBasic         AuthenticatorType = "basic"
	TypeIntrospection AuthenticatorType = "introspection"
	TypeMTLS          AuthenticatorType = "mtls"
)

// AuthenticatorTypes lists every authenticator type, in documentation order.
func AuthenticatorTypes() []AuthenticatorType {
	return []AuthenticatorType{TypeJWT, TypeAPIKey, TypeBasic, TypeIntrospection, TypeMTLS}
}

// Authenticator is one entry of the authenticators map. Exactly the settings pointer that
// matches Type is non-nil.
type Authenticator struct {
	// Name is the key in the authenticators map.
	Name string
	// Type selects the verifier.
	Type AuthenticatorType
	// Line is where the authenticator is defined in the file (0 when built in code).
	Line int

	JWT           *JWT
	APIKey        *APIKey
	Basic         *Basic
	Introspection *Introspection
	MTLS          *MTLS

	// Headers maps claims to upstream headers (headers: {X-User-Email: email}), in file
	// order; jwt, introspection, api_key and basic only. The names also join the headers
	// the gateway removes from every incoming request.
	Headers []HeaderMapping
}

// HeaderMapping is one entry of an authenticator's headers block.
type HeaderMapping struct {
	// Header is the upstream header name as written.
	Header string
	// Claim is the claim path whose value the header carries (see internal/identity).
	Claim string
}

// HeaderPairs returns Headers as the header, claim pairs identity.NewMapping takes.
func (a *Authenticator) HeaderPairs() [][2]string {
	if len(a.Headers) == 0 {
		return nil
	}
	out := make([][2]string, len(a.Headers))
	for i, h := range a.Headers {
		out[i] = [2]string{h.Header, h.Claim}
	}
	return out
}

// ClaimRules are where a token authenticator reads the subject and the scopes.
type ClaimRules struct {
	// SubjectClaim is the claim path of the subject; empty means the default (sub, then
	// the authenticator's fallbacks).
	SubjectClaim string
	// ScopeClaims are the claim paths scopes are read from, the first present one
	// winning; nil means [scope, scp].
	ScopeClaims []string
}

// JWT holds the settings of a jwt authenticator: signed JSON Web Tokens as Bearer tokens.
type JWT struct {
	// Issuer is the exact iss the tokens must carry, or IssuerSelf. Required.
	Issuer string
	// Audience lists accepted aud values; a token must carry at least one. Required.
	Audience []string
	// Algorithms is the allow-list of JWS algorithms. Required; never "none". HS256/384/512
	// only with Secret, and then only HMAC algorithms. With IssuerSelf it defaults to
	// the token service's signing algorithm.
	Algorithms []string
	// Exactly one key source, unless Issuer is IssuerSelf: JWKSURL (an http(s) JWK Set
	// URL), JWKSFile (a JWK Set on disk, resolved against the config's folder), or Secret
	// (an HMAC key of at least MinHMACSecretBytes, from secret or secret_file).
	JWKSURL  string
	JWKSFile string
	Secret   Secret
	// Leeway is the clock skew allowed on exp, nbf and iat (at most MaxLeeway).
	Leeway time.Duration
	// JWKSMaxStale is how long a fetched JWK Set keeps being used while the URL fails.
	JWKSMaxStale time.Duration
	// JWKSMinRefresh is the minimum interval between refetches triggered by an unknown kid.
	JWKSMinRefresh time.Duration
	// JWKSNegativeTTL is how long a kid still unknown after a refetch is remembered as
	// unknown.
	JWKSNegativeTTL time.Duration
	// JWKSTimeout bounds one JWKS fetch.
	JWKSTimeout time.Duration
	// CacheSize is the number of verified tokens cached; 0 disables the cache.
	CacheSize int
	// Discovery reads the JWKS URL (jwks_uri) from the issuer's metadata document
	// (OpenID Connect Discovery, then RFC 8414) instead of jwks_url.
	Discovery bool
	// AudienceClaim is the claim compared with Audience instead of aud (client_id for
	// Cognito access tokens); empty means aud.
	AudienceClaim string
	ClaimRules
}

// UsesHMAC reports whether the authenticator verifies with a shared secret.
func (j *JWT) UsesHMAC() bool { return !j.Secret.IsZero() }

// APIKey holds the settings of an api_key authenticator: Gatehouse API keys from the store.
// Keys are also accepted as "Authorization: Bearer gk_...".
type APIKey struct {
	// Header is the request header keys are read from.
	Header string
	// Query, when set, is a query parameter keys are also read from; empty means never
	// from the query.
	Query string
	// Pepper is an optional secret mixed into key hashes.
	Pepper Secret
}

// Basic holds the settings of a basic authenticator: users from the store.
type Basic struct {
	// CacheTTL is how long a verified user/password pair is cached (by HMAC, never in
	// clear).
	CacheTTL time.Duration
	// CacheSize is the number of cached results; 0 disables the cache.
	CacheSize int
}

// Introspection holds the settings of an introspection authenticator: opaque OAuth tokens
// checked at an RFC 7662 endpoint.
type Introspection struct {
	// URL is the introspection endpoint (http or https). Required.
	URL string
	// ClientID and ClientSecret authenticate Gatehouse to the endpoint. Required.
	ClientID     string
	ClientSecret Secret
	// CacheMaxTTL bounds how long an answer is cached (never past the token's exp).
	CacheMaxTTL time.Duration
	// Timeout bounds one introspection request.
	Timeout time.Duration
	ClaimRules
}

// PrincipalSource says which certificate field names an mTLS principal.
type PrincipalSource string

// The values of principal_from.
const (
	PrincipalCN       PrincipalSource = "cn"
	PrincipalSANURI   PrincipalSource = "san_uri"
	PrincipalSANDNS   PrincipalSource = "san_dns"
	PrincipalSANEmail PrincipalSource = "san_email"
)

// MTLS holds the settings of an mtls authenticator: TLS client certificates.
type MTLS struct {
	// CAFile is a PEM bundle of the CAs client certificates must chain to, resolved
	// against the config's folder. Required.
	CAFile string
	// PrincipalFrom names the certificate field that becomes the subject.
	PrincipalFrom PrincipalSource
	// principalFromDefaulted is true when the file did not set principal_from. It is
	// not a setting (it changes nothing at run time), so it is unexported and outside
	// the fingerprint.
	principalFromDefaulted bool
}

// PrincipalFromDefaulted reports whether the file left principal_from out, so
// PrincipalFrom is DefaultPrincipalFrom. The default changed from cn to san_dns;
// `config check` says so for such authenticators (see Notices).
func (m *MTLS) PrincipalFromDefaulted() bool { return m.principalFromDefaulted }

// Route is one entry of routes.
type Route struct {
	// Name identifies the route in logs and metrics; "route-<index>" (0-based) when not
	// given.
	Name string
	// Line is where the route is defined in the file (0 when built in code).
	Line int
	// Match says which requests the route applies to.
	Match Match
	// Upstream is the http(s) URL requests are proxied to; empty for a decision-only
	// (forward-auth) route.
	Upstream string
	// Anonymous is true for "authenticate: anonymous": no credentials are checked.
	Anonymous bool
	// Authenticators names, in order, the authenticators that may verify a request.
	// Exactly one of Anonymous and a non-empty Authenticators holds.
	Authenticators []string
	// Require lists what a verified principal must hold.
	Require Require
	// ForwardAuthorization is false to strip Authorization before the upstream.
	ForwardAuthorization bool
}

// Match is a route's match block.
type Match struct {
	// PathPrefix matches whole path segments: /admin matches /admin and /admin/x, never
	// /administrator. Required.
	PathPrefix string
	// Methods are upper-case method names; empty means every method. HEAD is taken
	// wherever GET is. A request under PathPrefix with a method not listed gets 405
	// method_not_allowed rather than a later, broader route, unless MethodsFallthrough.
	Methods []string
	// CaseInsensitive matches PathPrefix without regard to case (case_insensitive), for
	// upstreams that read /ADMIN as /admin.
	CaseInsensitive bool
	// MethodsFallthrough (methods_fallthrough) lets a request under PathPrefix whose
	// method is not in Methods go on to later routes, to be decided by their policy.
	MethodsFallthrough bool
	// Host (host), when set, limits the route to requests for one host: an exact name,
	// or "*.example.com" for exactly one label in front of example.com. It is held in
	// the form requests are compared in: lower case, without a trailing dot, an
	// internationalized name in its ASCII (xn--) form. Empty means every host.
	Host string
}

// Require is a route's require block. Every requirement present must hold.
type Require struct {
	// Scopes must all be held by the principal, else 403 insufficient_scope.
	Scopes []string
	// Claims (claims: {PATH: [values...]}) must each equal, or as an array contain, one
	// of their values, else 403 forbidden. In file order.
	Claims []ClaimRequirement
	// Expressions (expression: a CEL expression, or a list of them) must each be true,
	// else 403 forbidden. They are compiled and type-checked while loading.
	Expressions []string
}

// ClaimRequirement is one entry of require.claims.
type ClaimRequirement struct {
	// Path names the claim (see policy.ClaimPath): a top-level claim by its exact name,
	// else a nested claim by dot-separated names.
	Path string
	// Values are the accepted values; a string given alone is a list of one.
	Values []string
}

// Empty reports whether the block requires nothing.
func (r Require) Empty() bool {
	return len(r.Scopes) == 0 && len(r.Claims) == 0 && len(r.Expressions) == 0
}

// TokenService is the token_service block: Gatehouse's own OAuth 2.0 authorization
// server for machine clients (client credentials, introspection, revocation, JWKS and
// metadata on the public listener), whose tokens `issuer: self` authenticators accept.
type TokenService struct {
	// Issuer is the iss of issued tokens and the base URL of the endpoints
	// (issuer.../oauth2/token); https, or http on a loopback host; no query or fragment.
	// Required.
	Issuer string
	// SigningKeySecret encrypts the private signing keys at rest in the store, from
	// signing_key_secret or signing_key_secret_file; at least MinSigningKeySecretBytes.
	// Required. Changing it makes the stored keys unreadable.
	SigningKeySecret Secret
	// SigningAlgorithm signs access tokens: ES256 (default), EdDSA or RS256.
	SigningAlgorithm string
	// Audience is the aud of the tokens of clients created without --audience; empty
	// means every client must name one.
	Audience string
	// AccessTokenTTL is the lifetime of the tokens of clients created without --ttl
	// (default DefaultAccessTokenTTL, at most MaxAccessTokenTTL).
	AccessTokenTTL time.Duration
}

// IssuingAlgorithms returns the algorithms token_service.signing_algorithm may name.
func IssuingAlgorithms() []string { return []string{"ES256", "EdDSA", "RS256"} }

// SupportedAlgorithms returns the JWS algorithms a jwt authenticator may list: those the
// verifiers accept (package tokenrules).
func SupportedAlgorithms() []string { return tokenrules.Algorithms() }

// isHMAC reports whether alg is an HMAC algorithm.
func isHMAC(alg string) bool { return tokenrules.IsHMAC(alg) }
