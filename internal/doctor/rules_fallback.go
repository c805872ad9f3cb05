package doctor

import (
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/doctor/finding"
)

// unknownCause is group Z: when nothing explains the failure, say so, and list what was
// checked so the reader knows where not to look. It returns nil when a finding already
// explains the failure.
func unknownCause(f *Facts, all []finding.Finding) *finding.Finding {
	for _, fd := range all {
		if fd.Score > scoreUnknown || fd.Code == "credential_rejected_unknown" {
			return nil
		}
	}
	r := f.credResp()
	if r == nil {
		return nil
	}
	ev := []string{"checked: the request reached the server, which answered " + statusLine(r) + "; " + challengeLine(r)}
	if desc, ok := bearerParam(r, "error_description"); ok {
		ev = append(ev, "the server's error_description: "+escape(desc))
	} else if words := f.hits(sigSaysInvalid, "response"); len(words) > 0 {
		ev = append(ev, hitEvidence(words)...)
	} else if len(r.Body) > 0 {
		ev = append(ev, "the server's body: "+bodySummary(r))
	}
	if c := f.primary(); c != nil {
		ev = append(ev, "checked: the credential's format ("+sentCredentialLine(f)+"): "+cond(topLint(f) == nil, "no problem found", "see the findings below"))
		if strings.EqualFold(c.Scheme, "Bearer") || c.Scheme == "" || hasScheme(r, c.Scheme) {
			ev = append(ev, "checked: the scheme: sent "+orMissing(c.Scheme)+", the server offers "+orMissing(schemesOf(r)))
		}
	} else {
		ev = append(ev, "no credential was sent")
	}
	switch {
	case f.Anon != nil && f.Anon.Resp != nil && !sameAnswer(r, f.Anon.Resp):
		ev = append(ev, "checked: delivery: without the credential the server answered differently ("+statusLine(f.Anon.Resp)+"; "+challengeLine(f.Anon.Resp)+"), so it did see the credential")
	case f.Anon != nil && f.Anon.Resp != nil:
		ev = append(ev, "delivery: with and without the credential the answer is the same; this server may answer every failure alike, or never saw the credential (--compare-url against the application itself would tell)")
	}
	if len(f.Hops) > 1 {
		ev = append(ev, "checked: redirects: "+itoa(len(f.Hops)-1)+", none explains it")
	} else {
		ev = append(ev, "checked: redirects: none")
	}
	if d := f.jwt(); d != nil {
		ev = append(ev, tokenSummaryLines(f)...)
		if exp, ok := d.Time("exp"); ok && exp.After(f.Clock.Reference()) {
			ev = append(ev, "checked: times: the token is valid for another "+fmtDur(exp.Sub(f.Clock.Reference()))+" by the "+cond(f.Clock.HaveServer, "server's", "local")+" clock")
		}
		if f.ExpectAudience == "" {
			ev = append(ev, "not checked: the audience (pass --expect-audience to compare aud with what the API expects)")
		}
		if f.ExpectIssuer == "" {
			ev = append(ev, "not checked: the issuer (pass --expect-issuer)")
		}
		if f.Token.JWKS == nil {
			ev = append(ev, "not checked: the signing key (pass --fetch-jwks to look kid up in the issuer's JWKS)")
		}
	} else if f.Token != nil {
		ev = append(ev, "the token is "+tokenShape(f.Token)+"; only its issuer can say whether it is still valid")
	}
	if f.MetadataErr != "" {
		ev = append(ev, "not checked: "+f.MetadataErr)
	}
	if t := f.Token; t != nil && (t.DiscoveryErr != "" || t.JWKSErr != "") {
		ev = append(ev, "not checked: the issuer's keys: "+t.DiscoveryErr+t.JWKSErr)
	}
	if f.Clock.HaveServer && (f.Clock.Skew > time.Minute || f.Clock.Skew < -time.Minute) {
		ev = append(ev, clockLine(f.Clock))
	}
	rid := r.Header.Get("X-Request-Id")
	settle := "the issuer's sign-in or audit logs for this credential, or a known-good identity call (/me) with it, would settle it"
	if rid != "" && validRequestID(rid) {
		settle += "; the server's logs for request id " + rid
	}
	ev = append(ev, settle)
	summary := "The request is well-formed and reached the server, and the credential was rejected for a reason the client side cannot see."
	fix := "The credential may be revoked or rotated, belong to another account or tenant, or its user or app may " +
		"be disabled. Check with the issuer (its sign-in or audit logs), make a known-good identity call (/me), or " +
		"create a new credential."
	if !isAuthFailure(r.Status) && r.Status != 407 {
		summary = "The server answered " + statusLine(r) + ", which is not an authentication refusal, and nothing in the exchange points at the credential."
		fix = "Look at the API's own error for this status; the credential is probably not the problem. If you " +
			"expected 2xx, check the method, path and body against the API's documentation."
	}
	z := newFinding("credential_rejected_unknown", scoreUnknown, summary, fix, ev...)
	z.Severity = finding.Error
	return z
}
