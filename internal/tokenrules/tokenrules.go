// Package tokenrules holds the rules for verifying tokens that the configuration check
// and the verifiers must both apply: the accepted JWS algorithms, HMAC key lengths, the
// clock-skew limit and which key URLs may be fetched. Each rule is written once, here;
// internal/config checks a configuration with it and internal/tokens and
// internal/verify/jwt enforce it at run time, so a configuration that passes the check
// is one the runtime accepts, and the reverse. It imports only the standard library.
package tokenrules

import (
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
)

// algorithms lists every JWS algorithm (RFC 7518, RFC 8037) an allow-list may name, in
// a stable order. "none" is never among them.
var algorithms = []string{
	"RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
	"ES256", "ES384", "ES512", "EdDSA", "HS256", "HS384", "HS512",
}

// Algorithms returns every JWS algorithm an allow-list may name, in a stable order.
func Algorithms() []string { return slices.Clone(algorithms) }

// Supported reports whether alg is one of Algorithms. Names are case-sensitive, as in
// RFC 7518.
func Supported(alg string) bool { return slices.Contains(algorithms, alg) }

// IsHMAC reports whether alg is HS256, HS384 or HS512.
func IsHMAC(alg string) bool { return alg == "HS256" || alg == "HS384" || alg == "HS512" }

// MinHMACSecretBytes is the shortest HMAC secret accepted for any algorithm.
const MinHMACSecretBytes = 32

// MinHMACKeyBytes is the shortest secret alg accepts: RFC 7518, section 3.2, a key at
// least as long as the hash output (32, 48 and 64 bytes for HS256, HS384 and HS512);
// 0 for an algorithm that is not HMAC.
func MinHMACKeyBytes(alg string) int {
	switch alg {
	case "HS256":
		return MinHMACSecretBytes
	case "HS384":
		return 48
	case "HS512":
		return 64
	}
	return 0
}

// MaxLeeway is the largest clock-skew allowance on exp, nbf and iat: a larger one is a
// misconfiguration that keeps expired tokens alive.
const MaxLeeway = 5 * time.Minute

// LeewayAllowed reports whether d is an acceptable clock-skew allowance.
func LeewayAllowed(d time.Duration) bool { return d >= 0 && d <= MaxLeeway }

// IsLoopbackHost reports whether host (a URL's Hostname, brackets allowed) is
// localhost, in any case, or a loopback IP literal.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && a.Unmap().IsLoopback()
}

// KeyURLAllowed reports whether keys (a JWK Set) may be fetched from u: https, or http
// only on a loopback host, since keys fetched over plain http can be swapped by anyone on
// the path, and then every token they sign verifies. u must have a host.
func KeyURLAllowed(u *url.URL) bool {
	if u == nil || u.Host == "" {
		return false
	}
	return u.Scheme == "https" || u.Scheme == "http" && IsLoopbackHost(u.Hostname())
}
