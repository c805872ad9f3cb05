package decision

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// Source says where a credential was found in the request.
type Source uint8

const (
	// FromAuthorization is the Authorization header.
	FromAuthorization Source = iota + 1
	// FromHeader is another header, named by Credential.Name (an API-key header).
	FromHeader
	// FromQuery is a query parameter, named by Credential.Name.
	FromQuery
	// FromTLS is a client certificate presented during the TLS handshake.
	FromTLS
)

// MaxCredentialBytes is the largest credential Gatehouse will parse. Larger ones are
// refused as credentials_malformed before any decoding (docs/design.md, section 2).
const MaxCredentialBytes = 16 << 10

// Credential is one credential as presented by a client. Value is the secret itself: it
// must never be logged, put in an error or used as a map key; use Fingerprint.
type Credential struct {
	Source Source
	// Scheme is the Authorization scheme lower-cased ("bearer", "basic"); empty for
	// other sources.
	Scheme string
	// Name is the header or query parameter name for FromHeader and FromQuery.
	Name string
	// Value is the token68 (or parameters) after the scheme, or the header/query value.
	// For FromTLS it is the hex SHA-256 of the leaf certificate, empty when the client
	// presented none.
	Value string
	// Certificates are the client's certificates, leaf first, for FromTLS.
	Certificates []*x509.Certificate
	// sum is the SHA-256 of Value, set by Route.Decide before the budget or any
	// authenticator sees the credential, so that the budget key, the fingerprint and
	// the caches keyed by it (the verified-token cache) hash each credential once.
	// Unexported, so that nothing outside this package can pair a Value with another
	// value's digest; zero in a Credential built elsewhere.
	sum [sha256.Size]byte
}

// Sum returns the SHA-256 of c.Value, computed once per request by Route.Decide.
func (c *Credential) Sum() [sha256.Size]byte {
	if c.sum == ([sha256.Size]byte{}) {
		return sum256(c.Value)
	}
	return c.sum
}

// Fingerprint is the first 8 hex digits of the SHA-256 of the credential value: enough to
// correlate log lines, useless to an attacker.
func (c Credential) Fingerprint() string { return fingerprint(c.Sum()) }

// Fingerprint returns the first 8 hex digits of the SHA-256 of s.
func Fingerprint(s string) string { return fingerprint(sum256(s)) }

func fingerprint(sum [sha256.Size]byte) string {
	var buf [8]byte
	hex.Encode(buf[:], sum[:4])
	return string(buf[:])
}

// sum256 is the SHA-256 of s without a copy of s: a []byte conversion allocates for
// anything longer than 32 bytes, and credentials are hashed on every request.
// sha256.Sum256 neither keeps nor modifies its argument.
func sum256(s string) [sha256.Size]byte {
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(s), len(s)))
}

// Match is how well an authenticator recognises a credential, judged without verifying
// anything. Decide hands a credential to the authenticators that recognise it best, and
// only to them (docs/reasons.md, "Which authenticator explains a refusal").
type Match uint8

const (
	// NoMatch: the authenticator cannot read this credential.
	NoMatch Match = iota
	// OtherIssuer: the credential has this authenticator's shape but names another
	// issuer, or none (a JWT whose iss is not the authenticator's). The authenticator
	// would refuse it whatever its signature; it must implement IssuerRecognizer.
	OtherIssuer
	// SchemeMatch: the scheme or location is one the authenticator reads.
	SchemeMatch
	// ShapeMatch: the scheme matches and the value has this authenticator's own shape
	// (a gk_ prefix for api_key, an opaque token for introspection, a JWT whose issuer
	// cannot be read for jwt).
	ShapeMatch
	// IssuerMatch: the credential names this authenticator's issuer (a JWT whose iss is
	// the authenticator's): it is meant for this authenticator.
	IssuerMatch
)

// IssuerRecognizer is implemented by authenticators that recognise credentials by the
// issuer they name (jwt): they claim one that names their issuer at IssuerMatch and one
// that names another at OtherIssuer. When no authenticator of a route claims a credential
// better than OtherIssuer, Decide refuses it as token_issuer_mismatch without verifying
// it, naming the issuers the route accepts.
type IssuerRecognizer interface {
	// Issuer is the issuer the authenticator accepts. It is configuration, not a
	// secret, and is shown to clients.
	Issuer() string
	// CredentialIssuer returns the issuer c names, unverified and made safe to show
	// (quoted when it is not short printable text), and false when c names none.
	CredentialIssuer(c Credential) (string, bool)
}

// Location is a place other than Authorization where an authenticator reads credentials.
type Location struct {
	Source Source // FromHeader or FromQuery
	Name   string
}

// Principal is who a verified credential belongs to.
type Principal struct {
	Subject string
	Scopes  []string
	// Authenticator is the configured name of the authenticator that verified it.
	Authenticator string
	// Fingerprint identifies the credential in logs: a key id, a kid/jti, or a hash prefix.
	Fingerprint string
	// ExpiresAt is when the credential stops being valid; zero when it does not expire.
	ExpiresAt time.Time
	// Claims are what the authenticator knows of the principal besides Subject and
	// Scopes: a token's verified claims (JSON types: string, float64/json.Number, bool,
	// []any, map[string]any), an API key's or a user's attributes (strings). Route
	// requirements and header mappings read it; it is shared and must not be modified.
	// Nil when the authenticator has none.
	Claims map[string]any
}

// HasScopes reports whether p holds every scope in want, and returns those it lacks.
func (p *Principal) HasScopes(want []string) (missing []string) {
	for _, w := range want {
		found := false
		for _, s := range p.Scopes {
			if s == w {
				found = true
				break
			}
		}
		if !found {
			missing = append(missing, w)
		}
	}
	return missing
}

// Failure is a typed refusal from an authenticator. Detail is safe to show to the client;
// Cause is a finer, log-only classification ("user_unknown", "password_mismatch").
type Failure struct {
	Reason      Reason
	Detail      string
	Cause       string
	Fingerprint string
	// CredentialID identifies the credential for the per-credential failure budget
	// (an API key id, a user name, a token hash); never a raw secret.
	CredentialID string
	RetryAfter   time.Duration
}

func (f *Failure) Error() string {
	if f.Detail == "" {
		return string(f.Reason)
	}
	return string(f.Reason) + ": " + f.Detail
}

// Fail returns a Failure for reason with a client-safe detail.
func Fail(reason Reason, detail string, args ...any) *Failure {
	if len(args) > 0 {
		detail = fmt.Sprintf(detail, args...)
	}
	return &Failure{Reason: reason, Detail: detail}
}

// Authenticator verifies one kind of credential. Implementations live in
// internal/verify/<scheme>; they return values and never write HTTP.
type Authenticator interface {
	// Name is the authenticator's configured name.
	Name() string
	// Scheme is the HTTP authentication scheme for challenges ("Bearer", "Basic"), or ""
	// when the authenticator has no challenge (mTLS).
	Scheme() string
	// Locations lists the headers and query parameters, besides Authorization, that the
	// authenticator reads.
	Locations() []Location
	// Claims says how well the authenticator claims the credential.
	Claims(c Credential) Match
	// Authenticate verifies c. A refusal is a *Failure; any other error is treated as the
	// authenticator being unavailable (503), never as a bad credential.
	Authenticate(ctx context.Context, c Credential) (Principal, error)
}

// Header is the read side of a header map; net/http.Header satisfies it.
type Header interface {
	Values(key string) []string
}

// Request is the part of an HTTP request a decision needs.
type Request struct {
	Method string
	Path   string
	// Host is the host the request is for, as NormalizeHost returns it (the Host header,
	// or X-Forwarded-Host from a trusted proxy); "" when unknown.
	Host   string
	Header Header
	// Query returns the values of a query parameter; nil when the request has no query.
	Query func(name string) []string
	// Client is the address failures are counted against: the socket peer, or the
	// address a trusted proxy names.
	Client netip.Addr
	// TLS reports whether the request came over TLS; PeerCertificates are the
	// certificates the client presented in the handshake, leaf first.
	TLS              bool
	PeerCertificates []*x509.Certificate
}

// tlsCredential is the credential of the TLS layer: the client's certificates, named by
// the SHA-256 of the leaf (empty when none was presented).
func tlsCredential(certs []*x509.Certificate) Credential {
	c := Credential{Source: FromTLS, Certificates: certs}
	if len(certs) > 0 && certs[0] != nil {
		sum := sha256.Sum256(certs[0].Raw)
		c.Value = hex.EncodeToString(sum[:])
	}
	return c
}

// Route is a compiled routing rule: what a request must look like to match, and what it
// must present to pass.
type Route struct {
	Name       string
	PathPrefix string
	Methods    []string // empty: any method; HEAD is taken wherever GET is
	// CaseInsensitive matches PathPrefix without regard to case, for upstreams that read
	// /ADMIN as /admin.
	CaseInsensitive bool
	// MethodsFallthrough lets a request under PathPrefix whose method Methods does not
	// list go on to later, broader routes; without it, it gets 405 (see Select).
	MethodsFallthrough bool
	Anonymous          bool
	Authenticators     []Authenticator
	RequiredScopes     []string
	// Host, when set, limits the route to requests for that host: an exact name in
	// lower-case ASCII (IDNA names in their xn-- form), or "*.example.com" for exactly one
	// label in front of example.com. See HostMatches.
	Host string
	// Requirements must all hold, after RequiredScopes, else 403 forbidden naming the
	// first unmet one.
	Requirements []Requirement
	// Budget, when set, limits failed authentications on this route (shared by all
	// routes of a gateway): a unit is reserved before a credential is verified, unless
	// an authenticator answers it from its cache (Cacher).
	Budget Budget
	// Others are the configuration's authenticators that the route does not use. They
	// never verify anything here: where they read credentials, and what they claim, let
	// Decide name a credential the route does not accept (scheme_not_accepted) instead of
	// calling it missing or malformed.
	Others []Authenticator

	locOnce  sync.Once
	locs     []Location
	readsTLS bool
	// stray are the places, besides locs, where a credential this route does not accept
	// is looked for when the request carries none it does: the Others' locations and
	// DefaultKeyHeader.
	stray []Location
	// accepts names the kinds of credential the route accepts, for refusals.
	accepts []string
}

// DefaultKeyHeader is the header API keys are sent in by default. A key sent there to a
// route that reads no API keys is refused as scheme_not_accepted, even when no
// authenticator of the configuration reads that header.
const DefaultKeyHeader = "X-API-Key"

// locations returns the distinct non-Authorization places the route's authenticators
// read, computed once (with whether any reads the TLS layer): the request path must not
// allocate for it.
func (r *Route) locations() []Location {
	r.locOnce.Do(func() {
		for _, a := range r.Authenticators {
			for _, loc := range a.Locations() {
				if !slices.Contains(r.locs, loc) {
					r.locs = append(r.locs, loc)
				}
			}
			if a.Claims(Credential{Source: FromTLS}) != NoMatch {
				r.readsTLS = true
			}
			if k := kindOf(a); !slices.Contains(r.accepts, k) {
				r.accepts = append(r.accepts, k)
			}
		}
		stray := func(loc Location) {
			if !slices.ContainsFunc(r.locs, func(l Location) bool { return sameLocation(l, loc) }) &&
				!slices.ContainsFunc(r.stray, func(l Location) bool { return sameLocation(l, loc) }) {
				r.stray = append(r.stray, loc)
			}
		}
		for _, a := range r.Others {
			for _, loc := range a.Locations() {
				stray(loc)
			}
		}
		stray(Location{Source: FromHeader, Name: DefaultKeyHeader})
	})
	return r.locs
}

// sameLocation compares locations as HTTP does: header names without regard to case.
func sameLocation(a, b Location) bool {
	if a.Source != b.Source {
		return false
	}
	if a.Source == FromHeader {
		return strings.EqualFold(a.Name, b.Name)
	}
	return a.Name == b.Name
}

// The kinds of credential, as refusals name them.
const (
	kindBearer       = "Bearer tokens"
	kindAPIKey       = "API keys"
	kindBasic        = "Basic credentials"
	kindCertificates = "client certificates"
)

// kindOf names the kind of credential a accepts: API keys for an authenticator that
// reads a header or query parameter, client certificates for one without a challenge
// scheme, else its scheme's.
func kindOf(a Authenticator) string {
	switch s := a.Scheme(); {
	case len(a.Locations()) > 0:
		return kindAPIKey
	case s == "":
		return kindCertificates
	default:
		return schemeKind(s)
	}
}

func schemeKind(scheme string) string {
	switch {
	case strings.EqualFold(scheme, "Bearer"):
		return kindBearer
	case strings.EqualFold(scheme, "Basic"):
		return kindBasic
	case scheme == "":
		return "credentials"
	}
	return strings.ToUpper(scheme[:1]) + scheme[1:] + " credentials"
}

// credentialKind names the kind of c: that of the first authenticator of the
// configuration (this route's Others) that claims it, else what its place says.
func (r *Route) credentialKind(c Credential) string {
	for _, a := range r.Others {
		if a.Claims(c) != NoMatch {
			return kindOf(a)
		}
	}
	switch c.Source {
	case FromHeader, FromQuery:
		return kindAPIKey
	case FromTLS:
		return kindCertificates
	}
	return schemeKind(c.Scheme)
}

// acceptedKinds returns the kinds of credential the route accepts, in route order.
func (r *Route) acceptedKinds() []string {
	r.locations()
	return r.accepts
}

// joinKinds joins kinds as a sentence does: "A", "A and B", "A, B and C".
func joinKinds(kinds []string) string {
	switch len(kinds) {
	case 0:
		return "no credentials"
	case 1:
		return kinds[0]
	}
	return strings.Join(kinds[:len(kinds)-1], ", ") + " and " + kinds[len(kinds)-1]
}

// claimed reports whether any authenticator of the route claims c.
func (r *Route) claimed(c Credential) bool {
	for _, a := range r.Authenticators {
		if a.Claims(c) != NoMatch {
			return true
		}
	}
	return false
}

// Matches reports whether the route applies to method and path on its own: its methods
// take the method (HEAD counting as GET) and its prefix covers the path, with
// ";parameters" dropped from each segment and, when CaseInsensitive, without regard to
// case. PathPrefix matches whole segments: /admin matches /admin and /admin/x, never
// /administrator. Select, not Matches, chooses among routes.
func (r *Route) Matches(method, path string) bool {
	return r.allowsMethod(method) && r.matchesPath(matchPath(path))
}

// PathHasPrefix reports whether path starts with prefix on a segment boundary.
func PathHasPrefix(path, prefix string) bool {
	prefix = strings.TrimSuffix(prefix, "/")
	if prefix == "" {
		return true
	}
	if !strings.HasPrefix(path, prefix) {
		return false
	}
	return len(path) == len(prefix) || path[len(prefix)] == '/'
}

// Schemes returns the challenge schemes the route accepts, each once, in route order.
func (r *Route) Schemes() []string {
	var out []string
	for _, a := range r.Authenticators {
		s := a.Scheme()
		if s == "" {
			continue
		}
		dup := false
		for _, o := range out {
			if strings.EqualFold(o, s) {
				dup = true
			}
		}
		if !dup {
			out = append(out, s)
		}
	}
	return out
}

// Decision is the outcome for one request on one route.
type Decision struct {
	Allow  bool
	Reason Reason // empty when allowed
	// Detail is the client-safe explanation; Cause the finer log-only one.
	Detail string
	Cause  string
	// Principal is set when the credential verified (also on a 403 for scopes).
	Principal Principal
	// Authenticator names the authenticator that decided, if any.
	Authenticator string
	// CredentialScheme is the Authorization scheme the client sent, lower-cased, or "".
	CredentialScheme string
	// Presented reports whether the request carried any credential.
	Presented bool
	// Fingerprint identifies the credential in logs.
	Fingerprint string
	// CredentialID is the per-credential failure budget key; empty when none applies.
	CredentialID string
	// RequiredScopes are the scopes the route needs, for the insufficient_scope challenge.
	RequiredScopes []string
	RetryAfter     time.Duration
}

func deny(reason Reason, detail string) Decision {
	return Decision{Reason: reason, Detail: detail}
}

// Budget limits failed authentications (429 too_many_failures). Before a request that
// carries credentials is verified, Reserve takes one failure from every limit that
// applies, or refuses with how long to wait: concurrent guesses therefore cannot outrun
// the budget, since each verification under way already holds its unit. Settle then
// hands the unit back when the verification succeeded (or did not count as a failure),
// or keeps it. Fail charges a failure that needed no verification (a malformed
// credential).
type Budget interface {
	Reserve(ctx context.Context, client netip.Addr, credID string) (res Reservation, ok bool, retryAfter time.Duration)
	Settle(ctx context.Context, res Reservation, o Outcome)
	Fail(ctx context.Context, client netip.Addr, credID string)
	// Open reports, from local state and without waiting on anything, whether Reserve
	// would grant a unit. Decide answers from an authenticator's cache (Cacher) only
	// when it does: a refused guesser must not learn which guess a cache holds.
	Open(client netip.Addr, credID string) bool
	// Remember records a success that Decide answered from a cache, without a
	// reservation; it must not wait on anything.
	Remember(client netip.Addr, credID string)
}

// Reservation is what Budget.Reserve took, to hand back to Settle.
type Reservation struct {
	Client netip.Addr
	CredID string
	// Held records which of the budget's limits the reservation took from; its meaning
	// is the budget's own.
	Held uint8
}

// Outcome is how a reserved verification ended.
type Outcome uint8

const (
	// Failed: the credential was refused for a reason that counts; the unit stays spent.
	Failed Outcome = iota + 1
	// Succeeded: the credential verified; the unit is returned and the budget may
	// remember that this client knows this credential.
	Succeeded
	// Void: the verification decided nothing about the credential (an outage, or a
	// reason that does not count); the unit is returned.
	Void
)

// Cacher is implemented by authenticators that can answer a credential from what they
// have already verified (a verified-token cache, a cached key record), without any
// expensive work. Decide asks it before reserving from the budget, so that a client
// whose credential is known good never waits for a shared budget. ok is false when the
// authenticator would have to verify.
type Cacher interface {
	Cached(ctx context.Context, c Credential) (p Principal, ok bool)
}

// CredentialIDer is implemented by authenticators that can name a credential for the
// per-credential budget without a lookup (an API key's id, a Basic user name).
type CredentialIDer interface {
	CredentialID(c Credential) string
}

// credentialID names c for the per-credential budget: the claiming authenticator's id
// when it has one, else the SHA-256 of the value (for a JWT: never its kid, which many
// tokens share).
func credentialID(a Authenticator, c Credential) string {
	if ider, ok := a.(CredentialIDer); ok {
		if id := ider.CredentialID(c); id != "" {
			return id
		}
	}
	sum := c.Sum()
	var buf [2 * sha256.Size]byte
	hex.Encode(buf[:], sum[:])
	return string(buf[:])
}

// Decide runs the pipeline of docs/design.md, section 1 for req on route r: extract the
// credential, answer it from an authenticator's cache or else reserve a unit of the
// failure budget, verify it with the authenticator that claims it (settling the unit),
// and authorize the principal against the route's requirements.
func (r *Route) Decide(ctx context.Context, req *Request) Decision {
	if r.Anonymous {
		return Decision{Allow: true}
	}
	cred, d, ok := r.extract(req)
	if !ok {
		if d.Presented && d.Reason.Counts() {
			d = r.charge(ctx, req, nil, cred, d)
		}
		return d
	}
	d = Decision{Presented: true, CredentialScheme: cred.Scheme}
	if len(cred.Value) > MaxCredentialBytes {
		d.Reason, d.Detail = CredentialsMalformed, fmt.Sprintf("the credential is %d bytes; at most %d are accepted", len(cred.Value), MaxCredentialBytes)
		d.Fingerprint = "oversized"
		return r.charge(ctx, req, nil, Credential{}, d)
	}
	cred.sum = sum256(cred.Value)
	// The authenticators that recognise the credential best judge it, and only they
	// (docs/reasons.md, "Which authenticator explains a refusal"): each is asked once.
	var buf [8]Match
	matches := buf[:0]
	if len(r.Authenticators) > len(buf) {
		matches = make([]Match, 0, len(r.Authenticators))
	}
	top := NoMatch
	for _, a := range r.Authenticators {
		m := a.Claims(cred)
		matches = append(matches, m)
		top = max(top, m)
	}
	switch top {
	case NoMatch:
		return r.notAccepted(ctx, req, cred, d)
	case OtherIssuer:
		if d, ok := r.otherIssuer(cred, matches, d); ok {
			return r.charge(ctx, req, nil, cred, d)
		}
	}
	// The first success wins, else the first failure answers. One unit of the failure
	// budget is reserved before the first verification, unless an authenticator answers
	// the credential from what it verified before.
	var res Reservation
	reserved := false
	if r.Budget != nil {
		if p, a, ok := r.cached(ctx, req, cred, matches, top); ok {
			if p.Authenticator == "" {
				p.Authenticator = a.Name()
			}
			return r.authorize(ctx, req, d, p)
		}
	}
	var first *Failure
	var firstAuth Authenticator
	for i, a := range r.Authenticators {
		if matches[i] != top {
			continue
		}
		if !reserved && r.Budget != nil {
			var ok bool
			var wait time.Duration
			res, ok, wait = r.Budget.Reserve(ctx, req.Client, credentialID(a, cred))
			if !ok {
				d.Reason, d.Detail, d.RetryAfter = TooManyFailures, "too many failed attempts; retry later", wait
				d.Fingerprint = cred.Fingerprint()
				return d
			}
			reserved = true
		}
		p, err := a.Authenticate(ctx, cred)
		if err == nil {
			if reserved {
				r.Budget.Settle(ctx, res, Succeeded)
			}
			if p.Authenticator == "" {
				p.Authenticator = a.Name()
			}
			return r.authorize(ctx, req, d, p)
		}
		var f *Failure
		if !errors.As(err, &f) {
			f = &Failure{Reason: AuthenticatorUnavailable, Detail: "the authenticator could not decide", Cause: err.Error()}
		}
		// The first failure answers, unless it only says "not my token" (another
		// issuer's, or a key this authenticator does not know) and a later
		// authenticator of the same rank recognised the token and says what is wrong
		// with it (two authenticators of one issuer).
		if first == nil || (notMine(first.Reason) && !notMine(f.Reason)) {
			first, firstAuth = f, a
		}
	}
	d.Reason, d.Detail, d.Cause = first.Reason, first.Detail, first.Cause
	d.Authenticator = firstAuth.Name()
	d.Fingerprint = first.Fingerprint
	if d.Fingerprint == "" {
		d.Fingerprint = cred.Fingerprint()
	}
	d.CredentialID = first.CredentialID
	d.RetryAfter = first.RetryAfter
	switch {
	case !reserved:
	case !d.Reason.Counts():
		r.Budget.Settle(ctx, res, Void)
	case d.CredentialID == "" || d.CredentialID == res.CredID:
		r.Budget.Settle(ctx, res, Failed)
	default:
		// The authenticator that answered names the credential differently from the
		// one the unit was reserved under: charge the name that answered.
		r.Budget.Settle(ctx, res, Void)
		d = r.charge(ctx, req, firstAuth, cred, d)
	}
	return d
}

// notAccepted refuses a credential no authenticator of the route can read: a kind the
// route does not accept is scheme_not_accepted, named ("this route accepts Bearer tokens
// and Basic credentials, not API keys"); a kind it accepts, which none of its
// authenticators can read all the same, is credentials_malformed.
func (r *Route) notAccepted(ctx context.Context, req *Request, cred Credential, d Decision) Decision {
	d.Fingerprint = cred.Fingerprint()
	kind, accepted := r.credentialKind(cred), r.acceptedKinds()
	if slices.Contains(accepted, kind) {
		d.Reason = CredentialsMalformed
		d.Detail = "this route accepts " + kind + ", but none of its authenticators can read this one"
		return r.charge(ctx, req, nil, cred, d)
	}
	d.Reason = SchemeNotAccepted
	d.Detail = "this route accepts " + joinKinds(accepted) + ", not " + kind
	return d
}

// otherIssuer refuses, without verifying it, a credential that only authenticators
// claiming it at OtherIssuer can read: token_issuer_mismatch, naming the issuer it names
// and those the route accepts. ok is false when one of them is not an
// IssuerRecognizer; Decide then asks them as any others.
func (r *Route) otherIssuer(cred Credential, matches []Match, d Decision) (Decision, bool) {
	var issuers []string
	named, hasIssuer := "", false
	var only Authenticator
	for i, a := range r.Authenticators {
		if matches[i] != OtherIssuer {
			continue
		}
		ir, ok := a.(IssuerRecognizer)
		if !ok {
			return d, false
		}
		if len(issuers) == 0 {
			named, hasIssuer = ir.CredentialIssuer(cred)
			only = a
		} else {
			only = nil
		}
		if iss := ir.Issuer(); !slices.Contains(issuers, iss) {
			issuers = append(issuers, iss)
		}
	}
	expects := issuers[0]
	if len(issuers) > 1 {
		expects = "one of " + strings.Join(issuers, ", ")
	}
	d.Reason, d.Cause = TokenIssuerMismatch, "iss_mismatch"
	if hasIssuer {
		d.Detail = "issuer is " + named + ", this API expects " + expects
	} else {
		d.Detail, d.Cause = "the token has no issuer (iss); this API expects "+expects, "iss_missing"
	}
	if only != nil {
		d.Authenticator = only.Name()
	}
	d.Fingerprint = cred.Fingerprint()
	return d, true
}

// cached asks the authenticators that judge the credential (those whose match is top),
// in route order, whether one can answer it from what it verified before. It asks none
// while the budget, as this process knows it, would refuse the client this credential.
func (r *Route) cached(ctx context.Context, req *Request, cred Credential, matches []Match, top Match) (Principal, Authenticator, bool) {
	id := ""
	for i, a := range r.Authenticators {
		if matches[i] != top {
			continue
		}
		if id == "" {
			if id = credentialID(a, cred); !r.Budget.Open(req.Client, id) {
				return Principal{}, nil, false
			}
		}
		if c, ok := a.(Cacher); ok {
			if p, ok := c.Cached(ctx, cred); ok {
				r.Budget.Remember(req.Client, id)
				return p, a, true
			}
		}
	}
	return Principal{}, nil, false
}

// notMine reports whether a failure only says the credential belongs to some other
// authenticator (another issuer, a key or an algorithm this one does not take), so that
// a more specific answer from another one of the same rank wins.
func notMine(r Reason) bool {
	return r == TokenIssuerMismatch || r == TokenKeyUnknown || r == TokenAlgorithmRejected
}

// charge records a failed authentication that needed no verification against the
// budget.
func (r *Route) charge(ctx context.Context, req *Request, a Authenticator, c Credential, d Decision) Decision {
	if r.Budget == nil {
		return d
	}
	id := d.CredentialID
	if id == "" {
		id = credentialID(a, c)
	}
	r.Budget.Fail(ctx, req.Client, id)
	return d
}

func (r *Route) authorize(ctx context.Context, req *Request, d Decision, p Principal) Decision {
	d.Principal = p
	d.Authenticator = p.Authenticator
	d.Fingerprint = p.Fingerprint
	if missing := p.HasScopes(r.RequiredScopes); len(missing) > 0 {
		d.Reason = InsufficientScope
		d.RequiredScopes = r.RequiredScopes
		d.Detail = "missing scope " + strings.Join(missing, ", ")
		return d
	}
	if len(r.Requirements) > 0 {
		if unmet, cause := checkRequirements(ctx, r.Requirements, p, req.Method, req.Path, req.Host, req.Header); unmet != "" {
			d.Reason, d.Detail, d.Cause = Forbidden, unmet, cause
			return d
		}
	}
	d.Allow = true
	return d
}

// extract finds the one credential the request carries. ok is false when the request
// carries none, or more than one (d then holds the denial, and c whatever was found).
func (r *Route) extract(req *Request) (c Credential, d Decision, ok bool) {
	found := 0
	var firstPlace, secondPlace string
	note := func(place string) {
		found++
		switch found {
		case 1:
			firstPlace = place
		case 2:
			secondPlace = place
		}
	}
	if req.Header != nil {
		if vals := req.Header.Values("Authorization"); len(vals) > 0 {
			if len(vals) > 1 {
				return c, Decision{Presented: true, Reason: InvalidRequest, Detail: "the Authorization header was sent more than once"}, false
			}
			scheme, rest, malformed := splitAuthorization(vals[0])
			if malformed != "" {
				c = Credential{Source: FromAuthorization, Scheme: scheme, Value: vals[0]}
				d := Decision{Presented: true, Reason: CredentialsMalformed, Detail: malformed, Fingerprint: Fingerprint(vals[0]), CredentialScheme: scheme}
				return c, d, false
			}
			c = Credential{Source: FromAuthorization, Scheme: scheme, Value: rest}
			note("Authorization")
		}
	}
	for _, loc := range r.locations() {
		var vals []string
		switch loc.Source {
		case FromHeader:
			if req.Header != nil {
				vals = req.Header.Values(loc.Name)
			}
		case FromQuery:
			if req.Query != nil {
				vals = req.Query(loc.Name)
			}
		}
		if len(vals) == 0 {
			continue
		}
		if len(vals) > 1 {
			return c, Decision{Presented: true, Reason: InvalidRequest, Detail: loc.Name + " was sent more than once"}, false
		}
		if found == 0 {
			c = Credential{Source: loc.Source, Name: loc.Name, Value: vals[0]}
		}
		note(loc.Name)
	}
	if found == 0 && !(r.readsTLS && len(req.PeerCertificates) > 0) {
		// Nothing this route reads: a credential sent where only other authenticators
		// read (an API key to a route without one) is named, not called missing. The
		// route decides it as scheme_not_accepted.
		if sc, ok := r.strayCredential(req); ok {
			return sc, Decision{}, true
		}
	}
	switch {
	case found == 0 && r.readsTLS:
		// The TLS layer is the credential: the authenticator tells a missing
		// certificate (client_certificate_missing) from a bad one.
		return tlsCredential(req.PeerCertificates), Decision{}, true
	case found == 0:
		return c, deny(CredentialsMissing, "no credentials were sent"), false
	case found == 1 && r.readsTLS && len(req.PeerCertificates) > 0 && !r.claimed(c):
		// A client that has a certificate configured sends it on every request; a
		// header this route does not read must not hide it.
		return tlsCredential(req.PeerCertificates), Decision{}, true
	case found > 1:
		return c, Decision{Presented: true, Reason: InvalidRequest, Detail: "credentials were sent in more than one place: " + firstPlace + " and " + secondPlace}, false
	}
	return c, Decision{}, true
}

// strayCredential returns the first credential found in a place where only
// authenticators this route does not use read (Route.Others, DefaultKeyHeader). It is
// looked for only when the request carries nothing the route reads, so a stray header
// never stands in the way of an accepted credential.
func (r *Route) strayCredential(req *Request) (Credential, bool) {
	for _, loc := range r.stray {
		var vals []string
		switch loc.Source {
		case FromHeader:
			if req.Header != nil {
				vals = req.Header.Values(loc.Name)
			}
		case FromQuery:
			if req.Query != nil {
				vals = req.Query(loc.Name)
			}
		}
		if len(vals) > 0 {
			return Credential{Source: loc.Source, Name: loc.Name, Value: vals[0]}, true
		}
	}
	return Credential{}, false
}

// splitAuthorization splits an Authorization value into its lower-cased scheme and the
// rest. It is strict about the one shape every scheme Gatehouse verifies uses: a scheme,
// one space, then a value without spaces or commas at its ends.
func splitAuthorization(v string) (scheme, rest, malformed string) {
	if len(v) > MaxCredentialBytes+64 {
		return "", "", fmt.Sprintf("the Authorization header is %d bytes; at most %d are accepted", len(v), MaxCredentialBytes)
	}
	i := strings.IndexByte(v, ' ')
	if i <= 0 {
		if v == "" {
			return "", "", "the Authorization header is empty"
		}
		return "", "", "the Authorization header has no scheme: expected \"<scheme> <credentials>\""
	}
	for j := 0; j < i; j++ {
		if !isTokenChar(v[j]) {
			return "", "", "the Authorization scheme is not a valid token"
		}
	}
	scheme = lowerScheme(v[:i])
	rest = v[i+1:]
	if rest == "" {
		return scheme, "", "the Authorization header has a scheme but no credentials"
	}
	if rest[0] == ' ' || rest[len(rest)-1] == ' ' || repeatsScheme(rest, scheme) {
		return scheme, "", "the Authorization header has extra spaces or a repeated scheme"
	}
	return scheme, rest, ""
}

// lowerScheme lower-cases a scheme (token characters only) without allocating for the
// common ones: every request carries one, and strings.ToLower copies.
func lowerScheme(s string) string {
	switch {
	case s == "Bearer" || s == "bearer":
		return "bearer"
	case s == "Basic" || s == "basic":
		return "basic"
	}
	for j := 0; j < len(s); j++ {
		if c := s[j]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

// repeatsScheme reports whether rest starts with scheme and a space, case-insensitively
// ("Bearer Bearer x"). It reads only the first len(scheme)+1 bytes: lower-casing the
// whole credential to compare its start cost a copy of every token on every request.
// A start holding non-ASCII bytes (which Unicode case folding may shorten or lengthen,
// such as the Kelvin sign folding to k) takes the exact, slower comparison.
func repeatsScheme(rest, scheme string) bool {
	n := len(scheme)
	for j := 0; j < len(rest) && j <= n; j++ {
		if rest[j] >= 0x80 {
			return strings.HasPrefix(strings.ToLower(rest), scheme+" ")
		}
	}
	return len(rest) > n && rest[n] == ' ' && strings.EqualFold(rest[:n], scheme)
}

func isTokenChar(c byte) bool {
	if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// FindRoute returns the route Select chooses, or nil.
func FindRoute(routes []*Route, method, path string) *Route {
	if sel := Select(routes, method, path); sel.Index >= 0 {
		return routes[sel.Index]
	}
	return nil
}
