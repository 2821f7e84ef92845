package repository

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"

	"github.com/lifeboat-dr/lifeboat/integrations/storage"
)

// Index maps blob IDs to where they are stored. It holds every index file loaded plus the packs
// written since; it is safe for concurrent use.
type Index struct {
	mu    sync.RWMutex
	packs []packInfo
	byID  map[ID]uint32 // pack ID → position in packs
	blobs map[ID]blobLoc
	files map[ID]bool // index files loaded
}

type packInfo struct {
	id   ID
	size uint32
}

type blobLoc struct {
	pack      uint32
	offset    uint32
	length    uint32
	rawLength uint32
	typ       BlobType
	flags     uint8
}

func newIndex() *Index {
	return &Index{byID: map[ID]uint32{}, blobs: map[ID]blobLoc{}, files: map[ID]bool{}}
}

// Lookup returns where a blob is stored.
func (ix *Index) Lookup(id ID) (PackedBlob, bool) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	loc, ok := ix.blobs[id]
	if !ok {
		return PackedBlob{}, false
	}
	return ix.packedBlob(id, loc), true
}

func (ix *Index) packedBlob(id ID, loc blobLoc) PackedBlob {
	return PackedBlob{
		Type: loc.typ, ID: id, Pack: ix.packs[loc.pack].id, Offset: loc.offset, Length: loc.length,
		RawLength: loc.rawLength, Compressed: loc.flags&flagCompressed != 0,
	}
}

// Has reports whether the blob is stored.
func (ix *Index) Has(id ID) bool {
	ix.mu.RLock()
	_, ok := ix.blobs[id]
	ix.mu.RUnlock()
	return ok
}

// Len is the number of blobs indexed.
func (ix *Index) Len() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return len(ix.blobs)
}

// Packs returns every indexed pack and its size.
func (ix *Index) Packs() map[ID]int64 {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	out := make(map[ID]int64, len(ix.packs))
	for _, p := range ix.packs {
		out[p.id] = int64(p.size)
	}
	return out
}

// Each calls fn for every indexed blob.
func (ix *Index) Each(fn func(PackedBlob)) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	for id, loc := range ix.blobs {
		fn(ix.packedBlob(id, loc))
	}
}

// addPack records a pack's blobs. A blob already indexed in another pack keeps its first location.
func (ix *Index) addPack(id ID, size int, entries []PackedBlob) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	pos, ok := ix.byID[id]
	if !ok {
		pos = uint32(len(ix.packs))
		ix.packs = append(ix.packs, packInfo{id: id, size: uint32(size)})
		ix.byID[id] = pos
	}
	for _, e := range entries {
		if _, dup := ix.blobs[e.ID]; dup {
			continue
		}
		flags := uint8(0)
		if e.Compressed {
			flags |= flagCompressed
		}
		ix.blobs[e.ID] = blobLoc{pack: pos, offset: e.Offset, length: e.Length, rawLength: e.RawLength, typ: e.Type, flags: flags}
	}
}

// indexPack is one pack's entries as written to an index file.
type indexPack struct {
	id      ID
	size    uint32
	entries []PackedBlob
}

// An index file's plaintext is "LBIX", a version byte, the pack count, and per pack its ID, size and
// entries in the pack header encoding.
const indexMagic = "LBIX"

func encodeIndex(packs []indexPack) []byte {
	b := append([]byte(indexMagic), 1)
	b = binary.AppendUvarint(b, uint64(len(packs)))
	for _, p := range packs {
		b = append(b, p.id[:]...)
		b = binary.AppendUvarint(b, uint64(p.size))
		b = binary.AppendUvarint(b, uint64(len(p.entries)))
		for _, e := range p.entries {
			b = appendEntry(b, e)
		}
	}
	return b
}

func decodeIndex(b []byte) ([]indexPack, error) {
	if len(b) < 5 || string(b[:4]) != indexMagic {
		return nil, fmt.Errorf("%w: not an index file", ErrCorrupt)
	}
	if b[4] != 1 {
		return nil, fmt.Errorf("%w: index version %d", ErrCorrupt, b[4])
	}
	r := &entryReader{b: b[5:]}
	n := r.uvarint("pack count", uint64(len(b)/33))
	packs := make([]indexPack, 0, n)
	for i := uint64(0); i < n && r.err == nil; i++ {
		var p indexPack
		copy(p.id[:], r.bytes(32, "pack id"))
		p.size = uint32(r.uvarint("pack size", 1<<32-1))
		m := r.uvarint("entry count", uint64(len(r.b)/34))
		p.entries = make([]PackedBlob, 0, m)
		for j := uint64(0); j < m && r.err == nil; j++ {
			e := r.entry(p.id)
			if r.err == nil && int64(e.Offset)+int64(e.Length) > int64(p.size) {
				r.fail("pack %s: blob %s lies past the pack's end", p.id.Short(), e.ID.Short())
			}
			p.entries = append(p.entries, e)
		}
		packs = append(packs, p)
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d trailing bytes", len(r.b))
	}
	if r.err != nil {
		return nil, r.err
	}
	return packs, nil
}

// LoadIndex reads every index file not read yet. Damaged index files are an error naming them.
func (r *Repository) LoadIndex(ctx context.Context) error {
	ids, err := r.listIDs(ctx, indexPrefix)
	if err != nil {
		return err
	}
	for _, id := range ids {
		r.index.mu.RLock()
		done := r.index.files[id]
		r.index.mu.RUnlock()
		if done {
			continue
		}
		packs, err := r.loadIndexFile(ctx, id)
		if err != nil {
			return err
		}
		for _, p := range packs {
			r.index.addPack(p.id, int(p.size), p.entries)
		}
		r.index.mu.Lock()
		r.index.files[id] = true
		r.index.mu.Unlock()
	}
	return nil
}

func (r *Repository) loadIndexFile(ctx context.Context, id ID) ([]indexPack, error) {
	b, err := r.loadFile(ctx, indexPrefix+id.String())
	if err != nil {
		return nil, fmt.Errorf("index %s: %w", id.Short(), err)
	}
	packs, err := decodeIndex(b)
	if err != nil {
		return nil, fmt.Errorf("index %s: %w", id.Short(), err)
	}
	return packs, nil
}

// Index returns the repository's in-memory index.
func (r *Repository) Index() *Index { return r.index }

// saveIndexLocked is saveIndex after making sure lock (when not nil) is still held.
func (r *Repository) saveIndexLocked(ctx context.Context, packs []indexPack, lock *Lock) (ID, error) {
	if lock != nil {
		if err := lock.Check(ctx); err != nil {
			return ID{}, fmt.Errorf("save index: %w", err)
		}
	}
	return r.saveIndex(ctx, packs)
}

// saveIndex writes packs as a new index file and marks it loaded.
func (r *Repository) saveIndex(ctx context.Context, packs []indexPack) (ID, error) {
	id := randomID()
	if err := r.saveFile(ctx, indexPrefix+id.String(), encodeIndex(packs)); err != nil {
		return ID{}, fmt.Errorf("save index: %w", err)
	}
	r.index.mu.Lock()
	r.index.files[id] = true
	r.index.mu.Unlock()
	return id, nil
}

// listIDs lists the files under prefix whose names are IDs.
func (r *Repository) listIDs(ctx context.Context, prefix string) ([]ID, error) {
	var ids []ID
	err := r.be.List(ctx, prefix, func(fi storage.Info) error {
		name := fi.Name[strings.LastIndexByte(fi.Name, '/')+1:]
		if id, err := ParseID(name); err == nil {
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", prefix, err)
	}
	return ids, nil
}
