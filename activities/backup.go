package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/lifeboat-dr/lifeboat/activities/asset"
	"github.com/lifeboat-dr/lifeboat/integrations/repository"
)

// SnapshotInfo describes a snapshot in a repository or a cloud snapshot.
type SnapshotInfo struct {
	ID       string    `json:"id"`
	Time     time.Time `json:"time"`
	Source   string    `json:"source,omitempty"`
	Hostname string    `json:"hostname,omitempty"`
	// Location is the repository's location, or the cloud region.
	Location string `json:"location"`
	Files    int64  `json:"files,omitempty"`
	Bytes    int64  `json:"bytes,omitempty"`
	// BytesAdded and StoredAdded are what this backup added to the repository, before and after
	// compression.
	BytesAdded  int64         `json:"bytes_added,omitempty"`
	StoredAdded int64         `json:"stored_added,omitempty"`
	Duration    time.Duration `json:"duration,omitempty"`
	// Copy is the off-site copy, once made.
	Copy *SnapshotInfo `json:"copy,omitempty"`
}

func snapshotInfo(sn *repository.Snapshot, loc string) SnapshotInfo {
	s := SnapshotInfo{ID: sn.ID.String(), Time: sn.Time, Source: sn.Source, Hostname: sn.Hostname, Location: loc}
	if sum := sn.Summary; sum != nil {
		s.Files, s.Bytes, s.BytesAdded, s.StoredAdded, s.Duration = sum.TotalFiles, sum.TotalBytes, sum.BytesAdded, sum.StoredAdded, sum.Duration
	}
	return s
}

// BackupAssetInput asks for one backup of an asset.
type BackupAssetInput struct {
	Asset string   `json:"asset"`
	Tags  []string `json:"tags,omitempty"`
}

// BackupAssetResult is the snapshot the backup made.
type BackupAssetResult struct {
	Snapshot SnapshotInfo `json:"snapshot"`
	// Resumed is how far an interrupted earlier attempt had got; its stored data was reused.
	Resumed  *OpProgress `json:"resumed,omitempty"`
	Attempts int32       `json:"attempts"`
}

// BackupAsset backs the asset up into its repository (or takes a cloud snapshot). It heartbeats
// progress; a retry after a crash reuses every chunk the interrupted attempt stored up to its last
// checkpoint, and a retry after the snapshot was saved returns that snapshot rather than making a
// second. A backup of the same asset already running makes it fail with the retryable
// RepositoryLocked error.
func (a *Assets) BackupAsset(ctx context.Context, in BackupAssetInput) (BackupAssetResult, error) {
	as, err := a.lookup(in.Asset)
	if err != nil {
		return BackupAssetResult{}, err
	}
	if as.Source.RDS != nil || as.Source.EBS != nil {
		return a.cloudBackup(ctx, as, in)
	}
	repo, closeRepo, err := a.openRepo(ctx, as.Repository, true)
	if err != nil {
		return BackupAssetResult{}, err
	}
	defer closeRepo()

	rep := a.newReporter(ctx, "backup")
	if prev, err := repo.FindSnapshot(ctx, "latest", repository.SnapshotFilter{Source: as.Name}); err == nil && prev.Summary != nil {
		rep.last.BytesTotal = prev.Summary.TotalBytes
	}
	total := rep.last.BytesTotal
	ctx = repository.WithLockOwner(ctx, jobID(ctx))
	opts := repository.BackupOptions{
		Source: as.Name, Tags: in.Tags, Scope: "asset " + as.Name, Job: jobID(ctx), Program: "lifeboat-worker",
		Progress: func(p repository.Progress) {
			rep.report(OpProgress{Files: p.FilesDone, BytesDone: p.BytesDone, BytesTotal: total, BytesNew: p.BytesNew,
				StoredNew: p.StoredNew, Elapsed: p.Elapsed, Done: p.Done})
		},
		ProgressInterval: a.progressInterval(),
	}
	var sn *repository.Snapshot
	switch s := as.Source; {
	case s.Paths != nil:
		opts.Excludes = s.Paths.Exclude
		opts.OnError = func(path string, err error) {
			activity.GetLogger(ctx).Warn("file skipped", "asset", as.Name, "path", path, "error", err)
		}
		sn, err = repo.Backup(ctx, s.Paths.Include, opts)
	case s.Postgres != nil:
		dsn, serr := a.Secrets.Secret(ctx, s.Postgres.DSNSecret)
		if serr != nil {
			return BackupAssetResult{}, misconfigured(serr)
		}
		sn, _, err = a.Postgres.BackupToRepository(ctx, repo, dsn, opts)
	case s.Command != nil:
		stderr := &tailBuffer{max: 16 << 10}
		sn, err = repo.BackupCommand(ctx, s.Command.Argv, s.Command.Name, opts, stderr)
		if err != nil && stderr.Len() > 0 {
			err = fmt.Errorf("%w; stderr: %s", err, stderr.String())
		}
		if errors.Is(err, repository.ErrCommandStart) {
			err = misconfigured(err)
		}
	default:
		err = misconfigured(fmt.Errorf("asset %q: no source", as.Name))
	}
	if err != nil {
		return BackupAssetResult{}, classify(err, fmt.Sprintf("back up %s", as.Name))
	}
	return BackupAssetResult{Snapshot: snapshotInfo(sn, as.Repository.Location), Resumed: rep.resumed, Attempts: rep.attempt}, nil
}

// CopyOffsiteInput asks for a snapshot to be copied to the asset's off-site target.
type CopyOffsiteInput struct {
	Asset    string `json:"asset"`
	Snapshot string `json:"snapshot"`
}

// CopyOffsiteResult is the copy.
type CopyOffsiteResult struct {
	Copy SnapshotInfo `json:"copy"`
	// Skipped is true when the target already held the copy (a retried activity).
	Skipped bool `json:"skipped,omitempty"`
}

// CopyOffsite copies a snapshot to the asset's off-site repository (or cloud region). It is
// idempotent: a snapshot already copied is not copied again.
func (a *Assets) CopyOffsite(ctx context.Context, in CopyOffsiteInput) (CopyOffsiteResult, error) {
	as, err := a.lookup(in.Asset)
	if err != nil {
		return CopyOffsiteResult{}, err
	}
	if as.Source.RDS != nil || as.Source.EBS != nil {
		return a.cloudCopy(ctx, as, in)
	}
	if as.Offsite == nil {
		return CopyOffsiteResult{}, misconfigured(fmt.Errorf("asset %q has no offsite repository", as.Name))
	}
	src, closeSrc, err := a.openRepo(ctx, as.Repository, false)
	if err != nil {
		return CopyOffsiteResult{}, err
	}
	defer closeSrc()
	dst, closeDst, err := a.openRepo(ctx, as.Offsite, true)
	if err != nil {
		return CopyOffsiteResult{}, err
	}
	defer closeDst()
	sn, err := src.FindSnapshot(ctx, in.Snapshot, repository.SnapshotFilter{Source: as.Name})
	if err != nil {
		return CopyOffsiteResult{}, noSnapshot(err)
	}
	rep := a.newReporter(ctx, "copy")
	stop := rep.keepAlive()
	defer stop()
	ctx = repository.WithLockOwner(ctx, jobID(ctx))
	report, err := src.CopyTo(ctx, dst, []*repository.Snapshot{sn})
	if err != nil {
		return CopyOffsiteResult{}, classify(err, fmt.Sprintf("copy %s snapshot %s to %s", as.Name, sn.ID.Short(), as.Offsite.Location))
	}
	copies, err := dst.Snapshots(ctx)
	if err != nil {
		return CopyOffsiteResult{}, err
	}
	for _, c := range copies {
		if c.Original != nil && *c.Original == sn.ID {
			info := snapshotInfo(c, as.Offsite.Location)
			info.BytesAdded, info.StoredAdded = 0, report.StoredAdded
			return CopyOffsiteResult{Copy: info, Skipped: report.Skipped > 0}, nil
		}
	}
	return CopyOffsiteResult{}, fmt.Errorf("copy %s snapshot %s: the copy is not in %s afterwards", as.Name, sn.ID.Short(), as.Offsite.Location)
}

func noSnapshot(err error) error {
	if errors.Is(err, repository.ErrNoSnapshot) || errors.Is(err, errNoRepository) {
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeNoSnapshot, err)
	}
	return err
}

// ApplyRetentionInput asks for an asset's retention policy to be applied.
type ApplyRetentionInput struct {
	Asset string `json:"asset"`
}

// RetentionReport says what retention removed, per repository or region.
type RetentionReport struct {
	Location string   `json:"location"`
	Kept     int      `json:"kept"`
	Removed  []string `json:"removed,omitempty"`
	// BytesFreed is what prune deleted from the repository.
	BytesFreed int64 `json:"bytes_freed,omitempty"`
	// PacksIndexed counts packs no index named (an interrupted backup's uploads) that were indexed
	// from their headers before pruning.
	PacksIndexed int `json:"packs_indexed,omitempty"`
}

// ApplyRetentionResult covers the main repository and the off-site one.
type ApplyRetentionResult struct {
	Reports []RetentionReport `json:"reports"`
}

// ApplyRetention forgets the asset's snapshots its policy does not keep and prunes the data only
// they used, in the main and the off-site repository, each under an exclusive lock (cloud snapshots
// are deleted instead). Snapshots are grouped by asset only, so backups made by different workers
// share one policy. Retrying is safe: what is gone stays gone, and a retry prunes even when an
// earlier attempt left it nothing to forget.
func (a *Assets) ApplyRetention(ctx context.Context, in ApplyRetentionInput) (ApplyRetentionResult, error) {
	as, err := a.lookup(in.Asset)
	if err != nil {
		return ApplyRetentionResult{}, err
	}
	if as.Source.RDS != nil || as.Source.EBS != nil {
		return a.cloudRetention(ctx, as)
	}
	rep := a.newReporter(ctx, "retention")
	stop := rep.keepAlive()
	defer stop()
	ctx = repository.WithLockOwner(ctx, jobID(ctx))
	// An earlier attempt may have forgotten snapshots and died before its prune: this attempt then
	// finds nothing to forget, and must prune all the same.
	resumed := activity.GetInfo(ctx).Attempt > 1 || activity.HasHeartbeatDetails(ctx)
	var out ApplyRetentionResult
	for _, r := range []*asset.Repository{as.Repository, as.Offsite} {
		if r == nil {
			continue
		}
		report, err := a.retain(ctx, as, r, resumed)
		if err != nil {
			return out, classify(err, "apply retention")
		}
		out.Reports = append(out.Reports, report)
	}
	return out, nil
}

// retain forgets what the policy does not keep in one repository and prunes when that removed a
// snapshot, or always when resumed (a retry of an attempt that may have forgotten without pruning).
func (a *Assets) retain(ctx context.Context, as asset.Asset, r *asset.Repository, resumed bool) (RetentionReport, error) {
	repo, closeRepo, err := a.openRepo(ctx, r, false)
	if errors.Is(err, errNoRepository) {
		return RetentionReport{Location: r.Location}, nil // nothing to keep or remove yet
	}
	if err != nil {
		return RetentionReport{}, err
	}
	defer closeRepo()
	policy := as.Retention.Policy()
	policy.GroupBy = "source"
	groups, err := repo.Forget(ctx, policy, repository.SnapshotFilter{Source: as.Name}, time.UTC, false)
	if err != nil {
		return RetentionReport{}, fmt.Errorf("forget %s snapshots in %s: %w", as.Name, r.Location, err)
	}
	report := RetentionReport{Location: r.Location}
	for _, g := range groups {
		report.Kept += len(g.Kept())
		for _, s := range g.Removed() {
			report.Removed = append(report.Removed, s.ID)
		}
	}
	if len(report.Removed) == 0 && !resumed {
		return report, nil
	}
	pruned, err := repo.Prune(ctx, repository.PruneOptions{})
	if errors.Is(err, repository.ErrUnindexedPacks) {
		// Packs no index names: an interrupted backup's uploads, or packs a lost index file named.
		// Prune must not guess; their own headers say what they hold.
		repaired, rerr := repo.RepairIndex(ctx, repository.RepairIndexOptions{})
		if rerr != nil {
			return report, fmt.Errorf("repair the index of %s before pruning: %w", r.Location, rerr)
		}
		report.PacksIndexed = repaired.PacksRead
		a.logger().Info("indexed packs no index named before pruning", "asset", as.Name, "location", r.Location,
			"packs", repaired.PacksRead, "unreadable", len(repaired.Unreadable))
		if len(repaired.Unreadable) > 0 {
			return report, misconfigured(fmt.Errorf("prune %s: %d packs no index names cannot be read (%s): run `lifeboat repo check --read-data` and `lifeboat repo repair index`; nothing was deleted",
				r.Location, len(repaired.Unreadable), repaired.Unreadable[0]))
		}
		pruned, err = repo.Prune(ctx, repository.PruneOptions{})
	}
	if err != nil {
		return report, fmt.Errorf("prune %s: %w", r.Location, err)
	}
	report.BytesFreed = pruned.BytesFreed
	return report, nil
}

// LatestSnapshotInput names an asset.
type LatestSnapshotInput struct {
	Asset string `json:"asset"`
}

// LatestSnapshotResult is the newest snapshot, if any.
type LatestSnapshotResult struct {
	Found    bool         `json:"found"`
	Snapshot SnapshotInfo `json:"snapshot"`
}

// LatestSnapshot finds the asset's newest snapshot (the RPO watchdog's starting point).
func (a *Assets) LatestSnapshot(ctx context.Context, in LatestSnapshotInput) (LatestSnapshotResult, error) {
	as, err := a.lookup(in.Asset)
	if err != nil {
		return LatestSnapshotResult{}, err
	}
	if as.Source.RDS != nil || as.Source.EBS != nil {
		return a.cloudLatest(ctx, as)
	}
	repo, closeRepo, err := a.openRepo(ctx, as.Repository, false)
	if errors.Is(err, errNoRepository) {
		return LatestSnapshotResult{}, nil
	}
	if err != nil {
		return LatestSnapshotResult{}, err
	}
	defer closeRepo()
	sn, err := repo.FindSnapshot(ctx, "latest", repository.SnapshotFilter{Source: as.Name})
	if errors.Is(err, repository.ErrNoSnapshot) {
		return LatestSnapshotResult{}, nil
	}
	if err != nil {
		return LatestSnapshotResult{}, err
	}
	return LatestSnapshotResult{Found: true, Snapshot: snapshotInfo(sn, as.Repository.Location)}, nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tailBuffer) Len() int       { return len(t.b) }
func (t *tailBuffer) String() string { return string(t.b) }
