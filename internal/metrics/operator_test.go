package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
)

// proxied is an event of a request passed to an upstream that answered status.
func proxied(route string, status int, took time.Duration) gateway.Event {
	return gateway.Event{RequestID: "r", Route: route, Allow: true, Status: status, Proxied: true, Upstream: took}
}

func TestUpstreamResponsesByRouteAndClass(t *testing.T) {
	m := New()
	m.SetNames([]string{"orders", "billing"}, []string{"corp_jwt"})
	m.Observe(proxied("orders", 200, 3*time.Millisecond))
	m.Observe(proxied("orders", 204, 3*time.Millisecond))
	m.Observe(proxied("orders", 503, 40*time.Millisecond))
	m.Observe(proxied("billing", 302, time.Millisecond))
	m.Observe(proxied("billing", 404, time.Millisecond))
	m.Observe(proxied("billing", 101, time.Millisecond))
	failed := proxied("billing", 502, time.Second)
	failed.Allow, failed.Reason = false, gateway.UpstreamUnavailable
	m.Observe(failed)
	timedOut := proxied("billing", 504, 30*time.Second)
	timedOut.Allow, timedOut.Reason = false, gateway.UpstreamTimeout
	m.Observe(timedOut)
	// Not proxied: no upstream series for it.
	m.Observe(ev("orders", false, decision.TokenExpired, "corp_jwt", time.Microsecond))

	got := map[string]float64{}
	for k, v := range samples(scrape(t, m)) {
		if strings.HasPrefix(k, "gatehouse_upstream_responses_total") && v > 0 {
			got[k] = v
		}
	}
	want := map[string]float64{
		"gatehouse_upstream_responses_total{class=2xx,route=orders}":    2,
		"gatehouse_upstream_responses_total{class=5xx,route=orders}":    1,
		"gatehouse_upstream_responses_total{class=1xx,route=billing}":   1,
		"gatehouse_upstream_responses_total{class=3xx,route=billing}":   1,
		"gatehouse_upstream_responses_total{class=4xx,route=billing}":   1,
		"gatehouse_upstream_responses_total{class=error,route=billing}": 2,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("upstream responses (-want +got):\n%s", diff)
	}
	hist := scrape(t, m)["gatehouse_upstream_duration_seconds"]
	if hist == nil {
		t.Fatal("no upstream duration histogram")
	}
	counts := map[string]uint64{}
	for _, s := range hist.GetMetric() {
		counts[labelString(s)] = s.GetHistogram().GetSampleCount()
	}
	if diff := cmp.Diff(map[string]uint64{"{route=orders}": 3, "{route=billing}": 5}, counts); diff != "" {
		t.Errorf("upstream duration samples (-want +got):\n%s", diff)
	}
}

func TestInFlightTokensAgesAndDrops(t *testing.T) {
	m := New()
	m.SetNames([]string{"orders"}, []string{"corp_jwt", "partner_jwt"})
	m.RequestStarted()
	m.RequestStarted()
	m.RequestDone()
	m.TokenRequest("client_credentials", TokenIssued)
	m.TokenRequest("client_credentials", TokenIssued)
	m.TokenRequest("client_credentials", "invalid_client")
	m.TokenRequest("", "invalid_request")
	m.SetJWKSAges(map[string]time.Duration{"corp_jwt": 90 * time.Second, "gone": time.Second})
	m.TracingDropped(7)
	m.TracingDropped(0)

	fams := scrape(t, m)
	gauge := func(name, labels string) float64 {
		t.Helper()
		for _, s := range fams[name].GetMetric() {
			if labelString(s) == labels {
				return s.GetGauge().GetValue()
			}
		}
		t.Fatalf("%s%s not exported", name, labels)
		return 0
	}
	if got := gauge("gatehouse_requests_in_flight", "{}"); got != 1 {
		t.Errorf("in flight = %v, want 1", got)
	}
	if got := gauge("gatehouse_jwks_age_seconds", "{authenticator=corp_jwt}"); got != 90 {
		t.Errorf("jwks age = %v, want 90", got)
	}
	if got := gauge("gatehouse_jwks_age_seconds", "{authenticator=other}"); got != 1 {
		t.Errorf("an unconfigured authenticator's age = %v, want 1 under other", got)
	}
	got := samples(fams)
	for k, want := range map[string]float64{
		"gatehouse_token_requests_total{grant=client_credentials,result=issued}":         2,
		"gatehouse_token_requests_total{grant=client_credentials,result=invalid_client}": 1,
		"gatehouse_token_requests_total{grant=other,result=invalid_request}":             1,
		"gatehouse_tracing_spans_dropped_total{}":                                        7,
	} {
		if got[k] != want {
			t.Errorf("%s = %v, want %v", k, got[k], want)
		}
	}
	// A reset drops authenticators that went away.
	m.SetJWKSAges(map[string]time.Duration{"partner_jwt": time.Second})
	for _, s := range scrape(t, m)["gatehouse_jwks_age_seconds"].GetMetric() {
		if labelString(s) != "{authenticator=partner_jwt}" {
			t.Errorf("stale series %s kept", labelString(s))
		}
	}
}

func TestStoreFeedLag(t *testing.T) {
	m := New()
	last := time.Now().Add(-42 * time.Second)
	m.StoreFeed(func() time.Time { return last })
	f := scrape(t, m)["gatehouse_store_feed_lag_seconds"]
	if f == nil || len(f.GetMetric()) != 1 {
		t.Fatalf("no feed lag gauge: %v", f)
	}
	if v := f.GetMetric()[0].GetGauge().GetValue(); v < 42 || v > 60 {
		t.Errorf("feed lag = %v, want about 42", v)
	}
}

// TestHostileValuesCreateNoLabelValue drives every new metric with values a client
// controls or could influence (a path as route, header text as grant or result, a
// subject as authenticator) and checks that no label value outside the bounded sets
// appears.
func TestHostileValuesCreateNoLabelValue(t *testing.T) {
	m := New()
	m.SetNames([]string{"orders"}, []string{"corp_jwt"})
	hostile := []string{"/admin/../etc/passwd", "alice@example.com", "Bearer eyJhbGciOi", "a\nb", strings.Repeat("x", 5000), "orders2", "0.0.0.0:80"}
	for _, h := range hostile {
		m.Observe(proxied(h, 200, time.Millisecond))
		e := proxied("orders", 200, time.Millisecond)
		e.Reason = decision.Reason(h)
		m.Observe(e)
		m.TokenRequest(h, h)
		m.TokenRequest("client_credentials", h)
		m.SetJWKSAges(map[string]time.Duration{h: time.Second})
	}
	allowed := map[string][]string{
		"route":         {"orders", Other, ""},
		"class":         StatusClasses,
		"grant":         append([]string{Other}, TokenGrants...),
		"result":        append([]string{Other, ResultAllow, ResultDeny, ReloadOK, ReloadInvalid, ReloadError}, TokenResults...),
		"authenticator": {"corp_jwt", Other, ""},
		"reason":        {"", Other},
	}
	for name, f := range scrape(t, m) {
		if !strings.HasPrefix(name, "gatehouse_") || name == "gatehouse_build_info" {
			continue
		}
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				if !labelAllowed(allowed[l.GetName()], l) {
					t.Errorf("%s has label %s=%q, outside its bounded set", name, l.GetName(), l.GetValue())
				}
			}
		}
	}
}

func labelAllowed(set []string, l *dto.LabelPair) bool {
	for _, v := range set {
		if v == l.GetValue() {
			return true
		}
	}
	return false
}
