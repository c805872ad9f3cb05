package lint

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
)

// NetrcFacts says whether a netrc file has credentials for a host. It never holds the
// password: Python requests and httpx replace an explicit Authorization header with these
// credentials, and the lint only needs to know that they exist (NetrcCredentials reads
// them for the doctor's one probe).
type NetrcFacts struct {
	Present bool   // the file has a 'machine <host>' entry, or a 'default' entry
	Path    string // the file that was read; "" when none exists
	Login   bool   // the matching entry has a login
	// Default is true when the match is the 'default' entry rather than the host's own.
	Default bool
}

// maxNetrcBytes bounds the netrc file read.
const maxNetrcBytes = 1 << 20

// Netrc looks for credentials for host (a host name, with or without a port) in the
// netrc file the common clients read: $NETRC if set, else ~/.netrc, else ~/_netrc (the
// Windows name). Home is $HOME, or $USERPROFILE when HOME is unset. It always returns
// facts; Path is "" when there is no file. It never returns or keeps the password.
func Netrc(host string, getenv func(string) string) *NetrcFacts {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	var paths []string
	if p := getenv("NETRC"); p != "" {
		paths = []string{p}
	} else {
		home := getenv("HOME")
		if home == "" {
			home = getenv("USERPROFILE")
		}
		if home == "" {
			return &NetrcFacts{}
		}
		paths = []string{filepath.Join(home, ".netrc"), filepath.Join(home, "_netrc")}
	}
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		data, err := io.ReadAll(io.LimitReader(f, maxNetrcBytes))
		f.Close()
		if err != nil {
			continue
		}
		facts := parseNetrc(string(data), host)
		facts.Path = p
		return facts
	}
	return &NetrcFacts{}
}

// parseNetrc scans the tokens of a netrc file: machine, default, login, password,
// account and macdef (whose body, up to a blank line, is skipped).
func parseNetrc(data, host string) *NetrcFacts {
	facts := &NetrcFacts{}
	type entry struct {
		match, isDefault, login bool
	}
	var cur *entry
	var found *entry
	finish := func() {
		if cur == nil || found != nil && !found.isDefault {
			return
		}
		if cur.match {
			found = cur
		} else if cur.isDefault && found == nil {
			found = cur
		}
	}
	toks := netrcTokens(data)
	for i := 0; i < len(toks); i++ {
		switch toks[i] {
		case "machine":
			finish()
			cur = &entry{}
			if i+1 < len(toks) {
				i++
				cur.match = strings.EqualFold(toks[i], host)
			}
		case "default":
			finish()
			cur = &entry{isDefault: true}
		case "login":
			if i+1 < len(toks) {
				i++
				if cur != nil && toks[i] != "" {
					cur.login = true
				}
			}
		case "password", "account":
			i++ // the value is skipped and never kept
		}
	}
	finish()
	if found != nil {
		facts.Present, facts.Login, facts.Default = true, found.login, found.isDefault && !found.match
	}
	return facts
}

// netrcTokens splits a netrc file into tokens, honouring double quotes and dropping
// macdef bodies (which end at an empty line) and '#' comments.
func netrcTokens(data string) []string {
	var toks []string
	lines := strings.Split(strings.ReplaceAll(data, "\r\n", "\n"), "\n")
	inMacro := false
	for _, line := range lines {
		if inMacro {
			if strings.TrimSpace(line) == "" {
				inMacro = false
			}
			continue
		}
		for rest := line; ; {
			rest = strings.TrimLeft(rest, " \t")
			if rest == "" || rest[0] == '#' {
				break
			}
			var tok string
			if rest[0] == '"' {
				end := strings.IndexByte(rest[1:], '"')
				if end < 0 {
					tok, rest = rest[1:], ""
				} else {
					tok, rest = rest[1:1+end], rest[2+end:]
				}
			} else {
				end := strings.IndexAny(rest, " \t")
				if end < 0 {
					end = len(rest)
				}
				tok, rest = rest[:end], rest[end:]
			}
			toks = append(toks, tok)
			if tok == "macdef" {
				inMacro = true
				break
			}
		}
	}
	return toks
}

// NetrcCredentials returns the login and password of the netrc entry for host (the same
// file and entry Netrc finds), for the doctor's one probe that sends the request as
// Python requests and httpx would: with these credentials in place of the Authorization
// header, to that host only. The caller must scrub the password from every report.
func NetrcCredentials(host string, getenv func(string) string) (login, password string, ok bool) {
	n := Netrc(host, getenv)
	if n == nil || !n.Present || n.Path == "" {
		return "", "", false
	}
	f, err := os.Open(n.Path)
	if err != nil {
		return "", "", false
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxNetrcBytes))
	if err != nil {
		return "", "", false
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	toks := netrcTokens(string(data))
	var cur, deflt struct {
		login, password string
		set             bool
	}
	found := false
	inMatch, inDefault := false, false
	for i := 0; i < len(toks) && !found; i++ {
		switch toks[i] {
		case "machine":
			if inMatch {
				found = true
				break
			}
			inDefault = false
			if i+1 < len(toks) {
				i++
				inMatch = strings.EqualFold(toks[i], host)
			}
		case "default":
			if inMatch {
				found = true
				break
			}
			inMatch, inDefault = false, true
		case "login", "password":
			if i+1 >= len(toks) {
				continue
			}
			key := toks[i]
			i++
			switch {
			case inMatch:
				cur.set = true
				if key == "login" {
					cur.login = toks[i]
				} else {
					cur.password = toks[i]
				}
			case inDefault:
				deflt.set = true
				if key == "login" {
					deflt.login = toks[i]
				} else {
					deflt.password = toks[i]
				}
			}
		case "account":
			i++
		}
	}
	if cur.set {
		return cur.login, cur.password, true
	}
	if deflt.set {
		return deflt.login, deflt.password, true
	}
	return "", "", false
}
