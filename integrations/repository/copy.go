package repository

import (
	"context"
	"fmt"
	"time"
)

// CopyReport says what a copy did.
type CopyReport struct {
	Copied      []CopiedSnapshot `json:"copied"`
	Skipped     int              `json:"skipped"` // already in the destination
	BlobsAdded  int64            `json:"blobs_added"`
	StoredAdded int64            `json:"stored_added"`
	Duration    time.Duration    `json:"duration"`
}

// CopiedSnapshot pairs a source snapshot with its copy.
type CopiedSnapshot struct {
	Source ID `json:"source"`
	Copy   ID `json:"copy"`
}

// CopyTo copies snapshots into dst (an off-site repository), skipping those dst already holds a
// copy of. Repositories have their own keys, so blobs are re-encrypted and renamed under dst's keys,
// and each tree is rewritten with the new names; chunks are not re-cut. Only blobs dst lacks are
// written. Both repositories are held under shared locks; index files and snapshots are written to
// dst only while its lock is still this copy's (an error wrapping ErrLockLost otherwise).
func (r *Repository) CopyTo(ctx context.Context, dst *Repository, snaps []*Snapshot) (*CopyReport, error) {
	start := time.Now()
	srcLock, err := r.Lock(ctx, false, "copy to "+dst.be.Location())
	if err != nil {
		return nil, err
	}
	defer srcLock.Unlock()
	dstLock, err := dst.Lock(ctx, false, "copy from "+r.be.Location())
	if err != nil {
		return nil, err
	}
	defer dstLock.Unlock()
	if err := r.LoadIndex(ctx); err != nil {
		return nil, err
	}
	if err := dst.LoadIndex(ctx); err != nil {
		return nil, err
	}
	existing, err := dst.Snapshots(ctx)
	if err != nil {
		return nil, err
	}
	copiedFrom := map[ID]ID{} // source snapshot → its copy in dst
	for _, sn := range existing {
		if sn.Original != nil {
			copiedFrom[*sn.Original] = sn.ID
		}
	}
	c := &copier{src: r, dst: dst, ids: map[ID]ID{}}
	rep := &CopyReport{}
	for _, sn := range snaps {
		if _, done := copiedFrom[sn.ID]; done {
			rep.Skipped++
			continue
		}
		c.saver = dst.newSaver(ctx, dstLock)
		tree, err := c.tree(ctx, sn.Tree)
		if err == nil {
			err = c.saver.Flush()
		} else {
			c.saver.Abort()
		}
		if err != nil {
			return rep, fmt.Errorf("copy snapshot %s: %w", sn.ID.Short(), err)
		}
		st := c.saver.Stats()
		rep.BlobsAdded += st.BlobsAdded
		rep.StoredAdded += st.StoredAdded
		cp := *sn
		cp.Tree = tree
		orig := sn.ID
		if sn.Original != nil {
			orig = *sn.Original
		}
		cp.Original = &orig
		cp.Parent = nil
		if sn.Parent != nil {
			if p, ok := copiedFrom[*sn.Parent]; ok {
				cp.Parent = &p
			}
		}
		if err := dst.commitSnapshot(ctx, &cp, dstLock); err != nil {
			return rep, err
		}
		copiedFrom[sn.ID] = cp.ID
		rep.Copied = append(rep.Copied, CopiedSnapshot{Source: sn.ID, Copy: cp.ID})
	}
	rep.Duration = time.Since(start)
	return rep, nil
}

type copier struct {
	src, dst *Repository
	saver    *Saver
	ids      map[ID]ID // source blob → destination blob, for blobs already copied or found
	buf      []byte
}

func (c *copier) tree(ctx context.Context, id ID) (ID, error) {
	if nid, ok := c.ids[id]; ok && c.dst.index.Has(nid) {
		return nid, nil
	}
	t, err := c.src.LoadTree(ctx, id)
	if err != nil {
		return ID{}, err
	}
	for i := range t.Nodes {
		n := &t.Nodes[i]
		for j, cid := range n.Content {
			if n.Content[j], err = c.blob(ctx, cid); err != nil {
				return ID{}, fmt.Errorf("%s: %w", n.Name, err)
			}
		}
		if n.Subtree != nil {
			sub, err := c.tree(ctx, *n.Subtree)
			if err != nil {
				return ID{}, err
			}
			n.Subtree = &sub
		}
	}
	nid, err := c.saver.SaveTree(t)
	if err != nil {
		return ID{}, err
	}
	c.ids[id] = nid
	return nid, nil
}

func (c *copier) blob(ctx context.Context, id ID) (ID, error) {
	if nid, ok := c.ids[id]; ok {
		return nid, nil
	}
	var err error
	if c.buf, err = c.src.LoadBlob(ctx, DataBlob, id, c.buf); err != nil {
		return ID{}, err
	}
	nid := c.dst.BlobID(c.buf)
	if _, err := c.saver.SaveWithID(DataBlob, nid, c.buf); err != nil {
		return ID{}, err
	}
	c.ids[id] = nid
	return nid, nil
}
