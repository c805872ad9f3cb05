//go:build unix

package app

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/config"
)

func storeConfig(t *testing.T, dir string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(`
listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
realm: orders
store: sqlite://gatehouse.db
authenticators:
  keys: {type: api_key, header: X-API-Key}
routes:
  - {name: api, match: {path_prefix: /}, upstream: "http://127.0.0.1:9", authenticate: [keys]}
`), dir, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func buildWithLog(t *testing.T, cfg *config.Config) string {
	t.Helper()
	var buf bytes.Buffer
	rt, err := Build(cfg, Options{Logger: NewLogger(&buf, config.Log{Level: slog.LevelInfo, Format: config.LogJSON})})
	if err != nil {
		t.Fatal(err)
	}
	rt.Close()
	return buf.String()
}

// TestWorldReadableStoreIsWarnedAtStart: a store left readable by other local users (as
// stores were created before files were made private) gets a warning naming the file
// and the fix, once per file, and a private store gets none.
func TestWorldReadableStoreIsWarnedAtStart(t *testing.T) {
	dir := t.TempDir()
	cfg := storeConfig(t, dir)
	path := filepath.Join(dir, "gatehouse.db")
	if log := buildWithLog(t, cfg); strings.Contains(log, "readable by other users") {
		t.Fatalf("a new (private) store was warned about:\n%s", log)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	log := buildWithLog(t, cfg)
	var line string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "readable by other users") && strings.Contains(l, `"path":"`+path+`"`) {
			line = l
		}
	}
	if line == "" {
		t.Fatalf("no warning naming %s:\n%s", path, log)
	}
	for _, want := range []string{`"level":"WARN"`, `"mode":"0644"`, `"fix":"chmod 600 ` + path + `"`} {
		if !strings.Contains(line, want) {
			t.Errorf("warning %s lacks %s", line, want)
		}
	}
}

// TestAdminListenerNeverBindsEveryInterface: whatever validation let through, the admin
// listener is refused when the address it actually bound is the wildcard.
func TestAdminListenerNeverBindsEveryInterface(t *testing.T) {
	for _, addr := range []string{"[::ffff:0.0.0.0]:0", "[::]:0", ":0"} {
		cfg := storeConfig(t, t.TempDir())
		cfg.AdminListen = addr // bypasses validation, as a Config built in code could
		rt, err := Build(cfg, Options{Logger: NewLogger(io.Discard, config.Log{Level: slog.LevelInfo, Format: config.LogJSON})})
		if err != nil {
			t.Fatal(err)
		}
		srv, err := Listen(rt, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err == nil {
			t.Errorf("admin listen %s: bound %s, want a refusal", addr, srv.AdminAddr())
			srv.public.Close()
			srv.admin.Close()
		} else if !strings.Contains(err.Error(), "every interface") {
			t.Errorf("admin listen %s: %v, want it to say every interface", addr, err)
		}
		rt.Close()
	}
}
