package decision

import (
	"errors"
	"path"
	"slices"
	"strings"
	"unicode/utf8"
)

// Paths and route selection.
//
// The gateway decides on the path as it decoded it once; the upstream may read the same
// bytes differently. Where a common server reading can make an accepted path name a
// resource under another route, the path is refused (CleanPath) or matched as that
// server reads it (Select), so that the route decided is the route the upstream serves:
//
//   - ".;x" and "..;x" segments are refused: Tomcat, Jetty and Spring drop ";parameters"
//     from each segment before resolving dot segments, so "/public/..;/admin" is /admin
//     to them. Other ";parameters" are dropped for matching, as those servers drop them:
//     "/admin;x/y" matches the route for /admin.
//   - a backslash is refused: IIS, Windows servers and some frameworks read it as "/".
//   - a "%" followed by two hex digits, left after the gateway decoded the path once, is
//     refused: it is double encoding ("%252e" decoded once is "%2e"), and a server that
//     decodes again reads another path.
//   - invalid UTF-8 is refused: overlong forms such as C0 AE are read as "." by lenient
//     decoders.
//   - control characters (NUL included) are refused: servers written in C end the path
//     at a NUL.
//   - a route with CaseInsensitive matches its prefix without regard to case, for
//     upstreams that read /ADMIN as /admin.

// ErrPathRejected is wrapped by every error of CleanPath.
var ErrPathRejected = errors.New("path rejected")

// CleanPath returns the canonical form of a decoded request path ("." and ".." segments
// resolved, repeated slashes collapsed, a trailing slash kept), or an error wrapping
// ErrPathRejected when the path holds a form that some upstream would read as another
// path (see above). The error names the form, never the path.
func CleanPath(p string) (string, error) {
	if err := checkPath(p); err != nil {
		return "", err
	}
	return cleanPath(p), nil
}

// checkPath refuses the forms listed in the comment above. One pass over the bytes: the
// common path has none of the bytes it looks at twice.
func checkPath(p string) error {
	ascii := true
	params := false
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c < 0x20 || c == 0x7f:
			return pathError("the path holds a control character (such as %00); servers written in C end the path there")
		case c == '\\':
			return pathError(`the path holds a backslash (\ or %5c); some servers read it as /`)
		case c == '%' && i+2 < len(p) && isHex(p[i+1]) && isHex(p[i+2]):
			return pathError("the path is encoded twice (such as %252e); a server that decodes it again reads another path")
		case c == ';':
			params = true
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	if !ascii && !utf8.ValidString(p) {
		return pathError("the path is not valid UTF-8 (such as the overlong %c0%ae); lenient decoders read such bytes as . or /")
	}
	if params {
		for seg := range strings.SplitSeq(p, "/") {
			if name, _, ok := strings.Cut(seg, ";"); ok && (name == "." || name == "..") {
				return pathError("a path segment is . or .. followed by ;parameters (such as ..;); servers that drop ;parameters read it as a dot segment")
			}
		}
	}
	return nil
}

// pathError is a refusal of CleanPath: msg alone as its text (the gateway puts it in the
// problem's detail), ErrPathRejected for errors.Is.
func pathError(msg string) error { return &pathErr{msg} }

type pathErr struct{ msg string }

func (e *pathErr) Error() string { return e.msg }
func (e *pathErr) Unwrap() error { return ErrPathRejected }

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// cleanPath returns the canonical form of p: "." and ".." segments resolved and repeated
// slashes collapsed, keeping a trailing slash.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	if !strings.Contains(p, "//") && !strings.Contains(p, "/.") {
		return p
	}
	np := path.Clean(p)
	if strings.HasSuffix(p, "/") && np != "/" {
		np += "/"
	}
	return np
}

// matchPath is the path routes are matched against: p with the ";parameters" of each
// segment dropped, as servers that honour them read it. p has passed CleanPath, so no
// segment becomes a dot segment; one that becomes empty ("/;x/a") is collapsed.
func matchPath(p string) string {
	if strings.IndexByte(p, ';') < 0 {
		return p
	}
	var b strings.Builder
	b.Grow(len(p))
	for i := 0; i < len(p); {
		end := len(p)
		if k := strings.IndexByte(p[i+1:], '/'); k >= 0 {
			end = i + 1 + k
		}
		seg := p[i:end] // "/name;params"
		if k := strings.IndexByte(seg, ';'); k >= 0 {
			seg = seg[:k]
		}
		b.WriteString(seg)
		i = end
	}
	return cleanPath(b.String())
}

// allowsMethod reports whether the route takes method: every method when Methods is
// empty, else a listed one, HEAD wherever GET is (a HEAD is a GET without the body, and
// net/http servers answer it with the GET handler).
func (r *Route) allowsMethod(method string) bool {
	if len(r.Methods) == 0 {
		return true
	}
	for _, m := range r.Methods {
		if m == method || m == "GET" && method == "HEAD" {
			return true
		}
	}
	return false
}

// matchesPath reports whether the route's prefix covers mp, a matchPath result.
func (r *Route) matchesPath(mp string) bool {
	if r.CaseInsensitive {
		return PathHasPrefixFold(mp, r.PathPrefix)
	}
	return PathHasPrefix(mp, r.PathPrefix)
}

// PathHasPrefixFold is PathHasPrefix comparing each segment with Unicode case folding
// (strings.EqualFold), so that /ADMIN/x has the prefix /admin.
func PathHasPrefixFold(p, prefix string) bool {
	prefix = strings.TrimSuffix(prefix, "/")
	for prefix != "" {
		if p == "" || p[0] != '/' || prefix[0] != '/' {
			return false
		}
		ps, prest := cutSegment(prefix[1:])
		qs, qrest := cutSegment(p[1:])
		if !strings.EqualFold(ps, qs) {
			return false
		}
		prefix, p = prest, qrest
	}
	return true
}

// cutSegment splits s at its first "/": the segment before it, and the rest from it on.
func cutSegment(s string) (seg, rest string) {
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return s[:i], s[i:]
	}
	return s, ""
}

// Selection is the outcome of Select.
type Selection struct {
	// Index is the selected route's index, or -1 when none takes the request.
	Index int
	// Allow is set when Index is -1 because a route claims the path but not the method
	// (405 method_not_allowed): the methods that routes take at that path.
	Allow []string
	// Ambiguous is set when Index is -1 because the path holds ";parameters" and the
	// routes chosen for it with them dropped (as Tomcat, Jetty and Spring read it) and
	// as written (as most other servers read it) differ: whichever the gateway decided
	// on, some upstream would serve the other. The gateway refuses it (path_rejected).
	Ambiguous bool
}

// Select chooses the route for a request: the first route whose prefix covers the path
// and whose methods include the method (HEAD counting as GET). p must have passed
// CleanPath.
//
// A path with ";parameters" must select the same route read both ways, with the
// parameters dropped and as written; when it does not, the Selection is Ambiguous.
//
// A route that lists methods claims its prefix: a request under it with another method
// does not fall through to a broader route later in the list (where it would be decided
// under that route's weaker policy), but only to later routes inside the same prefix
// ("/reports" GET, then "/reports" POST or "/reports/export" POST). When none takes it,
// the Selection carries the Allow list of a 405. MethodsFallthrough lets a route give up
// that claim.
func Select(routes []*Route, method, p string) Selection {
	return SelectHost(routes, "", method, p)
}

// SelectHost is Select for a request for host (as NormalizeHost returns it): routes
// whose Host does not take it are passed over as if absent, so they neither match nor
// claim the path for a 405.
func SelectHost(routes []*Route, host, method, p string) Selection {
	mp := matchPath(p)
	sel := selectOn(routes, host, method, mp)
	if mp != p {
		if raw := selectOn(routes, host, method, p); raw.Index != sel.Index || !slices.Equal(raw.Allow, sel.Allow) {
			return Selection{Index: -1, Ambiguous: true}
		}
	}
	return sel
}

// selectOn is Select for the path mp as routes are matched against it.
func selectOn(routes []*Route, host, method, mp string) Selection {
	claimed := -1
	for i, r := range routes {
		if !r.HostMatches(host) || !r.matchesPath(mp) {
			continue
		}
		if claimed >= 0 && !routes[claimed].covers(r) {
			continue
		}
		if r.allowsMethod(method) {
			return Selection{Index: i}
		}
		if claimed < 0 && !r.MethodsFallthrough {
			claimed = i
		}
	}
	if claimed < 0 {
		return Selection{Index: -1}
	}
	var allow []string
	for _, r := range routes[claimed:] {
		if !r.HostMatches(host) || !r.matchesPath(mp) || !routes[claimed].covers(r) {
			continue
		}
		for _, m := range r.Methods {
			if !slices.Contains(allow, m) {
				allow = append(allow, m)
			}
			if m == "GET" && !slices.Contains(allow, "HEAD") {
				allow = append(allow, "HEAD")
			}
		}
	}
	return Selection{Index: -1, Allow: allow}
}

// covers reports whether o's prefix lies inside r's (equal or longer).
func (r *Route) covers(o *Route) bool {
	op := strings.TrimSuffix(o.PathPrefix, "/")
	if op == "" {
		op = "/"
	}
	return r.matchesPath(op)
}
