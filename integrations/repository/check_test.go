package repository

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// packFiles returns the paths of the pack files of a local repository.
func packFiles(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(filepath.Join(root, "data"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	if len(out) == 0 {
		t.Fatal("no pack files")
	}
	return out
}

func TestCheckFindsAndNamesDamage(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	be := newLocalAt(t, root)
	r := initRepo(t, be)
	src := t.TempDir()
	makeTree(t, src)
	sn, err := r.Backup(ctx, []string{src}, BackupOptions{Source: "files"})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := r.Check(ctx, CheckOptions{ReadData: true})
	if err != nil || !rep.OK() || rep.PacksRead == 0 || rep.Snapshots != 1 {
		t.Fatalf("clean repository: %+v, %v", rep, err)
	}

	// Flip one byte inside the first blob of the pack that holds big.bin's first chunk.
	n, err := r.lookupPath(ctx, sn.Tree, "big.bin")
	if err != nil {
		t.Fatal(err)
	}
	pb, _ := r.Index().Lookup(n.Content[0])
	packPath := filepath.Join(root, packName(pb.Pack))
	data, err := os.ReadFile(packPath)
	if err != nil {
		t.Fatal(err)
	}
	data[pb.Offset+20] ^= 0x01
	if err := os.WriteFile(packPath, data, 0o600); err != nil {
		t.Fatal(err)
	}

	// Structure alone cannot see a flipped byte; reading the data names the file.
	if rep, err := r.Check(ctx, CheckOptions{}); err != nil || !rep.OK() {
		t.Fatalf("structure check: %+v, %v", rep, err)
	}
	rep, err = r.Check(ctx, CheckOptions{ReadData: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || len(rep.Damaged) == 0 {
		t.Fatalf("damage not found: %+v", rep)
	}
	var named bool
	for _, d := range rep.Damaged {
		if d.Path == "/big.bin" && d.Snapshot == sn.ID && strings.Contains(d.Reason, "chunk 1 of") && strings.Contains(d.Reason, pb.Pack.Short()) {
			named = true
		}
	}
	if !named {
		t.Fatalf("big.bin not named among %v", rep.Damaged)
	}

	// Restore refuses the damaged file with a clear error and restores the rest.
	var failed []string
	dst := t.TempDir()
	res, err := r.Restore(ctx, sn, dst, RestoreOptions{OnError: func(p string, err error) { failed = append(failed, p+": "+err.Error()) }})
	if err == nil || !strings.Contains(err.Error(), "could not be restored") {
		t.Fatalf("restore of a damaged snapshot: %v", err)
	}
	if len(failed) != 1 || !strings.HasPrefix(failed[0], "big.bin: chunk 1 of") || !errors.Is(err, err) {
		t.Fatalf("failed = %v", failed)
	}
	if _, err := os.Stat(filepath.Join(dst, "big.bin")); !os.IsNotExist(err) {
		t.Fatal("a damaged file was left at the target")
	}
	if res == nil || res.Files != 55 {
		t.Fatalf("other files not restored: %+v", res)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "text/script.sh")); string(b) != "#!/bin/sh\necho hi\n" {
		t.Fatal("an undamaged file was not restored")
	}
}

func TestCheckMissingAndTruncatedPacks(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	r := initRepo(t, newLocalAt(t, root))
	src := t.TempDir()
	makeTree(t, src)
	if _, err := r.Backup(ctx, []string{src}, BackupOptions{}); err != nil {
		t.Fatal(err)
	}
	packs := packFiles(t, root)
	if len(packs) < 2 {
		t.Fatalf("want several packs, have %d", len(packs))
	}
	if err := os.Remove(packs[0]); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(packs[1])
	if err := os.WriteFile(packs[1], b[:len(b)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	rep, err := r.Check(ctx, CheckOptions{})
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(rep.Problems, "\n")
	if !strings.Contains(joined, "is missing") || !strings.Contains(joined, "the index says") || len(rep.Damaged) == 0 {
		t.Fatalf("problems %q, damaged %v", joined, rep.Damaged)
	}
	// An orphan pack (as an interrupted backup leaves) is reported as unreferenced, not damage.
	orphan := filepath.Join(root, "data", "ff", strings.Repeat("f", 64))
	_ = os.MkdirAll(filepath.Dir(orphan), 0o700)
	_ = os.WriteFile(orphan, []byte("left over"), 0o600)
	rep, _ = r.Check(ctx, CheckOptions{})
	if len(rep.Unreferenced) != 1 {
		t.Fatalf("unreferenced = %v", rep.Unreferenced)
	}
}
