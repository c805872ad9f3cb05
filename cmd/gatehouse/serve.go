package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/gatehouse-dev/gatehouse/internal/app"
	"github.com/gatehouse-dev/gatehouse/internal/config"
)

func init() {
	register(command{name: "serve", summary: "run the gateway", run: runServe})
}

const serveUsage = `Usage: gatehouse serve [--config FILE]

Runs the gateway: the public listener proxies requests that pass their route's
authentication to the route's upstream, and the admin listener serves /healthz and
/readyz. The configuration is validated first; every problem is printed with its line.
SIGINT/SIGTERM drain in-flight requests for up to shutdown_timeout, then exit 0.

Flags:
`

func runServe(ctx context.Context, env *cliEnv, args []string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	path := fs.String("config", "gatehouse.yaml", "the configuration `FILE`")
	fs.Usage = func() { fmt.Fprint(fs.Output(), serveUsage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		return usageExit(err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(env.stderr, "gatehouse serve: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	cfg, err := config.Load(*path, env.getenv)
	if err != nil {
		printConfigError(env.stderr, *path, err)
		return 1
	}
	return serveConfig(ctx, env, cfg, nil)
}

// serveConfig builds and runs a gateway for cfg until ctx ends. ready, when set, is told
// the bound addresses once both listeners are up.
func serveConfig(ctx context.Context, env *cliEnv, cfg *config.Config, ready func(s *app.Server)) int {
	log := app.NewLogger(env.stderr, cfg.Log)
	gw, err := app.Build(cfg, app.Options{Logger: log})
	if err != nil {
		fmt.Fprintf(env.stderr, "gatehouse: %v\n", err)
		return 1
	}
	srv, err := app.Listen(cfg, gw, log)
	if err != nil {
		fmt.Fprintf(env.stderr, "gatehouse: %v\n", err)
		return 1
	}
	if ready != nil {
		ready(srv)
	}
	if err := srv.Serve(ctx); err != nil {
		fmt.Fprintf(env.stderr, "gatehouse: %v\n", err)
		return 1
	}
	return 0
}

// usageExit maps a flag parsing error to an exit status: 0 for -h, 2 otherwise.
func usageExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 2
}

// printConfigError prints a configuration error, one problem per line as
// "FILE:LINE: message" (each problem names its own file: the configuration, or the .env
// beside it).
func printConfigError(w io.Writer, path string, err error) {
	var ce *config.Error
	if errors.As(err, &ce) {
		for _, p := range ce.Problems() {
			fmt.Fprintln(w, p.Error())
		}
		return
	}
	fmt.Fprintf(w, "%s: %v\n", path, err)
}
