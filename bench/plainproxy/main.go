// Command plainproxy is the load harness's baseline: a plain net/http/httputil
// ReverseProxy in front of one upstream, with no authentication. Every other row of the
// benchmark table is a ratio to it.
//
// With -transport tuned (the default) its transport keeps idle upstream connections as
// Gatehouse's does (internal/proxy.NewTransport: MaxIdleConns 1024, MaxIdleConnsPerHost
// 256, IdleConnTimeout 90s, dial timeout 5s and keep-alive 30s, ExpectContinueTimeout
// 1s), so the ratio compares like with like. With -transport default it uses
// http.DefaultTransport (two idle connections per host), which under 32 client
// connections opens a new upstream connection for most requests: the harness keeps it as
// an extra row, labelled as such, never as the baseline.
//
// With -tls-cert and -tls-key it serves TLS, with HTTP/2 as net/http offers it.
//
// It prints "listening ADDR" on stdout once it accepts connections.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen `ADDR`")
	upstream := flag.String("upstream", "", "upstream `URL`, such as http://127.0.0.1:9000")
	transport := flag.String("transport", "tuned", "upstream transport: tuned (idle connections kept as Gatehouse keeps them) or default (http.DefaultTransport)")
	certFile := flag.String("tls-cert", "", "serve TLS (and HTTP/2) with this certificate `FILE`")
	keyFile := flag.String("tls-key", "", "the private key `FILE` of -tls-cert")
	flag.Parse()
	u, err := url.Parse(*upstream)
	if err != nil || u.Host == "" {
		fmt.Fprintln(os.Stderr, "plainproxy: -upstream must be an http URL")
		os.Exit(2)
	}
	var rt http.RoundTripper
	switch *transport {
	case "tuned":
		// The settings of internal/proxy.NewTransport, written out: the baseline must
		// not import the code it is compared with.
		rt = &http.Transport{
			Proxy:                 nil,
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:          1024,
			MaxIdleConnsPerHost:   256,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   5 * time.Second,
			ExpectContinueTimeout: 1 * time.Second,
			ResponseHeaderTimeout: 30 * time.Second,
		}
	case "default":
		rt = http.DefaultTransport
	default:
		fmt.Fprintln(os.Stderr, "plainproxy: -transport must be tuned or default")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "plainproxy:", err)
		os.Exit(1)
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.SetXForwarded()
		},
		Transport: rt,
	}
	srv := &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	fmt.Printf("listening %s\n", ln.Addr())
	serve := func() error { return srv.Serve(ln) }
	if *certFile != "" {
		serve = func() error { return srv.ServeTLS(ln, *certFile, *keyFile) }
	}
	if err := serve(); err != nil {
		fmt.Fprintln(os.Stderr, "plainproxy:", err)
		os.Exit(1)
	}
}
