package repository

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
)

// treeGap is how far apart two tree blobs of one pack may lie and still be read with one request.
const treeGap = 256 << 10

// LoadTrees reads and validates several trees, reading the tree blobs that lie close together in a
// pack with one request: trees are written to packs of their own, so the listings of a whole
// directory level usually come from one or two reads. Reads run in parallel, at most parallel at a
// time. The result is in the order of ids; the error joins every tree that could not be read.
func (r *Repository) LoadTrees(ctx context.Context, ids []ID, parallel int) ([]*Tree, error) {
	trees := make([]*Tree, len(ids))
	errs := make([]error, len(ids))
	type at struct {
		i  int
		pb PackedBlob
	}
	byPack := map[ID][]at{}
	for i, id := range ids {
		pb, ok := r.index.Lookup(id)
		switch {
		case !ok:
			errs[i] = fmt.Errorf("tree blob %s: not in the index: %w", id.Short(), ErrCorrupt)
		case pb.Type != TreeBlob:
			errs[i] = fmt.Errorf("%w: blob %s is a %s blob, not a tree", ErrCorrupt, id.Short(), pb.Type)
		default:
			byPack[pb.Pack] = append(byPack[pb.Pack], at{i, pb})
		}
	}
	// Ranges of nearby blobs, one request each.
	var ranges [][]at
	for _, blobs := range byPack {
		sort.Slice(blobs, func(a, b int) bool { return blobs[a].pb.Offset < blobs[b].pb.Offset })
		cur := []at{blobs[0]}
		for _, b := range blobs[1:] {
			last := cur[len(cur)-1].pb
			if int64(b.pb.Offset) <= int64(last.Offset)+int64(last.Length)+treeGap {
				cur = append(cur, b)
				continue
			}
			ranges = append(ranges, cur)
			cur = []at{b}
		}
		ranges = append(ranges, cur)
	}
	next := make(chan []at)
	var wg sync.WaitGroup
	for range max(1, min(parallel, len(ranges))) {
		wg.Go(func() {
			for rg := range next {
				first, last := rg[0].pb, rg[len(rg)-1].pb
				start := int64(first.Offset)
				end := max(int64(last.Offset)+int64(last.Length), start)
				for _, b := range rg {
					end = max(end, int64(b.pb.Offset)+int64(b.pb.Length))
				}
				data, err := r.readRange(ctx, packName(first.Pack), start, end-start)
				for _, b := range rg {
					if err != nil {
						errs[b.i] = fmt.Errorf("tree blob %s in pack %s: %w", b.pb.ID.Short(), b.pb.Pack.Short(), err)
						continue
					}
					off := int64(b.pb.Offset) - start
					plain, err := r.openBlob(b.pb, data[off:off+int64(b.pb.Length)], nil)
					if err == nil {
						trees[b.i], err = decodeTree(plain)
					}
					if err != nil {
						errs[b.i] = fmt.Errorf("tree %s: %w", b.pb.ID.Short(), err)
					}
				}
			}
		})
	}
	for _, rg := range ranges {
		select {
		case next <- rg:
		case <-ctx.Done():
		}
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return trees, errors.Join(errs...)
}
