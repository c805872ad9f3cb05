package main

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// TestDoctorCommandNeverPrintsAReflectedCredential runs the command as a user would,
// against a server that echoes every credential it gets (challenge, body, header,
// Location), and checks stdout and stderr, text and --json, for every form of each.
func TestDoctorCommandNeverPrintsAReflectedCredential(t *testing.T) {
	const (
		token = "cli_Bearer/Token+Echo=0011223344"
		user  = "carol"
		pass  = "cli-Password/Echoed+99"
		key   = "cli_Key/Echoed+=5566778899"
	)
	pair := user + ":" + pass
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var got []string
		if a := r.Header.Get("Authorization"); a != "" {
			_, rest, _ := strings.Cut(a, " ")
			got = append(got, rest)
			if raw, err := base64.StdEncoding.DecodeString(rest); err == nil {
				_, p, _ := strings.Cut(string(raw), ":")
				got = append(got, string(raw), p)
			}
		}
		if k := r.Header.Get("X-API-Key"); k != "" {
			got = append(got, k)
		}
		if r.URL.Path == "/start" && len(got) > 0 {
			w.Header().Set("Location", "/denied/"+url.PathEscape(got[0]))
			w.WriteHeader(http.StatusFound)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="api", error="invalid_token", error_description="bad: `+strings.Join(got, " ")+`"`)
		w.Header().Set("X-Debug-Credential", url.QueryEscape(strings.Join(got, " ")))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_ = json.NewEncoder(w).Encode(map[string]any{"error": "invalid_token", "echo": got})
	}))
	defer srv.Close()
	cases := [][]string{
		{srv.URL + "/start", "-H", "Authorization: Bearer " + token, "-H", "X-API-Key: " + key},
		{srv.URL + "/start", "-u", pair},
	}
	for _, args := range cases {
		for _, extra := range [][]string{nil, {"--json"}} {
			code, stdout, stderr := runDoctorCmd(t, nil, append(append([]string{}, args...), extra...)...)
			if code != 1 {
				t.Fatalf("doctor %v: exit %d, want 1\n%s%s", args, code, stdout, stderr)
			}
			if !strings.Contains(stdout, "[REDACTED sha256:") {
				t.Errorf("doctor %v %v: nothing was scrubbed; did the server echo?\n%s", args, extra, stdout)
			}
			for _, secret := range []string{token, key, pass, pair, base64.StdEncoding.EncodeToString([]byte(pair))} {
				for _, form := range []string{secret, url.QueryEscape(secret), url.PathEscape(secret)} {
					if strings.Contains(stdout+stderr, form) {
						t.Errorf("doctor %v %v printed %q\n%s", args, extra, form, stdout)
					}
				}
			}
		}
	}
}
