package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/gatehouse-dev/gatehouse/internal/admin"
	"github.com/gatehouse-dev/gatehouse/internal/issuer"
)

func init() {
	register(command{name: "signing-keys", summary: "rotate and list the token service's signing keys", run: runSigningKeys})
}

const signingKeysUsage = `Usage:
  gatehouse signing-keys rotate --config FILE [--publication-delay 5m | --now] [--json]
  gatehouse signing-keys list   --config FILE [--json]

The keys the token service (the configuration's token_service block) signs access
tokens with. They live in the configuration's "store", private keys encrypted with
token_service.signing_key_secret. The first key is made when the token service first
starts.

  rotate  add a key (of token_service.signing_algorithm). It is published in the JWKS
          at once and signs new tokens after --publication-delay (default 5m, the time
          the JWKS endpoint lets verifiers cache it), so verifiers learn it before they
          see its tokens. --now makes it sign at once, for replacing a compromised key:
          verifiers holding a cached JWKS refuse its tokens until their copy expires.
          The first key of a new store signs at once. The key it replaces stops signing
          then and leaves the JWKS once every token it signed has expired. Running
          token services pick it up within a second.
  list    every stored key with its status and when it signs (SIGNS FROM): pending
          (published, not signing yet), active (signs), retired (published until its
          tokens expire), expired.

Both also take --admin URL (with $GATEHOUSE_ADMIN_TOKEN or --admin-token-file FILE) to
call a running gateway's admin API instead of opening the store.

Exit status: 0 done, 1 failed, 2 bad usage.
`

func runSigningKeys(ctx context.Context, env *cliEnv, args []string) int {
	return dispatch(ctx, env, "signing-keys", signingKeysUsage, map[string]subcommand{
		"rotate": signingKeysRotate,
		"list":   signingKeysList,
	}, args)
}

func signingKeysRotate(ctx context.Context, env *cliEnv, args []string) int {
	var (
		sf storeFlags
		rf remoteFlags
	)
	fs := newStoreFlagSet("signing-keys rotate", env, &sf)
	addRemoteFlags(fs, &rf)
	delayFlag := fs.String("publication-delay", "", "how long the new key is published before it signs (default 5m, the JWKS cache lifetime)")
	nowFlag := fs.Bool("now", false, "sign with the new key at once (a compromised key); verifiers with a cached JWKS refuse its tokens for up to 5m")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return cliUsageError(env, "signing-keys rotate", signingKeysUsage, err)
	}
	if len(pos) > 0 {
		return cliUsageError(env, "signing-keys rotate", signingKeysUsage, fmt.Errorf("unexpected argument %q", pos[0]))
	}
	delay, err := admin.ParsePublicationDelay(*delayFlag, *nowFlag)
	if err != nil {
		return cliUsageError(env, "signing-keys rotate", signingKeysUsage, err)
	}
	if *delayFlag != "" && delay < issuer.DefaultPublicationDelay {
		fmt.Fprintf(env.stderr, "warning: --publication-delay %s is shorter than the %s verifiers may cache the JWKS; some will refuse the new key's tokens until their copy expires\n",
			delay, issuer.DefaultPublicationDelay)
	}
	api, done, err := adminBackend(ctx, env, sf, rf, false)
	if err != nil {
		return cliFail(env, "signing-keys rotate", err)
	}
	defer done()
	rec, err := api.RotateSigningKey(ctx, admin.RotateSigningKeyRequest{PublicationDelay: *delayFlag, Now: *nowFlag})
	if err != nil {
		return cliFail(env, "signing-keys rotate", err)
	}
	if sf.json {
		writeJSON(env.stdout, rec.ListedSigningKey)
		return 0
	}
	when := "now"
	if rec.ActivatesAt.T().After(rec.CreatedAt.T()) {
		when = "from " + humanTime(rec.ActivatesAt.T(), "") + " (published now)"
	}
	fmt.Fprintf(env.stdout, "Added signing key %s (%s); it signs new tokens %s.\n", rec.KeyID, rec.Algorithm, when)
	for _, k := range rec.Retiring {
		fmt.Fprintf(env.stdout, "Key %s stops signing then and stays in the JWKS until %s, when every token it signed has expired.\n",
			k.KeyID, humanTime(k.ExpiresAt.T(), ""))
	}
	fmt.Fprintln(env.stdout, "Running token services pick the change up within a second.")
	return 0
}

func signingKeysList(ctx context.Context, env *cliEnv, args []string) int {
	var (
		sf storeFlags
		rf remoteFlags
	)
	fs := newStoreFlagSet("signing-keys list", env, &sf)
	addRemoteFlags(fs, &rf)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return cliUsageError(env, "signing-keys list", signingKeysUsage, err)
	}
	if len(pos) > 0 {
		return cliUsageError(env, "signing-keys list", signingKeysUsage, fmt.Errorf("unexpected argument %q", pos[0]))
	}
	api, done, err := adminBackend(ctx, env, sf, rf, true)
	if err != nil {
		return cliFail(env, "signing-keys list", err)
	}
	defer done()
	keys, err := api.ListSigningKeys(ctx)
	if err != nil {
		return cliFail(env, "signing-keys list", err)
	}
	if sf.json {
		writeJSON(env.stdout, keys)
		return 0
	}
	if len(keys) == 0 {
		fmt.Fprintln(env.stdout, "No signing keys yet: the token service makes the first when it starts (or run: gatehouse signing-keys rotate --config", sf.config+")")
		return 0
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALG\tSTATUS\tCREATED\tSIGNS FROM\tSIGNS UNTIL\tIN JWKS UNTIL")
	for _, k := range keys {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.KeyID, k.Algorithm, k.Status, humanTime(k.CreatedAt.T(), "-"),
			humanTime(k.ActivatesAt.T(), "-"), humanTime(k.RetiresAt.T(), "-"), humanTime(k.ExpiresAt.T(), "-"))
	}
	tw.Flush()
	return 0
}
