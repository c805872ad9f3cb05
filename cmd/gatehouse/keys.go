package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

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
  gatehouse keys create --config FILE --name NAME [--env ENV] [--scopes a,b] [--expires 24h] [--json]
  gatehouse keys list   --config FILE [--json]
  gatehouse keys revoke --config FILE [--json] ID
  gatehouse keys rotate --config FILE [--grace 1h] [--expires 24h] [--json] ID

The store is the configuration's "store" (default: gatehouse.db beside it).

  create  make a key and print it once: it is not stored, only its hash is.
          --env defaults to the configuration's environment; --expires takes a
          duration (90m, 24h, 30d, 2w) or an RFC 3339 time.
  list    every key with its status (active, revoked, expired); never a secret.
  revoke  refuse the key from now on; running gateways refuse it within a second.
  rotate  make a replacement with the same name, environment and scopes, and keep
          the old key valid for --grace (default 1h; 0 ends it at once).

Keys are hashed with the pepper of the configuration's api_key authenticator; with
several api_key authenticators that have different peppers, name one with
--authenticator NAME.

Exit status: 0 done, 1 failed, 2 bad usage.
`

// defaultGrace is how long a rotated key stays valid when --grace is not given.
const defaultGrace = time.Hour

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

// keyHasher returns the hasher of the configuration's api_key authenticator (named, or
// the only one, or any when they share a pepper). Without one, keys are hashed with
// plain SHA-256, which is what an api_key authenticator without a pepper expects.
func keyHasher(cfg *config.Config, name string) (*secret.KeyHasher, error) {
	var peppers [][]byte
	var names []string
	for n, a := range cfg.Authenticators {
		if a.Type != config.TypeAPIKey || a.APIKey == nil {
			continue
		}
		if name != "" && n != name {
			continue
		}
		names = append(names, n)
		p := a.APIKey.Pepper.Reveal()
		dup := false
		for _, q := range peppers {
			if secret.Equal(p, q) {
				dup = true
			}
		}
		if !dup {
			peppers = append(peppers, p)
		}
	}
	switch {
	case name != "" && len(names) == 0:
		return nil, fmt.Errorf("no api_key authenticator is called %q", name)
	case len(peppers) > 1:
		return nil, fmt.Errorf("the api_key authenticators %s use different peppers; choose one with --authenticator", strings.Join(names, ", "))
	case len(peppers) == 0:
		return secret.NewKeyHasher(nil)
	}
	return secret.NewKeyHasher(peppers[0])
}

// parseSpan reads a duration: a Go duration (90m, 24h) or whole days and weeks (30d, 2w).
func parseSpan(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	for suffix, unit := range map[string]time.Duration{"d": 24 * time.Hour, "w": 7 * 24 * time.Hour} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			v, err := strconv.Atoi(n)
			if err != nil || v < 0 || v > 100*365 {
				return 0, fmt.Errorf("%q is not a duration like 30d", s)
			}
			return time.Duration(v) * unit, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration like 24h, 30d or 2w", s)
	}
	return d, nil
}

// parseExpiry reads --expires: a duration from now, or an RFC 3339 time. It must be in
// the future.
func parseExpiry(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		if !t.After(now) {
			return time.Time{}, fmt.Errorf("--expires %s is in the past", s)
		}
		return t, nil
	}
	d, err := parseSpan(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--expires: %v (or an RFC 3339 time)", err)
	}
	if d <= 0 {
		return time.Time{}, fmt.Errorf("--expires must be positive")
	}
	return now.Add(d), nil
}

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

// jsonTime is an RFC 3339 time that is null when zero.
type jsonTime time.Time

func (t jsonTime) MarshalJSON() ([]byte, error) {
	if time.Time(t).IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(time.Time(t).UTC().Format(time.RFC3339))
}

func humanTime(t time.Time, zero string) string {
	if t.IsZero() {
		return zero
	}
	return t.UTC().Format(time.RFC3339)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// createdKey is the JSON of `keys create` and `keys rotate` (DESIGN.md section 5).
type createdKey struct {
	ID        string   `json:"id"`
	Key       string   `json:"key"`
	Name      string   `json:"name"`
	Env       string   `json:"env"`
	Scopes    []string `json:"scopes"`
	ExpiresAt jsonTime `json:"expires_at"`
}

// listedKey is one element of `keys list --json` (DESIGN.md section 5): never a secret.
type listedKey struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	Env        string   `json:"env"`
	Scopes     []string `json:"scopes"`
	Status     string   `json:"status"`
	CreatedAt  jsonTime `json:"created_at"`
	ExpiresAt  jsonTime `json:"expires_at"`
	LastUsedAt jsonTime `json:"last_used_at"`
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

func keysCreate(ctx context.Context, env *cliEnv, args []string) int {
	var sf storeFlags
	fs := newStoreFlagSet("keys create", env, &sf)
	name := fs.String("name", "", "who the key is for (required)")
	keyEnv := fs.String("env", "", "environment (default: the configuration's)")
	scopesFlag := fs.String("scopes", "", "comma-separated scopes")
	expires := fs.String("expires", "", "lifetime (24h, 30d) or RFC 3339 time; default: never")
	authName := fs.String("authenticator", "", "api_key authenticator whose pepper to use")
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
	now := time.Now()
	exp, err := parseExpiry(*expires, now)
	if err != nil {
		return cliUsageError(env, "keys create", keysUsage, err)
	}
	if *keyEnv != "" {
		if err := secret.ValidateEnv(*keyEnv); err != nil {
			return cliUsageError(env, "keys create", keysUsage, fmt.Errorf("--env: %v", err))
		}
	}

	sess, err := openStore(ctx, env, sf.config, false)
	if err != nil {
		return cliFail(env, "keys create", err)
	}
	defer sess.Close()
	if *keyEnv == "" {
		*keyEnv = sess.cfg.Environment
	}
	h, err := keyHasher(sess.cfg, *authName)
	if err != nil {
		return cliFail(env, "keys create", err)
	}
	var (
		key secret.APIKey
		rec store.APIKey
	)
	// A fresh id collides with probability ~n/2^71; retry a couple of times anyway.
	for attempt := 0; ; attempt++ {
		key, rec, err = newKeyRecord(h, *name, *keyEnv, scopes, now, exp)
		if err == nil {
			err = sess.store.CreateKey(ctx, &rec)
		}
		if !errors.Is(err, store.ErrExists) || attempt == 2 {
			break
		}
	}
	if err != nil {
		return cliFail(env, "keys create", err)
	}
	// The key is committed (and synced) before it is printed: a key that was shown
	// survives a crash right after.
	printCreated(env, sf.json, key, rec, "")
	return 0
}

func printCreated(env *cliEnv, asJSON bool, key secret.APIKey, rec store.APIKey, extra string) {
	if asJSON {
		writeJSON(env.stdout, createdKey{
			ID: rec.ID, Key: key.Reveal(), Name: rec.Name, Env: rec.Env,
			Scopes: nonNil(rec.Scopes), ExpiresAt: jsonTime(rec.ExpiresAt),
		})
		return
	}
	scopes := "no scopes"
	if len(rec.Scopes) > 0 {
		scopes = "scopes " + strings.Join(rec.Scopes, " ")
	}
	fmt.Fprintf(env.stdout, "Created API key %s for %q (environment %s, %s, expires %s).\n",
		rec.ID, rec.Name, rec.Env, scopes, humanTime(rec.ExpiresAt, "never"))
	if extra != "" {
		fmt.Fprintln(env.stdout, extra)
	}
	fmt.Fprintf(env.stdout, "Store it now; it cannot be shown again:\n\n%s\n", key.Reveal())
}

func keysList(ctx context.Context, env *cliEnv, args []string) int {
	var sf storeFlags
	fs := newStoreFlagSet("keys list", env, &sf)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return cliUsageError(env, "keys list", keysUsage, err)
	}
	if len(pos) > 0 {
		return cliUsageError(env, "keys list", keysUsage, fmt.Errorf("unexpected argument %q", pos[0]))
	}
	sess, err := openStore(ctx, env, sf.config, true)
	if err != nil {
		return cliFail(env, "keys list", err)
	}
	defer sess.Close()
	now := time.Now()
	return listPaged(env, "keys list", sf.json, "ID\tNAME\tENV\tSTATUS\tSCOPES\tCREATED\tEXPIRES\tLAST USED",
		"No API keys yet; create one with: gatehouse keys create --config "+sf.config+" --name NAME",
		func(after string) ([]store.APIKey, error) { return sess.store.ListKeys(ctx, after, 1000) },
		func(k store.APIKey) string { return k.ID },
		func(k store.APIKey) (any, string, bool) {
			status := k.Status(now)
			st := string(status)
			if status == store.KeyActive && !k.RevokedAt.IsZero() {
				st = "active (rotated; ends " + humanTime(k.RevokedAt, "") + ")"
			}
			return listedKey{
					ID: k.ID, Name: k.Name, Env: k.Env, Scopes: nonNil(k.Scopes), Status: string(status),
					CreatedAt: jsonTime(k.CreatedAt), ExpiresAt: jsonTime(k.ExpiresAt), LastUsedAt: jsonTime(k.LastUsedAt),
				}, fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s", k.ID, sanitize(k.Name), k.Env, st,
					orDash(strings.Join(k.Scopes, ",")), humanTime(k.CreatedAt, "-"), humanTime(k.ExpiresAt, "never"), humanTime(k.LastUsedAt, "never")),
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

// revokedKey is the JSON of `keys revoke --json`.
type revokedKey struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	Status    string   `json:"status"`
	RevokedAt jsonTime `json:"revoked_at"`
}

func keysRevoke(ctx context.Context, env *cliEnv, args []string) int {
	var sf storeFlags
	fs := newStoreFlagSet("keys revoke", env, &sf)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return cliUsageError(env, "keys revoke", keysUsage, err)
	}
	if len(pos) != 1 {
		return cliUsageError(env, "keys revoke", keysUsage, errors.New("name exactly one key ID"))
	}
	id := keyIDArg(pos[0])
	sess, err := openStore(ctx, env, sf.config, true)
	if err != nil {
		return cliFail(env, "keys revoke", err)
	}
	defer sess.Close()
	now := time.Now()
	k, err := sess.store.RevokeKey(ctx, id, now)
	if errors.Is(err, store.ErrNotFound) {
		return cliFail(env, "keys revoke", fmt.Errorf("no key with id %q", id))
	}
	if err != nil {
		return cliFail(env, "keys revoke", err)
	}
	if sf.json {
		writeJSON(env.stdout, revokedKey{ID: k.ID, Name: k.Name, Status: string(store.KeyRevoked), RevokedAt: jsonTime(k.RevokedAt)})
		return 0
	}
	if k.RevokedAt.Before(store.Micro(now)) {
		fmt.Fprintf(env.stdout, "API key %s (%q) was already revoked at %s.\n", k.ID, sanitize(k.Name), humanTime(k.RevokedAt, ""))
		return 0
	}
	fmt.Fprintf(env.stdout, "Revoked API key %s (%q). Running gateways refuse it within a second.\n", k.ID, sanitize(k.Name))
	return 0
}

// keyIDArg accepts a key id, or a whole key pasted by mistake (only its id is used; the
// secret is never printed back).
func keyIDArg(s string) string {
	if k, err := secret.ParseAPIKey(s); err == nil {
		return k.ID
	}
	return s
}

func keysRotate(ctx context.Context, env *cliEnv, args []string) int {
	var sf storeFlags
	fs := newStoreFlagSet("keys rotate", env, &sf)
	graceFlag := fs.String("grace", defaultGrace.String(), "how long the old key stays valid (0: not at all)")
	expires := fs.String("expires", "", "lifetime of the new key (default: the old key's lifetime)")
	authName := fs.String("authenticator", "", "api_key authenticator whose pepper to use")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return cliUsageError(env, "keys rotate", keysUsage, err)
	}
	if len(pos) != 1 {
		return cliUsageError(env, "keys rotate", keysUsage, errors.New("name exactly one key ID"))
	}
	grace, err := parseSpan(*graceFlag)
	if err != nil || grace < 0 {
		return cliUsageError(env, "keys rotate", keysUsage, fmt.Errorf("--grace: %q is not a duration like 1h or 0", *graceFlag))
	}
	now := time.Now()
	exp, err := parseExpiry(*expires, now)
	if err != nil {
		return cliUsageError(env, "keys rotate", keysUsage, err)
	}
	id := keyIDArg(pos[0])

	sess, err := openStore(ctx, env, sf.config, true)
	if err != nil {
		return cliFail(env, "keys rotate", err)
	}
	defer sess.Close()
	h, err := keyHasher(sess.cfg, *authName)
	if err != nil {
		return cliFail(env, "keys rotate", err)
	}
	old, err := sess.store.Key(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return cliFail(env, "keys rotate", fmt.Errorf("no key with id %q", id))
	}
	if err != nil {
		return cliFail(env, "keys rotate", err)
	}
	if exp.IsZero() && !old.ExpiresAt.IsZero() {
		exp = now.Add(old.ExpiresAt.Sub(old.CreatedAt)) // the same lifetime as the old key
	}
	var (
		key     secret.APIKey
		rec     store.APIKey
		updated store.APIKey
	)
	for attempt := 0; ; attempt++ {
		key, rec, err = newKeyRecord(h, old.Name, old.Env, old.Scopes, now, exp)
		if err == nil {
			updated, err = sess.store.RotateKey(ctx, old.ID, &rec, now.Add(grace))
		}
		if !errors.Is(err, store.ErrExists) || attempt == 2 {
			break
		}
	}
	switch {
	case errors.Is(err, store.ErrRevoked):
		return cliFail(env, "keys rotate", fmt.Errorf("key %s is revoked; create a new key instead", old.ID))
	case err != nil:
		return cliFail(env, "keys rotate", err)
	}
	extra := fmt.Sprintf("The old key %s stays valid until %s.", old.ID, humanTime(updated.RevokedAt, ""))
	if !updated.RevokedAt.After(store.Micro(now)) {
		extra = fmt.Sprintf("The old key %s is no longer valid.", old.ID)
	}
	printCreated(env, sf.json, key, rec, extra)
	return 0
}
