package gateway

import (
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/gatehouse-dev/gatehouse/internal/tracing"
)

// TestDecideForwardHasItsServerSpan: a check that arrives through DecideForward (the
// Envoy ext_authz service) is traced like a request to the decide endpoint: one server
// span carrying the decision, under the trusted caller's trace, and no credential.
func TestDecideForwardHasItsServerSpan(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	f := newDecideFixture(t, func(o *Options) { o.Tracer = tracing.NewWithExporter(exp) })
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	r := httptest.NewRequest("GET", "/anything", nil)
	r.RemoteAddr = proxyPeer
	for _, kv := range [][2]string{{"X-Forwarded-Method", "GET"}, {"X-Forwarded-Uri", "/api/orders"}, {"Authorization", "Bearer read"}, {"Traceparent", parent}} {
		r.Header.Set(kv[0], kv[1])
	}
	w := httptest.NewRecorder()
	f.h.DecideForward(w, r, nil)
	if w.Code != 200 {
		t.Fatalf("status %d, want 200", w.Code)
	}
	spans := exp.GetSpans()
	if len(spans) != 1 {
		t.Fatalf("%d spans, want 1", len(spans))
	}
	s := spans[0]
	if got := s.Parent.TraceID().String(); got != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("parent trace %s, want the trusted caller's", got)
	}
	attrs := map[string]string{}
	for _, a := range s.Attributes {
		attrs[string(a.Key)] = a.Value.String()
	}
	if attrs[AttrRoute] != "api" || attrs[AttrDecision] != "allow" {
		t.Errorf("span attributes %v, want route api and decision allow", attrs)
	}
	for k, v := range attrs {
		if v == "read" || v == "Bearer read" {
			t.Errorf("attribute %s carries the credential", k)
		}
	}
}
