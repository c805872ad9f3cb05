package doctor

import (
	"encoding/json"
	"mime"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/doctor/finding"
)

// Codes the doctor reports beyond the catalogue's 62, for Gatehouse answers that are not
// about the credential at all.
const (
	CodeAuthenticatorUnavailable = "authenticator_unavailable"
	CodeRouteNotFound            = "route_not_found"
	CodeMethodNotAllowed         = "method_not_allowed"
	CodePathRejected             = "path_rejected"
	CodeUpstreamUnavailable      = "upstream_unavailable"
)

// gatehouseReason maps each Gatehouse reason (docs/design.md, section 2) to the finding it
// proves. A few reasons need a look at the request to pick the finding (see
// gatehouseFinding); they map to "" here.
var gatehouseReason = map[decision.Reason]string{
	decision.CredentialsMissing:          "", // depends on what was sent
	decision.SchemeNotAccepted:           "scheme_name_or_case_mismatch",
	decision.CredentialsMalformed:        "", // the lint finding that says how, when there is one
	decision.TokenExpired:                "jwt_expired",
	decision.TokenNotYetValid:            "jwt_not_yet_valid_clock_skew",
	decision.TokenSignatureInvalid:       "jwt_signing_key_unknown",
	decision.TokenKeyUnknown:             "jwt_signing_key_unknown",
	decision.TokenAlgorithmRejected:      "jwt_alg_mismatch",
	decision.TokenIssuerMismatch:         "jwt_issuer_or_tenant_mismatch",
	decision.TokenAudienceMismatch:       "jwt_audience_mismatch",
	decision.TokenRevoked:                "credential_rejected_unknown",
	decision.TokenInactive:               "credential_rejected_unknown",
	decision.APIKeyInvalid:               "", // truncated or mistyped when lint can tell, else rejected
	decision.APIKeyRevoked:               "credential_rejected_unknown",
	decision.APIKeyExpired:               "credential_rejected_unknown",
	decision.CredentialsWrongEnvironment: "wrong_environment_or_account_credential",
	decision.CredentialsInvalid:          "",
	decision.ClientCertificateMissing:    "mtls_client_certificate_missing",
	decision.ClientCertificateInvalid:    "mtls_client_certificate_missing",
	decision.InvalidRequest:              "proxy_auth_layer_conflict",
	decision.InsufficientScope:           "insufficient_scope_or_permission",
	decision.Forbidden:                   "insufficient_scope_or_permission",
	decision.TooManyFailures:             "rate_limit_disguised_as_auth",
	decision.AuthenticatorUnavailable:    CodeAuthenticatorUnavailable,
	decision.RouteNotFound:               CodeRouteNotFound,
	decision.MethodNotAllowed:            CodeMethodNotAllowed,
	decision.PathRejected:                CodePathRejected,
}

// gatehouseSummary says in plain words what each reason means for the caller.
var gatehouseSummary = map[decision.Reason]string{
	decision.CredentialsMissing:          "Gatehouse received no credential.",
	decision.SchemeNotAccepted:           "Gatehouse does not accept this authentication scheme on this route.",
	decision.CredentialsMalformed:        "Gatehouse could not parse the credential.",
	decision.TokenExpired:                "Gatehouse says the token has expired.",
	decision.TokenNotYetValid:            "Gatehouse says the token is not valid yet (nbf/iat ahead of its clock).",
	decision.TokenSignatureInvalid:       "Gatehouse says the token's signature does not verify with the key it trusts for it.",
	decision.TokenKeyUnknown:             "Gatehouse does not know the key (kid) that signed the token.",
	decision.TokenAlgorithmRejected:      "Gatehouse does not accept the token's signing algorithm.",
	decision.TokenIssuerMismatch:         "Gatehouse does not trust the token's issuer.",
	decision.TokenAudienceMismatch:       "Gatehouse says the token was issued for another audience.",
	decision.TokenRevoked:                "Gatehouse says the token was revoked.",
	decision.TokenInactive:               "The introspection endpoint says the token is not active (revoked, expired or unknown to the issuer).",
	decision.APIKeyInvalid:               "Gatehouse does not know this API key.",
	decision.APIKeyRevoked:               "Gatehouse says the API key was revoked.",
	decision.APIKeyExpired:               "Gatehouse says the API key has expired.",
	decision.CredentialsWrongEnvironment: "The credential belongs to another environment than this Gatehouse deployment.",
	decision.CredentialsInvalid:          "Gatehouse refused the user name and password (an unknown user and a wrong password look the same from outside).",
	decision.ClientCertificateMissing:    "Gatehouse requires a client certificate and none was presented.",
	decision.ClientCertificateInvalid:    "Gatehouse refused the client certificate that was presented.",
	decision.InvalidRequest:              "Gatehouse refused the request because it carries credentials in more than one place (or twice).",
	decision.InsufficientScope:           "You are authenticated, but the token lacks a scope this route requires.",
	decision.Forbidden:                   "You are authenticated, but this route's rules do not permit you.",
	decision.TooManyFailures:             "Gatehouse is throttling after too many failed attempts: this is a rate limit.",
	decision.AuthenticatorUnavailable:    "Gatehouse cannot reach what it needs to check credentials (JWKS or introspection): an outage, not your credential.",
	decision.RouteNotFound:               "Gatehouse has no route for this method and path.",
	decision.MethodNotAllowed:            "A Gatehouse route takes this path, but not this method; the Allow header lists the methods it takes.",
	decision.PathRejected:                "Gatehouse refused the path itself: it holds a form (..;, a backslash, double encoding, invalid UTF-8) that some servers read as another path.",
}

// gatehouseFix adds what to do where the mapped rule's usual fix would not fit.
var gatehouseFix = map[decision.Reason]string{
	decision.TokenRevoked:             "Get a new token; a revoked token never works again.",
	decision.TokenInactive:            "Get a new token from the issuer; check with the issuer why it considers this one inactive.",
	decision.APIKeyInvalid:            "Check that you copied the whole key for this deployment (gatehouse keys list shows ids, never secrets), or create a new key.",
	decision.APIKeyRevoked:            "Use the key that replaced it, or create a new one (gatehouse keys create).",
	decision.APIKeyExpired:            "Create a new key or rotate this one (gatehouse keys rotate).",
	decision.CredentialsInvalid:       "Check the user name and password (for Gatehouse users: gatehouse users passwd), and that -u is not reading a stale variable.",
	decision.AuthenticatorUnavailable: "Retry after the Retry-After delay. Operators: check the gateway's /readyz and that its JWKS or introspection URL is reachable.",
	decision.RouteNotFound:            "Check the method and path against the gateway's routes; no route means no authentication was attempted.",
	decision.MethodNotAllowed:         "Use a method from the Allow header; no authentication was attempted.",
	decision.PathRejected:             "Send the plain path: resolve .. yourself, use / and encode once; no authentication was attempted.",
	decision.TokenSignatureInvalid:    "Get a token from the issuer this route trusts; a token from another issuer, a tampered token, or an HMAC token signed with another secret all fail this way.",
	decision.TokenAudienceMismatch: "Request the token for an audience this route accepts: the route's jwt authenticator lists them in its audience setting (gatehouse config print shows it); " +
		"or, if this token's aud is right, add it to that audience list.",
	decision.TokenIssuerMismatch:    "Get the token from the issuer the route's jwt authenticator names in its issuer setting (with several authenticators on the route, one per issuer), or add an authenticator for this issuer.",
	decision.TokenAlgorithmRejected: "Sign with an algorithm in the route's jwt authenticator's algorithms setting, with a key of the matching type, or add the algorithm there if the issuer's keys support it.",
	decision.SchemeNotAccepted:      "Send a credential of a kind the route's authenticate list accepts (its WWW-Authenticate challenges name the schemes); an API key needs an api_key authenticator on the route.",
}

var checkGatehouse = check{"gatehouse_reason", checkGatehouseReason}

var gatehouseChecks = []check{checkGatehouse}

// parseProblem reads a problem+json body; it returns nil for anything else. The body is
// already bounded.
func parseProblem(r *Response) *Problem {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/problem+json" && mt != "application/json" {
		return nil
	}
	var p Problem
	if err := json.Unmarshal(r.Body, &p); err != nil || p.Reason == "" {
		return nil
	}
	return &p
}

// isGatehouse reports whether the server is a Gatehouse, from its fingerprints: a
// problem+json body with a Gatehouse reason (or its reasons' type URL) on any answer the
// doctor got, the credentialed one, the anonymous control or the preflight. Fixes then
// name Gatehouse's own configuration knobs.
func isGatehouse(f *Facts) bool {
	if f.Gatehouse != nil && isGatehouseReason(f.Gatehouse.Reason) {
		return true
	}
	for _, ex := range []*Exchange{f.Anon, f.Preflight, f.Final} {
		if ex == nil || ex.Resp == nil {
			continue
		}
		if p := parseProblem(ex.Resp); p != nil && (isGatehouseReason(p.Reason) || strings.Contains(p.Type, "gatehouse-dev/gatehouse")) {
			return true
		}
	}
	return false
}

// isGatehouseReason reports whether a problem's reason is one Gatehouse uses.
func isGatehouseReason(reason string) bool {
	if reason == "upstream_unavailable" || reason == "upstream_timeout" {
		return true
	}
	_, ok := gatehouseReason[decision.Reason(reason)]
	return ok
}

func checkGatehouseReason(f *Facts) *finding.Finding {
	p := f.Gatehouse
	if p == nil || !isGatehouseReason(p.Reason) {
		return nil
	}
	r := f.credResp()
	ev := []string{"Gatehouse reason: " + escape(p.Reason) + " (" + statusLine(r) + ")"}
	if p.Detail != "" {
		ev = append(ev, "detail: "+clip(escape(p.Detail), 300))
	}
	if desc, ok := bearerParam(r, "error_description"); ok && desc != p.Detail {
		ev = append(ev, "error_description: "+clip(escape(desc), 300))
	}
	rid := p.RequestID
	if rid == "" {
		rid = r.Header.Get("X-Request-Id")
	}
	explain := ""
	if rid != "" && validRequestID(rid) {
		ev = append(ev, "request id: "+rid)
		explain = " The gateway's operator can run: gatehouse explain " + rid + "."
	}
	if p.Reason == "upstream_unavailable" || p.Reason == "upstream_timeout" {
		return newFinding(CodeUpstreamUnavailable, scoreProof+3,
			"Gatehouse accepted the credential, but the API behind it did not answer: not an authentication problem.",
			"Retry later; operators should check the upstream the route points to."+explain, ev...)
	}
	reason := decision.Reason(p.Reason)
	code := gatehouseReason[reason]
	summary, fix := gatehouseSummary[reason], gatehouseFix[reason]
	c := f.primary()
	switch reason {
	case decision.CredentialsMissing:
		switch {
		case c == nil || strings.TrimSpace(c.Value) == "":
			code = "credential_missing_or_empty"
			fix = "Send a credential the route accepts" + wantsLine(r) + "."
		case strings.Contains(c.HeaderName, "_"):
			code = "underscore_header_dropped"
			summary = "Gatehouse received no credential: the " + escape(c.HeaderName) + " header (with an underscore) did not arrive or is not a header Gatehouse reads."
		case c.IsAuthorization():
			code = "cdn_or_proxy_drops_authorization"
			summary = "You sent Authorization, and Gatehouse received no credential: something between you and the gateway removed it."
		default:
			code = "api_key_wrong_place"
			summary = "Gatehouse found no credential where this route looks for one; the key went in " + escape(c.HeaderName) + "."
			fix = "Send the key in the header the route's api_key authenticator names (X-API-Key by default), or as Authorization: Bearer gk_..."
		}
		ev = append(ev, sentCredentialLine(f))
	case decision.CredentialsMalformed, decision.APIKeyInvalid, decision.CredentialsInvalid, decision.TokenSignatureInvalid:
		if lf := topLint(f); lf != nil {
			out := *lf
			out.Score = scoreProof + 3
			out.Severity = finding.Error
			out.Evidence = append(append([]string{}, ev...), lf.Evidence...)
			out.Fix += explain
			return &out
		}
		switch {
		case reason == decision.CredentialsMalformed && c != nil && len(c.Value) > 16<<10:
			code = "header_too_large"
			ev = append(ev, "the credential is "+itoa(len(c.Value))+" bytes; Gatehouse refuses any credential over 16 KiB unparsed")
		case reason == decision.CredentialsMalformed && f.Token != nil && f.Token.Decoded == nil && strings.HasPrefix(f.Token.Raw, "ey"):
			code = "truncated_or_masked_credential"
			ev = append(ev, "the token is "+tokenShape(f.Token))
		case reason == decision.CredentialsMalformed:
			code = "scheme_prefix_malformed"
			ev = append(ev, sentCredentialLine(f))
		case reason == decision.TokenSignatureInvalid:
			code = "jwt_signing_key_unknown"
		default:
			code = "credential_rejected_unknown"
		}
	}
	if code == "" {
		code = "credential_rejected_unknown"
	}
	if d := f.jwt(); d != nil && strings.HasPrefix(string(reason), "token_") {
		ev = append(ev, tokenSummaryLines(f)...)
	}
	if fix == "" {
		fix = defaultFix(code)
	}
	return newFinding(code, scoreProof+3, summary, fix+explain, ev...)
}

// validRequestID is the X-Request-Id shape of docs/design.md, section 2, so nothing odd is echoed.
func validRequestID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// topLint returns the strongest error-level lint finding, or nil.
func topLint(f *Facts) *finding.Finding {
	var best *finding.Finding
	for i := range f.Lint {
		l := &f.Lint[i]
		if l.Score < 60 {
			continue
		}
		if best == nil || l.Score > best.Score {
			best = l
		}
	}
	return best
}

// tokenSummaryLines gives the token's identifying claims with their times.
func tokenSummaryLines(f *Facts) []string {
	d := f.jwt()
	if d == nil {
		return nil
	}
	out := []string{"token: alg " + orMissing(d.HeaderString("alg")) + ", kid " + orMissing(d.HeaderString("kid")) +
		", iss " + orMissing(d.ClaimString("iss")) + ", aud " + orMissing(strings.Join(d.Audience(), " "))}
	for _, n := range []string{"exp", "nbf", "iat"} {
		if t, ok := d.Time(n); ok {
			out = append(out, tokenTimeLine(n, t, f.Clock))
		}
	}
	return out
}

// defaultFix is the fix text of the rule a Gatehouse reason maps to.
func defaultFix(code string) string {
	switch code {
	case "jwt_expired":
		return "Get a new token (refresh token or sign in again), and refresh before exp in long-running scripts."
	case "jwt_not_yet_valid_clock_skew":
		return "Sync the issuer's and the gateway's clocks with NTP; allow a small leeway for nbf and iat."
	case "jwt_signing_key_unknown":
		return "Get a token from the issuer this route trusts; if the issuer rotated keys, the gateway refetches its JWKS on an unknown kid within its minimum interval."
	case "jwt_alg_mismatch":
		return "Sign tokens with an algorithm in the authenticator's algorithms list, with a key whose type matches it."
	case "jwt_issuer_or_tenant_mismatch":
		return "Get the token from the issuer the authenticator names (issuer in the gateway config), in the right environment and tenant."
	case "jwt_audience_mismatch":
		return "Request the token for this API's audience (the authenticator's audience list)."
	case "wrong_environment_or_account_credential":
		return "Use a credential created for this deployment's environment (gatehouse keys create --env ENV)."
	case "mtls_client_certificate_missing":
		return "Present a client certificate issued by the CA the gateway trusts (curl --cert/--key)."
	case "proxy_auth_layer_conflict":
		return "Send exactly one credential: one Authorization header, or one API-key header, not both, and never the same credential twice."
	case "insufficient_scope_or_permission":
		return "Get a token (or key) with the scopes the route requires; scopes cannot be added to an existing token."
	case "rate_limit_disguised_as_auth":
		return "Wait for Retry-After, then fix the credential before retrying: failed attempts count against the budget."
	case "scheme_name_or_case_mismatch":
		return "Use a scheme the route accepts (see the WWW-Authenticate challenges it sends)."
	case "credential_rejected_unknown":
		return "Get a new credential."
	}
	return ""
}
