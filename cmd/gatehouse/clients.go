package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/admin"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func init() {
	register(command{name: "clients", summary: "create, list and remove OAuth clients of the token service", run: runClients})
}

const clientsUsage = `Usage:
  gatehouse clients create --config FILE --name NAME --scopes a,b [--audience AUD] [--ttl 10m] [--introspect] [--json]
  gatehouse clients list   --config FILE [--json]
  gatehouse clients remove --config FILE [--json] CLIENT_ID

Each also takes --admin URL (with $GATEHOUSE_ADMIN_TOKEN or --admin-token-file FILE)
to call a running gateway's admin API instead of opening the store.

OAuth 2.0 clients of the token service (the configuration's token_service block); they
get access tokens at <issuer>/oauth2/token with grant_type=client_credentials. The store
is the configuration's "store".

  create  make a client and print its client_id and client_secret; the secret is shown
          once and stored only as a hash. --scopes are the most its tokens may carry;
          --audience defaults to token_service.audience; --ttl (the lifetime of its
          tokens, at most 24h) to token_service.access_token_ttl. A client may
          introspect only its own tokens; --introspect lets it introspect any client's
          (for a resource server, such as a gateway's introspection authenticator).
  list    every client that exists; never a secret.
  remove  remove the client: it can get no more tokens, and running gateways refuse the
          tokens it already has within a second.

Exit status: 0 done, 1 failed, 2 bad usage.
`

func runClients(ctx context.Context, env *cliEnv, args []string) int {
	return dispatch(ctx, env, "clients", clientsUsage, map[string]subcommand{
		"create": clientsCreate,
		"list":   clientsList,
		"remove": clientsRemove,
	}, args)
}

func clientsCreate(ctx context.Context, env *cliEnv, args []string) int {
	var (
		sf storeFlags
		rf remoteFlags
	)
	fs := newStoreFlagSet("clients create", env, &sf)
	addRemoteFlags(fs, &rf)
	name := fs.String("name", "", "whom the client is for (required)")
	scopesFlag := fs.String("scopes", "", "comma-separated scopes its tokens may carry (required)")
	audience := fs.String("audience", "", "aud of its tokens (default: token_service.audience)")
	introspect := fs.Bool("introspect", false, "may introspect tokens issued to other clients (a resource server)")
	ttlFlag := fs.String("ttl", "", "lifetime of its tokens, at most 24h (default: token_service.access_token_ttl)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return cliUsageError(env, "clients create", clientsUsage, err)
	}
	if len(pos) > 0 {
		return cliUsageError(env, "clients create", clientsUsage, fmt.Errorf("unexpected argument %q (the name goes in --name)", pos[0]))
	}
	if *name == "" || len(*name) > store.MaxNameBytes || !utf8.ValidString(*name) {
		return cliUsageError(env, "clients create", clientsUsage, fmt.Errorf("--name is required: 1-%d bytes of UTF-8", store.MaxNameBytes))
	}
	if strings.TrimSpace(*scopesFlag) == "" {
		return cliUsageError(env, "clients create", clientsUsage, errors.New("--scopes is required: the scopes the client's tokens may carry, such as orders:read,orders:write"))
	}
	scopes, err := parseScopes(*scopesFlag)
	if err != nil {
		return cliUsageError(env, "clients create", clientsUsage, err)
	}
	if *ttlFlag != "" {
		ttl, err := parseSpan(*ttlFlag)
		if err != nil {
			return cliUsageError(env, "clients create", clientsUsage, fmt.Errorf("--ttl: %v", err))
		}
		if ttl < time.Second || ttl > store.MaxAccessTokenTTL {
			return cliUsageError(env, "clients create", clientsUsage, fmt.Errorf("--ttl must be from 1s to %s", store.MaxAccessTokenTTL))
		}
	}
	if *audience != "" && !printableNoSpace(*audience) {
		return cliUsageError(env, "clients create", clientsUsage, errors.New("--audience must be printable ASCII without spaces, such as api://orders"))
	}
	api, done, err := adminBackend(ctx, env, sf, rf, false)
	if err != nil {
		return cliFail(env, "clients create", err)
	}
	defer done()
	c, err := api.CreateClient(ctx, admin.CreateClientRequest{Name: *name, Scopes: scopes, Audience: *audience, TTL: *ttlFlag, Introspect: *introspect})
	var ae *admin.Error
	if errors.As(err, &ae) && ae.Status == 400 {
		return cliUsageError(env, "clients create", clientsUsage, err)
	}
	if err != nil {
		return cliFail(env, "clients create", err)
	}
	// Committed before it is printed: a secret that was shown survives a crash right after.
	if sf.json {
		endpoint := c.TokenEndpoint
		c.TokenEndpoint = "" // the documented shape of clients create --json
		writeJSON(env.stdout, c)
		c.TokenEndpoint = endpoint
		return 0
	}
	fmt.Fprintf(env.stdout, "Created client %s for %q (scopes %s, audience %s, tokens live %s).\n",
		c.ClientID, sanitize(c.Name), strings.Join(c.Scopes, " "), c.Audience, time.Duration(c.AccessTokenTTL)*time.Second)
	if c.Introspect {
		fmt.Fprintln(env.stdout, "It may introspect the tokens of every client.")
	}
	fmt.Fprintf(env.stdout, "Token endpoint: %s (grant_type=client_credentials)\n", c.TokenEndpoint)
	fmt.Fprintf(env.stdout, "Store the secret now; it cannot be shown again:\n\nclient_id:     %s\nclient_secret: %s\n", c.ClientID, c.ClientSecret)
	return 0
}

func printableNoSpace(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return s != ""
}

func clientsList(ctx context.Context, env *cliEnv, args []string) int {
	var (
		sf storeFlags
		rf remoteFlags
	)
	fs := newStoreFlagSet("clients list", env, &sf)
	addRemoteFlags(fs, &rf)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return cliUsageError(env, "clients list", clientsUsage, err)
	}
	if len(pos) > 0 {
		return cliUsageError(env, "clients list", clientsUsage, fmt.Errorf("unexpected argument %q", pos[0]))
	}
	api, done, err := adminBackend(ctx, env, sf, rf, true)
	if err != nil {
		return cliFail(env, "clients list", err)
	}
	defer done()
	return listPaged(env, "clients list", sf.json, "CLIENT ID\tNAME\tSCOPES\tAUDIENCE\tTOKEN TTL\tINTROSPECT\tCREATED",
		"No clients yet; create one with: gatehouse clients create --config "+sf.config+" --name NAME --scopes a,b",
		func(after string) ([]admin.ListedClient, error) { return api.ListClients(ctx, after, 1000) },
		func(c admin.ListedClient) string { return c.ClientID },
		func(c admin.ListedClient) (any, string, bool) {
			return c, fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t%s", c.ClientID, sanitize(c.Name), orDash(strings.Join(c.Scopes, ",")),
					c.Audience, time.Duration(c.AccessTokenTTL)*time.Second, introspectWord(c.Introspect), humanTime(c.CreatedAt.T(), "-")),
				c.RemovedAt == nil
		})
}

func clientsRemove(ctx context.Context, env *cliEnv, args []string) int {
	var (
		sf storeFlags
		rf remoteFlags
	)
	fs := newStoreFlagSet("clients remove", env, &sf)
	addRemoteFlags(fs, &rf)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return cliUsageError(env, "clients remove", clientsUsage, err)
	}
	if len(pos) != 1 {
		return cliUsageError(env, "clients remove", clientsUsage, errors.New("name exactly one CLIENT_ID"))
	}
	api, done, err := adminBackend(ctx, env, sf, rf, true)
	if err != nil {
		return cliFail(env, "clients remove", err)
	}
	defer done()
	c, err := api.RemoveClient(ctx, pos[0])
	if err != nil {
		return cliFail(env, "clients remove", err)
	}
	if sf.json {
		writeJSON(env.stdout, c)
		return 0
	}
	fmt.Fprintf(env.stdout, "Removed client %s (%q). It gets no more tokens; running gateways refuse the ones it has within a second.\n", c.ClientID, sanitize(c.Name))
	return 0
}

// introspectWord is the INTROSPECT column of clients list: "any" when the client may
// introspect every client's tokens, "own" when only its own.
func introspectWord(any bool) string {
	if any {
		return "any"
	}
	return "own"
}
