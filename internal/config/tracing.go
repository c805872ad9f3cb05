package config

import (
	"bytes"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Tracing is the tracing block: OpenTelemetry traces exported over OTLP/HTTP. Every
// setting may be left out for its standard OTEL_* environment variable; tracing is on
// when an endpoint is known (this block's or OTEL_EXPORTER_OTLP_ENDPOINT) and
// OTEL_SDK_DISABLED is not true. Its settings need a restart to change.
type Tracing struct {
	// Endpoint is the collector's OTLP/HTTP base URL, such as http://otel-collector:4318
	// (spans go to its /v1/traces).
	Endpoint string
	// Protocol is the OTLP protocol: http/protobuf, the only one supported.
	Protocol string
	// SamplingRatio is the fraction of new traces sampled, 0 to 1 (parent-based: a
	// trusted proxy's sampled flag is kept); nil leaves it to OTEL_TRACES_SAMPLER.
	SamplingRatio *float64
	// ServiceName is the service.name resource attribute; empty means
	// OTEL_SERVICE_NAME, else gatehouse.
	ServiceName string
	// Headers are "Name: value" lines sent with every export (headers, or headers_file
	// for a file holding them, such as an Authorization token). Never shown.
	Headers Secret
}

// tracingKeys are the keys of the tracing block.
var tracingKeys = []string{"endpoint", "protocol", "sampling_ratio", "service_name", "headers", "headers_file"}

// tracing decodes the tracing block.
func (d *decoder) tracing(e entry) *Tracing {
	const path = "tracing"
	d.src[path] = origin{line: e.line}
	t := &Tracing{}
	entries, ok := d.mapping(e.val, path)
	if !ok {
		return t
	}
	byKey := make(map[string]entry, len(entries))
	for _, k := range entries {
		byKey[k.key] = k
		d.src[join(path, k.key)] = origin{line: k.line}
		if !slices.Contains(tracingKeys, k.key) {
			d.unknownKey(k, " in tracing", tracingKeys)
		}
	}
	each(byKey, path, tracingKeys, func(key string, val *yaml.Node, p string) {
		switch key {
		case "endpoint":
			d.setString(val, p, &t.Endpoint)
		case "protocol":
			d.setString(val, p, &t.Protocol)
		case "service_name":
			d.setString(val, p, &t.ServiceName)
		case "sampling_ratio":
			s, ok := d.scalar(val, p, "a number from 0 to 1")
			if !ok {
				return
			}
			f, err := strconv.ParseFloat(strings.TrimSpace(s.text), 64)
			if err != nil || f < 0 || f > 1 || f != f {
				d.fail(p, s.line, "%s is not a sampling ratio: give a number from 0 (no new trace) to 1 (every trace), such as 0.01", s.show())
				return
			}
			t.SamplingRatio = &f
		}
	})
	t.Headers = d.secret(byKey, "headers", path)
	return t
}

// tracing validates the tracing block.
func (v *validator) tracing() {
	t := v.c.Tracing
	if t == nil {
		return
	}
	if t.Endpoint != "" {
		u, err := url.Parse(t.Endpoint)
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			v.problemf("tracing.endpoint", "%s is not an OTLP/HTTP endpoint: give the collector's base URL, such as http://otel-collector:4318", v.show("tracing.endpoint", t.Endpoint))
		case u.User != nil:
			v.problemf("tracing.endpoint", "must not hold a user name or password: put credentials in headers_file, which is never shown")
		case u.RawQuery != "" || u.Fragment != "":
			v.problemf("tracing.endpoint", "must not have a query or a fragment: give the collector's base URL; spans go to its /v1/traces")
		}
	}
	if t.Protocol != "" && t.Protocol != "http/protobuf" {
		v.problemf("tracing.protocol", "%s is not supported: this build exports OTLP as http/protobuf (the collector's port 4318)", v.show("tracing.protocol", t.Protocol))
	}
	if _, err := t.HeaderMap(); err != nil {
		v.problemf("tracing.headers", "%s", err.Error())
	}
}

// HeaderMap parses Headers: one "Name: value" per line, blank lines and lines starting
// with # ignored. An error names the line, never its value.
func (t *Tracing) HeaderMap() (map[string]string, error) {
	if t == nil || t.Headers.IsZero() {
		return nil, nil
	}
	out := map[string]string{}
	for i, line := range bytes.Split(t.Headers.Reveal(), []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		name, value = bytes.TrimSpace(name), bytes.TrimSpace(value)
		if !ok || !headerToken(name) || !headerValue(value) {
			return nil, &lineError{line: i + 1}
		}
		out[string(name)] = string(value)
	}
	return out, nil
}

type lineError struct{ line int }

func (e *lineError) Error() string {
	return "line " + strconv.Itoa(e.line) + " is not a header: write one \"Name: value\" per line (the value is not shown)"
}

// headerToken reports whether b is an HTTP field name (RFC 9110 token).
func headerToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return true
}

// headerValue reports whether b may be an HTTP field value: no control characters.
func headerValue(b []byte) bool {
	for _, c := range b {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
