package gateway

import (
	"context"
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/gatehouse-dev/gatehouse/internal/proxy"
	"github.com/gatehouse-dev/gatehouse/internal/tracing"
)

// Span attribute keys of the gateway's server span. Their values come from the
// configuration (route and authenticator names), fixed sets (reason codes, decisions,
// methods) or the gateway itself (request id, status): never a credential or a claim.
const (
	AttrRoute         = "gatehouse.route"
	AttrAuthenticator = "gatehouse.authenticator"
	AttrReason        = "gatehouse.reason"
	AttrDecision      = "gatehouse.decision"
	AttrRequestID     = "gatehouse.request_id"
)

// startSpan starts the request's server span and returns the request carrying it. The
// client's trace context is the parent only when the peer is a trusted proxy.
func (h *Handler) startSpan(r *http.Request) (*http.Request, trace.Span) {
	trusted := proxy.Trusted(proxy.PeerAddr(r.RemoteAddr), h.opts.TrustedProxies)
	ctx, span := h.opts.Tracer.StartServer(r.Context(), r.Header, trusted, spanMethod(r.Method))
	return r.WithContext(ctx), span
}

// traceID is the trace id of ctx's span while tracing is on, else "".
func (h *Handler) traceID(ctx context.Context) string {
	if h.opts.Tracer == nil {
		return ""
	}
	return tracing.TraceID(ctx)
}

// endSpan records the decision on the request's span (its End is deferred by
// ServeHTTP). method and path are the request's as decided.
func (h *Handler) endSpan(ctx context.Context, method, path string, ev *Event) {
	if ev.TraceID == "" {
		ev.TraceID = tracing.TraceID(ctx)
	}
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	m := spanMethod(method)
	name := m
	if ev.Route != "" {
		name += " " + ev.Route
	}
	span.SetName(name)
	decision := "allow"
	if !ev.Allow {
		decision = "deny"
	}
	span.SetAttributes(
		attribute.String("http.request.method", m),
		attribute.String("url.path", path),
		attribute.String(AttrDecision, decision),
		attribute.String(AttrRequestID, ev.RequestID),
	)
	if ev.Route != "" {
		span.SetAttributes(attribute.String(AttrRoute, ev.Route))
	}
	if ev.Authenticator != "" {
		span.SetAttributes(attribute.String(AttrAuthenticator, ev.Authenticator))
	}
	if ev.Reason != "" {
		span.SetAttributes(attribute.String(AttrReason, string(ev.Reason)))
	}
	tracing.StatusAttributes(span, ev.Status)
}

// spanMethod is the method as a span names it: a standard method, or _OTHER, so that a
// client cannot choose span names.
func spanMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "_OTHER"
}

// propagate is the proxy's Propagate for t: nil when tracing is off.
func propagate(t *tracing.Tracer) func(context.Context, http.Header) {
	if t == nil {
		return nil
	}
	return tracing.Inject
}
