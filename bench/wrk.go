package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// wrkRun is one wrk invocation.
type wrkRun struct {
	URL         string
	Threads     int
	Connections int
	Duration    time.Duration
	Script      string   // path of bench.lua
	Headers     []string // "Name: value"
	Tokens      string   // tokens file, or ""
	TokenHeader string
	Expect      int // status every response must have, without a tokens file
	Max         int // requests per thread, 0 for no limit
}

// wrkResult is what wrk printed, parsed.
type wrkResult struct {
	Requests     int64
	Elapsed      time.Duration
	RPS          float64
	P50, P99     time.Duration
	Statuses     map[int]int64
	Wrong        int64 // responses whose status was not the expected one
	Untagged     int64 // responses without the request id tag (tokens rows only)
	SocketErrors int64
	Raw          string
}

// run runs wrk and parses its output.
func (w wrkRun) run(ctx context.Context) (wrkResult, error) {
	args := []string{
		"-t", strconv.Itoa(w.Threads), "-c", strconv.Itoa(w.Connections),
		"-d", fmt.Sprintf("%ds", int(w.Duration.Seconds())), "--latency", "--timeout", "10s",
		"-s", w.Script, w.URL,
	}
	// Bound the run: wrk's own duration plus a margin for start and the summary.
	ctx, cancel := context.WithTimeout(ctx, w.Duration+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "wrk", args...)
	cmd.Env = append(os.Environ(),
		"BENCH_HEADERS="+strings.Join(w.Headers, "\n"),
		"BENCH_TOKENS="+w.Tokens,
		"BENCH_TOKEN_HEADER="+w.TokenHeader,
		"BENCH_EXPECT="+strconv.Itoa(w.Expect),
		"BENCH_MAX="+strconv.Itoa(w.Max),
	)
	var out []byte
	var err error
	if w.Max > 0 {
		out, err = runUntilThreadsDone(cmd, w.Threads)
	} else {
		out, err = cmd.CombinedOutput()
	}
	if err != nil {
		return wrkResult{Raw: string(out)}, fmt.Errorf("wrk %s: %w\n%s", w.URL, err, out)
	}
	r, err := parseWrk(string(out))
	if err != nil {
		return r, fmt.Errorf("wrk %s: %w\n%s", w.URL, err, out)
	}
	return r, nil
}

var (
	reRequests = regexp.MustCompile(`(?m)^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h),`)
	reRPS      = regexp.MustCompile(`(?m)^Requests/sec:\s+([\d.]+)`)
	rePct      = regexp.MustCompile(`(?m)^\s+(50|75|90|99)(?:\.000)?%\s+([\d.]+)(us|ms|s|m)\s*$`)
	reSocket   = regexp.MustCompile(`(?m)^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	reStatus   = regexp.MustCompile(`(?m)^bench-status (\d+) (\d+)$`)
	reWrong    = regexp.MustCompile(`(?m)^bench-wrong (\d+)$`)
	reUntagged = regexp.MustCompile(`(?m)^bench-untagged (\d+)$`)
)

// parseWrk reads wrk's --latency report and the lines bench.lua's done() adds.
func parseWrk(out string) (wrkResult, error) {
	r := wrkResult{Statuses: map[int]int64{}, Raw: out}
	m := reRequests.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("parse wrk output: no \"N requests in T\" line")
	}
	r.Requests, _ = strconv.ParseInt(m[1], 10, 64)
	r.Elapsed = wrkDuration(m[2], m[3])
	m = reRPS.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("parse wrk output: no Requests/sec line")
	}
	r.RPS, _ = strconv.ParseFloat(m[1], 64)
	for _, p := range rePct.FindAllStringSubmatch(out, -1) {
		switch p[1] {
		case "50":
			r.P50 = wrkDuration(p[2], p[3])
		case "99":
			r.P99 = wrkDuration(p[2], p[3])
		}
	}
	if r.P50 == 0 || r.P99 == 0 {
		return r, fmt.Errorf("parse wrk output: no latency distribution (run wrk with --latency)")
	}
	if m := reSocket.FindStringSubmatch(out); m != nil {
		for _, s := range m[1:] {
			n, _ := strconv.ParseInt(s, 10, 64)
			r.SocketErrors += n
		}
	}
	for _, s := range reStatus.FindAllStringSubmatch(out, -1) {
		code, _ := strconv.Atoi(s[1])
		n, _ := strconv.ParseInt(s[2], 10, 64)
		r.Statuses[code] += n
	}
	if m := reWrong.FindStringSubmatch(out); m != nil {
		r.Wrong, _ = strconv.ParseInt(m[1], 10, 64)
	} else {
		return r, fmt.Errorf("parse wrk output: no bench-wrong line (is the script bench.lua?)")
	}
	if m := reUntagged.FindStringSubmatch(out); m != nil {
		r.Untagged, _ = strconv.ParseInt(m[1], 10, 64)
	}
	return r, nil
}

// wrkDuration converts wrk's "1.23ms" notation.
func wrkDuration(num, unit string) time.Duration {
	f, _ := strconv.ParseFloat(num, 64)
	mult := map[string]float64{"us": 1e3, "ms": 1e6, "s": 1e9, "m": 60e9, "h": 3600e9}[unit]
	return time.Duration(f * mult)
}

// wrkVersion returns wrk's version line.
func wrkVersion() string {
	out, _ := exec.Command("wrk", "-v").CombinedOutput()
	line, _, _ := strings.Cut(string(out), "\n")
	sc := bufio.NewScanner(strings.NewReader(line))
	if sc.Scan() {
		return strings.TrimSpace(sc.Text())
	}
	return "unknown"
}

// runUntilThreadsDone runs wrk and interrupts it once each of its threads has sent its
// quota (bench.lua prints "bench-thread-done"): wrk's main thread would otherwise sleep
// for the whole duration. SIGINT makes wrk stop and print its report.
func runUntilThreadsDone(cmd *exec.Cmd, threads int) ([]byte, error) {
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	waitErr := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		pw.Close()
		waitErr <- err
	}()
	var out bytes.Buffer
	sc := bufio.NewScanner(pr)
	done := 0
	for sc.Scan() {
		line := sc.Text()
		out.WriteString(line + "\n")
		if line == "bench-thread-done" {
			if done++; done == threads {
				cmd.Process.Signal(os.Interrupt)
			}
		}
	}
	io.Copy(io.Discard, pr)
	return out.Bytes(), <-waitErr
}
