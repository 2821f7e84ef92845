package repository

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/storage"
)

// gatedBackend lets a test interrupt a restore part way: after a given number of reads of pack
// files it calls onLimit once (a context's cancel), or blocks every further read until the
// read's context ends.
type gatedBackend struct {
	storage.Backend
	limit   int32
	reads   atomic.Int32
	onLimit func()
	block   bool
	fired   atomic.Bool
}

func (b *gatedBackend) Get(ctx context.Context, name string, off, length int64) (io.ReadCloser, error) {
	if strings.HasPrefix(name, "data/") && b.reads.Add(1) > b.limit {
		if b.fired.CompareAndSwap(false, true) && b.onLimit != nil {
			b.onLimit()
		}
		if b.block {
			<-ctx.Done()
			return nil, ctx.Err()
		}
	}
	return b.Backend.Get(ctx, name, off, length)
}

// makeWideTree writes a source tree of many packs' worth of files: three folders of small files,
// and files of several chunks, all incompressible.
func makeWideTree(t testing.TB, dir string) {
	t.Helper()
	rnd := rand.New(rand.NewPCG(11, 12))
	for _, sub := range []string{"a", "b", "c/d"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o750); err != nil {
			t.Fatal(err)
		}
		for i := range 60 {
			p := filepath.Join(dir, sub, fmt.Sprintf("f%02d.bin", i))
			if err := os.WriteFile(p, randBytes(rnd, 20<<10+rnd.IntN(40<<10)), 0o640); err != nil {
				t.Fatal(err)
			}
		}
		p := filepath.Join(dir, sub, "large.bin")
		if err := os.WriteFile(p, randBytes(rnd, 700<<10), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)
	for _, sub := range []string{"c/d", "c", "b", "a"} {
		if err := os.Chtimes(filepath.Join(dir, sub), old, old); err != nil {
			t.Fatal(err)
		}
	}
}

// wideRepo backs up makeWideTree's tree into a local repository whose backend the test can gate.
func wideRepo(t *testing.T) (gate *gatedBackend, repoRoot, src string, sn *Snapshot) {
	t.Helper()
	repoRoot = t.TempDir()
	gate = &gatedBackend{Backend: newLocalAt(t, repoRoot), limit: 1 << 30}
	r := initRepo(t, gate)
	src = t.TempDir()
	makeWideTree(t, src)
	sn, err := r.Backup(context.Background(), []string{src}, BackupOptions{Source: "wide"})
	if err != nil {
		t.Fatal(err)
	}
	return gate, repoRoot, src, sn
}

// userState is what a user had at the target before a restore.
type userState struct {
	files []existingFile
	// foreign is another job's temporary file, which no restore of this job may touch.
	foreign existingFile
}

// plantUserState puts the user's own files at the target: one under a name the snapshot restores
// (a conflict), one under a name of its own, and another job's temporary file.
func plantUserState(t *testing.T, target string) userState {
	t.Helper()
	return userState{
		files: []existingFile{
			plantFile(t, target, "a/f07.bin", "the user's a/f07.bin"),
			plantFile(t, target, "b/notes.txt", "the user's notes"),
		},
		foreign: plantFile(t, target, "c/d/.f03.bin.lifeboat-other-job.tmp", "another job's work"),
	}
}

func (u userState) intact(t *testing.T, target string) {
	t.Helper()
	for _, f := range u.files {
		f.intact(t, target)
	}
	u.foreign.intact(t, target)
}

// ownTempFiles lists the temporary files of the job token under dir.
func ownTempFiles(t *testing.T, dir, token string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(d.Name(), tempSuffix(token)) {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func TestRestoreCancelledInTheMiddleLeavesExistingFilesAlone(t *testing.T) {
	for _, overwrite := range []bool{false, true} {
		t.Run(fmt.Sprintf("overwrite=%v", overwrite), func(t *testing.T) {
			gate, _, src, sn := wideRepo(t)
			r, err := Open(context.Background(), gate, testCreds)
			if err != nil {
				t.Fatal(err)
			}
			target := t.TempDir()
			user := plantUserState(t, target)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			gate.limit, gate.onLimit = 8, cancel
			var log errorLog
			_, err = r.Restore(ctx, sn, target, RestoreOptions{Token: "job-1", Overwrite: overwrite, Parallel: 2, OnError: log.record})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("restore cancelled part way: %v", err)
			}
			if !gate.fired.Load() {
				t.Fatal("the restore was not interrupted")
			}
			if overwrite {
				// With Overwrite, the conflicting file is either the user's still or the snapshot's
				// whole: never gone, never partly written.
				got := mustRead(t, filepath.Join(target, "a/f07.bin"))
				if !bytes.Equal(got, user.files[0].content) && !bytes.Equal(got, mustRead(t, filepath.Join(src, "a/f07.bin"))) {
					t.Fatalf("a/f07.bin is neither the user's nor the snapshot's: %d bytes", len(got))
				}
				user.files = user.files[1:]
			}
			user.intact(t, target)
			if left := ownTempFiles(t, target, "job-1"); len(left) > 0 {
				t.Fatalf("a cancelled restore left its temporary files: %v", left)
			}
		})
	}
}

func TestRestoreStoppedByADamagedPackLeavesExistingFilesAlone(t *testing.T) {
	gate, root, _, sn := wideRepo(t)
	r, err := Open(context.Background(), gate, testCreds)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.LoadIndex(context.Background()); err != nil {
		t.Fatal(err)
	}
	damageChunk(t, r, root, sn, "b/large.bin")
	target := t.TempDir()
	user := plantUserState(t, target)
	// Without OnError the first damaged file stops the restore.
	_, err = r.Restore(context.Background(), sn, target, RestoreOptions{Token: "job-1", Overwrite: true})
	if err == nil || !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "b/large.bin: chunk 1 of") {
		t.Fatalf("restore of a damaged snapshot: %v", err)
	}
	user.files = user.files[1:] // a/f07.bin may have been replaced (Overwrite) before the damage was met
	user.intact(t, target)
	if left := ownTempFiles(t, target, "job-1"); len(left) > 0 {
		t.Fatalf("a failed restore left its temporary files: %v", left)
	}
}

func TestRestoreRetryAfterAnInterruptionCompletesWithoutOverwrite(t *testing.T) {
	gate, _, src, sn := wideRepo(t)
	r, err := Open(context.Background(), gate, testCreds)
	if err != nil {
		t.Fatal(err)
	}
	target := t.TempDir()
	user := plantUserState(t, target)
	ctx, cancel := context.WithCancel(context.Background())
	gate.limit, gate.onLimit = 8, cancel
	var first errorLog
	if _, err := r.Restore(ctx, sn, target, RestoreOptions{Token: "job-1", Parallel: 2, OnError: first.record}); !errors.Is(err, context.Canceled) {
		t.Fatalf("first attempt: %v", err)
	}
	cancel()
	// A crash would have left a temporary file of this job behind; the retry removes it.
	leftover := filepath.Join(target, "a", tempName("f01.bin", "job-1"))
	if err := os.WriteFile(leftover, []byte("half written"), 0o600); err != nil {
		t.Fatal(err)
	}

	gate.limit, gate.onLimit = 1<<30, nil
	var log errorLog
	res, err := r.Restore(context.Background(), sn, target, RestoreOptions{Token: "job-1", OnError: log.record})
	// The one conflict is the user's own a/f07.bin, which stays.
	if err == nil || len(res.Failed) != 1 || !strings.Contains(res.Failed[0], "a/f07.bin: exists at the target") {
		t.Fatalf("retry: %+v, %v", res, err)
	}
	if res.AlreadyRestored == 0 || res.AlreadyRestored >= res.Files {
		t.Fatalf("retry found %d of %d files already restored", res.AlreadyRestored, res.Files)
	}
	user.intact(t, target)
	// The user's directories (made when the user's files were) keep their own mode and times.
	compareRestored(t, src, target, map[string]bool{"a/f07.bin": true, "a": true, "b": true, "c": true, "c/d": true})
	for _, dir := range []string{"a", "b", "c/d"} {
		if fi, err := os.Stat(filepath.Join(target, dir)); err != nil || fi.Mode().Perm() != 0o755 {
			t.Errorf("the user's directory %s: %v, %v", dir, fi.Mode(), err)
		}
	}
	if _, err := os.Lstat(leftover); !os.IsNotExist(err) {
		t.Fatalf("the job's leftover temporary file is still there: %v", err)
	}
	if left := ownTempFiles(t, target, "job-1"); len(left) > 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

// compareRestored is compareTrees for a target that also holds the user's files: it compares
// every entry of want except those in skip, and directories' modes and times too.
func compareRestored(t *testing.T, want, got string, skip map[string]bool) {
	t.Helper()
	err := filepath.WalkDir(want, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(want, p)
		if rel == "." || skip[filepath.ToSlash(rel)] {
			return nil
		}
		wi, _ := os.Lstat(p)
		gi, err := os.Lstat(filepath.Join(got, rel))
		if err != nil {
			t.Errorf("%s: missing after restore: %v", rel, err)
			return nil
		}
		if wi.Mode() != gi.Mode() {
			t.Errorf("%s: mode %v, want %v", rel, gi.Mode(), wi.Mode())
		}
		if !wi.ModTime().Equal(gi.ModTime()) {
			t.Errorf("%s: mtime %v, want %v", rel, gi.ModTime(), wi.ModTime())
		}
		if wi.Mode().IsRegular() && !bytes.Equal(mustRead(t, p), mustRead(t, filepath.Join(got, rel))) {
			t.Errorf("%s: content differs", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The killed-restore test re-runs this test binary as a restore that blocks part way, and kills
// it there with SIGKILL: no cleanup runs.
const killedRestoreEnv = "LIFEBOAT_KILLED_RESTORE"

func init() {
	if spec := os.Getenv(killedRestoreEnv); spec != "" {
		os.Exit(killedRestoreChild(spec))
	}
}

// killedRestoreChild restores the latest snapshot of the repository at repoDir into target with
// token, and blocks after a few pack reads, telling the parent so by creating the file ready.
func killedRestoreChild(spec string) int {
	var repoDir, target, token, ready string
	if _, err := fmt.Sscanf(spec, "%s %s %s %s", &repoDir, &target, &token, &ready); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	be, err := newLocalBackend(repoDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	gate := &gatedBackend{Backend: be, limit: 8, block: true, onLimit: func() {
		// Let the other reader get stuck too, then report.
		time.AfterFunc(200*time.Millisecond, func() { _ = os.WriteFile(ready, nil, 0o600) })
	}}
	ctx := context.Background()
	r, err := Open(ctx, gate, testCreds)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	sn, err := r.FindSnapshot(ctx, "latest", SnapshotFilter{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if _, err := r.Restore(ctx, sn, target, RestoreOptions{Token: token, Parallel: 2}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func TestRestoreRetryAfterAKilledRestoreCompletes(t *testing.T) {
	gate, repoRoot, src, sn := wideRepo(t)
	target := filepath.Join(t.TempDir(), "target")
	ready := filepath.Join(t.TempDir(), "ready")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), killedRestoreEnv+"="+strings.Join([]string{repoRoot, target, "job-7", ready}, " "))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := os.Stat(ready); err == nil {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatal("the restore did not reach its gate within a minute")
		}
		time.Sleep(5 * time.Millisecond)
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	if left := ownTempFiles(t, target, "job-7"); len(left) == 0 {
		t.Log("the killed restore left no temporary files (it was between files)")
	}

	r, err := Open(context.Background(), gate, testCreds)
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Restore(context.Background(), sn, target, RestoreOptions{Token: "job-7"})
	if err != nil {
		t.Fatalf("retry after a killed restore: %v", err)
	}
	if res.AlreadyRestored == 0 {
		t.Fatalf("nothing of the killed attempt was reused: %+v", res)
	}
	// Directories the killed attempt created are its own: the retry gives them the snapshot's
	// modes and times.
	compareRestored(t, src, target, nil)
	if left := ownTempFiles(t, target, "job-7"); len(left) > 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

func TestRestoreSymlinksWithoutAndWithOverwrite(t *testing.T) {
	r, _, _, sn := backedUpTree(t)
	target := t.TempDir()
	if err := os.Symlink("somewhere/else", filepath.Join(target, "link")); err != nil {
		t.Fatal(err)
	}
	// The snapshot's abs-link is already in place: it counts as restored.
	if err := os.Symlink("/etc/passwd", filepath.Join(target, "abs-link")); err != nil {
		t.Fatal(err)
	}
	var log errorLog
	res, _ := r.Restore(context.Background(), sn, target, RestoreOptions{OnError: log.record})
	if msg, ok := log.get("link"); !ok || !strings.Contains(msg, "exists at the target") {
		t.Fatalf("existing symlink not reported: %v", log.failed)
	}
	if got, _ := os.Readlink(filepath.Join(target, "link")); got != "somewhere/else" {
		t.Fatalf("existing symlink changed to %q", got)
	}
	if res == nil || res.Symlinks != 1 || res.AlreadyRestored != 1 {
		t.Fatalf("result %+v", res)
	}
	res, err := r.Restore(context.Background(), sn, target, RestoreOptions{Overwrite: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.Readlink(filepath.Join(target, "link")); got != "text/log.txt" {
		t.Fatalf("symlink not replaced: %q", got)
	}
	if res.Symlinks != 2 || res.Replaced == 0 {
		t.Fatalf("result %+v", res)
	}
	noTempFiles(t, target)
}

// With a descriptor budget of a few, directories and partly written files are closed and opened
// again as the restore goes; the result is the same.
func TestRestoreWithFewDescriptors(t *testing.T) {
	gate, _, src, sn := wideRepo(t)
	r, err := Open(context.Background(), gate, testCreds)
	if err != nil {
		t.Fatal(err)
	}
	old := maxOpenFDs
	maxOpenFDs = 3
	defer func() { maxOpenFDs = old }()
	target := t.TempDir()
	if _, err := r.Restore(context.Background(), sn, target, RestoreOptions{Parallel: 4}); err != nil {
		t.Fatal(err)
	}
	compareRestored(t, src, target, nil)
}

func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
