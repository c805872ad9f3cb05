// Command bench is Gatehouse's load harness (issue 7; docs/design.md, section 8). One command,
//
//	go run ./bench
//
// builds Gatehouse and two tiny programs (bench/upstream, a 100-byte upstream, and
// bench/plainproxy, a plain httputil.ReverseProxy with no authentication, whose transport
// keeps idle upstream connections as Gatehouse's does; a second one with Go's default
// transport is an extra row, never the baseline), starts them on 127.0.0.1 with nginx and, when installed, Caddy and
// oauth2-proxy as peers, and drives each row with wrk in interleaved rounds (every row
// once per round). It prints a table of requests/s, p50/p99 latency, CPU per request
// (from /proc/PID/stat of the serving process) and the ratio to the plain proxy, the
// gateway's peak RSS, the targets of issue 7 with their verdicts, a bounded-memory run
// (1,000,000 requests over 100,000 valid and 100,000 invalid tokens), and the machine.
//
// Every response is checked: a row whose responses are not all the expected status (the
// bench.lua response() hook counts them; invalid-token rows tag each request and check
// each answer) is reported as failed. Everything runs on loopback, each wrk run is
// bounded, and every process started is stopped at the end, on error and on Ctrl-C.
//
// Flags change the rounds, duration, threads and connections; -profile DIR runs the
// gateway with net/http/pprof (bench/profiled) and saves a CPU and an allocation profile
// of each Gatehouse row. -scale runs the growth table instead (connections, response
// sizes, invalid credentials, slowloris, idle connections, streamed bodies, HTTP/2 over
// TLS, WebSocket), and -churn the API-key route with and without revocations and reloads
// under load. See BENCHMARKS.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	_ "embed"
)

//go:embed bench.lua
var luaScript []byte

type options struct {
	rounds      int
	duration    time.Duration
	threads     int
	connections int
	only        string
	memRequests int
	memTokens   int
	peersDir    string
	install     bool
	profileDir  string
	keep        bool
	markdown    string
	logLevel    string
	scale       bool
	idleConns   int
	slowloris   int
	streamBytes int64
	wsEchoes    int
	h2Streams   int
	churn       bool
	churnRevoke time.Duration
	churnReload time.Duration
}

func main() {
	var o options
	flag.IntVar(&o.rounds, "rounds", 4, "interleaved rounds: each row runs once per round, every other round in reverse order")
	flag.DurationVar(&o.duration, "d", 5*time.Second, "duration of each wrk run")
	flag.IntVar(&o.threads, "t", 2, "wrk threads")
	flag.IntVar(&o.connections, "c", 32, "wrk connections")
	flag.StringVar(&o.only, "only", "", "run only rows whose key matches this `REGEXP` (keys: direct, direct-token, plain, plain-default, nginx, caddy, caddy-basic, oauth2-proxy, anon, jwt-es256, jwt-rs256, api-key, basic, decide, jwt-50pct-invalid, bad-signature, unknown-kid)")
	flag.IntVar(&o.memRequests, "mem-requests", 1_000_000, "requests of the bounded-memory run; 0 skips it")
	flag.IntVar(&o.memTokens, "mem-tokens", 100_000, "distinct valid tokens (and as many invalid ones) of the bounded-memory run")
	flag.StringVar(&o.peersDir, "peers-dir", defaultPeersDir(), "where to look for caddy and oauth2-proxy besides PATH")
	flag.BoolVar(&o.install, "install-peers", false, "first try `go install` of Caddy and oauth2-proxy into -peers-dir (once each)")
	flag.StringVar(&o.profileDir, "profile", "", "run the gateway with pprof and save CPU and allocation profiles of each Gatehouse row in `DIR`")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory (logs, configs, tokens, raw wrk output)")
	flag.StringVar(&o.markdown, "out", "", "also write the report to `FILE`")
	flag.StringVar(&o.logLevel, "gateway-log", "info", "the gateway's log level: info writes one line per decision, as in production; warn measures what those lines cost")
	flag.BoolVar(&o.scale, "scale", false, "run the growth table instead of the main one: 1, 32, 256 and 1024 connections, 10 KiB and 1 MiB responses, 30% invalid credentials, a slowloris population, idle connections and streaming (Gatehouse JWT ES256 vs the tuned plain proxy vs nginx)")
	flag.IntVar(&o.idleConns, "idle-conns", 10_000, "with -scale: idle keep-alive client connections held open against each server; 0 skips")
	flag.IntVar(&o.slowloris, "slowloris", 1000, "with -scale: connections sending one header byte per second beside the valid traffic of the slowloris cell")
	flag.Int64Var(&o.streamBytes, "stream-bytes", 1<<30, "with -scale: bytes of the streamed download and upload; 0 skips")
	flag.IntVar(&o.wsEchoes, "ws-echoes", 2000, "with -scale: WebSocket echoes per round through the upstream, the tuned plain proxy and Gatehouse's API-key route; 0 skips")
	flag.IntVar(&o.h2Streams, "h2-streams", 100, "with -scale: concurrent HTTP/2 streams over one TLS connection to the tuned plain proxy and Gatehouse's API-key route (each served with TLS); 0 skips")
	flag.BoolVar(&o.churn, "churn", false, "run the revocation and reload comparison instead of the main table: the API-key route with and without keys revoked through the admin API and SIGHUP reloads")
	flag.DurationVar(&o.churnRevoke, "churn-revoke", 100*time.Millisecond, "with -churn: revoke one API key this often")
	flag.DurationVar(&o.churnReload, "churn-reload", 5*time.Second, "with -churn: send the gateway SIGHUP this often")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code := 0
	if err := runBench(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		code = 1
	}
	stopAll()
	os.Exit(code)
}

func defaultPeersDir() string {
	if d := os.Getenv("GOBIN"); d != "" {
		return d
	}
	out, err := exec.Command("go", "env", "GOPATH").Output()
	if err != nil {
		return ""
	}
	first, _, _ := strings.Cut(strings.TrimSpace(string(out)), string(os.PathListSeparator))
	return filepath.Join(first, "bin")
}

// ensureWrk installs wrk with apt-get when it is missing and we are root.
func ensureWrk(ctx context.Context) error {
	if _, err := exec.LookPath("wrk"); err == nil {
		return nil
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("wrk is not installed: run `sudo apt-get install -y wrk` (Debian/Ubuntu) and try again")
	}
	logf("wrk is missing: apt-get install -y wrk")
	if _, err := run(ctx, "", nil, "apt-get", "install", "-y", "wrk"); err != nil {
		if _, err2 := run(ctx, "", nil, "apt-get", "update"); err2 != nil {
			return fmt.Errorf("install wrk: %w", err2)
		}
		if _, err := run(ctx, "", nil, "apt-get", "install", "-y", "wrk"); err != nil {
			return fmt.Errorf("install wrk: %w", err)
		}
	}
	return nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

// row is one line of the table.
type row struct {
	key, name string
	url       string
	headers   []string
	tokens    string
	expect    int
	// pid is the process whose CPU (with its children's) is charged to the row.
	pid  func() int
	auth bool // an authenticated Gatehouse row, held to the CPU target
	gate bool // served by Gatehouse (profiled with -profile)
	skip string

	res []wrkResult
	cpu []time.Duration
	// decisionP99 is, per round, the 99th percentile of the gateway's own decision
	// time (gatehouse_decision_duration_seconds, read before and after the round), as
	// the upper bound of its histogram bucket.
	decisionP99 []time.Duration
}

func (r *row) failed() string {
	for _, x := range r.res {
		if x.Wrong > 0 || x.Untagged > 0 || x.SocketErrors > 0 {
			return fmt.Sprintf("%d wrong status, %d untagged, %d socket errors", x.Wrong, x.Untagged, x.SocketErrors)
		}
	}
	return ""
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		return "", fmt.Errorf("go list -m: %w (run the harness from the gatehouse module)", err)
	}
	return strings.TrimSpace(string(out)), nil
}

func runBench(ctx context.Context, o options) error {
	if runtime.GOOS != "linux" {
		return fmt.Errorf("the harness reads /proc: it runs on Linux only")
	}
	if err := ensureWrk(ctx); err != nil {
		return err
	}
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "gatehouse-bench-")
	if err != nil {
		return err
	}
	if o.keep {
		logf("work directory: %s", work)
	} else {
		defer os.RemoveAll(work)
	}
	facts := machineFacts(ctx)
	facts.loadBefore = loadAvg()

	if o.install {
		installPeers(ctx, o.peersDir)
	}
	if o.scale {
		if n, err := raiseNoFile(); err != nil {
			logf("could not raise the open-files limit: %v", err)
		} else if int(n) < 2*o.idleConns+4096 {
			logf("open-files limit %d is low for -idle-conns %d", n, o.idleConns)
		}
	}

	// Build.
	bin := filepath.Join(work, "bin")
	gatewayPkg := "./cmd/gatehouse"
	if o.profileDir != "" {
		gatewayPkg = "./bench/profiled"
		if err := os.MkdirAll(o.profileDir, 0o755); err != nil {
			return err
		}
	}
	logf("building gatehouse, upstream and plainproxy")
	for name, pkg := range map[string]string{"gatehouse": gatewayPkg, "upstream": "./bench/upstream", "plainproxy": "./bench/plainproxy"} {
		if _, err := run(ctx, root, nil, "go", "build", "-o", filepath.Join(bin, name), pkg); err != nil {
			return err
		}
	}
	script := filepath.Join(work, "bench.lua")
	if err := os.WriteFile(script, luaScript, 0o644); err != nil {
		return err
	}

	// Keys and tokens.
	is, err := newIssuer(work)
	if err != nil {
		return err
	}
	esTok, err := is.token(is.es, 0)
	if err != nil {
		return err
	}
	rsTok, err := is.token(is.rs, 1)
	if err != nil {
		return err
	}
	mixed, err := is.mixedTokens(5000, 5000, 1_000_000)
	if err != nil {
		return err
	}
	mixedFile := filepath.Join(work, "mixed.tokens")
	if err := writeTokens(mixedFile, mixed); err != nil {
		return err
	}
	badSig, unknown := splitInvalid(mixed)
	badSigFile, unknownFile := filepath.Join(work, "badsig.tokens"), filepath.Join(work, "unknownkid.tokens")
	if err := writeTokens(badSigFile, badSig); err != nil {
		return err
	}
	if err := writeTokens(unknownFile, unknown); err != nil {
		return err
	}

	// Upstream, plain proxy.
	up, err := startProc(work, "upstream", filepath.Join(bin, "upstream"), "-issuer-jwks", is.jwks)
	if err != nil {
		return err
	}
	m, err := up.waitFor(listeningLine, 10*time.Second)
	if err != nil {
		return err
	}
	upstream := "http://" + m[1]
	pp, plainURL, err := startPlainProxy(work, bin, "plainproxy", upstream, "tuned")
	if err != nil {
		return err
	}
	ppd, plainDefaultURL, err := startPlainProxy(work, bin, "plainproxy-default", upstream, "default")
	if err != nil {
		return err
	}

	// Gatehouse, its store, an API key and a Basic user.
	gw, err := startGateway(ctx, filepath.Join(bin, "gatehouse"), filepath.Join(work, "gw"), gatewayConfig(upstream, is.jwks, o.logLevel), o.profileDir != "")
	if err != nil {
		return err
	}

	basicAuth := "Basic " + b64("bench:"+gw.password)
	// What a proxy sends the decide endpoint: the client's request headers (its token)
	// and the original method and path. The upstream gets the same headers in the
	// "direct-token" row: with forward auth, each client request reaches both.
	decideHeaders := []string{"Authorization: Bearer " + esTok, "X-Forwarded-Method: GET", "X-Forwarded-Uri: /es/orders"}
	rows := []*row{
		{key: "direct", name: "upstream direct", url: upstream + "/", expect: 200, pid: up.pid},
		{key: "direct-token", name: "upstream direct, with the decide row's headers", url: upstream + "/es/orders", headers: decideHeaders, expect: 200, pid: up.pid},
		{key: "plain", name: "plain ReverseProxy (tuned transport: the baseline)", url: plainURL + "/", expect: 200, pid: pp.pid},
		{key: "plain-default", name: "plain ReverseProxy, default transport (2 idle conns/host; not the baseline)", url: plainDefaultURL + "/", expect: 200, pid: ppd.pid},
	}
	if np, nurl, err := startNginx(work, upstream); err != nil {
		rows = append(rows, &row{key: "nginx", name: "nginx proxy_pass", skip: err.Error()})
	} else {
		rows = append(rows, &row{key: "nginx", name: "nginx proxy_pass (keepalive upstream)", url: nurl + "/", expect: 200, pid: np.pid})
	}
	rows = append(rows, peerRows(o, work, upstream, is)...)
	g := gw.proc
	rows = append(rows,
		&row{key: "anon", name: "gatehouse anonymous route", url: gw.base + "/anon/orders", expect: 200, pid: g.pid, gate: true},
		&row{key: "jwt-es256", name: "gatehouse JWT ES256", url: gw.base + "/es/orders", headers: []string{"Authorization: Bearer " + esTok}, expect: 200, pid: g.pid, auth: true, gate: true},
		&row{key: "jwt-rs256", name: "gatehouse JWT RS256", url: gw.base + "/rs/orders", headers: []string{"Authorization: Bearer " + rsTok}, expect: 200, pid: g.pid, auth: true, gate: true},
		&row{key: "api-key", name: "gatehouse API key", url: gw.base + "/key/orders", headers: []string{"X-API-Key: " + gw.apiKey}, expect: 200, pid: g.pid, auth: true, gate: true},
		&row{key: "basic", name: "gatehouse Basic (cached)", url: gw.base + "/basic/orders", headers: []string{"Authorization: " + basicAuth}, expect: 200, pid: g.pid, auth: true, gate: true},
		&row{key: "decide", name: "gatehouse forward-auth decide (JWT ES256)", url: gw.base + "/_gatehouse/decide",
			headers: decideHeaders, expect: 200, pid: g.pid, auth: true, gate: true},
		&row{key: "jwt-50pct-invalid", name: "gatehouse JWT ES256, 50% invalid (5k+5k distinct)", url: gw.base + "/es/orders", tokens: mixedFile, pid: g.pid, gate: true},
		&row{key: "bad-signature", name: "gatehouse JWT ES256, all bad signature", url: gw.base + "/es/orders", tokens: badSigFile, pid: g.pid, gate: true},
		&row{key: "unknown-kid", name: "gatehouse JWT ES256, all unknown kid", url: gw.base + "/es/orders", tokens: unknownFile, pid: g.pid, gate: true},
	)
	if o.only != "" {
		re, err := regexp.Compile(o.only)
		if err != nil {
			return fmt.Errorf("-only: %w", err)
		}
		var keep []*row
		for _, r := range rows {
			if re.MatchString(r.key) || r.key == "plain" {
				keep = append(keep, r)
			}
		}
		rows = keep
	}
	probeRows(ctx, rows)
	if o.churn {
		out, err := churnRun(ctx, o, gw, script, gw.cli)
		if err != nil {
			return err
		}
		facts.loadAfter = loadAvg()
		rep := out + machineSection(facts)
		fmt.Print(rep)
		if o.markdown != "" {
			return os.WriteFile(o.markdown, []byte(rep), 0o644)
		}
		return nil
	}
	if o.scale {
		return runScaleTable(ctx, o, facts, rows, gw, script, is, work, esTok, plainURL)
	}

	// Interleaved rounds.
	for round := 1; round <= o.rounds; round++ {
		// Every other round runs the rows in reverse order (ABBA): a drift of the
		// machine within a round then weighs on each row alike over the rounds, and a
		// row is compared with the anonymous route once after it and once before.
		order := slices.Clone(rows)
		if round%2 == 0 {
			slices.Reverse(order)
		}
		for _, r := range order {
			if r.skip != "" {
				continue
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			logf("round %d/%d: %s", round, o.rounds, r.name)
			var prof *profiler
			if o.profileDir != "" && r.gate && round == 1 {
				prof = startProfile(gw.pprof, o.profileDir, r.key, o.duration)
			}
			pid := r.pid()
			var hist0 map[float64]float64
			if r.gate {
				hist0, _ = gw.decisionBuckets()
			}
			cpu0 := treeCPU(pid)
			res, err := wrkRun{URL: r.url, Threads: o.threads, Connections: o.connections, Duration: o.duration,
				Script: script, Headers: r.headers, Tokens: r.tokens, TokenHeader: "Authorization", Expect: r.expect}.run(ctx)
			cpu1 := treeCPU(pid)
			if prof != nil {
				prof.finish()
			}
			if err != nil {
				r.skip = "wrk failed: " + firstLine(err.Error())
				continue
			}
			r.res = append(r.res, res)
			r.cpu = append(r.cpu, cpu1-cpu0)
			if hist0 != nil {
				if hist1, err := gw.decisionBuckets(); err == nil {
					r.decisionP99 = append(r.decisionP99, time.Duration(bucketQuantile(hist0, hist1, 0.99)*float64(time.Second)))
				}
			}
		}
	}
	hwm, _ := statusKB(g.pid(), "VmHWM")
	rss, _ := statusKB(g.pid(), "VmRSS")
	gw.proc.stop()

	var mem *memResult
	if o.memRequests > 0 && (o.only == "" || regexp.MustCompile(o.only).MatchString("memory")) {
		mem, err = memoryRun(ctx, o, bin, work, upstream, is, script)
		if err != nil {
			return err
		}
	}
	facts.loadAfter = loadAvg()
	rep := report(o, facts, rows, hwm, rss, mem)
	fmt.Print(rep)
	if o.markdown != "" {
		return os.WriteFile(o.markdown, []byte(rep), 0o644)
	}
	return nil
}

// runScaleTable runs the growth table (-scale) against the rows already started: the
// tuned plain proxy, nginx and Gatehouse's JWT ES256 route.
func runScaleTable(ctx context.Context, o options, facts facts, rows []*row, gw *gateway, script string, is *issuer, work, esTok, plainURL string) error {
	env := scaleEnv{script: script, gw: gw, esTok: esTok, apiKey: gw.apiKey, plain: plainURL}
	for _, r := range rows {
		if r.key == "direct" {
			env.direct = strings.TrimSuffix(r.url, "/")
		}
		if r.skip != "" {
			continue
		}
		base, path, _ := strings.Cut(strings.TrimPrefix(r.url, "http://"), "/")
		t := &scaleTarget{key: r.key, name: r.name, base: "http://" + base, path: "/" + path, headers: r.headers, pid: r.pid}
		switch r.key {
		case "plain":
			t.name = "plain ReverseProxy (tuned)"
		case "nginx":
			t.name = "nginx"
		case "jwt-es256":
			t.name, t.gw = "gatehouse JWT ES256", gw
		default:
			continue
		}
		env.targets = append(env.targets, t)
	}
	if o.h2Streams > 0 {
		cert, key, pool, err := writeSelfSigned(work)
		if err != nil {
			return err
		}
		bin := filepath.Join(work, "bin")
		p, err := startProc(work, "plainproxy-tls", filepath.Join(bin, "plainproxy"), "-upstream", env.direct, "-tls-cert", cert, "-tls-key", key)
		if err != nil {
			return err
		}
		m, err := p.waitFor(listeningLine, 10*time.Second)
		if err != nil {
			return err
		}
		cfg := gatewayConfig(env.direct, is.jwks, o.logLevel) + fmt.Sprintf("tls: {cert_file: %q, key_file: %q}\n", cert, key)
		g, err := startGateway(ctx, filepath.Join(bin, "gatehouse"), filepath.Join(work, "gw-tls"), cfg, o.profileDir != "")
		if err != nil {
			return fmt.Errorf("gateway with TLS: %w", err)
		}
		env.h2 = []h2Target{
			{name: "plain ReverseProxy (tuned), TLS", url: "https://" + m[1] + "/", pid: p.pid},
			{name: "gatehouse API-key route, TLS", url: strings.Replace(g.base, "http://", "https://", 1) + "/key/orders", headers: []string{"X-API-Key: " + g.apiKey}, pid: g.proc.pid},
		}
		if np, nurl, err := startNginxTLS(work, env.direct, cert, key); err != nil {
			logf("HTTP/2 cells without nginx: %v", err)
		} else {
			env.h2 = append(env.h2, h2Target{name: "nginx, TLS and http2", url: nurl + "/", pid: np.pid})
		}
		env.pool = pool
	}
	// 30% invalid: 7,000 valid and 3,000 invalid distinct tokens, 7 then 3 in turn.
	lines, err := is.mixedTokens(7000, 3000, 2_000_000)
	if err != nil {
		return err
	}
	var good, bad []tokenLine
	for _, l := range lines {
		if l.expect == 200 {
			good = append(good, l)
		} else {
			bad = append(bad, l)
		}
	}
	var mixed []tokenLine
	for i := 0; i < 1000; i++ {
		mixed = append(mixed, good[7*i:7*i+7]...)
		mixed = append(mixed, bad[3*i:3*i+3]...)
	}
	env.invalid = filepath.Join(work, "invalid30.tokens")
	if err := writeTokens(env.invalid, mixed); err != nil {
		return err
	}
	out, err := scaleRun(ctx, o, env)
	if err != nil {
		return err
	}
	facts.loadAfter = loadAvg()
	rep := out + machineSection(facts)
	fmt.Print(rep)
	if o.markdown != "" {
		return os.WriteFile(o.markdown, []byte(rep), 0o644)
	}
	return nil
}

// startPlainProxy starts bench/plainproxy with the given -transport (tuned or default)
// and returns it with its base URL.
func startPlainProxy(work, bin, name, upstream, transport string) (*proc, string, error) {
	p, err := startProc(work, name, filepath.Join(bin, "plainproxy"), "-upstream", upstream, "-transport", transport)
	if err != nil {
		return nil, "", err
	}
	m, err := p.waitFor(listeningLine, 10*time.Second)
	if err != nil {
		return nil, "", err
	}
	return p, "http://" + m[1], nil
}

// splitInvalid returns the bad-signature and unknown-kid lines of a mixed tokens list
// (mixedTokens alternates them).
func splitInvalid(mixed []tokenLine) (badSig, unknown []tokenLine) {
	i := 0
	for _, l := range mixed {
		if l.expect != 401 {
			continue
		}
		if i%2 == 0 {
			badSig = append(badSig, l)
		} else {
			unknown = append(unknown, l)
		}
		i++
	}
	return badSig, unknown
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// probeRows sends one request per row outside the timed runs and skips the rows that do
// not answer as expected (a peer that is misconfigured, an endpoint not built yet).
func probeRows(ctx context.Context, rows []*row) {
	client := &http.Client{Timeout: 10 * time.Second}
	for _, r := range rows {
		if r.skip != "" {
			continue
		}
		req, err := http.NewRequestWithContext(ctx, "GET", r.url, nil)
		if err != nil {
			r.skip = err.Error()
			continue
		}
		want := r.expect
		if r.tokens != "" {
			line, err := firstTokenLine(r.tokens)
			if err != nil {
				r.skip = err.Error()
				continue
			}
			req.Header.Set("Authorization", line.value)
			want = line.expect
		}
		for _, h := range r.headers {
			name, value, _ := strings.Cut(h, ":")
			req.Header.Set(name, strings.TrimSpace(value))
		}
		resp, err := client.Do(req)
		if err != nil {
			r.skip = "probe: " + err.Error()
			continue
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if resp.StatusCode != want {
			r.skip = fmt.Sprintf("probe got %d, want %d: %s", resp.StatusCode, want, strings.TrimSpace(firstLine(string(body))))
			logf("skipping %s: %s", r.name, r.skip)
		}
	}
}

func firstTokenLine(path string) (tokenLine, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return tokenLine{}, err
	}
	line := firstLine(string(b))
	exp, value, ok := strings.Cut(line, "\t")
	if !ok {
		return tokenLine{}, fmt.Errorf("%s: bad line", path)
	}
	var n int
	fmt.Sscan(exp, &n)
	return tokenLine{n, value}, nil
}

func sortedKeys(m map[int]int64) []int {
	var ks []int
	for k := range m {
		ks = append(ks, k)
	}
	sort.Ints(ks)
	return ks
}
