package config

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// Problem is one thing wrong with a configuration.
type Problem struct {
	// Line is the 1-based line the problem is on; 0 when it concerns the file as a whole.
	Line int
	// Path is the file the problem is in: the configuration file as given to Load (empty
	// after Parse), or the .env file next to it.
	Path string
	// Key is the configuration key the problem is about, as the message names it
	// ("routes[0].upstream"); empty when the problem concerns no one key (a YAML syntax
	// error, an unreadable file).
	Key string
	// Msg says what is wrong and, where it helps, how to fix it. It never holds a secret
	// or a value taken from the environment.
	Msg string
}

// Error formats the problem as "path:line: message", leaving out an empty path
// ("line 12: message") or a zero line ("path: message").
func (p Problem) Error() string {
	var b strings.Builder
	switch {
	case p.Path != "" && p.Line > 0:
		b.WriteString(p.Path)
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(p.Line))
	case p.Path != "":
		b.WriteString(p.Path)
	case p.Line > 0:
		b.WriteString("line ")
		b.WriteString(strconv.Itoa(p.Line))
	default:
		return p.Msg
	}
	b.WriteString(": ")
	b.WriteString(p.Msg)
	return b.String()
}

// Error is what Load and Parse return when a configuration has problems: all of them,
// ordered by file (the .env file first) and line. It unwraps to one error per Problem, like
// errors.Join.
type Error struct {
	problems []Problem
}

// Problems returns a copy of the problems, in report order.
func (e *Error) Problems() []Problem { return slices.Clone(e.problems) }

// Error lists the problems one per line.
func (e *Error) Error() string {
	lines := make([]string, len(e.problems))
	for i, p := range e.problems {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the problems as errors, so errors.As can find a Problem.
func (e *Error) Unwrap() []error {
	errs := make([]error, len(e.problems))
	for i, p := range e.problems {
		errs[i] = p
	}
	return errs
}

// problems collects Problems while a configuration is decoded and validated.
type problems struct {
	list []Problem
	// fileOrder ranks files for sorting: the .env file is read first, so it reports first.
	fileOrder map[string]int
}

func (ps *problems) add(p Problem) { ps.list = append(ps.list, p) }

// err sorts, de-duplicates (an anchored value reached through two aliases reports once)
// and returns the problems as an *Error, or nil when there are none.
func (ps *problems) err() error {
	if len(ps.list) == 0 {
		return nil
	}
	list := slices.Clone(ps.list)
	slices.SortStableFunc(list, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(ps.fileOrder[a.Path], ps.fileOrder[b.Path]), cmp.Compare(a.Line, b.Line))
	})
	out := list[:0]
	seen := make(map[Problem]bool, len(list))
	for _, p := range list {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return &Error{problems: out}
}
