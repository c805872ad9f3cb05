package metrics

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/gatehouse-dev/gatehouse/internal/buildinfo"
	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
)

// scrape fetches /metrics from m's handler over a real HTTP server and parses it with
// the Prometheus text parser.
func scrape(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	t.Cleanup(srv.Close)
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("Content-Type %q, want the text format", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse the exposition: %v", err)
	}
	return fams
}

// samples flattens the gatehouse_ counters of fams to "name{k=v,...}" -> value, labels
// sorted by name.
func samples(fams map[string]*dto.MetricFamily) map[string]float64 {
	out := map[string]float64{}
	for name, f := range fams {
		if !strings.HasPrefix(name, "gatehouse_") || f.GetType() != dto.MetricType_COUNTER {
			continue
		}
		for _, m := range f.GetMetric() {
			out[name+labelString(m)] = m.GetCounter().GetValue()
		}
	}
	return out
}

func labelString(m *dto.Metric) string {
	var parts []string
	for _, l := range m.GetLabel() {
		parts = append(parts, l.GetName()+"="+l.GetValue())
	}
	sort.Strings(parts)
	return "{" + strings.Join(parts, ",") + "}"
}

func ev(route string, allow bool, reason decision.Reason, auth string, took time.Duration) gateway.Event {
	e := gateway.Event{RequestID: "r", Route: route, Allow: allow, Reason: reason, Authenticator: auth, Decision: took, Status: reason.Status()}
	if allow {
		e.Status = 200
	}
	return e
}

func TestScrapeReportsWhatWasRecorded(t *testing.T) {
	m := New()
	m.Observe(ev("orders", true, "", "corp_jwt", 3*time.Microsecond))
	m.Observe(ev("orders", false, decision.TokenExpired, "corp_jwt", 40*time.Microsecond))
	m.Observe(ev("orders", false, decision.TokenExpired, "corp_jwt", 2*time.Millisecond))
	m.Observe(ev("orders", false, decision.CredentialsMissing, "", 500*time.Nanosecond))
	m.Observe(ev("", false, decision.RouteNotFound, "", 0))
	m.JWKSFetch("corp_jwt", "ok")
	m.JWKSFetch("corp_jwt", "ok")
	m.JWKSFetch("corp_jwt", "error")
	m.CacheHit("jwt")
	m.CacheHit("jwt")
	m.CacheMiss("jwt")
	m.CacheMiss("basic")
	m.CacheEviction("jwt")
	m.ConfigReload("ok")
	m.ConfigReload("invalid")
	m.AddBudgetRedis(true, false, 1, 1)
	m.AddBudgetRedis(true, false, 2, 0)

	fams := scrape(t, m)
	want := map[string]float64{
		"gatehouse_decisions_total{authenticator=corp_jwt,reason=,result=allow,route=orders}":             1,
		"gatehouse_decisions_total{authenticator=corp_jwt,reason=token_expired,result=deny,route=orders}": 2,
		"gatehouse_decisions_total{authenticator=,reason=credentials_missing,result=deny,route=orders}":   1,
		"gatehouse_decisions_total{authenticator=,reason=route_not_found,result=deny,route=}":             1,
		"gatehouse_jwks_fetches_total{authenticator=corp_jwt,result=ok}":                                  2,
		"gatehouse_jwks_fetches_total{authenticator=corp_jwt,result=error}":                               1,
		"gatehouse_cache_requests_total{cache=jwt,result=hit}":                                            2,
		"gatehouse_cache_requests_total{cache=jwt,result=miss}":                                           1,
		"gatehouse_cache_requests_total{cache=basic,result=miss}":                                         1,
		"gatehouse_cache_evictions_total{cache=jwt}":                                                      1,
		"gatehouse_config_reloads_total{result=ok}":                                                       1,
		"gatehouse_config_reloads_total{result=invalid}":                                                  1,
		"gatehouse_config_reloads_total{result=error}":                                                    0,
		"gatehouse_budget_redis_fallbacks_total{}":                                                        3,
		"gatehouse_budget_redis_outages_total{}":                                                          1,
		"gatehouse_tracing_spans_dropped_total{}":                                                         0,
	}
	if diff := cmp.Diff(want, samples(fams)); diff != "" {
		t.Errorf("counters (-want +got):\n%s", diff)
	}

	hist := fams["gatehouse_decision_duration_seconds"]
	if hist == nil || hist.GetType() != dto.MetricType_HISTOGRAM {
		t.Fatalf("no decision duration histogram: %v", hist)
	}
	var orders *dto.Histogram
	for _, mm := range hist.GetMetric() {
		if labelString(mm) == "{route=orders}" {
			orders = mm.GetHistogram()
		}
	}
	if orders == nil {
		t.Fatal("no histogram series for route orders")
	}
	if orders.GetSampleCount() != 4 {
		t.Errorf("sample count %d, want 4", orders.GetSampleCount())
	}
	if s, want := orders.GetSampleSum(), (3e-6 + 40e-6 + 2e-3 + 0.5e-6); s < want*0.999 || s > want*1.001 {
		t.Errorf("sample sum %g, want %g", s, want)
	}
	cumulative := map[float64]uint64{}
	for _, b := range orders.GetBucket() {
		cumulative[b.GetUpperBound()] = b.GetCumulativeCount()
	}
	for bound, n := range map[float64]uint64{1e-6: 1, 5e-6: 2, 5e-5: 3, 2.5e-3: 4, 1: 4} {
		if cumulative[bound] != n {
			t.Errorf("bucket le=%g holds %d, want %d", bound, cumulative[bound], n)
		}
	}
	var bounds []float64
	for _, b := range orders.GetBucket() {
		bounds = append(bounds, b.GetUpperBound())
	}
	if diff := cmp.Diff(append(slices.Clone(DurationBuckets), math.Inf(1)), bounds); diff != "" {
		t.Errorf("buckets (-want +got):\n%s", diff)
	}
	if fams["go_goroutines"] == nil || fams["promhttp_metric_handler_requests_total"] == nil {
		t.Error("the runtime and handler metrics are missing")
	}
}

// TestNoLabelCarriesRequestData feeds values that came from a request where names
// belong (a buggy caller passing a path, a header, a subject) and checks that every
// label value in the exposition is a configured name, a reason code, a result word,
// "other" or empty.
func TestNoLabelCarriesRequestData(t *testing.T) {
	m := New()
	m.SetNames([]string{"orders"}, []string{"corp_jwt"})
	hostile := []string{
		"/admin/orders?access_token=eyJhbGciOiJIUzI1NiJ9.e30.sig",
		"Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig",
		"alice@example.com password=hunter2",
		"192.0.2.7:51234",
		"gk_live_0123456789abcdef",
		strings.Repeat("a", 65),
		"route\nname",
	}
	for _, h := range hostile {
		m.Observe(gateway.Event{RequestID: h, Route: h, Authenticator: h, Reason: decision.Reason(h), Subject: h,
			Fingerprint: h, Detail: h, Cause: h, Client: netip.MustParseAddr("192.0.2.7"), Status: 401})
		m.JWKSFetch(h, h)
		m.CacheHit(h)
		m.CacheMiss(h)
		m.CacheEviction(h)
		m.ConfigReload(h)
	}
	m.Observe(ev("orders", false, decision.TokenExpired, "corp_jwt", time.Microsecond))
	m.JWKSFetch("corp_jwt", FetchOK)
	m.CacheHit("corp_jwt")
	m.CacheMiss("jwt")

	allowed := map[string]bool{"": true, Other: true, "orders": true, "corp_jwt": true, "jwt": true, "ok": true,
		ResultAllow: true, ResultDeny: true, ResultHit: true, ResultMiss: true, ReloadInvalid: true, ReloadError: true}
	for _, r := range decision.Reasons {
		allowed[string(r)] = true
	}
	for name, f := range scrape(t, m) {
		// gatehouse_build_info's labels come from the binary, never from a request
		// (TestBuildInfoReportsTheBinarysBuild).
		if !strings.HasPrefix(name, "gatehouse_") || name == "gatehouse_build_info" {
			continue
		}
		for _, mm := range f.GetMetric() {
			for _, l := range mm.GetLabel() {
				if l.GetName() == "le" {
					continue
				}
				if !allowed[l.GetValue()] {
					t.Errorf("%s has label %s=%q, which is not from a bounded set", name, l.GetName(), l.GetValue())
				}
			}
		}
	}
}

// TestBeforeSetNamesOnlyNameShapedValuesPass covers the fallback before the
// configuration's names are known: paths, addresses and free text are "other".
func TestBeforeSetNamesOnlyNameShapedValuesPass(t *testing.T) {
	m := New()
	for _, tt := range []struct{ in, want string }{
		{"orders", "orders"},
		{"v1.read-only_2", "v1.read-only_2"},
		{"", ""},
		{"/admin/x", Other},
		{"192.0.2.7:443", Other},
		{"alice smith", Other},
		{strings.Repeat("a", 65), Other},
	} {
		if got := m.route(m.routes, tt.in); got != tt.want {
			t.Errorf("route label for %q = %q, want %q", tt.in, got, tt.want)
		}
	}
	for _, tt := range []struct{ in, want decision.Reason }{
		{decision.TokenExpired, decision.TokenExpired},
		{"upstream_timeout", "upstream_timeout"},
		{"", ""},
		{"token_expired: 4m ago", Other},
	} {
		if got := m.reasons.reason(tt.in); got != string(tt.want) {
			t.Errorf("reason label for %q = %q, want %q", tt.in, got, tt.want)
		}
	}
	m.SetNames([]string{"orders"}, nil)
	if got := m.route(m.routes, "v1.read-only_2"); got != Other {
		t.Errorf("after SetNames an unconfigured route is %q, want other", got)
	}
}

// TestObserveFollowsSetNames: the label values Observe caches for an event are
// resolved again after SetNames (a reload), which may make a name "other".
func TestObserveFollowsSetNames(t *testing.T) {
	m := New()
	m.Observe(ev("legacy", true, "", "corp_jwt", time.Microsecond))
	m.SetNames([]string{"orders"}, []string{"corp_jwt"})
	m.Observe(ev("legacy", true, "", "corp_jwt", time.Microsecond))
	m.Observe(ev("legacy", true, "", "corp_jwt", time.Microsecond))
	got := samples(scrape(t, m))
	for name, want := range map[string]float64{
		"gatehouse_decisions_total{authenticator=corp_jwt,reason=,result=allow,route=legacy}": 1,
		"gatehouse_decisions_total{authenticator=corp_jwt,reason=,result=allow,route=other}":  2,
	} {
		if got[name] != want {
			t.Errorf("%s = %v, want %v", name, got[name], want)
		}
	}
}

func TestLabelValuesAreCappedPerLabel(t *testing.T) {
	m := New()
	for i := range MaxLabelValues + 50 {
		m.Observe(ev(fmt.Sprintf("route-%d", i), true, "", "a", time.Microsecond))
	}
	fams := scrape(t, m)
	routes := map[string]bool{}
	for _, mm := range fams["gatehouse_decisions_total"].GetMetric() {
		for _, l := range mm.GetLabel() {
			if l.GetName() == "route" {
				routes[l.GetValue()] = true
			}
		}
	}
	if len(routes) != MaxLabelValues+1 || !routes[Other] {
		t.Errorf("%d route values (other present: %v), want %d plus other", len(routes), routes[Other], MaxLabelValues)
	}
	// A value admitted before the cap keeps being itself.
	m.Observe(ev("route-0", true, "", "a", time.Microsecond))
	if got := m.routes.name("route-0"); got != "route-0" {
		t.Errorf("admitted value now %q", got)
	}
}

func TestEachMetricsHasItsOwnRegistry(t *testing.T) {
	a, b := New(), New() // registering twice on one registry would panic
	a.ConfigReload("ok")
	got := samples(scrape(t, b))
	if got["gatehouse_config_reloads_total{result=ok}"] != 0 {
		t.Error("a reload counted on one Metrics shows on another")
	}
	if a.Registry() == b.Registry() {
		t.Error("two Metrics share a registry")
	}
}

func TestNilMetricsIsANoOp(t *testing.T) {
	var m *Metrics
	m.Observe(ev("orders", true, "", "a", 0))
	m.JWKSFetch("a", "ok")
	m.CacheHit("c")
	m.CacheMiss("c")
	m.CacheEviction("c")
	m.ConfigReload("ok")
}

func TestConcurrentObserve(t *testing.T) {
	m := New()
	var wg sync.WaitGroup
	reasons := slices.Clone(decision.Reasons)
	for w := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				m.Observe(ev(fmt.Sprintf("r%d", (w+i)%5), i%2 == 0, reasons[i%len(reasons)], "a", time.Microsecond))
				m.CacheHit("jwt")
			}
		})
	}
	wg.Wait()
	if got := samples(scrape(t, m))["gatehouse_cache_requests_total{cache=jwt,result=hit}"]; got != 8000 {
		t.Errorf("cache hits %v, want 8000", got)
	}
}

func BenchmarkObserve(b *testing.B) {
	m := New()
	e := ev("orders", false, decision.TokenExpired, "corp_jwt", 40*time.Microsecond)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.Observe(e)
		}
	})
}

func TestBuildInfoReportsTheBinarysBuild(t *testing.T) {
	release := buildinfo.Info{Version: "v1.2.0", Revision: "3f2c1a9b4d5e6f708192a3b4c5d6e7f809112233",
		Time: "2026-12-07T22:00:00Z", Dirty: true, GoVersion: "go1.26.8", Platform: "linux/arm64"}
	tests := []struct {
		name string
		m    *Metrics
		want buildinfo.Info
	}{
		{"a release build", newWithBuild(release), release},
		{"this test binary", New(), buildinfo.Read()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := scrape(t, tt.m)["gatehouse_build_info"]
			if f == nil || f.GetType() != dto.MetricType_GAUGE || len(f.GetMetric()) != 1 {
				t.Fatalf("gatehouse_build_info: want one gauge series, got %v", f)
			}
			got := f.GetMetric()[0]
			if v := got.GetGauge().GetValue(); v != 1 {
				t.Errorf("value %v, want 1", v)
			}
			want := fmt.Sprintf("{dirty=%t,goversion=%s,platform=%s,revision=%s,revision_time=%s,version=%s}",
				tt.want.Dirty, tt.want.GoVersion, tt.want.Platform, tt.want.Revision, tt.want.Time, tt.want.Version)
			if diff := cmp.Diff(want, labelString(got)); diff != "" {
				t.Errorf("labels (-want +got):\n%s", diff)
			}
		})
	}
}
