package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The churn run (-churn): the API-key route under wrk load while other API keys are
// revoked through the admin API every -churn-revoke and the configuration is reloaded
// (SIGHUP) every -churn-reload, against the same load without churn, in interleaved
// rounds. Every response of the load must be 200 (its key is never revoked); each
// revoked key is used once before its revocation (200, so that it is cached) and once
// after (401): those 401s are the only refusals expected.

type churnCounts struct {
	revoked, before200, after401, unexpected, reloads int
	firstErr                                          string
	propagation                                       []time.Duration // revocation until the first 401
}

// churnRun runs the comparison and returns its Markdown.
func churnRun(ctx context.Context, o options, gw *gateway, script, cli string) (string, error) {
	cfgPath := gw.cfgPath
	out, err := run(ctx, filepath.Dir(cfgPath), nil, cli, "admin-tokens", "create", "--config", cfgPath, "--name", "bench", "--json")
	if err != nil {
		return "", err
	}
	var at struct{ Token string }
	if err := json.Unmarshal([]byte(out), &at); err != nil || at.Token == "" {
		return "", fmt.Errorf("admin-tokens create printed no token: %v", err)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	admin := func(method, path string, body any) ([]byte, int, error) {
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, err := http.NewRequestWithContext(ctx, method, gw.admin+path, rd)
		if err != nil {
			return nil, 0, err
		}
		req.Header.Set("Authorization", "Bearer "+at.Token)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, 0, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return b, resp.StatusCode, err
	}
	use := func(key string) (int, error) {
		req, err := http.NewRequestWithContext(ctx, "GET", gw.base+"/key/orders", nil)
		if err != nil {
			return 0, err
		}
		req.Header.Set("X-API-Key", key)
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}

	// Enough keys to revoke one every interval for every churn round, made up front.
	perRound := int(o.duration/o.churnRevoke) + 2
	type key struct{ id, secret string }
	var pool []key
	logf("churn: creating %d API keys through the admin API", perRound*o.rounds)
	for i := range perRound * o.rounds {
		b, status, err := admin("POST", "/admin/v1/keys", map[string]any{"name": fmt.Sprintf("churn-%d", i), "scopes": []string{"orders:read"}})
		if err != nil || status != http.StatusCreated {
			return "", fmt.Errorf("create key through the admin API: status %d, %v: %s", status, err, firstLine(string(b)))
		}
		var k struct{ ID, Key string }
		if err := json.Unmarshal(b, &k); err != nil || k.ID == "" || k.Key == "" {
			return "", fmt.Errorf("admin API key create: %s", firstLine(string(b)))
		}
		pool = append(pool, key{k.ID, k.Key})
	}

	type cell struct {
		churn bool
		res   []wrkResult
		cpu   []time.Duration
		cnt   []churnCounts
	}
	cells := []*cell{{churn: false}, {churn: true}}
	next := 0
	for round := 1; round <= o.rounds; round++ {
		order := slices.Clone(cells)
		if round%2 == 0 {
			slices.Reverse(order)
		}
		for _, c := range order {
			if err := ctx.Err(); err != nil {
				return "", err
			}
			logf("churn round %d/%d: churn=%v", round, o.rounds, c.churn)
			var cnt churnCounts
			stop := make(chan struct{})
			var wg sync.WaitGroup
			if c.churn {
				keys := pool[next : next+perRound]
				next += perRound
				reloads0, _ := gw.metric("gatehouse_config_reloads_total")
				var mu sync.Mutex
				fail := func(format string, args ...any) {
					mu.Lock()
					defer mu.Unlock()
					cnt.unexpected++
					if cnt.firstErr == "" {
						cnt.firstErr = fmt.Sprintf(format, args...)
					}
				}
				if o.churnRevoke > 0 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						t := time.NewTicker(o.churnRevoke)
						defer t.Stop()
						for _, k := range keys {
							select {
							case <-stop:
								return
							case <-t.C:
							}
							if s, err := use(k.secret); err != nil || s != 200 {
								fail("key %s before revocation: %d %v", k.id, s, err)
							} else {
								mu.Lock()
								cnt.before200++
								mu.Unlock()
							}
							if b, s, err := admin("POST", "/admin/v1/keys/"+k.id+"/revoke", nil); err != nil || s != 200 {
								fail("revoke %s: %d %v %s", k.id, s, err, firstLine(string(b)))
								continue
							}
							revokedAt := time.Now()
							mu.Lock()
							cnt.revoked++
							mu.Unlock()
							// The contract is "refused within a second": poll every 20 ms
							// for up to 2 s and record when the key was first refused.
							wg.Add(1)
							go func() {
								defer wg.Done()
								for time.Since(revokedAt) < 2*time.Second {
									s, err := use(k.secret)
									if err == nil && s == 401 {
										mu.Lock()
										cnt.after401++
										cnt.propagation = append(cnt.propagation, time.Since(revokedAt))
										mu.Unlock()
										return
									}
									if err != nil || s != 200 {
										fail("key %s after revocation: %d %v", k.id, s, err)
										return
									}
									time.Sleep(20 * time.Millisecond)
								}
								fail("key %s still accepted 2s after its revocation", k.id)
							}()
						}
					}()
				}
				if o.churnReload > 0 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						t := time.NewTicker(o.churnReload)
						defer t.Stop()
						for {
							select {
							case <-stop:
								return
							case <-t.C:
								syscall.Kill(gw.proc.pid(), syscall.SIGHUP)
							}
						}
					}()
				}
				pid := gw.proc.pid()
				cpu0 := treeCPU(pid)
				res, err := wrkRun{URL: gw.base + "/key/orders", Threads: o.threads, Connections: o.connections, Duration: o.duration,
					Script: script, Headers: []string{"X-API-Key: " + gw.apiKey}, Expect: 200}.run(ctx)
				cpu1 := treeCPU(pid)
				close(stop)
				wg.Wait()
				reloads1, _ := gw.metric("gatehouse_config_reloads_total")
				cnt.reloads = int(reloads1 - reloads0)
				if err != nil {
					return "", err
				}
				c.res, c.cpu, c.cnt = append(c.res, res), append(c.cpu, cpu1-cpu0), append(c.cnt, cnt)
				continue
			}
			pid := gw.proc.pid()
			cpu0 := treeCPU(pid)
			res, err := wrkRun{URL: gw.base + "/key/orders", Threads: o.threads, Connections: o.connections, Duration: o.duration,
				Script: script, Headers: []string{"X-API-Key: " + gw.apiKey}, Expect: 200}.run(ctx)
			cpu1 := treeCPU(pid)
			if err != nil {
				return "", err
			}
			c.res, c.cpu = append(c.res, res), append(c.cpu, cpu1-cpu0)
		}
	}

	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("## Revocation and reload under load\n\n`go run ./bench -churn -rounds %d -d %s -c %d -churn-revoke %s -churn-reload %s`: the API-key route under wrk (-t%d -c%d), with and without churn in interleaved rounds; churn = one other API key revoked through the admin API every %s (each used once before, expecting 200, then every 20 ms after until refused, expecting 401 within 2 s) and SIGHUP every %s (0: none).\n\n",
		o.rounds, o.duration, o.connections, o.churnRevoke, o.churnReload, o.threads, o.connections, o.churnRevoke, o.churnReload)
	w("| load | req/s | p50 | p99 | p99 per round | CPU/req | load responses | revoked | 200 before / 401 after | unexpected | reloads |\n|---|---:|---:|---:|---|---:|---|---:|---|---:|---:|\n")
	var p99 [2]time.Duration
	for i, c := range cells {
		r := &row{res: c.res, cpu: c.cpu}
		s, ok := summarize(r)
		if !ok {
			continue
		}
		rounds := []string{}
		for _, x := range c.res {
			rounds = append(rounds, fmtDur(x.P99))
		}
		resp := fmtStatuses(s.statuses)
		if f := r.failed(); f != "" {
			resp = "FAILED: " + f + " (" + resp + ")"
		}
		p99[i] = s.p99
		name := "steady"
		rev, ba, unexp, rel := "", "", "", ""
		if c.churn {
			name = "churn"
			var t churnCounts
			for _, x := range c.cnt {
				t.revoked += x.revoked
				t.before200 += x.before200
				t.after401 += x.after401
				t.unexpected += x.unexpected
				t.reloads += x.reloads
				if t.firstErr == "" {
					t.firstErr = x.firstErr
				}
				t.propagation = append(t.propagation, x.propagation...)
			}
			rev, ba, unexp, rel = itoa(t.revoked), fmt.Sprintf("%d / %d", t.before200, t.after401), itoa(t.unexpected), itoa(t.reloads)
			if t.firstErr != "" {
				unexp += " (first: " + t.firstErr + ")"
			}
			if n := len(t.propagation); n > 0 {
				slices.Sort(t.propagation)
				ba += fmt.Sprintf(" (refused after p50 %s, max %s)", fmtDur(t.propagation[n/2]), fmtDur(t.propagation[n-1]))
			}
		}
		w("| %s | %.0f | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", name, s.rps, fmtDur(s.p50), fmtDur(s.p99), strings.Join(rounds, ", "), fmtDur(s.cpuPerReq), resp, rev, ba, unexp, rel)
	}
	if p99[0] > 0 {
		d := float64(p99[1])/float64(p99[0]) - 1
		verdict := "pass"
		if d > 0.20 {
			verdict = "**FAIL**"
		}
		w("\np99 under churn vs steady (medians of the rounds): %+.0f%% (target within +20%%): %s\n\n", 100*d, verdict)
	}
	return b.String(), nil
}
