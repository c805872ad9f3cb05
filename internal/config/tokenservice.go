package config

import (
	"net/url"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// tokenServiceKeys are the keys of the token_service block; signing_key_secret may also
// be given as signing_key_secret_file.
var tokenServiceKeys = []string{"issuer", "signing_key_secret", "signing_key_secret_file", "signing_algorithm", "audience", "access_token_ttl"}

// tokenService decodes the token_service block. An empty or null block is a block with
// every key missing (and so a problem: issuer and the secret are required).
func (d *decoder) tokenService(e entry) *TokenService {
	const path = "token_service"
	d.src[path] = origin{line: e.line}
	ts := &TokenService{SigningAlgorithm: DefaultSigningAlgorithm, AccessTokenTTL: DefaultAccessTokenTTL}
	entries, ok := d.mapping(e.val, path)
	if !ok {
		return ts
	}
	byKey := make(map[string]entry, len(entries))
	for _, k := range entries {
		byKey[k.key] = k
		d.src[join(path, k.key)] = origin{line: k.line}
		if !slices.Contains(tokenServiceKeys, k.key) {
			d.unknownKey(k, " in token_service", tokenServiceKeys)
		}
	}
	each(byKey, path, tokenServiceKeys, func(key string, val *yaml.Node, p string) {
		switch key {
		case "issuer":
			d.setString(val, p, &ts.Issuer)
		case "signing_algorithm":
			var v string
			d.setString(val, p, &v)
			if v != "" {
				ts.SigningAlgorithm = v
			}
		case "audience":
			d.setString(val, p, &ts.Audience)
		case "access_token_ttl":
			d.setDuration(val, p, &ts.AccessTokenTTL)
		}
	})
	ts.SigningKeySecret = d.secret(byKey, "signing_key_secret", path)
	return ts
}

// selfDefaults gives each `issuer: self` jwt authenticator that lists no algorithms the
// token service's signing algorithm.
func selfDefaults(c *Config) {
	if c.TokenService == nil {
		return
	}
	if !slices.Contains(IssuingAlgorithms(), c.TokenService.SigningAlgorithm) {
		return // reported at signing_algorithm; a default from it would only echo that
	}
	for _, a := range c.Authenticators {
		if a != nil && a.JWT != nil && a.JWT.Issuer == IssuerSelf && len(a.JWT.Algorithms) == 0 {
			a.JWT.Algorithms = []string{c.TokenService.SigningAlgorithm}
		}
	}
}

// tokenService validates the token_service block.
func (v *validator) tokenService() {
	ts := v.c.TokenService
	if ts == nil {
		return
	}
	const path = "token_service"
	if ts.Issuer == "" {
		v.problemf(join(path, "issuer"), "required: the iss of issued tokens and the base URL of the endpoints, such as https://api.example.com")
	} else if msg := issuerProblem(ts.Issuer); msg != "" {
		v.problemf(join(path, "issuer"), "%s %s", v.show(join(path, "issuer"), ts.Issuer), msg)
	}
	sp := join(path, "signing_key_secret")
	switch {
	case v.isBad(sp):
	case ts.SigningKeySecret.IsZero():
		v.problemf(sp, "required: give signing_key_secret_file, a file of at least %d random bytes that encrypts the signing keys at rest (generate one with: openssl rand -base64 48)", MinSigningKeySecretBytes)
	case ts.SigningKeySecret.Len() < MinSigningKeySecretBytes:
		v.problemf(sp, "the secret is %d bytes; at least %d are required (generate one with: openssl rand -base64 48)", ts.SigningKeySecret.Len(), MinSigningKeySecretBytes)
	}
	ap := join(path, "signing_algorithm")
	if !slices.Contains(IssuingAlgorithms(), ts.SigningAlgorithm) {
		v.problemf(ap, "%s is not a signing algorithm of the token service: use %s%s", v.show(ap, ts.SigningAlgorithm),
			strings.Join(IssuingAlgorithms(), ", "), didYouMean(ts.SigningAlgorithm, IssuingAlgorithms()))
	}
	if ts.Audience != "" && !printableNoSpace(ts.Audience) {
		v.problemf(join(path, "audience"), "must be printable ASCII without spaces, such as api://orders")
	}
	tp := join(path, "access_token_ttl")
	if ts.AccessTokenTTL < time.Second || ts.AccessTokenTTL > MaxAccessTokenTTL {
		v.problemf(tp, "must be from 1s to %s, not %s", fmtDuration(MaxAccessTokenTTL), fmtDuration(ts.AccessTokenTTL))
	}
}

// issuerProblem says what is wrong with a token_service issuer (RFC 8414 section 2:
// https, no query, no fragment), or "".
func issuerProblem(s string) string {
	if err := checkURL(s, false); err != nil {
		return err.Error()
	}
	u, _ := url.Parse(s)
	if u.Scheme != "https" && !isLoopbackHost(u.Hostname()) {
		return "must be an https:// URL (http:// only for a loopback host such as 127.0.0.1): clients send their secrets to it"
	}
	return ""
}

// selfJWT validates what `issuer: self` needs from the rest of the configuration.
func (v *validator) selfJWT(path string, j *JWT) {
	ts := v.c.TokenService
	if ts == nil {
		v.problemf(join(path, "issuer"), "issuer %q needs Gatehouse's token service: add a token_service block", IssuerSelf)
		return
	}
	ap := join(path, "algorithms")
	for i, alg := range j.Algorithms {
		if slices.Contains(SupportedAlgorithms(), alg) && !slices.Contains(IssuingAlgorithms(), alg) {
			v.problemf(index(ap, i), "%s: the token service signs only with %s", alg, strings.Join(IssuingAlgorithms(), ", "))
		}
	}
	if len(j.Algorithms) > 0 && slices.Contains(IssuingAlgorithms(), ts.SigningAlgorithm) && !slices.Contains(j.Algorithms, ts.SigningAlgorithm) {
		v.problemf(ap, "does not include %s, the token service's signing_algorithm: every token it issues would be refused", ts.SigningAlgorithm)
	}
}

func printableNoSpace(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return s != ""
}
