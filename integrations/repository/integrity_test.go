package repository

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// assertRestores restores sn and fails unless it is byte-identical to src.
func assertRestores(t testing.TB, r *Repository, sn *Snapshot, src string) {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "restore")
	if _, err := r.Restore(context.Background(), sn, dst, RestoreOptions{}); err != nil {
		t.Fatalf("restore snapshot %s: %v", sn.ID.Short(), err)
	}
	compareTrees(t, src, dst)
}

// assertCheckClean runs a check that reads every pack and fails on any problem or damage.
func assertCheckClean(t testing.TB, ctx context.Context, r *Repository) *CheckReport {
	t.Helper()
	rep, err := r.Check(ctx, CheckOptions{ReadData: true})
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	if !rep.OK() {
		t.Fatalf("check found problems: %q, damaged: %v", rep.Problems, rep.Damaged)
	}
	return rep
}

// Several first backups to one new shared location race to create the repository: exactly one
// config is written, the others open it, and every backup's snapshot is readable.
func TestRacingFirstBackupsMakeOneRepository(t *testing.T) {
	for name, newBackend := range testBackends() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			be := newBackend(t)
			const racers = 3
			srcs := make([]string, racers)
			for i := range srcs {
				srcs[i] = t.TempDir()
				makeTree(t, srcs[i])
				if err := os.WriteFile(filepath.Join(srcs[i], "own.txt"), fmt.Appendf(nil, "racer %d", i), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var (
				wg      sync.WaitGroup
				start   = make(chan struct{})
				created [racers]bool
				snaps   [racers]*Snapshot
				errs    [racers]error
			)
			for i := range racers {
				wg.Go(func() {
					<-start
					r, err := Init(ctx, be, testCreds, InitOptions{Chunker: &testChunks, PackSize: 1 << 20})
					created[i] = err == nil
					if errors.Is(err, ErrAlreadyExists) {
						r, err = Open(ctx, be, testCreds)
					}
					if err != nil {
						errs[i] = err
						return
					}
					snaps[i], errs[i] = r.Backup(ctx, []string{srcs[i]}, BackupOptions{Source: fmt.Sprintf("racer-%d", i)})
				})
			}
			close(start)
			wg.Wait()
			n := 0
			for i := range racers {
				if errs[i] != nil {
					t.Fatalf("racer %d: %v", i, errs[i])
				}
				if created[i] {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("%d racers created the repository, want exactly 1", n)
			}
			r, err := Open(ctx, be, testCreds)
			if err != nil {
				t.Fatal(err)
			}
			keys, err := r.ListKeys(ctx)
			if err != nil || len(keys) != 1 {
				t.Fatalf("key slots after the race: %v, %v; want the winner's only", keys, err)
			}
			all, err := r.Snapshots(ctx)
			if err != nil || len(all) != racers {
				t.Fatalf("snapshots after the race: %d, %v; want %d", len(all), err, racers)
			}
			for i, sn := range snaps {
				got, err := r.LoadSnapshot(ctx, sn.ID)
				if err != nil {
					t.Fatalf("racer %d's snapshot: %v", i, err)
				}
				assertRestores(t, r, got, srcs[i])
			}
			if rep := assertCheckClean(t, ctx, r); len(rep.Unreferenced) != 0 {
				t.Fatalf("unreferenced packs after the race: %v", rep.Unreferenced)
			}
		})
	}
}

// checkpointIndex returns an index file of a local repository that does not hold sn's root tree:
// a checkpoint written during the backup.
func checkpointIndex(t testing.TB, r *Repository, sn *Snapshot) ID {
	t.Helper()
	ids, err := r.listIDs(context.Background(), indexPrefix)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		packs, err := r.loadIndexFile(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		hasRoot := false
		for _, p := range packs {
			for _, e := range p.entries {
				hasRoot = hasRoot || e.ID == sn.Tree
			}
		}
		if !hasRoot {
			return id
		}
	}
	t.Fatalf("no checkpoint index among %d index files", len(ids))
	return ID{}
}

// writeBigFiles fills dir with n files of size random bytes.
func writeBigFiles(t testing.TB, dir string, seed uint64, n, size int) {
	t.Helper()
	rnd := rand.New(rand.NewPCG(seed, seed))
	for i := range n {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("part-%02d", i)), randBytes(rnd, size), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// A lost checkpoint index makes its packs look like garbage. Prune must refuse rather than delete
// them, and rebuilding the index from the pack headers brings them back.
func TestPruneRefusesWhileACheckpointIndexIsMissing(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	r := initRepo(t, newLocalAt(t, root))
	src := t.TempDir()
	writeBigFiles(t, src, 11, 5, 4<<20) // 20 MiB in 1 MiB packs: a checkpoint after 16 packs
	sn, err := r.Backup(ctx, []string{src}, BackupOptions{Source: "big"})
	if err != nil {
		t.Fatal(err)
	}
	lost := checkpointIndex(t, r, sn)
	if err := r.Backend().Delete(ctx, indexPrefix+lost.String()); err != nil {
		t.Fatal(err)
	}
	packsBefore := packFiles(t, root)

	r2, err := Open(ctx, r.Backend(), testCreds)
	if err != nil {
		t.Fatal(err)
	}
	_, err = r2.Prune(ctx, PruneOptions{})
	if !errors.Is(err, ErrUnindexedPacks) {
		t.Fatalf("prune with a checkpoint index missing: %v, want ErrUnindexedPacks", err)
	}
	if got := packFiles(t, root); len(got) != len(packsBefore) {
		t.Fatalf("prune refused but %d of %d packs are gone", len(packsBefore)-len(got), len(packsBefore))
	}

	rep, err := r2.RepairIndex(ctx, RepairIndexOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.PacksRead == 0 || rep.BlobsAdded == 0 || rep.IndexFilesWritten == 0 || rep.IndexFilesRemoved != 0 || len(rep.Unreadable) != 0 {
		t.Fatalf("repair index: %+v", rep)
	}
	if _, err := r2.Prune(ctx, PruneOptions{}); err != nil {
		t.Fatalf("prune after repair: %v", err)
	}
	r3, err := Open(ctx, r.Backend(), testCreds)
	if err != nil {
		t.Fatal(err)
	}
	assertCheckClean(t, ctx, r3)
	assertRestores(t, r3, sn, src)
}
