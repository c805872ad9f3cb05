package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/admin"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"golang.org/x/term"
)

func init() {
	register(command{name: "users", summary: "add, list, remove, re-password and import Basic users", run: runUsers})
}

const usersUsage = `Usage:
  gatehouse users add    --config FILE [--scopes a,b] [--attr KEY=VALUE]... [--json] NAME
  gatehouse users passwd --config FILE [--json] NAME
  gatehouse users remove --config FILE [--json] NAME
  gatehouse users import --config FILE [--scopes a,b] [--json] HTPASSWD-FILE
  gatehouse users list   --config FILE [--json]

Every subcommand also takes --admin URL (with $GATEHOUSE_ADMIN_TOKEN or
--admin-token-file FILE) to call a running gateway's admin API instead of opening
the store; add and passwd then send the password in the request body to the admin
listener, and import sends the file's user names and hashes (the file is read and
checked here, as without --admin).

The store is the configuration's "store" (default: gatehouse.db beside it).

add and passwd read the password from the first line of standard input (without
its line ending), or prompt for it without echo when standard input is a
terminal. A password is never taken from the command line. New passwords are
hashed with argon2id.

import reads an htpasswd file with bcrypt ($2y$, $2a$, $2b$) or argon2id entries
and adds or updates every user in one step; weaker formats (MD5 apr1, {SHA},
crypt, plain text) are refused, each with its line, and then nothing is imported.
--scopes applies to every imported user; without it, existing users keep theirs.

add --attr (repeatable) sets an attribute (team=ops): the user's principal carries
it as a claim that route requirements and an authenticator's headers mapping read.

list prints every user with its scopes, password hash algorithm (argon2id or bcrypt),
times and attributes; never a hash. --json prints an array of
{"name", "scopes", "hash", "created_at", "updated_at"} and "attributes" when set.

Exit status: 0 done, 1 failed, 2 bad usage.
`

// maxHtpasswdFile bounds what users import reads.
const maxHtpasswdFile = 16 << 20

func runUsers(ctx context.Context, env *cliEnv, args []string) int {
	return dispatch(ctx, env, "users", usersUsage, map[string]subcommand{
		"add":    usersAdd,
		"passwd": usersPasswd,
		"remove": usersRemove,
		"import": usersImport,
		"list":   usersList,
	}, args)
}

// userArgs parses a users subcommand that takes one NAME.
func userArgs(env *cliEnv, cmd string, args []string, withScopes bool, rf *remoteFlags) (sf storeFlags, name string, scopes []string, code int) {
	sf, name, scopes, _, code = userArgsAttrs(env, cmd, args, withScopes, rf)
	return sf, name, scopes, code
}

// userArgsAttrs is userArgs with --attr, taken where --scopes is.
func userArgsAttrs(env *cliEnv, cmd string, args []string, withScopes bool, rf *remoteFlags) (sf storeFlags, name string, scopes []string, attrs attrFlag, code int) {
	fs := newStoreFlagSet(cmd, env, &sf)
	addRemoteFlags(fs, rf)
	var scopesFlag *string
	attrs = attrFlag{}
	if withScopes {
		scopesFlag = fs.String("scopes", "", "comma-separated scopes")
		fs.Var(attrs, "attr", "attribute `KEY=VALUE` (repeatable)")
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return sf, "", nil, nil, cliUsageError(env, cmd, usersUsage, err)
	}
	if len(pos) != 1 {
		return sf, "", nil, nil, cliUsageError(env, cmd, usersUsage, errors.New("name exactly one user"))
	}
	if err := store.ValidateUserName(pos[0]); err != nil {
		return sf, "", nil, nil, cliUsageError(env, cmd, usersUsage, err)
	}
	if scopesFlag != nil {
		if scopes, err = parseScopes(*scopesFlag); err != nil {
			return sf, "", nil, nil, cliUsageError(env, cmd, usersUsage, err)
		}
	}
	return sf, pos[0], scopes, attrs, -1
}

func usersAdd(ctx context.Context, env *cliEnv, args []string) int {
	var rf remoteFlags
	sf, name, scopes, attrs, code := userArgsAttrs(env, "users add", args, true, &rf)
	if code >= 0 {
		return code
	}
	pw, err := readNewPassword(env)
	if err != nil {
		return cliFail(env, "users add", err)
	}
	api, done, err := adminBackend(ctx, env, sf, rf, false)
	if err != nil {
		return cliFail(env, "users add", err)
	}
	defer done()
	u, err := api.AddUser(ctx, admin.AddUserRequest{Name: name, Scopes: scopes, Password: pw, Attributes: attrs.attrs()})
	if err != nil {
		return cliFail(env, "users add", err)
	}
	if sf.json {
		writeJSON(env.stdout, u)
		return 0
	}
	fmt.Fprintf(env.stdout, "Added user %q (%s).\n", u.Name, scopeWords(u.Scopes))
	if len(u.Attributes) > 0 {
		fmt.Fprintf(env.stdout, "Attributes: %s\n", formatAttrs(u.Attributes))
	}
	return 0
}

func scopeWords(scopes []string) string {
	if len(scopes) == 0 {
		return "no scopes"
	}
	return "scopes " + strings.Join(scopes, " ")
}

func usersPasswd(ctx context.Context, env *cliEnv, args []string) int {
	var rf remoteFlags
	sf, name, _, code := userArgs(env, "users passwd", args, false, &rf)
	if code >= 0 {
		return code
	}
	api, done, err := adminBackend(ctx, env, sf, rf, true)
	if err != nil {
		return cliFail(env, "users passwd", err)
	}
	defer done()
	// Fail before asking for a password the user cannot use.
	if _, err := api.User(ctx, name); err != nil {
		return cliFail(env, "users passwd", err)
	}
	pw, err := readNewPassword(env)
	if err != nil {
		return cliFail(env, "users passwd", err)
	}
	u, err := api.SetPassword(ctx, name, admin.SetPasswordRequest{Password: pw})
	if err != nil {
		return cliFail(env, "users passwd", err)
	}
	if sf.json {
		writeJSON(env.stdout, u)
		return 0
	}
	fmt.Fprintf(env.stdout, "Changed the password of %q. Running gateways stop accepting the old one within a second.\n", name)
	return 0
}

func usersRemove(ctx context.Context, env *cliEnv, args []string) int {
	var rf remoteFlags
	sf, name, _, code := userArgs(env, "users remove", args, false, &rf)
	if code >= 0 {
		return code
	}
	api, done, err := adminBackend(ctx, env, sf, rf, true)
	if err != nil {
		return cliFail(env, "users remove", err)
	}
	defer done()
	u, err := api.RemoveUser(ctx, name)
	if err != nil {
		return cliFail(env, "users remove", err)
	}
	if sf.json {
		writeJSON(env.stdout, u)
		return 0
	}
	fmt.Fprintf(env.stdout, "Removed user %q. Running gateways refuse it within a second.\n", name)
	return 0
}

func usersImport(ctx context.Context, env *cliEnv, args []string) int {
	var (
		sf storeFlags
		rf remoteFlags
	)
	fs := newStoreFlagSet("users import", env, &sf)
	addRemoteFlags(fs, &rf)
	scopesFlag := fs.String("scopes", "", "comma-separated scopes for every imported user")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return cliUsageError(env, "users import", usersUsage, err)
	}
	if len(pos) != 1 {
		return cliUsageError(env, "users import", usersUsage, errors.New("name exactly one htpasswd file"))
	}
	var scopes []string
	if *scopesFlag != "" {
		if scopes, err = parseScopes(*scopesFlag); err != nil {
			return cliUsageError(env, "users import", usersUsage, err)
		}
	}
	f, err := os.Open(pos[0])
	if err != nil {
		return cliFail(env, "users import", err)
	}
	defer f.Close()
	entries, err := secret.ParseHtpasswd(io.LimitReader(f, maxHtpasswdFile))
	if err != nil {
		var he *secret.HtpasswdError
		if errors.As(err, &he) {
			fmt.Fprintf(env.stderr, "gatehouse users import: %s: %d line(s) refused; nothing was imported\n", pos[0], len(he.Problems))
			for _, p := range he.Problems {
				fmt.Fprintf(env.stderr, "%s:%d: %s\n", pos[0], p.Line, p.Msg)
			}
			return 1
		}
		return cliFail(env, "users import", err)
	}
	if len(entries) == 0 {
		return cliFail(env, "users import", fmt.Errorf("%s has no users", pos[0]))
	}
	users := make([]admin.ImportedUser, 0, len(entries))
	for _, e := range entries {
		if err := store.ValidateUserName(e.User); err != nil {
			fmt.Fprintf(env.stderr, "gatehouse users import: %s:%d: %v; nothing was imported\n", pos[0], e.Line, err)
			return 1
		}
		users = append(users, admin.ImportedUser{Name: e.User, Hash: e.Hash, Line: e.Line})
	}
	api, done, err := adminBackend(ctx, env, sf, rf, false)
	if err != nil {
		return cliFail(env, "users import", err)
	}
	defer done()
	res, err := api.ImportUsers(ctx, admin.ImportUsersRequest{Users: users, Scopes: scopes})
	if err != nil {
		return cliFail(env, "users import", err)
	}
	if sf.json {
		writeJSON(env.stdout, res)
		return 0
	}
	fmt.Fprintf(env.stdout, "Imported %d users from %s: %d added, %d updated.\n", len(users), pos[0], len(res.Added), len(res.Updated))
	return 0
}

// readNewPassword reads a password: from a no-echo prompt (twice) when standard input
// is a terminal, else from the first line of standard input without its line ending.
func readNewPassword(env *cliEnv) (string, error) {
	if f, ok := env.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return promptPassword(f, env.stderr)
	}
	return readPasswordLine(env.stdin)
}

func promptPassword(f *os.File, prompt io.Writer) (string, error) {
	fmt.Fprint(prompt, "Password: ")
	first, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(prompt)
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	fmt.Fprint(prompt, "Repeat password: ")
	second, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(prompt)
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	if string(first) != string(second) {
		return "", errors.New("the passwords do not match")
	}
	return checkPassword(string(first))
}

// readPasswordLine reads the first line of r, refusing it as soon as it is longer than
// secret.MaxPasswordBytes rather than reading on.
func readPasswordLine(r io.Reader) (string, error) {
	br := bufio.NewReaderSize(r, 4096)
	var b []byte
	for {
		c, err := br.ReadByte()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", fmt.Errorf("read password from standard input: %w", err)
		}
		if c == '\n' {
			break
		}
		if len(b) > secret.MaxPasswordBytes {
			return "", fmt.Errorf("the password is longer than %d bytes", secret.MaxPasswordBytes)
		}
		b = append(b, c)
	}
	pw := strings.TrimSuffix(string(b), "\r")
	return checkPassword(pw)
}

func checkPassword(pw string) (string, error) {
	if err := admin.CheckPassword(pw); err != nil {
		return "", err
	}
	return pw, nil
}

func usersList(ctx context.Context, env *cliEnv, args []string) int {
	var (
		sf storeFlags
		rf remoteFlags
	)
	fs := newStoreFlagSet("users list", env, &sf)
	addRemoteFlags(fs, &rf)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return cliUsageError(env, "users list", usersUsage, err)
	}
	if len(pos) > 0 {
		return cliUsageError(env, "users list", usersUsage, fmt.Errorf("unexpected argument %q", pos[0]))
	}
	api, done, err := adminBackend(ctx, env, sf, rf, true)
	if err != nil {
		return cliFail(env, "users list", err)
	}
	defer done()
	return listPaged(env, "users list", sf.json, "NAME\tSCOPES\tHASH\tCREATED\tUPDATED\tATTRIBUTES",
		"No users yet; add one with: gatehouse users add --config "+sf.config+" NAME",
		func(after string) ([]admin.ListedUser, error) { return api.ListUsers(ctx, after, 1000) },
		func(u admin.ListedUser) string { return u.Name },
		func(u admin.ListedUser) (any, string, bool) {
			return u, fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s", sanitize(u.Name), orDash(strings.Join(u.Scopes, ",")), u.Hash,
					humanTime(u.CreatedAt.T(), "-"), humanTime(u.UpdatedAt.T(), "-"), formatAttrs(u.Attributes)),
				true
		})
}
