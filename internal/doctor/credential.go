package doctor

import (
	"net/url"
	"regexp"
	"sort"
	"strings"
)

// credentialHeaderRE matches header names that carry a secret by convention: API keys,
// tokens, sessions, signatures. Authorization, Proxy-Authorization and Cookie are
// handled by name.
var credentialHeaderRE = regexp.MustCompile(`(?i)(api[-_]?key|apikey|token|auth|secret|session|passw|signature|subscription[-_]key|(^|[-_])key$)`)

// credentialQueryRE matches query parameters that carry a secret.
var credentialQueryRE = regexp.MustCompile(`(?i)^(api[-_]?key|apikey|key|access[-_]?token|token|auth|authorization|sig|signature|x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature|x-goog-credential|client[-_]secret|password|passwd|secret|session|sessionid|code)$`)

// isSecretHeader reports whether a header's value must be redacted and withheld from
// origins the user did not name.
func isSecretHeader(name string) bool {
	switch strings.ToLower(name) {
	case "authorization", "proxy-authorization", "cookie", "set-cookie":
		return true
	case "x-csrftoken", "x-csrf-token", "x-xsrf-token":
		return true
	}
	return credentialHeaderRE.MatchString(name)
}

// safeAnonymousHeaders are the only user headers sent on an anonymous request: none of
// them can carry a secret.
var safeAnonymousHeaders = map[string]bool{
	"accept": true, "accept-language": true, "content-type": true, "user-agent": true,
	"cache-control": true, "pragma": true, "origin": true,
}

// anonymousHeaders returns hdrs without anything that could identify the user.
func anonymousHeaders(hdrs []Header) []Header {
	var out []Header
	for _, h := range hdrs {
		if safeAnonymousHeaders[strings.ToLower(h.Name)] {
			out = append(out, h)
		}
	}
	return out
}

// withoutCredentials returns hdrs without the credential headers but with every other
// header the user set: the P2 control must differ from P1 only in the credential.
func withoutCredentials(hdrs []Header) []Header {
	var out []Header
	for _, h := range hdrs {
		if !isSecretHeader(h.Name) {
			out = append(out, h)
		}
	}
	return out
}

// stripQueryCredentials removes secret-looking query parameters; changed says whether
// any was there.
func stripQueryCredentials(u *url.URL) (out *url.URL, changed bool) {
	c := *u
	q := c.Query()
	for k := range q {
		if credentialQueryRE.MatchString(k) {
			q.Del(k)
			changed = true
		}
	}
	if changed {
		c.RawQuery = q.Encode()
	}
	return &c, changed
}

// findCredentials lists the credentials in a request, the most specific first:
// Authorization, then key-style headers, then the query, then cookies.
func findCredentials(hdrs []Header, u *url.URL, sources map[int]string) []Credential {
	var auth, keys, cookies []Credential
	for i, h := range hdrs {
		src := sources[i]
		if src == "" {
			src = "-H"
		}
		lname := strings.ToLower(h.Name)
		switch {
		case lname == "authorization" || lname == "proxy-authorization":
			c := Credential{Source: src, HeaderName: h.Name, Value: h.Value}
			c.Scheme, c.Token = splitScheme(h.Value)
			auth = append(auth, c)
		case lname == "cookie":
			cookies = append(cookies, Credential{Source: src, HeaderName: h.Name, Value: h.Value, Token: h.Value})
		case isSecretHeader(h.Name):
			c := Credential{Source: src, HeaderName: h.Name, Value: h.Value, Token: strings.TrimSpace(h.Value)}
			// Some key headers take a scheme ("X-Auth: Token abc"); keep the value whole.
			keys = append(keys, c)
		}
	}
	var query []Credential
	if u != nil {
		q := u.Query()
		names := make([]string, 0, len(q))
		for k := range q {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			if credentialQueryRE.MatchString(k) && !strings.HasPrefix(strings.ToLower(k), "x-amz-") && !strings.HasPrefix(strings.ToLower(k), "x-goog-") {
				query = append(query, Credential{Source: "URL query", QueryParam: k, Value: q.Get(k), Token: q.Get(k)})
			}
		}
	}
	// Proxy-Authorization is for the proxy; keep it after the origin's credentials.
	sort.SliceStable(auth, func(i, j int) bool {
		return strings.EqualFold(auth[i].HeaderName, "Authorization") && !strings.EqualFold(auth[j].HeaderName, "Authorization")
	})
	out := append(auth, keys...)
	out = append(out, query...)
	return append(out, cookies...)
}

// splitScheme splits "Bearer abc" into the scheme and the rest. A value that is one word
// has no scheme ("abc" gives "", "abc"); leading spaces are kept in the token so lint can
// report them.
func splitScheme(v string) (scheme, rest string) {
	t := strings.TrimLeft(v, " \t")
	i := strings.IndexAny(t, " \t")
	if i < 0 {
		if knownSchemes[strings.ToLower(t)] {
			return t, ""
		}
		return "", v
	}
	return t[:i], strings.TrimLeft(t[i:], " \t")
}

// knownSchemes are auth-schemes recognised when a value has nothing after the scheme.
var knownSchemes = map[string]bool{
	"bearer": true, "basic": true, "digest": true, "token": true, "ntlm": true, "negotiate": true,
	"apikey": true, "api-key": true, "dpop": true, "mac": true, "hoba": true, "mutual": true,
	"aws4-hmac-sha256": true, "sharedkey": true, "jwt": true,
}

// redactHeaderValue renders a header value for output: secrets reduced to lint.Redact's
// form (keeping an Authorization scheme readable), everything else with control
// characters escaped.
func redactHeaderValue(name, value string) string {
	lname := strings.ToLower(name)
	switch {
	case lname == "authorization" || lname == "proxy-authorization":
		scheme, rest := splitScheme(value)
		if scheme != "" && isPrintableToken(scheme) && (rest != "" || knownSchemes[strings.ToLower(scheme)]) {
			return escape(scheme) + " " + redact(rest)
		}
		return redact(value)
	case lname == "cookie":
		return redactCookies(value)
	case lname == "set-cookie":
		return redactSetCookie(value)
	case isSecretHeader(name):
		return redact(value)
	}
	return escape(value)
}

func isPrintableToken(s string) bool { return schemeWordRE.MatchString(s) }

// schemeWordRE is what an auth-scheme shown in clear may look like; anything else (a
// bare secret followed by a space, say) is redacted whole.
var schemeWordRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,19}$`)

// redactCookies keeps cookie names and redacts their values: "sessionid=(32 bytes, ...)".
func redactCookies(v string) string {
	parts := strings.Split(v, ";")
	for i, p := range parts {
		name, val, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok {
			parts[i] = " " + redact(strings.TrimSpace(p))
			continue
		}
		parts[i] = " " + escape(name) + "=" + redact(val)
	}
	return strings.TrimSpace(strings.Join(parts, ";"))
}

// redactSetCookie keeps the cookie's name and attributes and redacts its value.
func redactSetCookie(v string) string {
	first, attrs, _ := strings.Cut(v, ";")
	name, val, ok := strings.Cut(first, "=")
	if !ok {
		return redact(v)
	}
	out := escape(strings.TrimSpace(name)) + "=" + redact(val)
	if attrs != "" {
		out += ";" + escape(attrs)
	}
	return out
}

// redactURL renders a URL with secret query parameters and userinfo redacted.
func redactURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := *u
	if c.User != nil {
		c.User = url.User("REDACTED")
	}
	if c.RawQuery != "" {
		q := c.Query()
		changed := false
		for k := range q {
			if credentialQueryRE.MatchString(k) {
				changed = true
			}
		}
		if changed {
			// Keep the parameters' order as sent.
			var parts []string
			for _, kv := range strings.Split(u.RawQuery, "&") {
				k, v, _ := strings.Cut(kv, "=")
				dk, err := url.QueryUnescape(k)
				if err == nil && credentialQueryRE.MatchString(dk) {
					dv, err := url.QueryUnescape(v)
					if err != nil {
						dv = v
					}
					// The scrubber's mark, so the value reads the same everywhere.
					parts = append(parts, k+"="+markFor(dv))
					continue
				}
				parts = append(parts, kv)
			}
			c.RawQuery = strings.Join(parts, "&")
		}
	}
	return escape(c.String())
}

// redactRawURL parses and redacts; an unparseable value is redacted whole.
func redactRawURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return redact(raw)
	}
	return redactURL(u)
}
