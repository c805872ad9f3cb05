package lint

import (
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/secret"
)

// TestGatehouseKeyChecksumCheckedOffline: a real gk_ key passes; the same key with one
// character changed is named as mistyped before anything is sent.
func TestGatehouseKeyChecksumCheckedOffline(t *testing.T) {
	k, err := secret.NewAPIKey("live")
	if err != nil {
		t.Fatal(err)
	}
	good := k.Reveal()
	b := []byte(good)
	i := len(b) - secret.KeyChecksumLen - 3 // a character of the secret
	if b[i] == 'a' {
		b[i] = 'b'
	} else {
		b[i] = 'a'
	}
	bad := string(b)
	has := func(fs []string, code string) bool {
		for _, f := range fs {
			if strings.HasPrefix(f, code) {
				return true
			}
		}
		return false
	}
	codesOf := func(v string) []string {
		var out []string
		for _, f := range Credential(Input{HeaderName: "X-API-Key", Value: v, TargetHost: "127.0.0.1"}) {
			out = append(out, f.Code+"/"+string(f.Severity))
		}
		return out
	}
	if got := codesOf(good); has(got, CodeTruncated) {
		t.Errorf("a real key is flagged: %v", got)
	}
	got := codesOf(bad)
	if !has(got, CodeTruncated+"/error") {
		t.Errorf("a mistyped key is not flagged: %v", got)
	}
	for _, f := range Credential(Input{HeaderName: "X-API-Key", Value: bad}) {
		if strings.Contains(strings.Join(f.Evidence, " ")+f.Summary, bad[10:]) {
			t.Errorf("the key leaked into %s", f.Code)
		}
	}
}
