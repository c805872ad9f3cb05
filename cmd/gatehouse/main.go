// Command gatehouse is an authentication gateway for HTTP APIs, and a doctor that explains
// any 401 or 403. Each subcommand lives in its own file and registers itself in commands;
// only main calls os.Exit.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
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
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(env.stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
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
	return c.run(ctx, env, args[1:])
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
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprint(w, `
Run "gatehouse <command> --help" for a command's flags.
`)
}
