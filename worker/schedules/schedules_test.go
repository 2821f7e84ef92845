package schedules_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	sdklog "go.temporal.io/sdk/log"

	"github.com/lifeboat-dr/lifeboat/integrations/units"
	"github.com/lifeboat-dr/lifeboat/testsuite/devserver"
	"github.com/lifeboat-dr/lifeboat/worker/schedules"
	"github.com/lifeboat-dr/lifeboat/workflows"
	"github.com/lifeboat-dr/lifeboat/workflows/asset"
)

const taskQueue = "schedules-test"

// startServer runs a dev server with Lifeboat's search attributes and dials it.
func startServer(t *testing.T) client.Client {
	t.Helper()
	attrs := map[string]string{}
	for _, k := range workflows.SearchAttributes {
		attrs[k.GetName()] = "Keyword"
	}
	srv := devserver.Start(t, devserver.WithSearchAttributes(attrs))
	return srv.Dial(t, client.Options{Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
}

func every(d time.Duration) asset.Schedule { return asset.Schedule{Every: units.Duration(d)} }

// TestSync runs Sync against a real dev server: it creates each asset's schedules and watchdog,
// updates a changed schedule without unpausing it, deletes the schedules of a removed asset, and
// List reports what is there. No worker runs: schedules and workflows exist without one.
func TestSync(t *testing.T) {
	c := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := &schedules.Syncer{Client: c, TaskQueue: taskQueue, CatchupWindow: 30 * time.Minute}

	www := asset.Asset{Name: "www", Schedule: every(time.Hour), Verify: &asset.Verify{Schedule: asset.Schedule{Cron: "30 3 * * *"}}}
	db := asset.Asset{Name: "db", Schedule: asset.Schedule{Cron: "*/15 * * * *"}}

	// 1. First sync: everything is created.
	changes, err := s.Sync(ctx, []asset.Asset{www, db})
	if err != nil {
		t.Fatalf("first sync: %v", err)
	}
	wantChanges(t, "first sync", changes, []schedules.Change{
		{ID: "backup-www", Kind: "backup", Action: "created", Asset: "www"},
		{ID: "verify-www", Kind: "verify", Action: "created", Asset: "www"},
		{ID: "rpo-www", Kind: "watchdog", Action: "running", Asset: "www"},
		{ID: "backup-db", Kind: "backup", Action: "created", Asset: "db"},
		{ID: "rpo-db", Kind: "watchdog", Action: "running", Asset: "db"},
	})

	backupWWW := describe(ctx, t, c, "backup-www")
	checkPolicies(t, backupWWW, 30*time.Minute)
	if got := backupWWW.Schedule.Spec.Intervals; len(got) != 1 || got[0].Every != time.Hour {
		t.Errorf("backup-www intervals = %+v, want every 1h", got)
	}
	var backupIn workflows.BackupInput
	checkAction(t, backupWWW, "backup-www", workflows.BackupWorkflow, &backupIn)
	if want := (workflows.BackupInput{Asset: "www", Trigger: "schedule backup-www"}); !reflect.DeepEqual(backupIn, want) {
		t.Errorf("backup-www input = %+v, want %+v", backupIn, want)
	}
	if got := keyword(backupWWW.SearchAttributes, workflows.AssetKey.GetName()); got != "www" {
		t.Errorf("backup-www %s = %q, want www", workflows.AssetKey.GetName(), got)
	}

	verifyWWW := describe(ctx, t, c, "verify-www")
	checkPolicies(t, verifyWWW, 30*time.Minute)
	checkCalendar(t, "verify-www", verifyWWW.Schedule.Spec, client.ScheduleRange{Start: 30, End: 30}, client.ScheduleRange{Start: 3, End: 3})
	var verifyIn workflows.VerifyInput
	checkAction(t, verifyWWW, "verify-www", workflows.VerifyWorkflow, &verifyIn)
	if want := (workflows.VerifyInput{Asset: "www", Snapshot: "latest", Trigger: "schedule verify-www"}); !reflect.DeepEqual(verifyIn, want) {
		t.Errorf("verify-www input = %+v, want %+v", verifyIn, want)
	}

	backupDB := describe(ctx, t, c, "backup-db")
	checkPolicies(t, backupDB, 30*time.Minute)
	checkCalendar(t, "backup-db", backupDB.Schedule.Spec, client.ScheduleRange{Start: 0, End: 59, Step: 15}, client.ScheduleRange{Start: 0, End: 23})
	if _, err := c.ScheduleClient().GetHandle(ctx, "verify-db").Describe(ctx); !isNotFound(err) {
		t.Errorf("verify-db of an asset without verify: %v, want not found", err)
	}

	// The watchdogs run, without a worker, on the task queue.
	rpoDBRun := ""
	for _, name := range []string{"www", "db"} {
		run := checkWatchdog(ctx, t, c, name)
		if name == "db" {
			rpoDBRun = run
		}
	}

	// List sees the three schedules (visibility catches up), sorted by ID.
	eventually(ctx, t, "list after the first sync", func() error {
		entries, err := s.List(ctx)
		if err != nil {
			return err
		}
		return sameEntries(entries, []schedules.Entry{
			{ID: "backup-db", Kind: "backup", Asset: "db"},
			{ID: "backup-www", Kind: "backup", Asset: "www"},
			{ID: "verify-www", Kind: "verify", Asset: "www"},
		})
	})
	entries, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if len(e.NextRuns) == 0 {
			t.Errorf("%s lists no next runs", e.ID)
		}
	}

	// 2. Pause db's backups, change its schedule and remove www (once visibility lists both watchdogs).
	eventually(ctx, t, "watchdogs listed", func() error {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: "LifeboatKind = 'watchdog' AND ExecutionStatus = 'Running'"})
		if err != nil {
			return err
		}
		if n := len(resp.GetExecutions()); n != 2 {
			return fmt.Errorf("%d running watchdogs listed, want 2", n)
		}
		return nil
	})
	if err := c.ScheduleClient().GetHandle(ctx, "backup-db").Pause(ctx, client.SchedulePauseOptions{Note: "maintenance"}); err != nil {
		t.Fatal(err)
	}
	db.Schedule = every(2 * time.Hour)
	changes, err = s.Sync(ctx, []asset.Asset{db})
	if err != nil {
		t.Fatalf("second sync: %v", err)
	}
	wantChanges(t, "second sync", changes, []schedules.Change{
		{ID: "backup-db", Kind: "backup", Action: "updated", Asset: "db"},
		{ID: "rpo-db", Kind: "watchdog", Action: "running", Asset: "db"},
		{ID: "backup-www", Kind: "backup", Action: "deleted", Asset: "www"},
		{ID: "verify-www", Kind: "verify", Action: "deleted", Asset: "www"},
		{ID: "rpo-www", Kind: "watchdog", Action: "stopped", Asset: "www"},
	})
	if desc, err := c.DescribeWorkflowExecution(ctx, "rpo-www", ""); err != nil || desc.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED {
		t.Errorf("rpo-www after its asset was removed: %v, %v; want terminated", desc.GetWorkflowExecutionInfo().GetStatus(), err)
	}
	backupDB = describe(ctx, t, c, "backup-db")
	if !backupDB.Schedule.State.Paused || backupDB.Schedule.State.Note != "maintenance" {
		t.Errorf("backup-db state after the update = %+v, want still paused with its note", backupDB.Schedule.State)
	}
	if got := backupDB.Schedule.Spec.Intervals; len(got) != 1 || got[0].Every != 2*time.Hour || len(backupDB.Schedule.Spec.Calendars) != 0 {
		t.Errorf("backup-db spec after the update = %+v, want only every 2h", backupDB.Schedule.Spec)
	}
	checkPolicies(t, backupDB, 30*time.Minute)
	for _, id := range []string{"backup-www", "verify-www"} {
		if _, err := c.ScheduleClient().GetHandle(ctx, id).Describe(ctx); !isNotFound(err) {
			t.Errorf("%s after its asset was removed: %v, want not found", id, err)
		}
	}
	if run := checkWatchdog(ctx, t, c, "db"); run != rpoDBRun {
		t.Errorf("rpo-db run %s after the second sync, want the same run %s", run, rpoDBRun)
	}
	eventually(ctx, t, "list after the second sync", func() error {
		entries, err := s.List(ctx)
		if err != nil {
			return err
		}
		return sameEntries(entries, []schedules.Entry{{ID: "backup-db", Kind: "backup", Asset: "db", Paused: true}})
	})

	// 3. Without a catch-up window, the default applies.
	def := &schedules.Syncer{Client: c, TaskQueue: taskQueue}
	if _, err := def.Sync(ctx, []asset.Asset{db}); err != nil {
		t.Fatal(err)
	}
	checkPolicies(t, describe(ctx, t, c, "backup-db"), schedules.DefaultCatchupWindow)
}

func wantChanges(t *testing.T, when string, got, want []schedules.Change) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: changes\n got %+v\nwant %+v", when, got, want)
	}
}

func describe(ctx context.Context, t *testing.T, c client.Client, id string) *client.ScheduleDescription {
	t.Helper()
	d, err := c.ScheduleClient().GetHandle(ctx, id).Describe(ctx)
	if err != nil {
		t.Fatalf("describe schedule %s: %v", id, err)
	}
	return d
}

func checkPolicies(t *testing.T, d *client.ScheduleDescription, catchup time.Duration) {
	t.Helper()
	p := d.Schedule.Policy
	if p == nil || p.Overlap != enumspb.SCHEDULE_OVERLAP_POLICY_BUFFER_ONE || p.CatchupWindow != catchup {
		t.Errorf("policies = %+v, want overlap BUFFER_ONE and catch-up window %s", p, catchup)
	}
}

// checkAction checks the schedule starts workflowType under id on the task queue, and decodes its
// argument into in.
func checkAction(t *testing.T, d *client.ScheduleDescription, id, workflowType string, in any) {
	t.Helper()
	a, ok := d.Schedule.Action.(*client.ScheduleWorkflowAction)
	if !ok {
		t.Fatalf("action is %T, want a workflow action", d.Schedule.Action)
	}
	if a.ID != id || a.Workflow != workflowType || a.TaskQueue != taskQueue {
		t.Errorf("action starts %v as %q on %q; want %s as %q on %q", a.Workflow, a.ID, a.TaskQueue, workflowType, id, taskQueue)
	}
	if len(a.Args) != 1 {
		t.Fatalf("action has %d arguments, want 1", len(a.Args))
	}
	p, ok := a.Args[0].(*commonpb.Payload)
	if !ok {
		t.Fatalf("action argument is %T, want a payload", a.Args[0])
	}
	if err := converter.GetDefaultDataConverter().FromPayload(p, in); err != nil {
		t.Fatalf("decode action argument: %v", err)
	}
}

// checkCalendar checks a cron spec came back as one calendar with these minutes and hours.
func checkCalendar(t *testing.T, id string, spec *client.ScheduleSpec, minute, hour client.ScheduleRange) {
	t.Helper()
	norm := func(r client.ScheduleRange) client.ScheduleRange {
		if r.Step == 0 {
			r.Step = 1
		}
		if r.End < r.Start {
			r.End = r.Start
		}
		return r
	}
	if len(spec.Calendars) != 1 || len(spec.Intervals) != 0 {
		t.Fatalf("%s spec = %+v, want one calendar", id, spec)
	}
	cal := spec.Calendars[0]
	if len(cal.Minute) != 1 || norm(cal.Minute[0]) != norm(minute) || len(cal.Hour) != 1 || norm(cal.Hour[0]) != norm(hour) {
		t.Errorf("%s calendar minutes %+v hours %+v, want %+v and %+v", id, cal.Minute, cal.Hour, minute, hour)
	}
}

// checkWatchdog checks the asset's RPO watchdog runs on the task queue with the asset as input, and
// returns its run ID.
func checkWatchdog(ctx context.Context, t *testing.T, c client.Client, name string) string {
	t.Helper()
	id := workflows.WatchdogID(name)
	desc, err := c.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		t.Fatalf("describe watchdog %s: %v", id, err)
	}
	info := desc.GetWorkflowExecutionInfo()
	if info.GetType().GetName() != workflows.RPOWatchdogWorkflow || info.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING || info.GetTaskQueue() != taskQueue {
		t.Errorf("watchdog %s is a %s, %s, on %q; want a running %s on %q", id, info.GetType().GetName(), info.GetStatus(), info.GetTaskQueue(),
			workflows.RPOWatchdogWorkflow, taskQueue)
	}
	if got := keyword(info.GetSearchAttributes(), workflows.KindKey.GetName()); got != "watchdog" {
		t.Errorf("watchdog %s %s = %q, want watchdog", id, workflows.KindKey.GetName(), got)
	}
	it := c.GetWorkflowHistory(ctx, id, info.GetExecution().GetRunId(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	first, err := it.Next()
	if err != nil {
		t.Fatalf("history of %s: %v", id, err)
	}
	var in workflows.RPOWatchdogInput
	payloads := first.GetWorkflowExecutionStartedEventAttributes().GetInput().GetPayloads()
	if len(payloads) != 1 || converter.GetDefaultDataConverter().FromPayload(payloads[0], &in) != nil || in.Asset != name {
		t.Errorf("watchdog %s input = %+v, want asset %s", id, in, name)
	}
	return info.GetExecution().GetRunId()
}

// sameEntries compares listed schedules on what identifies them.
func sameEntries(got, want []schedules.Entry) error {
	type key struct {
		ID, Kind, Asset string
		Paused          bool
	}
	var g, w []key
	for _, e := range got {
		g = append(g, key{e.ID, e.Kind, e.Asset, e.Paused})
	}
	for _, e := range want {
		w = append(w, key{e.ID, e.Kind, e.Asset, e.Paused})
	}
	if !reflect.DeepEqual(g, w) {
		return fmt.Errorf("listed %+v, want %+v", g, w)
	}
	return nil
}

func keyword(sa *commonpb.SearchAttributes, name string) string {
	p, ok := sa.GetIndexedFields()[name]
	if !ok {
		return ""
	}
	var s string
	_ = converter.GetDefaultDataConverter().FromPayload(p, &s)
	return s
}

func isNotFound(err error) bool {
	var nf *serviceerror.NotFound
	return errors.As(err, &nf)
}

// eventually retries check until it passes or ctx ends, for what visibility shows.
func eventually(ctx context.Context, t *testing.T, what string, check func() error) {
	t.Helper()
	for {
		err := check()
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %v", what, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
