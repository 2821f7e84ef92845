package repository

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/storage"
)

// Snapshot is a saved state of a source: the root tree and what it was taken of, by whom and when.
type Snapshot struct {
	ID       ID        `json:"-"`
	Version  int       `json:"version"`
	Time     time.Time `json:"time"`
	Tree     ID        `json:"tree"`
	Source   string    `json:"source"`
	Paths    []string  `json:"paths,omitempty"`
	Hostname string    `json:"hostname"`
	Username string    `json:"username,omitempty"`
	Tags     []string  `json:"tags,omitempty"`
	Parent   *ID       `json:"parent,omitempty"`
	// Original is the snapshot this one was copied from, in another repository.
	Original *ID    `json:"original,omitempty"`
	Program  string `json:"program,omitempty"`
	// Job is the job that made the snapshot (a workflow run), so that a retry finds it.
	Job     string   `json:"job,omitempty"`
	Summary *Summary `json:"summary,omitempty"`
}

// Summary counts what a backup did.
type Summary struct {
	FilesNew        int64         `json:"files_new"`
	FilesChanged    int64         `json:"files_changed"`
	FilesUnmodified int64         `json:"files_unmodified"`
	Dirs            int64         `json:"dirs"`
	TotalFiles      int64         `json:"total_files"`
	TotalBytes      int64         `json:"total_bytes"`
	BlobsAdded      int64         `json:"blobs_added"`
	BytesAdded      int64         `json:"bytes_added"`
	StoredAdded     int64         `json:"stored_added"`
	Errors          int64         `json:"errors"`
	Duration        time.Duration `json:"duration"`
}

// HasTag reports whether the snapshot carries tag.
func (s *Snapshot) HasTag(tag string) bool {
	for _, t := range s.Tags {
		if t == tag {
			return true
		}
	}
	return false
}

// SaveSnapshot stores sn under a new random name and sets its ID. Call it only after the saver that
// stored its trees has flushed: a snapshot must never reference blobs that are not durable and
// indexed. It takes no lock; backups and copies commit their snapshots fenced by theirs.
func (r *Repository) SaveSnapshot(ctx context.Context, sn *Snapshot) error {
	sn.Version = 1
	b, err := json.Marshal(sn)
	if err != nil {
		return err
	}
	id := randomID()
	if err := r.saveFile(ctx, snapshotsPrefix+id.String(), b); err != nil {
		return fmt.Errorf("save snapshot: %w", err)
	}
	sn.ID = id
	return nil
}

// commitSnapshot saves sn as the last step of a job holding lock, fenced by it: the lock is
// checked right before the snapshot is written and right after. When the second check fails, the
// snapshot just written is deleted again and the error is returned (wrapping ErrLockLost when the
// lock was lost), so an attempt whose lock was taken over never leaves a snapshot behind.
func (r *Repository) commitSnapshot(ctx context.Context, sn *Snapshot, lock *Lock) error {
	if r.beforeCommit != nil {
		r.beforeCommit()
	}
	if err := lock.Check(ctx); err != nil {
		return fmt.Errorf("save snapshot: %w", err)
	}
	if err := r.SaveSnapshot(ctx, sn); err != nil {
		return err
	}
	err := lock.Check(ctx)
	if err == nil {
		return nil
	}
	id := sn.ID
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lockRemoveTimeout)
	defer cancel()
	if derr := r.DeleteSnapshot(dctx, id); derr != nil {
		return fmt.Errorf("snapshot %s was saved but its lock could not be confirmed afterwards (%w), and deleting it failed: %w; delete it with `lifeboat repo forget %s`",
			id.Short(), err, derr, id.Short())
	}
	sn.ID = ID{}
	return fmt.Errorf("snapshot %s deleted again right after saving it: %w", id.Short(), err)
}

// LoadSnapshot reads one snapshot.
func (r *Repository) LoadSnapshot(ctx context.Context, id ID) (*Snapshot, error) {
	b, err := r.loadFile(ctx, snapshotsPrefix+id.String())
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("snapshot %s: %w", id.Short(), ErrNoSnapshot)
	}
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", id.Short(), err)
	}
	return decodeSnapshot(id, b)
}

func decodeSnapshot(id ID, b []byte) (*Snapshot, error) {
	var sn Snapshot
	if err := json.Unmarshal(b, &sn); err != nil {
		return nil, fmt.Errorf("%w: snapshot %s: %v", ErrCorrupt, id.Short(), err)
	}
	if sn.Version != 1 {
		return nil, fmt.Errorf("%w: snapshot %s: version %d", ErrCorrupt, id.Short(), sn.Version)
	}
	if sn.Tree.IsZero() {
		return nil, fmt.Errorf("%w: snapshot %s has no tree", ErrCorrupt, id.Short())
	}
	sn.ID = id
	return &sn, nil
}

// Snapshots returns every snapshot, oldest first.
func (r *Repository) Snapshots(ctx context.Context) ([]*Snapshot, error) {
	ids, err := r.listIDs(ctx, snapshotsPrefix)
	if err != nil {
		return nil, err
	}
	out := make([]*Snapshot, 0, len(ids))
	for _, id := range ids {
		sn, err := r.LoadSnapshot(ctx, id)
		if errors.Is(err, ErrNoSnapshot) {
			continue // removed by a concurrent forget
		}
		if err != nil {
			return nil, err
		}
		out = append(out, sn)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Time.Equal(out[j].Time) {
			return out[i].Time.Before(out[j].Time)
		}
		return out[i].ID.String() < out[j].ID.String()
	})
	return out, nil
}

// SnapshotFilter selects snapshots; empty fields match everything.
type SnapshotFilter struct {
	Source   string
	Hostname string
	Tags     []string // all must be present
}

// Match reports whether sn passes the filter.
func (f SnapshotFilter) Match(sn *Snapshot) bool {
	if f.Source != "" && sn.Source != f.Source {
		return false
	}
	if f.Hostname != "" && sn.Hostname != f.Hostname {
		return false
	}
	for _, t := range f.Tags {
		if !sn.HasTag(t) {
			return false
		}
	}
	return true
}

// FindSnapshot resolves a reference: "latest" (the newest matching f), a full ID, or a unique
// prefix of one.
func (r *Repository) FindSnapshot(ctx context.Context, ref string, f SnapshotFilter) (*Snapshot, error) {
	all, err := r.Snapshots(ctx)
	if err != nil {
		return nil, err
	}
	if ref == "latest" || ref == "" {
		for i := len(all) - 1; i >= 0; i-- {
			if f.Match(all[i]) {
				return all[i], nil
			}
		}
		return nil, fmt.Errorf("latest snapshot: %w", ErrNoSnapshot)
	}
	var found *Snapshot
	for _, sn := range all {
		if strings.HasPrefix(sn.ID.String(), strings.ToLower(ref)) {
			if found != nil {
				return nil, fmt.Errorf("snapshot %q is ambiguous: %s and %s", ref, found.ID.Short(), sn.ID.Short())
			}
			found = sn
		}
	}
	if found == nil {
		return nil, fmt.Errorf("snapshot %q: %w", ref, ErrNoSnapshot)
	}
	return found, nil
}

// DeleteSnapshot removes a snapshot's manifest; its data stays until prune.
func (r *Repository) DeleteSnapshot(ctx context.Context, id ID) error {
	return r.be.Delete(ctx, snapshotsPrefix+id.String())
}
