package doctor

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// Credential values with characters that every encoding changes (+ / = and a space in
// the password), so that each reflected form is a different string.
const (
	reflBearer   = "tok_Reflect+Me/9z=AbCdEfGh12345"
	reflUser     = "alice"
	reflPassword = "S3cret+Pass/word w1th=space"
	reflAPIKey   = "key_Mirror/Me+Please=0123456789"
	reflCookie   = "ck_SessionValue/Echoed+Back=42"
	reflQuery    = "qt_Query/Token+Reflected=777"
	reflEnv      = "env_Loaded/From+DotEnv=31337"
)

// reflectedForms are the ways a server may echo a value, each of which must be absent
// from the doctor's output.
func reflectedForms(v string) []string {
	js, _ := json.Marshal(v)
	return []string{
		v,
		url.QueryEscape(v),
		url.PathEscape(v),
		strings.ReplaceAll(v, "/", `\/`),
		strings.Trim(string(js), `"`),
	}
}

// reflectingServer answers /denied/... with 401 and echoes every credential the request
// carried: in the challenge's error_description, in a JSON body (once plain, once in
// PHP's escaped-slash form), URL-encoded in a custom header, and, on the first request,
// in the Location of a same-origin redirect to /denied/<value>. It records what it
// echoed, so the test knows that the reflection happened.
type reflectingServer struct {
	mu     sync.Mutex
	echoed []string
}

func (rs *reflectingServer) credentials(r *http.Request) []string {
	var vs []string
	if a := r.Header.Get("Authorization"); a != "" {
		vs = append(vs, a)
		scheme, rest, _ := strings.Cut(a, " ")
		vs = append(vs, rest)
		if strings.EqualFold(scheme, "Basic") {
			if raw, err := base64.StdEncoding.DecodeString(rest); err == nil {
				_, pass, _ := strings.Cut(string(raw), ":")
				vs = append(vs, string(raw), pass)
			}
		}
	}
	if k := r.Header.Get("X-API-Key"); k != "" {
		vs = append(vs, k)
	}
	for _, c := range r.Cookies() {
		vs = append(vs, c.Value)
	}
	if q := r.URL.Query().Get("access_token"); q != "" {
		vs = append(vs, q)
	}
	return vs
}

func (rs *reflectingServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	vs := rs.credentials(r)
	rs.mu.Lock()
	rs.echoed = append(rs.echoed, vs...)
	rs.mu.Unlock()
	if !strings.HasPrefix(r.URL.Path, "/denied/") && len(vs) > 0 {
		q := r.URL.Query()
		q.Set("seen", vs[len(vs)-1])
		w.Header().Set("Location", "/denied/"+url.PathEscape(vs[len(vs)-1])+"?"+q.Encode())
		w.WriteHeader(http.StatusFound)
		return
	}
	desc := "the token is not valid"
	for i, v := range vs {
		desc += " " + v
		w.Header().Add("X-Echo", url.QueryEscape(v))
		w.Header().Add(fmt.Sprintf("X-Echo-%d", i), v)
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="api", error="invalid_token", error_description="`+desc+`"`)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnauthorized)
	body, _ := json.Marshal(map[string]any{"error": "invalid_token", "received": vs})
	php := strings.ReplaceAll(string(body), "/", `\/`)
	fmt.Fprintf(w, `{"plain":%s,"php":%s}`, body, php)
}

// TestReflectedCredentialIsScrubbedFromEveryRendering blocks the doctor from printing a
// credential that a hostile or careless server sends back, in any form, in text or JSON.
func TestReflectedCredentialIsScrubbedFromEveryRendering(t *testing.T) {
	envFile := filepath.Join(t.TempDir(), ".env")
	if err := os.WriteFile(envFile, []byte("API_TOKEN="+reflEnv+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pair := reflUser + ":" + reflPassword
	tests := []struct {
		name    string
		opts    func(o *Options)
		secrets []string // every form of each must be absent
	}{
		{"bearer header", func(o *Options) { o.Headers = []Header{bearer(reflBearer)} }, []string{reflBearer}},
		{"basic from -u", func(o *Options) { o.UserPass, o.HasUserPass = pair, true }, []string{
			reflPassword, pair,
			base64.StdEncoding.EncodeToString([]byte(pair)),
			base64.RawURLEncoding.EncodeToString([]byte(pair)),
		}},
		{"api key header", func(o *Options) { o.Headers = []Header{{Name: "X-API-Key", Value: reflAPIKey}} }, []string{reflAPIKey}},
		{"session cookie", func(o *Options) {
			o.Headers = []Header{{Name: "Cookie", Value: "theme=dark; session=" + reflCookie}}
		}, []string{reflCookie}},
		{"query token", func(o *Options) { o.URL += "?access_token=" + url.QueryEscape(reflQuery) }, []string{reflQuery}},
		{"env-file var", func(o *Options) { o.EnvFile, o.EnvVar = envFile, "API_TOKEN" }, []string{reflEnv}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := &reflectingServer{}
			srv := serve(t, rs.ServeHTTP)
			o := baseOptions(srv.URL + "/orders")
			tt.opts(&o)
			rep := runDoctor(t, o)
			rs.mu.Lock()
			echoed := strings.Join(rs.echoed, "\n")
			rs.mu.Unlock()
			for _, s := range tt.secrets {
				if !strings.Contains(echoed, s) {
					t.Fatalf("the server did not echo %q; the test would prove nothing", s)
				}
			}
			var text, js bytes.Buffer
			if err := rep.WriteText(&text, false); err != nil {
				t.Fatal(err)
			}
			if err := rep.WriteJSON(&js); err != nil {
				t.Fatal(err)
			}
			if !json.Valid(js.Bytes()) {
				t.Fatalf("the scrubbed JSON does not parse:\n%s", js.String())
			}
			for what, out := range map[string]string{"text": text.String(), "json": js.String()} {
				if !strings.Contains(out, scrubMark) {
					t.Errorf("%s output has no %s: nothing reflected was scrubbed\n%s", what, scrubMark, out)
				}
				for _, s := range tt.secrets {
					for _, form := range reflectedForms(s) {
						if strings.Contains(out, form) {
							t.Errorf("%s output holds the credential as %q\n%s", what, form, out)
						}
					}
				}
			}
			// The report is still a report: the verdict and the status survive.
			if rep.Response == nil || rep.Response.Status != http.StatusUnauthorized {
				t.Errorf("response = %+v, want the 401", rep.Response)
			}
		})
	}
}

// TestClippedCredentialIsScrubbed: a renderer that clips a long value may cut a
// reflected credential in two; the piece left before the "…" (or after it) is scrubbed
// too, when long enough to matter.
func TestClippedCredentialIsScrubbed(t *testing.T) {
	s := &secrets{}
	s.add("sk_live_0123456789abcdefghij")
	m := markFor("sk_live_0123456789abcdefghij") // one mark per credential, wherever it is cut
	tests := []struct{ in, want string }{
		{"key sk_live_0123456789ab…", "key " + m + "…"},
		{"…456789abcdefghij was refused", "…" + m + " was refused"},
		{"a whole sk_live_0123456789abcdefghij here", "a whole " + m + " here"},
		{"short sk_live…", "short sk_live…"}, // 7 bytes: below minFragmentLen
		{"Bearer sk_l…ghij (28 bytes, sha256:00)", "Bearer sk_l…ghij (28 bytes, sha256:00)"},
		{"nothing here…", "nothing here…"},
	}
	for _, tt := range tests {
		if got := s.scrub(tt.in); got != tt.want {
			t.Errorf("scrub(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestScrubJSONKeepsStructure: scrubbing rewrites strings only, never the document's
// shape or order, and never turns it into invalid JSON, even when a value equals a key.
func TestScrubJSONKeepsStructure(t *testing.T) {
	s := &secrets{}
	s.add("verdict") // a credential that happens to equal a member name
	s.add("hunter22")
	in := []byte(`{"verdict":"x","list":[1,2.50,"hunter22",true,null,{}],"nested":{"a":[],"b":"pre hunter22 post"},"n":-1e3}`)
	out, err := s.scrubJSON(in)
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "` + markFor("verdict") + `": "x",
  "list": [
    1,
    2.50,
    "` + markFor("hunter22") + `",
    true,
    null,
    {}
  ],
  "nested": {
    "a": [],
    "b": "pre ` + markFor("hunter22") + ` post"
  },
  "n": -1e3
}
`
	if string(out) != want {
		t.Errorf("scrubJSON =\n%s\nwant\n%s", out, want)
	}
}

// TestHARReflectedTokensAreScrubbed: in a HAR, a response may echo a credential that
// any entry's request carried (not only its own), so every request's credentials are
// scrubbed from every entry's report.
func TestHARReflectedTokensAreScrubbed(t *testing.T) {
	const (
		harBearer = "har_Bearer/Token+One=AAAA1111"
		harCookie = "har_Cookie/Value+Two=BBBB2222"
		harKey    = "har_ApiKey/Three+=CCCC3333"
		harQuery  = "har_Query/Four+=DDDD4444"
		harUser   = "bob"
		harPass   = "har-Basic/Password+5"
	)
	basic := base64.StdEncoding.EncodeToString([]byte(harUser + ":" + harPass))
	echo := strings.Join([]string{harBearer, harCookie, harKey, harQuery, harPass, basic}, " ")
	body, _ := json.Marshal(map[string]any{"error": "denied", "seen": strings.Fields(echo)})
	type hv = map[string]string
	entry := func(method, u string, reqH []hv, status int, respH []hv, text string) map[string]any {
		return map[string]any{
			"startedDateTime": "2026-03-14T09:26:53.000Z", "time": 10,
			"request": map[string]any{"method": method, "url": u, "httpVersion": "HTTP/1.1", "headers": reqH,
				"queryString": []any{}, "cookies": []any{}, "headersSize": -1, "bodySize": 0},
			"response": map[string]any{"status": status, "statusText": "", "httpVersion": "HTTP/1.1", "headers": respH,
				"cookies": []any{}, "content": map[string]any{"size": len(text), "mimeType": "application/json", "text": text},
				"redirectURL": "", "headersSize": -1, "bodySize": len(text)},
			"cache": map[string]any{}, "timings": map[string]any{"send": 0, "wait": 10, "receive": 0},
		}
	}
	denied := []hv{
		{"name": "WWW-Authenticate", "value": `Bearer error="invalid_token", error_description="rejected ` + echo + `"`},
		{"name": "X-Echo", "value": url.QueryEscape(harKey)},
		{"name": "Location", "value": "https://api.example.com/denied/" + url.PathEscape(harBearer) + "?seen=" + url.QueryEscape(harCookie)},
		{"name": "Content-Type", "value": "application/json"},
	}
	doc := map[string]any{"log": map[string]any{
		"version": "1.2", "creator": map[string]any{"name": "Firefox", "version": "125.0"},
		"entries": []any{
			entry("GET", "https://api.example.com/login", []hv{{"name": "Authorization", "value": "Bearer " + harBearer}}, 200,
				[]hv{{"name": "Set-Cookie", "value": "sid=" + harCookie + "; Path=/; HttpOnly"}}, "{}"),
			entry("GET", "https://api.example.com/orders", []hv{{"name": "Cookie", "value": "sid=" + harCookie}, {"name": "X-API-Key", "value": harKey}}, 401, denied, string(body)),
			entry("GET", "https://api.example.com/export?access_token="+url.QueryEscape(harQuery), nil, 403, denied, string(body)),
			entry("GET", "https://api.example.com/admin", []hv{{"name": "Authorization", "value": "Basic " + basic}}, 403, denied,
				strings.ReplaceAll(string(body), "/", `\/`)),
		},
	}}
	raw, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := AnalyzeHAR(ctx, bytes.NewReader(raw), baseOptions(""))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Entries) != 3 {
		t.Fatalf("%d failing entries, want 3", len(rep.Entries))
	}
	var text, js bytes.Buffer
	if err := rep.WriteText(&text, false); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	if !json.Valid(js.Bytes()) {
		t.Fatalf("the scrubbed JSON does not parse:\n%s", js.String())
	}
	for what, out := range map[string]string{"text": text.String(), "json": js.String()} {
		if !strings.Contains(out, scrubMark) {
			t.Errorf("%s output has no %s: nothing reflected was scrubbed", what, scrubMark)
		}
		for _, s := range []string{harBearer, harCookie, harKey, harQuery, harPass, basic, harUser + ":" + harPass} {
			for _, form := range reflectedForms(s) {
				if strings.Contains(out, form) {
					t.Errorf("%s output holds a HAR credential as %q\n%s", what, form, out)
				}
			}
		}
	}
}

// TestOneRedactionPerCredential: a credential reflected by the server (in a header, the
// body, a Location, the URL) reads the same everywhere in the report: its mark carries the
// same short SHA-256 as its redacted form in the request.
func TestOneRedactionPerCredential(t *testing.T) {
	tok := "opaque-reflected-token-0123456789"
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Debug-Token", tok)
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="token `+tok+` is unknown"`)
		w.WriteHeader(401)
		_, _ = w.Write([]byte(`{"message":"unknown token ` + tok + `","token":"` + tok + `"}`))
	})
	o := baseOptions(srv.URL + "/x?access_token=" + tok)
	o.Headers = []Header{bearer(tok)}
	rep := runDoctor(t, o)
	var text, js strings.Builder
	_ = rep.WriteText(&text, false)
	_ = rep.WriteJSON(&js)
	mark := markFor(tok)
	sum := strings.TrimSuffix(strings.TrimPrefix(mark, "[REDACTED "), "]")
	for what, out := range map[string]string{"text": text.String(), "json": js.String()} {
		if strings.Contains(out, tok) || strings.Contains(out, tok[4:20]) {
			t.Errorf("%s: the token leaked", what)
		}
		if !strings.Contains(out, mark) || !strings.Contains(out, "bytes, "+sum+")") {
			t.Errorf("%s: the reflected token is not marked %s, or the request's redaction does not carry %s", what, mark, sum)
		}
		for _, m := range regexp.MustCompile(`\[REDACTED[^\]]*\]`).FindAllString(out, -1) {
			if m != mark {
				t.Errorf("%s: another redaction %q for the one credential", what, m)
			}
		}
	}
}
