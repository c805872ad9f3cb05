package doctor

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/challenge"
)

// prober sends requests and records what the transport saw. It never follows redirects
// (the hop walk does) and reads at most maxBody bytes of any body.
type prober struct {
	client  *http.Client
	tr      *http.Transport
	timeout time.Duration
	maxBody int64
	now     func() time.Time
	ua      string
}

type connKey struct{}

// connRecorder collects P7 facts for one request; the TLS callbacks find it through the
// request's context.
type connRecorder struct {
	mu sync.Mutex
	ConnFacts
}

func newProber(o Options) (*prober, error) {
	var clientCert *tls.Certificate
	if o.CertFile != "" {
		keyFile := o.KeyFile
		if keyFile == "" {
			keyFile = o.CertFile // curl --cert with the key in the same PEM file
		}
		c, err := tls.LoadX509KeyPair(o.CertFile, keyFile)
		if err != nil {
			return nil, usageErr("--cert/--key: %v (both PEM; the key unencrypted)", certErr(err))
		}
		clientCert = &c
	} else if o.KeyFile != "" {
		return nil, usageErr("--key needs --cert")
	}
	tlsConf := &tls.Config{
		InsecureSkipVerify: o.Insecure, //nolint:gosec // the user asked for it, as with curl --insecure
		// The server asked for a client certificate only when this is called; record
		// that (and the CAs it accepts), and present --cert's, or none, as curl would.
		GetClientCertificate: func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
			if rec, ok := cri.Context().Value(connKey{}).(*connRecorder); ok {
				rec.mu.Lock()
				rec.ClientCertRequested = true
				rec.AcceptableCAs = caNames(cri.AcceptableCAs)
				rec.ClientCertSent = clientCert != nil
				rec.mu.Unlock()
			}
			if clientCert != nil {
				return clientCert, nil
			}
			return &tls.Certificate{}, nil
		},
	}
	caFile := o.CACertFile
	if caFile == "" {
		caFile = o.Getenv("SSL_CERT_FILE")
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, usageErr("read CA file: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, usageErr("read CA file %s: no PEM certificate in it", caFile)
		}
		tlsConf.RootCAs = pool
	}
	dialer := &net.Dialer{Timeout: o.Timeout, KeepAlive: 30 * time.Second}
	proxy := proxyFunc(o.Getenv)
	if o.Proxy != "" {
		pu, err := parseProxyFlag(o.Proxy)
		if err != nil {
			return nil, err
		}
		proxy = http.ProxyURL(pu)
	}
	tr := &http.Transport{
		Proxy:                  recordProxy(proxy),
		DialContext:            dialer.DialContext,
		TLSClientConfig:        tlsConf,
		TLSHandshakeTimeout:    o.Timeout,
		ResponseHeaderTimeout:  o.Timeout,
		ForceAttemptHTTP2:      true,
		DisableCompression:     true, // see the bytes the server sent, as curl does
		MaxResponseHeaderBytes: 1 << 20,
		MaxIdleConnsPerHost:    2,
		OnProxyConnectResponse: func(ctx context.Context, _ *url.URL, _ *http.Request, resp *http.Response) error {
			if rec, ok := ctx.Value(connKey{}).(*connRecorder); ok {
				rec.mu.Lock()
				rec.ProxyStatus = resp.StatusCode
				rec.ProxyHeader = resp.Header.Clone()
				rec.mu.Unlock()
			}
			return nil
		},
	}
	return &prober{
		client: &http.Client{
			Transport: tr,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
		tr:      tr,
		timeout: o.Timeout,
		maxBody: o.MaxBodyBytes,
		now:     o.Now,
		ua:      o.UserAgent,
	}, nil
}

func (p *prober) close() { p.tr.CloseIdleConnections() }

// certErr keeps a key-pair error's reason without file contents.
func certErr(err error) string {
	msg := err.Error()
	if len(msg) > 200 {
		msg = msg[:200]
	}
	return msg
}

// parseProxyFlag reads --proxy as curl does: a URL, or host:port meaning http://host:port.
func parseProxyFlag(raw string) (*url.URL, error) {
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, usageErr("--proxy wants http://host:port")
	}
	switch u.Scheme {
	case "http", "https", "socks5", "socks5h":
	default:
		return nil, usageErr("--proxy: scheme %s is not supported (http, https, socks5)", u.Scheme)
	}
	return u, nil
}

// caNames renders the DER-encoded distinguished names of a CertificateRequest.
func caNames(raw [][]byte) []string {
	var out []string
	for _, der := range raw {
		var seq pkix.RDNSequence
		if rest, err := asn1.Unmarshal(der, &seq); err != nil || len(rest) > 0 {
			continue
		}
		var n pkix.Name
		n.FillFromRDNSequence(&seq)
		out = append(out, n.String())
	}
	return out
}

// send makes one request with exactly the given headers and returns the exchange.
func (p *prober) send(ctx context.Context, probe, method string, u *url.URL, hdrs []Header, body string, hasBody, cred bool) *Exchange {
	ex := &Exchange{Probe: probe, Method: method, URL: u, Sent: hdrs, CredentialSent: cred}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	rec := &connRecorder{}
	ctx = context.WithValue(ctx, connKey{}, rec)
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			rec.mu.Lock()
			rec.Reused = info.Reused
			rec.mu.Unlock()
		},
	})
	var rdr io.Reader
	if hasBody {
		rdr = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rdr)
	if err != nil {
		ex.Err, ex.ErrKind = fmt.Errorf("build request: %w", stripURLFromErr(err)), ErrInvalidRequest
		return ex
	}
	setHeaders(req, hdrs, p.ua)
	resp, err := p.client.Do(req)
	ex.At = p.now()
	rec.mu.Lock()
	ex.Conn = rec.ConnFacts
	rec.mu.Unlock()
	if err != nil {
		ex.ErrKind, ex.Err = classifyErr(err, rec)
		return ex
	}
	defer resp.Body.Close()
	ex.Conn.Proto = resp.Proto
	ex.Conn.TLS = resp.TLS != nil
	ex.Resp = p.readResponse(resp)
	return ex
}

// setHeaders copies headers onto req without canonicalising names, so that a name is
// sent the way the user typed it ("api_key" stays "api_key").
func setHeaders(req *http.Request, hdrs []Header, ua string) {
	haveUA := false
	for _, h := range hdrs {
		switch {
		case strings.EqualFold(h.Name, "Host"):
			req.Host = h.Value
			continue
		case strings.EqualFold(h.Name, "Content-Length"):
			continue
		case strings.EqualFold(h.Name, "User-Agent"):
			haveUA = true
			// An empty User-Agent is kept in the map so Go sends none at all.
			req.Header["User-Agent"] = append(req.Header["User-Agent"], h.Value)
			continue
		}
		req.Header[h.Name] = append(req.Header[h.Name], h.Value)
	}
	if !haveUA {
		req.Header["User-Agent"] = []string{ua}
	}
}

// readResponse copies what the doctor needs and reads a bounded prefix of the body.
func (p *prober) readResponse(resp *http.Response) *Response {
	r := &Response{
		Status: resp.StatusCode,
		Proto:  resp.Proto,
		Header: resp.Header.Clone(),
	}
	_, r.StatusText, _ = strings.Cut(resp.Status, " ")
	body, err := io.ReadAll(io.LimitReader(resp.Body, p.maxBody+1))
	if int64(len(body)) > p.maxBody {
		body, r.BodyTruncated = body[:p.maxBody], true
	}
	_ = err // a body cut short is still evidence; what was read is kept
	r.Body = body
	parseChallenges(r)
	return r
}

// parseChallenges runs P4 on a response's WWW-Authenticate and Proxy-Authenticate fields
// with the strict RFC 9110 grammar: a field it refuses leaves Challenges nil and sets
// ChallengeErr, and what the lenient parser salvages (a comma after the scheme, a
// repeated parameter) is kept apart, only as evidence.
func parseChallenges(r *Response) {
	if f := r.Header.Values("WWW-Authenticate"); len(f) > 0 {
		r.Challenges, r.ChallengeErr, r.LenientChallenges = parseStrict(f)
	}
	if f := r.Header.Values("Proxy-Authenticate"); len(f) > 0 {
		r.ProxyChallenges, r.ProxyChallengeErr, _ = parseStrict(f)
	}
}

func parseStrict(fields []string) (cs []challenge.Challenge, se *challenge.SyntaxError, lenient []challenge.Challenge) {
	cs, err := challenge.ParseChallengesStrict(fields)
	if err == nil {
		return cs, nil, nil
	}
	if !errors.As(err, &se) {
		return nil, nil, nil
	}
	if l, lerr := challenge.ParseChallenges(fields); lerr == nil {
		lenient = l
	}
	return nil, se, lenient
}

// classifyErr turns a transport error into a kind and a message that never contains
// the URL (which may hold a credential in its query).
func classifyErr(err error, rec *connRecorder) (ErrKind, error) {
	err = stripURLFromErr(err)
	msg := err.Error()
	var (
		opErr   *net.OpError
		dnsErr  *net.DNSError
		certErr *tls.CertificateVerificationError
		alert   tls.AlertError
		recErr  tls.RecordHeaderError
	)
	switch {
	case strings.Contains(msg, "invalid header field"), strings.Contains(msg, "invalid header"):
		return ErrInvalidRequest, err
	case rec.ProxyStatus != 0 && rec.ProxyStatus != 200:
		return ErrProxy, err
	case strings.HasPrefix(msg, "proxyconnect"):
		return ErrProxy, err
	case errors.As(err, &certErr), errors.As(err, &alert), errors.As(err, &recErr),
		strings.Contains(msg, "tls:"), strings.Contains(msg, "x509:"):
		return ErrTLS, err
	case errors.Is(err, context.DeadlineExceeded), isTimeout(err):
		return ErrTimeout, err
	case errors.As(err, &dnsErr):
		return ErrDial, err
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return ErrDial, err
	}
	return ErrProtocol, err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// proxyFunc resolves the proxy for a request from HTTP_PROXY, HTTPS_PROXY and NO_PROXY
// (either case) read through getenv, with the rules of Go's http.ProxyFromEnvironment:
// requests to localhost and loopback addresses never use a proxy.
func proxyFunc(getenv func(string) string) func(*http.Request) (*url.URL, error) {
	env := func(upper string) string {
		if v := getenv(upper); v != "" {
			return v
		}
		return getenv(strings.ToLower(upper))
	}
	httpProxy, httpsProxy, noProxy := env("HTTP_PROXY"), env("HTTPS_PROXY"), env("NO_PROXY")
	if all := env("ALL_PROXY"); all != "" {
		// curl reads ALL_PROXY when the scheme's own variable is unset; the doctor does
		// too, so it goes the way the failing curl command went.
		httpProxy, httpsProxy = cond(httpProxy != "", httpProxy, all), cond(httpsProxy != "", httpsProxy, all)
	}
	return func(req *http.Request) (*url.URL, error) {
		raw := httpProxy
		if req.URL.Scheme == "https" {
			raw = httpsProxy
		}
		if raw == "" || !useProxy(req.URL, noProxy) {
			return nil, nil
		}
		u, err := url.Parse(raw)
		if err != nil || u.Scheme == "" || u.Host == "" {
			if u2, err2 := url.Parse("http://" + raw); err2 == nil && u2.Host != "" {
				return u2, nil
			}
			return nil, errors.New("proxy address from the environment does not parse")
		}
		return u, nil
	}
}

// recordProxy wraps a proxy function so each exchange records the proxy it went
// through (redacted), for the rules that tell a proxy's answer from the API's.
func recordProxy(next func(*http.Request) (*url.URL, error)) func(*http.Request) (*url.URL, error) {
	return func(req *http.Request) (*url.URL, error) {
		u, err := next(req)
		if u != nil && err == nil {
			if rec, ok := req.Context().Value(connKey{}).(*connRecorder); ok {
				rec.mu.Lock()
				rec.Proxy = u.Redacted()
				rec.mu.Unlock()
			}
		}
		return u, err
	}
}

// useProxy applies NO_PROXY: "*", host names (a leading dot or not matches subdomains),
// host:port, IP addresses and CIDR ranges.
func useProxy(target *url.URL, noProxy string) bool {
	host := strings.ToLower(target.Hostname())
	if host == "localhost" {
		return false
	}
	ip := net.ParseIP(host)
	if ip != nil && ip.IsLoopback() {
		return false
	}
	port := effectivePort(target)
	for _, e := range strings.Split(noProxy, ",") {
		e = strings.ToLower(strings.TrimSpace(e))
		if e == "" {
			continue
		}
		if e == "*" {
			return false
		}
		if _, cidr, err := net.ParseCIDR(e); err == nil {
			if ip != nil && cidr.Contains(ip) {
				return false
			}
			continue
		}
		eh, ep := e, ""
		if h, p, err := net.SplitHostPort(e); err == nil {
			eh, ep = h, p
		}
		if ep != "" && ep != port {
			continue
		}
		eh = strings.TrimPrefix(eh, "*")
		if eip := net.ParseIP(eh); eip != nil {
			if ip != nil && eip.Equal(ip) {
				return false
			}
			continue
		}
		if strings.HasPrefix(eh, ".") {
			if strings.HasSuffix(host, eh) || host == eh[1:] {
				return false
			}
			continue
		}
		if host == eh || strings.HasSuffix(host, "."+eh) {
			return false
		}
	}
	return true
}
