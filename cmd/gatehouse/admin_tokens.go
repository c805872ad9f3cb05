package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/admin"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func init() {
	register(command{name: "admin-tokens", summary: "create, list and revoke admin API tokens", run: runAdminTokens})
}

const adminTokensUsage = `Usage:
  gatehouse admin-tokens create --config FILE --name NAME [--expires 30d] [--json]
  gatehouse admin-tokens list   --config FILE [--json]
  gatehouse admin-tokens revoke --config FILE [--json] ID

Admin tokens authenticate calls to the admin API on admin_listen (Authorization:
Bearer), including "gatehouse explain" and the --admin mode of keys. They are kept
in the configuration's store, hashed; they work only on the host that can open it.

  create  make a token and print it once: {"id","name","token","expires_at"} with
          --json. --expires takes a duration (90m, 24h, 30d, 2w) or an RFC 3339 time.
  list    every token with its status (active, revoked, expired); never a secret.
  revoke  refuse the token from the next call on, on every gateway of the store.

Exit status: 0 done, 1 failed, 2 bad usage.
`

func runAdminTokens(ctx context.Context, env *cliEnv, args []string) int {
	return dispatch(ctx, env, "admin-tokens", adminTokensUsage, map[string]subcommand{
		"create": adminTokensCreate,
		"list":   adminTokensList,
		"revoke": adminTokensRevoke,
	}, args)
}

// localAdmin opens the configuration's store and returns the admin service on it.
func localAdmin(ctx context.Context, env *cliEnv, configPath string, mustExist bool) (*admin.Session, func(), error) {
	sess, err := openStore(ctx, env, configPath, mustExist)
	if err != nil {
		return nil, nil, err
	}
	svc := &admin.Service{Store: sess.store, Config: sess.cfg}
	return svc.As(localCaller()), sess.Close, nil
}

func adminTokensCreate(ctx context.Context, env *cliEnv, args []string) int {
	var sf storeFlags
	fs := newStoreFlagSet("admin-tokens create", env, &sf)
	name := fs.String("name", "", "who the token is for (required)")
	expires := fs.String("expires", "", "lifetime (24h, 30d) or RFC 3339 time; default: never")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return cliUsageError(env, "admin-tokens create", adminTokensUsage, err)
	}
	if len(pos) > 0 {
		return cliUsageError(env, "admin-tokens create", adminTokensUsage, fmt.Errorf("unexpected argument %q (the name goes in --name)", pos[0]))
	}
	if *name == "" || len(*name) > store.MaxNameBytes || !utf8.ValidString(*name) {
		return cliUsageError(env, "admin-tokens create", adminTokensUsage, fmt.Errorf("--name is required: 1-%d bytes of UTF-8", store.MaxNameBytes))
	}
	s, done, err := localAdmin(ctx, env, sf.config, false)
	if err != nil {
		return cliFail(env, "admin-tokens create", err)
	}
	defer done()
	tok, err := s.CreateAdminToken(ctx, admin.CreateAdminTokenRequest{Name: *name, Expires: *expires})
	var ae *admin.Error
	if errors.As(err, &ae) && ae.Status == 400 {
		return cliUsageError(env, "admin-tokens create", adminTokensUsage, err)
	}
	if err != nil {
		return cliFail(env, "admin-tokens create", err)
	}
	if sf.json {
		writeJSON(env.stdout, tok)
		return 0
	}
	fmt.Fprintf(env.stdout, "Created admin token %s for %q (expires %s).\nStore it now; it cannot be shown again:\n\n%s\n",
		tok.ID, sanitize(tok.Name), humanTime(tok.ExpiresAt.T(), "never"), tok.Token)
	return 0
}

func adminTokensList(ctx context.Context, env *cliEnv, args []string) int {
	var sf storeFlags
	fs := newStoreFlagSet("admin-tokens list", env, &sf)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return cliUsageError(env, "admin-tokens list", adminTokensUsage, err)
	}
	if len(pos) > 0 {
		return cliUsageError(env, "admin-tokens list", adminTokensUsage, fmt.Errorf("unexpected argument %q", pos[0]))
	}
	s, done, err := localAdmin(ctx, env, sf.config, true)
	if err != nil {
		return cliFail(env, "admin-tokens list", err)
	}
	defer done()
	return listPaged(env, "admin-tokens list", sf.json, "ID\tNAME\tSTATUS\tCREATED\tEXPIRES\tREVOKED",
		"No admin tokens yet; create one with: gatehouse admin-tokens create --config "+sf.config+" --name NAME",
		func(after string) ([]admin.ListedAdminToken, error) { return s.ListAdminTokens(ctx, after, 1000) },
		func(t admin.ListedAdminToken) string { return t.ID },
		func(t admin.ListedAdminToken) (any, string, bool) {
			return t, fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s", t.ID, sanitize(t.Name), t.Status,
				humanTime(t.CreatedAt.T(), "-"), humanTime(t.ExpiresAt.T(), "never"), humanTime(t.RevokedAt.T(), "-")), true
		})
}

func adminTokensRevoke(ctx context.Context, env *cliEnv, args []string) int {
	var sf storeFlags
	fs := newStoreFlagSet("admin-tokens revoke", env, &sf)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return cliUsageError(env, "admin-tokens revoke", adminTokensUsage, err)
	}
	if len(pos) != 1 {
		return cliUsageError(env, "admin-tokens revoke", adminTokensUsage, errors.New("name exactly one admin token ID"))
	}
	s, done, err := localAdmin(ctx, env, sf.config, true)
	if err != nil {
		return cliFail(env, "admin-tokens revoke", err)
	}
	defer done()
	t, err := s.RevokeAdminToken(ctx, strings.TrimSpace(pos[0]))
	if err != nil {
		return cliFail(env, "admin-tokens revoke", err)
	}
	if sf.json {
		writeJSON(env.stdout, t)
		return 0
	}
	fmt.Fprintf(env.stdout, "Revoked admin token %s (%q). The admin API refuses it from the next call on.\n", t.ID, sanitize(t.Name))
	return 0
}
