package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/tokens"
)

// binPath is the gatehouse binary built once for the end-to-end tests.
var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gatehouse-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "gatehouse")
	args := []string{"build", "-o", binPath}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, ".")...)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build gatehouse:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running gatehouse process whose stderr (the logs) is captured.
type proc struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	stdout bytes.Buffer
	stderr bytes.Buffer
	done   chan struct{}
}

func (p *proc) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

func (p *proc) out() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stdout.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(b)
}

// start runs the binary with args and stops it (SIGTERM, then kill) when the test ends.
func start(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{done: make(chan struct{})}
	p.cmd = exec.Command(binPath, args...)
	p.cmd.Stdout = lockedWriter{&p.mu, &p.stdout}
	p.cmd.Stderr = lockedWriter{&p.mu, &p.stderr}
	p.cmd.Env = append(os.Environ(), "NO_COLOR=1")
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.cmd.Process.Signal(os.Interrupt)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("gatehouse output:\n%s\n%s", p.out(), p.logs())
		}
	})
	return p
}

// waitFor polls until re matches the process output (stdout or stderr) and returns the
// submatches.
func (p *proc) waitFor(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(p.out() + p.logs()); m != nil {
			return m
		}
		select {
		case <-p.done:
			t.Fatalf("gatehouse exited early:\n%s\n%s", p.out(), p.logs())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("timed out waiting for %s:\n%s\n%s", re, p.out(), p.logs())
	return nil
}

var listeningRe = regexp.MustCompile(`"listen":"(127\.0\.0\.1:\d+)","admin_listen":"(127\.0\.0\.1:\d+)"`)

func httpClient() *http.Client { return &http.Client{Timeout: 10 * time.Second} }

func get(t *testing.T, url string, headers ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	resp, err := httpClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

// curl runs the real curl and returns the status code and the response headers+body.
func curl(t *testing.T, args ...string) (int, string) {
	t.Helper()
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("curl is required in CI (.ci/run installs it)")
		}
		t.Skip("curl not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "curl", append([]string{"-sS", "-i", "--max-time", "5"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("curl %v: %v\n%s", args, err, out)
	}
	m := regexp.MustCompile(`^HTTP/[\d.]+ (\d{3})`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("curl output has no status line: %s", out)
	}
	var code int
	fmt.Sscan(m[1], &code)
	return code, string(out)
}

// gatewayEnv is a running gateway in front of a real upstream, with an ES256 issuer.
type gatewayEnv struct {
	base, admin string
	signer      *tokens.Signer
	proc        *proc
	upstreamHit chan http.Header
}

const e2eIssuer, e2eAudience = "https://issuer.test", "api://orders"

func startGateway(t *testing.T) *gatewayEnv {
	t.Helper()
	dir := t.TempDir()
	key, err := tokens.GenerateES256()
	if err != nil {
		t.Fatal(err)
	}
	signer, err := tokens.NewSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "jwks.json"), tokens.PublicJWKS(key), 0o600)

	hits := make(chan http.Header, 64)
	upstream := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case hits <- r.Header.Clone():
		default:
		}
		io.WriteString(w, "hello from upstream")
	}), ReadHeaderTimeout: 5 * time.Second}
	ln := listenLoopback(t)
	go upstream.Serve(ln)
	t.Cleanup(func() { upstream.Close() })

	cfg := fmt.Sprintf(`listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
realm: orders
authenticators:
  corp_jwt:
    type: jwt
    issuer: %s
    audience: [%s]
    algorithms: [ES256]
    jwks_file: jwks.json
routes:
  - name: admin
    match: {path_prefix: /admin}
    upstream: http://%s
    authenticate: [corp_jwt]
    require: {scopes: [orders:admin]}
  - name: open
    match: {path_prefix: /open}
    upstream: http://%s
    authenticate: anonymous
  - name: api
    match: {path_prefix: /}
    upstream: http://%s
    authenticate: [corp_jwt]
`, e2eIssuer, e2eAudience, ln.Addr(), ln.Addr(), ln.Addr())
	path := filepath.Join(dir, "gatehouse.yaml")
	os.WriteFile(path, []byte(cfg), 0o600)
	p := start(t, "serve", "--config", path)
	m := p.waitFor(t, listeningRe)
	return &gatewayEnv{base: "http://" + m[1], admin: "http://" + m[2], signer: signer, proc: p, upstreamHit: hits}
}

func (g *gatewayEnv) token(t *testing.T, claims map[string]any) string {
	t.Helper()
	now := time.Now()
	base := map[string]any{"iss": e2eIssuer, "aud": e2eAudience, "sub": "alice", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "scope": "orders:read"}
	for k, v := range claims {
		if v == nil {
			delete(base, k)
		} else {
			base[k] = v
		}
	}
	tok, err := g.signer.Sign(base)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestServeEndToEndWithRealClients(t *testing.T) {
	g := startGateway(t)
	valid := g.token(t, nil)
	admin := g.token(t, map[string]any{"scope": "orders:read orders:admin"})
	expired := g.token(t, map[string]any{"exp": time.Now().Add(-5 * time.Minute).Unix(), "iat": time.Now().Add(-time.Hour).Unix()})

	t.Run("go client: valid token reaches the upstream with identity", func(t *testing.T) {
		resp, body := get(t, g.base+"/orders", "Authorization", "Bearer "+valid, "X-Gatehouse-Subject", "mallory")
		if resp.StatusCode != 200 || string(body) != "hello from upstream" {
			t.Fatalf("status %d body %q", resp.StatusCode, body)
		}
		h := <-g.upstreamHit
		if h.Get("X-Gatehouse-Subject") != "alice" || h.Get("X-Gatehouse-Authenticator") != "corp_jwt" {
			t.Fatalf("identity headers %v", h)
		}
	})
	t.Run("go client: expired token", func(t *testing.T) {
		resp, body := get(t, g.base+"/orders", "Authorization", "Bearer "+expired)
		if resp.StatusCode != 401 || !strings.Contains(string(body), `"reason":"token_expired"`) {
			t.Fatalf("status %d body %s", resp.StatusCode, body)
		}
		if wa := resp.Header.Get("WWW-Authenticate"); !strings.Contains(wa, `error="invalid_token"`) || !strings.Contains(wa, "expired") {
			t.Fatalf("challenge %q", wa)
		}
	})
	tests := []struct {
		name   string
		args   []string
		status int
		want   string
	}{
		{"curl: valid", []string{g.base + "/orders", "-H", "Authorization: Bearer " + valid}, 200, "hello from upstream"},
		{"curl: missing", []string{g.base + "/orders"}, 401, `"reason":"credentials_missing"`},
		{"curl: expired", []string{g.base + "/orders", "-H", "Authorization: Bearer " + expired}, 401, `"reason":"token_expired"`},
		{"curl: insufficient scope", []string{g.base + "/admin/x", "-H", "Authorization: Bearer " + valid}, 403, `error="insufficient_scope"`},
		{"curl: admin", []string{g.base + "/admin/x", "-H", "Authorization: Bearer " + admin}, 200, "hello from upstream"},
		{"curl: anonymous", []string{g.base + "/open/x"}, 200, "hello from upstream"},
		{"curl: metadata", []string{g.base + "/.well-known/oauth-protected-resource"}, 200, `"bearer_methods_supported"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out := curl(t, tt.args...)
			if code != tt.status || !strings.Contains(out, tt.want) {
				t.Fatalf("status %d, want %d with %q:\n%s", code, tt.status, tt.want, out)
			}
		})
	}
	t.Run("admin healthz", func(t *testing.T) {
		resp, body := get(t, g.admin+"/healthz")
		if resp.StatusCode != 200 {
			t.Fatalf("healthz %d %s", resp.StatusCode, body)
		}
		resp, body = get(t, g.admin+"/readyz")
		if resp.StatusCode != 200 {
			t.Fatalf("readyz %d %s", resp.StatusCode, body)
		}
	})
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// TestHostileTokensAreRefusedAndNeverEchoed drives every failure path with known token
// strings and checks that no token, signature segment or secret appears in the logs, the
// bodies or the headers.
func TestHostileTokensAreRefusedAndNeverEchoed(t *testing.T) {
	g := startGateway(t)
	valid := g.token(t, nil)
	parts := strings.Split(valid, ".")
	claims := parts[1]
	attackerKey, _ := tokens.GenerateES256()
	attacker, _ := tokens.NewSigner(attackerKey)
	embedded, _ := attacker.SignWithHeader(map[string]any{"iss": e2eIssuer, "aud": e2eAudience, "sub": "mallory", "exp": time.Now().Add(time.Hour).Unix()},
		map[string]any{"jwk": json.RawMessage(attackerKey.PublicJWK())})
	jku, _ := attacker.SignWithHeader(map[string]any{"iss": e2eIssuer, "aud": e2eAudience, "sub": "mallory", "exp": time.Now().Add(time.Hour).Unix()},
		map[string]any{"jku": "http://127.0.0.1:1/jwks.json", "x5u": "http://127.0.0.1:1/cert.pem"})

	hostile := map[string]string{
		"alg none":           b64(`{"alg":"none","typ":"JWT"}`) + "." + claims + ".",
		"alg NONE":           b64(`{"alg":"NONE"}`) + "." + claims + ".",
		"alg nOnE":           b64(`{"alg":"nOnE"}`) + "." + claims + "." + parts[2],
		"HS256 with pub key": b64(`{"alg":"HS256","kid":"`+mustKid(t, valid)+`"}`) + "." + claims + "." + b64("forged-mac-forged-mac-forged-mac"),
		"empty signature":    parts[0] + "." + claims + ".",
		"crit header":        b64(`{"alg":"ES256","crit":["exp"],"exp":1}`) + "." + claims + "." + parts[2],
		"embedded jwk":       embedded,
		"jku and x5u":        jku,
		"signature swapped":  parts[0] + "." + b64(`{"iss":"`+e2eIssuer+`","aud":"`+e2eAudience+`","sub":"root","scope":"orders:admin","exp":9999999999}`) + "." + parts[2],
		"broken JSON claims": parts[0] + "." + b64(`{"sub":`) + "." + parts[2],
		"not base64":         "eyJ!!!.eyJ###.sig",
		"huge token":         parts[0] + "." + strings.Repeat("A", 20000) + "." + parts[2],
		"wrong issuer":       g.token(t, map[string]any{"iss": "https://evil.test"}),
		"wrong audience":     g.token(t, map[string]any{"aud": "api://billing"}),
		"not yet valid":      g.token(t, map[string]any{"nbf": time.Now().Add(time.Hour).Unix()}),
		"unknown kid":        mustSignWithKid(t, attackerKey, "kid-nobody-has"),
		"opaque garbage":     "s3cr3t-opaque-garbage-value-1234567890",
		"json in bearer":     `{"sub":"root"}`,
	}
	var rids []string // request ids of the refused requests, each of which is logged
	for name, tok := range hostile {
		t.Run(name, func(t *testing.T) {
			resp, body := get(t, g.base+"/orders", "Authorization", "Bearer "+tok)
			if rid := resp.Header.Get("X-Request-Id"); rid != "" {
				rids = append(rids, rid)
			}
			if resp.StatusCode != 401 {
				t.Fatalf("status %d, want 401: %s", resp.StatusCode, body)
			}
			leak(t, "response body", string(body), tok)
			for k, v := range resp.Header {
				leak(t, "response header "+k, strings.Join(v, " "), tok)
			}
		})
	}
	// Wait until every refusal is in the logs, then check the logs as a whole.
	if len(rids) != len(hostile) {
		t.Fatalf("%d of %d refusals carry an X-Request-Id", len(rids), len(hostile))
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		logs := g.proc.logs()
		missing := slices.IndexFunc(rids, func(rid string) bool { return !strings.Contains(logs, `"request_id":"`+rid+`"`) })
		if missing < 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line for request %s", rids[missing])
		}
		time.Sleep(20 * time.Millisecond) // polling interval of the wait
	}
	logs := g.proc.logs()
	for name, tok := range hostile {
		leak(t, "logs ("+name+")", logs, tok)
	}
	leak(t, "logs (valid)", logs, valid)
}

// leak fails when text contains the token or any of its segments long enough to matter.
func leak(t *testing.T, where, text, tok string) {
	t.Helper()
	tok = strings.TrimSpace(tok)
	for _, seg := range append([]string{tok}, strings.Split(tok, ".")...) {
		if len(seg) >= 16 && strings.Contains(text, seg) {
			t.Errorf("%s contains a credential segment %.12s...", where, seg)
		}
	}
}

func mustKid(t *testing.T, tok string) string {
	d, err := tokens.Decode(tok)
	if err != nil {
		t.Fatal(err)
	}
	return d.HeaderString("kid")
}

func mustSignWithKid(t *testing.T, key *tokens.SigningKey, kid string) string {
	s, _ := tokens.NewSigner(key)
	tok, err := s.SignWithHeader(map[string]any{"iss": e2eIssuer, "aud": e2eAudience, "sub": "x", "exp": time.Now().Add(time.Hour).Unix()}, map[string]any{"kid": kid})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestDemoShowsEveryOutcome(t *testing.T) {
	p := start(t, "demo", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0")
	p.waitFor(t, regexp.MustCompile(`Press Ctrl-C to stop`))
	out := p.out()
	var base string
	if m := regexp.MustCompile(`gateway\s+(http://127\.0\.0\.1:\d+)`).FindStringSubmatch(out); m != nil {
		base = m[1]
	} else {
		t.Fatalf("no gateway address in:\n%s", out)
	}
	vars := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		for _, name := range []string{"VALID", "EXPIRED", "READONLY", "APIKEY", "CLIENT_ID", "CLIENT_SECRET"} {
			if v, ok := strings.CutPrefix(line, name+"="); ok {
				vars[name], _, _ = strings.Cut(v, " ")
			}
		}
	}
	if len(vars) != 6 {
		t.Fatalf("demo printed tokens %v:\n%s", vars, out)
	}
	// Run every curl line the demo printed, with its variables, and check the outcome the
	// comment above it promises.
	re := regexp.MustCompile(`(?m)^  # (\d{3})[^\n]*\n  (curl [^\n]+)$`)
	ms := re.FindAllStringSubmatch(out, -1)
	if len(ms) != 8 {
		t.Fatalf("want 8 curl examples, found %d:\n%s", len(ms), out)
	}
	for _, m := range ms {
		want := m[1]
		line := m[2]
		for k, v := range vars {
			line = strings.ReplaceAll(line, "$"+k, v)
		}
		args := shellFields(strings.TrimPrefix(line, "curl "))
		code, resp := curl(t, args...)
		if fmt.Sprint(code) != want {
			t.Errorf("%s -> %d, want %s:\n%s", m[2], code, want, resp)
		}
	}

	// The gatehouse lines it printed run this binary, which is not on the PATH: each
	// must work as printed (tokens substituted).
	gl := regexp.MustCompile(`(?m)^  ('[^']+'|\S+) ((?:keys|doctor|token) [^\n]+)$`).FindAllStringSubmatch(out, -1)
	if len(gl) != 3 {
		t.Fatalf("want 3 gatehouse command lines, found %d:\n%s", len(gl), out)
	}
	for _, m := range gl {
		if bin := strings.Trim(m[1], "'"); bin != binPath {
			t.Errorf("the demo runs gatehouse as %s, want this binary %s", m[1], binPath)
		}
		line := m[2]
		for k, v := range vars {
			line = strings.ReplaceAll(line, "$"+k, v)
		}
		args := shellFields(line)
		for i, a := range args {
			args[i] = strings.Trim(a, "'")
		}
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		cmdOut, err := exec.CommandContext(ctx, binPath, args...).CombinedOutput()
		cancel()
		// doctor exits 1 when it finds the problem it explains (here, an expired token).
		if code := exitCode(err); code != 0 && !(args[0] == "doctor" && code == 1) {
			t.Errorf("%s: exit %d (%v):\n%s", m[0], code, err, cmdOut)
		}
	}

	// The client-credentials flow the demo describes, end to end with curl.
	code, resp := curl(t, base+"/oauth2/token", "-u", vars["CLIENT_ID"]+":"+vars["CLIENT_SECRET"], "-d", "grant_type=client_credentials", "-d", "scope=orders:read")
	tok := regexp.MustCompile(`"access_token":\s*"([^"]+)"`).FindStringSubmatch(resp)
	if code != 200 || tok == nil {
		t.Fatalf("token endpoint: %d\n%s", code, resp)
	}
	if code, resp := curl(t, base+"/orders", "-H", "Authorization: Bearer "+tok[1]); code != 200 {
		t.Fatalf("issued token refused: %d\n%s", code, resp)
	}
	if code, resp := curl(t, base+"/oauth2/revoke", "-u", vars["CLIENT_ID"]+":"+vars["CLIENT_SECRET"], "-d", "token="+tok[1]); code != 200 {
		t.Fatalf("revoke: %d\n%s", code, resp)
	}
	if code, resp := curl(t, base+"/orders", "-H", "Authorization: Bearer "+tok[1]); code != 401 || !strings.Contains(resp, "token_revoked") {
		t.Fatalf("revoked token: %d\n%s", code, resp)
	}
}

// shellFields splits a curl line the demo printed: words, and double-quoted strings.
func shellFields(s string) []string {
	var out []string
	for len(s) > 0 {
		s = strings.TrimLeft(s, " ")
		if s == "" {
			break
		}
		if s[0] == '"' {
			end := strings.IndexByte(s[1:], '"')
			out = append(out, s[1:1+end])
			s = s[2+end:]
			continue
		}
		end := strings.IndexByte(s, ' ')
		if end < 0 {
			end = len(s)
		}
		out = append(out, s[:end])
		s = s[end:]
	}
	return out
}

func TestOversizedHeadersGet431(t *testing.T) {
	g := startGateway(t)
	resp, body := get(t, g.base+"/orders", "X-Padding", strings.Repeat("a", 80<<10))
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("status %d, want 431", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" || !strings.Contains(string(body), `"reason":"headers_too_large"`) {
		t.Fatalf("431 without the problem body: %q %s", ct, body)
	}
	// The gateway is still serving.
	if resp, _ := get(t, g.base+"/open/x"); resp.StatusCode != 200 {
		t.Fatalf("after a 431: %d", resp.StatusCode)
	}
}

func TestMalformedAuthorizationHeaders(t *testing.T) {
	g := startGateway(t)
	for _, v := range []string{"Bearer", "Bearer ", "Bearer  x", "Bearer Bearer x", "Token", "Bearer \xe9t\xe9", "Basic !!!", "Bearer a,b"} {
		resp, body := get(t, g.base+"/orders", "Authorization", v)
		if resp.StatusCode != 401 {
			t.Errorf("Authorization %q: status %d, want 401: %s", v, resp.StatusCode, body)
		}
	}
}

func exitCode(err error) int {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	return -1
}
