package tracing

import (
	"context"
	"strings"
	"testing"
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestEnabled(t *testing.T) {
	for _, tc := range []struct {
		name     string
		endpoint string
		env      func(string) string
		want     bool
	}{
		{"nothing", "", env(), false},
		{"config endpoint", "http://c:4318", env(), true},
		{"OTEL_EXPORTER_OTLP_ENDPOINT", "", env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), true},
		{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "", env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c:4318/v1/traces"), true},
		{"OTEL_SDK_DISABLED wins over the config", "http://c:4318", env("OTEL_SDK_DISABLED", "TRUE"), false},
		{"OTEL_SDK_DISABLED wins over the env", "", env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318", "OTEL_SDK_DISABLED", "true"), false},
		{"OTEL_SDK_DISABLED=false", "", env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318", "OTEL_SDK_DISABLED", "false"), true},
		{"OTEL_TRACES_EXPORTER=none", "", env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318", "OTEL_TRACES_EXPORTER", "none"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Enabled(Options{Endpoint: tc.endpoint, Getenv: tc.env}); got != tc.want {
				t.Errorf("Enabled = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestNewOffAndRefusals(t *testing.T) {
	tr, err := New(context.Background(), Options{Getenv: env()})
	if tr != nil || err != nil {
		t.Fatalf("off: %v, %v", tr, err)
	}
	// A nil Tracer is tracing off: its methods do nothing.
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Error(err)
	}
	if tr.Transport("x", nil) != nil {
		t.Error("a nil Tracer wrapped a transport")
	}
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"grpc from the env", Options{Getenv: env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")}, `OTLP protocol "grpc" is not supported`},
		{"grpc from the config", Options{Endpoint: "http://c:4317", Protocol: "grpc", Getenv: env()}, `OTLP protocol "grpc" is not supported`},
		{"user info", Options{Endpoint: "http://u:p@c:4318", Getenv: env()}, "must not hold user information"},
		{"not a URL", Options{Endpoint: "c:4318", Getenv: env()}, "must be an http or https URL"},
		{"user info in the traces env", Options{Getenv: env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://u:pw@c:4318/v1/traces")}, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: tracing: endpoint must not hold user information"},
		{"user info in the env", Options{Getenv: env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://u:pw@c:4318")}, "OTEL_EXPORTER_OTLP_ENDPOINT: tracing: endpoint must not hold user information"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(context.Background(), tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestEndpointURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://c:4318":          "http://c:4318/v1/traces",
		"http://c:4318/":         "http://c:4318/v1/traces",
		"https://c.example/otlp": "https://c.example/otlp/v1/traces",
	} {
		if got, err := EndpointURL(in); err != nil || got != want {
			t.Errorf("EndpointURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// TestSamplerFromTheEnvironment: without sampling_ratio, OTEL_TRACES_SAMPLER and its
// argument decide; sampling_ratio, when set, wins over them.
func TestSamplerFromTheEnvironment(t *testing.T) {
	t.Setenv("OTEL_TRACES_SAMPLER", "traceidratio")
	t.Setenv("OTEL_TRACES_SAMPLER_ARG", "0")
	one := 1.0
	for _, tc := range []struct {
		name  string
		ratio *float64
		want  bool
	}{
		{"environment: ratio 0", nil, false},
		{"sampling_ratio 1 wins", &one, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The endpoint is never reached: nothing is exported before Shutdown, which
			// gets an already cancelled context.
			tr, err := New(context.Background(), Options{Endpoint: "http://127.0.0.1:1", SamplingRatio: tc.ratio, Getenv: env()})
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				tr.Shutdown(ctx)
			}()
			_, span := tr.StartServer(context.Background(), nil, false, "GET")
			if span.IsRecording() != tc.want {
				t.Errorf("recording = %v, want %v", span.IsRecording(), tc.want)
			}
			span.End()
		})
	}
}
