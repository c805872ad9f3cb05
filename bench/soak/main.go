// Command soak runs Gatehouse under steady hostile traffic for a while and checks that
// it keeps deciding correctly and holds its resources. One command,
//
//	go run ./bench/soak -duration 10m
//
// builds `gatehouse`, starts an upstream of its own and the gateway on 127.0.0.1 with a
// configuration of three routes (JWT, API key, Basic), creates the Basic user and the API
// keys with the CLI, and then, until the duration ends:
//
//   - sends requests at a fixed rate (-rate), 30% of them with invalid credentials (bad
//     signatures, unknown key ids, expired tokens, unknown API keys, broken checksums,
//     unknown users), every one with the status it must get; each request names its own
//     client address in X-Forwarded-For (the gateway trusts 127.0.0.1 as a proxy), so the
//     failure budget never touches the steady traffic;
//   - every -burst-every, fires -burst-size concurrent guesses from one client address:
//     every answer must be 401 or 429, and no more guesses may be verified (answered 401)
//     than the per-client failure budget allows;
//   - every -reload-every, sends SIGHUP and checks the reload counter;
//   - every -revoke-every, revokes one API key with `gatehouse keys revoke` and measures
//     how long until the gateway refuses it (at most 1s); from then on the key is expected
//     to be refused;
//   - samples the gateway's RSS (/proc/PID/status) and goroutines (go_goroutines on the
//     admin /metrics).
//
// At the end it stops the traffic, closes idle connections, and waits for the goroutine
// count to come back to where it was before the traffic. It prints one line per invariant
// with PASS or FAIL and exits 1 when any failed. Everything runs on loopback; every
// process started is stopped at the end, on error and on Ctrl-C. See SECURITY.md.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/tokens"
)

const (
	soakIssuer   = "https://issuer.soak.invalid"
	soakAudience = "api://soak"
	// The failure budget of the configuration; the burst check depends on per_client.
	perClientBudget = 30
	// stableKeys are never revoked.
	stableKeys = 3
)

type options struct {
	duration    time.Duration
	rate        int
	workers     int
	burstEvery  time.Duration
	burstSize   int
	reloadEvery time.Duration
	revokeEvery time.Duration
	keep        bool
}

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", 10*time.Minute, "how long the traffic runs")
	flag.IntVar(&o.rate, "rate", 100, "steady requests per second")
	flag.IntVar(&o.workers, "workers", 64, "concurrent steady requests at most")
	flag.DurationVar(&o.burstEvery, "burst-every", 20*time.Second, "interval between guess bursts")
	flag.IntVar(&o.burstSize, "burst-size", 200, "concurrent guesses per burst")
	flag.DurationVar(&o.reloadEvery, "reload-every", 15*time.Second, "interval between SIGHUP reloads")
	flag.DurationVar(&o.revokeEvery, "revoke-every", 30*time.Second, "interval between API key revocations")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory (configuration, store, gateway log)")
	flag.Parse()
	if o.duration <= 0 || o.rate <= 0 || o.workers <= 0 || o.burstSize <= 0 || o.burstEvery <= 0 || o.reloadEvery <= 0 || o.revokeEvery <= 0 {
		fmt.Fprintln(os.Stderr, "soak: durations, -rate, -workers and -burst-size must be positive")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ok, err := run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
	if !ok {
		os.Exit(1)
	}
}

// soak is one run: the gateway, its credentials and what was observed.
type soak struct {
	o        options
	dir, bin string
	cfgPath  string
	gw       *exec.Cmd
	base     string // public listener
	admin    string // admin listener
	upstream *http.Server

	signer   *tokens.Signer
	stranger *tokens.Signer // a key the gateway does not know
	password string
	env      string // API key environment

	mu        sync.Mutex
	validJWTs []string
	keys      []apiKey // stable first, then the revocable pool

	client *http.Client
	addrN  atomic.Uint32

	stats   map[string]*classStats
	statsMu sync.Mutex
	bad     []string // the first wrong decisions, for the report

	bursts   []burstResult
	revokes  []time.Duration
	revokeOK []bool
	reloads  int
	samples  []sample
}

type apiKey struct {
	id, key string
	state   int // keyActive, keyRevoking, keyRevoked
}

const (
	keyActive = iota
	keyRevoking
	keyRevoked
)

type classStats struct {
	sent, wrong, fivexx, errs int
	statuses                  map[int]int
}

type burstResult struct {
	kind            string
	n, n401, n429   int
	other           map[int]int
	elapsed         time.Duration
	allowedVerified int
}

type sample struct {
	at         time.Duration
	rss        int64 // bytes
	goroutines int
}

func run(ctx context.Context, o options) (bool, error) {
	s := &soak{o: o, stats: map[string]*classStats{}}
	var err error
	if s.dir, err = os.MkdirTemp("", "gatehouse-soak-"); err != nil {
		return false, err
	}
	defer func() {
		if o.keep {
			fmt.Println("soak: work directory kept:", s.dir)
		} else {
			os.RemoveAll(s.dir)
		}
	}()
	defer s.stopAll()
	if err := s.setup(ctx); err != nil {
		return false, err
	}
	return s.drive(ctx)
}

// setup builds the binary, starts the upstream, writes the configuration, creates the
// credentials with the CLI and starts the gateway.
func (s *soak) setup(ctx context.Context) error {
	root, err := output(ctx, "", nil, "go", "list", "-m", "-f", "{{.Dir}}")
	if err != nil {
		return err
	}
	s.bin = filepath.Join(s.dir, "gatehouse")
	fmt.Println("soak: building gatehouse")
	if _, err := output(ctx, strings.TrimSpace(root), nil, "go", "build", "-o", s.bin, "./cmd/gatehouse"); err != nil {
		return err
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	s.upstream = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "upstream ok")
	})}
	go s.upstream.Serve(ln)

	key, err := tokens.GenerateES256()
	if err != nil {
		return err
	}
	other, err := tokens.GenerateES256()
	if err != nil {
		return err
	}
	if s.signer, err = tokens.NewSigner(key); err != nil {
		return err
	}
	if s.stranger, err = tokens.NewSigner(other); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(s.dir, "jwks.json"), tokens.PublicJWKS(key), 0o600); err != nil {
		return err
	}
	up := "http://" + ln.Addr().String()
	cfg := fmt.Sprintf(`listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
realm: soak
log: {level: info, format: json}
store: sqlite://gatehouse.db
trusted_proxies: [127.0.0.1/32]
failure_budget: {per_client: %d/min, per_credential: 10/min}
authenticators:
  corp_jwt: {type: jwt, issuer: %q, audience: [%q], algorithms: [ES256], jwks_file: jwks.json}
  keys: {type: api_key, header: X-API-Key}
  staff: {type: basic}
routes:
  - {name: jwt, match: {path_prefix: /jwt}, upstream: %[4]q, authenticate: [corp_jwt]}
  - {name: key, match: {path_prefix: /key}, upstream: %[4]q, authenticate: [keys]}
  - {name: basic, match: {path_prefix: /basic}, upstream: %[4]q, authenticate: [staff]}
`, perClientBudget, soakIssuer, soakAudience, up)
	s.cfgPath = filepath.Join(s.dir, "gatehouse.yaml")
	if err := os.WriteFile(s.cfgPath, []byte(cfg), 0o600); err != nil {
		return err
	}

	pw := make([]byte, 16)
	rand.Read(pw)
	s.password = hex.EncodeToString(pw)
	if _, err := output(ctx, s.dir, strings.NewReader(s.password+"\n"), s.bin, "users", "add", "--config", s.cfgPath, "--scopes", "orders:read", "soak"); err != nil {
		return err
	}
	n := stableKeys + int(s.o.duration/s.o.revokeEvery) + 1
	for i := range n {
		out, err := output(ctx, s.dir, nil, s.bin, "keys", "create", "--config", s.cfgPath, "--name", "soak-"+strconv.Itoa(i), "--json")
		if err != nil {
			return err
		}
		var k struct{ ID, Key, Env string }
		if err := json.Unmarshal([]byte(out), &k); err != nil || k.Key == "" {
			return fmt.Errorf("keys create printed no key: %v", err)
		}
		s.keys = append(s.keys, apiKey{id: k.ID, key: k.Key})
		s.env = k.Env
	}
	for i := range 256 {
		t, err := s.signer.Sign(s.claims(i, time.Now().Add(s.o.duration+time.Hour)))
		if err != nil {
			return err
		}
		s.validJWTs = append(s.validJWTs, t)
	}

	s.gw = exec.Command(s.bin, "serve", "--config", s.cfgPath)
	s.gw.Dir = s.dir
	logf, err := os.Create(filepath.Join(s.dir, "gatehouse.log"))
	if err != nil {
		return err
	}
	pr, pw2, err := os.Pipe()
	if err != nil {
		return err
	}
	s.gw.Stdout, s.gw.Stderr = pw2, pw2
	s.gw.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.gw.Start(); err != nil {
		return err
	}
	pw2.Close()
	listening := make(chan []string, 1)
	re := regexp.MustCompile(`"listen":"(127\.0\.0\.1:\d+)","admin_listen":"(127\.0\.0\.1:\d+)"`)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		found := false
		for sc.Scan() {
			line := sc.Bytes()
			logf.Write(line)
			logf.Write([]byte{'\n'})
			if !found {
				if m := re.FindStringSubmatch(string(line)); m != nil {
					found = true
					listening <- m
				}
			}
		}
		logf.Close()
	}()
	select {
	case m := <-listening:
		s.base, s.admin = "http://"+m[1], "http://"+m[2]
	case <-time.After(30 * time.Second):
		return errors.New("gatehouse printed no listening line in 30s (see gatehouse.log with -keep)")
	case <-ctx.Done():
		return ctx.Err()
	}
	s.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		Proxy: nil, MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: 30 * time.Second,
	}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := s.client.Get(s.admin + "/readyz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("gatehouse not ready after 30s (last: %v)", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (s *soak) claims(n int, exp time.Time) map[string]any {
	return map[string]any{
		"iss": soakIssuer, "aud": soakAudience, "sub": "user-" + strconv.Itoa(n), "jti": "soak-" + strconv.Itoa(n) + "-" + randHex(4),
		"iat": time.Now().Add(-time.Minute).Unix(), "exp": exp.Unix(), "scope": "orders:read",
	}
}

func (s *soak) stopAll() {
	if s.gw != nil && s.gw.Process != nil {
		s.gw.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { s.gw.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			syscall.Kill(-s.gw.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
	if s.upstream != nil {
		s.upstream.Close()
	}
}

// job is one request and the statuses it may get.
type job struct {
	class  string
	path   string
	header [2]string
	want   []int
}

// nextClient is a fresh client address for X-Forwarded-For: 10.1.0.0 onwards, so no
// address fails more than a handful of times a minute.
func (s *soak) nextClient() string {
	n := s.addrN.Add(1) % (1 << 20)
	return fmt.Sprintf("10.%d.%d.%d", 1+n>>16, n>>8&0xff, n&0xff)
}

// steadyJob builds request i of the steady traffic: 70% valid, 30% invalid.
func (s *soak) steadyJob(i int) job {
	valid := i%10 < 7
	switch i % 3 {
	case 0: // JWT
		if valid {
			s.mu.Lock()
			t := s.validJWTs[i%len(s.validJWTs)]
			s.mu.Unlock()
			return job{"jwt valid", "/jwt/orders", [2]string{"Authorization", "Bearer " + t}, []int{200}}
		}
		var t string
		switch i / 3 % 4 {
		case 0: // bad signature
			t, _ = s.signer.Sign(s.claims(i, time.Now().Add(time.Hour)))
			t = flipSignature(t)
		case 1: // a key the gateway does not hold
			t, _ = s.stranger.Sign(s.claims(i, time.Now().Add(time.Hour)))
		case 2: // expired
			t, _ = s.signer.Sign(s.claims(i, time.Now().Add(-time.Hour)))
		default: // not a JWT at all
			t = "not.a." + randHex(8)
		}
		return job{"jwt invalid", "/jwt/orders", [2]string{"Authorization", "Bearer " + t}, []int{401}}
	case 1: // API key
		if valid {
			s.mu.Lock()
			var active []apiKey
			var revoked []apiKey
			for _, k := range s.keys {
				switch k.state {
				case keyActive:
					active = append(active, k)
				case keyRevoked:
					revoked = append(revoked, k)
				}
			}
			s.mu.Unlock()
			// One valid key request in four uses a revoked key once there is one: it
			// must be refused (401, or 429 once that key's own budget is spent).
			if len(revoked) > 0 && i/3%4 == 0 {
				k := revoked[i%len(revoked)]
				return job{"api key revoked", "/key/orders", [2]string{"X-API-Key", k.key}, []int{401, 429}}
			}
			k := active[i%len(active)]
			return job{"api key valid", "/key/orders", [2]string{"X-API-Key", k.key}, []int{200}}
		}
		var v string
		if i/3%2 == 0 { // well formed, unknown id
			k, _ := secret.NewAPIKey(s.env)
			v = k.Reveal()
		} else { // a key with its checksum broken; each one distinct, since the budget
			// counts a repeated malformed value as one credential
			k, _ := secret.NewAPIKey(s.env)
			v = k.Reveal()
			last := v[len(v)-1]
			c := byte('a')
			if last == 'a' {
				c = 'b'
			}
			v = v[:len(v)-1] + string(c)
		}
		return job{"api key invalid", "/key/orders", [2]string{"X-API-Key", v}, []int{401}}
	default: // Basic
		if valid {
			return job{"basic valid", "/basic/orders", [2]string{"Authorization", "Basic " + b64("soak:"+s.password)}, []int{200}}
		}
		if i/3%2 == 0 { // unknown user
			return job{"basic invalid", "/basic/orders", [2]string{"Authorization", "Basic " + b64("nobody-"+randHex(6)+":"+randHex(8))}, []int{401}}
		}
		return job{"basic invalid", "/basic/orders", [2]string{"Authorization", "Basic !!" + randHex(4)}, []int{401}}
	}
}

func flipSignature(t string) string {
	i := strings.LastIndexByte(t, '.') + 5
	c := byte('A')
	if t[i] == 'A' {
		c = 'B'
	}
	return t[:i] + string(c) + t[i+1:]
}

// do sends one request from client and returns its status (0 on a transport error).
func (s *soak) do(ctx context.Context, client, path string, header [2]string) (int, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", s.base+path, nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set(header[0], header[1])
	req.Header.Set("X-Forwarded-For", client)
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	return resp.StatusCode, resp.Header, nil
}

func (s *soak) record(j job, status int, h http.Header, err error) {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	st := s.stats[j.class]
	if st == nil {
		st = &classStats{statuses: map[int]int{}}
		s.stats[j.class] = st
	}
	st.sent++
	st.statuses[status]++
	wrong := ""
	switch {
	case err != nil:
		st.errs++
		wrong = err.Error()
	case status >= 500:
		st.fivexx++
		wrong = "status " + strconv.Itoa(status)
	case !slices.Contains(j.want, status):
		wrong = fmt.Sprintf("status %d, want %v", status, j.want)
	case status == 401 && h.Get("WWW-Authenticate") == "":
		wrong = "401 without WWW-Authenticate"
	}
	if wrong != "" {
		st.wrong++
		if len(s.bad) < 10 {
			s.bad = append(s.bad, j.class+" "+j.path+": "+wrong)
		}
	}
}

// drive runs the traffic and the periodic events, then checks the invariants.
func (s *soak) drive(ctx context.Context) (bool, error) {
	baseG, err := s.goroutines()
	if err != nil {
		return false, fmt.Errorf("read go_goroutines from the admin /metrics: %w", err)
	}
	baseRSS, err := rss(s.gw.Process.Pid)
	if err != nil {
		return false, err
	}
	reloadsBefore, _ := s.metric("gatehouse_config_reloads_total", `result="ok"`)
	fmt.Printf("soak: gateway %s (admin %s), pid %d, %d/s for %s; baseline %d goroutines, RSS %s\n",
		s.base, s.admin, s.gw.Process.Pid, s.o.rate, s.o.duration, baseG, mib(baseRSS))

	runCtx, cancel := context.WithTimeout(ctx, s.o.duration)
	defer cancel()
	started := time.Now()
	var wg sync.WaitGroup

	// Steady traffic at a fixed rate through a bounded pool of workers.
	jobs := make(chan job, s.o.workers)
	var late atomic.Int64
	for range s.o.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				st, h, err := s.do(ctx, s.nextClient(), j.path, j.header)
				s.record(j, st, h, err)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(jobs)
		interval := time.Second / time.Duration(s.o.rate)
		for i := 0; ; i++ {
			next := started.Add(time.Duration(i) * interval)
			if d := time.Until(next); d > 0 {
				select {
				case <-runCtx.Done():
					return
				case <-time.After(d):
				}
			}
			if runCtx.Err() != nil {
				return
			}
			select {
			case jobs <- s.steadyJob(i):
			default:
				late.Add(1) // every worker busy: the gateway is not keeping up
			}
		}
	}()

	// Periodic events, one goroutine each.
	every := func(d time.Duration, f func(n int)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(d)
			defer t.Stop()
			for n := 0; ; n++ {
				select {
				case <-runCtx.Done():
					return
				case <-t.C:
					f(n)
				}
			}
		}()
	}
	every(s.o.burstEvery, func(n int) { s.burst(ctx, n) })
	every(s.o.reloadEvery, func(int) {
		if s.gw.Process.Signal(syscall.SIGHUP) == nil {
			s.mu.Lock()
			s.reloads++
			s.mu.Unlock()
		}
	})
	every(s.o.revokeEvery, func(int) { s.revoke(ctx) })
	every(sampleInterval(s.o.duration), func(int) {
		r, _ := rss(s.gw.Process.Pid)
		g, _ := s.goroutines()
		s.mu.Lock()
		s.samples = append(s.samples, sample{time.Since(started), r, g})
		s.mu.Unlock()
	})
	wg.Wait()
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	elapsed := time.Since(started)

	// Quiesce: drop the client's and the upstream's idle connections, then wait for the
	// gateway's goroutines to come back to the baseline.
	s.client.CloseIdleConnections()
	s.upstream.SetKeepAlivesEnabled(false)
	var endG int
	settle := time.Now().Add(15 * time.Second)
	for {
		endG, _ = s.goroutines()
		s.client.CloseIdleConnections()
		if endG <= baseG+5 || time.Now().After(settle) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The last SIGHUP may still be reloading: wait (a bounded time) for the counter.
	s.mu.Lock()
	sent := s.reloads
	s.mu.Unlock()
	var reloadsAfter float64
	for wait := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		reloadsAfter, _ = s.metric("gatehouse_config_reloads_total", `result="ok"`)
		if int(reloadsAfter-reloadsBefore) >= sent || time.Now().After(wait) {
			break
		}
	}
	return s.report(elapsed, late.Load(), baseG, endG, baseRSS, int(reloadsAfter-reloadsBefore)), nil
}

// burst fires burstSize concurrent guesses from one fresh client address.
func (s *soak) burst(ctx context.Context, n int) {
	kinds := []string{"jwt", "api key", "basic"}
	kind := kinds[n%len(kinds)]
	client := fmt.Sprintf("10.250.%d.%d", n>>8&0xff, n&0xff)
	jobs := make([]job, s.o.burstSize)
	for i := range jobs {
		switch kind {
		case "jwt":
			t, _ := s.signer.Sign(s.claims(i, time.Now().Add(time.Hour)))
			jobs[i] = job{path: "/jwt/x", header: [2]string{"Authorization", "Bearer " + flipSignature(t)}}
		case "api key":
			k, _ := secret.NewAPIKey(s.env)
			jobs[i] = job{path: "/key/x", header: [2]string{"X-API-Key", k.Reveal()}}
		default:
			jobs[i] = job{path: "/basic/x", header: [2]string{"Authorization", "Basic " + b64("guess-"+randHex(6)+":"+randHex(8))}}
		}
	}
	res := burstResult{kind: kind, n: len(jobs), other: map[int]int{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			st, h, err := s.do(ctx, client, j.path, j.header)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				res.other[0]++
			case st == 401:
				res.n401++
			case st == 429 && h.Get("Retry-After") != "":
				res.n429++
			default:
				res.other[st]++
			}
		}()
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	res.elapsed = time.Since(t0)
	// The budget refills at per_client per minute; a burst may be verified that many
	// times, plus what refilled while it ran.
	res.allowedVerified = perClientBudget + int(res.elapsed.Seconds()*perClientBudget/60) + 1
	s.mu.Lock()
	s.bursts = append(s.bursts, res)
	s.mu.Unlock()
}

// revoke revokes the next key of the pool with the CLI and measures how long until the
// gateway refuses it.
func (s *soak) revoke(ctx context.Context) {
	s.mu.Lock()
	idx := -1
	for i := stableKeys; i < len(s.keys); i++ {
		if s.keys[i].state == keyActive {
			idx = i
			break
		}
	}
	if idx < 0 {
		s.mu.Unlock()
		return
	}
	s.keys[idx].state = keyRevoking // the steady traffic leaves it alone meanwhile
	k := s.keys[idx]
	s.mu.Unlock()

	if _, err := output(ctx, s.dir, nil, s.bin, "keys", "revoke", "--config", s.cfgPath, k.id); err != nil {
		fmt.Fprintln(os.Stderr, "soak: revoke:", err)
		s.mu.Lock()
		s.revokeOK = append(s.revokeOK, false)
		s.mu.Unlock()
		return
	}
	t0 := time.Now()
	refused := false
	for time.Since(t0) < 2*time.Second {
		st, _, err := s.do(ctx, s.nextClient(), "/key/probe", [2]string{"X-API-Key", k.key})
		if err == nil && st == 401 {
			refused = true
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	took := time.Since(t0)
	s.mu.Lock()
	s.revokes = append(s.revokes, took)
	s.revokeOK = append(s.revokeOK, refused && took <= time.Second)
	if refused {
		s.keys[idx].state = keyRevoked
	}
	s.mu.Unlock()
}

func (s *soak) report(elapsed time.Duration, late int64, baseG, endG int, baseRSS int64, reloadsSeen int) bool {
	allOK := true
	check := func(ok bool, name, detail string) {
		v := "PASS"
		if !ok {
			v = "FAIL"
			allOK = false
		}
		fmt.Printf("  %s  %-34s %s\n", v, name, detail)
	}
	fmt.Printf("\nsoak report: %s of traffic at %d/s (%s)\n\n", elapsed.Round(time.Second), s.o.rate, time.Now().UTC().Format(time.RFC3339))

	s.statsMu.Lock()
	classes := make([]string, 0, len(s.stats))
	var sent, wrong, fivexx, errs int
	for c, st := range s.stats {
		classes = append(classes, c)
		sent += st.sent
		wrong += st.wrong
		fivexx += st.fivexx
		errs += st.errs
	}
	sort.Strings(classes)
	fmt.Printf("  %-18s %8s %6s  %s\n", "class", "sent", "wrong", "statuses")
	for _, c := range classes {
		st := s.stats[c]
		fmt.Printf("  %-18s %8d %6d  %s\n", c, st.sent, st.wrong, statusList(st.statuses))
	}
	bad := append([]string(nil), s.bad...)
	s.statsMu.Unlock()
	fmt.Println()
	for _, b := range bad {
		fmt.Println("  wrong:", b)
	}

	want := int64(elapsed.Seconds() * float64(s.o.rate))
	check(late*100 <= want, "rate held", fmt.Sprintf("%d sent, %d dropped because every worker was busy (at most 1%%)", sent, late))
	check(wrong == 0, "zero wrong decisions", fmt.Sprintf("%d wrong of %d", wrong, sent))
	check(fivexx == 0 && errs == 0, "zero 5xx, zero failed requests", fmt.Sprintf("%d 5xx, %d transport errors", fivexx, errs))

	s.mu.Lock()
	defer s.mu.Unlock()
	burstOK := len(s.bursts) > 0
	var bl []string
	for _, b := range s.bursts {
		ok := len(b.other) == 0 && b.n401 <= b.allowedVerified && b.n401+b.n429 == b.n
		burstOK = burstOK && ok
		bl = append(bl, fmt.Sprintf("%s %d: %d verified (<=%d), %d 429%s in %s", b.kind, b.n, b.n401, b.allowedVerified, b.n429, otherList(b.other), b.elapsed.Round(time.Millisecond)))
	}
	check(burstOK, "guess bursts: 429, no verify storm", strings.Join(bl, "; "))
	check(reloadsSeen == s.reloads && s.reloads > 0, "reloads succeed", fmt.Sprintf("%d SIGHUP sent, %d successful reloads counted", s.reloads, reloadsSeen))
	revOK := len(s.revokeOK) > 0
	var worst time.Duration
	for i, ok := range s.revokeOK {
		revOK = revOK && ok
		if i < len(s.revokes) && s.revokes[i] > worst {
			worst = s.revokes[i]
		}
	}
	check(revOK, "revocation refused within 1s", fmt.Sprintf("%d revocations, slowest %s", len(s.revokeOK), worst.Round(time.Millisecond)))

	// RSS and goroutines after a warm-up of a third of the run (the caches, the
	// budget's buckets and the heap fill up): the median of the last third of the
	// remaining samples against the median of the first third.
	var warm []sample
	for _, sm := range s.samples {
		if sm.at >= elapsed/3 {
			warm = append(warm, sm)
		}
	}
	var series []string
	for _, sm := range s.samples {
		series = append(series, fmt.Sprintf("%.0f/%d", float64(sm.rss)/(1<<20), sm.goroutines))
	}
	fmt.Printf("  samples (RSS MiB/goroutines, every %s): %s\n", sampleInterval(s.o.duration), strings.Join(series, " "))
	if len(warm) >= 3 {
		third := len(warm) / 3
		r1 := median(warm[:third], func(x sample) float64 { return float64(x.rss) })
		r2 := median(warm[len(warm)-third:], func(x sample) float64 { return float64(x.rss) })
		g1 := median(warm[:third], func(x sample) float64 { return float64(x.goroutines) })
		g2 := median(warm[len(warm)-third:], func(x sample) float64 { return float64(x.goroutines) })
		peak := int64(0)
		for _, sm := range s.samples {
			peak = max(peak, sm.rss)
		}
		check(r2 <= r1*1.2+8<<20, "flat RSS", fmt.Sprintf("baseline %s, early median %s, late median %s, peak %s (late <= early*1.2 + 8 MiB)", mib(baseRSS), mib(int64(r1)), mib(int64(r2)), mib(peak)))
		// Each open connection costs the gateway a few goroutines (its own, and the
		// upstream connection's reader and writer); more than that per connection the
		// harness can hold open is growth with the number of requests, a leak.
		bound := baseG + 4*(s.o.workers+s.o.burstSize)
		peakG := 0
		for _, sm := range s.samples {
			peakG = max(peakG, sm.goroutines)
		}
		check(peakG <= bound && g2 <= g1*1.2+float64(4*s.o.burstSize), "goroutines bounded under load", fmt.Sprintf("early median %.0f, late median %.0f, peak %d (<= %d: 4 per connection the harness can open)", g1, g2, peakG, bound))
	} else {
		check(false, "flat RSS", fmt.Sprintf("only %d samples after warm-up; run longer", len(warm)))
	}
	check(endG <= baseG+5, "goroutines back to baseline", fmt.Sprintf("%d before the traffic, %d after it stopped and idle connections closed (<= +5)", baseG, endG))
	fmt.Println()
	if allOK {
		fmt.Println("soak: PASS")
	} else {
		fmt.Println("soak: FAIL")
	}
	return allOK
}

// sampleInterval spreads about 60 samples over the run, 1s to 10s apart.
func sampleInterval(d time.Duration) time.Duration {
	return min(max(d/60, time.Second), 10*time.Second)
}

func median(xs []sample, f func(sample) float64) float64 {
	v := make([]float64, len(xs))
	for i, x := range xs {
		v[i] = f(x)
	}
	sort.Float64s(v)
	return v[len(v)/2]
}

func statusList(m map[int]int) string {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d x%d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func otherList(m map[int]int) string {
	if len(m) == 0 {
		return ""
	}
	return ", other: " + statusList(m)
}

// goroutines reads go_goroutines from the gateway's admin /metrics.
func (s *soak) goroutines() (int, error) {
	v, err := s.metric("go_goroutines", "")
	return int(v), err
}

// metric sums the samples of a metric family whose labels include label.
func (s *soak) metric(name, label string) (float64, error) {
	resp, err := s.client.Get(s.admin + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	found := false
	var total float64
	for _, line := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		if label != "" && !strings.Contains(rest, label) {
			continue
		}
		f := strings.Fields(rest[strings.LastIndexByte(rest, '}')+1:])
		if len(f) == 0 {
			continue
		}
		if v, err := strconv.ParseFloat(f[0], 64); err == nil {
			total += v
			found = true
		}
	}
	if !found && label == "" {
		return 0, fmt.Errorf("no %s in /metrics", name)
	}
	return total, nil
}

// rss is the resident set size of pid, from /proc/PID/status.
func rss(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) >= 1 {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				return kb << 10, err
			}
		}
	}
	return 0, errors.New("no VmRSS in /proc/PID/status")
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// output runs a command to completion and returns its standard output; on failure the
// error holds the end of its standard error.
func output(ctx context.Context, dir string, stdin io.Reader, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := stderr.String()
		if len(msg) > 2000 {
			msg = msg[len(msg)-2000:]
		}
		return "", fmt.Errorf("%s %s: %v: %s", filepath.Base(name), strings.Join(args[:min(2, len(args))], " "), err, strings.TrimSpace(msg))
	}
	return stdout.String(), nil
}
