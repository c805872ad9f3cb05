package logline

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// viaSlog is what slog's own handler writes for the same line.
func viaSlog(text bool, t time.Time, level slog.Level, msg string, fields []Field) string {
	var buf bytes.Buffer
	var h slog.Handler = slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})
	if text {
		h = slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})
	}
	r := slog.NewRecord(t, level, msg, 0)
	for _, f := range fields {
		r.AddAttrs(f.attr())
	}
	h.Handle(context.Background(), r)
	return buf.String()
}

// direct is what Log's direct path writes.
func direct(text bool, t time.Time, level slog.Level, msg string, fields []Field) string {
	var buf bytes.Buffer
	l := New(&buf, slog.LevelDebug, text)
	Log(context.Background(), l, t, level, msg, fields...)
	Flush(l)
	return buf.String()
}

var t0 = time.Date(2026, 11, 27, 13, 34, 50, 123456789, time.UTC)

// TestLogMatchesSlog: the direct path writes exactly what slog's JSON and text handlers
// write, for the values a decision line holds and for hostile ones.
func TestLogMatchesSlog(t *testing.T) {
	hostile := []string{
		"", " ", "plain", "with space", "a=b", `quo"te`, `back\slash`, "new\nline", "cr\rtab\t",
		"\x00\x01\x1f\x7f", "<html>&amp;", "ünïcödé", "\u2028\u2029", "bad\xffutf8", "\xc3",
		"zero\u200bwidth", "nbsp\u00a0", "emoji 😀", strings.Repeat("x", 600),
	}
	times := []time.Time{t0, t0.Truncate(time.Second), time.Date(2026, 1, 2, 3, 4, 5, 999999999, time.FixedZone("", 5*3600+30*60)), time.Now()}
	addrs := []netip.Addr{{}, netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("::ffff:10.0.0.1"), netip.MustParseAddr("fe80::1%eth0")}
	levels := []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError, slog.LevelInfo + 2}
	for _, text := range []bool{false, true} {
		for i, s := range hostile {
			fields := []Field{
				String("request_id", "0123456789abcdef01234567"), String("method", "GET"), String("path", s),
				Int("status", int64(200+i)), Addr("client", addrs[i%len(addrs)]), String(s+"key", s), Int("decision_us", -int64(i)),
			}
			tm, lvl := times[i%len(times)], levels[i%len(levels)]
			for _, msg := range []string{"allow", s} {
				if got, want := direct(text, tm, lvl, msg, fields), viaSlog(text, tm, lvl, msg, fields); got != want {
					t.Errorf("text=%v %q:\n got %s\nwant %s", text, s, got, want)
				}
			}
		}
	}
}

// FuzzLogMatchesSlog holds the direct encoders to slog's for any strings.
func FuzzLogMatchesSlog(f *testing.F) {
	for _, s := range []string{"", "a b", "x=\"y\"", "\xff\xfe", "\u2028", "\t\n", "é"} {
		f.Add(s, s, int64(len(s)), uint64(1795786532123456789))
	}
	f.Fuzz(func(t *testing.T, key, val string, n int64, nanos uint64) {
		tm := time.Unix(0, int64(nanos%(1<<62))).UTC()
		fields := []Field{String(key, val), Int("n", n), String("k", key)}
		for _, text := range []bool{false, true} {
			if got, want := direct(text, tm, slog.LevelInfo, val, fields), viaSlog(text, tm, slog.LevelInfo, val, fields); got != want {
				t.Fatalf("text=%v:\n got %q\nwant %q", text, got, want)
			}
		}
	})
}

// TestLogFallsBackToSlog: any logger that is not New's, or one derived from it, gets
// the line through its handler, with its attributes.
func TestLogFallsBackToSlog(t *testing.T) {
	var buf bytes.Buffer
	Log(context.Background(), slog.New(slog.NewJSONHandler(&buf, nil)), t0, slog.LevelInfo, "allow", String("route", "es"))
	if got, want := buf.String(), `{"time":"2026-11-27T13:34:50.123456789Z","level":"INFO","msg":"allow","route":"es"}`+"\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	buf.Reset()
	l := New(&buf, slog.LevelInfo, false).With("component", "gw")
	Log(context.Background(), l, t0, slog.LevelWarn, "deny", String("route", "es"))
	if got, want := buf.String(), `{"time":"2026-11-27T13:34:50.123456789Z","level":"WARN","msg":"deny","component":"gw","route":"es"}`+"\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// TestLogHonoursTheLevel: lines below the logger's level are not written, by either path.
func TestLogHonoursTheLevel(t *testing.T) {
	var buf bytes.Buffer
	for _, l := range []*slog.Logger{New(&buf, slog.LevelWarn, false), slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}))} {
		Log(context.Background(), l, t0, slog.LevelInfo, "allow", String("route", "es"))
		Flush(l)
		if buf.Len() != 0 {
			t.Fatalf("an info line was written at level warn: %q", buf.String())
		}
		Log(context.Background(), l, t0, slog.LevelWarn, "deny", String("route", "es"))
		Flush(l)
		if !strings.Contains(buf.String(), "route") {
			t.Fatalf("a warning was not written: %q", buf.String())
		}
		buf.Reset()
	}
}

// TestWarningsAreWrittenAtOnce: a decision line at Warn (a 5xx) is on the destination
// when Log returns, with the lines buffered before it; an info decision line waits.
func TestWarningsAreWrittenAtOnce(t *testing.T) {
	var out lockedBuffer
	l := New(&out, slog.LevelInfo, true)
	Log(context.Background(), l, t0, slog.LevelInfo, "allow", String("request_id", "r1"))
	if got := out.String(); got != "" {
		t.Fatalf("an allow line was written before the flush delay: %q", got)
	}
	Log(context.Background(), l, t0, slog.LevelWarn, "deny", String("request_id", "r2"))
	if got := out.String(); !strings.Contains(got, "request_id=r1") || !strings.Contains(got, "request_id=r2") {
		t.Fatalf("after a warning: %q", got)
	}
}

// BenchmarkLog compares one decision line through slog (LogAttrs on a JSON handler) with
// Log's direct path, both writing to io.Discard through New's batching writer.
func BenchmarkLog(b *testing.B) {
	ctx := context.Background()
	client := netip.MustParseAddr("127.0.0.1")
	b.Run("slog", func(b *testing.B) {
		l := New(io.Discard, slog.LevelInfo, false)
		b.ReportAllocs()
		for b.Loop() {
			l.LogAttrs(ctx, slog.LevelInfo, "allow",
				slog.String("request_id", "0123456789abcdef01234567"), slog.String("method", "GET"),
				slog.String("path", "/es/orders"), slog.String("route", "es"), slog.Int("status", 200),
				slog.String("client", client.String()), slog.String("authenticator", "es"),
				slog.String("subject", "user-1"), slog.String("fingerprint", "kid=abc jti=t1"), slog.Int64("decision_us", 3))
		}
	})
	b.Run("direct", func(b *testing.B) {
		l := New(io.Discard, slog.LevelInfo, false)
		b.ReportAllocs()
		for b.Loop() {
			Log(ctx, l, time.Now(), slog.LevelInfo, "allow",
				String("request_id", "0123456789abcdef01234567"), String("method", "GET"),
				String("path", "/es/orders"), String("route", "es"), Int("status", 200),
				Addr("client", client), String("authenticator", "es"),
				String("subject", "user-1"), String("fingerprint", "kid=abc jti=t1"), Int("decision_us", 3))
		}
	})
}
