package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/secret"
)

// storeEnv is a running gateway with API keys and Basic users in a SQLite store that
// the CLI (another process) manages.
type storeEnv struct {
	dir, cfgPath string
	base, admin  string
	proc         *proc
}

func startStoreGateway(t *testing.T, budget string) *storeEnv {
	t.Helper()
	dir := t.TempDir()
	upstream := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s via %s", r.Header.Get("X-Gatehouse-Subject"), r.Header.Get("X-Gatehouse-Authenticator"))
	}), ReadHeaderTimeout: 5 * time.Second}
	ln := listenLoopback(t)
	go upstream.Serve(ln)
	t.Cleanup(func() { upstream.Close() })
	cfg := fmt.Sprintf(`listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
realm: orders
environment: live
store: sqlite://gatehouse.db
failure_budget: %s
authenticators:
  keys: {type: api_key, header: X-API-Key}
  staff: {type: basic, cache_ttl: 1m}
routes:
  - name: api
    match: {path_prefix: /}
    upstream: http://%s
    authenticate: [keys, staff]
`, budget, ln.Addr())
	path := filepath.Join(dir, "gatehouse.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	e := &storeEnv{dir: dir, cfgPath: path}
	// The store must hold something before the gateway starts, as an operator would.
	e.cli(t, "", "users", "add", "--config", path, "--scopes", "orders:read", "alice")
	p := start(t, "serve", "--config", path)
	m := p.waitFor(t, listeningRe)
	e.base, e.admin, e.proc = "http://"+m[1], "http://"+m[2], p
	return e
}

// cli runs the gatehouse binary as a separate process, as an operator would.
func (e *storeEnv) cli(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	if stdin == "" {
		stdin = "correct horse battery staple\n"
	}
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("gatehouse %v: %v\n%s%s", args, err, out, stderr)
	}
	return string(out)
}

type e2eKey struct {
	ID, Key, Env string
}

func (e *storeEnv) createKey(t *testing.T, extra ...string) e2eKey {
	t.Helper()
	out := e.cli(t, "", append([]string{"keys", "create", "--config", e.cfgPath, "--name", "ci", "--scopes", "orders:read", "--json"}, extra...)...)
	var k e2eKey
	if err := json.Unmarshal([]byte(out), &k); err != nil {
		t.Fatalf("keys create printed %q: %v", out, err)
	}
	return k
}

func basicAuth(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func reasonOf(t *testing.T, body []byte) string {
	t.Helper()
	var p struct{ Reason string }
	json.Unmarshal(body, &p)
	return p.Reason
}

func TestAPIKeysAndBasicUsersEndToEnd(t *testing.T) {
	e := startStoreGateway(t, "{per_client: 1000/min, per_credential: 1000/min}")
	key := e.createKey(t)
	testKey := e.createKey(t, "--env", "test")
	revoked := e.createKey(t)
	e.cli(t, "", "keys", "revoke", "--config", e.cfgPath, revoked.ID)
	// A key with a valid shape and checksum that the store has never seen.
	stranger, err := secret.NewAPIKey("live")
	if err != nil {
		t.Fatal(err)
	}
	last := key.Key[len(key.Key)-1]
	flipped := byte('A')
	if last == 'A' {
		flipped = 'B'
	}
	tampered := key.Key[:len(key.Key)-1] + string(flipped)

	tests := []struct {
		name    string
		headers []string
		status  int
		reason  string
	}{
		{"key in its header", []string{"X-API-Key", key.Key}, 200, ""},
		{"key as bearer", []string{"Authorization", "Bearer " + key.Key}, 200, ""},
		{"basic user", []string{"Authorization", basicAuth("alice", "correct horse battery staple")}, 200, ""},
		{"wrong checksum is malformed", []string{"X-API-Key", tampered}, 401, "credentials_malformed"},
		{"revoked key", []string{"X-API-Key", revoked.Key}, 401, "api_key_revoked"},
		{"unknown key", []string{"X-API-Key", stranger.Reveal()}, 401, "api_key_invalid"},
		{"key of another environment", []string{"X-API-Key", testKey.Key}, 401, "credentials_wrong_environment"},
		{"key in two places", []string{"X-API-Key", key.Key, "Authorization", "Bearer " + key.Key}, 400, "invalid_request"},
		{"wrong password", []string{"Authorization", basicAuth("alice", "wrong")}, 401, "credentials_invalid"},
		{"unknown user", []string{"Authorization", basicAuth("mallory", "wrong")}, 401, "credentials_invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := get(t, e.base+"/orders", tt.headers...)
			if resp.StatusCode != tt.status || reasonOf(t, body) != tt.reason {
				t.Fatalf("status %d reason %q, want %d %q: %s", resp.StatusCode, reasonOf(t, body), tt.status, tt.reason, body)
			}
		})
	}
	t.Run("the query is not read unless configured", func(t *testing.T) {
		resp, body := get(t, e.base+"/orders?api_key="+key.Key)
		if resp.StatusCode != 401 || reasonOf(t, body) != "credentials_missing" {
			t.Fatalf("status %d %s", resp.StatusCode, body)
		}
	})
	t.Run("unknown user and wrong password look the same", func(t *testing.T) {
		r1, b1 := get(t, e.base+"/orders", "Authorization", basicAuth("alice", "wrong"))
		r2, b2 := get(t, e.base+"/orders", "Authorization", basicAuth("nobody", "wrong"))
		strip := func(b []byte) string {
			var m map[string]any
			json.Unmarshal(b, &m)
			delete(m, "request_id")
			out, _ := json.Marshal(m)
			return string(out)
		}
		if strip(b1) != strip(b2) || r1.Header.Get("WWW-Authenticate") != r2.Header.Get("WWW-Authenticate") {
			t.Fatalf("responses differ:\n%s %q\n%s %q", b1, r1.Header.Values("WWW-Authenticate"), b2, r2.Header.Values("WWW-Authenticate"))
		}
	})
	t.Run("one challenge per scheme", func(t *testing.T) {
		resp, _ := get(t, e.base+"/orders")
		got := resp.Header.Values("WWW-Authenticate")
		if len(got) != 2 || !strings.HasPrefix(got[0], "Bearer ") || got[1] != `Basic realm="orders", charset="UTF-8"` {
			t.Fatalf("challenges %q", got)
		}
	})
	logs := e.proc.logs()
	for _, secret := range []string{key.Key, testKey.Key, "correct horse battery staple", base64.StdEncoding.EncodeToString([]byte("alice:correct horse battery staple"))} {
		if strings.Contains(logs, secret) {
			t.Errorf("a credential reached the logs")
		}
	}
}

// TestRevocationTakesEffectWithinASecond revokes a key and removes a user from another
// process, the CLI, while the gateway keeps serving, and measures how long the gateway
// keeps accepting them (it has them cached).
func TestRevocationTakesEffectWithinASecond(t *testing.T) {
	e := startStoreGateway(t, "{per_client: 1000/min, per_credential: 1000/min}")
	key := e.createKey(t)
	alice := basicAuth("alice", "correct horse battery staple")
	for _, h := range [][]string{{"X-API-Key", key.Key}, {"Authorization", alice}} {
		if resp, body := get(t, e.base+"/x", h...); resp.StatusCode != 200 {
			t.Fatalf("before revocation: %d %s", resp.StatusCode, body)
		}
	}
	refusedWithin := func(t *testing.T, want string, headers ...string) time.Duration {
		t.Helper()
		start := time.Now()
		for time.Since(start) < 3*time.Second {
			resp, body := get(t, e.base+"/x", headers...)
			if resp.StatusCode == 401 {
				if got := reasonOf(t, body); got != want {
					t.Fatalf("refused with %s, want %s", got, want)
				}
				return time.Since(start)
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatal("still accepted 3 s after revocation")
		return 0
	}
	e.cli(t, "", "keys", "revoke", "--config", e.cfgPath, key.ID)
	if d := refusedWithin(t, "api_key_revoked", "X-API-Key", key.Key); d > time.Second {
		t.Errorf("revoked key accepted for %s", d)
	}
	e.cli(t, "", "users", "remove", "--config", e.cfgPath, "alice")
	if d := refusedWithin(t, "credentials_invalid", "Authorization", alice); d > time.Second {
		t.Errorf("removed user accepted for %s", d)
	}
}

func TestFailureBudgetAnswers429(t *testing.T) {
	e := startStoreGateway(t, "{per_client: 1000/min, per_credential: 3/min}")
	good := basicAuth("alice", "correct horse battery staple")
	for i := 0; i < 5; i++ {
		if resp, body := get(t, e.base+"/x", "Authorization", good); resp.StatusCode != 200 {
			t.Fatalf("success %d consumed the budget: %d %s", i, resp.StatusCode, body)
		}
	}
	var last *http.Response
	var body []byte
	for i := 0; i < 4; i++ {
		last, body = get(t, e.base+"/x", "Authorization", basicAuth("alice", fmt.Sprintf("guess-%d", i)))
	}
	if last.StatusCode != 429 || reasonOf(t, body) != "too_many_failures" || last.Header.Get("Retry-After") == "" {
		t.Fatalf("after 4 failures: %d %q retry-after %q", last.StatusCode, body, last.Header.Get("Retry-After"))
	}
	// The budget is per credential: another user from the same client still gets through.
	if resp, _ := get(t, e.base+"/x", "Authorization", basicAuth("bob", "x")); resp.StatusCode != 401 {
		t.Fatalf("another credential was limited too: %d", resp.StatusCode)
	}
}
