package lint

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
)

// FuzzCredential checks that the lint never panics and never echoes a secret: for every
// input, no summary, fix or evidence line contains the value (or its credential part) when
// that is 16 bytes or more, and a high-entropy secret sent in a well-formed header gives
// no error finding.
func FuzzCredential(f *testing.F) {
	for _, s := range []string{
		"Bearer abc", "Bearer ", "Bearer Bearer x", "Basic YWxpY2U6c2VjcmV0Cg==", "Basic alice:secret",
		"bearer {{token}}", "Bearer ${API_KEY}\r\n", "“quoted”", "Bearer eyJhbGciOiJIUzI1NiJ9.e30.", "Token a, Bearer b,",
		"gk_live_abc_def", "\ufeffBearer x\u200b", "Digest username=\"a\", response=\"b\"",
	} {
		f.Add("Authorization", s, []byte(nil), false)
	}
	f.Add("X_API_KEY", "sk-...abcd", []byte("seed"), true)
	f.Fuzz(func(t *testing.T, header, value string, secretSeed []byte, tokenEndpoint bool) {
		in := Input{HeaderName: header, Value: value, TargetHost: "api.example.com", TokenEndpoint: tokenEndpoint, ServerSchemes: []string{"Bearer"}}
		fs := Credential(in)
		assertNoSecret(t, value, fs)
		for _, fd := range fs {
			if fd.Code == "" || fd.Summary == "" || fd.Fix == "" || len(fd.Evidence) == 0 {
				t.Fatalf("incomplete finding %+v", fd)
			}
		}
		// A random secret, as a well-formed Bearer token: never in the output, no error.
		sum := sha256.Sum256(append(secretSeed, value...))
		secret := "Q" + base64.RawURLEncoding.EncodeToString(sum[:]) + hex.EncodeToString(sum[:8]) // no known key prefix starts with Q
		fs = Credential(Input{Value: "Bearer " + secret, TargetHost: "api.example.com", ServerSchemes: []string{"Bearer"}})
		assertNoSecret(t, "Bearer "+secret, fs)
		for _, fd := range fs {
			if fd.Score >= 60 && !strings.Contains(secret, "xxxxxx") && !strings.Contains(strings.ToLower(secret), "xxxxxx") {
				t.Fatalf("a random secret gave %s (score %d): %v", fd.Code, fd.Score, fd.Evidence)
			}
		}
	})
}

// FuzzReadEnv checks that reading any file never panics and that the loaders agree on
// whether the value is defined when the file is plain NAME=value lines.
func FuzzReadEnv(f *testing.F) {
	for _, s := range []string{
		"API_KEY=abc\n", "API_KEY=abc\r\n", "export API_KEY=\"a b\"\n", "API_KEY='x$y'\n", "\ufeffAPI_KEY=1",
		"API_KEY=\"multi\nline\"\n", "# API_KEY=x\nAPI_TOKEN=y\n", "API_KEY=$(cat f) `x` ${Y} $Z\\\n", "API_KEY=a # c\n",
		"API_KEY=\"unterminated\n", "=\n==\n'\"\\", "API_KEY: yaml\n",
	} {
		f.Add(s, "API_KEY")
	}
	f.Fuzz(func(t *testing.T, data, name string) {
		if len(data) > 1<<16 {
			return
		}
		r, fs := readEnvBytes(".env", []byte(data), name)
		if r == nil {
			t.Fatal("nil reading")
		}
		if len(r.Loaders) != 4 {
			t.Fatalf("%d loaders", len(r.Loaders))
		}
		for _, fd := range fs {
			if fd.Code == "" || len(fd.Evidence) == 0 {
				t.Fatalf("incomplete finding %+v", fd)
			}
			for _, e := range fd.Evidence {
				if len(r.Value) >= 16 && strings.Contains(e, r.Value) {
					t.Fatalf("evidence reveals the value: %q", e)
				}
			}
		}
	})
}
