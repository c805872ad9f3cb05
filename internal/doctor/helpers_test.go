package doctor

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/doctor/finding"
)

// testNow is the fixed clock of every test: the doctor's local clock and the test
// servers' Date header agree on it unless a test says otherwise.
var testNow = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)

// serve starts an httptest server on 127.0.0.1 whose responses carry Date: testNow
// (plus skew), so clock comparisons are deterministic.
func serve(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	return serveSkewed(t, 0, h)
}

func serveSkewed(t *testing.T, skew time.Duration, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(dated(skew, h))
	t.Cleanup(srv.Close)
	return srv
}

func dated(skew time.Duration, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", testNow.Add(skew).Format(http.TimeFormat))
		h(w, r)
	}
}

// env is a fake environment for Options.Getenv.
type env map[string]string

func (e env) get(k string) string { return e[k] }

// baseOptions are the options every test starts from: fixed clock, empty environment,
// short timeouts.
func baseOptions(url string) Options {
	return Options{
		URL:     url,
		Timeout: 5 * time.Second,
		Now:     func() time.Time { return testNow },
		Getenv:  env{}.get,
	}
}

func bearer(tok string) Header { return Header{Name: "Authorization", Value: "Bearer " + tok} }

// runDoctor runs the doctor with a deadline and fails the test on an options error.
func runDoctor(t *testing.T, o Options) *Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := Run(ctx, o)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return r
}

// makeJWT builds an unsigned-looking compact JWT (the signature is a placeholder: the
// doctor never verifies).
func makeJWT(header, claims map[string]any) string {
	if header == nil {
		header = map[string]any{"alg": "RS256", "typ": "JWT", "kid": "k1"}
	}
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	// A 256-byte signature, the size of an RS256 signature with a 2048-bit key; the
	// doctor never verifies it.
	sig := make([]byte, 256)
	for i := range sig {
		sig[i] = byte(i * 7)
	}
	return enc(header) + "." + enc(claims) + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// claims returns typical access-token claims valid around testNow, with overrides.
func claims(over map[string]any) map[string]any {
	c := map[string]any{
		"iss":   "https://id.example.com/",
		"sub":   "user-42",
		"aud":   "api://orders",
		"iat":   testNow.Add(-10 * time.Minute).Unix(),
		"nbf":   testNow.Add(-10 * time.Minute).Unix(),
		"exp":   testNow.Add(50 * time.Minute).Unix(),
		"scope": "orders:read",
	}
	for k, v := range over {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	return c
}

// codes lists the findings' codes in rank order.
func codes(fs []finding.Finding) []string {
	out := make([]string, 0, len(fs))
	for _, f := range fs {
		out = append(out, f.Code)
	}
	return out
}

func findingByCode(r *Report, code string) *finding.Finding {
	for i := range r.Findings {
		if r.Findings[i].Code == code {
			return &r.Findings[i]
		}
	}
	return nil
}

// recorder remembers what a server received, to prove what was never sent.
type recorder struct {
	mu   sync.Mutex
	reqs []recorded
}

type recorded struct {
	Method string
	Path   string
	Header http.Header
	Body   string
}

func (rc *recorder) add(r *http.Request) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := r.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	rc.reqs = append(rc.reqs, recorded{Method: r.Method, Path: r.URL.RequestURI(), Header: r.Header.Clone(), Body: b.String()})
}

func (rc *recorder) all() []recorded {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]recorded(nil), rc.reqs...)
}

// evidenceText joins a finding's evidence for substring checks.
func evidenceText(f *finding.Finding) string {
	if f == nil {
		return ""
	}
	return strings.Join(f.Evidence, "\n")
}

// quietLog discards a test server's own error log (TLS handshake failures the test
// provokes on purpose).
func quietLog() *log.Logger { return log.New(io.Discard, "", 0) }
