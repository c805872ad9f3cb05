package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestKeysAndUsersAttributes(t *testing.T) {
	dir, cfg := storeTestDir(t, false)
	k := createKeyJSON(t, cfg, "--name", "billing", "--attr", "team=billing", "--attr", "cost:center=Zoë 42")
	want := map[string]any{"team": "billing", "cost:center": "Zoë 42"}
	if diff := cmp.Diff(want, k["attributes"]); diff != "" {
		t.Errorf("created attributes (-want +got):\n%s", diff)
	}
	rec, err := openTestStore(t, dir).Key(context.Background(), k["id"].(string))
	if err != nil || rec.Attributes["team"] != "billing" {
		t.Fatalf("stored attributes %v, %v", rec.Attributes, err)
	}
	code, out, errs := runStoreCLI(t, "", "keys", "list", "--config", cfg)
	if code != 0 || !strings.Contains(out, "ATTRIBUTES") || !strings.Contains(out, "cost:center=Zoë 42,team=billing") {
		t.Errorf("keys list: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = runStoreCLI(t, "", "keys", "list", "--config", cfg, "--json")
	var listed []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &listed) != nil || len(listed) != 1 {
		t.Fatalf("keys list --json: exit %d %s%s", code, out, errs)
	}
	if diff := cmp.Diff(want, listed[0]["attributes"]); diff != "" {
		t.Errorf("listed attributes (-want +got):\n%s", diff)
	}
	code, out, errs = runStoreCLI(t, "", "keys", "rotate", "--config", cfg, "--json", k["id"].(string))
	var rotated map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &rotated) != nil {
		t.Fatalf("rotate: exit %d %s%s", code, out, errs)
	}
	if diff := cmp.Diff(want, rotated["attributes"]); diff != "" {
		t.Errorf("rotation dropped the attributes (-want +got):\n%s", diff)
	}

	code, out, errs = runStoreCLI(t, "correct horse battery\n", "users", "add", "--config", cfg, "--attr", "team=ops", "alice")
	if code != 0 || !strings.Contains(out, "Attributes: team=ops") {
		t.Fatalf("users add: exit %d %s%s", code, out, errs)
	}
	code, out, errs = runStoreCLI(t, "", "users", "list", "--config", cfg, "--json")
	if code != 0 || !strings.Contains(out, `"attributes":{"team":"ops"}`) {
		t.Errorf("users list --json: exit %d %s%s", code, out, errs)
	}
	code, out, _ = runStoreCLI(t, "", "users", "list", "--config", cfg)
	if code != 0 || !strings.Contains(out, "team=ops") {
		t.Errorf("users list: exit %d %s", code, out)
	}
}

func TestBadAttributesExitTwo(t *testing.T) {
	_, cfg := storeTestDir(t, false)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"keys", "create", "--config", cfg, "--name", "x", "--attr", "team"}, "write KEY=VALUE"},
		{[]string{"keys", "create", "--config", cfg, "--name", "x", "--attr", "1team=a"}, "starting with a letter"},
		{[]string{"keys", "create", "--config", cfg, "--name", "x", "--attr", "a.b=c"}, "starting with a letter"},
		{[]string{"keys", "create", "--config", cfg, "--name", "x", "--attr", "t=a", "--attr", "t=b"}, "given twice"},
		{[]string{"keys", "create", "--config", cfg, "--name", "x", "--attr", "t=a\nb"}, "control character"},
		{[]string{"users", "add", "--config", cfg, "--attr", "t=\xff", "bob"}, "not valid UTF-8"},
	} {
		code, out, errs := runStoreCLI(t, "pw-pw-pw-pw\n", tc.args...)
		if code != 2 || !strings.Contains(out+errs, tc.want) {
			t.Errorf("%q: exit %d, %q; want 2 and %q", tc.args, code, out+errs, tc.want)
		}
	}
}
