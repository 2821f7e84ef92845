package workflows

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/activities/contract"

	"github.com/lifeboat-dr/lifeboat/activities"
	"github.com/lifeboat-dr/lifeboat/activities/asset"
	"github.com/lifeboat-dr/lifeboat/integrations/aws"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
	"github.com/lifeboat-dr/lifeboat/testsuite/awsfake"
)

// Cloud-snapshot assets through the real activities and the real AWS SDK, against a fake of the
// RDS and EC2 APIs: each backup takes a snapshot, waits for it, copies it to the DR region, and
// retention deletes the oldest in both regions.
func TestCloudSnapshotBackups(t *testing.T) {
	for _, tc := range []struct {
		name   string
		source asset.Source
		setup  func(f *awsfake.Fake)
	}{
		{name: "rds", source: asset.Source{RDS: &asset.RDSSource{Instance: "orders", Region: "eu-west-1", CopyToRegion: "eu-central-1"}},
			setup: func(f *awsfake.Fake) { f.AddDBInstance("eu-west-1", "orders") }},
		{name: "ebs", source: asset.Source{EBS: &asset.EBSSource{VolumeID: "vol-0abc", Region: "us-east-1", CopyToRegion: "us-west-2"}},
			setup: func(f *awsfake.Fake) { f.AddVolume("us-east-1", "vol-0abc", 100) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := awsfake.New(t)
			tc.setup(fake)
			cloud, err := aws.New(context.Background(), aws.Config{Endpoint: fake.URL, AccessKeyID: awsfake.AccessKeyID, SecretAccessKey: awsfake.SecretAccessKey})
			if err != nil {
				t.Fatal(err)
			}
			as := asset.Asset{Name: "db", Source: tc.source, Schedule: asset.Schedule{Every: units.Duration(time.Hour)},
				Retention: asset.Retention{Last: 2}, RPO: units.Duration(2 * time.Hour)}
			if err := as.Validate("asset"); err != nil {
				t.Fatal(err)
			}
			assets := &activities.Assets{Catalog: map[string]asset.Asset{"db": as}, Cloud: cloud, CloudPoll: time.Millisecond, Logger: slog.New(slog.DiscardHandler)}
			var ids []string
			var last BackupResult
			for i := range 3 {
				e := newAssetEnv(t, assets)
				e.ExecuteWorkflow(BackupWorkflow, BackupInput{Asset: "db"})
				if err := e.GetWorkflowError(); err != nil {
					t.Fatalf("backup %d: %v", i, err)
				}
				_ = e.GetWorkflowResult(&last)
				ids = append(ids, last.Snapshot.ID)
			}
			if last.Offsite == nil || last.Offsite.Copy.Location != cloudRegions(tc.source)[1] {
				t.Fatalf("copy %+v", last.Offsite)
			}
			if len(last.Retention) != 2 {
				t.Fatalf("retention %+v", last.Retention)
			}
			for _, r := range last.Retention {
				if r.Kept != 2 || len(r.Removed) != 1 {
					t.Errorf("retention in %s: kept %d, removed %v; want 2 kept and the oldest removed", r.Location, r.Kept, r.Removed)
				}
			}
			if last.Retention[0].Removed[0] != ids[0] {
				t.Errorf("removed %v from the source region, want the oldest %s", last.Retention[0].Removed, ids[0])
			}
			latest, err := assets.LatestSnapshot(context.Background(), contract.LatestSnapshotInput{Asset: "db"})
			if err != nil || !latest.Found || latest.Snapshot.ID != ids[2] {
				t.Fatalf("latest %+v, %v; want %s", latest, err, ids[2])
			}
		})
	}
}

func cloudRegions(s asset.Source) []string {
	if s.RDS != nil {
		return []string{s.RDS.Region, s.RDS.CopyToRegion}
	}
	return []string{s.EBS.Region, s.EBS.CopyToRegion}
}
