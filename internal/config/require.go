package config

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"golang.org/x/net/idna"

	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// require checks a route's claims and expressions with the functions the gateway
// compiles them with, so a configuration that loads is one the gateway can enforce.
func (v *validator) require(path string, r *Route) {
	if r.Anonymous && (len(r.Require.Claims) > 0 || len(r.Require.Expressions) > 0) {
		v.problemf(path, "an anonymous route has no principal to hold claims: remove require or name authenticators")
		return
	}
	cp := join(path, "claims")
	for _, c := range r.Require.Claims {
		p := join(cp, c.Path)
		if _, err := policy.ParseClaimPath(c.Path); err != nil {
			v.problemf(p, "%v", err)
			continue
		}
		if err := policy.CheckClaimValues(c.Values); err != nil {
			v.problemf(p, "%v", err)
		}
	}
	ep := join(path, "expression")
	for i, src := range r.Require.Expressions {
		p := ep
		if len(r.Require.Expressions) > 1 {
			p = index(ep, i)
		}
		if _, err := policy.Compile(src, i+1, nil); err != nil {
			if v.src[p].expanded || v.src[index(ep, i)].expanded {
				// CEL's messages quote the source, and text from the environment is
				// never quoted back: it may be a secret.
				v.problemf(p, "the expression (expanded from the environment) does not compile or is not allowed; check it with the value written in the file")
				continue
			}
			var ce *policy.CompileError
			if errors.As(err, &ce) && ce.Line > 0 {
				where := fmt.Sprintf("column %d", ce.Column+1)
				if strings.Contains(src, "\n") {
					where = fmt.Sprintf("line %d, column %d", ce.Line, ce.Column+1)
				}
				v.problemf(p, "%s (at %s of the expression)", ce.Message, where)
				continue
			}
			v.problemf(p, "%v", err)
		}
	}
}

// host checks match.host and stores it in the form requests are compared in (see
// Match.Host).
func (v *validator) host(path string, h *string) {
	raw := *h
	if raw == "" {
		return
	}
	norm, err := NormalizeHostPattern(raw)
	if err != nil {
		v.problemf(path, "%s %v", v.show(path, raw), err)
		return
	}
	*h = norm
}

// NormalizeHostPattern checks a route's host ("api.example.com", "*.example.com",
// "bücher.example", "127.0.0.1") and returns it lower-cased, without a trailing dot,
// with an internationalized name in its ASCII (xn--) form, as request hosts are
// compared.
func NormalizeHostPattern(raw string) (string, error) {
	if strings.Contains(raw, "://") || strings.ContainsAny(raw, "/?#@ \t") {
		return "", errors.New("is not a host name: write the name alone, such as api.example.com, without scheme, path or port")
	}
	if a, err := netip.ParseAddr(strings.Trim(raw, "[]")); err == nil {
		return a.String(), nil
	}
	if strings.Contains(raw, ":") {
		return "", errors.New("has a port: routes match the host name alone, so write it without :port")
	}
	h := strings.TrimSuffix(raw, ".")
	wild := strings.HasPrefix(h, "*.")
	if wild {
		h = h[2:]
	}
	if strings.Contains(h, "*") {
		return "", errors.New(`may hold * only as its whole first label, as in *.example.com (one label)`)
	}
	ascii, err := idna.Lookup.ToASCII(h)
	if err != nil || ascii == "" {
		return "", fmt.Errorf("is not a valid host name: %v", errOr(err, "empty"))
	}
	if wild {
		if !strings.Contains(ascii, ".") {
			return "", errors.New("is a wildcard over a top-level domain: write *.example.com, not *.com")
		}
		ascii = "*." + ascii
	}
	return ascii, nil
}

func errOr(err error, s string) string {
	if err != nil {
		return err.Error()
	}
	return s
}
