package doctor

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/doctor/finding"
	"github.com/gatehouse-dev/gatehouse/internal/tokens"
)

// Group F: tokens (JWT, OAuth, OIDC).
var tokenChecks = []check{
	{"jwt_expired", checkJWTExpired},
	{"jwt_not_yet_valid_clock_skew", checkJWTNotYetValid},
	{"jwt_audience_mismatch", checkAudience},
	{"jwt_issuer_or_tenant_mismatch", checkIssuer},
	{"jwt_signing_key_unknown", checkSigningKey},
	{"jwt_alg_mismatch", checkAlg},
	{"id_token_instead_of_access_token", checkIDToken},
	{"opaque_token_where_jwt_expected", checkOpaque},
	{"access_token_where_id_token_expected", checkGoogleIdentity},
	{"insufficient_scope_or_permission", checkScope},
	{"not_found_masking_forbidden", checkNotFoundMasking},
	{"anonymous_principal_in_403", checkAnonymousPrincipal},
}

// jwt returns the decoded token, or nil.
func (f *Facts) jwt() *tokens.Decoded {
	if f.Token == nil {
		return nil
	}
	return f.Token.Decoded
}

// tokenTimeLine renders a time claim against both clocks.
func tokenTimeLine(name string, t time.Time, c ClockFacts) string {
	line := name + " " + fmtTime(t)
	if c.HaveServer {
		d := c.Server.Sub(t)
		switch {
		case d > 0:
			line += ", " + fmtDur(d) + " before the server's Date " + fmtTime(c.Server)
		case d < 0:
			line += ", " + fmtDur(d) + " after the server's Date " + fmtTime(c.Server)
		default:
			line += ", equal to the server's Date"
		}
	}
	d := c.Local.Sub(t)
	switch {
	case d > 0:
		line += "; " + fmtDur(d) + " before the " + c.localName() + " " + fmtTime(c.Local)
	case d < 0:
		line += "; " + fmtDur(d) + " after the " + c.localName() + " " + fmtTime(c.Local)
	default:
		line += "; equal to the " + c.localName()
	}
	return line
}

func checkJWTExpired(f *Facts) *finding.Finding {
	hs := f.hits("jwt_expired", "response")
	d := f.jwt()
	failing := f.failed()
	if d != nil {
		exp, ok := d.Time("exp")
		if ok {
			ref := f.Clock.Reference()
			if !exp.Before(ref) && !exp.Equal(ref) {
				if len(hs) == 0 {
					return nil
				}
			} else {
				ago := ref.Sub(exp)
				ev := []string{tokenTimeLine("exp", exp, f.Clock), clockLine(f.Clock)}
				ev = append(ev, hitEvidence(hs)...)
				if desc, ok := bearerParam(f.credResp(), "error_description"); ok {
					ev = append(ev, "error_description: "+escape(desc))
				}
				score := scoreProof - 2
				switch {
				case len(hs) > 0:
					score = scoreProof + 1
				case !failing:
					score = scoreContext
				case !f.Clock.HaveServer:
					score = scoreStrong + 5
				}
				fix := "The token expired " + fmtDur(ago) + " ago. Get a new one (use the refresh token, or sign in again), and in long-running scripts refresh before exp."
				if f.Clock.HaveServer && f.Clock.Skew > 2*time.Minute {
					fix += " Your clock is also " + fmtDur(f.Clock.Skew) + " behind the server's, which makes tokens look fresher than they are: sync it with NTP."
				}
				return newFinding("jwt_expired", score,
					"The token expired "+fmtDur(ago)+" ago (by the "+cond(f.Clock.HaveServer, "server's", "local")+" clock).",
					fix, ev...)
			}
		}
	}
	if len(hs) == 0 {
		return nil
	}
	return newFinding("jwt_expired", scoreServerSaid,
		"The server says the token has expired.",
		"Get a new token (use the refresh token, or sign in again), and refresh before it expires in long-running scripts.",
		hitEvidence(hs)...)
}

func checkJWTNotYetValid(f *Facts) *finding.Finding {
	d := f.jwt()
	if d == nil {
		return nil
	}
	ref := f.Clock.Reference()
	var ev []string
	var ahead time.Duration
	for _, name := range []string{"nbf", "iat"} {
		t, ok := d.Time(name)
		if !ok {
			continue
		}
		// iat a second ahead is rounding; nbf any amount ahead is refused by strict validators.
		limit := ref
		if name == "iat" {
			limit = ref.Add(time.Second)
		}
		if t.After(limit) {
			ev = append(ev, tokenTimeLine(name, t, f.Clock))
			if a := t.Sub(ref); a > ahead {
				ahead = a
			}
		}
	}
	if len(ev) == 0 {
		return nil
	}
	ev = append(ev, clockLine(f.Clock))
	score := scoreStrong + 8
	if !f.failed() {
		score = scoreContext
	}
	return newFinding("jwt_not_yet_valid_clock_skew", score,
		"The token is from the future for this server: it becomes valid "+fmtDur(ahead)+" after the server's clock.",
		"The issuer's clock or the API's clock is off: sync both with NTP (timedatectl set-ntp true, w32tm /resync). "+
			"Validators should allow a small leeway (30-60 s) for nbf and iat.",
		ev...)
}

// sameIdentifier compares issuer or audience strings, ignoring one trailing slash.
func sameIdentifier(a, b string) bool {
	return a == b || strings.TrimSuffix(a, "/") == strings.TrimSuffix(b, "/")
}

func checkAudience(f *Facts) *finding.Finding {
	hs := f.hits("jwt_audience_mismatch", "response")
	d := f.jwt()
	var auds []string
	if d != nil {
		auds = d.Audience()
	}
	audLine := "the token's aud: " + orMissing(strings.Join(auds, ", "))
	contains := func(want string) (exact, slash bool) {
		for _, a := range auds {
			if a == want {
				return true, false
			}
			if sameIdentifier(a, want) {
				slash = true
			}
		}
		return false, slash
	}
	var ev []string
	score := 0
	expected := ""
	switch {
	case d != nil && f.ExpectAudience != "":
		exact, slash := contains(f.ExpectAudience)
		if exact {
			break
		}
		expected = f.ExpectAudience
		score = scoreProof - 5
		ev = append(ev, audLine, "expected (--expect-audience): "+escape(f.ExpectAudience))
		if slash {
			ev = append(ev, "they differ only by a trailing slash, which validators compare exactly")
		}
	case d != nil && f.Metadata != nil && f.Metadata.Resource != "" && !isGatehouse(f):
		// (A Gatehouse's audience is its authenticator's audience setting, not its RFC
		// 9728 resource URL: no lead to follow there.)
		if exact, _ := contains(f.Metadata.Resource); exact {
			break
		}
		// RFC 9728's resource is the API's identifier, which many APIs (Gatehouse included)
		// do not use as their token audience: a lead, not proof.
		expected = f.Metadata.Resource
		score = scoreContributor
		ev = append(ev, audLine, "the API's protected-resource metadata ("+redactRawURL(f.Metadata.URL)+") names the resource "+escape(f.Metadata.Resource),
			"an API may accept an audience other than its resource URL; --expect-audience with the value the API is configured for would settle it")
	case d != nil && len(auds) == 1 && strings.HasSuffix(auds[0], "/userinfo"):
		score = scoreStrong - 5
		ev = append(ev, audLine, "a token whose only audience is the IdP's /userinfo endpoint is meant for the IdP, not for your API (Auth0 issues these when no audience is requested)")
	}
	if len(hs) > 0 {
		ev = append(ev, hitEvidence(hs)...)
		if d != nil && score == 0 {
			ev = append([]string{audLine}, ev...)
		}
		score = scoreServerSaid
	}
	if score == 0 || !f.failed() {
		return nil
	}
	want := "the API's identifier"
	if expected != "" {
		want = escape(expected)
	}
	summary := "The token was issued for another audience than this API (" + want + ")."
	if score < scoreLikely {
		summary = "The token's audience differs from the resource URL the API publishes (" + want + "); that is fine if the API is configured for the token's audience."
	}
	return newFinding("jwt_audience_mismatch", score, summary,
		"Request the token for this API: Azure scope api://<app-id>/.default, Auth0 audience=<API identifier>, "+
			"Google ID tokens --audiences=<service URL>, or your IdP's resource/audience parameter. The audience "+
			"must match what the API expects byte for byte.",
		ev...)
}

var azureV1IssRE = regexp.MustCompile(`^https://sts\.windows\.net/([0-9a-fA-F-]{36})/?$`)
var azureV2IssRE = regexp.MustCompile(`^https://login\.microsoftonline\.com/([0-9a-fA-F-]{36})/v2\.0/?$`)

func checkIssuer(f *Facts) *finding.Finding {
	hs := f.hits("jwt_issuer_or_tenant_mismatch", "response")
	d := f.jwt()
	var ev []string
	score := 0
	if d != nil {
		iss := d.ClaimString("iss")
		issLine := "the token's iss: " + orMissing(iss)
		switch {
		case f.ExpectIssuer != "" && iss != f.ExpectIssuer:
			score = scoreProof - 5
			ev = append(ev, issLine, "expected (--expect-issuer): "+escape(f.ExpectIssuer))
			switch {
			case sameIdentifier(iss, f.ExpectIssuer):
				ev = append(ev, "they differ only by a trailing slash; issuers are compared exactly")
			case azureV1IssRE.MatchString(iss) && azureV2IssRE.MatchString(f.ExpectIssuer):
				ev = append(ev, "the token is an Azure v1.0 token (ver "+escape(fmt.Sprint(d.Claims["ver"]))+") while the API expects the v2.0 issuer: set accessTokenAcceptedVersion to 2 in the API's app manifest, or accept both forms")
			case azureV2IssRE.MatchString(iss) && azureV1IssRE.MatchString(f.ExpectIssuer):
				ev = append(ev, "the token is an Azure v2.0 token while the API expects the v1.0 issuer")
			}
			if a, b := azureTenant(iss), azureTenant(f.ExpectIssuer); a != "" && b != "" && a != b {
				ev = append(ev, "tenant "+a+" in the token, "+b+" expected")
			}
		case f.Token.Discovery != nil && f.Token.Discovery.Issuer != "" && f.Token.Discovery.Issuer != iss:
			score = scoreStrong
			ev = append(ev, issLine, "the discovery document at "+redactRawURL(f.Token.Discovery.URL)+" names the issuer "+escape(f.Token.Discovery.Issuer))
		}
	}
	if len(hs) > 0 {
		ev = append(ev, hitEvidence(hs)...)
		score = scoreServerSaid
	}
	if score == 0 || !f.failed() {
		return nil
	}
	return newFinding("jwt_issuer_or_tenant_mismatch", score,
		"The token comes from another issuer (or tenant) than the one this API trusts.",
		"Get the token from the issuer and tenant the API trusts (the right environment and tenant), or make the "+
			"API trust this issuer. Azure: set accessTokenAcceptedVersion, or accept both the v1.0 and v2.0 issuer forms.",
		ev...)
}

func azureTenant(iss string) string {
	if m := azureV1IssRE.FindStringSubmatch(iss); m != nil {
		return m[1]
	}
	if m := azureV2IssRE.FindStringSubmatch(iss); m != nil {
		return m[1]
	}
	return ""
}

func checkSigningKey(f *Facts) *finding.Finding {
	hs := f.hits("jwt_signing_key_unknown", "response")
	d := f.jwt()
	var ev []string
	score := 0
	if d != nil {
		kid := d.HeaderString("kid")
		ev = append(ev, "the token's header: alg "+orMissing(d.HeaderString("alg"))+", kid "+orMissing(kid))
		if set := f.Token.JWKS; set != nil {
			var kids []string
			found := false
			for _, k := range set.Keys {
				kids = append(kids, k.Kid)
				if k.Kid == kid {
					found = true
				}
			}
			sort.Strings(kids)
			ev = append(ev, "the issuer's JWKS ("+redactRawURL(set.URL)+") has kids: "+orMissing(strings.Join(kids, ", ")))
			if !found && kid != "" {
				score = scoreProof - 5
				ev = append(ev, "kid "+escape(kid)+" is not in it: the token was signed by a key this issuer does not publish (any more)")
			}
		} else if f.Token.JWKSErr != "" || f.Token.DiscoveryErr != "" {
			ev = append(ev, "the key set could not be checked: "+f.Token.DiscoveryErr+f.Token.JWKSErr)
		}
		if _, ok := d.Header["nonce"]; ok {
			if score < scoreStrong {
				score = scoreStrong
			}
			ev = append(ev, "the JOSE header has a nonce: this is a Microsoft Graph access token, which only Graph can validate")
		}
	}
	if len(hs) > 0 {
		ev = append(ev, hitEvidence(hs)...)
		score = scoreServerSaid
	}
	if score == 0 || !f.failed() {
		return nil
	}
	return newFinding("jwt_signing_key_unknown", score,
		"The API cannot find (or trust) the key that signed this token.",
		"The token was signed by a key the API does not know: it was issued by another authority or tenant, the "+
			"issuer rotated its keys (the API should refetch its JWKS), or it is a Microsoft Graph token meant for "+
			"Graph, not for this API. Get a token from the issuer the API trusts.",
		ev...)
}

// algFamily returns the key type an alg needs: "oct", "RSA", "EC" or "OKP".
func algFamily(alg string) string {
	switch {
	case strings.HasPrefix(alg, "HS"):
		return "oct"
	case strings.HasPrefix(alg, "RS"), strings.HasPrefix(alg, "PS"):
		return "RSA"
	case strings.HasPrefix(alg, "ES"):
		return "EC"
	case alg == "EdDSA":
		return "OKP"
	}
	return ""
}

// keyFitsAlg reports whether a published key can verify a token signed with alg: the
// key type the alg needs, the key's own alg when it states one, and for EC the curve.
func keyFitsAlg(k JWK, alg string) bool {
	if k.Kty != algFamily(alg) || (k.Alg != "" && k.Alg != alg) {
		return false
	}
	if k.Use != "" && k.Use != "sig" {
		return false
	}
	if k.Kty == "EC" && k.Crv != "" {
		want := map[string]string{"ES256": "P-256", "ES384": "P-384", "ES512": "P-521", "ES256K": "secp256k1"}[alg]
		return want == "" || want == k.Crv
	}
	return true
}

func checkAlg(f *Facts) *finding.Finding {
	hs := f.hits("jwt_alg_mismatch", "response")
	d := f.jwt()
	var ev []string
	score := 0
	if d != nil {
		alg := d.HeaderString("alg")
		ev = append(ev, "the token's alg: "+orMissing(alg))
		switch {
		case strings.EqualFold(alg, "none"):
			score = scoreProof - 3
			ev = append(ev, "alg none means the token is unsigned; every validator refuses it")
		case f.Token.JWKS != nil && len(f.Token.JWKS.Keys) > 0 && algFamily(alg) != "":
			kid := d.HeaderString("kid")
			var ktys []string
			var byKid, any bool
			kidFound := false
			for _, k := range f.Token.JWKS.Keys {
				ktys = append(ktys, escape(k.Kid)+": "+escape(k.Kty)+cond(k.Crv != "", " "+escape(k.Crv), "")+cond(k.Alg != "", " "+escape(k.Alg), ""))
				fits := keyFitsAlg(k, alg)
				any = any || fits
				if kid != "" && k.Kid == kid {
					kidFound = true
					byKid = byKid || fits
				}
			}
			switch {
			case kidFound && !byKid:
				// The key the token names exists and cannot verify this alg: proved.
				score = scoreProof - 2
				ev = append(ev, "the issuer's key "+escape(kid)+" cannot verify "+escape(alg)+" (keys at "+redactRawURL(f.Token.JWKS.URL)+": "+strings.Join(ktys, "; ")+")")
			case !kidFound && !any:
				// No published key of any kid can verify this alg: the alg is the deeper
				// cause than the unknown kid.
				score = scoreProof - 2
				ev = append(ev, "none of the issuer's keys can verify "+escape(alg)+" (keys at "+redactRawURL(f.Token.JWKS.URL)+": "+strings.Join(ktys, "; ")+")")
			}
		}
	}
	if len(hs) > 0 {
		ev = append(ev, hitEvidence(hs)...)
		score = max(score, scoreServerSaid)
	}
	if score == 0 || !f.failed() {
		return nil
	}
	return newFinding("jwt_alg_mismatch", score,
		"The token is signed with an algorithm the API does not accept.",
		"Make the issuer sign with an algorithm the API accepts (for Auth0: the application's Advanced settings, "+
			"RS256), or add the algorithm to the API's allow-list if its keys support it. Never accept alg none.",
		ev...)
}

func checkIDToken(f *Facts) *finding.Finding {
	d := f.jwt()
	if d == nil || !f.failed() || !isAuthFailure(f.credStatus()) {
		return nil
	}
	var signs []string
	strong := false
	if _, ok := d.Claims["nonce"]; ok {
		signs = append(signs, "a nonce claim (set only in ID tokens)")
	}
	if _, ok := d.Claims["at_hash"]; ok {
		signs = append(signs, "an at_hash claim (ID tokens only)")
	}
	if d.ClaimString("token_use") == "id" {
		signs, strong = append(signs, "token_use: id (Cognito ID token)"), true
	}
	if strings.EqualFold(d.ClaimString("typ"), "ID") {
		signs, strong = append(signs, "typ: ID (Keycloak ID token)"), true
	}
	azp := d.ClaimString("azp")
	auds := d.Audience()
	if azp != "" && len(auds) == 1 && auds[0] == azp {
		signs = append(signs, "aud equals azp ("+escape(azp)+"): the audience is the client app, not an API")
	}
	noScopes := len(d.Scopes()) == 0 && d.Claims["roles"] == nil
	if noScopes && len(signs) > 0 {
		signs = append(signs, "no scope, scp or roles claim")
	}
	score := 0
	switch {
	case strong || len(signs) >= 3:
		score = scoreStrong + 5
	case len(signs) == 2:
		score = scoreLikely
	case len(signs) == 1:
		score = scoreContributor + 10
	default:
		return nil
	}
	return newFinding("id_token_instead_of_access_token", score,
		"This looks like an ID token (proof of sign-in for your app), not an access token for an API.",
		"Send the access_token from the token response, not the id_token. An ID token's audience is your "+
			"client app, so APIs refuse it.",
		signs...)
}

// opaqueVendorRE recognises tokens that are opaque by design, where "not a JWT" is normal.
var opaqueVendorRE = regexp.MustCompile(`^(ghp_|gho_|ghu_|ghs_|ghr_|github_pat_|glpat-|xox[abpr]-|ya29\.|sk_|pk_|rk_|gk_|AKIA|shpat_|npm_|pypi-|dop_v1_|SG\.|key-)`)

func checkOpaque(f *Facts) *finding.Finding {
	c := f.primary()
	if c == nil || !c.IsAuthorization() || !strings.EqualFold(c.Scheme, "Bearer") || f.Token == nil || f.Token.Decoded != nil {
		return nil
	}
	r := f.credResp()
	if r == nil || r.Status != 401 || opaqueVendorRE.MatchString(f.Token.Raw) {
		return nil
	}
	errCode, _ := bearerParam(r, "error")
	desc, _ := bearerParam(r, "error_description")
	if errCode != "invalid_token" && !regexp.MustCompile(`(?i)jwt|malformed|segments|decode`).MatchString(desc+string(r.Body)) {
		return nil
	}
	ev := []string{"the Bearer token is " + tokenShape(f.Token)}
	if errCode != "" {
		ev = append(ev, "the server answered error="+escape(errCode)+cond(desc != "", ", error_description="+escape(desc), ""))
	}
	// An opaque token rejected as invalid is common and often legitimate (introspected
	// tokens); on its own it is a lead, not a verdict.
	score := scoreUnknown - 5
	if errors.Is(f.Token.Err, tokens.ErrJWE) {
		score = scoreStrong - 5
	}
	if regexp.MustCompile(`(?i)jwt|malformed|segments|decode`).MatchString(desc + string(clipBytes(r.Body, 4096))) {
		score = scoreStrong + 2
		ev = append(ev, "the server's message is about parsing a JWT")
	}
	return newFinding("opaque_token_where_jwt_expected", score,
		"The API expects a JWT access token, but you sent "+tokenShape(f.Token)+".",
		"Your access token is opaque (usable only at the IdP, e.g. its /userinfo) or encrypted. Ask the IdP for a "+
			"token for this API: add audience=<API identifier> (Auth0) or the API's scope/resource to the "+
			"authorize or token request.",
		ev...)
}

func clipBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// tokenShape says what a token looks like without showing it.
func tokenShape(t *TokenFacts) string {
	switch {
	case t == nil:
		return "absent"
	case t.Decoded != nil:
		return "a JWT"
	case errors.Is(t.Err, tokens.ErrJWE):
		return "an encrypted JWT (JWE, five segments)"
	case errors.Is(t.Err, tokens.ErrNotJWT):
		if n := strings.Count(t.Raw, "."); n > 0 {
			return fmt.Sprintf("opaque (%d bytes, %d dot-separated segments, not a JWT's 3)", len(t.Raw), n+1)
		}
		return fmt.Sprintf("opaque (%d bytes, no dots: not a JWT)", len(t.Raw))
	case errors.Is(t.Err, tokens.ErrMalformed):
		return "JWT-shaped but malformed (" + strings.TrimPrefix(t.Err.Error(), "decode token: ") + ")"
	}
	return fmt.Sprintf("%d bytes", len(t.Raw))
}

func isGoogleServerless(host string) bool {
	host = strings.ToLower(host)
	return strings.HasSuffix(host, ".run.app") || strings.HasSuffix(host, ".cloudfunctions.net")
}

func checkGoogleIdentity(f *Facts) *finding.Finding {
	if !f.failed() || !isAuthFailure(f.credStatus()) || f.Token == nil {
		return nil
	}
	iap := f.hits(sigIAP)
	if !isGoogleServerless(f.Target.Hostname()) && len(iap) == 0 {
		return nil
	}
	ev := hitEvidence(iap)
	if isGoogleServerless(f.Target.Hostname()) {
		ev = append(ev, escape(f.Target.Hostname())+" is a Cloud Run / Cloud Functions host, which wants a Google-signed identity token")
	}
	score := 0
	service := f.Target.Scheme + "://" + f.Target.Host
	switch {
	case strings.HasPrefix(f.Token.Raw, "ya29."):
		score = scoreProof - 5
		ev = append(ev, "the token starts with ya29.: it is a Google OAuth access token, not an identity token")
	case f.Token.Decoded != nil:
		ok := false
		for _, a := range f.Token.Decoded.Audience() {
			if sameIdentifier(a, service) || strings.HasPrefix(a, service+"/") {
				ok = true
			}
		}
		if !ok {
			score = scoreStrong
			ev = append(ev, "the token's aud "+orMissing(strings.Join(f.Token.Decoded.Audience(), ", "))+" is not the service URL "+service)
		}
	}
	if score == 0 {
		return nil
	}
	return newFinding("access_token_where_id_token_expected", score,
		"Cloud Run / IAP want an identity token whose audience is the service URL; this is not one.",
		"Use an identity token for the service: gcloud auth print-identity-token --audiences="+service+
			" (or the metadata server's identity endpoint), not gcloud auth print-access-token.",
		ev...)
}

// githubScopes reads GitHub's granted and accepted scope headers.
func githubScopes(r *Response) (granted, accepted []string, ok bool) {
	if r == nil || r.Header.Get("X-Accepted-OAuth-Scopes") == "" {
		return nil, nil, false
	}
	split := func(s string) []string {
		var out []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		return out
	}
	return split(r.Header.Get("X-OAuth-Scopes")), split(r.Header.Get("X-Accepted-OAuth-Scopes")), true
}

func checkScope(f *Facts) *finding.Finding {
	r := f.credResp()
	if r == nil || len(f.Creds) == 0 {
		return nil
	}
	hs := f.hits("insufficient_scope_or_permission", "response")
	var ev []string
	score := 0
	need := ""
	if errCode, ok := bearerParam(r, "error"); ok && errCode == "insufficient_scope" {
		score = scoreProof
		scope, _ := bearerParam(r, "scope")
		need = scope
		ev = append(ev, challengeLine(r))
	}
	if granted, accepted, ok := githubScopes(r); ok && r.Status == 403 {
		missing := []string{}
		for _, a := range accepted {
			if !containsStr(granted, a) {
				missing = append(missing, a)
			}
		}
		if len(missing) == len(accepted) {
			score = max(score, scoreProof-5)
			need = strings.Join(accepted, " or ")
			ev = append(ev, "X-Accepted-OAuth-Scopes (needed): "+strings.Join(accepted, ", ")+"; X-OAuth-Scopes (your token): "+orMissing(strings.Join(granted, ", ")))
		}
	}
	if len(hs) > 0 && r.Status == 403 {
		score = max(score, scoreServerSaid-2)
		ev = append(ev, hitEvidence(hs)...)
	}
	if score == 0 && r.Status == 403 && f.failed() {
		// Authenticated but not permitted: the control without credentials got 401.
		if f.Anon != nil && f.Anon.Resp != nil && f.Anon.Resp.Status == 401 {
			score = scoreLikely
			ev = append(ev, "with the credential: "+statusLine(r)+"; without it: "+statusLine(f.Anon.Resp)+": the server accepted who you are and refused what you asked")
		} else {
			score = scoreContributor + 10
			ev = append(ev, "the server answered "+statusLine(r)+" to a request that carried a credential; 403 means \"authenticated, not permitted\" when the server follows RFC 9110")
		}
	}
	if score == 0 {
		return nil
	}
	if d := f.jwt(); d != nil {
		have := d.Scopes()
		ev = append(ev, "the token's scopes: "+orMissing(strings.Join(have, " ")))
		if roles := tokens.StringOrList(d.Claims["roles"]); len(roles) > 0 {
			ev = append(ev, "the token's roles: "+strings.Join(roles, " "))
		}
	}
	summary := "You are authenticated but not permitted: the endpoint needs a scope or role your credential lacks."
	if need != "" {
		summary = "You are authenticated but lack the scope this endpoint needs (" + escape(need) + ")."
	}
	return newFinding("insufficient_scope_or_permission", score, summary,
		"Request a new token with the needed scope or role"+cond(need != "", " ("+escape(need)+")", "")+
			"; scopes cannot be added to an existing token. For API keys, create one with that scope or ask the "+
			"API's owner for the permission.",
		ev...)
}

func checkNotFoundMasking(f *Facts) *finding.Finding {
	if f.credStatus() != 404 || len(f.Creds) == 0 {
		return nil
	}
	var ev []string
	ok := ""
	for _, x := range f.Identity {
		if x.Resp == nil {
			continue
		}
		ev = append(ev, "identity probe GET "+redactURL(x.URL)+" with the same credential → "+statusLine(x.Resp))
		if x.Resp.Status/100 == 2 {
			ok = x.URL.Path
		}
	}
	if ok == "" {
		ev = append(ev, "no identity endpoint (/user, /me, /whoami) answered 2xx with this credential, so the doctor cannot tell a hidden resource from a missing one; a call that proves the token works would settle it")
		return newFinding("not_found_masking_forbidden", scoreContributor, "The resource answered 404; some APIs say 404 instead of 403 to hide private resources.", notFoundFix, ev...)
	}
	return newFinding("not_found_masking_forbidden", scoreStrong,
		"The credential is valid ("+escape(ok)+" works) but this resource answers 404: the API hides resources you may not see.",
		notFoundFix, ev...)
}

const notFoundFix = "Some APIs answer 404 instead of 403 so as not to reveal private resources. Check that the " +
	"token's user or app has access to this resource and the scopes it needs (GitHub: repo, workflow), and that " +
	"the path is right."

func checkAnonymousPrincipal(f *Facts) *finding.Finding {
	hs := f.hits("anonymous_principal_in_403", "response")
	if len(hs) == 0 {
		return nil
	}
	ev := append([]string{sentCredentialLine(f)}, hitEvidence(hs)...)
	return newFinding("anonymous_principal_in_403", scoreProof-2,
		"The server treated the request as anonymous: your credential was not sent or not recognised.",
		"The server saw no identity (a real but invalid token would get 401). Check that the token variable "+
			"is not empty, that the header reaches the API (proxies may strip it), and that the API is configured to "+
			"accept this kind of credential.",
		ev...)
}
