package postgres

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// listenAppName is the application_name of the LISTEN connection, so an operator (or a
// test) can tell it apart in pg_stat_activity.
const listenAppName = "gatehouse-listen"

// listener holds the dedicated LISTEN connection. It wakes the waiter of WaitForChange
// on every notification, and also whenever the connection is lost or (re)established,
// because the waiter (a store.Watcher) must then read the sequence: after a reconnect it
// catches up from the last sequence it applied, so a change committed while nobody was
// listening is still delivered.
type listener struct {
	s      *Store
	wake   chan struct{} // buffered 1: a wake-up is never lost, several coalesce
	up     atomic.Bool
	cancel context.CancelFunc
	done   chan struct{}

	mu  sync.Mutex
	pid uint32 // backend pid of the LISTEN connection, 0 when down
}

func (s *Store) listener() *listener {
	s.listenOnce.Do(func() {
		if s.isClosed() {
			return
		}
		ctx, cancel := context.WithCancel(context.Background())
		l := &listener{s: s, wake: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{})}
		s.listen.Store(l)
		go l.run(ctx)
	})
	return s.listen.Load()
}

func (l *listener) stop() {
	l.cancel()
	<-l.done
}

func (l *listener) signal() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// run keeps a LISTEN connection open until ctx is done, reconnecting with a backoff
// from 100ms to 5s.
func (l *listener) run(ctx context.Context) {
	defer close(l.done)
	backoff := 100 * time.Millisecond
	wasDown := false
	for ctx.Err() == nil {
		err := l.session(ctx, &wasDown, &backoff)
		l.up.Store(false)
		l.setPID(0)
		l.signal()
		if ctx.Err() != nil {
			return
		}
		if !wasDown {
			l.s.log.Warn("store change notifications lost; polling the change sequence until they are back",
				"store", l.s.where, "err", err, "poll", l.s.fallback)
			wasDown = true
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// session connects, listens and waits for notifications until the connection fails.
func (l *listener) session(ctx context.Context, wasDown *bool, backoff *time.Duration) error {
	cc := l.s.connCfg.Copy()
	cc.RuntimeParams["application_name"] = listenAppName
	// statement_timeout does not apply to waiting for a notification, but keep LISTEN
	// itself bounded.
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return l.s.connectErr(err, Config{Password: cc.Password})
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{Channel}.Sanitize()); err != nil {
		return err
	}
	l.setPID(conn.PgConn().PID())
	l.up.Store(true)
	*backoff = 100 * time.Millisecond
	if *wasDown {
		l.s.log.Info("store change notifications are back", "store", l.s.where)
		*wasDown = false
	}
	// Anything committed before LISTEN took effect was not announced to us: wake the
	// waiter so it reads the sequence now.
	l.signal()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if n.Channel != Channel {
			continue
		}
		if seq, err := strconv.ParseInt(n.Payload, 10, 64); err != nil || seq <= 0 {
			// Not what Gatehouse writes: someone else NOTIFYs on our channel. Do not
			// trust it, but read the sequence anyway: that is always safe.
			p := n.Payload
			if len(p) > 64 {
				p = p[:64] + "..."
			}
			l.s.log.Warn("store change notification with an unexpected payload ignored; reading the change sequence instead",
				"store", l.s.where, "payload", strconv.Quote(p), "sender_pid", n.PID)
		}
		l.signal()
	}
}

func (l *listener) setPID(pid uint32) {
	l.mu.Lock()
	l.pid = pid
	l.mu.Unlock()
}

// ListenerPID is the server process id of the LISTEN connection, 0 while it is down or
// not started (it starts with the first WaitForChange).
func (s *Store) ListenerPID() uint32 {
	l := s.listen.Load()
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pid
}

// WaitForChange blocks until a change may have been committed, or ctx is done. It
// starts the LISTEN connection on first use. While that connection is down it returns
// every ListenFallback, so the watcher polls the sequence instead and no change waits
// for the reconnect. Notifications wake one waiter: run one store.Watcher per Store.
func (s *Store) WaitForChange(ctx context.Context) error {
	l := s.listener()
	if l == nil {
		return errors.New("postgres: wait for changes: the store is closed")
	}
	var poll <-chan time.Time
	if !l.up.Load() {
		t := time.NewTimer(s.fallback)
		defer t.Stop()
		poll = t.C
	}
	select {
	case <-l.wake:
		return nil
	case <-poll:
		return nil
	case <-s.closed:
		return errors.New("postgres: wait for changes: the store is closed")
	case <-ctx.Done():
		return ctx.Err()
	}
}
