package gateway

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/google/go-cmp/cmp"
)

// keyAuth reads an API key from the X-API-Key header or the api_key query parameter, as
// the api_key authenticator does when both are configured.
type keyAuth struct{}

func (keyAuth) Name() string   { return "keys" }
func (keyAuth) Scheme() string { return "" }
func (keyAuth) Locations() []decision.Location {
	return []decision.Location{{Source: decision.FromHeader, Name: "X-API-Key"}, {Source: decision.FromQuery, Name: "api_key"}}
}
func (keyAuth) Claims(c decision.Credential) decision.Match {
	if c.Source == decision.FromHeader && c.Name == "X-API-Key" || c.Source == decision.FromQuery && c.Name == "api_key" {
		return decision.SchemeMatch
	}
	return decision.NoMatch
}
func (keyAuth) Authenticate(_ context.Context, c decision.Credential) (decision.Principal, error) {
	if c.Value == "k1" {
		return decision.Principal{Subject: "svc-reports", Scopes: []string{"reports:read"}}, nil
	}
	return decision.Principal{}, &decision.Failure{Reason: decision.APIKeyInvalid, Detail: "unknown key"}
}

// seenRequest is what the upstream received.
type seenRequest struct {
	header   http.Header
	rawQuery string
}

// recordingUpstream is an upstream that hands every request it receives to the test.
func recordingUpstream(t *testing.T) (*url.URL, chan seenRequest) {
	t.Helper()
	seen := make(chan seenRequest, 16)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- seenRequest{r.Header.Clone(), r.URL.RawQuery}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(up.Close)
	u, _ := url.Parse(up.URL)
	return u, seen
}

// rawRequest sends req as is over a new TCP connection to the gateway (so that header
// names keep their spelling and a header may repeat) and returns the response.
func rawRequest(t *testing.T, gw *httptest.Server, req string) *http.Response {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(gw.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufioReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// receive waits for the upstream to see a request.
func receive(t *testing.T, seen chan seenRequest) seenRequest {
	t.Helper()
	select {
	case s := <-seen:
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream received no request")
		return seenRequest{}
	}
}

// TestConnectionHeaderCannotStripIdentityOrAuthorization: a client that names the
// gateway's identity headers (or Authorization) in Connection, in any spelling, in any
// number of Connection fields, must not make the upstream receive a request without
// them: identity headers are the gateway's, and whether Authorization is forwarded is
// the route's choice.
func TestConnectionHeaderCannotStripIdentityOrAuthorization(t *testing.T) {
	up, seen := recordingUpstream(t)
	f := newFixture(t, func(o *Options) {
		o.Routes[0].Upstream = up // admin: forwards Authorization
		o.Routes[2].Upstream = up // strip: does not
	})
	tests := []struct {
		name       string
		path       string
		connection string // the Connection lines, each ending in CRLF
		wantAuthz  bool
	}{
		{"identity list", "/admin/x", "Connection: X-Gatehouse-Subject, X-Gatehouse-Scopes\r\n", true},
		{"lower case, no spaces", "/admin/x", "connection: x-gatehouse-subject,x-gatehouse-authenticator,x-gatehouse-request-id\r\n", true},
		{"upper case", "/admin/x", "CONNECTION: X-GATEHOUSE-SUBJECT, X-GATEHOUSE-SCOPES, AUTHORIZATION\r\n", true},
		{"underscore and dot spellings", "/admin/x", "Connection: X_Gatehouse_Subject, x.gatehouse.scopes, X_GATEHOUSE_AUTHENTICATOR\r\n", true},
		{"several Connection fields", "/admin/x", "Connection: keep-alive\r\nConnection: X-Gatehouse-Subject\r\nconnection: Authorization, X-Gatehouse-Request-Id\r\nCONNECTION: x-gatehouse-scopes\r\n", true},
		{"with close", "/admin/x", "Connection: close, X-Gatehouse-Subject, Authorization\r\n", true},
		{"Authorization on a route that strips it", "/strip/x", "Connection: Authorization, X-Gatehouse-Subject\r\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := rawRequest(t, f.gw, "GET "+tt.path+" HTTP/1.1\r\nHost: api.example\r\n"+
				"Authorization: Bearer good\r\nX-Gatehouse-Subject: root\r\n"+tt.connection+"\r\n")
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			got := receive(t, seen).header
			want := map[string][]string{
				"X-Gatehouse-Subject":       {"alice"},
				"X-Gatehouse-Scopes":        {"orders:read orders:admin"},
				"X-Gatehouse-Authenticator": {"corp_jwt"},
				"X-Gatehouse-Request-Id":    {resp.Header.Get("X-Request-Id")},
				"Authorization":             nil,
			}
			if tt.wantAuthz {
				want["Authorization"] = []string{"Bearer good"}
			}
			gotSome := map[string][]string{}
			for name := range want {
				gotSome[name] = got[name]
			}
			if diff := cmp.Diff(want, gotSome); diff != "" {
				t.Errorf("upstream headers (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCredentialsNeverReachAnUpstreamThatIsNotToGetThem: with forward_authorization
// false, the upstream receives neither the API-key header nor the API-key query
// parameter nor access_token, however the name is percent-encoded; the other query
// parameters arrive byte for byte, in order. With forward_authorization true, the
// request arrives as sent.
func TestCredentialsNeverReachAnUpstreamThatIsNotToGetThem(t *testing.T) {
	up, seen := recordingUpstream(t)
	f := newFixture(t, func(o *Options) {
		o.Routes = append(o.Routes,
			&Route{Route: &decision.Route{Name: "keys", PathPrefix: "/keys", Authenticators: []decision.Authenticator{keyAuth{}}}, Upstream: up},
			&Route{Route: &decision.Route{Name: "keysfwd", PathPrefix: "/fwd", Authenticators: []decision.Authenticator{keyAuth{}}}, Upstream: up, ForwardAuthorization: true})
	})
	tests := []struct {
		name      string
		target    string
		header    []string
		wantQuery string
		wantKey   string
	}{
		{"key in the query", "/keys/r?b=2&api_key=k1&a=%2Fx+y&z&c=%C3%A9", nil, "b=2&a=%2Fx+y&z&c=%C3%A9", ""},
		{"key in the query, name percent-encoded", "/keys/r?api%5Fkey=k1&b=2", nil, "b=2", ""},
		{"key in the query first and last", "/keys/r?api_key=k1", nil, "", ""},
		{"key in the header, access_token in the query", "/keys/r?x=1&access_token=t0k3n&y=%20", []string{"X-API-Key", "k1"}, "x=1&y=%20", ""},
		{"access_token percent-encoded", "/keys/r?access%5ftoken=t0k3n&x=1", []string{"x-api-key", "k1"}, "x=1", ""},
		{"empty pairs kept", "/keys/r?&x=1&&access_token=t&", []string{"X-API-Key", "k1"}, "&x=1&&", ""},
		{"forwarded: key in the query", "/fwd/r?b=2&api_key=k1&a=%2Fx", nil, "b=2&api_key=k1&a=%2Fx", ""},
		{"forwarded: key in the header and access_token", "/fwd/r?access_token=t&x=1", []string{"X-API-Key", "k1"}, "access_token=t&x=1", "k1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := f.do(t, "GET", tt.target, tt.header...)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			got := receive(t, seen)
			if got.rawQuery != tt.wantQuery {
				t.Errorf("upstream query %q, want %q", got.rawQuery, tt.wantQuery)
			}
			if k := got.header.Get("X-API-Key"); k != tt.wantKey {
				t.Errorf("upstream X-API-Key %q, want %q", k, tt.wantKey)
			}
			if s := got.header.Get("X-Gatehouse-Subject"); s != "svc-reports" {
				t.Errorf("upstream subject %q", s)
			}
		})
	}
}

// TestAccessTokenNextToAuthorizationIsInvalidRequest: RFC 6750 section 2 allows one
// method per request. A route that does not read query tokens refuses the pair too
// (400 invalid_request), and the upstream is never asked.
func TestAccessTokenNextToAuthorizationIsInvalidRequest(t *testing.T) {
	up, seen := recordingUpstream(t)
	f := newFixture(t, func(o *Options) {
		o.Routes[4].Upstream = up
		o.Routes = append(o.Routes,
			&Route{Route: &decision.Route{Name: "keys", PathPrefix: "/keys", Authenticators: []decision.Authenticator{keyAuth{}, o.Routes[0].Authenticators[0]}}, Upstream: up})
	})
	for _, target := range []string{"/api/x?access_token=good", "/api/x?a=1&access%5Ftoken=", "/keys/x?access_token=k1", "/strip/x?access_token=good"} {
		t.Run(target, func(t *testing.T) {
			resp, body := f.do(t, "GET", target, "Authorization", "Bearer good")
			if resp.StatusCode != 400 {
				t.Fatalf("status %d, want 400: %s", resp.StatusCode, body)
			}
			if p := problemOf(t, resp, body); p.Reason != string(decision.InvalidRequest) {
				t.Errorf("reason %q", p.Reason)
			}
			if cs := challengesOf(t, resp); len(cs) == 0 || !strings.Contains(cs[0].String(), `error="invalid_request"`) {
				t.Errorf("challenge %v", cs)
			}
		})
	}
	select {
	case s := <-seen:
		t.Fatalf("the upstream was asked: %v", s)
	default:
	}
	// Without Authorization, access_token is only a parameter this route ignores.
	resp, _ := f.do(t, "GET", "/keys/x?access_token=k1", "X-API-Key", "k1")
	if resp.StatusCode != 200 {
		t.Fatalf("access_token without Authorization: status %d", resp.StatusCode)
	}
	receive(t, seen)
}
