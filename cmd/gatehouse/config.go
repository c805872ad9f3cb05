package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/gatehouse-dev/gatehouse/internal/config"
)

func init() {
	register(command{name: "config", summary: "check a configuration file", run: runConfig})
}

const configUsage = `Usage:
  gatehouse config check FILE

Subcommands:
  check    validate a configuration file and list every problem in it

Run "gatehouse config check --help" for details.
`

const configCheckUsage = `Usage:
  gatehouse config check FILE

Loads FILE exactly as "gatehouse serve" would: the .env file beside it, ${VAR}
expansion from the environment, <key>_file secrets, every default. Files the
configuration names (secret files, jwks_file, ca_file) must be readable.

On success prints "FILE: ok (N routes, M authenticators)" and exits 0,
after any warnings, one per line as FILE:LINE: warning: message on stderr
(such as a method-restricted route in front of a broader one: other methods
get 405 there, or an mtls authenticator without principal_from, whose default
changed). Otherwise prints every problem, one per line, as FILE:LINE: message on stderr
(a problem in the .env file names that file) and exits 1. Secret values are
never printed. Bad usage exits 2.
`

// runConfig dispatches the config subcommands.
func runConfig(_ context.Context, env *cliEnv, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(env.stderr, configUsage)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(env.stdout, configUsage)
		return 0
	case "check":
		return runConfigCheck(env, args[1:])
	}
	fmt.Fprintf(env.stderr, "gatehouse config: unknown subcommand %q\n\n%s", args[0], configUsage)
	return 2
}

// runConfigCheck implements "gatehouse config check FILE".
func runConfigCheck(env *cliEnv, args []string) int {
	fs := flag.NewFlagSet("gatehouse config check", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(env.stdout, configCheckUsage)
			return 0
		}
		fmt.Fprintf(env.stderr, "gatehouse config check: %v\n\n%s", err, configCheckUsage)
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintf(env.stderr, "gatehouse config check: want exactly one FILE, got %d arguments\n\n%s", fs.NArg(), configCheckUsage)
		return 2
	}
	file := fs.Arg(0)
	c, err := config.Load(file, env.getenv)
	if err != nil {
		printConfigError(env.stderr, file, err)
		return 1
	}
	for _, w := range c.Warnings {
		w.Msg = "warning: " + w.Msg
		fmt.Fprintln(env.stderr, w.Error())
	}
	fmt.Fprintf(env.stdout, "%s: ok (%s, %s)\n", file,
		plural(len(c.Routes), "route", "routes"), plural(len(c.Authenticators), "authenticator", "authenticators"))
	return 0
}

// plural formats a count with the right form of its noun.
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
