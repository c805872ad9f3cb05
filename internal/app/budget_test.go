package app

import (
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/tokens"
)

// TestRedisFailureBudgetIsSharedByReplicas builds two runtimes from one configuration
// with failure_budget.redis: failed authentications through one are refused by the
// other, and /metrics reports the shared budget as up.
func TestRedisFailureBudgetIsSharedByReplicas(t *testing.T) {
	if c, err := net.DialTimeout("tcp", "127.0.0.1:6379", time.Second); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("Redis at 127.0.0.1:6379 is not reachable (CI is set, so this fails): %v", err)
		}
		t.Skipf("Redis at 127.0.0.1:6379 is not reachable (%v); start it to run this", err)
	} else {
		c.Close()
	}
	dir := t.TempDir()
	key, err := tokens.GenerateES256()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "jwks.json"), tokens.PublicJWKS(key), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse([]byte(`
realm: test
trusted_proxies: [127.0.0.1/32]
failure_budget: {per_client: 30/min, per_credential: 3/min, redis: "redis://127.0.0.1:6379/0", redis_timeout: 2s}
forward_auth: {path: /_gatehouse/decide}
authenticators:
  es: {type: jwt, issuer: "https://issuer.test.invalid", audience: ["api://test"], algorithms: [ES256], jwks_file: jwks.json}
routes:
  - {name: es, match: {path_prefix: /es}, upstream: "http://127.0.0.1:9", authenticate: [es]}
`), dir, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	replica := func() *Runtime {
		rt, err := Build(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rt.Close() })
		return rt
	}
	a, b := replica(), replica()

	// A token this deployment does not trust, and a client address of this run alone,
	// so that runs sharing the Redis do not meet.
	other, err := tokens.GenerateES256()
	if err != nil {
		t.Fatal(err)
	}
	signer, err := tokens.NewSigner(other)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := signer.Sign(map[string]any{"iss": "https://issuer.test.invalid", "aud": "api://test", "sub": rand.Text(),
		"exp": time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	var r [2]byte
	rand.Read(r[:])
	client := fmt.Sprintf("198.18.%d.%d", r[0], r[1])
	decide := func(rt *Runtime) int {
		req := httptest.NewRequest(http.MethodGet, "/_gatehouse/decide", nil)
		req.RemoteAddr = "127.0.0.1:40000"
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("X-Forwarded-Method", "GET")
		req.Header.Set("X-Forwarded-Uri", "/es/orders")
		req.Header.Set("X-Forwarded-For", client)
		w := httptest.NewRecorder()
		rt.ServeHTTP(w, req)
		return w.Code
	}
	for i := range 3 {
		if got := decide(a); got != http.StatusUnauthorized {
			t.Fatalf("failure %d on replica A = %d, want 401", i+1, got)
		}
	}
	if got := decide(b); got != http.StatusTooManyRequests {
		t.Errorf("replica B after 3 failures on A = %d, want 429", got)
	}

	b.syncCacheMetrics()
	w := httptest.NewRecorder()
	b.Metrics.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if !strings.Contains(w.Body.String(), "gatehouse_budget_redis_up 1") {
		t.Errorf("/metrics does not report the shared budget up:\n%s", grepLines(w.Body.String(), "gatehouse_budget"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
