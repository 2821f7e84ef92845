package repository

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// RepairIndexOptions tune RepairIndex.
type RepairIndexOptions struct {
	// All reads the header of every pack, not only of the packs no index names, and replaces every
	// index file with new ones (written before the old ones are deleted). Entries of packs whose
	// header cannot be read, or that are missing, are carried over from the old index files, so a
	// rebuild never forgets where a blob was.
	All bool
	// Progress, when set, is told how many pack headers have been read.
	Progress func(packsRead, packsTotal int)
}

// RepairIndexReport says what RepairIndex did.
type RepairIndexReport struct {
	// PacksRead counts the packs whose header was read and indexed.
	PacksRead int `json:"packs_read"`
	// BlobsAdded counts blobs that no index file named before.
	BlobsAdded        int `json:"blobs_added"`
	IndexFilesWritten int `json:"index_files_written"`
	IndexFilesRemoved int `json:"index_files_removed"`
	// Unreadable lists packs whose header could not be read. They are left as they are: packs no
	// index names keep prune refusing until they are dealt with.
	Unreadable []UnreadablePack `json:"unreadable,omitempty"`
	// DamagedIndexFiles lists index files that could not be read. Without All they stay; the packs
	// only they named are indexed anew.
	DamagedIndexFiles []string      `json:"damaged_index_files,omitempty"`
	Duration          time.Duration `json:"duration"`
}

// UnreadablePack is a pack whose header RepairIndex could not read.
type UnreadablePack struct {
	Pack   ID     `json:"pack"`
	Size   int64  `json:"size"`
	Reason string `json:"reason"`
	// Indexed says that an index file names it (its entries were kept).
	Indexed bool `json:"indexed"`
}

func (u UnreadablePack) String() string {
	return fmt.Sprintf("pack %s (%d bytes): %s", u.Pack.Short(), u.Size, u.Reason)
}

// indexFilePacks is how many packs one index file written by prune or repair lists at most.
const indexFilePacks = 256

// RepairIndex rebuilds index entries from pack headers, under an exclusive lock: every pack stored
// but named by no readable index file has its header read, and new index files list those packs.
// With All every pack's header is read and the new index files replace all old ones. New index
// files are written before anything is deleted, and nothing but old index files (with All) is
// ever deleted; packs whose header is damaged are reported, never removed. The lock is checked
// before each index file is written and before the old ones are deleted.
func (r *Repository) RepairIndex(ctx context.Context, opts RepairIndexOptions) (*RepairIndexReport, error) {
	start := time.Now()
	lock, err := r.Lock(ctx, true, "repair index")
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()
	rep := &RepairIndexReport{}

	oldFiles, err := r.listIDs(ctx, indexPrefix)
	if err != nil {
		return nil, err
	}
	old := map[ID]indexPack{} // pack → its entries, from the readable index files
	known := map[ID]bool{}    // blobs the readable index files name
	for _, id := range oldFiles {
		packs, err := r.loadIndexFile(ctx, id)
		if err != nil {
			if isNotFound(err) {
				continue
			}
			rep.DamagedIndexFiles = append(rep.DamagedIndexFiles, fmt.Sprintf("%s: %v", id.Short(), err))
			continue
		}
		for _, p := range packs {
			if _, dup := old[p.id]; !dup {
				old[p.id] = p
			}
			for _, e := range p.entries {
				known[e.ID] = true
			}
		}
	}
	stored, err := r.storedPacks(ctx)
	if err != nil {
		return nil, err
	}
	var todo []ID
	for id := range stored {
		if _, indexed := old[id]; opts.All || !indexed {
			todo = append(todo, id)
		}
	}
	sort.Slice(todo, func(i, j int) bool { return todo[i].String() < todo[j].String() })

	var fresh []indexPack
	added := map[ID]bool{}
	for i, id := range todo {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		entries, err := r.readPackHeader(ctx, id, stored[id])
		if err != nil {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return nil, err
			}
			p, indexed := old[id]
			rep.Unreadable = append(rep.Unreadable, UnreadablePack{Pack: id, Size: stored[id], Reason: err.Error(), Indexed: indexed})
			if indexed && opts.All {
				fresh = append(fresh, p) // what the old index knew stays known
			}
		} else {
			fresh = append(fresh, indexPack{id: id, size: uint32(stored[id]), entries: entries})
			rep.PacksRead++
			for _, e := range entries {
				if !known[e.ID] && !added[e.ID] {
					added[e.ID] = true
					rep.BlobsAdded++
				}
			}
		}
		if opts.Progress != nil {
			opts.Progress(i+1, len(todo))
		}
	}
	if opts.All {
		// Indexed packs that are missing keep their entries, so that check goes on naming what is lost.
		var missing []ID
		for id := range old {
			if _, ok := stored[id]; !ok {
				missing = append(missing, id)
			}
		}
		sort.Slice(missing, func(i, j int) bool { return missing[i].String() < missing[j].String() })
		for _, id := range missing {
			fresh = append(fresh, old[id])
		}
	}

	for len(fresh) > 0 {
		n := min(len(fresh), indexFilePacks)
		if _, err := r.saveIndexLocked(ctx, fresh[:n], lock); err != nil {
			return rep, fmt.Errorf("repair index: %w (index files written so far stay; run repair again)", err)
		}
		rep.IndexFilesWritten++
		fresh = fresh[n:]
	}
	if opts.All && len(oldFiles) > 0 {
		if err := lock.Check(ctx); err != nil {
			return rep, fmt.Errorf("repair index: %w (the new index files are written; the old ones stay)", err)
		}
		for _, id := range oldFiles {
			if err := r.be.Delete(ctx, indexPrefix+id.String()); err != nil {
				return rep, fmt.Errorf("repair index: delete old index %s: %w", id.Short(), err)
			}
			rep.IndexFilesRemoved++
		}
	}
	// The in-memory index is rebuilt from what is stored now.
	r.index = newIndex()
	if err := r.LoadIndex(ctx); err != nil && len(rep.DamagedIndexFiles) == 0 {
		return rep, err
	}
	rep.Duration = time.Since(start)
	return rep, nil
}

// storedPacks lists the pack files and their sizes.
func (r *Repository) storedPacks(ctx context.Context) (map[ID]int64, error) {
	stored := map[ID]int64{}
	if err := r.be.List(ctx, dataPrefix, func(fi storageInfo) error {
		if id, err := ParseID(fi.Name[strings.LastIndexByte(fi.Name, '/')+1:]); err == nil && fi.Name == packName(id) {
			stored[id] = fi.Size
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("list packs: %w", err)
	}
	return stored, nil
}

// packTailRead is how much of a pack's end readPackHeader reads first: enough for the header of
// a pack of a few thousand blobs.
const packTailRead = 64 << 10

// readPackHeader reads a pack's header from its end (one ranged read for most packs, two for packs
// of very many blobs) and checks that every entry lies inside the pack.
func (r *Repository) readPackHeader(ctx context.Context, id ID, size int64) ([]PackedBlob, error) {
	if size > 1<<32-1 {
		return nil, fmt.Errorf("%w: pack %s is %d bytes, larger than any pack", ErrCorrupt, id.Short(), size)
	}
	n := min(size, packTailRead)
	tail, err := r.readRange(ctx, packName(id), size-n, n)
	if err != nil {
		return nil, err
	}
	hlen, err := packHeaderLen(id, size, tail)
	if err != nil {
		return nil, err
	}
	if need := hlen + packTrailerSize; need > n {
		if tail, err = r.readRange(ctx, packName(id), size-need, need); err != nil {
			return nil, err
		}
	}
	return parsePackTail(r.keys, id, size, tail)
}
