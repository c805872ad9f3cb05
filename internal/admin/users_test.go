package admin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/admin"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/google/go-cmp/cmp"
)

// goodEntries are the entries of the secret package's good htpasswd file.
func goodEntries(t *testing.T) []admin.ImportedUser {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "secret", "testdata", "good.htpasswd"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	es, err := secret.ParseHtpasswd(f)
	if err != nil {
		t.Fatal(err)
	}
	var out []admin.ImportedUser
	for _, e := range es {
		out = append(out, admin.ImportedUser{Name: e.User, Hash: e.Hash, Line: e.Line})
	}
	return out
}

func jsonBody(t *testing.T, v any) *strings.Reader {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return strings.NewReader(string(b))
}

func userNames(t *testing.T, st store.Store) []string {
	t.Helper()
	us, err := st.ListUsers(context.Background(), "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, u := range us {
		out = append(out, u.Name)
	}
	return out
}

func TestUsersListAndImportNeedAnAdminToken(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		method, path, body string
	}{
		{"GET", "/admin/v1/users", ""},
		{"GET", "/admin/v1/users?limit=1", ""},
		{"POST", "/admin/v1/users/import", `{"users":[{"name":"mallory","hash":"x","line":1}]}`},
	} {
		for _, tok := range []string{"", "gha_" + strings.Repeat("1", 16) + "_" + strings.Repeat("0", 64)} {
			resp, b := f.call(t, tc.method, tc.path, tok, strings.NewReader(tc.body))
			if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), `Bearer realm="gatehouse-admin"`) {
				t.Errorf("%s %s with token %q: %d %s %q, want a 401 Bearer challenge", tc.method, tc.path, tok, resp.StatusCode, b, resp.Header.Get("WWW-Authenticate"))
			}
			decodeProblem(t, resp, b)
		}
	}
	if names := userNames(t, f.st); len(names) != 0 {
		t.Errorf("users after refused calls: %v", names)
	}
}

func TestImportUsersOverTheAPIIsAllOrNothingAndAuditedWithoutHashes(t *testing.T) {
	f := newFixture(t)
	good := goodEntries(t)
	var bcryptHash string
	for _, e := range good {
		if strings.HasPrefix(e.Hash, "$2") {
			bcryptHash = e.Hash
		}
	}
	withBad := func(bad admin.ImportedUser) []admin.ImportedUser {
		return append(append([]admin.ImportedUser{}, good...), bad)
	}
	for _, tc := range []struct {
		name   string
		body   any
		status int
		detail string
	}{
		{"md5 apr1 hash", admin.ImportUsersRequest{Users: withBad(admin.ImportedUser{Name: "eve", Hash: "$apr1$abcdefgh$0123456789abcdefghijkl", Line: 40})}, 400, `line 40: user "eve": unsupported password hash`},
		{"sha1 hash", admin.ImportUsersRequest{Users: withBad(admin.ImportedUser{Name: "eve", Hash: "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", Line: 41})}, 400, "line 41"},
		{"plain text", admin.ImportUsersRequest{Users: withBad(admin.ImportedUser{Name: "eve", Hash: "hunter2", Line: 42})}, 400, "line 42"},
		{"bad bcrypt", admin.ImportUsersRequest{Users: withBad(admin.ImportedUser{Name: "eve", Hash: "$2y$05$short", Line: 43})}, 400, "line 43"},
		{"bad name", admin.ImportUsersRequest{Users: withBad(admin.ImportedUser{Name: "a:b", Hash: bcryptHash, Line: 44})}, 400, "line 44"},
		{"twice", admin.ImportUsersRequest{Users: withBad(admin.ImportedUser{Name: good[0].Name, Hash: bcryptHash, Line: 45})}, 400, "line 45: user \"alice\" appears again"},
		{"bad scopes", admin.ImportUsersRequest{Users: good, Scopes: []string{"a b"}}, 400, "--scopes"},
		{"no users", admin.ImportUsersRequest{}, 400, "no users to import"},
		{"unknown member", map[string]any{"users": good, "password": "x"}, 400, `unknown member(s) "password"`},
		{"too big", map[string]any{"users": []admin.ImportedUser{{Name: strings.Repeat("a", admin.MaxImportBodyBytes), Hash: bcryptHash, Line: 1}}}, 413, fmt.Sprintf("over %d bytes", admin.MaxImportBodyBytes)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := f.call(t, "POST", "/admin/v1/users/import", f.token, jsonBody(t, tc.body))
			p := decodeProblem(t, resp, b)
			if resp.StatusCode != tc.status || !strings.Contains(p.Detail, tc.detail) {
				t.Errorf("%d %q, want %d containing %q", resp.StatusCode, p.Detail, tc.status, tc.detail)
			}
			if strings.Contains(string(b), "$2") || strings.Contains(string(b), "$apr1") || strings.Contains(string(b), "hunter2") {
				t.Errorf("the answer echoes a hash: %s", b)
			}
			if names := userNames(t, f.st); len(names) != 0 {
				t.Errorf("a refused import stored %v", names)
			}
		})
	}

	// More entries than fit in the other endpoints' body bound import in one call.
	many := append([]admin.ImportedUser{}, good...)
	for i := 0; len(many) < 1500; i++ {
		many = append(many, admin.ImportedUser{Name: fmt.Sprintf("user%04d", i), Hash: bcryptHash, Line: 100 + i})
	}
	body := jsonBody(t, admin.ImportUsersRequest{Users: many, Scopes: []string{"orders:read"}})
	if body.Len() <= admin.MaxBodyBytes {
		t.Fatalf("the big import is only %d bytes", body.Len())
	}
	resp, b := f.call(t, "POST", "/admin/v1/users/import", f.token, body)
	var res admin.ImportResult
	if resp.StatusCode != 200 || json.Unmarshal(b, &res) != nil || len(res.Added) != len(many) || len(res.Updated) != 0 {
		t.Fatalf("import of %d users: %d %.300s", len(many), resp.StatusCode, b)
	}
	// Again: every user is updated.
	resp, b = f.call(t, "POST", "/admin/v1/users/import", f.token, jsonBody(t, admin.ImportUsersRequest{Users: good}))
	res = admin.ImportResult{}
	if resp.StatusCode != 200 || json.Unmarshal(b, &res) != nil || len(res.Added) != 0 || len(res.Updated) != len(good) {
		t.Fatalf("second import: %d %s", resp.StatusCode, b)
	}
	u, err := f.st.User(context.Background(), good[0].Name)
	if err != nil || u.PasswordHash != good[0].Hash || !cmp.Equal(u.Scopes, []string{"orders:read"}) {
		t.Errorf("after import: %+v %v (without scopes, an existing user keeps its own)", u, err)
	}

	es, err := f.st.ListAudit(context.Background(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var imports []store.AuditEntry
	for _, e := range es {
		if e.Action == "users.import" {
			imports = append(imports, e)
		}
		for _, u := range many {
			if strings.Contains(e.Target, u.Hash) || strings.Contains(e.Target, "$2") || strings.Contains(e.Target, "$argon2") {
				t.Fatalf("audit entry %+v holds a hash", e)
			}
		}
	}
	// Refusals past the body decoding are recorded too (invalid); the two imports are ok.
	var results []string
	for _, e := range imports {
		results = append(results, e.Result)
	}
	if len(imports) < 2 || imports[len(imports)-1].Result != "ok" || imports[len(imports)-2].Result != "ok" {
		t.Fatalf("users.import entries: %v", results)
	}
	last := imports[len(imports)-1]
	wantTarget := fmt.Sprintf("%d users (0 added, %d updated): ", len(good), len(good))
	var names []string
	for _, e := range good {
		names = append(names, e.Name)
	}
	if last.Target != wantTarget+strings.Join(names, " ") || last.Actor == "" || last.Remote == "local" {
		t.Errorf("audit entry %+v, want target %q", last, wantTarget+strings.Join(names, " "))
	}
	if big := imports[len(imports)-2]; !strings.HasPrefix(big.Target, fmt.Sprintf("%d users (%d added, 0 updated): alice ", len(many), len(many))) || len(big.Target) > store.MaxAuditField {
		t.Errorf("big import's audit target %q (%d bytes)", big.Target, len(big.Target))
	}
	if results[0] != "invalid" {
		t.Errorf("a refused import is audited as %q, want invalid", results[0])
	}
}

func TestListUsersOverTheAPIPagesWithoutHashes(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	good := goodEntries(t)
	if _, err := f.svc.As(admin.Caller{Actor: "cli:test", Remote: "local"}).ImportUsers(ctx, admin.ImportUsersRequest{Users: good, Scopes: []string{"a", "b"}}); err != nil {
		t.Fatal(err)
	}
	var got []admin.ListedUser
	pages := 0
	for after := ""; ; pages++ {
		resp, b := f.call(t, "GET", "/admin/v1/users?limit=2&after="+after, f.token, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
		if strings.Contains(string(b), "$2") || strings.Contains(string(b), "$argon2id$") {
			t.Fatalf("the listing holds a hash: %s", b)
		}
		var page []admin.ListedUser
		if err := json.Unmarshal(b, &page); err != nil {
			t.Fatal(err)
		}
		if len(page) > 2 {
			t.Fatalf("limit=2 answered %d users", len(page))
		}
		if len(page) == 0 {
			break
		}
		got = append(got, page...)
		after = page[len(page)-1].Name
	}
	if pages < 2 || len(got) != len(good) {
		t.Fatalf("%d users in %d pages, want %d", len(got), pages, len(good))
	}
	// Over the API and locally, the same listing.
	local, err := f.svc.As(admin.Caller{Actor: "cli:test"}).ListUsers(ctx, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(local, got, cmp.Comparer(func(a, b admin.Time) bool { return a.T().Unix() == b.T().Unix() })); diff != "" {
		t.Errorf("remote listing differs (-local +remote):\n%s", diff)
	}
	algs := map[string]string{}
	for _, u := range got {
		algs[u.Name] = u.Hash
		if !cmp.Equal(u.Scopes, []string{"a", "b"}) || u.CreatedAt.T().IsZero() {
			t.Errorf("listed %+v", u)
		}
	}
	if algs["alice"] != "bcrypt" || algs["dave"] != "argon2id" {
		t.Errorf("hash algorithms %v", algs)
	}
	for _, q := range []string{"limit=0", "limit=1001", "limit=x"} {
		resp, b := f.call(t, "GET", "/admin/v1/users?"+q, f.token, nil)
		if p := decodeProblem(t, resp, b); resp.StatusCode != 400 || !strings.Contains(p.Detail, "limit") {
			t.Errorf("?%s: %d %q", q, resp.StatusCode, p.Detail)
		}
	}
}
