//go:build unix

package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlite"
	"github.com/google/go-cmp/cmp"
)

// addKey stores a fresh API key under name and returns the key the client would hold.
func addKey(t *testing.T, ctx context.Context, s *sqlite.Store, h *secret.KeyHasher, name string) secret.APIKey {
	t.Helper()
	k, err := secret.NewAPIKey("live")
	if err != nil {
		t.Fatal(err)
	}
	rec := store.APIKey{ID: k.ID, Name: name, Env: "live", SecretHash: h.Hash(k), HashAlg: h.Alg(), CreatedAt: time.Now().UTC()}
	if err := s.CreateKey(ctx, &rec); err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	return k
}

// TestBackupWhileWritingIsConsistentAndKeysVerify backs up a store while another
// goroutine keeps creating keys in it: the backup must not wait for the writer to stop,
// must hold a committed state (the counts of the copy agree with each other: one change
// per key and user written), and a key written before the backup must verify against
// the copy.
func TestBackupWhileWritingIsConsistentAndKeysVerify(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	s := openFile(t, filepath.Join(dir, "gatehouse.db"), sqlite.Options{})
	h, err := secret.NewKeyHasher(nil)
	if err != nil {
		t.Fatal(err)
	}
	first := addKey(t, ctx, s, h, "before-backup")
	for i := range 20 {
		addKey(t, ctx, s, h, fmt.Sprintf("seed-%d", i))
	}
	if err := s.AddUser(ctx, &store.User{Name: "alice", PasswordHash: "$2a$10$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234", CreatedAt: time.Now(), UpdatedAt: time.Now()}); err != nil {
		t.Fatalf("AddUser: %v", err)
	}
	before, err := s.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// A second handle on the same file, as a CLI beside a running gateway would be.
	writer := openFile(t, filepath.Join(dir, "gatehouse.db"), sqlite.Options{})
	stop := make(chan struct{})
	var written atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			k, err := secret.NewAPIKey("live")
			if err != nil {
				t.Error(err)
				return
			}
			rec := store.APIKey{ID: k.ID, Name: fmt.Sprintf("during-%d", i), Env: "live", SecretHash: h.Hash(k), HashAlg: h.Alg(), CreatedAt: time.Now().UTC()}
			if err := writer.CreateKey(ctx, &rec); err != nil {
				t.Errorf("CreateKey during the backup: %v", err)
				return
			}
			written.Add(1)
		}
	}()
	// Let the writer get going, so the backup really overlaps writes.
	for written.Load() < 5 {
		select {
		case <-ctx.Done():
			t.Fatal("the writer made no progress")
		default:
			time.Sleep(time.Millisecond)
		}
	}
	var backups []sqlite.Counts
	for i := range 3 {
		path := filepath.Join(dir, fmt.Sprintf("backup-%d.db", i))
		c, err := s.Backup(ctx, path, sqlite.BackupOptions{})
		if err != nil {
			close(stop)
			wg.Wait()
			t.Fatalf("Backup while writing: %v", err)
		}
		backups = append(backups, c)
	}
	writtenAtBackup := written.Load()
	close(stop)
	wg.Wait()
	if writtenAtBackup < 5 {
		t.Fatalf("only %d writes overlapped the backups", writtenAtBackup)
	}

	for i, c := range backups {
		path := filepath.Join(dir, fmt.Sprintf("backup-%d.db", i))
		// Every key and user written is one change: a torn copy would disagree.
		if c.Keys+c.Users != c.Changes || int64(c.Changes) != c.LatestChange {
			t.Errorf("backup %d: counts disagree: %+v", i, c)
		}
		if c.Keys < before.Keys || c.Users != 1 || c.SchemaVersion != sqlite.SchemaVersion() {
			t.Errorf("backup %d: counts %+v, want at least %d keys, 1 user, schema %d", i, c, before.Keys, sqlite.SchemaVersion())
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != 0o600 {
			t.Errorf("backup %d has mode %#o, want 0600", i, got)
		}

		// The copy is a working store: reopen it and verify a key against it.
		b := openFile(t, path, sqlite.Options{ReadOnly: true})
		got, err := b.Counts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(c, got); diff != "" {
			t.Errorf("backup %d: reported counts differ from the file (-reported +file):\n%s", i, diff)
		}
		rec, err := b.Key(ctx, first.ID)
		if err != nil {
			t.Fatalf("backup %d: Key(%s): %v", i, first.ID, err)
		}
		if ok, err := h.Verify(first, rec.HashAlg, rec.SecretHash); err != nil || !ok {
			t.Errorf("backup %d: the key written before the backup does not verify: %v %v", i, ok, err)
		}
		if err := b.Check(ctx); err != nil {
			t.Errorf("backup %d: %v", i, err)
		}
	}
	// No temporary file is left behind.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".partial-") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

// TestBackupRefusesToOverwrite: an existing file is never replaced without Overwrite, and
// is left untouched; with Overwrite it is replaced by a whole copy; the store's own files
// are refused even with Overwrite.
func TestBackupRefusesToOverwrite(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	storePath := filepath.Join(dir, "gatehouse.db")
	s := openFile(t, storePath, sqlite.Options{})
	h, _ := secret.NewKeyHasher(nil)
	addKey(t, ctx, s, h, "k")

	target := filepath.Join(dir, "backup.db")
	if err := os.WriteFile(target, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := s.Backup(ctx, target, sqlite.BackupOptions{})
	if !errors.Is(err, sqlite.ErrBackupExists) {
		t.Fatalf("Backup over an existing file = %v, want ErrBackupExists", err)
	}
	if b, _ := os.ReadFile(target); string(b) != "precious" {
		t.Errorf("the existing file was changed to %q", b)
	}

	c, err := s.Backup(ctx, target, sqlite.BackupOptions{Overwrite: true})
	if err != nil {
		t.Fatalf("Backup with Overwrite: %v", err)
	}
	if c.Keys != 1 {
		t.Errorf("counts %+v, want 1 key", c)
	}
	openFile(t, target, sqlite.Options{ReadOnly: true})

	for _, own := range []string{storePath, storePath + "-wal", storePath + "-shm"} {
		if _, err := s.Backup(ctx, own, sqlite.BackupOptions{Overwrite: true}); err == nil || !strings.Contains(err.Error(), "store's own file") {
			t.Errorf("Backup onto %s = %v, want a refusal", filepath.Base(own), err)
		}
	}
	// The store still works after those refusals.
	if _, err := s.Counts(ctx); err != nil {
		t.Errorf("store after refused backups: %v", err)
	}

	if _, err := s.Backup(ctx, filepath.Join(dir, "no-such-dir", "b.db"), sqlite.BackupOptions{}); err == nil {
		t.Error("Backup into a missing folder succeeded")
	}
}

// TestBackupIsOwnerOnlyUnderOpenUmask: the copy holds the store's secrets, so it is 0600
// even when the umask would allow more.
func TestBackupIsOwnerOnlyUnderOpenUmask(t *testing.T) {
	old := syscall.Umask(0)
	t.Cleanup(func() { syscall.Umask(old) })
	ctx := testCtx(t)
	dir := t.TempDir()
	s := openFile(t, filepath.Join(dir, "gatehouse.db"), sqlite.Options{})
	target := filepath.Join(dir, "backup.db")
	if _, err := s.Backup(ctx, target, sqlite.BackupOptions{}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(target)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("backup mode %#o, want 0600", got)
	}
	if got := sqlite.Exposed(target); len(got) != 0 {
		t.Errorf("Exposed(backup) = %v", got)
	}
}

// TestBackupOfReadOnlyStore: the CLI opens the live store read-only (it must never
// migrate or write a store it only copies), and VACUUM INTO works on such a handle.
func TestBackupOfReadOnlyStore(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "gatehouse.db")
	rw, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h, _ := secret.NewKeyHasher(nil)
	addKey(t, ctx, rw, h, "k")
	rw.Close() // no -wal or -shm left: the gateway is not running

	ro := openFile(t, path, sqlite.Options{ReadOnly: true})
	c, err := ro.Backup(ctx, filepath.Join(dir, "b.db"), sqlite.BackupOptions{})
	if err != nil {
		t.Fatalf("Backup of a read-only handle: %v", err)
	}
	if c.Keys != 1 || c.Changes != 1 {
		t.Errorf("counts %+v", c)
	}
}

// BenchmarkBackupMillionKeys measures `store backup` of a store with a million API keys,
// through a read-only handle as the CLI opens it, and reports the copy's size.
func BenchmarkBackupMillionKeys(b *testing.B) {
	path, _ := millionKeyStore(b)
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path, sqlite.Options{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	target := filepath.Join(b.TempDir(), "backup.db")
	for b.Loop() {
		c, err := s.Backup(ctx, target, sqlite.BackupOptions{Overwrite: true})
		if err != nil {
			b.Fatal(err)
		}
		if c.Keys != bigKeys {
			b.Fatalf("backup holds %d keys, want %d", c.Keys, bigKeys)
		}
	}
	b.StopTimer()
	if fi, err := os.Stat(target); err == nil {
		b.ReportMetric(float64(fi.Size())/(1<<20), "MiB")
	}
}

// TestBackupFileOfAnOlderSchemaBeforeUpgrading: an operator upgrading backs the store up
// with the new binary before it migrates the store. The store, at schema version 1, must
// be copied as it is (not migrated, not refused), and the copy must open and migrate.
func TestBackupFileOfAnOlderSchemaBeforeUpgrading(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "gatehouse.db")
	rw, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h, _ := secret.NewKeyHasher(nil)
	key := addKey(t, ctx, rw, h, "old")
	rw.Close()
	// Take the file back to schema version 1, as the first release wrote it.
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"DROP TABLE oauth_clients", "DROP TABLE revoked_tokens", "DROP TABLE signing_keys",
		"DROP TABLE admin_tokens", "DROP TABLE audit_log", "ALTER TABLE api_keys DROP COLUMN attributes",
		"ALTER TABLE users DROP COLUMN attributes", "DELETE FROM schema_migrations WHERE version > 1"} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()
	before, _ := os.ReadFile(path)
	if _, err := sqlite.Open(ctx, path, sqlite.Options{ReadOnly: true}); err == nil {
		t.Fatal("a read-only Open of an old schema succeeded: the test does not test what it says")
	}

	target := filepath.Join(dir, "backup.db")
	c, err := sqlite.BackupFile(ctx, path, target, sqlite.BackupOptions{})
	if err != nil {
		t.Fatalf("BackupFile of a version-1 store: %v", err)
	}
	if want := (sqlite.Counts{Keys: 1, Changes: 1, LatestChange: 1, SchemaVersion: 1}); c != want {
		t.Errorf("counts %+v, want %+v", c, want)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("BackupFile changed the store it copied")
	}
	// The copy is the old store: the new binary migrates it on open, and the key works.
	b := openFile(t, target, sqlite.Options{})
	rec, err := b.Key(ctx, key.ID)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := h.Verify(key, rec.HashAlg, rec.SecretHash); !ok {
		t.Error("the key does not verify against the migrated copy")
	}
}

func TestBackupFileRefusesWhatIsNotAStore(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	other := filepath.Join(dir, "other.db")
	db, err := sql.Open("sqlite", "file:"+other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE photos (id INTEGER)"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	notDB := filepath.Join(dir, "notes.txt")
	os.WriteFile(notDB, []byte("this is not a database, just some text that is long enough"), 0o600)

	tests := []struct {
		name, src, want string
	}{
		{"another program's database", other, "not a gatehouse store"},
		{"a text file", notDB, "not a database"},
		{"no file", filepath.Join(dir, "missing.db"), "no such file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			target := filepath.Join(dir, "backup-"+strings.ReplaceAll(tc.name, " ", "-")+".db")
			_, err := sqlite.BackupFile(ctx, tc.src, target, sqlite.BackupOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("BackupFile = %v, want an error with %q", err, tc.want)
			}
			if _, err := os.Stat(target); err == nil {
				t.Error("a backup file was written")
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "missing.db")); err == nil {
		t.Error("BackupFile created the missing store")
	}
}
