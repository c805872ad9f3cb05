package postgres_test

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/postgres"
	"github.com/gatehouse-dev/gatehouse/internal/store/postgres/pgtest"
	"github.com/jackc/pgx/v5"
)

// password is put in every DSN below; no message may contain it.
const password = "pw-Zq8v-never-shown"

// withUserPassword returns dsn with its user replaced and the password set.
func withUserPassword(t *testing.T, dsn, user string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	if user == "" {
		user = u.User.Username()
	}
	u.User = url.UserPassword(user, password)
	return u.String()
}

// newRole creates a login role (without a password: the test server trusts loopback)
// with the given options, dropped when the test ends.
func newRole(t *testing.T, opts string) string {
	t.Helper()
	admin := pgtest.Admin(t)
	name := "gatehouse_role_" + strings.ReplaceAll(strings.ToLower(t.Name()), "/", "_")
	if len(name) > 60 {
		name = name[:60]
	}
	id := pgx.Identifier{name}.Sanitize()
	admin.Exec(testCtx(t), "DROP ROLE IF EXISTS "+id)
	if _, err := admin.Exec(testCtx(t), "CREATE ROLE "+id+" "+opts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Exec(context.Background(), "DROP ROLE IF EXISTS "+id) })
	return name
}

// silentServer accepts TCP connections on loopback and never answers, like a server
// behind a firewall that drops packets.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var conns []net.Conn
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// TestEachConnectionFailureIsOneClearSentenceWithoutThePassword covers the failures an
// operator meets when pointing gatehouse at PostgreSQL: each is one sentence that says
// what to fix, is store.ErrUnavailable, and never shows the password.
func TestEachConnectionFailureIsOneClearSentenceWithoutThePassword(t *testing.T) {
	admin := pgtest.AdminDSN()
	pgtest.Admin(t)
	fresh := pgtest.NewDatabase(t)
	tests := []struct {
		name string
		cfg  func(t *testing.T) postgres.Config
		want string
	}{
		{"port is not a number", func(t *testing.T) postgres.Config {
			return postgres.Config{DSN: "postgres://gh:" + password + "@127.0.0.1:fivefour/gatehouse"}
		}, "the store URL is not valid"},
		{"unknown sslmode", func(t *testing.T) postgres.Config {
			return postgres.Config{DSN: "postgres://gh:" + password + "@127.0.0.1/gatehouse?sslmode=sometimes"}
		}, "the store URL is not valid: failed to configure TLS (sslmode is invalid)"},
		{"malformed URL", func(t *testing.T) postgres.Config {
			return postgres.Config{DSN: "postgres://gh:" + password + "%zz@127.0.0.1/gatehouse"}
		}, "not a well-formed URL"},
		{"no database", func(t *testing.T) postgres.Config {
			return postgres.Config{DSN: "postgres://gh:" + password + "@127.0.0.1"}
		}, "names no database"},
		{"password twice", func(t *testing.T) postgres.Config {
			return postgres.Config{DSN: "postgres://gh:" + password + "@127.0.0.1/db", Password: password}
		}, "the password is given twice"},
		{"missing database", func(t *testing.T) postgres.Config {
			return postgres.Config{DSN: withUserPassword(t, pgtest.WithDatabase(admin, "gatehouse_does_not_exist"), "")}
		}, `database "gatehouse_does_not_exist" on 127.0.0.1:5432 does not exist: create it`},
		{"role may not log in", func(t *testing.T) postgres.Config {
			return postgres.Config{DSN: withUserPassword(t, fresh, newRole(t, "NOLOGIN"))}
		}, "refused the login of role"},
		{"role without rights", func(t *testing.T) postgres.Config {
			return postgres.Config{DSN: withUserPassword(t, fresh, newRole(t, "LOGIN"))}
		}, "lacks the rights gatehouse needs"},
		{"server certificate not trusted", func(t *testing.T) postgres.Config {
			return postgres.Config{DSN: withSSLMode(t, withUserPassword(t, fresh, ""), "verify-full")}
		}, "the TLS handshake with the server of"},
		{"no server at the socket", func(t *testing.T) postgres.Config {
			return postgres.Config{DSN: "postgres://gh:" + password + "@/gatehouse?host=/nonexistent-gatehouse-socket-dir"}
		}, "cannot reach the server of database \"gatehouse\" on socket /nonexistent-gatehouse-socket-dir"},
		{"server does not answer", func(t *testing.T) postgres.Config {
			return postgres.Config{DSN: "postgres://gh:" + password + "@" + silentServer(t) + "/gatehouse?sslmode=disable", ConnectTimeout: 300 * time.Millisecond}
		}, "did not answer within 300ms"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := postgres.Open(testCtx(t), tc.cfg(t))
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			msg := err.Error()
			t.Log(msg)
			if !strings.Contains(msg, tc.want) {
				t.Errorf("Open = %q, want it to contain %q", msg, tc.want)
			}
			if strings.Contains(msg, password) {
				t.Errorf("the message shows the password: %q", msg)
			}
			if strings.Count(msg, "\n") > 0 {
				t.Errorf("the message is not one line: %q", msg)
			}
			if !errors.Is(err, store.ErrUnavailable) {
				t.Errorf("Open = %v, want ErrUnavailable", err)
			}
		})
	}
}

func withSSLMode(t *testing.T, dsn, mode string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("sslmode", mode)
	u.RawQuery = q.Encode()
	return u.String()
}

// TestSSLModeIsHonoured connects with sslmode=require and checks the session is
// encrypted (the test server has TLS on; verify-full with its untrusted certificate is
// refused above).
func TestSSLModeIsHonoured(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	for mode, want := range map[string]bool{"require": true, "disable": false} {
		s := openDSN(t, postgres.Config{DSN: withSSLMode(t, dsn, mode)})
		var ssl bool
		if err := s.Pool().QueryRow(testCtx(t), "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&ssl); err != nil {
			t.Fatal(err)
		}
		if ssl != want {
			t.Errorf("sslmode=%s: the session's ssl = %v, want %v", mode, ssl, want)
		}
	}
}

// TestParseConfigAppliesPoolSettings checks the settings reach the pool and the server.
func TestParseConfigAppliesPoolSettings(t *testing.T) {
	pc, err := postgres.ParseConfig(postgres.Config{
		DSN:      "postgres://gh@db.internal/gatehouse?sslmode=verify-full",
		Password: password, MaxConns: 7, MinConns: 2, ConnectTimeout: 3 * time.Second, QueryTimeout: 1500 * time.Millisecond,
		MaxConnLifetime: time.Minute, MaxConnIdleTime: 20 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	cc := pc.ConnConfig
	if pc.MaxConns != 7 || pc.MinConns != 2 || pc.MaxConnLifetime != time.Minute || pc.MaxConnIdleTime != 20*time.Second {
		t.Errorf("pool = max %d min %d life %s idle %s", pc.MaxConns, pc.MinConns, pc.MaxConnLifetime, pc.MaxConnIdleTime)
	}
	if cc.ConnectTimeout != 3*time.Second || cc.RuntimeParams["statement_timeout"] != "1500" || cc.Password != password {
		t.Errorf("conn = timeout %s statement_timeout %q password set %v", cc.ConnectTimeout, cc.RuntimeParams["statement_timeout"], cc.Password == password)
	}
	if cc.TLSConfig == nil || cc.TLSConfig.ServerName != "db.internal" {
		t.Errorf("sslmode=verify-full did not give a TLS config checking db.internal")
	}
	d, err := postgres.ParseConfig(postgres.Config{DSN: "postgres://gh@db/gatehouse"})
	if err != nil {
		t.Fatal(err)
	}
	if d.MaxConns != postgres.DefaultMaxConns || d.ConnConfig.ConnectTimeout != postgres.DefaultConnectTimeout {
		t.Errorf("defaults: max %d, connect timeout %s", d.MaxConns, d.ConnConfig.ConnectTimeout)
	}
	if _, err := postgres.ParseConfig(postgres.Config{DSN: "postgres://gh@db/gatehouse", MinConns: 20, MaxConns: 5}); err == nil {
		t.Error("min_conns over max_conns was accepted")
	}
}
