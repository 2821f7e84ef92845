package workflows

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/activities/contract"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/worker"

	"github.com/lifeboat-dr/lifeboat/activities"
	"github.com/lifeboat-dr/lifeboat/activities/asset"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
	"github.com/lifeboat-dr/lifeboat/testsuite/devserver"
)

// A backup reports progress all the way through without adding to its workflow's history: reports
// travel in heartbeats, which the server keeps with the pending activity. The real Backup workflow
// and activities run on a real dev server against a real repository, heartbeating every 40µs for
// about 7 seconds — more reports than a 48-hour backup sends at one per second (172,800). Temporal
// terminates a workflow at 51,200 events; this one must end with a few dozen, none of them signals,
// while `lifeboat` could read the progress from the pending activity as it ran.
func TestLongBackupReportsProgressWithoutGrowingHistory(t *testing.T) {
	srv := devserver.Start(t, devserver.WithSearchAttributes(map[string]string{
		"LifeboatKind": "Keyword", "LifeboatAsset": "Keyword", "LifeboatPhase": "Keyword", "LifeboatResult": "Keyword",
	}))
	c := srv.Dial(t, client.Options{})
	const queue = "long-backup"
	assets, as := realAssets(t, t.TempDir())
	as.Name = "stream"
	as.Source = asset.Source{Command: &asset.CommandSource{Argv: []string{"sh", "-c", "sleep 7; echo the whole stream"}, Name: "stream.txt"}}
	as.Offsite, as.Retention = nil, asset.Retention{}
	as.Repository.Location = filepath.Join(t.TempDir(), "repo")
	assets.Catalog = map[string]asset.Asset{as.Name: as}
	assets.ProgressInterval = 40 * time.Microsecond
	w := worker.New(c, queue, worker.Options{MaxHeartbeatThrottleInterval: HeartbeatEvery})
	RegisterWorkflows(w)
	activities.Set{Assets: assets, Notifications: &activities.Notifications{}, Signals: &activities.Signals{Client: c, TaskQueue: queue}}.Register(w)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "backup-stream-long", TaskQueue: queue}, BackupWorkflow,
		BackupInput{Asset: as.Name, Trigger: "test", SkipRetention: true})
	if err != nil {
		t.Fatal(err)
	}
	// While it runs, its progress is readable from the pending activity's heartbeat.
	sawProgress := false
	for !sawProgress && ctx.Err() == nil {
		desc, err := c.DescribeWorkflowExecution(ctx, run.GetID(), run.GetRunID())
		if err != nil {
			t.Fatal(err)
		}
		for _, pa := range desc.GetPendingActivities() {
			var p contract.OpProgress
			if pa.GetHeartbeatDetails() == nil {
				continue
			}
			if err := converter.GetDefaultDataConverter().FromPayloads(pa.GetHeartbeatDetails(), &p); err == nil && p.Step == "backup" && p.Elapsed >= HeartbeatEvery {
				sawProgress = true
			}
		}
		if desc.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	var res BackupResult
	if err := run.Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	if !sawProgress {
		t.Fatal("no progress was readable from the running backup's heartbeat")
	}
	if res.Snapshot == nil || res.Snapshot.Duration < 7*time.Second {
		t.Fatalf("the backup did not run as long as its source: %+v", res.Snapshot)
	}

	events, signals := 0, 0
	it := c.GetWorkflowHistory(ctx, run.GetID(), run.GetRunID(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		events++
		if ev.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED || ev.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED {
			signals++
		}
	}
	reports := res.Snapshot.Duration / assets.ProgressInterval
	t.Logf("%d events in the history of a backup that ran %s with progress every %s (up to %d reports)", events, units.Duration(res.Snapshot.Duration).Human(),
		assets.ProgressInterval, reports)
	if signals != 0 || events > 60 {
		t.Fatalf("the history grew with progress: %d events, %d of them signals or memo updates", events, signals)
	}
}
