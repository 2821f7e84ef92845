package repository

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// existingFile is a file a user had at the target before a restore: what must survive it.
type existingFile struct {
	rel     string
	content []byte
	mode    os.FileMode
	mtime   time.Time
}

var userMtime = time.Date(2019, 6, 7, 8, 9, 10, 0, time.UTC)

// plantFile writes a user's file at target/rel with a distinctive content, mode and mtime.
func plantFile(t *testing.T, target, rel, content string) existingFile {
	t.Helper()
	p := filepath.Join(target, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o604); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o604); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, userMtime, userMtime); err != nil {
		t.Fatal(err)
	}
	return existingFile{rel: rel, content: []byte(content), mode: 0o604, mtime: userMtime}
}

// intact fails unless the file is still there, byte for byte and with its mode and mtime.
func (e existingFile) intact(t *testing.T, target string) {
	t.Helper()
	p := filepath.Join(target, e.rel)
	fi, err := os.Lstat(p)
	if err != nil {
		t.Errorf("%s: the user's file is gone: %v", e.rel, err)
		return
	}
	got, _ := os.ReadFile(p)
	if !bytes.Equal(got, e.content) {
		t.Errorf("%s: content changed to %d bytes %.20q", e.rel, len(got), got)
	}
	if fi.Mode() != e.mode {
		t.Errorf("%s: mode changed to %v, want %v", e.rel, fi.Mode(), e.mode)
	}
	if !fi.ModTime().Equal(e.mtime) {
		t.Errorf("%s: mtime changed to %v, want %v", e.rel, fi.ModTime(), e.mtime)
	}
}

// backedUpTree backs up makeTree's tree and returns the repository, its local root, the source
// and the snapshot.
func backedUpTree(t *testing.T) (*Repository, string, string, *Snapshot) {
	t.Helper()
	root := t.TempDir()
	r := initRepo(t, newLocalAt(t, root))
	src := t.TempDir()
	makeTree(t, src)
	sn, err := r.Backup(context.Background(), []string{src}, BackupOptions{Source: "files"})
	if err != nil {
		t.Fatal(err)
	}
	return r, root, src, sn
}

// damageChunk flips a byte inside the sealed blob of the first chunk of the file at rel.
func damageChunk(t *testing.T, r *Repository, root string, sn *Snapshot, rel string) {
	t.Helper()
	n, err := r.lookupPath(context.Background(), sn.Tree, rel)
	if err != nil {
		t.Fatal(err)
	}
	pb, _ := r.Index().Lookup(n.Content[0])
	p := filepath.Join(root, packName(pb.Pack))
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	data[pb.Offset+20] ^= 0x01
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// errorLog collects OnError calls.
type errorLog struct {
	mu     sync.Mutex
	failed map[string]string
}

func (l *errorLog) record(p string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failed == nil {
		l.failed = map[string]string{}
	}
	l.failed[p] = err.Error()
}

func (l *errorLog) get(p string) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	msg, ok := l.failed[p]
	return msg, ok
}

func TestRestoreWithoutOverwriteLeavesAnExistingFileAsItWas(t *testing.T) {
	r, _, src, sn := backedUpTree(t)
	target := t.TempDir()
	mine := plantFile(t, target, "text/log.txt", "the user's own log")
	var log errorLog
	res, err := r.Restore(context.Background(), sn, target, RestoreOptions{OnError: log.record})
	if err == nil || !strings.Contains(err.Error(), "could not be restored") {
		t.Fatalf("restore over an existing file: %v", err)
	}
	if msg, ok := log.get("text/log.txt"); !ok || !strings.Contains(msg, "exists at the target") {
		t.Fatalf("text/log.txt not reported as existing: %v", log.failed)
	}
	mine.intact(t, target)
	if res == nil || res.Files != 55 {
		t.Fatalf("the other files were not restored: %+v", res)
	}
	if b, _ := os.ReadFile(filepath.Join(target, "big.bin")); !bytes.Equal(b, mustRead(t, filepath.Join(src, "big.bin"))) {
		t.Fatal("big.bin not restored")
	}
}

func TestRestoreOverwriteWithADamagedChunkKeepsTheOldFile(t *testing.T) {
	r, root, _, sn := backedUpTree(t)
	damageChunk(t, r, root, sn, "big.bin")
	target := t.TempDir()
	mine := plantFile(t, target, "big.bin", "the user's big.bin")
	var log errorLog
	_, err := r.Restore(context.Background(), sn, target, RestoreOptions{Overwrite: true, OnError: log.record})
	if err == nil {
		t.Fatal("restore of a damaged file succeeded")
	}
	if msg, ok := log.get("big.bin"); !ok || !strings.Contains(msg, "chunk 1 of") {
		t.Fatalf("big.bin not reported as damaged: %v", log.failed)
	}
	mine.intact(t, target)
	noTempFiles(t, target)
}

func TestRestoreOverwriteReplacesAtomically(t *testing.T) {
	r, _, src, sn := backedUpTree(t)
	target := t.TempDir()
	plantFile(t, target, "big.bin", "the user's big.bin")
	// A reader that has the old file open keeps reading the old content: the new file is a
	// different file renamed over it, never the old one truncated and rewritten.
	old, err := os.Open(filepath.Join(target, "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if _, err := r.Restore(context.Background(), sn, target, RestoreOptions{Overwrite: true}); err != nil {
		t.Fatal(err)
	}
	compareTrees(t, src, target)
	b := make([]byte, 100)
	n, _ := old.ReadAt(b, 0)
	if string(b[:n]) != "the user's big.bin" {
		t.Fatalf("the old file was rewritten in place: it now reads %.20q", b[:n])
	}
	noTempFiles(t, target)
}

func TestRestoreKeepsTheModeAndTimesOfExistingDirectories(t *testing.T) {
	r, _, _, sn := backedUpTree(t)
	target := t.TempDir()
	dir := filepath.Join(target, "text")
	if err := os.Mkdir(dir, 0o775); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o775); err != nil {
		t.Fatal(err)
	}
	// Every file of text/ is already there, so the restore adds nothing to it.
	for _, name := range []string{"log.txt", "empty", "script.sh"} {
		plantFile(t, target, "text/"+name, "mine")
	}
	if err := os.Chtimes(dir, userMtime, userMtime); err != nil {
		t.Fatal(err)
	}
	var log errorLog
	_, _ = r.Restore(context.Background(), sn, target, RestoreOptions{OnError: log.record})
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o775 || !fi.ModTime().Equal(userMtime) {
		t.Fatalf("existing directory restamped: mode %v, mtime %v", fi.Mode(), fi.ModTime())
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// noTempFiles fails if a restore left a temporary file of its own under dir.
func noTempFiles(t *testing.T, dir string) {
	t.Helper()
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), ".lifeboat-") {
			t.Errorf("temporary file left behind: %s", p)
		}
		return nil
	})
}

func TestRestoreReportsProgress(t *testing.T) {
	r, _, _, sn := backedUpTree(t)
	var mu sync.Mutex
	var reports []RestoreProgress
	res, err := r.Restore(context.Background(), sn, t.TempDir(), RestoreOptions{
		ProgressInterval: time.Millisecond,
		Progress: func(p RestoreProgress) {
			mu.Lock()
			reports = append(reports, p)
			mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	last := reports[len(reports)-1]
	if !last.Done || last.TotalFiles != 56 || last.FilesDone != 56 || last.BytesDone != last.TotalBytes || last.TotalBytes != res.Bytes || last.Errors != 0 {
		t.Fatalf("final progress %+v, result %+v", last, res)
	}
	for _, p := range reports {
		if p.FilesDone > p.TotalFiles || p.BytesDone > p.TotalBytes {
			t.Fatalf("progress past its totals: %+v", p)
		}
	}
}

// Large files of many chunks, at sizes that are no multiple of anything, come back whole, with
// plenty of descriptors and with so few that they are closed and opened again between chunks.
func TestRestoreLargeFiles(t *testing.T) {
	r := initRepo(t, newLocal(t))
	src := t.TempDir()
	rnd := rand.New(rand.NewPCG(3, 4))
	for name, size := range map[string]int{"odd.bin": 3<<20 + 123, "aligned.bin": 2 << 20, "just-over.bin": 1<<20 + 1} {
		if err := os.WriteFile(filepath.Join(src, name), randBytes(rnd, size), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(src, "log.txt"), bytes.Repeat([]byte("2026-11-22 INFO a line of text\n"), 100_000), 0o644); err != nil {
		t.Fatal(err)
	}
	sn, err := r.Backup(context.Background(), []string{src}, BackupOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, fds := range []int{maxOpenFDs, 2} {
		old := maxOpenFDs
		maxOpenFDs = fds
		target := t.TempDir()
		_, err := r.Restore(context.Background(), sn, target, RestoreOptions{Parallel: 4})
		maxOpenFDs = old
		if err != nil {
			t.Fatal(err)
		}
		compareTrees(t, src, target)
	}
}

// A symlink already in the target, where the snapshot has a directory or a file, is never
// followed: nothing is written where it points.
func TestRestoreDoesNotFollowSymlinksInTheTarget(t *testing.T) {
	r, _, _, sn := backedUpTree(t)
	outside := t.TempDir()
	target := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(target, "text")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "big.bin"), filepath.Join(target, "big.bin")); err != nil {
		t.Fatal(err)
	}
	for _, overwrite := range []bool{false, true} {
		var log errorLog
		_, err := r.Restore(context.Background(), sn, target, RestoreOptions{Overwrite: overwrite, OnError: log.record})
		if err == nil {
			t.Fatal("restore through a symlink succeeded")
		}
		if msg, ok := log.get("text"); !ok || !strings.Contains(msg, "not a directory") {
			t.Fatalf("overwrite=%v: the symlinked directory was not refused: %v", overwrite, log.failed)
		}
		if entries := dirEntries(t, outside); len(entries) != 0 {
			t.Fatalf("overwrite=%v: the restore wrote outside its target: %v", overwrite, entries)
		}
	}
	// With Overwrite the symlink named big.bin was replaced by the file, not written through.
	if fi, err := os.Lstat(filepath.Join(target, "big.bin")); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("big.bin after an overwrite: %v, %v", fi, err)
	}
}

// A restore told to stay within a directory creates its target from there one name at a time and
// refuses a link on the way, also one planted after the caller checked the path.
func TestRestoreWithinFollowsNoLinkOnTheWay(t *testing.T) {
	r, _, _, sn := backedUpTree(t)
	within, outside := t.TempDir(), t.TempDir()
	if err := os.Symlink(outside, filepath.Join(within, "escape")); err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{filepath.Join(within, "escape", "x"), filepath.Join(within, "escape"), outside, filepath.Join(within, "..", "elsewhere")} {
		if _, err := r.Restore(context.Background(), sn, target, RestoreOptions{Within: within}); err == nil {
			t.Fatalf("restore to %s within %s succeeded", target, within)
		}
		if entries := dirEntries(t, outside); len(entries) != 0 {
			t.Fatalf("restore to %s wrote outside %s: %v", target, within, entries)
		}
	}
	target := filepath.Join(within, "a", "b", "c")
	if _, err := r.Restore(context.Background(), sn, target, RestoreOptions{Within: within}); err != nil {
		t.Fatalf("restore to a new directory within: %v", err)
	}
	if entries := dirEntries(t, target); len(entries) == 0 {
		t.Fatal("nothing restored")
	}
}

// A path that leaves the snapshot is an error, never the whole snapshot; Dump refuses it too.
func TestRestoreAndDumpRefuseBadPaths(t *testing.T) {
	r, _, _, sn := backedUpTree(t)
	ctx := context.Background()
	for _, p := range []string{"../..", "/text", "text/../big.bin", "x\x00"} {
		target := t.TempDir()
		if _, err := r.Restore(ctx, sn, target, RestoreOptions{Path: p}); err == nil || !strings.Contains(err.Error(), "snapshot path") {
			t.Errorf("restore of %q: %v", p, err)
		}
		if entries := dirEntries(t, target); len(entries) != 0 {
			t.Errorf("restore of %q wrote %v", p, entries)
		}
		var out bytes.Buffer
		if _, err := r.Dump(ctx, sn, p, &out); err == nil || !strings.Contains(err.Error(), "snapshot path") || out.Len() != 0 {
			t.Errorf("dump of %q: %v, %d bytes", p, err, out.Len())
		}
	}
	var out bytes.Buffer
	if n, err := r.Dump(ctx, sn, "./text//log.txt", &out); err != nil || n == 0 {
		t.Fatalf("dump of a clean path: %d, %v", n, err)
	}
}
