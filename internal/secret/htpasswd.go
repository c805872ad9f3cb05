package secret

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// MaxHtpasswdLine is the longest htpasswd line ParseHtpasswd reads.
const MaxHtpasswdLine = 8 << 10

// HtpasswdEntry is one user of an htpasswd file.
type HtpasswdEntry struct {
	Line int
	User string
	Hash string
}

// HtpasswdError lists every line of an htpasswd file that was refused.
type HtpasswdError struct {
	Problems []LineProblem
}

// LineProblem is one refused htpasswd line. Msg names the user (when readable) and the
// reason, never the hash.
type LineProblem struct {
	Line int
	Msg  string
	Err  error // ErrHashUnsupported, ErrHashInvalid or nil for a syntax problem
}

func (e *HtpasswdError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "htpasswd: %d line(s) refused", len(e.Problems))
	for _, p := range e.Problems {
		fmt.Fprintf(&b, "\n  line %d: %s", p.Line, p.Msg)
	}
	return b.String()
}

// Unwrap returns the classified causes, so errors.Is(err, ErrHashUnsupported) works.
func (e *HtpasswdError) Unwrap() []error {
	var out []error
	for _, p := range e.Problems {
		if p.Err != nil {
			out = append(out, p.Err)
		}
	}
	return out
}

// ParseHtpasswd reads an htpasswd file: one "user:hash" per line; blank lines and lines
// starting with '#' are skipped; CRLF line ends and a UTF-8 byte order mark are
// accepted. Only bcrypt ($2a$, $2b$, $2y$) and argon2id hashes are accepted. When any
// line is refused, it returns no entries and an *HtpasswdError listing every refused
// line, so an import is all or nothing.
func ParseHtpasswd(r io.Reader) ([]HtpasswdEntry, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), MaxHtpasswdLine)
	var (
		entries  []HtpasswdEntry
		problems []LineProblem
		seen     = map[string]int{}
		n        int
	)
	for sc.Scan() {
		n++
		line := sc.Bytes()
		if n == 1 {
			line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf"))
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		trimmed := bytes.TrimSpace(line)
		if len(trimmed) == 0 || trimmed[0] == '#' {
			continue
		}
		user, hash, ok := strings.Cut(string(line), ":")
		if !ok {
			problems = append(problems, LineProblem{Line: n, Msg: "no ':' between user and hash"})
			continue
		}
		who := describeUser(user)
		if err := checkHtpasswdUser(user); err != nil {
			problems = append(problems, LineProblem{Line: n, Msg: who + err.Error()})
			continue
		}
		if first, dup := seen[user]; dup {
			problems = append(problems, LineProblem{Line: n, Msg: fmt.Sprintf("%sappears again (first on line %d)", who, first)})
			continue
		}
		seen[user] = n
		if err := CheckPasswordHash(hash); err != nil {
			problems = append(problems, LineProblem{Line: n, Msg: who + hashAdvice(hash, err), Err: classify(err)})
			continue
		}
		entries = append(entries, HtpasswdEntry{Line: n, User: user, Hash: hash})
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			problems = append(problems, LineProblem{Line: n + 1, Msg: fmt.Sprintf("line is longer than %d bytes", MaxHtpasswdLine)})
		} else {
			return nil, fmt.Errorf("htpasswd: read: %w", err)
		}
	}
	if len(problems) > 0 {
		return nil, &HtpasswdError{Problems: problems}
	}
	return entries, nil
}

func classify(err error) error {
	switch {
	case errors.Is(err, ErrHashUnsupported):
		return ErrHashUnsupported
	case errors.Is(err, ErrHashInvalid):
		return ErrHashInvalid
	}
	return nil
}

func describeUser(user string) string {
	if user == "" || !utf8.ValidString(user) || len(user) > 64 || strings.ContainsFunc(user, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return ""
	}
	return fmt.Sprintf("user %q: ", user)
}

func checkHtpasswdUser(user string) error {
	switch {
	case user == "":
		return errors.New("empty user name")
	case len(user) > 256:
		return fmt.Errorf("user name is %d bytes (at most 256)", len(user))
	case !utf8.ValidString(user):
		return errors.New("user name is not valid UTF-8")
	case strings.ContainsFunc(user, func(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }):
		return errors.New("user name has a control character")
	}
	return nil
}

func isWeak(kind string) bool {
	switch kind {
	case "MD5 (apr1)", "MD5-crypt ($1$)", "SHA-1 ({SHA})", "salted SHA-1 ({SSHA})", "DES crypt":
		return true
	}
	return false
}

func hashAdvice(hash string, err error) string {
	kind := HashKind(hash)
	switch {
	case errors.Is(err, ErrHashUnsupported) && kind == "plain text or unknown":
		return "the password is plain text or in an unknown format; refused (re-create the entry with `htpasswd -B` or `gatehouse users passwd`)"
	case errors.Is(err, ErrHashUnsupported) && isWeak(kind):
		return kind + " hashes are too weak and are refused; re-create the entry with `htpasswd -B` (bcrypt) or set a new password with `gatehouse users passwd`"
	case errors.Is(err, ErrHashUnsupported):
		return kind + " hashes are not supported (only bcrypt and argon2id are); re-create the entry with `htpasswd -B` (bcrypt) or set a new password with `gatehouse users passwd`"
	}
	msg := err.Error()
	msg = strings.TrimPrefix(msg, ErrHashInvalid.Error()+": ")
	return kind + " hash refused: " + msg
}
