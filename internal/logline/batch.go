package logline

import (
	"io"
	"sync"
	"time"
)

// batchWriter takes the write of each decision line off the request path: Write appends
// the line to a buffer, and the buffer is written to w in one write at most flushDelay
// after its first line, or at once when it holds flushSize bytes (the handler flushes
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
	b.queuedUnlock()
	return len(p), nil
}

// queuedUnlock is called with b.mu held after a line was appended to b.buf: it
// schedules the delayed write of the batch, or writes it at once when it is full, and
// releases b.mu.
func (b *batchWriter) queuedUnlock() {
	full := len(b.buf) >= flushSize
	if !full && !b.scheduled {
		b.scheduled = true
		time.AfterFunc(flushDelay, b.Flush)
	}
	b.mu.Unlock()
	if full {
		b.Flush()
	}
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
