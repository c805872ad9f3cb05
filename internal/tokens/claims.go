package tokens

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Claims are the registered and common claims of a verified token. Times are zero when
// the claim is absent.
type Claims struct {
	Issuer   string
	Subject  string
	Audience []string
	// Expiry, NotBefore and IssuedAt are exp, nbf and iat.
	Expiry, NotBefore, IssuedAt time.Time
	// ID is jti.
	ID string
	// Scopes come from "scope" (space-separated) or, when absent, "scp" (array or string).
	Scopes []string
	// ClientID is client_id (RFC 9068); AuthorizedParty is azp (OpenID Connect).
	ClientID        string
	AuthorizedParty string

	payload []byte
}

// Raw decodes every claim into a map, numbers as json.Number. It is decoded on demand, so
// the hot path that needs only the typed claims never pays for it.
func (c *Claims) Raw() (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(c.payload))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("claims: %w", err)
	}
	return m, nil
}

// JSON returns the verified claims segment as sent (decoded from base64url). The caller
// must not modify it.
func (c *Claims) JSON() []byte { return c.payload }

// The claims Verify interprets. A claim set that names one of them twice is refused
// rather than resolved, so no two JSON parsers can read a different subject or audience
// from the same token.
const (
	seenIss = 1 << iota
	seenSub
	seenAud
	seenExp
	seenNbf
	seenIat
	seenJti
	seenScope
	seenScp
	seenClientID
	seenAzp
)

// decodeClaims reads the typed claims in one pass over the payload, without reflection:
// json.Valid first proves the whole payload well-formed, then a walk over the top-level
// object decodes only the members Claims holds. Member names are compared exactly
// (case-sensitively) after unescaping; registered claims of the wrong JSON type and
// duplicated ones are refused.
func decodeClaims(payload []byte, c *Claims) *VerifyError {
	c.payload = payload
	if !json.Valid(payload) {
		return malformed("claims_not_json", "the claims segment is not a JSON object")
	}
	i := skipWS(payload, 0)
	if i >= len(payload) || payload[i] != '{' {
		return malformed("claims_not_json", "the claims segment is not a JSON object")
	}
	i++
	var seen int
	var scpRaw []byte
	for {
		i = skipWS(payload, i)
		if i >= len(payload) {
			return malformed("claims_not_json", "the claims segment is not a JSON object")
		}
		if payload[i] == '}' {
			break
		}
		if payload[i] == ',' {
			i = skipWS(payload, i+1)
		}
		keyEnd := skipString(payload, i)
		key, ok := stringValue(payload[i:keyEnd])
		if !ok {
			return malformed("claims_not_json", "the claims segment is not a JSON object")
		}
		i = skipWS(payload, keyEnd)
		i = skipWS(payload, i+1) // the colon
		end := skipValue(payload, i)
		val := payload[i:end]
		i = end
		bit := 0
		switch key {
		case "iss":
			bit = seenIss
			c.Issuer, ok = stringValue(val)
		case "sub":
			bit = seenSub
			c.Subject, ok = stringValue(val)
		case "jti":
			bit = seenJti
			c.ID, ok = stringValue(val)
		case "client_id":
			bit = seenClientID
			c.ClientID, ok = stringValue(val)
		case "azp":
			bit = seenAzp
			c.AuthorizedParty, ok = stringValue(val)
		case "aud":
			bit = seenAud
			c.Audience, ok = stringsValue(val, false)
		case "exp":
			bit = seenExp
			c.Expiry, ok = dateValue(val)
		case "nbf":
			bit = seenNbf
			c.NotBefore, ok = dateValue(val)
		case "iat":
			bit = seenIat
			c.IssuedAt, ok = dateValue(val)
		case "scope":
			bit = seenScope
			var s string
			s, ok = stringValue(val)
			c.Scopes = strings.Fields(s)
		case "scp":
			bit = seenScp
			scpRaw = val
		default:
			continue
		}
		if seen&bit != 0 {
			return malformed("claim_duplicate", "the %q claim appears more than once", key)
		}
		seen |= bit
		if !ok {
			return malformed("claim_type", "%s", typeProblem(key))
		}
		if e := unsafeClaim(key, val, c); e != nil {
			return e
		}
	}
	if scpRaw != nil {
		scopes, ok := stringsValue(scpRaw, true)
		if !ok {
			return malformed("claim_type", "%s", typeProblem("scp"))
		}
		if scpRaw[0] == '"' {
			if s, _ := stringValue(scpRaw); ScopeProblem(s, false) != "" {
				return unsafeText("scp", ScopeProblem(s, false))
			}
		}
		for _, s := range scopes {
			if p := ScopeProblem(s, true); p != "" {
				return unsafeText("scp", p)
			}
		}
		if seen&seenScope == 0 {
			c.Scopes = scopes
		}
	}
	return nil
}

// unsafeClaim refuses a name or scope claim that NameProblem or ScopeProblem rejects: a
// principal built from it could collapse into another one on its way upstream.
func unsafeClaim(key string, val []byte, c *Claims) *VerifyError {
	var p string
	switch key {
	case "sub":
		p = NameProblem(c.Subject)
	case "client_id":
		p = NameProblem(c.ClientID)
	case "azp":
		p = NameProblem(c.AuthorizedParty)
	case "scope":
		s, _ := stringValue(val)
		p = ScopeProblem(s, false)
	}
	if p == "" {
		return nil
	}
	return unsafeText(key, p)
}

func unsafeText(key, problem string) *VerifyError {
	return malformed("claim_unsafe_text", "the %q claim %s; it is refused so that two identities cannot become one", key, problem)
}

func typeProblem(claim string) string {
	switch claim {
	case "aud", "scp":
		return fmt.Sprintf("the %q claim is not a string or an array of strings", claim)
	case "exp", "nbf", "iat":
		return fmt.Sprintf("the %q claim is not a NumericDate (seconds since 1970)", claim)
	case "scope":
		return `the "scope" claim is not a space-separated string`
	}
	return fmt.Sprintf("the %q claim is not a string", claim)
}

// The helpers below run only on input json.Valid accepted; they still stay in bounds on
// any input.

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] (a quote).
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// skipValue returns the index after the value starting at b[i].
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return len(b)
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return len(b)
	}
	for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] != ' ' && b[i] != '\t' && b[i] != '\n' && b[i] != '\r' {
		i++
	}
	return i
}

// stringValue decodes a JSON string value; ok is false for any other JSON type.
func stringValue(v []byte) (string, bool) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", false
	}
	if inner := v[1 : len(v)-1]; bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner), true
	}
	// Escapes and invalid UTF-8 (which encoding/json turns into U+FFFD) take the general
	// path, so this reader never disagrees with encoding/json.
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", false
	}
	return s, true
}

// stringsValue decodes a string or an array of strings. With fields, a lone string is
// split on spaces (as "scp" sometimes is); otherwise it is one element.
func stringsValue(v []byte, fields bool) ([]string, bool) {
	if len(v) > 0 && v[0] == '"' {
		s, ok := stringValue(v)
		if !ok {
			return nil, false
		}
		if fields {
			return strings.Fields(s), true
		}
		return []string{s}, true
	}
	if len(v) < 2 || v[0] != '[' {
		return nil, false
	}
	var out []string
	i := skipWS(v, 1)
	for i < len(v) && v[i] != ']' {
		if v[i] == ',' {
			i = skipWS(v, i+1)
		}
		end := skipValue(v, i)
		s, ok := stringValue(v[i:end])
		if !ok {
			return nil, false
		}
		out = append(out, s)
		i = skipWS(v, end)
	}
	if out == nil {
		out = []string{}
	}
	return out, true
}

// dateValue decodes a NumericDate; ok is false for a non-number or one out of range.
func dateValue(v []byte) (time.Time, bool) {
	if len(v) == 0 || (v[0] != '-' && (v[0] < '0' || v[0] > '9')) {
		return time.Time{}, false
	}
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil || math.IsNaN(f) || f > 1e13 || f < -1e13 {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), true
}
