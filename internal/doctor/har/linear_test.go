package har

import (
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/doctor/finding"
)

// sessionLog builds, in memory, a log of n entries to one API host shaped like a long
// browser session: requests with the session cookie, a Set-Cookie in one response of
// seven, a 401 in one request of ten and a CSRF 403 on a POST in another. Every failing
// entry has earlier entries to the same host, which is what made each one rescan them.
func sessionLog(n int) *Log {
	l := &Log{Creator: "Firefox", PageOrigins: []string{"https://app.example.com"}}
	start := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	for i := range n {
		e := Entry{
			Index: i, StartedAt: start.Add(time.Duration(i) * 10 * time.Millisecond),
			Method: "GET", URL: fmt.Sprintf("https://api.example.com/v1/orders/%d?page=%d", i%97, i%13),
			Status: 200, ResourceType: "fetch", PageOrigin: "https://app.example.com",
			RequestHeaders: []Header{
				{"Authorization", fmt.Sprintf("Bearer tok_%06d_abcdefghijklmnop", i/50)},
				{"Cookie", fmt.Sprintf("sid=sess_%06d_qrstuvwx; theme=dark", i/7)},
			},
			ResponseHeaders: []Header{{"Content-Type", "application/json"}},
		}
		switch i % 10 {
		case 3:
			e.Status = 401
			e.RequestHeaders = e.RequestHeaders[:1] // the session cookie went missing
			e.ResponseHeaders = append(e.ResponseHeaders, Header{"WWW-Authenticate", `Bearer error="invalid_token"`})
		case 8:
			e.Method, e.Status, e.BodyPrefix = "POST", 403, `{"detail":"CSRF Failed: CSRF token missing."}`
		}
		if i%7 == 0 {
			e.ResponseHeaders = append(e.ResponseHeaders, Header{"Set-Cookie", fmt.Sprintf("sid=sess_%06d_qrstuvwx; Path=/; Secure; HttpOnly", i/7)})
		}
		l.Entries = append(l.Entries, e)
	}
	return l
}

// countParses runs Failing and Analyze on every failing entry, as the doctor does, and
// returns the URL parses it took and the findings of each failing entry.
func countParses(t *testing.T, l *Log) (int, map[int][]string) {
	t.Helper()
	parses := 0
	orig := parseURL
	parseURL = func(raw string) (*url.URL, error) { parses++; return orig(raw) }
	defer func() { parseURL = orig }()
	z := NewAnalyzer(l)
	got := map[int][]string{}
	for _, i := range Failing(l) {
		for _, f := range z.Analyze(i) {
			got[i] = append(got[i], f.Code)
		}
	}
	return parses, got
}

// TestAnalysisIsLinearInTheLog guards against the quadratic analysis that made `doctor
// --har` take minutes on a 20,000-entry HAR: analysing every failing entry must parse a
// bounded number of URLs per entry of the log, the same at 500 and at 4,000 entries, and
// find what it found before (a dropped session, a CSRF refusal). It counts work instead
// of timing it, so it neither flakes on a busy machine nor passes on a fast one.
func TestAnalysisIsLinearInTheLog(t *testing.T) {
	const perEntry = 6 // measured: 2.3 parses per entry
	var ratios []float64
	for _, n := range []int{500, 4000} {
		l := sessionLog(n)
		parses, got := countParses(t, l)
		ratio := float64(parses) / float64(n)
		ratios = append(ratios, ratio)
		t.Logf("%d entries: %d URL parses, %.2f per entry", n, parses, ratio)
		if ratio > perEntry {
			t.Errorf("%d entries: %d URL parses (%.1f per entry), want at most %d per entry", n, parses, ratio, perEntry)
		}
		if len(got) != n/5 {
			t.Fatalf("%d entries: %d failing entries analysed, want %d", n, len(got), n/5)
		}
		if !contains(got[n-7], CodeSessionMissingOrExpired) || !contains(got[n-2], CodeCSRFTokenMissing) {
			t.Errorf("the last 401 found %v and the last 403 %v; want %s and %s", got[n-7], got[n-2], CodeSessionMissingOrExpired, CodeCSRFTokenMissing)
		}
	}
	if ratios[1] > ratios[0]*1.25 {
		t.Errorf("URL parses per entry grew from %.2f to %.2f with 8 times the entries: the analysis is not linear", ratios[0], ratios[1])
	}
}

// TestAnalyzerAnswersAsAFreshAnalysis: the Analyzer's state, carried from entry to entry
// and restarted when asked about an earlier entry, gives each entry the findings a
// fresh analysis of that entry gives.
func TestAnalyzerAnswersAsAFreshAnalysis(t *testing.T) {
	l := sessionLog(300)
	z := NewAnalyzer(l)
	failing := Failing(l)
	order := append(append([]int{}, failing...), failing[len(failing)/2], failing[0], failing[len(failing)-1])
	for _, i := range order {
		got, want := codesOf(z.Analyze(i)), codesOf(NewAnalyzer(l).Analyze(i))
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("entry %d: shared Analyzer found %v, a fresh one %v", i, got, want)
		}
	}
}

// TestManyCookieNamesAreBounded: a hostile HAR that sets a new login-like cookie name in
// every response must not make each failing entry weigh every one of them.
func TestManyCookieNamesAreBounded(t *testing.T) {
	l := &Log{Creator: "Firefox"}
	for i := range 1200 {
		e := Entry{Index: i, Method: "GET", URL: "https://api.example.com/x", Status: 200}
		e.ResponseHeaders = []Header{{"Set-Cookie", fmt.Sprintf("sess%d=v; Path=/; HttpOnly", i)}}
		if i%3 == 2 {
			e.Status = 401
			e.ResponseHeaders = nil
		}
		l.Entries = append(l.Entries, e)
	}
	z := NewAnalyzer(l)
	for _, i := range Failing(l) {
		z.advance(i)
		if n := len(z.unsent(site("api.example.com"), nil)); n > maxCookiesConsidered {
			t.Fatalf("entry %d weighs %d cookies, want at most %d", i, n, maxCookiesConsidered)
		}
		if fs := z.Analyze(i); len(fs) > maxCookiesConsidered+4 {
			t.Fatalf("entry %d has %d findings", i, len(fs))
		}
	}
}

func codesOf(fs []finding.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Code+fmt.Sprint(f.Evidence))
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
