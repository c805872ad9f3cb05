package doctor

import (
	"net/http"
	"regexp"
	"strings"
	"unicode/utf8"
)

// fingerprint is one row of the P8 signature table (docs/doctor.md#server-fingerprints): a status,
// a header and a body pattern that together recognise a vendor's or a layer's answer.
// Code is either a rule's code (the rule turns the hit into a finding) or a signal name
// ("sig:...") that rules read as a fact about the server ("the edge is nginx").
type fingerprint struct {
	Code   string
	Name   string // what matched, in words, for the evidence
	Status []int  // any of these; empty means any status
	Header string // header that must be present (and match HeaderRE when set)
	HeadRE *regexp.Regexp
	BodyRE *regexp.Regexp
}

// FingerprintHit is a fingerprint that matched, where, and the text that matched.
type FingerprintHit struct {
	Code  string
	Name  string
	Where string // "response", "anonymous control", "preflight"
	Match string // escaped, at most 120 bytes
}

// Signals that are not rule codes.
const (
	sigApache       = "sig:apache"
	sigPHP          = "sig:php"
	sigNginx        = "sig:nginx"
	sigCDN          = "sig:cdn"
	sigCloudflare   = "sig:cloudflare"
	sigAPIGateway   = "sig:aws_apigw"
	sigIAP          = "sig:iap"
	sigNotProvided  = "sig:credentials_not_seen"
	sigSaysInvalid  = "sig:credentials_invalid"
	sigAPIKeyHint   = "sig:api_key_hint"
	sigEnvWords     = "sig:environment_words"
	sigEdgeNginx401 = "sig:nginx_401_page"
	sigEdgeApache   = "sig:apache_401_page"
	sigNginx500     = "sig:nginx_500_page"
	sigSignedReject = "sig:signed_request_rejected"
	sigRetryAfter   = "sig:retry_after"
)

func re(s string) *regexp.Regexp { return regexp.MustCompile(s) }

// algWords are what JWT libraries say when they refuse a token's alg: golang-jwt
// ("unexpected signing method", "signing method ... is invalid"), PyJWT and python-jose
// ("The specified alg value is not allowed"), jsonwebtoken ("invalid algorithm"), Auth0's
// java-jwt ("The provided Algorithm doesn't match"), jose4j and Nimbus ("not a permitted
// algorithm", "Signed JWT rejected: Another algorithm expected"), Spring
// ("Unsupported algorithm").
const algWords = `Algorithm \w+ is not supported|unexpected signing method|signing method \w* ?(is )?(invalid|unavailable)|` +
	`(invalid|unsupported|disallowed|unexpected|wrong) (signing |jwt |token )?alg(orithm)?\b|alg(orithm)? (value )?(is )?not (allowed|permitted|supported|accepted)|` +
	`specified alg value is not allowed|provided Algorithm doesn't match|not a permitted algorithm|Another algorithm expected`

var algWordsRE = re(`(?i)` + algWords)

// fingerprints is the table. Order matters only for the evidence's order.
var fingerprints = []fingerprint{
	// J. Cloud providers.
	{Code: "aws_apigw_route_not_found", Name: `API Gateway "Missing Authentication Token"`, Status: []int{403}, BodyRE: re(`"message"\s*:\s*"Missing Authentication Token"`)},
	{Code: "aws_apigw_iam_auth_expected", Name: "API Gateway reading Authorization as a SigV4 signature", BodyRE: re(`Authorization header requires '(Credential|Signature|SignedHeaders)' parameter|not a valid key=value pair \(missing equal-sign\) in Authorization header`)},
	{Code: sigSignedReject, Name: "a signed-request time error", BodyRE: re(`RequestTimeTooSkewed|Signature expired|Signature not yet current|InvalidSignatureException|Server failed to authenticate the request|AuthenticationFailed`)},
	{Code: sigAPIGateway, Name: "AWS API Gateway", Header: "X-Amzn-Requestid"},
	{Code: sigAPIGateway, Name: "AWS API Gateway", Header: "X-Amz-Apigw-Id"},
	{Code: sigIAP, Name: "Google IAP", Header: "X-Goog-Iap-Generated-Response"},
	// A. Redirect-related bodies.
	{Code: "auth_forwarded_to_presigned_url", Name: `storage "Only one auth mechanism allowed"`, BodyRE: re(`Only one auth mechanism allowed`)},
	{Code: "redirect_trailing_slash", Name: "Django APPEND_SLASH error", BodyRE: re(`URL doesn't end in a slash and you have APPEND_SLASH set`)},
	// F. Token errors stated by the server.
	{Code: "jwt_expired", Name: "error_description says the token expired", Header: "Www-Authenticate", HeadRE: re(`(?i)error_description="[^"]*expir`)},
	{Code: "jwt_expired", Name: "body says the token expired", Status: []int{401}, BodyRE: re(`(?i)\b(token|jwt)\b[^.]{0,40}\bexpired|IDX10223|TokenExpiredError|"exp" claim timestamp check failed|Jwt is expired`)},
	{Code: "jwt_audience_mismatch", Name: "the server names the audience", Header: "Www-Authenticate", HeadRE: re(`(?i)error_description="[^"]*audience`)},
	{Code: "jwt_audience_mismatch", Name: "body names the audience", Status: []int{401, 403}, BodyRE: re(`(?i)IDX10214|\baudience\b[^.]{0,60}\b(invalid|mismatch|not (valid|allowed|accepted))|(invalid|wrong|unexpected)\s+(aud|audience)\b|Audiences in Jwt are not allowed`)},
	{Code: "jwt_issuer_or_tenant_mismatch", Name: "the server names the issuer", Header: "Www-Authenticate", HeadRE: re(`(?i)error_description="[^"]*issuer`)},
	{Code: "jwt_issuer_or_tenant_mismatch", Name: "body names the issuer", Status: []int{401, 403}, BodyRE: re(`(?i)IDX10205|\bissuer\b[^.]{0,60}\b(invalid|mismatch|not (valid|allowed|trusted))|(invalid|wrong|unexpected)\s+(iss|issuer)\b|Jwt issuer is not configured`)},
	{Code: "jwt_signing_key_unknown", Name: "the server cannot find the signing key", BodyRE: re(`(?i)The signature key was not found|IDX10503|IDX10501|unknown kid|kid[^.]{0,30}not found|no matching (signing )?key|unable to find a signing key`)},
	{Code: "jwt_signing_key_unknown", Name: "error_description names the key", Header: "Www-Authenticate", HeadRE: re(`(?i)error_description="[^"]*(signature key|signing key|kid)`)},
	{Code: "jwt_alg_mismatch", Name: "the server rejects the algorithm", BodyRE: algWordsRE},
	{Code: "jwt_alg_mismatch", Name: "error_description names the algorithm", Header: "Www-Authenticate", HeadRE: re(`(?i)error_description="[^"]*(` + algWords + `)`)},
	{Code: "insufficient_scope_or_permission", Name: `error="insufficient_scope"`, Header: "Www-Authenticate", HeadRE: re(`(?i)error="?insufficient_scope`)},
	{Code: "insufficient_scope_or_permission", Name: "body names a missing scope", Status: []int{403, 404}, BodyRE: re(`Missing the '[^']{1,80}' scope|(?i)insufficient[_ ]scope|required scopes? (is|are) missing`)},
	{Code: "anonymous_principal_in_403", Name: "the server names an anonymous principal", Status: []int{401, 403}, BodyRE: re(`(?i)system:anonymous|\banonymousUser\b|(principal|user|identity|subject)\W{1,4}anonymous\b`)},
	// G. Sessions and CSRF.
	{Code: "csrf_token_missing", Name: "the server asks for a CSRF token", Status: []int{400, 403, 419, 422}, BodyRE: re(`(?i)CSRF Failed|CSRF token (missing|mismatch|incorrect|invalid)|Invalid CSRF Token|CSRF verification failed|InvalidAuthenticityToken|CSRF token has expired`)},
	{Code: "session_missing_or_expired", Name: "the server talks about a session", Status: []int{401, 403, 419, 440}, BodyRE: re(`(?i)session (has )?(expired|timed out|is invalid|not found)|(please |you must )?log ?in (again|first|required)|not logged in`)},
	// I. Not an authentication failure.
	{Code: "rate_limit_disguised_as_auth", Name: "X-RateLimit-Remaining: 0", Header: "X-Ratelimit-Remaining", HeadRE: re(`^\s*0\s*$`)},
	{Code: "rate_limit_disguised_as_auth", Name: "RateLimit-Remaining: 0", Header: "Ratelimit-Remaining", HeadRE: re(`^\s*0\s*$`)},
	{Code: "rate_limit_disguised_as_auth", Name: "RateLimit: r=0", Header: "Ratelimit", HeadRE: re(`(^|[;,\s])r=0\b`)},
	{Code: "rate_limit_disguised_as_auth", Name: "body mentions a rate limit", BodyRE: re(`(?i)API rate limit exceeded|secondary rate limit|rateLimitExceeded|rate[ -]limit(ed| exceeded)|too many (requests|failed)|quota exceeded`)},
	{Code: sigRetryAfter, Name: "Retry-After", Header: "Retry-After"},
	{Code: "waf_or_bot_block", Name: "cf-mitigated: challenge", Header: "Cf-Mitigated", HeadRE: re(`(?i)challenge|block`)},
	{Code: "waf_or_bot_block", Name: `"Sorry, you have been blocked"`, BodyRE: re(`Sorry, you have been blocked|Attention Required! \| Cloudflare|used Cloudflare to restrict access`)},
	{Code: "waf_or_bot_block", Name: "CloudFront/AWS WAF block page", Header: "X-Amz-Cf-Id", BodyRE: re(`(?i)Request blocked|The request could not be satisfied`)},
	{Code: "waf_or_bot_block", Name: "Imperva incident page", BodyRE: re(`Incapsula incident ID|_Incapsula_Resource`)},
	{Code: "waf_or_bot_block", Name: "F5 ASM rejection page", BodyRE: re(`The requested URL was rejected\. Please consult with your administrator`)},
	{Code: "waf_or_bot_block", Name: "Akamai reference page", Status: []int{403}, Header: "Server", HeadRE: re(`(?i)AkamaiGHost`), BodyRE: re(`Reference #`)},
	{Code: "waf_or_bot_block", Name: "ModSecurity/WAF page", Status: []int{403, 406}, BodyRE: re(`(?i)mod_security|blocked by (the )?(web application )?firewall|Web Application Firewall`)},
	{Code: "user_agent_required", Name: "the server asks for a User-Agent", Status: []int{400, 403}, BodyRE: re(`(?i)make sure your request has a User-Agent header|user[- ]agent (header )?(is )?(required|missing)`)},
	{Code: "api_key_restriction_blocked", Name: "Google API key restriction", Status: []int{400, 403}, BodyRE: re(`API_KEY_HTTP_REFERRER_BLOCKED|API_KEY_IP_ADDRESS_BLOCKED|API_KEY_ANDROID_APP_BLOCKED|API_KEY_IOS_APP_BLOCKED|API_KEY_SERVICE_BLOCKED|ipRefererBlocked|Requests from referer .{0,80} are blocked|(?i)this IP, site or mobile application is not authorized`)},
	// B. Intermediaries.
	{Code: "header_too_large", Name: "431 Request Header Fields Too Large", Status: []int{431}},
	{Code: "header_too_large", Name: `"Request Header Or Cookie Too Large"`, BodyRE: re(`Request Header Or Cookie Too Large|(?i)Size of a request header field exceeds server limit|request header (fields? )?too large|Request Header Too Large`)},
	{Code: "header_too_large", Name: `"upstream sent too big header"`, Status: []int{502}, BodyRE: re(`(?i)upstream sent too big header`)},
	{Code: "mtls_client_certificate_missing", Name: `"No required SSL certificate was sent"`, BodyRE: re(`No required SSL certificate was sent|(?i)SSL certificate error|client certificate (is )?required`)},
	{Code: "mtls_client_certificate_missing", Name: "nginx 495/496 certificate status", Status: []int{495, 496}},
	{Code: sigApache, Name: "Server: Apache", Header: "Server", HeadRE: re(`(?i)^Apache`)},
	{Code: sigPHP, Name: "X-Powered-By: PHP", Header: "X-Powered-By", HeadRE: re(`(?i)PHP`)},
	{Code: sigNginx, Name: "Server: nginx", Header: "Server", HeadRE: re(`(?i)^(nginx|openresty)`)},
	{Code: sigEdgeNginx401, Name: "nginx's own 401 page", Status: []int{401}, BodyRE: re(`<title>401 Authorization Required</title>`)},
	{Code: sigNginx500, Name: "nginx's own 500 page", Status: []int{500}, BodyRE: re(`<title>500 Internal Server Error</title>[\s\S]{0,200}<center>(nginx|openresty)`)},
	{Code: sigEdgeApache, Name: "Apache's own 401 page", Status: []int{401}, BodyRE: re(`This server could not verify that you\s+are authorized`)},
	{Code: sigCDN, Name: "Via", Header: "Via"},
	{Code: sigCDN, Name: "X-Amz-Cf-Id (CloudFront)", Header: "X-Amz-Cf-Id"},
	{Code: sigCDN, Name: "X-Cache", Header: "X-Cache"},
	{Code: sigCDN, Name: "X-Served-By (Fastly)", Header: "X-Served-By"},
	{Code: sigCDN, Name: "X-Azure-Ref (Front Door)", Header: "X-Azure-Ref"},
	{Code: sigCDN, Name: "Envoy", Header: "X-Envoy-Upstream-Service-Time"},
	{Code: sigCDN, Name: "Server: a proxy", Header: "Server", HeadRE: re(`(?i)cloudflare|envoy|traefik|awselb|AkamaiGHost|varnish|CloudFront|Caddy`)},
	{Code: sigCloudflare, Name: "cf-ray", Header: "Cf-Ray"},
	// E. Where the credential goes.
	{Code: sigNotProvided, Name: "the server says no credential arrived", BodyRE: re(`(?i)credentials were not provided|no (auth(entication|orization)?|credentials?|token|api key|bearer token) (header )?(was |were )?(provided|supplied|given|found|present)|missing (authorization|authentication|credentials|token|bearer|api key)|authorization header (is )?(missing|required|not found)|no authorization header|credentials_missing`)},
	{Code: sigSaysInvalid, Name: "the server says the credential is invalid", BodyRE: re(`(?i)bad credentials|invalid (token|credentials|api key|key|access token)|token (is )?invalid|unauthenticated|invalid_client|invalid_token`)},
	{Code: sigAPIKeyHint, Name: "the server says where the key goes", BodyRE: re(`(?i)(x-[a-z0-9-]*api-?key|api[-_ ]?key)\b.{0,40}\bheader|header\b.{0,40}\b(x-[a-z0-9-]*api-?key)|use \?key=|missing api[-_ ]?key|api[-_ ]?key (is )?(missing|required|not found)|no api[-_ ]?key`)},
	{Code: sigEnvWords, Name: "the server talks about environments", Status: []int{400, 401, 403}, BodyRE: re(`(?i)\b(test mode|live mode|sandbox|wrong environment|test key|live key)\b`)},
}

// matchFingerprints runs the table over the credentialed response and the control.
func matchFingerprints(f *Facts) []FingerprintHit {
	var hits []FingerprintHit
	if r := f.credResp(); r != nil {
		hits = append(hits, matchResponse(r, "response")...)
	}
	if f.Final != nil && f.Final.Resp != nil && f.Final.Resp != f.credResp() {
		hits = append(hits, matchResponse(f.Final.Resp, "final response")...)
	}
	if f.Anon != nil && f.Anon.Resp != nil {
		hits = append(hits, matchResponse(f.Anon.Resp, "anonymous control")...)
	}
	return hits
}

func matchResponse(r *Response, where string) []FingerprintHit {
	var hits []FingerprintHit
	body := r.Body
	for _, fp := range fingerprints {
		if len(fp.Status) > 0 && !containsInt(fp.Status, r.Status) {
			continue
		}
		match := ""
		if fp.Header != "" {
			vals := r.Header.Values(fp.Header)
			if len(vals) == 0 {
				continue
			}
			if fp.HeadRE != nil {
				found := false
				for _, v := range vals {
					if fp.HeadRE.MatchString(v) {
						found, match = true, fp.Header+": "+v
						break
					}
				}
				if !found {
					continue
				}
			} else {
				match = fp.Header + ": " + vals[0]
			}
		}
		if fp.BodyRE != nil {
			loc := fp.BodyRE.FindIndex(body)
			if loc == nil {
				continue
			}
			match = string(body[loc[0]:loc[1]])
		}
		if match == "" {
			match = http.StatusText(r.Status)
		}
		hits = append(hits, FingerprintHit{Code: fp.Code, Name: fp.Name, Where: where, Match: clip(escape(toUTF8(match)), 120)})
	}
	return hits
}

func containsInt(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// hits returns the fingerprint hits for code, optionally only from where.
func (f *Facts) hits(code string, where ...string) []FingerprintHit {
	var out []FingerprintHit
	for _, h := range f.Fingerprints {
		if h.Code != code {
			continue
		}
		if len(where) > 0 && !containsStr(where, h.Where) {
			continue
		}
		out = append(out, h)
	}
	return out
}

// hit reports whether code matched on the credentialed (or final) response.
func (f *Facts) hit(code string) bool { return len(f.hits(code, "response", "final response")) > 0 }

func containsStr(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// clip shortens s to at most n bytes on a rune boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

// toUTF8 returns s when it is valid UTF-8 and otherwise reads its bytes as ISO-8859-1,
// as docs/design.md, section 7 asks for header values.
func toUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteRune(rune(s[i]))
	}
	return b.String()
}

func (h FingerprintHit) evidence() string {
	return h.Where + ": " + h.Name + " (" + h.Match + ")"
}
