package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/doctor"
	"github.com/gatehouse-dev/gatehouse/internal/doctor/shellwords"
)

func init() {
	register(command{
		name:    "doctor",
		summary: "explain why a request gets 401/403 (any server), with evidence",
		run:     runDoctor,
	})
}

const doctorUsage = `Usage: gatehouse doctor URL [flags]
       gatehouse doctor curl URL [curl flags]     (a copied curl command, as is)
       gatehouse doctor -                         (read a curl command from stdin)
       gatehouse doctor --har FILE [--json]

Explains why a request to any HTTP API gets 401, 403 or 407, with evidence and a fix.
It lints the credential before sending anything, sends the request as given, walks every
redirect itself (showing which clients would keep the credential on each hop), sends the
same request without the credential as a control, a CORS preflight when --origin is set,
compares the clocks, decodes the token, and matches the answer against known servers.
The credential is never sent to an origin you did not name (the URL's, --compare-url's,
--allow-host's); secrets are shown only as their first and last 4 characters, length and
a short SHA-256. Flags and the URL may come in any order, as with curl.

Paste what you have: a command from a browser's "Copy as cURL" (Chrome, Firefox, Safari;
bash or Windows cmd quoting) or Postman's code export works after "gatehouse doctor", with
or without its leading "curl". With "-" the command is read from stdin (paste it, then
Ctrl-D), so its quoting never has to survive your shell: '...', "...", $'...', backslash
and ^ line continuations are read as the shell it was copied for would.

Request (curl-like):
  -X, --request METHOD     method (default GET, or POST with -d)
  -H, --header 'Name: v'   add a header; repeatable. 'Name:' with no value drops it
  -d, --data BODY          request body (@FILE reads a file); repeated -d are joined with &;
                           sent as a form unless -H sets Content-Type. Also --data-raw (no @),
                           --data-binary, --data-ascii, --data-urlencode, --json-data
  -F, --form NAME=VALUE    a multipart/form-data field (NAME=@FILE uploads a file); also --form-string
  -G, --get                send the -d data as the URL's query, with GET
  -I, --head               method HEAD
  -u, --user USER:PASS     Basic credentials (ignored when -H sets Authorization)
  -b, --cookie 'N=V; ...'  send these cookies (a cookie file is not read)
  -A, --user-agent UA      User-Agent;  -e, --referer URL  Referer
      --oauth2-bearer TOK  Authorization: Bearer TOK
      --url URL            the URL, as a flag

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
      --fetch-jwks         fetch the token issuer's discovery document and JWKS from any
                           origin (without it, only when the issuer is the URL's origin)
      --retry-variants     retry once with corrected variants (scheme casing, the scheme or
                           header the server names), to the same origin only
      --har FILE           analyse a browser HAR export instead of sending anything

Transport:
      --cacert FILE        trust these CA certificates (SSL_CERT_FILE is honoured too)
  -k, --insecure           do not verify the server's certificate
  -E, --cert FILE          a client certificate (PEM) for an API that asks for one (mTLS)
      --key FILE           its private key (PEM), when not in the --cert file
  -x, --proxy URL          send every request through this HTTP proxy
      --anyauth, --digest, --ntlm, --negotiate
                           your client sends the credential only when challenged: the doctor
                           first asks without it, as that client would (-u is then sent as given)
      --timeout DURATION   per-request timeout (default 10s); also -m, --max-time SECONDS
  Proxy variables (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, NO_PROXY) are honoured.

Accepted and ignored (they change nothing the doctor judges; it walks redirects itself
and shows the bytes the server sent):
  --compressed, -L/--location, --location-trusted, -s/--silent, -S/--show-error,
  -v/--verbose, -i/--include, -g/--globoff, -f/--fail, --fail-with-body, -#/--progress-bar,
  -N/--no-buffer,
  --no-progress-meter, --http1.0, --http1.1, --http2, --http2-prior-knowledge, --http3,
  -0, --basic, --path-as-is, --tr-encoding, --raw, --no-keepalive, --tcp-nodelay,
  and with a value: -o/--output, -w/--write-out, -D/--dump-header, -c/--cookie-jar,
  --connect-timeout, --max-redirs, --retry, --retry-delay, --retry-max-time, --trace,
  --trace-ascii, -r/--range, --limit-rate.

Output:
      --json               one JSON object: {request, hops, response, credential, findings, verdict}
  Colour only on a terminal; NO_COLOR turns it off.

Exit status: 0 ok (authenticated), 1 a failure was diagnosed (a proxy's 407 included),
2 bad usage, 3 the server could not be reached.

Examples:
  gatehouse doctor https://api.example.com/orders -H "Authorization: Bearer $TOKEN"
  gatehouse doctor -X POST https://api.example.com/items -u alice:secret -d 'name=x'
  gatehouse doctor curl 'https://api.example.com/me' -H 'authorization: Bearer ey...' --compressed
  pbpaste | gatehouse doctor -
  gatehouse doctor https://api.example.com/me --env-file .env --var API_TOKEN \
      --expect-audience api://orders --fetch-jwks
  gatehouse doctor https://api.example.com/orders -H "Authorization: Bearer $TOKEN" \
      --origin http://localhost:3000
  gatehouse doctor https://mtls.example.com/v1/me --cert client.pem --key client.key
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

	// What curl flags gather before they become options: -d values are joined with &
	// as curl does, -G moves them to the query, -F and --form-string build a multipart
	// body, -b values make one Cookie header.
	data      []string
	get       bool
	head      bool
	forms     []formPart
	cookies   []string
	fromStdin bool
	// skippedCurl: the leading "curl" word was skipped (only one is).
	skippedCurl bool
	// ignored are the curl flags accepted and ignored (shown by the tests, never
	// printed: they may sit next to a secret).
	ignored []string
}

// formPart is one -F/--form-string field.
type formPart struct {
	name, value string
	file        string // -F name=@FILE
}

// doctorFlag describes one flag: whether it takes a value, and how to apply it.
type doctorFlag struct {
	value bool
	apply func(a *doctorArgs, v string, env *cliEnv) error
}

// curlIgnored are curl flags that "Copy as cURL" (Chrome, Firefox, Safari), Postman's
// code export and common scripts emit and that change nothing the doctor judges: output
// and progress options, compression (the doctor asks for none and shows the bytes the
// server sent), following redirects (the doctor walks every redirect itself, and never
// forwards the credential off the named origins), and the HTTP version (negotiated as
// Go does). The bool says whether the flag takes a value.
var curlIgnored = map[string]bool{
	"--compressed": false, "-L": false, "--location": false, "-s": false, "--silent": false,
	"-S": false, "--show-error": false, "-v": false, "--verbose": false, "-i": false,
	"--include": false, "-g": false, "--globoff": false, "--http1.0": false, "--http1.1": false,
	"--http2": false, "--http2-prior-knowledge": false, "--http3": false, "-f": false,
	"--fail": false, "--fail-with-body": false, "-#": false, "--progress-bar": false,
	"-N": false, "--no-buffer": false, "--path-as-is": false, "--tr-encoding": false,
	"-0": false, "--basic": false, "--no-keepalive": false, "--tcp-nodelay": false,
	"--raw": false, "--no-progress-meter": false, "--location-trusted": false,
	"-o": true, "--output": true, "-w": true, "--write-out": true, "--connect-timeout": true,
	"--max-redirs": true, "--retry": true, "--retry-delay": true, "--retry-max-time": true,
	"-D": true, "--dump-header": true, "--trace": true, "--trace-ascii": true,
	"-c": true, "--cookie-jar": true, "-r": true, "--range": true, "--limit-rate": true,
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
	addHeader := func(name string) doctorFlag {
		return str(func(a *doctorArgs, v string) {
			a.opts.Headers = append(a.opts.Headers, doctor.Header{Name: name, Value: v})
		})
	}
	// dataFlag reads a -d style value: at (@FILE is read), and how the value is encoded.
	dataFlag := func(at bool, encode func(string) string) doctorFlag {
		return doctorFlag{value: true, apply: func(a *doctorArgs, v string, env *cliEnv) error {
			if at {
				b, err := readData(v, env)
				if err != nil {
					return err
				}
				v = b
			}
			if encode != nil {
				v = encode(v)
			}
			a.data = append(a.data, v)
			return nil
		}}
	}
	urlencode := doctorFlag{value: true, apply: func(a *doctorArgs, v string, env *cliEnv) error {
		// curl --data-urlencode: "content", "=content", "name=content", "@file", "name@file".
		name, content := "", v
		if i := strings.IndexAny(v, "=@"); i >= 0 {
			name, content = v[:i], v[i+1:]
			if v[i] == '@' {
				b, err := readData("@"+content, env)
				if err != nil {
					return err
				}
				content = b
			}
		}
		enc := url.QueryEscape(content)
		if name != "" {
			enc = name + "=" + enc
		}
		a.data = append(a.data, enc)
		return nil
	}}
	form := func(literal bool) doctorFlag {
		return doctorFlag{value: true, apply: func(a *doctorArgs, v string, _ *cliEnv) error {
			name, value, ok := strings.Cut(v, "=")
			if !ok || name == "" {
				return fmt.Errorf("-F wants 'name=value' or 'name=@FILE'")
			}
			p := formPart{name: name, value: value}
			if !literal && strings.HasPrefix(value, "@") {
				// Postman writes -F 'file=@"/path/to/file"'; curl strips those quotes too.
				file, _, _ := strings.Cut(value[1:], ";")
				p.file, p.value = strings.Trim(file, `"`), ""
			} else if !literal && strings.HasPrefix(value, "<") {
				p.file, p.value = value[1:], ""
			}
			a.forms = append(a.forms, p)
			return nil
		}}
	}
	cookie := doctorFlag{value: true, apply: func(a *doctorArgs, v string, _ *cliEnv) error {
		if !strings.Contains(v, "=") {
			return fmt.Errorf("-b without '=' names a cookie file, which the doctor does not read; pass the cookies themselves: -b 'name=value; other=value'")
		}
		a.cookies = append(a.cookies, v)
		return nil
	}}
	method := str(func(a *doctorArgs, v string) { a.opts.Method = v })
	user := str(func(a *doctorArgs, v string) { a.opts.UserPass, a.opts.HasUserPass = v, true })
	insecure := boolean(func(a *doctorArgs) { a.opts.Insecure = true })
	timeout := doctorFlag{value: true, apply: func(a *doctorArgs, v string, _ *cliEnv) error {
		d, err := parseTimeout(v)
		if err != nil {
			return err
		}
		a.opts.Timeout = d
		return nil
	}}
	proxy := str(func(a *doctorArgs, v string) { a.opts.Proxy = v })
	challengeFirst := func(name string) doctorFlag {
		return boolean(func(a *doctorArgs) { a.opts.ChallengeFirst = "curl " + name })
	}
	flags := map[string]doctorFlag{
		"-X": method, "--request": method,
		"-H": header, "--header": header,
		"-d": dataFlag(true, nil), "--data": dataFlag(true, nil), "--data-ascii": dataFlag(true, nil),
		"--data-raw": dataFlag(false, nil), "--data-binary": dataFlag(true, nil), "--json-data": dataFlag(true, nil),
		"--data-urlencode": urlencode,
		"-F":               form(false), "--form": form(false), "--form-string": form(true),
		"-G": boolean(func(a *doctorArgs) { a.get = true }), "--get": boolean(func(a *doctorArgs) { a.get = true }),
		"-I": boolean(func(a *doctorArgs) { a.head = true }), "--head": boolean(func(a *doctorArgs) { a.head = true }),
		"-u": user, "--user": user,
		"-b": cookie, "--cookie": cookie,
		"-A": addHeader("User-Agent"), "--user-agent": addHeader("User-Agent"),
		"-e": addHeader("Referer"), "--referer": addHeader("Referer"),
		"--oauth2-bearer": str(func(a *doctorArgs, v string) {
			a.opts.Headers = append(a.opts.Headers, doctor.Header{Name: "Authorization", Value: "Bearer " + v})
		}),
		"--url": str(func(a *doctorArgs, v string) { a.opts.URL, a.haveURL = v, true }),
		"-x":    proxy, "--proxy": proxy,
		"--anyauth": challengeFirst("--anyauth"), "--digest": challengeFirst("--digest"),
		"--ntlm": challengeFirst("--ntlm"), "--negotiate": challengeFirst("--negotiate"),
		"-E": str(func(a *doctorArgs, v string) { a.opts.CertFile = v }), "--cert": str(func(a *doctorArgs, v string) { a.opts.CertFile = v }),
		"--key":             str(func(a *doctorArgs, v string) { a.opts.KeyFile = v }),
		"--origin":          str(func(a *doctorArgs, v string) { a.opts.Origin = v }),
		"--expect-issuer":   str(func(a *doctorArgs, v string) { a.opts.ExpectIssuer = v }),
		"--expect-audience": str(func(a *doctorArgs, v string) { a.opts.ExpectAudience = v }),
		"--env-file":        str(func(a *doctorArgs, v string) { a.opts.EnvFile = v }),
		"--var":             str(func(a *doctorArgs, v string) { a.opts.EnvVar = v }),
		"--allow-host":      str(func(a *doctorArgs, v string) { a.opts.AllowHosts = append(a.opts.AllowHosts, v) }),
		"--compare-url":     str(func(a *doctorArgs, v string) { a.opts.CompareURL = v }),
		"--cacert":          str(func(a *doctorArgs, v string) { a.opts.CACertFile = v }),
		"--har":             str(func(a *doctorArgs, v string) { a.har = v }),
		"--timeout":         timeout, "-m": timeout, "--max-time": timeout,
		"--fetch-jwks":     boolean(func(a *doctorArgs) { a.opts.FetchJWKS = true }),
		"--retry-variants": boolean(func(a *doctorArgs) { a.opts.RetryVariants = true }),
		"--json":           boolean(func(a *doctorArgs) { a.json = true }),
		"-k":               insecure, "--insecure": insecure,
	}
	for name, takesValue := range curlIgnored {
		name := name
		flags[name] = doctorFlag{value: takesValue, apply: func(a *doctorArgs, _ string, _ *cliEnv) error {
			a.ignored = append(a.ignored, name)
			return nil
		}}
	}
	return flags
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

// maxPastedCommand bounds what `gatehouse doctor -` reads from stdin.
const maxPastedCommand = 1 << 20

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
// at the first non-flag, and curl users put the URL anywhere. A leading "curl" word is
// skipped, so a copied curl command works after "gatehouse doctor", and "-" in place of
// the URL reads such a command from stdin (see package shellwords for the quoting understood).
func parseDoctorArgs(args []string, env *cliEnv) (*doctorArgs, error) {
	a := &doctorArgs{}
	if err := a.scan(args, env, doctorFlags()); err != nil {
		return nil, err
	}
	if err := a.finish(env); err != nil {
		return nil, err
	}
	switch {
	case a.har != "" && a.haveURL:
		return nil, errors.New("give a URL or --har FILE, not both")
	case a.har == "" && !a.haveURL:
		return nil, errors.New("missing URL")
	}
	return a, nil
}

// isCurlWord reports whether a word is the curl program itself.
func isCurlWord(s string) bool {
	switch strings.ToLower(s) {
	case "curl", "curl.exe", "/usr/bin/curl", "/usr/local/bin/curl":
		return true
	}
	return false
}

func (a *doctorArgs) scan(args []string, env *cliEnv, flags map[string]doctorFlag) error {
	onlyPositional := false
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "-" && !onlyPositional {
			if a.fromStdin {
				return errors.New("the command read from stdin may not itself say '-'")
			}
			if a.haveURL {
				return errors.New("give a URL or '-' (read a curl command from stdin), not both")
			}
			words, err := readPastedCommand(env)
			if err != nil {
				return err
			}
			a.fromStdin = true
			if err := a.scan(words, env, flags); err != nil {
				return fmt.Errorf("the command on stdin: %w", err)
			}
			if !a.haveURL {
				return errors.New("the command on stdin has no URL")
			}
			continue
		}
		if onlyPositional || !strings.HasPrefix(arg, "-") {
			if !a.haveURL && !a.skippedCurl && isCurlWord(arg) {
				a.skippedCurl = true
				continue // "gatehouse doctor curl 'https://...' -H ..." as copied
			}
			if a.haveURL {
				return fmt.Errorf("more than one URL given (%q is the second); quote header values with spaces", clipArg(arg))
			}
			a.opts.URL, a.haveURL = arg, true
			continue
		}
		if arg == "--" {
			onlyPositional = true
			continue
		}
		if arg == "-h" || arg == "--help" {
			return errHelp
		}
		if strings.HasPrefix(arg, "--") {
			name, value, hasValue := arg, "", false
			if n, v, ok := strings.Cut(arg, "="); ok {
				name, value, hasValue = n, v, true
			}
			fl, ok := flags[name]
			if !ok {
				return fmt.Errorf("unknown flag %s", clipArg(name))
			}
			switch {
			case fl.value && !hasValue:
				if i+1 >= len(args) {
					return fmt.Errorf("flag %s needs a value", name)
				}
				i++
				value = args[i]
			case !fl.value && hasValue:
				return fmt.Errorf("flag %s takes no value", name)
			}
			if err := fl.apply(a, value, env); err != nil {
				return err
			}
			continue
		}
		// Short flags, as curl reads them: a run of flags without values ("-sSL"), the
		// last of which may take a value, attached ("-XPOST", "-H'Name: v'") or next.
		for j := 1; j < len(arg); j++ {
			name := "-" + arg[j:j+1]
			fl, ok := flags[name]
			if !ok {
				return fmt.Errorf("unknown flag %s", clipArg(name))
			}
			if !fl.value {
				if err := fl.apply(a, "", env); err != nil {
					return err
				}
				continue
			}
			value := arg[j+1:]
			if value == "" {
				if i+1 >= len(args) {
					return fmt.Errorf("flag %s needs a value", name)
				}
				i++
				value = args[i]
			}
			if err := fl.apply(a, value, env); err != nil {
				return err
			}
			break
		}
	}
	return nil
}

// readPastedCommand reads and splits the command of `gatehouse doctor -`.
func readPastedCommand(env *cliEnv) ([]string, error) {
	b, err := io.ReadAll(io.LimitReader(env.stdin, maxPastedCommand+1))
	if err != nil {
		return nil, fmt.Errorf("read the command from stdin: %w", err)
	}
	if len(b) > maxPastedCommand {
		return nil, errors.New("the command on stdin is larger than 1 MiB")
	}
	words, err := shellwords.Split(string(b), env.getenv)
	if err != nil {
		return nil, fmt.Errorf("the command on stdin: %w", err)
	}
	if len(words) == 0 {
		return nil, errors.New("stdin holds no command (paste a curl command, then end the input with Ctrl-D)")
	}
	return words, nil
}

// finish turns what curl flags gathered into options: the -d values joined with &, -G
// moving them into the query, -F building a multipart body, -b making one Cookie.
func (a *doctorArgs) finish(env *cliEnv) error {
	if len(a.cookies) > 0 {
		a.opts.Headers = append(a.opts.Headers, doctor.Header{Name: "Cookie", Value: strings.Join(a.cookies, "; ")})
	}
	if len(a.forms) > 0 && len(a.data) > 0 {
		return errors.New("-F and -d cannot be combined (curl refuses it too)")
	}
	if a.head {
		a.opts.Method = "HEAD"
	}
	if len(a.data) > 0 {
		body := strings.Join(a.data, "&")
		if a.get {
			if a.haveURL {
				sep := "?"
				if strings.Contains(a.opts.URL, "?") {
					sep = "&"
				}
				a.opts.URL += sep + body
			}
			if a.opts.Method == "" {
				a.opts.Method = "GET"
			}
		} else {
			a.opts.Body, a.opts.HasBody = body, true
		}
	}
	if len(a.forms) > 0 {
		var buf strings.Builder
		w := multipart.NewWriter(&buf)
		for _, p := range a.forms {
			if p.file == "" {
				if err := w.WriteField(p.name, p.value); err != nil {
					return err
				}
				continue
			}
			b, err := readData("@"+p.file, env)
			if err != nil {
				return err
			}
			fw, err := w.CreateFormFile(p.name, filepath.Base(p.file))
			if err != nil {
				return err
			}
			if _, err := io.WriteString(fw, b); err != nil {
				return err
			}
		}
		if err := w.Close(); err != nil {
			return err
		}
		a.opts.Body, a.opts.HasBody = buf.String(), true
		if !hasDoctorHeader(a.opts.Headers, "Content-Type") {
			a.opts.Headers = append(a.opts.Headers, doctor.Header{Name: "Content-Type", Value: w.FormDataContentType()})
		}
	}
	return nil
}

func hasDoctorHeader(hs []doctor.Header, name string) bool {
	for _, h := range hs {
		if strings.EqualFold(h.Name, name) {
			return true
		}
	}
	return false
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
