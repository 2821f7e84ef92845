package repository

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/repository/chunker"
	"github.com/lifeboat-dr/lifeboat/integrations/storage"
	"github.com/lifeboat-dr/lifeboat/integrations/storage/local"
)

// Small chunks keep test data small while still cutting files into several chunks.
var testChunks = chunker.Params{Min: 16 << 10, Avg: 64 << 10, Max: 256 << 10}

var testCreds = Credentials{Passphrase: "correct horse battery staple"}

func newLocal(t testing.TB) storage.Backend {
	t.Helper()
	return newLocalAt(t, t.TempDir())
}

func newLocalBackend(root string) (storage.Backend, error) { return local.New(root) }

func newLocalAt(t testing.TB, root string) storage.Backend {
	t.Helper()
	be, err := local.New(root)
	if err != nil {
		t.Fatal(err)
	}
	return be
}

func initRepo(t testing.TB, be storage.Backend) *Repository {
	t.Helper()
	r, err := Init(context.Background(), be, testCreds, InitOptions{Chunker: &testChunks, PackSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// makeTree writes a small source tree with every kind of entry Lifeboat keeps.
func makeTree(t testing.TB, dir string) {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	write := func(rel string, data []byte, mode fs.FileMode) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	write("big.bin", randBytes(r, 900<<10), 0o640)
	write("text/log.txt", bytes.Repeat([]byte("2026-11-22 INFO request served in 12ms\n"), 20000), 0o644)
	write("text/empty", nil, 0o600)
	write("text/script.sh", []byte("#!/bin/sh\necho hi\n"), 0o755)
	for i := range 50 {
		write(filepath.Join("many", "f"+strings.Repeat("x", i%5)+string(rune('a'+i%26))+string(rune('0'+i/26))), randBytes(r, 100+r.IntN(5000)), 0o644)
	}
	write("dup/one.bin", bytes.Repeat([]byte{7}, 300<<10), 0o644)
	write("dup/two.bin", bytes.Repeat([]byte{7}, 300<<10), 0o644)
	if err := os.Symlink("text/log.txt", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "abs-link")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "empty-dir"), 0o750); err != nil {
		t.Fatal(err)
	}
	old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := os.Chtimes(filepath.Join(dir, "big.bin"), old, old); err != nil {
		t.Fatal(err)
	}
}

// compareTrees fails unless got holds the same entries, contents, modes, mtimes and links as want.
func compareTrees(t testing.TB, want, got string) {
	t.Helper()
	count := 0
	err := filepath.WalkDir(want, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(want, p)
		if rel == "." {
			return nil
		}
		count++
		g := filepath.Join(got, rel)
		wi, _ := os.Lstat(p)
		gi, err := os.Lstat(g)
		if err != nil {
			t.Errorf("%s: missing after restore: %v", rel, err)
			return nil
		}
		if wi.Mode() != gi.Mode() {
			t.Errorf("%s: mode %v, want %v", rel, gi.Mode(), wi.Mode())
		}
		switch {
		case wi.Mode()&fs.ModeSymlink != 0:
			wl, _ := os.Readlink(p)
			gl, _ := os.Readlink(g)
			if wl != gl {
				t.Errorf("%s: link to %q, want %q", rel, gl, wl)
			}
		case wi.Mode().IsRegular():
			wb, _ := os.ReadFile(p)
			gb, _ := os.ReadFile(g)
			if !bytes.Equal(wb, gb) {
				t.Errorf("%s: content differs (%d vs %d bytes)", rel, len(gb), len(wb))
			}
			if !wi.ModTime().Equal(gi.ModTime()) {
				t.Errorf("%s: mtime %v, want %v", rel, gi.ModTime(), wi.ModTime())
			}
		case wi.IsDir():
			if !wi.ModTime().Equal(gi.ModTime()) {
				t.Errorf("%s: dir mtime %v, want %v", rel, gi.ModTime(), wi.ModTime())
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if count == 0 {
		t.Fatal("nothing compared")
	}
}

func TestInitOpenAndKeys(t *testing.T) {
	ctx := context.Background()
	be := newLocal(t)
	if _, err := Open(ctx, be, testCreds); !errors.Is(err, ErrNotARepository) {
		t.Fatalf("open before init: %v", err)
	}
	r := initRepo(t, be)
	if _, err := Init(ctx, be, testCreds, InitOptions{}); !errors.Is(err, ErrAlreadyExists) {
		t.Fatalf("second init: %v", err)
	}
	if _, err := Open(ctx, be, Credentials{Passphrase: "wrong"}); !errors.Is(err, ErrWrongCredentials) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	keyFile := GenerateKeyFile()
	kid, err := r.AddKey(ctx, Credentials{KeyFile: keyFile}, "offsite")
	if err != nil {
		t.Fatal(err)
	}
	byFile, err := Open(ctx, be, Credentials{KeyFile: keyFile})
	if err != nil {
		t.Fatalf("open with key file: %v", err)
	}
	if byFile.Config().ID != r.Config().ID {
		t.Fatal("key file opened a different repository")
	}
	keys, err := byFile.ListKeys(ctx)
	if err != nil || len(keys) != 2 {
		t.Fatalf("keys = %v, %v", keys, err)
	}
	// Revoke the passphrase from the key-file session; the passphrase stops working.
	for _, k := range keys {
		if k.Kind == slotPassphrase {
			if err := byFile.RemoveKey(ctx, k.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := Open(ctx, be, testCreds); !errors.Is(err, ErrWrongCredentials) {
		t.Fatalf("revoked passphrase still opens: %v", err)
	}
	if err := byFile.RemoveKey(ctx, kid); err == nil {
		t.Fatal("removed the key slot in use")
	}
	if _, err := Open(ctx, be, Credentials{KeyFile: []byte("garbage")}); err == nil || !strings.Contains(err.Error(), "not a lifeboat key file") {
		t.Fatalf("garbage key file: %v", err)
	}
}

func TestBackupRestoreRoundTrip(t *testing.T) {
	ctx := context.Background()
	r := initRepo(t, newLocal(t))
	src := t.TempDir()
	makeTree(t, src)
	var last Progress
	sn, err := r.Backup(ctx, []string{src}, BackupOptions{Source: "files", Tags: []string{"daily"}, Progress: func(p Progress) { last = p }})
	if err != nil {
		t.Fatal(err)
	}
	if !last.Done || last.FilesDone != sn.Summary.TotalFiles || last.BytesNew == 0 {
		t.Fatalf("final progress %+v, summary %+v", last, sn.Summary)
	}
	if sn.Summary.FilesNew != 56 || sn.Summary.Dirs == 0 {
		t.Fatalf("summary %+v", sn.Summary)
	}
	// The duplicate 300 KiB files share their chunks.
	if sn.Summary.BytesAdded >= sn.Summary.TotalBytes {
		t.Fatalf("no deduplication: added %d of %d bytes", sn.Summary.BytesAdded, sn.Summary.TotalBytes)
	}

	// A fresh process: reopen and restore everything.
	r2, err := Open(ctx, r.Backend(), testCreds)
	if err != nil {
		t.Fatal(err)
	}
	got, err := r2.FindSnapshot(ctx, "latest", SnapshotFilter{Tags: []string{"daily"}})
	if err != nil || got.ID != sn.ID {
		t.Fatalf("latest = %v, %v", got, err)
	}
	dst := filepath.Join(t.TempDir(), "restore")
	res, err := r2.Restore(ctx, got, dst, RestoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Files != 56 || res.Symlinks != 2 {
		t.Fatalf("restore result %+v", res)
	}
	compareTrees(t, src, dst)

	// Restoring onto existing files is refused without Overwrite (files that already hold the
	// snapshot's content count as restored), and replaces them with it.
	if err := os.WriteFile(filepath.Join(dst, "big.bin"), []byte("clobbered"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := r2.Restore(ctx, got, dst, RestoreOptions{}); err == nil || !strings.Contains(err.Error(), "exists at the target") {
		t.Fatalf("restore over existing files: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "big.bin")); string(b) != "clobbered" {
		t.Fatal("an existing file was changed without Overwrite")
	}
	if _, err := r2.Restore(ctx, got, dst, RestoreOptions{Overwrite: true}); err != nil {
		t.Fatal(err)
	}
	compareTrees(t, src, dst)
}

func TestRestoreOneFileAndSubtree(t *testing.T) {
	ctx := context.Background()
	r := initRepo(t, newLocal(t))
	src := t.TempDir()
	makeTree(t, src)
	sn, err := r.Backup(ctx, []string{src}, BackupOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	if _, err := r.Restore(ctx, sn, dst, RestoreOptions{Path: "text/log.txt"}); err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(filepath.Join(src, "text/log.txt"))
	if got, _ := os.ReadFile(filepath.Join(dst, "log.txt")); !bytes.Equal(got, want) {
		t.Fatal("single file restored wrong")
	}
	dst2 := t.TempDir()
	if _, err := r.Restore(ctx, sn, dst2, RestoreOptions{Path: "many/"}); err != nil {
		t.Fatal(err)
	}
	compareTrees(t, filepath.Join(src, "many"), filepath.Join(dst2, "many"))
	if _, err := r.Restore(ctx, sn, t.TempDir(), RestoreOptions{Path: "nope/x"}); err == nil || !strings.Contains(err.Error(), `"nope" is not in the snapshot`) {
		t.Fatalf("missing path: %v", err)
	}
}

func TestUnchangedBackupReadsNothingNew(t *testing.T) {
	ctx := context.Background()
	r := initRepo(t, newLocal(t))
	src := t.TempDir()
	makeTree(t, src)
	first, err := r.Backup(ctx, []string{src}, BackupOptions{Source: "s"})
	if err != nil {
		t.Fatal(err)
	}
	second, err := r.Backup(ctx, []string{src}, BackupOptions{Source: "s"})
	if err != nil {
		t.Fatal(err)
	}
	if second.Parent == nil || *second.Parent != first.ID {
		t.Fatalf("parent = %v, want %s", second.Parent, first.ID.Short())
	}
	if second.Summary.FilesUnmodified != first.Summary.TotalFiles || second.Summary.BlobsAdded != 0 || second.Tree != first.Tree {
		t.Fatalf("unchanged re-backup: %+v (tree %s vs %s)", second.Summary, second.Tree.Short(), first.Tree.Short())
	}
	// Change one file: only it is read, and only its changed chunk is new.
	p := filepath.Join(src, "text/log.txt")
	b, _ := os.ReadFile(p)
	b = append(b, "one more line\n"...)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	third, err := r.Backup(ctx, []string{src}, BackupOptions{Source: "s"})
	if err != nil {
		t.Fatal(err)
	}
	if third.Summary.FilesChanged != 1 || third.Summary.FilesUnmodified != first.Summary.TotalFiles-1 || third.Summary.BlobsAdded > 4 {
		t.Fatalf("one changed file: %+v", third.Summary)
	}
}

func TestStreamBackupAndDump(t *testing.T) {
	ctx := context.Background()
	r := initRepo(t, newLocal(t))
	data := randBytes(rand.New(rand.NewPCG(9, 9)), 3<<20)
	sn, err := r.BackupStream(ctx, bytes.NewReader(data), "orders.dump", BackupOptions{Source: "orders-db"})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	n, err := r.Dump(ctx, sn, "orders.dump", &out)
	if err != nil || n != int64(len(data)) || !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("dump: %d bytes, %v", n, err)
	}
	if _, err := r.BackupStream(ctx, bytes.NewReader(data), "../escape", BackupOptions{}); err == nil {
		t.Fatal("stream name with a path accepted")
	}
}

func TestLocks(t *testing.T) {
	ctx := context.Background()
	r := initRepo(t, newLocal(t))
	shared, err := r.Lock(ctx, false, "backup")
	if err != nil {
		t.Fatal(err)
	}
	other, err := r.Lock(ctx, false, "another backup")
	if err != nil {
		t.Fatalf("two shared locks: %v", err)
	}
	if _, err := r.Lock(ctx, true, "prune"); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "shared lock") {
		t.Fatalf("exclusive over shared: %v", err)
	}
	_ = shared.Unlock()
	_ = other.Unlock()
	ex, err := r.Lock(ctx, true, "prune")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Lock(ctx, false, "backup"); !errors.Is(err, ErrLocked) {
		t.Fatalf("shared over exclusive: %v", err)
	}
	_ = ex.Unlock()

	// A lock left by a process that is gone is stale and does not block.
	dead := LockInfo{ID: randomID(), Exclusive: true, Hostname: mustHostname(t), PID: 1 << 22, Time: time.Now(), Refreshed: time.Now()}
	if err := r.createLock(ctx, &dead); err != nil {
		t.Fatal(err)
	}
	lk, err := r.Lock(ctx, true, "prune")
	if err != nil {
		t.Fatalf("stale lock blocked: %v", err)
	}
	_ = lk.Unlock()
	removed, err := r.RemoveStaleLocks(ctx, false)
	if err != nil || len(removed) != 1 || removed[0].ID != dead.ID {
		t.Fatalf("removed %v, %v", removed, err)
	}
}

func TestLockScopesAndOwners(t *testing.T) {
	ctx := context.Background()
	r := initRepo(t, newLocal(t))
	first, err := r.lock(ctx, false, "backup orders", "asset orders")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.lock(ctx, false, "backup orders again", "asset orders"); !errors.Is(err, ErrLocked) {
		t.Fatalf("second backup of one scope: %v", err)
	}
	other, err := r.lock(ctx, false, "backup billing", "asset billing")
	if err != nil {
		t.Fatalf("backup of another scope blocked: %v", err)
	}
	_ = other.Unlock()
	_ = first.Unlock()

	// A live-looking lock (another host, fresh) left by an earlier attempt of the same job is taken
	// over; the same lock blocks a different job.
	left := LockInfo{ID: randomID(), Exclusive: true, Hostname: "elsewhere", PID: 1, Time: time.Now(), Refreshed: time.Now(), Owner: "backup-orders/run-1"}
	if err := r.createLock(ctx, &left); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Lock(WithLockOwner(ctx, "backup-orders/run-2"), false, "backup"); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "job backup-orders/run-1") {
		t.Fatalf("another job over a live lock: %v", err)
	}
	lk, err := r.Lock(WithLockOwner(ctx, "backup-orders/run-1"), false, "backup")
	if err != nil {
		t.Fatalf("retry of the same job blocked by its own lock: %v", err)
	}
	locks, _ := r.Locks(ctx)
	if len(locks) != 1 || locks[0].ID != lk.info.ID {
		t.Fatalf("locks after takeover: %v", locks)
	}
	_ = lk.Unlock()
}

func TestBackupOfOneJobMakesOneSnapshot(t *testing.T) {
	ctx := context.Background()
	r := initRepo(t, newLocal(t))
	dir := t.TempDir()
	makeTree(t, dir)
	first, err := r.Backup(ctx, []string{dir}, BackupOptions{Source: "www", Job: "backup-www/run-1"})
	if err != nil {
		t.Fatal(err)
	}
	again, err := r.Backup(ctx, []string{dir}, BackupOptions{Source: "www", Job: "backup-www/run-1"})
	if err != nil || again.ID != first.ID {
		t.Fatalf("retried job: %v, %v; want snapshot %s", again, err, first.ID.Short())
	}
	other, err := r.Backup(ctx, []string{dir}, BackupOptions{Source: "www", Job: "backup-www/run-2"})
	if err != nil || other.ID == first.ID {
		t.Fatalf("another job: %v, %v", other, err)
	}
	all, _ := r.Snapshots(ctx)
	if len(all) != 2 {
		t.Fatalf("%d snapshots, want 2", len(all))
	}
}

func mustHostname(t testing.TB) string {
	h, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func readFileIfExists(p string) ([]byte, error) { return os.ReadFile(p) }

// Two processes that created one repository at the same moment each left a key slot that opens
// with the passphrase; only the config written last counts, and Open finds the slot that matches it.
func TestOpenAfterARaceToCreate(t *testing.T) {
	ctx := context.Background()
	be := newLocal(t)
	creds := Credentials{Passphrase: "same passphrase"}
	winner, err := Init(ctx, be, creds, InitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The loser's slot: made by an Init elsewhere, with the same passphrase, copied in.
	other := newLocal(t)
	if _, err := Init(ctx, other, creds, InitOptions{}); err != nil {
		t.Fatal(err)
	}
	err = other.List(ctx, keysPrefix, func(fi storage.Info) error {
		b, err := storage.ReadAll(ctx, other, fi.Name)
		if err != nil {
			return err
		}
		return be.Put(ctx, fi.Name, bytes.NewReader(b), int64(len(b)))
	})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 { // slot order is by ID: whichever comes first, the config's key is found
		r, err := Open(ctx, be, creds)
		if err != nil {
			t.Fatalf("open with two slots: %v", err)
		}
		if r.Config().ID != winner.Config().ID {
			t.Fatalf("opened config %v, want %v", r.Config().ID, winner.Config().ID)
		}
	}
}
