package jwt

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/tokens"
)

// idp is a local issuer: its metadata documents and its JWKS, on one loopback server.
type idp struct {
	*httptest.Server
	issuer string // the issuer URL, possibly with a path

	mu       sync.Mutex
	oidc     func(w http.ResponseWriter, r *http.Request) // nil: 404
	rfc8414  func(w http.ResponseWriter, r *http.Request) // nil: 404
	jwks     []byte
	metaHits atomic.Int64
	jwksHits atomic.Int64
	release  chan struct{} // closed at cleanup: slow handlers wait on it
}

func newIDP(t *testing.T, path string, keys ...*tokens.Signer) *idp {
	t.Helper()
	d := &idp{release: make(chan struct{})}
	var pub []*tokens.SigningKey
	for _, k := range keys {
		pub = append(pub, k.Key())
	}
	d.jwks = tokens.PublicJWKS(pub...)
	d.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		oidc, rfc := d.oidc, d.rfc8414
		d.mu.Unlock()
		switch {
		case r.URL.Path == path+"/.well-known/openid-configuration":
			d.metaHits.Add(1)
			if oidc != nil {
				oidc(w, r)
				return
			}
		case r.URL.Path == "/.well-known/oauth-authorization-server"+path:
			d.metaHits.Add(1)
			if rfc != nil {
				rfc(w, r)
				return
			}
		case r.URL.Path == "/keys":
			d.jwksHits.Add(1)
			_, _ = w.Write(d.jwks)
			return
		}
		http.NotFound(w, r)
	}))
	d.issuer = d.URL + path
	t.Cleanup(func() { close(d.release); d.Close() })
	return d
}

// doc answers a metadata document with the given issuer and jwks_uri.
func doc(issuer, jwksURI string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": issuer, "jwks_uri": jwksURI,
			"response_types_supported": []string{"code"}})
	}
}

func (d *idp) set(oidc, rfc func(http.ResponseWriter, *http.Request)) {
	d.mu.Lock()
	d.oidc, d.rfc8414 = oidc, rfc
	d.mu.Unlock()
}

func discoveryConfig(d *idp, clk *clock) Config {
	return Config{
		Name: "disc", Issuer: d.issuer, Audience: []string{testAudience}, Algorithms: []string{"ES256"},
		Discovery: true, Leeway: 30 * time.Second, MinRefresh: time.Minute, NegativeTTL: time.Minute,
		MaxStale: time.Hour, FetchTimeout: 2 * time.Second, Now: clk.Now,
	}
}

func TestDiscoveryFindsTheJWKS(t *testing.T) {
	s := signers(t)
	for _, tc := range []struct {
		name, path string
		rfc        bool
	}{
		{"openid configuration", "", false},
		{"openid configuration under a path", "/realms/acme", false},
		{"RFC 8414 with the path inserted", "/tenant/one", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newIDP(t, tc.path, s.es)
			if tc.rfc {
				d.set(nil, doc(d.issuer, d.URL+"/keys"))
			} else {
				d.set(doc(d.issuer, d.URL+"/keys"), nil)
			}
			clk := newClock()
			a := mustNew(t, discoveryConfig(d, clk))
			p, err := a.Authenticate(ctxT(t), bearer(sign(t, s.es, claimsAt(clk.Now(), "iss", d.issuer))))
			if err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
			if p.Subject != "user-42" || d.jwksHits.Load() != 1 {
				t.Errorf("subject %q, jwks hits %d", p.Subject, d.jwksHits.Load())
			}
		})
	}
}

// TestDiscoveryFailuresAre503 checks that every way the metadata can fail leaves tokens
// unjudged: authenticator_unavailable, never a 401 reason.
func TestDiscoveryFailuresAre503(t *testing.T) {
	s := signers(t)
	tests := []struct {
		name  string
		setup func(d *idp) (oidc, rfc func(http.ResponseWriter, *http.Request))
	}{
		{"issuer mismatch", func(d *idp) (a, b func(http.ResponseWriter, *http.Request)) {
			return doc("https://evil.example", d.URL+"/keys"), nil
		}},
		{"issuer with a trailing slash", func(d *idp) (a, b func(http.ResponseWriter, *http.Request)) {
			return doc(d.issuer+"/", d.URL+"/keys"), nil
		}},
		{"mismatch is not a reason to fall back", func(d *idp) (a, b func(http.ResponseWriter, *http.Request)) {
			return doc("https://evil.example", d.URL+"/keys"), doc(d.issuer, d.URL+"/keys")
		}},
		{"jwks_uri over http to another host", func(d *idp) (a, b func(http.ResponseWriter, *http.Request)) {
			return doc(d.issuer, "http://keys.example/jwks"), nil
		}},
		{"jwks_uri not a URL", func(d *idp) (a, b func(http.ResponseWriter, *http.Request)) {
			return doc(d.issuer, "keys"), nil
		}},
		{"no document at all", func(d *idp) (a, b func(http.ResponseWriter, *http.Request)) { return nil, nil }},
		{"server error", func(d *idp) (a, b func(http.ResponseWriter, *http.Request)) {
			return func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadGateway) }, nil
		}},
		{"not JSON", func(d *idp) (a, b func(http.ResponseWriter, *http.Request)) {
			return func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("<html>")) }, nil
		}},
		{"too large", func(d *idp) (a, b func(http.ResponseWriter, *http.Request)) {
			return func(w http.ResponseWriter, _ *http.Request) {
				_, _ = w.Write([]byte(`{"issuer":"` + d.issuer + `","x":"` + strings.Repeat("a", MaxMetadataBytes) + `"}`))
			}, nil
		}},
		{"slow", func(d *idp) (a, b func(http.ResponseWriter, *http.Request)) {
			return func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-d.release:
				case <-r.Context().Done():
				}
			}, nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newIDP(t, "/realms/x", s.es)
			d.set(tt.setup(d))
			clk := newClock()
			cfg := discoveryConfig(d, clk)
			cfg.FetchTimeout = 300 * time.Millisecond
			a := mustNew(t, cfg)
			_, err := a.Authenticate(ctxT(t), bearer(sign(t, s.es, claimsAt(clk.Now(), "iss", d.issuer))))
			if r, f := reasonOf(t, err); r != decision.AuthenticatorUnavailable || f.RetryAfter <= 0 {
				t.Fatalf("got %v, want authenticator_unavailable with Retry-After", err)
			}
			if d.jwksHits.Load() != 0 {
				t.Errorf("the JWKS was fetched %d times from an unchecked document", d.jwksHits.Load())
			}
		})
	}
}

func TestDiscoveryKeepsTheLastJWKSURIWhileMetadataFails(t *testing.T) {
	s := signers(t)
	d := newIDP(t, "", s.es)
	d.set(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		doc(d.issuer, d.URL+"/keys")(w, r)
	}, nil)
	clk := newClock()
	a := mustNew(t, discoveryConfig(d, clk))
	if err := a.Prefetch(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	// The metadata breaks; the key set's max-age passes. The refresh reads the keys from
	// the jwks_uri found before, so tokens keep verifying.
	d.set(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) }, nil)
	clk.Advance(2 * time.Hour)
	if err := a.Prefetch(ctxT(t)); err == nil {
		// Within max_stale (1h) of the last metadata fetch only; two hours later the
		// discovered URL is too old and the fetch fails.
		t.Fatal("Prefetch succeeded with metadata older than max_stale")
	}
	d2 := newIDP(t, "", s.es)
	d2.set(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		doc(d2.issuer, d2.URL+"/keys")(w, r)
	}, nil)
	clk2 := newClock()
	a2 := mustNew(t, discoveryConfig(d2, clk2))
	if err := a2.Prefetch(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	d2.set(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) }, nil)
	clk2.Advance(2 * time.Minute)
	if err := a2.Prefetch(ctxT(t)); err != nil {
		t.Fatalf("Prefetch with stale metadata within max_stale: %v", err)
	}
	if d2.jwksHits.Load() != 2 {
		t.Errorf("jwks hits %d, want 2", d2.jwksHits.Load())
	}
}

func TestDiscoveryRefusesAnInsecureIssuer(t *testing.T) {
	_, err := New(Config{Name: "d", Issuer: "http://id.example", Audience: []string{"a"}, Algorithms: []string{"ES256"}, Discovery: true})
	if err == nil || !strings.Contains(err.Error(), "with discovery, the issuer must be an https URL") {
		t.Fatalf("New: %v", err)
	}
	_, err = New(Config{Name: "d", Issuer: "https://id.example", Audience: []string{"a"}, Algorithms: []string{"ES256"}, Discovery: true,
		JWKSURL: "https://id.example/k"})
	if err == nil || !strings.Contains(err.Error(), "remove jwks_url") {
		t.Fatalf("New: %v", err)
	}
}

func TestParseMetadata(t *testing.T) {
	tests := []struct {
		in, err string
	}{
		{`{"issuer":"https://a","jwks_uri":"https://a/k"}`, ""},
		{`{"issuer":"https://a","jwks_uri":"https://a/k","x":{"y":[1,2]}}`, ""},
		{`{"issuer":"https://a","issuer":"https://b","jwks_uri":"https://a/k"}`, "more than once"},
		{`{"issuer":"https://a","jwks_uri":"https://a/k","jwks_uri":"https://b/k"}`, "more than once"},
		{`{"issuer":1,"jwks_uri":"https://a/k"}`, "is not a string"},
		{`{"jwks_uri":"https://a/k"}`, `no "issuer"`},
		{`{"issuer":"https://a"}`, `no "jwks_uri"`},
		{`{"issuer":"https://a","jwks_uri":"https://a/k"} {}`, "data after"},
		{`[]`, "not a JSON object"},
		{`{"issuer":"https://a",`, "not valid JSON"},
		{`{"issuer":"https://a","jwks_uri":"https://a/` + strings.Repeat("k", 3000) + `"}`, "longer than"},
	}
	for _, tt := range tests {
		_, err := ParseMetadata([]byte(tt.in))
		if (err == nil) != (tt.err == "") || err != nil && !strings.Contains(err.Error(), tt.err) {
			t.Errorf("ParseMetadata(%.60s) = %v, want %q", tt.in, err, tt.err)
		}
	}
}

func FuzzParseMetadata(f *testing.F) {
	f.Add([]byte(`{"issuer":"https://a","jwks_uri":"https://a/k"}`))
	f.Add([]byte(`{"issuer":"https://a","issuer":"x","jwks_uri":"https://a/k"}`))
	f.Add([]byte(`{"issuer":"\u0068ttps://a","jwks_uri":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		md, err := ParseMetadata(b)
		if err != nil {
			return
		}
		// Whatever is accepted is one JSON object whose issuer and jwks_uri a standard
		// decoder reads the same.
		var ref map[string]any
		if err := json.Unmarshal(b, &ref); err != nil {
			t.Fatalf("accepted %q that encoding/json refuses: %v", b, err)
		}
		if md.Issuer == "" || md.JWKSURI == "" || ref["issuer"] != md.Issuer || ref["jwks_uri"] != md.JWKSURI {
			t.Fatalf("read %+v from %q, encoding/json reads %v", md, b, ref)
		}
	})
}
