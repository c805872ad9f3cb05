package doctor

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestRedirectMatrixMatchesMeasuredClients encodes docs/doctor.md#redirects-and-credentials: what Go,
// curl, Python requests and browsers do with Authorization on one redirect.
func TestRedirectMatrixMatchesMeasuredClients(t *testing.T) {
	tests := []struct {
		name     string
		from, to string
		change   Change
		want     ClientKeeps
	}{
		{"same origin, path only", "http://127.0.0.1:18081/x", "http://127.0.0.1:18081/final", SameOrigin, ClientKeeps{Go: true, Curl: true, Requests: true, Browser: true}},
		{"same host, other port", "http://127.0.0.1:18081/x", "http://127.0.0.1:18082/x", OtherPort, ClientKeeps{Go: true}},
		{"other host name", "http://127.0.0.1:18081/x", "http://localhost:18082/x", OtherHost, ClientKeeps{}},
		{"subdomain", "https://foo.com/x", "https://www.foo.com/x", Subdomain, ClientKeeps{Go: true}},
		{"http to https on default ports", "http://api.example.com/x", "https://api.example.com/x", OtherScheme, ClientKeeps{Go: true, Requests: true}},
		{"https to http", "https://api.example.com/x", "http://api.example.com/x", OtherScheme, ClientKeeps{Go: true}},
		{"explicit default port", "https://api.example.com/x", "https://api.example.com:443/y", SameOrigin, ClientKeeps{Go: true, Curl: true, Requests: true, Browser: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			from, to := mustURL(t, tc.from), mustURL(t, tc.to)
			if got := classify(from, to); got != tc.change {
				t.Errorf("classify = %q, want %q", got, tc.change)
			}
			if diff := cmp.Diff(tc.want, nextKeeps(allKeep, from, from, to)); diff != "" {
				t.Errorf("keeps (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOnceDroppedTheCredentialStaysDropped(t *testing.T) {
	a, b, c := mustURL(t, "http://127.0.0.1:1/x"), mustURL(t, "http://localhost:2/y"), mustURL(t, "http://127.0.0.1:1/z")
	k := nextKeeps(allKeep, a, a, b)
	k = nextKeeps(k, a, b, c)
	if k != (ClientKeeps{}) {
		t.Errorf("coming back to the first origin restored the credential: %+v", k)
	}
}

func TestProxyFromEnvironmentHonoursNoProxy(t *testing.T) {
	env := env{"HTTPS_PROXY": "http://proxy.corp:3128", "http_proxy": "proxy.corp:8080", "NO_PROXY": ".internal, 10.0.0.0/8, exact.example.com, api.example.net:8443"}
	pf := proxyFunc(env.get)
	tests := []struct {
		target, want string
	}{
		{"https://api.example.com/x", "http://proxy.corp:3128"},
		{"http://api.example.com/x", "http://proxy.corp:8080"},
		{"https://svc.internal/x", ""},
		{"https://internal/x", ""},
		{"http://10.1.2.3/x", ""},
		{"https://exact.example.com/", ""},
		{"https://sub.exact.example.com/", ""},
		{"https://api.example.net:8443/", ""},
		{"https://api.example.net/", "http://proxy.corp:3128"},
		{"http://127.0.0.1:8080/", ""},
		{"http://localhost/", ""},
	}
	for _, tc := range tests {
		req, _ := http.NewRequest("GET", tc.target, nil)
		u, err := pf(req)
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		if u != nil {
			got = u.String()
		}
		if got != tc.want {
			t.Errorf("%s: proxy %q, want %q", tc.target, got, tc.want)
		}
	}
}

func TestRedactURLHidesKeysAndKeepsTheRest(t *testing.T) {
	u := mustURL(t, "https://bob:pw@api.example.com/v1/x?page=2&api_key=s3cr3t&X-Amz-Signature=abc&q=1")
	got := redactURL(u)
	want := "https://REDACTED@api.example.com/v1/x?page=2&api_key=" + markFor("s3cr3t") + "&X-Amz-Signature=" + markFor("abc") + "&q=1"
	if got != want {
		t.Errorf("redactURL = %q, want %q", got, want)
	}
}

// TestRedirectLoopIsAFinding: a walk that stops in a loop, or at the hop limit, is never
// "ok": the verdict is redirect_loop and the evidence names where the chain cycles.
func TestRedirectLoopIsAFinding(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    string
	}{
		{"a to b to a", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/a" {
				http.Redirect(w, r, "/b", http.StatusFound)
				return
			}
			http.Redirect(w, r, "/a", http.StatusFound)
		}, "the chain cycles from hop 1"},
		{"https upgrade loop behind a TLS-terminating proxy", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, r.URL.Path, http.StatusMovedPermanently)
		}, "the chain cycles from hop 1"},
		{"endless new URLs", func(w http.ResponseWriter, r *http.Request) {
			n := len(r.URL.Path)
			http.Redirect(w, r, r.URL.Path+strconv.Itoa(n), http.StatusFound)
		}, "the walk stopped after 10 requests"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := serve(t, tc.handler)
			o := baseOptions(srv.URL + "/a")
			o.Headers = []Header{bearer("opaque-token-0123456789abcdef")}
			rep := runDoctor(t, o)
			if rep.Verdict != "redirect_loop" {
				t.Fatalf("verdict = %q, want redirect_loop; findings %v", rep.Verdict, codes(rep.Findings))
			}
			if rep.ExitCode() != 1 {
				t.Errorf("exit = %d, want 1", rep.ExitCode())
			}
			if ev := evidenceText(findingByCode(rep, "redirect_loop")); !strings.Contains(ev, tc.want) {
				t.Errorf("evidence lacks %q:\n%s", tc.want, ev)
			}
		})
	}
}
