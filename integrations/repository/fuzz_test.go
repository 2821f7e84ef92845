package repository

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// The decoders below read data that may be damaged or crafted. They must return an error, never
// panic, hang or allocate without bound.

func FuzzDecodeIndex(f *testing.F) {
	e := PackedBlob{Type: DataBlob, ID: ID{1}, Offset: 0, Length: 100, RawLength: 200, Compressed: true}
	f.Add(encodeIndex([]indexPack{{id: ID{9}, size: 1000, entries: []PackedBlob{e}}}))
	f.Add(encodeIndex(nil))
	f.Add([]byte("LBIX\x01\xff\xff\xff\xff\x0f"))
	f.Fuzz(func(t *testing.T, b []byte) {
		packs, err := decodeIndex(b)
		if err != nil {
			return
		}
		// Whatever decodes must survive a round trip unchanged (the input itself may use longer
		// varints than the encoder writes).
		again, err := decodeIndex(encodeIndex(packs))
		if err != nil {
			t.Fatalf("re-encoded index does not decode: %v", err)
		}
		if !bytes.Equal(encodeIndex(again), encodeIndex(packs)) {
			t.Fatal("round trip changed the index")
		}
	})
}

func FuzzDecodePackHeader(f *testing.F) {
	entries := []PackedBlob{
		{Type: DataBlob, ID: ID{2}, Offset: 0, Length: 40, RawLength: 12},
		{Type: TreeBlob, ID: ID{3}, Offset: 40, Length: 50, RawLength: 80, Compressed: true},
	}
	var hdr []byte
	hdr = append(hdr, 2)
	for _, e := range entries {
		hdr = appendEntry(hdr, e)
	}
	f.Add(hdr, 90)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f}, 10)
	f.Fuzz(func(t *testing.T, hdr []byte, blobEnd int) {
		entries, err := decodePackHeader(ID{}, hdr, blobEnd)
		if err != nil {
			return
		}
		for _, e := range entries {
			if int64(e.Offset)+int64(e.Length) > int64(blobEnd) {
				t.Fatalf("entry %+v lies past %d", e, blobEnd)
			}
		}
	})
}

func FuzzDecodeTree(f *testing.F) {
	sub := ID{4}
	good, _ := json.Marshal(Tree{Nodes: []Node{
		{Name: "a", Type: NodeFile, Size: 3, Content: []ID{{5}}},
		{Name: "b", Type: NodeDir, Subtree: &sub},
		{Name: "c", Type: NodeSymlink, LinkTarget: "a"},
	}})
	f.Add(good)
	f.Add([]byte(`{"nodes":[{"name":"../../etc/passwd","type":"file"}]}`))
	f.Add([]byte(`{"nodes":[{"name":"b","type":"file"},{"name":"a","type":"file"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		tree, err := decodeTree(b)
		if err != nil {
			return
		}
		for _, n := range tree.Nodes {
			if !validName(n.Name) {
				t.Fatalf("accepted name %q", n.Name)
			}
			if n.Type == NodeDir && n.Subtree == nil {
				t.Fatalf("accepted directory %q without a subtree", n.Name)
			}
		}
	})
}

func FuzzDecodeSnapshot(f *testing.F) {
	good, _ := json.Marshal(Snapshot{Version: 1, Time: time.Unix(0, 0), Tree: ID{6}, Source: "s", Hostname: "h"})
	f.Add(good)
	f.Add([]byte(`{"version":1}`))
	f.Add([]byte(`{"version":1,"tree":"zz"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		sn, err := decodeSnapshot(ID{7}, b)
		if err != nil {
			return
		}
		if sn.Tree.IsZero() || sn.ID != (ID{7}) {
			t.Fatalf("accepted snapshot %+v", sn)
		}
	})
}

// TestMaliciousSnapshotCannotEscapeTheTarget stores a tree with a "../" name, as an attacker with
// the repository key could, and checks that restore refuses it and writes nothing outside.
func TestMaliciousSnapshotCannotEscapeTheTarget(t *testing.T) {
	ctx := t.Context()
	r := initRepo(t, newLocal(t))
	if err := r.LoadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	s := r.NewSaver(ctx)
	content, _, err := s.Save(DataBlob, []byte("pwned"))
	if err != nil {
		t.Fatal(err)
	}
	evil, _ := json.Marshal(Tree{Nodes: []Node{{Name: "../escaped", Type: NodeFile, Size: 5, Content: []ID{content}, Mode: 0o644}}})
	treeID, _, err := s.Save(TreeBlob, evil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	sn := &Snapshot{Time: time.Now(), Tree: treeID, Source: "evil", Hostname: "x"}
	if err := r.SaveSnapshot(ctx, sn); err != nil {
		t.Fatal(err)
	}
	parent := t.TempDir()
	target := parent + "/target"
	_, err = r.Restore(ctx, sn, target, RestoreOptions{})
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte(`"../escaped" is not a plain file name`)) {
		t.Fatalf("restore of a malicious tree: %v", err)
	}
	if _, err := readFileIfExists(parent + "/escaped"); err == nil {
		t.Fatal("restore wrote outside its target")
	}
	rep, err := r.Check(ctx, CheckOptions{})
	if err != nil || rep.OK() {
		t.Fatalf("check does not flag the malicious tree: %+v, %v", rep, err)
	}
}
