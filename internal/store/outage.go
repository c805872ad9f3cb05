package store

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
)

// DefaultOutageGrace is how long answers cached from the store keep being served once
// the store stops answering, when the configuration does not say (store_outage_grace).
const DefaultOutageGrace = 30 * time.Second

// OutageRetryAfter is the Retry-After of a 503 caused by a store outage: long enough
// not to hammer a gateway that cannot decide, short enough to notice recovery.
const OutageRetryAfter = 5 * time.Second

// Outage follows whether the credential store answers, and since when it has not.
//
// While the store is down nobody can learn of a revocation, so what the authenticators
// cached is trusted only for a grace period: within it, a cached answer (even one past
// its cache lifetime) is served as before; after it, and for anything not cached, the
// answer is 503 authenticator_unavailable with Retry-After, never 401. A grace of zero
// serves nothing from the cache during an outage.
//
// The change feed's watcher and every failed or successful store read report to it, so
// an outage is noticed on the first failure and its end on the first success. Methods
// are safe for concurrent use and cost one atomic load on the request path. A nil
// *Outage reports the store as always up.
type Outage struct {
	grace atomic.Int64 // nanoseconds
	now   func() time.Time
	since atomic.Int64 // unix nanoseconds of the first failure of this outage; 0: up

	// OnChange, when set before use, is called on each transition (down with the error
	// that began it, up with nil), for a log line and metrics. It must be quick.
	OnChange func(err error)
}

// NewOutage returns a tracker with the given grace (below zero counts as zero). now is
// the clock; time.Now when nil.
func NewOutage(grace time.Duration, now func() time.Time) *Outage {
	if now == nil {
		now = time.Now
	}
	o := &Outage{now: now}
	o.SetGrace(grace)
	return o
}

// SetGrace changes the grace period (a reload may); below zero counts as zero.
func (o *Outage) SetGrace(grace time.Duration) { o.grace.Store(int64(max(grace, 0))) }

// Report records the outcome of a store operation: nil is a success; an error that
// matches ErrUnavailable (or a context deadline, which is how an unreachable server
// shows) begins an outage unless one is running. Other errors (not found, exists, ...)
// are answers, so they count as success; a cancelled context counts as nothing.
func (o *Outage) Report(err error) {
	if o == nil || errors.Is(err, context.Canceled) {
		return // a caller that went away says nothing about the store
	}
	if !IsOutage(err) {
		if o.since.Load() != 0 && o.since.Swap(0) != 0 && o.OnChange != nil {
			o.OnChange(nil)
		}
		return
	}
	if o.since.Load() == 0 && o.since.CompareAndSwap(0, o.now().UnixNano()) && o.OnChange != nil {
		o.OnChange(err)
	}
}

// IsOutage reports whether err says the store could not answer (as opposed to an
// answer such as ErrNotFound): ErrUnavailable and its kinds, or a deadline exceeded,
// which is how an unreachable server shows.
func IsOutage(err error) bool {
	return err != nil && (errors.Is(err, ErrUnavailable) || errors.Is(err, context.DeadlineExceeded))
}

// Down reports whether an outage is running, and since when.
func (o *Outage) Down() (bool, time.Time) {
	if o == nil {
		return false, time.Time{}
	}
	s := o.since.Load()
	if s == 0 {
		return false, time.Time{}
	}
	return true, time.Unix(0, s)
}

// Grace is the configured grace period.
func (o *Outage) Grace() time.Duration {
	if o == nil {
		return 0
	}
	return time.Duration(o.grace.Load())
}

// Refusal returns nil while cached answers may be served: the store is up, or down for
// less than the grace period. Otherwise it returns the 503 failure to answer with.
func (o *Outage) Refusal() *decision.Failure {
	if o == nil {
		return nil
	}
	s := o.since.Load()
	if s == 0 || o.now().UnixNano()-s < o.grace.Load() {
		return nil
	}
	return o.failure()
}

// InGrace reports whether an outage is running and still within its grace period: the
// time when an authenticator may serve an answer whose cache lifetime has passed.
func (o *Outage) InGrace() bool {
	if o == nil {
		return false
	}
	s := o.since.Load()
	return s != 0 && o.now().UnixNano()-s < o.grace.Load()
}

// Failure is the 503 an authenticator answers when the store cannot be read and nothing
// cached may decide.
func (o *Outage) failure() *decision.Failure {
	return &decision.Failure{
		Reason:     decision.AuthenticatorUnavailable,
		Detail:     "the credential store is unreachable; retry later",
		Cause:      "store_outage",
		RetryAfter: OutageRetryAfter,
	}
}

// Unavailable returns the 503 failure for a store read that failed with err, reporting
// err first. It is what authenticators return when a lookup fails and nothing cached
// can answer.
func (o *Outage) Unavailable(err error) *decision.Failure {
	o.Report(err)
	f := (*Outage)(nil).failure()
	f.Cause = "store_unavailable: " + err.Error()
	return f
}
