package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"go.yaml.in/yaml/v3"
)

func init() {
	register(command{name: "config", summary: "check a configuration file, or print it with every default", run: runConfig})
}

const configUsage = `Usage:
  gatehouse config check [--config FILE] [--json] [--print] [FILE]

Subcommands:
  check    validate a configuration file and list every problem in it

Run "gatehouse config check --help" for details.
`

const configCheckUsage = `Usage:
  gatehouse config check [--config FILE] [--json] [--print] [FILE]

Loads the configuration exactly as "gatehouse serve" would: the .env file beside it,
${VAR} expansion from the environment, <key>_file secrets, every default. Files the
configuration names (secret files, jwks_file, ca_file) must be readable. The file is
--config FILE or the FILE argument, else $GATEHOUSE_CONFIG, else ./gatehouse.yaml.

On success prints "FILE: ok (N routes, M authenticators)" and exits 0, after any
warnings, one per line as FILE:LINE: warning: message on stderr (such as a
method-restricted route in front of a broader one: other methods get 405 there, or an
mtls authenticator without principal_from, whose default changed). Otherwise prints
every problem, one per line, as FILE:LINE: message on stderr (a problem in the .env
file names that file) and exits 1. Secret values are never printed. Bad usage exits 2.

Flags:
  --config FILE  the configuration to check (the same as the FILE argument)
  --json         print one JSON object on stdout instead:
                   {"ok": bool, "file": FILE,
                    "problems": [{"file", "line", "path", "message"}],
                    "warnings": [{"file", "line", "path", "message"}],
                    "config": {...}}   (with --print, when ok)
                 "path" is the configuration key a problem is about ("" when none).
  --print        also print the effective configuration: every default filled in,
                 every secret as [REDACTED] and the store URL's password as xxxxx
                 (YAML on stdout, or the "config" member with --json)
`

// runConfig dispatches the config subcommands.
func runConfig(ctx context.Context, env *cliEnv, args []string) int {
	return dispatch(ctx, env, "config", configUsage, map[string]subcommand{"check": runConfigCheck}, args)
}

// configCheckResult is the JSON of "config check --json".
type configCheckResult struct {
	OK       bool             `json:"ok"`
	File     string           `json:"file"`
	Problems []jsonProblem    `json:"problems"`
	Warnings []jsonProblem    `json:"warnings"`
	Config   *effectiveConfig `json:"config,omitempty"`
}

// runConfigCheck implements "gatehouse config check".
func runConfigCheck(_ context.Context, env *cliEnv, args []string) int {
	fs := flag.NewFlagSet("config check", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	file := fs.String("config", "", "")
	asJSON := fs.Bool("json", false, "")
	print := fs.Bool("print", false, "")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return cliUsageError(env, "config check", configCheckUsage, err)
	}
	switch {
	case len(pos) > 1:
		return cliUsageError(env, "config check", configCheckUsage, fmt.Errorf("want one FILE, got %d arguments", len(pos)))
	case len(pos) == 1 && *file != "" && pos[0] != *file:
		return cliUsageError(env, "config check", configCheckUsage, errors.New("give the file once: --config FILE or FILE"))
	case len(pos) == 1:
		*file = pos[0]
	case *file == "":
		*file = "gatehouse.yaml"
		if v := env.getenv("GATEHOUSE_CONFIG"); v != "" {
			*file = v
		}
	}
	c, err := config.Load(*file, env.getenv)
	var ce *config.Error
	if err != nil && !errors.As(err, &ce) {
		// Not a list of problems: report it as one, so --json keeps its shape.
		ce = nil
	}
	if *asJSON {
		res := configCheckResult{OK: err == nil, File: *file, Problems: []jsonProblem{}, Warnings: []jsonProblem{}}
		switch {
		case ce != nil:
			res.Problems = problemsJSON(ce.Problems())
		case err != nil:
			res.Problems = []jsonProblem{{File: *file, Message: err.Error()}}
		default:
			res.Warnings = problemsJSON(c.Warnings)
			if *print {
				res.Config = newEffectiveConfig(c)
			}
		}
		writeJSON(env.stdout, res)
		env.failureReported = true // the object above is the report, failure or not
		if err != nil {
			return 1
		}
		return 0
	}
	if err != nil {
		printConfigError(env.stderr, *file, err)
		return 1
	}
	for _, w := range c.Warnings {
		w.Msg = "warning: " + w.Msg
		fmt.Fprintln(env.stderr, w.Error())
	}
	if *print {
		var b bytes.Buffer
		enc := yaml.NewEncoder(&b)
		enc.SetIndent(2)
		if err := enc.Encode(newEffectiveConfig(c)); err != nil {
			return cliFail(env, "config check", err)
		}
		fmt.Fprintf(env.stdout, "# %s: ok (%s, %s); the effective configuration:\n%s", *file,
			plural(len(c.Routes), "route", "routes"), plural(len(c.Authenticators), "authenticator", "authenticators"), b.Bytes())
		return 0
	}
	fmt.Fprintf(env.stdout, "%s: ok (%s, %s)\n", *file,
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
