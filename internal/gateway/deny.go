package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/challenge"
	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/proxy"
	"github.com/gatehouse-dev/gatehouse/internal/tracing"
)

// ReasonDocs is where each reason code is documented; a problem's "type" is this URL
// with the reason as fragment, so a developer who sees one can read what it means.
const ReasonDocs = "https://github.com/gatehouse-dev/gatehouse/blob/main/docs/reasons.md"

// Problem is the RFC 9457 body of every denial.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	Reason string `json:"reason"`
	// RequestID is the gateway's own id for the request: the one in the X-Request-Id
	// response header and the one `gatehouse explain` looks up.
	RequestID string `json:"request_id"`
	// ClientRequestID is the X-Request-Id the client sent, when it had the accepted
	// shape, for the client's own correlation; it names nothing in the gateway.
	ClientRequestID string `json:"client_request_id,omitempty"`
	// TraceID is the request's OpenTelemetry trace id, present only while tracing is on.
	TraceID string `json:"trace_id,omitempty"`
}

// Reasons the gateway itself reports, besides the decision's: the outcome of an allowed
// request whose upstream failed, and a request refused before any route was matched.
const (
	UpstreamUnavailable decision.Reason = "upstream_unavailable"
	UpstreamTimeout     decision.Reason = "upstream_timeout"
	HeadersTooLarge     decision.Reason = "headers_too_large"
)

// Reasons lists the gateway's own reason codes, in the order of docs/reasons.md.
var Reasons = []decision.Reason{HeadersTooLarge, UpstreamUnavailable, UpstreamTimeout}

// statusOf and titleOf extend decision.Reason's Status and Title to the gateway's own
// reasons.
func statusOf(r decision.Reason) int {
	switch r {
	case UpstreamUnavailable:
		return http.StatusBadGateway
	case UpstreamTimeout:
		return http.StatusGatewayTimeout
	case HeadersTooLarge:
		return http.StatusRequestHeaderFieldsTooLarge
	}
	return r.Status()
}

func titleOf(r decision.Reason) string {
	switch r {
	case UpstreamUnavailable:
		return "Upstream unavailable"
	case UpstreamTimeout:
		return "Upstream timed out"
	case HeadersTooLarge:
		return "Request header fields too large"
	}
	return r.Title()
}

// deny is the one place that renders a refusal: status, challenges, problem+json body,
// CORS headers, the log line and the observation. rt is nil when no route matched.
func (h *Handler) deny(w http.ResponseWriter, r *http.Request, rt *Route, d decision.Decision, ev *Event, origin string, corsOK bool) {
	status := statusOf(d.Reason)
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
	if h.opts.Tracer != nil && ev.TraceID == "" {
		ev.TraceID = tracing.TraceID(r.Context())
	}
	h.writeProblem(w, status, d.Reason, h.detail(d.Detail), ev)
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
func (h *Handler) writeProblem(w http.ResponseWriter, status int, reason decision.Reason, detail string, ev *Event) {
	hd := w.Header()
	hd.Set("Content-Type", "application/problem+json")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	body, _ := json.Marshal(Problem{
		Type:            ReasonDocs + "#" + string(reason),
		Title:           titleOf(reason),
		Status:          status,
		Detail:          detail,
		Reason:          string(reason),
		RequestID:       ev.RequestID,
		ClientRequestID: ev.ClientRequestID,
		TraceID:         ev.TraceID,
	})
	body = append(body, '\n')
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// challenges builds one challenge per scheme the route accepts (docs/design.md, section 2).
// Bearer carries error="invalid_token" only when a Bearer token was sent (RFC 6750 3.1),
// invalid_request with a 400, insufficient_scope with the scopes the route needs on a 403.
func (h *Handler) challenges(r *http.Request, rt *Route, d decision.Decision) []challenge.Challenge {
	status := statusOf(d.Reason)
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
// never a 401, since the credential was fine. It notes the failure on the upstreamWriter
// the request is served through, and allow turns the request's Event into the refusal
// the client got, so that the log line, the metrics and explain record a 502/504 and its
// reason, not the allow.
func (h *Handler) upstreamFailed(w http.ResponseWriter, r *http.Request, status int, err error) {
	reason, detail := UpstreamUnavailable, "the upstream could not be reached"
	if status == http.StatusGatewayTimeout {
		reason, detail = UpstreamTimeout, "the upstream did not answer in time"
	}
	ids := Event{RequestID: r.Header.Get(proxy.HeaderRequestID)}
	if uw, ok := w.(*upstreamWriter); ok {
		uw.reason, uw.detail, uw.cause = reason, detail, upstreamCause(r.Context(), err)
		ids.RequestID, ids.ClientRequestID, ids.TraceID = uw.rid, uw.clientRID, uw.traceID
	}
	h.writeProblem(w, status, reason, h.detail(detail), &ids)
}

// upstreamCause classifies an upstream failure for the log: the error's text is left
// out, since it may quote the upstream's address or a TLS peer's certificate.
func upstreamCause(ctx context.Context, err error) string {
	var ne net.Error
	var op *net.OpError
	cause := "transport_error"
	switch {
	case ctx.Err() != nil:
		return "client_gone"
	case errors.As(err, &op) && op.Op == "dial":
		cause = "connect_failed"
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "connection_closed"
	}
	// The system's own words ("connection refused", "connection reset by peer") name
	// the failure without naming anything else.
	var errno syscall.Errno
	if errors.As(err, &errno) {
		cause += ": " + errno.Error()
	}
	return cause
}

// upstreamWriter is the ResponseWriter a proxied request is served through. It keeps
// the status the client was sent and, when the upstream failed, why, so that the decision
// is recorded as what the client got. Flushing and hijacking reach the server's writer
// through Unwrap (http.ResponseController). It holds copies, not the request's Event,
// which can then stay on the stack.
type upstreamWriter struct {
	http.ResponseWriter
	rid, clientRID string
	traceID        string
	status         int
	reason         decision.Reason // set by upstreamFailed
	detail, cause  string
}

var upstreamWriters = sync.Pool{New: func() any { return new(upstreamWriter) }}

func (u *upstreamWriter) WriteHeader(code int) {
	if u.status == 0 && code >= 200 {
		u.status = code
	}
	u.ResponseWriter.WriteHeader(code)
}

func (u *upstreamWriter) Write(b []byte) (int, error) {
	if u.status == 0 {
		u.status = http.StatusOK
	}
	return u.ResponseWriter.Write(b)
}

// Unwrap returns the server's writer, for http.ResponseController.
func (u *upstreamWriter) Unwrap() http.ResponseWriter { return u.ResponseWriter }
