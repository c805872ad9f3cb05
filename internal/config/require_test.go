package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const requireBase = `realm: test
authenticators:
  corp:
    type: jwt
    issuer: https://idp.example.com
    audience: api
    algorithms: [HS256]
    secret: 0123456789abcdef0123456789abcdef
routes:
`

func TestRequireClaimsAndExpressionAreRead(t *testing.T) {
	c, err := Parse([]byte(requireBase+`  - match: {path_prefix: /admin, host: API.Example.COM.}
    authenticate: [corp]
    require:
      scopes: [admin]
      claims:
        realm_access.roles: [admin, ops]
        "https://example.com/tenant": acme
      expression: 'request.method == "GET" && "admin" in claims.realm_access.roles'
  - match: {path_prefix: /, host: "*.bücher.example"}
    authenticate: [corp]
    require:
      expression:
        - subject != ""
        - size(scopes) > 0
`), "", noEnv)
	if err != nil {
		t.Fatal(err)
	}
	want := Require{
		Scopes: []string{"admin"},
		Claims: []ClaimRequirement{
			{Path: "realm_access.roles", Values: []string{"admin", "ops"}},
			{Path: "https://example.com/tenant", Values: []string{"acme"}},
		},
		Expressions: []string{`request.method == "GET" && "admin" in claims.realm_access.roles`},
	}
	if diff := cmp.Diff(want, c.Routes[0].Require); diff != "" {
		t.Errorf("require (-want +got):\n%s", diff)
	}
	if got := c.Routes[0].Match.Host; got != "api.example.com" {
		t.Errorf("host = %q", got)
	}
	if got := c.Routes[1].Match.Host; got != "*.xn--bcher-kva.example" {
		t.Errorf("IDNA host = %q", got)
	}
	if got := c.Routes[1].Require.Expressions; len(got) != 2 {
		t.Errorf("expressions = %q", got)
	}
}

func TestRequireProblemsCarryTheirLine(t *testing.T) {
	tests := []struct {
		name, route, want string
	}{
		{"CEL syntax error", `    require:
      expression: 'claims.roles.exists(r, r == "admin"'`, `line 13: routes[0].require.expression: Syntax error`},
		{"CEL type error", `    require:
      expression: subject + 1`, `line 13: routes[0].require.expression: found no matching overload for '_+_' applied to '(string, int)' (at column 9 of the expression)`},
		{"not a bool", `    require:
      expression: subject`, `line 13: routes[0].require.expression: the expression must be true or false, not a string`},
		{"unknown request field", `    require:
      expression:
        - subject != ""
        - request.hots == "x"`, `line 15: routes[0].require.expression[1]: undeclared reference to 'request.hots' (did you mean 'request.host'?) (at column 8 of the expression)`},
		{"multi-line expression", `    require:
      expression: |
        subject != "" &&
          claimz.x == 1`, `line 13: routes[0].require.expression: undeclared reference to 'claimz' (did you mean 'claims'?) (at line 2, column 3 of the expression)`},
		{"cost too high", `    require:
      expression: claims.a.all(x, claims.b.all(y, x == y))`, `may cost up to`},
		{"claim without values", `    require:
      claims:
        roles: []`, `line 14: routes[0].require.claims.roles: list at least one value`},
		{"claim path with a control character", `    require:
      claims:
        "ro\x01les": [admin]`, `line 14: routes[0].require.claims."ro\x01les": the claim path holds a control character`},
		{"anonymous route with claims", `    require:
      claims: {roles: [admin]}`, `anonymous route has no principal to hold claims`},
		{"host with a port", `  - match: {path_prefix: /x, host: "api.example.com:8443"}`, `routes[0].match.host: "api.example.com:8443" has a port`},
		{"host with a scheme", `  - match: {path_prefix: /x, host: "https://api.example.com"}`, `is not a host name`},
		{"host wildcard in the middle", `  - match: {path_prefix: /x, host: "api.*.example.com"}`, `may hold * only as its whole first label`},
		{"host wildcard over a TLD", `  - match: {path_prefix: /x, host: "*.com"}`, `wildcard over a top-level domain`},
		{"unknown require key", `    require:
      claim: {roles: [admin]}`, `unknown key "claim"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			auth := "    authenticate: [corp]\n"
			if strings.Contains(tt.name, "anonymous") {
				auth = "    authenticate: anonymous\n"
			}
			route := "  - match: {path_prefix: /x}\n" + auth + tt.route + "\n"
			if strings.HasPrefix(tt.route, "  - match:") {
				route = tt.route + "\n" + auth
			}
			_, err := Parse([]byte(requireBase+route), "", noEnv)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error:\n%v\nwant one containing:\n%s", err, tt.want)
			}
		})
	}
}

func TestHostRoutesShadowOnlyTheirHost(t *testing.T) {
	route := func(match string) string {
		return "  - match: {" + match + "}\n    authenticate: anonymous\n"
	}
	tests := []struct {
		name    string
		routes  []string
		problem string // "" when it loads
	}{
		{"a host route does not hide a later route for every host",
			[]string{route("path_prefix: /, host: api.example.com"), route("path_prefix: /")}, ""},
		{"nor one for another host",
			[]string{route("path_prefix: /, host: api.example.com"), route("path_prefix: /, host: www.example.com")}, ""},
		{"a wildcard does not hide its bare domain",
			[]string{route("path_prefix: /, host: \"*.example.com\""), route("path_prefix: /, host: example.com")}, ""},
		{"the same host is hidden",
			[]string{route("path_prefix: /, host: api.example.com"), route("path_prefix: /x, host: API.example.com")}, `route "route-1" can never match`},
		{"a route for every host hides a later host route",
			[]string{route("path_prefix: /"), route("path_prefix: /x, host: api.example.com")}, `route "route-1" can never match`},
		{"a wildcard hides a host of one label under it",
			[]string{route("path_prefix: /, host: \"*.example.com\""), route("path_prefix: /, host: a.example.com")}, `route "route-1" can never match`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte("realm: test\nroutes:\n"+strings.Join(tt.routes, "")), "", noEnv)
			switch {
			case tt.problem == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tt.problem != "" && (err == nil || !strings.Contains(err.Error(), tt.problem)):
				t.Errorf("error %v, want %q", err, tt.problem)
			}
		})
	}
}

func TestExpressionFromTheEnvironmentIsNeverQuoted(t *testing.T) {
	env := func(k string) string {
		if k == "POLICY" {
			return `claims.role == s3cr3t_token_value`
		}
		return ""
	}
	_, err := Parse([]byte(requireBase+"  - match: {path_prefix: /}\n    authenticate: [corp]\n    require: {expression: \"${POLICY}\"}\n"), "", env)
	if err == nil || strings.Contains(err.Error(), "s3cr3t") || !strings.Contains(err.Error(), "expanded from the environment") {
		t.Errorf("error %v", err)
	}
}
