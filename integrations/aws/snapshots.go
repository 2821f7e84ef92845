package aws

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sort"
	"strings"
	"time"
)

// Normalised snapshot statuses, the same for RDS and EBS.
const (
	StatusCreating  = "creating"  // being taken or copied
	StatusAvailable = "available" // complete and usable
	StatusFailed    = "failed"    // will never complete
	StatusDeleted   = "deleted"   // deleted, being deleted, or in the Recycle Bin
)

// Tags Lifeboat sets on the snapshots it makes. Callers' tags with these keys are overwritten.
const (
	// TagToken holds the idempotency token of the EBS create or copy that made the snapshot.
	TagToken = "lifeboat:token"
	// TagCopiedFrom holds the ARN of the snapshot an EBS copy was made from.
	TagCopiedFrom = "lifeboat:copied-from"
	// TagVolume holds the volume an EBS copy's source was taken of (EC2 reports copies as
	// taken of "vol-ffffffff").
	TagVolume = "lifeboat:volume"
)

// DefaultPoll is the interval between status checks of the Wait methods when they are given none.
const DefaultPoll = 15 * time.Second

// notFoundGrace is how many consecutive polls a Wait method lets a snapshot be missing before it
// gives up: AWS's reads are eventually consistent, so a snapshot may not show at once.
const notFoundGrace = 5

// Snapshot is an RDS DB snapshot or an EBS snapshot.
type Snapshot struct {
	// ID is the RDS DB snapshot identifier or the EBS snapshot id ("snap-…").
	ID string
	// ARN is the snapshot's Amazon Resource Name.
	ARN string
	// Region is the region the snapshot is in.
	Region string
	// Source is the DB instance identifier or the volume id the snapshot (or, for copies, the
	// original) was taken of.
	Source string
	// Status is one of StatusCreating, StatusAvailable, StatusFailed and StatusDeleted.
	Status string
	// RawStatus is the service's own status ("copying", "pending", "completed" …). A status this
	// package does not know is reported as StatusCreating.
	RawStatus string
	// Created is when the snapshot was started; zero when the service has not said yet.
	Created time.Time
	// Progress is the percentage done, 0-100.
	Progress int
	// SizeGiB is the size of the instance's storage or of the volume.
	SizeGiB int64
	// Tags are the snapshot's tags.
	Tags map[string]string
	// CopiedFrom is the ARN of the snapshot this one was copied from, when it is a cross-region
	// (RDS) or Lifeboat-made (EBS) copy.
	CopiedFrom string
}

// wait polls get until the snapshot is available, calling progress (when not nil) with every
// state seen. It returns the last snapshot seen with the error.
func wait(ctx context.Context, poll time.Duration, get func(context.Context) (Snapshot, error), progress func(Snapshot)) (Snapshot, error) {
	if poll <= 0 {
		poll = DefaultPoll
	}
	var last Snapshot
	misses := 0
	for {
		if err := ctx.Err(); err != nil {
			return last, err
		}
		s, err := get(ctx)
		switch {
		case errors.Is(err, ErrNotFound) && ctx.Err() == nil && misses < notFoundGrace:
			misses++
		case err != nil:
			return last, err
		default:
			misses, last = 0, s
			if progress != nil {
				progress(s)
			}
			switch s.Status {
			case StatusAvailable:
				return s, nil
			case StatusFailed:
				return s, fmt.Errorf("status %q: %w", s.RawStatus, ErrFailed)
			case StatusDeleted:
				return s, fmt.Errorf("status %q: %w", s.RawStatus, ErrNotFound)
			}
		}
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return last, ctx.Err()
		case <-t.C:
		}
	}
}

// withTags returns a copy of tags with the extra key/value pairs set.
func withTags(tags map[string]string, kv ...string) map[string]string {
	out := make(map[string]string, len(tags)+len(kv)/2)
	maps.Copy(out, tags)
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// hasTags reports whether have includes every pair in want.
func hasTags(have, want map[string]string) bool {
	for k, v := range want {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// sortedKeys returns m's keys in order, so that requests are deterministic.
func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// sortOldestFirst orders snapshots by creation time, those without one (just started) last,
// ties by ID.
func sortOldestFirst(snaps []Snapshot) {
	sort.SliceStable(snaps, func(i, j int) bool {
		a, b := snaps[i], snaps[j]
		switch {
		case a.Created.IsZero() != b.Created.IsZero():
			return b.Created.IsZero()
		case !a.Created.Equal(b.Created):
			return a.Created.Before(b.Created)
		}
		return a.ID < b.ID
	})
}

// partition returns the AWS partition a region belongs to.
func partition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	case strings.HasPrefix(region, "us-isob-"):
		return "aws-iso-b"
	case strings.HasPrefix(region, "us-iso-"):
		return "aws-iso"
	}
	return "aws"
}

// ebsARN is the ARN of an EBS snapshot (they carry no account).
func ebsARN(region, id string) string {
	return "arn:" + partition(region) + ":ec2:" + region + "::snapshot/" + id
}
