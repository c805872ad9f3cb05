package app

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/config"
)

// TestIntrospectionThroughTheGateway builds a whole Runtime from a configuration file
// with an introspection authenticator at cache_max_ttl: 0s and asks its forward-auth
// endpoint: every request reaches the endpoint (nothing is cached), a subject with a
// control character is 401 credentials_malformed, and a response that is not strict RFC
// 7662 JSON is 503 authenticator_unavailable.
func TestIntrospectionThroughTheGateway(t *testing.T) {
	var calls atomic.Int32
	var answer atomic.Value
	answer.Store(`{"active":true,"sub":"user-1","scope":"orders:read"}`)
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, answer.Load().(string))
	}))
	t.Cleanup(idp.Close)
	cfg, err := config.Parse([]byte(`
listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
realm: test
trusted_proxies: [127.0.0.1/32]
forward_auth: {path: /_gatehouse/decide}
authenticators:
  opaque: {type: introspection, url: "`+idp.URL+`/introspect", client_id: gw, client_secret: s3cret, cache_max_ttl: 0s}
routes:
  - {name: api, match: {path_prefix: /api}, upstream: "http://127.0.0.1:9", authenticate: [opaque]}
`), t.TempDir(), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	rt, err := Build(cfg, Options{Logger: NewLogger(io.Discard, config.Log{Level: slog.LevelInfo, Format: config.LogJSON})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	decide := func() (int, string) {
		req := httptest.NewRequest(http.MethodGet, "/_gatehouse/decide", nil)
		req.RemoteAddr = "127.0.0.1:40000"
		req.Header.Set("Authorization", "Bearer an-opaque-token")
		req.Header.Set("X-Forwarded-Method", "GET")
		req.Header.Set("X-Forwarded-Uri", "/api/orders")
		w := httptest.NewRecorder()
		rt.ServeHTTP(w, req)
		var body struct {
			Reason string `json:"reason"`
		}
		_ = json.Unmarshal(w.Body.Bytes(), &body)
		return w.Code, body.Reason
	}

	for i := range 3 {
		if code, reason := decide(); code != http.StatusOK {
			t.Fatalf("request %d: %d %s", i, code, reason)
		}
	}
	if n := calls.Load(); n != 3 {
		t.Fatalf("%d introspection calls for 3 requests at cache_max_ttl 0s, want 3", n)
	}

	answer.Store(`{"active":true,"sub":"ad\u0000min"}`)
	if code, reason := decide(); code != http.StatusUnauthorized || reason != "credentials_malformed" {
		t.Errorf("subject with NUL: %d %s, want 401 credentials_malformed", code, reason)
	}
	answer.Store(`{"active":true,"sub":"user-1","sub":"admin"}`)
	if code, reason := decide(); code != http.StatusServiceUnavailable || reason != "authenticator_unavailable" {
		t.Errorf("duplicate sub: %d %s, want 503 authenticator_unavailable", code, reason)
	}
}
