package admin

import (
	_ "embed"
	"net/http"
	"strconv"
)

// openAPIDoc is the OpenAPI 3.1 description of the admin API, served at
// /admin/v1/openapi.json.
//
//go:embed openapi.json
var openAPIDoc []byte

func (h *handler) openapi(w http.ResponseWriter, r *http.Request, _ *Session) {
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Content-Length", strconv.Itoa(len(openAPIDoc)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(openAPIDoc)
	}
}
