package config

import (
	"bytes"
	"errors"
	"flag"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// envOf returns a getenv reading m.
func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// noEnv is an empty environment, so tests never depend on the machine's.
var noEnv = envOf(nil)

// minimal is the smallest valid configuration.
const minimal = "realm: test\nroutes: [{match: {path_prefix: /}, authenticate: anonymous}]\n"

// writeFiles writes name -> content under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// problemsOf returns the problems of err, failing the test when err is not an *Error.
func problemsOf(t *testing.T, err error) []Problem {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v (%T), want *config.Error", err, err)
	}
	return e.Problems()
}

// cmpConfig compares Configs, secrets by value.
var cmpConfig = cmp.Options{
	cmp.Comparer(func(a, b Secret) bool { return bytes.Equal(a.b, b.b) }),
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
	cmpopts.IgnoreUnexported(Config{}, MTLS{}),
	cmpopts.EquateEmpty(),
}

func TestGoodFixtureLoadsEveryKey(t *testing.T) {
	env := envOf(map[string]string{
		"GATEHOUSE_REALM": "orders-api",
		"UPSTREAM":        "http://127.0.0.1:9000",
		"KEY_PEPPER":      "pepper-from-env",
	})
	c, err := Load("testdata/good.yaml", env)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	dir, _ := filepath.Abs("testdata")
	in := func(p string) string { return filepath.Join(dir, p) }
	jwtDefaults := JWT{
		Audience:        []string{"api://orders", "api://billing"},
		Algorithms:      []string{"ES256"},
		Leeway:          time.Minute,
		JWKSMaxStale:    DefaultJWKSMaxStale,
		JWKSMinRefresh:  DefaultJWKSMinRefresh,
		JWKSNegativeTTL: DefaultJWKSNegativeTTL,
		JWKSTimeout:     DefaultJWKSTimeout,
		CacheSize:       DefaultJWTCacheSize,
	}
	corp := jwtDefaults
	corp.Issuer = "https://id.example.com"
	corp.JWKSURL = "https://id.example.com/.well-known/jwks.json"
	corp.JWKSMaxStale, corp.JWKSMinRefresh, corp.JWKSNegativeTTL, corp.JWKSTimeout = 12*time.Hour, 2*time.Minute, 10*time.Second, 3*time.Second
	corp.CacheSize = 5000
	file := jwtDefaults
	file.Issuer = "https://partner.example"
	file.Audience = []string{"api://orders"}
	file.JWKSFile = in("jwks.json")
	hmacJWT := JWT{
		Issuer: "https://legacy.example/$tenant", Audience: []string{"legacy"}, Algorithms: []string{"HS256", "HS384"},
		Secret: NewSecret([]byte("test-only-hmac-key-0123456789abcdefghijklmnop-0123")),
		Leeway: DefaultLeeway, JWKSMaxStale: DefaultJWKSMaxStale, JWKSMinRefresh: DefaultJWKSMinRefresh,
		JWKSNegativeTTL: DefaultJWKSNegativeTTL, JWKSTimeout: DefaultJWKSTimeout, CacheSize: DefaultJWTCacheSize,
	}
	ed := file
	ed.Issuer, ed.Audience, ed.Algorithms, ed.Leeway = "https://ed.example", []string{"api://orders"}, []string{"EdDSA"}, DefaultLeeway

	want := &Config{
		File:        "testdata/good.yaml",
		Dir:         dir,
		Listen:      "0.0.0.0:8443",
		AdminListen: "127.0.0.1:9191",
		TLS:         TLS{CertFile: in("tls.crt"), KeyFile: in("tls.key")},
		Realm:       "orders-api",
		Environment: "test",
		Store:       Store{Driver: StoreSQLite, Path: in("data/gatehouse.db")},
		Errors:      Errors{Detail: DetailTerse},
		CORS: CORS{
			AllowedOrigins: []string{"https://app.example.com", "http://localhost:3000"},
			AllowedHeaders: []string{"X-Trace-Id"},
			MaxAge:         time.Hour,
		},
		TrustedProxies: []netip.Prefix{
			netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("192.168.1.7/32"),
		},
		ForwardAuth:          ForwardAuth{Path: "/auth/decide"},
		MaxHeaderBytes:       32768,
		Resource:             "https://api.example.com/orders",
		AuthorizationServers: []string{"https://id.example.com"},
		UpstreamTimeout:      45 * time.Second,
		ShutdownTimeout:      5 * time.Second,
		WriteTimeout:         DefaultWriteTimeout,
		StoreOutageGrace:     DefaultStoreOutageGrace,
		Log:                  Log{Level: slog.LevelDebug, Format: LogText},
		FailureBudget: FailureBudget{PerClient: Rate{100, time.Minute}, PerCredential: Rate{5, time.Second},
			PerCredentialGlobal: Rate{50, time.Minute}, Redis: "redis://:s3cret@127.0.0.1:6379/2"},
		Authenticators: map[string]*Authenticator{
			"corp_jwt": {Name: "corp_jwt", Type: TypeJWT, Line: 31, JWT: &corp},
			"file_jwt": {Name: "file_jwt", Type: TypeJWT, Line: 40, JWT: &file},
			"hmac_jwt": {Name: "hmac_jwt", Type: TypeJWT, Line: 45, JWT: &hmacJWT},
			"ed_jwt":   {Name: "ed_jwt", Type: TypeJWT, Line: 51, JWT: &ed},
			"keys": {Name: "keys", Type: TypeAPIKey, Line: 52, APIKey: &APIKey{
				Header: "X-Api-Token", Query: "api_key", Pepper: NewSecret([]byte("pepper-from-env")),
			}},
			"staff": {Name: "staff", Type: TypeBasic, Line: 57, Basic: &Basic{CacheTTL: time.Minute, CacheSize: 50}},
			"opaque": {Name: "opaque", Type: TypeIntrospection, Line: 58, Introspection: &Introspection{
				URL: "https://id.example.com/introspect", ClientID: "gatehouse",
				ClientSecret: NewSecret([]byte("test-only-client-secret")), CacheMaxTTL: 2 * time.Minute, Timeout: 2 * time.Second,
			}},
			"certs": {Name: "certs", Type: TypeMTLS, Line: 65, MTLS: &MTLS{CAFile: in("ca.pem"), PrincipalFrom: PrincipalSANURI}},
		},
		Routes: []Route{
			{
				Name: "admin", Line: 68, Match: Match{PathPrefix: "/admin", Methods: []string{"GET", "POST"}},
				Upstream: "http://127.0.0.1:9000", Authenticators: []string{"corp_jwt", "staff"},
				Require: Require{Scopes: []string{"orders:admin"}}, ForwardAuthorization: false,
			},
			{
				Name: "route-1", Line: 74, Match: Match{PathPrefix: "/api"}, Upstream: "http://127.0.0.1:9000/v1",
				Authenticators:       []string{"keys", "file_jwt", "hmac_jwt", "ed_jwt", "opaque", "certs"},
				ForwardAuthorization: true,
			},
			{Name: "health", Line: 77, Match: Match{PathPrefix: "/health"}, Anonymous: true, ForwardAuthorization: true},
		},
	}
	if diff := cmp.Diff(want, c, cmpConfig); diff != "" {
		t.Errorf("Load(good.yaml) mismatch (-want +got):\n%s", diff)
	}
	if !c.Authenticators["hmac_jwt"].JWT.UsesHMAC() || c.Authenticators["corp_jwt"].JWT.UsesHMAC() {
		t.Error("UsesHMAC is wrong")
	}
}

func TestMinimalConfigGetsEveryDefault(t *testing.T) {
	dir := t.TempDir()
	c, err := Parse([]byte(minimal), dir, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Dir:              dir,
		Listen:           "127.0.0.1:8080",
		AdminListen:      "127.0.0.1:9090",
		Realm:            "test",
		Environment:      "live",
		Store:            Store{Driver: StoreSQLite, Path: filepath.Join(dir, "gatehouse.db")},
		Errors:           Errors{Detail: DetailVerbose},
		CORS:             CORS{MaxAge: 10 * time.Minute},
		ForwardAuth:      ForwardAuth{Path: "/_gatehouse/decide"},
		MaxHeaderBytes:   65536,
		UpstreamTimeout:  30 * time.Second,
		ShutdownTimeout:  15 * time.Second,
		WriteTimeout:     DefaultWriteTimeout,
		StoreOutageGrace: 30 * time.Second,
		Log:              Log{Level: slog.LevelInfo, Format: LogJSON},
		FailureBudget:    FailureBudget{PerClient: Rate{30, time.Minute}, PerCredential: Rate{10, time.Minute}, PerCredentialGlobal: Rate{100, time.Minute}},
		Authenticators:   map[string]*Authenticator{},
		Routes: []Route{{
			Name: "route-0", Line: 2, Match: Match{PathPrefix: "/"}, Anonymous: true, ForwardAuthorization: true,
		}},
	}
	if diff := cmp.Diff(want, c, cmpConfig); diff != "" {
		t.Errorf("defaults mismatch (-want +got):\n%s", diff)
	}
}

func TestAuthenticatorDefaultsPerType(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"ca.pem": mustRead(t, "testdata/ca.pem"), "s": "client-secret\n"})
	c, err := Parse([]byte(minimal+`authenticators:
  j: {type: jwt, issuer: https://id.example, audience: a, algorithms: [RS256], jwks_url: https://id.example/jwks}
  k: {type: api_key}
  b: {type: basic}
  i: {type: introspection, url: https://id.example/i, client_id: gw, client_secret_file: s}
  m: {type: mtls, ca_file: ca.pem}
`), dir, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]any{
		"j": *c.Authenticators["j"].JWT, "k": *c.Authenticators["k"].APIKey, "b": *c.Authenticators["b"].Basic,
		"i": *c.Authenticators["i"].Introspection, "m": *c.Authenticators["m"].MTLS,
	}
	want := map[string]any{
		"j": JWT{Issuer: "https://id.example", Audience: []string{"a"}, Algorithms: []string{"RS256"}, JWKSURL: "https://id.example/jwks",
			Leeway: 30 * time.Second, JWKSMaxStale: 24 * time.Hour, JWKSMinRefresh: time.Minute, JWKSNegativeTTL: 30 * time.Second,
			JWKSTimeout: 5 * time.Second, CacheSize: 100000},
		"k": APIKey{Header: "X-API-Key"},
		"b": Basic{CacheTTL: 5 * time.Minute, CacheSize: 10000},
		"i": Introspection{URL: "https://id.example/i", ClientID: "gw", ClientSecret: NewSecret([]byte("client-secret")),
			CacheMaxTTL: 5 * time.Minute, Timeout: 5 * time.Second},
		"m": MTLS{CAFile: filepath.Join(dir, "ca.pem"), PrincipalFrom: PrincipalSANDNS},
	}
	if diff := cmp.Diff(want, got, cmpConfig); diff != "" {
		t.Errorf("authenticator defaults (-want +got):\n%s", diff)
	}
	if !c.Authenticators["m"].MTLS.PrincipalFromDefaulted() {
		t.Error("an mtls authenticator without principal_from does not report the default")
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestBadManyGolden loads a file with a mistake on almost every line and compares the
// whole report with testdata/bad_many.golden (go test -run BadMany -update rewrites it).
func TestBadManyGolden(t *testing.T) {
	_, err := Load("testdata/bad_many.yaml", noEnv)
	var b strings.Builder
	for _, p := range problemsOf(t, err) {
		b.WriteString(p.Error())
		b.WriteByte('\n')
	}
	golden := "testdata/bad_many.golden"
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff(mustRead(t, golden), b.String()); diff != "" {
		t.Errorf("problems differ from %s (-want +got):\n%s", golden, diff)
	}
}

// TestEveryProblemIsReportedAtOnce guards the promise of config check: one run lists every
// mistake, not just the first, sorted by line.
func TestEveryProblemIsReportedAtOnce(t *testing.T) {
	_, err := Load("testdata/bad_many.yaml", noEnv)
	ps := problemsOf(t, err)
	src := strings.Split(mustRead(t, "testdata/bad_many.yaml"), "\n")
	reported := map[int]bool{}
	for i, p := range ps {
		reported[p.Line] = true
		if i > 0 && p.Line < ps[i-1].Line {
			t.Errorf("problems not sorted by line: %d after %d", p.Line, ps[i-1].Line)
		}
		if p.Path != "testdata/bad_many.yaml" {
			t.Errorf("problem path = %q, want the file as given", p.Path)
		}
	}
	// Every line the fixture marks "# bad" must have at least one problem.
	for i, line := range src {
		if strings.Contains(line, "# bad") && !reported[i+1] {
			t.Errorf("line %d is marked bad but has no problem: %s", i+1, strings.TrimSpace(line))
		}
	}
	if len(ps) < 30 {
		t.Errorf("got %d problems, want at least 30", len(ps))
	}
	// The joined error lists them all, one per line, like errors.Join.
	if got := strings.Count(err.Error(), "\n") + 1; got != len(ps) {
		t.Errorf("Error() has %d lines, want %d", got, len(ps))
	}
	var p Problem
	if !errors.As(err, &p) {
		t.Error("errors.As(err, *Problem) = false, want the first problem")
	}
}

func TestLoadMissingFileIsNotExist(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"), noEnv)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err = %v, want fs.ErrNotExist", err)
	}
	var e *Error
	if errors.As(err, &e) {
		t.Error("a missing file should be a plain error, not a list of problems")
	}
}

func TestProblemFormatting(t *testing.T) {
	tests := []struct {
		p    Problem
		want string
	}{
		{Problem{Line: 3, Path: "gh.yaml", Msg: "bad"}, "gh.yaml:3: bad"},
		{Problem{Line: 3, Msg: "bad"}, "line 3: bad"},
		{Problem{Path: "gh.yaml", Msg: "bad"}, "gh.yaml: bad"},
		{Problem{Msg: "bad"}, "bad"},
	}
	for _, tt := range tests {
		if got := tt.p.Error(); got != tt.want {
			t.Errorf("%+v.Error() = %q, want %q", tt.p, got, tt.want)
		}
	}
}

func TestValidateChecksConfigBuiltInCode(t *testing.T) {
	c := &Config{
		Listen: "127.0.0.1:8080", AdminListen: "127.0.0.1:9090", Realm: "r", Environment: "live",
		Store: Store{Driver: StoreSQLite, Path: "x.db"}, Errors: Errors{Detail: DetailVerbose},
		ForwardAuth: ForwardAuth{Path: "/d"}, MaxHeaderBytes: DefaultMaxHeaderBytes,
		UpstreamTimeout: time.Second, ShutdownTimeout: time.Second, WriteTimeout: time.Second, Log: Log{Format: LogJSON},
		FailureBudget: FailureBudget{PerClient: Rate{1, time.Second}, PerCredential: Rate{1, time.Second}, PerCredentialGlobal: Rate{1, time.Second}},
		Routes:        []Route{{Name: "r", Match: Match{PathPrefix: "/"}, Authenticators: []string{"ghost"}}},
	}
	ps := problemsOf(t, c.Validate())
	if len(ps) != 1 || !strings.Contains(ps[0].Msg, `route "r" names authenticator "ghost" which is not defined`) {
		t.Errorf("Validate problems = %v", ps)
	}
	c.Routes[0].Authenticators, c.Routes[0].Anonymous = nil, true
	if err := c.Validate(); err != nil {
		t.Errorf("Validate of a valid config: %v", err)
	}
}

// caPEM is a real (test-only) CA certificate.
var caPEM = func() string {
	b, err := os.ReadFile("testdata/ca.pem")
	if err != nil {
		panic(err)
	}
	return string(b)
}()

// TestIntrospectionCacheMaxTTLZeroMeansNoCache: an explicit 0s is kept as 0 (the
// verifier then caches nothing), not replaced by the 5m default.
func TestIntrospectionCacheMaxTTLZeroMeansNoCache(t *testing.T) {
	c, err := Parse([]byte(minimal+`authenticators:
  i: {type: introspection, url: https://id.example/i, client_id: gw, client_secret: s, cache_max_ttl: 0s}
`), t.TempDir(), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Authenticators["i"].Introspection.CacheMaxTTL; got != 0 {
		t.Errorf("cache_max_ttl: 0s decoded as %s, want 0", got)
	}
}
