// Package decision is the core of Gatehouse: the vocabulary of an authentication decision
// (requests, credentials, principals, reasons, routes) and the Engine that turns a request
// and a route into an allow or a deny. It depends on the standard library only and knows
// nothing of net/http; the gateway translates to and from HTTP around it.
package decision

// Reason is a stable, documented code for why a request was refused. Reasons appear in
// problem+json bodies, logs and metric labels, so they never change once published.
type Reason string

// The reason codes of docs/design.md, section 2.
const (
	CredentialsMissing          Reason = "credentials_missing"
	SchemeNotAccepted           Reason = "scheme_not_accepted"
	CredentialsMalformed        Reason = "credentials_malformed"
	TokenExpired                Reason = "token_expired"
	TokenNotYetValid            Reason = "token_not_yet_valid"
	TokenSignatureInvalid       Reason = "token_signature_invalid"
	TokenKeyUnknown             Reason = "token_key_unknown"
	TokenAlgorithmRejected      Reason = "token_algorithm_rejected"
	TokenIssuerMismatch         Reason = "token_issuer_mismatch"
	TokenAudienceMismatch       Reason = "token_audience_mismatch"
	TokenRevoked                Reason = "token_revoked"
	TokenInactive               Reason = "token_inactive"
	APIKeyInvalid               Reason = "api_key_invalid"
	APIKeyRevoked               Reason = "api_key_revoked"
	APIKeyExpired               Reason = "api_key_expired"
	CredentialsWrongEnvironment Reason = "credentials_wrong_environment"
	CredentialsInvalid          Reason = "credentials_invalid"
	ClientCertificateMissing    Reason = "client_certificate_missing"
	ClientCertificateInvalid    Reason = "client_certificate_invalid"
	InvalidRequest              Reason = "invalid_request"
	InsufficientScope           Reason = "insufficient_scope"
	Forbidden                   Reason = "forbidden"
	TooManyFailures             Reason = "too_many_failures"
	AuthenticatorUnavailable    Reason = "authenticator_unavailable"
	// RouteNotFound is not a refusal of credentials: no route matched the request.
	RouteNotFound Reason = "route_not_found"
	// MethodNotAllowed: a route claims the path but does not take the method (Select).
	MethodNotAllowed Reason = "method_not_allowed"
	// PathRejected: the path holds a form an upstream may read as another path
	// (CleanPath).
	PathRejected Reason = "path_rejected"
)

// Reasons lists every reason code, in the order of the contract table.
var Reasons = []Reason{
	CredentialsMissing, SchemeNotAccepted, CredentialsMalformed,
	TokenExpired, TokenNotYetValid, TokenSignatureInvalid, TokenKeyUnknown,
	TokenAlgorithmRejected, TokenIssuerMismatch, TokenAudienceMismatch, TokenRevoked, TokenInactive,
	APIKeyInvalid, APIKeyRevoked, APIKeyExpired, CredentialsWrongEnvironment,
	CredentialsInvalid, ClientCertificateMissing, ClientCertificateInvalid,
	InvalidRequest, InsufficientScope, Forbidden, TooManyFailures, AuthenticatorUnavailable,
	RouteNotFound, MethodNotAllowed, PathRejected,
}

// Status is the HTTP status code the contract assigns to the reason.
func (r Reason) Status() int {
	switch r {
	case InvalidRequest, PathRejected:
		return 400
	case InsufficientScope, Forbidden:
		return 403
	case RouteNotFound:
		return 404
	case MethodNotAllowed:
		return 405
	case TooManyFailures:
		return 429
	case AuthenticatorUnavailable:
		return 503
	default:
		return 401
	}
}

// Title is the short human title used in problem+json bodies.
func (r Reason) Title() string {
	switch r.Status() {
	case 400:
		return "Bad request"
	case 403:
		return "Forbidden"
	case 404:
		return "Not found"
	case 405:
		return "Method not allowed"
	case 429:
		return "Too many failed authentication attempts"
	case 503:
		return "Authentication temporarily unavailable"
	default:
		return "Unauthorized"
	}
}

// Counts reports whether a denial for this reason consumes the failed-authentication
// budget. Only requests that carried credentials which then failed count; a missing
// credential, a scope problem or an outage does not.
func (r Reason) Counts() bool {
	switch r.Status() {
	case 401:
		return r != CredentialsMissing && r != SchemeNotAccepted && r != ClientCertificateMissing
	}
	return false
}
