//go:build unix

package sqlite_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/store/sqlite"
	"github.com/google/go-cmp/cmp"
)

// TestNewStoreFilesAreOwnerOnly guards the store's secrets against other local users: a
// store created under the common umask 022 must not leave the database, its -wal or its
// -shm file readable by the group or the world.
func TestNewStoreFilesAreOwnerOnly(t *testing.T) {
	old := syscall.Umask(0o022)
	t.Cleanup(func() { syscall.Umask(old) })
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	openFile(t, path, sqlite.Options{}) // migrates, so the WAL and its index exist
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatalf("stat %s: %v", filepath.Base(p), err)
		}
		if got := fi.Mode().Perm(); got != 0o600 {
			t.Errorf("%s has mode %#o, want 0600", filepath.Base(p), got)
		}
	}
	if got := sqlite.Exposed(path); len(got) != 0 {
		t.Errorf("Exposed(new store) = %v, want none", got)
	}
}

// TestExposedNamesGroupOrWorldReadableFiles: an existing store made before files were
// created private is left as it is, and reported so that the operator can fix it.
func TestExposedNamesGroupOrWorldReadableFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	openFile(t, path, sqlite.Options{})
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path+"-wal", 0o640); err != nil {
		t.Fatal(err)
	}
	want := []sqlite.ExposedFile{{Path: path, Mode: 0o644}, {Path: path + "-wal", Mode: 0o640}}
	if diff := cmp.Diff(want, sqlite.Exposed(path)); diff != "" {
		t.Errorf("Exposed (-want +got):\n%s", diff)
	}
	// Reopening does not change the mode of an existing file behind the operator's back.
	openFile(t, path, sqlite.Options{})
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("after reopening: %v %v, want the mode left at 0644", fi.Mode(), err)
	}
	if got := sqlite.Exposed(":memory:"); got != nil {
		t.Errorf("Exposed(:memory:) = %v, want nil", got)
	}
}
