package explain

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// FuzzHandlerPath feeds arbitrary request ids to the admin API: it never panics,
// answers only with its documented statuses, and finds an id only when it is valid.
func FuzzHandlerPath(f *testing.F) {
	f.Add("req-1")
	f.Add("")
	f.Add("a/b")
	f.Add("..")
	f.Add("%00")
	r := New(4)
	r.Observe(event("req-1", 1))
	h := Handler(r)
	f.Fuzz(func(t *testing.T, id string) {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.URL = &url.URL{Path: PathPrefix + id}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK:
			if !ValidID(id) {
				t.Fatalf("invalid id %q found", id)
			}
		case http.StatusBadRequest:
			if ValidID(id) {
				t.Fatalf("valid id %q refused", id)
			}
		case http.StatusNotFound:
		default:
			t.Fatalf("status %d for %q", rec.Code, id)
		}
	})
}
