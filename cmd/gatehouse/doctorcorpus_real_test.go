package main

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Scenarios whose cause belongs to a real server: nginx, Apache, Caddy and tinyproxy from
// Debian, each started once on 127.0.0.1 with a configuration written here.

// edgeBackend is the application behind the real proxies: a Bearer API that says when no
// credential arrived, as Django REST framework does.
func (w *corpusWorld) edgeBackend(t *testing.T) (addr, token string) {
	t.Helper()
	if w.edgeAddr != "" {
		return w.edgeAddr, w.edgeToken
	}
	w.edgeToken = signCorpus(t, w.corp, map[string]any{"iss": corpusIss, "aud": corpusAud})
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/orders/" && r.Method != "POST" {
			rw.Header().Set("Allow", "POST")
			jsonReply(rw, 405, `{"detail":"Method \"GET\" not allowed."}`)
			return
		}
		switch auth := r.Header.Get("Authorization"); {
		case auth == "":
			rw.Header().Set("WWW-Authenticate", `Bearer realm="api"`)
			jsonReply(rw, 401, `{"detail":"Authentication credentials were not provided."}`)
		case auth == "Bearer "+w.edgeToken:
			jsonReply(rw, 200, `{"orders":[]}`)
		default:
			rw.Header().Set("WWW-Authenticate", `Bearer realm="api", error="invalid_token"`)
			jsonReply(rw, 401, `{"detail":"Given token not valid for any token type"}`)
		}
	}))
	w.parent.Cleanup(srv.Close)
	w.edgeAddr = srv.Listener.Addr().String()
	return w.edgeAddr, w.edgeToken
}

// nginxEdge is nginx in front of the backend with one location per cause.
func (w *corpusWorld) nginxEdge(t *testing.T) string {
	t.Helper()
	backend, _ := w.edgeBackend(t)
	htpasswd := filepath.Join(w.dir, "nginx.htpasswd")
	if err := os.WriteFile(htpasswd, []byte("deploy:{PLAIN}gate-Pass-4471\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	readableByWorkers(htpasswd) // nginx's workers run as nobody when the test runs as root
	return w.nginxServer(t, "edge", `
  # One header line may be at most 1 KiB (nginx's default is 8k; small here so a fat
  # token shows the cause without a megabyte of claims).
  large_client_header_buffers 2 1k;
  server {
    listen 127.0.0.1:{{PORT}};
    server_name localhost;
    default_type application/json;

    # A key-protected API answered by nginx itself; underscores_in_headers is off.
    location /v1/ {
      if ($http_x_api_key = "k3y0123456789abcdefghij") { return 200 '{"ok":true}'; }
      return 401 '{"error":"missing or invalid api key"}';
    }
    # A reverse proxy that clears Authorization before the application.
    location /strip/ {
      proxy_set_header Authorization "";
      proxy_pass http://{{BACKEND}}/;
    }
    # Basic auth at the proxy in front of a Bearer application.
    location /staff/ {
      auth_basic "staff";
      auth_basic_user_file {{HTPASSWD}};
      proxy_pass http://{{BACKEND}}/;
    }
    # nginx redirects /orders to /orders/ itself (a prefix location ending in / with proxy_pass).
    location /orders/ {
      proxy_pass http://{{BACKEND}}/orders/;
    }
    # Forward authentication to a gateway that is not running.
    location /gw/ {
      auth_request /_auth;
      proxy_pass http://{{BACKEND}}/;
    }
    location = /_auth {
      internal;
      proxy_pass http://127.0.0.1:1/forward-auth;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
    }
    location / { return 200 '{"ok":true}'; }
  }`, map[string]string{"BACKEND": backend, "HTPASSWD": htpasswd})
}

// nginxMTLS is nginx over TLS with ssl_verify_client on.
func (w *corpusWorld) nginxMTLS(t *testing.T) (base, ca string) {
	t.Helper()
	if w.mtlsPKI == nil {
		w.mtlsPKI = newCorpusPKI(w.parent)
	}
	p := w.mtlsPKI
	b := w.nginxServer(t, "mtls", `
  server {
    listen 127.0.0.1:{{PORT}} ssl;
    server_name localhost;
    ssl_certificate {{CERT}};
    ssl_certificate_key {{KEY}};
    ssl_client_certificate {{CA}};
    ssl_verify_client on;
    default_type application/json;
    location / { return 200 '{"ok":true}'; }
  }`, map[string]string{"CERT": p.serverCert, "KEY": p.serverKey, "CA": p.caFile})
	return strings.Replace(b, "http://", "https://", 1), p.caFile
}

// apacheServer is Apache with a CGI application (with and without CGIPassAuth) and a
// Digest-protected location.
func (w *corpusWorld) apacheServer(t *testing.T) string {
	t.Helper()
	if w.apache != "" {
		return w.apache
	}
	bin := w.need(t, "apache2", "apache2", "httpd")
	modules := "/usr/lib/apache2/modules"
	prefix := filepath.Join(w.dir, "apache")
	user := ""
	if os.Geteuid() == 0 {
		// Apache runs its children as nobody, who must reach the CGI script.
		user = "User nobody\nGroup nogroup"
	}
	cgi := filepath.Join(prefix, "cgi-bin")
	if err := os.MkdirAll(cgi, 0o755); err != nil {
		t.Fatal(err)
	}
	readableByWorkers(cgi)
	script, err := os.ReadFile(filepath.Join("..", "..", "internal", "doctor", "testdata", "apache", "app.cgi"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cgi, "app.cgi"), script, 0o755); err != nil {
		t.Fatal(err)
	}
	// htdigest format: user:realm:MD5(user:realm:password).
	sum := md5.Sum([]byte("admin:camera:cam-Admin-2291"))
	digestFile := filepath.Join(prefix, "digest.passwd")
	if err := os.WriteFile(digestFile, []byte("admin:camera:"+hex.EncodeToString(sum[:])+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(prefix, "htdocs", "private"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(prefix, "htdocs", "private", "status"), []byte(`{"ok":true}`), 0o644)
	port := freePort(t)
	conf := fmt.Sprintf(`ServerRoot "%[1]s"
ServerName 127.0.0.1
Listen 127.0.0.1:%[2]d
PidFile "%[1]s/httpd.pid"
ErrorLog "%[1]s/error.log"
LogLevel warn
%[3]s
<IfModule !mpm_prefork_module>
    LoadModule mpm_prefork_module %[4]s/mod_mpm_prefork.so
</IfModule>
<IfModule !authz_core_module>
    LoadModule authz_core_module %[4]s/mod_authz_core.so
</IfModule>
<IfModule !unixd_module>
    LoadModule unixd_module %[4]s/mod_unixd.so
</IfModule>
<IfModule !alias_module>
    LoadModule alias_module %[4]s/mod_alias.so
</IfModule>
<IfModule !cgi_module>
    LoadModule cgi_module %[4]s/mod_cgi.so
</IfModule>
<IfModule !auth_digest_module>
    LoadModule auth_digest_module %[4]s/mod_auth_digest.so
</IfModule>
<IfModule !authn_core_module>
    LoadModule authn_core_module %[4]s/mod_authn_core.so
</IfModule>
<IfModule !authn_file_module>
    LoadModule authn_file_module %[4]s/mod_authn_file.so
</IfModule>
<IfModule !authz_user_module>
    LoadModule authz_user_module %[4]s/mod_authz_user.so
</IfModule>
StartServers 1
MinSpareServers 1
MaxSpareServers 2
ServerLimit 4
MaxRequestWorkers 4
DocumentRoot "%[1]s/htdocs"
ScriptAlias /api/   "%[1]s/cgi-bin/"
ScriptAlias /fixed/ "%[1]s/cgi-bin/"
<Directory "%[1]s/cgi-bin">
    Require all granted
    Options +ExecCGI
</Directory>
<Location "/fixed/">
    CGIPassAuth On
</Location>
<Directory "%[1]s/htdocs">
    Require all granted
</Directory>
<Location "/private/">
    AuthType Digest
    AuthName "camera"
    AuthDigestProvider file
    AuthUserFile "%[5]s"
    Require valid-user
</Location>
`, prefix, port, user, modules, digestFile)
	confPath := filepath.Join(prefix, "httpd.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	w.startCorpusServer(t, answersOn(addr), filepath.Join(prefix, "error.log"), nil, nil, bin, "-f", confPath, "-DFOREGROUND")
	w.apache = "http://" + addr
	return w.apache
}

// caddyServer is Caddy as a reverse proxy in front of the backend: /strip/ removes
// Authorization on the way up, /pass/ forwards it.
func (w *corpusWorld) caddyServer(t *testing.T) string {
	t.Helper()
	if w.caddy != "" {
		return w.caddy
	}
	bin := w.need(t, "caddy", "caddy")
	backend, _ := w.edgeBackend(t)
	port := freePort(t)
	dir := filepath.Join(w.dir, "caddy")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`{
	admin off
	auto_https off
	storage file_system %[3]s/data
}
http://127.0.0.1:%[1]d {
	handle_path /strip/* {
		reverse_proxy %[2]s {
			header_up -Authorization
		}
	}
	handle_path /pass/* {
		reverse_proxy %[2]s
	}
}
`, port, backend, dir)
	confPath := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	w.startCorpusServer(t, answersOn(addr), "", nil, []string{"HOME=" + dir, "XDG_DATA_HOME=" + dir, "XDG_CONFIG_HOME=" + dir}, bin, "run", "--config", confPath, "--adapter", "caddyfile")
	w.caddy = "http://" + addr
	return w.caddy
}

// tinyproxyServer is a forward proxy that wants Basic proxy credentials.
func (w *corpusWorld) tinyproxyServer(t *testing.T) string {
	t.Helper()
	if w.tinyproxy != "" {
		return w.tinyproxy
	}
	bin := w.need(t, "tinyproxy", "tinyproxy")
	port := freePort(t)
	dir := filepath.Join(w.dir, "tinyproxy")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`Port %d
Listen 127.0.0.1
Timeout 10
MaxClients 16
Allow 127.0.0.1
BasicAuth corp proxy-Pass-9913
LogLevel Critical
PidFile "%s/tinyproxy.pid"
`, port, dir)
	confPath := filepath.Join(dir, "tinyproxy.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	w.startCorpusServer(t, answersOn(addr), "", nil, nil, bin, "-d", "-c", confPath)
	w.tinyproxy = "http://" + addr
	return w.tinyproxy
}

// readableByWorkers opens the test's temporary directories above path to other users, so
// a server's workers (nobody, when the tests run as root) can read the files there.
func readableByWorkers(path string) {
	for d := filepath.Dir(path); d != "/" && d != "." && strings.HasPrefix(d, os.TempDir()) && d != os.TempDir(); d = filepath.Dir(d) {
		_ = os.Chmod(d, 0o755)
	}
}

func realServerCases() []corpusCase {
	edge := func(path string, tok bool) func(t *testing.T, w *corpusWorld) corpusVars {
		return func(t *testing.T, w *corpusWorld) corpusVars {
			base := w.nginxEdge(t)
			_, token := w.edgeBackend(t)
			v := cv("API", base+path, "TOKEN", token).secret(token)
			return v
		}
	}
	return []corpusCase{
		{
			name: "N1 nginx drops api_key header", group: "B", server: "nginx", want: "underscore_header_dropped",
			broken:  "the key travels in api_key (underscore); nginx drops such headers unless underscores_in_headers is on",
			command: `gatehouse doctor $API/items -H "api_key: $KEY"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				return cv("API", w.nginxEdge(t)+"/v1", "KEY", "k3y0123456789abcdefghij").secret("k3y0123456789abcdefghij")
			},
		},
		{
			name: "N2 nginx: token too large", group: "B", server: "nginx", want: "header_too_large",
			broken:  "a token with hundreds of group claims exceeds nginx's header buffer: 400 Request Header Or Cookie Too Large",
			command: `gatehouse doctor $API/v1/items -H "Authorization: Bearer $TOKEN"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				tok := w.corpToken(t, map[string]any{"groups": strings.Split(strings.Repeat("engineering-platform-team,", 80), ",")})
				return cv("API", w.nginxEdge(t), "TOKEN", tok).secret(tok)
			},
		},
		{
			name: "N3 nginx clears Authorization", group: "B", server: "nginx", want: "cdn_or_proxy_drops_authorization",
			broken:  "the nginx in front has proxy_set_header Authorization \"\"; the application says no credentials were provided",
			command: `gatehouse doctor $API/orders -H "Authorization: Bearer $TOKEN"`,
			setup:   edge("/strip", true),
		},
		{
			name: "N4 nginx Basic in front of a Bearer app", group: "B", server: "nginx", want: "proxy_auth_layer_conflict",
			broken:  "nginx wants Basic (auth_basic) and the application behind it wants Bearer, both in Authorization",
			command: `gatehouse doctor $API/orders -u "deploy:$GATE_PASS"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				return cv("API", w.nginxEdge(t)+"/staff", "GATE_PASS", "gate-Pass-4471").secret("gate-Pass-4471")
			},
		},
		{
			name: "N5 nginx slash redirect turns POST into GET", group: "A", server: "nginx", want: "redirect_trailing_slash",
			broken:  "POST /orders: nginx answers 301 to /orders/ (its prefix-location rule), and the client repeats it as GET",
			command: `gatehouse doctor -X POST $API/orders -H "Authorization: Bearer $TOKEN" -d 'item=42'`,
			setup:   edge("", true),
		},
		{
			name: "N6 nginx auth_request cannot reach the gateway", group: "B", server: "nginx", want: "forward_auth_unreachable",
			broken:  "nginx's auth_request subrequest goes to a gateway that is not running, so nginx answers 500",
			command: `gatehouse doctor $API/orders -H "Authorization: Bearer $TOKEN"`,
			setup:   edge("/gw", true),
		},
		{
			name: "N7 nginx requires a client certificate", group: "H", server: "nginx", want: "mtls_client_certificate_missing",
			broken:  "nginx has ssl_verify_client on; no certificate is sent, and nginx answers 400 No required SSL certificate was sent",
			command: `gatehouse doctor $API/v1/orders --cacert $CA`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				base, ca := w.nginxMTLS(t)
				return cv("API", base, "CA", ca)
			},
		},
		{
			name: "P1 Apache CGI drops Authorization", group: "B", server: "Apache", want: "app_server_drops_authorization",
			broken:  "Apache runs the application as CGI without CGIPassAuth, so it never sees Authorization",
			command: `gatehouse doctor $API/api/app.cgi -H "Authorization: Bearer $TOKEN"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				tok := w.corpToken(t, nil)
				return cv("API", w.apacheServer(t), "TOKEN", tok).secret(tok)
			},
		},
		{
			name: "P2 Apache Digest, Basic sent", group: "H", server: "Apache", want: "digest_auth_failure",
			broken:  "the location uses AuthType Digest; curl -u sends Basic",
			command: `gatehouse doctor $API/private/status -u "admin:$PASS"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				return cv("API", w.apacheServer(t), "PASS", "cam-Admin-2291").secret("cam-Admin-2291")
			},
		},
		{
			name: "K1 Caddy strips Authorization", group: "B", server: "Caddy", want: "cdn_or_proxy_drops_authorization",
			broken:  "Caddy's reverse_proxy has header_up -Authorization; the application says no credentials were provided",
			command: `gatehouse doctor $API/orders -H "Authorization: Bearer $TOKEN"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				base := w.caddyServer(t)
				_, tok := w.edgeBackend(t)
				return cv("API", base+"/strip", "TOKEN", tok).secret(tok)
			},
		},
		{
			name: "T1 tinyproxy wants credentials (CONNECT)", group: "E", server: "tinyproxy", want: "proxy_auth_required_407",
			broken:  "HTTPS_PROXY names tinyproxy without credentials; it answers the CONNECT with 407",
			command: `gatehouse doctor https://api.partner.test/v1/orders -H "Authorization: Bearer $TOKEN"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				proxy := w.tinyproxyServer(t)
				tok := w.corpToken(t, nil)
				return cv("TOKEN", tok).secret(tok).withEnv("HTTPS_PROXY", proxy)
			},
		},
		{
			name: "T2 tinyproxy: password not percent-encoded", group: "E", server: "tinyproxy", want: "proxy_auth_required_407",
			broken:  "the proxy password holds '#' and '@' written raw in HTTP_PROXY, so the URL is misread and the proxy answers 407",
			command: `gatehouse doctor http://api.partner.test/v1/orders -H "Authorization: Bearer $TOKEN"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				proxy := w.tinyproxyServer(t)
				tok := w.corpToken(t, nil)
				raw := strings.Replace(proxy, "http://", "http://corp:pr0xy#P@ss@", 1)
				return cv("TOKEN", tok).secret(tok, "pr0xy#P@ss").withEnv("HTTP_PROXY", raw)
			},
		},
		{
			name: "T3 --proxy without credentials", group: "E", server: "tinyproxy", want: "proxy_auth_required_407", needs: "--proxy (issue 15 item 6)",
			broken:  "the command names the corporate proxy with --proxy but without its credentials",
			command: `gatehouse doctor $API/orders -H "Authorization: Bearer $TOKEN" --proxy $PROXY`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				proxy := w.tinyproxyServer(t)
				backend, tok := w.edgeBackend(t)
				return cv("API", "http://"+backend, "TOKEN", tok, "PROXY", proxy).secret(tok)
			},
		},
		{
			name: "OK14 through an authenticated forward proxy", group: "ok", server: "tinyproxy", want: "ok", needs: "--proxy (issue 15 item 6)",
			broken:  "nothing: the API through tinyproxy, with the proxy's credentials in --proxy",
			command: `gatehouse doctor $API/orders -H "Authorization: Bearer $TOKEN" --proxy "http://corp:$PROXY_PASS@$PROXY_HOST"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				proxy := w.tinyproxyServer(t)
				backend, tok := w.edgeBackend(t)
				return cv("API", "http://"+backend, "TOKEN", tok, "PROXY_PASS", "proxy-Pass-9913", "PROXY_HOST", strings.TrimPrefix(proxy, "http://")).secret(tok, "proxy-Pass-9913")
			},
		},
		{
			name: "OK11 Apache CGI with CGIPassAuth", group: "ok", server: "Apache", want: "ok",
			broken:  "nothing: the same CGI application with CGIPassAuth On",
			command: `gatehouse doctor $API/fixed/app.cgi -H "Authorization: Bearer $TOKEN"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				tok := w.corpToken(t, nil)
				return cv("API", w.apacheServer(t), "TOKEN", tok).secret(tok)
			},
		},
		{
			name: "OK12 nginx key header", group: "ok", server: "nginx", want: "ok",
			broken:  "nothing: the key in X-Api-Key",
			command: `gatehouse doctor $API/v1/items -H "X-Api-Key: $KEY"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				return cv("API", w.nginxEdge(t), "KEY", "k3y0123456789abcdefghij").secret("k3y0123456789abcdefghij")
			},
		},
		{
			name: "OK13 Caddy passes Authorization", group: "ok", server: "Caddy", want: "ok",
			broken:  "nothing: Caddy's reverse_proxy forwards the token",
			command: `gatehouse doctor $API/orders -H "Authorization: Bearer $TOKEN"`,
			setup: func(t *testing.T, w *corpusWorld) corpusVars {
				base := w.caddyServer(t)
				_, tok := w.edgeBackend(t)
				return cv("API", base+"/pass", "TOKEN", tok).secret(tok)
			},
		},
	}
}
