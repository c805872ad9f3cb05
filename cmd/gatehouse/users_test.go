package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/verify/basic"
	"github.com/google/go-cmp/cmp"
)

func basicCred(user, pass string) decision.Credential {
	return decision.Credential{Source: decision.FromAuthorization, Scheme: "basic", Value: base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))}
}

func TestUsersAddReadsTheFirstLineOfStdin(t *testing.T) {
	tests := []struct {
		name, stdin, password string
	}{
		{"LF", "s3cret pass\nignored second line\n", "s3cret pass"},
		{"CRLF", "s3cret pass\r\n", "s3cret pass"},
		{"NoNewline", "s3cret pass", "s3cret pass"},
		{"UTF8", "пароль🔑\n", "пароль🔑"},
		{"KeepsInnerSpacesAndColons", " a:b c \n", " a:b c "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, cfg := storeTestDir(t, false)
			code, out, errs := runStoreCLI(t, tc.stdin, "users", "add", "--config", cfg, "--scopes", "admin,read", "alice")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			if strings.Contains(out+errs, tc.password) {
				t.Error("the password was printed")
			}
			u, err := openTestStore(t, dir).User(context.Background(), "alice")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(u.PasswordHash, "$argon2id$") {
				t.Errorf("stored hash %q is not argon2id", secret.HashKind(u.PasswordHash))
			}
			if ok, err := secret.VerifyPassword(u.PasswordHash, tc.password); !ok || err != nil {
				t.Errorf("stored hash does not verify %q: %v %v", tc.password, ok, err)
			}
			if diff := cmp.Diff([]string{"admin", "read"}, u.Scopes); diff != "" {
				t.Errorf("scopes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUsersAddRefusesBadPasswordsWithoutStoringAnything(t *testing.T) {
	tests := []struct {
		name, stdin, want string
	}{
		{"Empty", "", "no password"},
		{"EmptyLine", "\nsecond\n", "no password"},
		{"Megabyte", strings.Repeat("x", 1<<20) + "\n", "longer than 4096 bytes"},
		{"NotUTF8", "caf\xe9\n", "not valid UTF-8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, cfg := storeTestDir(t, false)
			start := time.Now()
			code, _, errs := runStoreCLI(t, tc.stdin, "users", "add", "--config", cfg, "bob")
			if code != 1 || !strings.Contains(errs, tc.want) {
				t.Errorf("exit %d %q; want 1 and %q", code, errs, tc.want)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("refusing took %v", d)
			}
			if _, err := os.Stat(filepath.Join(dir, "creds.db")); err == nil {
				if _, err := openTestStore(t, dir).User(context.Background(), "bob"); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("a refused add stored the user: %v", err)
				}
			}
		})
	}
}

func TestUsersRefusesNamesBasicCannotCarry(t *testing.T) {
	_, cfg := storeTestDir(t, false)
	for _, name := range []string{"a:b", "caf\xe9", "tab\there", ""} {
		code, _, errs := runStoreCLI(t, "pw\n", "users", "add", "--config", cfg, name)
		if code != 2 {
			t.Errorf("users add %q: exit %d %q; want 2", name, code, errs)
		}
	}
}

func TestUsersPasswordIsNeverAnArgument(t *testing.T) {
	_, cfg := storeTestDir(t, false)
	code, _, errs := runStoreCLI(t, "", "users", "add", "--config", cfg, "--password", "hunter2", "alice")
	if code != 2 || strings.Contains(errs, "hunter2") {
		t.Errorf("--password: exit %d %q; want a usage error that does not echo it", code, errs)
	}
	code, _, _ = runStoreCLI(t, "", "users", "add", "--config", cfg, "alice", "hunter2")
	if code != 2 {
		t.Errorf("a password as a second argument: exit %d, want 2", code)
	}
}

// TestUsersLifecycleAgainstTheBasicVerifier: users managed by the CLI are what the Basic
// authenticator accepts, and a password change or removal takes effect.
func TestUsersLifecycleAgainstTheBasicVerifier(t *testing.T) {
	dir, cfg := storeTestDir(t, false)
	if code, _, errs := runStoreCLI(t, "first\n", "users", "add", "--config", cfg, "--scopes", "admin", "--json", "alice"); code != 0 {
		t.Fatalf("add: %s", errs)
	}
	st := openTestStore(t, dir)
	a, err := basic.New(basic.Config{Name: "staff", Store: st, CacheTTL: -1})
	if err != nil {
		t.Fatal(err)
	}
	verify := func(pw string) error {
		_, err := a.Authenticate(context.Background(), basicCred("alice", pw))
		return err
	}
	if err := verify("first"); err != nil {
		t.Fatalf("after add: %v", err)
	}
	code, out, errs := runStoreCLI(t, "second\n", "users", "passwd", "--config", cfg, "alice", "--json")
	if code != 0 {
		t.Fatalf("passwd: %s", errs)
	}
	if diff := cmp.Diff(map[string]any{"name": "alice"}, decodeObj(t, out)); diff != "" {
		t.Errorf("passwd --json (-want +got):\n%s", diff)
	}
	if err := verify("first"); err == nil {
		t.Error("the old password still works")
	}
	if err := verify("second"); err != nil {
		t.Errorf("the new password: %v", err)
	}
	code, out, _ = runStoreCLI(t, "", "users", "remove", "--config", cfg, "--json", "alice")
	if code != 0 || !cmp.Equal(map[string]any{"name": "alice", "removed": true}, decodeObj(t, out)) {
		t.Errorf("remove: exit %d %s", code, out)
	}
	var f *decision.Failure
	if err := verify("second"); !errors.As(err, &f) || f.Cause != "user_unknown" {
		t.Errorf("after remove: %v", err)
	}
}

func decodeObj(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("not JSON: %q", s)
	}
	return m
}

func TestUsersErrorsOnExistingAndMissingUsers(t *testing.T) {
	_, cfg := storeTestDir(t, false)
	runStoreCLI(t, "pw\n", "users", "add", "--config", cfg, "alice")
	tests := []struct {
		name  string
		stdin string
		args  []string
		want  string
	}{
		{"AddExisting", "pw\n", []string{"users", "add", "--config", cfg, "alice"}, "already exists"},
		{"PasswdMissing", "pw\n", []string{"users", "passwd", "--config", cfg, "bob"}, `no user "bob"`},
		{"RemoveMissing", "", []string{"users", "remove", "--config", cfg, "bob"}, `no user "bob"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := runStoreCLI(t, tc.stdin, tc.args...)
			if code != 1 || !strings.Contains(errs, tc.want) {
				t.Errorf("exit %d %q; want 1 and %q", code, errs, tc.want)
			}
		})
	}
}

func TestUsersImport(t *testing.T) {
	dir, cfg := storeTestDir(t, false)
	runStoreCLI(t, "old\n", "users", "add", "--config", cfg, "--scopes", "keep", "alice")
	good := filepath.Join("..", "..", "internal", "secret", "testdata", "good.htpasswd")
	code, out, errs := runStoreCLI(t, "", "users", "import", "--config", cfg, "--json", good)
	if code != 0 {
		t.Fatalf("import: exit %d %s", code, errs)
	}
	want := map[string]any{"added": []any{"bob", "carol", "dave", "Zoë"}, "updated": []any{"alice"}}
	if diff := cmp.Diff(want, decodeObj(t, out)); diff != "" {
		t.Errorf("import --json (-want +got):\n%s", diff)
	}
	st := openTestStore(t, dir)
	a, _ := basic.New(basic.Config{Name: "staff", Store: st, CacheTTL: -1})
	for _, user := range []string{"alice", "bob", "carol", "dave", "Zoë"} {
		if _, err := a.Authenticate(context.Background(), basicCred(user, "password")); err != nil {
			t.Errorf("imported %s does not authenticate: %v", user, err)
		}
	}
	u, _ := st.User(context.Background(), "alice")
	if diff := cmp.Diff([]string{"keep"}, u.Scopes); diff != "" {
		t.Errorf("import without --scopes changed alice's scopes (-want +got):\n%s", diff)
	}
}

func TestUsersImportRefusesWeakFormatsAndImportsNothing(t *testing.T) {
	dir, cfg := storeTestDir(t, false)
	weak := filepath.Join("..", "..", "internal", "secret", "testdata", "weak.htpasswd")
	code, out, errs := runStoreCLI(t, "", "users", "import", "--config", cfg, weak)
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if out != "" {
		t.Errorf("stdout %q", out)
	}
	errs = strings.ReplaceAll(errs, weak, "weak.htpasswd")
	golden := filepath.Join("testdata", "users_import_weak.golden")
	if storeGoldenUpdate() {
		os.WriteFile(golden, []byte(errs), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), errs); diff != "" {
		t.Errorf("stderr (-golden +got):\n%s", diff)
	}
	if _, err := os.Stat(filepath.Join(dir, "creds.db")); err == nil {
		if _, err := openTestStore(t, dir).User(context.Background(), "alice"); !errors.Is(err, store.ErrNotFound) {
			t.Error("a refused import stored the one good line")
		}
	}
}

func TestUsersBadUsageExitsTwo(t *testing.T) {
	_, cfg := storeTestDir(t, false)
	for _, args := range [][]string{
		{"users"},
		{"users", "rename", "a"},
		{"users", "add", "--config", cfg},
		{"users", "import", "--config", cfg},
		{"users", "add", "--config", cfg, "--scopes", "a b", "x"},
	} {
		if code, _, _ := runStoreCLI(t, "pw\n", args...); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
}

func TestReadPasswordLineStopsAtTheLimit(t *testing.T) {
	// A stream that never ends: the reader must give up after the limit.
	r := &endless{}
	_, err := readPasswordLine(r)
	if err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Errorf("readPasswordLine(endless) = %v", err)
	}
	if r.n > 2*secret.MaxPasswordBytes+8192 {
		t.Errorf("read %d bytes of an endless stream", r.n)
	}
}

type endless struct{ n int }

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	e.n += len(p)
	return len(p), nil
}
