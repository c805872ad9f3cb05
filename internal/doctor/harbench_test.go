package doctor

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// genHAR writes a HAR of n entries to one API host, shaped like a long browser session:
// most requests succeed with the session cookie and a bearer token, one in seven
// responses sets a cookie, one in ten requests gets a 401 (a bearer token refused), and
// one in ten a 403 on a POST (a CSRF refusal). A fifth of the entries fail, each of which
// the older analysis answered by rescanning every entry before it.
func genHAR(n int) []byte {
	var b strings.Builder
	b.Grow(n * 700)
	b.WriteString(`{"log":{"version":"1.2","creator":{"name":"Firefox","version":"125.0"},"pages":[{"id":"p1","title":"https://app.example.com/","startedDateTime":"2026-03-14T09:00:00.000Z"}],"entries":[`)
	start := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		at := start.Add(time.Duration(i) * 10 * time.Millisecond).Format("2006-01-02T15:04:05.000Z")
		method, status, path := "GET", 200, fmt.Sprintf("/v1/orders/%d?page=%d", i%97, i%13)
		reqH := fmt.Sprintf(`{"name":"Authorization","value":"Bearer tok_%06d_abcdefghijklmnop"},{"name":"Cookie","value":"sid=sess_%06d_qrstuvwx; theme=dark"}`, i/50, i/7)
		respH := `{"name":"Content-Type","value":"application/json"}`
		body := `{\"ok\":true}`
		switch {
		case i%10 == 3:
			status = 401
			respH += `,{"name":"WWW-Authenticate","value":"Bearer realm=\"api\", error=\"invalid_token\", error_description=\"the token expired\""}`
			body = `{\"error\":\"invalid_token\"}`
		case i%10 == 8:
			method, status = "POST", 403
			reqH += `,{"name":"Origin","value":"https://app.example.com"},{"name":"Sec-Fetch-Site","value":"same-site"}`
			body = `{\"detail\":\"CSRF Failed: CSRF token missing.\"}`
		}
		if i%7 == 0 {
			respH += fmt.Sprintf(`,{"name":"Set-Cookie","value":"sid=sess_%06d_qrstuvwx; Path=/; Secure; HttpOnly; SameSite=Lax"}`, i/7)
		}
		fmt.Fprintf(&b, `{"pageref":"p1","startedDateTime":"%s","time":10,"_resourceType":"fetch",`+
			`"request":{"method":"%s","url":"https://api.example.com%s","httpVersion":"HTTP/2","headers":[%s],"queryString":[],"cookies":[],"headersSize":-1,"bodySize":0},`+
			`"response":{"status":%d,"statusText":"","httpVersion":"HTTP/2","headers":[%s],"cookies":[],"content":{"size":30,"mimeType":"application/json","text":"%s"},"redirectURL":"","headersSize":-1,"bodySize":30},`+
			`"cache":{},"timings":{"send":0,"wait":10,"receive":0}}`, at, method, path, reqH, status, respH, body)
	}
	b.WriteString(`]}}`)
	return []byte(b.String())
}

// BenchmarkAnalyzeHAR is `doctor --har` without the printing, over generated HARs of
// growing size. Its ns/entry must stay flat as the HAR grows (linear time); cpu-ns/entry
// is the process's CPU time (garbage collection included), steadier than the wall time
// on a shared machine. Run with
//
//	go test ./internal/doctor -run '^$' -bench AnalyzeHAR -benchtime 1x -count 3
func BenchmarkAnalyzeHAR(b *testing.B) {
	for _, n := range benchSizes {
		data := genHAR(n)
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			cpu0 := processCPU()
			for b.Loop() {
				rep, err := AnalyzeHAR(context.Background(), bytes.NewReader(data), baseOptions(""))
				if err != nil {
					b.Fatal(err)
				}
				if len(rep.Entries) != n/5 {
					b.Fatalf("%d failing entries, want %d", len(rep.Entries), n/5)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/entry")
			b.ReportMetric(float64((processCPU()-cpu0).Nanoseconds())/float64(b.N)/float64(n), "cpu-ns/entry")
		})
	}
}

var benchSizes = []int{1_000, 10_000, 100_000}
