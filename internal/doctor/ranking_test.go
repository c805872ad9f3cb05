package doctor

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/doctor/finding"
	"github.com/gatehouse-dev/gatehouse/internal/doctor/har"
	"github.com/gatehouse-dev/gatehouse/internal/doctor/lint"
)

// everyCode lists every code a finding can carry: the doctor's rules, the lint's, the
// HAR analysis's, Gatehouse's extra codes and the fallback.
func everyCode() []string {
	seen := map[string]bool{}
	var out []string
	add := func(c string) {
		if c != "" && !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	for _, c := range checks() {
		if c.code != "gatehouse_reason" { // emits the code its reason maps to
			add(c.code)
		}
	}
	for _, c := range []string{
		lint.CodeMissingOrEmpty, lint.CodePlaceholder, lint.CodeTrailingNewline, lint.CodeBasicTrailingNewline,
		lint.CodeBasicMalformed, lint.CodeQuoted, lint.CodeNonASCII, lint.CodeTruncated, lint.CodeSchemeMalformed,
		lint.CodeSchemeMismatch, lint.CodeClientSecretEncoding, lint.CodeShellMangled, lint.CodeWrongEnvironment,
		lint.CodeUnderscoreHeader, lint.CodeAPIKeyWrongPlace,
		har.CodePreflightRequiresAuth, har.CodeAuthorizationNotAllowed, har.CodeCredentialsMisconfigured,
		har.CodeCookieBlocked, har.CodeNoCORSMode, har.CodeWWWAuthenticateNotExposed, har.CodeCredentialsRedacted,
		har.CodeCSRFTokenMissing, har.CodeSessionMissingOrExpired,
		CodeAuthenticatorUnavailable, CodeRouteNotFound, CodeMethodNotAllowed, CodePathRejected, CodeUpstreamUnavailable,
		"credential_rejected_unknown", "netrc_overrides_authorization", "proxy_auth_required_407", "redirect_loop",
	} {
		add(c)
	}
	return out
}

// tier is a band of evidence strength (docs/doctor.md#how-the-verdict-is-chosen).
type tier struct {
	name  string
	score int
	rank  int // higher wins, for a specific cause
}

var tiers = []tier{
	{"a Gatehouse reason", scoreProof + 3, 5},
	{"proved", scoreProof - 5, 4},
	{"the server's words", scoreServerSaid, 3},
	{"circumstantial", scoreLikely, 2},
	{"contributor", scoreContributor, 0},
	{"context", scoreContext, -1},
}

// TestRankingEveryPairOfRules is the generated table over every pair of codes and every
// pair of evidence tiers: a proved cause outranks one inferred from the server's words,
// which outranks a circumstantial one; a specific, evidenced cause (60 and up) always
// outranks credential_rejected_unknown, unless a Gatehouse reason stated that one; and a
// catch-all outranks mere contributors.
func TestRankingEveryPairOfRules(t *testing.T) {
	codes := everyCode()
	if len(codes) < 65 {
		t.Fatalf("only %d codes", len(codes))
	}
	// want reports whether a (first) must rank above b, or false, false when the table
	// does not order them (the same tier: the score and code decide).
	want := func(ac string, at tier, bc string, bt tier) (aFirst, decided bool) {
		key := func(c string, t tier) int {
			switch {
			case c == "credential_rejected_unknown" && t.score <= scoreProof:
				return 1 // a catch-all: above contributors, below every specific cause
			case t.score >= minEvidenced:
				return 10 + t.rank
			}
			return t.rank
		}
		ka, kb := key(ac, at), key(bc, bt)
		if ka == kb {
			return false, false
		}
		return ka > kb, true
	}
	pairs := 0
	for _, a := range codes {
		for _, b := range codes {
			if a == b {
				continue
			}
			for _, ta := range tiers {
				for _, tb := range tiers {
					aFirst, decided := want(a, ta, b, tb)
					if !decided {
						continue
					}
					pairs++
					fs := []finding.Finding{
						{Code: b, Score: tb.score, Severity: severityFor(tb.score)},
						{Code: a, Score: ta.score, Severity: severityFor(ta.score)},
					}
					rank(fs)
					if got := fs[0].Code == a; got != aFirst {
						t.Fatalf("%s (%s, %d) vs %s (%s, %d): ranked %s first", a, ta.name, ta.score, b, tb.name, tb.score, fs[0].Code)
					}
				}
			}
		}
	}
	t.Logf("%d codes, %d ordered pairs checked", len(codes), pairs)
}

// TestCatchAllNeverHidesASpecificCause: with the real rules, a Gatehouse catch-all
// reason does not matter here; the fallback appears only when nothing evidenced was
// found, and any evidenced finding outranks it.
func TestCatchAllNeverHidesASpecificCause(t *testing.T) {
	fs := []finding.Finding{
		{Code: "credential_rejected_unknown", Score: scoreUnknown, Severity: finding.Error},
		{Code: "missing_www_authenticate_challenge", Score: minEvidenced, Severity: finding.Error},
	}
	rank(fs)
	if fs[0].Code != "missing_www_authenticate_challenge" {
		t.Errorf("ranked %v", fs[0].Code)
	}
}
