package repository

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Temporary files left by a killed process are reported by check; with RemoveTemps the old ones
// are deleted and the young ones (maybe an upload in progress) are kept.
func TestCheckReportsAndRemovesLeftoverTempFiles(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	be := newLocalAt(t, root)
	r := initRepo(t, be)
	src := t.TempDir()
	makeTree(t, src)
	sn, err := r.Backup(ctx, []string{src}, BackupOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// What a Put killed after it created its temporary file leaves: a real one, made as Put makes it.
	leftover := func(dir string, age time.Duration) string {
		f, err := os.CreateTemp(filepath.Join(root, dir), "0123abcd.tmp-*")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write([]byte("half a pack")); err != nil {
			t.Fatal(err)
		}
		f.Close()
		when := time.Now().Add(-age)
		if err := os.Chtimes(f.Name(), when, when); err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, f.Name())
		return filepath.ToSlash(rel)
	}
	old := leftover("index", 2*time.Hour)
	young := leftover("snapshots", time.Minute)

	rep := assertCheckClean(t, ctx, r)
	if len(rep.TempFiles) != 2 || rep.TempFiles[0].Name != old || rep.TempFiles[1].Name != young || rep.TempFiles[0].Removed || rep.TempFiles[0].Size != 11 {
		t.Fatalf("temporary files reported: %+v; want %s and %s", rep.TempFiles, old, young)
	}
	rep, err = r.Check(ctx, CheckOptions{RemoveTemps: true})
	if err != nil || !rep.OK() {
		t.Fatalf("check removing temporary files: %+v, %v", rep, err)
	}
	if len(rep.TempFiles) != 2 || !rep.TempFiles[0].Removed || rep.TempFiles[1].Removed {
		t.Fatalf("removal reported: %+v; want %s removed and %s kept", rep.TempFiles, old, young)
	}
	if _, err := os.Stat(filepath.Join(root, old)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("old temporary file still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, young)); err != nil {
		t.Fatalf("young temporary file removed: %v", err)
	}
	assertRestores(t, r, sn, src)
}

// A pack whose header is damaged is reported by repair, never deleted, and keeps prune refusing
// until someone decides; with All the index is rebuilt from every pack without forgetting what the
// old index knew about the damaged one.
func TestRepairIndexReportsADamagedPackHeader(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	be := newLocalAt(t, root)
	r := initRepo(t, be)
	r.checkpointPacks = 2
	src := t.TempDir()
	writeBigFiles(t, src, 12, 3, 1<<20)
	sn, err := r.Backup(ctx, []string{src}, BackupOptions{Source: "big"})
	if err != nil {
		t.Fatal(err)
	}
	lost := checkpointIndex(t, r, sn)
	lostPacks, err := r.loadIndexFile(ctx, lost)
	if err != nil {
		t.Fatal(err)
	}
	if err := be.Delete(ctx, indexPrefix+lost.String()); err != nil {
		t.Fatal(err)
	}
	// Damage the header (its last bytes before the trailer) of one of the packs that lost their index.
	damaged := lostPacks[0].id
	p := filepath.Join(root, packName(damaged))
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-packTrailerSize-3] ^= 0xff
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}

	rep, err := r.RepairIndex(ctx, RepairIndexOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Unreadable) != 1 || rep.Unreadable[0].Pack != damaged || rep.Unreadable[0].Indexed || rep.PacksRead != len(lostPacks)-1 {
		t.Fatalf("repair with a damaged header: %+v", rep)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("the damaged pack is gone: %v", err)
	}
	if _, err := r.Prune(ctx, PruneOptions{}); !errors.Is(err, ErrUnindexedPacks) || !strings.Contains(err.Error(), "1 pack files") {
		t.Fatalf("prune with a pack no index names: %v", err)
	}
	if dry, err := r.Prune(ctx, PruneOptions{DryRun: true, DeleteUnindexed: true}); err != nil || dry.PacksUnreferenced != 1 || dry.PacksDeleted != 1 {
		t.Fatalf("dry run of a prune told to delete packs in no index: %+v, %v", dry, err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("the damaged pack is gone after a dry run: %v", err)
	}

	// Put the damaged pack's entries back in an index file, as they were, then rebuild everything.
	if _, err := r.saveIndex(ctx, []indexPack{lostPacks[0]}); err != nil {
		t.Fatal(err)
	}
	before, err := r.listIDs(ctx, indexPrefix)
	if err != nil {
		t.Fatal(err)
	}
	all, err := r.RepairIndex(ctx, RepairIndexOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Unreadable) != 1 || !all.Unreadable[0].Indexed || all.IndexFilesRemoved != len(before) || all.IndexFilesWritten == 0 || all.BlobsAdded != 0 {
		t.Fatalf("rebuild: %+v (index files before: %d)", all, len(before))
	}
	after, err := r.listIDs(ctx, indexPrefix)
	if err != nil || len(after) != all.IndexFilesWritten {
		t.Fatalf("index files after the rebuild: %d, %v; want %d", len(after), err, all.IndexFilesWritten)
	}
	r2, err := Open(ctx, be, testCreds)
	if err != nil {
		t.Fatal(err)
	}
	if chk, err := r2.Check(ctx, CheckOptions{}); err != nil || !chk.OK() || len(chk.Unreferenced) != 0 {
		t.Fatalf("check after the rebuild (structure): %+v, %v", chk, err)
	}
	if _, err := r2.Prune(ctx, PruneOptions{}); err != nil {
		t.Fatalf("prune after the rebuild: %v", err)
	}
	assertRestores(t, r2, sn, src)
}

// A backup that fails midway indexes the packs it uploaded, so that the next backup reuses them and
// prune does not find packs in no index.
func TestFailedBackupIndexesWhatItUploaded(t *testing.T) {
	ctx := context.Background()
	be := newLocal(t)
	r := initRepo(t, be)
	r.checkpointPacks = 1000 // no checkpoint before the failure
	src := t.TempDir()
	writeBigFiles(t, src, 13, 4, 1<<20)
	bctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var packs atomic.Int32
	hb := &hookBackend{Backend: be, before: func(op, name string) error {
		if op == "create" && strings.HasPrefix(name, dataPrefix) && packs.Add(1) == 3 {
			cancel()
		}
		return nil
	}}
	failing, err := Open(ctx, hb, testCreds)
	if err != nil {
		t.Fatal(err)
	}
	failing.checkpointPacks = 1000
	if _, err := failing.Backup(bctx, []string{src}, BackupOptions{Source: "big"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled backup: %v", err)
	}
	rep := assertCheckClean(t, ctx, r)
	if len(rep.Unreferenced) != 0 || rep.Packs < 2 {
		t.Fatalf("after the failed backup: %d packs indexed, in no index %v", rep.Packs, rep.Unreferenced)
	}
	if _, err := r.Prune(ctx, PruneOptions{}); err != nil {
		t.Fatalf("prune after the failed backup: %v", err)
	}
}
