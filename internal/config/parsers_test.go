package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseStore(t *testing.T) {
	tests := []struct {
		in      string
		want    Store
		wantErr string
	}{
		{"sqlite://gatehouse.db", Store{Driver: StoreSQLite, Path: "/etc/gh/gatehouse.db"}, ""},
		{"sqlite://data/x.db", Store{Driver: StoreSQLite, Path: "/etc/gh/data/x.db"}, ""},
		{"sqlite://../x.db", Store{Driver: StoreSQLite, Path: "/etc/x.db"}, ""},
		{"sqlite:///var/lib/gh.db", Store{Driver: StoreSQLite, Path: "/var/lib/gh.db"}, ""},
		{"postgres://gh@db.internal/gatehouse", Store{Driver: StorePostgres, DSN: "postgres://gh@db.internal/gatehouse"}, ""},
		{"postgresql://gh:pw@db/gh?sslmode=verify-full", Store{Driver: StorePostgres, DSN: "postgresql://gh:pw@db/gh?sslmode=verify-full"}, ""},
		{"sqlite://", Store{}, "needs a file path"},
		{"sqlite://x.db?mode=ro", Store{}, "options in the URL are not supported"},
		{"mysql://db/x", Store{}, "unsupported store"},
		{"gatehouse.db", Store{}, "unsupported store"},
		{"postgres://u:pw@db:port/x", Store{}, "does not parse"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseStore(tt.in, "/etc/gh")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseStore(%q) error = %v, want %q", tt.in, err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "pw") {
					t.Errorf("error quotes the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseStore(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestStoreStringRedactsPassword(t *testing.T) {
	s, err := ParseStore("postgres://gh:hunter2@db/gh", "")
	if err != nil {
		t.Fatal(err)
	}
	j, err := json.Marshal(struct{ S Store }{s})
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("x", "store", s)
	for _, out := range []string{s.String(), fmt.Sprint(s), fmt.Sprintf("%+v", struct{ S Store }{s}), string(j), logged.String()} {
		if strings.Contains(out, "hunter2") {
			t.Errorf("store prints its password: %s", out)
		}
	}
	if got := s.String(); got != "postgres://gh:xxxxx@db/gh" {
		t.Errorf("String() = %q", got)
	}
}

func TestParseRate(t *testing.T) {
	tests := []struct {
		in      string
		want    Rate
		wantErr string
	}{
		{"30/min", Rate{30, time.Minute}, ""},
		{"10/minute", Rate{10, time.Minute}, ""},
		{"5/s", Rate{5, time.Second}, ""},
		{"5/sec", Rate{5, time.Second}, ""},
		{"5/second", Rate{5, time.Second}, ""},
		{"100/h", Rate{100, time.Hour}, ""},
		{"100/hour", Rate{100, time.Hour}, ""},
		{"2/hours", Rate{2, time.Hour}, ""},
		{" 7 / min ", Rate{7, time.Minute}, ""},
		{"30", Rate{}, "write a rate as N/unit"},
		{"0/min", Rate{}, "from 1 to 1000000"},
		{"-1/min", Rate{}, "from 1 to 1000000"},
		{"1.5/min", Rate{}, "from 1 to 1000000"},
		{"1000001/min", Rate{}, "from 1 to 1000000"},
		{"30/m", Rate{}, "the unit in N/unit"},
		{"30/day", Rate{}, "the unit in N/unit"},
		{"30/MIN", Rate{}, "the unit in N/unit"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseRate(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseRate(%q) error = %v, want %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseRate(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
			// String gives back something ParseRate reads as the same rate.
			if again, err := ParseRate(got.String()); err != nil || again != got {
				t.Errorf("ParseRate(%q) = %v, %v; want %v", got.String(), again, err, got)
			}
		})
	}
}

func TestNormalizeOrigin(t *testing.T) {
	tests := []struct {
		in, want, wantErr string
	}{
		{"https://app.example.com", "https://app.example.com", ""},
		{"HTTPS://App.Example.COM", "https://app.example.com", ""},
		{"https://app.example.com:443", "https://app.example.com", ""},
		{"http://localhost:80", "http://localhost", ""},
		{"http://localhost:3000", "http://localhost:3000", ""},
		{"https://app.example.com:80", "https://app.example.com:80", ""},
		{"http://[::1]:8080", "http://[::1]:8080", ""},
		{"chrome-extension://abcdef", "chrome-extension://abcdef", ""},
		{"https://app.example.com/", "", "remove the trailing /"},
		{"https://app.example.com/x", "", "must not hold a path"},
		{"https://app.example.com?x", "", "must not hold a path, query"},
		{"https://app.example.com#x", "", "must not hold a path, query or fragment"},
		{"https://u@app.example.com", "", "must not hold a user name"},
		{"app.example.com", "", "write scheme://host[:port]"},
		{"null", "", "write scheme://host[:port]"},
		{"mailto:a@b", "", "write scheme://host[:port]"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := normalizeOrigin(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("normalizeOrigin(%q) = %q, %v; want error %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("normalizeOrigin(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestSuggest(t *testing.T) {
	keys := []string{"listen", "admin_listen", "jwks_url", "jwks_file", "audience", "warn", "verbose"}
	tests := []struct{ in, want string }{
		{"listn", "listen"},
		{"Listen", "listen"},
		{"jwks_ur", "jwks_url"},
		{"jwks_uri", "jwks_url"},
		{"audiance", "audience"},
		{"warning", "warn"},
		{"verb", "verbose"},
		{"colour", ""},
		{"x", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := suggest(tt.in, keys); got != tt.want {
			t.Errorf("suggest(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestAliasesAndMergeKeys(t *testing.T) {
	c, err := Parse([]byte(`realm: test
x-common: &common
  type: jwt
  issuer: https://id.example
  algorithms: &algs [ES256, RS256]
  jwks_url: https://id.example/jwks
x-short: &short {leeway: 5s}
authenticators:
  a: {<<: [*common, *short], audience: a}
  b:
    <<: *common
    audience: b
    algorithms: [ES384]
    leeway: 1s
  c: {<<: *common, audience: c, algorithms: *algs}
routes: [{match: {path_prefix: /}, authenticate: [a, b, c]}]
`), t.TempDir(), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	type view struct {
		Audience, Algorithms []string
		Leeway               time.Duration
	}
	got := map[string]view{}
	for n, a := range c.Authenticators {
		got[n] = view{a.JWT.Audience, a.JWT.Algorithms, a.JWT.Leeway}
	}
	want := map[string]view{
		"a": {[]string{"a"}, []string{"ES256", "RS256"}, 5 * time.Second},
		"b": {[]string{"b"}, []string{"ES384"}, time.Second},
		"c": {[]string{"c"}, []string{"ES256", "RS256"}, DefaultLeeway},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("merged authenticators (-want +got):\n%s", diff)
	}
}

// TestHostileYAMLIsBounded feeds structures that would take exponential time or never end
// if walked naively; each must come back quickly with a problem.
func TestHostileYAMLIsBounded(t *testing.T) {
	var laughs strings.Builder
	laughs.WriteString("realm: test\nx-0: &m0 {a: 1, b: 2}\n")
	for i := 1; i <= 12; i++ {
		fmt.Fprintf(&laughs, "x-%d: &m%d {<<: [", i, i)
		for j := 0; j < 9; j++ {
			if j > 0 {
				laughs.WriteString(", ")
			}
			fmt.Fprintf(&laughs, "*m%d", i-1)
		}
		laughs.WriteString("]}\n")
	}
	laughs.WriteString("authenticators:\n  a: {<<: *m12, type: basic}\n")
	laughs.WriteString("routes: [{match: {path_prefix: /}, authenticate: anonymous}]\n")

	tests := []struct {
		name, yaml, want string
	}{
		{"merge bomb", laughs.String(), "too complex"},
		{"self merge", "realm: test\nauthenticators:\n  a: &a {type: basic, <<: *a}\nroutes: [{match: {path_prefix: /}, authenticate: anonymous}]\n", "<< merges a mapping into itself"},
		{"self-referencing sequence", "realm: test\ntrusted_proxies: &p [*p]\nroutes: [{match: {path_prefix: /}, authenticate: anonymous}]\n", "expected a string, found a sequence"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() {
				_, err := Parse([]byte(tt.yaml), "", noEnv)
				done <- err
			}()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("err = %v, want %q", err, tt.want)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Parse did not return within 10s")
			}
		})
	}
}

func TestOversizedConfigIsRefused(t *testing.T) {
	data := []byte(minimal + "# " + strings.Repeat("x", MaxConfigBytes) + "\n")
	_, err := Parse(data, "", noEnv)
	if ps := problemsOf(t, err); len(ps) != 1 || !strings.Contains(ps[0].Msg, "larger than") {
		t.Errorf("problems = %v", ps)
	}
}

// manyRoutes returns a configuration with n routes under one prefix, each for its own
// method: the worst case for checking which routes can never match.
func manyRoutes(n int) []byte {
	var b strings.Builder
	b.WriteString("realm: test\nroutes:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - {match: {path_prefix: /api/v1, methods: [M%d]}, authenticate: anonymous}\n", i)
	}
	return []byte(b.String())
}

func TestManyRoutesAreCheckedWithoutQuadraticWork(t *testing.T) {
	data := manyRoutes(20000)
	done := make(chan error, 1)
	go func() {
		_, err := Parse(data, "", noEnv)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Parse of 20000 routes did not return within 20s")
	}
}

func BenchmarkParseGood(b *testing.B) {
	data, err := os.ReadFile("testdata/good.yaml")
	if err != nil {
		b.Fatal(err)
	}
	dir, _ := filepath.Abs("testdata")
	env := envOf(map[string]string{"GATEHOUSE_REALM": "r", "UPSTREAM": "http://127.0.0.1:9000", "KEY_PEPPER": "p"})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(data, dir, env); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseManyRoutes(b *testing.B) {
	data := manyRoutes(2000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(data, "", noEnv); err != nil {
			b.Fatal(err)
		}
	}
}
