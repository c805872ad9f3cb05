// Package tracing is Gatehouse's OpenTelemetry tracing: a tracer provider that exports
// spans over OTLP/HTTP, the W3C Trace Context read from trusted proxies and written to
// upstreams, and an instrumented HTTP transport for the authenticators' outgoing calls.
//
// Tracing is off unless the configuration's tracing block or the standard
// OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) environment
// variable names a collector, and OTEL_SDK_DISABLED is not "true". Off, New returns a
// nil *Tracer, whose methods do nothing: the gateway checks for nil once per request
// and pays nothing else.
//
// What a span carries is chosen here and in the gateway, never copied from a request:
// route and authenticator names, reason codes, status codes, the method and the clean
// path. No credential, no claim value (the subject included), no header value.
//
// Trace context from a client is honoured only when the client's address is a trusted
// proxy: anything else could attach its requests to another system's traces or choose
// their sampling. From an untrusted client the gateway starts a new trace (linked to the
// client's span context when it is well formed) and the upstream receives the gateway's
// traceparent in place of the client's; its tracestate is dropped.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// ProtocolHTTP is the only OTLP protocol this build exports with: protobuf over HTTP,
// the collector's port 4318.
const ProtocolHTTP = "http/protobuf"

// DefaultServiceName is service.name when neither the configuration nor
// OTEL_SERVICE_NAME names one.
const DefaultServiceName = "gatehouse"

// Options configure New. Empty fields fall back to the standard OTEL_* environment
// variables, then to the SDK's defaults.
type Options struct {
	// Endpoint is the collector's OTLP/HTTP base URL (http://collector:4318); spans are
	// posted to its /v1/traces. Empty: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or
	// OTEL_EXPORTER_OTLP_ENDPOINT.
	Endpoint string
	// Protocol must be empty or ProtocolHTTP.
	Protocol string
	// SamplingRatio, when set, samples that fraction of new traces (parent-based: a
	// trusted parent's decision is kept). Nil: OTEL_TRACES_SAMPLER and
	// OTEL_TRACES_SAMPLER_ARG, by default every trace.
	SamplingRatio *float64
	// ServiceName is service.name. Empty: OTEL_SERVICE_NAME, else DefaultServiceName.
	ServiceName string
	// ServiceVersion is service.version, the build's version.
	ServiceVersion string
	// Headers are sent with every export (an authorization token, say). They are never
	// logged. OTEL_EXPORTER_OTLP_HEADERS adds to them.
	Headers map[string]string
	// Getenv reads the environment; nil means os.Getenv. The exporter itself also reads
	// the OTEL_EXPORTER_OTLP_* variables through the process environment.
	Getenv func(string) string
	// OnDrop is told how many spans were lost because an export failed (the collector
	// down, refusing, or too slow); nil ignores it.
	OnDrop func(n int)
	// Logger receives export failures, at most one line a minute; nil means
	// slog.Default().
	Logger *slog.Logger
}

// Enabled reports whether o, with the environment, asks for tracing.
func Enabled(o Options) bool {
	getenv := o.getenv()
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return false
	}
	if o.Endpoint != "" {
		return true
	}
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")), "none") {
		return false
	}
	return getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != ""
}

func (o Options) getenv() func(string) string {
	if o.Getenv != nil {
		return o.Getenv
	}
	return lookupEnv
}

// Tracer starts Gatehouse's spans and exports them. A nil *Tracer is tracing off: its
// methods do nothing and return what they were given.
type Tracer struct {
	tp     *sdktrace.TracerProvider
	tracer trace.Tracer
}

// New builds the tracer provider o asks for, or returns nil, nil when tracing is off
// (see Enabled). Nothing is sent until a span ends; a collector that is down costs
// failed exports in the background, never a request.
func New(ctx context.Context, o Options) (*Tracer, error) {
	if !Enabled(o) {
		return nil, nil
	}
	getenv := o.getenv()
	protocol := o.Protocol
	if protocol == "" {
		protocol = getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	}
	if protocol == "" {
		protocol = getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	if protocol != "" && protocol != ProtocolHTTP {
		return nil, fmt.Errorf("tracing: OTLP protocol %q is not supported by this build; use %s (the collector's port 4318)", protocol, ProtocolHTTP)
	}
	opts := []otlptracehttp.Option{
		// A gateway does not hoard spans for a collector that is away: a batch that
		// cannot be sent within a few seconds is dropped and counted.
		otlptracehttp.WithRetry(otlptracehttp.RetryConfig{
			Enabled: true, InitialInterval: 500 * time.Millisecond, MaxInterval: 2 * time.Second, MaxElapsedTime: 5 * time.Second,
		}),
	}
	// The endpoint is read here, through Getenv, rather than left to the exporter's own
	// reading of the process environment, so that the one that turned tracing on is the
	// one spans go to.
	endpoint := ""
	switch {
	case o.Endpoint != "":
		u, err := EndpointURL(o.Endpoint)
		if err != nil {
			return nil, err
		}
		endpoint = u
	case getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "":
		// The full URL, as the specification has it; checked like a base URL, so that
		// no password in it reaches a log line about a failed export.
		endpoint = getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
		if _, err := EndpointURL(endpoint); err != nil {
			return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: %w", err)
		}
	default:
		u, err := EndpointURL(getenv("OTEL_EXPORTER_OTLP_ENDPOINT"))
		if err != nil {
			return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT: %w", err)
		}
		endpoint = u
	}
	opts = append(opts, otlptracehttp.WithEndpointURL(endpoint))
	if len(o.Headers) > 0 {
		opts = append(opts, otlptracehttp.WithHeaders(o.Headers))
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	name := o.ServiceName
	if name == "" {
		name = getenv("OTEL_SERVICE_NAME")
	}
	if name == "" {
		name = DefaultServiceName
	}
	attrs := []attribute.KeyValue{attribute.String("service.name", name)}
	if o.ServiceVersion != "" {
		attrs = append(attrs, attribute.String("service.version", o.ServiceVersion))
	}
	// The environment's OTEL_RESOURCE_ATTRIBUTES first, so that the service name chosen
	// above wins over a service.name listed there.
	res, err := resource.New(ctx, resource.WithFromEnv(), resource.WithTelemetrySDK(), resource.WithAttributes(attrs...))
	if err != nil && res == nil {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.Default()
	}
	installErrorHandler(logger)
	tpOpts := []sdktrace.TracerProviderOption{
		sdktrace.WithBatcher(&countingExporter{SpanExporter: exp, onDrop: o.OnDrop}),
		sdktrace.WithResource(res),
	}
	if o.SamplingRatio != nil {
		tpOpts = append(tpOpts, sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(*o.SamplingRatio))))
	}
	tp := sdktrace.NewTracerProvider(tpOpts...)
	return &Tracer{tp: tp, tracer: tp.Tracer("github.com/gatehouse-dev/gatehouse")}, nil
}

// EndpointURL turns a collector's base URL into the URL spans are posted to: its path
// with /v1/traces appended. It must be http or https, with a host, and no user
// information (put credentials in headers, which are never logged).
func EndpointURL(base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", errors.New("tracing: endpoint must be an http or https URL such as http://otel-collector:4318")
	}
	if u.User != nil {
		return "", errors.New("tracing: endpoint must not hold user information; send credentials as headers (tracing.headers_file)")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", errors.New("tracing: endpoint must not have a query or a fragment")
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/traces"
	u.RawPath = ""
	return u.String(), nil
}

// Shutdown exports what is buffered, within ctx, and stops the provider.
func (t *Tracer) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	return t.tp.Shutdown(ctx)
}

// Start starts an internal span named name as a child of ctx's span (a store lookup,
// say).
func (t *Tracer) Start(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	if t == nil {
		return ctx, trace.SpanFromContext(ctx)
	}
	return t.tracer.Start(ctx, name, trace.WithAttributes(attrs...))
}

// StartServer starts the server span of one request. With trusted set (the peer is a
// trusted proxy), a well-formed traceparent in h is the span's parent; otherwise the
// span starts a new trace, linked to the client's span context if it is well formed.
// Malformed or oversized trace headers are ignored.
func (t *Tracer) StartServer(ctx context.Context, h http.Header, trusted bool, name string) (context.Context, trace.Span) {
	remote, ok := Extract(h)
	switch {
	case ok && trusted:
		return t.tracer.Start(trace.ContextWithRemoteSpanContext(ctx, remote), name, serverChild...)
	case ok:
		return t.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer), trace.WithNewRoot(),
			trace.WithLinks(trace.Link{SpanContext: remote, Attributes: untrustedParent}))
	}
	return t.tracer.Start(ctx, name, serverRoot...)
}

// The start options of server spans, built once: a request pays no allocation for them.
var (
	serverChild     = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer)}
	serverRoot      = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer), trace.WithNewRoot()}
	untrustedParent = []attribute.KeyValue{attribute.Bool("gatehouse.untrusted_parent", true)}
)

// Inject replaces the trace context headers in h (traceparent, tracestate) with ctx's
// span context, for the upstream: whatever the client sent is never forwarded as is.
func Inject(ctx context.Context, h http.Header) {
	delete(h, "Traceparent")
	delete(h, "Tracestate")
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return
	}
	h["Traceparent"] = []string{FormatTraceparent(sc)}
	if ts := sc.TraceState().String(); ts != "" {
		h["Tracestate"] = []string{ts}
	}
}

// TraceID returns ctx's trace id in hex, or "" when it has none.
func TraceID(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.HasTraceID() {
		return ""
	}
	return sc.TraceID().String()
}

// countingExporter tells OnDrop about the spans of every failed export.
type countingExporter struct {
	sdktrace.SpanExporter
	onDrop func(int)
}

func (e *countingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	err := e.SpanExporter.ExportSpans(ctx, spans)
	if err != nil && e.onDrop != nil {
		e.onDrop(len(spans))
	}
	return err
}

// errorLogger logs the SDK's errors (failed exports, mostly), at most once a minute, so
// that a collector that is down does not flood the log. The error's text names the
// endpoint, never the headers.
type errorLogger struct {
	log  atomic.Pointer[slog.Logger]
	last atomic.Int64
}

var (
	handlerOnce sync.Once
	errorLog    errorLogger
)

func installErrorHandler(l *slog.Logger) {
	errorLog.log.Store(l)
	handlerOnce.Do(func() { otel.SetErrorHandler(&errorLog) })
}

func (e *errorLogger) Handle(err error) {
	now := time.Now().UnixNano()
	last := e.last.Load()
	if now-last < int64(time.Minute) || !e.last.CompareAndSwap(last, now) {
		return
	}
	e.log.Load().Warn("tracing: spans could not be exported; they are dropped and counted in gatehouse_tracing_spans_dropped_total (logged at most once a minute)",
		"error", err)
}

// FormatTraceparent writes sc as a version 00 traceparent.
func FormatTraceparent(sc trace.SpanContext) string {
	var b [55]byte
	tid, sid := sc.TraceID(), sc.SpanID()
	b[0], b[1], b[2] = '0', '0', '-'
	hexTo(b[3:35], tid[:])
	b[35] = '-'
	hexTo(b[36:52], sid[:])
	b[52] = '-'
	hexTo(b[53:55], []byte{byte(sc.TraceFlags())})
	return string(b[:])
}

func hexTo(dst, src []byte) {
	const digits = "0123456789abcdef"
	for i, c := range src {
		dst[2*i], dst[2*i+1] = digits[c>>4], digits[c&0xf]
	}
}

// StatusAttributes sets the span's status from an HTTP status: an error for 5xx, which
// the gateway answered or passed on.
func StatusAttributes(span trace.Span, status int) {
	span.SetAttributes(attribute.Int("http.response.status_code", status))
	if status >= 500 {
		span.SetStatus(codes.Error, http.StatusText(status))
	}
}

// NewWithExporter is a Tracer that hands its spans to exp synchronously, sampling every
// trace: for tests that inspect spans in process (an in-memory exporter).
func NewWithExporter(exp sdktrace.SpanExporter) *Tracer {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithSampler(sdktrace.AlwaysSample()))
	return &Tracer{tp: tp, tracer: tp.Tracer("github.com/gatehouse-dev/gatehouse")}
}
