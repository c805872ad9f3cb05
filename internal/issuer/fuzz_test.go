package issuer_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// FuzzTokenServiceRequest sends arbitrary bodies, content types and Authorization
// values to the three POST endpoints. Whatever arrives, the answer is 200 or an RFC 6749
// error object with its status, never cacheable, with a Basic challenge exactly on
// invalid_client, and never an echo of the client's secret.
func FuzzTokenServiceRequest(f *testing.F) {
	e := newEnv(f)
	e.addClient("fuzz", "fuzz-secret-not-echoed", []string{"a", "b"}, time.Minute)
	tok := e.token("fuzz", "fuzz-secret-not-echoed", "")
	good := basic("fuzz", "fuzz-secret-not-echoed")[len("Authorization: "):]
	form := "application/x-www-form-urlencoded"
	f.Add(uint8(0), form, good, []byte("grant_type=client_credentials&scope=a"))
	f.Add(uint8(0), form, "", []byte("grant_type=client_credentials&client_id=fuzz&client_secret=fuzz-secret-not-echoed"))
	f.Add(uint8(0), form, good, []byte("grant_type=client_credentials&grant_type=password"))
	f.Add(uint8(1), form, good, []byte("token="+tok))
	f.Add(uint8(2), form, good, []byte("token="+tok+"&token_type_hint=refresh_token"))
	f.Add(uint8(0), "application/json", "Bearer x", []byte(`{"grant_type":"client_credentials"}`))
	f.Add(uint8(0), form+"; charset=utf-8", "Basic Zm9vOmJhcg==", []byte("grant_type=client_credentials&scope=%zz"))
	paths := []string{"/oauth2/token", "/oauth2/introspect", "/oauth2/revoke"}
	allowed := map[string]int{
		"invalid_request": 400, "invalid_client": 401, "unsupported_grant_type": 400, "invalid_scope": 400,
		"unauthorized_client": 400, "too_many_failures": 429, "temporarily_unavailable": 503,
	}
	h := e.srv.Handler()
	f.Fuzz(func(t *testing.T, which uint8, contentType, authorization string, body []byte) {
		if len(body) > 1<<17 {
			return
		}
		req := httptest.NewRequest(http.MethodPost, paths[int(which)%len(paths)], bytes.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		if authorization != "" {
			req.Header.Set("Authorization", authorization)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Header().Get("Cache-Control") != "no-store" {
			t.Fatalf("answer %d without Cache-Control: no-store", rec.Code)
		}
		if bytes.Contains(rec.Body.Bytes(), []byte("fuzz-secret-not-echoed")) {
			t.Fatalf("the answer echoes the client secret: %s", rec.Body.Bytes())
		}
		if rec.Code == http.StatusOK {
			return
		}
		var obj map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &obj); err != nil {
			t.Fatalf("status %d with a body that is not JSON: %q", rec.Code, rec.Body.Bytes())
		}
		code, _ := obj["error"].(string)
		want, ok := allowed[code]
		if rec.Code == http.StatusMethodNotAllowed {
			want, ok = 405, code == "invalid_request"
		}
		if !ok || rec.Code != want {
			t.Fatalf("status %d with error %q", rec.Code, code)
		}
		desc, _ := obj["error_description"].(string)
		for i := 0; i < len(desc); i++ {
			if c := desc[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
				t.Fatalf("error_description has %q", c)
			}
		}
		if (code == "invalid_client") != (rec.Header().Get("WWW-Authenticate") != "") {
			t.Fatalf("error %s with challenge %q", code, rec.Header().Get("WWW-Authenticate"))
		}
	})
}
