package lint

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/challenge"
	"github.com/gatehouse-dev/gatehouse/internal/doctor/finding"
)

// Input is one credential as the user gave it.
type Input struct {
	HeaderName    string   // "Authorization", "X-API-Key", ...
	Value         string   // the raw header value as given (may contain \r, \n, NBSP...)
	Source        string   // human description: "-H flag", "--env-file .env (API_KEY)", "-u flag"
	TargetHost    string   // host of the URL being called
	ServerSchemes []string // schemes from the server's challenges, nil if unknown yet
	TokenEndpoint bool     // the request body has grant_type= (an OAuth token endpoint call)
	BasicCharset  string   // charset param of the server's Basic challenge, if any
}

// Finding codes produced by this package (docs/doctor.md#the-rule-catalogue, groups B, D and E).
const (
	CodeMissingOrEmpty       = "credential_missing_or_empty"
	CodePlaceholder          = "unexpanded_placeholder"
	CodeTrailingNewline      = "trailing_newline_or_cr"
	CodeBasicTrailingNewline = "basic_base64_trailing_newline"
	CodeBasicMalformed       = "basic_credentials_malformed"
	CodeQuoted               = "value_wrapped_in_quotes"
	CodeNonASCII             = "non_ascii_or_invisible_chars"
	CodeTruncated            = "truncated_or_masked_credential"
	CodeSchemeMalformed      = "scheme_prefix_malformed"
	CodeSchemeMismatch       = "scheme_name_or_case_mismatch"
	CodeClientSecretEncoding = "oauth_client_secret_basic_encoding"
	CodeShellMangled         = "shell_mangled_secret"
	CodeWrongEnvironment     = "wrong_environment_or_account_credential"
	CodeUnderscoreHeader     = "underscore_header_dropped"
	CodeAPIKeyWrongPlace     = "api_key_wrong_place"
)

// Credential runs every offline check on one credential header: the group-D rules of
// docs/doctor.md#d-the-credentials-bytes (missing values, placeholders, stray whitespace, Basic decoding, quotes,
// invisible characters, truncation, the scheme prefix, the scheme name against the
// server's challenges, OAuth client-secret encoding, shell-mangled secrets), the offline
// part of underscore_header_dropped, and wrong_environment_or_account_credential and
// api_key_wrong_place when the value alone shows them. A healthy value gives no finding
// of severity error. Evidence shows the value only in Redact's form; Basic passwords only
// by length.
func Credential(in Input) []finding.Finding {
	c := &checker{in: in, header: strings.TrimSpace(in.HeaderName)}
	if c.header == "" {
		c.header = "Authorization"
	}
	c.run()
	return c.out
}

// checker accumulates the findings of one Credential call.
type checker struct {
	in     Input
	header string
	out    []finding.Finding
	// explained is set once a finding already accounts for the value's syntax, so the
	// generic grammar check does not report the same fault a second time.
	explained bool
}

// authSchemes are scheme names seen in the wild, used to recognise a duplicated or
// misplaced scheme word. Compared case-insensitively.
var authSchemes = []string{
	"Bearer", "Basic", "Token", "Digest", "Negotiate", "NTLM", "ApiKey", "Api-Key", "JWT",
	"OAuth", "DPoP", "HOBA", "Mutual", "SSWS", "Key", "Hawk", "AWS4-HMAC-SHA256",
	"SharedKey", "GenieKey", "Splunk", "Kerberos",
}

// canonicalScheme returns the usual spelling of a known scheme and whether it is known.
func canonicalScheme(s string) (string, bool) {
	for _, k := range authSchemes {
		if strings.EqualFold(k, s) {
			return k, true
		}
	}
	return "", false
}

// missingWords are what a template or a language runtime writes when a variable had no
// value: JavaScript, JSON, Python, Go/Ruby, and a stringified object.
var missingWords = []string{"undefined", "null", "none", "nil", "nan", "[object object]", "false"}

func isMissingWord(s string) bool {
	for _, w := range missingWords {
		if strings.EqualFold(s, w) {
			return true
		}
	}
	return false
}

// severityFor maps a score to the severity the doctor shows.
func severityFor(score int) finding.Severity {
	switch {
	case score >= 60:
		return finding.Error
	case score >= 30:
		return finding.Warning
	}
	return finding.Info
}

// add appends a finding; the first evidence line always names the header, its source and
// the redacted value.
func (c *checker) add(code string, score int, summary, fix string, evidence ...string) {
	ev := append([]string{c.subject()}, evidence...)
	c.out = append(c.out, finding.Finding{
		Code: code, Severity: severityFor(score), Summary: summary, Evidence: ev, Fix: fix, Score: score,
	})
	if score >= 60 {
		c.explained = true
	}
}

func (c *checker) subject() string {
	src := ""
	if c.in.Source != "" {
		src = " from " + c.in.Source
	}
	return fmt.Sprintf("%s%s: %s", c.header, src, Redact(c.in.Value))
}

func (c *checker) isAuthorization() bool {
	return strings.EqualFold(c.header, "Authorization") || strings.EqualFold(c.header, "Proxy-Authorization")
}

func (c *checker) run() {
	c.headerName()
	v := c.in.Value
	if strings.Trim(v, " \t\r\n") == "" {
		ev := []string{fmt.Sprintf("the value is %d bytes, all of them blank", len(v))}
		if v == "" {
			ev = []string{"the value is empty (0 bytes)"}
		}
		c.add(CodeMissingOrEmpty, 95, fmt.Sprintf("The %s header is empty.", c.header),
			"No credential was sent. Check that the variable you build the header from is set in this shell or file (echo ${#VAR} prints its length without showing it).",
			ev...)
		return
	}
	core, lead := c.edges(v)
	c.invisible(core, lead)
	if c.isAuthorization() {
		c.authorization(core)
	} else {
		c.keyHeader(core)
	}
}

// headerName checks the header's name: nginx (and other proxies) drop names with '_'.
func (c *checker) headerName() {
	if !strings.Contains(c.header, "_") {
		return
	}
	better := strings.ReplaceAll(c.header, "_", "-")
	c.add(CodeUnderscoreHeader, 40,
		fmt.Sprintf("The header name %q contains an underscore; nginx and several proxies silently discard such headers.", c.header),
		fmt.Sprintf("Send the hyphenated name (%s) if the API accepts it. Server owners behind nginx: set 'underscores_in_headers on;' in the server block that receives the request.", better),
		"nginx drops header names with underscores by default (underscores_in_headers off), so the API may never see this header",
		fmt.Sprintf("hyphenated form: %s", better))
}

// edges reports whitespace and line breaks before or after the value and returns the
// value without them, and how many bytes were cut from the front.
func (c *checker) edges(v string) (core string, lead int) {
	const ws = " \t\r\n"
	core = strings.Trim(v, ws)
	lead = len(v) - len(strings.TrimLeft(v, ws))
	head, tail := v[:lead], v[lead+len(core):]
	if head == "" && tail == "" {
		return core, lead
	}
	hasBreak := strings.ContainsAny(head+tail, "\r\n")
	var ev []string
	if head != "" {
		ev = append(ev, fmt.Sprintf("starts with %s (%d bytes)", q(head), len(head)))
	}
	if tail != "" {
		ev = append(ev, fmt.Sprintf("ends with %s (%d bytes) after %d bytes of credential", q(tail), len(tail), len(core)))
	}
	ev = append(ev, fmt.Sprintf("total length %d bytes; without the extra bytes %d", len(v), len(core)))
	if hasBreak {
		ev = append(ev,
			"Go's net/http refuses to send a header value containing \\r or \\n (\"invalid header field value\"); the doctor caught it before sending",
			"other clients fail too (Node: \"Invalid character in header content\", Python: \"Invalid header value\") or send a corrupted request")
		c.add(CodeTrailingNewline, 95,
			"The credential has a line break at its edge (typically from a file, echo, or a Windows .env with CRLF line endings).",
			"Strip the line break where the value is read: printf '%s' instead of echo, $(tr -d '\\r\\n' < file), or convert the .env to LF line endings (dos2unix .env).",
			ev...)
		return core, lead
	}
	if _, scheme := canonicalScheme(strings.TrimRight(core, ":")); scheme {
		return core, lead // "Bearer " with nothing after it: reported as a missing credential
	}
	ev = append(ev, "servers usually trim spaces and tabs around a header value, but a value copied into a body, a query or a config keeps them")
	c.add(CodeTrailingNewline, 30,
		"The credential has spaces or tabs at its edge.",
		"Remove the surrounding whitespace from the value where it is defined.",
		ev...)
	return core, lead
}

// invisible reports every character of core that is not printable ASCII, other than the
// spaces the grammar checks deal with. lead is core's offset in the original value so
// positions refer to the value as given.
func (c *checker) invisible(core string, lead int) {
	const maxShown = 5
	var ev []string
	count, chars := 0, utf8.RuneCountInString(c.in.Value[:lead])
	for i := 0; i < len(core); {
		r, size := utf8.DecodeRuneInString(core[i:])
		chars++
		pos := fmt.Sprintf("character %d (byte %d)", chars, lead+i)
		switch {
		case r == utf8.RuneError && size <= 1:
			count++
			if count <= maxShown {
				ev = append(ev, fmt.Sprintf("%s: byte 0x%02X is not valid UTF-8 (a Latin-1 or binary byte)", pos, core[i]))
			}
		case r == ' ' || (r > 0x20 && r < 0x7f):
		default:
			count++
			if count <= maxShown {
				ev = append(ev, fmt.Sprintf("%s: %s", pos, describeRune(r)))
			}
		}
		i += size
	}
	if count == 0 {
		return
	}
	if count > maxShown {
		ev = append(ev, fmt.Sprintf("… and %d more", count-maxShown))
	}
	ev = append(ev, "browsers refuse such a header (\"String contains non ISO-8859-1 code point\"); other clients send the bytes and the server's comparison fails")
	summary := fmt.Sprintf("The credential contains %d invisible or non-ASCII character(s); real tokens and keys are plain ASCII.", count)
	c.add(CodeNonASCII, 92, summary,
		"Copy the credential again with the issuing app's copy button or from the raw file, not from a web page, chat or word processor, and retype any quotes or dashes around it.",
		ev...)
}

// authorization checks an Authorization or Proxy-Authorization value (already trimmed).
func (c *checker) authorization(v string) {
	if unq, ok := unquote(v); ok {
		c.add(CodeQuoted, 92, "The whole header value is wrapped in quotes, so the quotes are sent as part of it.",
			"Remove the quotes from the value (they belong to the shell or the .env syntax, not to the header).",
			fmt.Sprintf("the value starts and ends with %s", quoteName(v)))
		v = unq
	}
	// The header name pasted into the value: -H "Authorization: Authorization: Bearer x".
	if w, rest, _ := strings.Cut(v, " "); strings.EqualFold(strings.TrimSuffix(w, ":"), c.header) {
		c.add(CodeSchemeMalformed, 92, "The header value starts with the header name again.",
			fmt.Sprintf("Give the value only: '%s: Bearer <token>', not '%s: %s: Bearer <token>'.", c.header, c.header, c.header),
			fmt.Sprintf("the value begins with %q", w))
		v = strings.TrimLeft(rest, " ")
	}
	word, rest, spaced := cutSpace(v)
	if !spaced {
		c.noScheme(word)
		return
	}
	scheme := word
	if s, ok := strings.CutSuffix(word, ":"); ok && s != "" {
		c.add(CodeSchemeMalformed, 90, fmt.Sprintf("The scheme is written %q, with a colon.", word),
			fmt.Sprintf("Write '%s <token>': the scheme word, one space, then the credential.", s),
			fmt.Sprintf("the first word is %q; the colon makes it a different, unknown scheme", word))
		scheme = s
	}
	if gap := len(v) - len(word) - len(rest); gap > 1 || strings.Contains(v[len(word):len(v)-len(rest)], "\t") {
		c.add(CodeSchemeMalformed, 50, "There is more than one space (or a tab) between the scheme and the credential.",
			fmt.Sprintf("Use exactly one space: '%s <credential>'.", scheme),
			fmt.Sprintf("%d whitespace bytes (%s) after %q", gap, q(v[len(word):len(v)-len(rest)]), scheme),
			"RFC 9110 allows several spaces, but many servers split on one space and then read an empty credential")
	}
	// A duplicated scheme: "Bearer Bearer x", "Bearer Token x", "Bearer Basic x".
	if w2, rest2, ok := cutSpace(rest); ok {
		if k, known := canonicalScheme(strings.TrimSuffix(w2, ":")); known {
			c.add(CodeSchemeMalformed, 92, fmt.Sprintf("The scheme appears twice (%q then %q).", scheme, w2),
				fmt.Sprintf("Send one scheme word: '%s <token>'. The prefix is probably added both in your variable and in the code that builds the header.", k),
				fmt.Sprintf("the credential part starts with the scheme word %q", w2))
			rest = rest2
		}
	}
	if strings.HasSuffix(rest, ",") {
		c.add(CodeSchemeMalformed, 80, "The header value ends with a comma.",
			"Remove the trailing comma; an Authorization header holds exactly one credential.",
			"a trailing ',' makes the value a list, which a credentials field cannot be")
		rest = strings.TrimRight(rest, ", ")
	}
	if i := strings.Index(rest, ", "); i >= 0 {
		if w, _, _ := cutSpace(strings.TrimSpace(rest[i+1:])); w != "" {
			if _, known := canonicalScheme(w); known {
				c.add(CodeSchemeMalformed, 80, "The header carries two credentials joined by a comma.",
					"Send one credential per Authorization header. If two layers need credentials, give one of them another header (for example X-Api-Key).",
					fmt.Sprintf("a second scheme %q follows a comma", w))
				rest = rest[:i]
			}
		}
	}
	canon, known := canonicalScheme(scheme)
	switch {
	case strings.EqualFold(scheme, "Basic"):
		c.basic(rest)
	case known && (canon == "Digest" || canon == "Negotiate" || canon == "NTLM" || canon == "AWS4-HMAC-SHA256" || canon == "Hawk" || canon == "OAuth"):
		// Challenge-response and signature schemes carry protocol data, not a secret to lint.
	default:
		c.token(rest, scheme)
	}
	c.schemeMatch(scheme)
	c.grammar(v)
}

// cutSpace splits at the first run of spaces or tabs.
func cutSpace(s string) (word, rest string, ok bool) {
	i := strings.IndexAny(s, " \t")
	if i < 0 {
		return s, "", false
	}
	return s[:i], strings.TrimLeft(s[i:], " \t"), true
}

// noScheme handles an Authorization value that is a single word.
func (c *checker) noScheme(word string) {
	bare := strings.TrimRight(word, ":=")
	if k, ok := canonicalScheme(bare); ok {
		c.add(CodeMissingOrEmpty, 95, fmt.Sprintf("The header holds only the scheme %q and no credential.", word),
			"No credential was sent. The variable after the scheme was empty when the header was built; check that it is set (echo ${#VAR} prints its length).",
			fmt.Sprintf("the value is just %s", q(word)), fmt.Sprintf("expected: '%s <credential>'", k))
		return
	}
	for _, sep := range []string{":", "="} {
		if s, rest, ok := strings.Cut(word, sep); ok && rest != "" {
			if k, known := canonicalScheme(s); known {
				c.add(CodeSchemeMalformed, 90, fmt.Sprintf("The scheme is joined to the credential with %q instead of a space.", sep),
					fmt.Sprintf("Write '%s <token>': the scheme word, one space, then the credential.", k),
					fmt.Sprintf("the value starts with %q", s+sep))
				if strings.EqualFold(s, "Basic") {
					c.basic(rest)
				} else {
					c.token(rest, s)
				}
				return
			}
		}
	}
	if isMissingWord(word) {
		c.add(CodeMissingOrEmpty, 95, fmt.Sprintf("The header value is %q, what a program writes for a variable with no value.", word),
			"No credential was sent: the variable that should hold it was unset. Set it (and check where it is read) before building the header.",
			fmt.Sprintf("the value is the literal word %q", word))
		return
	}
	what := "a credential"
	if looksJWT(word) {
		what = "a JWT"
	} else if k, ok := matchKey(word); ok {
		what = "a " + k.Vendor
	}
	c.add(CodeSchemeMalformed, 85, fmt.Sprintf("The Authorization header holds %s with no scheme in front of it.", what),
		"Put the scheme first: 'Authorization: Bearer <token>' (or the scheme the API documents, such as Token or Basic).",
		"the value is a single word; Authorization needs '<scheme> <credential>'")
	c.token(word, "")
}

// keyHeader checks the value of a non-Authorization credential header (X-API-Key...).
func (c *checker) keyHeader(v string) {
	if unq, ok := unquote(v); ok {
		c.add(CodeQuoted, 92, "The key is wrapped in quotes, so the quotes are sent as part of it.",
			"Remove the quotes from the value (in a .env read by docker --env-file or systemd they are kept literally).",
			fmt.Sprintf("the value starts and ends with %s", quoteName(v)))
		v = unq
	}
	if w, rest, ok := cutSpace(v); ok {
		if k, known := canonicalScheme(strings.TrimSuffix(w, ":")); known && rest != "" {
			c.add(CodeSchemeMalformed, 65, fmt.Sprintf("The %s header starts with the scheme word %q.", c.header, w),
				fmt.Sprintf("Key headers usually take the bare key: '%s: <key>'. '%s' belongs in the Authorization header.", c.header, k),
				fmt.Sprintf("the value begins with %q", w))
			v = rest
		}
	}
	c.token(v, "")
}

// token checks the credential part of a non-Basic value. scheme is "" when the header
// has none (a key header, or a bare Authorization value).
func (c *checker) token(tok, scheme string) {
	tok = strings.TrimSpace(tok)
	if tok == "" {
		c.add(CodeMissingOrEmpty, 95, fmt.Sprintf("%q is followed by nothing.", scheme),
			"No credential was sent. The variable after the scheme was empty when the header was built; check that it is set.",
			fmt.Sprintf("the value is %s with an empty credential", q(scheme+" ")))
		return
	}
	if isMissingWord(tok) {
		c.add(CodeMissingOrEmpty, 95, fmt.Sprintf("The credential is the word %q, what a program writes for a variable with no value.", tok),
			"No credential was sent: the variable that should hold the token was unset (a missing environment variable, a login step that did not run, a failed token fetch). Fix that before building the header.",
			fmt.Sprintf("the credential after %q is the literal %q", scheme, tok))
		return
	}
	if unq, ok := unquote(tok); ok {
		c.add(CodeQuoted, 92, "The credential is wrapped in quotes, so the quotes are sent as part of it.",
			"Remove the quotes around the token (they came from the .env file, a JSON string or the shell).",
			fmt.Sprintf("the credential starts and ends with %s (%d bytes with them, %d without)", quoteName(tok), len(tok), len(unq)))
		tok = unq
	} else if q := halfQuote(tok); q != "" {
		c.add(CodeQuoted, 60, "The credential has a quote at one end only.",
			"Remove the stray quote; it is probably left over from a .env or JSON value.",
			q)
	}
	if c.placeholder(tok, "credential", true) {
		return
	}
	if c.masked(tok, "credential") {
		c.shell(tok, "credential")
		return
	}
	key, isKey := matchKey(tok)
	switch {
	case looksJWT(tok) || strings.HasPrefix(tok, "eyJ"):
		c.jwt(tok)
	case isKey:
		c.keyShape(tok, key)
		if scheme != "" && strings.EqualFold(scheme, "Bearer") {
			c.keyPlace(key)
		}
	}
	c.shell(tok, "credential")
}

// unquote strips one pair of matching quotes (straight or typographic) around s.
func unquote(s string) (string, bool) {
	if len(s) < 2 {
		return "", false
	}
	pairs := [][2]string{{`"`, `"`}, {`'`, `'`}, {"`", "`"}, {"“", "”"}, {"‘", "’"}, {"”", "”"}}
	for _, p := range pairs {
		if len(s) >= len(p[0])+len(p[1]) && strings.HasPrefix(s, p[0]) && strings.HasSuffix(s, p[1]) {
			return s[len(p[0]) : len(s)-len(p[1])], true
		}
	}
	return "", false
}

func quoteName(s string) string {
	r, _ := utf8.DecodeRuneInString(s)
	switch r {
	case '"':
		return "double quotes (\")"
	case '\'':
		return "single quotes (')"
	case '`':
		return "backquotes (`)"
	}
	return "typographic quotes (" + describeRune(r) + ")"
}

// halfQuote describes a quote at only one end of s, or returns "".
func halfQuote(s string) string {
	first, _ := utf8.DecodeRuneInString(s)
	last, _ := utf8.DecodeLastRuneInString(s)
	isQ := func(r rune) bool { return strings.ContainsRune("\"'`“”‘’", r) }
	switch {
	case isQ(first) && !isQ(last):
		return fmt.Sprintf("the credential starts with %s", describeRune(first))
	case isQ(last) && !isQ(first):
		return fmt.Sprintf("the credential ends with %s", describeRune(last))
	}
	return ""
}

// schemeMatch compares the scheme sent with the schemes the server's challenges offer.
func (c *checker) schemeMatch(sent string) {
	if sent == "" {
		return
	}
	offered := strings.Join(c.in.ServerSchemes, ", ")
	if len(c.in.ServerSchemes) > 0 {
		for _, s := range c.in.ServerSchemes {
			if s == sent {
				return
			}
		}
		for _, s := range c.in.ServerSchemes {
			if strings.EqualFold(s, sent) {
				c.add(CodeSchemeMismatch, 35, fmt.Sprintf("You sent the scheme %q; the server's challenge spells it %q.", sent, s),
					fmt.Sprintf("Scheme names are case-insensitive by RFC 9110, but some servers compare them exactly. Send '%s' as the server spells it.", s),
					fmt.Sprintf("sent: %s; offered by the server: %s", sent, offered))
				return
			}
		}
		want := c.in.ServerSchemes[0]
		c.add(CodeSchemeMismatch, 80, fmt.Sprintf("The server asks for the %s scheme, but you sent %s.", want, sent),
			fmt.Sprintf("Use the scheme the server names in WWW-Authenticate: 'Authorization: %s <credential>' (or whatever form its documentation gives for %s).", want, want),
			fmt.Sprintf("sent: %s; offered by the server: %s", sent, offered))
		return
	}
	if canon, ok := canonicalScheme(sent); ok && canon != sent {
		c.add(CodeSchemeMismatch, 20, fmt.Sprintf("The scheme is written %q rather than the usual %q.", sent, canon),
			fmt.Sprintf("This is valid (scheme names are case-insensitive), but some servers only accept %q; prefer that spelling.", canon),
			fmt.Sprintf("sent: %s; usual spelling: %s", sent, canon))
	}
}

// grammar runs the RFC 9110 credentials grammar over the value when no more specific
// finding has explained its syntax already.
func (c *checker) grammar(v string) {
	if c.explained {
		return
	}
	scheme, _, _ := strings.Cut(strings.TrimSpace(v), " ")
	switch strings.ToUpper(scheme) {
	case "AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256", "AWS", "SHAREDKEY", "SHAREDKEYLITE", "GOOG4-HMAC-SHA256", "GOOG4-RSA-SHA256":
		// Signing schemes with a syntax of their own: SigV4 writes
		// Credential=AKIA.../date/region/service/aws4_request (a '/' the auth-param
		// grammar does not allow in a token), Azure "SharedKey account:signature".
		return
	}
	_, err := challenge.ParseCredentials(v)
	var se *challenge.SyntaxError
	if err == nil || !errors.As(err, &se) {
		return
	}
	c.add(CodeSchemeMalformed, 75, "The header does not follow the credentials grammar '<scheme> <token68>' or '<scheme> name=value, ...'.",
		"The header should be 'Authorization: Bearer <token>': one scheme word, one space, then the credential with no spaces in it.",
		fmt.Sprintf("parsing stopped at byte %d: %s", se.Offset, se.Msg))
}
