package metrics

import (
	"maps"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-dev/gatehouse/internal/gateway"
)

// Status classes of gatehouse_upstream_responses_total: the class of the upstream's
// status, or ClassError when the upstream gave no response (the gateway answered 502
// upstream_unavailable or 504 upstream_timeout).
var StatusClasses = []string{"1xx", "2xx", "3xx", "4xx", "5xx", ClassError}

// ClassError is the status class of a proxied request the upstream did not answer.
const ClassError = "error"

// UpstreamBuckets are the upstream-latency histogram's upper bounds in seconds, from a
// millisecond to a minute: upstreams are other services, slower than a decision.
var UpstreamBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// Token results besides the OAuth error codes of RFC 6749 section 5.2 and the token
// service's own (too_many_failures, temporarily_unavailable, server_error).
const TokenIssued = "issued"

// TokenGrants are the grant labels of gatehouse_token_requests_total: the grant types
// the token service serves; any other (missing, unsupported) is recorded as Other.
var TokenGrants = []string{"client_credentials"}

// TokenResults are the result labels of gatehouse_token_requests_total.
var TokenResults = []string{TokenIssued, "invalid_request", "invalid_client", "invalid_grant", "unauthorized_client",
	"unsupported_grant_type", "invalid_scope", "temporarily_unavailable", "too_many_failures", "server_error"}

// operator holds the metrics that answer operators' questions beyond decisions:
// upstreams, load, the token service, the store's change feed, key sets and tracing.
type operator struct {
	upstream         *prometheus.CounterVec
	upstreamDuration *prometheus.HistogramVec
	inFlight         prometheus.Gauge
	tokens           *prometheus.CounterVec
	jwksAge          *prometheus.GaugeVec
	spansDropped     prometheus.Counter

	upstreamRoutes, jwksAgeAuthenticators *bound
}

func newOperator() operator {
	return operator{
		upstream: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_upstream_responses_total",
			Help: "Requests passed to an upstream, by route and status class (1xx to 5xx; error when the upstream gave no response and the gateway answered 502 or 504).",
		}, []string{"route", "class"}),
		upstreamDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gatehouse_upstream_duration_seconds",
			Help:    "Time from passing a request to its upstream to the end of the response copied to the client, by route.",
			Buckets: UpstreamBuckets,
		}, []string{"route"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gatehouse_requests_in_flight",
			Help: "Requests on the public listener being served now.",
		}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_token_requests_total",
			Help: "Token service token requests by grant type and result (issued, or the OAuth error code returned).",
		}, []string{"grant", "result"}),
		jwksAge: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gatehouse_jwks_age_seconds",
			Help: "Seconds since each jwks_url authenticator's issuer last confirmed its key set (a fetch answered 200 or 304); absent until the first fetch.",
		}, []string{"authenticator"}),
		spansDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatehouse_tracing_spans_dropped_total",
			Help: "Trace spans lost because their export to the OTLP collector failed (down, refusing, or too slow).",
		}),
		upstreamRoutes:        newBound(),
		jwksAgeAuthenticators: newBound(),
	}
}

func (o *operator) collectors() []prometheus.Collector {
	return []prometheus.Collector{o.upstream, o.upstreamDuration, o.inFlight, o.tokens, o.jwksAge, o.spansDropped}
}

// upstreamObservers are one route's upstream counters by class (in StatusClasses order)
// and its latency histogram.
type upstreamObservers struct {
	byClass  [6]prometheus.Counter
	duration prometheus.Observer
}

func (m *Metrics) upstreamObservers(route string) *upstreamObservers {
	r := m.route(m.upstreamRoutes, route)
	u := &upstreamObservers{duration: m.upstreamDuration.WithLabelValues(r)}
	for i, c := range StatusClasses {
		u.byClass[i] = m.upstream.WithLabelValues(r, c)
	}
	return u
}

// observeUpstream records a proxied request's outcome on u.
func (u *upstreamObservers) observe(ev *gateway.Event) {
	i := 5 // error
	if ev.Reason != gateway.UpstreamUnavailable && ev.Reason != gateway.UpstreamTimeout {
		switch c := ev.Status / 100; {
		case c >= 1 && c <= 5:
			i = c - 1
		default:
			i = 4 // a status outside 100-599 is the upstream's error too
		}
	}
	u.byClass[i].Inc()
	u.duration.Observe(ev.Upstream.Seconds())
}

// RequestStarted counts a request in gatehouse_requests_in_flight until RequestDone.
func (m *Metrics) RequestStarted() {
	if m != nil {
		m.inFlight.Inc()
	}
}

// RequestDone ends what RequestStarted counted.
func (m *Metrics) RequestDone() {
	if m != nil {
		m.inFlight.Dec()
	}
}

// TokenRequest counts one token request; grant is the grant type asked for (only
// TokenGrants are kept, anything else is Other) and result TokenIssued or the OAuth
// error code answered (only TokenResults are kept).
func (m *Metrics) TokenRequest(grant, result string) {
	if m == nil {
		return
	}
	if !slices.Contains(TokenGrants, grant) {
		grant = Other
	}
	if !slices.Contains(TokenResults, result) {
		result = Other
	}
	m.tokens.WithLabelValues(grant, result).Inc()
}

// InitTokenRequests exports gatehouse_token_requests_total at 0 for every grant and
// result, so that rates and alerts see the first request; call it when a token service
// is configured.
func (m *Metrics) InitTokenRequests() {
	if m == nil {
		return
	}
	for _, g := range TokenGrants {
		for _, r := range TokenResults {
			m.tokens.WithLabelValues(g, r)
		}
	}
}

// SetJWKSAges replaces gatehouse_jwks_age_seconds with ages, by authenticator name;
// called at scrape time, so authenticators that went away disappear.
func (m *Metrics) SetJWKSAges(ages map[string]time.Duration) {
	if m == nil {
		return
	}
	m.jwksAge.Reset()
	for _, name := range slices.Sorted(maps.Keys(ages)) {
		m.jwksAge.WithLabelValues(m.authenticator(m.jwksAgeAuthenticators, name)).Set(ages[name].Seconds())
	}
}

// StoreFeed exports the credential store's change feed lag, read at each scrape:
// gatehouse_store_feed_lag_seconds is the time since the feed last read the store (a
// replica whose feed lags sees revocations made elsewhere that late). Call it once,
// when the store is opened.
func (m *Metrics) StoreFeed(lastSync func() time.Time) {
	if m == nil {
		return
	}
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "gatehouse_store_feed_lag_seconds",
		Help: "Seconds since the credential store's change feed last read the store: how late revocations made on other replicas may arrive here. Before the first read, the time since start.",
	}, func() float64 {
		last := lastSync()
		if last.IsZero() {
			return time.Since(m.started).Seconds()
		}
		return time.Since(last).Seconds()
	}))
}

// TracingDropped counts n spans lost to a failed export.
func (m *Metrics) TracingDropped(n int) {
	if m != nil && n > 0 {
		m.spansDropped.Add(float64(n))
	}
}
