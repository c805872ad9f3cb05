package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a process the harness started. Its output goes to a log file in the work
// directory, and lines are matched against what the harness waits for.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}

	mu    sync.Mutex
	head  bytes.Buffer // the first 64 KiB of output, for waitFor and error reports
	lines chan struct{}
}

// procs are every process started, stopped in reverse order by stopAll.
var (
	procsMu sync.Mutex
	procs   []*proc
)

// startProc runs bin with args; its stdout and stderr go to DIR/NAME.log (only the first
// 64 KiB is kept in memory, so a chatty gateway costs the harness nothing).
func startProc(dir, name, bin string, args ...string) (*proc, error) {
	p := &proc{name: name, done: make(chan struct{}), lines: make(chan struct{}, 1)}
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Dir = dir
	pr, pw, err := os.Pipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	p.cmd.Stdout, p.cmd.Stderr = pw, pw
	// A process group of its own, so stopping it also stops what it forked (nginx
	// workers) and a Ctrl-C at the terminal reaches the harness first.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	pw.Close()
	procsMu.Lock()
	procs = append(procs, p)
	procsMu.Unlock()
	go func() {
		buf := make([]byte, 32<<10)
		for {
			n, err := pr.Read(buf)
			if n > 0 {
				logf.Write(buf[:n])
				p.mu.Lock()
				if p.head.Len() < 64<<10 {
					p.head.Write(buf[:n])
					select {
					case p.lines <- struct{}{}:
					default:
					}
				}
				p.mu.Unlock()
			}
			if err != nil {
				break
			}
		}
		pr.Close()
		logf.Close()
	}()
	go func() {
		p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.head.String()
}

// waitFor waits until re matches the process's output and returns the submatches.
func (p *proc) waitFor(re *regexp.Regexp, timeout time.Duration) ([]string, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		if m := re.FindStringSubmatch(p.output()); m != nil {
			return m, nil
		}
		select {
		case <-p.lines:
		case <-p.done:
			if m := re.FindStringSubmatch(p.output()); m != nil {
				return m, nil
			}
			return nil, fmt.Errorf("%s exited early:\n%s", p.name, p.output())
		case <-deadline.C:
			return nil, fmt.Errorf("%s: timed out waiting for %s:\n%s", p.name, re, p.output())
		}
	}
}

// stop sends SIGTERM to the process group, then SIGKILL after a grace period.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	syscall.Kill(-p.pid(), syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		syscall.Kill(-p.pid(), syscall.SIGKILL)
		<-p.done
	}
}

// stopAll stops every process the harness started, newest first.
func stopAll() {
	procsMu.Lock()
	ps := append([]*proc(nil), procs...)
	procs = nil
	procsMu.Unlock()
	for i := len(ps) - 1; i >= 0; i-- {
		ps[i].stop()
	}
}

// clockTick is USER_HZ, the unit of utime and stime in /proc/PID/stat.
var clockTick = func() float64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(out))); err == nil && n > 0 {
			return float64(n)
		}
	}
	return 100
}()

// statFields returns the fields of /proc/PID/stat after the command name.
func statFields(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	// The command name is in parentheses and may hold spaces: split after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	return strings.Fields(string(b[i+1:])), nil
}

// cpuOf returns the CPU time (user + system) pid has used. Fields after the name start
// at field 3 (state), so utime (field 14) and stime (15) are at indexes 11 and 12.
func cpuOf(pid int) (time.Duration, error) {
	f, err := statFields(pid)
	if err != nil {
		return 0, err
	}
	if len(f) < 13 {
		return 0, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(f))
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	s, _ := strconv.ParseFloat(f[12], 64)
	return time.Duration((u + s) / clockTick * float64(time.Second)), nil
}

// treeCPU is the CPU time of pid and every descendant (nginx's workers, say).
func treeCPU(pid int) time.Duration {
	var total time.Duration
	for _, p := range descendants(pid) {
		if c, err := cpuOf(p); err == nil {
			total += c
		}
	}
	return total
}

// descendants returns pid and its descendants, by walking /proc's parent links.
func descendants(root int) []int {
	parent := map[int]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		f, err := statFields(pid)
		if err != nil || len(f) < 2 {
			continue
		}
		pp, _ := strconv.Atoi(f[1])
		parent[pid] = pp
	}
	out := []int{root}
	for changed := true; changed; {
		changed = false
		for pid, pp := range parent {
			if containsInt(out, pp) && !containsInt(out, pid) {
				out = append(out, pid)
				changed = true
			}
		}
	}
	return out
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// statusKB reads a "Name: N kB" line of /proc/PID/status (VmHWM, VmRSS).
func statusKB(pid int, name string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+":"); ok {
			v = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB"))
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no %s", pid, name)
}

// run runs a command to completion with a deadline, returning its stdout.
func run(ctx context.Context, dir string, stdin io.Reader, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Stdin = stdin
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w\n%s", filepath.Base(name), strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}
