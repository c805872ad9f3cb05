// Package jwt is the Bearer JWT authenticator: it verifies signed access tokens against an
// issuer's key set (a JWKS file or URL) or an HMAC secret, checks issuer, audience and
// times, and caches verified principals until their tokens expire. It implements
// decision.Authenticator and never writes HTTP; the JOSE work is done by internal/tokens.
//
// Policy decisions worth knowing:
//   - exp is required: a token without it is refused as credentials_malformed.
//   - iss must equal Config.Issuer exactly; aud must contain one of Config.Audience.
//   - Leeway applies to exp, nbf and iat alike.
//   - The subject is sub, or, for client-credentials tokens without sub, client_id, then
//     azp. A token with none of them is refused as credentials_malformed, and so is one
//     whose sub, client_id, azp or scopes hold text that could turn into another name on
//     the way upstream (control characters, invalid UTF-8; see tokens.NameProblem).
//   - A JWKS outage never produces a 401: without a key set recent enough to decide
//     (fetched within MaxStale), the answer is authenticator_unavailable (503).
//   - Verified tokens stay valid in the cache until exp (plus leeway) even if the JWKS
//     later becomes unreachable; a refresh that withdraws a key id, or changes the key
//     material (or alg) behind one, purges the cache.
//   - A JWKS redirect is followed only within the jwks_url's origin (same scheme, host
//     and port), at most 5 times: never to plain http, never to another host.
package jwt

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/tokenrules"
	"github.com/gatehouse-dev/gatehouse/internal/tokens"
)

// Defaults for the zero values of Config's tuning fields.
const (
	DefaultMaxStale     = 12 * time.Hour
	DefaultMinRefresh   = time.Minute
	DefaultNegativeTTL  = 5 * time.Minute
	DefaultFetchTimeout = 10 * time.Second
	DefaultCacheSize    = 10000
	// MaxLeeway bounds Config.Leeway: a larger clock tolerance is a misconfiguration
	// that keeps expired tokens alive.
	MaxLeeway = tokenrules.MaxLeeway
)

// Config configures an Authenticator. The security settings (Issuer, Audience,
// Algorithms, and exactly one of JWKSFile, JWKSURL and Secret) have no defaults: New
// refuses a Config without them. The tuning fields use the documented default when zero.
type Config struct {
	// Name is the authenticator's configured name, reported in principals and logs.
	Name string
	// Issuer is compared with the iss claim, exactly.
	Issuer string
	// Audience lists the accepted audiences; a token passes when its aud holds any one.
	Audience []string
	// Algorithms is the allow-list ("ES256", "RS256", ...). HS256/384/512 only with
	// Secret, and then nothing else; "none" is never accepted.
	Algorithms []string

	// JWKSFile is a JWK Set document read once by New.
	JWKSFile string
	// JWKSURL is fetched lazily on first use, or by Prefetch/Start, and refreshed per its
	// Cache-Control max-age. It must be https, except on a loopback host.
	JWKSURL string
	// Secret is the HMAC key for HS* tokens (at least 32 bytes; 48 for HS384, 64 for
	// HS512). It is copied.
	Secret []byte

	// Leeway is the clock tolerance applied to exp, nbf and iat; 0 means none. At most
	// MaxLeeway.
	Leeway time.Duration
	// MaxStale is how long past its last successful fetch a key set is still used while
	// the JWKS URL fails (default DefaultMaxStale). After that, tokens that need it get
	// authenticator_unavailable.
	MaxStale time.Duration
	// MinRefresh is the least time between two fetches prompted by unknown key ids, the
	// cap of the failure backoff, and the floor of max-age (default DefaultMinRefresh).
	MinRefresh time.Duration
	// NegativeTTL is how long a key id still unknown after a refetch is answered
	// token_key_unknown without another fetch (default DefaultNegativeTTL).
	NegativeTTL time.Duration
	// FetchTimeout bounds one JWKS fetch (default DefaultFetchTimeout).
	FetchTimeout time.Duration
	// CacheSize bounds the verified-token cache (default DefaultCacheSize); negative
	// disables it.
	CacheSize int

	// Discovery reads the JWKS URL from the issuer's metadata document (OpenID Connect
	// Discovery, then RFC 8414; see discovery.go) instead of JWKSURL, which must then be
	// empty. Issuer must be https, except on a loopback host, and so must the document's
	// jwks_uri.
	Discovery bool
	// AudienceClaim is the claim compared with Audience instead of aud (a string or an
	// array of strings); empty means aud.
	AudienceClaim string
	// Rules say which claims name the subject and the scopes; the zero Rules read sub
	// (then client_id, then azp) and scope (then scp).
	Rules identity.Rules

	// HTTPClient fetches JWKSURL; nil means a client with FetchTimeout and the default
	// transport (which honours the proxy environment variables). Its CheckRedirect is
	// replaced (on a copy) by the same-origin redirect policy.
	HTTPClient *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives fetch failures and skipped keys; nil discards. Tokens, signatures
	// and secrets are never logged.
	Logger *slog.Logger
	// OnFetch, if set, is called after every JWKS fetch with FetchOK, FetchError or
	// FetchNotModified, for metrics.
	OnFetch func(result string)
}

// Authenticator verifies Bearer JWTs. It is safe for concurrent use.
type Authenticator struct {
	name     string
	issuer   string
	audience []string
	algs     tokens.Algorithms
	leeway   time.Duration
	now      func() time.Time
	log      *slog.Logger

	static tokens.Keys // a JWKS file or an HMAC secret; nil with remote
	remote *remoteKeys // a JWKS URL; nil otherwise
	cache  *tokenCache // nil when disabled

	audClaim identity.Path // zero: aud
	rules    identity.Rules
	defaults bool // rules are the defaults: the typed claims give subject and scopes
}

// New validates cfg, reporting every problem at once, and returns the authenticator. With
// JWKSFile the file is read and parsed now; with JWKSURL nothing is fetched until the
// first token or Prefetch/Start.
func New(cfg Config) (*Authenticator, error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if cfg.Name == "" {
		bad("jwt authenticator: name is required")
	}
	prefix := fmt.Sprintf("jwt authenticator %q: ", cfg.Name)
	if cfg.Issuer == "" {
		bad("%sissuer is required", prefix)
	}
	if len(cfg.Audience) == 0 {
		bad("%saudience is required (at least one)", prefix)
	}
	for _, a := range cfg.Audience {
		if a == "" {
			bad("%saudience has an empty entry", prefix)
		}
	}
	algs, err := tokens.NewAlgorithms(cfg.Algorithms...)
	if err != nil {
		bad("%s%w", prefix, err)
	}
	sources := 0
	for _, set := range []bool{cfg.JWKSFile != "", cfg.JWKSURL != "" || cfg.Discovery, cfg.Secret != nil} {
		if set {
			sources++
		}
	}
	if sources != 1 {
		bad("%sexactly one of jwks_file, jwks_url (or discovery) and secret_file is required (%d given)", prefix, sources)
	}
	if cfg.Discovery && cfg.JWKSURL != "" {
		bad("%sdiscovery reads the jwks_uri from the issuer's metadata: remove jwks_url", prefix)
	}
	hmacAlgs := 0
	for _, n := range algs.Names() {
		if tokens.IsHMAC(n) {
			hmacAlgs++
		}
	}
	switch {
	case cfg.Secret != nil && hmacAlgs != len(algs.Names()):
		bad("%swith secret_file, algorithms must be HS256, HS384 or HS512 only", prefix)
	case cfg.Secret == nil && hmacAlgs > 0:
		bad("%sHS256/384/512 are accepted only with secret_file; a key set holds public keys", prefix)
	}
	if !tokenrules.LeewayAllowed(cfg.Leeway) {
		bad("%sleeway must be between 0 and %s", prefix, MaxLeeway)
	}
	for name, d := range map[string]time.Duration{"max_stale": cfg.MaxStale, "min_refresh": cfg.MinRefresh,
		"negative_ttl": cfg.NegativeTTL, "fetch_timeout": cfg.FetchTimeout} {
		if d < 0 {
			bad("%s%s must not be negative", prefix, name)
		}
	}
	if cfg.MinRefresh > 0 && cfg.MinRefresh < time.Second {
		bad("%smin_refresh must be at least 1s", prefix)
	}
	a := &Authenticator{
		name: cfg.Name, issuer: cfg.Issuer, audience: append([]string(nil), cfg.Audience...),
		algs: algs, leeway: cfg.Leeway, now: cfg.Now, log: cfg.Logger,
		rules: cfg.Rules, defaults: cfg.Rules.IsDefault(),
	}
	if cfg.AudienceClaim != "" && cfg.AudienceClaim != "aud" {
		if a.audClaim, err = identity.ParsePath(cfg.AudienceClaim); err != nil {
			bad("%saudience_claim: %w", prefix, err)
		}
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	a.log = a.log.With("authenticator", cfg.Name)
	switch {
	case cfg.Secret != nil:
		if a.static, err = tokens.NewHMACKey(cfg.Secret); err != nil {
			bad("%ssecret: %w", prefix, err)
		}
		for _, n := range algs.Names() {
			if need := tokenrules.MinHMACKeyBytes(n); len(cfg.Secret) < need {
				bad("%s%s needs a secret of at least %d bytes", prefix, n, need)
			}
		}
	case cfg.JWKSFile != "":
		data, err := os.ReadFile(cfg.JWKSFile)
		if err != nil {
			bad("%sjwks_file: %w", prefix, err)
			break
		}
		set, err := tokens.ParseJWKS(data)
		if err != nil {
			bad("%sjwks_file %s: %w", prefix, cfg.JWKSFile, err)
			break
		}
		for _, w := range set.Warnings() {
			a.log.Warn("jwks key skipped", "file", cfg.JWKSFile, "warning", w)
		}
		a.static = set
	case cfg.JWKSURL != "" || cfg.Discovery:
		origin := cfg.JWKSURL
		if cfg.Discovery {
			origin = cfg.Issuer
		}
		u, err := url.Parse(origin)
		if err != nil || !secureURL(u) {
			if cfg.Discovery {
				bad("%swith discovery, the issuer must be an https URL (http only on a loopback host)", prefix)
			} else {
				bad("%sjwks_url must be an https URL (http only on a loopback host)", prefix)
			}
			break
		}
		r := &remoteKeys{
			url: cfg.JWKSURL, redactedURL: u.Redacted(), client: cfg.HTTPClient,
			minRefresh: orDefault(cfg.MinRefresh, DefaultMinRefresh), maxStale: orDefault(cfg.MaxStale, DefaultMaxStale),
			negativeTTL: orDefault(cfg.NegativeTTL, DefaultNegativeTTL), fetchTimeout: orDefault(cfg.FetchTimeout, DefaultFetchTimeout),
			now: a.now, log: a.log, onFetch: cfg.OnFetch,
		}
		if r.client == nil {
			r.client = &http.Client{Timeout: r.fetchTimeout}
		} else {
			c := *r.client
			r.client = &c
		}
		r.client.CheckRedirect = sameOriginRedirects()
		if cfg.Discovery {
			r.discovery = &discovery{issuer: cfg.Issuer}
			r.redactedURL = "(discovered from " + u.Redacted() + ")"
		}
		if r.onFetch == nil {
			r.onFetch = func(string) {}
		}
		r.onKeysRemoved = a.Purge
		a.remote = r
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	size := cfg.CacheSize
	if size == 0 {
		size = DefaultCacheSize
	}
	a.cache = newTokenCache(size)
	return a, nil
}

// noKeys is the empty key set used to classify tokens while no key set is available.
var noKeys = tokens.NewKeySet()

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// sameOriginRedirects follows at most 5 redirects, each within the origin (scheme, host
// and port) of the URL first asked for (the jwks_url, the discovered jwks_uri or the
// metadata document's): a key set is trusted because of where it was fetched, so a
// redirect must not move that trust to plain http or to another host.
func sameOriginRedirects() func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if len(via) >= 5 {
			return errors.New("fetch jwks: too many redirects")
		}
		first := via[0].URL
		if !sameOrigin(req.URL, first) {
			return fmt.Errorf("fetch jwks: refusing a redirect to %s: only redirects within %s://%s are followed",
				req.URL.Redacted(), first.Scheme, first.Host)
		}
		return nil
	}
}

// secureURL reports whether u is an absolute https URL, or http to a loopback host: the
// rule for every URL keys are fetched from.
func secureURL(u *url.URL) bool { return tokenrules.KeyURLAllowed(u) }

func sameOrigin(a, b *url.URL) bool {
	return a.Scheme == b.Scheme && strings.EqualFold(a.Hostname(), b.Hostname()) && portOf(a) == portOf(b)
}

// portOf is u's port, or the scheme's default.
func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if u.Scheme == "https" {
		return "443"
	}
	return "80"
}

// Name returns the configured name.
func (a *Authenticator) Name() string { return a.name }

// Audience returns the accepted audiences, in configuration order (for the RFC 9728
// document's resource).
func (a *Authenticator) Audience() []string { return slices.Clone(a.audience) }

// Scheme returns "Bearer".
func (a *Authenticator) Scheme() string { return "Bearer" }

// Locations returns nil: JWTs are read from Authorization only.
func (a *Authenticator) Locations() []decision.Location { return nil }

// Claims claims Bearer credentials. A JWT is claimed by the issuer it names (read
// without verifying anything): IssuerMatch when its iss is this authenticator's issuer,
// OtherIssuer when it names another or none, ShapeMatch when its claims cannot be read
// (Authenticate then says what is wrong with it). Other Bearer values are SchemeMatch,
// except Gatehouse API keys ("gk_..."), which belong to the api_key authenticator.
func (a *Authenticator) Claims(c decision.Credential) decision.Match {
	if c.Source != decision.FromAuthorization || c.Scheme != "bearer" {
		return decision.NoMatch
	}
	iss, ok := tokens.UnverifiedIssuer(c.Value)
	switch {
	case ok && iss == a.issuer:
		return decision.IssuerMatch
	case ok:
		return decision.OtherIssuer
	case tokens.LooksLikeJWT(c.Value):
		return decision.ShapeMatch
	case strings.HasPrefix(c.Value, "gk_"):
		return decision.NoMatch
	}
	return decision.SchemeMatch
}

// Issuer is the issuer whose tokens the authenticator accepts (decision.IssuerRecognizer).
func (a *Authenticator) Issuer() string { return a.issuer }

// CredentialIssuer returns the iss c names, unverified, bounded and quoted when it is
// not plain printable text; false when c names none (decision.IssuerRecognizer).
func (a *Authenticator) CredentialIssuer(c decision.Credential) (string, bool) {
	iss, ok := tokens.UnverifiedIssuer(c.Value)
	if !ok || iss == "" {
		return "", false
	}
	return printable(iss), true
}

// Ready reports whether a key set is available to verify tokens: always with a JWKS file
// or a secret; with a URL, once a fetch succeeded within MaxStale.
func (a *Authenticator) Ready() bool { return a.remote == nil || a.remote.ready() }

// Prefetch fetches the JWKS now (joining a fetch already in flight). It is a no-op
// without a JWKS URL. The app calls it at startup so the first request does not wait.
func (a *Authenticator) Prefetch(ctx context.Context) error {
	if a.remote == nil {
		return nil
	}
	ch, _ := a.remote.start(policyNeeded)
	if ch == nil {
		return a.remote.unavailable(a.now())
	}
	return wait(ctx, ch)
}

// Start prefetches the JWKS and then keeps it fresh in the background, refreshing before
// each max-age runs out, until ctx is done. It returns Prefetch's error; the background
// refresh runs (and retries) either way. Only the first call starts the loop. It is a
// no-op without a JWKS URL.
func (a *Authenticator) Start(ctx context.Context) error {
	if a.remote == nil {
		return nil
	}
	err := a.Prefetch(ctx)
	if a.remote.started.CompareAndSwap(false, true) {
		go a.remote.run(ctx)
	}
	return err
}

// CacheStats reports the verified-token cache's counters since New.
func (a *Authenticator) CacheStats() (hits, misses, evictions uint64) {
	if a.cache == nil {
		return 0, 0, 0
	}
	return a.cache.hits.Load(), a.cache.misses.Load(), a.cache.evictions.Load()
}

// Purge empties the verified-token cache, so every token is verified again (for
// revocation events and key withdrawal).
func (a *Authenticator) Purge() {
	if a.cache != nil {
		a.cache.purge()
	}
}

// Authenticate verifies the Bearer JWT in c. A refusal is a *decision.Failure whose
// Detail is safe for the client and whose CredentialID is the hex SHA-256 of the token.
// The returned principal may be shared with the cache: callers must not modify its
// Scopes.
func (a *Authenticator) Authenticate(ctx context.Context, c decision.Credential) (decision.Principal, error) {
	tok := c.Value
	// The decision core has hashed the token already (Credential.SHA256).
	sum := c.Sum()
	if len(tok) > tokens.MaxTokenBytes {
		return decision.Principal{}, a.fail(&sum, decision.CredentialsMalformed, "token_too_large",
			fmt.Sprintf("the token is %d bytes; at most %d are accepted", len(tok), tokens.MaxTokenBytes))
	}
	now := a.now()
	var gen uint64
	if a.cache != nil {
		if p, ok := a.cache.get(&sum, now); ok {
			return p, nil
		}
		gen = a.cache.generation()
	}
	t, f := a.verify(ctx, tok, &sum)
	if f != nil {
		return decision.Principal{}, f
	}
	p, notBefore, notAfter, f := a.check(t, &sum, now)
	if f != nil {
		return decision.Principal{}, f
	}
	if a.cache != nil {
		a.cache.put(&sum, p, notBefore, notAfter, now, gen)
	}
	return p, nil
}

// Cached answers c from the verified-token cache alone (decision.Cacher).
func (a *Authenticator) Cached(_ context.Context, c decision.Credential) (decision.Principal, bool) {
	if a.cache == nil || len(c.Value) > tokens.MaxTokenBytes {
		return decision.Principal{}, false
	}
	sum := c.Sum()
	return a.cache.get(&sum, a.now())
}

// verify checks the signature, fetching or refetching the key set as needed.
func (a *Authenticator) verify(ctx context.Context, tok string, sum *[32]byte) (*tokens.Token, *decision.Failure) {
	if a.remote == nil {
		t, err := tokens.Verify(tok, a.algs, a.static)
		if err != nil {
			return nil, a.refusal(err, sum)
		}
		return t, nil
	}
	st, err := a.remote.current(ctx)
	if err != nil {
		// A token that is malformed or uses a refused algorithm is refused whatever the
		// keys: classify it against an empty set, which stops before any key is used.
		if _, verr := tokens.Verify(tok, a.algs, noKeys); !errors.Is(verr, tokens.ErrKeyUnknown) {
			return nil, a.refusal(verr, sum)
		}
		return nil, a.unavailable(err, sum)
	}
	set := st.set
	t, err := tokens.Verify(tok, a.algs, set)
	if err == nil {
		return t, nil
	}
	var ve *tokens.VerifyError
	if !errors.As(err, &ve) || ve.Kind != tokens.ErrKeyUnknown {
		return nil, a.refusal(err, sum)
	}
	newSet, failing, ferr := a.remote.refetchForKid(ctx, ve.KeyID, set)
	switch {
	case ferr != nil || failing:
		// The issuer may have rotated to this key while we cannot reach it: that is an
		// outage, not a bad token.
		if ferr == nil {
			ferr = a.remote.unavailable(a.now())
		}
		return nil, a.unavailable(ferr, sum)
	case newSet == nil:
		return nil, a.refusal(err, sum)
	}
	t, err = tokens.Verify(tok, a.algs, newSet)
	if err == nil {
		return t, nil
	}
	if errors.As(err, &ve) && ve.Kind == tokens.ErrKeyUnknown {
		a.remote.remember(ve.KeyID)
	}
	return nil, a.refusal(err, sum)
}

// check applies issuer, audience and time policy to a verified token.
func (a *Authenticator) check(t *tokens.Token, sum *[32]byte, now time.Time) (p decision.Principal, notBefore, notAfter time.Time, f *decision.Failure) {
	cl := &t.Claims
	switch {
	case cl.Issuer == "":
		return p, notBefore, notAfter, a.fail(sum, decision.TokenIssuerMismatch, "iss_missing",
			"the token has no issuer (iss); this API expects "+a.issuer)
	case cl.Issuer != a.issuer:
		return p, notBefore, notAfter, a.fail(sum, decision.TokenIssuerMismatch, "iss_mismatch",
			"issuer is "+printable(cl.Issuer)+", this API expects "+a.issuer)
	}
	// Every claim, for route requirements and header mappings: decoded once per
	// verification (a cached principal keeps it), from a payload already proved JSON.
	claims, err := cl.Raw()
	if err != nil {
		return p, notBefore, notAfter, a.fail(sum, decision.CredentialsMalformed, "claims_not_json", "the claims segment is not a JSON object")
	}
	aud := cl.Audience
	if !a.audClaim.IsZero() {
		var f *decision.Failure
		if aud, f = a.audienceFrom(claims, sum); f != nil {
			return p, notBefore, notAfter, f
		}
	}
	if !a.audienceOK(aud) {
		return p, notBefore, notAfter, a.fail(sum, decision.TokenAudienceMismatch, "aud_mismatch", a.audienceDetail(aud))
	}
	if cl.Expiry.IsZero() {
		return p, notBefore, notAfter, a.fail(sum, decision.CredentialsMalformed, "exp_missing",
			"the token has no expiry (exp); this API accepts only tokens that expire")
	}
	if !now.Before(cl.Expiry.Add(a.leeway)) {
		return p, notBefore, notAfter, a.fail(sum, decision.TokenExpired, "expired",
			"expired "+decision.FormatDuration(now.Sub(cl.Expiry))+" ago")
	}
	if !cl.NotBefore.IsZero() && now.Add(a.leeway).Before(cl.NotBefore) {
		return p, notBefore, notAfter, a.fail(sum, decision.TokenNotYetValid, "nbf_future",
			fmt.Sprintf("not valid before %s, %s from now; check the clocks of the issuer and of this API",
				cl.NotBefore.UTC().Format(time.RFC3339), decision.FormatDuration(cl.NotBefore.Sub(now))))
	}
	if !cl.IssuedAt.IsZero() && now.Add(a.leeway).Before(cl.IssuedAt) {
		return p, notBefore, notAfter, a.fail(sum, decision.TokenNotYetValid, "iat_future",
			fmt.Sprintf("issued %s in the future by this API's clock; check the clocks of the issuer and of this API",
				decision.FormatDuration(cl.IssuedAt.Sub(now))))
	}
	subject, scopes := cl.Subject, cl.Scopes
	if a.rules.Subject.IsZero() {
		for _, alt := range []string{cl.ClientID, cl.AuthorizedParty} {
			if subject == "" {
				subject = alt
			}
		}
		if subject == "" {
			return p, notBefore, notAfter, a.fail(sum, decision.CredentialsMalformed, "sub_missing",
				"the token names no subject (sub, client_id or azp)")
		}
	} else {
		var problem string
		if subject, problem = a.rules.SubjectFrom(claims); problem != "" {
			return p, notBefore, notAfter, a.fail(sum, decision.CredentialsMalformed, "sub_missing", problem)
		}
		if pr := tokens.NameProblem(subject); pr != "" {
			return p, notBefore, notAfter, a.fail(sum, decision.CredentialsMalformed, "claim_unsafe_text",
				fmt.Sprintf("the %q claim %s; it is refused so that two identities cannot become one", a.rules.Subject, pr))
		}
	}
	if !a.defaults && a.rules.Scopes != nil {
		var claim, problem string
		if scopes, claim, problem = a.rules.ScopesFrom(claims, tokens.ScopeProblem); problem != "" {
			return p, notBefore, notAfter, a.fail(sum, decision.CredentialsMalformed, "claim_type",
				fmt.Sprintf("the %q claim, which holds the scopes here, %s", claim, problem))
		}
	}
	p = decision.Principal{
		Subject:       subject,
		Scopes:        scopes,
		Authenticator: a.name,
		Fingerprint:   fingerprint(t, sum),
		ExpiresAt:     cl.Expiry,
		Claims:        claims,
	}
	notAfter = cl.Expiry.Add(a.leeway)
	if !cl.NotBefore.IsZero() {
		notBefore = cl.NotBefore.Add(-a.leeway)
	}
	return p, notBefore, notAfter, nil
}

// audienceFrom reads the audience from audience_claim: a string or an array of strings.
// Absent, it is an empty audience (refused by audienceOK with the usual detail).
func (a *Authenticator) audienceFrom(claims map[string]any, sum *[32]byte) ([]string, *decision.Failure) {
	v, ok := a.audClaim.Lookup(claims)
	if !ok || v == nil {
		return nil, nil
	}
	switch v := v.(type) {
	case string:
		return []string{v}, nil
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, a.fail(sum, decision.CredentialsMalformed, "claim_type",
					fmt.Sprintf("the %q claim, which holds the audience here, is not a string or an array of strings", a.audClaim))
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, a.fail(sum, decision.CredentialsMalformed, "claim_type",
		fmt.Sprintf("the %q claim, which holds the audience here, is not a string or an array of strings", a.audClaim))
}

func (a *Authenticator) audienceOK(aud []string) bool {
	for _, got := range aud {
		for _, want := range a.audience {
			if got == want {
				return true
			}
		}
	}
	return false
}

func (a *Authenticator) audienceDetail(aud []string) string {
	claim := "aud"
	if !a.audClaim.IsZero() {
		claim = a.audClaim.String()
	}
	expects := a.audience[0]
	if len(a.audience) > 1 {
		expects = "one of " + strings.Join(a.audience, ", ")
	}
	switch len(aud) {
	case 0:
		return "the token has no audience (" + claim + "); this API expects " + expects
	case 1:
		return "audience is " + printable(aud[0]) + ", this API expects " + expects
	}
	shown := make([]string, 0, 4)
	for i, s := range aud {
		if i == 3 {
			shown = append(shown, fmt.Sprintf("and %d more", len(aud)-3))
			break
		}
		shown = append(shown, printable(s))
	}
	return "audience is [" + strings.Join(shown, ", ") + "], this API expects " + expects
}

// fingerprint names a verified token in logs: "kid=<kid> jti=<jti>" with whichever is
// present, else the first 8 hex digits of its SHA-256.
func fingerprint(t *tokens.Token, sum *[32]byte) string {
	kid, jti := logSafe(t.KeyID), logSafe(t.Claims.ID)
	switch {
	case kid != "" && jti != "":
		return "kid=" + kid + " jti=" + jti
	case kid != "":
		return "kid=" + kid
	case jti != "":
		return "jti=" + jti
	}
	return hex.EncodeToString(sum[:4])
}

// logSafe keeps a value for a log fingerprint only when it is short, printable ASCII
// without spaces or quotes.
func logSafe(s string) string {
	if len(s) > 64 {
		return ""
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '\\' || c == '=' {
			return ""
		}
	}
	return s
}

// printable bounds a claim value quoted in a client message: short printable ASCII is
// shown as is, anything else quoted with escapes and truncated.
func printable(s string) string {
	plain := len(s) <= 128
	for i := 0; plain && i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
			plain = false
		}
	}
	if plain {
		return s
	}
	q := strconv.QuoteToASCII(s)
	if len(q) > 130 {
		q = q[:126] + `..."`
	}
	return q
}

func (a *Authenticator) fail(sum *[32]byte, reason decision.Reason, cause, detail string) *decision.Failure {
	return &decision.Failure{
		Reason:       reason,
		Detail:       detail,
		Cause:        cause,
		Fingerprint:  hex.EncodeToString(sum[:4]),
		CredentialID: hex.EncodeToString(sum[:]),
	}
}

// refusal maps a tokens error to the failure the client sees.
func (a *Authenticator) refusal(err error, sum *[32]byte) *decision.Failure {
	var ve *tokens.VerifyError
	if !errors.As(err, &ve) {
		return a.fail(sum, decision.CredentialsMalformed, "unclassified", "the token could not be read")
	}
	reason := decision.CredentialsMalformed
	switch ve.Kind {
	case tokens.ErrAlgorithmRejected:
		reason = decision.TokenAlgorithmRejected
	case tokens.ErrKeyUnknown:
		reason = decision.TokenKeyUnknown
	case tokens.ErrSignatureInvalid:
		reason = decision.TokenSignatureInvalid
	}
	return a.fail(sum, reason, ve.Cause, ve.Detail)
}

func (a *Authenticator) unavailable(err error, sum *[32]byte) *decision.Failure {
	f := a.fail(sum, decision.AuthenticatorUnavailable, "jwks_unavailable",
		"the issuer's signing keys cannot be fetched right now; try again shortly")
	f.RetryAfter = time.Second
	var u *errUnavailable
	if errors.As(err, &u) {
		f.RetryAfter = u.retryAfter
	}
	a.log.Debug("jwt verification unavailable", "error", err, "credential", f.Fingerprint)
	return f
}
