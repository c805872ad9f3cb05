package explain

import (
	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
)

// FixAllowed is the fix an allowed request is given.
const FixAllowed = "Nothing to fix: the request was allowed."

// fixUnknown is the fix for a reason code this build does not know.
const fixUnknown = "This reason code is not known to this version of gatehouse; see docs/reasons.md."

// fixes is the "what to do" column of docs/reasons.md without its Markdown; a test keeps
// the two in step, so a change to either fails until both say the same.
var fixes = map[decision.Reason]string{
	decision.CredentialsMissing:          "Send one: Authorization: Bearer <token> (or the route's API-key header, or Basic). If you did, something on the way removed it: gatehouse doctor tells which hop.",
	decision.SchemeNotAccepted:           "Use one of the schemes in the WWW-Authenticate challenges.",
	decision.CredentialsMalformed:        "Send Authorization: <Scheme> <credential> with one space; copy the credential again in full.",
	decision.TokenExpired:                "Get a new token; refresh before exp.",
	decision.TokenNotYetValid:            "Check the issuer's and the gateway's clocks (NTP).",
	decision.TokenSignatureInvalid:       "The token was altered, or signed by another issuer with a reused kid. Get a token from the configured issuer.",
	decision.TokenKeyUnknown:             "The token comes from another issuer or tenant, or its key was retired.",
	decision.TokenAlgorithmRejected:      "Have the issuer sign with an accepted algorithm; the detail lists them.",
	decision.TokenIssuerMismatch:         "Use a token from the issuer this API trusts.",
	decision.TokenAudienceMismatch:       "Request the token for this API's audience.",
	decision.TokenRevoked:                "Get a new token.",
	decision.TokenInactive:               "Get a new token.",
	decision.APIKeyInvalid:               "Check the key; create a new one if it was lost.",
	decision.APIKeyRevoked:               "Use the rotated key or create a new one.",
	decision.APIKeyExpired:               "Create a new key.",
	decision.CredentialsWrongEnvironment: "Use the key made for this deployment's environment.",
	decision.CredentialsInvalid:          "Check the user name and password.",
	decision.ClientCertificateMissing:    "Configure the client's certificate and key.",
	decision.ClientCertificateInvalid:    "Use a certificate issued by the trusted CA.",
	decision.InvalidRequest:              "Send exactly one credential, once; operators: check the proxy's X-Forwarded-*/X-Original-* headers.",
	decision.InsufficientScope:           "Request a token with those scopes.",
	decision.Forbidden:                   "Ask for access; try the policy with gatehouse decide; check trusted_proxies.",
	decision.TooManyFailures:             "Wait for Retry-After, then fix the credential.",
	decision.AuthenticatorUnavailable:    "Retry after Retry-After; operators: check the gateway's logs and /readyz.",
	decision.RouteNotFound:               "Check the URL; operators: check routes.",
	decision.MethodNotAllowed:            "Use a method from Allow; operators: add the method to the route, or set match.methods_fallthrough.",
	decision.PathRejected:                "Send the plain path: resolve .. yourself, use /, encode once.",
	// The gateway's own reasons (gateway.Reasons; docs/reasons.md lists them too).
	gateway.HeadersTooLarge:     "Send fewer or smaller headers (large cookies are the usual cause); operators: max_header_bytes sets the limit.",
	gateway.UpstreamUnavailable: "Operators: check the upstream.",
	gateway.UpstreamTimeout:     "Operators: check the upstream.",
}

// Fix says in plain words what to do about a refusal for reason, as docs/reasons.md
// does. The empty reason (an allowed request) gets FixAllowed; a code this build does not
// know gets a pointer to the documentation.
func Fix(reason decision.Reason) string {
	if reason == "" {
		return FixAllowed
	}
	if f, ok := fixes[reason]; ok {
		return f
	}
	return fixUnknown
}
