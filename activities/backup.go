package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lifeboat-dr/lifeboat/activities/contract"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/lifeboat-dr/lifeboat/activities/asset"
	"github.com/lifeboat-dr/lifeboat/integrations/postgres"
	"github.com/lifeboat-dr/lifeboat/integrations/repository"
)

func snapshotInfo(sn *repository.Snapshot, loc string) contract.SnapshotInfo {
	s := contract.SnapshotInfo{ID: sn.ID.String(), Time: sn.Time, Source: sn.Source, Hostname: sn.Hostname, Location: loc}
	if sum := sn.Summary; sum != nil {
		s.Files, s.Bytes, s.BytesAdded, s.StoredAdded, s.Duration = sum.TotalFiles, sum.TotalBytes, sum.BytesAdded, sum.StoredAdded, sum.Duration
	}
	return s
}

// BackupAsset backs the asset up into its repository (or takes a cloud snapshot). It heartbeats
// progress; a retry after a crash reuses every chunk the interrupted attempt stored up to its last
// checkpoint, and a retry after the snapshot was saved returns that snapshot rather than making a
// second. A backup of the same asset already running makes it fail with the retryable
// RepositoryLocked error.
func (a *Assets) BackupAsset(ctx context.Context, in contract.BackupAssetInput) (contract.BackupAssetResult, error) {
	as, err := a.lookup(in.Asset)
	if err != nil {
		return contract.BackupAssetResult{}, err
	}
	if as.Source.RDS != nil || as.Source.EBS != nil {
		return a.cloudBackup(ctx, as, in)
	}
	repo, closeRepo, err := a.openRepo(ctx, as.Repository, true)
	if err != nil {
		return contract.BackupAssetResult{}, err
	}
	defer closeRepo()

	rep := a.newReporter(ctx, "backup")
	// A backup of paths counts what it has to read as it goes (a scan beside it); a stream (a
	// dump, a command's output) has no total until it ends, so the previous snapshot's size
	// stands in for it, marked as an estimate.
	var estimate int64
	if as.Source.Paths == nil {
		if prev, err := repo.FindSnapshot(ctx, "latest", repository.SnapshotFilter{Source: as.Name}); err == nil && prev.Summary != nil {
			estimate = prev.Summary.TotalBytes
		}
	}
	rep.last.BytesTotal, rep.last.TotalEstimated = estimate, estimate > 0
	ctx = repository.WithLockOwner(ctx, jobID(ctx))
	opts := repository.BackupOptions{
		Source: as.Name, Tags: in.Tags, Scope: "asset " + as.Name, Job: jobID(ctx), Program: "lifeboat-worker",
		Progress: func(p repository.Progress) {
			op := contract.OpProgress{Files: p.FilesDone, BytesDone: p.BytesDone, BytesNew: p.BytesNew,
				StoredNew: p.StoredNew, Elapsed: p.Elapsed, Done: p.Done}
			switch {
			case p.TotalKnown:
				op.BytesTotal, op.FilesTotal = p.BytesTotal, p.FilesTotal
			case estimate > 0:
				op.BytesTotal, op.TotalEstimated = estimate, true
			}
			rep.report(op)
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
			return contract.BackupAssetResult{}, misconfigured(serr)
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
	case s.Git != nil:
		sn, err = a.backupGit(ctx, as, repo, opts, rep)
	case s.CIConfig != nil:
		sn, err = a.backupCIConfig(ctx, as, repo, opts, rep)
	default:
		err = misconfigured(fmt.Errorf("asset %q: no source", as.Name))
	}
	if errors.Is(err, postgres.ErrUnreachable) {
		return contract.BackupAssetResult{}, sourceUnreachable(activity.GetInfo(ctx).Attempt, fmt.Sprintf("back up %s", as.Name), err)
	}
	if err != nil {
		return contract.BackupAssetResult{}, classify(err, fmt.Sprintf("back up %s", as.Name))
	}
	return contract.BackupAssetResult{Snapshot: snapshotInfo(sn, as.Repository.Location), Resumed: rep.resumed, Attempts: rep.attempt}, nil
}

// CopyOffsite copies a snapshot to the asset's off-site repository (or cloud region). It is
// idempotent: a snapshot already copied is not copied again.
func (a *Assets) CopyOffsite(ctx context.Context, in contract.CopyOffsiteInput) (contract.CopyOffsiteResult, error) {
	as, err := a.lookup(in.Asset)
	if err != nil {
		return contract.CopyOffsiteResult{}, err
	}
	if as.Source.RDS != nil || as.Source.EBS != nil {
		return a.cloudCopy(ctx, as, in)
	}
	if as.Offsite == nil {
		return contract.CopyOffsiteResult{}, misconfigured(fmt.Errorf("asset %q has no offsite repository", as.Name))
	}
	src, closeSrc, err := a.openRepo(ctx, as.Repository, false)
	if err != nil {
		return contract.CopyOffsiteResult{}, err
	}
	defer closeSrc()
	dst, closeDst, err := a.openRepo(ctx, as.Offsite, true)
	if err != nil {
		return contract.CopyOffsiteResult{}, err
	}
	defer closeDst()
	sn, err := src.FindSnapshot(ctx, in.Snapshot, repository.SnapshotFilter{Source: as.Name})
	if err != nil {
		return contract.CopyOffsiteResult{}, noSnapshot(err)
	}
	rep := a.newReporter(ctx, "copy")
	stop := rep.keepAlive()
	defer stop()
	ctx = repository.WithLockOwner(ctx, jobID(ctx))
	report, err := src.CopyTo(ctx, dst, []*repository.Snapshot{sn})
	if err != nil {
		return contract.CopyOffsiteResult{}, classify(err, fmt.Sprintf("copy %s snapshot %s to %s", as.Name, sn.ID.Short(), as.Offsite.Location))
	}
	copies, err := dst.Snapshots(ctx)
	if err != nil {
		return contract.CopyOffsiteResult{}, err
	}
	for _, c := range copies {
		if c.Original != nil && *c.Original == sn.ID {
			info := snapshotInfo(c, as.Offsite.Location)
			info.BytesAdded, info.StoredAdded = 0, report.StoredAdded
			return contract.CopyOffsiteResult{Copy: info, Skipped: report.Skipped > 0}, nil
		}
	}
	return contract.CopyOffsiteResult{}, fmt.Errorf("copy %s snapshot %s: the copy is not in %s afterwards", as.Name, sn.ID.Short(), as.Offsite.Location)
}

func noSnapshot(err error) error {
	if errors.Is(err, repository.ErrNoSnapshot) || errors.Is(err, errNoRepository) {
		return temporal.NewNonRetryableApplicationError(err.Error(), contract.ErrTypeNoSnapshot, err)
	}
	return err
}

// ApplyRetention forgets the asset's snapshots its policy does not keep and prunes the data only
// they used, in the main and the off-site repository, each under an exclusive lock (cloud snapshots
// are deleted instead). Snapshots are grouped by asset only, so backups made by different workers
// share one policy. Retrying is safe: what is gone stays gone, and a retry prunes even when an
// earlier attempt left it nothing to forget.
func (a *Assets) ApplyRetention(ctx context.Context, in contract.ApplyRetentionInput) (contract.ApplyRetentionResult, error) {
	as, err := a.lookup(in.Asset)
	if err != nil {
		return contract.ApplyRetentionResult{}, err
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
	var out contract.ApplyRetentionResult
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
func (a *Assets) retain(ctx context.Context, as asset.Asset, r *asset.Repository, resumed bool) (contract.RetentionReport, error) {
	repo, closeRepo, err := a.openRepo(ctx, r, false)
	if errors.Is(err, errNoRepository) {
		return contract.RetentionReport{Location: r.Location}, nil // nothing to keep or remove yet
	}
	if err != nil {
		return contract.RetentionReport{}, err
	}
	defer closeRepo()
	policy := as.Retention.Policy()
	policy.GroupBy = "source"
	groups, err := repo.Forget(ctx, policy, repository.SnapshotFilter{Source: as.Name}, time.UTC, false)
	if err != nil {
		return contract.RetentionReport{}, fmt.Errorf("forget %s snapshots in %s: %w", as.Name, r.Location, err)
	}
	report := contract.RetentionReport{Location: r.Location}
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

// LatestSnapshot finds the asset's newest snapshot (the RPO watchdog's starting point).
func (a *Assets) LatestSnapshot(ctx context.Context, in contract.LatestSnapshotInput) (contract.LatestSnapshotResult, error) {
	as, err := a.lookup(in.Asset)
	if err != nil {
		return contract.LatestSnapshotResult{}, err
	}
	if as.Source.RDS != nil || as.Source.EBS != nil {
		return a.cloudLatest(ctx, as)
	}
	repo, closeRepo, err := a.openRepo(ctx, as.Repository, false)
	if errors.Is(err, errNoRepository) {
		return contract.LatestSnapshotResult{}, nil
	}
	if err != nil {
		return contract.LatestSnapshotResult{}, err
	}
	defer closeRepo()
	sn, err := repo.FindSnapshot(ctx, "latest", repository.SnapshotFilter{Source: as.Name})
	if errors.Is(err, repository.ErrNoSnapshot) {
		return contract.LatestSnapshotResult{}, nil
	}
	if err != nil {
		return contract.LatestSnapshotResult{}, err
	}
	return contract.LatestSnapshotResult{Found: true, Snapshot: snapshotInfo(sn, as.Repository.Location)}, nil
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

// sourceUnreachable is the error of attempt of a backup whose source did not answer. A server
// restarting answers again within minutes: the attempt is retried after 15 s, 30 s, then 1 min;
// after contract.SourceAttempts the error is final, saying so, so that a source that is down fails
// its run within minutes (and alerts) instead of retrying for an hour, and the next scheduled run
// tries again.
func sourceUnreachable(attempt int32, what string, err error) error {
	msg := what + ": the source did not answer: " + err.Error()
	if attempt >= contract.SourceAttempts {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s (gave up after %d attempts; the next scheduled backup tries again)", msg, attempt),
			contract.ErrTypeSourceUnreachable, err)
	}
	return temporal.NewApplicationErrorWithOptions(msg, contract.ErrTypeSourceUnreachable, temporal.ApplicationErrorOptions{
		Cause: err, NextRetryDelay: 15 * time.Second << max(attempt-1, 0),
	})
}
