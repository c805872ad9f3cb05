package lint

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/challenge"
)

// maxUserShown bounds how much of a Basic user name evidence shows. User names are not
// secrets, but a long one may be a key pasted into the wrong field.
const maxUserShown = 32

// showUser returns the user name for evidence: escaped and shortened, or redacted when it
// looks like a key (Stripe-style "-u sk_live_...:").
func showUser(u string) string {
	if _, isKey := matchKey(u); isKey || looksJWT(u) || len(u) > maxUserShown {
		return Redact(u)
	}
	return q(u)
}

// basic checks the token68 of a Basic credential.
func (c *checker) basic(tok string) {
	tok = strings.TrimSpace(tok)
	if tok == "" {
		c.add(CodeMissingOrEmpty, 95, "\"Basic\" is followed by nothing.",
			"No credential was sent. Build the header from 'user:password' (curl -u user:password does it for you).",
			"the value is \"Basic \" with an empty credential")
		return
	}
	if looksJWT(tok) {
		c.add(CodeSchemeMalformed, 92, "A JWT is sent with the Basic scheme.",
			"Send a JWT as 'Authorization: Bearer <token>'. Basic carries base64 of 'user:password'.",
			"the credential after \"Basic\" has the shape of a JWT (three base64url segments starting with \"ey\")")
		return
	}
	if unq, ok := unquote(tok); ok {
		c.add(CodeQuoted, 92, "The Basic credential is wrapped in quotes.",
			"Remove the quotes around the base64 value.",
			fmt.Sprintf("the credential starts and ends with %s", quoteName(tok)))
		tok = unq
	}
	if c.placeholder(tok, "Basic credential", false) {
		return
	}
	user, pass, err := challenge.DecodeBasic(tok)
	if err != nil {
		c.basicDecodeError(tok, err)
		return
	}
	c.basicDecoded(tok, user, pass)
}

func (c *checker) basicDecodeError(tok string, err error) {
	const fix = "Encode 'user:password' with standard base64 (alphabet A-Z a-z 0-9 + /, padded with '='): printf '%s' 'user:password' | base64, or let the client do it (curl -u user:password)."
	switch {
	case errors.Is(err, challenge.ErrBasicBase64URL):
		c.add(CodeBasicMalformed, 90, "The Basic credential uses the base64url alphabet ('-' and '_'), which Basic does not allow.",
			fix, "the credential contains '-' or '_' where standard base64 has '+' and '/'", "decoder: "+err.Error())
	case errors.Is(err, challenge.ErrBasicNoColon):
		raw, _ := base64.StdEncoding.DecodeString(tok)
		ev := []string{fmt.Sprintf("decoded to %d bytes with no ':' between user and password", len(raw))}
		if hasLineEnd(string(raw)) {
			ev = append(ev, fmt.Sprintf("the decoded bytes end with %s", q(lineEnd(string(raw)))))
		}
		c.add(CodeBasicMalformed, 90, "The decoded Basic credential has no ':' separating user and password.",
			"Basic carries base64 of 'user:password', with the colon. If the API gave you a single token, it probably wants 'Authorization: Bearer <token>' instead, or the token as the user name followed by ':'.",
			ev...)
	case strings.Contains(tok, ":"):
		c.add(CodeBasicMalformed, 95, "The Basic credential was sent as plain 'user:password', without base64 encoding.",
			fix, "the credential contains ':', which never appears in base64")
	default:
		ev := []string{"decoder: " + err.Error()}
		if _, e2 := base64.RawStdEncoding.DecodeString(strings.TrimRight(tok, "=")); e2 == nil && len(tok)%4 != 0 {
			ev = append(ev, "it decodes once '=' padding is added: the padding was stripped")
		}
		c.add(CodeBasicMalformed, 88, "The Basic credential is not valid standard base64.", fix, ev...)
	}
}

func hasLineEnd(s string) bool { return strings.HasSuffix(s, "\n") || strings.HasSuffix(s, "\r") }

func lineEnd(s string) string {
	t := strings.TrimRight(s, "\r\n")
	return s[len(t):]
}

func (c *checker) basicDecoded(tok, user, pass string) {
	// A newline from `echo user:pass | base64`: the password (or, with no password, the
	// user) ends with it.
	last := pass
	if pass == "" {
		last = user
	}
	if hasLineEnd(last) {
		end := lineEnd(last)
		hint := ""
		if strings.HasSuffix(tok, "Cg==") || strings.HasSuffix(tok, "Ao=") || strings.HasSuffix(tok, "K") || strings.HasSuffix(tok, "DQo=") {
			hint = " (a base64 value ending in \"Cg==\", \"Ao=\" or \"K\" is the usual sign)"
		}
		c.add(CodeBasicTrailingNewline, 95, "The decoded Basic credential ends with a line break, so the server checks a password that ends with one.",
			"Build the header with printf, which adds no newline: printf '%s' 'user:password' | base64 (echo adds '\\n'; echo -n is not portable), or let the client do it: curl -u user:password.",
			fmt.Sprintf("decoded: user %s, password %s, then %s%s", showUser(strings.TrimRight(user, "\r\n")), redactLength(strings.TrimRight(pass, "\r\n")), q(end), hint))
		user, pass = strings.TrimRight(user, "\r\n"), strings.TrimRight(pass, "\r\n")
	}
	_, userIsKey := matchKey(user)
	switch {
	case user == "" && pass == "":
		c.add(CodeMissingOrEmpty, 95, "The Basic credential decodes to ':' alone: both the user and the password are empty.",
			"No credential was sent: the variables for the user and password were empty when the header was built.",
			"decoded: user \"\" (0 bytes), password (0 bytes)")
		return
	case pass == "" && !userIsKey:
		c.add(CodeMissingOrEmpty, 55, "The Basic password is empty.",
			"If you built it as user:$PASSWORD, the variable was empty in this shell. Some APIs do take a key as the user and an empty password; if yours does not, set the password.",
			fmt.Sprintf("decoded: user %s, password (0 bytes)", showUser(user)))
	case user == "":
		c.add(CodeMissingOrEmpty, 35, "The Basic user name is empty.",
			"If you built it as $USER:password, the variable was empty. Some APIs take a token as the password with any or no user; check the API's documentation.",
			fmt.Sprintf("decoded: user \"\" (0 bytes), password %s", redactLength(pass)))
	}
	c.basicCharset(user, pass)
	for _, part := range []struct{ name, v string }{{"Basic user name", user}, {"Basic password", pass}} {
		if c.placeholder(part.v, part.name, false) {
			continue
		}
		c.masked(part.v, part.name)
		c.shell(part.v, part.name)
	}
	if userIsKey {
		k, _ := matchKey(user)
		c.keyShape(user, k)
	}
	if c.in.TokenEndpoint {
		c.clientSecretEncoding(user, pass)
	}
}

// basicCharset reports non-ASCII bytes in the user or password and compares their
// encoding with the charset the server announced (RFC 7617 section 2.1).
func (c *checker) basicCharset(user, pass string) {
	nonASCII := func(s string) int {
		n := 0
		for i := 0; i < len(s); i++ {
			if s[i] >= 0x80 {
				n++
			}
		}
		return n
	}
	nu, np := nonASCII(user), nonASCII(pass)
	if nu+np == 0 {
		return
	}
	enc := func(s string) string {
		if utf8.ValidString(s) {
			return "valid UTF-8"
		}
		return "not UTF-8 (Latin-1 / ISO-8859-1 or another 8-bit charset)"
	}
	var ev []string
	if nu > 0 {
		ev = append(ev, fmt.Sprintf("the user name has %d non-ASCII byte(s), %s", nu, enc(user)))
	}
	if np > 0 {
		ev = append(ev, fmt.Sprintf("the password has %d non-ASCII byte(s), %s", np, enc(pass)))
	}
	allUTF8 := utf8.ValidString(user) && utf8.ValidString(pass)
	charset := strings.TrimSpace(c.in.BasicCharset)
	const fix = "Encode 'user:password' as UTF-8 before base64 (RFC 7617); servers that announce no charset often decode as Latin-1 instead, so an ASCII-only password avoids the ambiguity."
	switch {
	case strings.EqualFold(charset, "UTF-8") && !allUTF8:
		ev = append(ev, "the server's Basic challenge says charset=\"UTF-8\"")
		c.add(CodeBasicMalformed, 85, "The Basic credential has non-ASCII bytes that are not UTF-8, but the server expects UTF-8.", fix, ev...)
	case strings.EqualFold(charset, "UTF-8"):
		// UTF-8 sent to a server that asked for UTF-8: nothing to say.
	case allUTF8:
		ev = append(ev, "the server announced no charset; many servers decode Basic as Latin-1, which turns each accented UTF-8 character into two wrong ones")
		c.add(CodeBasicMalformed, 40, "The Basic credential has non-ASCII characters and the server did not say it accepts UTF-8.", fix, ev...)
	default:
		ev = append(ev, "the server announced no charset")
		c.add(CodeBasicMalformed, 35, "The Basic credential has non-ASCII bytes in an 8-bit charset; servers that expect UTF-8 reject them.", fix, ev...)
	}
}

// clientSecretEncoding checks an OAuth client's Basic credential at a token endpoint:
// RFC 6749 section 2.3.1 form-encodes client_id and client_secret before base64.
func (c *checker) clientSecretEncoding(id, secret string) {
	const reserved = "+/:%$?&= "
	describe := func(part, s string) []string {
		var out []string
		seen := map[byte]bool{}
		for i := 0; i < len(s); i++ {
			b := s[i]
			if strings.IndexByte(reserved, b) < 0 || seen[b] {
				continue
			}
			seen[b] = true
			switch b {
			case '+':
				out = append(out, fmt.Sprintf("the %s contains '+', which the server form-decodes to a space", part))
			case '%':
				out = append(out, fmt.Sprintf("the %s contains '%%', which the server form-decodes as the start of an escape", part))
			case ' ':
				out = append(out, fmt.Sprintf("the %s contains a space, which must be sent as '+'", part))
			default:
				out = append(out, fmt.Sprintf("the %s contains %q, which RFC 6749 requires to be percent-encoded first", part, string(b)))
			}
		}
		return out
	}
	ev := append(describe("client_id", id), describe("client secret", secret)...)
	if len(ev) == 0 {
		return
	}
	// Form decoding changes only '+' and '%XX'; a ':' in the id moves the split. The other
	// reserved characters differ only between a client that encodes and a server that
	// does not decode, which is rarer.
	score := 30
	if strings.ContainsAny(id+secret, "+% ") || strings.Contains(id, ":") {
		score = 55
	}
	c.add(CodeClientSecretEncoding, score, "The OAuth client credentials contain characters that a token endpoint decodes differently unless they are form-encoded first.",
		"RFC 6749 section 2.3.1 says to form-urlencode client_id and client_secret before joining them with ':' and base64-encoding. Do that, or send them in the request body instead (client_secret_post), where the form encoding is applied for you.",
		ev...)
}
