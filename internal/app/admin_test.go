package app

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/admin"
	"github.com/gatehouse-dev/gatehouse/internal/config"
)

// TestAdminListenerGuardsDecisionsAndTheAPIButNotTheProbes: the decisions lookup (it
// names subjects and client addresses) and the admin API need an admin token, also on
// loopback and with a configuration whose authenticators never read the store; the
// probes and /metrics stay open.
func TestAdminListenerGuardsDecisionsAndTheAPIButNotTheProbes(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "upstream") }))
	t.Cleanup(up.Close)
	cfg, err := config.Parse([]byte(`listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
realm: test
routes:
  - {name: open, match: {path_prefix: /}, upstream: "`+up.URL+`", authenticate: anonymous}
`), t.TempDir(), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	rt, err := Build(cfg, Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Listen(rt, log)
	if err != nil {
		rt.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, nil) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("the server did not stop")
		}
		rt.Close()
	})
	base := "http://" + s.AdminAddr()
	get := func(path, token string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	resp, err := http.Get("http://" + s.PublicAddr() + "/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	rid := resp.Header.Get("X-Request-Id")

	for _, p := range []string{"/healthz", "/metrics"} {
		if r := get(p, ""); r.StatusCode != 200 {
			t.Errorf("%s without a token: %d, want 200", p, r.StatusCode)
		}
	}
	for _, p := range []string{"/admin/decisions/" + rid, "/admin/v1/keys", "/admin/anything"} {
		r := get(p, "")
		if r.StatusCode != 401 || r.Header.Get("WWW-Authenticate") != `Bearer realm="gatehouse-admin"` {
			t.Errorf("%s without a token: %d %q, want 401 with the admin challenge", p, r.StatusCode, r.Header.Get("WWW-Authenticate"))
		}
	}
	if rt.store == nil {
		t.Fatal("no store opened for a configuration without store authenticators; admin tokens could not be checked")
	}
	tok, err := (&admin.Service{Store: rt.store, Config: cfg}).As(admin.Caller{Actor: "test"}).CreateAdminToken(context.Background(), admin.CreateAdminTokenRequest{Name: "t"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/admin/decisions/" + rid, "/admin/v1/keys"} {
		if r := get(p, tok.Token); r.StatusCode != 200 {
			t.Errorf("%s with a token: %d, want 200", p, r.StatusCode)
		}
	}
}
