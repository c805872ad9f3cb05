package app

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse/internal/buildinfo"
)

func TestHealthzNamesTheBuildInTextOrJSON(t *testing.T) {
	info := buildinfo.Info{Version: "v1.2.0", Revision: "3f2c1a9b4d5e6f708192a3b4c5d6e7f809112233",
		Time: "2026-12-07T22:00:00Z", GoVersion: "go1.26.8", Platform: "linux/amd64"}
	text := "ok\ngatehouse v1.2.0 (revision 3f2c1a9b4d5e, 2026-12-07T22:00:00Z) go1.26.8 linux/amd64\n"
	const asJSON = "json"
	tests := []struct {
		name   string
		accept []string
		want   string
	}{
		{"a probe without Accept", nil, text},
		{"anything", []string{"*/*"}, text},
		{"text", []string{"text/plain"}, text},
		{"json", []string{"application/json"}, asJSON},
		{"json among others", []string{"text/html, application/json;q=0.9"}, asJSON},
		{"json in a second header line", []string{"text/html", "Application/JSON"}, asJSON},
		{"json refused with q=0", []string{"application/json;q=0, text/plain"}, text},
		{"json with a weight that does not parse", []string{"application/json;q=x"}, text},
		{"problem+json is not json", []string{"application/problem+json"}, text},
		{"garbage", []string{";;;,\x00"}, text},
	}
	h := healthz(info)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/healthz", nil)
			for _, a := range tt.accept {
				r.Header.Add("Accept", a)
			}
			w := httptest.NewRecorder()
			h(w, r)
			if w.Code != http.StatusOK {
				t.Fatalf("status %d, want 200", w.Code)
			}
			if got := w.Header().Get("Vary"); got != "Accept" {
				t.Errorf("Vary %q, want Accept", got)
			}
			ct := w.Header().Get("Content-Type")
			if tt.want != asJSON {
				if ct != "text/plain; charset=utf-8" || w.Body.String() != tt.want {
					t.Errorf("got %q %q, want text %q", ct, w.Body.String(), tt.want)
				}
				return
			}
			if ct != "application/json" {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
			var got map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
				t.Fatalf("body does not parse: %v\n%s", err, w.Body.String())
			}
			want := map[string]any{"status": "ok", "version": "v1.2.0", "revision": "3f2c1a9b4d5e6f708192a3b4c5d6e7f809112233",
				"time": "2026-12-07T22:00:00Z", "dirty": false, "go_version": "go1.26.8", "platform": "linux/amd64"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
		})
	}
}
