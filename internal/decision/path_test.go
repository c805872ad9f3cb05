package decision

import (
	"errors"
	"net/url"
	"path"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCleanPathRefusesPathsAnUpstreamReadsAsAnother(t *testing.T) {
	tests := []struct {
		name, in string // in: the path as the gateway decoded it once
		want     string // the clean path; empty: refused
	}{
		{"plain", "/api/orders", "/api/orders"},
		{"dot segments resolved", "/public/../admin", "/admin"},
		{"repeated slashes", "/a//b/", "/a/b/"},
		{"empty", "", "/"},
		{"parameters kept", "/reports;jsessionid=1/x", "/reports;jsessionid=1/x"},
		{"a dotted name is no dot segment", "/a/..x;y/b", "/a/..x;y/b"},
		{"a lone percent", "/100%", "/100%"},
		{"percent without two hex digits", "/a%zz/%4", "/a%zz/%4"},
		{"valid UTF-8", "/caf\u00e9", "/caf\u00e9"},
		{"dot-dot with parameters (Tomcat, Jetty, Spring)", "/public/..;/admin", ""},
		{"dot-dot with named parameters", "/public/..;x=1/admin", ""},
		{"dot with parameters", "/public/.;/admin", ""},
		{"dot-dot with parameters at the end", "/admin/x/..;", ""},
		{"backslash (%5c)", `/public/..\admin`, ""},
		{"backslash alone", `/a\b`, ""},
		{"double-encoded dots (%252e)", "/public/%2e%2e/admin", ""},
		{"double-encoded slash (%252f)", "/public%2f..%2fadmin", ""},
		{"double-encoded letter (%2561)", "/%61dmin", ""},
		{"overlong UTF-8 dot (%c0%ae)", "/public/\xc0\xae\xc0\xae/admin", ""},
		{"truncated UTF-8", "/a\xe2\x82", ""},
		{"NUL (%00)", "/admin\x00.txt", ""},
		{"DEL", "/a\x7fb", ""},
		{"newline", "/a\nb", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CleanPath(tt.in)
			if tt.want == "" {
				if err == nil || !errors.Is(err, ErrPathRejected) {
					t.Fatalf("CleanPath(%q) = %q, %v; want an ErrPathRejected", tt.in, got, err)
				}
				if strings.Contains(err.Error(), tt.in) {
					t.Errorf("the error %q repeats the path", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("CleanPath(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

// selectRoutes is a route set with every shape Select distinguishes.
func selectRoutes() []*Route {
	return []*Route{
		{Name: "reports", PathPrefix: "/reports", Methods: []string{"GET"}},
		{Name: "reports-export", PathPrefix: "/reports/export", Methods: []string{"POST"}},
		{Name: "legacy", PathPrefix: "/legacy", Methods: []string{"GET"}, MethodsFallthrough: true},
		{Name: "admin", PathPrefix: "/admin", CaseInsensitive: true},
		{Name: "keys", PathPrefix: "/keys/", Methods: []string{"GET", "DELETE"}, CaseInsensitive: true},
		{Name: "files-write", PathPrefix: "/files", Methods: []string{"PUT"}},
		{Name: "files-read", PathPrefix: "/files", Methods: []string{"GET"}},
		{Name: "public", PathPrefix: "/public"},
		{Name: "root", PathPrefix: "/"},
	}
}

// ambiguous stands for a Selection that is Ambiguous in the tables.
const ambiguous = "(ambiguous)"

func TestSelectDoesNotLetAMethodFallThroughToABroaderRoute(t *testing.T) {
	routes := selectRoutes()
	tests := []struct {
		method, path string
		route        string   // empty: none
		allow        []string // the 405's Allow when route is empty
	}{
		{"GET", "/reports", "reports", nil},
		{"HEAD", "/reports", "reports", nil},
		{"HEAD", "/reports/2024", "reports", nil},
		{"POST", "/reports", "", []string{"GET", "HEAD"}},
		{"DELETE", "/reports/2024", "", []string{"GET", "HEAD"}},
		{"OPTIONS", "/reports", "", []string{"GET", "HEAD"}},
		{"POST", "/reports/export", "reports-export", nil},
		{"GET", "/reports/export", "reports", nil},
		{"DELETE", "/reports/export/x", "", []string{"GET", "HEAD", "POST"}},
		// ;parameters on a prefix's own segment: dropped (as Tomcat reads it) the path is
		// under /reports, as written (as most servers read it) under /: refused.
		{"POST", "/reports;jsessionid=1", ambiguous, nil},
		{"GET", "/reports;jsessionid=1", ambiguous, nil},
		{"GET", "/reports/2024;jsessionid=1", "reports", nil}, // the same route read both ways
		{"GET", "/public;", ambiguous, nil},                   // a fuzz finding: /public's policy, / at the upstream
		{"POST", "/reportsx", "root", nil},
		{"GET", "/legacy/x", "legacy", nil},
		{"POST", "/legacy/x", "root", nil}, // methods_fallthrough
		{"PUT", "/files/a", "files-write", nil},
		{"GET", "/files/a", "files-read", nil},
		{"HEAD", "/files/a", "files-read", nil},
		{"DELETE", "/files/a", "", []string{"PUT", "GET", "HEAD"}},
		{"GET", "/ADMIN/x", "admin", nil},
		{"POST", "/Admin", "admin", nil},
		{"GET", "/administrator", "root", nil},
		{"GET", "/admin;x/y", ambiguous, nil},
		{"GET", "/;x/admin", ambiguous, nil},
		{"GET", "/admin/y;x", "admin", nil},
		{"GET", "/KEYS/1", "keys", nil},
		{"GET", "/\u212Aeys/1", "keys", nil}, // KELVIN SIGN folds to k
		{"POST", "/Keys/1", "", []string{"GET", "HEAD", "DELETE"}},
		{"GET", "/Reports", "root", nil}, // case-sensitive
		{"POST", "/public/x", "public", nil},
		{"GET", "/", "root", nil},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			sel := Select(routes, tt.method, tt.path)
			got := ""
			if sel.Index >= 0 {
				got = routes[sel.Index].Name
			}
			if sel.Ambiguous {
				got = ambiguous
			}
			if got != tt.route || !cmp.Equal(sel.Allow, tt.allow) {
				t.Fatalf("Select = route %q allow %v, want route %q allow %v", got, sel.Allow, tt.route, tt.allow)
			}
			if rt := FindRoute(routes, tt.method, tt.path); (rt == nil) != (got == "" || got == ambiguous) || rt != nil && rt.Name != tt.route {
				t.Errorf("FindRoute disagrees with Select: %v", rt)
			}
		})
	}
}

func TestSelectWithoutACatchAll(t *testing.T) {
	routes := []*Route{{Name: "a", PathPrefix: "/a", Methods: []string{"POST"}, MethodsFallthrough: true}}
	if sel := Select(routes, "GET", "/a"); sel.Index != -1 || sel.Allow != nil {
		t.Fatalf("Select = %+v, want no route and no Allow (a plain 404)", sel)
	}
}

// upstreamReadings returns the ways an upstream may read p beyond the gateway's one
// decoding, each with its dot segments resolved: decoded once more, "\" read as "/",
// ";parameters" dropped, and all three together.
func upstreamReadings(p string) []string {
	var out []string
	add := func(s string) {
		c := path.Clean("/" + s)
		if strings.HasSuffix(s, "/") && c != "/" {
			c += "/"
		}
		out = append(out, c)
	}
	stripParams := func(s string) string {
		segs := strings.Split(s, "/")
		for i, seg := range segs {
			segs[i], _, _ = strings.Cut(seg, ";")
		}
		return strings.Join(segs, "/")
	}
	backslash := func(s string) string { return strings.ReplaceAll(s, `\`, "/") }
	all := p
	if d, err := url.PathUnescape(p); err == nil {
		add(d)
		all = d
	}
	add(backslash(p))
	add(stripParams(p))
	add(stripParams(backslash(all)))
	return out
}

// FuzzCleanPathKeepsTheRouteAnUpstreamReads holds CleanPath and Select to their promise:
// a path CleanPath accepts is taken by the same route (or refused with the same 405)
// however an upstream reads it: decoded once more, "\" as "/", ";parameters" dropped,
// and case folded when the route is case-insensitive.
func FuzzCleanPathKeepsTheRouteAnUpstreamReads(f *testing.F) {
	for _, s := range []string{
		"/public/..;/admin", `/public/..\admin`, "/public/%2e%2e/admin", "/public/\xc0\xae\xc0\xae/admin",
		"/ADMIN/x", "/admin;x/y", "/;x/admin", "/reports;a=b", "/%61dmin", "/public%2f..%2fadmin",
		"/keys/1", "/\u212Aeys/1", "/admin\x00", "/public/.;/admin", "/public/;/../admin", "/a/%zz", "/",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	routes := selectRoutes()
	f.Fuzz(func(t *testing.T, in string, post bool) {
		method := "GET"
		if post {
			method = "POST"
		}
		p, err := CleanPath(in)
		if err != nil {
			if !errors.Is(err, ErrPathRejected) {
				t.Fatalf("CleanPath(%q): %v does not wrap ErrPathRejected", in, err)
			}
			return
		}
		if again, err := CleanPath(p); err != nil || again != p {
			t.Fatalf("CleanPath(%q) = %q, and again %q, %v", in, p, again, err)
		}
		want := Select(routes, method, p)
		if want.Ambiguous {
			return // refused: the readings disagree, and the gateway answers 400
		}
		readings := append(upstreamReadings(p), p)
		if want.Index >= 0 && routes[want.Index].CaseInsensitive {
			for _, r := range append([]string(nil), readings...) {
				readings = append(readings, strings.ToLower(r), strings.ToUpper(r))
			}
		}
		for _, r := range readings {
			if got := Select(routes, method, r); !cmp.Equal(got, want) {
				t.Fatalf("%s %q (from %q) selects %+v, but an upstream may read it as %q, which selects %+v", method, p, in, want, r, got)
			}
		}
	})
}
