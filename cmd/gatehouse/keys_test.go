package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlite"
	"github.com/gatehouse-dev/gatehouse/internal/verify/apikey"
	"github.com/google/go-cmp/cmp"
)

func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files under testdata/")
	}
}

func storeGoldenUpdate() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

const storeTestConfig = `realm: test
environment: live
store: sqlite://creds.db
authenticators:
  keys: {type: api_key, header: X-API-Key%s}
  staff: {type: basic}
routes:
  - match: {path_prefix: /}
    upstream: http://127.0.0.1:9
    authenticate: [keys, staff]
`

// storeTestDir writes a configuration into a new folder and returns its path.
func storeTestDir(t *testing.T, pepper bool) (dir, cfgPath string) {
	t.Helper()
	dir = t.TempDir()
	extra := ""
	if pepper {
		if err := os.WriteFile(filepath.Join(dir, "pepper"), []byte(strings.Repeat("P", 40)), 0o600); err != nil {
			t.Fatal(err)
		}
		extra = ", pepper_file: pepper"
	}
	cfgPath = filepath.Join(dir, "gatehouse.yaml")
	if err := os.WriteFile(cfgPath, []byte(strings.Replace(storeTestConfig, "%s", extra, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, cfgPath
}

// runStoreCLI runs a gatehouse command in process with stdin.
func runStoreCLI(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &cliEnv{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	code = run(ctx, env, args)
	return code, out.String(), errb.String()
}

func openTestStore(t *testing.T, dir string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(dir, "creds.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func createKeyJSON(t *testing.T, cfg string, extra ...string) map[string]any {
	t.Helper()
	code, out, errs := runStoreCLI(t, "", append([]string{"keys", "create", "--config", cfg, "--json"}, extra...)...)
	if code != 0 {
		t.Fatalf("keys create = %d: %s", code, errs)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("keys create --json printed %q: %v", out, err)
	}
	return m
}

// jsonKeys returns the member names of a JSON object in document order.
func jsonKeys(t *testing.T, raw string) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %q", raw)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

func TestKeysCreatePrintsTheDesignJSONShape(t *testing.T) {
	dir, cfg := storeTestDir(t, false)
	code, out, errs := runStoreCLI(t, "", "keys", "create", "--config", cfg, "--name", "billing", "--scopes", "orders:read, orders:write", "--expires", "24h", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if diff := cmp.Diff([]string{"id", "key", "name", "env", "scopes", "expires_at"}, jsonKeys(t, out)); diff != "" {
		t.Errorf("members (-want +got):\n%s", diff)
	}
	var got struct {
		ID, Key, Name, Env string
		Scopes             []string
		ExpiresAt          *string `json:"expires_at"`
	}
	json.Unmarshal([]byte(out), &got)
	k, err := secret.ParseAPIKey(got.Key)
	if err != nil {
		t.Fatalf("printed key does not parse: %v", err)
	}
	if k.ID != got.ID || got.Env != "live" || got.Name != "billing" {
		t.Errorf("got %+v", got)
	}
	if diff := cmp.Diff([]string{"orders:read", "orders:write"}, got.Scopes); diff != "" {
		t.Errorf("scopes (-want +got):\n%s", diff)
	}
	exp, err := time.Parse(time.RFC3339, *got.ExpiresAt)
	if err != nil || time.Until(exp) < 23*time.Hour || time.Until(exp) > 25*time.Hour {
		t.Errorf("expires_at %v (%v), want about 24h from now", *got.ExpiresAt, err)
	}
	rec, err := openTestStore(t, dir).Key(context.Background(), got.ID)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := secret.NewKeyHasher(nil)
	if ok, err := h.Verify(k, rec.HashAlg, rec.SecretHash); !ok || err != nil {
		t.Errorf("the stored hash does not verify the printed key: %v %v", ok, err)
	}
	if bytes.Contains(rec.SecretHash, []byte(got.Key[len(got.Key)-38:])) {
		t.Error("the secret is stored in clear")
	}
	without := createKeyJSON(t, cfg, "--name", "nobody")
	if without["expires_at"] != nil || without["scopes"] == nil {
		t.Errorf("without --expires and --scopes: expires_at %v scopes %v; want null and []", without["expires_at"], without["scopes"])
	}
}

func TestKeysCreateHashesWithTheConfiguredPepper(t *testing.T) {
	dir, cfg := storeTestDir(t, true)
	m := createKeyJSON(t, cfg, "--name", "svc")
	st := openTestStore(t, dir)
	h, _ := secret.NewKeyHasher([]byte(strings.Repeat("P", 40)))
	a, err := apikey.New(apikey.Config{Name: "keys", Header: "X-API-Key", Environment: "live", Store: st, Hasher: h})
	if err != nil {
		t.Fatal(err)
	}
	p, err := a.Authenticate(context.Background(), decision.Credential{Source: decision.FromHeader, Name: "X-API-Key", Value: m["key"].(string)})
	if err != nil {
		t.Fatalf("a key created by the CLI is refused by the peppered authenticator: %v", err)
	}
	if p.Subject != "svc" {
		t.Errorf("subject %q", p.Subject)
	}
}

func TestKeysCreateForAnotherEnvironment(t *testing.T) {
	_, cfg := storeTestDir(t, false)
	m := createKeyJSON(t, cfg, "--name", "ci", "--env", "test")
	if m["env"] != "test" || !strings.HasPrefix(m["key"].(string), "gk_test_") {
		t.Errorf("got %v", m)
	}
}

var rfc3339Re = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`)

func TestKeysListShowsStatusesAndNeverSecrets(t *testing.T) {
	_, cfg := storeTestDir(t, false)
	a := createKeyJSON(t, cfg, "--name", "alpha", "--scopes", "read")
	b := createKeyJSON(t, cfg, "--name", "beta")
	if code, _, errs := runStoreCLI(t, "", "keys", "revoke", "--config", cfg, b["id"].(string)); code != 0 {
		t.Fatalf("revoke: %s", errs)
	}
	code, out, errs := runStoreCLI(t, "", "keys", "list", "--config", cfg, "--json")
	if code != 0 {
		t.Fatalf("list: %s", errs)
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("list --json printed %q: %v", out, err)
	}
	status := map[string]any{}
	for _, k := range list {
		status[k["name"].(string)] = k["status"]
	}
	if diff := cmp.Diff(map[string]any{"alpha": "active", "beta": "revoked"}, status); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	var first []json.RawMessage
	json.Unmarshal([]byte(out), &first)
	if diff := cmp.Diff([]string{"id", "name", "env", "scopes", "status", "created_at", "expires_at", "last_used_at"}, jsonKeys(t, string(first[0]))); diff != "" {
		t.Errorf("members (-want +got):\n%s", diff)
	}
	_, human, _ := runStoreCLI(t, "", "keys", "list", "--config", cfg)
	for _, k := range []map[string]any{a, b} {
		secretPart := k["key"].(string)[len(k["key"].(string))-38:]
		if strings.Contains(out, secretPart) || strings.Contains(human, secretPart) {
			t.Errorf("keys list shows a secret")
		}
	}

	// The human table, with ids and times normalised, against a golden file.
	norm := rfc3339Re.ReplaceAllString(human, "YYYY-MM-DDTHH:MM:SSZ")
	norm = strings.NewReplacer(a["id"].(string), "ID-ALPHA____", b["id"].(string), "ID-BETA_____").Replace(norm)
	// Rows come in id order, and ids are random: compare them sorted.
	lines := strings.Split(strings.TrimSuffix(norm, "\n"), "\n")
	sort.Strings(lines[1:])
	norm = strings.Join(lines, "\n") + "\n"
	golden := filepath.Join("testdata", "keys_list.golden")
	if storeGoldenUpdate() {
		os.WriteFile(golden, []byte(norm), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), norm); diff != "" {
		t.Errorf("keys list (-golden +got):\n%s", diff)
	}
}

func TestKeysListOfAnEmptyStoreIsAnEmptyArray(t *testing.T) {
	dir, cfg := storeTestDir(t, false)
	openTestStore(t, dir) // creates the empty store
	code, out, _ := runStoreCLI(t, "", "keys", "list", "--config", cfg, "--json")
	if code != 0 || strings.TrimSpace(out) != "[]" {
		t.Errorf("exit %d, output %q; want []", code, out)
	}
}

func TestKeysCommandsOnAMissingStoreFailClearly(t *testing.T) {
	dir, cfg := storeTestDir(t, false)
	for _, args := range [][]string{{"keys", "list"}, {"keys", "revoke", "abc"}, {"keys", "rotate", "abc"}} {
		code, _, errs := runStoreCLI(t, "", append(args, "--config", cfg)...)
		if code != 1 || !strings.Contains(errs, "does not exist yet") {
			t.Errorf("%v: exit %d, %q", args, code, errs)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "creds.db")); !errors.Is(err, os.ErrNotExist) {
		t.Error("a read command created the store")
	}
}

func TestKeysRevoke(t *testing.T) {
	dir, cfg := storeTestDir(t, false)
	k := createKeyJSON(t, cfg, "--name", "svc")
	id := k["id"].(string)
	code, out, _ := runStoreCLI(t, "", "keys", "revoke", id, "--config", cfg, "--json")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var got map[string]any
	json.Unmarshal([]byte(out), &got)
	if got["id"] != id || got["status"] != "revoked" || got["revoked_at"] == nil {
		t.Errorf("revoke --json = %s", out)
	}
	code, out, _ = runStoreCLI(t, "", "keys", "revoke", "--config", cfg, id)
	if code != 0 || !strings.Contains(out, "already revoked") {
		t.Errorf("second revoke: exit %d %q", code, out)
	}
	code, _, errs := runStoreCLI(t, "", "keys", "revoke", "--config", cfg, "nosuchkey000")
	if code != 1 || !strings.Contains(errs, "no key with id") {
		t.Errorf("unknown id: exit %d %q", code, errs)
	}
	rec, _ := openTestStore(t, dir).Key(context.Background(), id)
	if rec.Status(time.Now()) != store.KeyRevoked {
		t.Error("the key is not revoked in the store")
	}
}

func TestKeysRevokeAcceptsAPastedKeyWithoutEchoingIt(t *testing.T) {
	_, cfg := storeTestDir(t, false)
	k := createKeyJSON(t, cfg, "--name", "svc")
	code, out, errs := runStoreCLI(t, "", "keys", "revoke", "--config", cfg, k["key"].(string))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if strings.Contains(out+errs, k["key"].(string)[20:]) {
		t.Error("revoke echoed the secret")
	}
	if !strings.Contains(out, k["id"].(string)) {
		t.Errorf("output %q does not name the id", out)
	}
}

func TestKeysRotate(t *testing.T) {
	dir, cfg := storeTestDir(t, false)
	old := createKeyJSON(t, cfg, "--name", "svc", "--scopes", "a,b", "--expires", "48h")
	code, out, errs := runStoreCLI(t, "", "keys", "rotate", "--config", cfg, "--grace", "30m", "--json", old["id"].(string))
	if code != 0 {
		t.Fatalf("rotate: exit %d %s", code, errs)
	}
	if diff := cmp.Diff([]string{"id", "key", "name", "env", "scopes", "expires_at"}, jsonKeys(t, out)); diff != "" {
		t.Errorf("rotate --json members (-want +got):\n%s", diff)
	}
	var nk map[string]any
	json.Unmarshal([]byte(out), &nk)
	if nk["name"] != "svc" || nk["id"] == old["id"] || !cmp.Equal(nk["scopes"], old["scopes"]) || nk["expires_at"] == nil {
		t.Errorf("rotated key %v from %v", nk, old)
	}
	st := openTestStore(t, dir)
	o, _ := st.Key(context.Background(), old["id"].(string))
	if o.Status(time.Now()) != store.KeyActive || o.Status(time.Now().Add(31*time.Minute)) != store.KeyRevoked {
		t.Errorf("old key: revoked_at %v; want 30m of grace", o.RevokedAt)
	}
	// --grace 0 ends the old key at once.
	code, _, errs = runStoreCLI(t, "", "keys", "rotate", "--config", cfg, "--grace", "0", nk["id"].(string))
	if code != 0 {
		t.Fatalf("rotate --grace 0: %s", errs)
	}
	n, _ := st.Key(context.Background(), nk["id"].(string))
	if n.Status(time.Now()) != store.KeyRevoked {
		t.Error("--grace 0 left the old key valid")
	}
	code, _, errs = runStoreCLI(t, "", "keys", "rotate", "--config", cfg, nk["id"].(string))
	if code != 1 || !strings.Contains(errs, "is revoked") {
		t.Errorf("rotating a revoked key: exit %d %q", code, errs)
	}
}

func TestKeysBadUsageExitsTwo(t *testing.T) {
	_, cfg := storeTestDir(t, false)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"NoSubcommand", []string{"keys"}, "Usage"},
		{"UnknownSubcommand", []string{"keys", "delete"}, "unknown subcommand"},
		{"CreateWithoutName", []string{"keys", "create", "--config", cfg}, "--name is required"},
		{"CreateBadEnv", []string{"keys", "create", "--config", cfg, "--name", "x", "--env", "Prod"}, "--env"},
		{"CreateBadScope", []string{"keys", "create", "--config", cfg, "--name", "x", "--scopes", `a"b`}, "--scopes"},
		{"CreateBadExpiry", []string{"keys", "create", "--config", cfg, "--name", "x", "--expires", "soon"}, "--expires"},
		{"CreatePastExpiry", []string{"keys", "create", "--config", cfg, "--name", "x", "--expires", "2001-01-01T00:00:00Z"}, "in the past"},
		{"CreateStrayArgument", []string{"keys", "create", "--config", cfg, "billing"}, "unexpected argument"},
		{"UnknownFlag", []string{"keys", "list", "--config", cfg, "--all"}, "flag provided but not defined"},
		{"RevokeWithoutID", []string{"keys", "revoke", "--config", cfg}, "exactly one key ID"},
		{"RotateNegativeGrace", []string{"keys", "rotate", "--config", cfg, "--grace", "-1h", "abc"}, "--grace"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runStoreCLI(t, "", tc.args...)
			if code != 2 || !strings.Contains(out+errs, tc.want) {
				t.Errorf("exit %d, output %q; want 2 and %q", code, out+errs, tc.want)
			}
		})
	}
	if code, out, _ := runStoreCLI(t, "", "keys", "--help"); code != 0 || !strings.Contains(out, "keys create") {
		t.Errorf("--help: exit %d", code)
	}
}

func TestKeysWithABrokenConfigFail(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "bad.yaml")
	os.WriteFile(cfg, []byte("realm: [\n"), 0o600)
	code, _, errs := runStoreCLI(t, "", "keys", "create", "--config", cfg, "--name", "x")
	if code != 1 || !strings.Contains(errs, "bad.yaml") {
		t.Errorf("exit %d %q", code, errs)
	}
	code, _, errs = runStoreCLI(t, "", "keys", "list", "--config", filepath.Join(dir, "missing.yaml"))
	if code != 1 || !strings.Contains(errs, "missing.yaml") {
		t.Errorf("missing config: exit %d %q", code, errs)
	}
}

// gatehouseBinary is the binary the package's TestMain builds, or one built here.
func gatehouseBinary(t *testing.T) string {
	t.Helper()
	if binPath != "" {
		if _, err := os.Stat(binPath); err == nil {
			return binPath
		}
	}
	bin := filepath.Join(t.TempDir(), "gatehouse")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go build: %v", err)
	}
	return bin
}

// TestKeyPrintedByCreateSurvivesKill9: the moment `keys create` has printed a key, the
// process is killed with SIGKILL (no chance to flush or close anything), and the key must
// be in the store when it is opened again.
func TestKeyPrintedByCreateSurvivesKill9(t *testing.T) {
	bin := gatehouseBinary(t)
	dir, cfg := storeTestDir(t, false)
	var printed []string
	for i := range 5 {
		cmd := exec.Command(bin, "keys", "create", "--config", cfg, "--name", "crash", "--json")
		cmd.Env = append(os.Environ(), "GATEHOUSE_CONFIG=")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Read the JSON object as it is printed, and kill on its closing brace.
		var obj bytes.Buffer
		r := bufio.NewReader(stdout)
		for {
			line, err := r.ReadBytes('\n')
			obj.Write(line)
			if bytes.HasPrefix(line, []byte("}")) || err != nil {
				break
			}
		}
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		var got struct{ ID, Key string }
		if err := json.Unmarshal(obj.Bytes(), &got); err != nil {
			t.Fatalf("round %d: printed %q (stderr %q): %v", i, obj.String(), stderr.String(), err)
		}
		printed = append(printed, got.Key)
	}
	// Every process is gone; a fresh open recovers the WAL.
	st := openTestStore(t, dir)
	h, _ := secret.NewKeyHasher(nil)
	for _, key := range printed {
		k, err := secret.ParseAPIKey(key)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := st.Key(context.Background(), k.ID)
		if err != nil {
			t.Fatalf("key %s printed before kill -9 is not in the store: %v", k.ID, err)
		}
		if ok, _ := h.Verify(k, rec.HashAlg, rec.SecretHash); !ok {
			t.Errorf("key %s: stored hash does not match the printed key", k.ID)
		}
	}
}

// TestRevokeByAnotherProcessIsRefusedWithinOneSecond: a gateway-side authenticator and
// watcher on the store, and `gatehouse keys revoke` run as a separate process.
func TestRevokeByAnotherProcessIsRefusedWithinOneSecond(t *testing.T) {
	bin := gatehouseBinary(t)
	dir, cfg := storeTestDir(t, false)
	k := createKeyJSON(t, cfg, "--name", "svc")
	st := openTestStore(t, dir)
	h, _ := secret.NewKeyHasher(nil)
	a, err := apikey.New(apikey.Config{Name: "keys", Header: "X-API-Key", Environment: "live", Store: st, Hasher: h, CacheTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	w := store.NewWatcher(st, store.WatcherOptions{})
	w.Subscribe(a.Invalidate)
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); w.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })

	cred := decision.Credential{Source: decision.FromHeader, Name: "X-API-Key", Value: k["key"].(string)}
	if _, err := a.Authenticate(context.Background(), cred); err != nil {
		t.Fatalf("before revocation: %v", err) // now cached for an hour
	}
	out, err := exec.Command(bin, "keys", "revoke", "--config", cfg, k["id"].(string)).CombinedOutput()
	if err != nil {
		t.Fatalf("keys revoke: %v: %s", err, out)
	}
	revoked := time.Now()
	for {
		_, err := a.Authenticate(context.Background(), cred)
		var f *decision.Failure
		if errors.As(err, &f) && f.Reason == decision.APIKeyRevoked {
			t.Logf("refused %v after the revoking process exited", time.Since(revoked))
			break
		}
		if time.Since(revoked) > time.Second {
			t.Fatalf("still accepted %v after another process revoked the key (last: %v)", time.Since(revoked), err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
