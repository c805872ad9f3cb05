package har

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestReadRefusesInputThatIsNotAHAR(t *testing.T) {
	tests := []struct {
		name, in string
		want     error
		msg      string
	}{
		{"HTML", "<!DOCTYPE html><html></html>", ErrNotJSON, "at byte 0: expected '{' at the start of a HAR file, found '<'"},
		{"Empty", "", ErrNotJSON, "the input is empty"},
		{"Whitespace", "  \n ", ErrNotJSON, "the input is empty"},
		{"Truncated", `{"log":{"entries":[{"request":{"url":"https://x/"`, ErrNotJSON, "unexpected end of input"},
		{"TrailingGarbage", `{"log":{}} x`, ErrNotJSON, "at byte 11: unexpected 'x'"},
		{"NoLog", `{"foo":[1,2,{"a":null}]}`, ErrNotHAR, ""},
		{"BadEscape", `{"log":{"creator":{"name":"a\qb"}}}`, ErrNotJSON, "invalid escape"},
		{"ControlInString", "{\"log\":{\"creator\":{\"name\":\"a\x01\"}}}", ErrNotJSON, "control character"},
		{"MissingColon", `{"log" {}}`, ErrNotJSON, "expected ':'"},
		{"DeepNesting", `{"x":` + strings.Repeat("[", 1000) + strings.Repeat("]", 1000) + `,"log":{}}`, ErrNotJSON, "nesting deeper than 512"},
		{"BinaryGarbage", "\x00\xff\xfe", ErrNotJSON, "byte 0x00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Read(strings.NewReader(tt.in), 1<<20)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Read error = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not contain %q", err, tt.msg)
			}
		})
	}
}

func TestReadRefusesInputOverMaxBytes(t *testing.T) {
	in := `{"log":{"entries":[],"comment":"` + strings.Repeat("x", 5000) + `"}}`
	_, err := Read(strings.NewReader(in), 1000)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "more than 1000 bytes") {
		t.Fatalf("Read error = %v, want ErrTooLarge naming the bound", err)
	}
	if _, err := Read(strings.NewReader(in), int64(len(in))); err != nil {
		t.Fatalf("Read at exactly the bound: %v", err)
	}
}

func TestReadKeepsWhatAnalysisNeedsAndBoundsTheRest(t *testing.T) {
	body := strings.Repeat("é", MaxBodyPrefix) // 2 bytes each: twice the bound
	long := strings.Repeat("a", maxHeaderValue+10)
	in := fmt.Sprintf(`{"log":{"version":"1.2","creator":{"name":"WebInspector","version":"537.36"},
 "pages":[{"id":"p1","title":"https://app.example.com/home?x=1"},{"id":"p2","title":"not a url"}],
 "entries":[
  {"pageref":"p1","startedDateTime":"2025-03-04T10:00:01.250Z","_resourceType":"fetch",
   "request":{"method":"POST","url":"https://api.example.com/x","headers":[{"name":"X-Emoji","value":"\ud83d\ude00 \u00e9 \/"},{"name":"X-Long","value":"%s"}],
     "postData":{"mimeType":"application/x-www-form-urlencoded","text":"grant_type=client_credentials"},"cookies":[{"name":"a","value":"b"}]},
   "response":{"status":500,"statusText":"Oops","headers":[],"content":{"size":1,"mimeType":"text/plain","text":"%s"},"_error":"net::ERR_FAILED"}},
  {"request":{"method":"GET","url":"https://api.example.com/b64","headers":[]},
   "response":{"status":"401","headers":null,"content":{"encoding":"base64","mimeType":"application/json","text":"%s"}}},
  {"request":{"method":"GET","url":"https://api.example.com/img","headers":[]},
   "response":{"status":200,"content":{"encoding":"base64","mimeType":"image/png","text":"iVBORw0KGgo="}}}
 ]}}`, long, body, base64.StdEncoding.EncodeToString([]byte(`{"error":"invalid_token"}`)))
	l, err := Read(strings.NewReader(in), 10<<20)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"https://app.example.com"}, l.PageOrigins); diff != "" {
		t.Errorf("PageOrigins (-want +got):\n%s", diff)
	}
	e := l.Entries[0]
	if e.Method != "POST" || e.Status != 500 || e.StatusText != "Oops" || e.Error != "net::ERR_FAILED" || e.ResourceType != "fetch" {
		t.Errorf("entry 0 = %+v", e)
	}
	if want := time.Date(2025, 3, 4, 10, 0, 1, 250e6, time.UTC); !e.StartedAt.Equal(want) {
		t.Errorf("StartedAt = %v, want %v", e.StartedAt, want)
	}
	if e.PageOrigin != "https://app.example.com" {
		t.Errorf("PageOrigin = %q", e.PageOrigin)
	}
	if got := e.RequestHeaders[0].Value; got != "😀 é /" {
		t.Errorf("escapes decoded to %q", got)
	}
	if got := len(e.RequestHeaders[1].Value); got != maxHeaderValue || !e.Truncated {
		t.Errorf("long header kept %d bytes (truncated=%v), want %d", got, e.Truncated, maxHeaderValue)
	}
	if len(e.BodyPrefix) > MaxBodyPrefix || len(e.BodyPrefix) < MaxBodyPrefix-1 || !strings.HasPrefix(e.BodyPrefix, "éé") {
		t.Errorf("BodyPrefix is %d bytes, want about %d", len(e.BodyPrefix), MaxBodyPrefix)
	}
	if e.PostDataPrefix != "grant_type=client_credentials" {
		t.Errorf("PostDataPrefix = %q", e.PostDataPrefix)
	}
	if l.Entries[1].Status != 401 || l.Entries[1].BodyPrefix != `{"error":"invalid_token"}` {
		t.Errorf("base64 entry: status %d body %q", l.Entries[1].Status, l.Entries[1].BodyPrefix)
	}
	if l.Entries[2].BodyPrefix != "" {
		t.Errorf("binary base64 body kept: %q", l.Entries[2].BodyPrefix)
	}
}

// TestReadStreamsAHugeHARInBoundedMemory feeds a 50 MB HAR with large base64 bodies
// through a pipe and checks that the heap grows by far less than the input.
func TestReadStreamsAHugeHARInBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 50 MB")
	}
	const total = 50 << 20
	chunk := strings.Repeat("QUJDREVGR0g=", 4<<10) // 48 KiB of base64 per write
	pr, pw := io.Pipe()
	written := make(chan int64, 1)
	go func() {
		var n int64
		write := func(s string) bool {
			k, err := io.WriteString(pw, s)
			n += int64(k)
			return err == nil
		}
		ok := write(`{"log":{"version":"1.2","creator":{"name":"Firefox","version":"1"},"entries":[`)
		for i := 0; ok && n < total; i++ {
			if i > 0 {
				ok = write(",")
			}
			ok = ok && write(fmt.Sprintf(`{"startedDateTime":"2025-03-04T10:00:00Z","request":{"method":"GET","url":"https://cdn.example.com/%d.png","headers":[{"name":"Accept","value":"image/*"}],"postData":{"text":"`, i))
			// A 2 MB request body and a 2 MB image body per entry.
			for k := 0; ok && k < 40; k++ {
				ok = write(chunk)
			}
			ok = ok && write(`"}},"response":{"status":200,"headers":[],"content":{"mimeType":"image/png","encoding":"base64","text":"`)
			for k := 0; ok && k < 40; k++ {
				ok = write(chunk)
			}
			ok = ok && write(`"}}}`)
		}
		write(`]}}`)
		pw.Close()
		written <- n
	}()
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	l, err := Read(pr, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	n := <-written
	if n < total {
		t.Fatalf("wrote only %d bytes", n)
	}
	// HeapAlloc after the read (live plus not yet collected) and the peak-ish TotalAlloc
	// delta both stay far below the input: strings are never held whole.
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	if grown > n/10 {
		t.Errorf("heap grew by %d bytes reading %d bytes; want under %d", grown, n, n/10)
	}
	if len(l.Entries) == 0 || l.Entries[0].BodyPrefix != "" {
		t.Errorf("entries %d, first body %d bytes", len(l.Entries), len(l.Entries[0].BodyPrefix))
	}
	t.Logf("read %d MB in %d entries; heap grew %d KB; allocated %d MB in total", n>>20, len(l.Entries), grown>>10, (after.TotalAlloc-before.TotalAlloc)>>20)
}

func TestReadFixtureFilesThatAreNotHAR(t *testing.T) {
	for _, name := range []string{"not_json.har", "truncated.har"} {
		t.Run(name, func(t *testing.T) {
			f, err := os.Open(filepath.Join("testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			_, err = Read(f, 1<<20)
			if !errors.Is(err, ErrNotJSON) || !strings.Contains(err.Error(), "at byte") {
				t.Fatalf("Read(%s) = %v, want ErrNotJSON with an offset", name, err)
			}
		})
	}
}

func BenchmarkReadHAR(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("testdata", "cookie_samesite.har"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Read(bytes.NewReader(data), 1<<20); err != nil {
			b.Fatal(err)
		}
	}
}
