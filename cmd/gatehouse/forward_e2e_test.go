package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gatehouse-dev/gatehouse/internal/challenge"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/tokens"
)

// Forward auth end to end: a real Gatehouse (the binary TestMain builds) configured from
// examples/nginx/gatehouse.yaml, a real nginx running examples/nginx/nginx.conf, and a
// real upstream, all on loopback. Clients are told apart by their source address:
// Linux routes all of 127.0.0.0/8 to the loopback interface, so a client bound to
// 127.0.0.2 is a different machine as far as nginx and Gatehouse can tell.

const (
	// nginxBudget is the per-client failure budget of the test configuration.
	nginxBudget = 3
	// untrustedIP is a caller outside trusted_proxies (127.0.0.1/32).
	untrustedIP = "127.0.0.2"
)

// upstreamHit is what the upstream behind nginx received.
type upstreamHit struct {
	method, uri string
	header      http.Header
	body        string
}

// forwardEnv is a Gatehouse configured for forward auth, with the issuer that signs
// its tokens.
type forwardEnv struct {
	base     string // Gatehouse's public listener, http://127.0.0.1:PORT
	decide   string // base + the forward-auth path
	proc     *proc
	signer   *tokens.Signer
	issuer   string
	audience string
	dir      string // the configuration's folder
}

// exampleConfig reads examples/<example>/gatehouse.yaml as a generic YAML tree.
func exampleConfig(t *testing.T, example string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "examples", example, "gatehouse.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatalf("examples/%s/gatehouse.yaml: %v", example, err)
	}
	return cfg
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// startForwardGatehouse runs Gatehouse with examples/nginx/gatehouse.yaml (see
// startExampleGatehouse).
func startForwardGatehouse(t *testing.T) *forwardEnv {
	t.Helper()
	return startExampleGatehouse(t, "nginx", nil)
}

// startExampleGatehouse runs Gatehouse with examples/<example>/gatehouse.yaml, changed
// only where a test must: ephemeral ports, the test issuer's keys from a file, a small
// failure budget, and a /down route whose key set lives on a closed port (an outage);
// mutate, when set, changes the tree last.
func startExampleGatehouse(t *testing.T, example string, mutate func(cfg map[string]any)) *forwardEnv {
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
	if err := os.WriteFile(filepath.Join(dir, "jwks.json"), tokens.PublicJWKS(key), 0o600); err != nil {
		t.Fatal(err)
	}

	cfg := exampleConfig(t, example)
	cfg["listen"] = "127.0.0.1:0"
	cfg["admin_listen"] = "127.0.0.1:0"
	cfg["failure_budget"] = map[string]any{"per_client": strconv.Itoa(nginxBudget) + "/h", "per_credential": "100/h"}
	auths := cfg["authenticators"].(map[string]any)
	jwt := auths["corp_jwt"].(map[string]any)
	delete(jwt, "jwks_url")
	jwt["jwks_file"] = "jwks.json"
	issuer := jwt["issuer"].(string)
	audience := jwt["audience"].([]any)[0].(string)
	auths["down_jwt"] = map[string]any{
		"type": "jwt", "issuer": issuer, "audience": []any{audience}, "algorithms": []any{"ES256"},
		"jwks_url": "http://" + closedPort(t) + "/jwks.json", "jwks_timeout": "1s",
	}
	down := map[string]any{"name": "down", "match": map[string]any{"path_prefix": "/down"}, "authenticate": []any{"down_jwt"}}
	cfg["routes"] = append([]any{down}, cfg["routes"].([]any)...)
	if mutate != nil {
		mutate(cfg)
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "gatehouse.yaml")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	p := start(t, "serve", "--config", path)
	m := p.waitFor(t, listeningRe)
	fa := cfg["forward_auth"].(map[string]any)["path"].(string)
	return &forwardEnv{base: "http://" + m[1], decide: "http://" + m[1] + fa, proc: p, signer: signer, issuer: issuer, audience: audience, dir: dir}
}

func (e *forwardEnv) token(t *testing.T, claims map[string]any) string {
	t.Helper()
	now := time.Now()
	c := map[string]any{"iss": e.issuer, "aud": e.audience, "sub": "alice", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "scope": "orders:read"}
	for k, v := range claims {
		c[k] = v
	}
	tok, err := e.signer.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// forgedToken is a well-formed token signed by a key Gatehouse does not know; n makes
// each one a different credential, so only the per-client budget adds them up.
func forgedToken(t *testing.T, e *forwardEnv, n int) string {
	t.Helper()
	key, err := tokens.GenerateES256()
	if err != nil {
		t.Fatal(err)
	}
	s, err := tokens.NewSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.Sign(map[string]any{"iss": e.issuer, "aud": e.audience, "sub": "mallory-" + strconv.Itoa(n), "exp": time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// logLine returns the decision Gatehouse logged for a request id.
func (e *forwardEnv) logLine(t *testing.T, rid string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		sc := bufio.NewScanner(strings.NewReader(e.proc.logs()))
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			var line map[string]any
			if json.Unmarshal(sc.Bytes(), &line) == nil && line["request_id"] == rid {
				return line
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line for request %s:\n%s", rid, e.proc.logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// nginxBinary finds nginx on PATH or in /usr/sbin. Without it the test skips, except
// under CI, where .ci/run installs it.
func nginxBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"} {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("nginx is required in CI (.ci/run installs it)")
	}
	t.Skip("nginx not installed")
	return ""
}

// placeholderRe finds the ${NAME} placeholders of an example configuration.
var placeholderRe = regexp.MustCompile(`\$\{[A-Z_]+\}`)

// renderExample fills the placeholders of an example file, failing when one is left.
func renderExample(t *testing.T, path string, vars map[string]string) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := placeholderRe.ReplaceAllStringFunc(string(raw), func(ph string) string {
		if v, ok := vars[ph[2:len(ph)-1]]; ok {
			return v
		}
		return ph
	})
	if left := placeholderRe.FindAllString(s, -1); len(left) > 0 {
		t.Fatalf("%s has placeholders the test does not fill: %v", path, left)
	}
	return s
}

// startNginx runs examples/nginx/nginx.conf in front of upstream, asking gatehouse, and
// returns its base URL. It stops nginx (and only it) when the test ends.
func startNginx(t *testing.T, gatehouseAddr, upstreamAddr string) string {
	t.Helper()
	bin := nginxBinary(t)
	prefix := t.TempDir()
	// nginx inherits a socket already listening on a port of 0's choosing (NGINX lists
	// inherited sockets, as in its binary upgrade), so no port is guessed.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sock, err := ln.(*net.TCPListener).File()
	ln.Close() // sock holds its own descriptor of the socket
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sock.Close() })
	listen := ln.Addr().String()
	conf := renderExample(t, filepath.Join("..", "..", "examples", "nginx", "nginx.conf"), map[string]string{
		"LISTEN": listen, "GATEHOUSE": gatehouseAddr, "UPSTREAM": upstreamAddr, "RUN_DIR": prefix,
	})
	confPath := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	errLog := filepath.Join(prefix, "error.log")
	cmd := exec.Command(bin, "-p", prefix, "-c", confPath, "-e", errLog,
		"-g", "daemon off; pid "+filepath.Join(prefix, "nginx.pid")+";")
	cmd.ExtraFiles = []*os.File{sock}
	cmd.Env = append(os.Environ(), "NGINX=3;")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// Its own process group, so the workers are stopped with the master.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start nginx: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	dumpLogs := func() {
		for _, name := range []string{"error.log", "access.log"} {
			b, _ := os.ReadFile(filepath.Join(prefix, name))
			t.Logf("nginx %s:\n%s", name, b)
		}
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGQUIT) // graceful stop
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			dumpLogs()
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-done:
			dumpLogs()
			t.Fatalf("nginx exited:\n%s", out.String())
		default:
		}
		// The kernel accepts connections on the socket before nginx runs, so ready means
		// an answer: a request line nginx refuses itself (400), which reaches neither
		// Gatehouse nor the upstream.
		if nginxAnswers(listen) {
			return "http://" + listen
		}
		if time.Now().After(deadline) {
			dumpLogs()
			t.Fatalf("nginx did not listen on %s:\n%s", listen, out.String())
		}
		time.Sleep(50 * time.Millisecond) // polling interval of the wait
	}
}

// nginxAnswers reports whether nginx answers on addr within a second.
func nginxAnswers(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := io.WriteString(c, "NOT-HTTP\r\n\r\n"); err != nil {
		return false
	}
	b := make([]byte, 5)
	_, err = io.ReadFull(c, b)
	return err == nil && string(b) == "HTTP/"
}

// startAPI runs the upstream behind nginx: it records what it receives and answers 200.
func startAPI(t *testing.T) (addr string, hits chan upstreamHit) {
	t.Helper()
	hits = make(chan upstreamHit, 64)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		select {
		case hits <- upstreamHit{method: r.Method, uri: r.RequestURI, header: r.Header.Clone(), body: string(body)}:
		default:
		}
		io.WriteString(w, "hello from the api")
	}), ReadHeaderTimeout: 5 * time.Second}
	ln := listenLoopback(t)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), hits
}

// clientFrom returns an HTTP client whose connections come from the loopback address ip.
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// send makes one request from ip; headers are name, value pairs, added in order (a name
// may repeat).
func send(t *testing.T, ip, method, url, body string, headers ...string) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	resp, err := clientFrom(ip).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// wantProblem checks a refusal as the client sees it: status, problem+json body with the
// reason, the request id in header and body, no-store, and no trace of the header that
// carried the problem from Gatehouse to nginx.
func wantProblem(t *testing.T, resp *http.Response, body []byte, status int, reason string) gateway.Problem {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d; headers %v; body %s", resp.StatusCode, status, resp.Header, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type %q, want application/problem+json; body %s", ct, body)
	}
	var p gateway.Problem
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("body is not a problem document: %v: %q", err, body)
	}
	if p.Status != status || p.Reason != reason {
		t.Errorf("problem %+v, want status %d reason %s", p, status, reason)
	}
	if rid := resp.Header.Get("X-Request-Id"); rid == "" || rid != p.RequestID {
		t.Errorf("X-Request-Id %q, body request_id %q", rid, p.RequestID)
	}
	if cc := resp.Header.Values("Cache-Control"); len(cc) != 1 || cc[0] != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	if v := resp.Header.Get(gateway.HeaderProblem); v != "" {
		t.Errorf("%s reached the client: %q", gateway.HeaderProblem, v)
	}
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || n < 1 {
			t.Errorf("Retry-After %q, want a number of seconds", resp.Header.Get("Retry-After"))
		}
	}
	return p
}

// onlyChallenge parses the response's challenges and returns the one for scheme.
func onlyChallenge(t *testing.T, resp *http.Response, scheme string) challenge.Challenge {
	t.Helper()
	cs, err := challenge.ParseChallenges(resp.Header.Values("WWW-Authenticate"))
	if err != nil {
		t.Fatalf("WWW-Authenticate %q does not parse: %v", resp.Header.Values("WWW-Authenticate"), err)
	}
	if len(cs) != 1 || !strings.EqualFold(cs[0].Scheme, scheme) {
		t.Fatalf("challenges %+v, want one %s challenge", cs, scheme)
	}
	return cs[0]
}

func param(c challenge.Challenge, name string) string {
	v, _ := c.Param(name)
	return v
}

func TestForwardAuthBehindRealNginx(t *testing.T) {
	nginxBinary(t) // skip before starting anything when nginx is missing
	g := startForwardGatehouse(t)
	apiAddr, hits := startAPI(t)
	base := startNginx(t, strings.TrimPrefix(g.base, "http://"), apiAddr)
	valid := g.token(t, nil)
	admin := g.token(t, map[string]any{"scope": "orders:read orders:admin"})
	expired := g.token(t, map[string]any{"iat": time.Now().Add(-time.Hour).Unix(), "exp": time.Now().Add(-10 * time.Minute).Unix()})
	metadata := base + "/.well-known/oauth-protected-resource"

	// apiQuiet checks that the api got nothing since the last hit was read: it sends an
	// anonymous request through nginx and requires it to be the next thing the api sees.
	apiQuiet := func(t *testing.T, ip string) {
		t.Helper()
		if resp, _ := send(t, ip, "GET", base+"/health?marker", ""); resp.StatusCode != 200 {
			t.Fatalf("marker request: status %d", resp.StatusCode)
		}
		if hit := <-hits; hit.method != "GET" || hit.uri != "/health?marker" {
			t.Errorf("the api got %s %s with body %q; want nothing before the marker", hit.method, hit.uri, hit.body)
			<-hits // the marker
		}
	}
	// Each case comes from its own address, so failure budgets do not mix.
	t.Run("allowed request reaches the api with the identity Gatehouse found", func(t *testing.T) {
		resp, body := send(t, "127.0.0.10", "POST", base+"/api/orders?page=2", "order body",
			"Authorization", "Bearer "+valid, "X-Gatehouse-Subject", "mallory", "X-Gatehouse-Scopes", "orders:admin")
		if resp.StatusCode != 200 || string(body) != "hello from the api" {
			t.Fatalf("status %d body %q", resp.StatusCode, body)
		}
		hit := <-hits
		if hit.method != "POST" || hit.uri != "/api/orders?page=2" || hit.body != "order body" {
			t.Errorf("the api got %s %s with body %q", hit.method, hit.uri, hit.body)
		}
		want := map[string]string{
			"X-Gatehouse-Subject":       "alice",
			"X-Gatehouse-Scopes":        "orders:read",
			"X-Gatehouse-Authenticator": "corp_jwt",
		}
		for k, v := range want {
			if got := hit.header.Values(k); len(got) != 1 || got[0] != v {
				t.Errorf("the api got %s = %q, want %q", k, got, v)
			}
		}
		rid := hit.header.Get("X-Gatehouse-Request-Id")
		if rid == "" {
			t.Errorf("the api got no X-Gatehouse-Request-Id: %v", hit.header)
		}
		if line := g.logLine(t, rid); line["method"] != "POST" || line["path"] != "/api/orders" || line["client"] != "127.0.0.10" || line["route"] != "api" {
			t.Errorf("Gatehouse logged %v, want the original POST /api/orders from 127.0.0.10", line)
		}
	})
	t.Run("anonymous route gets no identity even when the client sends one", func(t *testing.T) {
		resp, _ := send(t, "127.0.0.11", "GET", base+"/health", "", "X-Gatehouse-Subject", "root", "X-Gatehouse-Authenticator", "corp_jwt")
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		hit := <-hits
		for _, k := range []string{"X-Gatehouse-Subject", "X-Gatehouse-Scopes", "X-Gatehouse-Authenticator"} {
			if v := hit.header.Values(k); len(v) > 0 {
				t.Errorf("the api got %s = %q on an anonymous route", k, v)
			}
		}
		if hit.header.Get("X-Gatehouse-Request-Id") == "" {
			t.Errorf("the api got no X-Gatehouse-Request-Id")
		}
	})
	t.Run("missing credentials: 401 with Gatehouse's challenge and body", func(t *testing.T) {
		resp, body := send(t, "127.0.0.12", "GET", base+"/api/orders", "", "X-Request-Id", "e2e-missing-1")
		p := wantProblem(t, resp, body, 401, "credentials_missing")
		if p.ClientRequestID != "e2e-missing-1" || len(p.RequestID) != 24 {
			t.Errorf("request id %q, client request id %q; want the gateway's own and the client's e2e-missing-1", p.RequestID, p.ClientRequestID)
		}
		c := onlyChallenge(t, resp, "Bearer")
		if param(c, "realm") != "orders-api" || param(c, "resource_metadata") != metadata {
			t.Errorf("challenge %+v, want realm orders-api and resource_metadata %s", c, metadata)
		}
		if _, ok := c.Param("error"); ok {
			t.Errorf("challenge %+v has an error though no token was sent (RFC 6750 3.1)", c)
		}
	})
	t.Run("expired token: 401 invalid_token saying so", func(t *testing.T) {
		resp, body := send(t, "127.0.0.13", "GET", base+"/api/orders", "", "Authorization", "Bearer "+expired)
		p := wantProblem(t, resp, body, 401, "token_expired")
		c := onlyChallenge(t, resp, "Bearer")
		if param(c, "error") != "invalid_token" || !strings.Contains(param(c, "error_description"), "expired") || !strings.Contains(p.Detail, "expired") {
			t.Errorf("challenge %+v detail %q", c, p.Detail)
		}
		leak(t, "response body", string(body), expired)
	})
	t.Run("dot segments cannot reach past an anonymous route", func(t *testing.T) {
		resp, body := send(t, "127.0.0.14", "GET", base+"/health/../api/orders", "")
		wantProblem(t, resp, body, 401, "credentials_missing")
	})
	t.Run("a client's own description of the request is ignored", func(t *testing.T) {
		resp, body := send(t, "127.0.0.14", "GET", base+"/api/orders", "",
			"X-Forwarded-Uri", "/health", "X-Forwarded-Method", "GET", "X-Original-URL", "http://x/health", "X-Original-URI", "/health")
		wantProblem(t, resp, body, 401, "credentials_missing")
	})
	t.Run("insufficient scope: 403 with Gatehouse's challenge and body", func(t *testing.T) {
		resp, body := send(t, "127.0.0.15", "GET", base+"/admin/users", "", "Authorization", "Bearer "+valid)
		p := wantProblem(t, resp, body, 403, "insufficient_scope")
		c := onlyChallenge(t, resp, "Bearer")
		if param(c, "error") != "insufficient_scope" || param(c, "scope") != "orders:admin" {
			t.Errorf("challenge %+v, want insufficient_scope naming orders:admin", c)
		}
		if !strings.Contains(p.Detail, "orders:admin") {
			t.Errorf("detail %q does not name the missing scope", p.Detail)
		}
	})
	t.Run("admin scope passes", func(t *testing.T) {
		resp, _ := send(t, "127.0.0.15", "GET", base+"/admin/users", "", "Authorization", "Bearer "+admin)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if hit := <-hits; hit.header.Get("X-Gatehouse-Scopes") != "orders:read orders:admin" {
			t.Errorf("scopes %q", hit.header.Get("X-Gatehouse-Scopes"))
		}
	})
	t.Run("a duplicated Authorization header never reaches Gatehouse", func(t *testing.T) {
		// nginx refuses it itself with its own 400; Gatehouse's 400 invalid_request
		// takes the same path through nginx as the 404 below.
		resp, _ := send(t, "127.0.0.16", "GET", base+"/api/orders", "", "Authorization", "Bearer "+valid, "Authorization", "Bearer "+valid)
		if resp.StatusCode != 400 {
			t.Fatalf("status %d, want nginx's 400", resp.StatusCode)
		}
		select {
		case hit := <-hits:
			t.Fatalf("the api was reached: %s %s", hit.method, hit.uri)
		default:
		}
	})
	t.Run("no route: 404 problem instead of nginx's 500", func(t *testing.T) {
		resp, body := send(t, "127.0.0.17", "GET", base+"/nowhere", "", "Authorization", "Bearer "+valid)
		wantProblem(t, resp, body, 404, "route_not_found")
	})
	t.Run("a path an upstream reads as another is refused, not passed under a weaker route", func(t *testing.T) {
		for _, target := range []string{
			"/health/..;/admin/users", // Tomcat, Jetty and Spring read /admin/users
			"/health/..%5cadmin/users",
			"/health/%252e%252e/admin/users",
			"/health/%c0%ae%c0%ae/admin/users",
		} {
			resp, body := send(t, "127.0.0.26", "GET", base+target, "")
			wantProblem(t, resp, body, 400, "path_rejected")
		}
		apiQuiet(t, "127.0.0.26")
	})
	t.Run("a method the route does not take: 405 with Allow, not a broader route", func(t *testing.T) {
		resp, body := send(t, "127.0.0.27", "DELETE", base+"/admin/users/7", "", "Authorization", "Bearer "+admin)
		wantProblem(t, resp, body, 405, "method_not_allowed")
		if got := resp.Header.Values("Allow"); len(got) != 1 || got[0] != "GET, HEAD, POST" {
			t.Errorf("Allow %q, want GET, HEAD, POST", got)
		}
		apiQuiet(t, "127.0.0.27")
		resp, _ = send(t, "127.0.0.27", "HEAD", base+"/admin/users", "", "Authorization", "Bearer "+valid)
		if resp.StatusCode != 403 {
			t.Errorf("HEAD without the admin scope: status %d, want 403 as for GET", resp.StatusCode)
		}
	})
	t.Run("key set outage: 503 with Retry-After, never 401", func(t *testing.T) {
		resp, body := send(t, "127.0.0.18", "GET", base+"/down/x", "", "Authorization", "Bearer "+valid)
		wantProblem(t, resp, body, 503, "authenticator_unavailable")
		if len(resp.Header.Values("WWW-Authenticate")) != 0 {
			t.Errorf("503 carries a challenge: %q", resp.Header.Values("WWW-Authenticate"))
		}
	})
	t.Run("failure budget: 429 with Retry-After for the client nginx names", func(t *testing.T) {
		const ip = "127.0.0.19"
		for i := range nginxBudget {
			resp, body := send(t, ip, "GET", base+"/api/orders", "", "Authorization", "Bearer "+forgedToken(t, g, i))
			if resp.StatusCode != 401 {
				t.Fatalf("failure %d: status %d, want 401: %s", i+1, resp.StatusCode, body)
			}
		}
		resp, body := send(t, ip, "GET", base+"/api/orders", "", "Authorization", "Bearer "+forgedToken(t, g, nginxBudget))
		p := wantProblem(t, resp, body, 429, "too_many_failures")
		if line := g.logLine(t, p.RequestID); line["client"] != ip {
			t.Errorf("Gatehouse counted the failure against %v, want %s (from nginx's X-Forwarded-For)", line["client"], ip)
		}
		// Another client is not affected.
		resp, body = send(t, "127.0.0.20", "GET", base+"/api/orders", "", "Authorization", "Bearer "+forgedToken(t, g, 99))
		wantProblem(t, resp, body, 401, "token_key_unknown")
	})
	t.Run("a refusal to an allowed origin can be read by the page", func(t *testing.T) {
		resp, body := send(t, "127.0.0.23", "GET", base+"/api/orders", "", "Origin", "http://localhost:3000")
		wantProblem(t, resp, body, 401, "credentials_missing")
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "http://localhost:3000" {
			t.Errorf("Access-Control-Allow-Origin %q", got)
		}
		if got := resp.Header.Get("Access-Control-Expose-Headers"); !strings.Contains(got, "WWW-Authenticate") || !strings.Contains(got, "X-Request-Id") {
			t.Errorf("Access-Control-Expose-Headers %q", got)
		}
	})
	t.Run("a preflight from an allowed origin is answered by nginx and never reaches the api", func(t *testing.T) {
		resp, body := send(t, "127.0.0.24", "OPTIONS", base+"/api/orders/42", `{"status":"cancelled"}`,
			"Origin", "http://localhost:3000", "Access-Control-Request-Method", "DELETE", "Access-Control-Request-Headers", "authorization")
		if resp.StatusCode != 204 || len(body) != 0 {
			t.Fatalf("status %d body %q, want nginx's 204", resp.StatusCode, body)
		}
		apiQuiet(t, "127.0.0.24")
		want := map[string]string{"Access-Control-Allow-Origin": "http://localhost:3000", "Access-Control-Allow-Methods": "DELETE"}
		for k, v := range want {
			if got := resp.Header.Values(k); len(got) != 1 || got[0] != v {
				t.Errorf("%s = %q, want %q", k, got, v)
			}
		}
		if got := resp.Header.Get("Access-Control-Allow-Headers"); !strings.Contains(got, "Authorization") {
			t.Errorf("Access-Control-Allow-Headers %q lacks Authorization", got)
		}
		if got := resp.Header.Get(gateway.HeaderPreflight); got != "" {
			t.Errorf("the browser got Gatehouse's %s: %q", gateway.HeaderPreflight, got)
		}
	})
	t.Run("an OPTIONS that is not a preflight is authenticated like any request", func(t *testing.T) {
		for _, h := range [][]string{
			{"Origin", "http://localhost:3000"},                                      // no Access-Control-Request-Method
			{"Access-Control-Request-Method", "DELETE"},                              // no Origin
			{"Origin", "http://localhost:3000", "Access-Control-Request-Method", ""}, // empty
		} {
			resp, body := send(t, "127.0.0.25", "OPTIONS", base+"/api/orders/42", `{"status":"cancelled"}`, h...)
			wantProblem(t, resp, body, 401, "credentials_missing")
		}
		apiQuiet(t, "127.0.0.25")
		resp, body := send(t, "127.0.0.25", "OPTIONS", base+"/api/orders/42", "body",
			"Origin", "http://localhost:3000", "Authorization", "Bearer "+valid)
		if resp.StatusCode != 200 || string(body) != "hello from the api" {
			t.Fatalf("authenticated OPTIONS: status %d body %q", resp.StatusCode, body)
		}
		if hit := <-hits; hit.method != "OPTIONS" || hit.header.Get("X-Gatehouse-Subject") != "alice" || hit.body != "body" {
			t.Errorf("the api got %s with subject %q and body %q", hit.method, hit.header.Get("X-Gatehouse-Subject"), hit.body)
		}
	})
	t.Run("a preflight from another origin is decided like any OPTIONS", func(t *testing.T) {
		resp, body := send(t, "127.0.0.24", "OPTIONS", base+"/api/orders", "",
			"Origin", "http://evil.example", "Access-Control-Request-Method", "POST")
		wantProblem(t, resp, body, 401, "credentials_missing")
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("Access-Control-Allow-Origin %q for an origin not allowed", got)
		}
	})
	t.Run("resource metadata is served through nginx and names the route's audience", func(t *testing.T) {
		resp, body := send(t, "127.0.0.21", "GET", metadata, "")
		var doc map[string]any
		if resp.StatusCode != 200 || json.Unmarshal(body, &doc) != nil || doc["resource"] != "api://orders" {
			t.Fatalf("status %d, want the metadata naming api://orders: %s", resp.StatusCode, body)
		}
	})
	t.Run("the decide location is internal to nginx", func(t *testing.T) {
		resp, _ := send(t, "127.0.0.22", "GET", base+"/_gatehouse/decide", "", "X-Original-URI", "/health", "X-Original-Method", "GET")
		if resp.StatusCode != 404 {
			t.Fatalf("status %d, want nginx's 404 for an internal location", resp.StatusCode)
		}
	})
}

func TestDecideEndpointReadsTraefikHeaders(t *testing.T) {
	g := startForwardGatehouse(t)
	valid := g.token(t, nil)
	traefik := func(method, uri string, more ...string) []string {
		return append([]string{"X-Forwarded-Method", method, "X-Forwarded-Uri", uri,
			"X-Forwarded-Host", "api.example", "X-Forwarded-Proto", "https", "X-Forwarded-For", "203.0.113.7"}, more...)
	}
	t.Run("allowed: 200, identity headers, empty body", func(t *testing.T) {
		resp, body := send(t, "127.0.0.1", "GET", g.decide, "", traefik("GET", "/api/orders?page=1", "Authorization", "Bearer "+valid, "X-Request-Id", "traefik-1")...)
		if resp.StatusCode != 200 || len(body) != 0 {
			t.Fatalf("status %d body %q", resp.StatusCode, body)
		}
		want := map[string]string{
			"X-Gatehouse-Subject": "alice", "X-Gatehouse-Scopes": "orders:read",
			"X-Gatehouse-Authenticator": "corp_jwt", "X-Gatehouse-Request-Id": resp.Header.Get("X-Request-Id"),
		}
		if rid := resp.Header.Get("X-Request-Id"); len(rid) != 24 {
			t.Errorf("X-Request-Id %q, want the gateway's own id, not the client's traefik-1", rid)
		}
		for k, v := range want {
			if got := resp.Header.Get(k); got != v {
				t.Errorf("%s = %q, want %q", k, got, v)
			}
		}
		if line := g.logLine(t, resp.Header.Get("X-Request-Id")); line["client"] != "203.0.113.7" || line["path"] != "/api/orders" || line["client_request_id"] != "traefik-1" {
			t.Errorf("logged %v, want the client Traefik named, the original path and the client's request id", line)
		}
	})
	t.Run("refused: Traefik passes status, challenge and body on as they are", func(t *testing.T) {
		resp, body := send(t, "127.0.0.1", "GET", g.decide, "", traefik("DELETE", "/api/orders/7")...)
		p := wantProblemDirect(t, resp, body, 401, "credentials_missing")
		c := onlyChallenge(t, resp, "Bearer")
		if param(c, "resource_metadata") != "https://api.example/.well-known/oauth-protected-resource" {
			t.Errorf("resource_metadata %q, want it on the host Traefik named", param(c, "resource_metadata"))
		}
		if p.Detail == "" {
			t.Errorf("no detail")
		}
	})
	t.Run("malformed X-Forwarded-Uri: 400 naming the header", func(t *testing.T) {
		resp, body := send(t, "127.0.0.1", "GET", g.decide, "", traefik("GET", "/api/%zz")...)
		p := wantProblemDirect(t, resp, body, 400, "invalid_request")
		if !strings.Contains(p.Detail, "X-Forwarded-Uri") {
			t.Errorf("detail %q does not name X-Forwarded-Uri", p.Detail)
		}
	})
	t.Run("malformed X-Forwarded-Method: 400", func(t *testing.T) {
		resp, body := send(t, "127.0.0.1", "GET", g.decide, "", traefik("GE T", "/api/x")...)
		wantProblemDirect(t, resp, body, 400, "invalid_request")
	})
	t.Run("a client's X-Original-URI beside Traefik's headers: 400, not a bypass", func(t *testing.T) {
		resp, body := send(t, "127.0.0.1", "GET", g.decide, "", traefik("GET", "/api/orders", "X-Original-URI", "/health")...)
		wantProblemDirect(t, resp, body, 400, "invalid_request")
	})
	t.Run("preflight from an allowed origin: a marked 403, never a 2xx that passes it on", func(t *testing.T) {
		resp, _ := send(t, "127.0.0.1", "GET", g.decide, "", traefik("OPTIONS", "/api/orders",
			"Origin", "http://localhost:3000", "Access-Control-Request-Method", "POST")...)
		if resp.StatusCode != 403 || resp.Header.Get(gateway.HeaderPreflight) != gateway.PreflightAnswer || resp.Header.Get("Access-Control-Allow-Origin") != "http://localhost:3000" ||
			!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
			t.Fatalf("status %d headers %v", resp.StatusCode, resp.Header)
		}
	})
}

// wantProblemDirect checks a refusal read straight from Gatehouse, which also carries
// the problem in X-Gatehouse-Problem for nginx.
func wantProblemDirect(t *testing.T, resp *http.Response, body []byte, status int, reason string) gateway.Problem {
	t.Helper()
	hp := resp.Header.Get(gateway.HeaderProblem)
	resp.Header.Del(gateway.HeaderProblem)
	p := wantProblem(t, resp, body, status, reason)
	if hp != string(bytes.TrimSpace(body)) {
		t.Errorf("%s = %q, want the body %q", gateway.HeaderProblem, hp, bytes.TrimSpace(body))
	}
	return p
}

func TestUntrustedCallerCannotDecideOrSpoofItsAddress(t *testing.T) {
	g := startForwardGatehouse(t)
	t.Run("the decide endpoint answers 403 forbidden", func(t *testing.T) {
		resp, body := send(t, untrustedIP, "GET", g.decide, "",
			"X-Original-URI", "/health", "X-Original-Method", "GET", "X-Forwarded-For", "127.0.0.1")
		p := wantProblemDirect(t, resp, body, 403, "forbidden")
		if len(resp.Header.Values("WWW-Authenticate")) != 0 {
			t.Errorf("403 forbidden carries a challenge: %q", resp.Header.Values("WWW-Authenticate"))
		}
		if line := g.logLine(t, p.RequestID); line["client"] != untrustedIP {
			t.Errorf("logged client %v, want %s", line["client"], untrustedIP)
		}
	})
	t.Run("its X-Forwarded-For is not believed: logs and the budget use its socket address", func(t *testing.T) {
		for i := range nginxBudget {
			spoofed := fmt.Sprintf("198.51.100.%d", i+1)
			resp, body := send(t, untrustedIP, "GET", g.base+"/api/orders", "",
				"Authorization", "Bearer "+forgedToken(t, g, i), "X-Forwarded-For", spoofed)
			p := statusProblem(t, resp, body, 401)
			if line := g.logLine(t, p.RequestID); line["client"] != untrustedIP {
				t.Errorf("failure %d logged client %v, want %s (not the spoofed %s)", i+1, line["client"], untrustedIP, spoofed)
			}
		}
		resp, body := send(t, untrustedIP, "GET", g.base+"/api/orders", "",
			"Authorization", "Bearer "+forgedToken(t, g, nginxBudget), "X-Forwarded-For", "198.51.100.200")
		wantProblem(t, resp, body, 429, "too_many_failures")
	})
}

// statusProblem checks the status of a refusal and returns its problem.
func statusProblem(t *testing.T, resp *http.Response, body []byte, status int) gateway.Problem {
	t.Helper()
	var p gateway.Problem
	if resp.StatusCode != status || json.Unmarshal(body, &p) != nil {
		t.Fatalf("status %d, want %d: %s", resp.StatusCode, status, body)
	}
	return p
}

func TestForwardAuthNginxAnswers503WhenGatehouseIsUnreachable(t *testing.T) {
	nginxBinary(t)
	apiAddr, hits := startAPI(t)
	base := startNginx(t, closedPort(t), apiAddr)
	resp, body := send(t, "127.0.0.30", "GET", base+"/api/orders", "", "Authorization", "Bearer whatever")
	wantProblem(t, resp, body, 503, "authenticator_unavailable")
	if got := resp.Header.Get("Retry-After"); got != "5" {
		t.Errorf("Retry-After %q, want nginx.conf's fallback 5", got)
	}
	select {
	case hit := <-hits:
		t.Fatalf("the api was reached without a decision: %s %s", hit.method, hit.uri)
	default:
	}
}
