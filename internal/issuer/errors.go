package issuer

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/challenge"
)

// MaxBodyBytes bounds the body of a POST to the token service. Real requests are a few
// hundred bytes; a larger body is refused without being read past this bound.
const MaxBodyBytes = 64 << 10

// The error codes of RFC 6749 section 5.2 (and RFC 7009 2.2.1), plus the 503 and 429
// answers. Only these reach a client.
const (
	codeInvalidRequest         = "invalid_request"
	codeInvalidClient          = "invalid_client"
	codeInvalidGrant           = "invalid_grant"
	codeUnauthorizedClient     = "unauthorized_client"
	codeUnsupportedGrantType   = "unsupported_grant_type"
	codeInvalidScope           = "invalid_scope"
	codeTemporarilyUnavailable = "temporarily_unavailable"
	// codeTooManyFailures answers a request whose client address or client_id spent its
	// failure budget (429), with Retry-After. It is Gatehouse's reason code; RFC 6749
	// defines none for this case.
	codeTooManyFailures = "too_many_failures"
	codeServerError     = "server_error"
)

// oauthError is one refusal: what the client sees (status, code, description) and what
// only the log sees (cause).
type oauthError struct {
	status      int
	code        string
	description string
	cause       string
	retryAfter  time.Duration
}

func (e *oauthError) Error() string { return e.code + ": " + e.description }

func errRequest(desc, cause string) *oauthError {
	return &oauthError{status: http.StatusBadRequest, code: codeInvalidRequest, description: desc, cause: cause}
}

func errClient(desc, cause string) *oauthError {
	return &oauthError{status: http.StatusUnauthorized, code: codeInvalidClient, description: desc, cause: cause}
}

func errUnavailable(desc, cause string) *oauthError {
	return &oauthError{status: http.StatusServiceUnavailable, code: codeTemporarilyUnavailable, description: desc, cause: cause, retryAfter: time.Second}
}

// statusOf is the HTTP status of each code (RFC 6749 5.2: 400 except invalid_client).
var statusOf = map[string]int{
	codeInvalidRequest:         http.StatusBadRequest,
	codeInvalidClient:          http.StatusUnauthorized,
	codeInvalidGrant:           http.StatusBadRequest,
	codeUnauthorizedClient:     http.StatusBadRequest,
	codeUnsupportedGrantType:   http.StatusBadRequest,
	codeInvalidScope:           http.StatusBadRequest,
	codeTemporarilyUnavailable: http.StatusServiceUnavailable,
	codeTooManyFailures:        http.StatusTooManyRequests,
	codeServerError:            http.StatusInternalServerError,
}

// noStore sets the headers RFC 6749 5.1 requires on every token-endpoint response, and
// that every response here carries: nothing the service answers may be cached.
func noStore(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
}

// writeError renders e as an RFC 6749 5.2 error object.
func (s *Server) writeError(w http.ResponseWriter, e *oauthError) {
	h := w.Header()
	noStore(h)
	h.Set("Content-Type", "application/json")
	status := e.status
	if status == 0 {
		status = statusOf[e.code]
	}
	if e.code == codeInvalidClient {
		// RFC 6749 5.2: a failed client authentication is 401 with a challenge for the
		// scheme the client may use.
		h.Set("WWW-Authenticate", challenge.Challenge{Scheme: "Basic", Params: []challenge.Param{
			{Name: "realm", Value: s.policy.Load().Realm}, {Name: "charset", Value: "UTF-8"},
		}}.String())
	}
	if e.retryAfter > 0 {
		h.Set("Retry-After", retrySeconds(e.retryAfter))
	}
	body := struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{e.code, descriptionSafe(e.description)}
	b, _ := json.Marshal(body)
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// descriptionSafe keeps error_description within RFC 6749's character set
// (%x20-21 / %x23-5B / %x5D-7E): no '"', no '\', printable ASCII only.
func descriptionSafe(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '"':
			return '\''
		case r == '\\':
			return '/'
		case r < 0x20 || r > 0x7e:
			return '?'
		}
		return r
	}, s)
}

// writeJSON writes a 200 JSON answer that no cache may keep.
func writeJSON(w http.ResponseWriter, v any) {
	noStore(w.Header())
	w.Header().Set("Content-Type", "application/json")
	b, _ := json.Marshal(v)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append(b, '\n'))
}

// knownParams are the parameters whose names an error message may repeat.
var knownParams = map[string]bool{
	"grant_type": true, "scope": true, "client_id": true, "client_secret": true,
	"token": true, "token_type_hint": true, "resource": true, "audience": true,
}

// readForm reads a POST body of application/x-www-form-urlencoded parameters, strictly:
// the method must be POST, the URL must carry no parameters (secrets do not belong in
// URLs and logs), the body is at most MaxBodyBytes, and no parameter may repeat
// (RFC 6749 3.1). Parameters with empty values are dropped, as RFC 6749 3.1 says
// they are treated as omitted.
func readForm(w http.ResponseWriter, r *http.Request) (url.Values, *oauthError) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return nil, &oauthError{status: http.StatusMethodNotAllowed, code: codeInvalidRequest,
			description: "this endpoint accepts only POST", cause: "method_not_post"}
	}
	if r.URL.RawQuery != "" {
		return nil, errRequest("parameters must be sent in the request body, not in the URL", "query_parameters")
	}
	ct := r.Header.Values("Content-Type")
	if len(ct) != 1 {
		return nil, errRequest("the body must be application/x-www-form-urlencoded (one Content-Type header)", "content_type_missing")
	}
	mt, params, err := mime.ParseMediaType(ct[0])
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, errRequest("the body must be application/x-www-form-urlencoded", "content_type_wrong")
	}
	for k, v := range params {
		if k != "charset" || !strings.EqualFold(v, "utf-8") {
			return nil, errRequest("the only Content-Type parameter accepted is charset=utf-8", "content_type_param")
		}
	}
	if r.ContentLength > MaxBodyBytes {
		return nil, errRequest(fmt.Sprintf("the body is %d bytes; at most %d are accepted", r.ContentLength, MaxBodyBytes), "body_too_large")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, errRequest(fmt.Sprintf("the body is larger than %d bytes", MaxBodyBytes), "body_too_large")
		}
		return nil, errRequest("the body could not be read", "body_read")
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, errRequest("the body is not valid application/x-www-form-urlencoded", "form_malformed")
	}
	var repeated []string
	for name, vals := range form {
		if len(vals) > 1 {
			if knownParams[name] {
				repeated = append(repeated, name)
			} else {
				repeated = append(repeated, "(a parameter)")
			}
		}
	}
	if len(repeated) > 0 {
		sort.Strings(repeated)
		return nil, errRequest("parameter "+repeated[0]+" is repeated; each parameter may appear once (RFC 6749 3.1)", "parameter_repeated")
	}
	for name, vals := range form {
		if vals[0] == "" {
			delete(form, name)
		}
	}
	return form, nil
}
