// Package challenge implements the HTTP authentication grammar of RFC 9110 section 11:
// it parses and renders the challenges carried by WWW-Authenticate and
// Proxy-Authenticate, and parses the credentials carried by Authorization and
// Proxy-Authorization. The gateway uses it to render its challenges; the doctor uses it to
// read any server's challenges and the user's Authorization header. It also decodes and
// encodes Basic credentials (RFC 7617). It depends on the standard library only.
//
// # Grammar
//
//	challenge   = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
//	credentials = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
//	auth-param  = token BWS "=" BWS ( token / quoted-string )
//	token68     = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
//	WWW-Authenticate = #challenge
//
// A field value may hold several challenges, and the list rule separates both challenges
// and the parameters inside one challenge with commas, so the parser has to decide, at
// every list element, what it is looking at:
//
//   - a token followed by optional whitespace and "=" is a parameter of the current
//     challenge;
//   - any other token (followed by a space, a comma or the end) starts a new challenge;
//   - directly after the scheme and its space, a run of token68 characters followed only by
//     "=" padding and then a comma or the end is a token68 ("Negotiate YIIB==",
//     "Bearer abc="), while "name=value" and "name="quoted"" are parameters. A lone
//     "name=" there is therefore read as a token68, as the grammar says; further down the
//     list it is a "parameter without a value".
//
// Empty list elements (",," and leading or trailing commas) are ignored, quoted strings may
// contain quoted-pairs and obs-text (bytes 0x80-0xFF), duplicate parameters are kept in
// order (the doctor reports them), and an empty quoted value (a="") is valid.
//
// The parser is slightly more lenient than the ABNF where doing so is unambiguous: it
// accepts leading and trailing whitespace around a field value, horizontal tabs where the
// grammar asks for spaces after the scheme, and a comma directly after the scheme before
// its first parameter ("Basic, realm=\"x\""). ParseChallengesStrict drops that last
// leniency and also refuses a parameter name repeated in one challenge, which RFC 9110
// forbids; the doctor uses it to report such fields. Everything else that does not match is
// refused with a *SyntaxError that names the field, the byte offset where parsing stopped
// and what was expected. Messages never quote the input, so they are safe to log even
// when the input is a credential.
//
// Parameter names are lower-cased; the scheme keeps its case (compare it with
// strings.EqualFold). Values are returned unquoted and unescaped but otherwise as the bytes
// that were sent: they are not required to be UTF-8 (RFC 9110 allows obs-text), and a
// caller that displays them decides how to read them, for example as UTF-8 when valid and
// ISO-8859-1 otherwise.
//
// The input is bounded: ParseChallenges refuses fields whose total size exceeds
// MaxFieldBytes, and ParseCredentials refuses a longer value. No input makes the parser
// panic; fuzz tests with committed seeds guard this.
//
// # Rendering
//
// Challenge.String and Render always quote parameter values (RFC 6750 requires it for
// Bearer) and escape '\' and '"' as quoted-pairs. A control character (0x00-0x1F except
// horizontal tab, and 0x7F) cannot appear in a header field, so each one in a value is
// rendered as a space; a tab is legal inside a quoted string and is kept. Scheme, parameter
// names and token68 are expected to be valid (see Challenge.Validate, meant for
// configuration time); String never fails, so any byte outside their alphabet is rendered
// as '_' and the output is always a syntactically valid field value.
package challenge
