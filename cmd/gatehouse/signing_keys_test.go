package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSigningKeysRotateAddsAKeyAndRetiresTheCurrentOne(t *testing.T) {
	dir, cfg := tokenServiceTestDir(t, "")
	code, out, errs := runStoreCLI(t, "", "signing-keys", "rotate", "--config", cfg, "--json")
	if code != 0 {
		t.Fatalf("first rotate = %d: %s", code, errs)
	}
	var first map[string]any
	if err := json.Unmarshal([]byte(out), &first); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"kid", "alg", "status", "created_at", "activates_at", "retires_at", "expires_at"}, jsonKeys(t, out)); diff != "" {
		t.Errorf("rotate --json members (-want +got):\n%s", diff)
	}
	if first["alg"] != "ES256" || first["status"] != "active" || first["retires_at"] != nil {
		t.Errorf("first key %v", first)
	}
	code, out, errs = runStoreCLI(t, "", "signing-keys", "rotate", "--config", cfg, "--publication-delay", "5m")
	if code != 0 || !strings.Contains(out, "stops signing then and stays in the JWKS until") || !strings.Contains(out, "(published now)") {
		t.Fatalf("second rotate = %d:\n%s%s", code, out, errs)
	}
	code, out, errs = runStoreCLI(t, "", "signing-keys", "list", "--config", cfg, "--json")
	if code != 0 {
		t.Fatalf("list = %d: %s", code, errs)
	}
	var keys []map[string]any
	if err := json.Unmarshal([]byte(out), &keys); err != nil || len(keys) != 2 {
		t.Fatalf("list --json = %s (%v)", out, err)
	}
	statuses := []any{keys[0]["status"], keys[1]["status"]}
	if diff := cmp.Diff([]any{"active", "pending"}, statuses); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	if keys[0]["kid"] != first["kid"] || keys[0]["retires_at"] == nil || keys[0]["expires_at"] == nil {
		t.Errorf("the first key after the rotation: %v", keys[0])
	}
	retires, _ := time.Parse(time.RFC3339, keys[0]["retires_at"].(string))
	expires, _ := time.Parse(time.RFC3339, keys[0]["expires_at"].(string))
	// Published for the longest token lifetime (10m by default) plus a 5m margin.
	if d := expires.Sub(retires); d != 15*time.Minute {
		t.Errorf("the retired key stays published %v after it stops signing, want 15m", d)
	}
	code, out, _ = runStoreCLI(t, "", "signing-keys", "list", "--config", cfg)
	if code != 0 || !strings.Contains(out, "pending") || !strings.Contains(out, "IN JWKS UNTIL") {
		t.Errorf("list = %d:\n%s", code, out)
	}
	// Private keys are sealed: the store file never holds a PKCS #8 EC key in clear.
	raw, _ := os.ReadFile(filepath.Join(dir, "creds.db"))
	wal, _ := os.ReadFile(filepath.Join(dir, "creds.db-wal"))
	if strings.Contains(string(raw)+string(wal), "\x06\x07\x2a\x86\x48\xce\x3d\x02\x01") {
		t.Error("the store holds an EC private key's algorithm identifier in clear")
	}
}

func TestSigningKeysRotateRefusesAnotherSecret(t *testing.T) {
	dir, cfg := tokenServiceTestDir(t, "")
	if code, _, errs := runStoreCLI(t, "", "signing-keys", "rotate", "--config", cfg); code != 0 {
		t.Fatal(errs)
	}
	if err := os.WriteFile(filepath.Join(dir, "signing.key"), []byte(strings.Repeat("z", 40)), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errs := runStoreCLI(t, "", "signing-keys", "rotate", "--config", cfg)
	if code != 1 || !strings.Contains(errs, "another signing_key_secret") {
		t.Errorf("rotate with another secret = %d %q", code, errs)
	}
	st := openTestStore(t, dir)
	if keys, _ := st.SigningKeys(context.Background()); len(keys) != 1 {
		t.Errorf("%d keys stored after a refused rotation, want 1", len(keys))
	}
}

func TestSigningKeysBadUsage(t *testing.T) {
	_, cfg := tokenServiceTestDir(t, "")
	_, noTS := storeTestDir(t, false)
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"NegativeDelay", []string{"rotate", "--config", cfg, "--publication-delay", "-1m"}, 2, "--publication-delay"},
		{"DelayTooLong", []string{"rotate", "--config", cfg, "--publication-delay", "30d"}, 2, "from 1s to 7d"},
		{"ExtraArgument", []string{"rotate", "--config", cfg, "now"}, 2, "unexpected argument"},
		{"UnknownSubcommand", []string{"delete", "--config", cfg}, 2, "unknown subcommand"},
		{"NoTokenService", []string{"rotate", "--config", noTS}, 1, "no token_service block"},
		{"ListWithoutStore", []string{"list", "--config", cfg}, 1, "does not exist yet"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := runStoreCLI(t, "", append([]string{"signing-keys"}, tc.args...)...)
			if code != tc.code || !strings.Contains(errs, tc.want) {
				t.Errorf("exit %d stderr %q; want %d and %q", code, errs, tc.code, tc.want)
			}
		})
	}
}

// TestSigningKeysRotateByDefaultWaitsForTheJWKSCacheLifetime guards against a rotation
// whose key signs before verifiers holding a cached JWKS know it: without flags the new
// key is pending for 5 minutes (the JWKS max-age); --now signs at once.
func TestSigningKeysRotateByDefaultWaitsForTheJWKSCacheLifetime(t *testing.T) {
	_, cfg := tokenServiceTestDir(t, "")
	if code, _, errs := runStoreCLI(t, "", "signing-keys", "rotate", "--config", cfg); code != 0 {
		t.Fatalf("first rotate: %s", errs)
	}
	rotateJSON := func(args ...string) map[string]any {
		t.Helper()
		code, out, errs := runStoreCLI(t, "", append([]string{"signing-keys", "rotate", "--config", cfg, "--json"}, args...)...)
		if code != 0 {
			t.Fatalf("rotate %v = %d: %s", args, code, errs)
		}
		var k map[string]any
		if err := json.Unmarshal([]byte(out), &k); err != nil {
			t.Fatal(err)
		}
		return k
	}
	span := func(k map[string]any) time.Duration {
		created, err1 := time.Parse(time.RFC3339, k["created_at"].(string))
		activates, err2 := time.Parse(time.RFC3339, k["activates_at"].(string))
		if err1 != nil || err2 != nil {
			t.Fatalf("times of %v", k)
		}
		return activates.Sub(created)
	}
	tests := []struct {
		name       string
		args       []string
		wantStatus string
		wantSpan   time.Duration
	}{
		{"Default", nil, "pending", 5 * time.Minute},
		{"LongerDelay", []string{"--publication-delay", "1h"}, "pending", time.Hour},
		{"Now", []string{"--now"}, "active", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := rotateJSON(tc.args...)
			if k["status"] != tc.wantStatus || span(k) != tc.wantSpan {
				t.Errorf("rotate %v: status %v, signs %v after creation; want %s after %v", tc.args, k["status"], span(k), tc.wantStatus, tc.wantSpan)
			}
		})
	}
	pending := rotateJSON()
	code, out, _ := runStoreCLI(t, "", "signing-keys", "list", "--config", cfg)
	if code != 0 || !strings.Contains(out, "SIGNS FROM") || !strings.Contains(out, pending["kid"].(string)+"  ES256  pending") ||
		!strings.Contains(out, pending["activates_at"].(string)) {
		t.Errorf("list = %d:\n%s", code, out)
	}
	for _, args := range [][]string{{"--now", "--publication-delay", "5m"}, {"--publication-delay", "0"}} {
		if code, _, errs := runStoreCLI(t, "", append([]string{"signing-keys", "rotate", "--config", cfg}, args...)...); code != 2 {
			t.Errorf("rotate %v = %d %q, want usage error 2", args, code, errs)
		}
	}
	if code, _, errs := runStoreCLI(t, "", "signing-keys", "rotate", "--config", cfg, "--publication-delay", "1m"); code != 0 || !strings.Contains(errs, "shorter than the 5m0s") {
		t.Errorf("rotate --publication-delay 1m = %d, stderr %q; want a warning", code, errs)
	}
}
