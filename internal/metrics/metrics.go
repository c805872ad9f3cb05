// Package metrics holds Gatehouse's Prometheus metrics and serves them for the admin
// listener's /metrics. Each Metrics has its own registry (never the global one), so a
// test or a second gateway in one process counts on its own.
//
// Every label value comes from a bounded set: a route or authenticator name from the
// configuration, a reason code, a fixed result word. Nothing read from a request (a
// path, a subject, a header, an address) ever becomes a label. Because names arrive as
// plain strings, the package enforces the bound itself:
//   - route and authenticator labels take only the names given to SetNames (the
//     configuration's), and before SetNames is called only values shaped like names
//     (1 to 64 of [A-Za-z0-9._-]);
//   - reason labels take only reason codes; result labels only their fixed words;
//   - cache labels take authenticator names and types (CacheTypes), the same way;
//   - anything else is recorded as "other", and each label keeps at most MaxLabelValues
//     distinct values, after which new ones are "other" too;
//   - gatehouse_build_info's labels are the binary's own build facts (internal/buildinfo),
//     fixed when it was linked: one series, always 1.
//
// A mistake in a caller can therefore cost a series, never leak a request's data into
// the time-series database or grow it without bound.
package metrics

import (
	"maps"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gatehouse-dev/gatehouse/internal/buildinfo"
	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
)

// MaxLabelValues is how many distinct values one label of one metric may take; later
// values are recorded as Other.
const MaxLabelValues = 256

// Other is the label value that stands for anything outside the bounded set.
const Other = "other"

// Result words of gatehouse_decisions_total and gatehouse_cache_requests_total.
const (
	ResultAllow = "allow"
	ResultDeny  = "deny"
	ResultHit   = "hit"
	ResultMiss  = "miss"
)

// Result words for JWKSFetch: the set was fetched, the server said it had not changed,
// or the fetch failed (network, status, or a document that does not parse).
const (
	FetchOK          = "ok"
	FetchNotModified = "not_modified"
	FetchError       = "error"
)

// Result words for ConfigReload: the new configuration was swapped in, it was refused
// because it does not validate, or it could not be read or built (the old one keeps
// serving in both failure cases).
const (
	ReloadOK      = "ok"
	ReloadInvalid = "invalid"
	ReloadError   = "error"
)

// DurationBuckets are the decision-latency histogram's upper bounds in seconds: dense
// from 1 microsecond (a cached verification) to 10 milliseconds (an uncached RSA or
// ECDSA verification with time to spare), then two wide buckets for decisions that wait
// on the network (a JWKS refetch, introspection).
var DurationBuckets = []float64{
	1e-6, 2.5e-6, 5e-6,
	1e-5, 2.5e-5, 5e-5,
	1e-4, 2.5e-4, 5e-4,
	1e-3, 2.5e-3, 5e-3,
	1e-2, 1e-1, 1,
}

// Metrics records Gatehouse's metrics. Its methods are safe for concurrent use and are
// no-ops on a nil *Metrics, so a component can hold one unconditionally.
type Metrics struct {
	reg *prometheus.Registry

	decisions *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	jwks      *prometheus.CounterVec
	cacheReqs *prometheus.CounterVec
	evictions *prometheus.CounterVec
	reloads   *prometheus.CounterVec
	// The failure budget's Redis: up (1) or not, and its fallbacks and outages.
	budgetRedisUp        prometheus.Gauge
	budgetRedisFallbacks prometheus.Counter
	budgetRedisOutages   prometheus.Counter

	operator
	started time.Time

	// known holds the configured names once SetNames was called.
	known atomic.Pointer[knownNames]

	// observers caches, per distinct event (route, authenticator, reason, result), the
	// counter and histogram Observe updates, so that a request costs one map lookup
	// instead of resolving and hashing four label values twice. Copy on write: read
	// without locking, replaced under observersMu; emptied by SetNames, which changes
	// how names map to label values.
	observers   atomic.Pointer[map[observerKey]observer]
	observersMu sync.Mutex

	// One bound per label of each metric: the same route name may be admitted for one
	// metric and not another only when a metric's own set is full.
	routes, reasons, authenticators *bound
	durationRoutes                  *bound
	jwksAuthenticators              *bound
	caches, evictionCaches          *bound
}

// New returns Metrics registered on a fresh registry, together with the Go runtime and
// process collectors and gatehouse_build_info for this binary.
func New() *Metrics {
	return newWithBuild(buildinfo.Read())
}

// BuildInfoLabels are the labels of gatehouse_build_info, in order: the module version,
// the VCS revision and its time, "true" or "false" for a tree with uncommitted changes,
// the Go version, and GOOS/GOARCH.
var BuildInfoLabels = []string{"version", "revision", "revision_time", "dirty", "goversion", "platform"}

func newWithBuild(info buildinfo.Info) *Metrics {
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "gatehouse_build_info",
		Help: "Always 1; the labels say which Gatehouse build is running (the facts of gatehouse version).",
	}, BuildInfoLabels)
	build.WithLabelValues(info.Version, info.Revision, info.Time, strconv.FormatBool(info.Dirty),
		info.GoVersion, info.Platform).Set(1)
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_decisions_total",
			Help: "Authentication decisions by route, result (allow or deny), reason code (empty when allowed) and deciding authenticator (empty when none decided).",
		}, []string{"route", "result", "reason", "authenticator"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gatehouse_decision_duration_seconds",
			Help:    "Time to decide a request (credential extraction, verification, authorization), by route; proxying is not included.",
			Buckets: DurationBuckets,
		}, []string{"route"}),
		jwks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_jwks_fetches_total",
			Help: "JWK Set fetches by authenticator and result.",
		}, []string{"authenticator", "result"}),
		cacheReqs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_cache_requests_total",
			Help: "Verification cache lookups by cache and result (hit or miss).",
		}, []string{"cache", "result"}),
		evictions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_cache_evictions_total",
			Help: "Entries evicted from a verification cache to make room, by cache.",
		}, []string{"cache"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_config_reloads_total",
			Help: "Configuration reloads by result.",
		}, []string{"result"}),
		budgetRedisUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gatehouse_budget_redis_up",
			Help: "0 from a failed call to the failure budget's Redis until a call succeeds, and when no Redis is configured; 1 otherwise.",
		}),
		budgetRedisFallbacks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatehouse_budget_redis_fallbacks_total",
			Help: "Failure budget operations answered by this replica's local budgets because Redis could not be used.",
		}),
		budgetRedisOutages: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatehouse_budget_redis_outages_total",
			Help: "Times the failure budget's Redis stopped answering (transitions from up to down).",
		}),
		operator:           newOperator(),
		started:            time.Now(),
		routes:             newBound(),
		reasons:            newBound(),
		authenticators:     newBound(),
		durationRoutes:     newBound(),
		jwksAuthenticators: newBound(),
		caches:             newBound(),
		evictionCaches:     newBound(),
	}
	m.reg.MustRegister(m.decisions, m.duration, m.jwks, m.cacheReqs, m.evictions, m.reloads, build,
		m.budgetRedisUp, m.budgetRedisFallbacks, m.budgetRedisOutages,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.reg.MustRegister(m.operator.collectors()...)
	// Each result starts at 0, so that an alert on increase() sees the first failure.
	for _, r := range []string{ReloadOK, ReloadInvalid, ReloadError} {
		m.reloads.WithLabelValues(r)
	}
	return m
}

type knownNames struct {
	routes, authenticators map[string]bool
}

// SetNames declares the configuration's route and authenticator names: from then on,
// only these (and the empty string) appear as route and authenticator labels, anything
// else as Other. Call it when a configuration is loaded and on every reload; series of
// names that disappear keep their last values, as counters do.
func (m *Metrics) SetNames(routes, authenticators []string) {
	if m == nil {
		return
	}
	k := &knownNames{routes: map[string]bool{}, authenticators: map[string]bool{}}
	for _, r := range routes {
		k.routes[r] = true
	}
	for _, a := range authenticators {
		k.authenticators[a] = true
	}
	// Under observersMu, so that no observer resolved with the old names is cached
	// after the new ones.
	m.observersMu.Lock()
	m.known.Store(k)
	m.observers.Store(nil)
	m.observersMu.Unlock()
}

func (m *Metrics) route(b *bound, v string) string {
	if k := m.known.Load(); k != nil && v != "" && !k.routes[v] {
		return Other
	}
	return b.name(v)
}

func (m *Metrics) authenticator(b *bound, v string) string {
	if k := m.known.Load(); k != nil && v != "" && !k.authenticators[v] {
		return Other
	}
	return b.name(v)
}

// CacheTypes are the authenticator types a cache may be named by, besides an
// authenticator's name.
var CacheTypes = []string{"jwt", "api_key", "basic", "introspection", "mtls"}

func (m *Metrics) cache(b *bound, v string) string {
	if k := m.known.Load(); k != nil && v != "" && !k.authenticators[v] && !slices.Contains(CacheTypes, v) {
		return Other
	}
	return b.name(v)
}

// Registry is the registry the metrics are on, for callers that add their own
// collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition formats, for /metrics on the
// admin listener.
func (m *Metrics) Handler() http.Handler {
	return promhttp.InstrumentMetricHandler(m.reg, promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4,
	}))
}

// Observe records one gateway decision; its signature fits gateway.Options.Observe.
// An event without a route (no route matched) is recorded with route "".
func (m *Metrics) Observe(ev gateway.Event) {
	if m == nil {
		return
	}
	k := observerKey{route: ev.Route, authenticator: ev.Authenticator, reason: ev.Reason, allow: ev.Allow, proxied: ev.Proxied}
	o, ok := observer{}, false
	if cached := m.observers.Load(); cached != nil {
		o, ok = (*cached)[k]
	}
	if !ok {
		o = m.observer(k)
	}
	o.decisions.Inc()
	o.duration.Observe(ev.Decision.Seconds())
	if ev.Proxied && o.upstream != nil {
		o.upstream.observe(&ev)
	}
}

// observerKey is what Observe's label values are made of.
type observerKey struct {
	route, authenticator string
	reason               decision.Reason
	allow, proxied       bool
}

// observer is the counter and histogram of one observerKey.
type observer struct {
	decisions prometheus.Counter
	duration  prometheus.Observer
	upstream  *upstreamObservers // for a proxied request's key, else nil
}

// maxObservers bounds the observer cache. Routes and authenticators are configured
// names and reasons a fixed set, so a deployment has far fewer; past the bound events
// are still recorded, only not cached.
const maxObservers = 4096

// observer resolves k's label values and caches the result.
func (m *Metrics) observer(k observerKey) observer {
	m.observersMu.Lock()
	defer m.observersMu.Unlock()
	old := m.observers.Load()
	if old != nil {
		if o, ok := (*old)[k]; ok {
			return o
		}
	}
	result := ResultDeny
	if k.allow {
		result = ResultAllow
	}
	o := observer{
		decisions: m.decisions.WithLabelValues(m.route(m.routes, k.route), result, m.reasons.reason(k.reason),
			m.authenticator(m.authenticators, k.authenticator)),
		duration: m.duration.WithLabelValues(m.route(m.durationRoutes, k.route)),
	}
	if k.proxied {
		o.upstream = m.upstreamObservers(k.route)
	}
	if old != nil && len(*old) >= maxObservers {
		return o
	}
	next := make(map[observerKey]observer, 1)
	if old != nil {
		next = maps.Clone(*old)
	}
	next[k] = o
	m.observers.Store(&next)
	return o
}

// JWKSFetch counts one JWK Set fetch by the named authenticator; result is FetchOK,
// FetchNotModified or FetchError (any other word is recorded as Other).
func (m *Metrics) JWKSFetch(authenticator, result string) {
	if m == nil {
		return
	}
	switch result {
	case FetchOK, FetchNotModified, FetchError:
	default:
		result = Other
	}
	m.jwks.WithLabelValues(m.authenticator(m.jwksAuthenticators, authenticator), result).Inc()
}

// CacheHit counts a lookup in the named cache that found an entry. Caches are per
// authenticator, so a cache is named by its authenticator's configured name, or by an
// authenticator type (CacheTypes) for a cache shared by every authenticator of a type;
// after SetNames, any other name is recorded as Other.
func (m *Metrics) CacheHit(cache string) {
	if m == nil {
		return
	}
	m.cacheReqs.WithLabelValues(m.cache(m.caches, cache), ResultHit).Inc()
}

// CacheMiss counts a lookup in the named cache (see CacheHit) that found nothing
// usable.
func (m *Metrics) CacheMiss(cache string) {
	if m == nil {
		return
	}
	m.cacheReqs.WithLabelValues(m.cache(m.caches, cache), ResultMiss).Inc()
}

// CacheEviction counts an entry evicted from the named cache (see CacheHit) to make
// room.
func (m *Metrics) CacheEviction(cache string) {
	if m == nil {
		return
	}
	m.evictions.WithLabelValues(m.cache(m.evictionCaches, cache)).Inc()
}

// ConfigReload counts a configuration reload; result is ReloadOK, ReloadInvalid or
// ReloadError (any other word is recorded as Other).
func (m *Metrics) ConfigReload(result string) {
	if m == nil {
		return
	}
	switch result {
	case ReloadOK, ReloadInvalid, ReloadError:
	default:
		result = Other
	}
	m.reloads.WithLabelValues(result).Inc()
}

// bound admits at most MaxLabelValues distinct values for one label. Admitted values are
// read without locking on the hot path.
type bound struct {
	seen sync.Map // string -> struct{}
	mu   sync.Mutex
	n    int
}

func newBound() *bound { return &bound{} }

// name returns v when it is an empty string or a valid configured name that fits in the
// bound, else Other.
func (b *bound) name(v string) string {
	if v == "" {
		return ""
	}
	if _, ok := b.seen.Load(v); ok {
		return v
	}
	if !validName(v) {
		return Other
	}
	return b.admit(v)
}

// reason returns r when it is a known reason code (or empty, for an allowed request),
// else Other. Besides decision.Reasons it admits the gateway's own (gateway.Reasons).
func (b *bound) reason(r decision.Reason) string {
	if r == "" {
		return ""
	}
	if _, ok := b.seen.Load(string(r)); ok {
		return string(r)
	}
	if !knownReason(r) {
		return Other
	}
	return b.admit(string(r))
}

func (b *bound) admit(v string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.seen.Load(v); ok {
		return v
	}
	if b.n >= MaxLabelValues {
		return Other
	}
	// The stored key is a copy, so a caller's string backed by a request buffer is
	// never retained.
	key := string([]byte(v))
	b.seen.Store(key, struct{}{})
	b.n++
	return key
}

func knownReason(r decision.Reason) bool {
	for _, k := range gateway.Reasons {
		if r == k {
			return true
		}
	}
	for _, k := range decision.Reasons {
		if r == k {
			return true
		}
	}
	return false
}

// validName reports whether v has the shape of a configured name: 1 to 64 of
// [A-Za-z0-9._-]. Paths (with '/'), addresses (with ':') and free text fail it.
func validName(v string) bool {
	if len(v) == 0 || len(v) > 64 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// AddCache adds counts to the named cache's counters (see CacheHit): for caches that keep
// their own counters, reported as deltas at scrape time.
func (m *Metrics) AddCache(cache string, hits, misses, evictions uint64) {
	if m == nil {
		return
	}
	if hits > 0 {
		m.cacheReqs.WithLabelValues(m.cache(m.caches, cache), ResultHit).Add(float64(hits))
	}
	if misses > 0 {
		m.cacheReqs.WithLabelValues(m.cache(m.caches, cache), ResultMiss).Add(float64(misses))
	}
	if evictions > 0 {
		m.evictions.WithLabelValues(m.cache(m.evictionCaches, cache)).Add(float64(evictions))
	}
}

// StoreHealth exports the credential store's reachability, read from down at each
// scrape: gatehouse_store_up (1 or 0) and gatehouse_store_outage_seconds (how long the
// running outage has lasted; 0 when up). Call it once, when the store is opened.
func (m *Metrics) StoreHealth(down func() (bool, time.Time)) {
	if m == nil {
		return
	}
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gatehouse_store_up",
			Help: "1 while the credential store answers, 0 during an outage.",
		}, func() float64 {
			if d, _ := down(); d {
				return 0
			}
			return 1
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gatehouse_store_outage_seconds",
			Help: "How long the running credential store outage has lasted; 0 when the store answers. Past store_outage_grace, requests that need the store get 503.",
		}, func() float64 {
			if d, since := down(); d {
				return time.Since(since).Seconds()
			}
			return 0
		}),
	)
}

// AddBudgetRedis reports the failure budget's Redis: whether it is configured and
// answering, and the fallbacks to local budgets and outages since the last report.
func (m *Metrics) AddBudgetRedis(configured, up bool, fallbacks, outages uint64) {
	if configured && up {
		m.budgetRedisUp.Set(1)
	} else {
		m.budgetRedisUp.Set(0)
	}
	m.budgetRedisFallbacks.Add(float64(fallbacks))
	m.budgetRedisOutages.Add(float64(outages))
}
