package activities

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/lifeboat-dr/lifeboat/activities/contract"

	"github.com/lifeboat-dr/lifeboat/activities/asset"
	"github.com/lifeboat-dr/lifeboat/integrations/aws"
	"github.com/lifeboat-dr/lifeboat/integrations/repository/retention"
)

// CloudSnapshots takes, copies, lists and deletes RDS and EBS snapshots; *aws.Snapshots is the
// implementation. Create and copy are idempotent by snapshot ID or token.
type CloudSnapshots interface {
	CreateRDSSnapshot(ctx context.Context, region, instance, snapshotID string, tags map[string]string) (aws.Snapshot, error)
	WaitRDSSnapshot(ctx context.Context, region, id string, poll time.Duration, progress func(aws.Snapshot)) (aws.Snapshot, error)
	CopyRDSSnapshot(ctx context.Context, srcRegion, srcID, dstRegion, dstID, kmsKeyID string, tags map[string]string) (aws.Snapshot, error)
	ListRDSSnapshots(ctx context.Context, region, instance string, tags map[string]string) ([]aws.Snapshot, error)
	DeleteRDSSnapshot(ctx context.Context, region, id string) error
	CreateEBSSnapshot(ctx context.Context, region, volumeID, token string, tags map[string]string) (aws.Snapshot, error)
	WaitEBSSnapshot(ctx context.Context, region, id string, poll time.Duration, progress func(aws.Snapshot)) (aws.Snapshot, error)
	CopyEBSSnapshot(ctx context.Context, srcRegion, srcID, dstRegion, token string, tags map[string]string) (aws.Snapshot, error)
	ListEBSSnapshots(ctx context.Context, region, volumeID string, tags map[string]string) ([]aws.Snapshot, error)
	DeleteEBSSnapshot(ctx context.Context, region, id string) error
}

var _ CloudSnapshots = (*aws.Snapshots)(nil)

func (a *Assets) cloudPoll() time.Duration {
	if a.CloudPoll > 0 {
		return a.CloudPoll
	}
	return aws.DefaultPoll
}

// Tags Lifeboat puts on the cloud snapshots it makes; retention only ever deletes snapshots that
// carry the asset tag.
const (
	tagAsset = "lifeboat:asset"
	tagJob   = "lifeboat:job"
)

func (a *Assets) cloud() (CloudSnapshots, error) {
	if a.Cloud == nil {
		return nil, misconfigured(fmt.Errorf("this worker has no AWS access configured (aws: in the worker configuration)"))
	}
	return a.Cloud, nil
}

// cloudError makes permanent AWS errors (access denied, unknown instance) non-retryable.
func cloudError(err error) error {
	if aws.IsPermanent(err) {
		return misconfigured(err)
	}
	return err
}

// cloudSnapshotID is the snapshot identifier of a workflow run: the same for every retry, so that
// creating it twice returns the first. RDS identifiers take letters, digits and single hyphens.
func cloudSnapshotID(ctx context.Context, assetName string) string {
	return "lifeboat-" + assetName + "-" + jobHash(ctx)
}

// cloudProgress reports a snapshot's completion as a share of the volume's or instance's size.
func cloudProgress(s aws.Snapshot) contract.OpProgress {
	total := max(s.SizeGiB<<30, 1)
	return contract.OpProgress{BytesDone: total * int64(s.Progress) / 100, BytesTotal: total, Elapsed: time.Since(s.Created)}
}

func cloudInfo(s aws.Snapshot) contract.SnapshotInfo {
	return contract.SnapshotInfo{ID: s.ID, Time: s.Created, Source: s.Source, Location: s.Region, Bytes: s.SizeGiB << 30}
}

func (a *Assets) cloudBackup(ctx context.Context, as asset.Asset, in contract.BackupAssetInput) (contract.BackupAssetResult, error) {
	c, err := a.cloud()
	if err != nil {
		return contract.BackupAssetResult{}, err
	}
	rep := a.newReporter(ctx, "snapshot")
	tags := map[string]string{tagAsset: as.Name, tagJob: jobID(ctx)}
	for _, t := range in.Tags {
		tags["lifeboat:tag:"+t] = "true"
	}
	id := cloudSnapshotID(ctx, as.Name)
	progress := func(s aws.Snapshot) { rep.report(cloudProgress(s)) }
	var sn aws.Snapshot
	switch {
	case as.Source.RDS != nil:
		r := as.Source.RDS
		if sn, err = c.CreateRDSSnapshot(ctx, r.Region, r.Instance, id, tags); err != nil {
			return contract.BackupAssetResult{}, cloudError(err)
		}
		sn, err = c.WaitRDSSnapshot(ctx, r.Region, sn.ID, a.cloudPoll(), progress)
	default:
		e := as.Source.EBS
		if sn, err = c.CreateEBSSnapshot(ctx, e.Region, e.VolumeID, id, tags); err != nil {
			return contract.BackupAssetResult{}, cloudError(err)
		}
		sn, err = c.WaitEBSSnapshot(ctx, e.Region, sn.ID, a.cloudPoll(), progress)
	}
	if err != nil {
		return contract.BackupAssetResult{}, cloudError(err)
	}
	return contract.BackupAssetResult{Snapshot: cloudInfo(sn), Resumed: rep.resumed, Attempts: rep.attempt}, nil
}

func (a *Assets) cloudCopy(ctx context.Context, as asset.Asset, in contract.CopyOffsiteInput) (contract.CopyOffsiteResult, error) {
	c, err := a.cloud()
	if err != nil {
		return contract.CopyOffsiteResult{}, err
	}
	rep := a.newReporter(ctx, "copy")
	progress := func(s aws.Snapshot) { rep.report(cloudProgress(s)) }
	tags := map[string]string{tagAsset: as.Name, tagJob: jobID(ctx), "lifeboat:copy-of": in.Snapshot}
	var sn aws.Snapshot
	switch {
	case as.Source.RDS != nil:
		r := as.Source.RDS
		if r.CopyToRegion == "" {
			return contract.CopyOffsiteResult{}, misconfigured(fmt.Errorf("asset %q has no copy_to_region", as.Name))
		}
		if sn, err = c.CopyRDSSnapshot(ctx, r.Region, in.Snapshot, r.CopyToRegion, in.Snapshot, "", tags); err != nil {
			return contract.CopyOffsiteResult{}, cloudError(err)
		}
		sn, err = c.WaitRDSSnapshot(ctx, r.CopyToRegion, sn.ID, a.cloudPoll(), progress)
	default:
		e := as.Source.EBS
		if e.CopyToRegion == "" {
			return contract.CopyOffsiteResult{}, misconfigured(fmt.Errorf("asset %q has no copy_to_region", as.Name))
		}
		if sn, err = c.CopyEBSSnapshot(ctx, e.Region, in.Snapshot, e.CopyToRegion, "copy-"+in.Snapshot, tags); err != nil {
			return contract.CopyOffsiteResult{}, cloudError(err)
		}
		sn, err = c.WaitEBSSnapshot(ctx, e.CopyToRegion, sn.ID, a.cloudPoll(), progress)
	}
	if err != nil {
		return contract.CopyOffsiteResult{}, cloudError(err)
	}
	return contract.CopyOffsiteResult{Copy: cloudInfo(sn)}, nil
}

// cloudSnapshots lists the asset's snapshots in a region: only those Lifeboat made for the asset.
func (a *Assets) cloudSnapshots(ctx context.Context, c CloudSnapshots, as asset.Asset, region string) ([]aws.Snapshot, error) {
	tags := map[string]string{tagAsset: as.Name}
	if r := as.Source.RDS; r != nil {
		return c.ListRDSSnapshots(ctx, region, r.Instance, tags)
	}
	return c.ListEBSSnapshots(ctx, region, as.Source.EBS.VolumeID, tags)
}

func (a *Assets) cloudRegions(as asset.Asset) []string {
	if r := as.Source.RDS; r != nil {
		return nonEmpty(r.Region, r.CopyToRegion)
	}
	return nonEmpty(as.Source.EBS.Region, as.Source.EBS.CopyToRegion)
}

func nonEmpty(s ...string) []string {
	var out []string
	for _, v := range s {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// cloudRetention applies the asset's policy to its snapshots in each region and deletes the rest.
// Snapshots still being created are never deleted.
func (a *Assets) cloudRetention(ctx context.Context, as asset.Asset) (contract.ApplyRetentionResult, error) {
	c, err := a.cloud()
	if err != nil {
		return contract.ApplyRetentionResult{}, err
	}
	rep := a.newReporter(ctx, "retention")
	stop := rep.keepAlive()
	defer stop()
	policy := as.Retention.Policy()
	policy.GroupBy = "source"
	var out contract.ApplyRetentionResult
	for _, region := range a.cloudRegions(as) {
		snaps, err := a.cloudSnapshots(ctx, c, as, region)
		if err != nil {
			return out, cloudError(err)
		}
		var in []retention.Snapshot
		for _, s := range snaps {
			if s.Status == "available" {
				in = append(in, retention.Snapshot{ID: s.ID, Time: s.Created, Source: as.Name})
			}
		}
		groups, err := retention.Apply(in, policy, time.UTC)
		if err != nil {
			return out, misconfigured(err)
		}
		report := contract.RetentionReport{Location: region}
		for _, g := range groups {
			report.Kept += len(g.Kept())
			for _, s := range g.Removed() {
				if as.Source.RDS != nil {
					err = c.DeleteRDSSnapshot(ctx, region, s.ID)
				} else {
					err = c.DeleteEBSSnapshot(ctx, region, s.ID)
				}
				if err != nil {
					return out, cloudError(err)
				}
				report.Removed = append(report.Removed, s.ID)
			}
		}
		sort.Strings(report.Removed)
		out.Reports = append(out.Reports, report)
	}
	return out, nil
}

func (a *Assets) cloudLatest(ctx context.Context, as asset.Asset) (contract.LatestSnapshotResult, error) {
	c, err := a.cloud()
	if err != nil {
		return contract.LatestSnapshotResult{}, err
	}
	snaps, err := a.cloudSnapshots(ctx, c, as, a.cloudRegions(as)[0])
	if err != nil {
		return contract.LatestSnapshotResult{}, cloudError(err)
	}
	var out contract.LatestSnapshotResult
	for _, s := range snaps {
		if s.Status == "available" && (!out.Found || s.Created.After(out.Snapshot.Time)) {
			out = contract.LatestSnapshotResult{Found: true, Snapshot: cloudInfo(s)}
		}
	}
	return out, nil
}
