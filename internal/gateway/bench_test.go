package gateway

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
)

// BenchmarkHandlerAllow measures the gateway's own overhead on an allowed request: header
// hygiene, routing, the decision with an instant authenticator, identity headers and the
// log line, in front of an in-memory upstream.
func BenchmarkHandlerAllow(b *testing.B) {
	auth := &tokenAuth{name: "jwt", tokens: map[string]decision.Principal{"good": {Subject: "alice", Scopes: []string{"a", "b"}}}}
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })
	h := New(Options{
		Realm:  "bench",
		Routes: []*Route{{Route: &decision.Route{Name: "api", PathPrefix: "/api", Authenticators: []decision.Authenticator{auth}}, Proxy: upstream}},
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
	})
	req := httptest.NewRequest("GET", "/api/orders", nil)
	req.Header.Set("Authorization", "Bearer good")
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}

// BenchmarkHandlerDeny measures the denial path: challenges, problem body, log line.
func BenchmarkHandlerDeny(b *testing.B) {
	auth := &tokenAuth{name: "jwt"}
	h := New(Options{
		Realm:  "bench",
		Routes: []*Route{{Route: &decision.Route{Name: "api", PathPrefix: "/api", Authenticators: []decision.Authenticator{auth}}}},
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
	})
	req := httptest.NewRequest("GET", "/api/orders", nil)
	req.Header.Set("Authorization", "Bearer bad")
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 401 {
			b.Fatal(w.Code)
		}
	}
}

// BenchmarkHandlerHeaderMapping is BenchmarkHandlerAllow with claims on the principal:
// without any mapping, with a mapping configured for another authenticator only (the
// client's copies are still stripped from every request), and with a two-header mapping
// (a string and an array joined) applied.
func BenchmarkHandlerHeaderMapping(b *testing.B) {
	claims := map[string]any{"email": "alice@example.com", "groups": []any{"billing", "ops"}}
	auth := &tokenAuth{name: "jwt", tokens: map[string]decision.Principal{"good": {Subject: "alice", Scopes: []string{"a", "b"}, Claims: claims}}}
	m, err := identity.NewMapping([][2]string{{"X-User-Email", "email"}, {"X-User-Groups", "groups"}})
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		mappings map[string]*identity.Mapping
	}{
		{"none", nil},
		{"other authenticator", map[string]*identity.Mapping{"other": m}},
		{"two headers", map[string]*identity.Mapping{"jwt": m}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })
			h := New(Options{
				Realm:          "bench",
				Routes:         []*Route{{Route: &decision.Route{Name: "api", PathPrefix: "/api", Authenticators: []decision.Authenticator{auth}}, Proxy: upstream}},
				Logger:         slog.New(slog.NewJSONHandler(io.Discard, nil)),
				HeaderMappings: tc.mappings,
			})
			req := httptest.NewRequest("GET", "/api/orders", nil)
			req.Header.Set("Authorization", "Bearer good")
			req.Header.Set("Accept", "*/*")
			req.Header.Set("User-Agent", "bench")
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != 200 {
					b.Fatal(w.Code)
				}
			}
		})
	}
}
