package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Load reads the configuration file at path and parses it with Parse, relative paths and
// the .env file being taken from path's folder. Problems name path as given, so they read
// "path:line: message". getenv reads the real environment (os.Getenv when nil).
//
// A file that cannot be read is a plain error (errors.Is(err, fs.ErrNotExist) works); a
// file with problems gives an *Error listing them all.
func Load(path string, getenv func(string) string) (*Config, error) {
	data, err := readFileLimited(path, MaxConfigBytes)
	if err != nil {
		return nil, fmt.Errorf("config: load %s: %w", path, err)
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("config: load %s: %w", path, err)
	}
	return parse(data, dir, path, getenv)
}

// Parse decodes and validates a configuration held in data.
//
// dir is the folder the configuration belongs to: relative paths (store, jwks_file,
// ca_file, <key>_file) resolve against it, and a .env file in it, when present, supplies
// variables that getenv leaves unset (an empty variable counts as unset). With dir "",
// no .env is read and relative paths stay relative to the working directory. getenv reads
// the real environment (os.Getenv when nil); the real environment wins over .env.
//
// Every problem is collected and returned at once as an *Error, sorted by line; on success
// the Config holds every default and its values never need checking again.
func Parse(data []byte, dir string, getenv func(string) string) (*Config, error) {
	return parse(data, dir, "", getenv)
}

func parse(data []byte, dir, file string, getenv func(string) string) (*Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	ps := &problems{fileOrder: map[string]int{}}
	dotenv := loadDotenv(dir, file, ps)
	lookup := func(name string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return dotenv[name]
	}

	c := defaults(dir)
	c.File = file
	if len(data) > MaxConfigBytes {
		ps.add(Problem{Path: file, Msg: fmt.Sprintf("the configuration is larger than %d bytes", MaxConfigBytes)})
		return nil, ps.err()
	}
	root, ok := parseYAML(data, file, ps)
	if !ok {
		return nil, ps.err()
	}
	d := &decoder{file: file, dir: dir, lookup: lookup, ps: ps, src: map[string]origin{}, bad: map[string]bool{}}
	d.root(root, c)
	if !d.exhausted && !d.bad[""] {
		newValidator(c, ps, file, d.src, d.bad).run()
	}
	if err := ps.err(); err != nil {
		return nil, err
	}
	return c, nil
}

// loadDotenv reads dir/.env when it exists. Its problems are reported against the .env
// file, shown beside the configuration's path as the user gave it.
func loadDotenv(dir, file string, ps *problems) map[string]string {
	if dir == "" {
		return nil
	}
	path := filepath.Join(dir, ".env")
	shown := path
	if file != "" {
		shown = filepath.Join(filepath.Dir(file), ".env")
	}
	ps.fileOrder[shown] = -1
	data, err := readFileLimited(path, MaxConfigBytes)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		ps.add(Problem{Path: shown, Msg: "cannot read: " + err.Error()})
		return nil
	}
	vars, probs := parseDotenv(data)
	for _, p := range probs {
		ps.add(Problem{Line: p.line, Path: shown, Msg: p.msg})
	}
	return vars
}

// yamlLineRe finds the line in a yaml.v3 syntax error.
var yamlLineRe = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlParserProblems are the messages of yaml.v3's parser (as opposed to its scanner),
// whose line numbers are one short.
var yamlParserProblems = map[string]bool{
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"did not find expected '-' indicator":    true,
	"did not find expected <document start>": true,
	"did not find expected key":              true,
	"did not find expected node content":     true,
	"found duplicate %TAG directive":         true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found undefined tag handle":             true,
}

// yamlTabProblems are yaml.v3's messages for a tab where it wants spaces; "cannot start
// any token" is also what it says of other stray characters, so it counts only when the
// line is indented with a tab.
var yamlTabProblems = map[string]bool{
	"found character that cannot start any token":     true,
	"found a tab character that violates indentation": true,
}

// yamlIndentProblems are yaml.v3's messages for what is most often a key indented by
// the wrong number of spaces.
var yamlIndentProblems = map[string]bool{
	"mapping values are not allowed in this context": true,
	"did not find expected key":                      true,
	"did not find expected '-' indicator":            true,
}

// explainYAMLProblem rewrites the parser's terse message when the cause is a tab or
// indentation, which is what most hand-edited configurations trip on. The offending
// line is named by number only: its text may hold a secret.
func explainYAMLProblem(data []byte, p Problem) Problem {
	msg := strings.TrimPrefix(p.Msg, "invalid YAML: ")
	switch {
	case yamlTabProblems[msg]:
		// yaml.v3 names the line of the tab or, for "violates indentation", the one
		// before it.
		lines := strings.Split(string(data), "\n")
		for _, n := range []int{p.Line, p.Line + 1} {
			if n < 1 || n > len(lines) {
				continue
			}
			indent := lines[n-1][:len(lines[n-1])-len(strings.TrimLeft(lines[n-1], " \t"))]
			if strings.Contains(indent, "\t") {
				p.Line = n
				p.Msg = "invalid YAML: a tab in the indentation; YAML indents with spaces only"
				return p
			}
		}
	case yamlIndentProblems[msg]:
		// The parser names the line where the enclosing block began; the line to fix is
		// the first one at or after it whose indentation matches no open block.
		if n := misindentedLine(strings.Split(string(data), "\n"), p.Line); n > 0 {
			p.Line = n
			p.Msg = "invalid YAML: " + msg + ": this line's indentation matches no enclosing block; keys of one mapping line up, a nested key is indented further (with spaces)"
			return p
		}
		p.Msg += " (check the indentation of this line and the one above it)"
	}
	return p
}

// misindentedLine returns the first line, from line from on, indented deeper than its
// block without a key that opens one, or between two open blocks' indentations; 0 when
// every line fits. It follows block structure only (keys ending in ":", "- " items, block
// scalars), which is enough to place the parser's indentation errors.
func misindentedLine(lines []string, from int) int {
	stack := []int{0}
	opener, scalar := false, -1
	for i, l := range lines {
		n := i + 1
		t := strings.TrimLeft(l, " ")
		ind := len(l) - len(t)
		if t == "" || t[0] == '#' || strings.HasPrefix(t, "\t") {
			continue
		}
		if scalar >= 0 && ind > scalar {
			continue // inside a block scalar (|, >)
		}
		scalar = -1
		top := stack[len(stack)-1]
		switch {
		case ind > top && opener:
			stack = append(stack, ind)
		case ind > top:
			if n >= from {
				return n
			}
			stack = append(stack, ind)
		default:
			for len(stack) > 1 && stack[len(stack)-1] > ind {
				stack = stack[:len(stack)-1]
			}
			if stack[len(stack)-1] != ind {
				if n >= from {
					return n
				}
				stack = append(stack, ind)
			}
		}
		content := t
		for strings.HasPrefix(content, "- ") { // a sequence item's mapping is indented to its content
			rest := strings.TrimLeft(content[2:], " ")
			ind += len(content) - len(rest)
			content = rest
			stack = append(stack, ind)
		}
		if c := strings.Index(content, " #"); c >= 0 {
			content = content[:c]
		}
		content = strings.TrimRight(content, " ")
		opener = strings.HasSuffix(content, ":") || content == "-"
		if strings.HasSuffix(content, "|") || strings.HasSuffix(content, ">") || strings.HasSuffix(content, "|-") || strings.HasSuffix(content, ">-") {
			scalar = ind
		}
	}
	return 0
}

// parseYAML parses exactly one YAML document and returns its root node.
func parseYAML(data []byte, file string, ps *problems) (root *yaml.Node, ok bool) {
	report := func(err error) {
		p := Problem{Path: file, Msg: "invalid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
		if m := yamlLineRe.FindStringSubmatch(err.Error()); m != nil {
			p.Line, _ = strconv.Atoi(m[1])
			p.Msg = "invalid YAML: " + m[2]
		}
		if yamlParserProblems[strings.TrimPrefix(p.Msg, "invalid YAML: ")] {
			// yaml.v3 reports parser (not scanner) errors with a 0-based line, and
			// with no line at all for the first one.
			p.Line++
		}
		p = explainYAMLProblem(data, p)
		ps.add(p)
	}
	defer func() {
		// The parser is third-party code fed untrusted bytes: a panic in it is a
		// problem with the file, not a crash of the gateway's reload.
		if r := recover(); r != nil {
			ps.add(Problem{Path: file, Msg: "invalid YAML: the parser failed"})
			root, ok = nil, false
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			ps.add(Problem{Path: file, Msg: "the configuration is empty"})
		} else {
			report(err)
		}
		return nil, false
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		report(err)
		return nil, false
	default:
		ps.add(Problem{Line: extra.Line, Path: file, Msg: "only one YAML document is allowed; remove the second ---"})
		return nil, false
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		ps.add(Problem{Path: file, Msg: "the configuration is empty"})
		return nil, false
	}
	return doc.Content[0], true
}
