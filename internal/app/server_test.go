package app

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/config"
)

// serveForTest runs a Server for cfgText on 127.0.0.1 until the test ends and returns
// the public address.
func serveForTest(t *testing.T, cfgText string) string {
	t.Helper()
	dir := t.TempDir()
	cfg, err := config.Parse([]byte(cfgText), dir, func(string) string { return "" })
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
	return s.PublicAddr()
}

// TestOversizedHeadersGetTheProblemBodyOverTCP: with max_header_bytes 4096, a request
// whose header section is exactly 4096 bytes passes, one a byte larger gets 431 with the
// problem+json body and reason headers_too_large (net/http's own 431 has neither), and
// the listener keeps serving afterwards.
func TestOversizedHeadersGetTheProblemBodyOverTCP(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "upstream") }))
	t.Cleanup(up.Close)
	addr := serveForTest(t, `listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
realm: test
max_header_bytes: 4096
routes:
  - {name: open, match: {path_prefix: /}, upstream: "`+up.URL+`", authenticate: anonymous}
`)
	raw := func(t *testing.T, req string) (*http.Response, []byte) {
		t.Helper()
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(conn, req); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, body
	}
	head := "GET /x HTTP/1.1\r\nHost: gw\r\nX-Pad: "
	fill := 4096 - len(head) - len("\r\n\r\n")

	resp, body := raw(t, head+strings.Repeat("a", fill)+"\r\n\r\n")
	if resp.StatusCode != 200 || string(body) != "upstream" {
		t.Fatalf("4096 header bytes: %d %s", resp.StatusCode, body)
	}

	// A real client, one byte over, and over what net/http would have let through with
	// max_header_bytes as its limit (4096 plus its 4 KiB of slack): the gateway answers
	// both.
	for _, pad := range []int{fill + 1 - len("User-Agent: Go-http-client/1.1\r\nAccept-Encoding: gzip\r\n"), 10000} {
		req, _ := http.NewRequest("GET", "http://"+addr+"/x", nil)
		req.Host = "gw"
		req.Header.Set("X-Pad", strings.Repeat("a", pad))
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge || resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("pad %d: status %d %q: %s", pad, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		var problem map[string]any
		if err := json.Unmarshal(body, &problem); err != nil {
			t.Fatal(err)
		}
		if problem["reason"] != "headers_too_large" || problem["request_id"] != resp.Header.Get("X-Request-Id") || problem["status"] != float64(431) {
			t.Errorf("pad %d: problem %v", pad, problem)
		}
	}
	if resp, body := raw(t, "GET /x HTTP/1.1\r\nHost: gw\r\n\r\n"); resp.StatusCode != 200 {
		t.Fatalf("after the 431s: %d %s", resp.StatusCode, body)
	}
}
