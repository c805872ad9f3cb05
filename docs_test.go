package gatehouse_test

import (
	"go/scanner"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode"

	"github.com/google/go-cmp/cmp"
)

// The repository documents itself: every relative link in its Markdown, and every docs/
// file a Go comment names, must lead to a file of the repository and, when it names a
// heading, to a heading that exists. Nothing may point at a file outside the repository.

// mdName finds the bare Markdown file names a text mentions ("design.md",
// "docs/reasons.md"); outsidePath finds an absolute location on a machine. (A relative
// link that climbs out of the repository is refused by the link check itself.) A name that no file of the repository carries, or
// such a path, is a dead end for every reader of the repository.
var (
	mdName      = regexp.MustCompile(`\b[A-Za-z0-9_-]+\.md\b`)
	outsidePath = regexp.MustCompile(`(^|[\s("'\x60])/(work|home|root)/`)
)

// outsideRefs returns what text refers to outside the repository, given the base names
// of every file in it.
func outsideRefs(text string, names map[string]bool) []string {
	var out []string
	for _, n := range mdName.FindAllString(text, -1) {
		if !names[n] {
			out = append(out, n)
		}
	}
	if m := outsidePath.FindString(text); m != "" {
		out = append(out, strings.TrimSpace(m))
	}
	return out
}

// headingAnchor is the anchor GitHub gives a Markdown heading: the heading's text (links
// reduced to their text, inline markup removed) lower-cased, every character that is not
// a letter, a digit, a space, '-' or '_' dropped, and each space turned into '-'.
func headingAnchor(heading string) string {
	text := mdLink.ReplaceAllString(heading, "$1")
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(text)) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

func TestHeadingAnchor(t *testing.T) {
	tests := []struct{ heading, want string }{
		{"Configuration reference", "configuration-reference"},
		{"`${VAR}` and `.env`", "var-and-env"},
		{"`<key>_file` secrets", "key_file-secrets"},
		{"`resource` and `authorization_servers`", "resource-and-authorization_servers"},
		{"`type: jwt`", "type-jwt"},
		{"gatehouse doctor: why does this request get 401?", "gatehouse-doctor-why-does-this-request-get-401"},
		{"1. An expired token, against a Gatehouse", "1-an-expired-token-against-a-gatehouse"},
		{"2. The denial contract", "2-the-denial-contract"},
		{"Behind nginx, Traefik or Kubernetes ingress (forward auth)", "behind-nginx-traefik-or-kubernetes-ingress-forward-auth"},
		{"A [linked](other.md#x) heading", "a-linked-heading"},
		{"Upper CASE and  two spaces", "upper-case-and--two-spaces"},
		{"Ünïcode stays", "ünïcode-stays"},
		{"  padded  ", "padded"},
		{"--- dashes & ampersands ---", "----dashes--ampersands----"},
	}
	for _, tc := range tests {
		if got := headingAnchor(tc.heading); got != tc.want {
			t.Errorf("headingAnchor(%q) = %q, want %q", tc.heading, got, tc.want)
		}
	}
}

var (
	mdLink       = regexp.MustCompile(`\[([^\]]*)\]\(([^)\s]*)(?:\s+"[^"]*")?\)`)
	mdRefDef     = regexp.MustCompile(`(?m)^\s{0,3}\[[^\]]+\]:\s*(\S+)`)
	htmlAnchorID = regexp.MustCompile(`<a\s+(?:id|name)="([^"]+)"`)
	headingLine  = regexp.MustCompile(`^(#{1,6})\s+(.*?)\s*#*\s*$`)
	inlineCode   = regexp.MustCompile("`+[^`]*`+")
	// A docs/ file named in a Go comment, with an optional #anchor or ", section N".
	goDocRef = regexp.MustCompile(`\bdocs/([A-Za-z0-9_.-]+\.md)(#[A-Za-z0-9_-]+)?(?:,? sections? (\d+))?`)
	// "section N" in Markdown text right after a link to a file.
	mdSectionRef = regexp.MustCompile(`\]\(([^)#\s]+\.md)\),? sections? (\d+)`)
)

// mdFile is a parsed Markdown file: its anchors and the lines outside code blocks.
type mdFile struct {
	anchors  map[string]bool
	sections map[string]bool // numbers of headings that start with "N."
	prose    []string        // lines outside fenced code blocks, with their inline code kept
}

func parseMarkdown(src string) mdFile {
	f := mdFile{anchors: map[string]bool{}, sections: map[string]bool{}}
	seen := map[string]int{}
	fence := ""
	for _, line := range strings.Split(src, "\n") {
		trimmed := strings.TrimLeft(line, " ")
		if fence != "" {
			if strings.HasPrefix(trimmed, fence) {
				fence = ""
			}
			continue
		}
		if strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~") {
			fence = trimmed[:3]
			continue
		}
		f.prose = append(f.prose, line)
		for _, m := range htmlAnchorID.FindAllStringSubmatch(line, -1) {
			f.anchors[m[1]] = true
		}
		m := headingLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		a := headingAnchor(m[2])
		// GitHub numbers repeated headings: x, x-1, x-2.
		if n := seen[a]; n > 0 {
			seen[a]++
			a = a + "-" + itoa(n)
		} else {
			seen[a] = 1
		}
		f.anchors[a] = true
		if num, _, ok := strings.Cut(m[2], ". "); ok && num != "" && strings.Trim(num, "0123456789") == "" {
			f.sections[num] = true
		}
	}
	return f
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

// repoFiles lists the repository's files with the given extension, skipping VCS data and
// test data (golden files quote arbitrary text).
func repoFiles(t *testing.T, ext string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(p, ext) {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

type docSet struct {
	t     *testing.T
	files map[string]*mdFile
}

func (d *docSet) get(path string) *mdFile {
	if f, ok := d.files[path]; ok {
		return f
	}
	src, err := os.ReadFile(path)
	if err != nil {
		d.t.Fatal(err)
	}
	f := parseMarkdown(string(src))
	d.files[path] = &f
	return &f
}

// checkTarget reports what is wrong with a link from the file from to target (a relative
// path, possibly with an anchor, or an anchor alone), or "".
func (d *docSet) checkTarget(from, target, section string) string {
	path, anchor, _ := strings.Cut(target, "#")
	dest := from
	if path != "" {
		dest = filepath.Clean(filepath.Join(filepath.Dir(from), filepath.FromSlash(path)))
		if dest == ".." || strings.HasPrefix(dest, ".."+string(filepath.Separator)) || filepath.IsAbs(path) {
			return "points outside the repository"
		}
		fi, err := os.Stat(dest)
		if err != nil {
			return "names a file that does not exist"
		}
		if fi.IsDir() {
			if anchor != "" || section != "" {
				return "puts an anchor on a folder"
			}
			return ""
		}
	}
	if anchor == "" && section == "" {
		return ""
	}
	if !strings.HasSuffix(dest, ".md") {
		return "puts an anchor on a file that is not Markdown"
	}
	f := d.get(dest)
	if anchor != "" && !f.anchors[anchor] {
		return "names an anchor that " + filepath.ToSlash(dest) + " does not have"
	}
	if section != "" && !f.sections[section] {
		return "names a section that " + filepath.ToSlash(dest) + " does not have"
	}
	return ""
}

func isExternal(target string) bool {
	i := strings.IndexAny(target, ":/#")
	return i > 0 && target[i] == ':' // a scheme: https:, mailto:
}

func TestMarkdownLinksResolve(t *testing.T) {
	d := &docSet{t: t, files: map[string]*mdFile{}}
	mds := repoFiles(t, ".md")
	for _, must := range []string{"README.md", filepath.Join("docs", "design.md"), filepath.Join("docs", "production.md")} {
		if !slices.Contains(mds, must) {
			t.Errorf("%s is missing", must)
		}
	}
	links := 0
	for _, p := range mds {
		f := d.get(p)
		for i, line := range f.prose {
			for _, bad := range outsideRefs(line, repoNames(t)) {
				t.Errorf("%s:%d refers to %q, a file outside the repository", p, i+1, bad)
			}
			// Links inside inline code are examples, not links.
			text := inlineCode.ReplaceAllString(line, "")
			var targets []string
			for _, m := range mdLink.FindAllStringSubmatch(text, -1) {
				targets = append(targets, m[2])
			}
			for _, m := range mdRefDef.FindAllStringSubmatch(text, -1) {
				targets = append(targets, m[1])
			}
			sections := map[string]string{}
			for _, m := range mdSectionRef.FindAllStringSubmatch(text, -1) {
				sections[m[1]] = m[2]
			}
			// A repository path named in the text ("docs/design.md, section 2").
			for _, m := range goDocRef.FindAllStringSubmatch(line, -1) {
				links++
				if why := d.checkTarget("x.md", "docs/"+m[1]+m[2], m[3]); why != "" {
					t.Errorf("%s:%d: the reference %q %s", p, i+1, m[0], why)
				}
			}
			for _, target := range targets {
				if target == "" || isExternal(target) {
					continue
				}
				links++
				if why := d.checkTarget(p, target, sections[target]); why != "" {
					t.Errorf("%s:%d: the link %q %s", p, i+1, target, why)
				}
			}
		}
	}
	if links < 50 {
		t.Errorf("found only %d relative links: the scanner is broken", links)
	}
}

func TestGoCommentsNameDocsThatExist(t *testing.T) {
	d := &docSet{t: t, files: map[string]*mdFile{}}
	refs := 0
	for _, p := range repoFiles(t, ".go") {
		src, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		fset := token.NewFileSet()
		file := fset.AddFile(p, -1, len(src))
		var s scanner.Scanner
		s.Init(file, src, nil, scanner.ScanComments)
		for {
			pos, tok, lit := s.Scan()
			if tok == token.EOF {
				break
			}
			if tok != token.COMMENT {
				continue
			}
			line := fset.Position(pos).Line
			// A reference may wrap onto the next comment line: join the lines.
			text := strings.Join(strings.Fields(strings.ReplaceAll(lit, "//", " ")), " ")
			for _, bad := range outsideRefs(text, repoNames(t)) {
				t.Errorf("%s:%d: a comment refers to %q, a file outside the repository", p, line, bad)
			}
			for _, m := range goDocRef.FindAllStringSubmatch(text, -1) {
				refs++
				target := "docs/" + m[1] + m[2]
				if why := d.checkTarget("x.go", target, m[3]); why != "" {
					t.Errorf("%s:%d: the comment's reference %q %s", p, line, m[0], why)
				}
			}
		}
	}
	if refs < 10 {
		t.Errorf("found only %d references to docs/ in Go comments: the scanner is broken", refs)
	}
}

// TestCheckTargetCatchesBrokenLinks makes sure the link check can fail.
func TestCheckTargetCatchesBrokenLinks(t *testing.T) {
	d := &docSet{t: t, files: map[string]*mdFile{}}
	tests := []struct {
		from, target, section string
		bad                   bool
	}{
		{"README.md", "docs/config.md#store", "", false},
		{"README.md", "docs/config.md#no-such-heading", "", true},
		{"README.md", "docs/no-such-file.md", "", true},
		{"docs/config.md", "../README.md#gatehouse", "", false},
		{"docs/config.md", "../../outside.md", "", true},
		{"docs/reasons.md", "#token_expired", "", false},
		{"docs/reasons.md", "#no_such_code", "", true},
		{"docs/design.md", "#2-the-denial-contract", "", false},
		{"README.md", "docs/design.md", "2", false},
		{"README.md", "docs/design.md", "42", true},
		{"README.md", "examples", "", false},
		{"README.md", "go.mod#x", "", true},
	}
	var got, want []bool
	for _, tc := range tests {
		got = append(got, d.checkTarget(filepath.FromSlash(tc.from), tc.target, tc.section) != "")
		want = append(want, tc.bad)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("checkTarget verdicts (-want +got):\n%s", diff)
	}
}

var (
	repoNamesOnce sync.Once
	repoNamesSet  map[string]bool
)

// repoNames is the set of base names of the files git tracks (and of the new files not
// yet tracked), read once.
func repoNames(t *testing.T) map[string]bool {
	t.Helper()
	repoNamesOnce.Do(func() {
		out, err := exec.Command("git", "ls-files", "--cached", "--others", "--exclude-standard").Output()
		repoNamesSet = map[string]bool{}
		if err != nil {
			return
		}
		for _, f := range strings.Split(string(out), "\n") {
			if f != "" {
				repoNamesSet[filepath.Base(f)] = true
			}
		}
	})
	if len(repoNamesSet) == 0 {
		t.Fatal("git ls-files listed no file")
	}
	return repoNamesSet
}

func TestOutsideRefsNamesOnlyWhatTheRepositoryLacks(t *testing.T) {
	names := map[string]bool{"design.md": true, "reasons.md": true}
	for text, want := range map[string][]string{
		"see docs/design.md, section 2":          nil,
		"the contract (PRODUCT.md section 4)":    {"PRODUCT.md"},
		"as reasons.md and rules-catalog.md say": {"rules-catalog.md"},
		"copied from /work/elsewhere/notes":      {"/work/"},
		"links to ../examples/nginx stay inside": nil,
	} {
		if got := outsideRefs(text, names); !cmp.Equal(got, want) {
			t.Errorf("outsideRefs(%q) = %q, want %q", text, got, want)
		}
	}
}
