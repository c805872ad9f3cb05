package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The growth table (-scale): how the cost of Gatehouse's JWT ES256 route, the tuned plain
// proxy and nginx grows with client connections and response size, with invalid
// credentials and a slowloris population beside valid traffic, with many idle
// keep-alive connections, and with a 1 GiB body streamed each way.

// scaleTarget is one server of the growth table.
type scaleTarget struct {
	key, name string
	base      string // URL without the path
	path      string // the path of a valid request
	headers   []string
	pid       func() int
	gw        *gateway // Gatehouse only: goroutines from /metrics
}

// scaleCell is one (setting, target) of the wrk grid.
type scaleCell struct {
	setting string
	target  *scaleTarget
	conns   int
	query   string
	tokens  string // a tokens file (the invalid-credentials cell)
	slow    int    // slowloris connections running beside the cell
	expect  int
	res     []wrkResult
	cpu     []time.Duration
	peakRSS []int64 // KiB, sampled during the run
	slowCut []slowResult
	skip    string
}

// slowResult is what happened to a slowloris population.
type slowResult struct {
	n, cut, open int
	medianLife   time.Duration
}

// scaleEnv is what runBench has started for the growth table.
type scaleEnv struct {
	script  string
	targets []*scaleTarget
	gw      *gateway
	invalid string // 30% invalid tokens file, for the Gatehouse JWT ES256 route
	esTok   string
	apiKey  string
	plain   string // tuned plain proxy base URL
	direct  string // the upstream's base URL
	h2      []h2Target
	pool    *x509.CertPool // trusts the TLS servers of h2
}

// h2Target is a server of the HTTP/2 cells.
type h2Target struct {
	name, url string
	headers   []string
	pid       func() int
	res       []h2Result
}

// raiseNoFile lifts the soft limit on open files to the hard one, for the harness and
// the servers it starts (10,000 idle connections need as many descriptors on each side).
func raiseNoFile() (uint64, error) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, err
	}
	r.Cur = r.Max
	// Setting it explicitly also makes Go pass it on to child processes.
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, err
	}
	return r.Cur, nil
}

// scaleRun runs the growth table and returns its Markdown.
func scaleRun(ctx context.Context, o options, env scaleEnv) (string, error) {
	var cells []*scaleCell
	for _, c := range []int{1, 32, 256, 1024} {
		for _, t := range env.targets {
			cells = append(cells, &scaleCell{setting: fmt.Sprintf("%d connections, 100 B", c), target: t, conns: c, expect: 200})
		}
	}
	for _, sz := range []struct {
		name string
		n    int
	}{{"10 KiB", 10 << 10}, {"1 MiB", 1 << 20}} {
		for _, t := range env.targets {
			cells = append(cells, &scaleCell{setting: "32 connections, " + sz.name, target: t, conns: 32, query: fmt.Sprintf("?size=%d", sz.n), expect: 200})
		}
	}
	var gt *scaleTarget
	for _, t := range env.targets {
		if t.gw != nil {
			gt = t
		}
	}
	if gt != nil {
		cells = append(cells,
			&scaleCell{setting: "32 connections, 30% invalid credentials", target: gt, conns: 32, tokens: env.invalid},
			&scaleCell{setting: fmt.Sprintf("32 connections + %d slowloris connections", o.slowloris), target: gt, conns: 32, slow: o.slowloris, expect: 200},
		)
	}
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	cmd := fmt.Sprintf("go run ./bench -scale -rounds %d -d %s", o.rounds, o.duration)
	w("## Growth table\n\n")
	// Idle keep-alive connections.
	if o.idleConns > 0 {
		w("### %d idle keep-alive client connections\n\n`%s -idle-conns %d`: each connection sends one request, reads the answer and stays open; RSS of the server (with its workers) before and with them open, goroutines from the gateway's go_goroutines.\n\n", o.idleConns, cmd, o.idleConns)
		w("| server | opened | RSS before | RSS with them open | goroutines before | goroutines with them |\n|---|---:|---:|---:|---:|---:|\n")
		for _, t := range env.targets {
			if err := ctx.Err(); err != nil {
				return "", err
			}
			logf("scale: %d idle connections to %s", o.idleConns, t.name)
			ir := idleRun(ctx, t, o.idleConns)
			w("| %s | %d | %.1f MiB | %.1f MiB | %s | %s |\n", t.name, ir.opened, float64(ir.rssBefore)/1024, float64(ir.rssWith)/1024, ir.gBefore, ir.gWith)
			if ir.err != "" {
				w("\n(%s: %s)\n\n", t.name, ir.err)
			}
			if ir.memStats != "" {
				w("\n(%s with them open, runtime.MemStats: %s)\n\n", t.name, ir.memStats)
			}
		}
		w("\n")
	}

	// Streaming.
	if o.streamBytes > 0 {
		w("### Streaming %d MiB through an authenticated route\n\n`%s -stream-bytes %d`: one download (`GET ?size=N`) and one upload (`POST`, the upstream reads it to the end), Gatehouse's API-key route against the tuned plain proxy; peak RSS sampled every 100 ms during the transfer.\n\n", o.streamBytes>>20, cmd, o.streamBytes)
		w("| transfer | server | MiB/s | RSS before | peak RSS during |\n|---|---|---:|---:|---:|\n")
		for _, dir := range []string{"download", "upload"} {
			for _, t := range env.targets {
				if t.key == "nginx" {
					continue
				}
				if err := ctx.Err(); err != nil {
					return "", err
				}
				url, hdr := env.plain+"/", []string(nil)
				if t.gw != nil {
					url, hdr = t.gw.base+"/key/stream", []string{"X-API-Key: " + env.apiKey}
				}
				logf("scale: %s %d MiB through %s", dir, o.streamBytes>>20, t.name)
				sr := streamRun(ctx, t, url, hdr, dir, o.streamBytes)
				name := t.name
				if t.gw != nil {
					name = "gatehouse API-key route"
				}
				if sr.err != nil {
					w("| %s | %s | failed: %v | | |\n", dir, name, sr.err)
					continue
				}
				w("| %s | %s | %.0f | %.1f MiB | %.1f MiB |\n", dir, name, float64(o.streamBytes)/(1<<20)/sr.elapsed.Seconds(), float64(sr.rssBefore)/1024, float64(sr.peak)/1024)
			}
		}
		w("\n")
	}
	if len(env.h2) > 0 {
		for round := 1; round <= o.rounds; round++ {
			order := make([]int, len(env.h2))
			for i := range order {
				order[i] = i
			}
			if round%2 == 0 {
				slices.Reverse(order)
			}
			for _, i := range order {
				t := &env.h2[i]
				logf("scale round %d/%d: HTTP/2, %d streams, %s", round, o.rounds, o.h2Streams, t.name)
				t.res = append(t.res, h2Run(ctx, t.url, t.headers, env.pool, o.h2Streams, o.duration, t.pid()))
			}
		}
		w("### HTTP/2 over TLS, %d concurrent streams\n\n`%s -h2-streams %d`: a Go client (net/http, HTTP/2 negotiated by ALPN) on one TLS connection, %d goroutines sending GETs for %s per round; per round: req/s, p50, p99, CPU per request of the server.\n\n| server | req/s per round | p50 per round | p99 per round | CPU/req per round | responses |\n|---|---|---|---|---|---|\n", o.h2Streams, cmd, o.h2Streams, o.h2Streams, o.duration)
		for _, t := range env.h2 {
			var rps, p50, p99, cpu []string
			st := map[int]int64{}
			var notH2 int64
			errs := ""
			for _, r := range t.res {
				if r.err != nil && errs == "" {
					errs = " (error: " + r.err.Error() + ")"
				}
				if r.requests == 0 {
					continue
				}
				rps = append(rps, fmt.Sprintf("%.0f", float64(r.requests)/r.elapsed.Seconds()))
				p50, p99 = append(p50, fmtDur(r.p50)), append(p99, fmtDur(r.p99))
				cpu = append(cpu, fmtDur(r.cpu/time.Duration(r.requests)))
				for k, v := range r.statuses {
					st[k] += v
				}
				notH2 += r.notH2
			}
			resp := fmtStatuses(st)
			if notH2 > 0 {
				resp += fmt.Sprintf(", **%d not HTTP/2**", notH2)
			}
			w("| %s | %s | %s | %s | %s | %s%s |\n", t.name, strings.Join(rps, ", "), strings.Join(p50, ", "), strings.Join(p99, ", "), strings.Join(cpu, ", "), resp, errs)
		}
		w("\n")
	}

	if o.wsEchoes > 0 {
		type wsTarget struct {
			name, url string
			headers   []string
			res       []wsResult
		}
		wts := []*wsTarget{{name: "upstream direct", url: env.direct + "/ws"}, {name: "plain ReverseProxy (tuned)", url: env.plain + "/ws"}}
		for _, t := range env.targets {
			if t.key == "nginx" {
				wts = append(wts, &wsTarget{name: "nginx (location /ws passes the upgrade)", url: t.base + "/ws"})
			}
		}
		if env.gw != nil {
			wts = append(wts, &wsTarget{name: "gatehouse API-key route (authenticated once, at the upgrade)", url: env.gw.base + "/key/ws", headers: []string{"X-API-Key: " + env.apiKey}})
		}
		for round := 1; round <= o.rounds; round++ {
			order := slices.Clone(wts)
			if round%2 == 0 {
				slices.Reverse(order)
			}
			for _, t := range order {
				logf("scale round %d/%d: WebSocket echo through %s", round, o.rounds, t.name)
				t.res = append(t.res, wsRun(ctx, t.url, t.headers, o.wsEchoes))
			}
		}
		w("### WebSocket echo\n\n`%s -ws-echoes %d`: one WebSocket per round and server (HTTP/1.1 upgrade), %d echoes of a masked 32-byte text frame one after the other, latency per echo; p50 and p99 per round.\n\n| path | p50 per round | p99 per round |\n|---|---|---|\n", cmd, o.wsEchoes, o.wsEchoes)
		for _, t := range wts {
			var p50s, p99s []string
			for _, r := range t.res {
				if r.err != nil {
					p50s = append(p50s, "failed: "+r.err.Error())
					continue
				}
				p50s, p99s = append(p50s, fmtDur(r.p50)), append(p99s, fmtDur(r.p99))
			}
			w("| %s | %s | %s |\n", t.name, strings.Join(p50s, ", "), strings.Join(p99s, ", "))
		}
		w("\n")
	}

	for round := 1; round <= o.rounds; round++ {
		order := slices.Clone(cells)
		if round%2 == 0 {
			slices.Reverse(order)
		}
		for _, c := range order {
			if c.skip != "" {
				continue
			}
			if err := ctx.Err(); err != nil {
				return "", err
			}
			logf("scale round %d/%d: %s, %s", round, o.rounds, c.target.name, c.setting)
			var slow *slowloris
			if c.slow > 0 {
				slow = startSlowloris(ctx, strings.TrimPrefix(c.target.base, "http://"), c.slow)
			}
			pid := c.target.pid()
			stopSample := sampleRSS(pid)
			cpu0 := treeCPU(pid)
			threads := min(o.threads, c.conns)
			headers := c.target.headers
			if c.tokens != "" {
				headers = nil // each token line carries its Authorization header
			}
			res, err := wrkRun{URL: c.target.base + c.target.path + c.query, Threads: threads, Connections: c.conns, Duration: o.duration,
				Script: env.script, Headers: headers, Tokens: c.tokens, TokenHeader: "Authorization", Expect: c.expect}.run(ctx)
			cpu1 := treeCPU(pid)
			peak := stopSample()
			if slow != nil {
				// The gateway's header timeout is 10 s: wait up to 15 s from the start
				// of the population for the server to cut every slow connection.
				c.slowCut = append(c.slowCut, slow.stop(15*time.Second))
			}
			if err != nil {
				c.skip = "wrk failed: " + firstLine(err.Error())
				continue
			}
			c.res = append(c.res, res)
			c.cpu = append(c.cpu, cpu1-cpu0)
			c.peakRSS = append(c.peakRSS, peak)
		}
	}

	w("%s", gridReport(o, cmd, cells))
	return b.String(), nil
}

// gridReport renders the wrk cells of the growth table.
func gridReport(o options, cmd string, cells []*scaleCell) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("### Connections, response sizes, invalid credentials, slowloris\n\n`%s`: %d interleaved rounds of %s per cell, every other round in reverse order; wrk with min(%d, connections) threads; medians of the rounds, spread (max-min)/median of req/s.\n\n", cmd, o.rounds, o.duration, o.threads)
	w("| setting | server | req/s | spread | p50 | p99 | CPU/req | peak RSS | responses |\n|---|---|---:|---:|---:|---:|---:|---:|---|\n")
	for _, c := range cells {
		if c.skip != "" {
			w("| %s | %s | skipped: %s | | | | | | |\n", c.setting, c.target.name, c.skip)
			continue
		}
		r := &row{res: c.res, cpu: c.cpu}
		s, ok := summarize(r)
		if !ok {
			continue
		}
		failed := r.failed()
		resp := fmtStatuses(s.statuses)
		if failed != "" {
			resp = "FAILED: " + failed + " (" + resp + ")"
		}
		var peak int64
		for _, p := range c.peakRSS {
			peak = max(peak, p)
		}
		w("| %s | %s | %.0f | %.0f%% | %s | %s | %s | %.1f MiB | %s |\n", c.setting, c.target.name, s.rps, 100*s.spread, fmtDur(s.p50), fmtDur(s.p99), fmtDur(s.cpuPerReq), float64(peak)/1024, resp)
	}
	// Bad input against the clean run: the Gatehouse cell at 32 connections, 100 B.
	var clean *scaleCell
	for _, c := range cells {
		if c.target.gw != nil && c.conns == 32 && c.query == "" && c.tokens == "" && c.slow == 0 {
			clean = c
		}
	}
	if clean != nil {
		cs, ok := summarize(&row{res: clean.res, cpu: clean.cpu})
		for _, c := range cells {
			if c == clean || c.target != clean.target || c.conns != 32 || c.query != "" || !ok {
				continue
			}
			s, ok2 := summarize(&row{res: c.res, cpu: c.cpu})
			if !ok2 || cs.p99 == 0 {
				continue
			}
			d := float64(s.p99)/float64(cs.p99) - 1
			verdict := "within 20%"
			if d > 0.20 {
				verdict = "**more than 20% above**"
			}
			w("\n%s, %s: p99 %s against %s clean (%+.0f%%, %s)", c.target.name, c.setting, fmtDur(s.p99), fmtDur(cs.p99), 100*d, verdict)
			if c.tokens != "" {
				w("; wrk's p99 covers the valid and the invalid requests together")
			}
			w(".\n")
		}
	}
	for _, c := range cells {
		if len(c.slowCut) == 0 {
			continue
		}
		w("\nSlowloris (%s, %s): per round, connections cut by the server before the run ended / still open, and the median time a cut connection lived:", c.target.name, c.setting)
		for _, sr := range c.slowCut {
			w(" %d/%d cut, %d open, %s;", sr.cut, sr.n, sr.open, sr.medianLife.Round(100*time.Millisecond))
		}
		w("\n")
	}
	w("\n")

	return b.String()
}

// treeRSS is the VmRSS of pid and its descendants (nginx's workers), in KiB.
func treeRSS(pid int) int64 {
	var total int64
	for _, p := range descendants(pid) { // pid included
		if v, err := statusKB(p, "VmRSS"); err == nil {
			total += v
		}
	}
	return total
}

// sampleRSS samples treeRSS(pid) every 100 ms until the returned function is called,
// which returns the largest sample.
func sampleRSS(pid int) func() int64 {
	var peak atomic.Int64
	peak.Store(treeRSS(pid))
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if v := treeRSS(pid); v > peak.Load() {
					peak.Store(v)
				}
			}
		}
	}()
	return func() int64 {
		close(done)
		<-stopped
		if v := treeRSS(pid); v > peak.Load() {
			peak.Store(v)
		}
		return peak.Load()
	}
}

// slowloris holds n connections that each send one byte of a request header per second.
type slowloris struct {
	start  time.Time
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	lives  []time.Duration // of connections the server cut
	n      int
	open   atomic.Int64
}

func startSlowloris(ctx context.Context, addr string, n int) *slowloris {
	ctx, cancel := context.WithCancel(ctx)
	s := &slowloris{cancel: cancel, n: n, start: time.Now()}
	header := "GET /es/orders HTTP/1.1\r\nHost: " + addr + "\r\nX-Slow: " + strings.Repeat("a", 200)
	for range n {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			c, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", addr)
			if err != nil {
				return
			}
			defer c.Close()
			s.open.Add(1)
			defer s.open.Add(-1)
			start := time.Now()
			go func() { <-ctx.Done(); c.SetDeadline(time.Now()) }()
			cut := make(chan struct{})
			go func() {
				// The server answers a cut with a close (or a 408): any read ends it.
				buf := make([]byte, 512)
				c.Read(buf)
				close(cut)
			}()
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for i := 0; ; i = (i + 1) % len(header) {
				if _, err := c.Write([]byte{header[i]}); err != nil {
					break
				}
				select {
				case <-cut:
				case <-t.C:
					continue
				}
				break
			}
			if ctx.Err() == nil {
				s.mu.Lock()
				s.lives = append(s.lives, time.Since(start))
				s.mu.Unlock()
			}
		}()
	}
	return s
}

// stop waits until the server has cut every slow connection, or until wait has passed
// since they were started, then closes what is left.
func (s *slowloris) stop(wait time.Duration) slowResult {
	for s.open.Load() > 0 && time.Since(s.start) < wait {
		time.Sleep(100 * time.Millisecond)
	}
	open := int(s.open.Load())
	s.cancel()
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	r := slowResult{n: s.n, cut: len(s.lives), open: open}
	if len(s.lives) > 0 {
		sort.Slice(s.lives, func(i, j int) bool { return s.lives[i] < s.lives[j] })
		r.medianLife = s.lives[len(s.lives)/2]
	}
	return r
}

type idleResult struct {
	opened             int
	rssBefore, rssWith int64
	gBefore, gWith     string
	memStats           string // with -profile: the gateway's heap and stack in use
	err                string
}

// pprofMemStats reads the runtime's heap and stack figures from a pprof endpoint.
func pprofMemStats(base string) string {
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(base + "/debug/pprof/heap?debug=1")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var parts []string
	for _, line := range strings.Split(string(b), "\n") {
		for _, k := range []string{"# Sys = ", "# HeapInuse = ", "# HeapIdle = ", "# HeapReleased = ", "# Stack = ", "# MSpan = ", "# GCSys = ", "# OtherSys = ", "# NumGC = "} {
			if v, ok := strings.CutPrefix(line, k); ok {
				parts = append(parts, strings.TrimPrefix(k, "# ")+v)
			}
		}
	}
	return strings.Join(parts, ", ")
}

// idleRun opens n keep-alive connections to t, each with one answered request, measures
// the server, and closes them.
func idleRun(ctx context.Context, t *scaleTarget, n int) idleResult {
	var r idleResult
	pid := t.pid()
	goroutines := func() string {
		if t.gw == nil {
			return "n/a"
		}
		v, err := t.gw.metric("go_goroutines")
		if err != nil {
			return "?"
		}
		return fmt.Sprintf("%.0f", v)
	}
	r.rssBefore, r.gBefore = treeRSS(pid), goroutines()
	addr := strings.TrimPrefix(t.base, "http://")
	req := "GET " + t.path + " HTTP/1.1\r\nHost: " + addr + "\r\n"
	for _, h := range t.headers {
		req += h + "\r\n"
	}
	req += "\r\n"
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	var firstErr error
	var mu sync.Mutex
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	for range n {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := (&net.Dialer{Timeout: 10 * time.Second}).DialContext(ctx, "tcp", addr)
			if err == nil {
				c.SetDeadline(time.Now().Add(30 * time.Second))
				if _, err = io.WriteString(c, req); err == nil {
					var resp *http.Response
					if resp, err = http.ReadResponse(bufio.NewReader(c), nil); err == nil {
						_, err = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if err == nil && resp.StatusCode != 200 {
							err = fmt.Errorf("status %d", resp.StatusCode)
						}
					}
				}
				c.SetDeadline(time.Time{})
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if c != nil {
					c.Close()
				}
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			conns = append(conns, c)
		}()
	}
	wg.Wait()
	r.opened = len(conns)
	// Let the server settle (its per-connection buffers are returned after the request).
	time.Sleep(2 * time.Second)
	r.rssWith, r.gWith = treeRSS(pid), goroutines()
	if t.gw != nil && t.gw.pprof != "" {
		r.memStats = pprofMemStats(t.gw.pprof)
	}
	if firstErr != nil {
		r.err = fmt.Sprintf("%d of %d failed, first: %v", n-r.opened, n, firstErr)
	}
	return r
}

type streamResult struct {
	elapsed         time.Duration
	rssBefore, peak int64
	err             error
}

// zeroReader is an endless source of zero bytes.
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// streamRun moves n bytes through t: a download of ?size=n or an upload of n bytes.
func streamRun(ctx context.Context, t *scaleTarget, url string, headers []string, dir string, n int64) streamResult {
	var r streamResult
	pid := t.pid()
	r.rssBefore = treeRSS(pid)
	stop := sampleRSS(pid)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	var req *http.Request
	var err error
	if dir == "download" {
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s?size=%d", url, n), nil)
	} else {
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, url, io.LimitReader(zeroReader{}, n))
		if req != nil {
			req.ContentLength = n
		}
	}
	if err != nil {
		r.err = err
		stop()
		return r
	}
	for _, h := range headers {
		name, value, _ := strings.Cut(h, ":")
		req.Header.Set(name, strings.TrimSpace(value))
	}
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableCompression: true}}
	defer client.CloseIdleConnections()
	start := time.Now()
	resp, err := client.Do(req)
	if err == nil {
		var got int64
		got, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		switch {
		case err != nil:
		case resp.StatusCode != 200:
			err = fmt.Errorf("status %d", resp.StatusCode)
		case dir == "download" && got != n:
			err = fmt.Errorf("got %d bytes, want %d", got, n)
		}
	}
	r.elapsed = time.Since(start)
	r.peak = stop()
	r.err = err
	return r
}

// wsResult is the echo latency of one WebSocket connection.
type wsResult struct {
	p50, p99 time.Duration
	err      error
}

// wsRun opens a WebSocket to url (one HTTP/1.1 upgrade, with headers: the only
// authentication) and times n echoes of a masked 32-byte text frame, one at a time.
func wsRun(ctx context.Context, url string, headers []string, n int) wsResult {
	hostPath := strings.TrimPrefix(url, "http://")
	host, path, _ := strings.Cut(hostPath, "/")
	c, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", host)
	if err != nil {
		return wsResult{err: err}
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	key := "dGhlIHNhbXBsZSBub25jZQ==" // RFC 6455's example nonce: the test is not about it
	req := "GET /" + path + " HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key + "\r\n"
	for _, h := range headers {
		req += h + "\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		return wsResult{err: err}
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return wsResult{err: err}
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		return wsResult{err: fmt.Errorf("upgrade answered %d, accept %q", resp.StatusCode, resp.Header.Get("Sec-WebSocket-Accept"))}
	}
	// FIN + text, masked, 32 bytes of payload.
	frame := []byte{0x81, 0x80 | 32, 1, 2, 3, 4}
	for i := range 32 {
		frame = append(frame, byte('a'+i%26)^[]byte{1, 2, 3, 4}[i%4])
	}
	back := make([]byte, len(frame))
	lat := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		if _, err := c.Write(frame); err != nil {
			return wsResult{err: err}
		}
		if _, err := io.ReadFull(br, back); err != nil {
			return wsResult{err: err}
		}
		lat = append(lat, time.Since(start))
		if !bytes.Equal(back, frame) {
			return wsResult{err: fmt.Errorf("echo differs")}
		}
	}
	slices.Sort(lat)
	return wsResult{p50: lat[len(lat)/2], p99: lat[len(lat)*99/100]}
}

// writeSelfSigned writes a self-signed ECDSA P-256 certificate for 127.0.0.1 and its key
// (0600) into dir, for the HTTP/2 cells.
func writeSelfSigned(dir string) (certFile, keyFile string, pool *x509.CertPool, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "gatehouse bench"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", "", nil, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", nil, err
	}
	certFile, keyFile = filepath.Join(dir, "bench-cert.pem"), filepath.Join(dir, "bench-key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return "", "", nil, err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return "", "", nil, err
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool, nil
}

// h2Result is one HTTP/2 cell's run.
type h2Result struct {
	requests int64
	elapsed  time.Duration
	p50, p99 time.Duration
	cpu      time.Duration
	statuses map[int]int64
	notH2    int64
	err      error
}

// h2Run sends GETs to url over one TLS connection with HTTP/2, streams at a time, for d.
func h2Run(ctx context.Context, url string, headers []string, pool *x509.CertPool, streams int, d time.Duration, pid int) h2Result {
	tr := &http.Transport{Proxy: nil, TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true, MaxConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	// One request first, so that every stream shares the connection it opens.
	if resp, err := client.Get(url); err != nil {
		return h2Result{err: err}
	} else {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	var mu sync.Mutex
	res := h2Result{statuses: map[int]int64{}}
	var lat []time.Duration
	cpu0 := treeCPU(pid)
	start := time.Now()
	end := start.Add(d)
	var wg sync.WaitGroup
	for range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			st := map[int]int64{}
			var notH2 int64
			var firstErr error
			for time.Now().Before(end) && ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
				for _, h := range headers {
					name, value, _ := strings.Cut(h, ":")
					req.Header.Set(name, strings.TrimSpace(value))
				}
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					firstErr = err
					break
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mine = append(mine, time.Since(t0))
				st[resp.StatusCode]++
				if resp.ProtoMajor != 2 {
					notH2++
				}
			}
			mu.Lock()
			defer mu.Unlock()
			lat = append(lat, mine...)
			for k, v := range st {
				res.statuses[k] += v
			}
			res.notH2 += notH2
			if firstErr != nil && res.err == nil {
				res.err = firstErr
			}
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.cpu = treeCPU(pid) - cpu0
	res.requests = int64(len(lat))
	if len(lat) > 0 {
		slices.Sort(lat)
		res.p50, res.p99 = lat[len(lat)/2], lat[len(lat)*99/100]
	}
	return res
}
