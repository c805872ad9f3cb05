package config

import (
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// typeKeys lists the keys each authenticator type accepts besides "type". Every secret
// key (see isSecretKey) is also accepted as <key>_file.
var typeKeys = func() map[AuthenticatorType][]string {
	m := map[AuthenticatorType][]string{
		TypeJWT: {"issuer", "audience", "algorithms", "jwks_url", "jwks_file", "secret",
			"leeway", "jwks_max_stale", "jwks_min_refresh", "jwks_negative_ttl", "jwks_timeout", "cache_size",
			"discovery", "audience_claim", "subject_claim", "scope_claims", "headers"},
		TypeAPIKey:        {"header", "query", "pepper", "headers"},
		TypeBasic:         {"cache_ttl", "cache_size", "headers"},
		TypeIntrospection: {"url", "client_id", "client_secret", "cache_max_ttl", "timeout", "subject_claim", "scope_claims", "headers"},
		TypeMTLS:          {"ca_file", "principal_from"},
	}
	for t, keys := range m {
		for _, k := range keys {
			if isSecretKey(k) {
				m[t] = append(m[t], k+"_file")
			}
		}
	}
	return m
}()

// AuthenticatorKeys returns the keys an authenticator of type t accepts besides
// "type" (secret keys also as <key>_file); nil for a type this build does not know.
func AuthenticatorKeys(t AuthenticatorType) []string { return slices.Clone(typeKeys[t]) }

// allAuthenticatorKeys is every key of every type, for authenticators whose type is
// missing or unknown.
func allAuthenticatorKeys() []string {
	out := []string{"type"}
	for _, t := range AuthenticatorTypes() {
		for _, k := range typeKeys[t] {
			if !slices.Contains(out, k) {
				out = append(out, k)
			}
		}
	}
	return out
}

// typesWithKey names the types that accept key.
func typesWithKey(key string) []string {
	var out []string
	for _, t := range AuthenticatorTypes() {
		if slices.Contains(typeKeys[t], key) {
			out = append(out, string(t))
		}
	}
	return out
}

func (d *decoder) authenticators(n *yaml.Node, c *Config) {
	entries, _ := d.mapping(n, "authenticators")
	for _, e := range entries {
		c.Authenticators[e.key] = d.authenticator(e)
	}
}

func (d *decoder) authenticator(e entry) *Authenticator {
	path := join("authenticators", e.key)
	d.src[path] = origin{line: e.line}
	a := &Authenticator{Name: e.key, Line: e.line}
	entries, ok := d.mapping(e.val, path)
	if !ok {
		return a
	}
	byKey := make(map[string]entry, len(entries))
	for _, k := range entries {
		byKey[k.key] = k
		d.src[join(path, k.key)] = origin{line: k.line}
	}
	if t, ok := byKey["type"]; ok {
		var s string
		d.setString(t.val, join(path, "type"), &s)
		a.Type = AuthenticatorType(s)
	}
	known, typeKnown := typeKeys[a.Type]
	where := " in authenticator " + strconv.Quote(e.key)
	if !typeKnown {
		known = allAuthenticatorKeys()
	}
	for _, k := range entries {
		if k.key == "type" || slices.Contains(known, k.key) {
			continue
		}
		if others := typesWithKey(k.key); typeKnown && len(others) > 0 {
			d.problemf(k.line, "%s: key %q is not valid for an authenticator of type %q (it is a setting of %s)",
				path, k.key, a.Type, strings.Join(others, ", "))
			continue
		}
		d.unknownKey(k, where, append([]string{"type"}, known...))
	}
	switch a.Type {
	case TypeJWT:
		a.JWT = d.jwt(byKey, path)
	case TypeAPIKey:
		a.APIKey = d.apiKey(byKey, path)
	case TypeBasic:
		a.Basic = d.basic(byKey, path)
	case TypeIntrospection:
		a.Introspection = d.introspection(byKey, path)
	case TypeMTLS:
		a.MTLS = d.mtls(byKey, path)
	}
	if h, ok := byKey["headers"]; ok && a.Type != TypeMTLS && typeKnown {
		a.Headers = d.headers(h.val, join(path, "headers"))
	}
	return a
}

// headers reads a headers block: header name to claim path.
func (d *decoder) headers(n *yaml.Node, path string) []HeaderMapping {
	entries, ok := d.mapping(n, path)
	if !ok {
		return nil
	}
	out := make([]HeaderMapping, 0, len(entries))
	for _, e := range entries {
		p := join(path, e.key)
		d.src[p] = origin{line: e.line}
		m := HeaderMapping{Header: e.key}
		d.setString(e.val, p, &m.Claim)
		out = append(out, m)
	}
	return out
}

// claimRules reads subject_claim and scope_claims.
func (d *decoder) claimRules(key string, val *yaml.Node, p string, r *ClaimRules) {
	switch key {
	case "subject_claim":
		d.setString(val, p, &r.SubjectClaim)
	case "scope_claims":
		r.ScopeClaims = d.strOrList(val, p)
	}
}

// each calls f for every key in byKey that is in keys, in the order of keys.
func each(byKey map[string]entry, block string, keys []string, f func(key string, val *yaml.Node, path string)) {
	for _, k := range keys {
		if e, ok := byKey[k]; ok {
			f(k, e.val, join(block, k))
		}
	}
}

func (d *decoder) jwt(byKey map[string]entry, block string) *JWT {
	j := &JWT{
		Leeway:          DefaultLeeway,
		JWKSMaxStale:    DefaultJWKSMaxStale,
		JWKSMinRefresh:  DefaultJWKSMinRefresh,
		JWKSNegativeTTL: DefaultJWKSNegativeTTL,
		JWKSTimeout:     DefaultJWKSTimeout,
		CacheSize:       DefaultJWTCacheSize,
	}
	each(byKey, block, typeKeys[TypeJWT], func(key string, val *yaml.Node, p string) {
		switch key {
		case "issuer":
			d.setString(val, p, &j.Issuer)
		case "audience":
			j.Audience = d.strOrList(val, p)
		case "algorithms":
			j.Algorithms, _ = d.strList(val, p)
		case "jwks_url":
			d.setString(val, p, &j.JWKSURL)
		case "jwks_file":
			d.setPath(val, p, &j.JWKSFile)
		case "leeway":
			d.setDuration(val, p, &j.Leeway)
		case "jwks_max_stale":
			d.setDuration(val, p, &j.JWKSMaxStale)
		case "jwks_min_refresh":
			d.setDuration(val, p, &j.JWKSMinRefresh)
		case "jwks_negative_ttl":
			d.setDuration(val, p, &j.JWKSNegativeTTL)
		case "jwks_timeout":
			d.setDuration(val, p, &j.JWKSTimeout)
		case "cache_size":
			d.setInt(val, p, &j.CacheSize)
		case "discovery":
			d.setBool(val, p, &j.Discovery)
		case "audience_claim":
			d.setString(val, p, &j.AudienceClaim)
		case "subject_claim", "scope_claims":
			d.claimRules(key, val, p, &j.ClaimRules)
		}
	})
	j.Secret = d.secret(byKey, "secret", block)
	return j
}

func (d *decoder) apiKey(byKey map[string]entry, block string) *APIKey {
	k := &APIKey{Header: DefaultAPIKeyHeader}
	each(byKey, block, typeKeys[TypeAPIKey], func(key string, val *yaml.Node, p string) {
		switch key {
		case "header":
			d.setString(val, p, &k.Header)
		case "query":
			d.setString(val, p, &k.Query)
		}
	})
	k.Pepper = d.secret(byKey, "pepper", block)
	return k
}

func (d *decoder) basic(byKey map[string]entry, block string) *Basic {
	b := &Basic{CacheTTL: DefaultBasicCacheTTL, CacheSize: DefaultBasicCacheSize}
	each(byKey, block, typeKeys[TypeBasic], func(key string, val *yaml.Node, p string) {
		switch key {
		case "cache_ttl":
			d.setDuration(val, p, &b.CacheTTL)
		case "cache_size":
			d.setInt(val, p, &b.CacheSize)
		}
	})
	return b
}

func (d *decoder) introspection(byKey map[string]entry, block string) *Introspection {
	in := &Introspection{CacheMaxTTL: DefaultIntrospectionCacheMaxTTL, Timeout: DefaultIntrospectionTimeout}
	each(byKey, block, typeKeys[TypeIntrospection], func(key string, val *yaml.Node, p string) {
		switch key {
		case "url":
			d.setString(val, p, &in.URL)
		case "client_id":
			d.setString(val, p, &in.ClientID)
		case "cache_max_ttl":
			d.setDuration(val, p, &in.CacheMaxTTL)
		case "timeout":
			d.setDuration(val, p, &in.Timeout)
		case "subject_claim", "scope_claims":
			d.claimRules(key, val, p, &in.ClaimRules)
		}
	})
	in.ClientSecret = d.secret(byKey, "client_secret", block)
	return in
}

func (d *decoder) mtls(byKey map[string]entry, block string) *MTLS {
	m := &MTLS{PrincipalFrom: DefaultPrincipalFrom, principalFromDefaulted: true}
	each(byKey, block, typeKeys[TypeMTLS], func(key string, val *yaml.Node, p string) {
		switch key {
		case "ca_file":
			d.setPath(val, p, &m.CAFile)
		case "principal_from":
			var s string
			d.setString(val, p, &s)
			if s != "" {
				m.PrincipalFrom, m.principalFromDefaulted = PrincipalSource(s), false
			}
		}
	})
	return m
}

var (
	routeKeys   = []string{"name", "match", "upstream", "authenticate", "require", "forward_authorization"}
	matchKeys   = []string{"path_prefix", "host", "methods", "case_insensitive", "methods_fallthrough"}
	requireKeys = []string{"scopes", "claims", "expression"}
)

func (d *decoder) routes(n *yaml.Node, c *Config) {
	r := d.resolve(n)
	if r == nil {
		d.bad["routes"] = true
		return
	}
	d.src["routes"] = origin{line: n.Line}
	if isNull(r) {
		return
	}
	if r.Kind != yaml.SequenceNode {
		d.fail("routes", n.Line, "expected a sequence of routes, found %s", describe(r))
		return
	}
	c.Routes = make([]Route, 0, len(r.Content))
	for i, item := range r.Content {
		c.Routes = append(c.Routes, d.route(item, i))
	}
}

func (d *decoder) route(n *yaml.Node, i int) Route {
	path := index("routes", i)
	d.src[path] = origin{line: n.Line}
	rt := Route{Name: "route-" + strconv.Itoa(i), Line: n.Line, ForwardAuthorization: true}
	entries, ok := d.mapping(n, path)
	if !ok {
		return rt
	}
	byKey := make(map[string]entry, len(entries))
	for _, e := range entries {
		byKey[e.key] = e
		d.src[join(path, e.key)] = origin{line: e.line}
	}
	if e, ok := byKey["name"]; ok {
		d.setString(e.val, join(path, "name"), &rt.Name)
	}
	where := " in route " + strconv.Quote(rt.Name)
	if d.src[join(path, "name")].expanded {
		where = " in " + path
	}
	for _, e := range entries {
		p := join(path, e.key)
		switch e.key {
		case "name":
		case "match":
			d.block(e, p, matchKeys, func(k entry, kp string) {
				switch k.key {
				case "path_prefix":
					d.setString(k.val, kp, &rt.Match.PathPrefix)
				case "host":
					d.setString(k.val, kp, &rt.Match.Host)
				case "methods":
					methods, _ := d.strList(k.val, kp)
					for j := range methods {
						methods[j] = strings.ToUpper(strings.TrimSpace(methods[j]))
					}
					rt.Match.Methods = methods
				case "case_insensitive":
					d.setBool(k.val, kp, &rt.Match.CaseInsensitive)
				case "methods_fallthrough":
					d.setBool(k.val, kp, &rt.Match.MethodsFallthrough)
				}
			})
		case "upstream":
			d.setString(e.val, p, &rt.Upstream)
		case "authenticate":
			d.authenticate(e.val, p, &rt)
		case "require":
			d.block(e, p, requireKeys, func(k entry, kp string) {
				switch k.key {
				case "scopes":
					rt.Require.Scopes, _ = d.strList(k.val, kp)
				case "claims":
					entries, _ := d.mapping(k.val, kp)
					for _, c := range entries {
						cp := join(kp, c.key)
						d.src[cp] = origin{line: c.line}
						rt.Require.Claims = append(rt.Require.Claims, ClaimRequirement{Path: c.key, Values: d.strOrList(c.val, cp)})
					}
				case "expression":
					rt.Require.Expressions = d.strOrList(k.val, kp)
				}
			})
		case "forward_authorization":
			d.setBool(e.val, p, &rt.ForwardAuthorization)
		default:
			d.unknownKey(e, where, routeKeys)
		}
	}
	return rt
}

// authenticate reads "anonymous" or a list of authenticator names.
func (d *decoder) authenticate(n *yaml.Node, path string, rt *Route) {
	r := d.resolve(n)
	if r == nil {
		d.bad[path] = true
		return
	}
	if r.Kind == yaml.ScalarNode && !isNull(r) {
		s, ok := d.scalar(n, path, "a string")
		if !ok {
			return
		}
		if s.text == Anonymous {
			rt.Anonymous = true
			return
		}
		hint := ""
		if !s.expanded && s.text != "" && !strings.ContainsAny(s.text, "[],") {
			hint = ": to use one authenticator write [" + s.text + "]"
		}
		d.fail(path, s.line, "expected %q or a list of authenticator names, found a string%s", Anonymous, hint)
		return
	}
	names, _ := d.strList(n, path)
	seen := map[string]bool{}
	for i, name := range names {
		p := index(path, i)
		o := d.src[p]
		switch {
		case d.bad[p]:
			// Reported already; do not report the route as naming no authenticator too.
			d.bad[path] = true
		case name == Anonymous:
			rt.Anonymous = true
			if len(names) > 1 {
				d.fail(path, o.line, "%s cannot be combined with authenticators: a route is either open or authenticated", Anonymous)
			}
		case seen[name]:
			d.fail(p, o.line, "authenticator %s is listed twice", showOrigin(o, name))
		default:
			seen[name] = true
			// Keyed by name so validation can point at the line that names it.
			d.src[join(path, name)] = o
			rt.Authenticators = append(rt.Authenticators, name)
		}
	}
}
