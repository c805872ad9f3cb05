package app

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/admin"
	"github.com/gatehouse-dev/gatehouse/internal/buildinfo"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/explain"
	"github.com/gatehouse-dev/gatehouse/internal/extauthz"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/logline"
	"google.golang.org/grpc"
)

// Server runs a Runtime's public and admin listeners.
type Server struct {
	// Getenv expands ${VAR} when the configuration is reloaded; nil means os.Getenv.
	Getenv func(string) string

	rt     *Runtime
	log    *slog.Logger
	public net.Listener
	admin  net.Listener
	ext    net.Listener  // the ext_authz gRPC listener; nil without one
	certs  *certReloader // nil without TLS
}

// Listen binds both listeners, so a caller learns their addresses (and a port in use is
// reported) before serving starts.
func Listen(rt *Runtime, log *slog.Logger) (*Server, error) {
	cfg := rt.Config()
	s := &Server{rt: rt, log: log}
	if cfg.TLS.Enabled() {
		c, err := newCertReloader(cfg.TLS, log)
		if err != nil {
			return nil, err
		}
		s.certs = c
	}
	pub, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	adm, err := net.Listen("tcp", cfg.AdminListen)
	if err != nil {
		pub.Close()
		return nil, fmt.Errorf("admin listen %s: %w", cfg.AdminListen, err)
	}
	if a, ok := adm.Addr().(*net.TCPAddr); ok && a.IP.IsUnspecified() {
		// Validation refuses every spelling of the wildcard it can see; this catches the
		// rest (a host name whose answer changed since, a Config built in code), since
		// the admin listener serves /metrics and the probes without authentication.
		adm.Close()
		pub.Close()
		return nil, fmt.Errorf("admin listen %s: bound %s, every interface: the admin listener must name an explicit address", cfg.AdminListen, a)
	}
	s.public, s.admin = pub, adm
	if cfg.ExtAuthz.Enabled() {
		ext, err := net.Listen("tcp", cfg.ExtAuthz.Listen)
		if err != nil {
			adm.Close()
			pub.Close()
			return nil, fmt.Errorf("ext_authz listen %s: %w", cfg.ExtAuthz.Listen, err)
		}
		s.ext = ext
	}
	return s, nil
}

// ExtAuthzAddr is the bound ext_authz address, or "" without an ext_authz listener.
func (s *Server) ExtAuthzAddr() string {
	if s.ext == nil {
		return ""
	}
	return s.ext.Addr().String()
}

// PublicAddr is the bound public address.
func (s *Server) PublicAddr() string { return s.public.Addr().String() }

// AdminAddr is the bound admin address.
func (s *Server) AdminAddr() string { return s.admin.Addr().String() }

// Serve runs until ctx ends, then drains in-flight requests for up to the configured
// shutdown timeout. Each value on reload (SIGHUP) and each change of the configuration
// file reloads the configuration; a configuration that fails to load or build is logged
// with every problem and refused, and the current one keeps serving.
func (s *Server) Serve(ctx context.Context, reload <-chan struct{}) error {
	cfg := s.rt.Config()
	errLog := slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)
	pub := &http.Server{
		Handler:           writeDeadline{s.rt},
		ConnContext:       connContext,
		ReadHeaderTimeout: 10 * time.Second,
		// A whole request body must arrive within ReadTimeout. Responses get a write
		// deadline that moves with each write (writeDeadline), not the fixed
		// http.Server.WriteTimeout, which would cut long streaming responses.
		ReadTimeout:    5 * time.Minute,
		IdleTimeout:    120 * time.Second,
		MaxHeaderBytes: serverHeaderLimit(cfg.MaxHeaderBytes),
		ErrorLog:       errLog,
	}
	if s.certs != nil {
		pub.TLSConfig = &tls.Config{
			MinVersion:     tls.VersionTLS12,
			GetCertificate: s.certs.get,
			NextProtos:     []string{"h2", "http/1.1"},
		}
		if usesMTLS(cfg) {
			// The mtls authenticator verifies the chain itself, so it can tell a
			// missing certificate from an untrusted one in the denial.
			pub.TLSConfig.ClientAuth = tls.RequestClientCert
		}
	}
	adm := &http.Server{
		Handler:           s.adminHandler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          errLog,
	}
	// Background work (key fetches, the revocation feed) outlives ctx until the drain
	// is over, so requests still in flight see revocations.
	bg, stopBackground := context.WithCancel(context.Background())
	s.rt.Start(bg)
	listening := []any{"listen", s.PublicAddr(), "admin_listen", s.AdminAddr()}
	if s.ext != nil {
		listening = append(listening, "ext_authz_listen", s.ExtAuthzAddr())
	}
	s.log.Info("gatehouse listening", append(listening, "routes", len(cfg.Routes), "tls", s.certs != nil)...)

	errc := make(chan error, 3)
	var grpcSrv *grpc.Server
	if s.ext != nil {
		var tc *tls.Config
		if s.certs != nil {
			tc = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: s.certs.get}
		}
		grpcSrv = extauthz.NewServer(extauthz.New(extauthz.Options{
			Handler:        func() *gateway.Handler { return s.rt.current.Load().Handler },
			MaxHeaderBytes: cfg.MaxHeaderBytes,
		}), tc)
		go func() { errc <- grpcSrv.Serve(s.ext) }()
	}
	go func() {
		if s.certs != nil {
			errc <- pub.ServeTLS(s.public, "", "")
			return
		}
		errc <- pub.Serve(s.public)
	}()
	go func() { errc <- adm.Serve(s.admin) }()
	var fileChanged <-chan struct{}
	if cfg.File != "" {
		fileChanged = watchFile(bg, cfg.File, time.Second)
	}

	var err error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err = <-errc:
			break loop
		case <-reload:
			s.reload("signal")
		case <-fileChanged:
			s.reload("file change")
		}
	}
	s.log.Info("gatehouse shutting down", "drain", s.rt.Config().ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), s.rt.Config().ShutdownTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, srv := range []*http.Server{pub, adm} {
		wg.Go(func() {
			if e := srv.Shutdown(sctx); e != nil {
				s.log.Warn("shutdown did not drain in time", "error", e)
				srv.Close()
			}
		})
	}
	if grpcSrv != nil {
		wg.Go(func() {
			done := make(chan struct{})
			go func() { grpcSrv.GracefulStop(); close(done) }()
			select {
			case <-done:
			case <-sctx.Done():
				s.log.Warn("shutdown did not drain the ext_authz listener in time")
				grpcSrv.Stop()
			}
		})
	}
	wg.Wait()
	stopBackground()
	if e := s.rt.Close(); e != nil {
		s.log.Warn("closing the credential store", "error", e)
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	s.log.Info("gatehouse stopped")
	logline.Flush(s.log)
	return err
}

// reload loads the configuration file again and swaps it in if it loads and builds.
func (s *Server) reload(why string) {
	path := s.rt.Config().File
	getenv := s.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	cfg, err := config.Load(path, getenv)
	if err != nil {
		var ce *config.Error
		if errors.As(err, &ce) {
			for _, p := range ce.Problems() {
				s.log.Error("configuration problem", "problem", p.Error())
			}
		}
		s.log.Error("configuration reload refused; the previous configuration keeps serving", "trigger", why, "error", err)
		s.rt.Metrics.ConfigReload("invalid")
		return
	}
	if err := s.rt.Reload(cfg); err != nil {
		s.log.Error("configuration reload failed; the previous configuration keeps serving", "trigger", why, "error", err)
		s.rt.Metrics.ConfigReload("error")
		return
	}
	if s.certs != nil {
		s.certs.setFiles(cfg.TLS)
	}
	s.rt.Metrics.ConfigReload("ok")
	s.log.Info("configuration reloaded", "trigger", why, "routes", len(cfg.Routes))
}

// serverHeaderLimit is the header limit given to net/http, above max_header_bytes. The
// gateway enforces max_header_bytes itself (gateway.Options.MaxHeaderBytes), so that an
// oversized request gets the problem body and reason every refusal has; net/http would
// answer a plain-text 431 before any handler runs. net/http's own limit stays as the
// backstop for what is far larger still (twice max_header_bytes, plus the 4 KiB net/http
// adds), so the memory a connection's headers may take stays bounded by the setting.
func serverHeaderLimit(maxHeaderBytes int) int { return 2 * maxHeaderBytes }

// writeDeadline gives each response a write deadline of write_timeout that moves
// forward with every write: a client that stops reading is cut off, while a streaming
// response (server-sent events, chunked downloads) that keeps writing is not.
//
// The deadline is re-armed only when less than three quarters of write_timeout is left
// (every write starts with at least that much time, and a stalled write is cut off
// within write_timeout). An HTTP/1 connection's requests are sequential and share its
// deadline, so the connection's state (connState, from http.Server.ConnContext)
// remembers it: on a keep-alive connection most requests find it far enough away and
// do not touch the connection's timer at all. HTTP/2 streams, which run concurrently
// on one connection, set their own deadline through http.ResponseController.
type writeDeadline struct{ rt *Runtime }

// connState is what writeDeadline keeps per HTTP/1 connection.
type connState struct {
	conn     net.Conn
	deadline time.Time // the write deadline last set on conn
}

type connStateKey struct{}

// connContext is the public server's ConnContext: it gives each connection its
// connState.
func connContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connStateKey{}, &connState{conn: c})
}

func (h writeDeadline) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d := h.rt.Config().WriteTimeout
	if d <= 0 {
		h.rt.ServeHTTP(w, r)
		return
	}
	dw := &deadlineWriter{ResponseWriter: w, d: d}
	if cs, ok := r.Context().Value(connStateKey{}).(*connState); ok && r.ProtoMajor == 1 {
		dw.conn = cs
	}
	if !dw.extend() {
		// The deadline cannot be set (a writer that does not support it): serve without.
		h.rt.ServeHTTP(w, r)
		return
	}
	h.rt.ServeHTTP(dw, r)
}

// deadlineWriter pushes the write deadline forward as the response is written.
type deadlineWriter struct {
	http.ResponseWriter
	d        time.Duration
	conn     *connState // HTTP/1: the connection's deadline; nil for HTTP/2
	deadline time.Time  // HTTP/2: the stream's deadline
}

// extend re-arms the write deadline when less than three quarters of d is left, and
// reports whether the deadline is set.
func (w *deadlineWriter) extend() bool {
	at := &w.deadline
	if w.conn != nil {
		at = &w.conn.deadline
	}
	now := time.Now()
	if at.Sub(now) >= w.d-w.d/4 {
		return true
	}
	var err error
	if w.conn != nil {
		err = w.conn.conn.SetWriteDeadline(now.Add(w.d))
	} else {
		err = http.NewResponseController(w.ResponseWriter).SetWriteDeadline(now.Add(w.d))
	}
	if err != nil {
		return false
	}
	*at = now.Add(w.d)
	return true
}

func (w *deadlineWriter) Write(b []byte) (int, error) {
	w.extend()
	return w.ResponseWriter.Write(b)
}

// Flush lets streaming responses through; ReverseProxy flushes after each chunk.
func (w *deadlineWriter) Flush() {
	w.extend()
	http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap exposes the underlying writer to http.ResponseController (hijacking for
// upgraded connections, deadlines).
func (w *deadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func usesMTLS(cfg *config.Config) bool {
	for _, a := range cfg.Authenticators {
		if a.Type == config.TypeMTLS {
			return true
		}
	}
	return false
}

func (s *Server) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", healthz(buildinfo.Read()))
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := s.rt.Ready(r.Context()); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "not ready: %v\n", err)
			return
		}
		io.WriteString(w, "ready\n")
	})
	metrics := s.rt.Metrics.Handler()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		s.rt.syncCacheMetrics()
		s.rt.syncOperatorMetrics()
		metrics.ServeHTTP(w, r)
	})
	// Everything under /admin/ (the admin API and the decisions lookup, which names
	// subjects and client addresses) needs an admin token; the probes and /metrics above
	// stay open for the orchestrator and the scraper.
	mux.Handle("/admin/", admin.Handler(admin.HandlerOptions{
		Service: func() *admin.Service {
			g := s.rt.current.Load()
			if g == nil || g.store == nil {
				return nil
			}
			return &admin.Service{Store: g.store, Config: g.Config}
		},
		Decisions: explain.Handler(s.rt.Ring),
		Log:       s.log.With("component", "admin"),
	}))
	return mux
}

// healthz answers 200 while the process runs, naming the build so that whoever checks
// liveness also sees which Gatehouse answered. The body is "ok\n" then the line of
// gatehouse version (a probe or script that reads only the first line still sees "ok"),
// or, when the Accept header asks for application/json, one JSON object: "status": "ok"
// beside the keys of gatehouse version --json.
func healthz(info buildinfo.Info) http.HandlerFunc {
	text := "ok\n" + info.String() + "\n"
	// Cannot fail: the fields are strings and a bool.
	body, _ := json.Marshal(struct {
		Status string `json:"status"`
		buildinfo.Info
	}{"ok", info})
	body = append(body, '\n')
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Vary", "Accept")
		w.Header().Set("Cache-Control", "no-store")
		if acceptsJSON(r.Header.Values("Accept")) {
			w.Header().Set("Content-Type", "application/json")
			w.Write(body)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, text)
	}
}

// acceptsJSON reports whether an Accept header lists application/json with a weight
// above zero. Anything else (no header, */*, text/plain, a value that does not parse)
// gets the text body, which every probe accepts.
func acceptsJSON(accept []string) bool {
	for _, v := range accept {
		for _, part := range strings.Split(v, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil || mt != "application/json" {
				continue
			}
			if q, ok := params["q"]; ok {
				if f, err := strconv.ParseFloat(q, 64); err != nil || f <= 0 {
					continue
				}
			}
			return true
		}
	}
	return false
}

// watchFile signals when the file at path changes (size, time or content), checking
// every interval until ctx ends. Editors that replace the file are seen as a change.
func watchFile(ctx context.Context, path string, interval time.Duration) <-chan struct{} {
	ch := make(chan struct{}, 1)
	stamp := func() [32]byte {
		b, err := os.ReadFile(path)
		if err != nil {
			return [32]byte{}
		}
		return sha256.Sum256(b)
	}
	last := stamp()
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if now := stamp(); now != last {
					last = now
					select {
					case ch <- struct{}{}:
					default:
					}
				}
			}
		}
	}()
	return ch
}

// certReloader serves the public certificate, reading the files again when they change.
// A file replaced by something that does not load is logged and the last good
// certificate keeps serving.
type certReloader struct {
	log *slog.Logger

	mu        sync.Mutex
	files     config.TLS
	cert      *tls.Certificate
	stamp     [2][]byte
	checkedAt time.Time
}

func newCertReloader(t config.TLS, log *slog.Logger) (*certReloader, error) {
	c := &certReloader{log: log, files: t}
	if err := c.load(); err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	return c, nil
}

func (c *certReloader) setFiles(t config.TLS) {
	c.mu.Lock()
	c.files = t
	c.checkedAt = time.Time{}
	c.mu.Unlock()
}

// load reads the pair; it holds c.mu or runs before c is shared.
func (c *certReloader) load() error {
	certPEM, err := os.ReadFile(c.files.CertFile)
	if err != nil {
		return err
	}
	keyPEM, err := os.ReadFile(c.files.KeyFile)
	if err != nil {
		return err
	}
	stamp := [2][]byte{sha(certPEM), sha(keyPEM)}
	if c.cert != nil && bytes.Equal(stamp[0], c.stamp[0]) && bytes.Equal(stamp[1], c.stamp[1]) {
		return nil
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return errors.New("the certificate and key files do not load as a pair")
	}
	c.cert, c.stamp = &pair, stamp
	return nil
}

func sha(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

// get is tls.Config.GetCertificate: it checks the files at most once a second.
func (c *certReloader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.checkedAt) >= time.Second {
		c.checkedAt = time.Now()
		old := c.cert
		if err := c.load(); err != nil {
			c.log.Error("tls certificate reload failed; serving the previous certificate", "cert_file", c.files.CertFile, "error", err)
		} else if c.cert != old {
			c.log.Info("tls certificate reloaded", "cert_file", c.files.CertFile)
		}
	}
	return c.cert, nil
}
