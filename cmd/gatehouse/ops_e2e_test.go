package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/gatehouse-dev/gatehouse/internal/tokens"
)

// opsEnv is a gateway whose configuration the test rewrites, with a JWKS served over
// HTTP so that key fetches can be counted.
type opsEnv struct {
	dir, cfgPath string
	base, admin  string
	proc         *proc
	signer       *tokens.Signer
	jwksHits     *atomic.Int64
	upstreamHits *atomic.Int64 // requests that reached the upstream
	upstream     string
	jwksURL      string
}

func startOpsGateway(t *testing.T, upstreamDelay time.Duration) *opsEnv {
	t.Helper()
	e := &opsEnv{dir: t.TempDir(), jwksHits: &atomic.Int64{}, upstreamHits: &atomic.Int64{}}
	key, err := tokens.GenerateES256()
	if err != nil {
		t.Fatal(err)
	}
	e.signer, _ = tokens.NewSigner(key)
	jwks := tokens.PublicJWKS(key)
	jwksSrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.jwksHits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=3600")
		w.Write(jwks)
	}), ReadHeaderTimeout: 5 * time.Second}
	jl := listenLoopback(t)
	go jwksSrv.Serve(jl)
	t.Cleanup(func() { jwksSrv.Close() })
	e.jwksURL = "http://" + jl.Addr().String() + "/jwks.json"

	up := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.upstreamHits.Add(1)
		time.Sleep(upstreamDelay) // a slow upstream keeps requests in flight: latency, not a wait
		io.WriteString(w, "ok "+r.URL.Path)
	}), ReadHeaderTimeout: 5 * time.Second}
	ul := listenLoopback(t)
	go up.Serve(ul)
	t.Cleanup(func() { up.Close() })
	e.upstream = "http://" + ul.Addr().String()

	e.cfgPath = filepath.Join(e.dir, "gatehouse.yaml")
	e.write(t, "orders", "")
	e.proc = start(t, "serve", "--config", e.cfgPath)
	m := e.proc.waitFor(t, listeningRe)
	e.base, e.admin = "http://"+m[1], "http://"+m[2]
	return e
}

// write writes a valid configuration with the given realm and extra routes.
func (e *opsEnv) write(t *testing.T, realm, extraRoutes string) {
	t.Helper()
	cfg := fmt.Sprintf(`listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
realm: %s
shutdown_timeout: 10s
authenticators:
  corp_jwt: {type: jwt, issuer: %s, audience: [%s], algorithms: [ES256], jwks_url: %q}
routes:
%s  - name: api
    match: {path_prefix: /}
    upstream: %s
    authenticate: [corp_jwt]
`, realm, e2eIssuer, e2eAudience, e.jwksURL, extraRoutes, e.upstream)
	writeAtomically(t, e.cfgPath, cfg)
}

func writeAtomically(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func (e *opsEnv) token(t *testing.T) string {
	t.Helper()
	now := time.Now()
	tok, err := e.signer.Sign(map[string]any{"iss": e2eIssuer, "aud": e2eAudience, "sub": "alice", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (e *opsEnv) hup(t *testing.T) {
	t.Helper()
	if err := e.proc.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
}

// TestReloadUnderLoadLosesNoRequest reloads the configuration 20 times (by SIGHUP and by
// file change), a third of them with broken files, while a client loop sends valid
// requests: none may fail, broken files must be refused with the old configuration
// still serving, and the unchanged authenticator must keep its key set (no refetch).
func TestReloadUnderLoadLosesNoRequest(t *testing.T) {
	e := startOpsGateway(t, 0)
	tok := e.token(t)
	if resp, body := get(t, e.base+"/orders", "Authorization", "Bearer "+tok); resp.StatusCode != 200 {
		t.Fatalf("before reloads: %d %s", resp.StatusCode, body)
	}
	fetchesBefore := e.jwksHits.Load()

	var sent, failed atomic.Int64
	var firstFailure atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	for w := 0; w < 4; w++ {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest("GET", e.base+"/orders", nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				resp, err := client.Do(req)
				sent.Add(1)
				if err != nil {
					failed.Add(1)
					firstFailure.CompareAndSwap(nil, err.Error())
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
					firstFailure.CompareAndSwap(nil, fmt.Sprintf("status %d", resp.StatusCode))
				}
			}
		})
	}
	broken := []string{
		"realm: [unterminated\n",
		"realm: orders\nroutes: []\n",
		"listen: 127.0.0.1:0\nrealm: orders\nauthenticators:\n  corp_jwt: {type: jwt}\nroutes:\n  - match: {path_prefix: /}\n    authenticate: [corp_jwt]\n",
	}
	for i := 0; i < 20; i++ {
		if i%3 == 2 {
			writeAtomically(t, e.cfgPath, broken[i%len(broken)])
		} else {
			e.write(t, fmt.Sprintf("orders-%d", i), fmt.Sprintf("  - name: v%d\n    match: {path_prefix: /v%d}\n    upstream: %s\n    authenticate: anonymous\n", i, i, e.upstream))
		}
		if i%2 == 0 {
			e.hup(t)
		}
		time.Sleep(150 * time.Millisecond) // paces the reloads under the load: not a wait
	}
	// End on a valid configuration and wait until it serves.
	e.write(t, "orders-final", "  - name: final\n    match: {path_prefix: /final}\n    upstream: "+e.upstream+"\n    authenticate: anonymous\n")
	e.hup(t)
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, _ := get(t, e.base+"/final/x")
		if resp.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the final configuration never served: %d", resp.StatusCode)
		}
		time.Sleep(50 * time.Millisecond) // polling interval of the wait
	}
	close(stop)
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatalf("%d of %d requests failed during reloads; first: %v", failed.Load(), sent.Load(), firstFailure.Load())
	}
	if sent.Load() < 100 {
		t.Fatalf("only %d requests were sent; the load loop did not run", sent.Load())
	}
	logs := e.proc.logs()
	if !strings.Contains(logs, "configuration reload refused") || !strings.Contains(logs, "configuration reloaded") {
		t.Fatalf("reload outcomes not logged:\n%s", logs)
	}
	if got := e.jwksHits.Load(); got != fetchesBefore {
		t.Errorf("the unchanged authenticator fetched its key set again: %d fetches before the reloads, %d after", fetchesBefore, got)
	}
	t.Logf("%d requests, 0 failures, across 21 reloads", sent.Load())

	// The reload counters reached the metrics.
	mf := scrape(t, e.admin)
	counts := map[string]float64{}
	for _, m := range mf["gatehouse_config_reloads_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "result" {
				counts[l.GetValue()] += m.GetCounter().GetValue()
			}
		}
	}
	if counts["ok"] < 1 || counts["invalid"] < 1 {
		t.Errorf("config reload metrics %v", counts)
	}
}

// scrape reads /metrics and parses it with the Prometheus text parser.
func scrape(t *testing.T, admin string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := httpClient().Get(admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mf, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("metrics do not parse: %v", err)
	}
	return mf
}

func TestMetricsCountDecisions(t *testing.T) {
	e := startOpsGateway(t, 0)
	get(t, e.base+"/orders", "Authorization", "Bearer "+e.token(t))
	get(t, e.base+"/orders")
	get(t, e.base+"/orders", "Authorization", "Bearer "+e.token(t))
	mf := scrape(t, e.admin)
	got := map[string]float64{}
	for _, m := range mf["gatehouse_decisions_total"].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		got[labels["route"]+"/"+labels["result"]+"/"+labels["reason"]] += m.GetCounter().GetValue()
	}
	if got["api/allow/"] != 2 || got["api/deny/credentials_missing"] != 1 {
		t.Fatalf("decisions %v", got)
	}
	if h := mf["gatehouse_decision_duration_seconds"]; h == nil || h.GetMetric()[0].GetHistogram().GetSampleCount() < 3 {
		t.Fatalf("decision latency histogram missing or empty")
	}
	if c := mf["gatehouse_cache_requests_total"]; c == nil {
		t.Fatalf("no cache metrics")
	}
	if f := mf["gatehouse_jwks_fetches_total"]; f == nil {
		t.Fatalf("no jwks fetch metrics")
	}
}

// TestSIGTERMDrainsInFlightRequests starts 20 slow requests, sends SIGTERM while they
// are in flight, and expects every one to complete and the process to exit 0.
func TestSIGTERMDrainsInFlightRequests(t *testing.T) {
	e := startOpsGateway(t, 1500*time.Millisecond)
	tok := e.token(t)
	var wg sync.WaitGroup
	var ok atomic.Int64
	errs := make(chan string, 20)
	for i := 0; i < 20; i++ {
		wg.Go(func() {
			req, _ := http.NewRequest("GET", e.base+"/slow", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := (&http.Client{Timeout: 15 * time.Second}).Do(req)
			if err != nil {
				errs <- err.Error()
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 && string(body) == "ok /slow" {
				ok.Add(1)
			} else {
				errs <- fmt.Sprintf("%d %s", resp.StatusCode, body)
			}
		})
	}
	// Wait until all 20 are waiting on the upstream, so they are truly in flight.
	deadline := time.Now().Add(10 * time.Second)
	for e.upstreamHits.Load() < 20 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // polling interval of the wait
	}
	if err := e.proc.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("in-flight request failed: %s", err)
	}
	if ok.Load() != 20 {
		t.Fatalf("%d of 20 in-flight requests completed", ok.Load())
	}
	select {
	case <-e.proc.done:
	case <-time.After(10 * time.Second):
		t.Fatal("gatehouse did not exit after draining")
	}
	if code := e.proc.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit status %d after SIGTERM", code)
	}
}

func TestExplainARefusedRequest(t *testing.T) {
	e := startOpsGateway(t, 0)
	resp, _ := get(t, e.base+"/orders", "Authorization", "Bearer not-a-jwt-at-all-0123456789")
	rid := resp.Header.Get("X-Request-Id")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The decisions name subjects and clients: without an admin token, no answer.
	if out, err := execCommand(ctx, "explain", rid, "--admin", e.admin); err == nil || !strings.Contains(out, "needs an admin token") || strings.Contains(out, "credentials_malformed") {
		t.Fatalf("explain without an admin token: %v\n%s", err, out)
	}
	tokOut, err := execCommand(ctx, "admin-tokens", "create", "--config", e.cfgPath, "--name", "ops", "--json")
	var tok struct{ Token string }
	if err != nil || json.Unmarshal([]byte(tokOut), &tok) != nil {
		t.Fatalf("admin-tokens create: %v\n%s", err, tokOut)
	}
	tokFile := filepath.Join(e.dir, "admin-token")
	os.WriteFile(tokFile, []byte(tok.Token), 0o600)
	out, err := execCommand(ctx, "explain", rid, "--admin", e.admin, "--admin-token-file", tokFile)
	if err != nil {
		t.Fatalf("explain: %v\n%s", err, out)
	}
	for _, want := range []string{rid, "credentials_malformed", "api", "corp_jwt"} {
		if !strings.Contains(out, want) {
			t.Errorf("explain output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "not-a-jwt-at-all") {
		t.Errorf("explain printed the credential")
	}
}

// --- TLS and mTLS ---

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a PEM certificate and key signed by the CA.
func (ca *testCA) issue(t *testing.T, cn string, usage x509.ExtKeyUsage, notAfter time.Time) (certPEM, keyPEM []byte) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

func TestTLSAndMutualTLS(t *testing.T) {
	dir := t.TempDir()
	serverCA, clientCA, rogueCA := newCA(t, "Server CA"), newCA(t, "Client CA"), newCA(t, "Rogue CA")
	srvCert, srvKey := serverCA.issue(t, "localhost", x509.ExtKeyUsageServerAuth, time.Now().Add(time.Hour))
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("server.crt", srvCert)
	write("server.key", srvKey)
	write("clients-ca.pem", clientCA.pem)
	up := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello "+r.Header.Get("X-Gatehouse-Subject"))
	}), ReadHeaderTimeout: 5 * time.Second}
	ul := listenLoopback(t)
	go up.Serve(ul)
	t.Cleanup(func() { up.Close() })
	cfg := fmt.Sprintf(`listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
realm: partners
tls: {cert_file: server.crt, key_file: server.key}
authenticators:
  partners: {type: mtls, ca_file: clients-ca.pem, principal_from: cn}
routes:
  - match: {path_prefix: /}
    upstream: http://%s
    authenticate: [partners]
`, ul.Addr())
	cfgPath := write("gatehouse.yaml", []byte(cfg))
	p := start(t, "serve", "--config", cfgPath)
	m := p.waitFor(t, listeningRe)
	base := "https://" + m[1]
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(serverCA.pem)

	client := func(certPEM, keyPEM []byte) *http.Client {
		tc := &tls.Config{RootCAs: roots}
		if certPEM != nil {
			pair, err := tls.X509KeyPair(certPEM, keyPEM)
			if err != nil {
				t.Fatal(err)
			}
			tc.Certificates = []tls.Certificate{pair}
		}
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
	}
	good, goodKey := clientCA.issue(t, "partner-a", x509.ExtKeyUsageClientAuth, time.Now().Add(time.Hour))
	expired, expiredKey := clientCA.issue(t, "partner-b", x509.ExtKeyUsageClientAuth, time.Now().Add(-time.Hour))
	rogue, rogueKey := rogueCA.issue(t, "mallory", x509.ExtKeyUsageClientAuth, time.Now().Add(time.Hour))
	tests := []struct {
		name       string
		cert, key  []byte
		status     int
		reason     string
		wantInBody string
	}{
		{"good certificate", good, goodKey, 200, "", "hello partner-a"},
		{"expired certificate", expired, expiredKey, 401, "client_certificate_invalid", "expired"},
		{"untrusted certificate", rogue, rogueKey, 401, "client_certificate_invalid", "trusted"},
		{"no certificate", nil, nil, 401, "client_certificate_missing", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := client(tt.cert, tt.key).Get(base + "/orders")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status || reasonOf(t, body) != tt.reason || !strings.Contains(string(body), tt.wantInBody) {
				t.Fatalf("status %d reason %q body %s", resp.StatusCode, reasonOf(t, body), body)
			}
		})
	}

	t.Run("a renewed certificate is served without a restart; garbage keeps the old one", func(t *testing.T) {
		serial := func() *big.Int {
			conn, err := tls.Dial("tcp", m[1], &tls.Config{RootCAs: roots, ServerName: "localhost"})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			return conn.ConnectionState().PeerCertificates[0].SerialNumber
		}
		before := serial()
		os.WriteFile(filepath.Join(dir, "server.crt"), []byte("garbage"), 0o600)
		// The files are checked at a handshake at most once a second, and the log line
		// reaches p.logs() through a pipe: handshake until it shows, rather than sleep a
		// fixed time and race the pipe.
		for deadline := time.Now().Add(5 * time.Second); !strings.Contains(p.logs(), "tls certificate reload failed"); time.Sleep(50 * time.Millisecond) {
			if got := serial(); got.Cmp(before) != 0 {
				t.Fatalf("garbage replaced the certificate")
			}
			if time.Now().After(deadline) {
				t.Fatalf("the failed reload was not logged")
			}
		}
		if got := serial(); got.Cmp(before) != 0 {
			t.Fatalf("garbage replaced the certificate")
		}
		newCert, newKey := serverCA.issue(t, "localhost", x509.ExtKeyUsageServerAuth, time.Now().Add(2*time.Hour))
		os.WriteFile(filepath.Join(dir, "server.key"), newKey, 0o600)
		os.WriteFile(filepath.Join(dir, "server.crt"), newCert, 0o600)
		deadline := time.Now().Add(20 * time.Second)
		for serial().Cmp(before) == 0 {
			if time.Now().After(deadline) {
				t.Fatal("the renewed certificate was never served")
			}
			time.Sleep(200 * time.Millisecond) // polling interval of the wait
		}
	})
}

// execCommand runs the gatehouse binary with args and returns its combined output.
func execCommand(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, binPath, args...).CombinedOutput()
	return string(out), err
}

// gatewayWithWriteTimeout starts an upstream serving h and a Gatehouse in front of it
// (one anonymous route) with write_timeout d, and returns the gateway's address.
func gatewayWithWriteTimeout(t *testing.T, d string, h http.HandlerFunc) string {
	t.Helper()
	up := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	ul := listenLoopback(t)
	go up.Serve(ul)
	t.Cleanup(func() { up.Close() })
	cfg := fmt.Sprintf("listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\nrealm: s\nwrite_timeout: %s\nroutes:\n  - match: {path_prefix: /}\n    upstream: http://%s\n    authenticate: anonymous\n", d, ul.Addr())
	path := filepath.Join(t.TempDir(), "gatehouse.yaml")
	os.WriteFile(path, []byte(cfg), 0o600)
	p := start(t, "serve", "--config", path)
	return p.waitFor(t, listeningRe)[1]
}

// streamEvents writes n server-sent events, one every gap.
func streamEvents(n int, gap time.Duration) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := 0; i < n; i++ {
			fmt.Fprintf(w, "data: %d\n\n", i)
			w.(http.Flusher).Flush()
			time.Sleep(gap) // paces the stream across the write timeout: not a wait
		}
	}
}

// TestStreamingOutlivesTheWriteTimeout streams a response for four times write_timeout:
// the deadline moves with each write, so the stream is not cut.
func TestStreamingOutlivesTheWriteTimeout(t *testing.T) {
	addr := gatewayWithWriteTimeout(t, "500ms", streamEvents(10, 200*time.Millisecond))
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + addr + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("stream cut after %q: %v", body, err)
	}
	if !strings.Contains(string(body), "data: 9") {
		t.Fatalf("stream incomplete: %q", body)
	}
}

// TestKeepAliveRequestsGetAFreshWriteDeadline: the write deadline an HTTP/1
// connection's first request set has long passed when its next request comes; that
// request is answered (and streams past write_timeout) all the same.
func TestKeepAliveRequestsGetAFreshWriteDeadline(t *testing.T) {
	addr := gatewayWithWriteTimeout(t, "300ms", streamEvents(4, 150*time.Millisecond))
	tr := &http.Transport{MaxIdleConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	conns := map[string]bool{}
	for i := range 3 {
		var local string
		ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
			GotConn: func(c httptrace.GotConnInfo) { local = c.Conn.LocalAddr().String() },
		})
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/events", nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || !strings.Contains(string(body), "data: 3") {
			t.Fatalf("request %d cut after %q: %v", i, body, err)
		}
		conns[local] = true
		time.Sleep(700 * time.Millisecond) // more than twice write_timeout, idle
	}
	if len(conns) != 1 {
		t.Fatalf("the requests used %d connections; the test needs one kept alive", len(conns))
	}
}

// TestClientThatStopsReadingIsCutOff is the other half: a client that stops reading a
// large response is disconnected once write_timeout passes without progress.
func TestClientThatStopsReadingIsCutOff(t *testing.T) {
	const size = 256 << 20
	addr := gatewayWithWriteTimeout(t, "300ms", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(size))
		chunk := make([]byte, 1<<20)
		for i := 0; i < size/len(chunk); i++ {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Get("http://" + addr + "/big")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	time.Sleep(1500 * time.Millisecond) // stop reading while the gateway writes
	n, err := io.Copy(io.Discard, resp.Body)
	if err == nil && n == size {
		t.Fatalf("a client that stopped reading for 5x write_timeout still got all %d bytes", n)
	}
}
