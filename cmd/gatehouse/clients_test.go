package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse/internal/issuer"
)

const tokenServiceTestConfig = `realm: test
store: sqlite://creds.db
authenticators:
  own: {type: jwt, issuer: self, audience: api://orders}
routes:
  - match: {path_prefix: /}
    upstream: http://127.0.0.1:9
    authenticate: [own]
token_service:
  issuer: https://api.example
  signing_key_secret_file: signing.key
  audience: api://orders
%s`

// tokenServiceTestDir writes a configuration with a token_service block (plus extra
// lines in it) and its signing key secret into a new folder.
func tokenServiceTestDir(t *testing.T, extra string) (dir, cfgPath string) {
	t.Helper()
	dir = t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "signing.key"), []byte(strings.Repeat("k", 40)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgPath = filepath.Join(dir, "gatehouse.yaml")
	if err := os.WriteFile(cfgPath, []byte(strings.Replace(tokenServiceTestConfig, "%s", extra, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, cfgPath
}

func TestClientsCreatePrintsTheFixedJSONShapeOnce(t *testing.T) {
	dir, cfg := tokenServiceTestDir(t, "  access_token_ttl: 15m\n")
	code, out, errs := runStoreCLI(t, "", "clients", "create", "--config", cfg, "--name", "billing job", "--scopes", "orders:read, orders:write", "--json")
	if code != 0 {
		t.Fatalf("clients create = %d: %s", code, errs)
	}
	if diff := cmp.Diff([]string{"client_id", "client_secret", "name", "scopes", "audience", "access_token_ttl", "introspect"}, jsonKeys(t, out)); diff != "" {
		t.Errorf("member order (-want +got):\n%s", diff)
	}
	var got struct {
		ClientID       string   `json:"client_id"`
		ClientSecret   string   `json:"client_secret"`
		Name           string   `json:"name"`
		Scopes         []string `json:"scopes"`
		Audience       string   `json:"audience"`
		AccessTokenTTL int64    `json:"access_token_ttl"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got.ClientID, "gc_") || !strings.HasPrefix(got.ClientSecret, "gcs_") || len(got.ClientSecret) != 44 {
		t.Errorf("client_id %q, secret of %d characters", got.ClientID, len(got.ClientSecret))
	}
	if got.Name != "billing job" || strings.Join(got.Scopes, ",") != "orders:read,orders:write" || got.Audience != "api://orders" || got.AccessTokenTTL != 900 {
		t.Errorf("created %+v", got)
	}
	// Stored hashed: the record holds the SHA-256 of the secret, never the secret.
	st := openTestStore(t, dir)
	rec, err := st.Client(context.Background(), got.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	if string(rec.SecretHash) == got.ClientSecret || !cmp.Equal(rec.SecretHash, issuer.HashClientSecret(got.ClientSecret)) {
		t.Error("the stored hash is not the hash of the printed secret")
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "creds.db"))
	wal, _ := os.ReadFile(filepath.Join(dir, "creds.db-wal"))
	if strings.Contains(string(raw)+string(wal), got.ClientSecret) {
		t.Error("the secret is in the store file")
	}
	// list never shows it.
	code, out, errs = runStoreCLI(t, "", "clients", "list", "--config", cfg, "--json")
	if code != 0 {
		t.Fatalf("clients list = %d: %s", code, errs)
	}
	if strings.Contains(out, got.ClientSecret) || strings.Contains(out, "secret") {
		t.Errorf("clients list shows a secret: %s", out)
	}
	var listed []map[string]any
	if err := json.Unmarshal([]byte(out), &listed); err != nil || len(listed) != 1 {
		t.Fatalf("clients list --json = %q (%v)", out, err)
	}
	keys := []string{}
	for k := range listed[0] {
		keys = append(keys, k)
	}
	if diff := cmp.Diff([]string{"access_token_ttl", "audience", "client_id", "created_at", "introspect", "name", "scopes"}, slices.Sorted(slices.Values(keys))); diff != "" {
		t.Errorf("list members (-want +got):\n%s", diff)
	}
	if listed[0]["access_token_ttl"] != float64(900) || listed[0]["client_id"] != got.ClientID {
		t.Errorf("listed %v", listed[0])
	}
	if _, err := time.Parse(time.RFC3339, listed[0]["created_at"].(string)); err != nil {
		t.Errorf("created_at is not RFC 3339: %v", listed[0]["created_at"])
	}
}

func TestClientsCreateTakesAudienceAndTTLFlags(t *testing.T) {
	_, cfg := tokenServiceTestDir(t, "")
	code, out, errs := runStoreCLI(t, "", "clients", "create", "--config", cfg, "--name", "x", "--scopes", "a", "--audience", "api://billing", "--ttl", "2h", "--json")
	if code != 0 {
		t.Fatalf("clients create = %d: %s", code, errs)
	}
	var got map[string]any
	json.Unmarshal([]byte(out), &got)
	if got["audience"] != "api://billing" || got["access_token_ttl"] != float64(7200) || got["introspect"] != false {
		t.Errorf("created %v", got)
	}
}

func TestClientsCreateIntrospectGrantsIntrospectionOfOthersTokens(t *testing.T) {
	dir, cfg := tokenServiceTestDir(t, "")
	code, out, errs := runStoreCLI(t, "", "clients", "create", "--config", cfg, "--name", "gateway", "--scopes", "a", "--introspect", "--json")
	if code != 0 {
		t.Fatalf("clients create --introspect = %d: %s", code, errs)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil || got["introspect"] != true {
		t.Fatalf("created %v (%v), want introspect true", got, err)
	}
	rec, err := openTestStore(t, dir).Client(context.Background(), got["client_id"].(string))
	if err != nil || !rec.Introspect {
		t.Errorf("stored client: Introspect=%v, err %v", rec.Introspect, err)
	}
	code, out, errs = runStoreCLI(t, "", "clients", "list", "--config", cfg)
	if code != 0 || !strings.Contains(out, "INTROSPECT") || !strings.Contains(out, "\tany\t") && !strings.Contains(out, " any ") {
		t.Errorf("clients list = %d %q %s, want an INTROSPECT column saying any", code, out, errs)
	}
}

func TestClientsCreateRefusesBadUsage(t *testing.T) {
	_, cfg := tokenServiceTestDir(t, "")
	_, noTS := storeTestDir(t, false)
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"NoName", []string{"--scopes", "a"}, 2, "--name is required"},
		{"NoScopes", []string{"--name", "x"}, 2, "--scopes is required"},
		{"BadScope", []string{"--name", "x", "--scopes", `a"b`}, 2, "--scopes"},
		{"TTLTooLong", []string{"--name", "x", "--scopes", "a", "--ttl", "25h"}, 2, "--ttl must be from 1s to 24h"},
		{"TTLNotADuration", []string{"--name", "x", "--scopes", "a", "--ttl", "soon"}, 2, "--ttl"},
		{"AudienceWithSpace", []string{"--name", "x", "--scopes", "a", "--audience", "a b"}, 2, "--audience"},
		{"PositionalName", []string{"x", "--scopes", "a"}, 2, "unexpected argument"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := runStoreCLI(t, "", append([]string{"clients", "create", "--config", cfg}, tc.args...)...)
			if code != tc.code || !strings.Contains(errs, tc.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errs, tc.code, tc.want)
			}
		})
	}
	t.Run("NoTokenService", func(t *testing.T) {
		code, _, errs := runStoreCLI(t, "", "clients", "create", "--config", noTS, "--name", "x", "--scopes", "a")
		if code != 1 || !strings.Contains(errs, "no token_service block") {
			t.Errorf("exit %d, stderr %q", code, errs)
		}
	})
	t.Run("NoAudienceAnywhere", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "signing.key"), []byte(strings.Repeat("k", 40)), 0o600)
		p := filepath.Join(dir, "g.yaml")
		os.WriteFile(p, []byte(strings.Replace(strings.Replace(tokenServiceTestConfig, "  audience: api://orders\n", "", 1), "%s", "", 1)), 0o600)
		code, _, errs := runStoreCLI(t, "", "clients", "create", "--config", p, "--name", "x", "--scopes", "a")
		if code != 2 || !strings.Contains(errs, "--audience is required") {
			t.Errorf("exit %d, stderr %q", code, errs)
		}
	})
}

func TestClientsRemoveHidesTheClientAndRecordsTheChange(t *testing.T) {
	dir, cfg := tokenServiceTestDir(t, "")
	_, out, _ := runStoreCLI(t, "", "clients", "create", "--config", cfg, "--name", "gone", "--scopes", "a", "--json")
	var c map[string]any
	json.Unmarshal([]byte(out), &c)
	id := c["client_id"].(string)
	st := openTestStore(t, dir)
	before, _ := st.LatestChange(context.Background())
	code, out, errs := runStoreCLI(t, "", "clients", "remove", id, "--config", cfg)
	if code != 0 || !strings.Contains(out, "Removed client "+id) {
		t.Fatalf("clients remove = %d %q %q", code, out, errs)
	}
	chs, _ := st.Changes(context.Background(), before)
	if len(chs) != 1 || chs[0].Kind != "client_removed" || chs[0].Subject != id {
		t.Errorf("changes after remove: %+v", chs)
	}
	_, out, _ = runStoreCLI(t, "", "clients", "list", "--config", cfg, "--json")
	if strings.TrimSpace(out) != "[]" {
		t.Errorf("clients list after remove = %q, want []", out)
	}
	code, _, errs = runStoreCLI(t, "", "clients", "remove", "--config", cfg, id)
	if code != 1 || !strings.Contains(errs, "no client with id") {
		t.Errorf("removing twice = %d %q", code, errs)
	}
	code, _, errs = runStoreCLI(t, "", "clients", "remove", "--config", cfg)
	if code != 2 || !strings.Contains(errs, "exactly one CLIENT_ID") {
		t.Errorf("remove without an id = %d %q", code, errs)
	}
}

func TestClientsListWithoutAStoreSaysSo(t *testing.T) {
	_, cfg := tokenServiceTestDir(t, "")
	code, _, errs := runStoreCLI(t, "", "clients", "list", "--config", cfg)
	if code != 1 || !strings.Contains(errs, "does not exist yet") {
		t.Errorf("clients list on a missing store = %d %q", code, errs)
	}
}

func TestClientsHumanOutput(t *testing.T) {
	_, cfg := tokenServiceTestDir(t, "")
	code, out, _ := runStoreCLI(t, "", "clients", "create", "--config", cfg, "--name", "human", "--scopes", "a,b")
	if code != 0 || !strings.Contains(out, "client_secret: gcs_") || !strings.Contains(out, "https://api.example/oauth2/token") {
		t.Errorf("clients create = %d:\n%s", code, out)
	}
	code, out, _ = runStoreCLI(t, "", "clients", "list", "--config", cfg)
	if code != 0 || !strings.Contains(out, "human") || !strings.Contains(out, "a,b") || strings.Contains(out, "gcs_") {
		t.Errorf("clients list = %d:\n%s", code, out)
	}
	if code, _, _ := runStoreCLI(t, "", "clients"); code != 2 {
		t.Errorf("clients without a subcommand = %d, want 2", code)
	}
	if code, out, _ := runStoreCLI(t, "", "clients", "--help"); code != 0 || !strings.Contains(out, "clients create") {
		t.Errorf("clients --help = %d", code)
	}
}
