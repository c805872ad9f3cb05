// Package extauthz serves Envoy's external authorization gRPC API
// (envoy.service.auth.v3.Authorization/Check) for Envoy, Envoy Gateway and Istio.
//
// A Check is answered by the forward-auth decision endpoint's own code
// (gateway.Handler.DecideForward), so that it gets exactly the decision the decide
// endpoint gives the same request: the CheckRequest's attributes.request.http is turned
// into the request a trusted proxy would send (its headers, X-Forwarded-Method and
// X-Forwarded-Uri from the method and path, X-Forwarded-Host and X-Forwarded-Proto from
// the host and scheme, the gRPC peer as the caller), and the decide endpoint's answer
// into a CheckResponse:
//
//   - 200: OkHttpResponse with the identity headers to set, and to remove every
//     identity header the client sent under another spelling, plus the credentials
//     (headers and query parameters) when the route has forward_authorization: false.
//   - a refusal: DeniedHttpResponse with the same status, WWW-Authenticate, Retry-After,
//     X-Request-Id and problem+json body, and a gRPC status that is not OK.
//   - a CORS preflight from an allowed origin: DeniedHttpResponse 204 with the
//     Access-Control-* headers, so Envoy answers it and never passes it upstream.
//
// The peer certificate Envoy may relay in attributes.source.certificate is not used: the
// decide endpoint decides as a request without a client certificate, since a
// certificate relayed by a proxy proves only what the proxy checked, so mtls routes
// refuse through ext_authz as they do through forward auth.
package extauthz

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"unicode/utf8"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/proxy"
)

// CheckPath is the path logged for a Check whose request could not be read at all.
const CheckPath = "/envoy.service.auth.v3.Authorization/Check"

// Options configures a Service.
type Options struct {
	// Handler returns the gateway now serving; each Check asks it once and keeps it.
	Handler func() *gateway.Handler
	// MaxHeaderBytes is max_header_bytes: the gRPC server refuses larger messages
	// outright (see MaxMessageBytes), the gateway refuses a request whose headers are
	// larger than it with 431 headers_too_large.
	MaxHeaderBytes int
}

// MaxMessageBytes is the largest CheckRequest a server built for maxHeaderBytes reads:
// the headers the gateway may accept twice over (as the public listener's backstop) and
// room for the other attributes. Envoy must not send request bodies (with_request_body),
// which Gatehouse does not read.
func MaxMessageBytes(maxHeaderBytes int) int { return 2*maxHeaderBytes + 64<<10 }

// Service implements authv3.AuthorizationServer.
type Service struct {
	authv3.UnimplementedAuthorizationServer
	o Options
}

// New returns the service for o.
func New(o Options) *Service { return &Service{o: o} }

// NewServer returns a gRPC server with the Authorization service registered, serving
// TLS with tlsConfig when it is not nil (its GetCertificate may reload certificates).
func NewServer(s *Service, tlsConfig *tls.Config) *grpc.Server {
	opts := []grpc.ServerOption{grpc.MaxRecvMsgSize(MaxMessageBytes(s.o.MaxHeaderBytes))}
	if tlsConfig != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(tlsConfig)))
	}
	srv := grpc.NewServer(opts...)
	authv3.RegisterAuthorizationServer(srv, s)
	return srv
}

// Check answers one CheckRequest. It returns an error only when the request carries no
// HTTP request at all (attributes.request.http), which Envoy always sends: every other
// problem is a DeniedHttpResponse, as the decide endpoint would answer.
func (s *Service) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	r, malformed := toRequest(ctx, req)
	// Found before the decide endpoint removes them from r.
	spoofs := spoofed(r.Header)
	w := &recorder{header: http.Header{}, status: http.StatusOK}
	creds := s.o.Handler().DecideForward(w, r, malformed)
	return toResponse(w, spoofs, creds), nil
}

// toRequest builds the request a trusted proxy would send the decide endpoint for req.
// malformed is not nil when req cannot be read; r is then still good to render the
// refusal with.
func toRequest(ctx context.Context, req *authv3.CheckRequest) (*http.Request, error) {
	r := &http.Request{
		Method:     http.MethodGet,
		URL:        &url.URL{Path: CheckPath},
		RequestURI: CheckPath,
		Proto:      "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{},
		Body:   http.NoBody,
	}
	r = r.WithContext(ctx)
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		r.RemoteAddr = p.Addr.String()
	}
	hr := req.GetAttributes().GetRequest().GetHttp()
	if hr == nil {
		return r, errors.New("the CheckRequest has no attributes.request.http; Envoy's ext_authz HTTP filter always sends it")
	}
	r.RequestURI = hr.GetPath()
	if m := hr.GetMethod(); m != "" && len(m) <= 32 {
		r.Method = m
	}
	if err := copyHeaders(r.Header, hr); err != nil {
		return r, err
	}
	if hr.GetMethod() == "" {
		return r, errors.New("attributes.request.http.method is empty")
	}
	if hr.GetPath() == "" {
		return r, errors.New("attributes.request.http.path is empty")
	}
	// What Envoy describes is the request, whatever the client sent in these headers
	// (as Traefik overwrites its own): a client's X-Original-* headers stay, and the
	// decide endpoint refuses them when they disagree.
	r.Header.Set("X-Forwarded-Method", hr.GetMethod())
	r.Header.Set("X-Forwarded-Uri", hr.GetPath())
	r.Header.Del("X-Forwarded-Host")
	r.Header.Del("X-Forwarded-Proto")
	if h := hr.GetHost(); h != "" {
		r.Host = h
		r.Header.Set("X-Forwarded-Host", h)
	}
	if sc := hr.GetScheme(); sc == "http" || sc == "https" {
		r.Header.Set("X-Forwarded-Proto", sc)
	}
	// The downstream peer Envoy saw is the last hop of X-Forwarded-For, as a proxy that
	// appends to it would have written it; with trusted_proxies covering Envoy, the
	// client address is then read as for every forward-auth request.
	if a := req.GetAttributes().GetSource().GetAddress().GetSocketAddress().GetAddress(); a != "" {
		if ip, err := netip.ParseAddr(a); err == nil {
			r.Header.Add("X-Forwarded-For", ip.Unmap().String())
		}
	}
	return r, nil
}

// copyHeaders copies the request's headers into hd: headers (lower-case keys, repeated
// fields joined by Envoy) or, with encode_raw_headers, header_map. Pseudo-headers and
// Host are left out (the host is hr.host). A name that is not an HTTP token or a value
// with a control character is malformed, as net/http would refuse it on the wire.
func copyHeaders(hd http.Header, hr *authv3.AttributeContext_HttpRequest) error {
	add := func(name, value string) error {
		if name == "" || name[0] == ':' || strings.EqualFold(name, "host") {
			return nil
		}
		if !validName(name) {
			return fmt.Errorf("a header name in attributes.request.http is not an HTTP token (%d bytes)", len(name))
		}
		if !validValue(value) {
			return fmt.Errorf("the value of header %s holds a control character", name)
		}
		hd.Add(name, value)
		return nil
	}
	for name, value := range hr.GetHeaders() {
		if err := add(name, value); err != nil {
			return err
		}
	}
	for _, hv := range hr.GetHeaderMap().GetHeaders() {
		v := hv.GetValue()
		if raw := hv.GetRawValue(); raw != nil {
			v = string(raw)
		}
		if err := add(hv.GetKey(), v); err != nil {
			return err
		}
	}
	return nil
}

// validName reports whether s is an RFC 9110 token.
func validName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// validValue reports whether s may be a field value: no control character but HTAB.
// Bytes from 0x80 (obs-text, including what is not UTF-8) are allowed, as net/http
// allows them.
func validValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// recorder holds the decide endpoint's answer.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *recorder) Header() http.Header         { return w.header }
func (w *recorder) WriteHeader(status int)      { w.status = status }
func (w *recorder) Write(b []byte) (int, error) { return w.body.Write(b) }

// identityNames are the identity headers, lower case as Envoy names headers.
var identityNames = []string{
	strings.ToLower(proxy.HeaderSubject), strings.ToLower(proxy.HeaderScopes),
	strings.ToLower(proxy.HeaderAuthenticator), strings.ToLower(proxy.HeaderRequestID),
}

// dropped are the decide endpoint's headers that mean nothing to Envoy's client: the
// length (Envoy sets its own), the copy of the problem for nginx, and the preflight
// marker (the answer is the 204 itself).
var dropped = map[string]bool{"Content-Length": true, gateway.HeaderProblem: true, gateway.HeaderPreflight: true}

// toResponse turns the decide endpoint's answer w into a CheckResponse. spoofs are the
// identity headers the client sent; creds where the credentials are.
func toResponse(w *recorder, spoofs []string, creds gateway.Credentials) *authv3.CheckResponse {
	hd := w.header
	switch {
	case w.status == http.StatusOK:
		return &authv3.CheckResponse{
			Status:       &status.Status{Code: int32(codes.OK)},
			HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: okResponse(hd, spoofs, creds)},
		}
	case w.status == http.StatusForbidden && hd.Get(gateway.HeaderPreflight) == gateway.PreflightAnswer:
		return denied(codes.PermissionDenied, http.StatusNoContent, hd, "")
	}
	return denied(grpcCode(w.status), w.status, hd, w.body.String())
}

// okResponse lists the identity headers to set, the spoofable ones to remove, and the
// credentials to remove when the route does not forward them.
func okResponse(hd http.Header, spoofs []string, creds gateway.Credentials) *authv3.OkHttpResponse {
	ok := &authv3.OkHttpResponse{}
	set := map[string]bool{}
	for _, name := range identityNames {
		if v := hd.Get(name); v != "" {
			ok.Headers = append(ok.Headers, option(name, v))
			set[name] = true
		}
	}
	for _, name := range identityNames {
		if !set[name] {
			ok.HeadersToRemove = append(ok.HeadersToRemove, name)
		}
	}
	// Every other spelling a client may have sent (X_Gatehouse_Subject, say), which an
	// upstream folding '_' into '-' would read as ours.
	for _, name := range spoofs {
		if !set[name] && !contains(ok.HeadersToRemove, name) {
			ok.HeadersToRemove = append(ok.HeadersToRemove, name)
		}
	}
	for _, name := range creds.Headers {
		ok.HeadersToRemove = append(ok.HeadersToRemove, strings.ToLower(name))
	}
	ok.QueryParametersToRemove = creds.Query
	for name, vs := range hd {
		if strings.HasPrefix(name, "Access-Control-") || name == "Vary" || name == "X-Request-Id" {
			ok.ResponseHeadersToAdd = append(ok.ResponseHeadersToAdd, option(strings.ToLower(name), strings.Join(vs, ", ")))
		}
	}
	return ok
}

// denied is a DeniedHttpResponse with the decide endpoint's status, headers and body.
func denied(code codes.Code, httpStatus int, hd http.Header, body string) *authv3.CheckResponse {
	d := &authv3.DeniedHttpResponse{Status: &typev3.HttpStatus{Code: typev3.StatusCode(httpStatus)}, Body: body}
	for name, vs := range hd {
		if dropped[name] || (body == "" && name == "Content-Type") {
			continue
		}
		for _, v := range vs {
			d.Headers = append(d.Headers, option(strings.ToLower(name), v))
		}
	}
	return &authv3.CheckResponse{
		Status:       &status.Status{Code: int32(code), Message: http.StatusText(httpStatus)},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: d},
	}
}

// grpcCode is the gRPC status of a refusal with HTTP status s. Envoy denies on any code
// but OK and answers the client with the DeniedHttpResponse; the code is for its stats
// and for other clients of the API.
func grpcCode(s int) codes.Code {
	switch s {
	case http.StatusUnauthorized:
		return codes.Unauthenticated
	case http.StatusBadRequest, http.StatusRequestHeaderFieldsTooLarge:
		return codes.InvalidArgument
	case http.StatusNotFound:
		return codes.NotFound
	case http.StatusTooManyRequests:
		return codes.ResourceExhausted
	case http.StatusServiceUnavailable:
		return codes.Unavailable
	}
	return codes.PermissionDenied
}

// option is a header to set, overwriting any value the request had. A value that is
// not UTF-8 travels as raw_value: proto3 strings must be UTF-8.
func option(name, value string) *corev3.HeaderValueOption {
	hv := &corev3.HeaderValue{Key: name}
	if utf8.ValidString(value) {
		hv.Value = value
	} else {
		hv.RawValue = []byte(value)
	}
	return &corev3.HeaderValueOption{Header: hv, AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD}
}

// spoofed lists, lower case, the names in the original request's headers
// that read as identity headers, compared as proxy.StripIdentityHeaders compares them.
func spoofed(original http.Header) []string {
	var out []string
	for name := range original {
		probe := http.Header{name: nil}
		proxy.StripIdentityHeaders(probe)
		if len(probe) == 0 {
			out = append(out, strings.ToLower(name))
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
