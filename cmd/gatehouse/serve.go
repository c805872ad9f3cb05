package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/gatehouse-dev/gatehouse/internal/app"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/logline"
)

func init() {
	register(command{name: "serve", summary: "run the gateway", run: runServe})
}

const serveUsage = `Usage: gatehouse serve [--config FILE]

Runs the gateway: the public listener proxies requests that pass their route's
authentication to the route's upstream, and the admin listener serves /healthz,
/readyz, /metrics (Prometheus) and /admin/decisions/ID (for gatehouse explain).
The configuration is validated first; every problem is printed with its line.

SIGHUP, or any change to the configuration file, reloads it atomically: the new file is
validated and compiled first, and if anything is wrong it is refused (every problem is
logged) while the running configuration keeps serving. Requests in flight finish on
the configuration they started with; authenticators whose settings did not change keep
their key sets and caches. SIGINT/SIGTERM drain in-flight requests for up to
shutdown_timeout, then exit 0.

Tracing: the tracing block, or the standard OTEL_EXPORTER_OTLP_ENDPOINT,
OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER(_ARG) and OTEL_EXPORTER_OTLP_HEADERS variables,
export OpenTelemetry traces over OTLP/HTTP; OTEL_SDK_DISABLED=true turns them off.

Flags:
`

func runServe(ctx context.Context, env *cliEnv, args []string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	path := fs.String("config", "gatehouse.yaml", "the configuration `FILE`")
	if code, ok := parseCommandFlags(fs, env, serveUsage, args); !ok {
		return code
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

// serveConfig builds and runs a gateway for cfg until ctx ends, reloading the
// configuration on SIGHUP and when its file changes. ready, when set, is told the bound
// addresses once both listeners are up.
func serveConfig(ctx context.Context, env *cliEnv, cfg *config.Config, ready func(s *app.Server)) int {
	log := app.NewLogger(env.stderr, cfg.Log)
	defer logline.Flush(log) // every line out before the process exits, on every path
	for _, w := range cfg.Warnings {
		log.Warn("configuration warning", "line", w.Line, "warning", w.Msg)
	}
	rt, err := app.Build(cfg, app.Options{Logger: log, Getenv: env.getenv})
	if err != nil {
		fmt.Fprintf(env.stderr, "gatehouse: %v\n", err)
		return 1
	}
	srv, err := app.Listen(rt, log)
	if err != nil {
		rt.Close()
		fmt.Fprintf(env.stderr, "gatehouse: %v\n", err)
		return 1
	}
	srv.Getenv = env.getenv
	if ready != nil {
		ready(srv)
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reload := make(chan struct{}, 1)
	go func() {
		for range hup {
			select {
			case reload <- struct{}{}:
			default:
			}
		}
	}()
	if err := srv.Serve(ctx, reload); err != nil {
		fmt.Fprintf(env.stderr, "gatehouse: %v\n", err)
		return 1
	}
	return 0
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
