package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/admin"
	"github.com/gatehouse-dev/gatehouse/internal/app"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	_ "github.com/gatehouse-dev/gatehouse/internal/store/sqlite" // the sqlite:// backend
)

func init() {
	register(command{name: "keys", summary: "create, list, revoke and rotate API keys", run: runKeys})
}

const keysUsage = `Usage:
  gatehouse keys create --config FILE --name NAME [--env ENV] [--scopes a,b] [--expires 24h]
                        [--attr KEY=VALUE]... [--json]
  gatehouse keys list   --config FILE [--json]
  gatehouse keys revoke --config FILE [--json] ID
  gatehouse keys rotate --config FILE [--grace 1h] [--expires 24h] [--json] ID

The store is the configuration's "store" (default: gatehouse.db beside it).

  create  make a key and print it once: it is not stored, only its hash is.
          --env defaults to the configuration's environment; --expires takes a
          duration (90m, 24h, 30d, 2w) or an RFC 3339 time. --attr (repeatable) sets an
          attribute (team=billing): the key's principal carries it as a claim that
          route requirements and an authenticator's headers mapping read. Keys: a
          letter, then letters, digits, _ - :; values: up to 1024 bytes of text.
  list    every key with its status (active, revoked, expired); never a secret.
  revoke  refuse the key from now on; running gateways refuse it within a second.
  rotate  make a replacement with the same name, environment, scopes and attributes, and keep
          the old key valid for --grace (default 1h; 0 ends it at once).

With --admin URL, every command calls a running gateway's admin API (its admin_listen)
instead of opening the store, and prints the same; the admin token comes from
$GATEHOUSE_ADMIN_TOKEN or --admin-token-file FILE (see gatehouse admin-tokens).

Keys are hashed with the pepper of the configuration's api_key authenticator; with
several api_key authenticators that have different peppers, name one with
--authenticator NAME.

Exit status: 0 done, 1 failed, 2 bad usage.
`

func runKeys(ctx context.Context, env *cliEnv, args []string) int {
	return dispatch(ctx, env, "keys", keysUsage, map[string]subcommand{
		"create": keysCreate,
		"list":   keysList,
		"revoke": keysRevoke,
		"rotate": keysRotate,
	}, args)
}

// storeFlags are the flags every store command takes.
type storeFlags struct {
	config string
	json   bool
}

func newStoreFlagSet(name string, env *cliEnv, sf *storeFlags) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	def := "gatehouse.yaml"
	if v := env.getenv("GATEHOUSE_CONFIG"); v != "" {
		def = v
	}
	fs.StringVar(&sf.config, "config", def, "configuration `FILE` (its store is used); $GATEHOUSE_CONFIG or gatehouse.yaml by default")
	fs.BoolVar(&sf.json, "json", false, "print JSON")
	return fs
}

// parseInterspersed parses flags before and after positional arguments, so both
// "revoke --config F ID" and "revoke ID --config F" work.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if rest[0] == "--" {
			return append(pos, rest[1:]...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// cliUsageError prints a usage problem and returns exit status 2 (0 for --help).
func cliUsageError(env *cliEnv, cmd, usage string, err error) int {
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(env.stdout, usage)
		return 0
	}
	top, _, _ := strings.Cut(cmd, " ")
	printFailure(env, cmd, "usage", err)
	fmt.Fprintf(env.stderr, "Run \"gatehouse %s --help\" for usage.\n", top)
	return 2
}

// cliFail prints a failure (as JSON too with --json) and returns exit status 1.
func cliFail(env *cliEnv, cmd string, err error) int {
	printFailure(env, cmd, "failed", err)
	return 1
}

// configProblems is a configuration that failed to load, listed one problem a line
// after the command's name; it unwraps to the *config.Error so --json can list them.
type configProblems struct{ err *config.Error }

func (c configProblems) Error() string {
	var b strings.Builder
	b.WriteString("the configuration has problems:")
	for _, p := range c.err.Problems() {
		b.WriteString("\n  ")
		b.WriteString(p.Error())
	}
	return b.String()
}

func (c configProblems) Unwrap() error { return c.err }

// storeSession is a loaded configuration and its open store.
type storeSession struct {
	cfg   *config.Config
	store store.Store
}

func (s *storeSession) Close() { s.store.Close() }

// openStore loads the configuration and opens its store. With mustExist, a SQLite file
// that does not exist is an error rather than a new empty store (listing or revoking
// in a mistyped path should not quietly create one).
func openStore(ctx context.Context, env *cliEnv, configPath string, mustExist bool) (*storeSession, error) {
	cfg, err := config.Load(configPath, env.getenv)
	if err != nil {
		var ce *config.Error
		if errors.As(err, &ce) {
			return nil, configProblems{ce}
		}
		return nil, err
	}
	if cfg.Store.Driver == config.StoreSQLite && mustExist {
		if _, err := os.Stat(cfg.Store.Path); errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("the store %s does not exist yet (check \"store\" in %s, or create a key or user first)", cfg.Store.Path, configPath)
		}
	}
	st, err := app.OpenStore(ctx, cfg.Store)
	if err != nil {
		return nil, err
	}
	return &storeSession{cfg: cfg, store: st}, nil
}

// parseSpan reads a duration: a Go duration (90m, 24h) or whole days and weeks (30d, 2w).
func parseSpan(s string) (time.Duration, error) { return admin.ParseSpan(s) }

// parseExpiry reads --expires: a duration from now, or an RFC 3339 time in the future.
func parseExpiry(s string, now time.Time) (time.Time, error) { return admin.ParseExpiry(s, now) }

// parseScopes reads a comma-separated scope list.
func parseScopes(s string) ([]string, error) {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	if err := store.ValidateScopes(out); err != nil {
		return nil, fmt.Errorf("--scopes: %v", err)
	}
	return out, nil
}

func humanTime(t time.Time, zero string) string {
	if t.IsZero() {
		return zero
	}
	return t.UTC().Format(time.RFC3339)
}

// listPaged prints every record of a paged store listing, a page at a time so a million
// records are never held at once: a JSON array (for scripts) or a table. row gives a
// record's JSON value and table line, and false to leave it out.
func listPaged[T any](env *cliEnv, op string, asJSON bool, header, empty string, page func(after string) ([]T, error), id func(T) string, row func(T) (any, string, bool)) int {
	var tw *tabwriter.Writer
	if !asJSON {
		tw = tabwriter.NewWriter(env.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, header)
	}
	n := 0
	for after := ""; ; {
		records, err := page(after)
		if err != nil {
			if asJSON && after != "" {
				// Close what was printed; the error object follows the array.
				io.WriteString(env.stdout, "\n]\n")
			}
			return cliFail(env, op, err)
		}
		if asJSON && after == "" {
			io.WriteString(env.stdout, "[")
		}
		if len(records) == 0 {
			break
		}
		for _, r := range records {
			v, line, ok := row(r)
			if !ok {
				continue
			}
			if asJSON {
				b, _ := json.Marshal(v)
				sep := ","
				if n == 0 {
					sep = ""
				}
				fmt.Fprintf(env.stdout, "%s\n  %s", sep, b)
			} else {
				fmt.Fprintln(tw, line)
			}
			n++
		}
		after = id(records[len(records)-1])
	}
	if asJSON {
		if n > 0 {
			io.WriteString(env.stdout, "\n")
		}
		io.WriteString(env.stdout, "]\n")
		return 0
	}
	if n == 0 {
		fmt.Fprintln(env.stdout, empty)
		return 0
	}
	tw.Flush()
	return 0
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// newKeyRecord generates a key and the record that stores its hash.
func newKeyRecord(h *secret.KeyHasher, name, env string, scopes []string, created, expires time.Time) (secret.APIKey, store.APIKey, error) {
	k, err := secret.NewAPIKey(env)
	if err != nil {
		return k, store.APIKey{}, err
	}
	return k, store.APIKey{
		ID: k.ID, Name: name, Env: env, Scopes: scopes,
		SecretHash: h.Hash(k), HashAlg: h.Alg(), CreatedAt: created, ExpiresAt: expires,
	}, nil
}

// remoteFlags are the flags of a command that can run against a gateway's admin API.
type remoteFlags struct {
	url       string
	tokenFile string
}

func addRemoteFlags(fs *flag.FlagSet, rf *remoteFlags) {
	fs.StringVar(&rf.url, "admin", "", "use the admin API at `URL` (a running gateway's admin_listen) instead of the store")
	fs.StringVar(&rf.tokenFile, "admin-token-file", "", "read the admin token from `FILE` (default: $GATEHOUSE_ADMIN_TOKEN)")
}

// adminToken returns the admin token for --admin: from --admin-token-file, or from
// GATEHOUSE_ADMIN_TOKEN. Never from a flag value, which other local users can read in
// the process list.
func adminToken(env *cliEnv, rf remoteFlags) (string, error) {
	if rf.tokenFile != "" {
		b, err := os.ReadFile(rf.tokenFile)
		if err != nil {
			return "", fmt.Errorf("--admin-token-file: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	return strings.TrimSpace(env.getenv("GATEHOUSE_ADMIN_TOKEN")), nil
}

// localCaller names the person running the CLI in the audit log.
func localCaller() admin.Caller {
	name := "unknown"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	return admin.Caller{Actor: "cli:" + name, Remote: "local"}
}

// adminAPI is what the admin commands call: the local admin service (*admin.Session)
// or a gateway's admin API (*admin.Client), with the same results.
type adminAPI interface {
	admin.Keys
	admin.Clients
	admin.SigningKeys
	admin.Users
}

// adminBackend is the admin service a command calls: the admin API with --admin, else
// the configuration's store. close releases it.
func adminBackend(ctx context.Context, env *cliEnv, sf storeFlags, rf remoteFlags, mustExist bool) (api adminAPI, close func(), err error) {
	if rf.url != "" {
		tok, err := adminToken(env, rf)
		if err != nil {
			return nil, nil, err
		}
		c, err := admin.NewClient(rf.url, tok)
		if err != nil {
			return nil, nil, err
		}
		return c, func() {}, nil
	}
	sess, err := openStore(ctx, env, sf.config, mustExist)
	if err != nil {
		return nil, nil, err
	}
	svc := &admin.Service{Store: sess.store, Config: sess.cfg}
	return svc.As(localCaller()), sess.Close, nil
}

func keysCreate(ctx context.Context, env *cliEnv, args []string) int {
	var (
		sf storeFlags
		rf remoteFlags
	)
	fs := newStoreFlagSet("keys create", env, &sf)
	addRemoteFlags(fs, &rf)
	name := fs.String("name", "", "who the key is for (required)")
	keyEnv := fs.String("env", "", "environment (default: the configuration's)")
	scopesFlag := fs.String("scopes", "", "comma-separated scopes")
	expires := fs.String("expires", "", "lifetime (24h, 30d) or RFC 3339 time; default: never")
	authName := fs.String("authenticator", "", "api_key authenticator whose pepper to use")
	attrs := attrFlag{}
	fs.Var(attrs, "attr", "attribute `KEY=VALUE` (repeatable)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return cliUsageError(env, "keys create", keysUsage, err)
	}
	if len(pos) > 0 {
		return cliUsageError(env, "keys create", keysUsage, fmt.Errorf("unexpected argument %q (the name goes in --name)", pos[0]))
	}
	if *name == "" || len(*name) > store.MaxNameBytes || !utf8.ValidString(*name) {
		return cliUsageError(env, "keys create", keysUsage, fmt.Errorf("--name is required: 1-%d bytes of UTF-8", store.MaxNameBytes))
	}
	scopes, err := parseScopes(*scopesFlag)
	if err != nil {
		return cliUsageError(env, "keys create", keysUsage, err)
	}
	if _, err := parseExpiry(*expires, time.Now()); err != nil {
		return cliUsageError(env, "keys create", keysUsage, err)
	}
	if *keyEnv != "" {
		if err := secret.ValidateEnv(*keyEnv); err != nil {
			return cliUsageError(env, "keys create", keysUsage, fmt.Errorf("--env: %v", err))
		}
	}
	keys, done, err := adminBackend(ctx, env, sf, rf, false)
	if err != nil {
		return cliFail(env, "keys create", err)
	}
	defer done()
	k, err := keys.CreateKey(ctx, admin.CreateKeyRequest{Name: *name, Env: *keyEnv, Scopes: scopes, Expires: *expires, Authenticator: *authName,
		Attributes: attrs.attrs()})
	if err != nil {
		return cliFail(env, "keys create", err)
	}
	// The key is committed (and synced) before it is printed: a key that was shown
	// survives a crash right after.
	printCreated(env, sf.json, k, "")
	return 0
}

func printCreated(env *cliEnv, asJSON bool, k admin.CreatedKey, extra string) {
	if asJSON {
		k.Replaces = nil // the documented shape of keys create/rotate --json
		writeJSON(env.stdout, k)
		return
	}
	scopes := "no scopes"
	if len(k.Scopes) > 0 {
		scopes = "scopes " + strings.Join(k.Scopes, " ")
	}
	fmt.Fprintf(env.stdout, "Created API key %s for %q (environment %s, %s, expires %s).\n",
		k.ID, k.Name, k.Env, scopes, humanTime(k.ExpiresAt.T(), "never"))
	if len(k.Attributes) > 0 {
		fmt.Fprintf(env.stdout, "Attributes: %s\n", formatAttrs(k.Attributes))
	}
	if extra != "" {
		fmt.Fprintln(env.stdout, extra)
	}
	fmt.Fprintf(env.stdout, "Store it now; it cannot be shown again:\n\n%s\n", k.Key)
}

func keysList(ctx context.Context, env *cliEnv, args []string) int {
	var (
		sf storeFlags
		rf remoteFlags
	)
	fs := newStoreFlagSet("keys list", env, &sf)
	addRemoteFlags(fs, &rf)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return cliUsageError(env, "keys list", keysUsage, err)
	}
	if len(pos) > 0 {
		return cliUsageError(env, "keys list", keysUsage, fmt.Errorf("unexpected argument %q", pos[0]))
	}
	keys, done, err := adminBackend(ctx, env, sf, rf, true)
	if err != nil {
		return cliFail(env, "keys list", err)
	}
	defer done()
	return listPaged(env, "keys list", sf.json, "ID\tNAME\tENV\tSTATUS\tSCOPES\tCREATED\tEXPIRES\tLAST USED\tATTRIBUTES",
		"No API keys yet; create one with: gatehouse keys create --config "+sf.config+" --name NAME",
		func(after string) ([]admin.ListedKey, error) { return keys.ListKeys(ctx, after, 1000) },
		func(k admin.ListedKey) string { return k.ID },
		func(k admin.ListedKey) (any, string, bool) {
			st := k.Status
			if k.RotationEndsAt != nil {
				st = "active (rotated; ends " + humanTime(k.RotationEndsAt.T(), "") + ")"
			}
			j := k
			j.RotationEndsAt = nil // the documented shape of keys list --json
			return j, fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s", k.ID, sanitize(k.Name), k.Env, st,
					orDash(strings.Join(k.Scopes, ",")), humanTime(k.CreatedAt.T(), "-"), humanTime(k.ExpiresAt.T(), "never"), humanTime(k.LastUsedAt.T(), "never"),
					formatAttrs(k.Attributes)),
				true
		})
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// sanitize keeps a stored name from moving the terminal's cursor or breaking columns.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '?'
		}
		return r
	}, s)
}

func keysRevoke(ctx context.Context, env *cliEnv, args []string) int {
	var (
		sf storeFlags
		rf remoteFlags
	)
	fs := newStoreFlagSet("keys revoke", env, &sf)
	addRemoteFlags(fs, &rf)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return cliUsageError(env, "keys revoke", keysUsage, err)
	}
	if len(pos) != 1 {
		return cliUsageError(env, "keys revoke", keysUsage, errors.New("name exactly one key ID"))
	}
	keys, done, err := adminBackend(ctx, env, sf, rf, true)
	if err != nil {
		return cliFail(env, "keys revoke", err)
	}
	defer done()
	k, err := keys.RevokeKey(ctx, pos[0])
	if err != nil {
		return cliFail(env, "keys revoke", err)
	}
	if sf.json {
		already := k.AlreadyRevoked
		k.AlreadyRevoked = false // the documented shape of keys revoke --json
		writeJSON(env.stdout, k)
		k.AlreadyRevoked = already
		return 0
	}
	if k.AlreadyRevoked {
		fmt.Fprintf(env.stdout, "API key %s (%q) was already revoked at %s.\n", k.ID, sanitize(k.Name), humanTime(k.RevokedAt.T(), ""))
		return 0
	}
	fmt.Fprintf(env.stdout, "Revoked API key %s (%q). Running gateways refuse it within a second.\n", k.ID, sanitize(k.Name))
	return 0
}

func keysRotate(ctx context.Context, env *cliEnv, args []string) int {
	var (
		sf storeFlags
		rf remoteFlags
	)
	fs := newStoreFlagSet("keys rotate", env, &sf)
	addRemoteFlags(fs, &rf)
	graceFlag := fs.String("grace", admin.DefaultGrace.String(), "how long the old key stays valid (0: not at all)")
	expires := fs.String("expires", "", "lifetime of the new key (default: the old key's lifetime)")
	authName := fs.String("authenticator", "", "api_key authenticator whose pepper to use")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return cliUsageError(env, "keys rotate", keysUsage, err)
	}
	if len(pos) != 1 {
		return cliUsageError(env, "keys rotate", keysUsage, errors.New("name exactly one key ID"))
	}
	if _, err := admin.ParseGrace(*graceFlag); err != nil {
		return cliUsageError(env, "keys rotate", keysUsage, err)
	}
	if _, err := parseExpiry(*expires, time.Now()); err != nil {
		return cliUsageError(env, "keys rotate", keysUsage, err)
	}
	keys, done, err := adminBackend(ctx, env, sf, rf, true)
	if err != nil {
		return cliFail(env, "keys rotate", err)
	}
	defer done()
	k, err := keys.RotateKey(ctx, pos[0], admin.RotateKeyRequest{Grace: *graceFlag, Expires: *expires, Authenticator: *authName})
	if err != nil {
		return cliFail(env, "keys rotate", err)
	}
	extra := ""
	if r := k.Replaces; r != nil {
		extra = fmt.Sprintf("The old key %s stays valid until %s.", r.ID, humanTime(r.ValidUntil.T(), ""))
		if !r.StillValid {
			extra = fmt.Sprintf("The old key %s is no longer valid.", r.ID)
		}
	}
	printCreated(env, sf.json, k, extra)
	return 0
}
