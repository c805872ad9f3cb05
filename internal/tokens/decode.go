package tokens

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// MaxTokenBytes bounds what Decode will look at; larger inputs are refused unread.
const MaxTokenBytes = 16 << 10

// Errors returned by Decode. They describe the shape of the input, never its content.
var (
	ErrEmpty     = errors.New("decode token: empty")
	ErrTooLarge  = errors.New("decode token: larger than 16 KiB")
	ErrJWE       = errors.New("decode token: five segments, an encrypted JWT (JWE) that cannot be read without the key")
	ErrNotJWT    = errors.New("decode token: not a JWT (a JWT has three dot-separated segments)")
	ErrMalformed = errors.New("decode token: malformed")
)

// Decoded is a compact-serialized JWS decoded WITHOUT verifying anything. It is for
// diagnosis (the doctor, token inspect) and for cheap routing decisions; nothing in it may
// be trusted until Verify has checked the signature.
type Decoded struct {
	Header map[string]any
	Claims map[string]any
	// SignatureBytes is the decoded length of the signature segment; the signature itself
	// is deliberately not kept.
	SignatureBytes int
}

// LooksLikeJWT reports, without decoding, whether s has the shape of a compact JWS:
// three non-empty base64url segments, the first starting with "ey" (a JSON object).
func LooksLikeJWT(s string) bool {
	if len(s) < 5 || len(s) > MaxTokenBytes || s[0] != 'e' || s[1] != 'y' {
		return false
	}
	dots := 0
	for i := 0; i < len(s); i++ {
		switch jwtChars[s[i]] {
		case 0:
			return false
		case 2:
			dots++
		}
	}
	return dots == 2
}

// jwtChars classifies bytes for LooksLikeJWT, which runs on every Bearer request: 1 for
// the base64url alphabet, 2 for '.', 0 for anything else. A table lookup per byte is
// cheaper than a chain of range comparisons.
var jwtChars = func() (t [256]uint8) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = 1
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = 1
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = 1
	}
	t['-'], t['_'], t['.'] = 1, 1, 2
	return t
}()

// Decode splits and decodes a compact JWT without verifying it. Errors wrap ErrMalformed,
// ErrNotJWT, ErrJWE, ErrEmpty or ErrTooLarge and say which segment failed and why.
func Decode(s string) (*Decoded, error) {
	switch {
	case s == "":
		return nil, ErrEmpty
	case len(s) > MaxTokenBytes:
		return nil, ErrTooLarge
	}
	parts := strings.Split(s, ".")
	switch len(parts) {
	case 3:
	case 5:
		return nil, ErrJWE
	default:
		return nil, fmt.Errorf("%w (found %d)", ErrNotJWT, len(parts))
	}
	d := &Decoded{}
	var err error
	if d.Header, err = decodeSegment("header", parts[0]); err != nil {
		return nil, err
	}
	if d.Claims, err = decodeSegment("claims", parts[1]); err != nil {
		return nil, err
	}
	sig, err := b64(parts[2])
	if err != nil {
		return nil, fmt.Errorf("%w: signature segment is not base64url: %v", ErrMalformed, err)
	}
	d.SignatureBytes = len(sig)
	return d, nil
}

func b64(seg string) ([]byte, error) {
	// RFC 7515 uses unpadded base64url; tolerate padding so the error names the real
	// problem rather than a stray "=".
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(seg, "="))
}

func decodeSegment(name, seg string) (map[string]any, error) {
	if seg == "" {
		return nil, fmt.Errorf("%w: %s segment is empty", ErrMalformed, name)
	}
	raw, err := b64(seg)
	if err != nil {
		return nil, fmt.Errorf("%w: %s segment is not base64url: %v", ErrMalformed, name, err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: %s segment is not a JSON object: %v", ErrMalformed, name, err)
	}
	if m == nil {
		return nil, fmt.Errorf("%w: %s segment is JSON null, not an object", ErrMalformed, name)
	}
	// dec.More would miss a stray "}" or "]": only end of input is acceptable here.
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: %s segment has data after the JSON object", ErrMalformed, name)
	}
	return m, nil
}

// HeaderString returns a string header parameter ("alg", "kid", "typ").
func (d *Decoded) HeaderString(name string) string {
	s, _ := d.Header[name].(string)
	return s
}

// ClaimString returns a string claim ("iss", "sub", "azp").
func (d *Decoded) ClaimString(name string) string {
	s, _ := d.Claims[name].(string)
	return s
}

// Audience returns aud as a list whether it was a string or an array.
func (d *Decoded) Audience() []string { return StringOrList(d.Claims["aud"]) }

// Scopes returns the scopes from "scope" (space-separated) or "scp" (array or string).
func (d *Decoded) Scopes() []string { return ScopesOf(d.Claims) }

// Time returns a NumericDate claim ("exp", "nbf", "iat"). ok is false when the claim is
// absent or not a number.
func (d *Decoded) Time(name string) (t time.Time, ok bool) { return NumericDate(d.Claims[name]) }

// StringOrList reads a JSON value that may be a string or an array of strings.
func StringOrList(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	case []string:
		return x
	}
	return nil
}

// ScopesOf extracts scopes from claims: "scope" as a space-separated string, else "scp"
// as an array (or a space-separated string, as some issuers send).
func ScopesOf(claims map[string]any) []string {
	if s, ok := claims["scope"].(string); ok {
		return strings.Fields(s)
	}
	switch x := claims["scp"].(type) {
	case string:
		return strings.Fields(x)
	case []any, []string:
		return StringOrList(x)
	}
	return nil
}

// NumericDate converts a JSON NumericDate (seconds since the epoch, possibly fractional)
// to a time. It accepts json.Number and float64.
func NumericDate(v any) (time.Time, bool) {
	var f float64
	switch x := v.(type) {
	case json.Number:
		var err error
		if f, err = x.Float64(); err != nil {
			return time.Time{}, false
		}
	case float64:
		f = x
	case int64:
		f = float64(x)
	default:
		return time.Time{}, false
	}
	if math.IsNaN(f) || math.IsInf(f, 0) || f > 1e13 || f < -1e13 {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), true
}
