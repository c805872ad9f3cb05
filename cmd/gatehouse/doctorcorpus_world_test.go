package main

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/tokens"
)

// corpusWorld holds what scenarios share: the Gatehouse processes and real servers, each
// started once on first use and stopped when the corpus ends.
type corpusWorld struct {
	parent *testing.T
	dir    string

	demo      *corpusDemo
	gateways  map[string]*corpusGateway
	nginx     map[string]string // config name -> base URL
	apache    string
	caddy     string
	tinyproxy string
	edgeAddr  string
	edgeToken string
	mtlsPKI   *corpusPKI

	// corp and partner are the issuers the gateway scenarios trust.
	corp, partner, stranger *tokens.Signer

	mtlsCA   string
	lastSkip string
}

func newCorpusWorld(t *testing.T) *corpusWorld {
	w := &corpusWorld{parent: t, dir: t.TempDir(), gateways: map[string]*corpusGateway{}, nginx: map[string]string{}}
	w.corp = newCorpusSigner(t, "ES256")
	w.partner = newCorpusSigner(t, "RS256")
	w.stranger = newCorpusSigner(t, "ES256")
	return w
}

func newCorpusSigner(t *testing.T, alg string) *tokens.Signer {
	t.Helper()
	k, err := tokens.GenerateSigningKey(alg)
	if err != nil {
		t.Fatal(err)
	}
	s, err := tokens.NewSigner(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// sign signs claims valid for an hour from now, with overrides (nil deletes a claim).
func signCorpus(t *testing.T, s *tokens.Signer, claims map[string]any) string {
	t.Helper()
	now := time.Now()
	c := map[string]any{"sub": "user-42", "iat": now.Add(-time.Minute).Unix(), "exp": now.Add(time.Hour).Unix(), "scope": "orders:read"}
	for k, v := range claims {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	tok, err := s.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// hs256 builds an HMAC-SHA256 JWT with the given secret.
func hs256(claims map[string]any, secret string) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	in := enc(map[string]any{"alg": "HS256", "typ": "JWT"}) + "." + enc(claims)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(in))
	return in + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// goServer starts a small Go server on 127.0.0.1 for one scenario.
func goServer(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// tlsServer starts a TLS Go server; clientCAs, when set, makes it require a client
// certificate from them. It returns the base URL and a CA file that trusts the server.
func tlsServer(t *testing.T, h http.HandlerFunc, clientCAs *x509.CertPool) (string, string) {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = quietLogger()
	if clientCAs != nil {
		srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clientCAs}
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "server-ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	return srv.URL, ca
}

// corpusPKI is a CA with a server certificate for 127.0.0.1 and a client certificate.
type corpusPKI struct {
	pool                  *x509.CertPool
	caFile                string
	serverCert, serverKey string
	clientCert, clientKey string
	serverTLS             tls.Certificate
}

func newCorpusPKI(t *testing.T) *corpusPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Corpus Test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	p := &corpusPKI{pool: x509.NewCertPool()}
	p.pool.AddCert(caCert)
	write := func(name string, typ string, der []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	p.caFile = write("ca.pem", "CERTIFICATE", caDER)
	leaf := func(serial int64, cn string, server bool) (string, string) {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature,
		}
		if server {
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
			tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
			tmpl.DNSNames = []string{"localhost"}
		} else {
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
			tmpl.DNSNames = []string{cn}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kd, _ := x509.MarshalPKCS8PrivateKey(k)
		return write(cn+".pem", "CERTIFICATE", der), write(cn+".key", "PRIVATE KEY", kd)
	}
	p.serverCert, p.serverKey = leaf(2, "server", true)
	p.clientCert, p.clientKey = leaf(3, "billing-service.corp.test", false)
	c, err := tls.LoadX509KeyPair(p.serverCert, p.serverKey)
	if err != nil {
		t.Fatal(err)
	}
	p.serverTLS = c
	return p
}

// mtlsServer serves TLS with the PKI's server certificate and requires a client
// certificate from its CA.
func (p *corpusPKI) mtlsServer(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = quietLogger()
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{p.serverTLS}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: p.pool}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL
}

func writeCorpusFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// --- Gatehouse demo ---

// corpusDemo is a running `gatehouse demo` and the credentials it printed.
type corpusDemo struct {
	base string
	vars map[string]string
}

func (w *corpusWorld) gatehouseDemo(t *testing.T) *corpusDemo {
	t.Helper()
	if w.demo != nil {
		return w.demo
	}
	p := start(w.parent, "demo", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0")
	p.waitFor(t, regexp.MustCompile(`Press Ctrl-C to stop`))
	out := p.out()
	m := regexp.MustCompile(`gateway\s+(http://127\.0\.0\.1:\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no gateway address in:\n%s", out)
	}
	d := &corpusDemo{base: m[1], vars: map[string]string{}}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		for _, name := range []string{"VALID", "EXPIRED", "READONLY", "APIKEY", "CLIENT_ID", "CLIENT_SECRET"} {
			if v, ok := strings.CutPrefix(line, name+"="); ok {
				d.vars[name], _, _ = strings.Cut(v, " ")
			}
		}
	}
	if len(d.vars) != 6 {
		t.Fatalf("demo printed %v:\n%s", d.vars, out)
	}
	w.demo = d
	return d
}

// --- gatehouse serve ---

// corpusGateway is a running `gatehouse serve` with one of the corpus configurations.
type corpusGateway struct {
	base string
}

// corpusUpstream is an upstream that answers 200 to everything.
func (w *corpusWorld) upstream() string {
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		io.WriteString(rw, `{"orders":[]}`)
	}))
	w.parent.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// gateway starts (once per name) `gatehouse serve` with the main corpus configuration:
// routes for every Gatehouse-side cause the scenarios need.
func (w *corpusWorld) gateway(t *testing.T, name string) *corpusGateway {
	t.Helper()
	if g := w.gateways[name]; g != nil {
		return g
	}
	dir := filepath.Join(w.dir, "gw-"+name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "corp.json"), tokens.PublicJWKS(w.corp.Key()), 0o600)
	os.WriteFile(filepath.Join(dir, "partner.json"), tokens.PublicJWKS(w.partner.Key()), 0o600)
	up := w.upstream()
	var cfg string
	switch name {
	case "main":
		cfg = fmt.Sprintf(`listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
realm: orders
failure_budget: {per_client: 100000/min, per_credential: 100000/min, per_credential_global: 100000/min}
authenticators:
  corp_jwt: {type: jwt, issuer: "https://id.corp.test", audience: [api://orders], algorithms: [ES256], jwks_file: corp.json}
  partner_jwt: {type: jwt, issuer: "https://partner.test", audience: [api://orders], algorithms: [RS256], jwks_file: partner.json}
  remote_jwt: {type: jwt, issuer: "https://remote.test", audience: [api://orders], algorithms: [ES256], jwks_url: "http://127.0.0.1:1/jwks.json", jwks_timeout: 1s}
routes:
  - name: reports
    match: {path_prefix: /reports, methods: [GET]}
    upstream: http://%[1]s
    authenticate: [corp_jwt]
  - name: remote
    match: {path_prefix: /remote}
    upstream: http://%[1]s
    authenticate: [remote_jwt]
  - name: down
    match: {path_prefix: /down}
    upstream: http://127.0.0.1:1
    authenticate: [corp_jwt]
  - name: mixed
    match: {path_prefix: /mixed}
    upstream: http://%[1]s
    authenticate: [corp_jwt, partner_jwt]
  - name: admin
    match: {path_prefix: /api/admin}
    upstream: http://%[1]s
    authenticate: [corp_jwt]
    require: {scopes: [orders:admin]}
  - name: api
    match: {path_prefix: /api}
    upstream: http://%[1]s
    authenticate: [corp_jwt]
`, up)
	case "budget":
		cfg = fmt.Sprintf(`listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
realm: orders
failure_budget: {per_credential: 1/min}
authenticators:
  corp_jwt: {type: jwt, issuer: "https://id.corp.test", audience: [api://orders], algorithms: [ES256], jwks_file: corp.json}
routes:
  - name: api
    match: {path_prefix: /}
    upstream: http://%[1]s
    authenticate: [corp_jwt]
`, up)
	default:
		t.Fatalf("no gateway configuration %q", name)
	}
	path := filepath.Join(dir, "gatehouse.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := start(w.parent, "serve", "--config", path)
	m := p.waitFor(t, listeningRe)
	g := &corpusGateway{base: "http://" + m[1]}
	w.gateways[name] = g
	return g
}

// mtlsGateway starts (once) `gatehouse serve` over TLS with an mtls authenticator on
// /partners; it returns the base URL and the CA file that trusts the server.
func (w *corpusWorld) mtlsGateway(t *testing.T) (string, string) {
	t.Helper()
	if g := w.gateways["mtls"]; g != nil {
		return g.base, w.mtlsCA
	}
	pki := newCorpusPKI(w.parent)
	dir := filepath.Join(w.dir, "gw-mtls")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
realm: partners
tls: {cert_file: %q, key_file: %q}
authenticators:
  partners: {type: mtls, ca_file: %q, principal_from: san_dns}
routes:
  - name: partners
    match: {path_prefix: /partners}
    upstream: http://%s
    authenticate: [partners]
`, pki.serverCert, pki.serverKey, pki.caFile, w.upstream())
	path := filepath.Join(dir, "gatehouse.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := start(w.parent, "serve", "--config", path)
	m := p.waitFor(t, listeningRe)
	w.gateways["mtls"] = &corpusGateway{base: "https://" + m[1]}
	w.mtlsCA = pki.caFile
	return "https://" + m[1], pki.caFile
}

// --- Debian servers ---

// need returns the path of a Debian server binary, or skips the scenario with a clear
// message (and fails under CI, where .ci/run installs it).
func (w *corpusWorld) need(t *testing.T, pkg string, names ...string) string {
	t.Helper()
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
		for _, dir := range []string{"/usr/sbin/", "/usr/bin/", "/usr/local/sbin/", "/usr/local/bin/"} {
			if st, err := os.Stat(dir + n); err == nil && !st.IsDir() {
				return dir + n
			}
		}
	}
	msg := fmt.Sprintf("%s is not installed (Debian package %s; .ci/run installs it)", names[0], pkg)
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	w.lastSkip = msg
	t.Skip(msg)
	return ""
}

// corpusSocket opens a listening socket on 127.0.0.1:0 for a server process to inherit as
// file descriptor 3 (nginx takes it through NGINX=3;), so no port is picked by closing a
// listener.
func corpusSocket(t *testing.T) (*os.File, int) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	f, err := l.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, l.Addr().(*net.TCPAddr).Port
}

// freePort finds a port for servers that cannot take an inherited socket: Apache (no
// socket activation in Debian's build, and Listen refuses port 0), Caddy 2.6 and
// tinyproxy (neither takes a descriptor nor reports a port it picked). So the port is
// picked by closing a listener; a lost race shows as the server exiting with "address in
// use", which startCorpusServer reports, never as a wrong result.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// startCorpusServer runs a server in the foreground in its own process group, waits until
// ready() holds, and stops it (and only it) when the corpus ends.
func (w *corpusWorld) startCorpusServer(t *testing.T, ready func() bool, logFile string, extra []*os.File, env []string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.ExtraFiles = extra
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	w.parent.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			log, _ := os.ReadFile(logFile)
			t.Fatalf("%s exited:\n%s\n%s", name, out.String(), log)
		default:
		}
		if ready() {
			return
		}
		time.Sleep(50 * time.Millisecond) // polling interval of the wait
	}
	log, _ := os.ReadFile(logFile)
	t.Fatalf("%s did not become ready:\n%s\n%s", name, out.String(), log)
}

// answersOn reports whether something answers an HTTP request on addr.
func answersOn(addr string) func() bool {
	return func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return false
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(time.Second))
		if _, err := io.WriteString(c, "GET / HTTP/1.0\r\nHost: localhost\r\n\r\n"); err != nil {
			return false
		}
		b := make([]byte, 5)
		_, err = io.ReadFull(c, b)
		return err == nil && string(b) == "HTTP/"
	}
}

// nginxServer starts (once per name) a real nginx with the given server blocks; the
// template's {{PORT}} is the inherited socket's port, {{PREFIX}} its directory, and vars
// are further substitutions. It returns the base URL.
func (w *corpusWorld) nginxServer(t *testing.T, name, servers string, vars map[string]string) string {
	t.Helper()
	if base := w.nginx[name]; base != "" {
		return base
	}
	bin := w.need(t, "nginx", "nginx")
	prefix := filepath.Join(w.dir, "nginx-"+name)
	for _, d := range []string{"tmp/body", "tmp/proxy", "tmp/fastcgi", "tmp/uwsgi", "tmp/scgi", "html"} {
		if err := os.MkdirAll(filepath.Join(prefix, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	sock, port := corpusSocket(t)
	conf := fmt.Sprintf(`daemon off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path %[1]s/tmp/body;
  proxy_temp_path %[1]s/tmp/proxy;
  fastcgi_temp_path %[1]s/tmp/fastcgi;
  uwsgi_temp_path %[1]s/tmp/uwsgi;
  scgi_temp_path %[1]s/tmp/scgi;
  default_type application/octet-stream;
%[2]s
}
`, prefix, servers)
	conf = strings.ReplaceAll(conf, "{{PORT}}", strconv.Itoa(port))
	conf = strings.ReplaceAll(conf, "{{PREFIX}}", prefix)
	for k, v := range vars {
		conf = strings.ReplaceAll(conf, "{{"+k+"}}", v)
	}
	confPath := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	w.startCorpusServer(t, answersOn(addr), filepath.Join(prefix, "error.log"), []*os.File{sock}, []string{"NGINX=3;"}, bin, "-p", prefix, "-c", confPath, "-e", filepath.Join(prefix, "error.log"))
	base := "http://" + addr
	w.nginx[name] = base
	return base
}

// quietLogger discards a test server's own error log (TLS handshakes the scenarios
// refuse on purpose).
func quietLogger() *log.Logger { return log.New(io.Discard, "", 0) }
