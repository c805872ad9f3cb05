package tracing

import (
	"net/http"
	"os"

	"go.opentelemetry.io/otel/trace"
)

var lookupEnv = os.Getenv

// Bounds on the trace context headers read from a request. A traceparent of version 00
// is 55 characters; later versions may append fields, so up to MaxTraceparent are
// parsed. W3C Trace Context asks for tracestate to be propagated up to 512 characters;
// a longer one is dropped whole, as is one with more than 32 members (the SDK's parser
// refuses those).
const (
	MaxTraceparent = 256
	MaxTracestate  = 512
)

// Extract reads the W3C trace context of h: exactly one well-formed traceparent, and
// its tracestate when that is well formed and at most MaxTracestate long. It reports
// false, and the caller starts a new trace, for anything else: no header, two of them,
// a malformed or oversized one, an all-zero id, version ff.
func Extract(h http.Header) (trace.SpanContext, bool) {
	tp := h["Traceparent"]
	if len(tp) != 1 {
		return trace.SpanContext{}, false
	}
	cfg, ok := ParseTraceparent(tp[0])
	if !ok {
		return trace.SpanContext{}, false
	}
	if ts := h["Tracestate"]; len(ts) == 1 && len(ts[0]) <= MaxTracestate {
		if state, err := trace.ParseTraceState(ts[0]); err == nil {
			cfg.TraceState = state
		}
	}
	cfg.Remote = true
	return trace.NewSpanContext(cfg), true
}

// ParseTraceparent parses a traceparent header value (W3C Trace Context, section 3.2):
// version-traceid-parentid-flags in lower-case hex. A version 00 value is exactly 55
// characters; a later version may be longer, followed by '-' and fields it ignores. An
// all-zero trace or parent id, version ff and anything over MaxTraceparent are refused.
func ParseTraceparent(v string) (trace.SpanContextConfig, bool) {
	var cfg trace.SpanContextConfig
	if len(v) < 55 || len(v) > MaxTraceparent {
		return cfg, false
	}
	ver, ok := hexByte(v[0], v[1])
	if !ok || ver == 0xff || v[2] != '-' || v[35] != '-' || v[52] != '-' {
		return cfg, false
	}
	if ver == 0 && len(v) != 55 || len(v) > 55 && v[55] != '-' {
		return cfg, false
	}
	for i := range 16 {
		b, ok := hexByte(v[3+2*i], v[4+2*i])
		if !ok {
			return cfg, false
		}
		cfg.TraceID[i] = b
	}
	for i := range 8 {
		b, ok := hexByte(v[36+2*i], v[37+2*i])
		if !ok {
			return cfg, false
		}
		cfg.SpanID[i] = b
	}
	flags, ok := hexByte(v[53], v[54])
	if !ok || !cfg.TraceID.IsValid() || !cfg.SpanID.IsValid() {
		return cfg, false
	}
	// Only the sampled flag is defined; others are not propagated.
	cfg.TraceFlags = trace.TraceFlags(flags) & trace.FlagsSampled
	return cfg, true
}

// hexByte decodes two lower-case hex digits.
func hexByte(a, b byte) (byte, bool) {
	x, ok1 := hexVal(a)
	y, ok2 := hexVal(b)
	return x<<4 | y, ok1 && ok2
}

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}
