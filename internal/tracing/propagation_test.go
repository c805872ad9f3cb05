package tracing

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

const validTP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

func TestParseTraceparent(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		ok       bool
		sampled  bool
	}{
		{"valid sampled", validTP, true, true},
		{"valid not sampled", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", true, false},
		{"unknown flags dropped", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff", true, true},
		{"future version, longer", "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", true, true},
		{"future version, exact", "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", true, true},
		{"version 00 longer", validTP + "-x", false, false},
		{"future version, no dash", "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x", false, false},
		{"version ff", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false, false},
		{"upper case", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01", false, false},
		{"zero trace id", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", false, false},
		{"zero span id", "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", false, false},
		{"short", validTP[:54], false, false},
		{"empty", "", false, false},
		{"bad separator", strings.Replace(validTP, "-", "_", 1), false, false},
		{"non-hex", "00-4bf92f3577b34da6a3ce929d0e0e47zz-00f067aa0ba902b7-01", false, false},
		{"huge", "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-" + strings.Repeat("a", 300), false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, ok := ParseTraceparent(tc.in)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if ok && cfg.TraceFlags.IsSampled() != tc.sampled {
				t.Errorf("sampled = %v, want %v", cfg.TraceFlags.IsSampled(), tc.sampled)
			}
		})
	}
}

func TestExtractBounds(t *testing.T) {
	for _, tc := range []struct {
		name      string
		h         http.Header
		ok        bool
		wantState string
	}{
		{"none", http.Header{}, false, ""},
		{"one", http.Header{"Traceparent": {validTP}}, true, ""},
		{"two traceparents", http.Header{"Traceparent": {validTP, validTP}}, false, ""},
		{"with tracestate", http.Header{"Traceparent": {validTP}, "Tracestate": {"vendor=abc,other=x"}}, true, "vendor=abc,other=x"},
		{"malformed tracestate ignored", http.Header{"Traceparent": {validTP}, "Tracestate": {"=,==,"}}, true, ""},
		{"huge tracestate ignored", http.Header{"Traceparent": {validTP}, "Tracestate": {"a=" + strings.Repeat("b", 600)}}, true, ""},
		{"two tracestates ignored", http.Header{"Traceparent": {validTP}, "Tracestate": {"a=b", "c=d"}}, true, ""},
		{"huge traceparent", http.Header{"Traceparent": {strings.Repeat("0", 1<<16)}}, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc, ok := Extract(tc.h)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if ok && (!sc.IsRemote() || sc.TraceState().String() != tc.wantState) {
				t.Errorf("remote %v, tracestate %q, want %q", sc.IsRemote(), sc.TraceState().String(), tc.wantState)
			}
		})
	}
}

func TestInjectReplacesTheClientsHeaders(t *testing.T) {
	cfg, _ := ParseTraceparent(validTP)
	ts, _ := trace.ParseTraceState("gh=1")
	cfg.TraceState = ts
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(cfg))
	h := http.Header{"Traceparent": {"00-11111111111111111111111111111111-2222222222222222-01", "x"}, "Tracestate": {"evil=1"}}
	Inject(ctx, h)
	if got := h["Traceparent"]; len(got) != 1 || got[0] != validTP {
		t.Errorf("traceparent = %q, want [%s]", got, validTP)
	}
	if got := h["Tracestate"]; len(got) != 1 || got[0] != "gh=1" {
		t.Errorf("tracestate = %q, want [gh=1]", got)
	}
	// Without a span context, the client's headers go and nothing replaces them.
	h = http.Header{"Traceparent": {validTP}, "Tracestate": {"evil=1"}}
	Inject(context.Background(), h)
	if len(h) != 0 {
		t.Errorf("headers left: %v", h)
	}
}

// FuzzParseTraceparent checks the parser against the OpenTelemetry SDK's W3C
// propagator, for any input: whatever one accepts as version 00 the other accepts
// with the same ids and sampled flag (except flags beyond sampled, which the SDK
// refuses and this parser drops), and the parser never panics nor accepts more
// than MaxTraceparent bytes.
func FuzzParseTraceparent(f *testing.F) {
	for _, s := range []string{validTP, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
		"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		cfg, ok := ParseTraceparent(in)
		if ok && len(in) > MaxTraceparent {
			t.Fatalf("accepted %d bytes", len(in))
		}
		ref := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(),
			propagation.HeaderCarrier{"Traceparent": {in}}))
		if !strings.HasPrefix(in, "00-") || len(in) > MaxTraceparent {
			return // later versions: the SDK's own reading differs in details
		}
		if ok && !ref.IsValid() && in[53:55] != "00" && in[53:55] != "01" {
			// The one difference, on purpose: flags other than sampled (such as Level
			// 2's random flag) are dropped here, where the SDK refuses the header.
			return
		}
		if ok != ref.IsValid() {
			t.Fatalf("%q: ours %v, the SDK's %v", in, ok, ref.IsValid())
		}
		if ok && (cfg.TraceID != ref.TraceID() || cfg.SpanID != ref.SpanID() || cfg.TraceFlags.IsSampled() != ref.IsSampled()) {
			t.Fatalf("%q: ours %v/%v/%v, the SDK's %v/%v/%v", in, cfg.TraceID, cfg.SpanID, cfg.TraceFlags, ref.TraceID(), ref.SpanID(), ref.TraceFlags())
		}
		// Round trip: what is written is what was read, flags normalised.
		if out := FormatTraceparent(trace.NewSpanContext(cfg)); ok && out != in[:53]+fmtFlags(cfg.TraceFlags) {
			t.Fatalf("%q written back as %q", in, out)
		}
	})
}

func fmtFlags(f trace.TraceFlags) string {
	if f.IsSampled() {
		return "01"
	}
	return "00"
}
