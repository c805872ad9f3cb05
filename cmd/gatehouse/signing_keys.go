package main

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/issuer"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/tokens"
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

Exit status: 0 done, 1 failed, 2 bad usage.
`

func runSigningKeys(ctx context.Context, env *cliEnv, args []string) int {
	return dispatch(ctx, env, "signing-keys", signingKeysUsage, map[string]subcommand{
		"rotate": signingKeysRotate,
		"list":   signingKeysList,
	}, args)
}

// listedSigningKey is the JSON of one key in `signing-keys list` and `rotate`.
type listedSigningKey struct {
	KeyID       string   `json:"kid"`
	Algorithm   string   `json:"alg"`
	Status      string   `json:"status"`
	CreatedAt   jsonTime `json:"created_at"`
	ActivatesAt jsonTime `json:"activates_at"`
	RetiresAt   jsonTime `json:"retires_at"`
	ExpiresAt   jsonTime `json:"expires_at"`
}

func signingKeyJSON(k *store.SigningKey, now time.Time) listedSigningKey {
	return listedSigningKey{
		KeyID: k.ID, Algorithm: k.Algorithm, Status: string(k.Status(now)),
		CreatedAt: jsonTime(k.CreatedAt), ActivatesAt: jsonTime(k.ActivatesAt),
		RetiresAt: jsonTime(k.RetiresAt), ExpiresAt: jsonTime(k.ExpiresAt),
	}
}

func signingKeysRotate(ctx context.Context, env *cliEnv, args []string) int {
	var sf storeFlags
	fs := newStoreFlagSet("signing-keys rotate", env, &sf)
	delayFlag := fs.String("publication-delay", "", "how long the new key is published before it signs (default 5m, the JWKS cache lifetime)")
	nowFlag := fs.Bool("now", false, "sign with the new key at once (a compromised key); verifiers with a cached JWKS refuse its tokens for up to 5m")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return cliUsageError(env, "signing-keys rotate", signingKeysUsage, err)
	}
	if len(pos) > 0 {
		return cliUsageError(env, "signing-keys rotate", signingKeysUsage, fmt.Errorf("unexpected argument %q", pos[0]))
	}
	delay := issuer.DefaultPublicationDelay
	if *delayFlag != "" {
		if *nowFlag {
			return cliUsageError(env, "signing-keys rotate", signingKeysUsage, errors.New("--now and --publication-delay contradict each other: give one"))
		}
		delay, err = parseSpan(*delayFlag)
		if err != nil || delay <= 0 || delay > 7*24*time.Hour {
			return cliUsageError(env, "signing-keys rotate", signingKeysUsage, fmt.Errorf("--publication-delay: %q is not a duration from 1s to 7d (to sign at once, use --now)", *delayFlag))
		}
		if delay < issuer.DefaultPublicationDelay {
			fmt.Fprintf(env.stderr, "warning: --publication-delay %s is shorter than the %s verifiers may cache the JWKS; some will refuse the new key's tokens until their copy expires\n",
				delay, issuer.DefaultPublicationDelay)
		}
	}
	sess, err := openStore(ctx, env, sf.config, false)
	if err != nil {
		return cliFail(env, "signing-keys rotate", err)
	}
	defer sess.Close()
	ts, err := tokenServiceOf(sess, sf.config)
	if err != nil {
		return cliFail(env, "signing-keys rotate", err)
	}
	sealer, err := tokens.NewSealer(ts.SigningKeySecret.Reveal())
	if err != nil {
		return cliFail(env, "signing-keys rotate", err)
	}
	now := time.Now()
	if err := checkSealedWith(ctx, sess.store, sealer, now); err != nil {
		return cliFail(env, "signing-keys rotate", err)
	}
	rec, err := issuer.RotateSigningKey(ctx, issuer.RotateOptions{
		Store: sess.store, Sealer: sealer, Algorithm: ts.SigningAlgorithm,
		PublicationDelay: delay, Immediate: *nowFlag, DefaultTTL: ts.AccessTokenTTL, Now: func() time.Time { return now },
	})
	if err != nil {
		return cliFail(env, "signing-keys rotate", err)
	}
	keys, err := sess.store.SigningKeys(ctx)
	if err != nil {
		return cliFail(env, "signing-keys rotate", err)
	}
	if sf.json {
		writeJSON(env.stdout, signingKeyJSON(&rec, now))
		return 0
	}
	when := "now"
	if rec.ActivatesAt.After(rec.CreatedAt) {
		when = "from " + humanTime(rec.ActivatesAt, "") + " (published now)"
	}
	fmt.Fprintf(env.stdout, "Added signing key %s (%s); it signs new tokens %s.\n", rec.ID, rec.Algorithm, when)
	for i := range keys {
		k := &keys[i]
		if k.ID != rec.ID && k.RetiresAt.Equal(store.Micro(rec.ActivatesAt)) && k.ActivatesAt.Before(k.RetiresAt) {
			fmt.Fprintf(env.stdout, "Key %s stops signing then and stays in the JWKS until %s, when every token it signed has expired.\n",
				k.ID, humanTime(k.ExpiresAt, ""))
		}
	}
	fmt.Fprintln(env.stdout, "Running token services pick the change up within a second.")
	return 0
}

// checkSealedWith refuses to rotate when the stored keys were sealed under another
// secret than the configured one: token services started with this configuration could
// not open the keys that sign now, so the configuration (or the store) is not the one
// in use.
func checkSealedWith(ctx context.Context, st store.Store, sealer *tokens.Sealer, now time.Time) error {
	keys, err := st.SigningKeys(ctx)
	if err != nil {
		return err
	}
	for i := range keys {
		k := &keys[i]
		if !k.Signs(now) {
			continue
		}
		if _, err := tokens.OpenPrivateKey(sealer, k.Algorithm, k.ID, k.PrivateKey); err != nil {
			if errors.Is(err, tokens.ErrSealedWithOtherSecret) {
				return fmt.Errorf("the signing key %s was stored under another signing_key_secret than the configured one (%s); is this the configuration the token service runs with?", k.ID, sealer.ID())
			}
			return fmt.Errorf("the signing key %s cannot be opened: %w", k.ID, err)
		}
	}
	return nil
}

func signingKeysList(ctx context.Context, env *cliEnv, args []string) int {
	var sf storeFlags
	fs := newStoreFlagSet("signing-keys list", env, &sf)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return cliUsageError(env, "signing-keys list", signingKeysUsage, err)
	}
	if len(pos) > 0 {
		return cliUsageError(env, "signing-keys list", signingKeysUsage, fmt.Errorf("unexpected argument %q", pos[0]))
	}
	sess, err := openStore(ctx, env, sf.config, true)
	if err != nil {
		return cliFail(env, "signing-keys list", err)
	}
	defer sess.Close()
	keys, err := sess.store.SigningKeys(ctx)
	if err != nil {
		return cliFail(env, "signing-keys list", err)
	}
	now := time.Now()
	if sf.json {
		out := make([]listedSigningKey, 0, len(keys))
		for i := range keys {
			out = append(out, signingKeyJSON(&keys[i], now))
		}
		writeJSON(env.stdout, out)
		return 0
	}
	if len(keys) == 0 {
		fmt.Fprintln(env.stdout, "No signing keys yet: the token service makes the first when it starts (or run: gatehouse signing-keys rotate --config", sf.config+")")
		return 0
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALG\tSTATUS\tCREATED\tSIGNS FROM\tSIGNS UNTIL\tIN JWKS UNTIL")
	for i := range keys {
		k := &keys[i]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Algorithm, k.Status(now), humanTime(k.CreatedAt, "-"),
			humanTime(k.ActivatesAt, "-"), humanTime(k.RetiresAt, "-"), humanTime(k.ExpiresAt, "-"))
	}
	tw.Flush()
	return 0
}
