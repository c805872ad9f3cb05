// Command upstream is the load harness's upstream: an HTTP server on 127.0.0.1 that
// answers every request with the same 100-byte body, so that what the harness measures
// is the proxy in front of it. With -issuer-jwks it also serves an OpenID Connect
// discovery document and that JWK Set, for peers (oauth2-proxy) that find an issuer's
// keys by discovery.
//
// It prints "listening ADDR" on stdout once it accepts connections.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// body is the fixed response: 100 bytes, like a small JSON API answer.
var body = []byte(`{"id":"ord_0001","status":"shipped","total":4200,"currency":"EUR","items":3,"note":"bench payload"}` + "\n")

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen `ADDR`")
	jwks := flag.String("issuer-jwks", "", "serve this JWK Set `FILE` at /jwks.json with an OIDC discovery document naming this server as issuer")
	flag.Parse()
	if len(body) != 100 {
		fmt.Fprintf(os.Stderr, "upstream: body is %d bytes, want 100\n", len(body))
		os.Exit(1)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "upstream:", err)
		os.Exit(1)
	}
	issuer := "http://" + ln.Addr().String()
	var keys []byte
	if *jwks != "" {
		if keys, err = os.ReadFile(*jwks); err != nil {
			fmt.Fprintln(os.Stderr, "upstream:", err)
			os.Exit(1)
		}
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if keys != nil {
			switch r.URL.Path {
			case "/.well-known/openid-configuration":
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":%q,"authorization_endpoint":%q,"token_endpoint":%q,"response_types_supported":["code"],"subject_types_supported":["public"],"id_token_signing_alg_values_supported":["ES256","RS256"]}`,
					issuer, issuer+"/jwks.json", issuer+"/authorize", issuer+"/token")
				return
			case "/jwks.json":
				w.Header().Set("Content-Type", "application/json")
				w.Write(keys)
				return
			}
		}
		if strings.HasPrefix(r.URL.Path, "/_status/") {
			// Lets the harness check what reached the upstream, outside the timed runs.
			fmt.Fprintf(w, "subject=%s\n", r.Header.Get("X-Gatehouse-Subject"))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	fmt.Printf("listening %s\n", ln.Addr())
	if err := srv.Serve(ln); err != nil {
		fmt.Fprintln(os.Stderr, "upstream:", err)
		os.Exit(1)
	}
}
