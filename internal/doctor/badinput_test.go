package doctor

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestBadOptionsAreUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		mod  func(o *Options)
	}{
		{"empty URL", func(o *Options) { o.URL = "" }},
		{"not a URL", func(o *Options) { o.URL = "ht!tp://x y" }},
		{"no scheme", func(o *Options) { o.URL = "api.example.com/orders" }},
		{"ftp scheme", func(o *Options) { o.URL = "ftp://example.com/" }},
		{"no host", func(o *Options) { o.URL = "http:///orders" }},
		{"bad IPv6", func(o *Options) { o.URL = "http://[::1/x" }},
		{"bad port", func(o *Options) { o.URL = "http://127.0.0.1:99999/" }},
		{"user info in URL", func(o *Options) { o.URL = "http://bob:pw@example.com/" }},
		{"bad method", func(o *Options) { o.Method = "GET /x" }},
		{"env file without var", func(o *Options) { o.EnvFile = ".env" }},
		{"missing env file", func(o *Options) { o.EnvFile, o.EnvVar = "/nonexistent/.env", "X" }},
		{"bad origin", func(o *Options) { o.Origin = "localhost:3000" }},
		{"bad compare URL", func(o *Options) { o.CompareURL = "::" }},
		{"allow-host as URL", func(o *Options) { o.AllowHosts = []string{"https://x.example/"} }},
		{"missing CA file", func(o *Options) { o.CACertFile = "/nonexistent/ca.pem" }},
		{"header without name", func(o *Options) { o.Headers = []Header{{Name: " ", Value: "x"}} }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := baseOptions("http://127.0.0.1:1/x")
			tc.mod(&o)
			_, err := Run(context.Background(), o)
			if !errors.Is(err, ErrUsage) {
				t.Fatalf("err = %v, want ErrUsage", err)
			}
			if strings.Contains(err.Error(), "pw@") {
				t.Errorf("error echoes the URL's password: %v", err)
			}
		})
	}
}

// closedPort returns a 127.0.0.1 port nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestUnreachableHostIsExitThreeWithAClearMessage(t *testing.T) {
	o := baseOptions("http://" + closedPort(t) + "/orders")
	o.Headers = []Header{bearer(makeJWT(nil, claims(nil)))}
	r := runDoctor(t, o)
	if r.Verdict != VerdictUnreachable || r.ExitCode() != 3 {
		t.Fatalf("verdict %q exit %d, want unreachable/3", r.Verdict, r.ExitCode())
	}
	if !strings.Contains(r.Unreachable, "cannot reach 127.0.0.1:") || !strings.Contains(r.Unreachable, "connection refused") {
		t.Errorf("message = %q", r.Unreachable)
	}
}

func TestSlowServerTimesOut(t *testing.T) {
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	o := baseOptions(srv.URL)
	o.Timeout = 200 * time.Millisecond
	r := runDoctor(t, o)
	if r.ExitCode() != 3 || !strings.Contains(r.Unreachable, "timeout") {
		t.Fatalf("exit %d, message %q", r.ExitCode(), r.Unreachable)
	}
}

// rawServer answers every connection with the given bytes, for responses no Go server
// would write.
func rawServer(t *testing.T, response string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { close(done); l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				br := bufio.NewReader(c)
				for {
					line, err := br.ReadString('\n')
					if err != nil || line == "\r\n" {
						break
					}
				}
				_, _ = io.WriteString(c, response)
			}(c)
		}
	}()
	return "http://" + l.Addr().String()
}

func TestBinaryGarbageInResponseHeadersDoesNotPanic(t *testing.T) {
	responses := map[string]string{
		"latin-1 and controls in a challenge": "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"caf\xe9\", error_description=\"\x01\xff\xfe\"\r\nX-Junk: \xff\xfe\xfd\x80\r\nContent-Length: 0\r\n\r\n",
		"NUL bytes":                           "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer\x00realm=x\r\nContent-Length: 0\r\n\r\n",
		"not HTTP at all":                     "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage",
		"header without colon":                "HTTP/1.1 401 Unauthorized\r\nthis is not a header\r\n\r\n",
		"unterminated quote":                  "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"\xff\r\nContent-Length: 0\r\n\r\n",
	}
	for name, resp := range responses {
		t.Run(name, func(t *testing.T) {
			o := baseOptions(rawServer(t, resp) + "/x")
			o.Headers = []Header{bearer(makeJWT(nil, claims(nil)))}
			r := runDoctor(t, o)
			var b strings.Builder
			if err := r.WriteText(&b, false); err != nil {
				t.Fatal(err)
			}
			if err := r.WriteJSON(&b); err != nil {
				t.Fatal(err)
			}
			if r.Verdict == VerdictOK {
				t.Errorf("verdict ok for garbage")
			}
			if r.Verdict == VerdictUnreachable && r.Unreachable == "" {
				t.Errorf("unreachable without a message")
			}
		})
	}
}

func TestTenMegabyteBodyIsReadOnlyUpToTheBound(t *testing.T) {
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(401)
		chunk := []byte(strings.Repeat("x", 64<<10))
		for i := 0; i < 160; i++ { // 10 MiB
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	o := baseOptions(srv.URL)
	o.Headers = []Header{bearer(makeJWT(nil, claims(nil)))}
	r := runDoctor(t, o)
	resp := r.Facts.finalResp()
	if resp == nil || !resp.BodyTruncated || len(resp.Body) != defaultMaxBody {
		t.Fatalf("body: truncated=%v len=%d, want %d bytes read", resp != nil && resp.BodyTruncated, len(resp.Body), defaultMaxBody)
	}
}

func TestNewlineInHeaderIsExplainedNotSent(t *testing.T) {
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the server received a request")
	})
	o := baseOptions(srv.URL)
	o.Headers = []Header{bearer(makeJWT(nil, claims(nil)) + "\n")}
	r := runDoctor(t, o)
	if r.Verdict != "trailing_newline_or_cr" || r.ExitCode() != 1 {
		t.Fatalf("verdict %q exit %d; findings %v", r.Verdict, r.ExitCode(), codes(r.Findings))
	}
}
