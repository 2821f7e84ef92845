package repository

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
)

// PruneOptions tune prune.
type PruneOptions struct {
	// MaxUnusedPercent is how much of a pack may be unused before its used blobs are copied into new
	// packs and it is deleted (default 5). Packs holding nothing used are always deleted.
	MaxUnusedPercent float64
	// DryRun reports what would be done and changes nothing.
	DryRun bool
	// DeleteUnindexed deletes packs that no index file names, instead of refusing to run while
	// there are any (ErrUnindexedPacks). Use it only once RepairIndex has read every such pack and
	// reported the rest unreadable: a pack in no index may hold data a snapshot needs.
	DeleteUnindexed bool
}

// PruneReport says what prune did (or would do).
type PruneReport struct {
	PacksKept         int           `json:"packs_kept"`
	PacksDeleted      int           `json:"packs_deleted"`
	PacksRepacked     int           `json:"packs_repacked"`
	PacksUnreferenced int           `json:"packs_unreferenced"`
	BlobsRepacked     int           `json:"blobs_repacked"`
	BytesFreed        int64         `json:"bytes_freed"`
	IndexFilesBefore  int           `json:"index_files_before"`
	Duration          time.Duration `json:"duration"`
	DryRun            bool          `json:"dry_run,omitempty"`
}

// Prune removes data no snapshot references, under an exclusive lock. It never deletes before what
// replaces it is durable: used blobs from mostly-unused packs are copied into new packs, a new index
// covering every kept and new pack is written, then the old index files go, then the old packs. An
// interruption at any point leaves a sound repository (at worst with duplicate index entries or
// packs in no index, which RepairIndex and the next prune clear). If any snapshot cannot be read
// completely, prune stops without deleting anything. While packs exist that no index file names
// (a lost index file, an interrupted backup) it refuses with an error wrapping ErrUnindexedPacks,
// since it cannot know what they hold; RepairIndex indexes them. Every index file it writes and
// every deletion is preceded by a check of its lock.
func (r *Repository) Prune(ctx context.Context, opts PruneOptions) (*PruneReport, error) {
	start := time.Now()
	if opts.MaxUnusedPercent == 0 {
		opts.MaxUnusedPercent = 5
	}
	lock, err := r.Lock(ctx, true, "prune")
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()

	// Start from what is stored now, not from a possibly stale in-memory index.
	old := newIndex()
	oldFiles, err := r.listIDs(ctx, indexPrefix)
	if err != nil {
		return nil, err
	}
	for _, id := range oldFiles {
		packs, err := r.loadIndexFile(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("prune needs every index file: %w (run check)", err)
		}
		for _, p := range packs {
			old.addPack(p.id, int(p.size), p.entries)
		}
	}
	r.index = old

	stored := map[ID]int64{}
	if err := r.be.List(ctx, dataPrefix, func(fi storageInfo) error {
		if id, err := ParseID(fi.Name[strings.LastIndexByte(fi.Name, '/')+1:]); err == nil {
			stored[id] = fi.Size
		}
		return nil
	}); err != nil {
		return nil, err
	}
	// Packs no index names come first: when an index file was lost, the snapshots cannot be read
	// either, and the way out is the same.
	indexedPacks := old.Packs()
	var unindexed int
	var unindexedBytes int64
	for id, size := range stored {
		if _, indexed := indexedPacks[id]; !indexed {
			unindexed++
			unindexedBytes += size
		}
	}
	if unindexed > 0 && !opts.DeleteUnindexed {
		return nil, fmt.Errorf("%w: %d pack files (%d bytes) are named by no index file; they may hold data that snapshots need (an index file was lost) or be left by an interrupted backup; run `lifeboat repo repair index` first; nothing was deleted",
			ErrUnindexedPacks, unindexed, unindexedBytes)
	}
	used, err := r.usedBlobs(ctx)
	if err != nil {
		return nil, err
	}

	type packUse struct {
		size, blobBytes, usedBytes int64
		blobs                      []PackedBlob
	}
	packs := map[ID]*packUse{}
	for id, size := range old.Packs() {
		packs[id] = &packUse{size: size}
	}
	old.Each(func(pb PackedBlob) {
		p := packs[pb.Pack]
		p.blobs = append(p.blobs, pb)
		p.blobBytes += int64(pb.Length)
		if used[pb.ID] {
			p.usedBytes += int64(pb.Length)
		}
	})
	rep := &PruneReport{IndexFilesBefore: len(oldFiles), DryRun: opts.DryRun}
	var keep, repack, drop []ID
	for id, p := range packs {
		if _, exists := stored[id]; !exists {
			return nil, fmt.Errorf("pack %s is indexed but missing: run check; prune will not proceed", id.Short())
		}
		switch unused := p.blobBytes - p.usedBytes; {
		case p.usedBytes == 0:
			drop = append(drop, id)
			rep.BytesFreed += p.size
		case float64(unused)*100 > opts.MaxUnusedPercent*float64(p.blobBytes):
			repack = append(repack, id)
			rep.BytesFreed += unused
		default:
			keep = append(keep, id)
		}
	}
	for id := range stored {
		if _, indexed := packs[id]; !indexed {
			drop = append(drop, id)
			rep.PacksUnreferenced++
		}
	}
	rep.BytesFreed += unindexedBytes
	rep.PacksKept, rep.PacksRepacked, rep.PacksDeleted = len(keep), len(repack), len(drop)
	if opts.DryRun {
		rep.Duration = time.Since(start)
		return rep, nil
	}

	// The new index: kept packs as they are, plus the packs repacking writes.
	next := newIndex()
	for _, id := range keep {
		next.addPack(id, int(packs[id].size), packs[id].blobs)
	}
	r.index = next
	saver := r.newSaver(ctx, lock)
	var buf []byte
	for _, id := range repack {
		for _, pb := range packs[id].blobs {
			if !used[pb.ID] || next.Has(pb.ID) {
				continue
			}
			var err error
			if buf, err = r.fetchBlob(ctx, pb, buf); err != nil {
				saver.Abort()
				r.index = old
				return nil, fmt.Errorf("repack: %w (run check; nothing was deleted)", err)
			}
			if _, err := saver.SaveWithID(pb.Type, pb.ID, buf); err != nil {
				saver.Abort()
				r.index = old
				return nil, err
			}
			rep.BlobsRepacked++
		}
	}
	if err := saver.Flush(); err != nil {
		r.index = old
		return nil, err
	}
	if err := lock.Err(); err != nil {
		return nil, err
	}
	// Kept packs need an index file of their own before the old ones go.
	var keepPacks []indexPack
	sort.Slice(keep, func(i, j int) bool { return keep[i].String() < keep[j].String() })
	for _, id := range keep {
		keepPacks = append(keepPacks, indexPack{id: id, size: uint32(packs[id].size), entries: packs[id].blobs})
		if len(keepPacks) == indexFilePacks {
			if _, err := r.saveIndexLocked(ctx, keepPacks, lock); err != nil {
				return nil, err
			}
			keepPacks = nil
		}
	}
	if len(keepPacks) > 0 {
		if _, err := r.saveIndexLocked(ctx, keepPacks, lock); err != nil {
			return nil, err
		}
	}
	if err := lock.Check(ctx); err != nil {
		return nil, fmt.Errorf("prune: %w (nothing was deleted)", err)
	}
	for _, id := range oldFiles {
		if err := r.be.Delete(ctx, indexPrefix+id.String()); err != nil {
			return nil, fmt.Errorf("delete old index %s: %w", id.Short(), err)
		}
		r.index.mu.Lock()
		delete(r.index.files, id)
		r.index.mu.Unlock()
	}
	if err := lock.Check(ctx); err != nil {
		return nil, fmt.Errorf("prune: %w (old index files deleted, no pack deleted yet)", err)
	}
	for _, id := range append(drop, repack...) {
		if err := r.be.Delete(ctx, packName(id)); err != nil {
			return nil, fmt.Errorf("delete pack %s: %w", id.Short(), err)
		}
	}
	rep.Duration = time.Since(start)
	return rep, nil
}

// usedBlobs walks every snapshot and returns the set of trees and chunks they reference. Any
// snapshot or tree that cannot be read is an error: deciding what is unused needs all of them.
func (r *Repository) usedBlobs(ctx context.Context) (map[ID]bool, error) {
	snaps, err := r.Snapshots(ctx)
	if err != nil {
		return nil, fmt.Errorf("prune needs every snapshot: %w", err)
	}
	used := map[ID]bool{}
	var visit func(id ID) error
	visit = func(id ID) error {
		if used[id] {
			return nil
		}
		used[id] = true
		t, err := r.LoadTree(ctx, id)
		if err != nil {
			return err
		}
		for _, n := range t.Nodes {
			for _, c := range n.Content {
				used[c] = true
			}
			if n.Subtree != nil {
				if err := visit(*n.Subtree); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for _, sn := range snaps {
		if err := visit(sn.Tree); err != nil {
			return nil, fmt.Errorf("snapshot %s: %w; prune will not delete anything until check passes", sn.ID.Short(), err)
		}
	}
	return used, nil
}
