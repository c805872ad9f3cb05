package doctor

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/doctor/finding"
)

// Group I: not really an authentication failure; and group G's live half (the server's
// own words about CSRF and sessions).
var notAuthChecks = []check{
	{"rate_limit_disguised_as_auth", checkRateLimit},
	{"waf_or_bot_block", checkWAF},
	{"user_agent_required", checkUserAgent},
	{"api_key_restriction_blocked", checkKeyRestriction},
}

var sessionChecks = []check{
	{"csrf_token_missing", checkCSRF},
	{"session_missing_or_expired", checkSession},
}

func checkRateLimit(f *Facts) *finding.Finding {
	r := f.credResp()
	if r == nil {
		return nil
	}
	hs := f.hits("rate_limit_disguised_as_auth", "response")
	retry := f.hits(sigRetryAfter, "response")
	score := 0
	switch {
	case r.Status == http.StatusTooManyRequests:
		score = scoreProof
	case len(hs) > 0 && (isAuthFailure(r.Status) || r.Status == 400):
		score = scoreServerSaid + 1
	case len(retry) > 0 && isAuthFailure(r.Status):
		score = scoreLikely
	default:
		return nil
	}
	ev := []string{"the server answered " + statusLine(r)}
	ev = append(ev, hitEvidence(hs)...)
	ev = append(ev, hitEvidence(retry)...)
	wait := ""
	if reset := r.Header.Get("X-RateLimit-Reset"); reset != "" {
		if n, err := strconv.ParseInt(strings.TrimSpace(reset), 10, 64); err == nil && n > 1e9 {
			t := time.Unix(n, 0).UTC()
			ev = append(ev, "X-RateLimit-Reset: "+fmtTime(t)+" ("+fmtDur(t.Sub(f.Clock.Reference()))+" after the server's clock)")
			wait = " until " + fmtTime(t)
		}
	}
	if ra := r.Header.Get("Retry-After"); ra != "" && wait == "" {
		wait = " for " + escape(ra) + cond(isDigits(ra), " seconds", "")
	}
	return newFinding("rate_limit_disguised_as_auth", score,
		"This is rate limiting, not a credential problem.",
		"Wait"+cond(wait != "", wait, " for the reset time (X-RateLimit-Reset or Retry-After)")+", then retry with "+
			"back-off and less concurrency. Repeated failed authentications also count against some limits: fix "+
			"the credential before retrying in a loop.",
		ev...)
}

func isDigits(s string) bool {
	s = strings.TrimSpace(s)
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func checkWAF(f *Facts) *finding.Finding {
	hs := f.hits("waf_or_bot_block", "response", "final response")
	if len(hs) == 0 {
		return nil
	}
	ev := hitEvidence(hs)
	if ray := firstHeader(f, "Cf-Ray"); ray != "" {
		ev = append(ev, "Ray ID: "+escape(ray))
	}
	if f.controlMatches() {
		ev = append(ev, "the anonymous control got the same answer: the block does not depend on your credential")
	}
	return newFinding("waf_or_bot_block", scoreProof-2,
		"A firewall or bot-protection layer blocked the request before authentication.",
		"Ask the site's owner to allow-list your client (give them the Ray or incident ID and your egress IP), "+
			"or use the API host they provide for machine clients. The doctor does not try to get around it.",
		ev...)
}

func firstHeader(f *Facts, name string) string {
	if r := f.credResp(); r != nil {
		if v := r.Header.Get(name); v != "" {
			return v
		}
	}
	if r := f.finalResp(); r != nil {
		return r.Header.Get(name)
	}
	return ""
}

func checkUserAgent(f *Facts) *finding.Finding {
	hs := f.hits("user_agent_required", "response")
	if len(hs) == 0 {
		return nil
	}
	ua, set := "", false
	if f.LastCredentialed != nil || f.Final != nil {
		ex := f.LastCredentialed
		if ex == nil {
			ex = f.Final
		}
		for _, h := range ex.Sent {
			if strings.EqualFold(h.Name, "User-Agent") {
				ua, set = h.Value, true
			}
		}
	}
	line := "the request's User-Agent: " + cond(!set, "the doctor's default", cond(ua == "", "none (removed)", escape(ua)))
	return newFinding("user_agent_required", scoreProof,
		"The API rejects requests without a (recognisable) User-Agent.",
		"Set a User-Agent header that names your application (for example my-app/1.2 (contact@example.com)).",
		append(hitEvidence(hs), line)...)
}

func checkKeyRestriction(f *Facts) *finding.Finding {
	hs := f.hits("api_key_restriction_blocked", "response")
	if len(hs) == 0 {
		return nil
	}
	ev := hitEvidence(hs)
	if ref := headerValue(f.Sent, "Referer"); ref != "" {
		ev = append(ev, "the request's Referer: "+escape(ref))
	} else {
		ev = append(ev, "the request had no Referer header")
	}
	return newFinding("api_key_restriction_blocked", scoreProof,
		"The key is valid but restricted to certain referrers, IP addresses or apps, and this request does not match.",
		"Use a key whose restrictions match this caller: for server-side calls, a key restricted to your "+
			"server's IP addresses (or a service account), not a browser key restricted by referrer.",
		ev...)
}

func checkCSRF(f *Facts) *finding.Finding {
	hs := f.hits("csrf_token_missing", "response")
	if len(hs) == 0 {
		return nil
	}
	ev := hitEvidence(hs)
	score := scoreServerSaid - 4
	hasCookie := hasHeader(f.Sent, "Cookie")
	hasToken := hasHeader(f.Sent, "X-CSRFToken") || hasHeader(f.Sent, "X-CSRF-Token") || hasHeader(f.Sent, "X-XSRF-TOKEN")
	if hasCookie && !hasToken && f.Method != "GET" && f.Method != "HEAD" {
		score = scoreServerSaid
		ev = append(ev, "the "+f.Method+" request carries a session Cookie and no X-CSRFToken / X-XSRF-TOKEN header")
	}
	return newFinding("csrf_token_missing", score,
		"You are authenticated by a session cookie, so this "+f.Method+" also needs the CSRF token.",
		"Send the CSRF token with unsafe methods: copy the csrftoken (or XSRF-TOKEN) cookie's value into "+
			"X-CSRFToken (or X-XSRF-TOKEN). For scripts and API clients, use token authentication instead of a "+
			"session cookie.",
		ev...)
}

func checkSession(f *Facts) *finding.Finding {
	hs := f.hits("session_missing_or_expired", "response")
	if len(hs) == 0 || !f.failed() {
		return nil
	}
	c := f.primary()
	if c != nil && !strings.EqualFold(c.HeaderName, "Cookie") {
		return nil // a token was sent; the token rules speak to it
	}
	ev := hitEvidence(hs)
	if c == nil {
		ev = append(ev, "the request carries no Cookie")
	} else {
		ev = append(ev, "the request's cookies: "+redactCookies(c.Value))
	}
	return newFinding("session_missing_or_expired", scoreStrong,
		"This API authenticates with a browser session cookie that the request does not have, or that has expired.",
		"Use an API token for scripts. If you must use the session, sign in again and pass the fresh session "+
			"cookie explicitly.",
		ev...)
}
