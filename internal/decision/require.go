package decision

import (
	"context"
	"strings"
)

// Requirement is one condition of a route's require block beyond scopes: a claim rule
// or an expression (see package policy). Check reports what is unmet, "" when the
// principal meets it on req; unmet is client-safe and names the requirement, never a
// value the credential carried. cause is a finer, log-only classification
// ("claim_absent", "expression_error"), also free of claim values.
type Requirement interface {
	Check(ctx context.Context, p *Principal, req *Request) (unmet, cause string)
}

// ClaimsRequirement is a Requirement that reads only the principal's claims (a claim
// rule): Decide calls CheckClaims, which lets a route check it without any allocation.
type ClaimsRequirement interface {
	Requirement
	CheckClaims(claims map[string]any) (unmet, cause string)
}

// checkRequirements returns what the first unmet requirement says, or "". It passes
// the general Requirement copies, not the caller's Principal and Request: what an
// interface method receives a pointer to escapes to the heap, and routes without
// requirements, or with claim rules only, must not pay for that.
func checkRequirements(ctx context.Context, reqs []Requirement, p Principal, method, path, host string, hd Header) (unmet, cause string) {
	for _, q := range reqs {
		if c, ok := q.(ClaimsRequirement); ok {
			unmet, cause = c.CheckClaims(p.Claims)
		} else {
			unmet, cause = checkOne(ctx, q, p, Request{Method: method, Path: path, Host: host, Header: hd})
		}
		if unmet != "" {
			return unmet, cause
		}
	}
	return "", ""
}

// checkOne runs one general requirement on copies of p and req.
//
//go:noinline
func checkOne(ctx context.Context, q Requirement, p Principal, req Request) (unmet, cause string) {
	return q.Check(ctx, &p, &req)
}

// HostMatches reports whether the route takes requests for host, a request host as
// NormalizeHost returns it: every host when the route names none, else its exact name
// or, for a "*.example.com" pattern, exactly one label in front of example.com.
func (r *Route) HostMatches(host string) bool {
	switch {
	case r.Host == "":
		return true
	case strings.HasPrefix(r.Host, "*."):
		suffix := r.Host[1:] // ".example.com"
		if len(host) <= len(suffix) || !strings.HasSuffix(host, suffix) {
			return false
		}
		label := host[:len(host)-len(suffix)]
		return strings.IndexByte(label, '.') < 0
	}
	return host == r.Host
}

// NormalizeHost returns the host of a Host header value (or X-Forwarded-Host) as routes
// match it: without its port, without one trailing dot, in lower case. An IPv6 literal
// keeps no brackets. A name holding non-ASCII bytes is returned as is, lower-cased
// (see ToASCII in the gateway for the IDNA form); "" when the value is empty or
// malformed.
func NormalizeHost(h string) string {
	if h == "" {
		return ""
	}
	if h[0] == '[' {
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return ""
		}
		rest := h[end+1:]
		if rest != "" && (rest[0] != ':' || !allDigits(rest[1:])) {
			return ""
		}
		return lowerASCII(h[1:end])
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 {
		if strings.IndexByte(h[:i], ':') >= 0 {
			return lowerASCII(h) // a bare IPv6 literal
		}
		if !allDigits(h[i+1:]) {
			return ""
		}
		h = h[:i]
	}
	h = strings.TrimSuffix(h, ".")
	return lowerASCII(h)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// lowerASCII lower-cases the ASCII letters of s, without a copy when it has none.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; c >= 'A' && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
