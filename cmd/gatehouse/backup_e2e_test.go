package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestStoreBackupWhileServingRestoresWorkingKeys backs up the store of a running gateway
// while other processes keep creating keys in it, then serves a second gateway from the
// backup: a key created before the backup authenticates there, and the printed counts
// are those of the copy.
func TestStoreBackupWhileServingRestoresWorkingKeys(t *testing.T) {
	e := startStoreGateway(t, "{per_client: 1000/min, per_credential: 1000/min}")
	key := e.createKey(t)
	if resp, _ := get(t, e.base+"/x", "X-API-Key", key.Key); resp.StatusCode != 200 {
		t.Fatalf("the key does not work on the live gateway: %d", resp.StatusCode)
	}

	stop := make(chan struct{})
	var created atomic.Int64
	first := make(chan struct{}) // closed when the writer has created its first key
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			out, err := exec.CommandContext(ctx, binPath, "keys", "create", "--config", e.cfgPath, "--name", "during", "--json").CombinedOutput()
			cancel()
			if err != nil {
				t.Errorf("keys create during the backup: %v\n%s", err, out)
				if created.Load() == 0 {
					close(first)
				}
				return
			}
			if created.Add(1) == 1 {
				close(first)
			}
		}
	}()
	select {
	case <-first:
	case <-time.After(30 * time.Second):
		t.Fatal("the writer created no key")
	}
	backup := filepath.Join(t.TempDir(), "gatehouse-backup.db")
	out := e.cli(t, "", "store", "backup", "--config", e.cfgPath, "--to", backup, "--json")
	close(stop)
	wg.Wait()

	var got struct {
		Keys, Users, Changes int
		LatestChange         int64 `json:"latest_change"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("store backup --json printed %q: %v", out, err)
	}
	if got.Keys < 2 || got.Users != 1 {
		t.Errorf("backup counts %+v, want at least 2 keys and 1 user", got)
	}
	if fi, err := os.Stat(backup); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v %v, want mode 0600", fi, err)
	}

	// Restore: a second gateway on the copy accepts the key and the Basic user.
	cfg, err := os.ReadFile(e.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	restored := strings.Replace(string(cfg), "store: sqlite://gatehouse.db", "store: sqlite://restored.db", 1)
	if restored == string(cfg) {
		t.Fatal("the test config has no store line to replace")
	}
	b, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "restored.db"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	rcfg := filepath.Join(dir, "gatehouse.yaml")
	if err := os.WriteFile(rcfg, []byte(restored), 0o600); err != nil {
		t.Fatal(err)
	}
	p := start(t, "serve", "--config", rcfg)
	base := "http://" + p.waitFor(t, listeningRe)[1]
	if resp, body := get(t, base+"/x", "X-API-Key", key.Key); resp.StatusCode != 200 {
		t.Errorf("the key on the restored gateway: %d %s", resp.StatusCode, body)
	}
	if resp, body := get(t, base+"/x", "Authorization", basicAuth("alice", "correct horse battery staple")); resp.StatusCode != 200 {
		t.Errorf("the Basic user on the restored gateway: %d %s", resp.StatusCode, body)
	}
}

func TestStoreBackupRefusals(t *testing.T) {
	dir, cfg := storeTestDir(t, false)
	createKeyJSON(t, cfg, "--name", "ci")
	existing := filepath.Join(dir, "exists.db")
	if err := os.WriteFile(existing, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	pgCfg := filepath.Join(dir, "pg.yaml")
	if err := os.WriteFile(pgCfg, []byte("listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\nrealm: r\nenvironment: live\nstore: postgres://postgres@127.0.0.1:5432/gatehouse\nroutes:\n  - match: {path_prefix: /}\n    upstream: http://127.0.0.1:9\n    authenticate: anonymous\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missingStore := filepath.Join(t.TempDir(), "gatehouse.yaml")
	raw, _ := os.ReadFile(cfg)
	if err := os.WriteFile(missingStore, raw, 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		args     []string
		code     int
		stderr   string
		notExist string // a file that must not have been created
	}{
		{"missing --to", []string{"store", "backup", "--config", cfg}, 2, "--to PATH is required", ""},
		{"existing file", []string{"store", "backup", "--config", cfg, "--to", existing}, 1, "already exists (give --force", ""},
		{"postgres store", []string{"store", "backup", "--config", pgCfg, "--to", filepath.Join(dir, "pg.db")}, 1, "pg_dump", filepath.Join(dir, "pg.db")},
		{"store not created yet", []string{"store", "backup", "--config", missingStore, "--to", filepath.Join(dir, "none.db")}, 1, "does not exist (check", filepath.Join(dir, "none.db")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runStoreCLI(t, "", tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.stderr) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, tc.code, tc.stderr)
			}
			if tc.notExist != "" {
				if _, err := os.Stat(tc.notExist); err == nil {
					t.Errorf("%s was created", tc.notExist)
				}
			}
		})
	}
	if b, _ := os.ReadFile(existing); string(b) != "keep me" {
		t.Errorf("the existing file was overwritten: %q", b)
	}
	// The store file of the missing-store config was not created by the backup.
	if _, err := os.Stat(filepath.Join(filepath.Dir(missingStore), "creds.db")); err == nil {
		t.Error("store backup created the store it was asked to copy")
	}

	code, stdout, stderr := runStoreCLI(t, "", "store", "backup", "--config", cfg, "--to", existing, "--force")
	if code != 0 || !strings.Contains(stdout, "1 keys") {
		t.Fatalf("--force: exit %d, %q %q", code, stdout, stderr)
	}
	if fi, err := os.Stat(existing); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("replaced backup: %v %v", fi, err)
	}
}
