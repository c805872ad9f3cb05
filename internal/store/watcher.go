package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultWatchInterval is how often a Watcher polls a store that cannot notify. With the
// time a request takes to notice, it keeps revocation visible well within one second.
const DefaultWatchInterval = 200 * time.Millisecond

// WatcherOptions configures a Watcher. The zero value means the documented defaults.
type WatcherOptions struct {
	// Interval between polls of LatestChange; DefaultWatchInterval when zero. For a
	// Notifier it is the fallback interval, 5s when zero.
	Interval time.Duration
	// OnError is told when following the sequence starts failing (err != nil) and when
	// it recovers (err == nil), once per transition rather than on every poll, so it can
	// log without flooding. It runs on the watcher's goroutine.
	OnError func(err error)
	// Outage, when set, is told the outcome of every read of the sequence, so that a
	// store that stops answering is noticed within one poll even when no request reads
	// it, and its recovery as soon as it answers again.
	Outage *Outage
}

// Watcher follows a store's change sequence and calls its subscribers for every change,
// in sequence order, on its own goroutine (the one running Run). Subscribers must be
// quick: they drop cache entries.
type Watcher struct {
	log      ChangeLog
	interval time.Duration
	onError  func(error)
	outage   *Outage

	mu     sync.Mutex
	subs   []subscriber
	nextID int

	// pollMu serialises Poll, so a test's Poll and Run never interleave.
	pollMu   sync.Mutex
	started  bool
	cursor   atomic.Int64
	lastSync atomic.Int64 // unix nanoseconds of the last successful poll
	failing  bool
}

type subscriber struct {
	id int
	fn func(Change)
}

// NewWatcher returns a Watcher over log. It reads nothing until Start or Run.
func NewWatcher(log ChangeLog, opts WatcherOptions) *Watcher {
	w := &Watcher{log: log, interval: opts.Interval, onError: opts.OnError, outage: opts.Outage}
	if w.interval <= 0 {
		w.interval = DefaultWatchInterval
		if _, ok := log.(Notifier); ok {
			w.interval = 5 * time.Second
		}
	}
	return w
}

// Subscribe registers fn for every change from now on and returns a function that
// removes it.
func (w *Watcher) Subscribe(fn func(Change)) (unsubscribe func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.nextID++
	id := w.nextID
	w.subs = append(w.subs, subscriber{id, fn})
	return func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		for i, s := range w.subs {
			if s.id == id {
				w.subs = append(w.subs[:i:i], w.subs[i+1:]...)
				return
			}
		}
	}
}

// Start reads the current end of the change sequence, so that Run delivers only later
// changes. Call it before serving requests, after the caches exist: a store that cannot
// be read fails here, at startup, rather than silently later.
func (w *Watcher) Start(ctx context.Context) error {
	w.pollMu.Lock()
	defer w.pollMu.Unlock()
	latest, err := w.log.LatestChange(ctx)
	if err != nil {
		return fmt.Errorf("watch store changes: %w", err)
	}
	w.cursor.Store(latest)
	w.started = true
	w.lastSync.Store(time.Now().UnixNano())
	return nil
}

// Run polls until ctx is done, then returns nil. Errors are retried at the next poll and
// reported through OnError.
func (w *Watcher) Run(ctx context.Context) error {
	notifier, _ := w.log.(Notifier)
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		w.report(w.Poll(ctx))
		if notifier != nil {
			wctx, cancel := context.WithTimeout(ctx, w.interval)
			err := notifier.WaitForChange(wctx)
			cancel()
			if ctx.Err() != nil {
				return nil
			}
			if err != nil && !errors.Is(err, context.DeadlineExceeded) {
				w.report(err)
				select {
				case <-ctx.Done():
					return nil
				case <-t.C:
				}
			}
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (w *Watcher) report(err error) {
	if err != nil && errors.Is(err, context.Canceled) {
		return
	}
	if (err != nil) == w.failing {
		return
	}
	w.failing = err != nil
	if w.onError != nil {
		w.onError(err)
	}
}

// Poll delivers the changes committed since the last poll. Most polls read one number
// and deliver nothing. When the watcher cannot tell what changed (the sequence went
// backwards, as when the store file was replaced, or changes were pruned) it delivers a
// single Change of kind ChangeReset, and subscribers drop everything.
func (w *Watcher) Poll(ctx context.Context) error {
	w.pollMu.Lock()
	defer w.pollMu.Unlock()
	latest, err := w.log.LatestChange(ctx)
	w.outage.Report(err)
	if err != nil {
		return fmt.Errorf("watch store changes: %w", err)
	}
	if !w.started {
		// Whatever was cached before now may predate changes we will never see.
		w.started = true
		w.cursor.Store(latest)
		w.deliver(Change{Seq: latest, Kind: ChangeReset, At: time.Now()})
		w.lastSync.Store(time.Now().UnixNano())
		return nil
	}
	cursor := w.cursor.Load()
	switch {
	case latest == cursor:
	case latest < cursor:
		w.cursor.Store(latest)
		w.deliver(Change{Seq: latest, Kind: ChangeReset, At: time.Now()})
	default:
		for cursor < latest {
			changes, err := w.log.Changes(ctx, cursor)
			if errors.Is(err, ErrChangesPruned) {
				cursor = latest
				w.deliver(Change{Seq: latest, Kind: ChangeReset, At: time.Now()})
				break
			}
			if err != nil {
				w.cursor.Store(cursor)
				return fmt.Errorf("watch store changes: %w", err)
			}
			if len(changes) == 0 {
				// LatestChange saw a commit Changes does not show yet (a replica
				// lagging, say): try again at the next poll.
				break
			}
			for _, c := range changes {
				w.deliver(c)
				cursor = c.Seq
			}
		}
		w.cursor.Store(cursor)
	}
	w.lastSync.Store(time.Now().UnixNano())
	return nil
}

func (w *Watcher) deliver(c Change) {
	w.mu.Lock()
	subs := w.subs
	w.mu.Unlock()
	for _, s := range subs {
		s.fn(c)
	}
}

// Cursor is the sequence number of the last change delivered (or skipped by Start).
func (w *Watcher) Cursor() int64 { return w.cursor.Load() }

// LastSync is when the watcher last read the sequence successfully; zero before Start.
// A readiness probe can refuse when it is older than a few intervals.
func (w *Watcher) LastSync() time.Time {
	n := w.lastSync.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}
