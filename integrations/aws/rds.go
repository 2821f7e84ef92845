package aws

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/rds/types"
)

// CreateRDSSnapshot starts a manual snapshot of a DB instance and returns it, usually still
// StatusCreating. It is idempotent: when a snapshot with the identifier already exists for the
// same instance, that snapshot is returned whatever its status (its tags are left as they are);
// when it belongs to another instance the error wraps ErrConflict. An unknown instance gives a
// permanent error (see IsPermanent).
func (s *Snapshots) CreateRDSSnapshot(ctx context.Context, region, instance, snapshotID string, tags map[string]string) (Snapshot, error) {
	fail := func(err error) (Snapshot, error) {
		return Snapshot{}, fmt.Errorf("rds: create snapshot %q of %q in %s: %w", snapshotID, instance, region, err)
	}
	c, err := s.rds(region)
	if err != nil {
		return fail(err)
	}
	if instance == "" || snapshotID == "" {
		return fail(fmt.Errorf("instance and snapshot identifier are required: %w", ErrInvalid))
	}
	out, err := c.CreateDBSnapshot(ctx, &rds.CreateDBSnapshotInput{
		DBInstanceIdentifier: aws.String(instance),
		DBSnapshotIdentifier: aws.String(snapshotID),
		Tags:                 rdsTags(tags),
	})
	if err == nil {
		return fromRDS(region, out.DBSnapshot), nil
	}
	if _, ok := errors.AsType[*types.DBSnapshotAlreadyExistsFault](err); !ok {
		return fail(err)
	}
	existing, err := describeRDS(ctx, c, region, snapshotID)
	if err != nil {
		return fail(fmt.Errorf("it exists, but: %w", err))
	}
	if !strings.EqualFold(existing.Source, instance) {
		return fail(fmt.Errorf("the identifier is taken by a snapshot of %q: %w", existing.Source, ErrConflict))
	}
	return existing, nil
}

// RDSSnapshot returns a DB snapshot. The error wraps ErrNotFound when there is none with that
// identifier in the region.
func (s *Snapshots) RDSSnapshot(ctx context.Context, region, id string) (Snapshot, error) {
	c, err := s.rds(region)
	if err == nil {
		var snap Snapshot
		if snap, err = describeRDS(ctx, c, region, id); err == nil {
			return snap, nil
		}
	}
	return Snapshot{}, fmt.Errorf("rds: describe snapshot %q in %s: %w", id, region, err)
}

// WaitRDSSnapshot polls a DB snapshot every poll (DefaultPoll when zero) until it is available,
// calling progress (when not nil) with every state seen, and returns it. It fails, returning the
// last state seen, when the snapshot fails (ErrFailed), is deleted or does not show within a few
// polls (ErrNotFound), or ctx ends (ctx.Err()).
func (s *Snapshots) WaitRDSSnapshot(ctx context.Context, region, id string, poll time.Duration, progress func(Snapshot)) (Snapshot, error) {
	c, err := s.rds(region)
	if err != nil {
		return Snapshot{}, fmt.Errorf("rds: wait for snapshot %q in %s: %w", id, region, err)
	}
	snap, err := wait(ctx, poll, func(ctx context.Context) (Snapshot, error) {
		return describeRDS(ctx, c, region, id)
	}, progress)
	if err != nil {
		return snap, fmt.Errorf("rds: wait for snapshot %q in %s: %w", id, region, err)
	}
	return snap, nil
}

// CopyRDSSnapshot starts a copy of the DB snapshot srcID in srcRegion as dstID in dstRegion, and
// returns the copy, usually still StatusCreating. The source must be available. Copies across
// regions name the source by its ARN and are presigned for the source region by the SDK; kmsKeyID
// (a key in dstRegion) is required to copy an encrypted snapshot across regions, and may be empty
// otherwise. The copy gets tags, not the source's. It is idempotent: when dstID already exists as
// a copy of the same source, that copy is returned; when it is something else the error wraps
// ErrConflict. A missing source gives a permanent error.
func (s *Snapshots) CopyRDSSnapshot(ctx context.Context, srcRegion, srcID, dstRegion, dstID, kmsKeyID string, tags map[string]string) (Snapshot, error) {
	fail := func(err error) (Snapshot, error) {
		return Snapshot{}, fmt.Errorf("rds: copy snapshot %q from %s to %q in %s: %w", srcID, srcRegion, dstID, dstRegion, err)
	}
	src, err := s.rds(srcRegion)
	if err != nil {
		return fail(err)
	}
	dst, err := s.rds(dstRegion)
	if err != nil {
		return fail(err)
	}
	if srcID == "" || dstID == "" || (srcRegion == dstRegion && strings.EqualFold(srcID, dstID)) {
		return fail(fmt.Errorf("source and target must be named and differ: %w", ErrInvalid))
	}
	source, err := describeRDS(ctx, src, srcRegion, srcID)
	if err != nil {
		return fail(fmt.Errorf("source: %w", err))
	}
	in := &rds.CopyDBSnapshotInput{
		SourceDBSnapshotIdentifier: aws.String(source.ARN),
		TargetDBSnapshotIdentifier: aws.String(dstID),
		Tags:                       rdsTags(tags),
	}
	if kmsKeyID != "" {
		in.KmsKeyId = aws.String(kmsKeyID)
	}
	if srcRegion != dstRegion {
		in.SourceRegion = aws.String(srcRegion) // the SDK presigns the request for the source region
	}
	out, err := dst.CopyDBSnapshot(ctx, in)
	if err == nil {
		return fromRDS(dstRegion, out.DBSnapshot), nil
	}
	if _, ok := errors.AsType[*types.DBSnapshotAlreadyExistsFault](err); !ok {
		return fail(err)
	}
	existing, err := describeRDS(ctx, dst, dstRegion, dstID)
	if err != nil {
		return fail(fmt.Errorf("it exists, but: %w", err))
	}
	sameSource := existing.CopiedFrom == source.ARN ||
		(existing.CopiedFrom == "" && srcRegion == dstRegion && strings.EqualFold(existing.Source, source.Source))
	if !sameSource {
		return fail(fmt.Errorf("the identifier is taken by a snapshot of %q copied from %q: %w",
			existing.Source, existing.CopiedFrom, ErrConflict))
	}
	return existing, nil
}

// ListRDSSnapshots returns the manual snapshots of a DB instance in a region (of every instance
// when instance is empty), copies from other regions included, that carry all the given tags;
// oldest first.
func (s *Snapshots) ListRDSSnapshots(ctx context.Context, region, instance string, tags map[string]string) ([]Snapshot, error) {
	c, err := s.rds(region)
	if err != nil {
		return nil, fmt.Errorf("rds: list snapshots of %q in %s: %w", instance, region, err)
	}
	in := &rds.DescribeDBSnapshotsInput{
		SnapshotType: aws.String("manual"),
		MaxRecords:   aws.Int32(100),
	}
	if instance != "" {
		in.DBInstanceIdentifier = aws.String(instance)
	}
	var snaps []Snapshot
	for p := rds.NewDescribeDBSnapshotsPaginator(c, in); p.HasMorePages(); {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("rds: list snapshots of %q in %s: %w", instance, region, err)
		}
		for i := range out.DBSnapshots {
			// DescribeDBSnapshots has no tag filter; the tags come with each snapshot.
			if snap := fromRDS(region, &out.DBSnapshots[i]); hasTags(snap.Tags, tags) {
				snaps = append(snaps, snap)
			}
		}
	}
	sortOldestFirst(snaps)
	return snaps, nil
}

// DeleteRDSSnapshot deletes a DB snapshot. Deleting one that does not exist succeeds; one still
// being created cannot be deleted yet (a retryable error).
func (s *Snapshots) DeleteRDSSnapshot(ctx context.Context, region, id string) error {
	c, err := s.rds(region)
	if err == nil {
		_, err = c.DeleteDBSnapshot(ctx, &rds.DeleteDBSnapshotInput{DBSnapshotIdentifier: aws.String(id)})
		if _, ok := errors.AsType[*types.DBSnapshotNotFoundFault](err); ok {
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("rds: delete snapshot %q in %s: %w", id, region, err)
	}
	return nil
}

// describeRDS returns one DB snapshot; the error wraps ErrNotFound when it does not exist.
func describeRDS(ctx context.Context, c rdsAPI, region, id string) (Snapshot, error) {
	out, err := c.DescribeDBSnapshots(ctx, &rds.DescribeDBSnapshotsInput{DBSnapshotIdentifier: aws.String(id)})
	if _, ok := errors.AsType[*types.DBSnapshotNotFoundFault](err); ok {
		return Snapshot{}, fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	if err != nil {
		return Snapshot{}, err
	}
	if len(out.DBSnapshots) == 0 {
		return Snapshot{}, ErrNotFound
	}
	return fromRDS(region, &out.DBSnapshots[0]), nil
}

func rdsTags(tags map[string]string) []types.Tag {
	var out []types.Tag
	for _, k := range sortedKeys(tags) {
		out = append(out, types.Tag{Key: aws.String(k), Value: aws.String(tags[k])})
	}
	return out
}

func fromRDS(region string, d *types.DBSnapshot) Snapshot {
	if d == nil {
		return Snapshot{Region: region}
	}
	snap := Snapshot{
		ID:         aws.ToString(d.DBSnapshotIdentifier),
		ARN:        aws.ToString(d.DBSnapshotArn),
		Region:     region,
		Source:     aws.ToString(d.DBInstanceIdentifier),
		RawStatus:  aws.ToString(d.Status),
		Progress:   int(aws.ToInt32(d.PercentProgress)),
		SizeGiB:    int64(aws.ToInt32(d.AllocatedStorage)),
		CopiedFrom: aws.ToString(d.SourceDBSnapshotIdentifier),
		Tags:       map[string]string{},
	}
	snap.Status = rdsStatus(snap.RawStatus)
	if d.SnapshotCreateTime != nil {
		snap.Created = d.SnapshotCreateTime.UTC()
	}
	for _, t := range d.TagList {
		snap.Tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return snap
}

// rdsStatus normalises a DB snapshot status.
func rdsStatus(raw string) string {
	switch raw = strings.ToLower(raw); {
	case raw == "available":
		return StatusAvailable
	case raw == "failed" || raw == "error" || strings.HasPrefix(raw, "incompatible"):
		return StatusFailed
	case raw == "deleting" || raw == "deleted":
		return StatusDeleted
	}
	return StatusCreating // creating, copying, pending, modifying, upgrading …
}
