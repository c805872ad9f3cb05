package har

import (
	"fmt"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/doctor/finding"
)

// Finding codes of docs/doctor.md#the-rule-catalogue, groups C and G.
const (
	CodePreflightRequiresAuth     = "cors_preflight_requires_auth"
	CodeAuthorizationNotAllowed   = "cors_authorization_not_allowed"
	CodeCredentialsMisconfigured  = "cors_credentials_misconfigured"
	CodeCookieBlocked             = "cookie_blocked_by_attributes"
	CodeNoCORSMode                = "fetch_no_cors_mode"
	CodeWWWAuthenticateNotExposed = "www_authenticate_not_exposed"
	CodeCredentialsRedacted       = "har_credentials_redacted"
	CodeCSRFTokenMissing          = "csrf_token_missing"
	CodeSessionMissingOrExpired   = "session_missing_or_expired"
)

// safelisted are request headers a browser never asks permission for (Fetch standard
// CORS-safelisted request headers; Content-Type only with form or text values, which a
// browser then leaves out of Access-Control-Request-Headers anyway).
var safelisted = map[string]bool{"accept": true, "accept-language": true, "content-language": true}

// simpleMethods never need to be listed in Access-Control-Allow-Methods.
var simpleMethods = map[string]bool{"GET": true, "HEAD": true, "POST": true}

// EvaluatePreflight judges a CORS preflight response as a browser would, for a request
// from origin with the given method and request headers (as listed in
// Access-Control-Request-Headers) that carries no cookies. It returns
// cors_preflight_requires_auth when the preflight was answered 401/403, and
// cors_authorization_not_allowed when it was answered with another non-2xx status or
// when Access-Control-Allow-Origin, -Allow-Methods or -Allow-Headers do not admit the
// request ('*' never admits Authorization). Evidence is a requested-versus-allowed table.
// It returns nil when the browser would send the actual request.
func EvaluatePreflight(origin, method string, requestHeaders []string, status int, respHeaders []Header) []finding.Finding {
	return evaluatePreflight(origin, method, requestHeaders, false, status, respHeaders)
}

// EvaluateCredentialedPreflight is EvaluatePreflight for a request made with credentials
// (cookies; fetch credentials: 'include' or XHR withCredentials). Then '*' admits nothing
// and the response must also carry Access-Control-Allow-Credentials: true; failures of
// those two are reported as cors_credentials_misconfigured.
func EvaluateCredentialedPreflight(origin, method string, requestHeaders []string, status int, respHeaders []Header) []finding.Finding {
	return evaluatePreflight(origin, method, requestHeaders, true, status, respHeaders)
}

func evaluatePreflight(origin, method string, requestHeaders []string, credentialed bool, status int, resp []Header) []finding.Finding {
	method = strings.ToUpper(strings.TrimSpace(method))
	reqHeaders := normaliseList(requestHeaders)
	acao, hasACAO := headerValue(resp, "Access-Control-Allow-Origin")
	acam, _ := headerValue(resp, "Access-Control-Allow-Methods")
	acah, _ := headerValue(resp, "Access-Control-Allow-Headers")
	acac, _ := headerValue(resp, "Access-Control-Allow-Credentials")
	table := func(marks map[string]bool) []string {
		row := func(key, req, allowed string) string {
			mark := " "
			if marks[key] {
				mark = "✗"
			}
			return fmt.Sprintf("%s %-12s %-34s %s", mark, key, req, allowed)
		}
		rows := []string{
			fmt.Sprintf("  %-12s %-34s %s", "", "requested", "allowed by the preflight response"),
			row("status", "2xx", fmt.Sprint(status)),
			row("origin", orNone(origin), shown(acao, hasACAO)),
			row("method", orNone(method), orAbsent(acam)),
			row("headers", orNone(strings.Join(reqHeaders, ", ")), orAbsent(acah)),
		}
		if credentialed {
			rows = append(rows, row("credentials", "include", orAbsent(acac)))
		}
		return rows
	}

	if status == 401 || status == 403 {
		ev := append([]string{fmt.Sprintf("OPTIONS preflight answered %d; a browser never sends credentials on a preflight, so authentication can never succeed there", status)}, table(map[string]bool{"status": true})...)
		if ch, ok := headerValue(resp, "WWW-Authenticate"); ok {
			ev = append(ev, "the preflight response challenges: WWW-Authenticate: "+clip(ch, 200))
		}
		return []finding.Finding{{
			Code: CodePreflightRequiresAuth, Severity: finding.Error, Score: 90,
			Summary:  fmt.Sprintf("The server demands authentication on the CORS preflight (OPTIONS answered %d), which browsers always send without credentials.", status),
			Evidence: ev,
			Fix:      "Let OPTIONS requests through before authentication runs: answer the preflight with 204 and the CORS headers, and authenticate only the real request that follows.",
		}}
	}

	marks := map[string]bool{}
	var why []string
	if status < 200 || status > 299 {
		marks["status"] = true
		why = append(why, fmt.Sprintf("the preflight was answered %d; browsers require a 2xx status", status))
	}
	switch {
	case !hasACAO:
		marks["origin"] = true
		why = append(why, "Access-Control-Allow-Origin is missing")
	case strings.TrimSpace(acao) == "*":
		if credentialed {
			marks["origin"] = true
		}
	case !strings.EqualFold(strings.TrimRight(strings.TrimSpace(acao), "/"), strings.TrimRight(origin, "/")):
		marks["origin"] = true
		why = append(why, fmt.Sprintf("Access-Control-Allow-Origin is %q, not the page's origin %q", clip(acao, 100), origin))
	}
	allowedMethods := normaliseList(strings.Split(acam, ","))
	if method != "" && !simpleMethods[method] && !containsFold(allowedMethods, method) && !(containsFold(allowedMethods, "*") && !credentialed) {
		marks["method"] = true
		why = append(why, fmt.Sprintf("Access-Control-Allow-Methods does not list %s", method))
	}
	allowedHeaders := normaliseList(strings.Split(acah, ","))
	wildcard := containsFold(allowedHeaders, "*") && !credentialed
	var missing []string
	for _, h := range reqHeaders {
		if safelisted[h] || containsFold(allowedHeaders, h) {
			continue
		}
		if wildcard && h != "authorization" {
			continue
		}
		missing = append(missing, h)
	}
	if len(missing) > 0 {
		marks["headers"] = true
		note := ""
		if containsFold(missing, "authorization") && containsFold(allowedHeaders, "*") {
			note = " ('*' does not cover Authorization)"
		}
		why = append(why, fmt.Sprintf("Access-Control-Allow-Headers does not list %s%s", strings.Join(missing, ", "), note))
	}
	var out []finding.Finding
	if len(why) > 0 {
		ev := append(why, table(marks)...)
		out = append(out, finding.Finding{
			Code: CodeAuthorizationNotAllowed, Severity: finding.Error, Score: 88,
			Summary:  "The CORS preflight response does not allow this request, so the browser never sends it: " + why[0] + ".",
			Evidence: ev,
			Fix:      "In the preflight response, echo the exact Origin in Access-Control-Allow-Origin, list the method in Access-Control-Allow-Methods, and list Authorization explicitly in Access-Control-Allow-Headers (a '*' wildcard is not enough for it).",
		})
	}
	if credentialed {
		var cwhy []string
		if strings.TrimSpace(acao) == "*" {
			cwhy = append(cwhy, "Access-Control-Allow-Origin is '*', which browsers reject for a request with credentials")
		}
		if !strings.EqualFold(strings.TrimSpace(acac), "true") {
			marks["credentials"] = true
			cwhy = append(cwhy, "Access-Control-Allow-Credentials: true is missing")
		}
		if len(cwhy) > 0 {
			out = append(out, finding.Finding{
				Code: CodeCredentialsMisconfigured, Severity: finding.Error, Score: 85,
				Summary:  "The request carries cookies, but the preflight response does not allow credentials: " + cwhy[0] + ".",
				Evidence: append(cwhy, table(marks)...),
				Fix:      "For cookie authentication across origins the server must answer with the exact origin (not '*') and Access-Control-Allow-Credentials: true, and the page must send credentials ('include' / withCredentials).",
			})
		}
	}
	return out
}

// ExposeCheck reports www_authenticate_not_exposed when a cross-origin response from
// origin carries WWW-Authenticate that the page's script cannot read, because
// Access-Control-Expose-Headers does not list it ('*' counts only for requests without
// credentials, judged by the absence of Access-Control-Allow-Credentials: true). It
// returns nil when there is no such header, when origin is empty, or when
// Access-Control-Allow-Origin does not admit origin at all (the whole response is then
// unreadable, which EvaluatePreflight and the actual-response check report).
func ExposeCheck(origin string, status int, respHeaders []Header) *finding.Finding {
	if origin == "" {
		return nil
	}
	ch, ok := headerValue(respHeaders, "WWW-Authenticate")
	if !ok {
		return nil
	}
	acao, ok := headerValue(respHeaders, "Access-Control-Allow-Origin")
	acao = strings.TrimSpace(acao)
	if !ok || (acao != "*" && !strings.EqualFold(strings.TrimRight(acao, "/"), strings.TrimRight(origin, "/"))) {
		return nil
	}
	acac, _ := headerValue(respHeaders, "Access-Control-Allow-Credentials")
	credentialed := strings.EqualFold(strings.TrimSpace(acac), "true")
	var exposed []string
	for _, v := range headerValues(respHeaders, "Access-Control-Expose-Headers") {
		exposed = append(exposed, normaliseList(strings.Split(v, ","))...)
	}
	if containsFold(exposed, "www-authenticate") || (containsFold(exposed, "*") && !credentialed) {
		return nil
	}
	return &finding.Finding{
		Code: CodeWWWAuthenticateNotExposed, Severity: finding.Warning, Score: 45,
		Summary: fmt.Sprintf("The %d response's WWW-Authenticate header is hidden from the page's script, so the app cannot tell an expired token from other failures.", status),
		Evidence: []string{
			"WWW-Authenticate: " + clip(ch, 200),
			"Access-Control-Expose-Headers: " + orAbsent(strings.Join(exposed, ", ")),
			"browsers expose only the CORS-safelisted response headers unless Access-Control-Expose-Headers lists others",
		},
		Fix: "Add 'Access-Control-Expose-Headers: WWW-Authenticate' to the API's responses so the front end can read the reason and refresh the token.",
	}
}

func normaliseList(in []string) []string {
	var out []string
	for _, v := range in {
		for _, p := range strings.Split(v, ",") {
			if p = strings.ToLower(strings.TrimSpace(p)); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func containsFold(list []string, v string) bool {
	for _, x := range list {
		if strings.EqualFold(x, v) {
			return true
		}
	}
	return false
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func orAbsent(s string) string {
	if strings.TrimSpace(s) == "" {
		return "(absent)"
	}
	return clip(s, 120)
}

func shown(v string, ok bool) string {
	if !ok {
		return "(absent)"
	}
	return clip(v, 120)
}

// clip shortens a header value for evidence and escapes control characters.
func clip(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
