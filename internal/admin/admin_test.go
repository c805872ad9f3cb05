package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/admin"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	_ "github.com/gatehouse-dev/gatehouse/internal/store/sqlite"
	"github.com/google/go-cmp/cmp"
)

type fixture struct {
	st    store.Store
	svc   *admin.Service
	srv   *httptest.Server
	token string
	now   time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "gh.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{st: st, now: time.Now()}
	f.svc = &admin.Service{Store: st, Config: &config.Config{Environment: "test"}, Now: func() time.Time { return f.now }}
	tok, err := f.svc.As(admin.Caller{Actor: "cli:test", Remote: "local"}).CreateAdminToken(ctx, admin.CreateAdminTokenRequest{Name: "ops"})
	if err != nil {
		t.Fatal(err)
	}
	f.token = tok.Token
	decisions := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "decision "+r.URL.Path) })
	f.srv = httptest.NewServer(admin.Handler(admin.HandlerOptions{Service: func() *admin.Service { return f.svc }, Decisions: decisions}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) call(t *testing.T, method, path, token string, body io.Reader) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

type problem struct {
	Type, Title, Detail, Reason, RequestID string
	Status                                 int
}

func decodeProblem(t *testing.T, resp *http.Response, b []byte) problem {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json; body %s", ct, b)
	}
	var p problem
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	if p.Status != resp.StatusCode {
		t.Errorf("problem status %d, response %d", p.Status, resp.StatusCode)
	}
	return p
}

func keyCount(t *testing.T, st store.Store) int {
	ks, err := st.ListKeys(context.Background(), "", 100)
	if err != nil {
		t.Fatal(err)
	}
	return len(ks)
}

func TestAdminCallsWithoutAValidTokenGet401WithBearerChallenge(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sess := f.svc.As(admin.Caller{Actor: "cli:test"})
	revoked, _ := sess.CreateAdminToken(ctx, admin.CreateAdminTokenRequest{Name: "old"})
	if _, err := sess.RevokeAdminToken(ctx, revoked.ID); err != nil {
		t.Fatal(err)
	}
	expired, _ := sess.CreateAdminToken(ctx, admin.CreateAdminTokenRequest{Name: "short", Expires: "1m"})
	f.now = f.now.Add(2 * time.Minute)
	id := strings.Split(f.token, "_")[1]
	wrongSecret := "gha_" + id + "_" + strings.Repeat("0", 64)
	unknownID := "gha_" + strings.Repeat("1", 16) + "_" + strings.Split(f.token, "_")[2]
	for _, tc := range []struct {
		name, auth, reason string
	}{
		{"missing", "", "credentials_missing"},
		{"basic scheme", "Basic b3BzOnB3", "credentials_missing"},
		{"malformed", "Bearer nonsense", "credentials_invalid"},
		{"unknown id", "Bearer " + unknownID, "credentials_invalid"},
		{"wrong secret", "Bearer " + wrongSecret, "credentials_invalid"},
		{"revoked", "Bearer " + revoked.Token, "credentials_invalid"},
		{"expired", "Bearer " + expired.Token, "credentials_invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{"/admin/v1/keys", "/admin/decisions/abc", "/admin/v1/openapi.json", "/admin/v1/nothing"} {
				req, _ := http.NewRequest("GET", f.srv.URL+path, nil)
				if tc.auth != "" {
					req.Header.Set("Authorization", tc.auth)
				}
				resp, err := f.srv.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 401 {
					t.Fatalf("%s: status %d, want 401: %s", path, resp.StatusCode, b)
				}
				if got := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, `Bearer realm="gatehouse-admin"`) {
					t.Errorf("WWW-Authenticate %q", got)
				}
				p := decodeProblem(t, resp, b)
				if p.Reason != tc.reason {
					t.Errorf("reason %q, want %q", p.Reason, tc.reason)
				}
				if strings.Contains(string(b), id) || strings.Contains(string(b), "gha_") {
					t.Errorf("the refusal echoes the token or its id: %s", b)
				}
			}
		})
	}
}

func TestUnknownTokenIDAndWrongSecretAreIndistinguishable(t *testing.T) {
	f := newFixture(t)
	parts := strings.Split(f.token, "_")
	strip := func(b []byte) string {
		var m map[string]any
		json.Unmarshal(b, &m)
		delete(m, "request_id")
		out, _ := json.Marshal(m)
		return string(out)
	}
	r1, b1 := f.call(t, "GET", "/admin/v1/keys", "gha_"+parts[1]+"_"+strings.Repeat("a", 64), nil)
	r2, b2 := f.call(t, "GET", "/admin/v1/keys", "gha_"+strings.Repeat("f", 16)+"_"+parts[2], nil)
	if r1.StatusCode != r2.StatusCode || strip(b1) != strip(b2) || r1.Header.Get("WWW-Authenticate") != r2.Header.Get("WWW-Authenticate") {
		t.Errorf("a known id with a wrong secret answers differently from an unknown id:\n%s\n%s", b1, b2)
	}
}

func TestAdminTokenInTheQueryStringIsRefused(t *testing.T) {
	f := newFixture(t)
	for _, q := range []string{"?access_token=" + f.token, "?x=" + f.token, "?Token=abc", "?a=%67ha_x"} {
		resp, b := f.call(t, "POST", "/admin/v1/keys"+q, f.token, strings.NewReader(`{"name":"svc"}`))
		if resp.StatusCode != 400 {
			t.Fatalf("%s: status %d, want 400: %s", q, resp.StatusCode, b)
		}
		p := decodeProblem(t, resp, b)
		if !strings.Contains(p.Detail, "query string") || strings.Contains(string(b), f.token) {
			t.Errorf("%s: problem %+v", q, p)
		}
	}
	if n := keyCount(t, f.st); n != 0 {
		t.Errorf("%d keys created by refused calls", n)
	}
}

func TestBadBodiesGetClearProblemsAndChangeNothing(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name, body string
		status     int
		detail     string
	}{
		{"huge", `{"name":"` + strings.Repeat("a", admin.MaxBodyBytes) + `"}`, 413, "over 65536 bytes"},
		{"unknown members", `{"name":"svc","scope":"a","color":1}`, 400, `unknown member(s) "color", "scope"`},
		{"not an object", `[1]`, 400, "not a JSON object"},
		{"duplicate members", `{"name":"svc","scopes":["a"],"name":"root","scopes":[]}`, 400, `duplicate member(s) "name", "scopes"`},
		{"case-folded member", `{"name":"svc","NAME":"root"}`, 400, `unknown member(s) "NAME"`},
		{"wrong type", `{"name":"svc","scopes":"a,b"}`, 400, "does not fit"},
		{"no name", `{}`, 400, "--name is required"},
		{"bad scope", `{"name":"svc","scopes":["a b"]}`, 400, "--scopes"},
		{"past expiry", `{"name":"svc","expires":"2001-01-01T00:00:00Z"}`, 400, "in the past"},
		{"bad env", `{"name":"svc","env":"A B"}`, 400, "--env"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := f.call(t, "POST", "/admin/v1/keys", f.token, strings.NewReader(tc.body))
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %.300s", resp.StatusCode, tc.status, b)
			}
			if p := decodeProblem(t, resp, b); !strings.Contains(p.Detail, tc.detail) {
				t.Errorf("detail %q, want it to contain %q", p.Detail, tc.detail)
			}
		})
	}
	if n := keyCount(t, f.st); n != 0 {
		t.Errorf("%d keys created by refused calls", n)
	}
}

func TestStoreDownIs503(t *testing.T) {
	f := newFixture(t)
	f.st.Close()
	resp, b := f.call(t, "POST", "/admin/v1/keys", f.token, strings.NewReader(`{"name":"svc"}`))
	if resp.StatusCode != 503 {
		t.Fatalf("status %d, want 503: %s", resp.StatusCode, b)
	}
	if p := decodeProblem(t, resp, b); p.Reason != "authenticator_unavailable" {
		t.Errorf("problem %+v", p)
	}
}

func TestUnknownKeyIs404(t *testing.T) {
	f := newFixture(t)
	resp, b := f.call(t, "POST", "/admin/v1/keys/nokey/revoke", f.token, nil)
	if resp.StatusCode != 404 {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	if p := decodeProblem(t, resp, b); p.Detail != `no key with id "nokey"` {
		t.Errorf("detail %q", p.Detail)
	}
}

func TestKeyLifecycleOverHTTPIsAuditedWithoutSecrets(t *testing.T) {
	f := newFixture(t)
	resp, b := f.call(t, "POST", "/admin/v1/keys", f.token, strings.NewReader(`{"name":"svc","scopes":["orders:read"],"expires":"30d"}`))
	if resp.StatusCode != 201 {
		t.Fatalf("create: %d %s", resp.StatusCode, b)
	}
	var created admin.CreatedKey
	if err := json.Unmarshal(b, &created); err != nil || !strings.HasPrefix(created.Key, "gk_test_") {
		t.Fatalf("created %+v, %v", created, err)
	}
	resp, b = f.call(t, "POST", "/admin/v1/keys/"+created.ID+"/rotate", f.token, strings.NewReader(`{"grace":"0"}`))
	if resp.StatusCode != 201 {
		t.Fatalf("rotate: %d %s", resp.StatusCode, b)
	}
	var rotated admin.CreatedKey
	json.Unmarshal(b, &rotated)
	if rotated.Replaces == nil || rotated.Replaces.ID != created.ID || rotated.Replaces.StillValid {
		t.Errorf("rotated %+v", rotated)
	}
	resp, b = f.call(t, "POST", "/admin/v1/keys/"+rotated.ID+"/revoke", f.token, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("revoke: %d %s", resp.StatusCode, b)
	}
	resp, b = f.call(t, "GET", "/admin/v1/audit", f.token, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("audit: %d %s", resp.StatusCode, b)
	}
	for _, secret := range []string{created.Key, rotated.Key, f.token, strings.Split(f.token, "_")[2]} {
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("the audit log holds a secret: %s", b)
		}
	}
	var entries []admin.AuditEntry
	json.Unmarshal(b, &entries)
	var got []string
	for _, e := range entries {
		got = append(got, e.Action+" "+e.Target+" "+e.Result)
		if e.Action != "admin-tokens.create" && (!strings.HasPrefix(e.Actor, "admin-token:") || !strings.HasPrefix(e.Remote, "127.0.0.1:")) {
			t.Errorf("entry %+v: want the admin token as actor and the caller's address", e)
		}
	}
	tokID := strings.Split(f.token, "_")[1]
	want := []string{
		"admin-tokens.create " + tokID + " ok",
		"keys.create " + created.ID + " ok",
		"keys.rotate " + created.ID + " -> " + rotated.ID + " ok",
		"keys.revoke " + rotated.ID + " ok",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("audit (-want +got):\n%s", diff)
	}
}

func TestDecisionsLookupNeedsTheAdminToken(t *testing.T) {
	f := newFixture(t)
	resp, b := f.call(t, "GET", "/admin/decisions/abc", f.token, nil)
	if resp.StatusCode != 200 || string(b) != "decision /admin/decisions/abc" {
		t.Errorf("with the token: %d %s", resp.StatusCode, b)
	}
}

func TestClientAnswersAsTheLocalSession(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	local := f.svc.As(admin.Caller{Actor: "cli:test", Remote: "local"})
	remote, err := admin.NewClient(f.srv.URL, f.token)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b", "c"} {
		if _, err := remote.CreateKey(ctx, admin.CreateKeyRequest{Name: name, Scopes: []string{"x"}}); err != nil {
			t.Fatal(err)
		}
	}
	l, err := local.ListKeys(ctx, "", 2)
	if err != nil {
		t.Fatal(err)
	}
	r, err := remote.ListKeys(ctx, "", 2)
	if err != nil {
		t.Fatal(err)
	}
	lj, _ := json.Marshal(l)
	rj, _ := json.Marshal(r)
	if string(lj) != string(rj) {
		t.Errorf("remote list differs:\nlocal  %s\nremote %s", lj, rj)
	}
	_, lerr := local.RevokeKey(ctx, "nokey")
	_, rerr := remote.RevokeKey(ctx, "nokey")
	if lerr == nil || rerr == nil || lerr.Error() != rerr.Error() {
		t.Errorf("errors differ: local %v, remote %v", lerr, rerr)
	}
}
