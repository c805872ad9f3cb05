package doctor

import (
	"bytes"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Real nginx and Apache, started by the tests on 127.0.0.1 with configurations from
// testdata/. .ci/run installs them (Debian packages nginx and apache2); on a developer
// machine without them the tests skip, but under CI (CI set) a missing binary fails.

// needBinary returns the path of the first binary found, or skips (fails under CI).
func needBinary(t *testing.T, names ...string) string {
	t.Helper()
	for _, n := range names {
		for _, dir := range []string{"", "/usr/sbin/", "/usr/local/sbin/", "/usr/local/bin/"} {
			p := dir + n
			if dir == "" {
				if lp, err := exec.LookPath(n); err == nil {
					return lp
				}
				continue
			}
			if st, err := os.Stat(p); err == nil && !st.IsDir() {
				return p
			}
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s not installed; .ci/run must install it (apt-get install nginx apache2)", strings.Join(names, " or "))
	}
	t.Skipf("%s not installed", strings.Join(names, " or "))
	return ""
}

// loopbackSocket opens a listening socket on 127.0.0.1:0 for a server process to inherit
// (as its file descriptor 3), so no port is picked by closing a listener and hoping
// nobody takes it before the server binds it. The server's configuration names the port,
// and both nginx and Apache then take the inherited socket for that address instead of
// binding a new one.
func loopbackSocket(t *testing.T) (*os.File, int) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close() // f holds its own descriptor of the same socket
	f, err := l.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, l.Addr().(*net.TCPAddr).Port
}

// renderConfig fills a testdata template.
func renderConfig(t *testing.T, src, dst string, vars map[string]string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for k, v := range vars {
		s = strings.ReplaceAll(s, "{{"+k+"}}", v)
	}
	if err := os.WriteFile(dst, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// startServer runs a server in the foreground in its own process group with the socket
// sock (if any) as its file descriptor 3, waits until it answers HTTP on port, and stops it (and
// only it) when the test ends. env is added to the server's environment.
func startServer(t *testing.T, sock *os.File, port int, logFile string, env []string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	if sock != nil {
		cmd.ExtraFiles = []*os.File{sock}
	}
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	})
	addr := "127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			log, _ := os.ReadFile(logFile)
			t.Fatalf("%s exited: %v\n%s\n%s", name, waitErr, out.String(), log)
		default:
		}
		// The socket accepts connections before the server does (the kernel queues
		// them), so ready means an HTTP answer, not a connection.
		if answersHTTP(addr) {
			return
		}
		time.Sleep(50 * time.Millisecond) // polling interval of the wait
	}
	log, _ := os.ReadFile(logFile)
	t.Fatalf("%s did not answer on %s\n%s\n%s", name, addr, out.String(), log)
}

// answersHTTP reports whether an HTTP server answers a request on addr within a second.
func answersHTTP(addr string) bool {
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

func startNginx(t *testing.T) string {
	t.Helper()
	bin := needBinary(t, "nginx")
	prefix := t.TempDir()
	for _, d := range []string{"tmp/body", "tmp/proxy", "tmp/fastcgi", "tmp/uwsgi", "tmp/scgi"} {
		if err := os.MkdirAll(filepath.Join(prefix, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	sock, port := loopbackSocket(t)
	conf := filepath.Join(prefix, "nginx.conf")
	renderConfig(t, filepath.Join("testdata", "nginx", "nginx.conf"), conf, map[string]string{"PREFIX": prefix, "PORT": strconv.Itoa(port)})
	errLog := filepath.Join(prefix, "error.log")
	// NGINX lists inherited listening sockets (its binary upgrade uses it).
	startServer(t, sock, port, errLog, []string{"NGINX=3;"}, bin, "-p", prefix, "-c", conf, "-e", errLog)
	return "http://127.0.0.1:" + strconv.Itoa(port)
}

func startApache(t *testing.T) string {
	t.Helper()
	bin := needBinary(t, "apache2", "httpd")
	modules := "/usr/lib/apache2/modules"
	if _, err := os.Stat(filepath.Join(modules, "mod_cgi.so")); err != nil {
		if alt := "/usr/lib64/httpd/modules"; fileExists(filepath.Join(alt, "mod_cgi.so")) {
			modules = alt
		} else if os.Getenv("CI") != "" {
			t.Fatalf("Apache's mod_cgi not found")
		} else {
			t.Skip("Apache's mod_cgi not found")
		}
	}
	prefix := t.TempDir()
	user := ""
	if os.Geteuid() == 0 {
		// Apache refuses to run its children as root: they run as nobody, who must be
		// able to reach the CGI script.
		user = "User nobody\nGroup nogroup"
		for d := prefix; d != "/" && d != "." && strings.HasPrefix(d, os.TempDir()); d = filepath.Dir(d) {
			_ = os.Chmod(d, 0o755)
		}
	}
	cgi := filepath.Join(prefix, "cgi-bin")
	if err := os.MkdirAll(cgi, 0o755); err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile(filepath.Join("testdata", "apache", "app.cgi"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cgi, "app.cgi"), script, 0o755); err != nil {
		t.Fatal(err)
	}
	// Apache cannot take a socket handed over: the Debian build has no systemd socket
	// activation, and Listen refuses port 0. So this one port is picked by closing a
	// listener, and a lost race (another process bound it first) shows as Apache
	// exiting with "Address already in use", which startServer reports.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	conf := filepath.Join(prefix, "httpd.conf")
	renderConfig(t, filepath.Join("testdata", "apache", "httpd.conf"), conf, map[string]string{
		"PREFIX": prefix, "PORT": strconv.Itoa(port), "MODULES": modules, "USER": user,
	})
	startServer(t, nil, port, filepath.Join(prefix, "error.log"), nil, bin, "-f", conf, "-DFOREGROUND")
	return "http://127.0.0.1:" + strconv.Itoa(port)
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func TestRealNginx(t *testing.T) {
	base := startNginx(t)
	now := time.Now()
	bigToken := makeJWT(nil, claims(map[string]any{"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(), "groups": strings.Split(strings.Repeat("engineering-platform-team,", 120), ",")}))
	tok := makeJWT(nil, claims(map[string]any{"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix()}))
	tests := []struct {
		name    string
		headers []Header
		path    string
		verdict string
	}{
		{"healthy key header", []Header{{Name: "X-Api-Key", Value: "k3y0123456789abcdefghij"}}, "/v1/items", VerdictOK},
		{"underscore header is dropped", []Header{{Name: "api_key", Value: "k3y0123456789abcdefghij"}}, "/v1/items", "underscore_header_dropped"},
		{"token larger than the header buffers", []Header{bearer(bigToken)}, "/", "header_too_large"},
		{"auth_request cannot reach the gateway", []Header{bearer(tok)}, "/gw/orders", "forward_auth_unreachable"},
		{"auth_request gateway refuses", []Header{bearer(tok)}, "/gw-up/orders", "credential_rejected_unknown"},
		{"reverse proxy clears Authorization", []Header{bearer(tok)}, "/strip/orders", "cdn_or_proxy_drops_authorization"},
		{"the application reached directly", []Header{bearer(tok)}, "/app/orders", VerdictOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := baseOptions(base + tc.path)
			o.Now = nil // nginx's Date is real time
			o.Headers = tc.headers
			r := runDoctor(t, o)
			if r.Verdict != tc.verdict {
				var b strings.Builder
				_ = r.WriteText(&b, false)
				t.Fatalf("verdict %q, want %q\n%s", r.Verdict, tc.verdict, b.String())
			}
			if tc.verdict == "underscore_header_dropped" {
				ev := evidenceText(&r.Findings[0])
				if !strings.Contains(ev, "Server: nginx") || !strings.Contains(ev, "identical") {
					t.Errorf("evidence should name nginx and the identical control:\n%s", ev)
				}
			}
		})
	}
}

func TestRealApacheDropsAuthorizationForCGI(t *testing.T) {
	base := startApache(t)
	now := time.Now()
	tok := makeJWT(nil, claims(map[string]any{"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix()}))
	for _, tc := range []struct {
		name, path, verdict string
	}{
		{"CGI without CGIPassAuth", "/api/app.cgi", "app_server_drops_authorization"},
		{"CGI with CGIPassAuth On", "/fixed/app.cgi", VerdictOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := baseOptions(base + tc.path)
			o.Now = nil
			o.Headers = []Header{bearer(tok)}
			r := runDoctor(t, o)
			if r.Verdict != tc.verdict {
				var b strings.Builder
				_ = r.WriteText(&b, false)
				t.Fatalf("verdict %q, want %q\n%s", r.Verdict, tc.verdict, b.String())
			}
			if tc.verdict != VerdictOK {
				ev := evidenceText(&r.Findings[0])
				if !strings.Contains(ev, "Server: Apache") || !strings.Contains(ev, "credentials were not provided") {
					t.Errorf("evidence should show Apache and the app's words:\n%s", ev)
				}
			}
		})
	}
}
