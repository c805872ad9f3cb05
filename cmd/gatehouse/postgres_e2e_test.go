package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gatehouse-dev/gatehouse/internal/admin"
	"github.com/gatehouse-dev/gatehouse/internal/issuer"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/postgres"
	"github.com/gatehouse-dev/gatehouse/internal/store/postgres/pgtest"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlite"
)

// pgConfig is a configuration whose store is a PostgreSQL database given as a store
// block with pool settings (the test server trusts loopback, so no password).
const pgConfig = `listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
realm: orders
environment: live
store:
  url: %s
  max_conns: 4
  connect_timeout: 5s
authenticators:
  keys: {type: api_key, header: X-API-Key}
  staff: {type: basic, cache_ttl: 1m}
routes:
  - name: api
    match: {path_prefix: /}
    upstream: http://%s
    authenticate: [keys, staff]
`

// binCLI runs the built binary and returns its exit code, stdout and stderr.
func binCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = append(os.Environ(), "GATEHOUSE_CONFIG=", "NO_COLOR=1")
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("gatehouse %v: %v", args, err)
	}
	return code, out.String(), errb.String()
}

func mustCLI(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	code, out, errs := binCLI(t, stdin, args...)
	if code != 0 {
		t.Fatalf("gatehouse %v = exit %d\n%s%s", args, code, out, errs)
	}
	return out
}

// TestCLIAndGatewayWorkAgainstPostgres runs the binary's store commands against a
// configuration with a PostgreSQL store, as an operator would, and a gateway serving
// from it: keys and users work as on SQLite, and a key revoked by the CLI is refused by
// the running gateway.
func TestCLIAndGatewayWorkAgainstPostgres(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	dir := t.TempDir()
	upstream := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s", r.Header.Get("X-Gatehouse-Subject"))
	}), ReadHeaderTimeout: 5 * time.Second}
	ln := listenLoopback(t)
	go upstream.Serve(ln)
	t.Cleanup(func() { upstream.Close() })
	cfg := filepath.Join(dir, "gatehouse.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(pgConfig, dsn, ln.Addr())), 0o600); err != nil {
		t.Fatal(err)
	}

	if out := mustCLI(t, "", "store", "migrate", "--config", cfg); !strings.Contains(out, fmt.Sprintf("from schema version 0 to %d", postgres.SchemaVersion())) {
		t.Errorf("store migrate on an empty database printed %q", out)
	}
	if out := mustCLI(t, "", "store", "migrate", "--config", cfg); !strings.Contains(out, fmt.Sprintf("is at schema version %d", postgres.SchemaVersion())) {
		t.Errorf("store migrate on a current database printed %q", out)
	}

	var k1, k2 e2eKey
	json.Unmarshal([]byte(mustCLI(t, "", "keys", "create", "--config", cfg, "--name", "ci", "--scopes", "orders:read", "--json")), &k1)
	json.Unmarshal([]byte(mustCLI(t, "", "keys", "create", "--config", cfg, "--name", "batch", "--json")), &k2)
	if k1.ID == "" || k2.ID == "" {
		t.Fatal("keys create printed no key")
	}
	mustCLI(t, "correct horse battery staple\n", "users", "add", "--config", cfg, "--scopes", "orders:read", "alice")

	var listed []struct{ ID, Name, Status string }
	if err := json.Unmarshal([]byte(mustCLI(t, "", "keys", "list", "--config", cfg, "--json")), &listed); err != nil {
		t.Fatal(err)
	}
	if len(listed) != 2 {
		t.Fatalf("keys list = %+v, want the two keys", listed)
	}

	p := start(t, "serve", "--config", cfg)
	base := "http://" + p.waitFor(t, listeningRe)[1]
	get := func(h, v string) int {
		req, _ := http.NewRequest("GET", base+"/orders", nil)
		req.Header.Set(h, v)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := get("X-API-Key", k1.Key); got != 200 {
		t.Fatalf("key before revocation: %d", got)
	}
	if got := get("Authorization", basicAuth("alice", "correct horse battery staple")); got != 200 {
		t.Errorf("basic user: %d", got)
	}

	mustCLI(t, "", "keys", "revoke", "--config", cfg, k1.ID)
	if err := json.Unmarshal([]byte(mustCLI(t, "", "keys", "list", "--config", cfg, "--json")), &listed); err != nil {
		t.Fatal(err)
	}
	for _, k := range listed {
		if want := map[bool]string{true: "revoked", false: "active"}[k.ID == k1.ID]; k.Status != want {
			t.Errorf("key %s listed %s, want %s", k.ID, k.Status, want)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for get("X-API-Key", k1.Key) != 401 {
		if time.Now().After(deadline) {
			t.Fatal("the gateway still accepts the key the CLI revoked")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := get("X-API-Key", k2.Key); got != 200 {
		t.Errorf("the other key after the revocation: %d", got)
	}
}

// TestServeRefusesASchemaNewerThanItKnows starts serve on a database a newer gatehouse
// migrated: it exits with the reason instead of misreading the store.
func TestServeRefusesASchemaNewerThanItKnows(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	st, err := postgres.Open(context.Background(), postgres.Config{DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Pool().Exec(context.Background(), "INSERT INTO schema_migrations (version, name) VALUES (99, 'future')"); err != nil {
		t.Fatal(err)
	}
	st.Close()
	cfg := filepath.Join(t.TempDir(), "gatehouse.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(pgConfig, dsn, "127.0.0.1:9")), 0o600)
	code, _, errs := binCLI(t, "", "serve", "--config", cfg)
	if code == 0 || !strings.Contains(errs, "store schema is newer than this gatehouse") {
		t.Errorf("serve on schema 99 = exit %d, stderr %q", code, errs)
	}
}

// TestStoreCopyFromSQLiteKeepsEveryCredential fills a SQLite store the way an operator
// does (keys created, rotated and revoked, users, clients created and removed, signing
// keys, a revoked token), copies it into PostgreSQL with the binary, and checks that
// every credential verifies against the copy and every record and the change sequence
// came over unchanged. A second copy is refused, and with --into-non-empty changes
// nothing.
func TestStoreCopyFromSQLiteKeepsEveryCredential(t *testing.T) {
	dir, cfg := tokenServiceTestDir(t, "")
	ctx := context.Background()
	var keys []map[string]any
	for range 3 {
		keys = append(keys, createKeyJSON(t, cfg, "--name", "svc"))
	}
	if code, _, errs := runStoreCLI(t, "", "keys", "revoke", "--config", cfg, keys[1]["id"].(string)); code != 0 {
		t.Fatal(errs)
	}
	code, out, errs := runStoreCLI(t, "", "keys", "rotate", "--config", cfg, "--grace", "1h", "--json", keys[2]["id"].(string))
	if code != 0 {
		t.Fatal(errs)
	}
	var rotated map[string]any
	json.Unmarshal([]byte(out), &rotated)
	const password = "correct horse battery staple"
	for _, u := range []string{"alice", "bob"} {
		if code, _, errs := runStoreCLI(t, password+"\n", "users", "add", "--config", cfg, u); code != 0 {
			t.Fatal(errs)
		}
	}
	var clients []admin.CreatedClient
	for _, n := range []string{"billing", "gone"} {
		code, out, errs := runStoreCLI(t, "", "clients", "create", "--config", cfg, "--name", n, "--scopes", "orders:read", "--json")
		if code != 0 {
			t.Fatal(errs)
		}
		var c admin.CreatedClient
		json.Unmarshal([]byte(out), &c)
		clients = append(clients, c)
	}
	if code, _, errs := runStoreCLI(t, "", "clients", "remove", "--config", cfg, clients[1].ClientID); code != 0 {
		t.Fatal(errs)
	}
	for range 2 {
		if code, _, errs := runStoreCLI(t, "", "signing-keys", "rotate", "--config", cfg); code != 0 {
			t.Fatal(errs)
		}
	}
	src := openTestStore(t, dir)
	now := time.Now()
	if _, err := src.RevokeToken(ctx, &store.RevokedToken{ID: "jti-1", ClientID: clients[0].ClientID, ExpiresAt: now.Add(time.Hour), RevokedAt: now}); err != nil {
		t.Fatal(err)
	}

	target := pgtest.NewDatabase(t)
	from := "sqlite://" + filepath.Join(dir, "creds.db")
	out = mustCLI(t, "", "store", "copy", "--from", from, "--to", target)
	if !strings.Contains(out, "4 keys, 2 users, 2 clients, 1 revoked tokens, 2 signing keys") {
		t.Errorf("store copy printed %q", out)
	}

	pg, err := postgres.Open(ctx, postgres.Config{DSN: target})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	checkCopy(t, src, pg)

	// Every credential verifies against the copy, without re-issuing anything.
	hasher, _ := secret.NewKeyHasher(nil)
	for _, k := range append(keys, rotated) {
		parsed, err := secret.ParseAPIKey(k["key"].(string))
		if err != nil {
			t.Fatal(err)
		}
		stored, err := pg.Key(ctx, k["id"].(string))
		if err != nil {
			t.Fatalf("key %s in the copy: %v", k["id"], err)
		}
		if ok, err := hasher.Verify(parsed, stored.HashAlg, stored.SecretHash); !ok || err != nil {
			t.Errorf("key %s does not verify against the copy: %v", k["id"], err)
		}
	}
	if k, _ := pg.Key(ctx, keys[1]["id"].(string)); k.Status(time.Now()) != store.KeyRevoked {
		t.Errorf("the revoked key is %s in the copy", k.Status(time.Now()))
	}
	for _, u := range []string{"alice", "bob"} {
		got, err := pg.User(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := secret.VerifyPassword(got.PasswordHash, password); !ok || err != nil {
			t.Errorf("the password of %s does not verify against the copy: %v", u, err)
		}
	}
	c, err := pg.Client(ctx, clients[0].ClientID)
	if err != nil || !secret.Equal(c.SecretHash, issuer.HashClientSecret(clients[0].ClientSecret)) {
		t.Errorf("the client secret does not verify against the copy: %v", err)
	}
	if c, err := pg.Client(ctx, clients[1].ClientID); err != nil || !c.Removed() {
		t.Errorf("the removed client in the copy: %+v, %v", c, err)
	}

	// Again: refused without the flag, a no-op with it.
	code, _, errs = binCLI(t, "", "store", "copy", "--from", from, "--to", target)
	if code != 1 || !strings.Contains(errs, "the target store is not empty") || !strings.Contains(errs, "--into-non-empty") {
		t.Errorf("a second copy = exit %d, stderr %q", code, errs)
	}
	mustCLI(t, "", "store", "copy", "--from", from, "--to", target, "--into-non-empty")
	checkCopy(t, src, pg)

	// The copy's sequence continues after the source's: a new change gets the next number.
	latest, _ := src.LatestChange(ctx)
	nk := storeKeyFor(t)
	if err := pg.CreateKey(ctx, &nk); err != nil {
		t.Fatal(err)
	}
	if got, _ := pg.LatestChange(ctx); got != latest+1 {
		t.Errorf("the first change after the copy is %d, want %d", got, latest+1)
	}

	// A source path that does not exist is an error, not an empty store copied over.
	missing := "sqlite://" + filepath.Join(dir, "nope.db")
	if code, _, errs := binCLI(t, "", "store", "copy", "--from", missing, "--to", target, "--into-non-empty"); code != 1 {
		t.Errorf("copy from a missing file = exit %d, %s", code, errs)
	}
	if _, err := os.Stat(filepath.Join(dir, "nope.db")); err == nil {
		t.Error("copy created the missing source file")
	}
}

func storeKeyFor(t *testing.T) store.APIKey {
	t.Helper()
	k, err := secret.NewAPIKey("live")
	if err != nil {
		t.Fatal(err)
	}
	h, _ := secret.NewKeyHasher(nil)
	id := k.Reveal()[len("gk_live_") : len("gk_live_")+12]
	return store.APIKey{ID: id, Name: "after", Env: "live", SecretHash: h.Hash(k), HashAlg: h.Alg(), CreatedAt: time.Now()}
}

// checkCopy compares every record of the two stores.
func checkCopy(t *testing.T, src *sqlite.Store, dst *postgres.Store) {
	t.Helper()
	ctx := context.Background()
	type all struct {
		Keys    []store.APIKey
		Users   []store.User
		Clients []store.Client
		Revoked []store.RevokedToken
		Signing []store.SigningKey
		Changes []store.Change
		Latest  int64
	}
	read := func(s postgres.Source) all {
		var a all
		var err error
		a.Keys, err = s.ListKeys(ctx, "", 10000)
		if err != nil {
			t.Fatal(err)
		}
		a.Users, _ = s.ListUsers(ctx, "", 10000)
		a.Clients, _ = s.ListClients(ctx, "", 10000)
		a.Revoked, _ = s.ListRevokedTokens(ctx, time.Unix(0, 0), "", 10000)
		a.Signing, _ = s.SigningKeys(ctx)
		a.Changes, _ = s.Changes(ctx, 0)
		a.Latest, _ = s.LatestChange(ctx)
		return a
	}
	if diff := cmp.Diff(read(src), read(dst), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("the copy differs from the source (-sqlite +postgres):\n%s", diff)
	}
}
