package doctor

import (
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/doctor/finding"
)

// Group C, judged from live responses (P3 and the request sent with Origin). The same
// codes from a HAR come from internal/doctor/har.
var corsChecks = []check{
	{"cors_preflight_requires_auth", corsCheck("cors_preflight_requires_auth")},
	{"cors_authorization_not_allowed", corsCheck("cors_authorization_not_allowed")},
	{"cors_credentials_misconfigured", corsCheck("cors_credentials_misconfigured")},
	{"www_authenticate_not_exposed", checkWWWAuthNotExposed},
}

type corsProblem struct {
	code string
	line string
}

// withCookies reports whether the request is credentialed in the CORS sense (it carries
// cookies, so fetch would need credentials: 'include').
func (f *Facts) withCookies() bool { return hasHeader(f.Sent, "Cookie") }

// listHas reports whether a comma-separated header list holds name, case-insensitively;
// "*" counts only when wildcardOK.
func listHas(list, name string, wildcardOK bool) bool {
	for _, v := range strings.Split(list, ",") {
		v = strings.TrimSpace(v)
		if strings.EqualFold(v, name) || (wildcardOK && v == "*") {
			return true
		}
	}
	return false
}

func orMissing(s string) string {
	if s == "" {
		return "(missing)"
	}
	return escape(s)
}

// corsTable renders requested against allowed values for one response.
func corsTable(f *Facts, label string, r *Response, preflight bool) []string {
	h := r.Header
	out := []string{label + " → " + statusLine(r)}
	out = append(out, "  origin:      requested "+f.Origin+", allowed (Access-Control-Allow-Origin) "+orMissing(h.Get("Access-Control-Allow-Origin")))
	if preflight {
		out = append(out, "  method:      requested "+f.Method+", allowed (Access-Control-Allow-Methods) "+orMissing(h.Get("Access-Control-Allow-Methods")))
		out = append(out, "  headers:     requested "+orMissing(strings.Join(f.RequestedHeaders, ","))+", allowed (Access-Control-Allow-Headers) "+orMissing(h.Get("Access-Control-Allow-Headers")))
	}
	if f.withCookies() {
		out = append(out, "  credentials: cookies sent, Access-Control-Allow-Credentials "+orMissing(h.Get("Access-Control-Allow-Credentials")))
	}
	return out
}

// corsProblems judges P3 and the actual response as a browser would; nil means a page on
// f.Origin could make the request and read the answer.
func corsProblems(f *Facts) []corsProblem {
	if f.Origin == "" {
		return nil
	}
	var out []corsProblem
	cookies := f.withCookies()
	if f.preflightNeeded() && f.Preflight != nil {
		pf := f.Preflight
		if pf.Resp == nil {
			out = append(out, corsProblem{"cors_preflight_requires_auth", "the preflight OPTIONS got no answer: " + errText(pf)})
		} else {
			r := pf.Resp
			acao := r.Header.Get("Access-Control-Allow-Origin")
			switch {
			case r.Status == 401 || r.Status == 403:
				out = append(out, corsProblem{"cors_preflight_requires_auth", "the preflight (which never carries credentials) was refused with " + statusLine(r)})
			case r.Status/100 != 2:
				out = append(out, corsProblem{"cors_preflight_requires_auth", "the preflight got " + statusLine(r) + "; browsers need a 2xx with CORS headers"})
			default:
				if acao == "" || (acao != "*" && acao != f.Origin) {
					out = append(out, corsProblem{"cors_authorization_not_allowed", "the preflight's Access-Control-Allow-Origin is " + orMissing(acao) + ", not " + f.Origin})
				} else if acao == "*" && cookies {
					out = append(out, corsProblem{"cors_credentials_misconfigured", "the preflight allows origin * but the request sends cookies, which needs the exact origin"})
				}
				for _, name := range f.RequestedHeaders {
					wild := !cookies && name != "authorization"
					if !listHas(r.Header.Get("Access-Control-Allow-Headers"), name, wild) {
						why := ""
						if name == "authorization" && listHas(r.Header.Get("Access-Control-Allow-Headers"), "*", true) {
							why = " (a * wildcard does not cover Authorization)"
						}
						out = append(out, corsProblem{"cors_authorization_not_allowed", "Access-Control-Allow-Headers does not list " + name + why})
					}
				}
				switch f.Method {
				case "GET", "HEAD", "POST":
				default:
					if !listHas(r.Header.Get("Access-Control-Allow-Methods"), f.Method, !cookies) {
						out = append(out, corsProblem{"cors_authorization_not_allowed", "Access-Control-Allow-Methods does not list " + f.Method})
					}
				}
				if cookies && !strings.EqualFold(strings.TrimSpace(r.Header.Get("Access-Control-Allow-Credentials")), "true") {
					out = append(out, corsProblem{"cors_credentials_misconfigured", "the preflight lacks Access-Control-Allow-Credentials: true"})
				}
			}
		}
	}
	if r := f.credResp(); r != nil && f.LastCredentialed != nil && hasHeader(f.LastCredentialed.Sent, "Origin") {
		acao := r.Header.Get("Access-Control-Allow-Origin")
		switch {
		case acao == "" || (acao != "*" && acao != f.Origin):
			code := "cors_authorization_not_allowed"
			if cookies {
				code = "cors_credentials_misconfigured"
			}
			out = append(out, corsProblem{code, "the response itself has Access-Control-Allow-Origin " + orMissing(acao) + ", so the page cannot read it"})
		case acao == "*" && cookies:
			out = append(out, corsProblem{"cors_credentials_misconfigured", "the response allows origin *, which browsers refuse for a request with cookies"})
		case cookies && !strings.EqualFold(strings.TrimSpace(r.Header.Get("Access-Control-Allow-Credentials")), "true"):
			out = append(out, corsProblem{"cors_credentials_misconfigured", "the response lacks Access-Control-Allow-Credentials: true, so the browser hides it from a request with cookies"})
		}
	}
	return out
}

var corsText = map[string][2]string{
	"cors_preflight_requires_auth": {
		"The CORS preflight is refused: the server authenticates OPTIONS, but browsers never attach credentials to a preflight.",
		"Browsers never send credentials with the CORS preflight. Answer OPTIONS before authentication runs " +
			"(204 with the CORS headers) and authenticate only the real request.",
	},
	"cors_authorization_not_allowed": {
		"A browser would block this request: the CORS answer does not allow this origin, method or the Authorization header.",
		"List Authorization explicitly in Access-Control-Allow-Headers (a * wildcard does not cover it), echo the " +
			"exact Origin in Access-Control-Allow-Origin on the preflight and on the response, and list the method in " +
			"Access-Control-Allow-Methods.",
	},
	"cors_credentials_misconfigured": {
		"A browser would not send or expose this cookie-authenticated request across origins: the CORS credentials settings are wrong.",
		"For cookie auth across origins the page must send credentials (fetch credentials: 'include', or " +
			"withCredentials) and the server must answer with the exact origin (never *) plus " +
			"Access-Control-Allow-Credentials: true, on the preflight and on the response.",
	},
}

func corsCheck(code string) func(*Facts) *finding.Finding {
	return func(f *Facts) *finding.Finding {
		var lines []string
		for _, p := range corsProblems(f) {
			if p.code == code {
				lines = append(lines, p.line)
			}
		}
		if len(lines) == 0 {
			return nil
		}
		var ev []string
		ev = append(ev, lines...)
		if f.Preflight != nil && f.Preflight.Resp != nil {
			ev = append(ev, corsTable(f, "preflight OPTIONS "+redactURL(f.Preflight.URL), f.Preflight.Resp, true)...)
		}
		if r := f.credResp(); r != nil && code != "cors_preflight_requires_auth" {
			ev = append(ev, corsTable(f, "response to "+f.Method, r, false)...)
		}
		score := scoreProof - 2
		if f.outcome().Authenticated {
			// The credential works; CORS is the whole problem.
			score = scoreProof
		}
		if code == "cors_preflight_requires_auth" {
			// The preflight is the browser's first step: when it fails nothing else matters.
			score += 2
			if r := f.credResp(); r != nil && r.Header.Get("Access-Control-Allow-Origin") == "" {
				ev = append(ev, "the actual response has no Access-Control-Allow-Origin for "+f.Origin+" either: if the server answers preflights only for the origins it allows (Gatehouse does), add "+f.Origin+" to its CORS allow-list")
			}
		}
		fix := corsText[code][1]
		if isGatehouse(f) && code != "cors_credentials_misconfigured" {
			// Gatehouse answers preflights itself, for the origins it allows, and lists
			// Authorization and the route's key headers: the allow-list is the knob.
			fix = "This server is a Gatehouse: it answers CORS preflights itself, without authentication, for the origins " +
				"its configuration allows. Add " + f.Origin + " to cors.allowed_origins in the gateway's configuration " +
				"(other request headers to cors.allowed_headers), then reload it."
		}
		return newFinding(code, score, corsText[code][0], fix, ev...)
	}
}

func checkWWWAuthNotExposed(f *Facts) *finding.Finding {
	r := f.credResp()
	if f.Origin == "" || r == nil || r.Status != 401 || len(r.Header.Values("WWW-Authenticate")) == 0 {
		return nil
	}
	acao := r.Header.Get("Access-Control-Allow-Origin")
	if acao == "" || (acao != "*" && acao != f.Origin) {
		return nil // the page cannot read anything; the CORS rules say so
	}
	aceh := r.Header.Get("Access-Control-Expose-Headers")
	if listHas(aceh, "WWW-Authenticate", !f.withCookies()) {
		return nil
	}
	ev := []string{challengeLine(r), "Access-Control-Expose-Headers: " + orMissing(aceh)}
	score := scoreContributor + 5
	summary := "The 401's WWW-Authenticate is not exposed to the page, so browser code cannot tell an expired token from other failures and never refreshes."
	if _, ok := bearerParam(r, "resource_metadata"); ok && len(f.Creds) == 0 {
		// A browser client that starts without a token (OAuth discovery, RFC 9728: an MCP
		// client, say) learns where to get one from this very challenge: hidden from it,
		// the flow cannot begin. That, not the missing token, is the cause.
		score = scoreProof + 1
		summary = "The page cannot read the 401's WWW-Authenticate, so a browser client cannot discover (RFC 9728 resource_metadata) where to get a token: the sign-in flow never starts."
		ev = append(ev, "no credential was sent, as a client that discovers its authorization server from the challenge does first; the challenge names resource_metadata, which the page cannot read")
	}
	return newFinding("www_authenticate_not_exposed", score, summary,
		"Add Access-Control-Expose-Headers: WWW-Authenticate (and any request-id header) to responses for "+
			"allowed origins, so the front end can read the reason and refresh the token.",
		ev...)
}
