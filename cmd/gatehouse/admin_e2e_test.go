package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// adminCall sends one admin API request and returns the status and body.
func adminCall(t *testing.T, method, url, token, body string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := httpClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// cliWithEnv runs the binary with extra environment variables and returns its exit
// code, stdout and stderr.
func cliWithEnv(t *testing.T, extraEnv []string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Env = append(os.Environ(), extraEnv...)
	cmd.Stdin = strings.NewReader("correct horse battery staple\n")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errb.String()
}

func createAdminToken(t *testing.T, e *storeEnv, name string) map[string]any {
	t.Helper()
	out := e.cli(t, "", "admin-tokens", "create", "--config", e.cfgPath, "--name", name, "--expires", "1h", "--json")
	if diff := cmp.Diff([]string{"id", "name", "token", "expires_at"}, jsonKeys(t, out)); diff != "" {
		t.Fatalf("admin-tokens create --json members (-want +got):\n%s", diff)
	}
	var tok map[string]any
	json.Unmarshal([]byte(out), &tok)
	if !strings.HasPrefix(tok["token"].(string), "gha_") {
		t.Fatalf("token %q lacks the gha_ prefix", tok["token"])
	}
	return tok
}

func TestAdminAPIEndToEnd(t *testing.T) {
	e := startStoreGateway(t, "{per_client: 1000/min, per_credential: 1000/min}")
	tok := createAdminToken(t, e, "ops")
	token := tok["token"].(string)

	// No token, even on loopback: 401 with the gateway's contract.
	status, body := adminCall(t, "POST", e.admin+"/admin/v1/keys", "", `{"name":"ci","scopes":["orders:read"]}`)
	if status != 401 || reasonOf(t, body) != "credentials_missing" {
		t.Fatalf("no token: %d %s", status, body)
	}
	// The probes stay open.
	for _, p := range []string{"/healthz", "/metrics"} {
		if resp, b := get(t, e.admin+p); resp.StatusCode != 200 {
			t.Errorf("%s: %d %s", p, resp.StatusCode, b)
		}
	}

	status, body = adminCall(t, "POST", e.admin+"/admin/v1/keys", token, `{"name":"ci","scopes":["orders:read"],"expires":"30d"}`)
	if status != 201 {
		t.Fatalf("create over HTTP: %d %s", status, body)
	}
	var key struct{ ID, Key string }
	json.Unmarshal(body, &key)
	if resp, b := get(t, e.base+"/x", "X-API-Key", key.Key); resp.StatusCode != 200 {
		t.Fatalf("the key made over HTTP is refused: %d %s", resp.StatusCode, b)
	}
	status, body = adminCall(t, "POST", e.admin+"/admin/v1/keys/"+key.ID+"/revoke", token, "")
	if status != 200 {
		t.Fatalf("revoke over HTTP: %d %s", status, body)
	}
	revoked := time.Now()
	for {
		resp, b := get(t, e.base+"/x", "X-API-Key", key.Key)
		if resp.StatusCode == 401 {
			if r := reasonOf(t, b); r != "api_key_revoked" {
				t.Fatalf("refused with %s", r)
			}
			t.Logf("revoked over the admin API, refused by the gateway %s later", time.Since(revoked).Round(time.Millisecond))
			break
		}
		if time.Since(revoked) > time.Second {
			t.Fatalf("revoked over HTTP, still accepted after %s", time.Since(revoked))
		}
		time.Sleep(20 * time.Millisecond)
	}

	// A revoked admin token is refused at the next call.
	e.cli(t, "", "admin-tokens", "revoke", "--config", e.cfgPath, tok["id"].(string))
	status, body = adminCall(t, "GET", e.admin+"/admin/v1/keys", token, "")
	if status != 401 || reasonOf(t, body) != "credentials_invalid" {
		t.Fatalf("revoked admin token: %d %s", status, body)
	}

	audit := e.cli(t, "", "audit", "list", "--config", e.cfgPath, "--json")
	for _, secret := range []string{key.Key, token, strings.Split(token, "_")[2]} {
		if strings.Contains(audit, secret) {
			t.Errorf("the audit log holds a secret:\n%s", audit)
		}
	}
	var entries []struct{ Actor, Action, Target, Remote, Result string }
	if err := json.Unmarshal([]byte(audit), &entries); err != nil {
		t.Fatalf("audit list --json: %v\n%s", err, audit)
	}
	var got []string
	for _, en := range entries {
		got = append(got, en.Action+" "+en.Target+" "+en.Result)
		if en.Action == "users.add" && (!strings.HasPrefix(en.Actor, "cli:") || en.Remote != "local") {
			t.Errorf("audit entry %+v: want cli:<user> from local", en)
		}
		if strings.HasPrefix(en.Action, "keys.") && (en.Actor != "admin-token:"+tok["id"].(string)+" (ops)" || !strings.HasPrefix(en.Remote, "127.0.0.1:")) {
			t.Errorf("audit entry %+v: want the admin token and the caller's address", en)
		}
	}
	want := []string{
		"users.add alice ok", // by the CLI, before the gateway started
		"admin-tokens.create " + tok["id"].(string) + " ok",
		"keys.create " + key.ID + " ok",
		"keys.revoke " + key.ID + " ok",
		"admin-tokens.revoke " + tok["id"].(string) + " ok",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("audit (-want +got):\n%s", diff)
	}
}

func TestRemoteCLIPrintsWhatTheLocalCLIPrints(t *testing.T) {
	e := startStoreGateway(t, "{per_client: 1000/min, per_credential: 1000/min}")
	token := createAdminToken(t, e, "ops")["token"].(string)
	tokenFile := e.dir + "/admin-token"
	os.WriteFile(tokenFile, []byte(token+"\n"), 0o600)
	k1 := e.createKey(t)
	e.createKey(t, "--expires", "30d")
	e.cli(t, "", "keys", "rotate", "--config", e.cfgPath, "--grace", "2h", k1.ID)
	remoteEnv := []string{"GATEHOUSE_ADMIN_TOKEN=" + token}
	for _, args := range [][]string{
		{"keys", "list", "--json"},
		{"keys", "list"},
		{"keys", "revoke", "nokey"},
		{"keys", "revoke", "--json", k1.ID},
		{"keys", "revoke", k1.ID}, // already revoked
		{"keys", "rotate", k1.ID}, // revoked: refused
		{"keys", "create", "--name", "x", "--authenticator", "nope"},
		{"users", "add", "alice"}, // exists
		{"users", "passwd", "nobody"},
		{"users", "remove", "nobody"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			lc, lout, lerr := cliWithEnv(t, nil, append(args, "--config", e.cfgPath)...)
			rc, rout, rerr := cliWithEnv(t, remoteEnv, append(args, "--admin", e.admin)...)
			if lc != rc || lout != rout || lerr != rerr {
				t.Errorf("local and remote differ:\nlocal  %d %q %q\nremote %d %q %q", lc, lout, lerr, rc, rout, rerr)
			}
			fc, fout, _ := cliWithEnv(t, nil, append(args, "--admin", e.admin, "--admin-token-file", tokenFile)...)
			if fc != rc || fout != rout {
				t.Errorf("with --admin-token-file: %d %q, want %d %q", fc, fout, rc, rout)
			}
		})
	}
	// Users added remotely print as local ones and work at the gateway.
	_, lout, _ := cliWithEnv(t, nil, "users", "add", "--json", "--scopes", "orders:read", "--config", e.cfgPath, "dave")
	rc, rout, rerr := cliWithEnv(t, remoteEnv, "users", "add", "--json", "--scopes", "orders:read", "--admin", e.admin, "carol")
	if rc != 0 || strings.ReplaceAll(lout, "dave", "carol") != rout {
		t.Errorf("remote users add: %d %q %q; local printed %q", rc, rout, rerr, lout)
	}
	if resp, b := get(t, e.base+"/x", "Authorization", basicAuth("carol", "correct horse battery staple")); resp.StatusCode != 200 {
		t.Errorf("a user added over the admin API is refused: %d %s", resp.StatusCode, b)
	}
	if rc, rout, rerr = cliWithEnv(t, remoteEnv, "users", "remove", "--admin", e.admin, "carol"); rc != 0 || rout != "Removed user \"carol\". Running gateways refuse it within a second.\n" {
		t.Errorf("remote users remove: %d %q %q", rc, rout, rerr)
	}
	audit := e.cli(t, "", "audit", "list", "--config", e.cfgPath)
	if strings.Contains(audit, "correct horse") || !strings.Contains(audit, "users.add") {
		t.Errorf("audit list:\n%s", audit)
	}

	// Without a token the remote CLI says what to do and changes nothing.
	code, _, stderr := cliWithEnv(t, []string{"GATEHOUSE_ADMIN_TOKEN="}, "keys", "list", "--admin", e.admin)
	if code != 1 || !strings.Contains(stderr, "GATEHOUSE_ADMIN_TOKEN") {
		t.Errorf("remote without a token: %d %q", code, stderr)
	}
}

func TestRemoteCLIForClientsAndSigningKeys(t *testing.T) {
	e := startIssuer(t)
	out := runBinary(t, "admin-tokens", "create", "--config", e.cfg, "--name", "ops", "--json")
	var tok struct{ Token string }
	if err := json.Unmarshal([]byte(out), &tok); err != nil {
		t.Fatal(err)
	}
	remoteEnv := []string{"GATEHOUSE_ADMIN_TOKEN=" + tok.Token}
	// Changes made remotely land in the store.
	code, out, stderr := cliWithEnv(t, remoteEnv, "clients", "create", "--admin", e.admin, "--name", "remote", "--scopes", "orders:read", "--json")
	var created struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &created) != nil || created.ClientSecret == "" {
		t.Fatalf("remote clients create: %d %s %s", code, out, stderr)
	}
	if code, out, stderr = cliWithEnv(t, remoteEnv, "signing-keys", "rotate", "--admin", e.admin, "--now"); code != 0 {
		t.Fatalf("remote signing-keys rotate: %d %s %s", code, out, stderr)
	}
	for _, args := range [][]string{
		{"clients", "list", "--json"},
		{"clients", "list"},
		{"signing-keys", "list", "--json"},
		{"signing-keys", "list"},
		{"clients", "remove", "nope"},
		{"clients", "remove", "--json", created.ClientID},
		{"clients", "list"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			lc, lout, lerr := cliWithEnv(t, nil, append(args, "--config", e.cfg)...)
			rc, rout, rerr := cliWithEnv(t, remoteEnv, append(args, "--admin", e.admin)...)
			if args[1] == "remove" && args[2] != "nope" {
				// The first removed it; the second finds it gone, and both say so alike.
				if lc != 0 || rc != 1 || !strings.Contains(rerr, "no client with id") {
					t.Errorf("remove: local %d %q, remote %d %q", lc, lout, rc, rerr)
				}
				return
			}
			if lc != rc || lout != rout || lerr != rerr {
				t.Errorf("local and remote differ:\nlocal  %d %q %q\nremote %d %q %q", lc, lout, lerr, rc, rout, rerr)
			}
		})
	}
}

// TestLocalChangesAreAuditedWithoutSecrets: the local CLI's changes go through the admin
// service too, so the audit log names them (cli:<user>, local) and never a secret.
func TestLocalChangesAreAuditedWithoutSecrets(t *testing.T) {
	_, cfg := storeTestDir(t, false)
	key := createKeyJSON(t, cfg, "--name", "ci")
	good := filepath.Join("..", "..", "internal", "secret", "testdata", "good.htpasswd")
	if code, _, errs := runStoreCLI(t, "", "users", "import", "--config", cfg, good); code != 0 {
		t.Fatal(errs)
	}
	if code, _, errs := runStoreCLI(t, "s3cret-pass\n", "users", "add", "--config", cfg, "zed"); code != 0 {
		t.Fatal(errs)
	}
	if code, _, _ := runStoreCLI(t, "", "keys", "revoke", "--config", cfg, "nokey"); code != 1 {
		t.Fatalf("revoke of an unknown key: exit %d", code)
	}
	code, out, errs := runStoreCLI(t, "", "audit", "list", "--config", cfg, "--json")
	if code != 0 {
		t.Fatal(errs)
	}
	if strings.Contains(out, key["key"].(string)) || strings.Contains(out, "s3cret") || strings.Contains(out, "$2") {
		t.Errorf("the audit log holds a secret:\n%s", out)
	}
	var entries []struct{ Actor, Action, Target, Remote, Result string }
	json.Unmarshal([]byte(out), &entries)
	var got []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Actor, "cli:") || e.Remote != "local" {
			t.Errorf("entry %+v: want a cli: actor from local", e)
		}
		got = append(got, e.Action+" "+e.Result)
	}
	want := []string{"keys.create ok", "users.import ok", "users.add ok", "keys.revoke not_found"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("audit (-want +got):\n%s", diff)
	}
}
