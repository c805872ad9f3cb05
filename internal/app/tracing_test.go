package app

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/tracing"
)

// TestStoreLookupsAreChildSpans: with tracing on, the lookups the request path makes in
// the credential store are spans under the request's span, with the outcome and never
// the id or name looked up.
func TestStoreLookupsAreChildSpans(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	exp := tracetest.NewInMemoryExporter()
	tr := tracing.NewWithExporter(exp)
	ts := &tracedStore{Store: st, t: tr, system: "sqlite"}

	reqCtx, parent := tr.Start(ctx, "request")
	if _, err := ts.Key(reqCtx, "key-id-secretish"); err == nil {
		t.Fatal("an unknown key was found")
	}
	if _, err := ts.User(reqCtx, "alice-the-user"); err == nil {
		t.Fatal("an unknown user was found")
	}
	if _, err := ts.Client(reqCtx, "client-id-x"); err == nil {
		t.Fatal("an unknown client was found")
	}
	parent.End()

	spans := exp.GetSpans()
	if len(spans) != 4 {
		t.Fatalf("%d spans, want 3 lookups and the request", len(spans))
	}
	for i, want := range []string{"store key", "store user", "store client"} {
		s := spans[i]
		if s.Name != want || s.Parent.SpanID() != parent.SpanContext().SpanID() {
			t.Errorf("span %d: %q with parent %v, want %q under the request", i, s.Name, s.Parent.SpanID(), want)
		}
		attrs := map[string]string{}
		for _, a := range s.Attributes {
			attrs[string(a.Key)] = a.Value.String()
		}
		if attrs["gatehouse.store.result"] != "not_found" || attrs["db.system.name"] != "sqlite" {
			t.Errorf("%s attributes %v", want, attrs)
		}
		for _, v := range attrs {
			if strings.Contains(v, "secretish") || strings.Contains(v, "alice") || strings.Contains(v, "client-id") {
				t.Errorf("%s carries the looked-up name: %v", want, attrs)
			}
		}
	}
}
