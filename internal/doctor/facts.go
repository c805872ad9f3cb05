package doctor

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/challenge"
	"github.com/gatehouse-dev/gatehouse/internal/doctor/finding"
	"github.com/gatehouse-dev/gatehouse/internal/tokens"
)

// Facts is everything the probes observed. Rules read Facts and never do I/O, so a rule
// can be tested by building Facts by hand, and a HAR entry can be judged by the same
// rules as a live probe.
type Facts struct {
	// Target is the URL the user named; Method the method of the first request.
	Target *url.URL
	Method string
	// Sent are the request headers of P1 as the user meant them (after --env-file
	// substitution and -u), secrets included; they are redacted only when shown.
	Sent []Header
	// UserAgent is what the doctor sends when the user set no User-Agent.
	UserAgent string
	// Body is the request body, kept for the token-endpoint and CSRF checks.
	Body    string
	HasBody bool
	// Creds are the credentials found in the request, the primary one first.
	Creds []Credential
	// Known are further credential values the user gave that the request may not carry
	// (the --var value, the password of a proxy variable), and KnownPairs the USER:PASS
	// pairs (-u, even when an Authorization header replaced it). Reports scrub them, with
	// everything in Sent and Creds, from all they render.
	Known      []string
	KnownPairs []string
	// Lint holds the P0 findings on the credentials (from internal/doctor/lint); EnvLint
	// those of reading --env-file (how the loaders differ, near-miss names).
	Lint    []finding.Finding
	EnvLint []finding.Finding
	// EnvVar and EnvFound describe --env-file/--var: whether the variable was found.
	EnvVar   string
	EnvFound bool
	// Netrc and Proxy are what the environment would make other clients do.
	NetrcPresent bool
	NetrcPath    string
	Proxy        *ProxyFacts

	// Hops are the requests of P1, in order; Final is the last exchange of the walk.
	Hops  []*Hop
	Final *Exchange
	// LastCredentialed is the last P1 exchange that carried the credential (nil when
	// none did).
	LastCredentialed *Exchange
	// Anon is P2, the anonymous control; Preflight is P3; Compare is the same request
	// against --compare-url; Identity are the /me-style probes made after a 404;
	// Variants are the --retry-variants retries.
	Anon      *Exchange
	Preflight *Exchange
	Compare   *Exchange
	Identity  []*Exchange
	Variants  []*Variant

	// ChallengeFirst is Options.ChallengeFirst; ChallengeProbe the request sent without
	// the credential first, as a client that waits for a challenge would.
	ChallengeFirst string
	ChallengeProbe *Exchange
	// NetrcProbe is the request as Python requests and httpx send it when a netrc entry
	// exists for the host: the netrc credentials in place of the Authorization header.
	NetrcProbe *Exchange

	// Origin is --origin (or the HAR page's origin); RequestedHeaders is what a browser
	// would list in Access-Control-Request-Headers.
	Origin           string
	RequestedHeaders []string

	// Clock compares the local clock with the server's Date (P5).
	Clock ClockFacts
	// Token is the decoded primary credential when it is (or claims to be) a JWT (P6).
	Token *TokenFacts
	// Metadata is the RFC 9728 document named by a challenge's resource_metadata, when it
	// was fetched.
	Metadata *ResourceMetadata
	// MetadataErr says why a resource_metadata document was not read: too slow, too
	// large, not JSON, or on another origin without --fetch-jwks.
	MetadataErr string
	// Fingerprints are the P8 matches on the final response and the anonymous control.
	Fingerprints []FingerprintHit
	// Gatehouse is the problem+json of the final response when a Gatehouse sent it.
	Gatehouse *Problem

	// ExpectIssuer and ExpectAudience come from the options.
	ExpectIssuer   string
	ExpectAudience string
	// Named are the origins and hosts that may receive the credential.
	Named *namedOrigins
	// Offline is set when the facts come from a HAR entry: no control request, no
	// preflight of our own, no TLS facts.
	Offline bool
	// HARCreator names the tool that wrote the HAR (offline only).
	HARCreator string
}

// Exchange is one request the doctor sent (or a HAR entry recorded) and what came back.
type Exchange struct {
	Probe  string // "P1", "P2", "P3", "compare", "identity", "variant", "metadata", "discovery", "jwks", "har"
	Method string
	URL    *url.URL
	// Sent are the headers as they went out (secrets included, redacted on output).
	Sent []Header
	// CredentialSent says whether any credential of the user went with this request.
	CredentialSent bool
	Resp           *Response
	// Err is the transport error when no response came back; ErrKind classifies it.
	Err     error
	ErrKind ErrKind
	Conn    ConnFacts
	// At is the local clock when the response arrived.
	At time.Time
}

// ErrKind classifies a transport failure.
type ErrKind string

// Transport failure kinds.
const (
	ErrNone ErrKind = ""
	// ErrInvalidRequest: the HTTP library refused to send the request (a header with a
	// control character, for example).
	ErrInvalidRequest ErrKind = "invalid_request"
	ErrDial           ErrKind = "connect"
	ErrTimeout        ErrKind = "timeout"
	ErrTLS            ErrKind = "tls"
	ErrProxy          ErrKind = "proxy"
	ErrProtocol       ErrKind = "protocol"
)

// ConnFacts are P7's transport facts for one exchange.
type ConnFacts struct {
	Reused bool
	Proto  string // "HTTP/1.1", "HTTP/2.0"
	TLS    bool
	// ClientCertRequested is set when the server sent a TLS CertificateRequest (our
	// GetClientCertificate was called); AcceptableCAs are the CA names it listed.
	ClientCertRequested bool
	AcceptableCAs       []string
	// ClientCertSent: a client certificate (--cert) was presented in that handshake.
	ClientCertSent bool
	// Proxy is the forward proxy the request went through (redacted), "" when none.
	Proxy string
	// ProxyStatus and ProxyHeader are the proxy's answer to CONNECT, when there was one.
	ProxyStatus int
	ProxyHeader http.Header
}

// Response is what came back, with the body read only up to a bounded prefix.
type Response struct {
	Status     int
	StatusText string
	Proto      string
	Header     http.Header
	// Body is at most Options.MaxBodyBytes of the body; BodyTruncated says there was
	// more (which was neither read nor buffered).
	Body          []byte
	BodyTruncated bool
	// Challenges are the parsed WWW-Authenticate fields (nil when there were none or
	// when one did not parse; ChallengeErr says which).
	Challenges   []challenge.Challenge
	ChallengeErr *challenge.SyntaxError
	// LenientChallenges is what a lenient reading salvages from fields the strict
	// grammar refused (nil otherwise): evidence only, never read by the rules as the
	// server's challenges.
	LenientChallenges []challenge.Challenge
	// ProxyChallenges are the parsed Proxy-Authenticate fields.
	ProxyChallenges   []challenge.Challenge
	ProxyChallengeErr *challenge.SyntaxError
}

// Location returns the Location header.
func (r *Response) Location() string { return r.Header.Get("Location") }

// BodyText returns the body prefix as text.
func (r *Response) BodyText() string { return string(r.Body) }

// Hop is one request of the P1 redirect walk.
type Hop struct {
	Ex *Exchange
	// Next is the resolved Location of a redirect; nil when this hop was not one.
	Next     *url.URL
	Location string
	// Change is how Next differs from this hop's URL; Keeps is which clients would still
	// send the credential to Next (cumulative over the chain).
	Change Change
	Keeps  ClientKeeps
	// Follow is how the doctor followed Next: "credential", "anonymous" or "no", and
	// why not when it did not.
	Follow    string
	FollowWhy string
	// Stop is set on the last hop when the walk gave up on a redirect it could have
	// followed: StopLoop (the chain came back to a request it had made) or StopLimit
	// (more than maxHops redirects).
	Stop string
}

// Reasons the redirect walk stopped on a redirect (Hop.Stop).
const (
	StopLoop  = "loop"
	StopLimit = "limit"
)

// Variant is one --retry-variants retry.
type Variant struct {
	What string // plain words: "scheme spelled Bearer"
	Ex   *Exchange
}

// ClockFacts compare clocks (P5).
type ClockFacts struct {
	Local      time.Time
	Server     time.Time
	HaveServer bool
	// Skew is server minus local: positive when the local clock is behind.
	Skew time.Duration
	// LocalName names the local clock in evidence; "local clock" when empty (a HAR's
	// clock is the browser's).
	LocalName string
}

func (c ClockFacts) localName() string {
	if c.LocalName == "" {
		return "local clock"
	}
	return c.LocalName
}

// Reference is the best "now" for judging token times: the server's Date when there is
// one, else the local clock.
func (c ClockFacts) Reference() time.Time {
	if c.HaveServer {
		return c.Server
	}
	return c.Local
}

// TokenFacts is P6's view of the primary credential's token.
type TokenFacts struct {
	Raw     string
	Where   string // "Authorization Bearer", "X-Api-Key", "cookie session"
	Decoded *tokens.Decoded
	Err     error // tokens.ErrJWE, ErrNotJWT, ErrMalformed...
	// Discovery and JWKS are fetched only with --fetch-jwks.
	Discovery     *Discovery
	DiscoveryErr  string
	JWKS          *JWKS
	JWKSErr       string
	FetchAttempts []string
}

// Discovery is the subset of an OpenID configuration the doctor reads.
type Discovery struct {
	URL     string
	Issuer  string `json:"issuer"`
	JWKSURI string `json:"jwks_uri"`
}

// JWKS is the subset of a key set the doctor reads.
type JWKS struct {
	URL  string
	Keys []JWK `json:"keys"`
}

// JWK is one key's public identifiers.
type JWK struct {
	Kid string `json:"kid"`
	Kty string `json:"kty"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	Crv string `json:"crv"`
}

// ResourceMetadata is the subset of an RFC 9728 document the doctor reads.
type ResourceMetadata struct {
	URL                  string
	Resource             string   `json:"resource"`
	AuthorizationServers []string `json:"authorization_servers"`
	ScopesSupported      []string `json:"scopes_supported"`
}

// Problem is an RFC 9457 body with Gatehouse's reason.
type Problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail"`
	Reason    string `json:"reason"`
	RequestID string `json:"request_id"`
}

// ProxyFacts are the outbound proxy settings that apply to the target, never holding a
// password.
type ProxyFacts struct {
	Var            string // the variable that applies, e.g. HTTPS_PROXY
	URL            string // redacted
	HasCredentials bool
	PercentEncoded bool
	// NeedsEncoding: the user info holds a character that must be percent-encoded.
	NeedsEncoding bool
	Bypassed      bool
	NoProxy       string // the NO_PROXY entry that exempted the host
	ReadBy        string // which clients read Var
}

// Credential is one credential found in the request.
type Credential struct {
	// Source says where it came from: "-H", "-u", "--env-file", "URL query".
	Source string
	// HeaderName is the header as sent ("" for a query parameter); QueryParam the
	// parameter's name for a credential in the URL.
	HeaderName string
	QueryParam string
	// Value is the whole header (or parameter) value as sent.
	Value string
	// Scheme is the auth-scheme for Authorization-style headers ("" otherwise); Token is
	// what follows it (or the whole value for a key header).
	Scheme string
	Token  string
}

// IsAuthorization reports whether the credential travels in Authorization.
func (c Credential) IsAuthorization() bool { return strings.EqualFold(c.HeaderName, "Authorization") }

// primary returns the main credential, or nil.
func (f *Facts) primary() *Credential {
	if len(f.Creds) == 0 {
		return nil
	}
	return &f.Creds[0]
}

// finalResp returns the final response, or nil when none came back.
func (f *Facts) finalResp() *Response {
	if f.Final == nil {
		return nil
	}
	return f.Final.Resp
}

// credResp is the response to the last request that carried the credential, the one
// that says what the server made of it.
func (f *Facts) credResp() *Response {
	if f.LastCredentialed != nil && f.LastCredentialed.Resp != nil {
		return f.LastCredentialed.Resp
	}
	return f.finalResp()
}
