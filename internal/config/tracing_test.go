package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// trHead is a valid configuration followed by a tracing block the case writes.
const trHead = "realm: test\n" +
	"routes:\n" +
	"  - {match: {path_prefix: /}, authenticate: anonymous, upstream: http://127.0.0.1:9}\n" +
	"tracing:\n"

func TestTracingBlockLoads(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"otlp": "# the collector's token\nAuthorization: Bearer abc def\n\nX-Tenant:  acme \n"})
	c, err := Parse([]byte(trHead+"  endpoint: https://collector.example:4318/base/\n  protocol: http/protobuf\n  sampling_ratio: 0.25\n  service_name: edge\n  headers_file: otlp\n"), dir, noEnv)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	tr := c.Tracing
	if tr == nil || tr.SamplingRatio == nil {
		t.Fatalf("tracing %+v", tr)
	}
	h, err := tr.HeaderMap()
	if err != nil {
		t.Fatal(err)
	}
	got := []any{tr.Endpoint, tr.Protocol, *tr.SamplingRatio, tr.ServiceName, h}
	want := []any{"https://collector.example:4318/base/", "http/protobuf", 0.25, "edge", map[string]string{"Authorization": "Bearer abc def", "X-Tenant": "acme"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tracing (-want +got):\n%s", diff)
	}
	// Absent block: nil, and the OTEL_* variables decide.
	c, err = Parse([]byte(strings.TrimSuffix(trHead, "tracing:\n")), dir, noEnv)
	if err != nil || c.Tracing != nil {
		t.Fatalf("no block: %v, %+v", err, c.Tracing)
	}
}

func TestTracingBlockProblems(t *testing.T) {
	for _, tc := range []struct {
		name, block string
		files       map[string]string
		want        string
	}{
		{"grpc", "  protocol: grpc\n", nil, `tracing.protocol: "grpc" is not supported: this build exports OTLP as http/protobuf`},
		{"ratio too big", "  sampling_ratio: 2\n", nil, `"2" is not a sampling ratio`},
		{"ratio not a number", "  sampling_ratio: often\n", nil, `"often" is not a sampling ratio`},
		{"endpoint not a URL", "  endpoint: collector:4318\n", nil, `tracing.endpoint: "collector:4318" is not an OTLP/HTTP endpoint`},
		{"endpoint with password", "  endpoint: http://user:hunter2@collector:4318\n", nil, "tracing.endpoint: must not hold a user name or password"},
		{"endpoint with query", "  endpoint: http://collector:4318/?x=1\n", nil, "tracing.endpoint: must not have a query"},
		{"header without colon", "  headers_file: h\n", map[string]string{"h": "Authorization Bearer s3cret-value\n"}, "tracing.headers: line 1 is not a header"},
		{"header name with space", "  headers: \"X Bad: v\"\n", nil, "tracing.headers: line 1 is not a header"},
		{"unknown key", "  sample_rate: 1\n", nil, "sample_rate"},
		{"both headers", "  headers: \"a: b\"\n  headers_file: h\n", map[string]string{"h": "a: b"}, "give headers or headers_file, not both"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, tc.files)
			_, err := Parse([]byte(trHead+tc.block), dir, noEnv)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
			for _, secret := range []string{"hunter2", "s3cret-value"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("the error shows %q: %v", secret, err)
				}
			}
		})
	}
}
