package config

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestStoreMappingCarriesPasswordAndPoolSettings(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"pg.pass": "from-a-file\n"})
	tests := []struct {
		name, yaml string
		env        map[string]string
		want       Store
	}{
		{"url only", "store: {url: postgres://gh@db/gatehouse}\n", nil,
			Store{Driver: StorePostgres, DSN: "postgres://gh@db/gatehouse"}},
		{"password from the environment and pool settings", `store:
  url: postgres://gh@db/gatehouse?sslmode=verify-full
  password: ${PGPW}
  max_conns: 20
  min_conns: 2
  connect_timeout: 3s
  query_timeout: 2s
  max_conn_lifetime: 1h
  max_conn_idle_time: 5m
`, map[string]string{"PGPW": "from-env"},
			Store{Driver: StorePostgres, DSN: "postgres://gh@db/gatehouse?sslmode=verify-full", Password: NewSecret([]byte("from-env")),
				MaxConns: 20, MinConns: 2, ConnectTimeout: 3 * time.Second, QueryTimeout: 2 * time.Second,
				MaxConnLifetime: time.Hour, MaxConnIdleTime: 5 * time.Minute}},
		{"password from a file", "store: {url: postgres://gh@db/gatehouse, password_file: pg.pass}\n", nil,
			Store{Driver: StorePostgres, DSN: "postgres://gh@db/gatehouse", Password: NewSecret([]byte("from-a-file"))}},
		{"sqlite in a mapping", "store: {url: sqlite://x.db}\n", nil,
			Store{Driver: StoreSQLite, Path: filepath.Join(dir, "x.db")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(minimal+tt.yaml), dir, envOf(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, c.Store, cmpConfig); diff != "" {
				t.Errorf("store (-want +got):\n%s", diff)
			}
			if !c.Store.Equal(tt.want) {
				t.Error("Equal disagrees with cmp")
			}
		})
	}
}

// TestPostgresStoreProblemsAreFoundWithoutConnecting covers what `config check` can
// tell about a PostgreSQL store offline; none of the messages may show the password.
func TestPostgresStoreProblemsAreFoundWithoutConnecting(t *testing.T) {
	const pw = "pw-never-shown-9q"
	tests := []struct{ name, yaml, want string }{
		{"port not a number", "store: postgres://gh:" + pw + "@db:fivefour/x\n", "does not parse"},
		{"port out of range", "store: postgres://gh:" + pw + "@db:70000/x\n", "port that is not a number from 1 to 65535"},
		{"no database", "store: postgres://gh:" + pw + "@db\n", "names no database"},
		{"bad sslmode", "store: postgres://gh:" + pw + "@db/x?sslmode=sometimes\n", `sslmode "sometimes" is not one of`},
		{"password twice", "store: {url: \"postgres://gh:" + pw + "@db/x\", password: " + pw + "}\n", "the password is also in the store URL"},
		{"min over max", "store: {url: postgres://gh@db/x, max_conns: 2, min_conns: 3}\n", "store.min_conns: is more than max_conns (2)"},
		{"negative timeout", "store: {url: postgres://gh@db/x, query_timeout: -1s}\n", "store.query_timeout: cannot be negative"},
		{"no url", "store: {password: " + pw + "}\n", "the store mapping needs url"},
		{"unknown key", "store: {url: postgres://gh@db/x, max_connections: 3}\n", `unknown key "max_connections"`},
		{"pool settings on sqlite", "store: {url: sqlite://x.db, max_conns: 3}\n", "apply to a postgres store only"},
		{"password file missing", "store: {url: postgres://gh@db/x, password_file: missing.pass}\n", "store.password_file: cannot read the file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(minimal+tt.yaml), t.TempDir(), noEnv)
			if err == nil {
				t.Fatal("want problems, got none")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("problems lack %q:\n%v", tt.want, err)
			}
			if strings.Contains(err.Error(), pw) {
				t.Errorf("a problem shows the password:\n%v", err)
			}
		})
	}
}

// TestStoreStringNeverShowsAPassword checks every way a Store is shown (String, %v,
// JSON, slog) with a password in the URL's user part or in a query parameter.
func TestStoreStringNeverShowsAPassword(t *testing.T) {
	const pw = "Pa55w0rdInTheUrl"
	for _, tc := range []struct{ dsn, want string }{
		{"postgres://gh:" + pw + "@db/x?sslmode=require", "postgres://gh:xxxxx@db/x?sslmode=require"},
		{"postgres://db/x?user=gh&password=" + pw + "&sslmode=require", "postgres://db/x?password=xxxxx&sslmode=require&user=gh"},
		{"postgres://db/x?sslpassword=" + pw + "&sslkey=/k", "postgres://db/x?sslkey=%2Fk&sslpassword=xxxxx"},
		{"postgres://db/x?PASSWORD=" + pw, "postgres://db/x?PASSWORD=xxxxx"},
	} {
		s := Store{Driver: StorePostgres, DSN: tc.dsn}
		if got := s.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
		j, _ := json.Marshal(s)
		var logged strings.Builder
		slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "store", s)
		for _, out := range []string{s.String(), fmt.Sprintf("%v %+v %s", s, s, s), string(j), logged.String()} {
			if strings.Contains(out, pw) {
				t.Errorf("%q shows the password", out)
			}
		}
	}
}
