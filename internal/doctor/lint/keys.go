package lint

import (
	"strings"
)

// keyKind describes a family of API keys recognisable by prefix.
type keyKind struct {
	Prefix string
	Vendor string // "GitHub personal access token (classic)"
	// MinLen and MaxLen bound the whole key's length as issued; MaxLen 0 means unbounded.
	MinLen, MaxLen int
	// Env is "test" or "live" when the prefix alone names the environment.
	Env string
	// Bearer reports whether the vendor documents sending the key as
	// "Authorization: Bearer <key>". When false, a Bearer header is the wrong place.
	Bearer bool
	// Where says where the vendor expects the key when Bearer is false.
	Where string
}

// knownKeys is ordered so that longer prefixes come before shorter ones sharing a start
// (sk-proj- before sk-, github_pat_ before anything else starting with g).
var knownKeys = []keyKind{
	{Prefix: "github_pat_", Vendor: "GitHub fine-grained personal access token", MinLen: 93, MaxLen: 93, Bearer: true},
	{Prefix: "ghp_", Vendor: "GitHub personal access token (classic)", MinLen: 40, MaxLen: 40, Bearer: true},
	{Prefix: "gho_", Vendor: "GitHub OAuth access token", MinLen: 40, MaxLen: 40, Bearer: true},
	{Prefix: "ghu_", Vendor: "GitHub user-to-server token", MinLen: 40, MaxLen: 40, Bearer: true},
	{Prefix: "ghs_", Vendor: "GitHub server-to-server token", MinLen: 40, MaxLen: 40, Bearer: true},
	{Prefix: "ghr_", Vendor: "GitHub refresh token", MinLen: 40, MaxLen: 0, Bearer: false, Where: "the OAuth token endpoint's refresh_token parameter (it is not an access token)"},
	{Prefix: "glpat-", Vendor: "GitLab personal access token", MinLen: 26, MaxLen: 0, Bearer: true},
	{Prefix: "sk_live_", Vendor: "Stripe secret key (live mode)", MinLen: 32, Env: "live", Bearer: true},
	{Prefix: "sk_test_", Vendor: "Stripe secret key (test mode)", MinLen: 32, Env: "test", Bearer: true},
	{Prefix: "rk_live_", Vendor: "Stripe restricted key (live mode)", MinLen: 32, Env: "live", Bearer: true},
	{Prefix: "rk_test_", Vendor: "Stripe restricted key (test mode)", MinLen: 32, Env: "test", Bearer: true},
	{Prefix: "pk_live_", Vendor: "Stripe publishable key (live mode)", MinLen: 32, Env: "live", Bearer: false, Where: "browser-side Stripe.js only; server API calls need the secret key (sk_live_)"},
	{Prefix: "pk_test_", Vendor: "Stripe publishable key (test mode)", MinLen: 32, Env: "test", Bearer: false, Where: "browser-side Stripe.js only; server API calls need the secret key (sk_test_)"},
	{Prefix: "xoxb-", Vendor: "Slack bot token", MinLen: 40, Bearer: true},
	{Prefix: "xoxp-", Vendor: "Slack user token", MinLen: 40, Bearer: true},
	{Prefix: "xapp-", Vendor: "Slack app-level token", MinLen: 40, Bearer: true},
	{Prefix: "sk-proj-", Vendor: "OpenAI project API key", MinLen: 40, Bearer: true},
	{Prefix: "sk-ant-", Vendor: "Anthropic API key", MinLen: 40, Bearer: false, Where: "the x-api-key header"},
	{Prefix: "sk-", Vendor: "OpenAI API key", MinLen: 40, Bearer: true},
	{Prefix: "AKIA", Vendor: "AWS access key ID", MinLen: 20, MaxLen: 20, Bearer: false, Where: "an AWS Signature Version 4 signed request (the key ID alone is not a credential)"},
	{Prefix: "ASIA", Vendor: "AWS temporary access key ID", MinLen: 20, MaxLen: 20, Bearer: false, Where: "an AWS Signature Version 4 signed request (the key ID alone is not a credential)"},
	{Prefix: "AIza", Vendor: "Google API key", MinLen: 39, MaxLen: 39, Bearer: false, Where: "the key= query parameter or the X-Goog-Api-Key header"},
	{Prefix: "gk_", Vendor: "Gatehouse API key", MinLen: 0, Bearer: true},
}

// matchKey returns the key family whose prefix v starts with, if any. AWS and Google
// prefixes are matched only when the rest of the value has their alphabet, so that an
// ordinary word starting with "AKIA" is not mistaken for a key.
func matchKey(v string) (keyKind, bool) {
	for _, k := range knownKeys {
		if !strings.HasPrefix(v, k.Prefix) || len(v) == len(k.Prefix) {
			continue
		}
		rest := v[len(k.Prefix):]
		switch k.Prefix {
		case "AKIA", "ASIA":
			if !allIn(rest, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") {
				continue
			}
		case "AIza":
			if !allIn(rest, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") {
				continue
			}
		}
		return k, true
	}
	return keyKind{}, false
}

func allIn(s, alphabet string) bool {
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(alphabet, s[i]) < 0 {
			return false
		}
	}
	return true
}

// gatehouseKey is the visible structure of a Gatehouse API key,
// gk_<env>_<id>_<secret><checksum> (docs/design.md, section 6).
type gatehouseKey struct {
	Env, ID string
	// SecretLen is the length of <secret><checksum>.
	SecretLen int
}

// gatehouseMinSecret is the shortest <secret><checksum> part accepted as plausible. The
// issued secret is high-entropy (at least 128 bits, so 22+ base62 characters) plus a
// checksum; anything under 20 characters has certainly lost characters.
const gatehouseMinSecret = 20

// parseGatehouseKey splits a gk_ key into its parts. It checks only the shape: the
// checksum algorithm belongs to the credential store and is verified there.
func parseGatehouseKey(v string) (gatehouseKey, string) {
	rest, ok := strings.CutPrefix(v, "gk_")
	if !ok {
		return gatehouseKey{}, "no gk_ prefix"
	}
	env, rest, ok := strings.Cut(rest, "_")
	if !ok || env == "" {
		return gatehouseKey{}, "the <env> part is missing"
	}
	id, secret, ok := strings.Cut(rest, "_")
	if !ok || id == "" {
		return gatehouseKey{Env: env}, "the <id> part is missing"
	}
	k := gatehouseKey{Env: env, ID: id, SecretLen: len(secret)}
	if secret == "" {
		return k, "the <secret><checksum> part is missing"
	}
	if !isKeyPart(env) || !isKeyPart(id) || !isAlnumOrUnderscore(secret) {
		return k, "it contains characters a Gatehouse key never has"
	}
	if len(secret) < gatehouseMinSecret {
		return k, "the <secret><checksum> part is too short"
	}
	return k, ""
}

// isKeyPart reports whether s can be the <env> or <id> of a Gatehouse key: letters,
// digits and '-'.
func isKeyPart(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func isAlnumOrUnderscore(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
