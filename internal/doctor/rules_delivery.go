package doctor

import (
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/challenge"
	"github.com/gatehouse-dev/gatehouse/internal/doctor/finding"
	"github.com/gatehouse-dev/gatehouse/internal/tokens"
)

// Group E: where the credential goes, and identity. credential_missing_or_empty (group D)
// also has a live half here: the request carried nothing, or the server says so.
var deliveryChecks = []check{
	{"credential_missing_or_empty", checkNothingSent},
	{"api_key_wrong_place", checkAPIKeyWrongPlace},
	{"netrc_overrides_authorization", checkNetrc},
	{"wrong_environment_or_account_credential", checkWrongEnvironment},
	{"proxy_auth_required_407", checkProxy407},
	{"scheme_name_or_case_mismatch", checkSchemeVariant},
}

// checkSchemeVariant turns a --retry-variants retry that worked into proof: the only
// change was the scheme's spelling, or the scheme the server offers.
func checkSchemeVariant(f *Facts) *finding.Finding {
	for _, v := range f.Variants {
		if !strings.HasPrefix(v.What, "scheme") || v.Ex.Resp == nil || v.Ex.Resp.Status/100 != 2 {
			continue
		}
		c := f.primary()
		return newFinding("scheme_name_or_case_mismatch", scoreProof+2,
			"The server accepts the same token with another scheme ("+strings.TrimPrefix(v.What, "scheme ")+"), and refuses it as "+escape(c.Scheme)+".",
			"Send the scheme exactly as the server expects it ("+strings.TrimPrefix(strings.TrimPrefix(v.What, "scheme spelled "), "scheme ")+
				" <token>). Scheme names are case-insensitive by RFC 9110, but this server compares them exactly.",
			"sent: "+sentCredentialLine(f)+" → "+statusLine(f.credResp()),
			"retry (same origin, --retry-variants) with "+v.What+" → "+statusLine(v.Ex.Resp))
	}
	return nil
}

func checkNothingSent(f *Facts) *finding.Finding {
	if !f.failed() || !isAuthFailure(f.credStatus()) {
		return nil
	}
	if len(f.Creds) == 0 {
		if signed, _ := isSignedRequest(f); signed {
			return nil // a pre-signed URL carries its credential in the query
		}
		ev := []string{"the request had no Authorization, Cookie, API-key header or key parameter"}
		if f.EnvVar != "" && !f.EnvFound {
			ev = append(ev, "--var "+escape(f.EnvVar)+" is not defined in the env file")
		}
		if r := f.credResp(); r != nil {
			ev = append(ev, "the server answered "+statusLine(r)+"; "+challengeLine(r))
		}
		return newFinding("credential_missing_or_empty", scoreProof,
			"No credential was sent.",
			"Add the credential the server asks for"+wantsLine(f.credResp())+". If it comes from a variable, check that the variable is set and exported in this shell.",
			ev...)
	}
	for _, c := range f.Creds {
		if strings.TrimSpace(c.Value) == "" || (c.Scheme != "" && strings.TrimSpace(c.Token) == "" && c.IsAuthorization()) {
			return newFinding("credential_missing_or_empty", scoreProof,
				"The credential header is empty.",
				"Set the credential's value; if it comes from a variable, it is empty or unset in this shell.",
				escape(c.HeaderName)+" is sent with nothing after "+cond(c.Scheme != "", "the scheme "+escape(c.Scheme), "the name")+" (from "+c.Source+")")
		}
	}
	return nil
}

// wantsLine names the schemes a response offers: " (Bearer, Basic)".
func wantsLine(r *Response) string {
	if r == nil || len(r.Challenges) == 0 {
		return ""
	}
	return " (" + schemesOf(r) + ")"
}

// keyHintRE finds the header a server says the key belongs in.
var keyHintRE = regexp.MustCompile(`(?i)\b(x-[a-z0-9-]*api-?key|x-[a-z0-9-]*-token|x-api-token|api-key|apikey|ocp-apim-subscription-key|x-goog-api-key)\b`)

// keyHeaderHint returns the header name a response names as the key's place, or "".
func keyHeaderHint(r *Response) string {
	if r == nil {
		return ""
	}
	for _, c := range r.Challenges {
		if v, ok := c.Param("header"); ok && v != "" {
			return v
		}
	}
	body := string(r.Body)
	for _, loc := range keyHintRE.FindAllStringIndex(body, 8) {
		lo, hi := loc[0]-40, loc[1]+40
		if lo < 0 {
			lo = 0
		}
		if hi > len(body) {
			hi = len(body)
		}
		if strings.Contains(strings.ToLower(body[lo:hi]), "header") {
			return body[loc[0]:loc[1]]
		}
	}
	return ""
}

// keyPrefixRE recognises common API-key shapes (not JWTs).
var keyPrefixRE = regexp.MustCompile(`^(gk_|sk_|pk_|rk_|key_|api_|AIza|xkeysib-|SG\.|ak_)`)

func checkAPIKeyWrongPlace(f *Facts) *finding.Finding {
	c := f.primary()
	r := f.credResp()
	if c == nil || r == nil || !isAuthFailure(r.Status) {
		return nil
	}
	hint := keyHeaderHint(r)
	hintHits := f.hits(sigAPIKeyHint, "response")
	ev := []string{sentCredentialLine(f)}
	ev = append(ev, hitEvidence(hintHits)...)
	score := 0
	where := "the header the API documents"
	switch {
	case hint != "" && !strings.EqualFold(hint, c.HeaderName):
		score = scoreStrong + 5
		where = hint
		ev = append(ev, "the server names "+escape(hint)+" as the key's header, but the key went in "+escape(c.HeaderName))
	case len(hintHits) > 0 && c.IsAuthorization() && !tokens.LooksLikeJWT(c.Token):
		score = scoreStrong - 10
		ev = append(ev, "the server says the API key is missing, though a non-JWT value was sent in Authorization")
	case c.IsAuthorization() && keyPrefixRE.MatchString(c.Token) && len(r.Challenges) > 0 && !hasScheme(r, c.Scheme):
		score = scoreLikely - 5
		ev = append(ev, "a key-shaped value went as "+escape(c.Scheme)+", but the server offers "+schemesOf(r))
	default:
		return nil
	}
	for _, v := range f.Variants {
		if strings.HasPrefix(v.What, "the key in ") && v.Ex.Resp != nil {
			ev = append(ev, "retry with "+v.What+": "+statusLine(v.Ex.Resp))
			if v.Ex.Resp.Status/100 == 2 {
				score = scoreProof + 2
			}
		}
	}
	return newFinding("api_key_wrong_place", score,
		"The API expects the key somewhere else ("+escape(where)+"), not in "+escape(c.HeaderName+cond(c.QueryParam != "", c.QueryParam, ""))+".",
		"Send the key where this API looks for it ("+escape(where)+": <key>, per its error message or OpenAPI "+
			"securitySchemes), not in Authorization: Bearer.",
		ev...)
}

func checkNetrc(f *Facts) *finding.Finding {
	c := f.primary()
	if !f.NetrcPresent || c == nil || !c.IsAuthorization() || strings.EqualFold(c.Scheme, "Basic") {
		return nil
	}
	if netrcRefused(f) {
		return newFinding("netrc_overrides_authorization", scoreProof-2,
			"Your Authorization header works, but Python requests and httpx replace it with the netrc entry for "+escape(f.Target.Hostname())+", which the server refuses.",
			"Remove the netrc entry for this host, pass auth= explicitly (requests: a custom auth class that sets your header; httpx: auth=None with the header), or set trust_env=False on the session.",
			"with your header as given: "+statusLine(f.LastCredentialed.Resp),
			"with the netrc entry in "+escape(f.NetrcPath)+" in its place (Basic, as requests and httpx send it; the entry is not shown): "+statusLine(f.NetrcProbe.Resp)+"; "+challengeLine(f.NetrcProbe.Resp))
	}
	return newFinding("netrc_overrides_authorization", scoreContributor-5,
		"A netrc file has an entry for "+escape(f.Target.Hostname())+": Python requests and httpx would replace your Authorization header with those credentials.",
		"If the failing client is Python requests or httpx, remove the netrc entry for this host, pass auth= "+
			"explicitly, or set trust_env=False on the session. Other clients (curl without --netrc, Go, browsers) "+
			"are not affected.",
		"a netrc entry for "+escape(f.Target.Hostname())+" exists in "+escape(f.NetrcPath)+" (its contents are not shown)",
		"the doctor itself does not read netrc, so it cannot tell whether your client did; a trace of your client showing Basic where you set "+escape(c.Scheme)+" would settle it")
}

// envWords maps host labels and key segments to an environment.
var envWords = map[string]string{
	"dev": "dev", "develop": "dev", "development": "dev", "local": "dev",
	"staging": "staging", "stage": "staging", "stg": "staging", "preprod": "staging", "uat": "staging", "qa": "staging",
	"test": "test", "testing": "test", "sandbox": "test",
	"prod": "live", "production": "live", "live": "live",
}

// hostEnv names the environment a host name states ("api.staging.example.com"), or "".
func hostEnv(host string) string {
	host = strings.ToLower(host)
	if net.ParseIP(host) != nil || host == "localhost" {
		return ""
	}
	for _, label := range strings.FieldsFunc(host, func(r rune) bool { return r == '.' || r == '-' }) {
		if e, ok := envWords[label]; ok {
			return e
		}
	}
	return ""
}

var gkKeyRE = regexp.MustCompile(`^gk_([a-z0-9]+)_`)
var vendorTestKeyRE = regexp.MustCompile(`^(sk|pk|rk)_(test|live)_`)

// credentialEnv names the environment a credential states, and how it says so.
func credentialEnv(f *Facts) (env, why string) {
	c := f.primary()
	if c == nil {
		return "", ""
	}
	tok := strings.TrimSpace(c.Token)
	if m := gkKeyRE.FindStringSubmatch(tok); m != nil {
		if e, ok := envWords[m[1]]; ok {
			return e, "the key's prefix gk_" + m[1] + "_ names the " + m[1] + " environment"
		}
		return m[1], "the key's prefix gk_" + m[1] + "_ names the " + m[1] + " environment"
	}
	if m := vendorTestKeyRE.FindStringSubmatch(tok); m != nil {
		return envWords[m[2]], "the key's prefix " + m[1] + "_" + m[2] + "_ marks a " + m[2] + "-mode key"
	}
	if f.Token != nil && f.Token.Decoded != nil {
		for _, claim := range []string{"iss"} {
			if u, err := url.Parse(f.Token.Decoded.ClaimString(claim)); err == nil {
				if e := hostEnv(u.Hostname()); e != "" {
					return e, "the token's " + claim + " " + escape(f.Token.Decoded.ClaimString(claim)) + " is a " + e + " host"
				}
			}
		}
		for _, a := range f.Token.Decoded.Audience() {
			if u, err := url.Parse(a); err == nil {
				if e := hostEnv(u.Hostname()); e != "" {
					return e, "the token's aud " + escape(a) + " is a " + e + " host"
				}
			}
		}
	}
	return "", ""
}

func checkWrongEnvironment(f *Facts) *finding.Finding {
	if !isAuthFailure(f.credStatus()) {
		return nil
	}
	credEnv, why := credentialEnv(f)
	targetEnv := hostEnv(f.Target.Hostname())
	words := f.hits(sigEnvWords, "response")
	mismatch := credEnv != "" && targetEnv != "" && credEnv != targetEnv
	// A host with no environment word is usually production.
	if credEnv != "" && credEnv != "live" && targetEnv == "" && hostEnv(f.Target.Hostname()) == "" &&
		net.ParseIP(f.Target.Hostname()) == nil && f.Target.Hostname() != "localhost" && strings.Contains(f.Target.Hostname(), ".") {
		mismatch, targetEnv = true, "live (no environment in the host name)"
	}
	var score int
	switch {
	case mismatch && len(words) > 0:
		score = scoreServerSaid - 4
	case mismatch:
		score = scoreStrong - 5
	case len(words) > 0:
		score = scoreLikely - 5
	default:
		return nil
	}
	ev := []string{}
	if why != "" {
		ev = append(ev, why)
	}
	if targetEnv != "" {
		ev = append(ev, "the target "+escape(f.Target.Host)+" is "+targetEnv)
	}
	ev = append(ev, hitEvidence(words)...)
	return newFinding("wrong_environment_or_account_credential", score,
		"The credential belongs to another environment than the API you are calling.",
		"Use the credential issued for this environment (or call the environment the credential belongs to). "+
			"Keep one set of variables per environment so a staging token cannot reach production.",
		ev...)
}

// proxyServerRE recognises forward proxies by their Server or Via header.
var proxyServerRE = regexp.MustCompile(`(?i)squid|tinyproxy|privoxy|polipo|ziproxy|mitmproxy|zscaler|bluecoat|blue coat|proxysg|mcafee web gateway|forcepoint|websense|ironport|cisco wsa|fortigate|sophos|kerio|ccproxy|wingate|trafficserver|ats/`)

// proxyBodyRE recognises a proxy's own authentication page.
var proxyBodyRE = regexp.MustCompile(`(?i)proxy authentication required|ERR_CACHE_ACCESS_DENIED|ERR_PROXY_AUTH|proxy[- ]authoriz`)

// proxyAnswered reports whether a 401 came from the forward proxy the exchange went
// through rather than from the API, and says why: some proxies answer 401 with their own
// challenge where RFC 9110 asks for 407.
func proxyAnswered(ex *Exchange) []string {
	if ex == nil || ex.Resp == nil || ex.Conn.Proxy == "" {
		return nil
	}
	r := ex.Resp
	var why []string
	strong := false
	if pa := r.Header.Values("Proxy-Authenticate"); len(pa) > 0 {
		strong = true
		why = append(why, "the 401 carries Proxy-Authenticate: "+clip(escape(toUTF8(strings.Join(pa, ", "))), 120)+", which only a proxy sends")
	}
	if v := r.Header.Get("X-Squid-Error"); v != "" {
		strong = strong || proxyBodyRE.MatchString(v)
		why = append(why, "X-Squid-Error: "+clip(escape(toUTF8(v)), 80)+" (Squid's own error)")
	}
	if loc := proxyBodyRE.FindIndex(r.Body); loc != nil {
		strong = true
		why = append(why, "the body is the proxy's page ("+clip(escape(toUTF8(string(r.Body[loc[0]:loc[1]]))), 60)+")")
	}
	if v := r.Header.Get("Server"); proxyServerRE.MatchString(v) {
		// A relayed answer keeps the API's Server header; the proxy's own carries its name.
		strong = strong || len(r.Header.Values("WWW-Authenticate")) == 0
		why = append(why, "Server: "+clip(escape(toUTF8(v)), 80)+" names the proxy")
	}
	if !strong {
		return nil
	}
	return why
}

func checkProxy407(f *Facts) *finding.Finding {
	var ev []string
	score := 0
	r := f.finalResp()
	summary := "Your outbound proxy wants authentication (407); the API was never asked."
	switch {
	case r != nil && r.Status == http.StatusUnauthorized && len(proxyAnswered(f.Final)) > 0:
		score = scoreProof + 2
		summary = "The 401 came from your outbound proxy (it answers 401 where 407 is meant), not from the API: the API was never asked."
		ev = append(ev, "the request went through the proxy "+f.Final.Conn.Proxy+" and the answer is "+statusLine(r))
		ev = append(ev, proxyAnswered(f.Final)...)
	case r != nil && r.Status == http.StatusProxyAuthRequired:
		score = scoreProof + 2
		ev = append(ev, "the answer is "+statusLine(r)+": it came from your outbound proxy, not from the API")
		if len(r.ProxyChallenges) > 0 {
			ev = append(ev, "Proxy-Authenticate: "+renderChallenges(r.ProxyChallenges))
		}
	default:
		for _, h := range f.Hops {
			if st := h.Ex.Conn.ProxyStatus; st == http.StatusProxyAuthRequired || st == http.StatusUnauthorized {
				score = scoreProof + 2
				ev = append(ev, "the proxy answered CONNECT with "+itoa(st)+" "+http.StatusText(st)+": the request never reached the API")
				if pa := h.Ex.Conn.ProxyHeader.Values("Proxy-Authenticate"); len(pa) > 0 {
					if cs, err := challenge.ParseChallenges(pa); err == nil {
						ev = append(ev, "Proxy-Authenticate: "+renderChallenges(cs))
					}
				}
				break
			} else if h.Ex.ErrKind == ErrProxy {
				score = scoreStrong - 5
				ev = append(ev, "the outbound proxy refused the connection: "+errText(h.Ex))
			}
		}
	}
	if score == 0 {
		return nil
	}
	if p := f.Proxy; p != nil {
		ev = append(ev, "proxy for "+f.Target.Scheme+" from "+cond(p.Var != "", p.Var, "the environment")+": "+p.URL+cond(p.ReadBy != "", " (read by "+p.ReadBy+")", ""))
		ev = append(ev, "the proxy URL "+cond(p.HasCredentials, "holds credentials", "holds no credentials")+
			cond(p.HasCredentials, cond(p.PercentEncoded, " (percent-encoded)", ""), ""))
		if p.NeedsEncoding {
			ev = append(ev, "its user or password holds a character that must be percent-encoded (@ # / ? % or a space), so clients misread the URL and send wrong proxy credentials")
		}
		if p.Bypassed {
			ev = append(ev, "NO_PROXY lists this host, yet a proxy answered: a system or transparent proxy is in the way")
		}
	}
	return newFinding("proxy_auth_required_407", score, summary,
		"Your outbound proxy needs its own credentials, not the API's: put them in the proxy URL "+
			"(HTTPS_PROXY=http://user:pass@proxy:port or --proxy, special characters percent-encoded; curl "+
			"--proxy-user), or exempt this host with NO_PROXY. The API's Authorization header never reaches a proxy "+
			"as its credential.",
		ev...)
}

func renderChallenges(cs []challenge.Challenge) string {
	var parts []string
	for _, c := range cs {
		parts = append(parts, escape(toUTF8(c.String())))
	}
	return strings.Join(parts, " | ")
}
