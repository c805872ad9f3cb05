package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/app"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/postgres"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlite"
)

func init() {
	register(command{name: "store", summary: "migrate the credential store, copy it to PostgreSQL, or back it up", run: runStore})
}

const storeUsage = `Usage:
  gatehouse store migrate --config FILE [--json]
  gatehouse store copy    --from URL (--to URL | --config FILE) [--into-non-empty] [--json]
  gatehouse store backup  --config FILE --to PATH [--force] [--json]

  migrate  bring the schema of the configuration's store up to date, and say what was
           done. serve migrates at start too (replicas starting together migrate once);
           this is for operators who want it as an explicit step. A schema newer than
           this gatehouse knows is refused.
  copy     copy every record of the store at --from (sqlite:///PATH or postgres://...)
           into the PostgreSQL store at --to (or the configuration's store): API keys,
           users, OAuth clients, revoked tokens, sealed signing keys and the change
           sequence, as they are, so no credential has to be re-issued. All or nothing,
           and idempotent. A target that already holds records is refused unless
           --into-non-empty is given (copied records then replace those with the same
           id). Every copied record is checked in the target at the end. Stop the
           gateways serving from the target while copying.
  backup   write a consistent copy of the configuration's SQLite store to the file
           PATH, while gateways keep serving from it and writing to it (SQLite's
           VACUUM INTO: one committed state, never half a change). The copy is
           readable by its owner only (0600), checked, and put in place only when
           complete; an existing PATH is refused unless --force is given. Prints the
           records it holds. Restore by stopping the gateway and putting the copy in
           place of the store file. The store is read as it is, never migrated, so
           a newer gatehouse can back up an older one's store before upgrading it.
           A PostgreSQL store is backed up with pg_dump.

A password is best kept out of the URLs: --to takes PGPASSWORD from the environment,
and --config the store's password or password_file.

Exit status: 0 done, 1 failed, 2 bad usage.
`

func runStore(ctx context.Context, env *cliEnv, args []string) int {
	return dispatch(ctx, env, "store", storeUsage, map[string]subcommand{
		"migrate": storeMigrate,
		"copy":    storeCopy,
		"backup":  storeBackup,
	}, args)
}

func storeMigrate(ctx context.Context, env *cliEnv, args []string) int {
	var sf storeFlags
	fs := newStoreFlagSet("store migrate", env, &sf)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return cliUsageError(env, "store migrate", storeUsage, err)
	}
	if len(pos) > 0 {
		return cliUsageError(env, "store migrate", storeUsage, fmt.Errorf("unexpected argument %q", pos[0]))
	}
	sess, err := openStore(ctx, env, sf.config, false)
	if err != nil {
		return cliFail(env, "store migrate", err)
	}
	defer sess.Close()
	type result struct {
		Store string `json:"store"`
		From  int    `json:"from_version"`
		To    int    `json:"to_version"`
	}
	r := result{Store: sess.cfg.Store.String()}
	switch st := sess.store.(type) {
	case *postgres.Store:
		r.From, r.To = st.Migrated()
	default:
		// SQLite migrates on open as well and does not report from where; its version
		// is the one this build knows.
		r.From, r.To = sqlite.SchemaVersion(), sqlite.SchemaVersion()
	}
	if sf.json {
		writeJSON(env.stdout, r)
		return 0
	}
	if r.From == r.To {
		fmt.Fprintf(env.stdout, "The store %s is at schema version %d, the latest this gatehouse knows.\n", r.Store, r.To)
	} else {
		fmt.Fprintf(env.stdout, "Migrated the store %s from schema version %d to %d.\n", r.Store, r.From, r.To)
	}
	return 0
}

// copySource is what `store copy` reads from.
type copySource interface {
	store.Store
	postgres.Source
}

func storeCopy(ctx context.Context, env *cliEnv, args []string) int {
	var sf storeFlags
	fs := newStoreFlagSet("store copy", env, &sf)
	from := fs.String("from", "", "the store to copy: sqlite:///PATH or postgres://...")
	to := fs.String("to", "", "the PostgreSQL store to copy into; the configuration's store by default")
	merge := fs.Bool("into-non-empty", false, "copy into a store that already holds records")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return cliUsageError(env, "store copy", storeUsage, err)
	}
	switch {
	case len(pos) > 0:
		return cliUsageError(env, "store copy", storeUsage, fmt.Errorf("unexpected argument %q", pos[0]))
	case *from == "":
		return cliUsageError(env, "store copy", storeUsage, errors.New("--from is required"))
	}
	configGiven := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "config" {
			configGiven = true
		}
	})

	// The target first: a mistyped target should fail before anything is read.
	var target *postgres.Store
	switch {
	case *to != "":
		if !strings.HasPrefix(*to, "postgres://") && !strings.HasPrefix(*to, "postgresql://") {
			return cliUsageError(env, "store copy", storeUsage, errors.New("--to must be a postgres:// URL"))
		}
		target, err = postgres.Open(ctx, postgres.Config{DSN: *to})
	case configGiven:
		cfg, lerr := config.Load(sf.config, env.getenv)
		if lerr != nil {
			return cliFail(env, "store copy", lerr)
		}
		if cfg.Store.Driver != config.StorePostgres {
			return cliUsageError(env, "store copy", storeUsage, fmt.Errorf("the store of %s is %s, not PostgreSQL: give --to", sf.config, cfg.Store))
		}
		target, err = postgres.Open(ctx, app.PostgresConfig(cfg.Store, nil))
	default:
		return cliUsageError(env, "store copy", storeUsage, errors.New("give --to URL or --config FILE naming a postgres store"))
	}
	if err != nil {
		return cliFail(env, "store copy", err)
	}
	defer target.Close()

	srcDSN := *from
	if rest, ok := strings.CutPrefix(srcDSN, "sqlite://"); ok && !strings.Contains(rest, "?") {
		// Never create or migrate the source: a mistyped path is an error, not an
		// empty store copied over.
		srcDSN += "?mode=ro"
	}
	var opened store.Store
	if strings.HasPrefix(srcDSN, "postgres://") || strings.HasPrefix(srcDSN, "postgresql://") {
		opened, err = postgres.Open(ctx, postgres.Config{DSN: srcDSN, NoMigrate: true})
	} else {
		opened, err = store.Open(ctx, srcDSN)
	}
	if err != nil {
		return cliFail(env, "store copy", fmt.Errorf("open the source: %w", err))
	}
	defer opened.Close()
	src, ok := opened.(copySource)
	if !ok {
		return cliFail(env, "store copy", fmt.Errorf("the source %s cannot list its records", store.RedactDSN(*from)))
	}

	progress := func(string, int) {}
	tty := isTerminal(env.stderr)
	if tty && !sf.json {
		progress = func(kind string, n int) {
			fmt.Fprintf(env.stderr, "\r\033[Kcopying %s: %d", kind, n)
		}
	}
	rep, err := target.CopyFrom(ctx, src, postgres.CopyOptions{IntoNonEmpty: *merge, Progress: progress})
	if tty && !sf.json {
		fmt.Fprint(env.stderr, "\r\033[K")
	}
	if err != nil {
		return cliFail(env, "store copy", err)
	}
	if sf.json {
		writeJSON(env.stdout, map[string]any{
			"from": store.RedactDSN(*from), "to": target.Where(),
			"keys": rep.Keys, "users": rep.Users, "clients": rep.Clients, "revoked_tokens": rep.RevokedTokens,
			"signing_keys": rep.SigningKeys, "changes": rep.Changes, "latest_change": rep.LatestChange,
		})
		return 0
	}
	fmt.Fprintf(env.stdout, "Copied %s into %s: %d keys, %d users, %d clients, %d revoked tokens, %d signing keys, %d changes (the sequence continues after %d). Every record was found in the target.\n",
		store.RedactDSN(*from), target.Where(), rep.Keys, rep.Users, rep.Clients, rep.RevokedTokens, rep.SigningKeys, rep.Changes, rep.LatestChange)
	return 0
}

func storeBackup(ctx context.Context, env *cliEnv, args []string) int {
	var sf storeFlags
	fs := newStoreFlagSet("store backup", env, &sf)
	to := fs.String("to", "", "the backup `FILE` to write (required)")
	force := fs.Bool("force", false, "replace an existing file at --to")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return cliUsageError(env, "store backup", storeUsage, err)
	}
	switch {
	case len(pos) > 0:
		return cliUsageError(env, "store backup", storeUsage, fmt.Errorf("unexpected argument %q", pos[0]))
	case *to == "":
		return cliUsageError(env, "store backup", storeUsage, errors.New("--to PATH is required"))
	}
	cfg, err := config.Load(sf.config, env.getenv)
	if err != nil {
		return cliFail(env, "store backup", err)
	}
	if cfg.Store.Driver != config.StoreSQLite {
		return cliFail(env, "store backup", fmt.Errorf("the store of %s is %s, and a PostgreSQL store is backed up with PostgreSQL's own tools: run pg_dump --format=custom against the same database (and pg_restore to bring it back)", sf.config, cfg.Store))
	}
	if cfg.Store.Path == ":memory:" {
		return cliFail(env, "store backup", fmt.Errorf("the store of %s is in memory: there is nothing on disk to back up", sf.config))
	}
	if _, err := os.Stat(cfg.Store.Path); errors.Is(err, os.ErrNotExist) {
		return cliFail(env, "store backup", fmt.Errorf("the store %s does not exist (check \"store\" in %s)", cfg.Store.Path, sf.config))
	}
	// Read-only and as it is: a backup never creates, migrates or writes the store it
	// copies, so the store of an older gatehouse can be backed up before an upgrade.
	counts, err := sqlite.BackupFile(ctx, cfg.Store.Path, *to, sqlite.BackupOptions{Overwrite: *force})
	if err != nil {
		return cliFail(env, "store backup", err)
	}
	if sf.json {
		writeJSON(env.stdout, struct {
			Store string `json:"store"`
			To    string `json:"to"`
			sqlite.Counts
		}{cfg.Store.Path, *to, counts})
		return 0
	}
	fmt.Fprintf(env.stdout, "Backed up %s to %s (mode 0600, schema version %d): %d keys, %d users, %d clients, %d revoked tokens, %d signing keys, %d changes (latest %d).\n",
		cfg.Store.Path, *to, counts.SchemaVersion, counts.Keys, counts.Users, counts.Clients, counts.RevokedTokens, counts.SigningKeys, counts.Changes, counts.LatestChange)
	return 0
}
