package repository

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lifeboat-dr/lifeboat/integrations/storage"
)

// The crash-injection tests run an operation once to count its writes, then once per write with the
// process "dying" right before it (the write left half done where local disk can show that, as a
// temporary file). After each crash the repository is reopened from disk and must check clean
// (packs in no index and temporary files allowed), every snapshot that existed must restore
// byte-identical, and the operation's retry — a later attempt of the same job — must complete.

// crashKey opens the test repositories without the passphrase's key derivation, which would
// dominate the run time of a few hundred opens.
var crashKey = GenerateKeyFile()

// crashFixture is a repository on local disk, copied afresh for each injected crash.
type crashFixture struct {
	template string
	// snapshots that exist before the operation, and the source each must restore to.
	snapshots map[ID]string
}

// openCrash opens the repository in be with small packs and frequent checkpoints, so that a small
// data set makes many writes.
func openCrash(t testing.TB, be storage.Backend) *Repository {
	t.Helper()
	r, err := Open(context.Background(), be, Credentials{KeyFile: crashKey})
	if err != nil {
		t.Fatal(err)
	}
	r.cfg.PackSize = 96 << 10
	r.checkpointPacks = 2
	return r
}

// copyDir copies the tree src to dst.
func copyDir(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
}

// writeFiles writes files of random content into dir, seeded so that each call differs.
func writeFiles(t testing.TB, dir string, seed uint64, sizes map[string]int) {
	t.Helper()
	rnd := rand.New(rand.NewPCG(seed, 77))
	for name, size := range sizes {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, randBytes(rnd, size), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// crashRun describes one operation run under crash injection.
type crashRun struct {
	name string
	job  string
	// run performs the operation (an attempt of job) on r.
	run func(ctx context.Context, r *Repository) error
	// retry completes the operation after a crash, with the same job; by default run.
	retry func(ctx context.Context, r *Repository) error
	// verify checks the outcome of a completed operation on the repository.
	verify func(t *testing.T, r *Repository)
}

// injectCrashes runs op on a copy of fx for every write it makes, crashing at that write.
func injectCrashes(t *testing.T, fx *crashFixture, op crashRun) {
	ctx := context.Background()
	// A dry run counts the writes.
	dir := filepath.Join(t.TempDir(), "count")
	copyDir(t, fx.template, dir)
	counter := &crashBackend{Backend: newLocalAt(t, dir), after: -1}
	if err := op.run(WithLockOwner(ctx, op.job), openCrash(t, counter)); err != nil {
		t.Fatalf("%s without a crash: %v", op.name, err)
	}
	writes := counter.Writes()
	op.verify(t, openCrash(t, newLocalAt(t, dir)))
	short := make([]string, len(writes))
	for i, w := range writes {
		short[i] = w[:min(len(w), strings.LastIndexByte(w, '/')+9)] // "create data/ab/ab12cd34"
	}
	t.Logf("%s makes %d writes; injecting a crash at each of the %d points: %s", op.name, len(writes), len(writes), strings.Join(short, ", "))

	for n := range writes {
		t.Run(fmt.Sprintf("%s dies after %d of %d writes", op.name, n, len(writes)), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "repo")
			copyDir(t, fx.template, dir)
			cb := &crashBackend{Backend: newLocalAt(t, dir), after: n, halfDone: leaveHalfWritten(dir)}
			err := op.run(WithLockOwner(ctx, op.job), openCrash(t, cb))
			if cb.at == "" {
				// Blobs reach packs in the order the workers finish, so the number of packs, and of
				// writes, can differ by one from the counting run.
				if err != nil {
					t.Fatalf("%s made %d writes and failed without a crash: %v", op.name, len(cb.Writes()), err)
				}
				t.Logf("%s made only %d writes this time: nothing to inject", op.name, len(cb.Writes()))
				op.verify(t, openCrash(t, newLocalAt(t, dir)))
				return
			}
			if err == nil {
				t.Logf("%s reported success although it died at %s", op.name, cb.at)
			}

			// A new process. Its check takes over the dead attempt's lock, as the job's next
			// attempt would.
			r := openCrash(t, newLocalAt(t, dir))
			rep, err := r.Check(WithLockOwner(ctx, op.job), CheckOptions{ReadData: true})
			if err != nil {
				t.Fatalf("check after dying at %s: %v", cb.at, err)
			}
			if !rep.OK() {
				t.Fatalf("check after dying at %s: problems %q, damaged %v", cb.at, rep.Problems, rep.Damaged)
			}
			if strings.HasPrefix(cb.at, "create ") && len(rep.TempFiles) == 0 {
				t.Fatalf("check does not report the temporary file the write that died left")
			}
			for id, src := range fx.snapshots {
				sn, err := r.LoadSnapshot(ctx, id)
				if err != nil {
					t.Fatalf("snapshot %s after dying at %s: %v", id.Short(), cb.at, err)
				}
				assertRestores(t, r, sn, src)
			}
			retry := op.retry
			if retry == nil {
				retry = op.run
			}
			if err := retry(WithLockOwner(ctx, op.job), r); err != nil {
				t.Fatalf("retry after dying at %s: %v", cb.at, err)
			}
			op.verify(t, openCrash(t, newLocalAt(t, dir)))
		})
	}
}

// crashSources writes the data the crash tests back up: v1, and v2 with some files changed, one
// added and one removed.
func crashSources(t *testing.T) (v1, v2 string) {
	v1, v2 = t.TempDir(), t.TempDir()
	files := map[string]int{}
	for i := range 6 {
		files[fmt.Sprintf("d%d/f%d.bin", i%2, i)] = 40<<10 + i*1000
	}
	files["small.txt"] = 300
	writeFiles(t, v1, 1, files)
	copyDir(t, v1, v2)
	writeFiles(t, v2, 2, map[string]int{"d0/f0.bin": 120 << 10, "d1/f3.bin": 90 << 10, "new/added.bin": 200 << 10})
	if err := os.Remove(filepath.Join(v2, "d1", "f1.bin")); err != nil {
		t.Fatal(err)
	}
	return v1, v2
}

// newCrashTemplate makes a repository holding a snapshot of v1.
func newCrashTemplate(t *testing.T, v1 string) (dir string, parent *Snapshot) {
	ctx := context.Background()
	dir = t.TempDir()
	be := newLocalAt(t, dir)
	if _, err := Init(ctx, be, Credentials{KeyFile: crashKey}, InitOptions{Chunker: &testChunks, PackSize: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	parent, err := openCrash(t, be).Backup(ctx, []string{v1}, BackupOptions{Source: "files", Job: "backup/run-1"})
	if err != nil {
		t.Fatal(err)
	}
	return dir, parent
}

func TestCrashInjectionBackup(t *testing.T) {
	v1, v2 := crashSources(t)
	dir, parent := newCrashTemplate(t, v1)
	const job = "backup/run-2"
	injectCrashes(t, &crashFixture{template: dir, snapshots: map[ID]string{parent.ID: v1}}, crashRun{
		name: "backup",
		job:  job,
		run: func(ctx context.Context, r *Repository) error {
			sn, err := r.Backup(ctx, []string{v2}, BackupOptions{Source: "files", Job: job})
			if err == nil && (sn.Parent == nil || *sn.Parent != parent.ID) {
				return fmt.Errorf("backup without the parent snapshot: %v", sn.Parent)
			}
			return err
		},
		verify: func(t *testing.T, r *Repository) {
			all, err := r.Snapshots(context.Background())
			if err != nil || len(all) != 2 {
				t.Fatalf("snapshots after the backup: %v, %v; want the parent and one more", all, err)
			}
			for _, sn := range all {
				if sn.ID != parent.ID {
					assertRestores(t, r, sn, v2)
				}
			}
		},
	})
}

func TestCrashInjectionPrune(t *testing.T) {
	ctx := context.Background()
	v1, v2 := crashSources(t)
	dir, parent := newCrashTemplate(t, v1)
	r := openCrash(t, newLocalAt(t, dir))
	second, err := r.Backup(ctx, []string{v2}, BackupOptions{Source: "files", Job: "backup/run-2"})
	if err != nil {
		t.Fatal(err)
	}
	// Forget the first snapshot: prune then drops and repacks.
	if err := r.DeleteSnapshot(ctx, parent.ID); err != nil {
		t.Fatal(err)
	}
	const job = "prune/run-1"
	prune := func(ctx context.Context, r *Repository) error {
		_, err := r.Prune(ctx, PruneOptions{})
		return err
	}
	injectCrashes(t, &crashFixture{template: dir, snapshots: map[ID]string{second.ID: v2}}, crashRun{
		name: "prune",
		job:  job,
		run:  prune,
		// Packs a dead prune wrote before indexing them keep the next prune refusing until the
		// index is repaired.
		retry: func(ctx context.Context, r *Repository) error {
			err := prune(ctx, r)
			if errors.Is(err, ErrUnindexedPacks) {
				if _, err := r.RepairIndex(ctx, RepairIndexOptions{}); err != nil {
					return err
				}
				err = prune(ctx, r)
			}
			return err
		},
		verify: func(t *testing.T, r *Repository) {
			rep := assertCheckClean(t, context.Background(), r)
			if len(rep.Unreferenced) != 0 {
				t.Fatalf("packs in no index after prune: %v", rep.Unreferenced)
			}
			sn, err := r.LoadSnapshot(context.Background(), second.ID)
			if err != nil {
				t.Fatal(err)
			}
			assertRestores(t, r, sn, v2)
		},
	})
}

func TestCrashInjectionRepairIndex(t *testing.T) {
	ctx := context.Background()
	v1, v2 := crashSources(t)
	dir, parent := newCrashTemplate(t, v1)
	// A backup that died after uploading packs, before indexing them: packs in no index.
	cb := &crashBackend{Backend: newLocalAt(t, dir)}
	cb.after = 3 // its lock and two packs
	if _, err := openCrash(t, cb).Backup(ctx, []string{v2}, BackupOptions{Source: "files"}); !errors.Is(err, errCrashed) {
		t.Fatalf("backup meant to die: %v", err)
	}
	r := openCrash(t, newLocalAt(t, dir))
	if removed, err := r.RemoveStaleLocks(ctx, true); err != nil || len(removed) != 1 {
		t.Fatalf("remove the dead backup's lock: %v, %v", removed, err)
	}
	if rep := assertCheckClean(t, ctx, r); len(rep.Unreferenced) == 0 {
		t.Fatal("the dead backup left no pack in no index")
	}
	const job = "repair/run-1"
	injectCrashes(t, &crashFixture{template: dir, snapshots: map[ID]string{parent.ID: v1}}, crashRun{
		name: "repair index",
		job:  job,
		run: func(ctx context.Context, r *Repository) error {
			rep, err := r.RepairIndex(ctx, RepairIndexOptions{All: true})
			if err == nil && len(rep.Unreadable) != 0 {
				return fmt.Errorf("unreadable packs: %v", rep.Unreadable)
			}
			return err
		},
		verify: func(t *testing.T, r *Repository) {
			rep := assertCheckClean(t, context.Background(), r)
			if len(rep.Unreferenced) != 0 {
				t.Fatalf("packs in no index after repair: %v", rep.Unreferenced)
			}
			if _, err := r.Prune(context.Background(), PruneOptions{}); err != nil {
				t.Fatalf("prune after repair: %v", err)
			}
			sn, err := r.LoadSnapshot(context.Background(), parent.ID)
			if err != nil {
				t.Fatal(err)
			}
			assertRestores(t, r, sn, v1)
		},
	})
}
