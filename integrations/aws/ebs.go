package aws

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// maxTokenLen is the longest tag value EC2 accepts, and so the longest token.
const maxTokenLen = 256

// CreateEBSSnapshot starts a snapshot of a volume and returns it, usually still StatusCreating.
// It is idempotent through token, which is stored in the snapshot's TagToken tag: when the
// volume already has a snapshot with that token, the oldest such snapshot is returned whatever
// its status, and nothing is created. Use one token per intended snapshot (a workflow and step
// id, say). EC2's reads are eventually consistent, so a retry within seconds of a create that
// succeeded unseen can still start a second snapshot. An unknown volume gives a permanent error
// (see IsPermanent).
func (s *Snapshots) CreateEBSSnapshot(ctx context.Context, region, volumeID, token string, tags map[string]string) (Snapshot, error) {
	fail := func(err error) (Snapshot, error) {
		return Snapshot{}, fmt.Errorf("ebs: create snapshot of %q in %s (token %q): %w", volumeID, region, token, err)
	}
	c, err := s.ec2(region)
	if err != nil {
		return fail(err)
	}
	if volumeID == "" {
		return fail(fmt.Errorf("volume id is required: %w", ErrInvalid))
	}
	if err := checkToken(token); err != nil {
		return fail(err)
	}
	found, err := findEBS(ctx, c, region, map[string]string{TagToken: token}, "volume-id", volumeID)
	if err != nil {
		return fail(fmt.Errorf("look for an earlier attempt: %w", err))
	}
	if len(found) > 0 {
		return found[0], nil
	}
	out, err := c.CreateSnapshot(ctx, &ec2.CreateSnapshotInput{
		VolumeId:          aws.String(volumeID),
		Description:       aws.String("Lifeboat snapshot of " + volumeID),
		TagSpecifications: ec2TagSpecs(withTags(tags, TagToken, token)),
	})
	if err != nil {
		return fail(err)
	}
	return fromEC2(region, &types.Snapshot{
		SnapshotId:  out.SnapshotId,
		VolumeId:    out.VolumeId,
		State:       out.State,
		StartTime:   out.StartTime,
		Progress:    out.Progress,
		VolumeSize:  out.VolumeSize,
		Tags:        out.Tags,
		Description: out.Description,
	}), nil
}

// EBSSnapshot returns an EBS snapshot. The error wraps ErrNotFound when there is none with that
// id in the region.
func (s *Snapshots) EBSSnapshot(ctx context.Context, region, id string) (Snapshot, error) {
	c, err := s.ec2(region)
	if err == nil {
		var snap Snapshot
		if snap, err = describeEBS(ctx, c, region, id); err == nil {
			return snap, nil
		}
	}
	return Snapshot{}, fmt.Errorf("ebs: describe snapshot %q in %s: %w", id, region, err)
}

// WaitEBSSnapshot polls an EBS snapshot every poll (DefaultPoll when zero) until it is available,
// calling progress (when not nil) with every state seen, and returns it. It fails, returning the
// last state seen, when the snapshot fails (ErrFailed), is deleted or does not show within a few
// polls (ErrNotFound), or ctx ends (ctx.Err()).
func (s *Snapshots) WaitEBSSnapshot(ctx context.Context, region, id string, poll time.Duration, progress func(Snapshot)) (Snapshot, error) {
	c, err := s.ec2(region)
	if err != nil {
		return Snapshot{}, fmt.Errorf("ebs: wait for snapshot %q in %s: %w", id, region, err)
	}
	snap, err := wait(ctx, poll, func(ctx context.Context) (Snapshot, error) {
		return describeEBS(ctx, c, region, id)
	}, progress)
	if err != nil {
		return snap, fmt.Errorf("ebs: wait for snapshot %q in %s: %w", id, region, err)
	}
	return snap, nil
}

// CopyEBSSnapshot starts a copy of the EBS snapshot srcID in srcRegion into dstRegion and returns
// the copy, usually still StatusCreating. The source must be completed. The copy gets tags plus
// TagToken, TagCopiedFrom (the source's ARN) and TagVolume (the source's volume). It is idempotent
// through token, like CreateEBSSnapshot (EC2's CopySnapshot takes no client token): when dstRegion
// already has a snapshot with that token made from the same source, it is returned; when the token
// was used for another source the error wraps ErrConflict. A missing source gives a permanent
// error.
func (s *Snapshots) CopyEBSSnapshot(ctx context.Context, srcRegion, srcID, dstRegion, token string, tags map[string]string) (Snapshot, error) {
	fail := func(err error) (Snapshot, error) {
		return Snapshot{}, fmt.Errorf("ebs: copy snapshot %q from %s to %s (token %q): %w", srcID, srcRegion, dstRegion, token, err)
	}
	src, err := s.ec2(srcRegion)
	if err != nil {
		return fail(err)
	}
	dst, err := s.ec2(dstRegion)
	if err != nil {
		return fail(err)
	}
	if srcID == "" {
		return fail(fmt.Errorf("source snapshot id is required: %w", ErrInvalid))
	}
	if err := checkToken(token); err != nil {
		return fail(err)
	}
	source, err := describeEBS(ctx, src, srcRegion, srcID)
	if err != nil {
		return fail(fmt.Errorf("source: %w", err))
	}
	found, err := findEBS(ctx, dst, dstRegion, map[string]string{TagToken: token}, "", "")
	if err != nil {
		return fail(fmt.Errorf("look for an earlier attempt: %w", err))
	}
	if len(found) > 0 {
		if found[0].CopiedFrom != source.ARN {
			return fail(fmt.Errorf("the token is taken by %s, copied from %q: %w", found[0].ID, found[0].CopiedFrom, ErrConflict))
		}
		return found[0], nil
	}
	copyTags := withTags(tags, TagToken, token, TagCopiedFrom, source.ARN, TagVolume, source.Source)
	out, err := dst.CopySnapshot(ctx, &ec2.CopySnapshotInput{
		SourceRegion:      aws.String(srcRegion), // the SDK presigns the request for the source region
		SourceSnapshotId:  aws.String(srcID),
		Description:       aws.String(fmt.Sprintf("Lifeboat copy of %s from %s", srcID, srcRegion)),
		TagSpecifications: ec2TagSpecs(copyTags),
	})
	if err != nil {
		return fail(err)
	}
	snap := Snapshot{
		ID:         aws.ToString(out.SnapshotId),
		Region:     dstRegion,
		Source:     source.Source,
		Status:     StatusCreating,
		RawStatus:  string(types.SnapshotStatePending),
		SizeGiB:    source.SizeGiB,
		Tags:       copyTags,
		CopiedFrom: source.ARN,
	}
	snap.ARN = ebsARN(dstRegion, snap.ID)
	if len(out.Tags) > 0 {
		snap.Tags = ec2TagMap(out.Tags)
	}
	return snap, nil
}

// ListEBSSnapshots returns this account's snapshots of a volume in a region that carry all the
// given tags, oldest first. They include Lifeboat's copies of the volume's snapshots (found by
// TagVolume, as EC2 does not report copies as taken of the volume). With volumeID empty it returns
// all this account's snapshots in the region that carry the tags.
func (s *Snapshots) ListEBSSnapshots(ctx context.Context, region, volumeID string, tags map[string]string) ([]Snapshot, error) {
	fail := func(err error) ([]Snapshot, error) {
		return nil, fmt.Errorf("ebs: list snapshots of %q in %s: %w", volumeID, region, err)
	}
	c, err := s.ec2(region)
	if err != nil {
		return fail(err)
	}
	if volumeID == "" {
		snaps, err := findEBS(ctx, c, region, tags, "", "")
		if err != nil {
			return fail(err)
		}
		return snaps, nil
	}
	originals, err := findEBS(ctx, c, region, tags, "volume-id", volumeID)
	if err != nil {
		return fail(err)
	}
	copies, err := findEBS(ctx, c, region, tags, "tag:"+TagVolume, volumeID)
	if err != nil {
		return fail(err)
	}
	seen := map[string]bool{}
	var snaps []Snapshot
	for _, snap := range append(originals, copies...) {
		if !seen[snap.ID] {
			seen[snap.ID] = true
			snaps = append(snaps, snap)
		}
	}
	sortOldestFirst(snaps)
	return snaps, nil
}

// DeleteEBSSnapshot deletes an EBS snapshot. Deleting one that does not exist succeeds.
func (s *Snapshots) DeleteEBSSnapshot(ctx context.Context, region, id string) error {
	c, err := s.ec2(region)
	if err == nil {
		_, err = c.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: aws.String(id)})
		if errorCode(err) == "InvalidSnapshot.NotFound" {
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("ebs: delete snapshot %q in %s: %w", id, region, err)
	}
	return nil
}

// describeEBS returns one snapshot; the error wraps ErrNotFound when it does not exist.
func describeEBS(ctx context.Context, c ec2API, region, id string) (Snapshot, error) {
	out, err := c.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{id}})
	if errorCode(err) == "InvalidSnapshot.NotFound" {
		return Snapshot{}, fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	if err != nil {
		return Snapshot{}, err
	}
	if len(out.Snapshots) == 0 {
		return Snapshot{}, ErrNotFound
	}
	return fromEC2(region, &out.Snapshots[0]), nil
}

// findEBS lists this account's snapshots that carry tags and, when filter is not empty, have
// value for that filter; oldest first.
func findEBS(ctx context.Context, c ec2API, region string, tags map[string]string, filter, value string) ([]Snapshot, error) {
	var filters []types.Filter
	if filter != "" {
		filters = append(filters, types.Filter{Name: aws.String(filter), Values: []string{value}})
	}
	for _, k := range sortedKeys(tags) {
		filters = append(filters, types.Filter{Name: aws.String("tag:" + k), Values: []string{tags[k]}})
	}
	in := &ec2.DescribeSnapshotsInput{
		OwnerIds:   []string{"self"},
		Filters:    filters,
		MaxResults: aws.Int32(1000),
	}
	var snaps []Snapshot
	for p := ec2.NewDescribeSnapshotsPaginator(c, in); p.HasMorePages(); {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for i := range out.Snapshots {
			snaps = append(snaps, fromEC2(region, &out.Snapshots[i]))
		}
	}
	sortOldestFirst(snaps)
	return snaps, nil
}

func checkToken(token string) error {
	if token == "" || len(token) > maxTokenLen {
		return fmt.Errorf("token must have 1 to %d characters: %w", maxTokenLen, ErrInvalid)
	}
	return nil
}

func ec2TagSpecs(tags map[string]string) []types.TagSpecification {
	spec := types.TagSpecification{ResourceType: types.ResourceTypeSnapshot}
	for _, k := range sortedKeys(tags) {
		spec.Tags = append(spec.Tags, types.Tag{Key: aws.String(k), Value: aws.String(tags[k])})
	}
	return []types.TagSpecification{spec}
}

func ec2TagMap(tags []types.Tag) map[string]string {
	out := make(map[string]string, len(tags))
	for _, t := range tags {
		out[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return out
}

func fromEC2(region string, e *types.Snapshot) Snapshot {
	snap := Snapshot{
		ID:        aws.ToString(e.SnapshotId),
		Region:    region,
		Source:    aws.ToString(e.VolumeId),
		RawStatus: string(e.State),
		SizeGiB:   int64(aws.ToInt32(e.VolumeSize)),
		Tags:      ec2TagMap(e.Tags),
	}
	snap.ARN = ebsARN(region, snap.ID)
	snap.Status = ebsStatus(e.State)
	if e.StartTime != nil {
		snap.Created = e.StartTime.UTC()
	}
	if p, err := strconv.Atoi(strings.TrimSuffix(aws.ToString(e.Progress), "%")); err == nil {
		snap.Progress = p
	}
	if v := snap.Tags[TagVolume]; v != "" {
		snap.Source = v
	}
	snap.CopiedFrom = snap.Tags[TagCopiedFrom]
	return snap
}

// ebsStatus normalises an EBS snapshot state.
func ebsStatus(state types.SnapshotState) string {
	switch state {
	case types.SnapshotStateCompleted:
		return StatusAvailable
	case types.SnapshotStateError:
		return StatusFailed
	case types.SnapshotStateRecoverable:
		return StatusDeleted // in the Recycle Bin
	}
	return StatusCreating // pending, recovering …
}
