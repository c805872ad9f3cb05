package doctor

import (
	"net/http"
	"strings"
	"testing"
)

// TestProxyAnswers401: a forward proxy that answers 401 (not 407) with its own challenge
// or fingerprint is named as the cause, through --proxy, HTTP_PROXY or ALL_PROXY, for
// plain requests and for CONNECT; a 401 the proxy merely relays from the API is not.
func TestProxyAnswers401(t *testing.T) {
	apiSaid := `{"error":"invalid_token"}`
	proxy := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Proxy-Authorization") == "" {
			w.Header().Set("Server", "squid/5.7")
			w.Header().Set("X-Squid-Error", "ERR_CACHE_ACCESS_DENIED 0")
			w.Header().Set("Proxy-Authenticate", `Basic realm="corp proxy"`)
			w.WriteHeader(401) // some proxies say 401 where 407 is meant
			_, _ = w.Write([]byte("<html><title>ERROR: Cache Access Denied</title></html>"))
			return
		}
		if r.Method == http.MethodConnect {
			w.WriteHeader(502)
			return
		}
		// Authenticated: relay the API's own refusal.
		if r.Header.Get("Authorization") == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="api"`)
			w.WriteHeader(401)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="api", error="invalid_token"`)
		w.Header().Set("Via", "1.1 squid")
		w.WriteHeader(401)
		_, _ = w.Write([]byte(apiSaid))
	})
	connect401 := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Proxy-Authenticate", `Basic realm="corp"`)
		w.WriteHeader(401)
	})
	tests := []struct {
		name    string
		setup   func(o *Options)
		target  string
		verdict string
	}{
		{"--proxy answers 401", func(o *Options) { o.Proxy = proxy.URL }, "http://api.example.test/v1/me", "proxy_auth_required_407"},
		{"HTTP_PROXY answers 401", func(o *Options) { o.Getenv = env{"HTTP_PROXY": proxy.URL}.get }, "http://api.example.test/v1/me", "proxy_auth_required_407"},
		{"ALL_PROXY answers 401", func(o *Options) { o.Getenv = env{"ALL_PROXY": proxy.URL}.get }, "http://api.example.test/v1/me", "proxy_auth_required_407"},
		{"CONNECT answered with 401", func(o *Options) { o.Getenv = env{"HTTPS_PROXY": connect401.URL}.get }, "https://api.example.test/v1/me", "proxy_auth_required_407"},
		{"the proxy relays the API's 401", func(o *Options) {
			o.Proxy = strings.Replace(proxy.URL, "http://", "http://u:proxy-pass-123@", 1)
		}, "http://api.example.test/v1/me", "credential_rejected_unknown"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := baseOptions(tc.target)
			o.Headers = []Header{bearer("opaque-token-0123456789abcdef")}
			tc.setup(&o)
			rep := runDoctor(t, o)
			if rep.Verdict != tc.verdict {
				t.Fatalf("verdict %q, want %q; findings %v", rep.Verdict, tc.verdict, codes(rep.Findings))
			}
			if tc.verdict == "proxy_auth_required_407" {
				f := findingByCode(rep, tc.verdict)
				if !strings.Contains(f.Fix, "proxy") || !strings.Contains(f.Fix, "NO_PROXY") {
					t.Errorf("fix does not name the proxy's credentials: %s", f.Fix)
				}
			}
			var b strings.Builder
			_ = rep.WriteText(&b, false)
			if strings.Contains(b.String(), "proxy-pass-123") {
				t.Errorf("the proxy password leaked")
			}
		})
	}
}
