package tracing

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"
)

// BenchmarkRequestOverhead is what tracing adds to one request, alone: the gateway's
// StartServer, the request's new context, the trace id for the log line and the problem
// body, the propagation headers for the upstream, and End. Sampling 1% of new traces
// (the budget: under 2µs), 100% for comparison; spans go to an in-process OTLP/HTTP
// endpoint that discards them. With a trusted parent the work is the same plus the
// header parse.
func BenchmarkRequestOverhead(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	b.Cleanup(srv.Close)
	for _, tc := range []struct {
		name   string
		ratio  float64
		header http.Header
	}{
		{"1pct", 0.01, http.Header{}},
		{"1pct-trusted-parent", 0.01, http.Header{"Traceparent": {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"}}},
		{"100pct", 1, http.Header{}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			ratio := tc.ratio
			tr, err := New(context.Background(), Options{Endpoint: srv.URL, SamplingRatio: &ratio, Getenv: func(string) string { return "" }})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { tr.Shutdown(context.Background()) })
			req := httptest.NewRequest(http.MethodGet, "/orders", nil)
			req.Header = tc.header
			out := http.Header{}
			b.ReportAllocs()
			start := processCPU()
			for b.Loop() {
				ctx, span := tr.StartServer(req.Context(), req.Header, true, "GET")
				r := req.WithContext(ctx)
				if TraceID(r.Context()) == "" {
					b.Fatal("no trace id")
				}
				Inject(r.Context(), out)
				span.End()
			}
			// On a shared machine the wall clock counts the time other processes ran;
			// the process's own CPU time per request (export included) is the cost.
			b.ReportMetric(float64(processCPU()-start)/float64(b.N), "cpu-ns/op")
		})
	}
}

// processCPU is the process's user and system time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
