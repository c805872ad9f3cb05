package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store/postgres/pgtest"
)

// The multi-replica tests run two `gatehouse serve` processes on one real PostgreSQL
// database (created for the test and dropped after, by store/postgres/pgtest), with a real Redis for the shared
// failure budgets. Outages are made with a TCP forwarder the test owns between the
// gateways and the server, so the shared services keep running for other tests.

// needService skips a test when a service it needs is missing, except in CI, where
// .ci/run starts PostgreSQL and Redis and a missing one is a failure.
func needService(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not available in CI: %v", what, err)
	}
	t.Skipf("%s is not available here (%v); .ci/run starts it", what, err)
}

// pgDatabase creates an empty database for this test on the test server (see
// store/postgres/pgtest) and returns its name; it is dropped when the test ends.
func pgDatabase(t *testing.T) string {
	t.Helper()
	u, err := url.Parse(pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(u.Path, "/")
}

// pgDSN is the URL of database db on the test server, reached at addr (the server
// itself, or a forwarder in front of it).
func pgDSN(addr, db string) string {
	u, err := url.Parse(pgtest.AdminDSN())
	if err != nil {
		panic(err)
	}
	if addr == "" {
		addr = u.Host
	}
	u.Host, u.Path = addr, "/"+db
	return u.String()
}

// pgServer is the host:port of the test server.
func pgServer() string {
	u, _ := url.Parse(pgtest.AdminDSN())
	return u.Host
}

// forwarder is a TCP relay the test can cut: every connection through it is closed,
// and new ones are accepted and closed at once, as when a server's port is blocked or
// the server is stopped.
type forwarder struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

func newForwarder(t *testing.T, target string) *forwarder {
	t.Helper()
	f := &forwarder{ln: listenLoopback(t), target: target, conns: map[net.Conn]struct{}{}}
	f.wg.Go(f.accept)
	t.Cleanup(func() {
		f.ln.Close()
		f.cut()
		f.wg.Wait()
	})
	return f
}

func (f *forwarder) addr() string { return f.ln.Addr().String() }

func (f *forwarder) accept() {
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		down := f.down
		if !down {
			f.conns[c] = struct{}{}
		}
		f.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		f.wg.Go(func() { f.relay(c) })
	}
}

func (f *forwarder) relay(c net.Conn) {
	defer func() {
		f.mu.Lock()
		delete(f.conns, c)
		f.mu.Unlock()
		c.Close()
	}()
	up, err := net.DialTimeout("tcp", f.target, 5*time.Second)
	if err != nil {
		return
	}
	f.mu.Lock()
	if f.down {
		f.mu.Unlock()
		up.Close()
		return
	}
	f.conns[up] = struct{}{}
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.conns, up)
		f.mu.Unlock()
		up.Close()
	}()
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, c); done <- struct{}{} }()
	go func() { io.Copy(c, up); done <- struct{}{} }()
	<-done
	c.Close()
	up.Close()
	<-done
}

// cut closes every connection and refuses new ones until restore.
func (f *forwarder) cut() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = true
	for c := range f.conns {
		c.Close()
	}
}

func (f *forwarder) restore() {
	f.mu.Lock()
	f.down = false
	f.mu.Unlock()
}

// replica is one running `gatehouse serve`.
type replica struct {
	base, admin string
	proc        *proc
}

// replicaSet is a configuration file shared by the replicas started from it.
type replicaSet struct {
	dir, cfgPath string
	upstream     string
}

const replicaConfig = `listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
realm: orders
store: %s
store_outage_grace: %s
failure_budget: %s
authenticators:
  keys: {type: api_key, header: X-API-Key}
  staff: {type: basic, cache_ttl: 1m}
  own: {type: jwt, issuer: self, audience: [api://orders]}
routes:
  - name: api
    match: {path_prefix: /}
    upstream: http://%s
    authenticate: [keys, staff, own]
token_service:
  issuer: https://gatehouse.replicas.test
  signing_key_secret_file: signing.key
  audience: api://orders
  access_token_ttl: 10m
`

func newReplicaSet(t *testing.T, storeDSN, grace, budget string) *replicaSet {
	t.Helper()
	dir := t.TempDir()
	upstream := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s", r.Header.Get("X-Gatehouse-Subject"))
	}), ReadHeaderTimeout: 5 * time.Second}
	ln := listenLoopback(t)
	go upstream.Serve(ln)
	t.Cleanup(func() { upstream.Close() })
	if err := os.WriteFile(filepath.Join(dir, "signing.key"), []byte(strings.Repeat("k", 48)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &replicaSet{dir: dir, cfgPath: filepath.Join(dir, "gatehouse.yaml"), upstream: ln.Addr().String()}
	s.write(t, storeDSN, grace, budget)
	return s
}

func (s *replicaSet) write(t *testing.T, storeDSN, grace, budget string) {
	t.Helper()
	cfg := fmt.Sprintf(replicaConfig, storeDSN, grace, budget, s.upstream)
	if err := os.WriteFile(s.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (s *replicaSet) start(t *testing.T) *replica {
	t.Helper()
	p := start(t, "serve", "--config", s.cfgPath)
	m := p.waitFor(t, listeningRe)
	return &replica{base: "http://" + m[1], admin: "http://" + m[2], proc: p}
}

// cli runs the gatehouse binary against the set's configuration (config flag added).
func (s *replicaSet) cli(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	env := &storeEnv{dir: s.dir, cfgPath: s.cfgPath}
	return env.cli(t, stdin, args...)
}

func (s *replicaSet) createKey(t *testing.T) e2eKey {
	t.Helper()
	return (&storeEnv{dir: s.dir, cfgPath: s.cfgPath}).createKey(t)
}

// status sends one request with a header and returns the status and reason.
func (r *replica) status(t *testing.T, name, value string) (int, string) {
	t.Helper()
	resp, body := get(t, r.base+"/orders", name, value)
	return resp.StatusCode, reasonOf(t, body)
}

// untilRefused polls every replica until each refuses the credential with 401 and
// returns how long that took, or fails after limit.
func untilRefused(t *testing.T, replicas []*replica, name, value string, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	pending := slices.Clone(replicas)
	for len(pending) > 0 {
		var still []*replica
		for _, r := range pending {
			if code, _ := r.status(t, name, value); code != http.StatusUnauthorized {
				still = append(still, r)
			}
		}
		pending = still
		if len(pending) == 0 {
			break
		}
		if time.Since(start) > limit {
			t.Fatalf("%d of %d replicas still accept the credential %v after it was revoked", len(pending), len(replicas), limit)
		}
		time.Sleep(2 * time.Millisecond) // polling interval of the measurement, not a wait for an event
	}
	return time.Since(start)
}

// percentile returns the p-th percentile (0-100) of ds by the nearest-rank method.
func percentile(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s))*p/100+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}

type clientCreds struct {
	ID     string `json:"client_id"`
	Secret string `json:"client_secret"`
}

func (s *replicaSet) createClient(t *testing.T) clientCreds {
	t.Helper()
	out := s.cli(t, "", "clients", "create", "--config", s.cfgPath, "--name", "replicas", "--scopes", "orders:read", "--json")
	var c clientCreds
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatalf("clients create --json printed %q", out)
	}
	return c
}

// token asks replica r's token endpoint for an access token.
func (r *replica) token(t *testing.T, c clientCreds) string {
	t.Helper()
	req, _ := http.NewRequest("POST", r.base+"/oauth2/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(c.ID, c.Secret)
	resp, err := httpClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != 200 || tok.AccessToken == "" {
		t.Fatalf("token endpoint: %d %v", resp.StatusCode, err)
	}
	return tok.AccessToken
}

// revoke revokes an access token at replica r's revocation endpoint.
func (r *replica) revoke(t *testing.T, c clientCreds, token string) {
	t.Helper()
	req, _ := http.NewRequest("POST", r.base+"/oauth2/revoke", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(c.ID, c.Secret)
	resp, err := httpClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
}

// TestReplicasShareCredentialsAndRevocations runs two replicas on one PostgreSQL
// database: what the CLI creates works on both, what it revokes both refuse, a password
// change reaches both, and a token revoked at one replica's /oauth2/revoke is refused
// by the other. It measures, over 100 revocations, how long until both refuse.
func TestReplicasShareCredentialsAndRevocations(t *testing.T) {
	db := pgDatabase(t)
	set := newReplicaSet(t, pgDSN("", db), "30s", "{per_client: 100000/min, per_credential: 100000/min}")
	set.cli(t, "", "users", "add", "--config", set.cfgPath, "--scopes", "orders:read", "alice")
	client := set.createClient(t)
	a, b := set.start(t), set.start(t)
	both := []*replica{a, b}

	// A key created by the CLI works on both; revoked by the CLI, both refuse it.
	var cliDelays []time.Duration
	for range 5 {
		k := set.createKey(t)
		for _, r := range both {
			if code, reason := r.status(t, "X-API-Key", k.Key); code != 200 {
				t.Fatalf("a new key on %s: %d %s", r.base, code, reason)
			}
		}
		set.cli(t, "", "keys", "revoke", "--config", set.cfgPath, k.ID)
		cliDelays = append(cliDelays, untilRefused(t, both, "X-API-Key", k.Key, 3*time.Second))
		for _, r := range both {
			if _, reason := r.status(t, "X-API-Key", k.Key); reason != "api_key_revoked" {
				t.Errorf("a revoked key on %s: reason %q, want api_key_revoked", r.base, reason)
			}
		}
	}

	// A password changed by the CLI: both refuse the old one (cached on both before).
	old := basicAuth("alice", "correct horse battery staple")
	for _, r := range both {
		if code, _ := r.status(t, "Authorization", old); code != 200 {
			t.Fatalf("alice on %s: %d", r.base, code)
		}
	}
	set.cli(t, "a different staple of batteries\n", "users", "passwd", "--config", set.cfgPath, "alice")
	untilRefused(t, both, "Authorization", old, 3*time.Second)
	for _, r := range both {
		if code, _ := r.status(t, "Authorization", basicAuth("alice", "a different staple of batteries")); code != 200 {
			t.Errorf("the new password on %s: %d", r.base, code)
		}
	}

	// Tokens issued by A work on B; revoked at A, refused by both. 100 revocations.
	tokens := make([]string, 100)
	for i := range tokens {
		tokens[i] = a.token(t, client)
	}
	for _, r := range both {
		if code, reason := r.status(t, "Authorization", "Bearer "+tokens[0]); code != 200 {
			t.Fatalf("a token from A on %s: %d %s", r.base, code, reason)
		}
	}
	var delays []time.Duration
	for i, tok := range tokens {
		issuer := a
		if i%2 == 1 {
			issuer = b // revoke at either replica
		}
		if code, _ := b.status(t, "Authorization", "Bearer "+tok); code != 200 {
			t.Fatalf("token %d refused before its revocation: %d", i, code)
		}
		issuer.revoke(t, client, tok)
		delays = append(delays, untilRefused(t, both, "Authorization", "Bearer "+tok, 3*time.Second))
	}
	p50, p99 := percentile(delays, 50), percentile(delays, 99)
	t.Logf("revocation propagation to both replicas over %d token revocations: p50 %v, p99 %v, max %v; %d CLI key revocations: p50 %v, max %v",
		len(delays), p50, p99, slices.Max(delays), len(cliDelays), percentile(cliDelays, 50), slices.Max(cliDelays))
	if p99 >= time.Second {
		t.Errorf("revocation p99 %v across two replicas, want < 1s", p99)
	}
}

// TestReplicasCatchUpAfterTheirListenConnectionsAreKilled kills the replicas' LISTEN
// connections again and again while tokens are revoked: every revocation must still be
// applied on both, through the reconnect and the catch-up from the change sequence.
func TestReplicasCatchUpAfterTheirListenConnectionsAreKilled(t *testing.T) {
	db := pgDatabase(t)
	set := newReplicaSet(t, pgDSN("", db), "30s", "{per_client: 100000/min, per_credential: 100000/min}")
	client := set.createClient(t)
	a, b := set.start(t), set.start(t)
	both := []*replica{a, b}
	tokens := make([]string, 30)
	for i := range tokens {
		tokens[i] = a.token(t, client)
	}

	admin := pgtest.Admin(t)
	// Before every third revocation, kill every LISTEN connection of the test database:
	// some revocations then land while a replica is reconnecting or polling.
	kills := 0
	for i, tok := range tokens {
		if i%3 == 0 {
			// Both replicas have reconnected since the last kill.
			eventually(t, 10*time.Second, "both replicas to LISTEN again", func() bool {
				var listening int
				err := admin.QueryRow(context.Background(),
					`SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND query ILIKE 'listen%'`, db).Scan(&listening)
				return err == nil && listening >= 2
			})
			var n int
			err := admin.QueryRow(context.Background(),
				`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1 AND query ILIKE 'listen%'`, db).Scan(&n)
			if err != nil {
				t.Fatal(err)
			}
			if n > 0 {
				kills++
			}
		}
		a.revoke(t, client, tok)
	}
	if kills != 10 {
		t.Fatalf("LISTEN connections were killed %d times, want 10", kills)
	}
	for _, tok := range tokens {
		untilRefused(t, both, "Authorization", "Bearer "+tok, 5*time.Second)
	}
	t.Logf("killed LISTEN connections %d times during %d revocations; every revocation applied on both replicas", kills, len(tokens))
}

// metricValue reads one unlabelled gauge or counter from a replica's /metrics.
func (r *replica) metricValue(t *testing.T, name string) (float64, bool) {
	t.Helper()
	fams := scrape(t, r.admin)
	f, ok := fams[name]
	if !ok || len(f.GetMetric()) == 0 {
		return 0, false
	}
	m := f.GetMetric()[0]
	switch {
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue(), true
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue(), true
	}
	return 0, false
}

// readyz returns /readyz's status and body.
func (r *replica) readyz(t *testing.T) (int, string) {
	t.Helper()
	resp, body := get(t, r.admin+"/readyz")
	return resp.StatusCode, string(body)
}

// eventually polls cond every 20ms until it holds or limit passes.
func eventually(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond) // polling interval of the wait
	}
}

// TestStoreOutageServesCachedDecisionsThen503 blocks the replica's path to PostgreSQL:
// a key verified before keeps working within store_outage_grace, a key never seen is
// 503 with Retry-After (never 401), past the grace everything is 503, /readyz and
// /metrics say so; when the path opens again service resumes with no restart, and a
// revocation made during the outage is applied.
func TestStoreOutageServesCachedDecisionsThen503(t *testing.T) {
	db := pgDatabase(t)
	fwd := newForwarder(t, pgServer())
	direct := pgDSN("", db)
	set := newReplicaSet(t, direct, "3s", "{per_client: 100000/min, per_credential: 100000/min}")
	cached, unseen, revokedLater := set.createKey(t), set.createKey(t), set.createKey(t)
	set.write(t, pgDSN(fwd.addr(), db), "3s", "{per_client: 100000/min, per_credential: 100000/min}")
	r := set.start(t)
	for _, k := range []e2eKey{cached, revokedLater} {
		if code, reason := r.status(t, "X-API-Key", k.Key); code != 200 {
			t.Fatalf("before the outage: %d %s", code, reason)
		}
	}

	fwd.cut()
	began := time.Now()
	eventually(t, 3*time.Second, "/readyz to report the outage", func() bool {
		code, body := r.readyz(t)
		return code == 503 && strings.Contains(body, "unreachable")
	})
	if code, reason := r.status(t, "X-API-Key", cached.Key); code != 200 && time.Since(began) < 2*time.Second {
		t.Errorf("a cached key within the grace: %d %s, want 200", code, reason)
	}
	resp, body := get(t, r.base+"/orders", "X-API-Key", unseen.Key)
	if resp.StatusCode != 503 || reasonOf(t, body) != "authenticator_unavailable" || resp.Header.Get("Retry-After") == "" {
		t.Errorf("a key never seen during the outage: %d %s Retry-After %q, want 503 authenticator_unavailable with Retry-After",
			resp.StatusCode, reasonOf(t, body), resp.Header.Get("Retry-After"))
	}
	if up, ok := r.metricValue(t, "gatehouse_store_up"); !ok || up != 0 {
		t.Errorf("gatehouse_store_up = %v (present %v), want 0", up, ok)
	}
	// Revoked while the gateway cannot see the store (directly, as an operator would).
	set.cli(t, "", "keys", "revoke", "--config", writeDirectConfig(t, set, direct), revokedLater.ID)

	eventually(t, 10*time.Second, "the grace to run out", func() bool {
		code, reason := r.status(t, "X-API-Key", cached.Key)
		return code == 503 && reason == "authenticator_unavailable"
	})
	if _, body := r.readyz(t); !strings.Contains(body, "store_outage_grace") {
		t.Errorf("/readyz past the grace: %q, want it to name store_outage_grace", body)
	}

	fwd.restore()
	eventually(t, 10*time.Second, "/readyz to recover", func() bool {
		code, _ := r.readyz(t)
		return code == 200
	})
	for _, k := range []e2eKey{cached, unseen} {
		if code, reason := r.status(t, "X-API-Key", k.Key); code != 200 {
			t.Errorf("after recovery: %d %s, want 200", code, reason)
		}
	}
	if code, reason := r.status(t, "X-API-Key", revokedLater.Key); code != 401 || reason != "api_key_revoked" {
		t.Errorf("a key revoked during the outage, after recovery: %d %s, want 401 api_key_revoked", code, reason)
	}
	if up, _ := r.metricValue(t, "gatehouse_store_up"); up != 1 {
		t.Errorf("gatehouse_store_up = %v after recovery, want 1", up)
	}
	logs := r.proc.logs()
	if !strings.Contains(logs, "credential store unreachable") || !strings.Contains(logs, "reachable again") {
		t.Errorf("no log line for the outage and the recovery:\n%s", logs)
	}
	if strings.Contains(logs, cached.Key) || strings.Contains(logs, unseen.Key) {
		t.Error("a key appears in the logs")
	}
}

// writeDirectConfig writes a copy of the set's configuration whose store is dsn, for
// the CLI to reach the database while the gateway cannot.
func writeDirectConfig(t *testing.T, set *replicaSet, dsn string) string {
	t.Helper()
	raw, err := os.ReadFile(set.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "store: ") {
			line = "store: " + dsn
		}
		out = append(out, line)
	}
	path := filepath.Join(set.dir, "direct.yaml")
	if err := os.WriteFile(path, []byte(strings.Join(out, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// redisCommand sends one inline command to the Redis at addr and checks that the reply
// is want (as "+PONG\r\n").
func redisCommand(addr, cmd, want string) error {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, cmd+"\r\n"); err != nil {
		return err
	}
	buf := make([]byte, len(want))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != want {
		return errors.Join(fmt.Errorf("%s: answer %q, want %q", cmd, buf, want), err)
	}
	return nil
}

// TestRedisSharesFailureBudgetsAcrossReplicas: failures on replica A count on replica B
// through Redis; with Redis unreachable each replica falls back to its own budget (one
// log line, a metric); with Redis back, the budget is shared again.
func TestRedisSharesFailureBudgetsAcrossReplicas(t *testing.T) {
	needService(t, "Redis on 127.0.0.1:6379", redisCommand("127.0.0.1:6379", "PING", "+PONG\r\n"))
	// Database 13 is this test's own: the replicas see every request come from
	// 127.0.0.1, so counts left by an earlier run would be counted against this one.
	if err := redisCommand("127.0.0.1:6379", "SELECT 13\r\nFLUSHDB", "+OK\r\n+OK\r\n"); err != nil {
		t.Fatal(err)
	}
	db := pgDatabase(t)
	fwd := newForwarder(t, "127.0.0.1:6379")
	// A database number of its own, flushed first, so no other test's counts meet ours.
	var b [4]byte
	rand.Read(b[:])
	// 6 an hour: no unit refills while the test runs, however slowly the hashes go; and
	// Redis calls may take 2s, so a loaded machine does not look like a Redis outage.
	budget := fmt.Sprintf("{per_client: 6/h, per_credential: 1000/h, per_credential_global: 1000/h, redis: 'redis://%s/13', redis_timeout: 2s}", fwd.addr())
	set := newReplicaSet(t, pgDSN("", db), "30s", budget)
	set.createKey(t) // the store exists before the replicas start
	a, bRep := set.start(t), set.start(t)

	wrong := func(r *replica, i int) int {
		code, _ := r.status(t, "Authorization", basicAuth("nobody-"+hex.EncodeToString(b[:]), fmt.Sprintf("wrong-%d", i)))
		return code
	}
	for i := range 6 {
		r := a
		if i%2 == 1 {
			r = bRep
		}
		if code := wrong(r, i); code != 401 {
			t.Fatalf("failure %d: %d, want 401", i+1, code)
		}
	}
	for _, r := range []*replica{a, bRep} {
		if code := wrong(r, 99); code != 429 {
			t.Errorf("after 6 failures spread over two replicas, %s answers %d, want 429 (the budget is shared)", r.base, code)
		}
	}

	fwd.cut()
	// Redis unreachable: every answer is still the budget's (401 for a wrong password,
	// 429 over the budget), never a 5xx, and the replica says once that it counts
	// locally now.
	eventually(t, 10*time.Second, "the log line of the fallback to local budgets", func() bool {
		if code := wrong(a, 100); code != 401 && code != 429 {
			t.Fatalf("with Redis unreachable a wrong password got %d", code)
		}
		return strings.Contains(a.proc.logs(), "Redis unavailable")
	})
	if n := strings.Count(a.proc.logs(), "Redis unavailable"); n != 1 {
		t.Errorf("the outage was logged %d times, want once per transition", n)
	}
	if up, _ := a.metricValue(t, "gatehouse_budget_redis_up"); up != 0 {
		t.Errorf("gatehouse_budget_redis_up = %v during the outage, want 0", up)
	}
	if n, _ := a.metricValue(t, "gatehouse_budget_redis_fallbacks_total"); n < 1 {
		t.Errorf("gatehouse_budget_redis_fallbacks_total = %v, want the fallbacks counted", n)
	}
	// The local budget still limits guessing.
	eventually(t, 10*time.Second, "the local budget to refuse", func() bool { return wrong(a, 101) == 429 })

	fwd.restore()
	eventually(t, 10*time.Second, "the log line of Redis answering again", func() bool {
		wrong(bRep, 102)
		wrong(a, 102)
		return strings.Contains(a.proc.logs(), "Redis answers again")
	})
	if up, _ := a.metricValue(t, "gatehouse_budget_redis_up"); up != 1 {
		t.Errorf("gatehouse_budget_redis_up = %v after recovery, want 1", up)
	}
	if code := wrong(bRep, 103); code != 429 {
		t.Errorf("after recovery B answers %d to a client over its shared budget, want 429", code)
	}
}
