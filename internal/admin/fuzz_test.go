package admin

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzAdminRequestParsing feeds hostile Authorization headers, query strings and bodies
// to the parsers that see them before any check: none panics, a parsed token always has
// the gha_<16 hex>_<64 hex> shape, and a body is either decoded or refused with a 400 or
// 413 that never echoes the token.
func FuzzAdminRequestParsing(f *testing.F) {
	tok := "gha_0123456789abcdef_" + strings.Repeat("ab", 32)
	f.Add("Bearer "+tok, "after=x&limit=3", `{"name":"svc","scopes":["a"]}`)
	f.Add("bearer  "+tok+" ", "access_token="+tok, `{"name":"svc","nope":1,"Name":2}`)
	f.Add("Basic Zm9vOmJhcg==", "a=%67ha_&b=%zz", `[`)
	f.Add("Bearer gha__", "x=%", `{"name":"\ud800"}`+strings.Repeat(" ", 10))
	f.Fuzz(func(t *testing.T, auth, query, body string) {
		if tk, ok := bearer([]string{auth}); ok {
			if id, ok := parseToken(tk); ok {
				if len(id) != tokenIDHex || len(tk) != len(TokenPrefix)+tokenIDHex+1+tokenSecretHex {
					t.Fatalf("parseToken(%q) accepted a malformed token", tk)
				}
			}
		}
		r := httptest.NewRequest("POST", "/admin/v1/keys", strings.NewReader(body))
		r.URL.RawQuery = query
		credentialInQuery(r)
		w := httptest.NewRecorder()
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		var req CreateKeyRequest
		if err := decodeBody(r, &req); err != nil {
			var ae *Error
			if !errors.As(err, &ae) || (ae.Status != 400 && ae.Status != 413) {
				t.Fatalf("decodeBody(%q) = %v, want a 400 or 413", body, err)
			}
			if strings.Contains(ae.Msg, tok) {
				t.Fatalf("the refusal echoes a token: %s", ae.Msg)
			}
		}
	})
}
