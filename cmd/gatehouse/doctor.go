package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/doctor"
)

func init() {
	register(command{
		name:    "doctor",
		summary: "explain why a request gets 401/403 (any server), with evidence",
		run:     runDoctor,
	})
}

const doctorUsage = `Usage: gatehouse doctor URL [flags]
       gatehouse doctor --har FILE [--json]

Explains why a request to any HTTP API gets 401, 403 or 407, with evidence and a fix.
It lints the credential before sending anything, sends the request as given, walks every
redirect itself (showing which clients would keep the credential on each hop), sends the
same request without the credential as a control, a CORS preflight when --origin is set,
compares the clocks, decodes the token, and matches the answer against known servers.
The credential is never sent to an origin you did not name (the URL's, --compare-url's,
--allow-host's); secrets are shown only as their first and last 4 characters, length and
a short SHA-256. Flags and the URL may come in any order, as with curl.

Request (curl-like):
  -X, --request METHOD     method (default GET, or POST with -d)
  -H, --header 'Name: v'   add a header; repeatable. 'Name:' with no value drops it
  -d, --data BODY          request body (@FILE reads a file); sent as a form unless -H sets Content-Type
  -u, --user USER:PASS     Basic credentials (ignored when -H sets Authorization)

Credential sources:
      --env-file FILE      read the credential from a .env file, as common loaders would
      --var NAME           the variable to read; $NAME or ${NAME} in a -H value is replaced
                           by it, otherwise it is sent as Authorization: Bearer <value>

Diagnosis:
      --origin URL         judge the request as a browser page on this origin makes it (CORS)
      --expect-issuer ISS  the issuer the API trusts (compared with the token's iss)
      --expect-audience A  the audience the API expects (compared with the token's aud)
      --compare-url URL    repeat the request against another base URL (the origin behind a
                           CDN, a dev server) to see where the credential stops working
      --allow-host HOST    also allow the credential to follow redirects to HOST; repeatable
      --fetch-jwks         fetch the token issuer's discovery document and JWKS to check kid
      --retry-variants     retry once with corrected variants (scheme casing, the scheme or
                           header the server names), to the same origin only
      --har FILE           analyse a browser HAR export instead of sending anything

Transport:
      --cacert FILE        trust these CA certificates (SSL_CERT_FILE is honoured too)
  -k, --insecure           do not verify the server's certificate
      --timeout DURATION   per-request timeout (default 10s)
  Proxy variables (HTTP_PROXY, HTTPS_PROXY, NO_PROXY) are honoured.

Output:
      --json               one JSON object: {request, hops, response, credential, findings, verdict}
  Colour only on a terminal; NO_COLOR turns it off.

Exit status: 0 ok (authenticated), 1 a failure was diagnosed (a proxy's 407 included),
2 bad usage, 3 the server could not be reached.

Examples:
  gatehouse doctor https://api.example.com/orders -H "Authorization: Bearer $TOKEN"
  gatehouse doctor -X POST https://api.example.com/items -u alice:secret -d 'name=x'
  gatehouse doctor https://api.example.com/me --env-file .env --var API_TOKEN \
      --expect-audience api://orders --fetch-jwks
  gatehouse doctor https://api.example.com/orders -H "Authorization: Bearer $TOKEN" \
      --origin http://localhost:3000
  gatehouse doctor https://cdn.example.com/v1/me -H "X-Api-Key: $KEY" \
      --compare-url http://origin.internal:8080 --json
  gatehouse doctor --har session.har
`

// errHelp is returned by parseDoctorArgs for -h/--help.
var errHelp = errors.New("help")

type doctorArgs struct {
	opts    doctor.Options
	har     string
	json    bool
	haveURL bool
}

// doctorFlag describes one flag: whether it takes a value, and how to apply it.
type doctorFlag struct {
	value bool
	apply func(a *doctorArgs, v string, env *cliEnv) error
}

func doctorFlags() map[string]doctorFlag {
	str := func(set func(a *doctorArgs, v string)) doctorFlag {
		return doctorFlag{value: true, apply: func(a *doctorArgs, v string, _ *cliEnv) error { set(a, v); return nil }}
	}
	boolean := func(set func(a *doctorArgs)) doctorFlag {
		return doctorFlag{apply: func(a *doctorArgs, _ string, _ *cliEnv) error { set(a); return nil }}
	}
	header := doctorFlag{value: true, apply: func(a *doctorArgs, v string, _ *cliEnv) error {
		name, value, ok := strings.Cut(v, ":")
		if !ok {
			// curl's "Name;" sends an empty header; treat it like "Name:".
			if n, ok2 := strings.CutSuffix(v, ";"); ok2 {
				name, value, ok = n, "", true
			}
		}
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return fmt.Errorf("-H wants 'Name: value', got something without a colon")
		}
		// curl strips the blanks after the colon; the value keeps everything else
		// (a trailing \r included), so lint can see it.
		value = strings.TrimLeft(value, " \t")
		a.opts.Headers = append(a.opts.Headers, doctor.Header{Name: name, Value: value})
		return nil
	}}
	data := doctorFlag{value: true, apply: func(a *doctorArgs, v string, env *cliEnv) error {
		body, err := readData(v, env)
		if err != nil {
			return err
		}
		a.opts.Body, a.opts.HasBody = body, true
		return nil
	}}
	method := str(func(a *doctorArgs, v string) { a.opts.Method = v })
	user := str(func(a *doctorArgs, v string) { a.opts.UserPass, a.opts.HasUserPass = v, true })
	insecure := boolean(func(a *doctorArgs) { a.opts.Insecure = true })
	return map[string]doctorFlag{
		"-X": method, "--request": method,
		"-H": header, "--header": header,
		"-d": data, "--data": data, "--data-raw": data,
		"-u": user, "--user": user,
		"--origin":          str(func(a *doctorArgs, v string) { a.opts.Origin = v }),
		"--expect-issuer":   str(func(a *doctorArgs, v string) { a.opts.ExpectIssuer = v }),
		"--expect-audience": str(func(a *doctorArgs, v string) { a.opts.ExpectAudience = v }),
		"--env-file":        str(func(a *doctorArgs, v string) { a.opts.EnvFile = v }),
		"--var":             str(func(a *doctorArgs, v string) { a.opts.EnvVar = v }),
		"--allow-host":      str(func(a *doctorArgs, v string) { a.opts.AllowHosts = append(a.opts.AllowHosts, v) }),
		"--compare-url":     str(func(a *doctorArgs, v string) { a.opts.CompareURL = v }),
		"--cacert":          str(func(a *doctorArgs, v string) { a.opts.CACertFile = v }),
		"--har":             str(func(a *doctorArgs, v string) { a.har = v }),
		"--timeout": {value: true, apply: func(a *doctorArgs, v string, _ *cliEnv) error {
			d, err := parseTimeout(v)
			if err != nil {
				return err
			}
			a.opts.Timeout = d
			return nil
		}},
		"--fetch-jwks":     boolean(func(a *doctorArgs) { a.opts.FetchJWKS = true }),
		"--retry-variants": boolean(func(a *doctorArgs) { a.opts.RetryVariants = true }),
		"--json":           boolean(func(a *doctorArgs) { a.json = true }),
		"-k":               insecure, "--insecure": insecure,
	}
}

// parseTimeout accepts a Go duration ("10s", "1m") or plain seconds ("10", "2.5").
func parseTimeout(v string) (time.Duration, error) {
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return d, nil
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s > 0 && s < 86400 {
		return time.Duration(s * float64(time.Second)), nil
	}
	return 0, fmt.Errorf("--timeout wants a positive duration such as 10s")
}

// maxDataBytes bounds a -d @FILE body.
const maxDataBytes = 1 << 20

func readData(v string, env *cliEnv) (string, error) {
	name, ok := strings.CutPrefix(v, "@")
	if !ok {
		return v, nil
	}
	var r io.Reader
	if name == "-" {
		r = env.stdin
	} else {
		f, err := os.Open(name)
		if err != nil {
			return "", fmt.Errorf("-d @%s: %w", name, err)
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxDataBytes+1))
	if err != nil {
		return "", fmt.Errorf("-d @%s: %w", name, err)
	}
	if len(b) > maxDataBytes {
		return "", fmt.Errorf("-d @%s: larger than 1 MiB", name)
	}
	return string(b), nil
}

// parseDoctorArgs scans flags and the URL in any order: the standard flag package stops
// at the first non-flag, and curl users put the URL anywhere.
func parseDoctorArgs(args []string, env *cliEnv) (*doctorArgs, error) {
	a := &doctorArgs{}
	flags := doctorFlags()
	onlyPositional := false
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if onlyPositional || arg == "-" || !strings.HasPrefix(arg, "-") {
			if a.haveURL {
				return nil, fmt.Errorf("more than one URL given (%q is the second); quote header values with spaces", clipArg(arg))
			}
			a.opts.URL, a.haveURL = arg, true
			continue
		}
		if arg == "--" {
			onlyPositional = true
			continue
		}
		if arg == "-h" || arg == "--help" {
			return nil, errHelp
		}
		name, value, hasValue := arg, "", false
		if strings.HasPrefix(arg, "--") {
			if n, v, ok := strings.Cut(arg, "="); ok {
				name, value, hasValue = n, v, true
			}
		} else if len(arg) > 2 {
			// -XPOST, -H'Name: v', -kX: curl's attached short forms.
			name, value, hasValue = arg[:2], arg[2:], true
		}
		fl, ok := flags[name]
		if !ok {
			return nil, fmt.Errorf("unknown flag %s", clipArg(name))
		}
		switch {
		case fl.value && !hasValue:
			if i+1 >= len(args) {
				return nil, fmt.Errorf("flag %s needs a value", name)
			}
			i++
			value = args[i]
		case !fl.value && hasValue:
			if strings.HasPrefix(arg, "--") {
				return nil, fmt.Errorf("flag %s takes no value", name)
			}
			// A run of boolean short flags: only -k exists, so "-kX..." is unusual; refuse.
			return nil, fmt.Errorf("unknown flag %s", clipArg(arg))
		}
		if err := fl.apply(a, value, env); err != nil {
			return nil, err
		}
	}
	switch {
	case a.har != "" && a.haveURL:
		return nil, errors.New("give a URL or --har FILE, not both")
	case a.har == "" && !a.haveURL:
		return nil, errors.New("missing URL")
	}
	return a, nil
}

// clipArg shows at most 40 bytes of an argument in an error, which may hold a secret.
func clipArg(s string) string {
	if len(s) > 40 {
		return s[:20] + "…"
	}
	return s
}

func runDoctor(ctx context.Context, env *cliEnv, args []string) int {
	a, err := parseDoctorArgs(args, env)
	if errors.Is(err, errHelp) {
		fmt.Fprint(env.stdout, doctorUsage)
		return 0
	}
	if err != nil {
		fmt.Fprintf(env.stderr, "gatehouse doctor: %v\nRun 'gatehouse doctor --help' for usage.\n", err)
		return 2
	}
	a.opts.Getenv = env.getenv
	a.opts.UserAgent = "gatehouse-doctor/" + version
	color := isTerminal(env.stdout) && env.getenv("NO_COLOR") == ""

	if a.har != "" {
		return runDoctorHAR(ctx, env, a, color)
	}
	rep, err := doctor.Run(ctx, a.opts)
	if err != nil {
		fmt.Fprintf(env.stderr, "gatehouse doctor: %v\n", strings.TrimPrefix(err.Error(), "usage: "))
		if errors.Is(err, doctor.ErrUsage) {
			fmt.Fprintln(env.stderr, "Run 'gatehouse doctor --help' for usage.")
			return 2
		}
		return 3
	}
	if rep.Verdict == doctor.VerdictUnreachable {
		fmt.Fprintf(env.stderr, "gatehouse doctor: %s\n", rep.Unreachable)
	}
	if a.json {
		err = rep.WriteJSON(env.stdout)
	} else if rep.Verdict != doctor.VerdictUnreachable || len(rep.Findings) > 0 {
		err = rep.WriteText(env.stdout, color)
	}
	if err != nil {
		fmt.Fprintf(env.stderr, "gatehouse doctor: write report: %v\n", err)
	}
	return rep.ExitCode()
}

func runDoctorHAR(ctx context.Context, env *cliEnv, a *doctorArgs, color bool) int {
	f, err := os.Open(a.har)
	if err != nil {
		fmt.Fprintf(env.stderr, "gatehouse doctor: --har: %v\n", err)
		return 2
	}
	defer f.Close()
	rep, err := doctor.AnalyzeHAR(ctx, f, a.opts)
	if err != nil {
		fmt.Fprintf(env.stderr, "gatehouse doctor: --har %s: %v\n", a.har, strings.TrimPrefix(err.Error(), "usage: "))
		return 2
	}
	if a.json {
		err = rep.WriteJSON(env.stdout)
	} else {
		err = rep.WriteText(env.stdout, color)
	}
	if err != nil {
		fmt.Fprintf(env.stderr, "gatehouse doctor: write report: %v\n", err)
	}
	return rep.ExitCode()
}

// isTerminal reports whether w is a character device (a terminal), without x/term.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
