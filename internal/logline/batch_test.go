package logline

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestBatchedLogKeepsEveryLineInOrder logs from many goroutines and checks that every
// line arrives, whole, each goroutine's lines in order, once Flush returns.
func TestBatchedLogKeepsEveryLineInOrder(t *testing.T) {
	var out lockedBuffer
	log := New(&out, slog.LevelInfo, false)
	const workers, lines = 8, 2000
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range lines {
				log.Info("allow", "worker", w, "seq", i, "pad", strings.Repeat("x", i%300))
				if i%500 == 0 {
					log.Info("configuration reloaded", "worker", w, "seq", -1)
				}
			}
		})
	}
	wg.Wait()
	Flush(log)
	next := make([]int, workers)
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		var w, seq int
		if _, err := fmt.Sscanf(sc.Text()[strings.Index(sc.Text(), `"worker":`):], `"worker":%d,"seq":%d`, &w, &seq); err != nil {
			t.Fatalf("line %d does not parse: %q", n, sc.Text())
		}
		if seq == -1 {
			continue
		}
		if seq != next[w] {
			t.Fatalf("worker %d: line %d came after %d", w, seq, next[w]-1)
		}
		next[w]++
		n++
	}
	if n != workers*lines {
		t.Fatalf("%d lines, want %d", n, workers*lines)
	}
}

// TestADecisionLineIsWrittenWithoutFlush: a decision line logged on an idle gateway
// reaches the destination within the flush delay, without anyone calling Flush.
func TestADecisionLineIsWrittenWithoutFlush(t *testing.T) {
	var out lockedBuffer
	log := New(&out, slog.LevelInfo, true)
	log.Info("allow", "request_id", "r1")
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "request_id=r1") {
		if time.Now().After(deadline) {
			t.Fatal("the line was never written")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestOtherLinesAreWrittenAtOnce: startup, reload and error lines (and decision lines
// at Warn, a 5xx) are on the destination when the call that logs them returns, with
// the decision lines buffered before them, in order; so are lines of derived loggers.
func TestOtherLinesAreWrittenAtOnce(t *testing.T) {
	var out lockedBuffer
	log := New(&out, slog.LevelInfo, true)
	log.Info("allow", "request_id", "r1")
	log.Info("configuration reloaded")
	if got := out.String(); !strings.Contains(got, "request_id=r1") || !strings.Contains(got, "configuration reloaded") || strings.Index(got, "r1") > strings.Index(got, "reloaded") {
		t.Fatalf("after an info line that is not a decision: %q", got)
	}
	log.Info("allow", "request_id", "r2")
	log.Warn("deny", "request_id", "r3")
	if got := out.String(); !strings.Contains(got, "request_id=r2") || !strings.Contains(got, "request_id=r3") {
		t.Fatalf("after a warning: %q", got)
	}
	log.With("authenticator", "corp").Error("tls certificate reload failed")
	if got := out.String(); !strings.Contains(got, "authenticator=corp") {
		t.Fatalf("a derived logger's error was not written at once: %q", got)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// BenchmarkDecisionLogLine logs a decision line like the gateway's to a pipe (drained by
// a reader, as journald or a container runtime would), writing each line itself
// (direct) or through New's batching writer. cpu-ns/op is the whole process's
// CPU time per line, the pipe's reader included.
func BenchmarkDecisionLogLine(b *testing.B) {
	for _, mode := range []string{"direct", "batched"} {
		b.Run(mode, func(b *testing.B) {
			r, w, err := os.Pipe()
			if err != nil {
				b.Fatal(err)
			}
			done := make(chan struct{})
			go func() { io.Copy(io.Discard, r); close(done) }()
			var log *slog.Logger
			if mode == "direct" {
				log = slog.New(slog.NewJSONHandler(w, nil))
			} else {
				log = New(w, slog.LevelInfo, false)
			}
			ctx := context.Background()
			start := processCPU()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					log.LogAttrs(ctx, slog.LevelInfo, "allow",
						slog.String("request_id", "0123456789abcdef01234567"), slog.String("method", "GET"),
						slog.String("path", "/es/orders"), slog.String("route", "es"), slog.Int("status", 200),
						slog.String("client", "127.0.0.1"), slog.String("authenticator", "es"),
						slog.String("subject", "user-1"), slog.String("fingerprint", "kid=abc jti=t1"), slog.Int64("decision_us", 3))
				}
			})
			Flush(log)
			b.ReportMetric(float64(processCPU()-start)/float64(b.N), "cpu-ns/op")
			w.Close()
			<-done
			r.Close()
		})
	}
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
