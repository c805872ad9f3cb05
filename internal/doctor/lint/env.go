package lint

import (
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
	"unicode"

	"github.com/gatehouse-dev/gatehouse/internal/doctor/finding"
	"github.com/gatehouse-dev/gatehouse/internal/editdist"
)

// EnvReading is how a variable in a .env file reads.
type EnvReading struct {
	Name, Value string // Value as the most common loader (dotenv-style) reads it
	// Line is the 1-based line of the definition dotenv uses (the last one), 0 if none.
	Line int
	// CRLF: that line ends with "\r\n". Quoted: its value starts with a quote.
	// ExportPrefix: it starts with "export ".
	CRLF, Quoted, ExportPrefix bool
	// Loaders has one entry per loader, in the order dotenv (node/python-dotenv), docker
	// --env-file, systemd EnvironmentFile, bash source.
	Loaders []LoaderValue
	// NearMiss lists names in the file close to Name (case, edit distance, a shared
	// leading or trailing word), closest first.
	NearMiss []string
}

// LoaderValue is how one loader reads the variable. Value is the raw secret: the caller
// must pass it through Redact before printing it. Set is false when the loader does not
// define the variable at all; Note then says why (a rejected 'export' prefix, a byte
// order mark...), and otherwise names what the loader did to the text (expansions,
// escapes), or is empty.
type LoaderValue struct {
	Loader, Value string // Value redacted when printed by the caller
	Set           bool
	Note          string
}

// Loader names used in LoaderValue.Loader, in this order.
const (
	LoaderDotenv  = "dotenv"
	LoaderDocker  = "docker --env-file"
	LoaderSystemd = "systemd EnvironmentFile"
	LoaderBash    = "bash source"
)

// MaxEnvFileBytes bounds the .env files ReadEnv reads; real ones are a few KiB.
const MaxEnvFileBytes = 1 << 20

// ErrEnvFileTooLarge is returned for a file over MaxEnvFileBytes.
var ErrEnvFileTooLarge = errors.New("larger than 1 MiB")

// ReadEnv reads the variable name from the .env file at path the way the common loaders
// would: dotenv (node dotenv 16; python-dotenv reads the same except that it also expands
// ${VAR}), docker run --env-file, systemd EnvironmentFile=, and bash (set -a; . file). It
// returns the reading and findings: credential_missing_or_empty (unset or empty, with
// near-miss names), trailing_newline_or_cr (CRLF line endings bash keeps, trailing blanks
// docker keeps), value_wrapped_in_quotes (docker keeps quotes), shell_mangled_secret (bash
// would expand '$', '`' or '\'), unexpanded_placeholder (a ${VAR} reference dotenv leaves
// literal) and non_ascii_or_invisible_chars (a byte order mark that changes the first
// name). When the variable is not defined the reading has Line 0 and an empty Value.
// Value-level checks (invisible characters, truncation...) are Credential's job: run it
// on the header built from Value. The error is only for a file that cannot be read.
func ReadEnv(path, name string) (*EnvReading, []finding.Finding, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read env file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxEnvFileBytes+1))
	if err != nil {
		return nil, nil, fmt.Errorf("read env file: %w", err)
	}
	if len(data) > MaxEnvFileBytes {
		return nil, nil, fmt.Errorf("read env file %s: %w", path, ErrEnvFileTooLarge)
	}
	r, fs := readEnvBytes(path, data, name)
	return r, fs, nil
}

// envDef is one loader's definition of a variable.
type envDef struct {
	value string
	line  int
	note  string // why the loader reads it differently or not at all
	ok    bool
}

func readEnvBytes(path string, data []byte, name string) (*EnvReading, []finding.Finding) {
	src := string(data)
	bom := strings.HasPrefix(src, "\ufeff")
	r := &EnvReading{Name: name}
	dot := dotenvLookup(strings.TrimPrefix(src, "\ufeff"), name)
	defs := []struct {
		loader string
		def    envDef
	}{
		{LoaderDotenv, dot},
		{LoaderDocker, dockerLookup(src, name)},
		{LoaderSystemd, systemdLookup(src, name)},
		{LoaderBash, bashLookup(src, name)},
	}
	for i := range defs {
		if d := &defs[i].def; bom && !d.ok && d.note == "" && strings.HasPrefix(src, "\ufeff"+name) {
			d.note = "reads the first name with the byte order mark in front of it, so it defines a different name"
		}
	}
	for _, d := range defs {
		r.Loaders = append(r.Loaders, LoaderValue{Loader: d.loader, Value: d.def.value, Set: d.def.ok, Note: d.def.note})
	}
	names, commented := envNames(src)
	r.NearMiss = nearMisses(name, names)
	e := &envChecker{path: path, name: name, r: r}
	var rhs string
	if dot.ok {
		r.Value, r.Line = dot.value, dot.line
		raw := rawLine(src, dot.line)
		r.CRLF = strings.HasSuffix(raw, "\r")
		var lhs string
		lhs, rhs, _ = strings.Cut(strings.TrimLeft(strings.TrimPrefix(raw, "\ufeff"), " \t"), "=")
		r.ExportPrefix = strings.HasPrefix(lhs, "export ") || strings.HasPrefix(lhs, "export\t")
		rhs = strings.TrimLeft(rhs, " \t")
		r.Quoted = rhs != "" && strings.ContainsRune("\"'`", rune(rhs[0]))
		e.rhs = rhs
	}
	e.missing(dot, commented)
	if !dot.ok {
		return r, e.out
	}
	e.reference(dot)
	for _, d := range defs[1:] {
		e.compare(d.loader, dot, d.def)
	}
	if bom && dot.line == 1 {
		e.add(CodeNonASCII, 50, "The .env file starts with a byte order mark (U+FEFF), which docker, bash and python-dotenv read as part of the first variable's name.",
			"Save the file as UTF-8 without a BOM (most editors have the option; or: sed -i '1s/^\\xEF\\xBB\\xBF//' .env).",
			fmt.Sprintf("%s is on line 1, right after the BOM", name))
	}
	return r, e.out
}

// envReference matches a variable reference that node dotenv leaves as literal text.
var envReference = regexp.MustCompile(`\$\{[A-Za-z_][A-Za-z0-9_]*\}|\$[A-Z_][A-Z0-9_]{2,}(?:[^A-Za-z0-9_]|$)`)

// reference reports a value that is a reference to another variable, which node dotenv
// (without dotenv-expand) and docker keep literally while python-dotenv and bash expand it.
func (e *envChecker) reference(dot envDef) {
	m := envReference.FindString(dot.value)
	if m == "" {
		return
	}
	e.referenced = true
	shown := strings.TrimRightFunc(m, func(r rune) bool { return r != '}' && r != '_' && !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	if len(shown) > 15 {
		shown = shown[:12] + "…"
	}
	e.add(CodePlaceholder, 80, fmt.Sprintf("The value of %s is a reference to another variable (%s), which some loaders leave as literal text.", e.name, shown),
		"Write the value itself in the .env file. References are expanded by python-dotenv and bash (to an empty string when the variable is unset), but node dotenv (without dotenv-expand), docker --env-file and systemd keep the text as it is.",
		fmt.Sprintf("line %d: the value contains %q", dot.line, shown),
		"node dotenv, docker --env-file, systemd: kept literally; python-dotenv and bash: expanded")
}

type envChecker struct {
	referenced bool // reference already reported the value as a variable reference
	path, name string
	rhs        string // the definition's right-hand side as written (first line)
	r          *EnvReading
	out        []finding.Finding
}

func (e *envChecker) add(code string, score int, summary, fix string, evidence ...string) {
	ev := append([]string{fmt.Sprintf("%s in %s", e.name, e.path)}, evidence...)
	e.out = append(e.out, finding.Finding{Code: code, Severity: severityFor(score), Summary: summary, Evidence: ev, Fix: fix, Score: score})
}

func (e *envChecker) missing(dot envDef, commented map[string]int) {
	var ev []string
	switch {
	case !dot.ok:
		ev = append(ev, fmt.Sprintf("%s is not defined in %s", e.name, e.path))
	case strings.TrimSpace(dot.value) == "":
		ev = append(ev, fmt.Sprintf("line %d defines %s with an empty value", dot.line, e.name))
	default:
		return
	}
	if ln, ok := commented[e.name]; ok {
		ev = append(ev, fmt.Sprintf("line %d defines it but is commented out", ln))
	}
	if len(e.r.NearMiss) > 0 {
		ev = append(ev, fmt.Sprintf("the file defines similar names: %s", strings.Join(e.r.NearMiss, ", ")))
	}
	fix := fmt.Sprintf("Set %s in %s (NAME=value, one per line), or use the name the file actually defines.", e.name, e.path)
	summary := fmt.Sprintf("%s is not set in %s.", e.name, e.path)
	if dot.ok {
		summary = fmt.Sprintf("%s is empty in %s.", e.name, e.path)
	}
	if len(e.r.NearMiss) > 0 {
		summary += fmt.Sprintf(" The file defines %s instead.", e.r.NearMiss[0])
	}
	e.add(CodeMissingOrEmpty, 95, summary, fix, ev...)
}

// compare explains how another loader's reading differs from dotenv's.
func (e *envChecker) compare(loader string, dot, other envDef) {
	switch {
	case !other.ok:
		note := other.note
		if note == "" {
			note = "does not define it"
		}
		e.add(CodeMissingOrEmpty, 50, fmt.Sprintf("%s would not set %s from this file.", loader, e.name),
			envFixFor(note),
			fmt.Sprintf("%s: %s", loader, note),
			fmt.Sprintf("%s: %s", LoaderDotenv, Redact(dot.value)))
		return
	case other.value == dot.value:
		return
	}
	ov, dv := other.value, dot.value
	ev := []string{
		fmt.Sprintf("%s: %s", LoaderDotenv, Redact(dv)),
		fmt.Sprintf("%s: %s", loader, Redact(ov)),
	}
	if other.note != "" {
		ev = append(ev, other.note)
	}
	switch {
	case strings.TrimRight(ov, "\r") == dv && ov != dv:
		e.add(CodeTrailingNewline, 60, fmt.Sprintf("%s has Windows (CRLF) line endings; %s keeps the carriage return at the end of %s.", e.path, loader, e.name),
			"Convert the file to LF line endings (dos2unix .env, or your editor's line-ending setting), or strip '\\r' where the value is read.",
			ev...)
	case strings.TrimRight(ov, " \t") == dv:
		e.add(CodeTrailingNewline, 45, fmt.Sprintf("%s keeps the spaces after the value of %s.", loader, e.name),
			"Remove the trailing spaces from the line.", ev...)
	case len(ov) == len(dv)+2 && ov[1:len(ov)-1] == dv && strings.ContainsRune("\"'", rune(ov[0])):
		e.add(CodeQuoted, 60, fmt.Sprintf("%s keeps the quotes around %s, so they become part of the secret.", loader, e.name),
			"Remove the quotes in the .env file (NAME=value) if it is read by docker --env-file; dotenv, systemd and bash strip them, docker does not.",
			ev...)
	case loader == LoaderBash && e.referenced:
		// Already explained as a variable reference.
	case ov != "" && strings.ContainsRune("\"'", rune(ov[0])) && (dv == "" || dv[0] != ov[0]):
		e.add(CodeQuoted, 60, fmt.Sprintf("%s keeps the quotes around %s, so they become part of the secret.", loader, e.name),
			"Remove the quotes in the .env file (NAME=value) if it is read by docker --env-file, which takes everything after '=' literally and does not support values spanning lines.",
			ev...)
	case loader == LoaderBash && strings.ContainsAny(e.rhs, "$`\\"):
		e.add(CodeShellMangled, 65, fmt.Sprintf("bash would rewrite the value of %s: it contains characters the shell expands.", e.name),
			"Put the value in single quotes in the .env file (NAME='value'), which every loader reads literally, or do not source the file with a shell.",
			ev...)
	case loader == LoaderBash && other.note != "":
		e.add(CodeShellMangled, 50, fmt.Sprintf("bash reads %s differently from dotenv.", e.name),
			"Quote the value in single quotes (NAME='value') so that every loader reads the same thing.", ev...)
	case strings.Contains(dv, "${") || strings.Contains(dv, "$"):
		e.add(CodePlaceholder, 70, fmt.Sprintf("dotenv leaves the variable reference in %s unexpanded, while %s expands it.", e.name, loader),
			"Write the value itself in the .env file, or use a loader that expands references the way you expect (python-dotenv and bash expand ${VAR}; node dotenv needs dotenv-expand).",
			ev...)
	default:
		e.add(CodeShellMangled, 40, fmt.Sprintf("%s reads %s differently from dotenv.", loader, e.name),
			"Write the value without quotes, escapes, comments or spaces, or in single quotes, so that every loader reads the same bytes.",
			ev...)
	}
}

func envFixFor(note string) string {
	switch {
	case strings.Contains(note, "runs the rest"):
		return "Quote the value in single quotes (NAME='value with spaces'): bash stops an unquoted value at the first space."
	case strings.Contains(note, "byte order mark"):
		return "Save the file as UTF-8 without a byte order mark."
	case strings.Contains(note, "export"):
		return "Remove the 'export ' prefix from the line: docker --env-file rejects it and systemd ignores the line. dotenv and bash accept a file without it."
	case strings.Contains(note, "space"):
		return "Write NAME=value with no spaces around '='."
	}
	return "Write the line as NAME=value so every loader reads it."
}

// rawLine returns line n (1-based) of src without its '\n'.
func rawLine(src string, n int) string {
	for i := 1; i < n; i++ {
		j := strings.IndexByte(src, '\n')
		if j < 0 {
			return ""
		}
		src = src[j+1:]
	}
	line, _, _ := strings.Cut(src, "\n")
	return line
}

// lineAt returns the 1-based line number of byte offset off.
func lineAt(src string, off int) int { return strings.Count(src[:off], "\n") + 1 }

// --- dotenv (node dotenv 16 parse(), which python-dotenv agrees with on these files) ---

var dotenvLine = regexp.MustCompile("(?m)^\\s*(?:export\\s+)?([\\w.-]+)(?:\\s*=\\s*?|:\\s+?)(\\s*'(?:\\\\'|[^'])*'|\\s*\"(?:\\\\\"|[^\"])*\"|\\s*`(?:\\\\`|[^`])*`|[^#\\r\\n]+)?\\s*(?:#.*)?$")

func dotenvLookup(src, name string) envDef {
	// dotenv normalises line endings first; offsets still map to the same line numbers.
	norm := strings.ReplaceAll(src, "\r\n", "\n")
	norm = strings.ReplaceAll(norm, "\r", "\n")
	var d envDef
	for _, m := range dotenvLine.FindAllStringSubmatchIndex(norm, -1) {
		if norm[m[2]:m[3]] != name {
			continue
		}
		v := ""
		if m[4] >= 0 {
			v = norm[m[4]:m[5]]
		}
		v = strings.TrimFunc(v, unicode.IsSpace)
		quote := byte(0)
		if v != "" {
			quote = v[0]
		}
		if len(v) >= 2 && strings.IndexByte("'\"`", quote) >= 0 && v[len(v)-1] == quote {
			v = v[1 : len(v)-1]
		}
		if quote == '"' {
			v = strings.ReplaceAll(v, `\n`, "\n")
			v = strings.ReplaceAll(v, `\r`, "\r")
		}
		d = envDef{value: v, line: lineAt(norm, m[2]), ok: true}
	}
	return d
}

// --- docker run --env-file (docker/cli opts.ParseEnvFile) ---

func dockerLookup(src, name string) envDef {
	var d envDef
	for i, line := range strings.Split(src, "\n") {
		line = strings.TrimSuffix(line, "\r") // bufio.ScanLines drops one '\r'
		line = strings.TrimLeftFunc(line, unicode.IsSpace)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, val, hasVal := strings.Cut(line, "=")
		key = strings.TrimLeft(key, " \t")
		if strings.ContainsAny(key, " \t") {
			// docker refuses the whole file at the first such line.
			what := fmt.Sprintf("the name on line %d contains whitespace", i+1)
			if strings.HasPrefix(key, "export") {
				what = fmt.Sprintf("line %d starts with 'export'", i+1)
			}
			return envDef{line: i + 1, note: "rejects the whole file (\"poorly formatted environment\"): " + what}
		}
		if key != name {
			continue
		}
		if !hasVal {
			d = envDef{line: i + 1, note: "takes the value from the calling environment (the line has no '=')"}
			continue
		}
		d = envDef{value: val, line: i + 1, ok: true}
	}
	if !d.ok && d.note == "" && strings.HasPrefix(src, "\ufeff"+name) {
		d.note = "reads the first name with the byte order mark in front of it, so it defines a different name"
	}
	return d
}

// --- systemd EnvironmentFile= (parse_env_file_internal in src/basic/env-file.c) ---

func systemdLookup(src, name string) envDef {
	const (
		preKey = iota
		key
		preValue
		value
		valueEscape
		single
		double
		doubleEscape
		comment
		commentEscape
	)
	var (
		d         envDef
		k, v      []byte
		keyWS     = -1
		valWS     = -1
		line      = 1
		startLine = 1
		state     = preKey
	)
	isNL := func(c byte) bool { return c == '\n' || c == '\r' }
	isWS := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
	push := func() {
		kk := k
		if keyWS >= 0 {
			kk = kk[:keyWS]
		}
		vv := v
		if valWS >= 0 {
			vv = vv[:valWS]
		}
		ks := string(kk)
		switch {
		case ks == name:
			d = envDef{value: string(vv), line: startLine, ok: true}
		case strings.HasSuffix(ks, " "+name) || strings.HasSuffix(ks, "\t"+name):
			if !d.ok {
				d = envDef{line: startLine, note: "ignores the line: 'export " + name + "' is not a valid variable name"}
			}
		}
		k, v, keyWS, valWS = k[:0], v[:0], -1, -1
	}
	src = strings.TrimPrefix(src, "\ufeff")
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch state {
		case preKey:
			switch {
			case c == '#' || c == ';':
				state = comment
			case !isWS(c):
				state, keyWS, startLine = key, -1, line
				k = append(k[:0], c)
			}
		case key:
			switch {
			case isNL(c):
				state, k = preKey, k[:0]
			case c == '=':
				state, valWS = preValue, -1
			default:
				if !isWS(c) {
					keyWS = -1
				} else if keyWS < 0 {
					keyWS = len(k)
				}
				k = append(k, c)
			}
		case preValue:
			switch {
			case isNL(c):
				state = preKey
				push()
			case c == '\'':
				state = single
			case c == '"':
				state = double
			case c == '\\':
				state = valueEscape
			case !isWS(c):
				state = value
				v = append(v, c)
			}
		case value:
			switch {
			case isNL(c):
				state = preKey
				push()
			case c == '\\':
				state, valWS = valueEscape, -1
			default:
				if !isWS(c) {
					valWS = -1
				} else if valWS < 0 {
					valWS = len(v)
				}
				v = append(v, c)
			}
		case valueEscape:
			state = value
			if !isNL(c) {
				v = append(v, c)
			}
		case single:
			if c == '\'' {
				state = preValue
			} else {
				v = append(v, c)
			}
		case double:
			switch c {
			case '"':
				state = preValue
			case '\\':
				state = doubleEscape
			default:
				v = append(v, c)
			}
		case doubleEscape:
			state = double
			switch {
			case c == '"' || c == '\\' || c == '`' || c == '$':
				v = append(v, c)
			case c == '\n':
			default:
				v = append(v, '\\', c)
			}
		case comment:
			if c == '\\' {
				state = commentEscape
			} else if isNL(c) {
				state = preKey
			}
		case commentEscape:
			state = comment
		}
		if c == '\n' {
			line++
		}
	}
	if state == preValue || state == value || state == valueEscape || state == single || state == double || state == doubleEscape {
		push()
	}
	return d
}

// --- bash: set -a; . ./file ---

// bashLookup evaluates the assignments of the file as bash would, with variables that the
// file does not define taken as unset and command substitutions not run.
func bashLookup(src, name string) envDef {
	vars := map[string]string{}
	var d envDef
	p := &bashParser{s: src, vars: vars}
	for !p.eof() {
		startLine := p.line
		a, ok := p.statement()
		if !ok {
			continue
		}
		if a.name != name {
			if a.kept {
				vars[a.name] = a.value
			}
			continue
		}
		if !a.kept {
			d = envDef{line: startLine, note: a.note}
			continue
		}
		vars[a.name] = a.value
		d = envDef{value: a.value, line: startLine, ok: true, note: a.note}
	}
	return d
}

type bashAssign struct {
	name, value string
	kept        bool   // the assignment stays in the shell (not a prefix of a command)
	note        string // expansions bash performed, or why it is not kept
}

type bashParser struct {
	s    string
	i    int
	line int
	vars map[string]string
}

func (p *bashParser) eof() bool { return p.i >= len(p.s) }

func (p *bashParser) next() byte {
	c := p.s[p.i]
	p.i++
	if c == '\n' {
		p.line++
	}
	return c
}

// restOfLine skips to the start of the next line.
func (p *bashParser) restOfLine() {
	for !p.eof() && p.next() != '\n' {
	}
}

var bashName = regexp.MustCompile(`^(export[ \t]+)?([A-Za-z_][A-Za-z0-9_]*)=`)

// statement reads one line (or more, for quoted values spanning lines) and returns the
// assignment it makes, if it is one.
func (p *bashParser) statement() (bashAssign, bool) {
	if p.line == 0 {
		p.line = 1
	}
	for !p.eof() && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.next()
	}
	if p.eof() {
		return bashAssign{}, false
	}
	m := bashName.FindStringSubmatch(p.s[p.i:])
	if m == nil {
		p.restOfLine()
		return bashAssign{}, false
	}
	for range len(m[0]) {
		p.next()
	}
	a := bashAssign{name: m[2], kept: true}
	val, notes := p.word()
	a.value = val
	// Anything but blanks or a comment after the word makes the line a command run with
	// the assignment in its environment only.
	for !p.eof() && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.next()
	}
	if !p.eof() && p.s[p.i] != '\n' && p.s[p.i] != '#' && p.s[p.i] != ';' {
		a.kept = false
		a.note = "runs the rest of the line as a command (an unquoted space in the value), so the variable is not set"
	}
	if a.kept && len(notes) > 0 {
		a.note = strings.Join(notes, "; ")
	}
	p.restOfLine()
	return a, true
}

// word reads one shell word with quote removal and parameter expansion.
func (p *bashParser) word() (string, []string) {
	var b strings.Builder
	var notes []string
	note := func(s string) {
		for _, n := range notes {
			if n == s {
				return
			}
		}
		notes = append(notes, s)
	}
	for !p.eof() {
		c := p.s[p.i]
		switch c {
		case ' ', '\t', '\n', ';':
			return b.String(), notes
		case '\'':
			p.next()
			for !p.eof() {
				c := p.next()
				if c == '\'' {
					break
				}
				b.WriteByte(c)
			}
		case '"':
			p.next()
			for !p.eof() {
				c := p.s[p.i]
				if c == '"' {
					p.next()
					break
				}
				switch c {
				case '\\':
					p.next()
					if !p.eof() {
						n := p.next()
						switch n {
						case '$', '`', '"', '\\':
							b.WriteByte(n)
						case '\n':
						default:
							b.WriteByte('\\')
							b.WriteByte(n)
						}
					}
				case '$', '`':
					b.WriteString(p.expand(note))
				default:
					b.WriteByte(p.next())
				}
			}
		case '\\':
			p.next()
			if !p.eof() {
				n := p.next()
				if n != '\n' {
					b.WriteByte(n)
				}
				note("removes the backslash escapes")
			}
		case '$', '`':
			b.WriteString(p.expand(note))
		default:
			b.WriteByte(p.next())
		}
	}
	return b.String(), notes
}

var bashParam = regexp.MustCompile(`^\$(\{[A-Za-z_][A-Za-z0-9_]*\}|[A-Za-z_][A-Za-z0-9_]*|[0-9#?$!*@-])`)

// expand handles '$' or '`' at the current position and returns what bash substitutes.
func (p *bashParser) expand(note func(string)) string {
	rest := p.s[p.i:]
	if rest[0] == '`' {
		end := strings.IndexByte(rest[1:], '`')
		if end < 0 {
			end = len(rest) - 1
		}
		for range end + 2 {
			if !p.eof() {
				p.next()
			}
		}
		note("runs a `command` substitution (its output is unknown here; counted as empty)")
		return ""
	}
	if strings.HasPrefix(rest, "$(") {
		depth := 0
		for !p.eof() {
			c := p.next()
			if c == '(' {
				depth++
			} else if c == ')' {
				depth--
				if depth == 0 {
					break
				}
			}
		}
		note("runs a $(command) substitution (its output is unknown here; counted as empty)")
		return ""
	}
	m := bashParam.FindString(rest)
	if m == "" {
		p.next()
		return "$"
	}
	for range len(m) {
		p.next()
	}
	n := strings.Trim(m[1:], "{}")
	if v, ok := p.vars[n]; ok {
		note(fmt.Sprintf("expands $%s (defined earlier in the file)", n))
		return v
	}
	note(fmt.Sprintf("expands $%s to an empty string (assuming it is not set in your shell)", n))
	return ""
}

// --- names and near misses ---

var anyAssign = regexp.MustCompile(`(?m)^[ \t]*(#[ \t]*)?(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_.-]*)[ \t]*=`)

// envNames lists the names the file defines, and those defined only on commented-out
// lines with their line numbers.
func envNames(src string) (names []string, commented map[string]int) {
	seen := map[string]bool{}
	commented = map[string]int{}
	for _, m := range anyAssign.FindAllStringSubmatchIndex(strings.TrimPrefix(src, "\ufeff"), -1) {
		s := strings.TrimPrefix(src, "\ufeff")
		n := s[m[4]:m[5]]
		if m[2] >= 0 {
			if _, ok := commented[n]; !ok {
				commented[n] = lineAt(s, m[0])
			}
			continue
		}
		if !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	return names, commented
}

// nearMisses returns the names close to want, closest first, at most five: the same name
// in another case, a small edit distance, or a shared leading or trailing word
// (API_TOKEN for API_KEY, OPENAI_API_KEY for API_KEY).
func nearMisses(want string, names []string) []string {
	type cand struct {
		name string
		rank int
	}
	var cs []cand
	wu := strings.ToUpper(want)
	wWords := strings.FieldsFunc(wu, func(r rune) bool { return r == '_' || r == '-' || r == '.' })
	for _, n := range names {
		if n == want {
			continue
		}
		nu := strings.ToUpper(n)
		rank := -1
		switch {
		case nu == wu:
			rank = 0
		case editdist.Levenshtein(nu, wu) <= max(2, len(wu)/4):
			rank = 1 + editdist.Levenshtein(nu, wu)
		case strings.HasSuffix(nu, "_"+wu) || strings.HasSuffix(wu, "_"+nu) || strings.HasPrefix(nu, wu+"_") || strings.HasPrefix(wu, nu+"_"):
			rank = 5
		default:
			nWords := strings.FieldsFunc(nu, func(r rune) bool { return r == '_' || r == '-' || r == '.' })
			if len(wWords) > 1 && len(nWords) > 1 && (wWords[0] == nWords[0] || wWords[len(wWords)-1] == nWords[len(nWords)-1]) {
				rank = 6
			}
		}
		if rank >= 0 {
			cs = append(cs, cand{n, rank})
		}
	}
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].rank < cs[j].rank })
	var out []string
	for i, c := range cs {
		if i == 5 {
			break
		}
		out = append(out, c.name)
	}
	return out
}
