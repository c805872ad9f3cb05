package tokenrules_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/tokenrules"
	"github.com/gatehouse-dev/gatehouse/internal/tokens"
	jwtverify "github.com/gatehouse-dev/gatehouse/internal/verify/jwt"
)

// jwtYAML is a configuration with one jwt authenticator and a route using it.
func jwtYAML(keySource, algs, leeway string) string {
	return fmt.Sprintf(`realm: test
authenticators:
  j:
    type: jwt
    issuer: https://id.example
    audience: api
    algorithms: [%s]
    leeway: %s
    %s
routes:
  - match: {path_prefix: /}
    authenticate: [j]
`, algs, leeway, keySource)
}

// configAccepts reports whether the configuration check accepts yaml; the problems
// it reports are returned for the failure message.
func configAccepts(t *testing.T, yaml string) (bool, string) {
	t.Helper()
	_, err := config.Parse([]byte(yaml), t.TempDir(), func(string) string { return "" })
	if err == nil {
		return true, ""
	}
	return false, err.Error()
}

// runtimeAccepts reports whether the jwt verifier accepts the same settings.
func runtimeAccepts(cfg jwtverify.Config) (bool, string) {
	cfg.Name, cfg.Issuer, cfg.Audience = "j", "https://id.example", []string{"api"}
	_, err := jwtverify.New(cfg)
	if err == nil {
		return true, ""
	}
	return false, err.Error()
}

// TestConfigAndRuntimeAgree: for every rule of this package, the configuration check
// and the verifier accept exactly the same values, so a configuration that loads never
// fails to start, and nothing the verifier would refuse passes the check.
func TestConfigAndRuntimeAgree(t *testing.T) {
	secret := strings.Repeat("k", 64)
	agree := func(t *testing.T, what, yaml string, cfg jwtverify.Config) {
		t.Helper()
		c, cwhy := configAccepts(t, yaml)
		r, rwhy := runtimeAccepts(cfg)
		if c != r {
			t.Errorf("%s: config accepts=%v (%s), runtime accepts=%v (%s)", what, c, cwhy, r, rwhy)
		}
	}
	t.Run("algorithms", func(t *testing.T) {
		for _, alg := range append(tokenrules.Algorithms(), "none", "NONE", "hs256", "Rs256", "RS1", "ES256K") {
			src, cfg := "jwks_url: https://id.example/jwks", jwtverify.Config{JWKSURL: "https://id.example/jwks", Algorithms: []string{alg}}
			if tokenrules.IsHMAC(alg) {
				src, cfg = "secret: "+secret, jwtverify.Config{Secret: []byte(secret), Algorithms: []string{alg}}
			}
			agree(t, "algorithm "+alg, jwtYAML(src, alg, "30s"), cfg)
		}
	})
	t.Run("leeway", func(t *testing.T) {
		for _, d := range []time.Duration{-time.Second, 0, time.Second, tokenrules.MaxLeeway, tokenrules.MaxLeeway + time.Second, time.Hour} {
			agree(t, "leeway "+d.String(), jwtYAML("jwks_url: https://id.example/jwks", "ES256", d.String()),
				jwtverify.Config{JWKSURL: "https://id.example/jwks", Algorithms: []string{"ES256"}, Leeway: d})
		}
	})
	t.Run("HMAC key lengths", func(t *testing.T) {
		for _, alg := range []string{"HS256", "HS384", "HS512"} {
			for _, n := range []int{31, 32, 47, 48, 63, 64} {
				s := strings.Repeat("s", n)
				agree(t, fmt.Sprintf("%s with %d bytes", alg, n), jwtYAML("secret: "+s, alg, "0s"),
					jwtverify.Config{Secret: []byte(s), Algorithms: []string{alg}})
			}
		}
	})
	t.Run("key URLs", func(t *testing.T) {
		for _, u := range []string{"https://id.example/jwks", "http://id.example/jwks", "http://127.0.0.1:8080/jwks", "http://127.8.9.1/jwks",
			"http://localhost/jwks", "http://LOCALHOST/jwks", "http://[::1]:8080/jwks", "http://[::ffff:127.0.0.1]/jwks", "http://10.0.0.1/jwks",
			"http://localhost.example/jwks"} {
			agree(t, "jwks_url "+u, jwtYAML("jwks_url: "+u, "ES256", "0s"), jwtverify.Config{JWKSURL: u, Algorithms: []string{"ES256"}})
		}
	})
}

// TestOneListOfAlgorithms: the configuration's list and the verifiers' list are this
// package's.
func TestOneListOfAlgorithms(t *testing.T) {
	if !slices.Equal(config.SupportedAlgorithms(), tokenrules.Algorithms()) || !slices.Equal(tokens.SupportedAlgorithms, tokenrules.Algorithms()) {
		t.Errorf("config %v, tokens %v, tokenrules %v", config.SupportedAlgorithms(), tokens.SupportedAlgorithms, tokenrules.Algorithms())
	}
	if config.MaxLeeway != tokenrules.MaxLeeway || jwtverify.MaxLeeway != tokenrules.MaxLeeway || config.MinHMACSecretBytes != tokenrules.MinHMACKeyBytes("HS256") {
		t.Error("the limits differ")
	}
}
