// Command profiled runs the gateway exactly as `gatehouse serve` does (the same
// internal/app code, configuration and logs) plus a net/http/pprof listener, so the load
// harness can take CPU and allocation profiles of the gateway under load. The gateway
// itself has no pprof endpoint; this program exists for `go run ./bench -profile DIR`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof on http.DefaultServeMux
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/app"
	"github.com/gatehouse-dev/gatehouse/internal/config"
)

func main() {
	path := flag.String("config", "gatehouse.yaml", "the configuration `FILE`")
	pprofAddr := flag.String("pprof", "127.0.0.1:0", "net/http/pprof listen `ADDR`")
	flag.Parse()
	if err := run(*path, *pprofAddr); err != nil {
		fmt.Fprintln(os.Stderr, "profiled:", err)
		os.Exit(1)
	}
}

func run(path, pprofAddr string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := config.Load(path, os.Getenv)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", pprofAddr)
	if err != nil {
		return err
	}
	ps := &http.Server{Handler: http.DefaultServeMux, ReadHeaderTimeout: 10 * time.Second}
	go ps.Serve(ln)
	defer ps.Close()
	fmt.Printf("pprof %s\n", ln.Addr())

	log := app.NewLogger(os.Stderr, cfg.Log)
	rt, err := app.Build(cfg, app.Options{Logger: log})
	if err != nil {
		return err
	}
	srv, err := app.Listen(rt, log)
	if err != nil {
		rt.Close()
		return err
	}
	if err := srv.Serve(ctx, nil); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
