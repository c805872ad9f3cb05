package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/tokens"
)

// requireEnv is a configuration with a route that requires claims and an expression
// and matches by host, with its token signer and upstream address.
type requireEnv struct {
	dir, config string
	signer      *tokens.Signer
	upstream    net.Listener
	hits        chan http.Header
}

func newRequireEnv(t *testing.T) *requireEnv {
	t.Helper()
	e := &requireEnv{dir: t.TempDir(), hits: make(chan http.Header, 16)}
	key, err := tokens.GenerateES256()
	if err != nil {
		t.Fatal(err)
	}
	if e.signer, err = tokens.NewSigner(key); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(e.dir, "jwks.json"), tokens.PublicJWKS(key), 0o600)
	e.upstream = listenLoopback(t)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case e.hits <- r.Header.Clone():
		default:
		}
		io.WriteString(w, "hello from upstream")
	}), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(e.upstream)
	t.Cleanup(func() { srv.Close() })
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
  keys:
    type: api_key
routes:
  - name: admin
    match: {path_prefix: /admin, host: api.example.com}
    upstream: http://%s
    authenticate: [corp_jwt, keys]
    require:
      claims:
        realm_access.roles: [admin]
        "https://example.com/tenant": [acme]
      expression: 'request.method == "GET" && claims.level >= 2 && !("authorization" in request.headers) && !("x-api-key" in request.headers)'
  - name: other-hosts
    match: {path_prefix: /}
    upstream: http://%s
    authenticate: [corp_jwt]
`, e2eIssuer, e2eAudience, e.upstream.Addr(), e.upstream.Addr())
	e.config = filepath.Join(e.dir, "gatehouse.yaml")
	os.WriteFile(e.config, []byte(cfg), 0o600)
	return e
}

func (e *requireEnv) token(t *testing.T, claims map[string]any) string {
	t.Helper()
	now := time.Now()
	base := map[string]any{"iss": e2eIssuer, "aud": e2eAudience, "sub": "alice", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"realm_access": map[string]any{"roles": []string{"user", "admin"}}, "https://example.com/tenant": "acme", "level": 3}
	for k, v := range claims {
		if v == nil {
			delete(base, k)
		} else {
			base[k] = v
		}
	}
	tok, err := e.signer.Sign(base)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestRouteRequirementsEndToEnd(t *testing.T) {
	e := newRequireEnv(t)
	p := start(t, "serve", "--config", e.config)
	base := "http://" + p.waitFor(t, listeningRe)[1]

	do := func(method, host, tok string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, base+"/admin/users", nil)
		req.Host = host
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := httpClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if strings.Contains(string(body), tok) {
			t.Error("the token was echoed")
		}
		var prob map[string]any
		json.Unmarshal(body, &prob)
		return resp.StatusCode, prob
	}
	tests := []struct {
		name, method, host string
		claims             map[string]any
		status             int
		detail             string
	}{
		{"every requirement holds", "GET", "api.example.com:8080", nil, 200, ""},
		{"host case and trailing dot", "GET", "API.example.com.", nil, 200, ""},
		{"role missing", "GET", "api.example.com", map[string]any{"realm_access": map[string]any{"roles": []string{"user"}}}, 403,
			"claim realm_access.roles must contain one of [admin]"},
		{"URL-shaped claim name", "GET", "api.example.com", map[string]any{"https://example.com/tenant": "globex-secret-tenant"}, 403,
			"claim https://example.com/tenant must contain one of [acme]"},
		{"expression false", "GET", "api.example.com", map[string]any{"level": 1}, 403, "expression #1 is false"},
		{"expression on a claim of the wrong type is 403, not 500", "GET", "api.example.com", map[string]any{"level": "high"}, 403,
			"expression #1 could not be evaluated (a claim absent or of another type); it counts as false"},
		{"expression reads the method", "DELETE", "api.example.com", nil, 403, "expression #1 is false"},
		{"another host takes another route", "GET", "www.example.com", map[string]any{"level": 1}, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, prob := do(tt.method, tt.host, e.token(t, tt.claims))
			if status != tt.status {
				t.Fatalf("status %d, want %d: %v", status, tt.status, prob)
			}
			if tt.status == 403 && (prob["reason"] != "forbidden" || prob["detail"] != tt.detail) {
				t.Errorf("problem %v, want forbidden with detail %q", prob, tt.detail)
			}
		})
	}
	// Decision lines are written in batches: wait for the last one.
	p.waitFor(t, regexp.MustCompile(regexp.QuoteMeta(`"detail":"claim realm_access.roles must contain one of [admin]"`)))
	p.waitFor(t, regexp.MustCompile(`"route":"other-hosts"`))
	if strings.Contains(p.logs(), "globex-secret-tenant") || strings.Contains(p.logs(), `"high"`) {
		t.Error("a claim value reached the log")
	}
}

// runGatehouse runs the gatehouse binary and returns its exit status and output.
func runGatehouse(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return exitCode(err), out.String(), errb.String()
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("gatehouse %v did not finish", args)
	}
	return 0, "", ""
}

func TestDecideEndToEnd(t *testing.T) {
	e := newRequireEnv(t)
	good := e.token(t, nil)
	noRole := e.token(t, map[string]any{"realm_access": map[string]any{"roles": []string{"user"}}})

	t.Run("allowed: identity headers the upstream would get, nothing contacted", func(t *testing.T) {
		code, out, errOut := runGatehouse(t, "decide", "--config", e.config, "https://api.example.com/admin/x", "-H", "Authorization: Bearer "+good)
		if code != 0 {
			t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
		}
		for _, want := range []string{"route:             admin", "authenticators:    corp_jwt (verified)", "decision:          allowed 200",
			"upstream:          http://" + e.upstream.Addr().String() + "/admin/x", "X-Gatehouse-Subject: alice", "X-Gatehouse-Authenticator: corp_jwt",
			"credential:        fingerprint kid="} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(out+errOut, good) {
			t.Error("the token was echoed")
		}
		select {
		case <-e.hits:
			t.Error("decide contacted the upstream")
		default:
		}
	})
	t.Run("refused: the unmet requirement, as JSON", func(t *testing.T) {
		code, out, errOut := runGatehouse(t, "decide", "--json", "--config", e.config, "-X", "GET", "https://api.example.com/admin/x?access_token=zzz-query-secret",
			"-H", "Authorization: Bearer "+noRole, "-H", "X-API-Key: gk_test_should_never_show")
		if code != 1 {
			t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
		}
		var res decideResult
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		_ = res
		for _, secret := range []string{noRole, "zzz-query-secret", "gk_test_should_never_show"} {
			if strings.Contains(out+errOut, secret) {
				t.Errorf("a credential was echoed: %s", out)
			}
		}
	})
	t.Run("refused: claims rule", func(t *testing.T) {
		code, out, errOut := runGatehouse(t, "decide", "--json", "--config", e.config, "https://api.example.com/admin/x", "-H", "Authorization: Bearer "+noRole)
		if code != 1 {
			t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
		}
		var res decideResult
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if res.Route != "admin" || res.Status != 403 || res.Reason != decision.Forbidden ||
			res.Unmet != "claim realm_access.roles must contain one of [admin]" || res.Authenticator != "corp_jwt" ||
			len(res.Tried) != 1 || res.Tried[0] != (triedAuth{Name: "corp_jwt", Outcome: "verified"}) || res.Upstream != "" {
			t.Errorf("decision %+v", res)
		}
	})
	t.Run("no credential: challenges", func(t *testing.T) {
		code, out, _ := runGatehouse(t, "decide", "--config", e.config, "https://api.example.com/admin/x")
		if code != 1 || !strings.Contains(out, "challenge:         Bearer realm=\"orders\"") || !strings.Contains(out, "credentials_missing") {
			t.Errorf("exit %d\n%s", code, out)
		}
	})
	t.Run("bad usage", func(t *testing.T) {
		code, _, errOut := runGatehouse(t, "decide", "--config", e.config, "/relative")
		if code != 2 || !strings.Contains(errOut, "the URL must be absolute") {
			t.Errorf("exit %d\n%s", code, errOut)
		}
	})
	t.Run("a configuration with problems", func(t *testing.T) {
		bad := filepath.Join(e.dir, "bad.yaml")
		os.WriteFile(bad, []byte("realm: x\nroutes:\n  - match: {path_prefix: /}\n    authenticate: [nobody]\n    require: {expression: 'subject +'}\n"), 0o600)
		code, _, errOut := runGatehouse(t, "decide", "--config", bad, "https://api.example.com/")
		if code != 3 || !strings.Contains(errOut, "bad.yaml:5:") {
			t.Errorf("exit %d\n%s", code, errOut)
		}
	})
}
