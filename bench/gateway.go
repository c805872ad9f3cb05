package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// gateway is a running Gatehouse with its credentials.
type gateway struct {
	proc        *proc
	base, admin string
	pprof       string // with -profile
	apiKey      string
	password    string
	cfgPath     string
	cli         string // the gatehouse binary that manages the store
}

// startGateway writes cfg to dir, creates an API key and the Basic user "bench" with the
// CLI (as an operator would), starts `gatehouse serve` (or bench/profiled) and waits
// until /readyz says it can decide.
func startGateway(ctx context.Context, bin, dir, cfg string, profiled bool) (*gateway, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	// Ports are chosen here rather than read from the "listening" log line, which a
	// log level above info does not print.
	listen, err := freePort()
	if err != nil {
		return nil, err
	}
	admin, err := freePort()
	if err != nil {
		return nil, err
	}
	cfg = strings.NewReplacer("{{listen}}", listen, "{{admin}}", admin).Replace(cfg)
	cfgPath := filepath.Join(dir, "gatehouse.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	cli := bin
	if profiled {
		// bench/profiled only serves; the store is managed with the real CLI.
		cli = filepath.Join(filepath.Dir(bin), "gatehouse-cli")
		root, err := moduleRoot()
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(cli); err != nil {
			if _, err := run(ctx, root, nil, "go", "build", "-o", cli, "./cmd/gatehouse"); err != nil {
				return nil, err
			}
		}
	}
	pw := make([]byte, 12)
	rand.Read(pw)
	g := &gateway{password: hex.EncodeToString(pw), cfgPath: cfgPath, cli: cli}
	if _, err := run(ctx, dir, strings.NewReader(g.password+"\n"), cli, "users", "add", "--config", cfgPath, "--scopes", "orders:read", "bench"); err != nil {
		return nil, err
	}
	out, err := run(ctx, dir, nil, cli, "keys", "create", "--config", cfgPath, "--name", "bench", "--scopes", "orders:read", "--json")
	if err != nil {
		return nil, err
	}
	var k struct{ Key string }
	if err := json.Unmarshal([]byte(out), &k); err != nil || k.Key == "" {
		return nil, fmt.Errorf("keys create printed no key: %v", err)
	}
	g.apiKey = k.Key

	args := []string{"serve", "--config", cfgPath}
	if profiled {
		args = []string{"-config", cfgPath}
	}
	p, err := startProc(dir, "gatehouse", bin, args...)
	if err != nil {
		return nil, err
	}
	g.proc = p
	if err := waitListening(p, admin, 30*time.Second); err != nil {
		return nil, err
	}
	g.base, g.admin = "http://"+listen, "http://"+admin
	if profiled {
		pm, err := p.waitFor(regexp.MustCompile(`pprof (127\.0\.0\.1:\d+)`), 5*time.Second)
		if err != nil {
			return nil, err
		}
		g.pprof = "http://" + pm[1]
	}
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get(g.admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return g, nil
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("gatehouse not ready after 30s (last: %v)", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// metric returns the sum of every sample of a Prometheus metric family (all label sets).
func (g *gateway) metric(name string) (float64, error) { return g.metricLabel(name, "") }

// metricLabel returns the sum of the samples of name whose labels include label
// (`result="hit"`); an empty label matches every sample.
func (g *gateway) metricLabel(name, label string) (float64, error) {
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(g.admin + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	return sumMetric(string(b), name, label), nil
}

// decisionBuckets scrapes the decision-latency histogram
// (gatehouse_decision_duration_seconds), summed over routes: the cumulative count of
// decisions at or under each upper bound, in seconds (+Inf included).
func (g *gateway) decisionBuckets() (map[float64]float64, error) {
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(g.admin + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return histogramBuckets(string(b), "gatehouse_decision_duration_seconds"), nil
}

// histogramBuckets reads a histogram's buckets from a Prometheus text exposition,
// summing the series of every label set: upper bound -> cumulative count.
func histogramBuckets(text, name string) map[float64]float64 {
	out := map[float64]float64{}
	prefix := name + "_bucket{"
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		_, le, ok := strings.Cut(line, `le="`)
		if !ok {
			continue
		}
		bound, rest, ok := strings.Cut(le, `"`)
		if !ok {
			continue
		}
		f := strings.Fields(rest[strings.IndexByte(rest, '}')+1:])
		ub, err1 := strconv.ParseFloat(bound, 64) // "+Inf" parses as +Inf
		n, err2 := strconv.ParseFloat(firstOr(f, ""), 64)
		if err1 == nil && err2 == nil {
			out[ub] += n
		}
	}
	return out
}

func firstOr(f []string, def string) string {
	if len(f) == 0 {
		return def
	}
	return f[0]
}

// bucketQuantile is the upper bound of the first bucket holding quantile q of the
// decisions counted between two scrapes (before, after), or 0 when there were none.
func bucketQuantile(before, after map[float64]float64, q float64) float64 {
	bounds := make([]float64, 0, len(after))
	for ub := range after {
		bounds = append(bounds, ub)
	}
	sort.Float64s(bounds)
	if len(bounds) == 0 {
		return 0
	}
	total := after[bounds[len(bounds)-1]] - before[bounds[len(bounds)-1]]
	if total <= 0 {
		return 0
	}
	for _, ub := range bounds {
		if after[ub]-before[ub] >= q*total {
			return ub
		}
	}
	return bounds[len(bounds)-1]
}

// sumMetric adds up the samples of name in a Prometheus text exposition whose labels
// include label (any, when label is empty).
func sumMetric(text, name, label string) float64 {
	var total float64
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		if rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue // another metric whose name starts with name
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
		}
	}
	return total
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
