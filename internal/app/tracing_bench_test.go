package app

import (
	"io"
	"net"
	"net/http"
	"testing"
)

// BenchmarkDecideEndpointTracing is BenchmarkDecideEndpoint with tracing off (no
// tracing block, the OTEL_* variables ignored) and on, sampling 1% of new traces to an
// in-process OTLP/HTTP endpoint that discards them: the difference is what tracing adds
// per request. Off must add no allocation to BenchmarkDecideEndpoint's.
func BenchmarkDecideEndpointTracing(b *testing.B) {
	b.Run("off", func(b *testing.B) {
		rt, tok := benchRuntime(b)
		benchDecide(b, rt, "/es/orders", "Authorization", "Bearer "+tok)
	})
	b.Run("on-1pct", func(b *testing.B) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/x-protobuf")
		})}
		go srv.Serve(ln)
		b.Cleanup(func() { srv.Close() })
		rt, tok := benchRuntimeWith(b, "tracing: {endpoint: \"http://"+ln.Addr().String()+"\", sampling_ratio: 0.01}\n")
		if rt.tracer == nil {
			b.Fatal("tracing is off")
		}
		benchDecide(b, rt, "/es/orders", "Authorization", "Bearer "+tok)
	})
}
