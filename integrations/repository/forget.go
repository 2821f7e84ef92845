package repository

import (
	"context"
	"fmt"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/repository/retention"
)

// Forget applies a retention policy to the snapshots f selects and, unless dryRun, deletes the
// snapshots it does not keep, under an exclusive lock. Their data stays until Prune. Each group's
// decisions, with the reasons for every kept snapshot, are returned.
func (r *Repository) Forget(ctx context.Context, p retention.Policy, f SnapshotFilter, loc *time.Location, dryRun bool) ([]retention.Group, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	lock, err := r.Lock(ctx, true, "forget")
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()
	all, err := r.Snapshots(ctx)
	if err != nil {
		return nil, err
	}
	var in []retention.Snapshot
	byID := map[string]*Snapshot{}
	for _, sn := range all {
		if !f.Match(sn) {
			continue
		}
		in = append(in, retention.Snapshot{ID: sn.ID.String(), Time: sn.Time, Source: sn.Source, Hostname: sn.Hostname, Tags: sn.Tags})
		byID[sn.ID.String()] = sn
	}
	groups, err := retention.Apply(in, p, loc)
	if err != nil || dryRun {
		return groups, err
	}
	if err := lock.Check(ctx); err != nil {
		return groups, fmt.Errorf("forget: %w", err)
	}
	for _, g := range groups {
		for _, s := range g.Removed() {
			if err := r.DeleteSnapshot(ctx, byID[s.ID].ID); err != nil {
				return groups, fmt.Errorf("forget snapshot %s: %w", byID[s.ID].ID.Short(), err)
			}
		}
	}
	return groups, nil
}
