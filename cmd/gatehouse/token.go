package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/tokens"
)

func init() {
	register(command{
		name:    "token",
		summary: "decode a JWT offline, without verifying it (token inspect)",
		run:     runToken,
	})
}

// nowFunc is the clock for relative times; tests replace it.
var nowFunc = time.Now

const tokenUsage = `Usage: gatehouse token inspect [--json] [TOKEN|-]

Decodes a JWT offline and prints its JOSE header, its claims, exp/nbf/iat as absolute UTC
times and relative to now, its scopes, and the length of its signature (never the
signature itself). Nothing is verified: the output says what the token claims, not
whether it is genuine.

The token is read from standard input when TOKEN is "-" or absent. Prefer that: a token
given as an argument is visible to other users in the process list and is kept in your
shell history. Surrounding whitespace and a leading "Bearer " or "Authorization: Bearer "
are removed.

Flags:
  --json   print one JSON object: {header, claims, times, scopes, signature_bytes, verified}
`

const tokenInspectNote = "Nothing was verified: this is a decode, not a validation."

// maxTokenInspectInput bounds what is read from standard input; a JWT is at most 16 KiB.
const maxTokenInspectInput = 1 << 20

func runToken(ctx context.Context, env *cliEnv, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(env.stderr, tokenUsage)
		return 2
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprint(env.stdout, tokenUsage)
		return 0
	case "inspect":
		return runTokenInspect(env, args[1:])
	}
	fmt.Fprintf(env.stderr, "gatehouse token: unknown subcommand %q\n\n%s", args[0], tokenUsage)
	return 2
}

// runTokenInspect implements "gatehouse token inspect".
func runTokenInspect(env *cliEnv, args []string) int {
	fs := flag.NewFlagSet("gatehouse token inspect", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	asJSON := fs.Bool("json", false, "print JSON")
	// Flags may follow the token, as in "inspect TOKEN --json".
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprint(env.stdout, tokenUsage)
				return 0
			}
			fmt.Fprintf(env.stderr, "gatehouse token inspect: %v\n\n%s", err, tokenUsage)
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(positional) > 1 {
		fmt.Fprintf(env.stderr, "gatehouse token inspect: want at most one TOKEN, got %d arguments\n\n%s", len(positional), tokenUsage)
		return 2
	}
	raw, fromStdin := "-", true
	if len(positional) == 1 && positional[0] != "-" {
		raw, fromStdin = positional[0], false
	}
	if fromStdin {
		b, err := io.ReadAll(io.LimitReader(env.stdin, maxTokenInspectInput+1))
		if err != nil {
			fmt.Fprintf(env.stderr, "gatehouse token inspect: reading standard input: %v\n", err)
			return 1
		}
		if len(b) > maxTokenInspectInput {
			fmt.Fprintf(env.stderr, "gatehouse token inspect: standard input is larger than %d bytes; a JWT is at most %d\n", maxTokenInspectInput, tokens.MaxTokenBytes)
			return 1
		}
		raw = string(b)
	}
	tok := trimPastedToken(raw)
	if tok == "" {
		where := "the argument is empty"
		if fromStdin {
			where = "standard input is empty"
		}
		fmt.Fprintf(env.stderr, "gatehouse token inspect: no token: %s\n", where)
		return 1
	}
	d, err := tokens.Decode(tok)
	if err != nil {
		fmt.Fprintf(env.stderr, "gatehouse token inspect: %s\n", explainTokenDecodeError(tok, err))
		return 1
	}
	r := buildTokenInspection(d, nowFunc().UTC())
	if *asJSON {
		enc := json.NewEncoder(env.stdout)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			fmt.Fprintf(env.stderr, "gatehouse token inspect: %v\n", err)
			return 1
		}
		return 0
	}
	writeTokenInspection(env.stdout, r)
	return 0
}

// trimPastedToken removes what people paste around a token: whitespace, and the
// "Authorization:" header name and "Bearer" scheme.
func trimPastedToken(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 14 && strings.EqualFold(s[:14], "authorization:") {
		s = strings.TrimSpace(s[14:])
	}
	if len(s) >= 7 && strings.EqualFold(s[:7], "bearer ") {
		s = strings.TrimSpace(s[7:])
	}
	return s
}

func explainTokenDecodeError(tok string, err error) string {
	switch {
	case errors.Is(err, tokens.ErrNotJWT) && strings.HasPrefix(tok, "gk_"):
		return "this is a Gatehouse API key, not a JWT: API keys are opaque (\"gatehouse keys list\" shows their metadata)"
	case errors.Is(err, tokens.ErrNotJWT):
		return fmt.Sprintf("not a JWT: a JWT has three dot-separated segments, this has %d; an opaque token can only be read by its issuer (token introspection)",
			strings.Count(tok, ".")+1)
	case errors.Is(err, tokens.ErrJWE):
		return "this is an encrypted JWT (JWE, five segments): its claims cannot be read without the recipient's key"
	case errors.Is(err, tokens.ErrTooLarge):
		return fmt.Sprintf("the token is %d bytes; a JWT is at most %d", len(tok), tokens.MaxTokenBytes)
	}
	// ErrMalformed: the message names the segment and the problem, never the content.
	msg := strings.TrimPrefix(err.Error(), "decode token: ")
	return "malformed token: " + strings.TrimPrefix(msg, "malformed: ")
}

// tokenInspection is what token inspect reports; it is also the --json shape.
type tokenInspection struct {
	Header         map[string]any             `json:"header"`
	Claims         map[string]any             `json:"claims"`
	Now            string                     `json:"now"`
	Times          map[string]*tokenClaimTime `json:"times"`
	Scopes         []string                   `json:"scopes"`
	SignatureBytes int                        `json:"signature_bytes"`
	Verified       bool                       `json:"verified"`
	Note           string                     `json:"note"`
}

// tokenClaimTime is one of exp, nbf, iat.
type tokenClaimTime struct {
	Time     string `json:"time,omitempty"`
	Relative string `json:"relative,omitempty"`
	Error    string `json:"error,omitempty"`
}

var tokenTimeClaims = []string{"exp", "nbf", "iat"}

func buildTokenInspection(d *tokens.Decoded, now time.Time) *tokenInspection {
	r := &tokenInspection{
		Header:         d.Header,
		Claims:         d.Claims,
		Now:            now.Format(time.RFC3339),
		Times:          map[string]*tokenClaimTime{},
		Scopes:         d.Scopes(),
		SignatureBytes: d.SignatureBytes,
		Note:           tokenInspectNote,
	}
	if r.Scopes == nil {
		r.Scopes = []string{}
	}
	for _, name := range tokenTimeClaims {
		if _, present := d.Claims[name]; !present {
			continue
		}
		t, ok := d.Time(name)
		if !ok {
			r.Times[name] = &tokenClaimTime{Error: "not a NumericDate (seconds since 1970)"}
			continue
		}
		r.Times[name] = &tokenClaimTime{Time: t.UTC().Format(time.RFC3339), Relative: tokenTimeRelative(name, t, now)}
	}
	return r
}

// relative says how a token time relates to now, in the words a person would use.
func tokenTimeRelative(claim string, t, now time.Time) string {
	d := t.Sub(now)
	ago, ahead := decision.FormatDuration(-d), decision.FormatDuration(d)
	past := d < 0
	if d.Abs() < time.Second/2 {
		switch claim {
		case "exp":
			return "expires now"
		case "nbf":
			return "valid from now"
		}
		return "issued now"
	}
	switch claim {
	case "exp":
		if past {
			return "expired " + ago + " ago"
		}
		return "valid for another " + ahead
	case "nbf":
		if past {
			return "valid since " + ago + " ago"
		}
		return "not valid for another " + ahead
	default:
		if past {
			return "issued " + ago + " ago"
		}
		return "issued " + ahead + " in the future (a clock is wrong)"
	}
}

func writeTokenInspection(w io.Writer, r *tokenInspection) {
	var b bytes.Buffer
	b.WriteString("Header\n")
	writeTokenJSON(&b, r.Header)
	b.WriteString("\nClaims\n")
	writeTokenJSON(&b, r.Claims)
	fmt.Fprintf(&b, "\nTimes (now %s)\n", r.Now)
	anyTime := false
	for _, name := range tokenTimeClaims {
		ct, ok := r.Times[name]
		if !ok {
			continue
		}
		anyTime = true
		if ct.Error != "" {
			fmt.Fprintf(&b, "  %s  %s\n", name, ct.Error)
			continue
		}
		fmt.Fprintf(&b, "  %s  %s  %s\n", name, ct.Time, ct.Relative)
	}
	if !anyTime {
		b.WriteString("  (no exp, nbf or iat claim)\n")
	}
	if _, ok := r.Times["exp"]; !ok {
		b.WriteString("  no exp: this token never expires, and Gatehouse refuses tokens without exp\n")
	}
	b.WriteString("\n")
	if len(r.Scopes) == 0 {
		b.WriteString("Scopes     (none)\n")
	} else {
		fmt.Fprintf(&b, "Scopes     %s\n", strings.Join(r.Scopes, " "))
	}
	if r.SignatureBytes == 0 {
		b.WriteString("Signature  none: the token is unsigned\n")
	} else {
		fmt.Fprintf(&b, "Signature  %d bytes (not shown)\n", r.SignatureBytes)
	}
	b.WriteString("\n" + tokenInspectNote + "\n")
	_, _ = w.Write(b.Bytes())
}

func writeTokenJSON(b *bytes.Buffer, v any) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(b, "(cannot display: %v)\n", err)
	}
}
