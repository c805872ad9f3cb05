package extauthz

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	grpcstatus "google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
)

const decidePath = "/_gatehouse/decide"

// bearer is a Bearer authenticator: "fail:<reason>" fails with that reason, "down" is
// an authenticator that cannot answer, and the tokens map names principals.
type bearer struct{}

var principals = map[string]decision.Principal{
	"alice": {Subject: "alice", Scopes: []string{"orders:read", "orders:admin"}},
	"bob":   {Subject: "bob", Scopes: []string{"orders:read"}},
}

func (bearer) Name() string                   { return "corp_jwt" }
func (bearer) Scheme() string                 { return "Bearer" }
func (bearer) Locations() []decision.Location { return nil }
func (bearer) Claims(c decision.Credential) decision.Match {
	if c.Source == decision.FromAuthorization && c.Scheme == "bearer" {
		return decision.SchemeMatch
	}
	return decision.NoMatch
}
func (bearer) Authenticate(_ context.Context, c decision.Credential) (decision.Principal, error) {
	if r, ok := strings.CutPrefix(c.Value, "fail:"); ok {
		return decision.Principal{}, &decision.Failure{Reason: decision.Reason(r), Detail: "test failure " + r}
	}
	if c.Value == "down" {
		return decision.Principal{}, errors.New("the key set could not be fetched")
	}
	if p, ok := principals[c.Value]; ok {
		return p, nil
	}
	return decision.Principal{}, &decision.Failure{Reason: decision.TokenSignatureInvalid, Detail: "signature does not verify"}
}

// apiKey reads X-Api-Key and the api_key query parameter.
type apiKey struct{}

func (apiKey) Name() string   { return "keys" }
func (apiKey) Scheme() string { return "" }
func (apiKey) Locations() []decision.Location {
	return []decision.Location{{Source: decision.FromHeader, Name: "X-Api-Key"}, {Source: decision.FromQuery, Name: "api_key"}}
}
func (apiKey) Claims(c decision.Credential) decision.Match {
	if c.Source == decision.FromHeader || c.Source == decision.FromQuery {
		return decision.SchemeMatch
	}
	return decision.NoMatch
}
func (apiKey) Authenticate(_ context.Context, c decision.Credential) (decision.Principal, error) {
	if c.Value == "k1" {
		return decision.Principal{Subject: "svc-reports", Scopes: []string{"reports:read"}}, nil
	}
	return decision.Principal{}, &decision.Failure{Reason: decision.APIKeyInvalid, Detail: "unknown key"}
}

// closedBudget refuses every attempt, as a spent failure budget does.
type closedBudget struct{}

func (closedBudget) Reserve(context.Context, netip.Addr, string) (decision.Reservation, bool, time.Duration) {
	return decision.Reservation{}, false, 42 * time.Second
}
func (closedBudget) Settle(context.Context, decision.Reservation, decision.Outcome) {}
func (closedBudget) Fail(context.Context, netip.Addr, string)                       {}
func (closedBudget) Open(netip.Addr, string) bool                                   { return false }
func (closedBudget) Remember(netip.Addr, string)                                    {}

// newHandler is a gateway whose decide endpoint trusts trusted.
func newHandler(trusted []netip.Prefix, maxHeaderBytes int) *gateway.Handler {
	up, _ := url.Parse("http://127.0.0.1:1") // never contacted: only decisions are asked for
	return gateway.New(gateway.Options{
		Realm:           "orders",
		TrustedProxies:  trusted,
		ForwardAuthPath: decidePath,
		MaxHeaderBytes:  maxHeaderBytes,
		Routes: []*gateway.Route{
			{Route: &decision.Route{Name: "admin", PathPrefix: "/admin", Authenticators: []decision.Authenticator{bearer{}}, RequiredScopes: []string{"orders:admin"}}, Upstream: up},
			{Route: &decision.Route{Name: "public", PathPrefix: "/public", Anonymous: true}, Upstream: up},
			{Route: &decision.Route{Name: "limited", PathPrefix: "/limited", Authenticators: []decision.Authenticator{bearer{}}, Budget: closedBudget{}}},
			{Route: &decision.Route{Name: "reports", PathPrefix: "/reports", Authenticators: []decision.Authenticator{apiKey{}, bearer{}}}},
			{Route: &decision.Route{Name: "writes", PathPrefix: "/writes", Methods: []string{"POST"}, Authenticators: []decision.Authenticator{bearer{}}}},
			{Route: &decision.Route{Name: "api", PathPrefix: "/api", Authenticators: []decision.Authenticator{bearer{}}}, Upstream: up, ForwardAuthorization: true},
		},
		CORS:   gateway.CORS{AllowedOrigins: []string{"http://localhost:3000"}},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
}

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

// fixture is a real gRPC server on loopback and a client speaking Envoy's protos to it.
type fixture struct {
	handler atomic.Pointer[gateway.Handler]
	client  authv3.AuthorizationClient
	conn    *grpc.ClientConn
}

func newFixture(t *testing.T, h *gateway.Handler, maxHeaderBytes int) *fixture {
	t.Helper()
	f := &fixture{}
	f.handler.Store(h)
	srv := NewServer(New(Options{Handler: f.handler.Load, MaxHeaderBytes: maxHeaderBytes}), nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		srv.Stop()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	f.conn, f.client = conn, authv3.NewAuthorizationClient(conn)
	return f
}

func (f *fixture) check(t *testing.T, req *authv3.CheckRequest) *authv3.CheckResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := f.client.Check(ctx, req)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	return resp
}

// httpReq describes a request as Envoy's attributes do.
type httpReq struct {
	method, path string
	headers      map[string]string
}

func checkRequest(r httpReq) *authv3.CheckRequest {
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{Address: "203.0.113.9", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 40000}}}}},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Id: "envoy-1", Method: r.method, Path: r.path, Host: "api.example", Scheme: "https",
			Headers: r.headers, Protocol: "HTTP/1.1",
		}},
	}}
}

// decideHTTP asks the decide endpoint of h for r, as a trusted proxy would describe it.
func decideHTTP(h *gateway.Handler, r httpReq) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, decidePath, nil)
	req.RemoteAddr = "127.0.0.1:5555"
	for k, v := range r.headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("X-Forwarded-Method", r.method)
	req.Header.Set("X-Forwarded-Uri", r.path)
	req.Header.Set("X-Forwarded-Host", "api.example")
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Header.Add("X-Forwarded-For", "203.0.113.9")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// envoyHTTP asks h as Envoy's HTTP ext_authz mode does: the original method, the decide
// path followed by the original target, the client's headers.
func envoyHTTP(h *gateway.Handler, r httpReq) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Method, req.RequestURI = r.method, decidePath+r.path
	if u, err := url.ParseRequestURI(req.RequestURI); err == nil {
		req.URL = u
	} else {
		req.URL = &url.URL{Path: decidePath}
	}
	req.Host = "api.example"
	req.RemoteAddr = "127.0.0.1:5555"
	for k, v := range r.headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("X-Forwarded-Host", "api.example")
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Header.Add("X-Forwarded-For", "203.0.113.9")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// answer is what a client gets, from either side, with the request id left out.
type answer struct {
	Status  int
	Headers map[string]string
	Problem map[string]any
}

var compared = []string{"www-authenticate", "retry-after", "allow", "content-type", "cache-control",
	"x-content-type-options", "access-control-allow-origin", "vary"}

func fromHTTP(t *testing.T, w *httptest.ResponseRecorder) answer {
	t.Helper()
	a := answer{Status: w.Code, Headers: map[string]string{}}
	for _, name := range compared {
		if v := w.Header().Values(name); len(v) > 0 {
			a.Headers[name] = strings.Join(v, ", ")
		}
	}
	if w.Header().Get("X-Request-Id") == "" {
		t.Error("the decide endpoint sent no X-Request-Id")
	}
	a.Problem = problem(t, w.Body.String())
	return a
}

func fromCheck(t *testing.T, resp *authv3.CheckResponse) answer {
	t.Helper()
	d := resp.GetDeniedResponse()
	if d == nil {
		t.Fatalf("not a denial: %v", resp)
	}
	if codes.Code(resp.GetStatus().GetCode()) == codes.OK {
		t.Errorf("a denial with gRPC status OK would let Envoy pass the request: %v", resp)
	}
	a := answer{Status: int(d.GetStatus().GetCode()), Headers: map[string]string{}}
	seen := map[string]bool{}
	for _, o := range d.GetHeaders() {
		k := o.GetHeader().GetKey()
		if k != strings.ToLower(k) {
			t.Errorf("header %q is not lower case", k)
		}
		if seen[k] {
			t.Errorf("header %q sent twice", k)
		}
		seen[k] = true
		if o.GetAppendAction() != corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD {
			t.Errorf("header %q: append action %v", k, o.GetAppendAction())
		}
		if slices.Contains(compared, k) {
			a.Headers[k] = o.GetHeader().GetValue()
		}
		if k == "x-gatehouse-problem" || k == "content-length" {
			t.Errorf("header %q is for nginx or is Envoy's to set", k)
		}
	}
	if !seen["x-request-id"] {
		t.Error("the denial has no X-Request-Id")
	}
	a.Problem = problem(t, d.GetBody())
	return a
}

func problem(t *testing.T, body string) map[string]any {
	t.Helper()
	if body == "" {
		return nil
	}
	var p map[string]any
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, body)
	}
	if p["request_id"] == nil || p["request_id"] == "" {
		t.Errorf("problem without request_id: %s", body)
	}
	delete(p, "request_id")
	return p
}

// TestCheckGivesTheDecideEndpointsDecision asks for every reason code through Check and
// through the decide endpoint, and requires the same status, challenges, headers and
// problem body of both, and the contract's status.
func TestCheckGivesTheDecideEndpointsDecision(t *testing.T) {
	trusted := newHandler(loopback, 8<<10)
	untrusted := newHandler(nil, 8<<10)
	f := newFixture(t, trusted, 8<<10)
	auth := func(token string) map[string]string { return map[string]string{"authorization": "Bearer " + token} }
	type row struct {
		reason    decision.Reason
		req       httpReq
		untrusted bool
		headers   []string // headers the answer must carry
	}
	rows := []row{
		{reason: decision.CredentialsMissing, req: httpReq{method: "GET", path: "/api/orders"}, headers: []string{"www-authenticate"}},
		{reason: decision.SchemeNotAccepted, req: httpReq{method: "GET", path: "/api/orders", headers: map[string]string{"authorization": "Digest x"}}, headers: []string{"www-authenticate"}},
		{reason: decision.InvalidRequest, req: httpReq{method: "GET", path: "/api/orders?access_token=t", headers: auth("alice")}, headers: []string{"www-authenticate"}},
		{reason: decision.InsufficientScope, req: httpReq{method: "GET", path: "/admin/x", headers: auth("bob")}, headers: []string{"www-authenticate"}},
		{reason: decision.Forbidden, req: httpReq{method: "GET", path: "/api/orders", headers: auth("alice")}, untrusted: true},
		{reason: decision.TooManyFailures, req: httpReq{method: "GET", path: "/limited/x", headers: auth("nope")}, headers: []string{"retry-after"}},
		{reason: decision.AuthenticatorUnavailable, req: httpReq{method: "GET", path: "/api/orders", headers: auth("down")}, headers: []string{"retry-after"}},
		{reason: decision.RouteNotFound, req: httpReq{method: "GET", path: "/nowhere"}},
		{reason: decision.MethodNotAllowed, req: httpReq{method: "GET", path: "/writes/1", headers: auth("alice")}, headers: []string{"allow"}},
		{reason: decision.PathRejected, req: httpReq{method: "GET", path: "/public/..;/admin"}},
		{reason: gateway.HeadersTooLarge, req: httpReq{method: "GET", path: "/api/orders", headers: map[string]string{"x-big": strings.Repeat("a", 9<<10)}}},
	}
	covered := map[decision.Reason]bool{}
	for _, r := range rows {
		covered[r.reason] = true
	}
	// Every other reason is an authenticator's refusal, passed through as it is.
	for _, r := range decision.Reasons {
		if !covered[r] {
			rows = append(rows, row{reason: r, req: httpReq{method: "GET", path: "/api/orders", headers: auth("fail:" + string(r))}, headers: []string{"www-authenticate"}})
		}
	}
	for _, r := range append(slices.Clone(decision.Reasons), gateway.Reasons...) {
		if !slices.ContainsFunc(rows, func(x row) bool { return x.reason == r }) && r != gateway.UpstreamUnavailable && r != gateway.UpstreamTimeout {
			t.Errorf("reason %s has no row", r)
		}
	}
	for _, r := range rows {
		t.Run(string(r.reason), func(t *testing.T) {
			h := trusted
			if r.untrusted {
				h = untrusted
			}
			f.handler.Store(h)
			defer f.handler.Store(trusted)
			got := fromCheck(t, f.check(t, checkRequest(r.req)))
			want := fromHTTP(t, decideHTTP(h, r.req))
			viaEnvoyHTTP := fromHTTP(t, envoyHTTP(h, r.req))
			if r.reason == gateway.HeadersTooLarge {
				// The count is of the request as it reached the gateway: the decide
				// request's line and Host differ from Envoy's description.
				delete(want.Problem, "detail")
				delete(got.Problem, "detail")
				delete(viaEnvoyHTTP.Problem, "detail")
			}
			if diff := cmp.Diff(want, viaEnvoyHTTP); diff != "" {
				t.Errorf("Envoy's HTTP mode and the decide endpoint differ (-decide +envoy http):\n%s", diff)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Check and the decide endpoint differ (-decide +check):\n%s", diff)
			}
			wantStatus := r.reason.Status()
			if r.reason == gateway.HeadersTooLarge {
				wantStatus = http.StatusRequestHeaderFieldsTooLarge
			}
			if got.Status != wantStatus || got.Problem["reason"] != string(r.reason) {
				t.Errorf("got %d %v, want %d %s", got.Status, got.Problem["reason"], wantStatus, r.reason)
			}
			if got.Headers["content-type"] != "application/problem+json" {
				t.Errorf("content-type %q", got.Headers["content-type"])
			}
			for _, name := range r.headers {
				if got.Headers[name] == "" {
					t.Errorf("no %s in %v", name, got.Headers)
				}
			}
		})
	}
}

// TestEnvoyHTTPModeAllow: an allow in Envoy's HTTP mode carries the identity headers
// and lists in x-envoy-auth-headers-to-remove those it did not set and the credentials
// of a route that does not forward them; a path under the decide path is the original
// request's, read before cleaning.
func TestEnvoyHTTPModeAllow(t *testing.T) {
	h := newHandler(loopback, 8<<10)
	w := envoyHTTP(h, httpReq{method: "GET", path: "/reports/q?x=1", headers: map[string]string{"x-api-key": "k1", "x-gatehouse-subject": "root"}})
	if w.Code != 200 || w.Header().Get("X-Gatehouse-Subject") != "svc-reports" {
		t.Fatalf("status %d headers %v", w.Code, w.Header())
	}
	if got := w.Header().Get(gateway.HeaderEnvoyRemove); got != "authorization, x-api-key" {
		t.Errorf("%s: %q", gateway.HeaderEnvoyRemove, got)
	}
	w = envoyHTTP(h, httpReq{method: "GET", path: "/public/x", headers: map[string]string{"x-gatehouse-subject": "root"}})
	if got := w.Header().Get(gateway.HeaderEnvoyRemove); w.Code != 200 || got != "x-gatehouse-subject, x-gatehouse-scopes, x-gatehouse-authenticator, authorization" {
		t.Errorf("anonymous: %d %q", w.Code, got)
	}
	w = envoyHTTP(h, httpReq{method: "GET", path: "/public/../admin/x"})
	if w.Code != 401 {
		t.Errorf("/public/../admin/x: %d, want the admin route's 401", w.Code)
	}
	// A route that forwards credentials, with every identity header set: nothing to remove.
	w = envoyHTTP(h, httpReq{method: "POST", path: "/api/orders", headers: map[string]string{"authorization": "Bearer alice"}})
	if w.Code != 200 || w.Header().Get(gateway.HeaderEnvoyRemove) != "" {
		t.Errorf("POST /api/orders: %d %v", w.Code, w.Header())
	}
}

// TestCheckGRPCStatus: the gRPC status of a denial follows its HTTP status, and the
// 503 of an unavailable authenticator tells Envoy to retry later.
func TestCheckGRPCStatus(t *testing.T) {
	f := newFixture(t, newHandler(loopback, 8<<10), 8<<10)
	for _, tc := range []struct {
		token string
		path  string
		code  codes.Code
		http  int
	}{
		{"down", "/api/x", codes.Unavailable, 503},
		{"nope", "/api/x", codes.Unauthenticated, 401},
		{"bob", "/admin/x", codes.PermissionDenied, 403},
		{"nope", "/limited/x", codes.ResourceExhausted, 429},
		{"alice", "/nowhere", codes.NotFound, 404},
	} {
		resp := f.check(t, checkRequest(httpReq{method: "GET", path: tc.path, headers: map[string]string{"authorization": "Bearer " + tc.token}}))
		if c := codes.Code(resp.GetStatus().GetCode()); c != tc.code || int(resp.GetDeniedResponse().GetStatus().GetCode()) != tc.http {
			t.Errorf("%s %s: gRPC %v HTTP %d, want %v %d", tc.token, tc.path, c, resp.GetDeniedResponse().GetStatus().GetCode(), tc.code, tc.http)
		}
	}
}

func headerOptions(opts []*corev3.HeaderValueOption) map[string]string {
	m := map[string]string{}
	for _, o := range opts {
		m[o.GetHeader().GetKey()] = o.GetHeader().GetValue()
	}
	return m
}

// TestCheckAllow: an allowed request sets the identity headers and removes every
// spelling of them the client sent, and the credentials on a route that does not
// forward them.
func TestCheckAllow(t *testing.T) {
	f := newFixture(t, newHandler(loopback, 8<<10), 8<<10)
	resp := f.check(t, checkRequest(httpReq{method: "GET", path: "/reports/q1?x=1", headers: map[string]string{
		"x-api-key":           "k1",
		"x-gatehouse-subject": "root",
		"x_gatehouse_scopes":  "everything",
		"origin":              "http://localhost:3000",
	}}))
	ok := resp.GetOkResponse()
	if codes.Code(resp.GetStatus().GetCode()) != codes.OK || ok == nil {
		t.Fatalf("not allowed: %v", resp)
	}
	set := headerOptions(ok.GetHeaders())
	if set["x-gatehouse-subject"] != "svc-reports" || set["x-gatehouse-scopes"] != "reports:read" || set["x-gatehouse-authenticator"] != "keys" || len(set["x-gatehouse-request-id"]) != 24 {
		t.Errorf("identity headers %v", set)
	}
	for _, o := range ok.GetHeaders() {
		if o.GetAppendAction() != corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD {
			t.Errorf("%s would be appended to the client's value", o.GetHeader().GetKey())
		}
	}
	remove := ok.GetHeadersToRemove()
	for _, name := range []string{"x_gatehouse_scopes", "authorization", "x-api-key"} {
		if !slices.Contains(remove, name) {
			t.Errorf("headers_to_remove %v lacks %s", remove, name)
		}
	}
	for _, name := range remove {
		if _, ok := set[name]; ok {
			t.Errorf("%s is both set and removed", name)
		}
	}
	if q := ok.GetQueryParametersToRemove(); !slices.Equal(q, []string{"access_token", "api_key"}) {
		// Where the route reads credentials, not only where this request had them.
		t.Errorf("query_parameters_to_remove %v", q)
	}
	resHeaders := headerOptions(ok.GetResponseHeadersToAdd())
	if resHeaders["access-control-allow-origin"] != "http://localhost:3000" || resHeaders["x-request-id"] != set["x-gatehouse-request-id"] {
		t.Errorf("response headers %v", resHeaders)
	}

	// A route that forwards credentials keeps them; an anonymous route sets only the
	// request id and removes the rest.
	resp = f.check(t, checkRequest(httpReq{method: "GET", path: "/api/orders", headers: map[string]string{"authorization": "Bearer alice"}}))
	if ok := resp.GetOkResponse(); ok == nil || slices.Contains(ok.GetHeadersToRemove(), "authorization") || len(ok.GetQueryParametersToRemove()) != 0 {
		t.Errorf("forwarding route: %v", resp)
	}
	resp = f.check(t, checkRequest(httpReq{method: "GET", path: "/public/x", headers: map[string]string{"x-gatehouse-subject": "root"}}))
	ok = resp.GetOkResponse()
	if set := headerOptions(ok.GetHeaders()); len(set) != 1 || set["x-gatehouse-request-id"] == "" {
		t.Errorf("anonymous route sets %v", set)
	}
	if !slices.Contains(ok.GetHeadersToRemove(), "x-gatehouse-subject") {
		t.Errorf("anonymous route keeps the client's x-gatehouse-subject: %v", ok.GetHeadersToRemove())
	}
}

// TestCheckPreflight: a CORS preflight from an allowed origin is answered 204 by Envoy
// itself, never passed upstream; one from another origin is decided as any request.
func TestCheckPreflight(t *testing.T) {
	f := newFixture(t, newHandler(loopback, 8<<10), 8<<10)
	resp := f.check(t, checkRequest(httpReq{method: "OPTIONS", path: "/api/orders", headers: map[string]string{
		"origin": "http://localhost:3000", "access-control-request-method": "GET", "access-control-request-headers": "authorization"}}))
	d := resp.GetDeniedResponse()
	if d == nil || d.GetStatus().GetCode() != http.StatusNoContent {
		t.Fatalf("preflight: %v", resp)
	}
	hd := headerOptions(d.GetHeaders())
	if hd["access-control-allow-origin"] != "http://localhost:3000" || !strings.Contains(strings.ToLower(hd["access-control-allow-headers"]), "authorization") {
		t.Errorf("preflight headers %v", hd)
	}
	if _, ok := hd["x-gatehouse-preflight"]; ok || d.GetBody() != "" {
		t.Errorf("preflight carries the marker or a body: %v", d)
	}
	resp = f.check(t, checkRequest(httpReq{method: "OPTIONS", path: "/api/orders", headers: map[string]string{
		"origin": "https://evil.example", "access-control-request-method": "GET"}}))
	if resp.GetDeniedResponse().GetStatus().GetCode() != http.StatusUnauthorized {
		t.Errorf("preflight from another origin: %v", resp)
	}
}

// TestCheckMalformed: requests Envoy would never send, and requests built to get
// around the decision, are refused with the contract's 4xx, never a 5xx or a panic,
// and the server keeps answering.
func TestCheckMalformed(t *testing.T) {
	f := newFixture(t, newHandler(loopback, 8<<10), 8<<10)
	valid := func(mutate func(*authv3.AttributeContext_HttpRequest)) *authv3.CheckRequest {
		req := checkRequest(httpReq{method: "GET", path: "/api/orders", headers: map[string]string{"authorization": "Bearer alice"}})
		mutate(req.Attributes.Request.Http)
		return req
	}
	for _, tc := range []struct {
		name   string
		req    *authv3.CheckRequest
		status int
		reason string
		detail string
	}{
		{"empty request", &authv3.CheckRequest{}, 400, "invalid_request", "no attributes.request.http"},
		{"no http", &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{}}}, 400, "invalid_request", "no attributes.request.http"},
		{"no method", valid(func(h *authv3.AttributeContext_HttpRequest) { h.Method = "" }), 400, "invalid_request", "method is empty"},
		{"method not a token", valid(func(h *authv3.AttributeContext_HttpRequest) { h.Method = "GET /admin" }), 400, "invalid_request", "not allowed in a method"},
		{"no path", valid(func(h *authv3.AttributeContext_HttpRequest) { h.Path = "" }), 400, "invalid_request", "path is empty"},
		{"relative path", valid(func(h *authv3.AttributeContext_HttpRequest) { h.Path = "api/orders" }), 400, "invalid_request", "must start with /"},
		{"dot-dot-semicolon", valid(func(h *authv3.AttributeContext_HttpRequest) { h.Path = "/public/..;/admin" }), 400, "path_rejected", ""},
		{"double encoded dots", valid(func(h *authv3.AttributeContext_HttpRequest) { h.Path = "/public/%252e%252e/admin" }), 400, "path_rejected", ""},
		{"backslash", valid(func(h *authv3.AttributeContext_HttpRequest) { h.Path = "/public/%5c../admin" }), 400, "path_rejected", ""},
		{"overlong UTF-8 dot", valid(func(h *authv3.AttributeContext_HttpRequest) { h.Path = "/public/%c0%ae%c0%ae/admin" }), 400, "path_rejected", ""},
		{"NUL in path", valid(func(h *authv3.AttributeContext_HttpRequest) { h.Path = "/api/%00" }), 400, "path_rejected", ""},
		{"fragment", valid(func(h *authv3.AttributeContext_HttpRequest) { h.Path = "/api/orders#x" }), 400, "invalid_request", "fragment"},
		{"header value with CR LF", valid(func(h *authv3.AttributeContext_HttpRequest) { h.Headers["x-note"] = "a\r\nx-gatehouse-subject: root" }), 400, "invalid_request", "x-note holds a control character"},
		{"header name not a token", valid(func(h *authv3.AttributeContext_HttpRequest) { h.Headers["bad name"] = "1" }), 400, "invalid_request", "not an HTTP token"},
		{"huge headers", valid(func(h *authv3.AttributeContext_HttpRequest) {
			for i := range 200 {
				h.Headers["x-pad-"+strings.Repeat("p", i%7)+string(rune('a'+i%26))+string(rune('a'+i/26))] = strings.Repeat("v", 60)
			}
		}), 431, "headers_too_large", ""},
		{"client describes another request", valid(func(h *authv3.AttributeContext_HttpRequest) { h.Headers["x-original-uri"] = "/public/x" }), 400, "invalid_request", "describe different requests"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := f.check(t, tc.req)
			d := resp.GetDeniedResponse()
			if d == nil {
				t.Fatalf("not denied: %v", resp)
			}
			p := problem(t, d.GetBody())
			if int(d.GetStatus().GetCode()) != tc.status || p["reason"] != tc.reason {
				t.Errorf("got %d %v, want %d %s: %s", d.GetStatus().GetCode(), p["reason"], tc.status, tc.reason, d.GetBody())
			}
			if detail, _ := p["detail"].(string); !strings.Contains(detail, tc.detail) {
				t.Errorf("detail %q lacks %q", detail, tc.detail)
			}
			if strings.Contains(d.GetBody(), "alice") {
				t.Errorf("the refusal repeats the credential: %s", d.GetBody())
			}
		})
	}

	// Dot segments are resolved as the decide endpoint resolves them: the admin route
	// decides "/public/../admin", whatever the path says first.
	resp := f.check(t, checkRequest(httpReq{method: "GET", path: "/public/../admin/x"}))
	if d := resp.GetDeniedResponse(); d.GetStatus().GetCode() != 401 {
		t.Errorf("/public/../admin/x: %v", resp)
	}
	resp = f.check(t, checkRequest(httpReq{method: "GET", path: "/public/%2e%2e/admin/x"}))
	if d := resp.GetDeniedResponse(); d.GetStatus().GetCode() != 401 {
		t.Errorf("/public/%%2e%%2e/admin/x: %v", resp)
	}

	// Header bytes that are not UTF-8 (encode_raw_headers) are obs-text, read as net/http
	// reads them; a header value that is not UTF-8 in the identity set travels raw.
	raw := valid(func(h *authv3.AttributeContext_HttpRequest) {
		h.Headers = nil
		h.HeaderMap = &corev3.HeaderMap{Headers: []*corev3.HeaderValue{
			{Key: "authorization", RawValue: []byte("Bearer alice")},
			{Key: "x-note", RawValue: []byte{'a', 0xff, 0xfe}},
		}}
	})
	if resp := f.check(t, raw); resp.GetOkResponse() == nil {
		t.Errorf("raw headers: %v", resp)
	}
}

// rawCodec sends pre-encoded bytes and decodes the answer as proto.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error)   { return v.([]byte), nil }
func (rawCodec) Unmarshal(b []byte, v any) error { return proto.Unmarshal(b, v.(proto.Message)) }
func (rawCodec) Name() string                    { return "proto" }
func nested(field protowire.Number, b []byte) []byte {
	return protowire.AppendBytes(protowire.AppendTag(nil, field, protowire.BytesType), b)
}

// TestCheckBadWire: bytes that are no CheckRequest (a method that is not UTF-8, a
// message over the size limit) are refused by gRPC before the gateway, and the server
// goes on answering.
func TestCheckBadWire(t *testing.T) {
	f := newFixture(t, newHandler(loopback, 8<<10), 8<<10)
	invoke := func(msg []byte) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return f.conn.Invoke(ctx, authv3.Authorization_Check_FullMethodName, msg, new(authv3.CheckResponse), grpc.ForceCodec(rawCodec{}))
	}
	// CheckRequest.attributes(1).request(4).http(2).method(2) = "\xff"
	method := protowire.AppendString(protowire.AppendTag(nil, 2, protowire.BytesType), "G\xffT")
	notUTF8 := nested(1, nested(4, nested(2, method)))
	if err := invoke(notUTF8); grpcstatus.Code(err) == codes.OK {
		t.Errorf("a method that is not UTF-8 was accepted")
	}
	garbage := []byte{0xff, 0xff, 0xff, 0xff}
	if err := invoke(garbage); grpcstatus.Code(err) == codes.OK {
		t.Errorf("garbage was accepted")
	}
	big := nested(1, nested(4, nested(2, protowire.AppendString(protowire.AppendTag(nil, 4, protowire.BytesType), "/"+strings.Repeat("a", MaxMessageBytes(8<<10))))))
	if err := invoke(big); grpcstatus.Code(err) != codes.ResourceExhausted {
		t.Errorf("an oversized message: %v, want ResourceExhausted", err)
	}
	if resp := f.check(t, checkRequest(httpReq{method: "GET", path: "/api/x", headers: map[string]string{"authorization": "Bearer alice"}})); resp.GetOkResponse() == nil {
		t.Errorf("the server stopped answering: %v", resp)
	}
}
