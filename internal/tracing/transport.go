package tracing

import (
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Transport wraps base (nil: http.DefaultTransport) so that each request it sends is a
// client span named name ("jwks fetch", "introspection"), a child of the request
// context's span, with the trace context in its traceparent. The span records the
// method, the server's host and the status; never the URL's path or query, a header or
// a body. A nil Tracer returns base unchanged.
func (t *Tracer) Transport(name string, base http.RoundTripper) http.RoundTripper {
	if t == nil {
		return base
	}
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{t: t, name: name, base: base}
}

type transport struct {
	t    *Tracer
	name string
	base http.RoundTripper
}

func (tr *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	ctx, span := tr.t.tracer.Start(r.Context(), tr.name, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("http.request.method", r.Method), attribute.String("server.address", r.URL.Hostname())))
	defer span.End()
	// RoundTrippers must not change the request they are given.
	out := r.Clone(ctx)
	Inject(ctx, out.Header)
	resp, err := tr.base.RoundTrip(out)
	if err != nil {
		span.SetStatus(codes.Error, "request failed")
		return nil, err
	}
	StatusAttributes(span, resp.StatusCode)
	if resp.StatusCode >= 400 {
		span.SetStatus(codes.Error, http.StatusText(resp.StatusCode))
	}
	return resp, nil
}
