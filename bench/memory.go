package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"
)

// memBoundMiB is the peak RSS the bounded-memory run must stay under. The caches that
// grow with distinct credentials are bounded: the verified-token cache holds at most
// cache_size (100,000) principals of about 0.5 KiB each with its index, the failure
// budget is two fixed 1 MiB tables, and invalid tokens are never cached. With Go's
// default GOGC=100 the heap may reach twice the live data before a collection, so
// 2 x (about 60 MiB of caches + the runtime, SQLite and buffers) leaves this bound.
const memBoundMiB = 256

type memResult struct {
	requests    int64
	valid       int
	invalid     int
	elapsed     time.Duration
	rps         float64
	hwmKB       int64
	rssKB       int64
	baseKB      int64
	evictions   float64
	cacheHits   float64
	cacheMisses float64
	wrong       int64
	untagged    int64
	statuses    map[int]int64
	genTime     time.Duration
	cpuPerReq   time.Duration
}

// memoryRun drives a fresh gateway with o.memRequests requests over o.memTokens distinct
// valid tokens and as many distinct invalid ones (half bad signature, half unknown kid),
// alternating, and reports its peak RSS and the cache counters from /metrics.
func memoryRun(ctx context.Context, o options, bin, work, upstream string, is *issuer, script string) (*memResult, error) {
	res := &memResult{valid: o.memTokens, invalid: o.memTokens}
	logf("memory run: generating %d valid and %d invalid tokens", o.memTokens, o.memTokens)
	start := time.Now()
	lines, err := is.mixedTokens(o.memTokens, o.memTokens, 0)
	if err != nil {
		return nil, err
	}
	file := filepath.Join(work, "memory.tokens")
	if err := writeTokens(file, lines); err != nil {
		return nil, err
	}
	res.genTime = time.Since(start)
	lines = nil

	gw, err := startGateway(ctx, filepath.Join(bin, "gatehouse"), filepath.Join(work, "mem"), gatewayConfig(upstream, is.jwks, o.logLevel), o.profileDir != "")
	if err != nil {
		return nil, err
	}
	defer gw.proc.stop()
	res.baseKB, _ = statusKB(gw.proc.pid(), "VmRSS")
	logf("memory run: %d requests", o.memRequests)
	// The bound on time: at least 100 requests/s, or 20 minutes, whichever is shorter.
	bound := min(time.Duration(o.memRequests/100)*time.Second, 20*time.Minute)
	bound = max(bound, time.Minute)
	cpu0 := treeCPU(gw.proc.pid())
	r, err := wrkRun{URL: gw.base + "/es/orders", Threads: o.threads, Connections: o.connections, Duration: bound,
		Script: script, Tokens: file, TokenHeader: "Authorization",
		// Each thread sends its share plus its connections' worth, so that at least
		// memRequests complete (those in flight when a thread stops are not counted).
		Max: (o.memRequests+o.threads-1)/o.threads + (o.connections+o.threads-1)/o.threads}.run(ctx)
	if err != nil {
		return nil, err
	}
	cpu := treeCPU(gw.proc.pid()) - cpu0
	res.requests, res.elapsed, res.rps = r.Requests, r.Elapsed, r.RPS
	res.wrong, res.untagged, res.statuses = r.Wrong, r.Untagged, r.Statuses
	if r.Requests > 0 {
		res.cpuPerReq = cpu / time.Duration(r.Requests)
	}
	res.hwmKB, _ = statusKB(gw.proc.pid(), "VmHWM")
	res.rssKB, _ = statusKB(gw.proc.pid(), "VmRSS")
	if res.evictions, err = gw.metric("gatehouse_cache_evictions_total"); err != nil {
		return nil, fmt.Errorf("scrape /metrics: %w", err)
	}
	res.cacheHits, _ = gw.metricLabel("gatehouse_cache_requests_total", `result="hit"`)
	res.cacheMisses, _ = gw.metricLabel("gatehouse_cache_requests_total", `result="miss"`)
	return res, nil
}
