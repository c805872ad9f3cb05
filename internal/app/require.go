package app

import (
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// requirements compiles a route's claims and expressions, in that order (claims are
// cheaper); nil when it has none, so such a route checks nothing more.
func requirements(r config.Require, hidden []string) ([]decision.Requirement, error) {
	var out []decision.Requirement
	for _, c := range r.Claims {
		rule, err := policy.NewClaimRule(c.Path, c.Values)
		if err != nil {
			return nil, err
		}
		out = append(out, rule)
	}
	for i, src := range r.Expressions {
		x, err := policy.Compile(src, i+1, hidden)
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, nil
}

// apiKeyHeaders are the headers API keys are read from, which an expression's
// request.headers must not show.
func apiKeyHeaders(cfg *config.Config) []string {
	var out []string
	for _, name := range cfg.AuthenticatorNames() {
		if a := cfg.Authenticators[name]; a.Type == config.TypeAPIKey && a.APIKey != nil {
			out = append(out, a.APIKey.Header)
		}
	}
	return out
}
