// Command gatehouse is an authentication gateway for HTTP APIs, and a doctor that explains
// any 401 or 403. Each subcommand lives in its own file and registers itself in commands;
// only main calls os.Exit.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"

	"github.com/gatehouse-dev/gatehouse/internal/config"
)

// command is one subcommand. run gets the arguments after the subcommand's name and
// returns the process exit status.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *cliEnv, args []string) int
}

// cliEnv is the process environment a subcommand may use, so tests can run commands in
// process with their own streams.
type cliEnv struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string

	// jsonErrors is set when the command line asks for --json: failures are then printed
	// as one JSON object on stdout (see printFailure) instead of a line on stderr.
	jsonErrors bool
	// failureReported is set once printFailure has printed the JSON object.
	failureReported bool
}

var commands = map[string]command{}

func register(c command) {
	if _, dup := commands[c.name]; dup {
		panic("gatehouse: command registered twice: " + c.name)
	}
	commands[c.name] = c
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	env := &cliEnv{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
	code := run(ctx, env, os.Args[1:])
	stop()
	os.Exit(code)
}

// run dispatches to a subcommand. Exit status 2 means bad usage.
func run(ctx context.Context, env *cliEnv, args []string) int {
	if len(args) == 0 {
		usage(env.stderr)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help":
		usage(env.stdout)
		return 0
	case "help":
		// "gatehouse help keys create" is "gatehouse keys create --help".
		if len(args) == 1 {
			usage(env.stdout)
			return 0
		}
		c, ok := commands[args[1]]
		if !ok {
			fmt.Fprintf(env.stderr, "gatehouse help: unknown command %q\n\n", args[1])
			usage(env.stderr)
			return 2
		}
		return c.run(ctx, env, append(append([]string{}, args[2:]...), "--help"))
	}
	if args[0] == "--version" || args[0] == "-version" {
		return runVersion(ctx, env, args[1:])
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(env.stderr, "gatehouse: unknown command %q\n\n", args[0])
		usage(env.stderr)
		return 2
	}
	if !wantsJSON(args[1:]) {
		return c.run(ctx, env, args[1:])
	}
	return runWithJSONErrors(ctx, env, c, args[1:])
}

// wantsJSON reports whether a command line asks for JSON output (--json before any "--").
func wantsJSON(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "--json", "-json", "--json=true", "-json=true", "--json=1", "-json=1":
			return true
		}
	}
	return false
}

// runWithJSONErrors runs a command that was asked for --json so that a failure is also
// one JSON object on stdout, {"error": "...", "code": "usage"|"config"|"failed", ...},
// which a script can parse where it parses the result. The human message still goes to
// stderr, as without --json, and the exit status is the command's. Commands report
// structured failures with printFailure; any other failure (exit status other than 0
// with nothing on stdout) is turned into the object from what the command wrote to
// stderr.
func runWithJSONErrors(ctx context.Context, env *cliEnv, c command, args []string) int {
	inner := *env
	inner.jsonErrors = true
	var errText bytes.Buffer
	out := &countingWriter{w: env.stdout}
	inner.stdout = out
	inner.stderr = io.MultiWriter(env.stderr, &errText)
	code := c.run(ctx, &inner, args)
	if code == 0 || inner.failureReported || out.n > 0 {
		return code
	}
	kind := "failed"
	if code == 2 {
		kind = "usage"
	}
	writeFailureJSON(env.stdout, cliFailure{Error: firstParagraph(errText.String()), Code: kind, Command: commandName(c.name, args)})
	return code
}

// commandName is the command and, for a command group, its verb ("keys revoke").
func commandName(name string, args []string) string {
	if len(args) > 0 && verbWordRe.MatchString(args[0]) && slices.Contains(commandVerbs(name), args[0]) {
		return name + " " + args[0]
	}
	return name
}

// firstParagraph is a command's error text without its "gatehouse CMD: " prefix and
// without the usage text or "Run ... --help" hint that may follow it.
func firstParagraph(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n\n")
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "Run ") && strings.Contains(l, "--help") {
			continue
		}
		lines = append(lines, l)
	}
	s = strings.Join(lines, "\n")
	if m := errPrefixRe.FindStringIndex(s); m != nil {
		s = s[m[1]:]
	}
	if s == "" {
		s = "failed"
	}
	return s
}

var errPrefixRe = regexp.MustCompile(`^gatehouse [a-z -]+: `)

// countingWriter counts what a command wrote to stdout.
type countingWriter struct {
	w io.Writer
	n int
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += n
	return n, err
}

// cliFailure is the JSON object a command asked for --json prints on stdout when it
// fails.
type cliFailure struct {
	Error string `json:"error"`
	// Code is "usage" (exit status 2), "config" (the configuration has problems; exit
	// status 1) or "failed" (anything else; exit status 1).
	Code    string `json:"code"`
	Command string `json:"command"`
	// Problems are the configuration's problems when Code is "config".
	Problems []jsonProblem `json:"problems,omitempty"`
}

// jsonProblem is one configuration problem (or warning) in JSON.
type jsonProblem struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Path    string `json:"path"`
	Message string `json:"message"`
}

func problemsJSON(ps []config.Problem) []jsonProblem {
	out := make([]jsonProblem, 0, len(ps))
	for _, p := range ps {
		out = append(out, jsonProblem{File: p.Path, Line: p.Line, Path: p.Key, Message: p.Msg})
	}
	return out
}

func writeFailureJSON(w io.Writer, f cliFailure) {
	b, _ := json.Marshal(f)
	w.Write(append(b, '\n'))
}

// printFailure reports a failed command: "gatehouse CMD: message" on stderr and, when
// the command line asked for --json, the same as one JSON object on stdout. code is
// "usage" or "failed"; a configuration that failed to load makes it "config", with its
// problems listed.
func printFailure(env *cliEnv, cmd, code string, err error) {
	fmt.Fprintf(env.stderr, "gatehouse %s: %v\n", cmd, err)
	if !env.jsonErrors {
		return
	}
	f := cliFailure{Error: err.Error(), Code: code, Command: cmd}
	var ce *config.Error
	if errors.As(err, &ce) {
		f.Code = "config"
		f.Problems = problemsJSON(ce.Problems())
	}
	writeFailureJSON(env.stdout, f)
	env.failureReported = true
}

// subcommand is one verb of a command group ("keys create").
type subcommand func(ctx context.Context, env *cliEnv, args []string) int

// dispatch runs the verb args[0] of the command group name: its usage on -h (exit 0)
// or when the verb is missing or unknown (exit 2).
func dispatch(ctx context.Context, env *cliEnv, name, usage string, verbs map[string]subcommand, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(env.stderr, usage)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(env.stdout, usage)
		return 0
	}
	if run, ok := verbs[args[0]]; ok {
		return run(ctx, env, args[1:])
	}
	fmt.Fprintf(env.stderr, "gatehouse %s: unknown subcommand %q\n\n%s", name, args[0], usage)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprint(w, `gatehouse: an authentication gateway for HTTP APIs, and a doctor for any 401.

Usage:
  gatehouse <command> [flags]

Commands:
`)
	names := commandNames()
	width := 0
	for _, n := range names {
		width = max(width, len(n))
	}
	for _, n := range names {
		fmt.Fprintf(w, "  %-*s  %s\n", width, n, commands[n].summary)
	}
	fmt.Fprint(w, `
Run "gatehouse help <command>" or "gatehouse <command> --help" for a command's flags.
`)
}

// commandNames lists the registered commands in order.
func commandNames() []string {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// parseCommandFlags parses the flags of a command whose usage ends with its flag list:
// -h prints the usage and the flags on stdout (exit 0), bad flags print the error and
// the usage on stderr (exit 2). ok is false when the command should return code.
func parseCommandFlags(fs *flag.FlagSet, env *cliEnv, usage string, args []string) (code int, ok bool) {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	if err == nil {
		return 0, true
	}
	w, code := env.stderr, 2
	if errors.Is(err, flag.ErrHelp) {
		w, code = env.stdout, 0
	} else {
		fmt.Fprintf(w, "gatehouse %s: %v\n\n", fs.Name(), err)
	}
	fmt.Fprint(w, usage)
	fs.SetOutput(w)
	fs.PrintDefaults()
	return code, false
}
