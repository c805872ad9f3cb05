package doctor

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestSpecificCausesFromTheCorpus are the scenario corpus's misses where a specific,
// evidenced cause was found but a generic one ranked above it, or a rule misread the
// request: each must now be the verdict.
func TestSpecificCausesFromTheCorpus(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T) Options
		verdict string
	}{
		{name: "client secret with + not form-encoded, invalid_client", verdict: "oauth_client_secret_basic_encoding",
			setup: func(t *testing.T) Options {
				srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", "application/json")
					w.Header().Set("WWW-Authenticate", `Basic realm="oauth"`)
					w.WriteHeader(401)
					_, _ = w.Write([]byte(`{"error":"invalid_client"}`))
				})
				o := baseOptions(srv.URL + "/oauth/token")
				o.UserPass, o.HasUserPass = "my-client:k7+Qz/9xR2mW+pL4vN8s", true
				o.Body, o.HasBody = "grant_type=client_credentials", true
				return o
			}},
		{name: "presigned URL expired: the query is the credential", verdict: "signed_request_clock_skew",
			setup: func(t *testing.T) Options {
				srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", "application/xml")
					w.WriteHeader(403)
					_, _ = w.Write([]byte(`<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>`))
				})
				q := url.Values{"X-Amz-Algorithm": {"AWS4-HMAC-SHA256"}, "X-Amz-Credential": {"AKIAIOSFODNN7EXAMPLE/20260314/us-east-1/s3/aws4_request"},
					"X-Amz-Date": {testNow.Add(-time.Hour).Format("20060102T150405Z")}, "X-Amz-Expires": {"300"},
					"X-Amz-SignedHeaders": {"host"}, "X-Amz-Signature": {strings.Repeat("ab", 32)}}
				return baseOptions(srv.URL + "/bucket/report.csv?" + q.Encode())
			}},
		{name: "SigV4 request signed 20 minutes ago, clocks agree", verdict: "signed_request_clock_skew",
			setup: func(t *testing.T) Options {
				srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", "application/xml")
					w.WriteHeader(403)
					_, _ = w.Write([]byte(`<Error><Code>RequestTimeTooSkewed</Code><Message>The difference between the request time and the current time is too large.</Message></Error>`))
				})
				o := baseOptions(srv.URL + "/bucket/report.csv")
				o.Headers = []Header{
					{Name: "Authorization", Value: "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260314/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=" + strings.Repeat("fe", 32)},
					{Name: "X-Amz-Date", Value: testNow.Add(-20 * time.Minute).Format("20060102T150405Z")},
					{Name: "X-Amz-Content-Sha256", Value: "UNSIGNED-PAYLOAD"},
				}
				return o
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep := runDoctor(t, tc.setup(t))
			if rep.Verdict != tc.verdict {
				var b strings.Builder
				_ = rep.WriteText(&b, false)
				t.Fatalf("verdict %q, want %q\n%s", rep.Verdict, tc.verdict, b.String())
			}
			for _, f := range rep.Findings {
				if f.Code == "scheme_prefix_malformed" || f.Code == "credential_missing_or_empty" {
					t.Errorf("false finding %s: %s", f.Code, f.Summary)
				}
			}
		})
	}
}
