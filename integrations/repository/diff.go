package repository

import (
	"context"
	"slices"
)

// ChangeKind says how a path differs between two snapshots.
type ChangeKind string

// Kinds of change.
const (
	Added    ChangeKind = "added"
	Removed  ChangeKind = "removed"
	Modified ChangeKind = "modified" // content changed (or the entry changed type)
	Metadata ChangeKind = "metadata" // same content, other mode, times or owner
)

// Change is one difference.
type Change struct {
	Path string     `json:"path"`
	Kind ChangeKind `json:"kind"`
	Old  *Node      `json:"old,omitempty"`
	New  *Node      `json:"new,omitempty"`
}

// DiffStats count the differences.
type DiffStats struct {
	Added, Removed, Modified, Metadata int
}

// Diff compares two snapshots and calls fn for each difference in path order. Subtrees with the
// same ID are equal and skipped without reading them.
func (r *Repository) Diff(ctx context.Context, a, b *Snapshot, fn func(Change) error) (DiffStats, error) {
	var st DiffStats
	if err := r.LoadIndex(ctx); err != nil {
		return st, err
	}
	emit := func(c Change) error {
		switch c.Kind {
		case Added:
			st.Added++
		case Removed:
			st.Removed++
		case Modified:
			st.Modified++
		case Metadata:
			st.Metadata++
		}
		return fn(c)
	}
	err := r.diffTrees(ctx, &a.Tree, &b.Tree, "", emit)
	return st, err
}

func (r *Repository) diffTrees(ctx context.Context, a, b *ID, prefix string, emit func(Change) error) error {
	if a != nil && b != nil && *a == *b {
		return nil
	}
	load := func(id *ID) ([]Node, error) {
		if id == nil {
			return nil, nil
		}
		t, err := r.LoadTree(ctx, *id)
		if err != nil {
			return nil, err
		}
		return t.Nodes, nil
	}
	an, err := load(a)
	if err != nil {
		return err
	}
	bn, err := load(b)
	if err != nil {
		return err
	}
	i, j := 0, 0
	for i < len(an) || j < len(bn) {
		var x, y *Node
		switch {
		case j >= len(bn) || (i < len(an) && an[i].Name < bn[j].Name):
			x = &an[i]
			i++
		case i >= len(an) || bn[j].Name < an[i].Name:
			y = &bn[j]
			j++
		default:
			x, y = &an[i], &bn[j]
			i, j = i+1, j+1
		}
		name := ""
		if x != nil {
			name = x.Name
		} else {
			name = y.Name
		}
		p := prefix + "/" + name
		if err := r.diffNode(ctx, x, y, p, emit); err != nil {
			return err
		}
	}
	return nil
}

func (r *Repository) diffNode(ctx context.Context, x, y *Node, p string, emit func(Change) error) error {
	switch {
	case x == nil:
		if err := emit(Change{Path: p, Kind: Added, New: y}); err != nil {
			return err
		}
		if y.Type == NodeDir {
			return r.diffTrees(ctx, nil, y.Subtree, p, emit)
		}
		return nil
	case y == nil:
		if err := emit(Change{Path: p, Kind: Removed, Old: x}); err != nil {
			return err
		}
		if x.Type == NodeDir {
			return r.diffTrees(ctx, x.Subtree, nil, p, emit)
		}
		return nil
	case x.Type != y.Type:
		if err := r.diffNode(ctx, x, nil, p, emit); err != nil {
			return err
		}
		return r.diffNode(ctx, nil, y, p, emit)
	}
	sameMeta := x.Mode == y.Mode && x.UID == y.UID && x.GID == y.GID && (x.Type == NodeDir || x.ModTime.Equal(y.ModTime))
	switch x.Type {
	case NodeFile:
		if !slices.Equal(x.Content, y.Content) || x.Size != y.Size {
			return emit(Change{Path: p, Kind: Modified, Old: x, New: y})
		}
	case NodeSymlink:
		if x.LinkTarget != y.LinkTarget {
			return emit(Change{Path: p, Kind: Modified, Old: x, New: y})
		}
	case NodeDir:
		if !sameMeta {
			if err := emit(Change{Path: p, Kind: Metadata, Old: x, New: y}); err != nil {
				return err
			}
		}
		return r.diffTrees(ctx, x.Subtree, y.Subtree, p, emit)
	}
	if !sameMeta {
		return emit(Change{Path: p, Kind: Metadata, Old: x, New: y})
	}
	return nil
}
