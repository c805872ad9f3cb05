package har

import (
	"errors"
	"strings"
	"testing"
)

// FuzzReadHAR checks that Read never panics, returns either a log or an error that wraps
// one of its sentinels or names the offset, and that Analyze and Failing never panic on
// whatever it returns.
func FuzzReadHAR(f *testing.F) {
	for _, s := range []string{
		`{"log":{"entries":[]}}`,
		`{"log":{"creator":{"name":"WebInspector"},"entries":[{"request":{"method":"OPTIONS","url":"https://a/x","headers":[{"name":"Access-Control-Request-Method","value":"GET"},{"name":"Origin","value":"https://b"}]},"response":{"status":401,"headers":[]}},{"request":{"method":"GET","url":"https://a/x","headers":[{"name":"Origin","value":"https://b"},{"name":"Authorization","value":"Bearer x\n"}]},"response":{"status":0,"_error":"net::ERR_FAILED"}}]}}`,
		`{"log":{"entries":[{"request":{"method":"POST","url":"https://a/","headers":[{"name":"Cookie","value":"sessionid=1"}]},"response":{"status":403,"headers":[{"name":"Set-Cookie","value":"sessionid=; Max-Age=0"}],"content":{"text":"CSRF"}}}]}}`,
		`{"log":{"entries":[{"response":{"content":{"encoding":"base64","mimeType":"text/plain","text":"aGVsbG8="}}}]}}`,
		`{"log":`, `[]`, `{"log":{"entries":[1,"x",null,{}]}}`, "\"\\ud800\"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := Read(strings.NewReader(string(data)), 1<<20)
		if err != nil {
			if !errors.Is(err, ErrNotJSON) && !errors.Is(err, ErrNotHAR) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		for _, i := range Failing(l) {
			_ = Analyze(l, i)
		}
		for i := range l.Entries {
			_ = Analyze(l, i)
		}
		Sanitize(l)
	})
}
