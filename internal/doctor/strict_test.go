package doctor

import (
	"bytes"
	"encoding/json"
	"net/http"
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
