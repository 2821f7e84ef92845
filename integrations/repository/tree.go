package repository

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"strings"
	"time"
)

// NodeType is the kind of a tree entry.
type NodeType string

// Node types.
const (
	NodeFile    NodeType = "file"
	NodeDir     NodeType = "dir"
	NodeSymlink NodeType = "symlink"
)

// Node is one entry of a directory: its name, metadata, and either its content (a file's chunks in
// order), its subtree (a directory) or its target (a symlink).
type Node struct {
	Name       string      `json:"name"`
	Type       NodeType    `json:"type"`
	Mode       fs.FileMode `json:"mode"`
	ModTime    time.Time   `json:"mtime"`
	ChangeTime time.Time   `json:"ctime,omitzero"`
	Size       uint64      `json:"size,omitempty"`
	Inode      uint64      `json:"inode,omitempty"`
	Device     uint64      `json:"device,omitempty"`
	UID        uint32      `json:"uid,omitempty"`
	GID        uint32      `json:"gid,omitempty"`
	LinkTarget string      `json:"link_target,omitempty"`
	Content    []ID        `json:"content,omitempty"`
	Subtree    *ID         `json:"subtree,omitempty"`
}

// Tree is a directory listing, sorted by name.
type Tree struct {
	Nodes []Node `json:"nodes"`
}

// validName reports whether name can be a single path element on restore: no separators, no "." or
// "..", no NUL. Trees that break this are refused when read, so a malicious snapshot cannot write
// outside the restore target.
func validName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\x00")
}

// Validate checks a decoded tree: names are plain and sorted without duplicates, and each node has
// what its type requires.
func (t *Tree) Validate() error {
	for i, n := range t.Nodes {
		if !validName(n.Name) {
			return fmt.Errorf("%w: entry name %q is not a plain file name", ErrCorrupt, n.Name)
		}
		if i > 0 && t.Nodes[i-1].Name >= n.Name {
			return fmt.Errorf("%w: entries %q and %q are not in order", ErrCorrupt, t.Nodes[i-1].Name, n.Name)
		}
		if n.Mode&^(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != 0 {
			return fmt.Errorf("%w: %q has mode bits %v beyond permissions", ErrCorrupt, n.Name, n.Mode)
		}
		switch n.Type {
		case NodeFile:
			if n.Subtree != nil || n.LinkTarget != "" {
				return fmt.Errorf("%w: file %q has a subtree or link target", ErrCorrupt, n.Name)
			}
			if n.Size > 0 && len(n.Content) == 0 {
				return fmt.Errorf("%w: file %q of %d bytes has no content", ErrCorrupt, n.Name, n.Size)
			}
		case NodeDir:
			if n.Subtree == nil || len(n.Content) > 0 {
				return fmt.Errorf("%w: directory %q has no subtree", ErrCorrupt, n.Name)
			}
		case NodeSymlink:
			if n.LinkTarget == "" || strings.ContainsRune(n.LinkTarget, 0) || len(n.Content) > 0 || n.Subtree != nil {
				return fmt.Errorf("%w: symlink %q is malformed", ErrCorrupt, n.Name)
			}
		default:
			return fmt.Errorf("%w: %q has unknown type %q", ErrCorrupt, n.Name, n.Type)
		}
	}
	return nil
}

// Find returns the node named name.
func (t *Tree) Find(name string) (*Node, bool) {
	lo, hi := 0, len(t.Nodes)
	for lo < hi {
		m := (lo + hi) / 2
		switch c := strings.Compare(t.Nodes[m].Name, name); {
		case c == 0:
			return &t.Nodes[m], true
		case c < 0:
			lo = m + 1
		default:
			hi = m
		}
	}
	return nil, false
}

func decodeTree(b []byte) (*Tree, error) {
	var t Tree
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("%w: tree: %v", ErrCorrupt, err)
	}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	return &t, nil
}

// LoadTree reads and validates a tree blob.
func (r *Repository) LoadTree(ctx context.Context, id ID) (*Tree, error) {
	b, err := r.LoadBlob(ctx, TreeBlob, id, nil)
	if err != nil {
		return nil, err
	}
	t, err := decodeTree(b)
	if err != nil {
		return nil, fmt.Errorf("tree %s: %w", id.Short(), err)
	}
	return t, nil
}

// SaveTree stores a tree (sorting nothing: callers keep it sorted) and returns its ID.
func (s *Saver) SaveTree(t *Tree) (ID, error) {
	if t.Nodes == nil {
		t.Nodes = []Node{}
	}
	b, err := json.Marshal(t)
	if err != nil {
		return ID{}, err
	}
	id, _, err := s.Save(TreeBlob, b)
	return id, err
}

// Walk calls fn for every node under tree id in depth-first order, with its slash-separated path
// relative to the tree ("a/b/c"). fn returning fs.SkipDir skips a directory's contents.
func (r *Repository) Walk(ctx context.Context, id ID, fn func(path string, n *Node) error) error {
	return r.walk(ctx, id, "", fn)
}

func (r *Repository) walk(ctx context.Context, id ID, prefix string, fn func(string, *Node) error) error {
	t, err := r.LoadTree(ctx, id)
	if err != nil {
		return err
	}
	for i := range t.Nodes {
		n := &t.Nodes[i]
		p := n.Name
		if prefix != "" {
			p = prefix + "/" + n.Name
		}
		if err := fn(p, n); err != nil {
			if err == fs.SkipDir && n.Type == NodeDir {
				continue
			}
			return err
		}
		if n.Type == NodeDir {
			if err := r.walk(ctx, *n.Subtree, p, fn); err != nil {
				return err
			}
		}
	}
	return nil
}
