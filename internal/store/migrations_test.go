package store

import (
	"testing"
	"testing/fstest"
)

func TestReadMigrationsOrdersAndRefusesGapsAndBadNames(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	ms, err := ReadMigrations(fstest.MapFS{
		"m/0002_second.sql": file("B"), "m/0001_init.sql": file("A"), "m/README": file("x"),
	}, "m")
	if err != nil || len(ms) != 2 || ms[0] != (Migration{1, "init", "A"}) || ms[1] != (Migration{2, "second", "B"}) {
		t.Fatalf("ReadMigrations = %+v, %v", ms, err)
	}
	for name, fsys := range map[string]fstest.MapFS{
		"gap":      {"m/0001_a.sql": file(""), "m/0003_c.sql": file("")},
		"bad name": {"m/0001_a.sql": file(""), "m/two.sql": file("")},
		"zero":     {"m/0000_a.sql": file("")},
	} {
		if _, err := ReadMigrations(fsys, "m"); err == nil {
			t.Errorf("%s: ReadMigrations accepted it", name)
		}
	}
}
