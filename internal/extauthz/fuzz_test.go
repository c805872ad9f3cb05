package extauthz

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/grpc/codes"

	"github.com/gatehouse-dev/gatehouse/internal/gateway"
)

// FuzzCheck sends Check any method, path, header and raw header value: the answer is
// always a CheckResponse, an allow with identity headers or a refusal with one of the
// contract's statuses and a problem body, never a panic or a 5xx but the 503.
func FuzzCheck(f *testing.F) {
	f.Add("GET", "/api/orders", "authorization", "Bearer alice", []byte("x"))
	f.Add("GET", "/public/..;/admin", "x-note", "a", []byte{0xff})
	f.Add("OPTIONS", "/api/orders", "origin", "http://localhost:3000", []byte("GET"))
	f.Add("POST", "/reports/q?api_key=k1&access_token=t", "x-api-key", "k1", []byte(nil))
	f.Add("GET", "http://h/%2e%2e/admin", "x_gatehouse_subject", "root", []byte("\r\n"))
	h := newHandler(loopback, 8<<10)
	s := New(Options{Handler: func() *gateway.Handler { return h }, MaxHeaderBytes: 8 << 10})
	f.Fuzz(func(t *testing.T, method, path, name, value string, raw []byte) {
		req := checkRequest(httpReq{method: method, path: path, headers: map[string]string{name: value}})
		req.Attributes.Request.Http.HeaderMap = &corev3.HeaderMap{Headers: []*corev3.HeaderValue{{Key: "access-control-request-method", RawValue: raw}}}
		resp, err := s.Check(context.Background(), req)
		if err != nil || resp == nil {
			t.Fatalf("Check: %v %v", resp, err)
		}
		if ok := resp.GetOkResponse(); ok != nil {
			if codes.Code(resp.GetStatus().GetCode()) != codes.OK {
				t.Fatalf("allow with status %v", resp.GetStatus())
			}
			return
		}
		d := resp.GetDeniedResponse()
		if d == nil || codes.Code(resp.GetStatus().GetCode()) == codes.OK {
			t.Fatalf("neither allowed nor denied: %v", resp)
		}
		switch st := int(d.GetStatus().GetCode()); st {
		case http.StatusNoContent:
			return
		case 400, 401, 403, 404, 405, 429, 431, 503:
		default:
			t.Fatalf("status %d", st)
		}
		var p map[string]any
		if err := json.Unmarshal([]byte(d.GetBody()), &p); err != nil || p["reason"] == nil {
			t.Fatalf("body %q: %v", d.GetBody(), err)
		}
	})
}
