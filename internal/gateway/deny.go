package gateway

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/challenge"
	"github.com/gatehouse-dev/gatehouse/internal/decision"
)

// ReasonDocs is where each reason code is documented; a problem's "type" is this URL
// with the reason as fragment, so a developer who sees one can read what it means.
const ReasonDocs = "https://github.com/gatehouse-dev/gatehouse/blob/main/docs/reasons.md"

// Problem is the RFC 9457 body of every denial.
type Problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail,omitempty"`
	Reason    string `json:"reason"`
	RequestID string `json:"request_id"`
}

// deny is the one place that renders a refusal: status, challenges, problem+json body,
// CORS headers, the log line and the observation. rt is nil when no route matched.
func (h *Handler) deny(w http.ResponseWriter, r *http.Request, rt *Route, d decision.Decision, ev *Event, origin string, corsOK bool) {
	status := d.Reason.Status()
	hd := w.Header()
	if rt != nil {
		for _, c := range h.challenges(r, rt, d) {
			hd.Add("WWW-Authenticate", c.String())
		}
	}
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		secs := int(d.RetryAfter.Seconds())
		if secs < 1 {
			secs = 1
		}
		hd.Set("Retry-After", strconv.Itoa(secs))
	}
	if corsOK {
		setCORS(hd, origin)
	}
	ev.Status, ev.Reason, ev.Detail, ev.Cause = status, d.Reason, d.Detail, d.Cause
	ev.Authenticator, ev.Fingerprint, ev.Subject = d.Authenticator, d.Fingerprint, d.Principal.Subject
	h.writeProblem(w, status, string(d.Reason), d.Reason.Title(), h.detail(d.Detail), ev.RequestID)
	h.record(r.Context(), time.Time{}, r.Method, r.URL.Path, ev)
}

func (h *Handler) detail(s string) string {
	if h.opts.TerseErrors {
		return ""
	}
	return s
}

// writeProblem writes an application/problem+json body with the headers every refusal
// carries.
func (h *Handler) writeProblem(w http.ResponseWriter, status int, reason, title, detail, rid string) {
	hd := w.Header()
	hd.Set("Content-Type", "application/problem+json")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	body, _ := json.Marshal(Problem{
		Type:      ReasonDocs + "#" + reason,
		Title:     title,
		Status:    status,
		Detail:    detail,
		Reason:    reason,
		RequestID: rid,
	})
	body = append(body, '\n')
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// challenges builds one challenge per scheme the route accepts (DESIGN.md section 2).
// Bearer carries error="invalid_token" only when a Bearer token was sent (RFC 6750 3.1),
// invalid_request with a 400, insufficient_scope with the scopes the route needs on a 403.
func (h *Handler) challenges(r *http.Request, rt *Route, d decision.Decision) []challenge.Challenge {
	status := d.Reason.Status()
	if status != 401 && status != 400 && !(status == 403 && d.Reason == decision.InsufficientScope) {
		return nil
	}
	var out []challenge.Challenge
	for _, scheme := range rt.Schemes() {
		c := challenge.Challenge{Scheme: scheme, Params: []challenge.Param{{Name: "realm", Value: h.opts.Realm}}}
		switch {
		case strings.EqualFold(scheme, "Bearer"):
			desc := h.detail(d.Detail)
			switch {
			case status == 400:
				c.Params = append(c.Params, challenge.Param{Name: "error", Value: "invalid_request"})
			case status == 403:
				c.Params = append(c.Params,
					challenge.Param{Name: "error", Value: "insufficient_scope"},
					challenge.Param{Name: "scope", Value: strings.Join(d.RequiredScopes, " ")})
			case d.CredentialScheme == "bearer":
				c.Params = append(c.Params, challenge.Param{Name: "error", Value: "invalid_token"})
			default:
				desc = ""
			}
			if desc != "" {
				c.Params = append(c.Params, challenge.Param{Name: "error_description", Value: desc})
			}
			c.Params = append(c.Params, challenge.Param{Name: "resource_metadata", Value: h.metadataURL(r)})
		case strings.EqualFold(scheme, "Basic"):
			if status == 403 {
				continue
			}
			c.Params = append(c.Params, challenge.Param{Name: "charset", Value: "UTF-8"})
		}
		out = append(out, c)
	}
	return out
}

// upstreamFailed renders an unreachable or slow upstream as 502/504 with a problem body:
// never a 401, since the credential was fine.
func (h *Handler) upstreamFailed(w http.ResponseWriter, r *http.Request, status int, err error) {
	reason, title := "upstream_unavailable", "Upstream unavailable"
	if status == http.StatusGatewayTimeout {
		reason, title = "upstream_timeout", "Upstream timed out"
	}
	rid := r.Header.Get("X-Gatehouse-Request-Id")
	detail := "the upstream could not be reached"
	if status == http.StatusGatewayTimeout {
		detail = "the upstream did not answer in time"
	}
	h.log.LogAttrs(r.Context(), slog.LevelWarn, "upstream failed",
		slog.String("request_id", rid), slog.String("path", r.URL.Path), slog.String("error", err.Error()))
	h.writeProblem(w, status, reason, title, h.detail(detail), rid)
}
