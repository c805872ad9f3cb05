package tokens

import (
	"bytes"
	"encoding/base64"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// UnverifiedIssuer reads the iss claim of a compact JWS WITHOUT verifying anything: it
// tells which configured issuer a token names, so that only that issuer's authenticator
// verifies it. Nothing it returns may be trusted; Verify checks the signature and the
// verified iss is compared again. ok is false when s does not look like a JWT, its claims
// segment is not base64url or not enclosed in braces (a token cut short), a member is
// not a string key and a colon, or iss is present but not a string; iss is ""
// (with ok true) when the claims name no issuer. When iss appears more than once the
// first is returned (Verify refuses such a token as malformed).
func UnverifiedIssuer(s string) (iss string, ok bool) {
	if !LooksLikeJWT(s) {
		return "", false
	}
	i := strings.IndexByte(s, '.')
	j := i + 1 + strings.IndexByte(s[i+1:], '.')
	seg := s[i+1 : j]
	// Most claim sets fit the stack buffer; the buffer never leaves this function, so
	// reading the issuer of a usual token allocates only the issuer string.
	var buf [1024]byte
	var dst []byte
	if n := base64.RawURLEncoding.DecodedLen(len(seg)); n <= len(buf) {
		dst = buf[:n]
	} else {
		dst = make([]byte, n)
	}
	n, err := base64.RawURLEncoding.Decode(dst, unsafe.Slice(unsafe.StringData(seg), len(seg)))
	if err != nil {
		return "", false
	}
	return issuerOf(dst[:n])
}

// issuerOf finds the first top-level "iss" member of a JSON object. It does not
// validate the whole object (json.Valid would cost more than the rest of the request's
// cached path): an object whose braces are not both there, such as a token cut short,
// is unreadable, and the walk over anything else is bounded and never reads past the
// payload. Whatever it reads from invalid JSON, the verifier refuses the token.
func issuerOf(payload []byte) (string, bool) {
	payload = bytes.TrimRight(payload, " \t\r\n")
	i := skipWS(payload, 0)
	if i >= len(payload) || payload[i] != '{' || payload[len(payload)-1] != '}' {
		return "", false
	}
	i++
	for {
		i = skipWS(payload, i)
		if i >= len(payload) || payload[i] == '}' {
			return "", true
		}
		if payload[i] == ',' {
			i = skipWS(payload, i+1)
		}
		if i >= len(payload) || payload[i] != '"' {
			return "", false
		}
		keyEnd := skipString(payload, i)
		key := payload[i:keyEnd]
		i = skipWS(payload, keyEnd)
		if i >= len(payload) || payload[i] != ':' {
			return "", false
		}
		i = skipWS(payload, i+1)
		if i >= len(payload) {
			return "", false
		}
		end := skipValue(payload, i)
		val := payload[i:end]
		i = end
		if string(key) == `"iss"` || (bytes.IndexByte(key, '\\') >= 0 && unescapedIs(key, "iss")) {
			if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
				if inner := val[1 : len(val)-1]; bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
					return string(inner), true
				}
			}
			// Escapes, invalid UTF-8 or another JSON type: the general reader, on a copy
			// so that the stack buffer does not escape.
			return stringValue(bytes.Clone(val))
		}
	}
}

// unescapedIs reports whether the JSON string key, which holds escapes, decodes to want.
func unescapedIs(key []byte, want string) bool {
	s, ok := stringValue(bytes.Clone(key))
	return ok && s == want
}
