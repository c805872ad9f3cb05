package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func init() {
	// Several test files may want -update; register it once, whoever comes first.
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files under testdata/")
	}
}

func updateTokenGolden() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// tokenInspectNow is the fixed clock of the golden files.
var tokenInspectNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func tokenFakeJWT(t *testing.T, header, claims any, sigLen int) string {
	t.Helper()
	enc := func(v any) string {
		var b []byte
		switch x := v.(type) {
		case string:
			b = []byte(x)
		default:
			var err error
			if b, err = json.Marshal(v); err != nil {
				t.Fatal(err)
			}
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	sig := make([]byte, sigLen)
	for i := range sig {
		sig[i] = byte(i*7 + 1)
	}
	return enc(header) + "." + enc(claims) + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func TestTokenInspectGolden(t *testing.T) {
	old := nowFunc
	nowFunc = func() time.Time { return tokenInspectNow }
	t.Cleanup(func() { nowFunc = old })
	unix := func(d time.Duration) int64 { return tokenInspectNow.Add(d).Unix() }

	es := tokenFakeJWT(t, map[string]any{"alg": "ES256", "kid": "es-1", "typ": "JWT"}, map[string]any{
		"iss": "https://id.example", "sub": "user-42", "aud": "api://orders",
		"exp": unix(12 * time.Minute), "nbf": unix(-10 * time.Minute), "iat": unix(-3 * time.Second),
		"scope": "orders:read orders:write", "jti": "j-1",
	}, 64)
	expired := tokenFakeJWT(t, map[string]any{"alg": "RS256", "kid": "rs-1"}, map[string]any{
		"iss": "https://login.example/tenant/v2.0", "sub": "svc", "aud": []string{"api://billing", "api://orders"},
		"exp": unix(-4*time.Minute - 12*time.Second), "iat": unix(-64*time.Minute - 12*time.Second),
		"scp": []string{"billing.read"}, "azp": "web-app", "email": "a&b@example.com",
	}, 256)
	future := tokenFakeJWT(t, map[string]any{"alg": "HS256"}, map[string]any{
		"sub": "u", "exp": unix(50 * time.Hour), "nbf": unix(3 * time.Minute), "iat": unix(40 * time.Second),
	}, 32)
	unsigned := tokenFakeJWT(t, map[string]any{"alg": "none"}, map[string]any{"sub": "admin", "role": "superuser"}, 0)
	odd := tokenFakeJWT(t, map[string]any{"alg": "ES256", "x5u": "https://evil.example/\u001b[31m"}, `{"exp":"tomorrow","iat":1.5e9,"big":12345678901234567890}`, 64)

	tests := []struct {
		name  string
		args  []string
		stdin string
		code  int
	}{
		{name: "es256_text", args: []string{"token", "inspect", es}, code: 0},
		{name: "es256_json", args: []string{"token", "inspect", "--json", es}, code: 0},
		{name: "flag_after_token", args: []string{"token", "inspect", es, "--json"}, code: 0},
		{name: "expired_from_stdin", args: []string{"token", "inspect", "-"}, stdin: "  Bearer " + expired + "\r\n", code: 0},
		{name: "stdin_without_dash", args: []string{"token", "inspect"}, stdin: "Authorization: Bearer " + expired + "\n", code: 0},
		{name: "future_times", args: []string{"token", "inspect", future}, code: 0},
		{name: "unsigned", args: []string{"token", "inspect", unsigned}, code: 0},
		{name: "odd_claims", args: []string{"token", "inspect", odd}, code: 0},
		{name: "odd_claims_json", args: []string{"token", "inspect", "--json", odd}, code: 0},
		{name: "not_a_jwt", args: []string{"token", "inspect", "2YotnFZFEjr1zCsicMWpAA"}, code: 1},
		{name: "api_key", args: []string{"token", "inspect", "gk_live_abc123_def456"}, code: 1},
		{name: "jwe", args: []string{"token", "inspect", "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.a.b.c.d"}, code: 1},
		{name: "bad_base64", args: []string{"token", "inspect", "eyJhbGciOiJFUzI1NiJ9.e*30.c2ln"}, code: 1},
		{name: "claims_not_json", args: []string{"token", "inspect", "eyJhbGciOiJFUzI1NiJ9.bm9wZQ.c2ln"}, code: 1},
		{name: "empty_stdin", args: []string{"token", "inspect", "-"}, stdin: " \n", code: 1},
		{name: "too_large", args: []string{"token", "inspect", "eyJ" + strings.Repeat("A", 17000) + ".a.b"}, code: 1},
		{name: "no_subcommand", args: []string{"token"}, code: 2},
		{name: "unknown_subcommand", args: []string{"token", "verify", es}, code: 2},
		{name: "two_tokens", args: []string{"token", "inspect", es, es}, code: 2},
		{name: "unknown_flag", args: []string{"token", "inspect", "--verify", es}, code: 2},
		{name: "help", args: []string{"token", "--help"}, code: 0},
		{name: "inspect_help", args: []string{"token", "inspect", "--help"}, code: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			env := &cliEnv{stdin: strings.NewReader(tt.stdin), stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" }}
			code := run(context.Background(), env, tt.args)
			if code != tt.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tt.code, stderr.String())
			}
			got := fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", code, stdout.String(), stderr.String())
			path := filepath.Join("testdata", "token", tt.name+".golden")
			if updateTokenGolden() {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("output differs from %s (-want +got):\n%s", path, diff)
			}
		})
	}
}

// TestTokenInspectNeverPrintsTheSignature guards the one rule of this command that must
// hold for every input: the signature segment never appears in the output.
func TestTokenInspectNeverPrintsTheSignature(t *testing.T) {
	tok := tokenFakeJWT(t, map[string]any{"alg": "RS256"}, map[string]any{"sub": "u", "exp": 1}, 256)
	sig := tok[strings.LastIndexByte(tok, '.')+1:]
	for _, args := range [][]string{{"token", "inspect", tok}, {"token", "inspect", "--json", tok}} {
		var stdout, stderr bytes.Buffer
		env := &cliEnv{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" }}
		if code := run(context.Background(), env, args); code != 0 {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
		out := stdout.String() + stderr.String()
		if strings.Contains(out, sig[:16]) || strings.Contains(out, tok) {
			t.Errorf("%v: the output contains the signature", args)
		}
	}
}
