package doctor

import (
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/doctor/finding"
)

// TestHealthyRequestsAreOK guards against false alarms: every kind of healthy server,
// called correctly, gives verdict ok, exit 0 and no error-level finding.
func TestHealthyRequestsAreOK(t *testing.T) {
	jwt := makeJWT(nil, claims(nil))
	cases := []struct {
		name  string
		setup func(t *testing.T) Options
	}{
		{"bearer JWT", func(t *testing.T) Options {
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Authorization") != "Bearer "+jwt {
					write401Bearer(w, "")
					return
				}
				_, _ = w.Write([]byte(`{"orders":[]}`))
			})
			o := baseOptions(srv.URL + "/orders")
			o.Headers = []Header{bearer(jwt)}
			o.ExpectAudience, o.ExpectIssuer = "api://orders", "https://id.example.com/"
			return o
		}},
		{"basic credentials", func(t *testing.T) Options {
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				if u, p, ok := r.BasicAuth(); !ok || u != "alice" || p != "correct horse battery" {
					w.Header().Set("WWW-Authenticate", `Basic realm="staff", charset="UTF-8"`)
					w.WriteHeader(401)
					return
				}
				_, _ = w.Write([]byte("hello"))
			})
			o := baseOptions(srv.URL + "/staff")
			o.UserPass, o.HasUserPass = "alice:correct horse battery", true
			return o
		}},
		{"API key header", func(t *testing.T) Options {
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("X-API-Key") != "k3y0123456789abcdefghij" {
					w.WriteHeader(401)
					return
				}
				_, _ = w.Write([]byte("{}"))
			})
			o := baseOptions(srv.URL + "/v1/items")
			o.Headers = []Header{{Name: "X-API-Key", Value: "k3y0123456789abcdefghij"}}
			return o
		}},
		{"same-origin slash redirect", func(t *testing.T) Options {
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/items" {
					http.Redirect(w, r, "/items/", http.StatusPermanentRedirect)
					return
				}
				if r.Header.Get("Authorization") == "" {
					write401Bearer(w, "")
					return
				}
				_, _ = w.Write([]byte("[]"))
			})
			o := baseOptions(srv.URL + "/items")
			o.Headers = []Header{bearer(jwt)}
			return o
		}},
		{"CORS done right", func(t *testing.T) Options {
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Origin") == "http://localhost:3000" {
					w.Header().Set("Access-Control-Allow-Origin", "http://localhost:3000")
					w.Header().Set("Access-Control-Expose-Headers", "WWW-Authenticate, X-Request-Id")
					w.Header().Add("Vary", "Origin")
				}
				if r.Method == "OPTIONS" {
					w.Header().Set("Access-Control-Allow-Methods", "PUT")
					w.Header().Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
					w.WriteHeader(204)
					return
				}
				if r.Header.Get("Authorization") == "" {
					write401Bearer(w, "")
					return
				}
				_, _ = w.Write([]byte("{}"))
			})
			o := baseOptions(srv.URL + "/orders/7")
			o.Method = "PUT"
			o.Origin = "http://localhost:3000"
			o.Headers = []Header{bearer(jwt), {Name: "Content-Type", Value: "application/json"}}
			o.Body, o.HasBody = `{"qty":2}`, true
			return o
		}},
		{"TLS with --cacert", func(t *testing.T) Options {
			srv := httptest.NewTLSServer(dated(0, func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("{}")) }))
			t.Cleanup(srv.Close)
			o := baseOptions(srv.URL + "/x")
			o.CACertFile = writeCert(t, srv)
			o.Headers = []Header{bearer(jwt)}
			return o
		}},
		{"TLS with SSL_CERT_FILE", func(t *testing.T) Options {
			srv := httptest.NewTLSServer(dated(0, func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("{}")) }))
			t.Cleanup(srv.Close)
			o := baseOptions(srv.URL + "/x")
			o.Getenv = env{"SSL_CERT_FILE": writeCert(t, srv)}.get
			o.Headers = []Header{bearer(jwt)}
			return o
		}},
		{"credential from an env file", func(t *testing.T) Options {
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Authorization") != "Bearer "+jwt {
					write401Bearer(w, "")
					return
				}
				_, _ = w.Write([]byte("{}"))
			})
			dir := t.TempDir()
			p := filepath.Join(dir, ".env")
			if err := os.WriteFile(p, []byte("# tokens\nAPI_TOKEN="+jwt+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			o := baseOptions(srv.URL + "/orders")
			o.EnvFile, o.EnvVar = p, "API_TOKEN"
			return o
		}},
		{"public endpoint without a credential", func(t *testing.T) Options {
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) })
			return baseOptions(srv.URL + "/health")
		}},
		{"Gatehouse-fronted API with JWKS checked", func(t *testing.T) Options {
			var srv *httptest.Server
			srv = serve(t, func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/.well-known/openid-configuration":
					_, _ = w.Write([]byte(`{"issuer":"` + srv.URL + `","jwks_uri":"` + srv.URL + `/jwks"}`))
				case "/jwks":
					_, _ = w.Write([]byte(`{"keys":[{"kid":"k1","kty":"RSA","alg":"RS256"}]}`))
				default:
					w.Header().Set("X-Request-Id", "01HV3K8Z6Q")
					_, _ = w.Write([]byte(`{"ok":true}`))
				}
			})
			o := baseOptions(srv.URL + "/orders")
			o.FetchJWKS = true
			o.Headers = []Header{bearer(makeJWT(nil, claims(map[string]any{"iss": srv.URL})))}
			return o
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runDoctor(t, tc.setup(t))
			if r.Verdict != VerdictOK || r.ExitCode() != 0 {
				var b strings.Builder
				_ = r.WriteText(&b, false)
				t.Fatalf("verdict = %q (exit %d), want ok\n%s", r.Verdict, r.ExitCode(), b.String())
			}
			for _, f := range r.Findings {
				if f.Severity == finding.Error {
					t.Errorf("error-level finding on a healthy request: %s %s", f.Code, f.Summary)
				}
			}
		})
	}
}

// writeCert saves a TLS test server's certificate as a PEM file.
func writeCert(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ca.pem")
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
