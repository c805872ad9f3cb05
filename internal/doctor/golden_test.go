package doctor

import (
	"bytes"
	"flag"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// portRE normalises httptest's random ports so golden files are stable.
var portRE = regexp.MustCompile(`(127\.0\.0\.1|localhost):\d{5}`)

func normalise(b []byte) []byte { return portRE.ReplaceAll(b, []byte("${1}:PORT")) }

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	got = normalise(got)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test -update): %v", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs from the golden file (-want +got):\n%s", name, diff)
	}
}

func TestReportGoldenFiles(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T) Options
	}{
		{"jwt_expired", func(t *testing.T) Options {
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Request-Id", "req-7f3a")
				write401Bearer(w, `, error="invalid_token", error_description="The token expired at 2026-03-14T09:12:53Z"`)
			})
			o := baseOptions(srv.URL + "/orders?page=2")
			o.Now = func() time.Time { return testNow.Add(2 * time.Second) }
			o.Headers = []Header{bearer(makeJWT(nil, claims(map[string]any{"exp": testNow.Add(-14 * time.Minute).Unix()})))}
			return o
		}},
		{"ok", func(t *testing.T) Options {
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(`{"orders":[]}`))
			})
			o := baseOptions(srv.URL + "/orders")
			o.UserPass, o.HasUserPass = "alice:correct horse battery", true
			return o
		}},
		{"cross_origin_redirect", func(t *testing.T) Options {
			b := serve(t, func(w http.ResponseWriter, r *http.Request) { write401Bearer(w, "") })
			bu, _ := url.Parse(b.URL)
			a := serve(t, func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "http://localhost:"+bu.Port()+"/v2/orders", http.StatusFound)
			})
			o := baseOptions(a.URL + "/v1/orders")
			o.Headers = []Header{{Name: "X-Api-Key", Value: "k3y0123456789abcdefghij"}}
			return o
		}},
		{"challenge_unparseable", func(t *testing.T) Options {
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Add("WWW-Authenticate", `Basic realm="ok"`)
				w.Header().Add("WWW-Authenticate", `Bearer realm="api", error=invalid token`)
				w.WriteHeader(401)
			})
			o := baseOptions(srv.URL + "/x")
			o.Headers = []Header{bearer(makeJWT(nil, claims(nil)))}
			return o
		}},
		{"cors_authorization_not_allowed", func(t *testing.T) Options {
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Access-Control-Allow-Origin", "*")
				if r.Method == "OPTIONS" {
					w.Header().Set("Access-Control-Allow-Headers", "*")
					w.Header().Set("Access-Control-Allow-Methods", "GET")
					w.WriteHeader(204)
					return
				}
				_, _ = w.Write([]byte("{}"))
			})
			o := baseOptions(srv.URL + "/orders/7")
			o.Method = "DELETE"
			o.Origin = "http://localhost:3000"
			o.Headers = []Header{bearer(makeJWT(nil, claims(nil)))}
			return o
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runDoctor(t, tc.setup(t))
			var text, js bytes.Buffer
			if err := r.WriteText(&text, false); err != nil {
				t.Fatal(err)
			}
			if err := r.WriteJSON(&js); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, tc.name+".txt", text.Bytes())
			checkGolden(t, tc.name+".json", js.Bytes())
		})
	}
}

func TestColourOnlyWhenAsked(t *testing.T) {
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) { write401Bearer(w, "") })
	r := runDoctor(t, baseOptions(srv.URL))
	var plain, colour bytes.Buffer
	_ = r.WriteText(&plain, false)
	_ = r.WriteText(&colour, true)
	if bytes.Contains(plain.Bytes(), []byte("\x1b[")) {
		t.Errorf("plain output has ANSI escapes")
	}
	if !bytes.Contains(colour.Bytes(), []byte("\x1b[1;31m✗ verdict")) {
		t.Errorf("coloured output lacks the red verdict")
	}
}
