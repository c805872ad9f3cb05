// Package logline is the process log: a log/slog logger whose lines are JSON or text,
// written through a batching writer (see batchWriter), and a direct path for the line
// the gateway writes for every decision.
//
// The direct path exists for speed: a decision line through slog costs about 2 µs
// (capturing the caller, building the record, the handler's generic encoding), a large
// share of a forward-auth decision. Log writes the same line, byte for byte, by
// appending its fields straight into the batch buffer; with any other logger it goes
// through slog. The tests hold the two encodings to each other (TestLogMatchesSlog,
// FuzzLogMatchesSlog), so a reader of the log cannot tell which path wrote a line.
package logline

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"time"
)

// New returns the process logger: lines at level and above, JSON (or logfmt-like text
// when text is set) as slog.NewJSONHandler and slog.NewTextHandler write them, batched
// into few writes to w. Flush writes what is buffered.
func New(w io.Writer, level slog.Leveler, text bool) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	bw := newBatchWriter(w)
	var inner slog.Handler = slog.NewJSONHandler(bw, opts)
	if text {
		inner = slog.NewTextHandler(bw, opts)
	}
	return slog.New(&handler{Handler: inner, w: bw, level: level, text: text, root: true})
}

// Flush writes every line l has logged so far, when l was built by New; the server
// calls it last, before the process exits.
func Flush(l *slog.Logger) {
	if h, ok := l.Handler().(*handler); ok {
		h.w.Flush()
	}
}

// batched are the messages whose lines may wait in the buffer: the per-decision lines of
// the gateway, which come once per request. Every other line (startup, reloads,
// certificate and store problems), and any line at Warn or above, is written at once
// with what is buffered before it, so an operator or a test reading the log right after
// an event sees it.
func batched(level slog.Level, msg string) bool {
	return level < slog.LevelWarn && (msg == "allow" || msg == "deny")
}

// handler is New's slog.Handler: slog's own JSON or text handler writing through the
// batchWriter, flushing it after every line that must not wait. Derived handlers (With,
// WithGroup) share its writer; only the root one (no attributes, no groups) takes the
// direct path of Log.
type handler struct {
	slog.Handler
	w     *batchWriter
	level slog.Leveler
	text  bool
	root  bool
}

// Handle writes r, and flushes unless r is a decision line below Warn.
func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if !batched(r.Level, r.Message) {
		h.w.Flush()
	}
	return err
}

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &handler{Handler: h.Handler.WithAttrs(attrs), w: h.w, level: h.level, text: h.text}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{Handler: h.Handler.WithGroup(name), w: h.w, level: h.level, text: h.text}
}

// Field is one key and value of a line: a string, an integer or an address.
type Field struct {
	Key  string
	kind kind
	str  string
	num  int64
	addr netip.Addr
}

type kind uint8

const (
	kindString kind = iota
	kindInt
	kindAddr
)

// String is a string field.
func String(key, value string) Field { return Field{Key: key, kind: kindString, str: value} }

// Int is an integer field.
func Int(key string, value int64) Field { return Field{Key: key, kind: kindInt, num: value} }

// Addr is an address field, written as netip.Addr.String writes it.
func Addr(key string, a netip.Addr) Field { return Field{Key: key, kind: kindAddr, addr: a} }

// attr is f as a slog.Attr, for the slog path.
func (f Field) attr() slog.Attr {
	switch f.kind {
	case kindInt:
		return slog.Int64(f.Key, f.num)
	case kindAddr:
		return slog.String(f.Key, f.addr.String())
	}
	return slog.String(f.Key, f.str)
}

// Log writes one line with time t, level, msg and fields on l, if l is enabled for
// level: straight into the batch buffer when l was built by New (and not derived with
// attributes or groups), else through l's handler as a slog.Record. The line is the
// same either way.
func Log(ctx context.Context, l *slog.Logger, t time.Time, level slog.Level, msg string, fields ...Field) {
	if h, ok := l.Handler().(*handler); ok && h.root {
		if level < h.level.Level() {
			return
		}
		// slog refuses to format a year outside 0-9999 in JSON; leave that to it.
		if y := t.Year(); y >= 0 && y < 10000 {
			h.w.mu.Lock()
			h.w.buf = appendLine(h.w.buf, h.text, t, level, msg, fields)
			h.w.queuedUnlock()
			if !batched(level, msg) {
				h.w.Flush()
			}
			return
		}
	}
	hd := l.Handler()
	if !hd.Enabled(ctx, level) {
		return
	}
	// A program counter of 0: no source location, which the gateway never logs.
	r := slog.NewRecord(t, level, msg, 0)
	for _, f := range fields {
		r.AddAttrs(f.attr())
	}
	_ = hd.Handle(ctx, r)
}
