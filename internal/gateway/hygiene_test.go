package gateway

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
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

// observed collects the events a Handler records.
type observed struct {
	mu     sync.Mutex
	events []Event
}

func (o *observed) observe(ev Event) {
	o.mu.Lock()
	o.events = append(o.events, ev)
	o.mu.Unlock()
}

// byID waits for the event of request id (Observe runs after the response is written).
func (o *observed) byID(t *testing.T, id string) Event {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		o.mu.Lock()
		for _, ev := range o.events {
			if ev.RequestID == id {
				o.mu.Unlock()
				return ev
			}
		}
		o.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("no event recorded for request %s", id)
		}
		time.Sleep(time.Millisecond)
	}
}

// logLine returns the decision log line of request id.
func logLine(t *testing.T, logs *syncBuffer, id string) map[string]any {
	t.Helper()
	for line := range strings.SplitSeq(logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["request_id"] == id && (m["msg"] == "allow" || m["msg"] == "deny") {
			return m
		}
	}
	t.Fatalf("no decision line for %s in %s", id, logs)
	return nil
}

// TestRecordedDecisionIsWhatTheClientGot: a proxied request whose upstream fails is
// logged, observed and explained as the 502/504 the client got, with its reason, not as
// an allow with 200; an upstream's own status is recorded as it was sent.
func TestRecordedDecisionIsWhatTheClientGot(t *testing.T) {
	obs := &observed{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedUp := "http://" + ln.Addr().String()
	ln.Close() // nothing listens here any more: connections are refused
	f := newFixture(t, func(o *Options) {
		o.Observe = obs.observe
		dead, _ := url.Parse(closedUp)
		o.Routes = append(o.Routes, &Route{Route: &decision.Route{Name: "dead", PathPrefix: "/dead", Authenticators: o.Routes[4].Authenticators}, Upstream: dead, ForwardAuthorization: true})
	})
	teapot := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) }))
	t.Cleanup(teapot.Close)
	tests := []struct {
		name       string
		path       string
		wantStatus int
		wantReason decision.Reason
		wantAllow  bool
		wantLevel  string
	}{
		{"unreachable", "/dead/x", 502, UpstreamUnavailable, false, "WARN"},
		{"slow", "/api/slow", 504, UpstreamTimeout, false, "WARN"},
		{"answered", "/api/x", 200, "", true, "INFO"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := f.do(t, "GET", tt.path, "Authorization", "Bearer good", "X-Request-Id", "mine")
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.wantStatus, body)
			}
			id := resp.Header.Get("X-Request-Id")
			if !tt.wantAllow {
				p := problemOf(t, resp, body)
				if p.Reason != string(tt.wantReason) || p.RequestID != id || p.ClientRequestID != "mine" {
					t.Errorf("problem %+v, want reason %s, request_id %s, client_request_id mine", p, tt.wantReason, id)
				}
			}
			ev := obs.byID(t, id)
			got := []any{ev.Allow, ev.Status, ev.Reason, ev.Subject, ev.ClientRequestID}
			want := []any{tt.wantAllow, tt.wantStatus, tt.wantReason, "alice", "mine"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("event [allow status reason subject client_request_id] (-want +got):\n%s", diff)
			}
			line := logLine(t, f.logs, id)
			if line["status"] != float64(tt.wantStatus) || line["level"] != tt.wantLevel || (tt.wantReason != "" && line["reason"] != string(tt.wantReason)) {
				t.Errorf("log line %v", line)
			}
		})
	}
	t.Run("upstream's own status", func(t *testing.T) {
		up, _ := url.Parse(teapot.URL)
		g := httptest.NewServer(New(Options{Realm: "r", Observe: obs.observe, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
			Routes: []*Route{{Route: &decision.Route{Name: "pub", PathPrefix: "/", Anonymous: true}, Upstream: up}}}))
		t.Cleanup(g.Close)
		resp, err := http.Get(g.URL + "/x")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if ev := obs.byID(t, resp.Header.Get("X-Request-Id")); resp.StatusCode != 418 || ev.Status != 418 || !ev.Allow {
			t.Errorf("client got %d, recorded %d (allow %v)", resp.StatusCode, ev.Status, ev.Allow)
		}
	})
}

// TestClientRequestIDCannotTakeAnotherRequestsPlace: two requests with the same
// X-Request-Id get ids of their own from the gateway, each recorded under its own; the
// problem body gives both ids.
func TestClientRequestIDCannotTakeAnotherRequestsPlace(t *testing.T) {
	obs := &observed{}
	f := newFixture(t, func(o *Options) { o.Observe = obs.observe })
	first, body1 := f.do(t, "GET", "/api/x", "Authorization", "Bearer nope", "X-Request-Id", "victim-1")
	second, body2 := f.do(t, "GET", "/api/x", "Authorization", "Bearer good", "X-Request-Id", "victim-1")
	id1, id2 := first.Header.Get("X-Request-Id"), second.Header.Get("X-Request-Id")
	if id1 == id2 || id1 == "victim-1" || id2 == "victim-1" {
		t.Fatalf("ids %q and %q: the client's id named a request", id1, id2)
	}
	p := problemOf(t, first, body1)
	if p.RequestID != id1 || p.ClientRequestID != "victim-1" {
		t.Errorf("problem ids request_id %q client_request_id %q, want %q and victim-1", p.RequestID, p.ClientRequestID, id1)
	}
	if string(body2) != "upstream /api/x" {
		t.Fatalf("second request: %d %s", second.StatusCode, body2)
	}
	if ev := obs.byID(t, id1); ev.Allow || ev.Reason != decision.TokenSignatureInvalid || ev.ClientRequestID != "victim-1" {
		t.Errorf("first request recorded as %+v", ev)
	}
	if ev := obs.byID(t, id2); !ev.Allow || ev.ClientRequestID != "victim-1" {
		t.Errorf("second request recorded as %+v", ev)
	}
	// A malformed client id is not repeated anywhere.
	resp, body := f.do(t, "GET", "/api/x", "X-Request-Id", "<script>")
	if p := problemOf(t, resp, body); p.ClientRequestID != "" || strings.Contains(string(body), "script") {
		t.Errorf("malformed client id repeated: %s", body)
	}
}

// TestOversizedHeadersGetAProblemBody: above MaxHeaderBytes the gateway itself answers
// 431 headers_too_large with the problem body, before any route; at the limit the
// request passes. HeaderBytes counts what net/http counts against its own limit.
func TestOversizedHeadersGetAProblemBody(t *testing.T) {
	obs := &observed{}
	const limit = 4096
	f := newFixture(t, func(o *Options) { o.MaxHeaderBytes, o.Observe = limit, obs.observe })
	head := "GET /api/x HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer good\r\nX-Pad: "
	fill := limit - len(head) - len("\r\n\r\n")
	t.Run("at the limit", func(t *testing.T) {
		resp := rawRequest(t, f.gw, head+strings.Repeat("a", fill)+"\r\n\r\n")
		if resp.StatusCode != 200 {
			t.Fatalf("a request of exactly %d header bytes: status %d", limit, resp.StatusCode)
		}
	})
	t.Run("one byte over", func(t *testing.T) {
		conn, err := net.Dial("tcp", strings.TrimPrefix(f.gw.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(conn, head+strings.Repeat("a", fill+1)+"\r\nOrigin: http://localhost:3000\r\nX-Request-Id: big-1\r\n\r\n")
		resp, err := http.ReadResponse(bufioReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 431 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		p := problemOf(t, resp, body)
		if p.Reason != string(HeadersTooLarge) || p.Status != 431 || p.ClientRequestID != "big-1" || p.RequestID != resp.Header.Get("X-Request-Id") {
			t.Errorf("problem %+v", p)
		}
		if resp.Header.Get("Access-Control-Allow-Origin") != "http://localhost:3000" || !resp.Close {
			t.Errorf("headers %v (close %v): want CORS for the allowed origin and the connection closed", resp.Header, resp.Close)
		}
		if ev := obs.byID(t, p.RequestID); ev.Status != 431 || ev.Reason != HeadersTooLarge {
			t.Errorf("recorded %+v", ev)
		}
	})
}

// TestDecideRefusesAccessTokenNextToAuthorization: the forward-auth endpoint applies the
// one-method rule to the original request's query.
func TestDecideRefusesAccessTokenNextToAuthorization(t *testing.T) {
	f := newDecideFixture(t, nil)
	w := f.decide(t, proxyPeer, traefik("GET", "/api/x?a=1&access_token=good", "Authorization", "Bearer good")...)
	if w.Code != 400 {
		t.Fatalf("status %d, want 400: %s", w.Code, w.Body)
	}
	if ev := f.lastEvent(t); ev.Reason != decision.InvalidRequest {
		t.Errorf("reason %s", ev.Reason)
	}
}
