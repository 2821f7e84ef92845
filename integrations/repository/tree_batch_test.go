package repository

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/lifeboat-dr/lifeboat/integrations/storage"
)

// countingGets counts the reads that reach a backend.
type countingGets struct {
	storage.Backend
	gets atomic.Int64
}

func (c *countingGets) Get(ctx context.Context, name string, off, n int64) (io.ReadCloser, error) {
	c.gets.Add(1)
	return c.Backend.Get(ctx, name, off, n)
}

// Tree blobs are written to packs of their own, and LoadTrees reads the listings of many
// directories with one request per run of nearby blobs.
func TestTreesHaveTheirOwnPacksAndLoadTogether(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	be := &countingGets{Backend: newLocalAt(t, root)}
	r := initRepo(t, be)
	src := t.TempDir()
	var dirs []string
	for i := range 40 {
		d := filepath.Join(src, fmt.Sprintf("dir%02d", i))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "f.bin"), make([]byte, 300<<10+i), 0o644); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, filepath.Base(d))
	}
	sn, err := r.Backup(ctx, []string{src}, BackupOptions{Source: "dirs"})
	if err != nil {
		t.Fatal(err)
	}
	types := map[ID]map[BlobType]bool{}
	r.Index().Each(func(pb PackedBlob) {
		if types[pb.Pack] == nil {
			types[pb.Pack] = map[BlobType]bool{}
		}
		types[pb.Pack][pb.Type] = true
	})
	for pack, ts := range types {
		if len(ts) != 1 {
			t.Fatalf("pack %s holds data and tree blobs", pack.Short())
		}
	}

	top, err := r.LoadTree(ctx, sn.Tree)
	if err != nil {
		t.Fatal(err)
	}
	var ids []ID
	for _, n := range top.Nodes {
		ids = append(ids, *n.Subtree)
	}
	fresh, err := Open(ctx, be, testCreds)
	if err != nil {
		t.Fatal(err)
	}
	if err := fresh.LoadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	before := be.gets.Load()
	trees, err := fresh.LoadTrees(ctx, ids, 4)
	if err != nil {
		t.Fatal(err)
	}
	if reads := be.gets.Load() - before; reads > 2 {
		t.Fatalf("%d trees took %d reads", len(ids), reads)
	}
	for i, tr := range trees {
		if len(tr.Nodes) != 1 || tr.Nodes[0].Name != "f.bin" || top.Nodes[i].Name != dirs[i] {
			t.Fatalf("tree %d: %+v", i, tr.Nodes)
		}
	}

	// A damaged or missing tree is an error naming it; the others still load.
	_, err = fresh.LoadTrees(ctx, append(ids[:1:1], ID{1}), 4)
	if err == nil {
		t.Fatal("loading an unknown tree succeeded")
	}
}
