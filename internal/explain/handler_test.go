package explain

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestHandlerStatuses(t *testing.T) {
	r := New(8)
	r.Observe(event("req-1", 1))
	srv := httptest.NewServer(Handler(r))
	t.Cleanup(srv.Close)
	client := &http.Client{Timeout: 5 * time.Second}

	tests := []struct {
		name        string
		method      string
		path        string
		status      int
		contentType string
		bodyHas     string
	}{
		{"known id", "GET", "/admin/decisions/req-1", 200, "application/json", `"reason":"token_expired"`},
		{"HEAD of a known id", "HEAD", "/admin/decisions/req-1", 200, "application/json", ""},
		{"unknown id", "GET", "/admin/decisions/req-2", 404, "application/problem+json", "no decision for request id req-2 is kept"},
		{"id with a forbidden character", "GET", "/admin/decisions/req%201", 400, "application/problem+json", "1 to 128 characters"},
		{"id with a slash", "GET", "/admin/decisions/a/b", 400, "application/problem+json", "1 to 128 characters"},
		{"empty id", "GET", "/admin/decisions/", 400, "application/problem+json", "1 to 128 characters"},
		{"id too long", "GET", "/admin/decisions/" + strings.Repeat("a", 129), 400, "application/problem+json", "1 to 128 characters"},
		{"longest id", "GET", "/admin/decisions/" + strings.Repeat("a", 128), 404, "application/problem+json", "is kept"},
		{"other method", "DELETE", "/admin/decisions/req-1", 405, "application/problem+json", "use GET"},
		{"other path", "GET", "/admin/other", 404, "application/problem+json", "/admin/decisions/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tt.status, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != tt.contentType {
				t.Errorf("Content-Type %q, want %q", ct, tt.contentType)
			}
			if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", cc)
			}
			if !strings.Contains(string(body), tt.bodyHas) {
				t.Errorf("body %s does not contain %q", body, tt.bodyHas)
			}
			if tt.status == 405 && resp.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("Allow %q", resp.Header.Get("Allow"))
			}
			if tt.status >= 400 {
				var p problem
				if err := json.Unmarshal(body, &p); err != nil || p.Status != tt.status || p.Title == "" || p.Type == "" {
					t.Errorf("problem body %s: %+v, %v", body, p, err)
				}
			}
		})
	}
}

// TestHandlerJSONHasTheDocumentedFields pins the admin API's document: scripts and
// `gatehouse explain --json` rely on these names.
func TestHandlerJSONHasTheDocumentedFields(t *testing.T) {
	r := New(1)
	r.Observe(event("req-1", 1))
	rec := httptest.NewRecorder()
	Handler(r).ServeHTTP(rec, httptest.NewRequest("GET", "/admin/decisions/req-1", nil))
	var got map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"request_id": "req-1", "client_request_id": "", "time": "2026-03-14T12:00:01Z", "route": "orders", "authenticator": "corp_jwt",
		"allow": false, "status": float64(401), "reason": "token_expired", "detail": "expired 4m12s ago",
		"cause": "", "subject": "", "fingerprint": "kid=k1", "client": "192.0.2.7", "decision_ms": 0.042,
		"fix": "Get a new token; refresh before exp.",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("document (-want +got):\n%s", diff)
	}
}
