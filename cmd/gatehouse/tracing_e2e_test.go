package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/tokens"
)

// otlpReceiver is an OTLP/HTTP endpoint: it decodes each export request with the
// OTLP protobuf definitions and keeps the spans, with their resource attributes.
type otlpReceiver struct {
	url   string
	mu    sync.Mutex
	spans []*tracepb.Span
	res   []string // every resource attribute, key=value
	raw   [][]byte // every export request body, for the leak scan
	auth  []string // the Authorization header of every export
	// arrived is closed (and replaced) whenever an export is received.
	arrived chan struct{}
}

func startOTLPReceiver(t *testing.T) *otlpReceiver {
	t.Helper()
	rec := &otlpReceiver{arrived: make(chan struct{})}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "want POST /v1/traces, application/x-protobuf", http.StatusBadRequest)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var req coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(body, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rec.mu.Lock()
		rec.raw = append(rec.raw, body)
		rec.auth = append(rec.auth, r.Header.Get("Authorization"))
		for _, rs := range req.GetResourceSpans() {
			for _, kv := range rs.GetResource().GetAttributes() {
				rec.res = append(rec.res, kv.GetKey()+"="+kv.GetValue().GetStringValue())
			}
			for _, ss := range rs.GetScopeSpans() {
				rec.spans = append(rec.spans, ss.GetSpans()...)
			}
		}
		close(rec.arrived)
		rec.arrived = make(chan struct{})
		rec.mu.Unlock()
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(out)
	})}
	ln := listenLoopback(t)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	rec.url = "http://" + ln.Addr().String()
	return rec
}

// waitSpan waits until a span matching ok arrived, checking again at each export.
func (rec *otlpReceiver) waitSpan(t *testing.T, what string, ok func(*tracepb.Span) bool) *tracepb.Span {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		rec.mu.Lock()
		for _, s := range rec.spans {
			if ok(s) {
				rec.mu.Unlock()
				return s
			}
		}
		next := rec.arrived
		rec.mu.Unlock()
		select {
		case <-next:
			continue
		case <-timeout:
		}
		break
	}
	t.Fatalf("no span %s arrived", what)
	return nil
}

func attr(s *tracepb.Span, key string) string {
	for _, kv := range s.GetAttributes() {
		if kv.GetKey() == key {
			if v, ok := kv.GetValue().GetValue().(*commonpb.AnyValue_IntValue); ok {
				return strconv.FormatInt(v.IntValue, 10)
			}
			return kv.GetValue().GetStringValue()
		}
	}
	return ""
}

func byRequestID(rid string) func(*tracepb.Span) bool {
	return func(s *tracepb.Span) bool { return attr(s, gateway.AttrRequestID) == rid }
}

type tracingEnv struct {
	base, admin string
	proc        *proc
	signer      *tokens.Signer
	hits        chan upstreamHit
	rec         *otlpReceiver
}

// startTracedGateway runs the binary with a tracing block exporting to endpoint (none
// when endpoint is empty: the environment decides), trusting 127.0.0.2 as a proxy,
// with a jwt route whose keys come from a JWKS URL and an introspection route.
func startTracedGateway(t *testing.T, endpoint string, rec *otlpReceiver) *tracingEnv {
	t.Helper()
	// Spans leave in batches every 50ms instead of 5s, so the test waits little.
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
	dir := t.TempDir()
	key, err := tokens.GenerateES256()
	if err != nil {
		t.Fatal(err)
	}
	signer, err := tokens.NewSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	jwks := tokens.PublicJWKS(key)
	idp := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/jwks":
			w.Header().Set("Content-Type", "application/json")
			w.Write(jwks)
		case "/introspect":
			r.ParseForm()
			w.Header().Set("Content-Type", "application/json")
			if r.PostForm.Get("token") == "opaque-good-token-1234" {
				fmt.Fprintf(w, `{"active":true,"sub":"bob-introspected","scope":"orders:read","exp":%d}`, time.Now().Add(time.Hour).Unix())
				return
			}
			io.WriteString(w, `{"active":false}`)
		default:
			http.NotFound(w, r)
		}
	})}
	idpLn := listenLoopback(t)
	go idp.Serve(idpLn)
	t.Cleanup(func() { idp.Close() })

	api, hits := startAPI(t)
	// An upstream that closes every connection: 502 upstream_unavailable.
	broken := listenLoopback(t)
	go func() {
		for {
			c, err := broken.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	os.WriteFile(filepath.Join(dir, "otlp-headers"), []byte("Authorization: Bearer otlp-secret-token-5678\n"), 0o600)
	block := ""
	if endpoint != "" {
		block = "tracing:\n  endpoint: " + endpoint + "\n  sampling_ratio: 1\n  service_name: gatehouse-e2e\n  headers_file: otlp-headers\n"
	}
	cfg := fmt.Sprintf(`listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
realm: orders
trusted_proxies: [127.0.0.2]
%sauthenticators:
  corp_jwt:
    type: jwt
    issuer: %s
    audience: [%s]
    algorithms: [ES256]
    jwks_url: http://%s/jwks
  opaque:
    type: introspection
    url: http://%s/introspect
    client_id: gatehouse
    client_secret: introspection-secret-9999
routes:
  - name: broken
    match: {path_prefix: /broken}
    upstream: http://%s
    authenticate: anonymous
  - name: opaque
    match: {path_prefix: /opaque}
    upstream: http://%s
    authenticate: [opaque]
  - name: api
    match: {path_prefix: /}
    upstream: http://%s
    authenticate: [corp_jwt]
`, block, e2eIssuer, e2eAudience, idpLn.Addr(), idpLn.Addr(), broken.Addr(), api, api)
	path := filepath.Join(dir, "gatehouse.yaml")
	os.WriteFile(path, []byte(cfg), 0o600)
	p := start(t, "serve", "--config", path)
	m := p.waitFor(t, listeningRe)
	return &tracingEnv{base: "http://" + m[1], admin: "http://" + m[2], proc: p, signer: signer, hits: hits, rec: rec}
}

func (e *tracingEnv) token(t *testing.T, claims map[string]any) string {
	t.Helper()
	now := time.Now()
	base := map[string]any{"iss": e2eIssuer, "aud": e2eAudience, "sub": "alice-subject-claim", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "scope": "orders:read"}
	for k, v := range claims {
		base[k] = v
	}
	tok, err := e.signer.Sign(base)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

const (
	trustedTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	trustedSpanID  = "00f067aa0ba902b7"
	clientTraceID  = "11111111111111111111111111111111"
)

var traceparentRe = regexp.MustCompile(`^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$`)

// TestTracingEndToEnd runs the real binary against an in-process OTLP/HTTP receiver:
// the server span of each request arrives with the right parent (a trusted proxy's
// traceparent, or none for an untrusted client), the decision's attributes, child
// spans for introspection and JWKS fetches, the trace id in the problem body and the
// log line, the gateway's traceparent at the upstream, and no credential anywhere.
func TestTracingEndToEnd(t *testing.T) {
	rec := startOTLPReceiver(t)
	e := startTracedGateway(t, rec.url, rec)
	good := e.token(t, nil)
	expired := e.token(t, map[string]any{"exp": time.Now().Add(-time.Hour).Unix(), "iat": time.Now().Add(-2 * time.Hour).Unix()})

	t.Run("trusted proxy's trace is continued", func(t *testing.T) {
		resp, _ := send(t, "127.0.0.2", "GET", e.base+"/orders", "", "Authorization", "Bearer "+good,
			"Traceparent", "00-"+trustedTraceID+"-"+trustedSpanID+"-01", "Tracestate", "vendor=kept")
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		rid := resp.Header.Get("X-Request-Id")
		hit := <-e.hits
		m := traceparentRe.FindStringSubmatch(hit.header.Get("Traceparent"))
		if m == nil || m[1] != trustedTraceID {
			t.Fatalf("upstream traceparent %q, want trace %s", hit.header.Get("Traceparent"), trustedTraceID)
		}
		if got := hit.header.Get("Tracestate"); got != "vendor=kept" {
			t.Errorf("upstream tracestate %q, want the trusted proxy's", got)
		}
		span := rec.waitSpan(t, "for "+rid, byRequestID(rid))
		if hex.EncodeToString(span.GetTraceId()) != trustedTraceID || hex.EncodeToString(span.GetParentSpanId()) != trustedSpanID {
			t.Errorf("span trace %x parent %x, want %s/%s", span.GetTraceId(), span.GetParentSpanId(), trustedTraceID, trustedSpanID)
		}
		if hex.EncodeToString(span.GetSpanId()) != m[2] {
			t.Errorf("upstream's parent %s is not the server span %x", m[2], span.GetSpanId())
		}
		if span.GetKind() != tracepb.Span_SPAN_KIND_SERVER || span.GetName() != "GET api" {
			t.Errorf("span kind %v name %q", span.GetKind(), span.GetName())
		}
		for k, want := range map[string]string{gateway.AttrRoute: "api", gateway.AttrAuthenticator: "corp_jwt",
			gateway.AttrDecision: "allow", "http.response.status_code": "200", "http.request.method": "GET", "url.path": "/orders"} {
			if got := attr(span, k); got != want {
				t.Errorf("%s = %q, want %q", k, got, want)
			}
		}
		line := waitLogLine(t, e.proc, rid)
		if line["trace_id"] != trustedTraceID {
			t.Errorf("log line trace_id = %v, want %s", line["trace_id"], trustedTraceID)
		}
	})

	t.Run("untrusted client's trace is not continued", func(t *testing.T) {
		resp, body := send(t, "127.0.0.1", "GET", e.base+"/orders", "", "Authorization", "Bearer "+expired,
			"Traceparent", "00-"+clientTraceID+"-2222222222222222-01", "Tracestate", "evil=1")
		p := wantProblem(t, resp, body, 401, "token_expired")
		if p.TraceID == "" || p.TraceID == clientTraceID {
			t.Fatalf("problem trace_id %q: want a new trace, not the client's", p.TraceID)
		}
		span := rec.waitSpan(t, "for "+p.RequestID, byRequestID(p.RequestID))
		if hex.EncodeToString(span.GetTraceId()) != p.TraceID || len(span.GetParentSpanId()) != 0 {
			t.Errorf("span trace %x parent %x, want a root of %s", span.GetTraceId(), span.GetParentSpanId(), p.TraceID)
		}
		if links := span.GetLinks(); len(links) != 1 || hex.EncodeToString(links[0].GetTraceId()) != clientTraceID {
			t.Errorf("links %v, want one to the client's trace", links)
		}
		if got := attr(span, gateway.AttrReason); got != "token_expired" {
			t.Errorf("reason = %q", got)
		}
		if line := waitLogLine(t, e.proc, p.RequestID); line["trace_id"] != p.TraceID {
			t.Errorf("log line trace_id = %v, want %s", line["trace_id"], p.TraceID)
		}
		// Allowed, untrusted: the upstream sees the gateway's trace, not the client's.
		resp, _ = send(t, "127.0.0.1", "GET", e.base+"/orders", "", "Authorization", "Bearer "+good,
			"Traceparent", "00-"+clientTraceID+"-2222222222222222-01", "Tracestate", "evil=1")
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		hit := <-e.hits
		if tp := hit.header.Get("Traceparent"); strings.Contains(tp, clientTraceID) || traceparentRe.FindString(tp) == "" {
			t.Errorf("upstream traceparent %q: want the gateway's own", tp)
		}
		if ts := hit.header.Values("Tracestate"); len(ts) != 0 {
			t.Errorf("upstream tracestate %q: the client's must not pass", ts)
		}
	})

	t.Run("malformed and huge trace headers are ignored", func(t *testing.T) {
		for _, tp := range []string{"00-zz-yy-01", strings.Repeat("0", 6000),
			"00-" + clientTraceID + "-2222222222222222-01,00-" + trustedTraceID + "-" + trustedSpanID + "-01"} {
			resp, _ := send(t, "127.0.0.2", "GET", e.base+"/orders", "", "Authorization", "Bearer "+good,
				"Traceparent", tp, "Tracestate", strings.Repeat("k=v,", 2000))
			if resp.StatusCode != 200 {
				t.Fatalf("traceparent %.40q: status %d", tp, resp.StatusCode)
			}
			<-e.hits
			span := rec.waitSpan(t, "for the malformed header", byRequestID(resp.Header.Get("X-Request-Id")))
			if len(span.GetParentSpanId()) != 0 {
				t.Errorf("traceparent %.40q: span has parent %x, want a new trace", tp, span.GetParentSpanId())
			}
		}
	})

	t.Run("introspection is a child span", func(t *testing.T) {
		resp, _ := send(t, "127.0.0.2", "GET", e.base+"/opaque/x", "", "Authorization", "Bearer opaque-good-token-1234")
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		<-e.hits
		server := rec.waitSpan(t, "for the introspected request", byRequestID(resp.Header.Get("X-Request-Id")))
		child := rec.waitSpan(t, "introspection", func(s *tracepb.Span) bool {
			return s.GetName() == "introspection" && string(s.GetParentSpanId()) == string(server.GetSpanId())
		})
		if child.GetKind() != tracepb.Span_SPAN_KIND_CLIENT || attr(child, "http.response.status_code") != "200" {
			t.Errorf("introspection span kind %v status %q", child.GetKind(), attr(child, "http.response.status_code"))
		}
	})

	t.Run("upstream failure and decide endpoint carry the trace id", func(t *testing.T) {
		resp, body := send(t, "127.0.0.1", "GET", e.base+"/broken/x", "")
		p := wantProblem(t, resp, body, 502, "upstream_unavailable")
		span := rec.waitSpan(t, "for "+p.RequestID, byRequestID(p.RequestID))
		if p.TraceID == "" || hex.EncodeToString(span.GetTraceId()) != p.TraceID {
			t.Errorf("502 trace_id %q, span trace %x", p.TraceID, span.GetTraceId())
		}
		if span.GetStatus().GetCode() != tracepb.Status_STATUS_CODE_ERROR || attr(span, gateway.AttrReason) != "upstream_unavailable" {
			t.Errorf("502 span status %v reason %q", span.GetStatus(), attr(span, gateway.AttrReason))
		}
		// The forward-auth endpoint, asked by the trusted proxy: its span continues the
		// proxy's trace and its refusal names it.
		resp, body = send(t, "127.0.0.2", "GET", e.base+"/_gatehouse/decide", "", "X-Forwarded-Method", "GET",
			"X-Forwarded-Uri", "/orders", "Traceparent", "00-"+trustedTraceID+"-"+trustedSpanID+"-01")
		if resp.StatusCode != 401 {
			t.Fatalf("decide: status %d", resp.StatusCode)
		}
		p = gateway.Problem{}
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatalf("decide body %s: %v", body, err)
		}
		if p.TraceID != trustedTraceID {
			t.Errorf("decide trace_id %q, want the proxy's %s", p.TraceID, trustedTraceID)
		}
		rec.waitSpan(t, "for the decide request", byRequestID(p.RequestID))
	})

	t.Run("jwks fetch is a span", func(t *testing.T) {
		rec.waitSpan(t, "jwks fetch", func(s *tracepb.Span) bool { return s.GetName() == "jwks fetch" })
	})

	t.Run("resource and no credential", func(t *testing.T) {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		for _, a := range rec.auth {
			if a != "Bearer otlp-secret-token-5678" {
				t.Errorf("an export came with Authorization %q, want the headers_file's", a)
			}
		}
		if !strings.Contains(strings.Join(rec.res, " "), "service.name=gatehouse-e2e") {
			t.Errorf("resource %v has no service.name=gatehouse-e2e", rec.res)
		}
		for _, secret := range []string{good, expired, good[strings.LastIndexByte(good, '.')+1:], "opaque-good-token-1234",
			"alice-subject-claim", "bob-introspected", "introspection-secret-9999", "otlp-secret-token-5678"} {
			for _, body := range rec.raw {
				if strings.Contains(string(body), secret) {
					t.Errorf("an exported span carries %.20q...", secret)
				}
			}
		}
		if strings.Contains(e.proc.logs(), "otlp-secret-token-5678") {
			t.Error("the OTLP header value was logged")
		}
	})
}

// waitLogLine polls the process log for the decision line of request rid.
func waitLogLine(t *testing.T, p *proc, rid string) map[string]any {
	t.Helper()
	re := regexp.MustCompile(`(?m)^\{.*"request_id":"` + rid + `".*\}$`)
	line := p.waitFor(t, re)[0]
	var m map[string]any
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		t.Fatalf("log line %s: %v", line, err)
	}
	return m
}

// TestTracingCollectorDown: an OTLP endpoint that accepts connections and closes them
// at once costs the gateway nothing (every request answered) and the lost spans are
// counted in gatehouse_tracing_spans_dropped_total.
func TestTracingCollectorDown(t *testing.T) {
	ln := listenLoopback(t)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	e := startTracedGateway(t, "http://"+ln.Addr().String(), nil)
	good := e.token(t, nil)
	const n = 20
	for i := range n {
		resp, _ := send(t, "127.0.0.1", "GET", e.base+"/orders", "", "Authorization", "Bearer "+good)
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: status %d with the collector down", i, resp.StatusCode)
		}
		<-e.hits
	}
	dropped := regexp.MustCompile(`(?m)^gatehouse_tracing_spans_dropped_total (\d+)`)
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, body := get(t, e.admin+"/metrics")
		if m := dropped.FindSubmatch(body); m != nil {
			if got, _ := strconv.Atoi(string(m[1])); got >= n {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("drops not counted: %s", dropped.Find(body))
		}
		time.Sleep(200 * time.Millisecond)
	}
	e.proc.waitFor(t, regexp.MustCompile(`tracing: spans could not be exported`))
}

// TestTracingFromTheEnvironment: without a tracing block, the standard OTEL_* variables
// turn tracing on (endpoint, service name, sampler), and OTEL_SDK_DISABLED turns it off:
// no trace id in the problem body, the client's traceparent passed on untouched.
func TestTracingFromTheEnvironment(t *testing.T) {
	rec := startOTLPReceiver(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rec.url)
	t.Setenv("OTEL_SERVICE_NAME", "gatehouse-from-env")
	t.Setenv("OTEL_TRACES_SAMPLER", "always_on")
	e := startTracedGateway(t, "", rec)
	resp, body := send(t, "127.0.0.1", "GET", e.base+"/orders", "")
	p := wantProblem(t, resp, body, 401, "credentials_missing")
	if p.TraceID == "" {
		t.Fatal("no trace_id in the problem body with OTEL_EXPORTER_OTLP_ENDPOINT set")
	}
	rec.waitSpan(t, "for "+p.RequestID, byRequestID(p.RequestID))
	rec.mu.Lock()
	res := strings.Join(rec.res, " ")
	rec.mu.Unlock()
	if !strings.Contains(res, "service.name=gatehouse-from-env") {
		t.Errorf("resource %s lacks OTEL_SERVICE_NAME", res)
	}

	t.Setenv("OTEL_SDK_DISABLED", "true")
	off := startTracedGateway(t, "", nil)
	resp, body = send(t, "127.0.0.1", "GET", off.base+"/orders", "")
	if p := wantProblem(t, resp, body, 401, "credentials_missing"); p.TraceID != "" || strings.Contains(string(body), "trace_id") {
		t.Errorf("trace_id %q with OTEL_SDK_DISABLED=true", p.TraceID)
	}
	tok := off.token(t, nil)
	tp := "00-" + clientTraceID + "-2222222222222222-01"
	if resp, _ := send(t, "127.0.0.1", "GET", off.base+"/orders", "", "Authorization", "Bearer "+tok, "Traceparent", tp); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if hit := <-off.hits; hit.header.Get("Traceparent") != tp {
		t.Errorf("tracing off: upstream traceparent %q, want the client's untouched", hit.header.Get("Traceparent"))
	}
}
