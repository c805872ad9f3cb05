package app

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/tokens"
)

// TestStoreOutageMakesUnreadyOnlyGatewaysThatDecideWithIt: a gateway whose routes read
// the store (API keys) is not ready while the store is down, and /readyz says why; a
// JWT-only gateway (whose store holds only admin tokens) stays ready, so a database
// outage never takes it out of a load balancer.
func TestStoreOutageMakesUnreadyOnlyGatewaysThatDecideWithIt(t *testing.T) {
	dir := t.TempDir()
	key, err := tokens.GenerateES256()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "jwks.json"), tokens.PublicJWKS(key), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, auth string
		ready      bool
	}{
		{"jwt only", `{type: jwt, issuer: "https://issuer.test", audience: ["api://t"], algorithms: [ES256], jwks_file: jwks.json}`, true},
		{"api keys", `{type: api_key, header: X-API-Key}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.Parse([]byte(`
listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
realm: t
store: sqlite://`+filepath.Join(t.TempDir(), "s.db")+`
authenticators:
  a: `+tc.auth+`
routes:
  - {name: r, match: {path_prefix: /}, authenticate: [a]}
`), dir, func(string) string { return "" })
			if err != nil {
				t.Fatal(err)
			}
			rt, err := Build(cfg, Options{Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { rt.Close() })
			ctx, cancel := context.WithCancel(context.Background())
			t.Cleanup(cancel)
			rt.Start(ctx)
			rt.outage.Report(store.ErrUnavailable)
			err = rt.Ready(ctx)
			if tc.ready && err != nil && strings.Contains(err.Error(), "credential store") {
				t.Errorf("a JWT-only gateway is unready during a store outage: %v", err)
			}
			if !tc.ready && (err == nil || !strings.Contains(err.Error(), "unreachable")) {
				t.Errorf("Ready = %v, want the store outage named", err)
			}
		})
	}
}
