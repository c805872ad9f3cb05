package doctor

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// reportText renders the text and JSON reports together, for leak checks.
func reportText(t *testing.T, rep *Report) string {
	t.Helper()
	var text, js strings.Builder
	if err := rep.WriteText(&text, false); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	return text.String() + js.String()
}

// TestHostileChallenges: WWW-Authenticate fields built to hurt (10,000 parameters, an
// unterminated quote, control characters, a repeated parameter, a field of 60 KiB) give
// a clear finding, in bounded time, without echoing the credential.
func TestHostileChallenges(t *testing.T) {
	var many strings.Builder
	many.WriteString("Bearer ")
	for i := 0; i < 10000; i++ {
		fmt.Fprintf(&many, "p%d=v, ", i)
	}
	tok := "hostile-secret-token-0123456789"
	tests := []struct {
		name, field string
		raw         bool // written on the wire by hand (Go's server refuses control bytes)
	}{
		{"10,000 parameters", many.String(), false},
		{"10,000 repeats of one parameter", "Bearer " + strings.Repeat(`realm="a", `, 10000), false},
		{"unterminated quote", `Bearer realm="api, error="invalid_token`, false},
		{"a tab and a bell in a quoted value", "Bearer realm=\"a\tb\x07\"", true},
		{"NUL byte", "Bearer realm=\"a\x00b\"", true},
		{"reflected credential beside a NUL byte", "Bearer error_description=\"" + tok + "\x00\"", true},
		{"reflected credential in a broken field", `Bearer error_description="token ` + tok + ` unknown`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var target string
			if tc.raw {
				target = rawServer(t, "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: "+tc.field+"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
			} else {
				target = serve(t, func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("WWW-Authenticate", tc.field)
					w.WriteHeader(401)
				}).URL
			}
			o := baseOptions(target + "/x")
			o.Headers = []Header{bearer(tok)}
			start := time.Now()
			rep := runDoctor(t, o)
			if el := time.Since(start); el > 20*time.Second {
				t.Errorf("took %v", el)
			}
			out := reportText(t, rep) + rep.Unreachable
			t.Logf("verdict %s; findings %v; %s", rep.Verdict, codes(rep.Findings), rep.Unreachable)
			if strings.Contains(out, tok) {
				t.Errorf("the credential leaked")
			}
			switch {
			case rep.Verdict == VerdictUnreachable:
				// Go's client refuses some control bytes in a header: that is said plainly.
				if !strings.Contains(rep.Unreachable, "breaks HTTP's syntax") {
					t.Errorf("unreachable without a clear reason: %s", rep.Unreachable)
				}
			case rep.Verdict != "challenge_unparseable" && rep.Response.Challenges != nil && len(rep.Response.Challenges) == 0:
				t.Errorf("verdict %q with empty challenges", rep.Verdict)
			}
			if rep.Verdict != VerdictUnreachable && findingByCode(rep, "challenge_unparseable") == nil && rep.Response.Challenges == nil {
				t.Errorf("challenges null without a challenge_unparseable finding; findings %v", codes(rep.Findings))
			}
			if len(out) > 1<<20 {
				t.Errorf("the report is %d bytes: not bounded", len(out))
			}
		})
	}
}

// TestHostileMetadata: a resource_metadata document or an issuer's documents that are
// huge, slow, or point elsewhere are read within bounds, never followed off the named
// origin without --fetch-jwks, and named in the report.
func TestHostileMetadata(t *testing.T) {
	other := &recorder{}
	elsewhere := serve(t, func(w http.ResponseWriter, r *http.Request) {
		other.add(r)
		_, _ = w.Write([]byte(`{"keys":[]}`))
	})
	huge := strings.Repeat(" ", 12<<20) // 12 MiB of JSON whitespace
	tests := []struct {
		name     string
		handler  func(self string) http.HandlerFunc
		token    func(self string) string
		evidence string
	}{
		{"huge metadata", func(self string) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/.well-known/oauth-protected-resource" {
					_, _ = w.Write([]byte(`{"resource":"` + self + `"` + huge + `}`))
					return
				}
				w.Header().Set("WWW-Authenticate", `Bearer resource_metadata="`+self+`/.well-known/oauth-protected-resource"`)
				w.WriteHeader(401)
			}
		}, nil, "larger than 65536 bytes"},
		{"slow metadata", func(self string) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/.well-known/oauth-protected-resource" {
					<-r.Context().Done() // never answers; the doctor's timeout ends it
					return
				}
				w.Header().Set("WWW-Authenticate", `Bearer resource_metadata="`+self+`/.well-known/oauth-protected-resource"`)
				w.WriteHeader(401)
			}
		}, nil, "the resource metadata was not read"},
		{"metadata elsewhere", func(self string) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("WWW-Authenticate", `Bearer resource_metadata="`+elsewhere.URL+`/.well-known/oauth-protected-resource"`)
				w.WriteHeader(401)
			}
		}, nil, "not followed without --fetch-jwks"},
		{"discovery on the origin, jwks_uri elsewhere", func(self string) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/.well-known/openid-configuration" {
					_, _ = w.Write([]byte(`{"issuer":"` + self + `","jwks_uri":"` + elsewhere.URL + `/jwks"}`))
					return
				}
				w.WriteHeader(401)
			}
		}, func(self string) string {
			return makeJWT(map[string]any{"alg": "RS256", "kid": "k1"}, claims(map[string]any{"iss": self}))
		}, "jwks_uri is on another origin"},
		{"huge JWKS on the origin", func(self string) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/.well-known/openid-configuration":
					_, _ = w.Write([]byte(`{"issuer":"` + self + `","jwks_uri":"` + self + `/jwks"}`))
				case "/jwks":
					_, _ = w.Write([]byte(`{"keys":[` + huge + `]}`))
				default:
					w.WriteHeader(401)
				}
			}
		}, func(self string) string {
			return makeJWT(map[string]any{"alg": "RS256", "kid": "k1"}, claims(map[string]any{"iss": self}))
		}, "larger than 65536 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var self string
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) { tc.handler(self)(w, r) })
			self = srv.URL
			o := baseOptions(srv.URL + "/orders")
			o.Timeout = time.Second
			tok := "opaque-token-0123456789abcdef"
			if tc.token != nil {
				tok = tc.token(self)
			}
			o.Headers = []Header{bearer(tok)}
			start := time.Now()
			rep := runDoctor(t, o)
			if el := time.Since(start); el > 20*time.Second {
				t.Errorf("took %v", el)
			}
			if rep.Verdict != "credential_rejected_unknown" {
				t.Fatalf("verdict %q; findings %v", rep.Verdict, codes(rep.Findings))
			}
			if ev := evidenceText(&rep.Findings[0]); !strings.Contains(ev, tc.evidence) {
				t.Errorf("evidence lacks %q:\n%s", tc.evidence, ev)
			}
			if out := reportText(t, rep); strings.Contains(out, tok) {
				t.Errorf("the credential leaked")
			}
		})
	}
	for _, r := range other.all() {
		t.Errorf("a document on another origin was fetched without --fetch-jwks: %s %s", r.Method, r.Path)
	}
}
