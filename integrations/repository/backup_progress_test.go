package repository

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// A backup of paths counts what it has to read, as it is now: its last report's total is the
// files it read, with the excluded ones left out, whatever the previous snapshot held.
func TestBackupProgressCountsWhatItReads(t *testing.T) {
	r := initRepo(t, newLocal(t))
	src := t.TempDir()
	write := func(rel string, size int) {
		p := filepath.Join(src, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(strings.Repeat("x", size)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.txt", 1000)
	write("sub/b.txt", 2000)
	write("sub/skip.tmp", 5000)
	backup := func() Progress {
		var mu sync.Mutex
		var last Progress
		_, err := r.Backup(context.Background(), []string{src}, BackupOptions{Source: "files", Excludes: []string{"*.tmp"},
			ProgressInterval: time.Millisecond, Progress: func(p Progress) {
				mu.Lock()
				defer mu.Unlock()
				if p.TotalKnown && p.BytesTotal < p.BytesDone {
					t.Errorf("total %d below what was read %d", p.BytesTotal, p.BytesDone)
				}
				last = p
			}})
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		return last
	}
	if p := backup(); !p.Done || !p.TotalKnown || p.BytesTotal != 3000 || p.FilesTotal != 2 || p.BytesDone != 3000 {
		t.Fatalf("first backup's last report %+v, want 3000 bytes in 2 files", p)
	}
	write("sub/deeper/c.bin", 40000)
	if p := backup(); !p.TotalKnown || p.BytesTotal != 43000 || p.FilesTotal != 3 {
		t.Fatalf("second backup's last report %+v, want 43000 bytes in 3 files, not the previous snapshot's 3000", p)
	}
	// Several paths are counted under their base names, as the backup names them.
	var mu sync.Mutex
	var last Progress
	if _, err := r.Backup(context.Background(), []string{filepath.Join(src, "a.txt"), filepath.Join(src, "sub")}, BackupOptions{Source: "two",
		Excludes: []string{"sub/deeper"}, ProgressInterval: time.Millisecond, Progress: func(p Progress) { mu.Lock(); last = p; mu.Unlock() }}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !last.TotalKnown || last.BytesTotal != 1000+2000+5000 || last.FilesTotal != 3 {
		t.Fatalf("two paths: %+v, want 8000 bytes in 3 files", last)
	}
}
