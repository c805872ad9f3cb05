package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// issuerEnv is a running gateway with the token service, in front of a real upstream,
// and a client made with `gatehouse clients create`.
type issuerEnv struct {
	base, cfg    string // base: the address the gateway listens on, as a URL
	issuer       string // token_service.issuer, which names no listener
	admin        string
	id, secret   string
	proc         *proc
	upstreamHits chan http.Header
}

// runBinary runs the built gatehouse with args and returns stdout; it fails the test on
// a non-zero exit.
func runBinary(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("gatehouse %v: %v\n%s", args, err, stderr.String())
	}
	return string(out)
}

func startIssuer(t *testing.T) *issuerEnv {
	t.Helper()
	dir := t.TempDir()
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

	if err := os.WriteFile(filepath.Join(dir, "signing.key"), []byte(strings.Repeat("s", 48)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The issuer URL is the name the token service gives itself (iss, the metadata's
	// endpoints); it need not be the address the gateway listens on, which is the case
	// behind any proxy. So the gateway binds port 0 and the test reads the port it got
	// from the log, and no port has to be guessed up front.
	const issuer = "https://auth.orders.example"
	cfg := fmt.Sprintf(`listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
realm: orders
store: sqlite://gatehouse.db
authenticators:
  own: {type: jwt, issuer: self, audience: [api://orders]}
routes:
  - name: orders
    match: {path_prefix: /orders}
    upstream: http://%s
    authenticate: [own]
    require: {scopes: [orders:read]}
token_service:
  issuer: %s
  signing_key_secret_file: signing.key
  audience: api://orders
  access_token_ttl: 5m
`, ln.Addr(), issuer)
	path := filepath.Join(dir, "gatehouse.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var created struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	out := runBinary(t, "clients", "create", "--config", path, "--name", "e2e", "--scopes", "orders:read", "--json")
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatalf("clients create --json printed %q", out)
	}
	p := start(t, "serve", "--config", path)
	m := p.waitFor(t, listeningRe)
	return &issuerEnv{base: "http://" + m[1], issuer: issuer, admin: "http://" + m[2], cfg: path, id: created.ClientID, secret: created.ClientSecret, proc: p, upstreamHits: hits}
}

// curlJSON runs curl and decodes the JSON body after the headers.
func curlJSON(t *testing.T, args ...string) (int, string, map[string]any) {
	t.Helper()
	code, out := curl(t, args...)
	_, body, _ := strings.Cut(strings.ReplaceAll(out, "\r\n", "\n"), "\n\n")
	var m map[string]any
	json.Unmarshal([]byte(body), &m)
	return code, out, m
}

// TestTokenServiceEndToEndWithCurl runs the client credentials flow against the built
// binary with curl: a client made by the CLI gets a token, calls a protected route,
// revokes the token and is refused at once; the JWKS and metadata are served; the bad
// requests of RFC 6749 get their errors; and a key rotated by the CLI while the gateway
// runs signs the next token.
func TestTokenServiceEndToEndWithCurl(t *testing.T) {
	e := startIssuer(t)

	code, out, tok := curlJSON(t, "-u", e.id+":"+e.secret, "-d", "grant_type=client_credentials", e.base+"/oauth2/token")
	if code != 200 || tok["token_type"] != "Bearer" || tok["expires_in"] != float64(300) {
		t.Fatalf("token = %d:\n%s", code, out)
	}
	if !strings.Contains(out, "Cache-Control: no-store") {
		t.Errorf("the token response lacks Cache-Control: no-store:\n%s", out)
	}
	access := tok["access_token"].(string)

	code, out = curl(t, "-H", "Authorization: Bearer "+access, e.base+"/orders/7")
	if code != 200 || !strings.Contains(out, "hello from upstream") {
		t.Fatalf("GET /orders/7 with the token = %d:\n%s", code, out)
	}
	if h := <-e.upstreamHits; h.Get("X-Gatehouse-Subject") != e.id || h.Get("X-Gatehouse-Scopes") != "orders:read" {
		t.Errorf("upstream saw subject %q scopes %q", h.Get("X-Gatehouse-Subject"), h.Get("X-Gatehouse-Scopes"))
	}

	code, out, md := curlJSON(t, e.base+"/.well-known/oauth-authorization-server")
	if code != 200 || md["token_endpoint"] != e.issuer+"/oauth2/token" {
		t.Errorf("metadata = %d:\n%s", code, out)
	}
	code, out, jwks := curlJSON(t, e.base+"/.well-known/jwks.json")
	if code != 200 || len(jwks["keys"].([]any)) != 1 {
		t.Errorf("jwks = %d:\n%s", code, out)
	}
	code, out, rm := curlJSON(t, e.base+"/.well-known/oauth-protected-resource")
	if code != 200 || !strings.Contains(fmt.Sprint(rm["authorization_servers"]), e.issuer) {
		t.Errorf("the protected-resource document does not name the token service:\n%s", out)
	}

	for _, tc := range []struct {
		name string
		args []string
		code int
		err  string
	}{
		{"WrongSecret", []string{"-u", e.id + ":nope", "-d", "grant_type=client_credentials"}, 401, "invalid_client"},
		{"PasswordGrant", []string{"-u", e.id + ":" + e.secret, "-d", "grant_type=password"}, 400, "unsupported_grant_type"},
		{"RepeatedParameter", []string{"-u", e.id + ":" + e.secret, "-d", "grant_type=client_credentials&grant_type=client_credentials"}, 400, "invalid_request"},
		{"JSONBody", []string{"-u", e.id + ":" + e.secret, "-H", "Content-Type: application/json", "-d", `{"grant_type":"client_credentials"}`}, 400, "invalid_request"},
		{"ScopeNotGranted", []string{"-u", e.id + ":" + e.secret, "-d", "grant_type=client_credentials&scope=orders:admin"}, 400, "invalid_scope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, body := curlJSON(t, append(tc.args, e.base+"/oauth2/token")...)
			if code != tc.code || body["error"] != tc.err {
				t.Errorf("= %d:\n%s", code, out)
			}
			if tc.code == 401 && !strings.Contains(strings.ToLower(out), `www-authenticate: basic realm="orders"`) {
				t.Errorf("invalid_client without the Basic challenge:\n%s", out)
			}
		})
	}

	code, out = curl(t, "-u", e.id+":"+e.secret, "-d", "token="+access, e.base+"/oauth2/revoke")
	if code != 200 {
		t.Fatalf("revoke = %d:\n%s", code, out)
	}
	code, out, body := curlJSON(t, "-H", "Authorization: Bearer "+access, e.base+"/orders/7")
	if code != 401 || body["reason"] != "token_revoked" {
		t.Errorf("the revoked token = %d:\n%s", code, out)
	}

	// Rotation by the CLI while serving (--now: the default waits 5 minutes for JWKS
	// caches): the next token carries the new kid, and it is accepted.
	var rotated struct {
		KID string `json:"kid"`
	}
	json.Unmarshal([]byte(runBinary(t, "signing-keys", "rotate", "--config", e.cfg, "--now", "--json")), &rotated)
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, _, tok = curlJSON(t, "-u", e.id+":"+e.secret, "-d", "grant_type=client_credentials", e.base+"/oauth2/token")
		if kidOfJWT(t, tok["access_token"].(string)) == rotated.KID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("5s after the rotation tokens are still signed by another key than %s", rotated.KID)
		}
		time.Sleep(100 * time.Millisecond) // polling interval of the wait
	}
	if code, out := curl(t, "-H", "Authorization: Bearer "+tok["access_token"].(string), e.base+"/orders/8"); code != 200 {
		t.Errorf("a token of the rotated key = %d:\n%s", code, out)
	}
	if logs := e.proc.logs(); strings.Contains(logs, e.secret) || strings.Contains(logs, access) {
		t.Error("the gateway's logs hold the client secret or a token")
	}
}

func kidOfJWT(t *testing.T, tok string) string {
	t.Helper()
	h, _, _ := strings.Cut(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	var hdr struct {
		KID string `json:"kid"`
	}
	json.Unmarshal(raw, &hdr)
	return hdr.KID
}
