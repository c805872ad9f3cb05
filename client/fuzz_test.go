package client

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// FuzzCheckResponse feeds CheckResponse what a hostile server controls (a problem body,
// WWW-Authenticate fields, X-Request-Id and Retry-After): it must not panic, must keep
// its codes to their shapes, and must never let the credential the request carried into
// the error's text.
func FuzzCheckResponse(f *testing.F) {
	f.Add(`{"reason":"token_expired","detail":"expired 3s ago","request_id":"r1"}`, `Bearer realm="x", error="invalid_token"`, "r1", "5")
	f.Add(`{"reason":"x","detail":"Bearer s3cret-token-value"}`, `Bearer error_description="s3cret-token-value"`, "", "")
	f.Add(`{"login_url":"https://x.test/login"}`, `Basic realm="a", charset="UTF-8"`, "id", "Wed, 21 Oct 2015 07:28:00 GMT")
	f.Add(`[1,2]`, `Bearer error="unterminated`, "a b", "-1")
	const secret = "s3cret-token-value"
	f.Fuzz(func(t *testing.T, body, wwwAuth, reqID, retry string) {
		resp := response(401, http.Header{
			"Content-Type":     {"application/problem+json"},
			"Www-Authenticate": {wwwAuth},
			"X-Request-Id":     {reqID},
			"Retry-After":      {retry},
		}, body, "Authorization", "Bearer "+secret)
		e, ok := CheckResponse(resp).(*Error)
		if !ok {
			t.Fatal("a 401 gave no *Error")
		}
		if strings.Contains(e.Error(), secret) || strings.Contains(e.Detail, secret) {
			t.Fatalf("the error holds the credential: %q", e.Error())
		}
		if e.Reason != "" && !isReasonCode(e.Reason) || e.RequestID != "" && !isRequestID(e.RequestID) {
			t.Fatalf("reason %q or request id %q out of shape", e.Reason, e.RequestID)
		}
		if e.RetryAfter < 0 {
			t.Fatalf("negative Retry-After %v", e.RetryAfter)
		}
		if got, _ := io.ReadAll(resp.Body); string(got) != body {
			t.Fatal("the body was not put back")
		}
	})
}
