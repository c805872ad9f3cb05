package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/app"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/proxy"
)

func init() {
	register(command{name: "decide", summary: "print the decision the gateway would make for a request, serving nothing", run: runDecide})
}

const decideUsage = `Usage:
  gatehouse decide [--config FILE] [-X METHOD] URL [-H 'Name: value'...] [--json]

Prints the decision the gateway would make for one request, without serving anything:
the route, the authenticators tried and what each said, the one that decided, the
reason, status and challenges, the identity headers the upstream would get, and the
requirement that failed. It runs the gateway's own handler in this process, with the
configuration's authenticators and credential store, so a policy change can be tried
before it is deployed and a refused request replayed. No upstream is contacted: the
request the upstream would get is recorded instead.

Credentials given with -H (Authorization, Cookie, API-key headers) and credential
query parameters are never printed, only their fingerprints.

Flags:
  --config FILE    the configuration (default: $GATEHOUSE_CONFIG, else ./gatehouse.yaml)
  -X, --method METHOD
                   the request method (default GET)
  -H, --header 'Name: value'
                   a request header; repeat for more
  --peer IP        the address the request comes from (default 127.0.0.1), which
                   decides whether X-Forwarded-* headers are believed (trusted_proxies)
  --wait DURATION  how long to wait for key sets and the credential store before
                   deciding (default 10s); past it the decision is made as the gateway
                   would make it while not ready
  --json           print the decision as one JSON object

URL is absolute (https://api.example.com/orders?x=1): its host is the Host the routes
match, its scheme says whether the request came over TLS. A client certificate cannot be
given, so an mtls route sees a request without one.

Exit status: 0 allowed, 1 refused, 2 bad usage, 3 the configuration could not be loaded
or the gateway could not be built from it.
`

// headerFlags collects repeated -H flags.
type headerFlags []string

func (h *headerFlags) String() string     { return strings.Join(*h, ", ") }
func (h *headerFlags) Set(v string) error { *h = append(*h, v); return nil }

// decideResult is what decide prints; the JSON names are stable.
type decideResult struct {
	Method         string          `json:"method"`
	URL            string          `json:"url"`
	Route          string          `json:"route,omitempty"`
	Allow          bool            `json:"allow"`
	Status         int             `json:"status"`
	Reason         decision.Reason `json:"reason,omitempty"`
	Detail         string          `json:"detail,omitempty"`
	Cause          string          `json:"cause,omitempty"`
	Unmet          string          `json:"unmet_requirement,omitempty"`
	Fix            string          `json:"fix,omitempty"`
	Tried          []triedAuth     `json:"authenticators_tried"`
	Authenticator  string          `json:"authenticator,omitempty"`
	Subject        string          `json:"subject,omitempty"`
	Fingerprint    string          `json:"fingerprint,omitempty"`
	Challenges     []string        `json:"challenges,omitempty"`
	Upstream       string          `json:"upstream,omitempty"`
	UpstreamHeader [][2]string     `json:"upstream_headers,omitempty"`
	NotReady       string          `json:"not_ready,omitempty"`
	RequestID      string          `json:"request_id"`
}

// triedAuth is one authenticator a decision asked.
type triedAuth struct {
	Name string `json:"name"`
	// Outcome is "verified", "verified (cached)" or the failure's reason.
	Outcome string `json:"outcome"`
}

func runDecide(ctx context.Context, env *cliEnv, args []string) int {
	fs := flag.NewFlagSet("gatehouse decide", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	file := fs.String("config", "", "")
	method := fs.String("X", "GET", "")
	fs.StringVar(method, "method", "GET", "")
	var headers headerFlags
	fs.Var(&headers, "H", "")
	fs.Var(&headers, "header", "")
	peer := fs.String("peer", "127.0.0.1", "")
	wait := fs.Duration("wait", 10*time.Second, "")
	asJSON := fs.Bool("json", false, "")
	usageErr := func(format string, a ...any) int {
		printFailure(env, "decide", "usage", fmt.Errorf(format, a...))
		fmt.Fprintf(env.stderr, "\n%s", decideUsage)
		return 2
	}
	// The URL may come before or after the flags.
	var urls []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprint(env.stdout, decideUsage)
				return 0
			}
			return usageErr("%v", err)
		}
		if fs.NArg() == 0 {
			break
		}
		urls = append(urls, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(urls) != 1 {
		return usageErr("want one URL, got %d", len(urls))
	}
	u, err := url.Parse(urls[0])
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usageErr("the URL must be absolute, such as https://api.example.com/orders")
	}
	if !isToken(*method) {
		return usageErr("-X %q is not a method name", printable(*method))
	}
	peerAddr, err := netip.ParseAddr(*peer)
	if err != nil {
		return usageErr("--peer %q is not an IP address", printable(*peer))
	}
	hd := http.Header{}
	for _, h := range headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok || !isToken(name) {
			return usageErr("-H wants 'Name: value'")
		}
		hd.Add(name, strings.TrimSpace(value))
	}
	if *file == "" {
		if v := env.getenv("GATEHOUSE_CONFIG"); v != "" {
			*file = v
		} else {
			*file = "gatehouse.yaml"
		}
	}
	cfg, err := config.Load(*file, env.getenv)
	if err != nil {
		printFailure(env, "decide", "failed", err)
		return 3
	}

	res, err := decide(ctx, cfg, env.stderr, *method, u, hd, peerAddr, *wait)
	if err != nil {
		printFailure(env, "decide", "failed", err)
		return 3
	}
	res.URL = redactURL(u, credentialQueries(cfg))
	if *asJSON {
		b, _ := json.MarshalIndent(res, "", "  ")
		env.stdout.Write(append(b, '\n'))
	} else {
		printDecision(env.stdout, res)
	}
	if res.Allow {
		return 0
	}
	return 1
}

// decide builds the gateway from cfg and runs one request through its handler.
func decide(ctx context.Context, cfg *config.Config, stderr io.Writer, method string, u *url.URL, hd http.Header, peer netip.Addr, wait time.Duration) (*decideResult, error) {
	tr := &recordingTransport{}
	tried := &trace{}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	rt, err := app.Build(cfg, app.Options{
		Logger:            logger,
		UpstreamTransport: tr,
		WrapAuthenticator: func(a decision.Authenticator) decision.Authenticator { return &tracedAuth{Authenticator: a, t: tried} },
	})
	if err != nil {
		return nil, err
	}
	bg, stop := context.WithCancel(ctx)
	defer func() {
		stop()
		rt.Close()
	}()
	rt.Start(bg)
	res := &decideResult{Method: method}
	deadline := time.Now().Add(wait)
	for {
		err := rt.Ready(ctx)
		if err == nil {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			res.NotReady = err.Error()
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(25 * time.Millisecond):
		}
	}

	r := httptest.NewRequestWithContext(ctx, method, u.String(), nil)
	r.Header = hd.Clone()
	r.RemoteAddr = netip.AddrPortFrom(peer, 50000).String()
	if u.Scheme == "https" {
		r.TLS = &tls.ConnectionState{HandshakeComplete: true}
	}
	w := httptest.NewRecorder()
	rt.ServeHTTP(w, r)

	res.Status = w.Code
	res.RequestID = w.Header().Get("X-Request-Id")
	res.Challenges = w.Header().Values("WWW-Authenticate")
	res.Tried = tried.calls
	if res.Tried == nil {
		res.Tried = []triedAuth{}
	}
	if e, ok := rt.Ring.Lookup(res.RequestID); ok {
		res.Route, res.Allow, res.Reason, res.Detail, res.Cause = e.Route, e.Allow, e.Reason, e.Detail, e.Cause
		res.Authenticator, res.Subject, res.Fingerprint, res.Fix = e.Authenticator, e.Subject, e.Fingerprint, e.Fix
		if e.Status != 0 {
			res.Status = e.Status
		}
	} else {
		res.Allow = w.Code < 400
	}
	if res.Reason == decision.Forbidden || res.Reason == decision.InsufficientScope {
		res.Unmet = res.Detail
	}
	if tr.req != nil {
		out := tr.req
		res.Upstream = (&url.URL{Scheme: out.URL.Scheme, Host: out.URL.Host, Path: out.URL.Path}).String()
		res.UpstreamHeader = setByGateway(hd, out.Header)
	} else if res.Allow {
		// A decision-only route answers with the identity headers itself.
		res.UpstreamHeader = setByGateway(hd, w.Header())
	}
	return res, nil
}

// setByGateway lists the headers of out that the gateway set (identity headers, and any
// header it maps from claims): those the request did not carry with the same values.
// X-Forwarded-*, hop-by-hop and response-only headers are left out.
func setByGateway(in, out http.Header) [][2]string {
	var list [][2]string
	for name, vals := range out {
		switch {
		case strings.HasPrefix(name, "X-Forwarded-"), name == "Cache-Control", name == "X-Request-Id",
			name == "Content-Type", name == "Content-Length", name == "Vary", name == "User-Agent":
			continue
		case slices.Equal(in.Values(name), vals):
			continue
		}
		for _, v := range vals {
			list = append(list, [2]string{name, v})
		}
	}
	sort.Slice(list, func(i, j int) bool { return list[i][0] < list[j][0] })
	return list
}

// credentialQueries are the query parameters that may carry credentials.
func credentialQueries(cfg *config.Config) []string {
	out := []string{proxy.AccessTokenParam}
	for _, a := range cfg.Authenticators {
		if a.Type == config.TypeAPIKey && a.APIKey != nil && a.APIKey.Query != "" {
			out = append(out, a.APIKey.Query)
		}
	}
	return out
}

// redactURL is u with the value of each credential query parameter replaced by its
// fingerprint.
func redactURL(u *url.URL, creds []string) string {
	c := *u
	c.User = nil
	if c.RawQuery != "" {
		q := c.Query()
		for _, name := range creds {
			for i, v := range q[name] {
				q[name][i] = "fingerprint:" + decision.Fingerprint(v)
			}
		}
		c.RawQuery = q.Encode()
	}
	return c.String()
}

func printDecision(w io.Writer, r *decideResult) {
	var b bytes.Buffer
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%-18s %s\n", k+":", printable(v))
		}
	}
	verdict := "refused"
	if r.Allow {
		verdict = "allowed"
	}
	line("request", r.Method+" "+r.URL)
	if r.NotReady != "" {
		line("not ready", r.NotReady)
	}
	line("route", orNone(r.Route))
	var tried []string
	for _, t := range r.Tried {
		tried = append(tried, t.Name+" ("+t.Outcome+")")
	}
	line("authenticators", orNone(strings.Join(tried, ", ")))
	line("decided by", r.Authenticator)
	status := fmt.Sprintf("%s %d", verdict, r.Status)
	if r.Reason != "" {
		status += " " + string(r.Reason)
	}
	line("decision", status)
	line("detail", r.Detail)
	line("unmet requirement", r.Unmet)
	line("subject", r.Subject)
	if r.Fingerprint != "" {
		line("credential", "fingerprint "+r.Fingerprint)
	}
	for _, c := range r.Challenges {
		line("challenge", c)
	}
	line("upstream", r.Upstream)
	if len(r.UpstreamHeader) > 0 {
		b.WriteString("upstream headers:\n")
		for _, h := range r.UpstreamHeader {
			fmt.Fprintf(&b, "  %s: %s\n", h[0], printable(h[1]))
		}
	}
	line("fix", r.Fix)
	line("request id", r.RequestID)
	w.Write(b.Bytes())
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// isToken reports whether s is an HTTP token (a method or header name).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// recordingTransport answers every upstream request 200 without sending it, keeping
// the request the upstream would have got.
type recordingTransport struct {
	mu  sync.Mutex
	req *http.Request
}

func (t *recordingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.mu.Lock()
	t.req = r.Clone(r.Context())
	t.mu.Unlock()
	if r.Body != nil {
		r.Body.Close()
	}
	return &http.Response{StatusCode: http.StatusOK, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{}, Body: http.NoBody, Request: r}, nil
}

// trace records what the route's authenticators were asked.
type trace struct {
	mu    sync.Mutex
	calls []triedAuth
}

func (t *trace) add(name, outcome string) {
	t.mu.Lock()
	t.calls = append(t.calls, triedAuth{Name: name, Outcome: outcome})
	t.mu.Unlock()
}

// tracedAuth is an authenticator that records its answers; it keeps the optional
// interfaces Decide looks for (Cacher, CredentialIDer) with the same behaviour.
type tracedAuth struct {
	decision.Authenticator
	t *trace
}

func (a *tracedAuth) Authenticate(ctx context.Context, c decision.Credential) (decision.Principal, error) {
	p, err := a.Authenticator.Authenticate(ctx, c)
	switch f := (*decision.Failure)(nil); {
	case err == nil:
		a.t.add(a.Name(), "verified")
	case errors.As(err, &f):
		a.t.add(a.Name(), string(f.Reason))
	default:
		a.t.add(a.Name(), string(decision.AuthenticatorUnavailable))
	}
	return p, err
}

func (a *tracedAuth) Cached(ctx context.Context, c decision.Credential) (decision.Principal, bool) {
	ca, ok := a.Authenticator.(decision.Cacher)
	if !ok {
		return decision.Principal{}, false
	}
	p, ok := ca.Cached(ctx, c)
	if ok {
		a.t.add(a.Name(), "verified (cached)")
	}
	return p, ok
}

func (a *tracedAuth) CredentialID(c decision.Credential) string {
	if ider, ok := a.Authenticator.(decision.CredentialIDer); ok {
		return ider.CredentialID(c)
	}
	return ""
}
