package explain

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// PathPrefix is where the admin API serves decisions: GET PathPrefix + "{id}".
const PathPrefix = "/admin/decisions/"

// problem is an RFC 9457 body for the admin API's refusals.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

// Handler answers GET /admin/decisions/{id} from r: 200 with the Entry as JSON, 404
// with an application/problem+json body for an id the ring does not hold (never seen,
// or evicted), 400 for an id that is not 1-128 characters of [A-Za-z0-9._-] (the ids
// the gateway issues), 405 for another method, and 404 for any other path. Responses
// are never cached. Mount it on the admin listener only: entries name principals and
// clients.
func Handler(r *Ring) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		id, ok := strings.CutPrefix(req.URL.Path, PathPrefix)
		if !ok {
			writeProblem(w, http.StatusNotFound, "Not found", "the admin API serves decisions at "+PathPrefix+"{request id}")
			return
		}
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeProblem(w, http.StatusMethodNotAllowed, "Method not allowed", "use GET")
			return
		}
		if !ValidID(id) {
			writeProblem(w, http.StatusBadRequest, "Bad request", "a request id is 1 to 128 characters of A-Z, a-z, 0-9, '.', '_' and '-'")
			return
		}
		e, found := r.Lookup(id)
		if !found {
			writeProblem(w, http.StatusNotFound, "Unknown request id",
				"no decision for request id "+id+" is kept: it was never made by this gateway process, or it is older than the last "+strconv.Itoa(r.Size())+" decisions")
			return
		}
		body, err := json.Marshal(e)
		if err != nil {
			writeProblem(w, http.StatusInternalServerError, "Internal error", "the decision could not be encoded")
			return
		}
		write(w, http.StatusOK, "application/json", append(body, '\n'))
	})
}

// ValidID reports whether id has the shape of a gateway request id: 1 to 128
// characters of [A-Za-z0-9._-].
func ValidID(id string) bool {
	if len(id) < 1 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func writeProblem(w http.ResponseWriter, status int, title, detail string) {
	body, _ := json.Marshal(problem{Type: "about:blank", Title: title, Status: status, Detail: detail})
	write(w, status, "application/problem+json", append(body, '\n'))
}

func write(w http.ResponseWriter, status int, contentType string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
