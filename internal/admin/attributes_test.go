package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse/internal/admin"
)

// TestAttributesOverTheAPI: attributes given to POST /admin/v1/keys and /users are
// stored, answered and listed; bad ones are 400 and store nothing.
func TestAttributesOverTheAPI(t *testing.T) {
	f := newFixture(t)
	resp, b := f.call(t, "POST", "/admin/v1/keys", f.token, strings.NewReader(`{"name":"batch","attributes":{"team":"billing"}}`))
	if resp.StatusCode != http.StatusCreated || !strings.Contains(compact(b), `"attributes":{"team":"billing"}`) {
		t.Fatalf("create: %d %s", resp.StatusCode, b)
	}
	ks, err := f.st.ListKeys(context.Background(), "", 10)
	if err != nil || len(ks) != 1 {
		t.Fatalf("keys: %v %v", ks, err)
	}
	if diff := cmp.Diff(map[string]string{"team": "billing"}, ks[0].Attributes); diff != "" {
		t.Errorf("stored attributes (-want +got):\n%s", diff)
	}
	resp, b = f.call(t, "GET", "/admin/v1/keys", f.token, nil)
	if resp.StatusCode != 200 || !strings.Contains(compact(b), `"attributes":{"team":"billing"}`) {
		t.Errorf("list: %d %s", resp.StatusCode, b)
	}
	resp, b = f.call(t, "POST", "/admin/v1/users", f.token, strings.NewReader(`{"name":"alice","password":"correct horse","attributes":{"team":"ops"}}`))
	if resp.StatusCode != http.StatusCreated || !strings.Contains(compact(b), `"attributes":{"team":"ops"}`) {
		t.Fatalf("add user: %d %s", resp.StatusCode, b)
	}
	resp, b = f.call(t, "GET", "/admin/v1/users/alice", f.token, nil)
	if resp.StatusCode != 200 || !strings.Contains(compact(b), `"attributes":{"team":"ops"}`) {
		t.Errorf("get user: %d %s", resp.StatusCode, b)
	}
	for _, body := range []string{
		`{"name":"x","attributes":{"a.b":"c"}}`,
		`{"name":"x","attributes":{"team":"a\nb"}}`,
		`{"name":"x","attributes":{"team":1}}`,
	} {
		resp, b := f.call(t, "POST", "/admin/v1/keys", f.token, strings.NewReader(body))
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", body, resp.StatusCode, b)
		}
	}
	if n := keyCount(t, f.st); n != 1 {
		t.Errorf("%d keys after refused requests, want 1", n)
	}
}

func compact(b []byte) string {
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		return string(b)
	}
	return out.String()
}

// TestAttributesThroughTheClient is the remote CLI's path: the Client sends and reads
// attributes like the local service.
func TestAttributesThroughTheClient(t *testing.T) {
	f := newFixture(t)
	c, err := admin.NewClient(f.srv.URL, f.token)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	k, err := c.CreateKey(ctx, admin.CreateKeyRequest{Name: "batch", Attributes: map[string]string{"team": "billing"}})
	if err != nil || k.Attributes["team"] != "billing" {
		t.Fatalf("CreateKey = %+v, %v", k, err)
	}
	ks, err := c.ListKeys(ctx, "", 10)
	if err != nil || len(ks) != 1 || ks[0].Attributes["team"] != "billing" {
		t.Fatalf("ListKeys = %+v, %v", ks, err)
	}
	u, err := c.AddUser(ctx, admin.AddUserRequest{Name: "alice", Password: "correct horse", Attributes: map[string]string{"team": "ops"}})
	if err != nil || u.Attributes["team"] != "ops" {
		t.Fatalf("AddUser = %+v, %v", u, err)
	}
	us, err := c.ListUsers(ctx, "", 10)
	if err != nil || len(us) != 1 || us[0].Attributes["team"] != "ops" {
		t.Fatalf("ListUsers = %+v, %v", us, err)
	}
	if _, err := c.CreateKey(ctx, admin.CreateKeyRequest{Name: "x", Attributes: map[string]string{"bad key": "v"}}); err == nil || !strings.Contains(err.Error(), "--attr") {
		t.Errorf("a bad attribute through the client: %v", err)
	}
}
