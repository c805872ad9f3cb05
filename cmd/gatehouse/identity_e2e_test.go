package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/tokens"
)

// TestIdentityToTheUpstreamEndToEnd runs the real binary with a jwt authenticator that
// finds its keys by OpenID Connect discovery and maps claims to headers, an API key with
// attributes mapped to a header, and an authenticator whose metadata names another
// issuer: claims reach the upstream, a client's copies never do, and a bad metadata
// document is 503, not 401.
func TestIdentityToTheUpstreamEndToEnd(t *testing.T) {
	dir := t.TempDir()
	key, err := tokens.GenerateES256()
	if err != nil {
		t.Fatal(err)
	}
	signer, err := tokens.NewSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	jwks := tokens.PublicJWKS(key)

	// The identity provider: its metadata and keys over http on 127.0.0.1 (loopback
	// is the one place discovery accepts http). /evil's metadata names another issuer.
	idpLn := listenLoopback(t)
	idpURL := "http://" + idpLn.Addr().String()
	idp := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/realms/acme/.well-known/openid-configuration":
			json.NewEncoder(w).Encode(map[string]string{"issuer": idpURL + "/realms/acme", "jwks_uri": idpURL + "/realms/acme/certs"})
		case "/evil/.well-known/openid-configuration":
			json.NewEncoder(w).Encode(map[string]string{"issuer": "https://attacker.example", "jwks_uri": idpURL + "/realms/acme/certs"})
		case "/realms/acme/certs":
			w.Write(jwks)
		default:
			http.NotFound(w, r)
		}
	}), ReadHeaderTimeout: 5 * time.Second}
	go idp.Serve(idpLn)
	t.Cleanup(func() { idp.Close() })

	hits := make(chan http.Header, 16)
	upLn := listenLoopback(t)
	upstream := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits <- r.Header.Clone()
		io.WriteString(w, "ok")
	}), ReadHeaderTimeout: 5 * time.Second}
	go upstream.Serve(upLn)
	t.Cleanup(func() { upstream.Close() })

	cfg := fmt.Sprintf(`listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
realm: orders
store: sqlite://creds.db
authenticators:
  idp:
    type: jwt
    issuer: %[1]s/realms/acme
    audience: orders-api
    algorithms: [ES256]
    discovery: true
    headers:
      X-User-Email: email
      X-User-Groups: groups
      X-User-Roles: realm_access.roles
  evil:
    type: jwt
    issuer: %[1]s/evil
    audience: orders-api
    algorithms: [ES256]
    discovery: true
  keys:
    type: api_key
    headers:
      X-Team: team
routes:
  - name: evil
    match: {path_prefix: /evil}
    upstream: http://%[2]s
    authenticate: [evil]
  - name: open
    match: {path_prefix: /open}
    upstream: http://%[2]s
    authenticate: anonymous
  - name: api
    match: {path_prefix: /}
    upstream: http://%[2]s
    authenticate: [idp, keys]
`, idpURL, upLn.Addr())
	path := filepath.Join(dir, "gatehouse.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	out := runBinary(t, "keys", "create", "--config", path, "--name", "batch", "--attr", "team=billing", "--json")
	var created struct{ Key string }
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.Key == "" {
		t.Fatalf("keys create: %v\n%s", err, out)
	}
	p := start(t, "serve", "--config", path)
	base := "http://" + p.waitFor(t, listeningRe)[1]

	now := time.Now()
	tok, err := signer.Sign(map[string]any{"iss": idpURL + "/realms/acme", "aud": "orders-api", "sub": "u-1",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "email": "alice@example.com",
		"groups": []string{"billing", "ops"}, "realm_access": map[string]any{"roles": []string{"admin"}}})
	if err != nil {
		t.Fatal(err)
	}
	spoofs := []string{"X-User-Email", "mallory@example.com", "X_User_Groups", "admins", "X-Team", "root", "x.user.roles", "superuser"}
	upstreamGot := func(t *testing.T) http.Header {
		t.Helper()
		select {
		case h := <-hits:
			return h
		case <-time.After(10 * time.Second):
			t.Fatal("the upstream got no request")
			return nil
		}
	}
	noSpoof := func(t *testing.T, h http.Header) {
		t.Helper()
		for name, vals := range h {
			for _, v := range vals {
				if v == "mallory@example.com" || v == "admins" || v == "root" || v == "superuser" {
					t.Errorf("the upstream got the client's %s: %s", name, v)
				}
			}
		}
	}

	t.Run("token claims reach the upstream as headers", func(t *testing.T) {
		resp, body := get(t, base+"/orders", append([]string{"Authorization", "Bearer " + tok}, spoofs...)...)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		h := upstreamGot(t)
		noSpoof(t, h)
		if h.Get("X-Gatehouse-Subject") != "u-1" || h.Get("X-User-Email") != "alice@example.com" ||
			h.Get("X-User-Groups") != "billing,ops" || h.Get("X-User-Roles") != "admin" || h.Get("X-Team") != "" {
			t.Errorf("upstream headers: %v", h)
		}
	})
	t.Run("an API key's attributes reach the upstream", func(t *testing.T) {
		resp, body := get(t, base+"/orders", append([]string{"X-API-Key", created.Key}, spoofs...)...)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		h := upstreamGot(t)
		noSpoof(t, h)
		if h.Get("X-Gatehouse-Subject") != "batch" || h.Get("X-Team") != "billing" || h.Get("X-User-Email") != "" {
			t.Errorf("upstream headers: %v", h)
		}
	})
	t.Run("an anonymous route strips the mapped headers", func(t *testing.T) {
		resp, body := get(t, base+"/open/x", spoofs...)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		noSpoof(t, upstreamGot(t))
	})
	t.Run("metadata naming another issuer is 503", func(t *testing.T) {
		evilTok, err := signer.Sign(map[string]any{"iss": idpURL + "/evil", "aud": "orders-api", "sub": "u-1",
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()})
		if err != nil {
			t.Fatal(err)
		}
		resp, body := get(t, base+"/evil/x", "Authorization", "Bearer "+evilTok)
		if resp.StatusCode != 503 || !strings.Contains(string(body), "authenticator_unavailable") || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
	})
}
