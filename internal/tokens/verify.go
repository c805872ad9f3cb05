package tokens

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-dev/gatehouse/internal/tokenrules"
)

// Sentinel errors classify a failed verification; test for them with errors.Is. A
// malformed token wraps ErrMalformed, the same sentinel Decode uses.
var (
	// ErrAlgorithmRejected: the header's alg is not in the allow-list (alg "none" never
	// is), or the selected key cannot be used with it.
	ErrAlgorithmRejected = errors.New("verify token: algorithm rejected")
	// ErrKeyUnknown: no key in the set has the token's kid (or, without a kid, no single
	// key fits its alg). Refetching the key set may help.
	ErrKeyUnknown = errors.New("verify token: key unknown")
	// ErrSignatureInvalid: the key was found and the signature does not verify with it.
	ErrSignatureInvalid = errors.New("verify token: signature invalid")
)

// VerifyError is the error Verify returns. Kind is one of ErrMalformed,
// ErrAlgorithmRejected, ErrKeyUnknown and ErrSignatureInvalid; errors.Is sees through to it.
// Detail is a sentence safe to show to the client that sent the token: it names what is
// wrong (an algorithm, a key id, a claim name) and never contains the token, its
// signature or key material. Attacker-chosen strings in it are quoted and truncated.
type VerifyError struct {
	// Kind classifies the failure; it is what errors.Is matches.
	Kind error
	// Algorithm and KeyID are the header's alg and kid, as far as they could be read,
	// truncated to 64 bytes of printable text.
	Algorithm string
	KeyID     string
	Detail    string
	// Cause is a finer, log-only classification ("kid_not_in_set", "signature_empty").
	Cause string
}

func (e *VerifyError) Error() string { return "verify token: " + e.Detail }

// Unwrap returns Kind.
func (e *VerifyError) Unwrap() error { return e.Kind }

// algFamily says which key an algorithm needs.
type algFamily struct{ kty, crv string }

var algFamilies = map[string]algFamily{
	"RS256": {"RSA", ""}, "RS384": {"RSA", ""}, "RS512": {"RSA", ""},
	"PS256": {"RSA", ""}, "PS384": {"RSA", ""}, "PS512": {"RSA", ""},
	"ES256": {"EC", "P-256"}, "ES384": {"EC", "P-384"}, "ES512": {"EC", "P-521"},
	"EdDSA": {"OKP", "Ed25519"},
	"HS256": {"oct", ""}, "HS384": {"oct", ""}, "HS512": {"oct", ""},
}

// SupportedAlgorithms lists every algorithm an allow-list may name, in a stable order
// (package tokenrules, which the configuration check uses too).
var SupportedAlgorithms = tokenrules.Algorithms()

// IsHMAC reports whether alg is one of HS256, HS384, HS512.
func IsHMAC(alg string) bool { return tokenrules.IsHMAC(alg) }

// hmacMinBytes is the smallest secret accepted for an HMAC algorithm.
func hmacMinBytes(alg string) int { return tokenrules.MinHMACKeyBytes(alg) }

// Algorithms is a validated algorithm allow-list. The zero value accepts nothing: Verify
// refuses every token with it.
type Algorithms struct {
	list  []jose.SignatureAlgorithm
	names []string
}

// NewAlgorithms validates an allow-list. Names are case-sensitive as in RFC 7518; "none"
// in any spelling, unknown names and an empty list are errors. Duplicates are dropped.
func NewAlgorithms(names ...string) (Algorithms, error) {
	var a Algorithms
	var errs []error
	for _, n := range names {
		switch {
		case strings.EqualFold(n, "none"):
			errs = append(errs, errors.New(`algorithms: "none" is never accepted`))
			continue
		case !tokenrules.Supported(n) || algFamilies[n].kty == "":
			msg := fmt.Sprintf("algorithms: %s is not supported (supported: %s)", quoteSafe(n), strings.Join(SupportedAlgorithms, ", "))
			for _, s := range SupportedAlgorithms {
				if strings.EqualFold(s, n) {
					msg = fmt.Sprintf("algorithms: %s is not supported; names are case-sensitive, did you mean %s?", quoteSafe(n), s)
				}
			}
			errs = append(errs, errors.New(msg))
			continue
		}
		if a.Contains(n) {
			continue
		}
		a.list = append(a.list, jose.SignatureAlgorithm(n))
		a.names = append(a.names, n)
	}
	if len(names) == 0 {
		errs = append(errs, errors.New("algorithms: the allow-list is empty"))
	}
	if err := errors.Join(errs...); err != nil {
		return Algorithms{}, err
	}
	return a, nil
}

// Names returns the allowed algorithms in configuration order.
func (a Algorithms) Names() []string { return append([]string(nil), a.names...) }

// Contains reports whether alg is allowed.
func (a Algorithms) Contains(alg string) bool {
	for _, n := range a.names {
		if n == alg {
			return true
		}
	}
	return false
}

// String is the allow-list for messages: "ES256, RS256".
func (a Algorithms) String() string { return strings.Join(a.names, ", ") }

// Keys is where Verify finds the key for a token: a *KeySet (public keys, usually from a
// JWKS) or an HMAC secret from NewHMACKey. The interface is sealed.
type Keys interface {
	keyFor(kid, alg string) (any, error)
}

type hmacKey struct{ secret []byte }

// NewHMACKey returns the Keys for tokens signed with a shared secret (HS256/384/512). The
// secret must be at least 32 bytes; the kid of such tokens is not used. The secret is
// copied.
func NewHMACKey(secret []byte) (Keys, error) {
	if len(secret) < 32 {
		return nil, fmt.Errorf("hmac key: the secret is %d bytes; at least 32 are required", len(secret))
	}
	return &hmacKey{secret: bytes.Clone(secret)}, nil
}

func (h *hmacKey) keyFor(kid, alg string) (any, error) {
	if !IsHMAC(alg) {
		return nil, &VerifyError{Kind: ErrAlgorithmRejected, Algorithm: alg, KeyID: kid,
			Detail: fmt.Sprintf("algorithm %s needs a public key, and this API verifies tokens with a shared secret", alg),
			Cause:  "public_alg_with_hmac"}
	}
	if len(h.secret) < hmacMinBytes(alg) {
		return nil, &VerifyError{Kind: ErrAlgorithmRejected, Algorithm: alg, KeyID: kid,
			Detail: fmt.Sprintf("algorithm %s needs a secret of at least %d bytes, and the configured one is shorter", alg, hmacMinBytes(alg)),
			Cause:  "hmac_secret_too_short"}
	}
	return h.secret, nil
}

// Token is a verified token: its signature checked with a key the caller trusts and an
// algorithm on the caller's allow-list. Time, issuer and audience are NOT checked by
// Verify; the caller compares Claims with its policy.
type Token struct {
	// Algorithm is the header's alg, one of the allow-list.
	Algorithm string
	// KeyID is the header's kid as sent (empty when absent or for HMAC tokens without one).
	KeyID  string
	Claims Claims
}

// Verify checks the signature of a compact JWS. The order is fixed, and each step fails
// closed:
//
//  1. Size: more than MaxTokenBytes is malformed, unread.
//  2. Parse with the allow-list: a header alg outside it ("none" in any spelling is never
//     in it) is ErrAlgorithmRejected before any key is looked at.
//  3. Headers: exactly one signature; any "crit" (and "b64") is refused as malformed;
//     "jwk", "jku", "x5u" and "x5c" are never used to find a key.
//  4. Key: chosen by kid from keys and bound to alg (see Key.Fits); HMAC algorithms only
//     with a secret from NewHMACKey.
//  5. Signature, then the claims are decoded once, strictly typed.
func Verify(token string, algs Algorithms, keys Keys) (*Token, error) {
	if len(token) > MaxTokenBytes {
		return nil, malformed("token_too_large", "the token is %d bytes; at most %d are accepted", len(token), MaxTokenBytes)
	}
	if token == "" {
		return nil, malformed("token_empty", "the token is empty")
	}
	if len(algs.list) == 0 || keys == nil {
		return nil, &VerifyError{Kind: ErrAlgorithmRejected, Detail: "no algorithm is accepted", Cause: "empty_allow_list"}
	}
	if n := strings.Count(token, "."); n != 2 {
		if n == 4 {
			return nil, malformed("jwe", "the token is encrypted (JWE, five segments); only signed JWTs are accepted")
		}
		if n == 0 {
			return nil, malformed("not_jwt", "the token is not a JWT: it has one segment, a JWT has three")
		}
		return nil, malformed("not_jwt", "the token is not a JWT: it has %d segments, a JWT has three", n+1)
	}
	jws, err := jose.ParseSignedCompact(token, algs.list)
	if err != nil {
		var unexpected *jose.ErrUnexpectedSignatureAlgorithm
		if errors.As(err, &unexpected) {
			return nil, rejectAlg(string(unexpected.Got), algs)
		}
		return nil, describeParseError(token)
	}
	if len(jws.Signatures) != 1 {
		return nil, malformed("signature_count", "the token has %d signatures; exactly one is required", len(jws.Signatures))
	}
	sig := &jws.Signatures[0]
	alg, kid := sig.Protected.Algorithm, sig.Protected.KeyID
	if _, ok := sig.Protected.ExtraHeaders["crit"]; ok {
		e := malformed("crit_header", "the token header marks extensions as critical (crit); none are supported")
		e.Algorithm, e.KeyID = safe(alg), safe(kid)
		return nil, e
	}
	if _, ok := sig.Protected.ExtraHeaders["b64"]; ok {
		e := malformed("b64_header", `the token header has "b64", which JWTs do not use`)
		e.Algorithm, e.KeyID = safe(alg), safe(kid)
		return nil, e
	}
	key, err := keys.keyFor(kid, alg)
	if err != nil {
		var ve *VerifyError
		if errors.As(err, &ve) {
			ve.KeyID = safe(ve.KeyID)
		}
		return nil, err
	}
	if len(sig.Signature) == 0 {
		return nil, &VerifyError{Kind: ErrSignatureInvalid, Algorithm: alg, KeyID: safe(kid),
			Detail: "the token's signature is empty", Cause: "signature_empty"}
	}
	payload, err := jws.Verify(key)
	if err != nil {
		return nil, &VerifyError{Kind: ErrSignatureInvalid, Algorithm: alg, KeyID: safe(kid),
			Detail: "the token's signature does not verify with the issuer's key", Cause: "signature_mismatch"}
	}
	t := &Token{Algorithm: alg, KeyID: kid}
	if err := decodeClaims(payload, &t.Claims); err != nil {
		err.Algorithm, err.KeyID = alg, safe(kid)
		return nil, err
	}
	return t, nil
}

func rejectAlg(got string, algs Algorithms) *VerifyError {
	e := &VerifyError{Kind: ErrAlgorithmRejected, Algorithm: safe(got), Cause: "alg_not_allowed"}
	switch {
	case got == "":
		e.Kind, e.Cause = ErrMalformed, "alg_missing"
		e.Detail = `the token header has no "alg"`
	case strings.EqualFold(got, "none"):
		e.Cause = "alg_none"
		e.Detail = fmt.Sprintf("algorithm %s is not accepted: unsigned tokens are never accepted; accepted: %s", quoteSafe(got), algs)
	case algFamilies[got].kty != "":
		e.Detail = fmt.Sprintf("algorithm %s is not accepted; accepted: %s", got, algs)
	default:
		e.Detail = fmt.Sprintf("algorithm %s is not accepted; accepted: %s", quoteSafe(got), algs)
	}
	return e
}

// describeParseError names what is wrong with a token the JOSE library refused. It works
// from the token's shape, not from the library's message, so the text is stable and
// never echoes content.
func describeParseError(token string) *VerifyError {
	h, rest, _ := strings.Cut(token, ".")
	p, s, _ := strings.Cut(rest, ".")
	for _, seg := range []struct{ name, v string }{{"header", h}, {"claims", p}, {"signature", s}} {
		if _, err := b64strict(seg.v); err != nil {
			return malformed("bad_base64", "the %s segment is not unpadded base64url", seg.name)
		}
	}
	if h == "" {
		return malformed("header_empty", "the header segment is empty")
	}
	raw, _ := b64strict(h)
	var hdr map[string]json.RawMessage
	if json.Unmarshal(raw, &hdr) != nil || hdr == nil {
		return malformed("header_not_json", "the header segment is not a JSON object")
	}
	for _, name := range []string{"alg", "kid"} {
		if v, ok := hdr[name]; ok {
			var s string
			if json.Unmarshal(v, &s) != nil {
				return malformed("header_type", "the header parameter %q is not a string", name)
			}
		}
	}
	if _, ok := hdr["jwk"]; ok {
		return malformed("header_jwk", `the header's embedded "jwk" is not a valid public key`)
	}
	if _, ok := hdr["x5c"]; ok {
		return malformed("header_x5c", `the header's "x5c" is not a valid certificate chain`)
	}
	return malformed("header_invalid", "the header has an invalid parameter")
}

func b64strict(seg string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(seg) }

func malformed(cause, format string, args ...any) *VerifyError {
	return &VerifyError{Kind: ErrMalformed, Detail: fmt.Sprintf(format, args...), Cause: cause}
}

// safe bounds an attacker-chosen header value for logs and messages: at most 64 bytes of
// valid UTF-8, control characters escaped.
func safe(s string) string {
	if len(s) <= 64 && isPlain(s) {
		return s
	}
	q := strconv.QuoteToASCII(s)
	q = q[1 : len(q)-1]
	if len(q) > 64 {
		q = q[:61] + "..."
	}
	return q
}

func isPlain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '\\' || c == '"' {
			return false
		}
	}
	return true
}

// quoteSafe quotes s for a message, bounded to about 64 characters.
func quoteSafe(s string) string {
	if len(s) > 64 {
		cut := 61
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return strconv.QuoteToASCII(s[:cut]) + "..."
	}
	return strconv.QuoteToASCII(s)
}
