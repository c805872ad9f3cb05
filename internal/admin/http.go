package admin

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
)

// Paths of the admin API.
const (
	APIPrefix = "/admin/v1/"
	// Realm is the realm of the admin API's Bearer challenge.
	Realm = "gatehouse-admin"
	// MaxBodyBytes bounds a request body: every request is a few flags.
	MaxBodyBytes = 64 << 10
	// MaxPage is the most records one listing call returns.
	MaxPage = 1000
	// reasonDocs is where the reason codes of problem answers are documented.
	reasonDocs = "https://github.com/gatehouse-dev/gatehouse/blob/main/docs/reasons.md"
)

// HandlerOptions configure Handler.
type HandlerOptions struct {
	// Service returns the service to run calls on, or nil while no store is open (every
	// call is then a 503). It is called once per request, so a reload's new
	// configuration applies at once.
	Service func() *Service
	// Decisions, when set, serves GET /admin/decisions/{id} behind the same admin
	// credential.
	Decisions http.Handler
	// Log receives failures of the admin API (never a secret); nil discards them.
	Log *slog.Logger
}

// Handler serves the admin API (APIPrefix) and, with opts.Decisions, the decisions
// lookup: every request needs a valid admin token in Authorization: Bearer.
func Handler(opts HandlerOptions) http.Handler {
	h := &handler{o: opts}
	if h.o.Log == nil {
		h.o.Log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	for _, rt := range h.routes() {
		mux.HandleFunc(rt.method+" "+rt.path, h.authed(rt.fn))
	}
	if opts.Decisions != nil {
		mux.HandleFunc("/admin/decisions/", h.authed(func(w http.ResponseWriter, r *http.Request, _ *Session) {
			opts.Decisions.ServeHTTP(w, r)
		}))
	}
	mux.HandleFunc("/admin/", h.authed(func(w http.ResponseWriter, r *http.Request, _ *Session) {
		writeProblem(w, r, http.StatusNotFound, "Not found", "the admin API has no "+r.Method+" "+r.URL.Path+"; see "+APIPrefix+"openapi.json", "")
	}))
	return mux
}

type handler struct{ o HandlerOptions }

// route is one endpoint of the admin API; the OpenAPI document describes exactly these
// (a test holds the two together).
type route struct {
	method, path string
	fn           func(http.ResponseWriter, *http.Request, *Session)
}

func (h *handler) routes() []route {
	return []route{
		{"GET", "/admin/v1/keys", h.listKeys},
		{"POST", "/admin/v1/keys", h.createKey},
		{"POST", "/admin/v1/keys/{id}/revoke", h.revokeKey},
		{"POST", "/admin/v1/keys/{id}/rotate", h.rotateKey},
		{"GET", "/admin/v1/users/{name}", h.getUser},
		{"POST", "/admin/v1/users", h.addUser},
		{"POST", "/admin/v1/users/{name}/passwd", h.setPassword},
		{"POST", "/admin/v1/users/{name}/remove", h.removeUser},
		{"GET", "/admin/v1/clients", h.listClients},
		{"POST", "/admin/v1/clients", h.createClient},
		{"POST", "/admin/v1/clients/{id}/remove", h.removeClient},
		{"GET", "/admin/v1/signing-keys", h.listSigningKeys},
		{"POST", "/admin/v1/signing-keys/rotate", h.rotateSigningKey},
		{"GET", "/admin/v1/audit", h.listAudit},
		{"GET", "/admin/v1/openapi.json", h.openapi},
	}
}

// authed wraps an endpoint with the checks every admin call passes first: no credential
// in the query string, a valid admin token, a store that answers.
func (h *handler) authed(next func(http.ResponseWriter, *http.Request, *Session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if name, ok := credentialInQuery(r); ok {
			writeProblem(w, r, http.StatusBadRequest, "Bad request",
				"credentials in the query string are refused (parameter "+strconv.Quote(name)+"): URLs end up in logs and browser history; send the admin token in Authorization: Bearer", string(decision.InvalidRequest))
			return
		}
		tok, ok := bearer(r.Header.Values("Authorization"))
		if !ok {
			unauthorized(w, r, decision.CredentialsMissing, "this call needs an admin token in Authorization: Bearer (create one with gatehouse admin-tokens create)")
			return
		}
		svc := h.o.Service()
		if svc == nil {
			writeProblem(w, r, http.StatusServiceUnavailable, "Service unavailable", "no credential store is open, so admin tokens cannot be checked", string(decision.AuthenticatorUnavailable))
			return
		}
		caller, err := svc.Authenticate(r.Context(), tok, r.RemoteAddr)
		switch {
		case errors.Is(err, ErrBadToken):
			unauthorized(w, r, decision.CredentialsInvalid, "the admin token is not valid (unknown, expired or revoked)")
			return
		case err != nil:
			h.o.Log.Warn("admin API: checking an admin token failed", "error", err)
			writeProblem(w, r, http.StatusServiceUnavailable, "Service unavailable", "the credential store is unavailable, so the admin token cannot be checked", string(decision.AuthenticatorUnavailable))
			return
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		}
		next(w, r, svc.As(caller))
	}
}

// credentialInQuery reports a query parameter that carries a credential: one named like
// a token, or any value that is an admin token.
func credentialInQuery(r *http.Request) (string, bool) {
	q, err := parseQuery(r.URL.RawQuery)
	if err != nil {
		return "", false
	}
	for name, vs := range q {
		switch strings.ToLower(name) {
		case "access_token", "token", "admin_token", "authorization", "bearer":
			return name, true
		}
		for _, v := range vs {
			if strings.HasPrefix(strings.TrimSpace(v), TokenPrefix) {
				return name, true
			}
		}
	}
	return "", false
}

func parseQuery(raw string) (map[string][]string, error) {
	out := map[string][]string{}
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		k, err := unescape(k)
		if err != nil {
			return nil, err
		}
		v, err = unescape(v)
		if err != nil {
			return nil, err
		}
		out[k] = append(out[k], v)
	}
	return out, nil
}

func unescape(s string) (string, error) {
	s = strings.ReplaceAll(s, "+", " ")
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", errors.New("bad escape")
		}
		n, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			return "", err
		}
		b.WriteByte(byte(n))
		i += 2
	}
	return b.String(), nil
}

// bearer returns the token of the one Authorization: Bearer header.
func bearer(values []string) (string, bool) {
	if len(values) != 1 {
		return "", false
	}
	scheme, tok, ok := strings.Cut(strings.TrimSpace(values[0]), " ")
	tok = strings.TrimSpace(tok)
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "", false
	}
	return tok, true
}

// problem is the RFC 9457 body of every refusal, the shape the gateway's denials use.
type problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail,omitempty"`
	Reason    string `json:"reason,omitempty"`
	RequestID string `json:"request_id"`
}

func unauthorized(w http.ResponseWriter, r *http.Request, reason decision.Reason, detail string) {
	ch := `Bearer realm="` + Realm + `"`
	if reason == decision.CredentialsInvalid {
		ch += `, error="invalid_token"`
	}
	w.Header().Set("WWW-Authenticate", ch)
	writeProblem(w, r, http.StatusUnauthorized, reason.Title(), detail, string(reason))
}

func requestID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func writeProblem(w http.ResponseWriter, r *http.Request, status int, title, detail, reason string) {
	typ := "about:blank"
	if reason != "" {
		typ = reasonDocs + "#" + reason
	}
	id := requestID()
	w.Header().Set("X-Request-Id", id)
	writeBody(w, r, status, "application/problem+json", problem{Type: typ, Title: title, Status: status, Detail: detail, Reason: reason, RequestID: id})
}

func writeBody(w http.ResponseWriter, r *http.Request, status int, contentType string, v any) {
	body, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"title":"Internal error","status":500}`)
	}
	body = append(body, '\n')
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

// fail answers an operation's error.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ae *Error
	if !errors.As(err, &ae) {
		ae = classify(err, "", "").(*Error)
	}
	switch ae.Status {
	case http.StatusServiceUnavailable:
		h.o.Log.Warn("admin API: store unavailable", "path", r.URL.Path, "error", err)
		writeProblem(w, r, ae.Status, "Service unavailable", ae.Msg, string(decision.AuthenticatorUnavailable))
	case http.StatusInternalServerError:
		h.o.Log.Error("admin API: failed", "path", r.URL.Path, "error", err)
		writeProblem(w, r, ae.Status, "Internal error", "the operation failed; the gateway's log has the cause", "")
	default:
		writeProblem(w, r, ae.Status, http.StatusText(ae.Status), ae.Msg, "")
	}
}

// decodeBody reads a JSON object into v, refusing unknown members (naming every one),
// trailing data and bodies over MaxBodyBytes.
func decodeBody(r *http.Request, v any) error {
	raw, err := io.ReadAll(r.Body)
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return &Error{Status: http.StatusRequestEntityTooLarge, Msg: fmt.Sprintf("the request body is over %d bytes", MaxBodyBytes)}
	}
	if err != nil {
		return badRequest("reading the request body: %v", err)
	}
	if len(strings.TrimSpace(string(raw))) == 0 {
		raw = []byte("{}")
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil {
		return badRequest("the request body is not a JSON object: %v", err)
	}
	// encoding/json keeps the last of two members with one name; a proxy or a log
	// reader may keep the first. Refuse the ambiguity instead of picking one.
	if dups := duplicateMembers(raw); len(dups) > 0 {
		return badRequest("duplicate member(s) %s", strings.Join(dups, ", "))
	}
	known := map[string]bool{}
	t := reflect.TypeOf(v).Elem()
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		known[name] = true
	}
	var unknown []string
	for k := range members {
		if !known[k] {
			unknown = append(unknown, strconv.Quote(k))
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		var names []string
		for k := range known {
			names = append(names, k)
		}
		sort.Strings(names)
		return badRequest("unknown member(s) %s (known: %s)", strings.Join(unknown, ", "), strings.Join(names, ", "))
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return badRequest("the request body does not fit: %v", err)
	}
	return nil
}

// page reads ?after= and ?limit= (1-MaxPage, default MaxPage).
func page(r *http.Request) (string, int, error) {
	q := r.URL.Query()
	limit := MaxPage
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxPage {
			return "", 0, badRequest("limit must be a number from 1 to %d", MaxPage)
		}
		limit = n
	}
	return q.Get("after"), limit, nil
}

func (h *handler) listKeys(w http.ResponseWriter, r *http.Request, s *Session) {
	after, limit, err := page(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out, err := s.ListKeys(r.Context(), after, limit)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeBody(w, r, http.StatusOK, "application/json", out)
}

func (h *handler) createKey(w http.ResponseWriter, r *http.Request, s *Session) {
	var req CreateKeyRequest
	if err := decodeBody(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	out, err := s.CreateKey(r.Context(), req)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeBody(w, r, http.StatusCreated, "application/json", out)
}

func (h *handler) revokeKey(w http.ResponseWriter, r *http.Request, s *Session) {
	var req struct{}
	if err := decodeBody(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	out, err := s.RevokeKey(r.Context(), r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeBody(w, r, http.StatusOK, "application/json", out)
}

func (h *handler) rotateKey(w http.ResponseWriter, r *http.Request, s *Session) {
	var req RotateKeyRequest
	if err := decodeBody(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	out, err := s.RotateKey(r.Context(), r.PathValue("id"), req)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeBody(w, r, http.StatusCreated, "application/json", out)
}

func (h *handler) listAudit(w http.ResponseWriter, r *http.Request, s *Session) {
	afterS, limit, err := page(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var after int64
	if afterS != "" {
		if after, err = strconv.ParseInt(afterS, 10, 64); err != nil || after < 0 {
			h.fail(w, r, badRequest("after must be a sequence number"))
			return
		}
	}
	out, err := s.ListAudit(r.Context(), after, limit)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeBody(w, r, http.StatusOK, "application/json", out)
}

func (h *handler) listClients(w http.ResponseWriter, r *http.Request, s *Session) {
	after, limit, err := page(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out, err := s.ListClients(r.Context(), after, limit)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeBody(w, r, http.StatusOK, "application/json", out)
}

func (h *handler) createClient(w http.ResponseWriter, r *http.Request, s *Session) {
	var req CreateClientRequest
	if err := decodeBody(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	out, err := s.CreateClient(r.Context(), req)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeBody(w, r, http.StatusCreated, "application/json", out)
}

func (h *handler) removeClient(w http.ResponseWriter, r *http.Request, s *Session) {
	var req struct{}
	if err := decodeBody(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	out, err := s.RemoveClient(r.Context(), r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeBody(w, r, http.StatusOK, "application/json", out)
}

func (h *handler) listSigningKeys(w http.ResponseWriter, r *http.Request, s *Session) {
	out, err := s.ListSigningKeys(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeBody(w, r, http.StatusOK, "application/json", out)
}

func (h *handler) rotateSigningKey(w http.ResponseWriter, r *http.Request, s *Session) {
	var req RotateSigningKeyRequest
	if err := decodeBody(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	out, err := s.RotateSigningKey(r.Context(), req)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeBody(w, r, http.StatusCreated, "application/json", out)
}

func (h *handler) getUser(w http.ResponseWriter, r *http.Request, s *Session) {
	out, err := s.User(r.Context(), r.PathValue("name"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeBody(w, r, http.StatusOK, "application/json", out)
}

func (h *handler) addUser(w http.ResponseWriter, r *http.Request, s *Session) {
	var req AddUserRequest
	if err := decodeBody(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	out, err := s.AddUser(r.Context(), req)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeBody(w, r, http.StatusCreated, "application/json", out)
}

func (h *handler) setPassword(w http.ResponseWriter, r *http.Request, s *Session) {
	var req SetPasswordRequest
	if err := decodeBody(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	out, err := s.SetPassword(r.Context(), r.PathValue("name"), req)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeBody(w, r, http.StatusOK, "application/json", out)
}

func (h *handler) removeUser(w http.ResponseWriter, r *http.Request, s *Session) {
	var req struct{}
	if err := decodeBody(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	out, err := s.RemoveUser(r.Context(), r.PathValue("name"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeBody(w, r, http.StatusOK, "application/json", out)
}

// duplicateMembers returns the quoted names that occur more than once among the members
// of the JSON object raw (already known to be valid), sorted.
func duplicateMembers(raw []byte) []string {
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	if _, err := dec.Token(); err != nil { // {
		return nil
	}
	seen := map[string]int{}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return nil
		}
		name, _ := k.(string)
		seen[name]++
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil
		}
	}
	var out []string
	for k, n := range seen {
		if n > 1 {
			out = append(out, strconv.Quote(k))
		}
	}
	sort.Strings(out)
	return out
}
