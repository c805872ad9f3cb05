package app

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// batchWriter takes the write of each decision line off the request path: Write appends
// the line to a buffer, and the buffer is written to w in one write at most flushDelay
// after its first line, or at once when it holds flushSize bytes (flushHandler flushes
// at once after any line that must not wait). A write(2) per decision line to a pipe
// (journald, a container runtime) also wakes the reader; it was about a third of the
// forward-auth endpoint's CPU. Under load one write now carries hundreds of lines.
// Lines keep their order.
type batchWriter struct {
	w io.Writer

	mu        sync.Mutex // guards buf, spare and scheduled
	buf       []byte
	spare     []byte // the buffer last written, for reuse
	scheduled bool
	wmu       sync.Mutex // serialises writes to w, so batches keep their order
}

const (
	// flushDelay bounds how long a line waits in the buffer.
	flushDelay = 10 * time.Millisecond
	// flushSize is the buffered size that triggers an immediate write.
	flushSize = 64 << 10
)

func newBatchWriter(w io.Writer) *batchWriter { return &batchWriter{w: w} }

// Write queues a copy of p. It reports no error of the destination: a logger has
// nowhere to report it.
func (b *batchWriter) Write(p []byte) (int, error) {
	b.mu.Lock()
	b.buf = append(b.buf, p...)
	full := len(b.buf) >= flushSize
	if !full && !b.scheduled {
		b.scheduled = true
		time.AfterFunc(flushDelay, b.Flush)
	}
	b.mu.Unlock()
	if full {
		b.Flush()
	}
	return len(p), nil
}

// Flush writes everything buffered.
func (b *batchWriter) Flush() {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	b.mu.Lock()
	out := b.buf
	b.buf, b.spare, b.scheduled = b.spare[:0], nil, false
	b.mu.Unlock()
	if len(out) > 0 {
		b.w.Write(out)
	}
	if cap(out) <= 2*flushSize {
		b.mu.Lock()
		b.spare = out[:0]
		b.mu.Unlock()
	}
}

// batched are the messages whose lines may wait in the buffer: the per-decision lines of
// gateway.Handler.record, which come once per request. Every other line (startup,
// reloads, certificate and store problems), and any line at Warn or above, is written
// at once with what is buffered before it, so an operator or a test reading the log
// right after an event sees it.
var batched = map[string]bool{"allow": true, "deny": true}

// flushHandler is the logger's handler: it writes lines through a batchWriter and
// flushes it after every line that must not wait, and lets the server flush the log
// when it stops (FlushLogs). Derived handlers (With, WithGroup) share its writer.
type flushHandler struct {
	slog.Handler
	w *batchWriter
}

// Handle writes r, and flushes unless r is a decision line below Warn.
func (h *flushHandler) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Level >= slog.LevelWarn || !batched[r.Message] {
		h.w.Flush()
	}
	return err
}

func (h *flushHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &flushHandler{Handler: h.Handler.WithAttrs(attrs), w: h.w}
}

func (h *flushHandler) WithGroup(name string) slog.Handler {
	return &flushHandler{Handler: h.Handler.WithGroup(name), w: h.w}
}

// FlushLogs writes every line l has logged so far, when l was built by NewLogger; the
// server calls it last, before the process exits.
func FlushLogs(l *slog.Logger) {
	if h, ok := l.Handler().(*flushHandler); ok {
		h.w.Flush()
	}
}
