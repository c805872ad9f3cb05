// Command upstream is the load harness's upstream: an HTTP server on 127.0.0.1 that
// answers every request with the same 100-byte body, so that what the harness measures
// is the proxy in front of it. A request with the query "size=N" gets N bytes instead
// (written from one 64 KiB buffer, so the upstream itself stays small for a 1 GiB body),
// and a POST's body is read to the end and its length answered. With -issuer-jwks it also serves an OpenID Connect
// discovery document and that JWK Set, for peers (oauth2-proxy) that find an issuer's
// keys by discovery.
//
// It prints "listening ADDR" on stdout once it accepts connections.
package main

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// body is the fixed response: 100 bytes, like a small JSON API answer.
var body = []byte(`{"id":"ord_0001","status":"shipped","total":4200,"currency":"EUR","items":3,"note":"bench payload"}` + "\n")

// filler is what a "size=N" response is written from.
var filler = bytes.Repeat([]byte("0123456789abcdef"), 4096)

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
		// The gateway names each request itself and repeats a client's X-Request-Id only
		// in its own refusals' bodies; the harness's tagged requests reach the upstream
		// with it, and get it back here, to check each allowed answer.
		if id := r.Header["X-Request-Id"]; len(id) > 0 {
			w.Header()["X-Bench-Request-Id"] = id
		}
		if r.URL.Path == "/ws" || strings.HasSuffix(r.URL.Path, "/ws") {
			echoWebSocket(w, r)
			return
		}
		if r.Method == http.MethodPost {
			n, err := io.Copy(io.Discard, r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			fmt.Fprintf(w, "%d\n", n)
			return
		}
		if r.URL.RawQuery != "" {
			if v := r.URL.Query().Get("size"); v != "" {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil || n < 0 {
					http.Error(w, "size must be a byte count", http.StatusBadRequest)
					return
				}
				w.Header().Set("Content-Type", "application/octet-stream")
				w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
				for n > 0 {
					k := min(n, int64(len(filler)))
					if _, err := w.Write(filler[:k]); err != nil {
						return
					}
					n -= k
				}
				return
			}
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

// echoWebSocket completes a WebSocket opening handshake (RFC 6455, section 4.2.2) and then
// echoes every byte it reads: the harness sends whole frames and reads them back, and no
// proxy between them parses frames, so echoing bytes is echoing frames.
func echoWebSocket(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Sec-WebSocket-Key")
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") || key == "" {
		http.Error(w, "not a WebSocket upgrade", http.StatusBadRequest)
		return
	}
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", base64.StdEncoding.EncodeToString(sum[:]))
	if err := brw.Flush(); err != nil {
		return
	}
	buf := make([]byte, 4096)
	for {
		n, err := brw.Read(buf)
		if n > 0 {
			if _, err := conn.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
