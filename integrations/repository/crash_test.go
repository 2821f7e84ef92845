package repository

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The crash test re-runs this test binary as a backup process and kills it mid-backup.
const crashEnv = "LIFEBOAT_CRASH_BACKUP"

func TestMain(m *testing.M) {
	if spec := os.Getenv(crashEnv); spec != "" {
		os.Exit(crashChild(spec))
	}
	os.Exit(m.Run())
}

// crashChild backs up src into the repository at repoDir and never returns normally before it is
// killed (unless the backup is faster than the test, which then fails its own check).
func crashChild(spec string) int {
	var repoDir, src string
	if _, err := fmt.Sscanf(spec, "%s %s", &repoDir, &src); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	be, err := newLocalBackend(repoDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx := context.Background()
	r, err := Open(ctx, be, testCreds)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if _, err := r.Backup(ctx, []string{src}, BackupOptions{Source: "crash"}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func TestKilledBackupLeavesASoundRepositoryAndTheNextOneResumes(t *testing.T) {
	ctx := context.Background()
	repoDir := t.TempDir()
	r := initRepo(t, newLocalAt(t, repoDir)) // 1 MiB packs: checkpoints every 16 packs
	src := t.TempDir()
	rnd := rand.New(rand.NewPCG(5, 6))
	for i := range 12 {
		if err := os.WriteFile(filepath.Join(src, fmt.Sprintf("part-%02d", i)), randBytes(rnd, 8<<20), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashEnv+"="+repoDir+" "+src)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill it once at least one checkpoint index is written and more packs follow.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		idx, _ := os.ReadDir(filepath.Join(repoDir, "index"))
		if slices.ContainsFunc(idx, func(e os.DirEntry) bool { return !strings.Contains(e.Name(), ".tmp-") }) {
			break // a complete checkpoint index, not one still being written
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatal("backup wrote no checkpoint within 2 minutes")
		}
		time.Sleep(5 * time.Millisecond)
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	err := cmd.Wait()
	if err == nil {
		t.Fatal("the backup finished before it could be killed: make the data set larger")
	}

	snaps, err := r.Snapshots(ctx)
	if err != nil || len(snaps) != 0 {
		t.Fatalf("a killed backup left snapshots %v (%v)", snaps, err)
	}
	// A stale lock from the dead process is ignored; the repository checks clean.
	rep, err := r.Check(ctx, CheckOptions{ReadData: true})
	if err != nil || !rep.OK() {
		t.Fatalf("check after the crash: %+v, %v", rep, err)
	}
	if err := r.LoadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("index after crash: %d blobs", r.Index().Len())
	// The next backup completes and reuses what the killed one uploaded.
	sn, err := r.Backup(ctx, []string{src}, BackupOptions{Source: "crash"})
	if err != nil {
		t.Fatal(err)
	}
	if sn.Summary.BytesAdded >= sn.Summary.TotalBytes {
		t.Fatalf("nothing reused: added %d of %d bytes", sn.Summary.BytesAdded, sn.Summary.TotalBytes)
	}
	t.Logf("resumed: %d of %d bytes were already uploaded", sn.Summary.TotalBytes-sn.Summary.BytesAdded, sn.Summary.TotalBytes)
	dst := t.TempDir()
	if _, err := r.Restore(ctx, sn, dst, RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	compareTrees(t, src, dst)
	// Packs uploaded after the last checkpoint are in no index: prune refuses until the index is
	// repaired, then removes them (their blobs were uploaded again by the resumed backup).
	if _, err := r.Prune(ctx, PruneOptions{}); errors.Is(err, ErrUnindexedPacks) {
		rep, err := r.RepairIndex(ctx, RepairIndexOptions{})
		if err != nil || rep.PacksRead == 0 || len(rep.Unreadable) != 0 {
			t.Fatalf("repair index after the crash: %+v, %v", rep, err)
		}
		if _, err := r.Prune(ctx, PruneOptions{}); err != nil {
			t.Fatalf("prune after repair: %v", err)
		}
	} else if err != nil {
		t.Fatalf("prune after the crash: %v", err)
	} else {
		t.Log("no orphaned packs to prune (the kill landed right after a checkpoint)")
	}
	if rep, err := r.Check(ctx, CheckOptions{ReadData: true}); err != nil || !rep.OK() || len(rep.Unreferenced) != 0 {
		t.Fatalf("check after prune: %+v, %v", rep, err)
	}
}
