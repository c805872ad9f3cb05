package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"go.yaml.in/yaml/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
)

// The other stacks Gatehouse fits, end to end: Envoy's ext_authz gRPC API spoken by a
// real gRPC client to the real binary (no Envoy binary is installable here), and Caddy
// (Debian's) and Traefik (built from the Go module proxy by .ci/traefik) running the
// examples in front of a real upstream.

var extAuthzRe = regexp.MustCompile(`"ext_authz_listen":"(127\.0\.0\.1:\d+)"`)

// grpcClientFrom is an Authorization client whose connection comes from the loopback
// address ip.
func grpcClientFrom(t *testing.T, addr, ip string) authv3.AuthorizationClient {
	t.Helper()
	dial := func(ctx context.Context, a string) (net.Conn, error) {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
		return d.DialContext(ctx, "tcp", a)
	}
	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithContextDialer(dial))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return authv3.NewAuthorizationClient(conn)
}

func envoyCheck(method, path, clientIP string, headers map[string]string) *authv3.CheckRequest {
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{Address: clientIP, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 50000}}}}},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: method, Path: path, Host: "api.example", Scheme: "https", Headers: headers, Protocol: "HTTP/2",
		}},
	}}
}

func deniedProblem(t *testing.T, resp *authv3.CheckResponse, status int, reason string) gateway.Problem {
	t.Helper()
	d := resp.GetDeniedResponse()
	if d == nil || codes.Code(resp.GetStatus().GetCode()) == codes.OK {
		t.Fatalf("not a denial: %v", resp)
	}
	if int(d.GetStatus().GetCode()) != status {
		t.Fatalf("status %d, want %d: %v", d.GetStatus().GetCode(), status, d)
	}
	hd := map[string]string{}
	for _, o := range d.GetHeaders() {
		hd[o.GetHeader().GetKey()] = o.GetHeader().GetValue()
	}
	resp2 := &http.Response{StatusCode: status, Header: http.Header{}}
	for k, v := range hd {
		resp2.Header.Set(k, v)
	}
	return wantProblem(t, resp2, []byte(d.GetBody()), status, reason)
}

// TestExtAuthzGRPCAgainstTheBinary runs examples/envoy/gatehouse.yaml and asks its
// ext_authz listener, with Envoy's protos, what the decide endpoint answers for the same
// requests.
func TestExtAuthzGRPCAgainstTheBinary(t *testing.T) {
	g := startExampleGatehouse(t, "envoy", func(cfg map[string]any) {
		cfg["ext_authz"] = map[string]any{"listen": "127.0.0.1:0"}
	})
	addr := g.proc.waitFor(t, extAuthzRe)[1]
	c := grpcClientFrom(t, addr, "127.0.0.1")
	check := func(t *testing.T, c authv3.AuthorizationClient, req *authv3.CheckRequest) *authv3.CheckResponse {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := c.Check(ctx, req)
		if err != nil {
			t.Fatalf("Check: %v", err)
		}
		return resp
	}
	valid := g.token(t, nil)

	t.Run("allow sets the identity and removes the spoofed one", func(t *testing.T) {
		resp := check(t, c, envoyCheck("GET", "/api/orders?page=2", "203.0.113.7", map[string]string{
			"authorization": "Bearer " + valid, "x-gatehouse-subject": "mallory", "x_gatehouse_scopes": "orders:admin"}))
		ok := resp.GetOkResponse()
		if ok == nil || codes.Code(resp.GetStatus().GetCode()) != codes.OK {
			t.Fatalf("not allowed: %v", resp)
		}
		set := map[string]string{}
		for _, o := range ok.GetHeaders() {
			set[o.GetHeader().GetKey()] = o.GetHeader().GetValue()
		}
		if set["x-gatehouse-subject"] != "alice" || set["x-gatehouse-scopes"] != "orders:read" || set["x-gatehouse-authenticator"] != "corp_jwt" {
			t.Errorf("identity headers %v", set)
		}
		if !strings.Contains(strings.Join(ok.GetHeadersToRemove(), ","), "x_gatehouse_scopes") {
			t.Errorf("headers_to_remove %v keeps the client's x_gatehouse_scopes", ok.GetHeadersToRemove())
		}
		// The decision is logged with the client Envoy saw, not Envoy's own address.
		line := g.logLine(t, set["x-gatehouse-request-id"])
		if line["client"] != "203.0.113.7" || line["path"] != "/api/orders" || line["route"] != "api" {
			t.Errorf("log line %v", line)
		}
	})
	t.Run("no credential: 401 with the challenge and problem body", func(t *testing.T) {
		resp := check(t, c, envoyCheck("GET", "/api/orders", "203.0.113.8", nil))
		deniedProblem(t, resp, 401, "credentials_missing")
		found := false
		for _, o := range resp.GetDeniedResponse().GetHeaders() {
			if o.GetHeader().GetKey() == "www-authenticate" && strings.HasPrefix(o.GetHeader().GetValue(), `Bearer realm="orders-api"`) {
				found = true
			}
		}
		if !found {
			t.Errorf("no Bearer challenge: %v", resp.GetDeniedResponse().GetHeaders())
		}
	})
	t.Run("insufficient scope: 403", func(t *testing.T) {
		deniedProblem(t, check(t, c, envoyCheck("GET", "/admin/users", "203.0.113.9", map[string]string{"authorization": "Bearer " + valid})), 403, "insufficient_scope")
	})
	t.Run("key set outage: 503 with Retry-After", func(t *testing.T) {
		deniedProblem(t, check(t, c, envoyCheck("GET", "/down/x", "203.0.113.10", map[string]string{"authorization": "Bearer " + valid})), 503, "authenticator_unavailable")
	})
	t.Run("too many failures: 429 with Retry-After", func(t *testing.T) {
		for i := range nginxBudget {
			deniedProblem(t, check(t, c, envoyCheck("GET", "/api/orders", "203.0.113.11", map[string]string{"authorization": "Bearer " + forgedToken(t, g, i)})), 401, "token_key_unknown")
		}
		deniedProblem(t, check(t, c, envoyCheck("GET", "/api/orders", "203.0.113.11", map[string]string{"authorization": "Bearer " + valid})), 429, "too_many_failures")
	})
	t.Run("dot segments and path tricks", func(t *testing.T) {
		deniedProblem(t, check(t, c, envoyCheck("GET", "/health/..;/admin/users", "203.0.113.12", nil)), 400, "path_rejected")
		deniedProblem(t, check(t, c, envoyCheck("GET", "/health/../admin/users", "203.0.113.12", nil)), 401, "credentials_missing")
	})
	t.Run("an untrusted peer may not ask", func(t *testing.T) {
		deniedProblem(t, check(t, grpcClientFrom(t, addr, untrustedIP), envoyCheck("GET", "/api/orders", "203.0.113.13", map[string]string{"authorization": "Bearer " + valid})), 403, "forbidden")
	})
	t.Run("Envoy's HTTP mode on the decide endpoint", func(t *testing.T) {
		resp, body := send(t, "127.0.0.1", "GET", g.decide+"/api/orders?page=2", "", "Authorization", "Bearer "+valid, "X-Gatehouse-Subject", "mallory")
		if resp.StatusCode != 200 || resp.Header.Get("X-Gatehouse-Subject") != "alice" {
			t.Fatalf("status %d headers %v body %s", resp.StatusCode, resp.Header, body)
		}
		resp, body = send(t, "127.0.0.1", "GET", g.decide+"/api/orders", "")
		wantProblemDirect(t, resp, body, 401, "credentials_missing")
	})
}

// exampleYAML decodes every document of an example file.
func exampleYAML(t *testing.T, path string) []map[string]any {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var docs []map[string]any
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	for {
		var doc map[string]any
		if err := dec.Decode(&doc); err != nil {
			if err.Error() == "EOF" {
				return docs
			}
			t.Fatalf("%s: %v", path, err)
		}
		docs = append(docs, doc)
	}
}

// TestExampleEnvoyMatchesItsGatehouse holds examples/envoy/envoy.yaml to
// examples/envoy/gatehouse.yaml: the clusters name Gatehouse's listeners, the filters
// name those clusters, the HTTP mode's path_prefix is forward_auth.path, and neither
// mode lets a request through when Gatehouse cannot answer.
func TestExampleEnvoyMatchesItsGatehouse(t *testing.T) {
	dir := filepath.Join("..", "..", "examples", "envoy")
	cfg, err := config.Load(filepath.Join(dir, "gatehouse.yaml"), func(string) string { return "" })
	if err != nil {
		t.Fatalf("examples/envoy/gatehouse.yaml: %v", err)
	}
	docs := exampleYAML(t, filepath.Join(dir, "envoy.yaml"))
	if len(docs) != 1 {
		t.Fatalf("envoy.yaml has %d documents", len(docs))
	}
	env := docs[0]
	clusters := map[string]string{} // name -> host:port
	http2 := map[string]bool{}
	for _, c := range dig(env, "static_resources", "clusters").([]any) {
		name := dig(c, "name").(string)
		sa := dig(c, "load_assignment", "endpoints", "0", "lb_endpoints", "0", "endpoint", "address", "socket_address")
		clusters[name] = net.JoinHostPort(dig(sa, "address").(string), fmt.Sprint(dig(sa, "port_value")))
		http2[name] = dig(c, "typed_extension_protocol_options", "envoy.extensions.upstreams.http.v3.HttpProtocolOptions", "explicit_http_config", "http2_protocol_options") != nil
	}
	modes := map[string]bool{}
	for _, l := range dig(env, "static_resources", "listeners").([]any) {
		hcm := dig(l, "filter_chains", "0", "filters", "0", "typed_config")
		if dig(hcm, "common_http_protocol_options", "headers_with_underscores_action") != "REJECT_REQUEST" || dig(hcm, "normalize_path") != true {
			t.Errorf("listener %v: reject underscores in header names and normalize paths", dig(l, "name"))
		}
		filters := dig(hcm, "http_filters").([]any)
		if dig(filters, "0", "name") != "envoy.filters.http.ext_authz" || dig(filters, fmt.Sprint(len(filters)-1), "name") != "envoy.filters.http.router" {
			t.Errorf("listener %v: ext_authz must come first and the router last", dig(l, "name"))
		}
		ea := dig(filters, "0", "typed_config")
		if dig(ea, "failure_mode_allow") != false || dig(ea, "status_on_error", "code") != "ServiceUnavailable" {
			t.Errorf("listener %v: Gatehouse unreachable must be a 503, never an allow", dig(l, "name"))
		}
		if g := dig(ea, "grpc_service"); g != nil {
			modes["grpc"] = true
			name, _ := dig(g, "envoy_grpc", "cluster_name").(string)
			if clusters[name] != cfg.ExtAuthz.Listen || !http2[name] {
				t.Errorf("gRPC cluster %q is %s (HTTP/2 %v); Gatehouse's ext_authz.listen is %s", name, clusters[name], http2[name], cfg.ExtAuthz.Listen)
			}
		}
		if h := dig(ea, "http_service"); h != nil {
			modes["http"] = true
			name, _ := dig(h, "server_uri", "cluster").(string)
			if clusters[name] != cfg.Listen || dig(h, "server_uri", "uri") != "http://"+cfg.Listen {
				t.Errorf("HTTP cluster %q is %s; Gatehouse listens on %s", name, clusters[name], cfg.Listen)
			}
			if dig(h, "path_prefix") != cfg.ForwardAuth.Path {
				t.Errorf("path_prefix %v, want forward_auth.path %s", dig(h, "path_prefix"), cfg.ForwardAuth.Path)
			}
			var up []string
			for _, p := range dig(h, "authorization_response", "allowed_upstream_headers", "patterns").([]any) {
				up = append(up, dig(p, "exact").(string))
			}
			if strings.Join(up, " ") != "x-gatehouse-subject x-gatehouse-scopes x-gatehouse-authenticator x-gatehouse-request-id" {
				t.Errorf("allowed_upstream_headers %v", up)
			}
		}
		route := dig(hcm, "route_config", "virtual_hosts", "0", "routes", "0", "route", "cluster").(string)
		if _, ok := clusters[route]; !ok {
			t.Errorf("route to unknown cluster %s", route)
		}
	}
	if !modes["grpc"] || !modes["http"] {
		t.Errorf("envoy.yaml shows modes %v, want grpc and http", modes)
	}
	if !cfg.TrustedProxies[0].Contains(netipLoopback) {
		t.Errorf("trusted_proxies %v: Envoy runs on this machine in the example", cfg.TrustedProxies)
	}
}

// TestExampleIstioMatchesGatehouse holds examples/istio/istio.yaml together: the
// extension providers name the Service of Gatehouse's ports, the HTTP provider's
// pathPrefix is the decide path, and the AuthorizationPolicy is CUSTOM with a provider
// the mesh defines.
func TestExampleIstioMatchesGatehouse(t *testing.T) {
	docs := exampleYAML(t, filepath.Join("..", "..", "examples", "istio", "istio.yaml"))
	byKind := map[string]map[string]any{}
	for _, d := range docs {
		byKind[d["kind"].(string)] = d
	}
	services := map[string]int{} // host -> port
	for _, k := range loadManifests(t, filepath.Join("..", "..", "examples", "kubernetes")) {
		if k.kind() == "Service" {
			services[k.name()+"."+k.namespace()+".svc.cluster.local"] = dig(k.doc, "spec", "ports", "0", "port").(int)
		}
	}
	svc := byKind["Service"]
	services[dig(svc, "metadata", "name").(string)+"."+dig(svc, "metadata", "namespace").(string)+".svc.cluster.local"] = dig(svc, "spec", "ports", "0", "port").(int)
	if dig(svc, "spec", "ports", "0", "port") != 9191 || dig(svc, "spec", "ports", "0", "targetPort") != "ext-authz" {
		t.Errorf("the ext_authz Service must expose 9191 (ext_authz.listen in docs/envoy.md) as port ext-authz")
	}
	providers := map[string]bool{}
	for _, p := range dig(byKind["IstioOperator"], "spec", "meshConfig", "extensionProviders").([]any) {
		name := dig(p, "name").(string)
		providers[name] = true
		for _, kind := range []string{"envoyExtAuthzGrpc", "envoyExtAuthzHttp"} {
			if x := dig(p, kind); x != nil {
				host := dig(x, "service").(string)
				if services[host] != dig(x, "port") {
					t.Errorf("provider %s: %s:%v is not a Service port (%v)", name, host, dig(x, "port"), services)
				}
				if dig(x, "failOpen") != false {
					t.Errorf("provider %s must fail closed", name)
				}
			}
		}
		if x := dig(p, "envoyExtAuthzHttp"); x != nil && dig(x, "pathPrefix") != config.DefaultForwardAuthPath {
			t.Errorf("provider %s: pathPrefix %v, want %s", name, dig(x, "pathPrefix"), config.DefaultForwardAuthPath)
		}
	}
	ap := byKind["AuthorizationPolicy"]
	if dig(ap, "spec", "action") != "CUSTOM" || !providers[dig(ap, "spec", "provider", "name").(string)] {
		t.Errorf("AuthorizationPolicy: action %v provider %v; providers %v", dig(ap, "spec", "action"), dig(ap, "spec", "provider", "name"), providers)
	}
}

// checkForwardStack runs the client-visible contract through a proxy at base that asks
// Gatehouse g: the upstream gets the identity Gatehouse found and never the client's;
// 401 and 403 reach the client with the challenge and problem body, 429 and 503 with
// Retry-After. Each case comes from its own source address (prefix.N).
func checkForwardStack(t *testing.T, base, prefix string, g *forwardEnv, hits chan upstreamHit) {
	valid := g.token(t, nil)
	quiet := func(t *testing.T) {
		t.Helper()
		select {
		case hit := <-hits:
			t.Errorf("the api was reached: %s %s", hit.method, hit.uri)
		default:
		}
	}
	t.Run("allowed request reaches the api with the identity Gatehouse found", func(t *testing.T) {
		resp, body := send(t, prefix+"10", "POST", base+"/api/orders?page=2", "order body",
			"Authorization", "Bearer "+valid, "X-Gatehouse-Subject", "mallory", "X_Gatehouse_Scopes", "orders:admin")
		if resp.StatusCode != 200 || string(body) != "hello from the api" {
			t.Fatalf("status %d body %q", resp.StatusCode, body)
		}
		hit := <-hits
		if hit.method != "POST" || hit.uri != "/api/orders?page=2" || hit.body != "order body" {
			t.Errorf("the api got %s %s with body %q", hit.method, hit.uri, hit.body)
		}
		for name, want := range map[string]string{"X-Gatehouse-Subject": "alice", "X-Gatehouse-Scopes": "orders:read", "X-Gatehouse-Authenticator": "corp_jwt"} {
			if got := hit.header.Values(name); len(got) != 1 || got[0] != want {
				t.Errorf("%s: %q, want %q", name, got, want)
			}
		}
		if len(hit.header.Get("X-Gatehouse-Request-Id")) != 24 {
			t.Errorf("X-Gatehouse-Request-Id %q", hit.header.Get("X-Gatehouse-Request-Id"))
		}
		for name := range hit.header {
			if n := strings.ToLower(strings.NewReplacer("_", "-", ".", "-").Replace(name)); strings.HasPrefix(n, "x-gatehouse-") &&
				!strings.Contains("X-Gatehouse-Subject X-Gatehouse-Scopes X-Gatehouse-Authenticator X-Gatehouse-Request-Id", name) {
				t.Errorf("the client's %s reached the api: %q", name, hit.header[name])
			}
		}
	})
	t.Run("no credential: 401 with the challenge and problem body", func(t *testing.T) {
		resp, body := send(t, prefix+"11", "GET", base+"/api/orders", "")
		wantProblem(t, resp, body, 401, "credentials_missing")
		if c := onlyChallenge(t, resp, "Bearer"); param(c, "realm") != "orders-api" || param(c, "resource_metadata") == "" {
			t.Errorf("challenge %v", c)
		}
		quiet(t)
	})
	t.Run("insufficient scope: 403 with the challenge", func(t *testing.T) {
		resp, body := send(t, prefix+"12", "GET", base+"/admin/users", "", "Authorization", "Bearer "+valid)
		wantProblem(t, resp, body, 403, "insufficient_scope")
		if c := onlyChallenge(t, resp, "Bearer"); param(c, "error") != "insufficient_scope" || param(c, "scope") != "orders:admin" {
			t.Errorf("challenge %v", c)
		}
		quiet(t)
	})
	t.Run("too many failures: 429 with Retry-After", func(t *testing.T) {
		for i := range nginxBudget {
			resp, body := send(t, prefix+"13", "GET", base+"/api/orders", "", "Authorization", "Bearer "+forgedToken(t, g, i))
			wantProblem(t, resp, body, 401, "token_key_unknown")
		}
		resp, body := send(t, prefix+"13", "GET", base+"/api/orders", "", "Authorization", "Bearer "+valid)
		wantProblem(t, resp, body, 429, "too_many_failures")
		quiet(t)
	})
	t.Run("key set outage: 503 with Retry-After, never 401", func(t *testing.T) {
		resp, body := send(t, prefix+"14", "GET", base+"/down/x", "", "Authorization", "Bearer "+valid)
		wantProblem(t, resp, body, 503, "authenticator_unavailable")
		if len(resp.Header.Values("WWW-Authenticate")) != 0 {
			t.Errorf("503 carries a challenge: %q", resp.Header.Values("WWW-Authenticate"))
		}
		quiet(t)
	})
	t.Run("anonymous route passes without identity", func(t *testing.T) {
		resp, _ := send(t, prefix+"15", "GET", base+"/health", "", "X-Gatehouse-Subject", "mallory")
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if hit := <-hits; hit.header.Get("X-Gatehouse-Subject") != "" {
			t.Errorf("the client's X-Gatehouse-Subject reached the api on an anonymous route: %q", hit.header.Get("X-Gatehouse-Subject"))
		}
	})
}

// caddyBinary finds Debian's caddy. Without it the test skips, except under CI, where
// .ci/run installs it.
func caddyBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("caddy"); err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatal("caddy is required in CI (.ci/run installs it)")
	}
	t.Skip("caddy not installed")
	return ""
}

// runProxy starts cmd (a proxy in its own process group), captures its output, and
// stops it when the test ends; ready polls for its address.
func runProxy(t *testing.T, name string, cmd *exec.Cmd, ready func(out string) (string, bool)) string {
	t.Helper()
	var out bytes.Buffer
	var mu = make(chan struct{}, 1)
	w := lockedWriterFunc(func(b []byte) (int, error) { mu <- struct{}{}; defer func() { <-mu }(); return out.Write(b) })
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	text := func() string { mu <- struct{}{}; defer func() { <-mu }(); return out.String() }
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", name, text())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		if addr, ok := ready(text()); ok {
			return addr
		}
		select {
		case <-done:
			t.Fatalf("%s exited:\n%s", name, text())
		case <-time.After(50 * time.Millisecond): // polling interval of the wait
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not become ready:\n%s", name, text())
		}
	}
}

type lockedWriterFunc func([]byte) (int, error)

func (f lockedWriterFunc) Write(b []byte) (int, error) { return f(b) }

var caddyListenRe = regexp.MustCompile(`"actual_address":"(127\.0\.0\.1:\d+)"`)

// startCaddy runs examples/caddy/Caddyfile on a port of the kernel's choosing (Caddy
// logs the address it got) in front of upstream, asking gatehouse.
func startCaddy(t *testing.T, gatehouseAddr, upstreamAddr string) string {
	t.Helper()
	bin := caddyBinary(t)
	dir := t.TempDir()
	conf := renderExample(t, filepath.Join("..", "..", "examples", "caddy", "Caddyfile"), map[string]string{
		"PORT": "0", "GATEHOUSE": gatehouseAddr, "UPSTREAM": upstreamAddr,
	})
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--adapter", "caddyfile", "--config", path)
	// Caddy keeps its state under the home and XDG folders: a throwaway one.
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	addr := runProxy(t, "caddy", cmd, func(out string) (string, bool) {
		m := caddyListenRe.FindStringSubmatch(out)
		if m == nil || !strings.Contains(out, "serving initial configuration") {
			return "", false
		}
		return m[1], true
	})
	return "http://" + addr
}

func TestForwardAuthBehindRealCaddy(t *testing.T) {
	caddyBinary(t)
	g := startExampleGatehouse(t, "caddy", nil)
	apiAddr, hits := startAPI(t)
	base := startCaddy(t, strings.TrimPrefix(g.base, "http://"), apiAddr)
	checkForwardStack(t, base, "127.0.1.", g, hits)
}

func TestForwardAuthCaddyAnswers503WhenGatehouseIsUnreachable(t *testing.T) {
	caddyBinary(t)
	apiAddr, hits := startAPI(t)
	base := startCaddy(t, closedPort(t), apiAddr)
	resp, body := send(t, "127.0.1.30", "GET", base+"/api/orders", "", "Authorization", "Bearer whatever")
	wantProblem(t, resp, body, 503, "authenticator_unavailable")
	select {
	case hit := <-hits:
		t.Fatalf("the api was reached without a decision: %s %s", hit.method, hit.uri)
	default:
	}
}

var netipLoopback = netip.MustParseAddr("127.0.0.1")

// traefikVersionRe reads the Traefik version .ci/traefik builds.
var traefikVersionRe = regexp.MustCompile(`TRAEFIK_VERSION="\$\{TRAEFIK_VERSION:-(v[0-9.]+)\}"`)

// traefikBinary returns the Traefik .ci/traefik built into the cache, or $TRAEFIK_BIN.
// It skips only when the build ran and could not build it (the reason is in
// build-failed); a binary that was never built fails under CI, where .ci/run builds it.
func traefikBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("TRAEFIK_BIN"); p != "" {
		return p
	}
	script, err := os.ReadFile(filepath.Join("..", "..", ".ci", "traefik"))
	if err != nil {
		t.Fatal(err)
	}
	m := traefikVersionRe.FindSubmatch(script)
	if m == nil {
		t.Fatal(".ci/traefik names no TRAEFIK_VERSION")
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	dir := filepath.Join(cache, "gatehouse-ci", "traefik-"+string(m[1]))
	bin := filepath.Join(dir, "traefik")
	if st, err := os.Stat(bin); err == nil && st.Mode()&0o111 != 0 {
		return bin
	}
	if why, err := os.ReadFile(filepath.Join(dir, "build-failed")); err == nil {
		t.Skipf("Traefik %s could not be built from the Go module proxy:\n%s", m[1], why)
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is missing: .ci/run builds it with .ci/traefik", bin)
	}
	t.Skipf("Traefik %s is not built: run .ci/traefik (it builds %s)", m[1], bin)
	return ""
}

// startTraefik runs examples/traefik (traefik.yaml and dynamic.yaml, with the test's
// addresses) in front of upstream, asking gatehouse. Its entry point is a socket the
// test listens on, handed over by socket activation (LISTEN_FDS, as systemd does).
func startTraefik(t *testing.T, bin, gatehouseAddr, upstreamAddr string) string {
	t.Helper()
	dir := t.TempDir()
	load := func(name string) map[string]any {
		raw, err := os.ReadFile(filepath.Join("..", "..", "examples", "traefik", name))
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := yaml.Unmarshal(raw, &m); err != nil {
			t.Fatalf("examples/traefik/%s: %v", name, err)
		}
		return m
	}
	save := func(name string, m map[string]any) string {
		out, err := yaml.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, out, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	dyn := load("dynamic.yaml")
	fa := dig(dyn, "http", "middlewares", "gatehouse", "forwardAuth").(map[string]any)
	u, err := url.Parse(fa["address"].(string))
	if err != nil {
		t.Fatal(err)
	}
	u.Host = gatehouseAddr
	fa["address"] = u.String()
	dig(dyn, "http", "services", "gatehouse", "loadBalancer", "servers", "0").(map[string]any)["url"] = "http://" + gatehouseAddr
	dig(dyn, "http", "services", "orders-api", "loadBalancer", "servers", "0").(map[string]any)["url"] = "http://" + upstreamAddr
	static := load("traefik.yaml")
	static["providers"].(map[string]any)["file"].(map[string]any)["filename"] = save("dynamic.yaml", dyn)
	static["global"] = map[string]any{"checkNewVersion": false, "sendAnonymousUsage": false}
	conf := save("traefik.yaml", static)

	ln := listenLoopback(t)
	sock, err := ln.(*net.TCPListener).File()
	ln.Close() // sock holds its own descriptor of the socket
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sock.Close() })
	// LISTEN_PID must be Traefik's own pid: the shell sets it to its pid and execs.
	cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$ exec "$0" "$@"`, bin, "--configFile="+conf)
	cmd.ExtraFiles = []*os.File{sock}
	cmd.Env = append(os.Environ(), "LISTEN_FDS=1", "LISTEN_FDNAMES=web")
	base := "http://" + ln.Addr().String()
	runProxy(t, "traefik", cmd, func(string) (string, bool) {
		// Ready once the file provider's routers answer: the anonymous route reaches the
		// upstream (Traefik answers 404 before).
		c := &http.Client{Timeout: time.Second}
		resp, err := c.Get(base + "/health?ready")
		if err != nil {
			return "", false
		}
		resp.Body.Close()
		return base, resp.StatusCode == 200
	})
	return base
}

func TestForwardAuthBehindRealTraefik(t *testing.T) {
	bin := traefikBinary(t)
	g := startExampleGatehouse(t, "traefik", nil)
	apiAddr, hits := startAPI(t)
	base := startTraefik(t, bin, strings.TrimPrefix(g.base, "http://"), apiAddr)
	// The readiness requests reached the api: drain them.
	for {
		select {
		case <-hits:
			continue
		default:
		}
		break
	}
	checkForwardStack(t, base, "127.0.2.", g, hits)
}

// TestExtAuthzServesTLS: with the tls block set, the ext_authz listener serves TLS with
// its certificate, and a plaintext client gets no answer.
func TestExtAuthzServesTLS(t *testing.T) {
	ca := newCA(t, "Server CA")
	certPEM, keyPEM := ca.issue(t, "localhost", x509.ExtKeyUsageServerAuth, time.Now().Add(time.Hour))
	dir := t.TempDir()
	for name, b := range map[string][]byte{"server.crt": certPEM, "server.key": keyPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	g := startExampleGatehouse(t, "envoy", func(cfg map[string]any) {
		cfg["ext_authz"] = map[string]any{"listen": "127.0.0.1:0"}
		cfg["tls"] = map[string]any{"cert_file": filepath.Join(dir, "server.crt"), "key_file": filepath.Join(dir, "server.key")}
	})
	addr := g.proc.waitFor(t, extAuthzRe)[1]
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca.pem)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: roots, ServerName: "localhost"})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := authv3.NewAuthorizationClient(conn).Check(ctx, envoyCheck("GET", "/api/orders", "203.0.113.20", map[string]string{"authorization": "Bearer " + g.token(t, nil)}))
	if err != nil || resp.GetOkResponse() == nil {
		t.Fatalf("Check over TLS: %v %v", resp, err)
	}
	plain := grpcClientFrom(t, addr, "127.0.0.1")
	ctx2, cancel2 := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel2()
	if _, err := plain.Check(ctx2, envoyCheck("GET", "/api/orders", "203.0.113.20", nil)); err == nil {
		t.Errorf("a plaintext client got an answer from the TLS listener")
	}
}
