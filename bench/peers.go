package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Peer versions `-install-peers` asks the Go module proxy for.
const (
	caddyModule  = "github.com/caddyserver/caddy/v2/cmd/caddy@v2.11.9"
	oauth2Module = "github.com/oauth2-proxy/oauth2-proxy/v7@v7.15.6"
)

// findPeer returns the path of a peer's binary in PATH or dir, or "".
func findPeer(name, dir string) string {
	if dir != "" {
		if p := filepath.Join(dir, name); isExecutable(p) {
			return p
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	return ""
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// freePort returns a loopback address nobody listens on right now, for peers that cannot
// report the port they bound.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr, nil
}

// waitListening waits until something accepts connections at addr.
func waitListening(p *proc, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited:\n%s", p.name, p.output())
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s did not listen on %s within %s:\n%s", p.name, addr, timeout, p.output())
}

// startNginx runs nginx as a plain reverse proxy (proxy_pass, keep-alive to the upstream,
// no access log), with as many workers as CPUs, as its default configuration would.
func startNginx(dir, upstream string) (*proc, string, error) {
	bin := findPeer("nginx", "/usr/sbin")
	if bin == "" {
		return nil, "", fmt.Errorf("nginx is not installed (apt-get install nginx)")
	}
	addr, err := freePort()
	if err != nil {
		return nil, "", err
	}
	prefix := filepath.Join(dir, "nginx")
	if err := os.MkdirAll(filepath.Join(prefix, "logs"), 0o755); err != nil {
		return nil, "", err
	}
	conf := fmt.Sprintf(`daemon off;
master_process on;
worker_processes auto;
pid %[1]s/nginx.pid;
error_log %[1]s/logs/error.log warn;
worker_rlimit_nofile 20000;
events { worker_connections 16384; }
http {
  access_log off;
  client_body_temp_path %[1]s/client_body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  upstream bench_upstream { server %[3]s; keepalive 64; }
  server {
    listen %[2]s;
    location / {
      proxy_pass http://bench_upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
    location /ws {
      proxy_pass http://bench_upstream;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";
    }
  }
}
`, prefix, addr, strings.TrimPrefix(upstream, "http://"))
	confPath := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return nil, "", err
	}
	p, err := startProc(dir, "nginx", bin, "-p", prefix, "-c", confPath, "-e", filepath.Join(prefix, "logs", "error.log"))
	if err != nil {
		return nil, "", err
	}
	return p, "http://" + addr, waitListening(p, addr, 10*time.Second)
}

// startCaddy runs Caddy with two sites: a plain reverse_proxy and one behind basic_auth
// with a bcrypt hash (Caddy caches verified credentials).
func startCaddy(bin, dir, upstream, user, pass string) (p *proc, plain, basic string, err error) {
	plainAddr, err := freePort()
	if err != nil {
		return nil, "", "", err
	}
	basicAddr, err := freePort()
	if err != nil {
		return nil, "", "", err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.DefaultCost)
	if err != nil {
		return nil, "", "", err
	}
	cf := fmt.Sprintf(`{
	admin off
	auto_https off
	persist_config off
	storage file_system %[5]s/caddy-data
}
http://%[1]s {
	reverse_proxy %[3]s
}
http://%[2]s {
	basic_auth {
		%[4]s %[6]s
	}
	reverse_proxy %[3]s
}
`, plainAddr, basicAddr, strings.TrimPrefix(upstream, "http://"), user, dir, hash)
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(cf), 0o600); err != nil {
		return nil, "", "", err
	}
	p, err = startProc(dir, "caddy", bin, "run", "--config", path, "--adapter", "caddyfile")
	if err != nil {
		return nil, "", "", err
	}
	if err := waitListening(p, plainAddr, 20*time.Second); err != nil {
		return p, "", "", err
	}
	return p, "http://" + plainAddr, "http://" + basicAddr, waitListening(p, basicAddr, 10*time.Second)
}

// startOAuth2Proxy runs oauth2-proxy accepting Bearer JWTs (skip_jwt_bearer_tokens) from
// an OIDC issuer that the bench upstream plays (discovery document and JWKS).
func startOAuth2Proxy(bin, dir, issuerURL, upstream, clientID string) (*proc, string, error) {
	addr, err := freePort()
	if err != nil {
		return nil, "", err
	}
	p, err := startProc(dir, "oauth2-proxy", bin,
		"--http-address="+addr,
		"--provider=oidc",
		"--oidc-issuer-url="+issuerURL,
		"--client-id="+clientID,
		"--client-secret=bench-not-a-secret",
		"--cookie-secret=0123456789abcdef0123456789abcdef",
		"--cookie-secure=false",
		"--email-domain=*",
		"--upstream="+upstream+"/",
		"--skip-jwt-bearer-tokens=true",
		"--request-logging=false",
		"--auth-logging=false",
		"--standard-logging=false",
		"--reverse-proxy=false",
	)
	if err != nil {
		return nil, "", err
	}
	return p, "http://" + addr, waitListening(p, addr, 20*time.Second)
}

var listeningLine = regexp.MustCompile(`listening (127\.0\.0\.1:\d+)`)

// startNginxTLS runs a second nginx serving TLS with HTTP/2 (the HTTP/2 cells of -scale),
// proxying to the upstream as startNginx's does.
func startNginxTLS(dir, upstream, cert, key string) (*proc, string, error) {
	bin := findPeer("nginx", "/usr/sbin")
	if bin == "" {
		return nil, "", fmt.Errorf("nginx is not installed (apt-get install nginx)")
	}
	addr, err := freePort()
	if err != nil {
		return nil, "", err
	}
	prefix := filepath.Join(dir, "nginx-tls")
	if err := os.MkdirAll(filepath.Join(prefix, "logs"), 0o755); err != nil {
		return nil, "", err
	}
	conf := fmt.Sprintf(`daemon off;
master_process on;
worker_processes auto;
pid %[1]s/nginx.pid;
error_log %[1]s/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path %[1]s/client_body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  upstream bench_upstream { server %[3]s; keepalive 64; }
  server {
    listen %[2]s ssl http2;
    http2_max_concurrent_streams 128;
    ssl_certificate %[4]s;
    ssl_certificate_key %[5]s;
    location / {
      proxy_pass http://bench_upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`, prefix, addr, strings.TrimPrefix(upstream, "http://"), cert, key)
	confPath := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return nil, "", err
	}
	p, err := startProc(dir, "nginx-tls", bin, "-p", prefix, "-c", confPath, "-e", filepath.Join(prefix, "logs", "error.log"))
	if err != nil {
		return nil, "", err
	}
	return p, "https://" + addr, waitListening(p, addr, 10*time.Second)
}
