package doctor

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzJudgeResponse feeds arbitrary response headers and bodies (untrusted input from
// any server, or from a HAR file) through every rule and both renderers: nothing may
// panic, the verdict is always set, and the credential never appears in the output.
func FuzzJudgeResponse(f *testing.F) {
	f.Add(401, "WWW-Authenticate: Bearer realm=\"api\", error=\"invalid_token\", error_description=\"The token expired\"\nDate: Sat, 14 Mar 2026 09:26:53 GMT", `{"error":"invalid_token"}`)
	f.Add(403, "Content-Type: application/json\nX-RateLimit-Remaining: 0\nX-RateLimit-Reset: 1773480000", `{"message":"API rate limit exceeded"}`)
	f.Add(401, "WWW-Authenticate: Digest realm=\"cam\", qop=\"auth\", nonce=\"abc\", stale=true, algorithm=SHA-999", "")
	f.Add(302, "Location: /Account/Login?ReturnUrl=%2F", "")
	f.Add(401, "WWW-Authenticate: Bearer realm=\"unterminated", "")
	f.Add(400, "Server: nginx", "<html><title>400 Request Header Or Cookie Too Large</title></html>")
	f.Add(401, "Content-Type: application/problem+json", `{"type":"x","status":401,"reason":"token_expired","detail":"expired 4m ago","request_id":"abc"}`)
	f.Add(403, "Server: cloudflare\nCf-Ray: 1-FRA\nCf-Mitigated: challenge", "Sorry, you have been blocked")
	f.Add(407, "Proxy-Authenticate: Basic realm=\"corp\"", "")
	f.Add(401, "WWW-Authenticate: NTLM\nWWW-Authenticate: Negotiate\nConnection: close", "")
	f.Add(0, "", "")
	f.Add(401, "WWW-Authenticate: \xff\xfe\x00 realm=\x01", "\x00\xff")
	tok := makeJWT(nil, claims(nil))
	f.Fuzz(func(t *testing.T, status int, headers, body string) {
		if status < 0 || status > 999 {
			status = 401
		}
		e := harEntry{
			Index: 0, StartedAt: testNow, Method: "GET", URL: "https://api.example.com/orders",
			RequestHeaders: []Header{bearer(tok), {Name: "Cookie", Value: "sid=c00kie-secret-value-0123"}},
			Status:         status, Body: body,
		}
		for _, line := range strings.Split(headers, "\n") {
			name, value, ok := strings.Cut(line, ":")
			if !ok || strings.TrimSpace(name) == "" {
				continue
			}
			e.RespHeaders = append(e.RespHeaders, Header{Name: strings.TrimSpace(name), Value: strings.TrimSpace(value)})
		}
		o := baseOptions("")
		f, err := factsFromHAR(e, "fuzz", o.withDefaults())
		if err != nil {
			t.Fatal(err)
		}
		rep := buildReport(f, evaluate(f, nil))
		if rep.Verdict == "" {
			t.Fatal("empty verdict")
		}
		var b bytes.Buffer
		if err := rep.WriteText(&b, true); err != nil {
			t.Fatal(err)
		}
		if err := rep.WriteJSON(&b); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		if strings.Contains(out, tok[20:60]) || strings.Contains(out, "c00kie-secret-value") {
			t.Fatalf("the report shows the credential")
		}
	})
}
