package identity

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzMapClaims decodes untrusted JSON claims as the verifiers do (numbers as
// json.Number) and applies a mapping: whatever the claims hold, no header value carries
// a control character, invalid UTF-8 or more than MaxHeaderValueBytes, and an array is
// never sent in part.
func FuzzMapClaims(f *testing.F) {
	for _, s := range []string{
		`{"email":"a@b","groups":["x","y"]}`,
		`{"email":"a\r\nX-Injected: 1","groups":["a,b"]}`,
		`{"email":"\u0085","groups":[1,true,null]}`,
		`{"email":{"a":"b"},"groups":[[1]],"realm_access":{"roles":["admin"]}}`,
		`{"email":1e400,"groups":[-0,1.50,12345678901234567890]}`,
		`{"realm_access.roles":"top","realm_access":{"roles":"nested"}}`,
	} {
		f.Add([]byte(s))
	}
	m, err := NewMapping([][2]string{{"X-Email", "email"}, {"X-Groups", "groups"}, {"X-Roles", "realm_access.roles"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var claims map[string]any
		if dec.Decode(&claims) != nil {
			return
		}
		h := http.Header{}
		m.Apply(h, claims)
		for name, vals := range h {
			if len(vals) != 1 {
				t.Fatalf("%s has %d values", name, len(vals))
			}
			v := vals[0]
			if v == "" || len(v) > MaxHeaderValueBytes || !utf8.ValidString(v) {
				t.Fatalf("%s = %q", name, v)
			}
			for _, r := range v {
				if r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 {
					t.Fatalf("%s = %q holds a control character", name, v)
				}
			}
		}
		// An array is all or nothing: its entries, rendered, are the value's parts.
		if arr, ok := claims["groups"].([]any); ok && h.Get("X-Groups") != "" {
			if got := strings.Count(h.Get("X-Groups"), ",") + 1; got != len(arr) {
				t.Fatalf("X-Groups %q has %d parts for %d entries", h.Get("X-Groups"), got, len(arr))
			}
		}
	})
}
