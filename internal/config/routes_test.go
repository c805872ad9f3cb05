package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRouteMatchKeysAreRead(t *testing.T) {
	c, err := Parse([]byte(`realm: test
routes:
  - match: {path_prefix: /admin, case_insensitive: true}
    authenticate: anonymous
  - match: {path_prefix: /legacy, methods: [get], methods_fallthrough: true}
    authenticate: anonymous
`), "", noEnv)
	if err != nil {
		t.Fatal(err)
	}
	want := []Match{
		{PathPrefix: "/admin", CaseInsensitive: true},
		{PathPrefix: "/legacy", Methods: []string{"GET"}, MethodsFallthrough: true},
	}
	got := []Match{c.Routes[0].Match, c.Routes[1].Match}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("match blocks (-want +got):\n%s", diff)
	}
}

func TestRouteMatchingWarningsAndProblems(t *testing.T) {
	route := func(match string) string {
		return "  - match: {" + match + "}\n    authenticate: anonymous\n"
	}
	tests := []struct {
		name     string
		routes   []string
		warnings []string // substrings, one per warning, in order
		problem  string   // substring of the only problem; empty: loads
	}{
		{
			name:     "a method-restricted route in front of a broader one",
			routes:   []string{route("path_prefix: /reports, methods: [GET]"), route("path_prefix: /")},
			warnings: []string{`line 3: routes[0].match.methods: route "route-0" takes only GET, HEAD: other methods under /reports get 405 method_not_allowed, not route "route-1" (line 5); list them here, or set methods_fallthrough: true`},
		},
		{
			name:     "a broader route taking other methods only",
			routes:   []string{route("path_prefix: /reports/x, methods: [GET, DELETE]"), route("path_prefix: /reports, methods: [POST]")},
			warnings: []string{`takes only GET, HEAD, DELETE: other methods under /reports/x get 405 method_not_allowed, not route "route-1"`},
		},
		{
			name:   "a broader route taking the same methods: no warning",
			routes: []string{route("path_prefix: /reports, methods: [GET]"), route("path_prefix: /, methods: [GET, HEAD]")},
		},
		{
			name:   "a deeper route after it: no warning",
			routes: []string{route("path_prefix: /reports, methods: [GET]"), route("path_prefix: /reports/export, methods: [POST]"), route("path_prefix: /other")},
		},
		{
			name:   "methods_fallthrough set on purpose: no warning",
			routes: []string{route("path_prefix: /reports, methods: [GET], methods_fallthrough: true"), route("path_prefix: /")},
		},
		{
			name:     "methods_fallthrough without methods",
			routes:   []string{route("path_prefix: /a, methods_fallthrough: true"), route("path_prefix: /")},
			warnings: []string{"routes[0].match.methods_fallthrough: has no effect without methods"},
		},
		{
			name:     "a case-insensitive broader route",
			routes:   []string{route("path_prefix: /reports, methods: [GET]"), route("path_prefix: /, case_insensitive: true")},
			warnings: []string{`not route "route-1"`},
			problem:  `route "route-0" matches case-sensitively, but route "route-1" (line 5) after it matches / without regard to case: a request for /REPORTS would skip "route-0"`,
		},
		{
			name:    "a case-sensitive route under a later case-insensitive one",
			routes:  []string{route("path_prefix: /admin/keys"), route("path_prefix: /ADMIN, case_insensitive: true")},
			problem: `set case_insensitive: true on "route-0" too`,
		},
		{
			name:   "both case-insensitive",
			routes: []string{route("path_prefix: /admin/keys, case_insensitive: true"), route("path_prefix: /ADMIN, case_insensitive: true")},
		},
		{
			name:   "a case-insensitive route inside a later case-sensitive one",
			routes: []string{route("path_prefix: /admin, case_insensitive: true"), route("path_prefix: /")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte("realm: test\nroutes:\n"+strings.Join(tt.routes, "")), "", noEnv)
			if tt.problem != "" {
				ps := problemsOf(t, err)
				if len(ps) != 1 || !strings.Contains(ps[0].Error(), tt.problem) {
					t.Fatalf("problems %v, want one holding %q", ps, tt.problem)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Warnings) != len(tt.warnings) {
				t.Fatalf("warnings %v, want %d", c.Warnings, len(tt.warnings))
			}
			for i, w := range tt.warnings {
				if !strings.Contains(c.Warnings[i].Error(), w) {
					t.Errorf("warning %q\nwant it to hold %q", c.Warnings[i].Error(), w)
				}
			}
		})
	}
}

func TestHeadIsShadowedByAnEarlierGet(t *testing.T) {
	_, err := Parse([]byte(`realm: test
routes:
  - match: {path_prefix: /a, methods: [GET]}
    authenticate: anonymous
  - match: {path_prefix: /a, methods: [HEAD]}
    authenticate: anonymous
`), "", noEnv)
	if ps := problemsOf(t, err); len(ps) != 1 || !strings.Contains(ps[0].Msg, "can never match") {
		t.Fatalf("problems %v, want the HEAD route found unreachable", ps)
	}
}
