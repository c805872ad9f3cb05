package doctor

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

type harHdr struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type harTestEntry struct {
	method, url  string
	reqHeaders   []harHdr
	status       int
	respHeaders  []harHdr
	body         string
	resourceType string
}

// buildHAR writes a minimal HAR 1.2 document, as browsers export it.
func buildHAR(t *testing.T, creator string, entries []harTestEntry) string {
	t.Helper()
	var es []map[string]any
	for i, e := range entries {
		if e.reqHeaders == nil {
			e.reqHeaders = []harHdr{}
		}
		e.respHeaders = append(e.respHeaders, harHdr{"date", "Sat, 14 Mar 2026 09:26:53 GMT"})
		m := map[string]any{
			"startedDateTime": "2026-03-14T09:26:5" + string(rune('0'+i)) + ".000Z",
			"time":            10,
			"request": map[string]any{"method": e.method, "url": e.url, "httpVersion": "HTTP/1.1", "headers": e.reqHeaders,
				"queryString": []any{}, "cookies": []any{}, "headersSize": -1, "bodySize": 0},
			"response": map[string]any{"status": e.status, "statusText": "", "httpVersion": "HTTP/1.1", "headers": e.respHeaders,
				"cookies": []any{}, "content": map[string]any{"size": len(e.body), "mimeType": "application/json", "text": e.body},
				"redirectURL": "", "headersSize": -1, "bodySize": len(e.body)},
			"cache": map[string]any{}, "timings": map[string]any{"send": 0, "wait": 10, "receive": 0},
		}
		if e.resourceType != "" {
			m["_resourceType"] = e.resourceType
		}
		es = append(es, m)
	}
	doc := map[string]any{"log": map[string]any{"version": "1.2", "creator": map[string]any{"name": creator, "version": "1"},
		"pages": []any{}, "entries": es}}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestHARCauseOutranksItsSymptom: in a HAR, "no credential was sent" is the symptom of
// a no-cors fetch or a cookie the browser kept home, and in a sanitized export it cannot
// be judged at all; the cause is the verdict.
func TestHARCauseOutranksItsSymptom(t *testing.T) {
	origin := harHdr{"Origin", "http://localhost:3000"}
	tests := []struct {
		name    string
		creator string
		entries []harTestEntry
		verdict string
	}{
		{"no-cors fetch", "Firefox", []harTestEntry{{method: "GET", url: "https://api.example.com/orders", resourceType: "fetch",
			reqHeaders: []harHdr{origin, {"Sec-Fetch-Mode", "no-cors"}, {"Sec-Fetch-Site", "cross-site"}},
			status:     401, respHeaders: []harHdr{{"WWW-Authenticate", `Bearer realm="api"`}}}}, "fetch_no_cors_mode"},
		{"session cookie kept home by SameSite=Lax", "Firefox", []harTestEntry{
			{method: "POST", url: "https://api.example.com/login", resourceType: "fetch",
				reqHeaders: []harHdr{origin, {"Sec-Fetch-Mode", "cors"}, {"Sec-Fetch-Site", "cross-site"}},
				status:     200, respHeaders: []harHdr{{"Set-Cookie", "session=s3ss10n-value-123456; Path=/; HttpOnly"}, {"Access-Control-Allow-Origin", "http://localhost:3000"}, {"Access-Control-Allow-Credentials", "true"}}},
			{method: "GET", url: "https://api.example.com/api/me", resourceType: "fetch",
				reqHeaders: []harHdr{origin, {"Sec-Fetch-Mode", "cors"}, {"Sec-Fetch-Site", "cross-site"}},
				status:     401, body: `{"detail":"Authentication credentials were not provided."}`,
				respHeaders: []harHdr{{"Access-Control-Allow-Origin", "http://localhost:3000"}, {"Access-Control-Allow-Credentials", "true"}}},
		}, "cookie_blocked_by_attributes"},
		{"sanitized export", "WebInspector", []harTestEntry{
			{method: "POST", url: "https://api.example.com/login", resourceType: "fetch", status: 200},
			{method: "GET", url: "https://api.example.com/api/me", resourceType: "fetch", status: 401,
				body: `{"detail":"Authentication credentials were not provided."}`},
		}, "har_credentials_redacted"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := AnalyzeHAR(context.Background(), strings.NewReader(buildHAR(t, tc.creator, tc.entries)), baseOptions(""))
			if err != nil {
				t.Fatal(err)
			}
			if rep.Verdict != tc.verdict {
				var b strings.Builder
				_ = rep.WriteText(&b, false)
				t.Fatalf("verdict %q, want %q\n%s", rep.Verdict, tc.verdict, b.String())
			}
		})
	}
}
