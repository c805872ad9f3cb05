package policy

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
)

func claimsOf(t testing.TB, js string) map[string]any {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(js))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestClaimRule(t *testing.T) {
	const token = `{
		"sub": "alice",
		"realm_access": {"roles": ["user", "admin"]},
		"https://example.com/roles": ["billing"],
		"https://example": {"com/roles": ["nested-only"]},
		"groups": "ops",
		"admin": true,
		"level": 3,
		"ratio": 1.5,
		"obj": {"a": 1},
		"nested": [["admin"]],
		"a.b": "dotted",
		"a": {"b": "nested"},
		"bad": "\ud800"
	}`
	claims := claimsOf(t, token)
	tests := []struct {
		name, path string
		values     []string
		unmet      string // "" when met
	}{
		{"nested array contains", "realm_access.roles", []string{"admin"}, ""},
		{"nested array lacks", "realm_access.roles", []string{"root"}, "claim realm_access.roles must contain one of [root]"},
		{"url-shaped top-level name", "https://example.com/roles", []string{"billing"}, ""},
		{"top-level name wins over nesting", "https://example.com/roles", []string{"nested-only"}, "claim https://example.com/roles must contain one of [nested-only]"},
		{"string equal", "groups", []string{"dev", "ops"}, ""},
		{"string is not a substring match", "groups", []string{"op"}, "claim groups must contain one of [op]"},
		{"bool", "admin", []string{"true"}, ""},
		{"bool false", "admin", []string{"false"}, "claim admin must contain one of [false]"},
		{"integer", "level", []string{"3"}, ""},
		{"integer spelled as float", "level", []string{"3.0"}, ""},
		{"float", "ratio", []string{"1.5"}, ""},
		{"object never matches", "obj", []string{"a"}, "claim obj must contain one of [a]"},
		{"nested arrays are not searched", "nested", []string{"admin"}, "claim nested must contain one of [admin]"},
		{"absent", "missing", []string{"x"}, "claim missing is absent; it must contain one of [x]"},
		{"absent nested", "realm_access.groups", []string{"x"}, "claim realm_access.groups is absent; it must contain one of [x]"},
		{"through a non-object", "groups.x", []string{"x"}, "claim groups.x is absent; it must contain one of [x]"},
		{"dotted top-level name wins", "a.b", []string{"dotted"}, ""},
		{"non-UTF-8 value compared as bytes", "bad", []string{"x"}, "claim bad must contain one of [x]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewClaimRule(tt.path, tt.values)
			if err != nil {
				t.Fatal(err)
			}
			unmet, _ := r.Check(context.Background(), &decision.Principal{Claims: claims}, nil)
			if unmet != tt.unmet {
				t.Errorf("unmet = %q, want %q", unmet, tt.unmet)
			}
		})
	}
	t.Run("api key attributes", func(t *testing.T) {
		r, _ := NewClaimRule("team", []string{"billing"})
		if unmet, _ := r.Check(context.Background(), &decision.Principal{Claims: map[string]any{"team": "billing"}}, nil); unmet != "" {
			t.Error(unmet)
		}
		if unmet, _ := r.Check(context.Background(), &decision.Principal{}, nil); unmet == "" {
			t.Error("nil claims met the rule")
		}
	})
	t.Run("huge array", func(t *testing.T) {
		big := make([]any, 1<<20)
		for i := range big {
			big[i] = "x"
		}
		r, _ := NewClaimRule("roles", []string{"admin"})
		if unmet, _ := r.Check(context.Background(), &decision.Principal{Claims: map[string]any{"roles": big}}, nil); unmet == "" {
			t.Error("met")
		}
		big[len(big)-1] = "admin"
		if unmet, _ := r.Check(context.Background(), &decision.Principal{Claims: map[string]any{"roles": big}}, nil); unmet != "" {
			t.Error(unmet)
		}
	})
	t.Run("deep nesting", func(t *testing.T) {
		m := map[string]any{"v": "admin"}
		for range 10000 {
			m = map[string]any{"a": m}
		}
		r, _ := NewClaimRule("a.a.a.v", []string{"admin"})
		if unmet, _ := r.Check(context.Background(), &decision.Principal{Claims: m}, nil); unmet == "" {
			t.Error("met")
		}
	})
}

func TestParseClaimPath(t *testing.T) {
	tests := []struct {
		in     string
		nested bool
		err    string
	}{
		{"roles", false, ""},
		{"realm_access.roles", true, ""},
		{"https://example.com/roles", true, ""},
		{"a..b", false, ""},
		{".a", false, ""},
		{"", false, "empty"},
		{" roles", false, "space"},
		{"ro\x00les", false, "control"},
		{"\xff", false, "UTF-8"},
		{strings.Repeat("a", MaxClaimPathBytes+1), false, "bytes"},
		{strings.Repeat("a.", MaxClaimPathDepth) + "a", false, "segments"},
	}
	for _, tt := range tests {
		p, err := ParseClaimPath(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseClaimPath(%q) error %v, want one containing %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || p.Nested() != tt.nested || p.String() != tt.in {
			t.Errorf("ParseClaimPath(%q) = %+v, %v", tt.in, p, err)
		}
	}
}

func TestExpression(t *testing.T) {
	claims := claimsOf(t, `{"realm_access":{"roles":["admin"]},"email":"a@example.com","level":3,"groups":"ops","secret":"s3cr3t-value"}`)
	hd := http.Header{"Authorization": {"Bearer tok"}, "Cookie": {"c=1"}, "X-Api-Key": {"gk_x"}, "X-Tenant": {"acme"}}
	req := &decision.Request{Method: "POST", Path: "/admin/x", Host: "api.example.com", Header: hd}
	p := &decision.Principal{Subject: "alice", Scopes: []string{"read", "write"}, Claims: claims}
	tests := []struct {
		src   string
		unmet string
		cause string
	}{
		{`"admin" in claims.realm_access.roles`, "", ""},
		{`claims.level >= 3 && claims.level < 4.5`, "", ""},
		{`subject == "alice" && "write" in scopes`, "", ""},
		{`request.method == "POST" && request.path.startsWith("/admin") && request.host.endsWith(".example.com")`, "", ""},
		{`request.headers["x-tenant"] == "acme"`, "", ""},
		{`!("authorization" in request.headers) && !("cookie" in request.headers) && !("x-api-key" in request.headers)`, "", ""},
		{`claims.email.endsWith("@other.example")`, "expression #1 is false", "expression_false"},
		{`claims.missing == "x"`, "expression #1 could not be evaluated (a claim absent or of another type); it counts as false", "expression_error"},
		{`claims.groups > 3`, "expression #1 could not be evaluated (a claim absent or of another type); it counts as false", "expression_error"},
		{`int(claims.secret) > 0`, "expression #1 could not be evaluated (a claim absent or of another type); it counts as false", "expression_error"},
		{`has(claims.missing)`, "expression #1 is false", "expression_false"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			x, err := Compile(tt.src, 1, []string{"X-API-Key"})
			if err != nil {
				t.Fatal(err)
			}
			unmet, cause := x.Check(context.Background(), p, req)
			if unmet != tt.unmet || cause != tt.cause {
				t.Errorf("Check = %q, %q; want %q, %q", unmet, cause, tt.unmet, tt.cause)
			}
			if strings.Contains(unmet, "s3cr3t") {
				t.Error("a claim value leaked into the unmet text")
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct{ src, want string }{
		{`claims.roles.exists(r, r == "admin"`, "Syntax error"},
		{`subject + 1`, "no matching overload"},
		{`subject`, "must be true or false, not a string"},
		{`request.methd == "GET"`, `undeclared reference to 'request.methd' (did you mean 'request.method'?)`},
		{`unknown == 1`, "undeclared reference"},
		{``, "empty"},
		{strings.Repeat(" ", MaxExpressionBytes+1), "bytes"},
		// Nesting deeper than the parser's recursion limit is a problem, not a crash.
		{strings.Repeat("(", 1500) + "true" + strings.Repeat(")", 1500), "recursion"},
		// Nested comprehensions over claims may cost the square of a token's size.
		{`claims.a.all(x, claims.b.all(y, x == y))`, "may cost up to"},
		// Allocation growing with the square of a token's size.
		{`claims.a.map(x, claims.a.map(y, y)).size() > 0`, "may cost up to"},
		{`claims.a.map(x, claims.s + claims.s).size() > 0`, "may cost up to"},
	}
	for _, tt := range tests {
		_, err := Compile(tt.src, 1, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Compile(%.40q) error %v, want one containing %q", tt.src, err, tt.want)
		}
	}
}

// TestExpressionRuntimeCost: an expression that passes the load estimate still stops at
// MaxCost on a principal larger than any token (claims of API keys or users built in
// code are not bounded by the credential size).
func TestExpressionRuntimeCost(t *testing.T) {
	x, err := Compile(`claims.a.exists(x, x == "never")`, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	big := make([]any, 4*MaxCost)
	for i := range big {
		big[i] = "x"
	}
	unmet, cause := x.Check(context.Background(), &decision.Principal{Claims: map[string]any{"a": big}}, nil)
	if cause != "expression_cost_exceeded" || unmet != "expression #2 exceeded its cost limit; it counts as false" {
		t.Errorf("Check = %q, %q", unmet, cause)
	}
}

// TestExpressionBadInput: hostile claim shapes get an answer, never a panic.
func TestExpressionBadInput(t *testing.T) {
	deep := map[string]any{"v": "x"}
	for range 10000 {
		deep = map[string]any{"a": deep}
	}
	big := make([]any, 100000)
	for i := range big {
		big[i] = map[string]any{"k": []any{"x", 1.5, nil}}
	}
	claims := map[string]any{
		"bad":    "\xff\xfe\xfd",
		"deep":   deep,
		"big":    big,
		"nul":    nil,
		"num":    json.Number("1e400"),
		"mixed":  []any{"a", 1.0, true, nil, map[string]any{}, []any{}},
		"keys":   map[string]any{"\xff": "v"},
		"strs":   []string{"a", "b"},
		"intval": 7,
	}
	p := &decision.Principal{Subject: "\xff", Scopes: []string{"\x00"}, Claims: claims}
	req := &decision.Request{Method: "GET", Path: "/", Host: "h", Header: http.Header{"X-Bin": {"\xff\x00"}}}
	for _, src := range []string{
		`claims.bad.startsWith("a")`, `size(claims.bad) > 0`, `claims.bad.matches("^.*$")`, `claims.bad + subject == ""`,
		`claims.deep.a.a.a.a.v == "x"`, `claims.big.exists(e, e.k[0] == "y")`, `size(claims.big) > 5`,
		`claims.nul == null`, `claims.num > 1.0`, `claims.mixed.exists(e, e == "b")`, `"\xff" in claims.keys`,
		`"a" in claims.strs`, `claims.intval == 7`, `request.headers["x-bin"].contains("a")`, `scopes.all(s, s != "")`,
		`claims.bad.split("x").size() > 0`, `int(claims.bad) == 1`, `double(claims.bad) > 0.0`,
	} {
		x, err := Compile(src, 1, nil)
		if err != nil {
			if strings.Contains(src, "split") {
				continue // not in the standard library: a load-time error is an answer too
			}
			t.Errorf("Compile(%q): %v", src, err)
			continue
		}
		unmet, cause := x.Check(context.Background(), p, req)
		if unmet != "" && cause == "" {
			t.Errorf("%q: unmet %q without a cause", src, unmet)
		}
		if strings.Contains(unmet, "\xff") {
			t.Errorf("%q: a claim value in %q", src, unmet)
		}
	}
}
