package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const systemdUnit = "../../examples/systemd/gatehouse.service"

// parseUnit reads a systemd unit file into section -> directive -> values (a directive
// may repeat), joining continuation lines.
func parseUnit(t *testing.T, path string) map[string]map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	unit := map[string]map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	pending := ""
	for n := 1; sc.Scan(); n++ {
		line := pending + strings.TrimSpace(sc.Text())
		pending = ""
		if strings.HasSuffix(line, "\\") {
			pending = strings.TrimSuffix(line, "\\") + " "
			continue
		}
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[' && line[len(line)-1] == ']':
			section = line[1 : len(line)-1]
			unit[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: not a directive: %q", path, n, line)
			}
			k = strings.TrimSpace(k)
			unit[section][k] = append(unit[section][k], strings.TrimSpace(v))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return unit
}

// TestSystemdUnitExampleHardensAndRunsServe checks the unit docs/production.md shows: the
// directives that confine the service, and an ExecStart whose flags serve accepts.
func TestSystemdUnitExampleHardensAndRunsServe(t *testing.T) {
	unit := parseUnit(t, systemdUnit)
	svc := unit["Service"]
	if svc == nil {
		t.Fatal("no [Service] section")
	}
	want := map[string]string{
		"User":               "gatehouse",
		"ProtectSystem":      "strict",
		"NoNewPrivileges":    "yes",
		"Restart":            "on-failure",
		"ExecReload":         "/bin/kill -HUP $MAINPID",
		"ReadWritePaths":     "/var/lib/gatehouse",
		"StateDirectory":     "gatehouse",
		"StateDirectoryMode": "0700",
		"UMask":              "0077",
		"ProtectHome":        "yes",
		"PrivateTmp":         "yes",
	}
	for k, v := range want {
		if got := svc[k]; len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if got := svc["LimitNOFILE"]; len(got) != 1 || got[0] == "" || got[0] == "1024" {
		t.Errorf("LimitNOFILE = %q, want a limit above the usual 1024", got)
	}
	if caps := svc["CapabilityBoundingSet"]; len(caps) != 1 || caps[0] != "CAP_NET_BIND_SERVICE" {
		t.Errorf("CapabilityBoundingSet = %q: the gateway needs no capability but binding low ports", caps)
	}
	if got := unit["Install"]["WantedBy"]; !slices.Equal(got, []string{"multi-user.target"}) {
		t.Errorf("WantedBy = %q", got)
	}

	execStart := svc["ExecStart"]
	if len(execStart) != 1 {
		t.Fatalf("ExecStart = %q, want one command", execStart)
	}
	argv := strings.Fields(execStart[0])
	if len(argv) < 2 || !filepath.IsAbs(argv[0]) || filepath.Base(argv[0]) != "gatehouse" || argv[1] != "serve" {
		t.Fatalf("ExecStart = %q, want /ABS/PATH/gatehouse serve ...", execStart[0])
	}
	// The configuration must be an absolute path (systemd starts the service in /), and
	// serve must accept every flag: run serve with the same flags, pointing --config at
	// a file that does not exist, and expect a failure to read it, not a usage error.
	args := slices.Clone(argv[1:])
	i := slices.Index(args, "--config")
	if i < 0 || i+1 >= len(args) || !filepath.IsAbs(args[i+1]) {
		t.Fatalf("ExecStart %q does not give --config an absolute path", execStart[0])
	}
	missing := filepath.Join(t.TempDir(), "absent.yaml")
	args[i+1] = missing
	code, _, stderr := runStoreCLI(t, "", args...)
	if code == 0 || code == 2 || !strings.Contains(stderr, "absent.yaml") {
		t.Errorf("serve with the unit's flags: exit %d, %q; want a failure to read the configuration (1), not a usage error", code, stderr)
	}

	// With systemd installed, let systemd itself check the unit.
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze is not installed: checked by parsing only")
		return
	}
	src, err := os.ReadFile(systemdUnit)
	if err != nil {
		t.Fatal(err)
	}
	bin, err := filepath.Abs(binPath)
	if err != nil {
		t.Fatal(err)
	}
	copyPath := filepath.Join(t.TempDir(), "gatehouse.service")
	if err := os.WriteFile(copyPath, []byte(strings.ReplaceAll(string(src), argv[0], bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, analyze, "verify", copyPath).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
