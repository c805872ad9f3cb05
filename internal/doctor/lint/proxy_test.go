package lint

import (
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestProxyPicksTheVariableClientsRead(t *testing.T) {
	tests := []struct {
		name   string
		target string
		env    map[string]string
		want   *ProxyFacts
	}{
		{"NoVariables", "https://api.example.com", nil, nil},
		{"HTTPSProxyUpperCase", "https://api.example.com/x", map[string]string{"HTTPS_PROXY": "http://proxy:3128"},
			&ProxyFacts{Var: "HTTPS_PROXY", URL: "http://proxy:3128", ReadBy: "Go, curl, Python requests"}},
		{"LowerCaseHTTP", "http://api.example.com", map[string]string{"http_proxy": "proxy.corp:8080"},
			&ProxyFacts{Var: "http_proxy", URL: "http://proxy.corp:8080", ReadBy: "Go, curl, Python requests"}},
		{"UpperCaseHTTPIgnoredByCurl", "http://api.example.com", map[string]string{"HTTP_PROXY": "http://p:1"},
			&ProxyFacts{Var: "HTTP_PROXY", URL: "http://p:1", ReadBy: "Go, Python requests (curl ignores upper-case HTTP_PROXY)"}},
		{"CredentialsRedacted", "https://api.example.com", map[string]string{"https_proxy": "http://bob:s3cr%40t@proxy:3128"},
			&ProxyFacts{Var: "https_proxy", URL: "http://bob:***@proxy:3128", HasCredentials: true, PercentEncoded: true, ReadBy: "Go, curl, Python requests"}},
		{"RawAtInPassword", "https://api.example.com", map[string]string{"HTTPS_PROXY": "http://bob:p@ss@proxy:3128"},
			&ProxyFacts{Var: "HTTPS_PROXY", URL: "http://bob:***@proxy:3128", HasCredentials: true, NeedsEncoding: true, ReadBy: "Go, curl, Python requests"}},
		{"NoProxySuffix", "https://api.internal.example.com", map[string]string{"HTTPS_PROXY": "http://p:1", "NO_PROXY": "localhost,.example.com"},
			&ProxyFacts{Var: "HTTPS_PROXY", URL: "http://p:1", Bypassed: true, NoProxy: "NO_PROXY=.example.com", ReadBy: "Go, curl, Python requests"}},
		{"NoProxyDomainMatchesItself", "https://example.com", map[string]string{"HTTPS_PROXY": "http://p:1", "no_proxy": "example.com"},
			&ProxyFacts{Var: "HTTPS_PROXY", URL: "http://p:1", Bypassed: true, NoProxy: "no_proxy=example.com", ReadBy: "Go, curl, Python requests"}},
		{"NoProxyCIDR", "https://10.1.2.3", map[string]string{"HTTPS_PROXY": "http://p:1", "NO_PROXY": "10.0.0.0/8"},
			&ProxyFacts{Var: "HTTPS_PROXY", URL: "http://p:1", Bypassed: true, NoProxy: "NO_PROXY=10.0.0.0/8", ReadBy: "Go, curl, Python requests"}},
		{"NoProxyOtherPort", "https://api.example.com", map[string]string{"HTTPS_PROXY": "http://p:1", "NO_PROXY": "api.example.com:8443"},
			&ProxyFacts{Var: "HTTPS_PROXY", URL: "http://p:1", ReadBy: "Go, curl, Python requests"}},
		{"LoopbackNeverProxied", "http://127.0.0.1:8080", map[string]string{"HTTP_PROXY": "http://p:1"},
			&ProxyFacts{Var: "HTTP_PROXY", URL: "http://p:1", Bypassed: true, NoProxy: "loopback (Go never proxies localhost or loopback addresses)", ReadBy: "Go, Python requests (curl ignores upper-case HTTP_PROXY)"}},
		{"AllProxyCurlOnly", "https://api.example.com", map[string]string{"ALL_PROXY": "socks5://p:1080"},
			&ProxyFacts{Var: "ALL_PROXY", URL: "socks5://p:1080", ReadBy: "curl (Go ignores ALL_PROXY)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := url.Parse(tt.target)
			if err != nil {
				t.Fatal(err)
			}
			got := Proxy(u, func(k string) string { return tt.env[k] })
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Proxy (-want +got):\n%s", diff)
			}
			if got != nil && (strings.Contains(got.URL, "s3cr") || strings.Contains(got.URL, "p@ss")) {
				t.Errorf("URL reveals the password: %s", got.URL)
			}
		})
	}
}
