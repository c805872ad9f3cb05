package config

import (
	"net/url"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
)

// claimRules checks subject_claim and scope_claims.
func (v *validator) claimRules(path string, r ClaimRules) {
	if r.SubjectClaim != "" {
		if _, err := identity.ParsePath(r.SubjectClaim); err != nil {
			v.problemf(join(path, "subject_claim"), "%v", err)
		}
	}
	sp := join(path, "scope_claims")
	if r.ScopeClaims != nil && len(r.ScopeClaims) == 0 && !v.isBad(sp) {
		v.problemf(sp, "empty: leave scope_claims out for the default [scope, scp]")
	}
	for i, s := range r.ScopeClaims {
		if _, err := identity.ParsePath(s); err != nil {
			v.problemf(index(sp, i), "%v", err)
		}
	}
}

// headerMappings checks an authenticator's headers block: each name a token that is not
// reserved (see identity.CheckHeaderName) nor a header where a route reads API keys,
// each claim a path that is not an object by definition.
func (v *validator) headerMappings(path string, a *Authenticator) {
	if len(a.Headers) == 0 {
		return
	}
	if a.Type == TypeMTLS {
		v.problemf(join(path, "headers"), "mtls principals have no claims to map")
		return
	}
	seen := map[string]string{}
	for _, h := range a.Headers {
		p := join(join(path, "headers"), h.Header)
		if err := identity.CheckHeaderName(h.Header); err != nil {
			v.problemf(p, "%v", err)
			continue
		}
		folded := strings.ToLower(strings.NewReplacer("_", "-", ".", "-").Replace(h.Header))
		if prev, ok := seen[folded]; ok {
			v.problemf(p, "%s and %s name the same header for upstreams that fold '_' and '.' into '-'", prev, h.Header)
			continue
		}
		seen[folded] = h.Header
		for _, other := range v.c.AuthenticatorNames() {
			if o := v.c.Authenticators[other]; o != nil && o.APIKey != nil &&
				strings.EqualFold(strings.NewReplacer("_", "-", ".", "-").Replace(o.APIKey.Header), folded) {
				v.problemf(p, "%s is where authenticator %q reads API keys: a header that carries credentials cannot carry identity", h.Header, other)
			}
		}
		if v.isBad(p) {
			continue
		}
		if _, err := identity.ParsePath(h.Claim); err != nil {
			v.problemf(p, "%v", err)
			continue
		}
		if identity.KnownObject(h.Claim) {
			v.problemf(p, "the %q claim is a JSON object, which a header cannot carry: map one of its members (%s.<name>)", h.Claim, h.Claim)
		}
	}
}

// discovery checks a jwt authenticator's discovery setting: the issuer is where the
// metadata document is read, so it must be an https URL (http only on a loopback host),
// like jwks_url.
func (v *validator) discovery(path string, j *JWT) {
	if !j.Discovery {
		return
	}
	dp := join(path, "discovery")
	if j.Issuer == IssuerSelf {
		v.problemf(dp, "issuer %q verifies with the token service's own keys: remove discovery", IssuerSelf)
		return
	}
	if j.Issuer == "" {
		return
	}
	u, err := url.Parse(j.Issuer)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		v.problemf(dp, "needs an issuer that is an https:// URL: the metadata document is read from it")
	case u.Scheme != "https" && !isLoopbackHost(u.Hostname()):
		v.problemf(dp, "needs an https:// issuer (http:// only for a loopback host such as 127.0.0.1): the metadata names the keys every token is checked with")
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		v.problemf(dp, "needs an issuer without query, fragment or user info: the metadata document is read from it")
	}
}
