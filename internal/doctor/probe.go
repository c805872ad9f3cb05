package doctor

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/doctor/finding"
	"github.com/gatehouse-dev/gatehouse/internal/doctor/lint"
	"github.com/gatehouse-dev/gatehouse/internal/tokens"
)

// Run diagnoses one request: it lints the credential, sends the request and the probes
// of docs/doctor.md#what-it-does, and returns the ranked report. The error is non-nil only
// for bad options (it wraps ErrUsage); a server that cannot be reached is a report whose
// Unreachable field says why.
func Run(ctx context.Context, o Options) (*Report, error) {
	opts := o.withDefaults()
	f, err := prepare(opts)
	if err != nil {
		return nil, err
	}
	p, err := newProber(opts)
	if err != nil {
		return nil, err
	}
	defer p.close()
	probeAll(ctx, p, opts, f)
	return judge(f), nil
}

// prepare checks the options and builds the request and the P0 facts; nothing is sent.
func prepare(o Options) (*Facts, error) {
	target, err := parseTarget("URL", o.URL)
	if err != nil {
		return nil, err
	}
	if target.User != nil {
		return nil, usageErr("URL holds a user name or password; pass it with -u instead")
	}
	method := strings.ToUpper(strings.TrimSpace(o.Method))
	if method == "" || strings.ContainsAny(method, " \t\r\n:/") {
		return nil, usageErr("-X needs an HTTP method such as GET or POST")
	}
	if o.EnvVar != "" && o.EnvFile == "" || o.EnvFile != "" && o.EnvVar == "" {
		return nil, usageErr("--env-file and --var go together")
	}
	f := &Facts{
		Target:         target,
		Method:         method,
		Body:           o.Body,
		HasBody:        o.HasBody,
		ExpectIssuer:   o.ExpectIssuer,
		ExpectAudience: o.ExpectAudience,
		Named:          &namedOrigins{origins: []*url.URL{target}},
		UserAgent:      o.UserAgent,
	}
	f.Clock.Local = o.Now()
	if o.CompareURL != "" {
		cu, err := parseTarget("--compare-url", o.CompareURL)
		if err != nil {
			return nil, err
		}
		f.Named.origins = append(f.Named.origins, cu)
	}
	for _, h := range o.AllowHosts {
		h = strings.ToLower(strings.TrimSpace(h))
		if h == "" || strings.ContainsAny(h, "/ ") {
			return nil, usageErr("--allow-host takes a host name or host:port, not a URL")
		}
		f.Named.hosts = append(f.Named.hosts, h)
	}
	if o.Origin != "" {
		ou, err := parseTarget("--origin", o.Origin)
		if err != nil {
			return nil, err
		}
		f.Origin = originOf(ou)
	}

	// The request as the user gave it, with --env-file, -u, -d and --origin applied.
	envValue, envRef := "", false
	if o.EnvFile != "" {
		v, found, fs, err := lintReadEnv(o.EnvFile, o.EnvVar)
		if err != nil {
			return nil, usageErr("--env-file: %v", err)
		}
		envValue, f.EnvVar, f.EnvFound = v, o.EnvVar, found
		f.EnvLint = fs
		f.Known = append(f.Known, v)
	}
	if o.HasUserPass {
		f.KnownPairs = append(f.KnownPairs, o.UserPass)
	}
	for _, name := range proxyVars {
		if pu, err := url.Parse(o.Getenv(name)); err == nil && pu.User != nil {
			if pass, ok := pu.User.Password(); ok {
				f.KnownPairs = append(f.KnownPairs, pu.User.Username()+":"+pass)
			}
		}
	}
	sources := map[int]string{}
	var emptyCreds []Credential
	for _, h := range o.Headers {
		name := strings.TrimSpace(h.Name)
		if name == "" {
			return nil, usageErr("-H needs 'Name: value'")
		}
		v := h.Value
		src := "-H"
		if f.EnvVar != "" && (strings.Contains(v, "$"+f.EnvVar) || strings.Contains(v, "${"+f.EnvVar+"}")) {
			v = strings.ReplaceAll(v, "${"+f.EnvVar+"}", envValue)
			v = replaceVar(v, f.EnvVar, envValue)
			src, envRef = "--env-file "+o.EnvFile+" ("+f.EnvVar+")", true
		}
		if v == "" && !strings.EqualFold(name, "User-Agent") {
			// curl drops a header given without a value; a credential header that ended up
			// empty is still what the user meant to send, so lint sees it.
			if isSecretHeader(name) {
				emptyCreds = append(emptyCreds, Credential{Source: src, HeaderName: name})
			}
			continue
		}
		if src != "-H" {
			sources[len(f.Sent)] = src
		}
		f.Sent = append(f.Sent, Header{Name: name, Value: v})
	}
	hasAuth := hasHeader(f.Sent, "Authorization")
	if f.EnvVar != "" && !envRef && !hasAuth {
		sources[len(f.Sent)] = "--env-file " + o.EnvFile + " (" + f.EnvVar + ")"
		f.Sent = append(f.Sent, Header{Name: "Authorization", Value: "Bearer " + envValue})
		hasAuth = true
	}
	if o.HasUserPass && !hasAuth {
		user, pass, ok := strings.Cut(o.UserPass, ":")
		if !ok {
			pass = ""
		}
		sources[len(f.Sent)] = "-u"
		f.Sent = append(f.Sent, Header{Name: "Authorization", Value: "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))})
	}
	if o.HasBody && !hasHeader(f.Sent, "Content-Type") {
		f.Sent = append(f.Sent, Header{Name: "Content-Type", Value: "application/x-www-form-urlencoded"})
	}
	if f.Origin != "" && !hasHeader(f.Sent, "Origin") {
		f.Sent = append(f.Sent, Header{Name: "Origin", Value: f.Origin})
	}
	f.Creds = findCredentials(f.Sent, target, sources)
	f.Creds = append(f.Creds, emptyCreds...)
	f.RequestedHeaders = requestedHeaders(f.Sent)

	// P0: lint every credential before anything is sent.
	f.Lint = append(f.Lint, lintAll(f, nil, "")...)
	f.NetrcPresent, f.NetrcPath = lintNetrc(target.Hostname(), o.Getenv)
	f.Proxy = lintProxy(target, o.Getenv)
	if o.Proxy != "" {
		// --proxy replaces the variables, for every scheme, with no NO_PROXY.
		pu, err := parseProxyFlag(o.Proxy)
		if err != nil {
			return nil, err
		}
		if pu.User != nil {
			if pass, ok := pu.User.Password(); ok {
				f.KnownPairs = append(f.KnownPairs, pu.User.Username()+":"+pass)
			}
		}
		f.Proxy = lintProxy(target, func(k string) string {
			if strings.EqualFold(k, "HTTP_PROXY") || strings.EqualFold(k, "HTTPS_PROXY") {
				return pu.String()
			}
			return ""
		})
		if f.Proxy == nil {
			f.Proxy = &ProxyFacts{URL: pu.Redacted(), HasCredentials: pu.User != nil}
		}
		f.Proxy.Var, f.Proxy.ReadBy, f.Proxy.Bypassed = "--proxy", "", false
	}
	return f, nil
}

// proxyVars are the environment variables whose proxy URL may hold a password.
var proxyVars = []string{"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"}

// replaceVar replaces $NAME when it is not followed by another name character.
func replaceVar(v, name, value string) string {
	var b strings.Builder
	for {
		i := strings.Index(v, "$"+name)
		if i < 0 {
			b.WriteString(v)
			return b.String()
		}
		end := i + 1 + len(name)
		if end < len(v) && isNameByte(v[end]) {
			b.WriteString(v[:end])
			v = v[end:]
			continue
		}
		b.WriteString(v[:i])
		b.WriteString(value)
		v = v[end:]
	}
}

func isNameByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func hasHeader(hs []Header, name string) bool {
	for _, h := range hs {
		if strings.EqualFold(h.Name, name) {
			return true
		}
	}
	return false
}

func headerValue(hs []Header, name string) string {
	for _, h := range hs {
		if strings.EqualFold(h.Name, name) {
			return h.Value
		}
	}
	return ""
}

// lintAll runs lint on every credential; schemes and charset come from the server's
// challenges once they are known.
func lintAll(f *Facts, schemes []string, charset string) []finding.Finding {
	tokenEndpoint := f.HasBody && strings.Contains(f.Body, "grant_type=")
	if len(f.Creds) == 0 {
		return nil // checkNothingSent speaks to a request without any credential
	}
	var out []finding.Finding
	for _, c := range f.Creds {
		name := c.HeaderName
		if name == "" {
			name = c.QueryParam
		}
		out = append(out, lintCredential(lintInput{
			HeaderName:    name,
			Value:         c.Value,
			Source:        c.Source,
			TargetHost:    f.Target.Hostname(),
			ServerSchemes: schemes,
			TokenEndpoint: tokenEndpoint,
			BasicCharset:  charset,
		})...)
	}
	return out
}

// requestedHeaders is what a browser would put in Access-Control-Request-Headers for
// this request: the non-safelisted header names, lower-cased and sorted.
func requestedHeaders(hs []Header) []string {
	seen := map[string]bool{}
	var out []string
	for _, h := range hs {
		n := strings.ToLower(h.Name)
		switch n {
		case "cookie", "origin", "host", "user-agent", "content-length", "referer", "connection",
			"accept", "accept-language", "content-language":
			continue
		case "content-type":
			mt, _, _ := strings.Cut(strings.ToLower(h.Value), ";")
			switch strings.TrimSpace(mt) {
			case "application/x-www-form-urlencoded", "multipart/form-data", "text/plain":
				continue
			}
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// preflightNeeded reports whether a browser would send a preflight for this request.
func (f *Facts) preflightNeeded() bool {
	switch f.Method {
	case "GET", "HEAD", "POST":
		return len(f.RequestedHeaders) > 0
	}
	return true
}

// probeAll runs P1 to P8 in order.
func probeAll(ctx context.Context, p *prober, o Options, f *Facts) {
	if o.ChallengeFirst != "" && len(f.Creds) > 0 {
		// A client that waits for a challenge sends this first, to the named origin.
		u, _ := stripQueryCredentials(f.Target)
		f.ChallengeFirst = o.ChallengeFirst
		f.ChallengeProbe = p.send(ctx, "challenge", f.Method, u, withoutCredentials(f.Sent), f.Body, f.HasBody, false)
	}
	walk(ctx, p, o, f)
	if ctx.Err() != nil {
		return
	}
	anonymousControl(ctx, p, f)
	netrcProbe(ctx, p, o, f)
	if f.Origin != "" && f.preflightNeeded() {
		preflight(ctx, p, f)
	}
	if o.CompareURL != "" {
		compare(ctx, p, o, f)
	}
	observe(f)
	tokenForensics(ctx, p, o, f)
	resourceMetadata(ctx, p, o, f)
	identityProbes(ctx, p, f)
	if o.RetryVariants {
		variants(ctx, p, f)
	}
}

// observe derives the facts that need no further request: clocks (P5), the relint with
// the server's schemes, fingerprints (P8) and a Gatehouse problem body.
func observe(f *Facts) {
	ex := f.LastCredentialed
	if ex == nil || ex.Resp == nil {
		ex = f.Final
	}
	if ex != nil && ex.Resp != nil {
		f.Clock.Local = ex.At
		if d, err := http.ParseTime(ex.Resp.Header.Get("Date")); err == nil {
			f.Clock.Server, f.Clock.HaveServer = d.UTC(), true
			f.Clock.Skew = f.Clock.Server.Sub(f.Clock.Local)
		}
	}
	if r := f.credResp(); r != nil {
		var schemes []string
		charset := ""
		for _, c := range r.Challenges {
			schemes = append(schemes, c.Scheme)
			if strings.EqualFold(c.Scheme, "Basic") {
				if cs, ok := c.Param("charset"); ok {
					charset = cs
				}
			}
		}
		if len(schemes) > 0 || charset != "" {
			f.Lint = relint(f, schemes, charset)
		}
		f.Gatehouse = parseProblem(r)
	}
	f.Fingerprints = matchFingerprints(f)
}

// relint replaces the credential findings with ones that know the server's schemes.
func relint(f *Facts, schemes []string, charset string) []finding.Finding {
	return lintAll(f, schemes, charset)
}

func containsCode(fs []finding.Finding, code string) bool {
	for _, f := range fs {
		if f.Code == code {
			return true
		}
	}
	return false
}

// walk is P1: the request as given, each redirect followed by hand.
func walk(ctx context.Context, p *prober, o Options, f *Facts) {
	cur := f.Target
	method, body, hasBody := f.Method, f.Body, f.HasBody
	credentialed := true
	keeps := allKeep
	seen := map[string]int{}
	for i := 0; i < maxHops; i++ {
		hdrs := f.Sent
		if !credentialed {
			hdrs = anonymousHeaders(f.Sent)
		}
		ex := p.send(ctx, "P1", method, cur, hdrs, body, hasBody, credentialed && len(f.Creds) > 0)
		hop := &Hop{Ex: ex}
		f.Hops = append(f.Hops, hop)
		f.Final = ex
		if ex.Resp != nil && ex.CredentialSent {
			f.LastCredentialed = ex
		}
		if ex.Resp == nil || !isRedirect(ex.Resp.Status) {
			return
		}
		loc := ex.Resp.Location()
		if loc == "" {
			hop.Follow, hop.FollowWhy = "no", "the redirect has no Location header"
			return
		}
		hop.Location = loc
		next, err := cur.Parse(loc)
		if err != nil || (next.Scheme != "http" && next.Scheme != "https") {
			hop.Follow, hop.FollowWhy = "no", "the Location is not an http(s) URL"
			return
		}
		hop.Next = next
		hop.Change = classify(cur, next)
		keeps = nextKeeps(keeps, f.Target, cur, next)
		hop.Keeps = keeps
		nm := redirectMethod(ex.Resp.Status, method)
		if nm != method {
			hasBody, body = false, ""
		}
		key := nm + " " + next.String()
		seen[key]++
		switch {
		case seen[key] > 2:
			hop.Follow, hop.FollowWhy, hop.Stop = "no", "redirect loop", StopLoop
			return
		case i == maxHops-1:
			hop.Follow, hop.FollowWhy, hop.Stop = "no", "more than 10 redirects", StopLimit
			return
		case credentialed && f.Named.allows(next):
			hop.Follow = "credential"
		case nm == "GET" || nm == "HEAD":
			credentialed = false
			// A server that copies the query into Location would otherwise hand the
			// user's key to the other origin.
			next = withoutSecretValues(next, f.Creds)
			hop.Follow = "anonymous"
			hop.FollowWhy = "the credential is never sent to an origin you did not name (--allow-host " + next.Hostname() + " allows it)"
			hasBody, body = false, ""
		default:
			hop.Follow = "no"
			hop.FollowWhy = "following a " + nm + " to an origin you did not name would send it the request body"
			return
		}
		method, cur = nm, next
	}
}

// withoutSecretValues removes query parameters that carry one of the user's secrets.
func withoutSecretValues(u *url.URL, creds []Credential) *url.URL {
	if u.RawQuery == "" {
		return u
	}
	q := u.Query()
	changed := false
	for k, vs := range q {
		for _, v := range vs {
			for _, c := range creds {
				tok := strings.TrimSpace(c.Token)
				if v != "" && (v == c.Value || (len(tok) >= 8 && strings.Contains(v, tok))) {
					q.Del(k)
					changed = true
				}
			}
		}
	}
	if !changed {
		return u
	}
	c := *u
	c.RawQuery = q.Encode()
	return &c
}

func isRedirect(status int) bool {
	switch status {
	case 301, 302, 303, 307, 308:
		return true
	}
	return false
}

// redirectMethod is the method Go (and browsers) use for the next request.
func redirectMethod(status int, method string) string {
	switch status {
	case 301, 302, 303:
		if method != "GET" && method != "HEAD" {
			return "GET"
		}
	}
	return method
}

// anonymousControl is P2: the same request to the same origin without the credential.
func anonymousControl(ctx context.Context, p *prober, f *Facts) {
	ex := f.LastCredentialed
	if len(f.Creds) == 0 || ex == nil || ex.Resp == nil || !f.Named.allows(ex.URL) {
		return
	}
	u, _ := stripQueryCredentials(ex.URL)
	body, hasBody := "", false
	if ex.Method == f.Method {
		body, hasBody = f.Body, f.HasBody
	}
	f.Anon = p.send(ctx, "P2", ex.Method, u, withoutCredentials(f.Sent), body, hasBody, false)
}

// netrcProbe sends the request once more as Python requests and httpx would when a
// netrc entry exists for the host: with that entry's credentials (Basic) replacing the
// Authorization header the user gave. It runs only when the request as given worked,
// since only then can the netrc entry be what fails for the user; it goes to the
// target's origin only, the host the entry is for.
func netrcProbe(ctx context.Context, p *prober, o Options, f *Facts) {
	c := f.primary()
	ex := f.LastCredentialed
	if !f.NetrcPresent || c == nil || !c.IsAuthorization() || strings.EqualFold(c.Scheme, "Basic") ||
		ex == nil || ex.Resp == nil || ex.Resp.Status/100 != 2 || !sameOrigin(ex.URL, f.Target) {
		return
	}
	login, pass, ok := lint.NetrcCredentials(f.Target.Hostname(), o.Getenv)
	if !ok {
		return
	}
	f.KnownPairs = append(f.KnownPairs, login+":"+pass)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(login+":"+pass))
	body, hasBody := "", false
	if ex.Method == f.Method {
		body, hasBody = f.Body, f.HasBody
	}
	f.NetrcProbe = p.send(ctx, "netrc", ex.Method, ex.URL, replaceHeader(f.Sent, "Authorization", basic), body, hasBody, true)
}

// preflight is P3: the OPTIONS a browser on f.Origin would send first.
func preflight(ctx context.Context, p *prober, f *Facts) {
	hdrs := []Header{
		{Name: "Origin", Value: f.Origin},
		{Name: "Access-Control-Request-Method", Value: f.Method},
	}
	if len(f.RequestedHeaders) > 0 {
		hdrs = append(hdrs, Header{Name: "Access-Control-Request-Headers", Value: strings.Join(f.RequestedHeaders, ",")})
	}
	if ua := headerValue(f.Sent, "User-Agent"); ua != "" {
		hdrs = append(hdrs, Header{Name: "User-Agent", Value: ua})
	}
	f.Preflight = p.send(ctx, "P3", "OPTIONS", f.Target, hdrs, "", false, false)
}

// compareTarget builds the --compare-url request URL: a base without a path gets the
// target's path and query.
func compareTarget(base, target *url.URL) *url.URL {
	u := *base
	if u.Path == "" || u.Path == "/" {
		u.Path, u.RawPath, u.RawQuery = target.Path, target.RawPath, target.RawQuery
	}
	return &u
}

func compare(ctx context.Context, p *prober, o Options, f *Facts) {
	base, err := url.Parse(o.CompareURL)
	if err != nil {
		return
	}
	u := compareTarget(base, f.Target)
	hdrs := f.Sent
	if f.Origin != "" {
		hdrs = withoutHeader(hdrs, "Origin")
	}
	f.Compare = p.send(ctx, "compare", f.Method, u, hdrs, f.Body, f.HasBody, len(f.Creds) > 0)
}

func withoutHeader(hs []Header, name string) []Header {
	var out []Header
	for _, h := range hs {
		if !strings.EqualFold(h.Name, name) {
			out = append(out, h)
		}
	}
	return out
}

// tokenForensics is P6: decode the credential's token, and with --fetch-jwks read the
// issuer's discovery document and key set.
func tokenForensics(ctx context.Context, p *prober, o Options, f *Facts) {
	f.Token = decodeToken(f)
	if f.Token == nil || f.Token.Decoded == nil {
		return
	}
	iss := f.Token.Decoded.ClaimString("iss")
	iu, err := url.Parse(iss)
	valid := err == nil && (iu.Scheme == "https" || iu.Scheme == "http") && iu.Host != ""
	// The issuer's public documents are read without --fetch-jwks when the issuer is
	// the origin the user named (an API that issues its own tokens, Gatehouse's issuer:
	// self): nothing goes anywhere the user did not name. Anywhere else only with it.
	if !o.FetchJWKS && !(valid && sameOrigin(iu, f.Target)) {
		return
	}
	if !valid {
		f.Token.DiscoveryErr = "iss is not an http(s) URL, so there is no discovery document to fetch"
		return
	}
	du := strings.TrimSuffix(iss, "/") + "/.well-known/openid-configuration"
	var disc Discovery
	if msg := fetchJSON(ctx, p, "discovery", du, &disc); msg != "" {
		f.Token.DiscoveryErr = msg
		return
	}
	disc.URL = du
	f.Token.Discovery = &disc
	if disc.JWKSURI == "" {
		f.Token.JWKSErr = "the discovery document has no jwks_uri"
		return
	}
	if ju, err := url.Parse(disc.JWKSURI); !o.FetchJWKS && (err != nil || !sameOrigin(ju, f.Target)) {
		// The discovery document points elsewhere: not followed without --fetch-jwks.
		f.Token.JWKSErr = "the discovery document's jwks_uri is on another origin; --fetch-jwks would read it"
		return
	}
	var set JWKS
	if msg := fetchJSON(ctx, p, "jwks", disc.JWKSURI, &set); msg != "" {
		f.Token.JWKSErr = msg
		return
	}
	set.URL = disc.JWKSURI
	f.Token.JWKS = &set
}

// decodeToken finds the token in the primary credential and decodes it without
// verifying anything.
func decodeToken(f *Facts) *TokenFacts {
	c := f.primary()
	if c == nil {
		return nil
	}
	var raw, where string
	switch {
	case c.IsAuthorization():
		switch strings.ToLower(c.Scheme) {
		case "basic", "digest", "ntlm", "negotiate", "aws4-hmac-sha256":
			return nil
		}
		raw, where = strings.TrimSpace(c.Token), "Authorization "+c.Scheme
		if c.Scheme == "" {
			where = "Authorization (no scheme)"
		}
	case strings.EqualFold(c.HeaderName, "Cookie"):
		for _, part := range strings.Split(c.Value, ";") {
			name, v, _ := strings.Cut(strings.TrimSpace(part), "=")
			if tokens.LooksLikeJWT(v) {
				raw, where = v, "cookie "+name
				break
			}
		}
		if raw == "" {
			return nil
		}
	case c.QueryParam != "":
		raw, where = c.Value, "query parameter "+c.QueryParam
	default:
		raw, where = strings.TrimSpace(c.Value), c.HeaderName
		if s, rest := splitScheme(raw); s != "" && rest != "" {
			raw = rest
		}
	}
	if raw == "" {
		return nil
	}
	t := &TokenFacts{Raw: raw, Where: where}
	t.Decoded, t.Err = tokens.Decode(raw)
	return t
}

// fetchJSON GETs a public document anonymously and decodes it; it returns "" or what
// went wrong in plain words.
func fetchJSON(ctx context.Context, p *prober, probe, raw string, v any) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return raw + " is not an http(s) URL"
	}
	ex := p.send(ctx, probe, "GET", u, []Header{{Name: "Accept", Value: "application/json"}}, "", false, false)
	if ex.Err != nil {
		return "GET " + redactURL(u) + " failed: " + ex.Err.Error()
	}
	if ex.Resp.Status != 200 {
		return "GET " + redactURL(u) + " answered " + statusLine(ex.Resp)
	}
	if ex.Resp.BodyTruncated {
		return "GET " + redactURL(u) + " returned a document larger than " + itoa(len(ex.Resp.Body)) + " bytes; only that much is read"
	}
	if err := json.Unmarshal(ex.Resp.Body, v); err != nil {
		return "GET " + redactURL(u) + " did not return JSON"
	}
	return ""
}

// resourceMetadata fetches the RFC 9728 document a Bearer challenge points to: only on
// the target's origin, or anywhere with --fetch-jwks.
func resourceMetadata(ctx context.Context, p *prober, o Options, f *Facts) {
	r := f.credResp()
	if r == nil {
		return
	}
	for _, c := range r.Challenges {
		raw, ok := c.Param("resource_metadata")
		if !ok || !strings.EqualFold(c.Scheme, "Bearer") {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			f.MetadataErr = "the challenge's resource_metadata is not a URL"
			return
		}
		if !sameOrigin(u, f.Target) && !o.FetchJWKS {
			f.MetadataErr = "the challenge's resource_metadata points to another origin (" + originOf(u) + "); not followed without --fetch-jwks"
			return
		}
		var m ResourceMetadata
		if msg := fetchJSON(ctx, p, "metadata", raw, &m); msg != "" {
			f.MetadataErr = "the resource metadata was not read: " + msg
			return
		}
		m.URL = raw
		f.Metadata = &m
		return
	}
}

// identityPaths are tried after a 404 to tell "no access" from "no such thing".
var identityPaths = []string{"/user", "/me", "/whoami", "/api/me"}

func identityProbes(ctx context.Context, p *prober, f *Facts) {
	ex := f.LastCredentialed
	if ex == nil || ex.Resp == nil || ex.Resp.Status != 404 || !sameOrigin(ex.URL, f.Target) {
		return
	}
	var hdrs []Header
	for _, h := range f.Sent {
		if isSecretHeader(h.Name) || strings.EqualFold(h.Name, "User-Agent") || strings.EqualFold(h.Name, "Accept") {
			hdrs = append(hdrs, h)
		}
	}
	for _, path := range identityPaths {
		if path == ex.URL.Path {
			continue
		}
		u := &url.URL{Scheme: f.Target.Scheme, Host: f.Target.Host, Path: path}
		x := p.send(ctx, "identity", "GET", u, hdrs, "", false, true)
		f.Identity = append(f.Identity, x)
		if x.Resp != nil && x.Resp.Status/100 == 2 {
			return
		}
	}
}

// variants are the --retry-variants retries: one changed thing each, same origin only.
func variants(ctx context.Context, p *prober, f *Facts) {
	ex := f.LastCredentialed
	c := f.primary()
	if ex == nil || ex.Resp == nil || c == nil || !sameOrigin(ex.URL, f.Target) {
		return
	}
	if s := ex.Resp.Status; s != 401 && s != 403 {
		return
	}
	try := func(what string, hdrs []Header) {
		if len(f.Variants) >= 3 {
			return
		}
		body, hasBody := "", false
		if ex.Method == f.Method {
			body, hasBody = f.Body, f.HasBody
		}
		f.Variants = append(f.Variants, &Variant{What: what, Ex: p.send(ctx, "variant", ex.Method, ex.URL, hdrs, body, hasBody, true)})
	}
	if c.IsAuthorization() && c.Scheme != "" && c.Token != "" {
		if canon := canonicalScheme(c.Scheme); canon != c.Scheme {
			try("scheme spelled "+canon, replaceHeader(f.Sent, "Authorization", canon+" "+c.Token))
		}
		offered := map[string]bool{}
		for _, ch := range ex.Resp.Challenges {
			offered[strings.ToLower(ch.Scheme)] = true
		}
		if !offered[strings.ToLower(c.Scheme)] {
			for _, ch := range ex.Resp.Challenges {
				switch strings.ToLower(ch.Scheme) {
				case "basic", "digest", "ntlm", "negotiate":
					continue
				}
				try("scheme "+ch.Scheme+" as the server offers", replaceHeader(f.Sent, "Authorization", ch.Scheme+" "+c.Token))
				break
			}
		}
		if name := keyHeaderHint(ex.Resp); name != "" && !strings.EqualFold(name, "Authorization") {
			hdrs := append(withoutHeader(f.Sent, "Authorization"), Header{Name: name, Value: c.Token})
			try("the key in "+name+" as the server asks", hdrs)
		}
	}
}

func replaceHeader(hs []Header, name, value string) []Header {
	out := make([]Header, 0, len(hs))
	for _, h := range hs {
		if strings.EqualFold(h.Name, name) {
			h.Value = value
		}
		out = append(out, h)
	}
	return out
}

// canonicalScheme returns the usual spelling of well-known schemes.
func canonicalScheme(s string) string {
	switch strings.ToLower(s) {
	case "bearer":
		return "Bearer"
	case "basic":
		return "Basic"
	case "digest":
		return "Digest"
	case "token":
		return "Token"
	case "negotiate":
		return "Negotiate"
	case "ntlm":
		return "NTLM"
	}
	return s
}
