package gatehouse_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/app"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/tokens"
)

// The IdP recipes in docs/idp are tests. Each page holds exactly one ```yaml block: the
// complete configuration the page recommends. The test loads that block as written
// (validation included), builds the real gateway from it, and sends it tokens shaped
// as the IdP's documentation shows them (header with kid and typ, claims, arrays where
// the IdP sends arrays), signed with a key made here. The IdP's JWKS URL is answered by
// an in-memory transport with that key's public half, so the configuration keeps the
// IdP's real jwks_url; only each route's upstream is pointed at the test's own server.
// What the page says is accepted must reach the upstream with the identity headers the
// page names; what it says is refused must get the reason it gives.

// recipeCase is one request to a recipe's gateway.
type recipeCase struct {
	name   string
	method string // GET when empty
	path   string
	header map[string]any // the JOSE header beside alg (kid, typ, x5t...); nil: none
	claims map[string]any
	// token, when set, is sent instead of a signed token (an opaque access token).
	token string
	// status is the expected answer; reason the expected reason for a refusal.
	status int
	reason string
	// upstream are headers the upstream must receive ("" means absent).
	upstream map[string]string
}

// recipe is a page and its cases; now is when the tokens are issued.
type recipe struct {
	page  string
	cases func(now time.Time) []recipeCase
}

var recipeYAML = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// recipeConfig returns the one yaml block of a recipe page.
func recipeConfig(t *testing.T, page string) []byte {
	t.Helper()
	md, err := os.ReadFile(filepath.Join("docs", "idp", page))
	if err != nil {
		t.Fatal(err)
	}
	blocks := recipeYAML.FindAllSubmatch(md, -1)
	if len(blocks) != 1 {
		t.Fatalf("%s has %d yaml blocks; a recipe has exactly one, the configuration its test loads", page, len(blocks))
	}
	return blocks[0][1]
}

// jwksTransport answers every request with a JWK Set and records the URLs asked for.
type jwksTransport struct {
	jwks []byte
	mu   sync.Mutex
	urls []string
}

func (j *jwksTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	j.mu.Lock()
	j.urls = append(j.urls, r.URL.String())
	j.mu.Unlock()
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(j.jwks)), Request: r}, nil
}

func runRecipe(t *testing.T, rc recipe) {
	t.Helper()
	yml := recipeConfig(t, rc.page)
	dir := t.TempDir()
	cfg, err := config.Parse(yml, dir, func(string) string { return "" })
	if err != nil {
		t.Fatalf("the configuration in docs/idp/%s does not load:\n%v", rc.page, err)
	}
	seen := make(chan http.Header, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Clone()
		w.WriteHeader(200)
	}))
	t.Cleanup(up.Close)
	for i := range cfg.Routes {
		if cfg.Routes[i].Upstream != "" {
			cfg.Routes[i].Upstream = up.URL
		}
	}
	key, err := tokens.GenerateRS256()
	if err != nil {
		t.Fatal(err)
	}
	signer, err := tokens.NewSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	tr := &jwksTransport{jwks: tokens.PublicJWKS(key)}
	rt, err := app.Build(cfg, app.Options{HTTPClient: &http.Client{Transport: tr, Timeout: 5 * time.Second},
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	t.Cleanup(func() { rt.Close() })
	now := time.Now()
	for _, c := range rc.cases(now) {
		t.Run(c.name, func(t *testing.T) {
			tok := c.token
			if tok == "" {
				hd := map[string]any{"kid": key.ID}
				for k, v := range c.header {
					hd[k] = v
				}
				if hd["kid"] == "" {
					delete(hd, "kid")
				}
				if tok, err = signer.SignWithHeader(c.claims, hd); err != nil {
					t.Fatal(err)
				}
			}
			method := c.method
			if method == "" {
				method = "GET"
			}
			req := httptest.NewRequest(method, c.path, nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			// A client's own copy of every identity header never reaches the upstream.
			for name := range c.upstream {
				req.Header.Set(name, "spoofed")
			}
			w := httptest.NewRecorder()
			rt.ServeHTTP(w, req)
			if w.Code != c.status {
				t.Fatalf("status %d, want %d: %s", w.Code, c.status, w.Body.String())
			}
			if c.status != 200 {
				var p struct {
					Reason string `json:"reason"`
				}
				if json.Unmarshal(w.Body.Bytes(), &p) != nil || p.Reason != c.reason {
					t.Fatalf("refused with %s, want %s", w.Body.String(), c.reason)
				}
				return
			}
			got := <-seen
			for name, want := range c.upstream {
				if v := got.Values(name); want == "" && len(v) > 0 || want != "" && (len(v) != 1 || v[0] != want) {
					t.Errorf("upstream %s = %q, want %q", name, v, want)
				}
			}
		})
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, u := range tr.urls {
		if !strings.HasPrefix(u, "https://") {
			t.Errorf("the gateway fetched %s: a recipe's keys come over https", u)
		}
	}
}

// exp and iat helpers.
func unix(t time.Time) int64 { return t.Unix() }

// with returns claims with the changes kv (name, value; a nil value deletes).
func with(claims map[string]any, kv ...any) map[string]any {
	out := make(map[string]any, len(claims))
	for k, v := range claims {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

// TestIdPRecipes runs every recipe page's test.
func TestIdPRecipes(t *testing.T) {
	pages, err := filepath.Glob(filepath.Join("docs", "idp", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	tested := map[string]bool{"README.md": true}
	for _, rc := range recipes {
		tested[rc.page] = true
		t.Run(strings.TrimSuffix(rc.page, ".md"), func(t *testing.T) { runRecipe(t, rc) })
	}
	for _, p := range pages {
		if !tested[filepath.Base(p)] {
			t.Errorf("docs/idp/%s has no test: add it to recipes", filepath.Base(p))
		}
	}
}
