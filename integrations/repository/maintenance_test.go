package repository

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestPruneFreesWhatNoSnapshotUses(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	r := initRepo(t, newLocalAt(t, root))
	src := t.TempDir()
	makeTree(t, src)
	first, err := r.Backup(ctx, []string{src}, BackupOptions{Source: "s"})
	if err != nil {
		t.Fatal(err)
	}
	// Replace most of the data, then back up again.
	if err := os.RemoveAll(filepath.Join(src, "many")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "big.bin"), []byte("small now"), 0o640); err != nil {
		t.Fatal(err)
	}
	second, err := r.Backup(ctx, []string{src}, BackupOptions{Source: "s"})
	if err != nil {
		t.Fatal(err)
	}
	before := len(packFiles(t, root))

	dry, err := r.Prune(ctx, PruneOptions{DryRun: true})
	if err != nil || dry.BytesFreed != 0 || dry.PacksDeleted != 0 {
		t.Fatalf("dry run with every snapshot kept: %+v, %v", dry, err)
	}
	if err := r.DeleteSnapshot(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	rep, err := r.Prune(ctx, PruneOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.BytesFreed == 0 || rep.PacksDeleted+rep.PacksRepacked == 0 {
		t.Fatalf("nothing freed: %+v", rep)
	}
	if after := len(packFiles(t, root)); after >= before+rep.PacksRepacked {
		t.Fatalf("packs %d → %d with report %+v", before, after, rep)
	}
	// The repository is sound and the kept snapshot restores intact.
	r2, err := Open(ctx, r.Backend(), testCreds)
	if err != nil {
		t.Fatal(err)
	}
	chk, err := r2.Check(ctx, CheckOptions{ReadData: true})
	if err != nil || !chk.OK() || len(chk.Unreferenced) != 0 {
		t.Fatalf("check after prune: %+v, %v", chk, err)
	}
	dst := t.TempDir()
	if _, err := r2.Restore(ctx, second, dst, RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	compareTrees(t, src, dst)

	// A second prune has nothing to do.
	again, err := r2.Prune(ctx, PruneOptions{})
	if err != nil || again.BytesFreed != 0 {
		t.Fatalf("second prune: %+v, %v", again, err)
	}
}

func TestPruneRefusesWhenASnapshotIsUnreadable(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	r := initRepo(t, newLocalAt(t, root))
	src := t.TempDir()
	makeTree(t, src)
	if _, err := r.Backup(ctx, []string{src}, BackupOptions{}); err != nil {
		t.Fatal(err)
	}
	packs := packFiles(t, root)
	// With every pack gone no tree can be read: prune must refuse rather than delete anything.
	for _, p := range packs {
		_ = os.Remove(p)
	}
	if _, err := r.Prune(ctx, PruneOptions{}); err == nil || !strings.Contains(err.Error(), "prune will not delete anything") {
		t.Fatalf("prune over missing packs: %v", err)
	}
	idx, _ := os.ReadDir(filepath.Join(root, "index"))
	if len(idx) == 0 {
		t.Fatal("prune deleted index files although it refused")
	}
}

func TestCopyToAnotherRepository(t *testing.T) {
	ctx := context.Background()
	onsite := initRepo(t, newLocal(t))
	offBE := newLocal(t)
	offsite, err := Init(ctx, offBE, Credentials{Passphrase: "another passphrase"}, InitOptions{Chunker: &testChunks, PackSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	makeTree(t, src)
	first, err := onsite.Backup(ctx, []string{src}, BackupOptions{Source: "files", Tags: []string{"nightly"}})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := onsite.CopyTo(ctx, offsite, []*Snapshot{first})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Copied) != 1 || rep.BlobsAdded == 0 {
		t.Fatalf("copy: %+v", rep)
	}
	// Copying again finds the copy and skips it.
	if again, err := onsite.CopyTo(ctx, offsite, []*Snapshot{first}); err != nil || again.Skipped != 1 || len(again.Copied) != 0 {
		t.Fatalf("second copy: %+v, %v", again, err)
	}
	// An incremental copy only adds what changed.
	if err := os.WriteFile(filepath.Join(src, "text", "new.txt"), []byte("fresh"), 0o644); err != nil {
		t.Fatal(err)
	}
	second, err := onsite.Backup(ctx, []string{src}, BackupOptions{Source: "files"})
	if err != nil {
		t.Fatal(err)
	}
	inc, err := onsite.CopyTo(ctx, offsite, []*Snapshot{first, second})
	if err != nil || len(inc.Copied) != 1 || inc.BlobsAdded > 4 {
		t.Fatalf("incremental copy: %+v, %v", inc, err)
	}

	// The off-site copy restores on its own, with its own passphrase.
	off, err := Open(ctx, offBE, Credentials{Passphrase: "another passphrase"})
	if err != nil {
		t.Fatal(err)
	}
	sn, err := off.FindSnapshot(ctx, "latest", SnapshotFilter{Source: "files"})
	if err != nil {
		t.Fatal(err)
	}
	if sn.Original == nil || *sn.Original != second.ID || sn.Parent == nil {
		t.Fatalf("copied snapshot metadata: original %v parent %v", sn.Original, sn.Parent)
	}
	dst := t.TempDir()
	if _, err := off.Restore(ctx, sn, dst, RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	compareTrees(t, src, dst)
	if chk, err := off.Check(ctx, CheckOptions{ReadData: true}); err != nil || !chk.OK() {
		t.Fatalf("off-site check: %+v, %v", chk, err)
	}
}

func TestDiff(t *testing.T) {
	ctx := context.Background()
	r := initRepo(t, newLocal(t))
	src := t.TempDir()
	makeTree(t, src)
	a, err := r.Backup(ctx, []string{src}, BackupOptions{Source: "s"})
	if err != nil {
		t.Fatal(err)
	}
	_ = os.Remove(filepath.Join(src, "dup", "two.bin"))
	_ = os.WriteFile(filepath.Join(src, "text", "log.txt"), []byte("rewritten"), 0o644)
	_ = os.WriteFile(filepath.Join(src, "added.txt"), []byte("hello"), 0o644)
	_ = os.Chmod(filepath.Join(src, "text", "script.sh"), 0o700)
	old := time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)
	_ = os.Chtimes(filepath.Join(src, "dup"), old, old)
	_ = os.Chtimes(filepath.Join(src, "text"), old, old)
	_ = os.Chtimes(filepath.Join(src), old, old)
	b, err := r.Backup(ctx, []string{src}, BackupOptions{Source: "s"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	st, err := r.Diff(ctx, a, b, func(c Change) error {
		got = append(got, string(c.Kind)+" "+c.Path)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(got)
	want := []string{"added /added.txt", "metadata /text/script.sh", "modified /text/log.txt", "removed /dup/two.bin"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("diff:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if st.Added != 1 || st.Removed != 1 || st.Modified != 1 || st.Metadata != 1 {
		t.Fatalf("stats %+v", st)
	}
}
