package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
	"unicode"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/explain"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
)

func init() {
	register(command{name: "explain", summary: "ask a running gateway why it refused a request", run: runExplain})
}

const explainUsage = `Usage:
  gatehouse explain REQUEST_ID [--admin URL | --config FILE] [--json]

Asks a running gateway's admin API why it decided as it did on a request: the reason,
route, authenticator, credential fingerprint (never the credential), client, timing,
and the fix in plain words. REQUEST_ID is the X-Request-Id of the response (also the
request_id of its problem+json body): an id the gateway gives each request itself. An
X-Request-Id the client sent is shown beside it (client_request_id), but does not find
a request. The gateway keeps its most recent decisions in memory only, so an old
request, or one from before a restart, is not found.

Flags:
  --admin URL      the admin listener
  --config FILE    read admin_listen from this configuration instead
  --json           print the admin API's JSON document as it is
  --admin-token-file FILE
                   the admin token (default: $GATEHOUSE_ADMIN_TOKEN); the decisions
                   name subjects and clients, so the admin API asks for one

Without --admin, the admin listener is the admin_listen of the configuration: --config
FILE, else $GATEHOUSE_CONFIG, else ./gatehouse.yaml when it exists (as the store
commands find it), else http://127.0.0.1:9090.

Exit status: 0 the decision was found, 1 the gateway keeps no decision with this id
(or answered something unexpected), 2 bad usage, 3 the admin API could not be reached.
`

// explainTimeout bounds the whole exchange with the admin API.
const explainTimeout = 5 * time.Second

// maxExplainBody bounds what is read from the admin API.
const maxExplainBody = 1 << 20

// runExplain implements "gatehouse explain REQUEST_ID".
func runExplain(ctx context.Context, env *cliEnv, args []string) int {
	fs := flag.NewFlagSet("gatehouse explain", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	admin := fs.String("admin", "", "")
	file := fs.String("config", "", "")
	asJSON := fs.Bool("json", false, "")
	tokenFile := fs.String("admin-token-file", "", "")
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(env.stderr, "gatehouse explain: "+format+"\n\n%s", append(a, explainUsage)...)
		return 2
	}
	// The request id may come before or after the flags.
	var ids []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprint(env.stdout, explainUsage)
				return 0
			}
			return usageErr("%v", err)
		}
		if fs.NArg() == 0 {
			break
		}
		ids = append(ids, fs.Arg(0))
		args = fs.Args()[1:]
	}
	switch {
	case len(ids) == 0:
		return usageErr("want a REQUEST_ID")
	case len(ids) > 1:
		return usageErr("want one REQUEST_ID, got %d", len(ids))
	case !explain.ValidID(ids[0]):
		return usageErr("%q is not a request id: ids are 1 to 128 characters of A-Z, a-z, 0-9, '.', '_' and '-'", printable(ids[0]))
	case *admin != "" && *file != "":
		return usageErr("give --admin or --config, not both")
	}
	id := ids[0]

	base := "http://" + config.DefaultAdminListen
	switch {
	case *admin != "":
		base = *admin
	case *file == "":
		// Found as the store commands find it, so "gatehouse explain ID" asks the
		// gateway that "gatehouse keys list" manages.
		if v := env.getenv("GATEHOUSE_CONFIG"); v != "" {
			*file = v
		} else if _, err := os.Stat("gatehouse.yaml"); err == nil {
			*file = "gatehouse.yaml"
		}
	}
	if *admin == "" && *file != "" {
		c, err := config.Load(*file, env.getenv)
		if err != nil {
			fmt.Fprintf(env.stderr, "gatehouse explain: cannot read admin_listen from %s (\"gatehouse config check %s\" lists the problems): %v\n", *file, *file, err)
			return 2
		}
		base = "http://" + c.AdminListen
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return usageErr("--admin wants an http(s) URL such as http://127.0.0.1:9090, got %q", printable(base))
	}
	endpoint := strings.TrimSuffix(u.String(), "/") + explain.PathPrefix + url.PathEscape(id)
	token, err := adminToken(env, remoteFlags{tokenFile: *tokenFile})
	if err != nil {
		fmt.Fprintf(env.stderr, "gatehouse explain: %v\n", err)
		return 2
	}

	ctx, cancel := context.WithTimeout(ctx, explainTimeout)
	defer cancel()
	body, status, ctype, err := fetchDecision(ctx, endpoint, token)
	if err != nil {
		fmt.Fprintf(env.stderr, "gatehouse explain: cannot reach the admin API at %s: %s\n"+
			"Is the gateway running? This command asks its admin_listen; use --admin URL or --config FILE to name another.\n",
			u.Redacted(), describeFetchError(err))
		return 3
	}
	switch {
	case status == http.StatusOK && isMediaType(ctype, "application/json"):
		var e explain.Entry
		if err := json.Unmarshal(body, &e); err != nil {
			fmt.Fprintf(env.stderr, "gatehouse explain: the admin API at %s answered with a document that is not a decision: %v\n", u.Redacted(), err)
			return 1
		}
		if *asJSON {
			var out bytes.Buffer
			if err := json.Indent(&out, bytes.TrimSpace(body), "", "  "); err != nil {
				fmt.Fprintf(env.stderr, "gatehouse explain: %v\n", err)
				return 1
			}
			out.WriteByte('\n')
			_, _ = env.stdout.Write(out.Bytes())
			return 0
		}
		printEntry(env.stdout, e)
		return 0
	case status == http.StatusUnauthorized:
		how := "it needs an admin token: set GATEHOUSE_ADMIN_TOKEN or pass --admin-token-file (gatehouse admin-tokens create makes one)"
		if token != "" {
			how = "the admin token is not valid (unknown, expired or revoked)"
		}
		fmt.Fprintf(env.stderr, "gatehouse explain: the admin API at %s refused the call: %s\n", u.Redacted(), how)
		return 1
	case status == http.StatusNotFound && isMediaType(ctype, "application/problem+json"):
		var p struct {
			Detail string `json:"detail"`
		}
		_ = json.Unmarshal(body, &p)
		msg := "it keeps no decision with this id"
		if p.Detail != "" {
			msg = p.Detail
		}
		fmt.Fprintf(env.stderr, "gatehouse explain: request %s is unknown to the gateway at %s: %s\n", id, u.Redacted(), printable(msg))
		return 1
	}
	fmt.Fprintf(env.stderr, "gatehouse explain: the admin API at %s answered %d %s (%s); is this a gatehouse admin listener?\n",
		u.Redacted(), status, http.StatusText(status), printable(firstLine(body, 200)))
	return 1
}

// fetchDecision GETs the decision document. Redirects are not followed (the admin API
// never redirects) and no proxy is used: the admin listener is on a private address.
func fetchDecision(ctx context.Context, endpoint, token string) (body []byte, status int, ctype string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return nil, 0, "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Accept", "application/json, application/problem+json")
	req.Header.Set("User-Agent", "gatehouse-explain/"+version)
	client := &http.Client{
		Timeout:       explainTimeout,
		Transport:     &http.Transport{Proxy: nil, DialContext: (&net.Dialer{Timeout: explainTimeout}).DialContext, TLSHandshakeTimeout: explainTimeout},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		return nil, 0, "", err
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(io.LimitReader(resp.Body, maxExplainBody))
	if err != nil {
		return nil, 0, "", err
	}
	return body, resp.StatusCode, resp.Header.Get("Content-Type"), nil
}

// describeFetchError says why the admin API could not be reached, without the URL the
// caller already prints.
func describeFetchError(err error) string {
	if errors.Is(err, context.DeadlineExceeded) || os.IsTimeout(err) {
		return "no answer within " + explainTimeout.String()
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Op + ": " + op.Err.Error()
	}
	return err.Error()
}

func isMediaType(ctype, want string) bool {
	mt, _, err := mime.ParseMediaType(ctype)
	return err == nil && mt == want
}

// printEntry renders a decision for people.
func printEntry(w io.Writer, e explain.Entry) {
	verdict := "allowed"
	if !e.Allow {
		verdict = "refused"
	}
	if e.Reason == gateway.UpstreamUnavailable || e.Reason == gateway.UpstreamTimeout {
		verdict = "allowed, but its upstream failed,"
	}
	head := fmt.Sprintf("Request %s was %s with %d", e.RequestID, verdict, e.Status)
	if e.Reason != "" {
		head += " " + string(e.Reason)
	}
	fmt.Fprintln(w, printable(head))
	row := func(name, value string) {
		fmt.Fprintf(w, "  %-15s %s\n", name, printable(value))
	}
	orNone := func(s, none string) string {
		if s == "" {
			return none
		}
		return s
	}
	if e.ClientRequestID != "" {
		row("client's id", e.ClientRequestID+" (the X-Request-Id the client sent)")
	}
	row("route", orNone(e.Route, "(no route matched)"))
	row("authenticator", orNone(e.Authenticator, "(none decided)"))
	if e.Reason != "" {
		reason := string(e.Reason)
		if e.Detail != "" {
			reason += ": " + e.Detail
		}
		row("reason", reason)
	}
	if e.Cause != "" {
		row("cause", e.Cause+" (log only; not shown to the client)")
	}
	if e.Subject != "" {
		row("subject", e.Subject)
	}
	row("fingerprint", orNone(e.Fingerprint, "(no credential)"))
	row("client", orNone(e.Client, "(unknown)"))
	if !e.Time.IsZero() {
		row("time", e.Time.UTC().Format("2006-01-02T15:04:05.000Z07:00"))
	}
	row("decision took", formatMS(e.DecisionMS))
	fmt.Fprintf(w, "\nFix: %s\n", printable(e.Fix))
}

// formatMS renders a decision time given in milliseconds: "42µs", "1.25ms".
func formatMS(ms float64) string {
	d := time.Duration(ms * float64(time.Millisecond))
	switch {
	case d < time.Microsecond:
		return d.String()
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(10 * time.Microsecond).String()
	}
	return d.Round(time.Millisecond).String()
}

// printable replaces control characters, so a value from the server (a subject, a
// detail) cannot move the cursor or recolour the terminal.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
}

// firstLine returns the start of a body for an error message.
func firstLine(body []byte, n int) string {
	s := string(bytes.TrimSpace(body))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > n {
		s = s[:n] + "..."
	}
	if s == "" {
		return "empty body"
	}
	return s
}
