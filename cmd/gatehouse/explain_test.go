package main

import (
	"bytes"
	"context"
	"flag"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/explain"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/google/go-cmp/cmp"
)

func init() {
	// Several test files may want -update; register it once, whoever comes first.
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files under testdata/")
	}
}

// explainAdmin starts an admin API on 127.0.0.1 holding a few decisions.
func explainAdmin(t *testing.T) *httptest.Server {
	t.Helper()
	started := time.Date(2026, 3, 14, 12, 0, 1, 250_000_000, time.UTC)
	ring := explain.New(16)
	ring.Observe(gateway.Event{
		RequestID: "4f2a9c1e7b3d", ClientRequestID: "my-trace-1", Route: "orders", Authenticator: "corp_jwt", Status: 401,
		Reason: decision.TokenExpired, Detail: "expired 4m12s ago", Cause: "exp_past",
		Fingerprint: "kid=2024-06", Client: netip.MustParseAddr("192.0.2.7"),
		Started: started, Decision: 42 * time.Microsecond,
	})
	ring.Observe(gateway.Event{
		RequestID: "allowed-1", Route: "orders", Authenticator: "keys", Allow: true, Status: 200,
		Subject: "billing-service", Fingerprint: "key=k_7Hq2", Client: netip.MustParseAddr("2001:db8::5"),
		Started: started, Decision: 1250 * time.Microsecond,
	})
	ring.Observe(gateway.Event{
		RequestID: "nomatch", Status: 404, Reason: decision.RouteNotFound, Detail: "no route matches GET /nope",
		Client: netip.MustParseAddr("192.0.2.8"), Started: started, Decision: 800 * time.Nanosecond,
	})
	ring.Observe(gateway.Event{
		RequestID: "evil", Route: "orders", Authenticator: "corp_jwt", Allow: true, Status: 200,
		Subject: "alice\x1b[31m\nrm -rf", Fingerprint: "kid=k", Started: started,
	})
	ring.Observe(gateway.Event{
		RequestID: "upfail", Route: "orders", Authenticator: "corp_jwt", Status: 502,
		Reason: gateway.UpstreamUnavailable, Detail: "the upstream could not be reached", Cause: "connect_failed: connection refused",
		Subject: "alice", Fingerprint: "kid=2024-06", Client: netip.MustParseAddr("192.0.2.7"),
		Started: started, Decision: 42 * time.Microsecond,
	})
	srv := httptest.NewServer(explain.Handler(ring))
	t.Cleanup(srv.Close)
	return srv
}

// explainClosedAddr returns a loopback address nothing listens on.
func explainClosedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func runExplainIn(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &cliEnv{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code = run(ctx, env, append([]string{"explain"}, args...))
	return code, out.String(), errb.String()
}

// TestExplainGolden pins what `gatehouse explain` prints: the golden file holds the
// exit status, stdout and stderr, with the admin server's address written as ADMIN.
func TestExplainGolden(t *testing.T) {
	srv := explainAdmin(t)
	dead := "http://" + explainClosedAddr(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "gatehouse.yaml")
	writeExplainFile(t, cfg, "realm: r\nadmin_listen: "+strings.TrimPrefix(srv.URL, "http://")+
		"\nauthenticators: {staff: {type: basic}}\nroutes: [{match: {path_prefix: /}, authenticate: [staff]}]\n")

	tests := []struct {
		name string
		args []string
		code int
	}{
		{"refused", []string{"4f2a9c1e7b3d", "--admin", srv.URL}, 0},
		{"allowed", []string{"--admin", srv.URL, "allowed-1"}, 0},
		{"no_route", []string{"nomatch", "--admin", srv.URL + "/"}, 0},
		{"upstream_failed", []string{"upfail", "--admin", srv.URL}, 0},
		{"control_characters", []string{"evil", "--admin", srv.URL}, 0},
		{"json", []string{"4f2a9c1e7b3d", "--admin", srv.URL, "--json"}, 0},
		{"from_config", []string{"4f2a9c1e7b3d", "--config", cfg}, 0},
		{"unknown_id", []string{"never-seen", "--admin", srv.URL}, 1},
		{"unreachable", []string{"4f2a9c1e7b3d", "--admin", dead}, 3},
		{"no_id", []string{"--admin", srv.URL}, 2},
		{"two_ids", []string{"a", "b"}, 2},
		{"bad_id", []string{"a/b"}, 2},
		{"admin_and_config", []string{"a", "--admin", srv.URL, "--config", cfg}, 2},
		{"bad_admin_url", []string{"a", "--admin", "ftp://x"}, 2},
		{"unknown_flag", []string{"a", "--verbose"}, 2},
		{"help", []string{"--help"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runExplainIn(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, stdout, stderr)
			}
			got := "exit " + strconv.Itoa(code) + "\n--- stdout\n" + stdout + "--- stderr\n" + stderr
			got = strings.ReplaceAll(got, srv.URL, "ADMIN")
			got = strings.ReplaceAll(got, dead, "DEAD")
			got = strings.ReplaceAll(got, dir, "DIR")
			golden := filepath.Join("testdata", "explain", tt.name+".golden")
			if f := flag.Lookup("update"); f != nil && f.Value.String() == "true" {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
		})
	}
}

// TestExplainGivesUpOnASilentAdminAfterItsTimeout guards the 5 s bound: an admin
// listener that accepts but never answers is "unreachable" (exit 3), not a hang.
func TestExplainGivesUpOnASilentAdminAfterItsTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the 5s timeout")
	}
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	start := time.Now()
	code, _, stderr := runExplainIn(t, "abc", "--admin", srv.URL)
	if code != 3 || !strings.Contains(stderr, "no answer within 5s") {
		t.Errorf("exit %d, stderr %q; want 3 and the timeout named", code, stderr)
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("took %v", took)
	}
}

func TestExplainReportsAnUnexpectedAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "404 page not found", http.StatusNotFound)
	}))
	t.Cleanup(srv.Close)
	code, _, stderr := runExplainIn(t, "abc", "--admin", srv.URL)
	if code != 1 || !strings.Contains(stderr, "answered 404 Not Found (404 page not found); is this a gatehouse admin listener?") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

// TestExplainRefusesAnInvalidConfig checks that a configuration that does not load is
// bad usage, named as such, and that nothing is sent anywhere.
func TestExplainRefusesAnInvalidConfig(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	writeExplainFile(t, bad, "realm: r\nroutes: []\n")
	code, stdout, stderr := runExplainIn(t, "abc", "--config", bad)
	if code != 2 || stdout != "" || !strings.HasPrefix(stderr, "gatehouse explain: cannot read admin_listen from "+bad) {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func writeExplainFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestExplainFindsTheConfigurationLikeTheStoreCommands checks that without --admin or
// --config, explain reads admin_listen from $GATEHOUSE_CONFIG, else ./gatehouse.yaml.
func TestExplainFindsTheConfigurationLikeTheStoreCommands(t *testing.T) {
	srv := explainAdmin(t)
	dir := t.TempDir()
	body := "realm: r\nadmin_listen: " + strings.TrimPrefix(srv.URL, "http://") +
		"\nauthenticators: {staff: {type: basic}}\nroutes: [{match: {path_prefix: /}, authenticate: [staff]}]\n"
	writeExplainFile(t, filepath.Join(dir, "gatehouse.yaml"), body)
	other := t.TempDir()
	writeExplainFile(t, filepath.Join(other, "env.yaml"), body)
	// A ./gatehouse.yaml that is not a configuration: $GATEHOUSE_CONFIG must win over it.
	writeExplainFile(t, filepath.Join(other, "gatehouse.yaml"), "realm: [\n")

	runIn := func(getenv map[string]string) (int, string, string) {
		var out, errb bytes.Buffer
		env := &cliEnv{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(k string) string { return getenv[k] }}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		code := run(ctx, env, []string{"explain", "4f2a9c1e7b3d"})
		return code, out.String(), errb.String()
	}
	t.Chdir(dir)
	if code, out, errs := runIn(nil); code != 0 || !strings.Contains(out, "token_expired") {
		t.Errorf("./gatehouse.yaml: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	t.Chdir(other)
	if code, out, errs := runIn(map[string]string{"GATEHOUSE_CONFIG": "env.yaml"}); code != 0 || !strings.Contains(out, "token_expired") {
		t.Errorf("$GATEHOUSE_CONFIG: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if code, _, errs := runIn(nil); code != 2 || !strings.Contains(errs, "cannot read admin_listen from gatehouse.yaml") {
		t.Errorf("a broken ./gatehouse.yaml: exit %d, stderr %q; want 2 naming it", code, errs)
	}
}
