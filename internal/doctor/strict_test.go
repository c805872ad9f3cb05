package doctor

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStrictChallengeGrammar: a WWW-Authenticate field the RFC 9110 grammar refuses is
// challenge_unparseable with challenges null, even when a lenient reading would salvage
// it; that reading appears only as evidence.
func TestStrictChallengeGrammar(t *testing.T) {
	tests := []struct {
		name, field, lenient string
	}{
		{"comma after the scheme", `Basic, realm="x"`, `Basic realm="x"`},
		{"a parameter repeated in one challenge", `Bearer realm="api", error="invalid_token", realm="other"`, `Bearer realm="api", error="invalid_token", realm="other"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("WWW-Authenticate", tc.field)
				w.WriteHeader(401)
			})
			o := baseOptions(srv.URL + "/x")
			o.UserPass, o.HasUserPass = "alice:wonderland-secret", true
			rep := runDoctor(t, o)
			if rep.Verdict != "challenge_unparseable" {
				t.Fatalf("verdict %q; findings %v", rep.Verdict, codes(rep.Findings))
			}
			ev := evidenceText(findingByCode(rep, "challenge_unparseable"))
			if !strings.Contains(ev, "a lenient reading would give: "+tc.lenient) {
				t.Errorf("evidence lacks the lenient reading %q:\n%s", tc.lenient, ev)
			}
			var buf bytes.Buffer
			if err := rep.WriteJSON(&buf); err != nil {
				t.Fatal(err)
			}
			var j struct {
				Response struct {
					Challenges json.RawMessage `json:"challenges"`
				} `json:"response"`
			}
			if err := json.Unmarshal(buf.Bytes(), &j); err != nil {
				t.Fatal(err)
			}
			if string(j.Response.Challenges) != "null" {
				t.Errorf("challenges = %s, want null", j.Response.Challenges)
			}
		})
	}
}

// TestMissingChallengeIsTheVerdictForAChallengeDrivenClient: a client that waits for a
// challenge (curl --anyauth) never sends the credential to a server whose 401 has no
// WWW-Authenticate, even though the credential works when sent preemptively.
func TestMissingChallengeIsTheVerdictForAChallengeDrivenClient(t *testing.T) {
	for _, challenge := range []string{"", `Basic realm="files"`} {
		srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
			if u, p, ok := r.BasicAuth(); ok && u == "alice" && p == "wonderland" {
				_, _ = w.Write([]byte(`{"ok":true}`))
				return
			}
			if challenge != "" {
				w.Header().Set("WWW-Authenticate", challenge)
			}
			w.WriteHeader(401)
		})
		o := baseOptions(srv.URL + "/files")
		o.UserPass, o.HasUserPass = "alice:wonderland", true
		o.ChallengeFirst = "curl --anyauth"
		rep := runDoctor(t, o)
		want := "missing_www_authenticate_challenge"
		if challenge != "" {
			want = VerdictOK
		}
		if rep.Verdict != want {
			t.Errorf("challenge %q: verdict %q, want %q; findings %v", challenge, rep.Verdict, want, codes(rep.Findings))
		}
	}
}

// TestNetrcOverridesAuthorizationIsTheVerdict: the header as given works, but requests
// and httpx would send the netrc entry instead; the doctor sends it once, as they would,
// to the same host, and names the netrc entry when it is refused.
func TestNetrcOverridesAuthorizationIsTheVerdict(t *testing.T) {
	for _, netrcOK := range []bool{false, true} {
		srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
			u, p, basic := r.BasicAuth()
			if r.Header.Get("Authorization") == "Bearer good-token-0123456789" || (netrcOK && basic && u == "bob" && p == "netrc-pass-98765") {
				_, _ = w.Write([]byte(`{"ok":true}`))
				return
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="api"`)
			w.WriteHeader(401)
		})
		u, _ := url.Parse(srv.URL)
		netrc := filepath.Join(t.TempDir(), "netrc")
		if err := os.WriteFile(netrc, []byte("machine "+u.Hostname()+" login bob password netrc-pass-98765\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		o := baseOptions(srv.URL + "/me")
		o.Getenv = env{"NETRC": netrc}.get
		o.Headers = []Header{bearer("good-token-0123456789")}
		rep := runDoctor(t, o)
		want := "netrc_overrides_authorization"
		if netrcOK {
			want = VerdictOK
		}
		if rep.Verdict != want {
			t.Errorf("netrc accepted %v: verdict %q, want %q; findings %v", netrcOK, rep.Verdict, want, codes(rep.Findings))
		}
		if out := reportText(t, rep); strings.Contains(out, "netrc-pass-98765") || strings.Contains(out, base64.StdEncoding.EncodeToString([]byte("bob:netrc-pass-98765"))) {
			t.Errorf("the netrc password leaked")
		}
	}
}

// TestUnexposedChallengeStopsDiscovery: a browser client that starts without a token
// and discovers its authorization server from the challenge (RFC 9728) cannot, when
// the 401's WWW-Authenticate is not exposed to the page: that is the verdict.
func TestUnexposedChallengeStopsDiscovery(t *testing.T) {
	for _, expose := range []bool{false, true} {
		srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Access-Control-Allow-Origin", r.Header.Get("Origin"))
			if expose {
				w.Header().Set("Access-Control-Expose-Headers", "WWW-Authenticate")
			}
			w.Header().Set("WWW-Authenticate", `Bearer resource_metadata="http://`+r.Host+`/.well-known/oauth-protected-resource"`)
			w.WriteHeader(401)
		})
		o := baseOptions(srv.URL + "/mcp")
		o.Origin = "http://localhost:6274"
		rep := runDoctor(t, o)
		want := "www_authenticate_not_exposed"
		if expose {
			want = "credential_missing_or_empty"
		}
		if rep.Verdict != want {
			t.Errorf("exposed %v: verdict %q, want %q; findings %v", expose, rep.Verdict, want, codes(rep.Findings))
		}
	}
}
