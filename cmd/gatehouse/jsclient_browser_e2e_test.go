package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-dev/gatehouse/internal/tokens"
)

// browserPage is the single-page app of TestJSClientInChromium: it imports the client
// from its own origin, calls the gateway on another origin, and leaves what it saw in
// window.__result. Its refresh asks its own origin for a new token, as an app with a
// backend does.
const browserPage = `<!doctype html>
<html><head><meta charset="utf-8"><title>@gatehouse/client in a browser</title></head>
<body><pre id="out">running</pre>
<script type="module">
import { createAuthFetch, readAuthInfo } from '/client/index.js';
const gateway = %q, expired = %q, probe = %q;
try {
  // A plain cross-origin fetch: the challenge and the request id must be readable.
  const raw = await fetch(gateway + '/orders', { headers: { Authorization: 'Bearer ' + probe } });
  const info = await readAuthInfo(raw);
  // Ten concurrent calls with an expired token: one refresh, ten 200s.
  let token = expired, refreshes = 0;
  const authFetch = createAuthFetch({
    getToken: () => token,
    refresh: async () => { refreshes++; token = await (await fetch('/token')).text(); },
  });
  const statuses = await Promise.all(Array.from({ length: 10 }, (_, i) => authFetch(gateway + '/orders/' + i).then((r) => r.status)));
  window.__result = {
    origin: location.origin, status: raw.status,
    wwwAuthenticate: raw.headers.get('WWW-Authenticate'), requestId: raw.headers.get('X-Request-Id'),
    reason: info.reason, error: info.error, statuses, refreshes,
  };
} catch (e) {
  window.__result = { error: String(e && e.stack || e) };
}
document.getElementById('out').textContent = JSON.stringify(window.__result, null, 2);
</script></body></html>
`

// chromiumOrSkip returns Debian's chromium, or skips the test saying what is missing.
func chromiumOrSkip(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("chromium is not installed: the browser tests of the JavaScript client need Debian's chromium package (.ci/run installs it)")
	return ""
}

// TestJSClientInChromium runs @gatehouse/client in headless Chromium, in a page on one
// loopback origin calling a real Gatehouse on another: the browser enforces CORS, so the
// test shows that Gatehouse exposes WWW-Authenticate and X-Request-Id to the page, and
// that ten concurrent 401s cause one refresh.
func TestJSClientInChromium(t *testing.T) {
	browser := chromiumOrSkip(t)
	dir := t.TempDir()
	key, err := tokens.GenerateES256()
	if err != nil {
		t.Fatal(err)
	}
	signer, err := tokens.NewSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "jwks.json"), tokens.PublicJWKS(key), 0o600)
	mint := func(sub string, exp time.Time) string {
		tok, err := signer.Sign(map[string]any{"iss": e2eIssuer, "aud": e2eAudience, "sub": sub, "iat": exp.Add(-time.Hour).Unix(), "exp": exp.Unix()})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	now := time.Now()
	// Two expired tokens: each is its own credential for the failure budget.
	expired, probe := mint("alice", now.Add(-time.Hour)), mint("probe", now.Add(-time.Hour))

	upstreamLn := listenLoopback(t)
	upstream := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Header.Get("X-Gatehouse-Subject"))
	}), ReadHeaderTimeout: 5 * time.Second}
	go upstream.Serve(upstreamLn)
	t.Cleanup(func() { upstream.Close() })

	// The page's origin must be in the gateway's CORS list, so it listens first.
	pageLn := listenLoopback(t)
	pageOrigin := "http://" + pageLn.Addr().String()
	cfg := fmt.Sprintf(`listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
realm: orders
cors: {allowed_origins: [%q]}
authenticators:
  corp_jwt: {type: jwt, issuer: %s, audience: [%s], algorithms: [ES256], jwks_file: jwks.json}
routes:
  - name: api
    match: {path_prefix: /}
    upstream: http://%s
    authenticate: [corp_jwt]
`, pageOrigin, e2eIssuer, e2eAudience, upstreamLn.Addr())
	cfgPath := filepath.Join(dir, "gatehouse.yaml")
	os.WriteFile(cfgPath, []byte(cfg), 0o600)
	gw := start(t, "serve", "--config", cfgPath)
	gateway := "http://" + gw.waitFor(t, listeningRe)[1]

	lib, err := os.ReadFile("../../clients/js/index.js")
	if err != nil {
		t.Fatal(err)
	}
	var issued atomic.Int32
	page := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprintf(w, browserPage, gateway, expired, probe)
		case "/client/index.js":
			w.Header().Set("Content-Type", "text/javascript")
			w.Write(lib)
		case "/token":
			issued.Add(1)
			io.WriteString(w, mint("alice", time.Now().Add(time.Hour)))
		default:
			http.NotFound(w, r)
		}
	}), ReadHeaderTimeout: 5 * time.Second}
	go page.Serve(pageLn)
	t.Cleanup(func() { page.Close() })

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(browser),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
	}
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()

	if _, err := chromedp.Run(bctx, chromedp.Navigate(pageOrigin+"/")); err != nil {
		t.Fatalf("chromium: navigate: %v", err)
	}
	raw, err := chromedp.Run(bctx, chromedp.Poll[string](`window.__result && JSON.stringify(window.__result)`, chromedp.WithPollingTimeout(60*time.Second)))
	if err != nil {
		t.Fatalf("chromium: wait for the page's result: %v", err)
	}
	var got struct {
		Origin, WWWAuthenticate, RequestID, Reason, Error string
		Status, Refreshes                                 int
		Statuses                                          []int
	}
	if err := json.Unmarshal([]byte(raw), &got); err != nil {
		t.Fatalf("page result %q: %v", raw, err)
	}
	if got.Origin == "" {
		t.Fatalf("the page failed: %s", raw)
	}
	if strings.TrimPrefix(got.Origin, "http://") == strings.TrimPrefix(gateway, "http://") {
		t.Fatalf("page and gateway share the origin %s: the test would not be cross-origin", got.Origin)
	}
	if got.Status != 401 || !strings.Contains(got.WWWAuthenticate, `error="invalid_token"`) || got.RequestID == "" {
		t.Errorf("cross-origin 401: status %d, WWW-Authenticate %q, X-Request-Id %q; the page must read both headers", got.Status, got.WWWAuthenticate, got.RequestID)
	}
	if got.Reason != "token_expired" || got.Error != "invalid_token" {
		t.Errorf("readAuthInfo: reason %q, error %q", got.Reason, got.Error)
	}
	want := []int{200, 200, 200, 200, 200, 200, 200, 200, 200, 200}
	if fmt.Sprint(got.Statuses) != fmt.Sprint(want) || got.Refreshes != 1 || issued.Load() != 1 {
		t.Errorf("ten concurrent calls: statuses %v, %d refreshes in the page, %d tokens issued; want ten 200s after one refresh", got.Statuses, got.Refreshes, issued.Load())
	}
}
