package app

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/config"
)

// TestReloadKeepsUpstreamConnections: a reload that keeps upstream_timeout proxies
// through the same pool of upstream connections (no new connection is opened), and one
// that changes it gets a new pool while the replaced one's idle connection is closed
// once the shutdown grace has passed, instead of staying open for the idle timeout.
func TestReloadKeepsUpstreamConnections(t *testing.T) {
	var opened, closed atomic.Int64
	firstClosed := make(chan struct{})
	var closeOnce sync.Once
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "upstream") }))
	up.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			opened.Add(1)
		case http.StateClosed:
			closed.Add(1)
			closeOnce.Do(func() { close(firstClosed) })
		}
	}
	up.Start()
	t.Cleanup(up.Close)
	text := func(timeout string) string {
		return `listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
realm: test
shutdown_timeout: 50ms
upstream_timeout: ` + timeout + `
routes:
  - {name: open, match: {path_prefix: /}, upstream: "` + up.URL + `", authenticate: anonymous}
`
	}
	dir := t.TempDir()
	parse := func(s string) *config.Config {
		t.Helper()
		cfg, err := config.Parse([]byte(s), dir, func(string) string { return "" })
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	rt, err := Build(parse(text("10s")), Options{Logger: log})
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
	client := &http.Client{Timeout: 5 * time.Second}
	get := func() {
		t.Helper()
		resp, err := client.Get("http://" + s.PublicAddr() + "/x")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	get()
	get()
	if n := opened.Load(); n != 1 {
		t.Fatalf("%d upstream connections for two sequential requests, want 1", n)
	}
	for i := range 3 {
		if err := rt.Reload(parse(text("10s"))); err != nil {
			t.Fatal(err)
		}
		get()
		if n := opened.Load(); n != 1 {
			t.Fatalf("after reload %d with the same upstream_timeout: %d upstream connections, want 1 (the pool is kept)", i+1, n)
		}
	}
	if err := rt.Reload(parse(text("20s"))); err != nil {
		t.Fatal(err)
	}
	get()
	if n := opened.Load(); n != 2 {
		t.Fatalf("after a reload changing upstream_timeout: %d upstream connections, want 2 (a new pool)", n)
	}
	select {
	case <-firstClosed:
	case <-time.After(5 * time.Second):
		t.Fatal("the replaced pool's idle upstream connection was not closed after the shutdown grace")
	}
}
