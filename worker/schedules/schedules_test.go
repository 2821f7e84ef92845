package schedules_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/testsuite/wait"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/lifeboat-dr/lifeboat/activities/asset"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
	"github.com/lifeboat-dr/lifeboat/testsuite/devserver"
	"github.com/lifeboat-dr/lifeboat/worker/schedules"
	"github.com/lifeboat-dr/lifeboat/workflows"
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

// TestScheduleSync runs Sync against a real dev server: it creates each asset's schedules and
// watchdog, updates a changed schedule without unpausing it, removes the schedules of a removed
// asset, and List reports what is there. No worker runs: schedules and workflows exist without one.
func TestScheduleSync(t *testing.T) {
	c := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := &schedules.Syncer{Client: c, TaskQueue: taskQueue, Owner: "test", CatchupWindow: 30 * time.Minute}

	www := asset.Asset{Name: "www", Schedule: every(time.Hour), Verify: &asset.Verify{Schedule: asset.Schedule{Cron: "30 3 * * *"}}}
	db := asset.Asset{Name: "db", Schedule: asset.Schedule{Cron: "*/15 * * * *"}}

	// 1. First sync: everything is created.
	plan, err := s.Sync(ctx, []asset.Asset{www, db})
	if err != nil {
		t.Fatalf("first sync: %v", err)
	}
	wantRows(t, "first sync", plan, []string{
		"backup-www backup www - create",
		"verify-www verify www - create",
		"rpo-www watchdog www - start",
		"backup-db backup db - create",
		"rpo-db watchdog db - start",
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
	checkOwner(ctx, t, c, "backup-www", "test")

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

	// The watchdogs run, without a worker, on the task queue, and carry their owner.
	rpoDBRun := ""
	for _, name := range []string{"www", "db"} {
		run := checkWatchdog(ctx, t, c, name, "test")
		if name == "db" {
			rpoDBRun = run
		}
	}

	// List sees the three schedules (visibility catches up), sorted by ID.
	waitListed(ctx, t, s, "backup-db backup db test", "backup-www backup www test", "verify-www verify www test")
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
	waitRunning(ctx, t, c, "rpo-db", "rpo-www")
	if err := c.ScheduleClient().GetHandle(ctx, "backup-db").Pause(ctx, client.SchedulePauseOptions{Note: "maintenance"}); err != nil {
		t.Fatal(err)
	}
	db.Schedule = every(2 * time.Hour)
	plan, err = s.Sync(ctx, []asset.Asset{db})
	if err != nil {
		t.Fatalf("second sync: %v", err)
	}
	wantRows(t, "second sync", plan, []string{
		"backup-db backup db test update",
		"rpo-db watchdog db test keep",
		"backup-www backup www test remove",
		"verify-www verify www test remove",
		"rpo-www watchdog www test stop",
	})
	checkStopped(ctx, t, c, "rpo-www")
	backupDB = describe(ctx, t, c, "backup-db")
	if !backupDB.Schedule.State.Paused || backupDB.Schedule.State.Note != "maintenance" {
		t.Errorf("backup-db state after the update = %+v, want still paused with its note", backupDB.Schedule.State)
	}
	if got := backupDB.Schedule.Spec.Intervals; len(got) != 1 || got[0].Every != 2*time.Hour || len(backupDB.Schedule.Spec.Calendars) != 0 {
		t.Errorf("backup-db spec after the update = %+v, want only every 2h", backupDB.Schedule.Spec)
	}
	checkPolicies(t, backupDB, 30*time.Minute)
	checkOwner(ctx, t, c, "backup-db", "test")
	checkGone(ctx, t, c, "backup-www", "verify-www")
	if run := checkWatchdog(ctx, t, c, "db", "test"); run != rpoDBRun {
		t.Errorf("rpo-db run %s after the second sync, want the same run %s", run, rpoDBRun)
	}
	wait.Until(ctx, t, "list after the second sync", func() error {
		entries, err := s.List(ctx)
		if err != nil {
			return err
		}
		return sameEntries(entries, []schedules.Entry{{ID: "backup-db", Kind: "backup", Asset: "db", Owner: "test", Paused: true}})
	})

	// 3. Without a catch-up window, the default applies.
	def := &schedules.Syncer{Client: c, TaskQueue: taskQueue, Owner: "test"}
	if _, err := def.Sync(ctx, []asset.Asset{db}); err != nil {
		t.Fatal(err)
	}
	checkPolicies(t, describe(ctx, t, c, "backup-db"), schedules.DefaultCatchupWindow)
}

// TestScheduleOwners runs several configurations against one namespace: each changes only its own
// schedules and watchdogs, one without assets changes nothing, a dry run changes nothing and lists
// what the sync then does, schedules with no owner recorded are adopted only by a configuration
// that names their asset, and two owners naming one asset is a conflict that changes nothing.
func TestScheduleOwners(t *testing.T) {
	c := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	prod := &schedules.Syncer{Client: c, TaskQueue: taskQueue, Owner: "prod"}
	qa := &schedules.Syncer{Client: c, TaskQueue: taskQueue, Owner: "qa"}
	unnamed := &schedules.Syncer{Client: c, TaskQueue: taskQueue}

	www := asset.Asset{Name: "www", Schedule: every(time.Hour), Verify: &asset.Verify{Schedule: asset.Schedule{Cron: "30 3 * * *"}}}
	db := asset.Asset{Name: "db", Schedule: every(15 * time.Minute)}
	files := asset.Asset{Name: "files", Schedule: every(time.Hour)}
	logs := asset.Asset{Name: "logs", Schedule: every(time.Hour)}
	old := asset.Asset{Name: "old", Schedule: every(time.Hour)}

	// 1. prod syncs two assets: both carry its name.
	plan, err := prod.Sync(ctx, []asset.Asset{www, db})
	if err != nil {
		t.Fatalf("prod's first sync: %v", err)
	}
	wantRows(t, "prod's first sync", plan, []string{
		"backup-www backup www - create",
		"verify-www verify www - create",
		"rpo-www watchdog www - start",
		"backup-db backup db - create",
		"rpo-db watchdog db - start",
	})
	for _, id := range []string{"backup-www", "verify-www", "backup-db"} {
		checkOwner(ctx, t, c, id, "prod")
	}
	checkWatchdog(ctx, t, c, "www", "prod")
	checkWatchdog(ctx, t, c, "db", "prod")
	waitListed(ctx, t, prod, "backup-db backup db prod", "backup-www backup www prod", "verify-www verify www prod")
	waitRunning(ctx, t, c, "rpo-db", "rpo-www")

	// 2. Configurations without assets change nothing, whoever they name, and warn.
	before := snapshot(ctx, t, c)
	for _, s := range []*schedules.Syncer{prod, qa, unnamed} {
		plan, err := s.Sync(ctx, nil)
		if err != nil {
			t.Fatalf("sync of no assets as %q: %v", s.Owner, err)
		}
		wantRows(t, fmt.Sprintf("sync of no assets as %q", s.Owner), plan, []string{
			"backup-db backup db prod leave",
			"backup-www backup www prod leave",
			"verify-www verify www prod leave",
			"rpo-db watchdog db prod leave",
			"rpo-www watchdog www prod leave",
		})
		if !slices.ContainsFunc(plan.Warnings, func(w string) bool { return strings.Contains(w, "no assets") }) {
			t.Errorf("sync of no assets as %q warns %q, want a word about no assets", s.Owner, plan.Warnings)
		}
	}
	sameState(ctx, t, c, "after syncs of no assets", before)

	// 3. qa syncs its own asset: it creates only its own and leaves prod's alone.
	plan, err = qa.Sync(ctx, []asset.Asset{files})
	if err != nil {
		t.Fatalf("qa's sync: %v", err)
	}
	wantRows(t, "qa's sync", plan, []string{
		"backup-files backup files - create",
		"rpo-files watchdog files - start",
		"backup-db backup db prod leave",
		"backup-www backup www prod leave",
		"verify-www verify www prod leave",
		"rpo-db watchdog db prod leave",
		"rpo-www watchdog www prod leave",
	})
	if n := plan.Changes[2].Note; n != `owned by "prod"` {
		t.Errorf("note of a schedule of another owner = %q", n)
	}
	sameState(ctx, t, c, "prod's after qa's sync", before, "backup-www", "verify-www", "rpo-www", "backup-db", "rpo-db")
	checkOwner(ctx, t, c, "backup-files", "qa")
	checkWatchdog(ctx, t, c, "files", "qa")
	waitListed(ctx, t, prod, "backup-db backup db prod", "backup-files backup files qa", "backup-www backup www prod", "verify-www verify www prod")
	waitRunning(ctx, t, c, "rpo-db", "rpo-files", "rpo-www")

	// 4. Schedules made before owners existed: a configuration without an owner records none.
	plan, err = unnamed.Sync(ctx, []asset.Asset{logs, old})
	if err != nil {
		t.Fatalf("sync without an owner: %v", err)
	}
	wantRows(t, "sync without an owner", plan, []string{
		"backup-logs backup logs - create",
		"rpo-logs watchdog logs - start",
		"backup-old backup old - create",
		"rpo-old watchdog old - start",
		"backup-db backup db prod leave",
		"backup-files backup files qa leave",
		"backup-www backup www prod leave",
		"verify-www verify www prod leave",
		"rpo-db watchdog db prod leave",
		"rpo-files watchdog files qa leave",
		"rpo-www watchdog www prod leave",
	})
	if !slices.ContainsFunc(plan.Warnings, func(w string) bool { return strings.Contains(w, "schedules.owner is not set") }) {
		t.Errorf("sync without an owner warns %q, want a word about schedules.owner", plan.Warnings)
	}
	checkOwner(ctx, t, c, "backup-logs", "")
	logsRun := checkWatchdog(ctx, t, c, "logs", "")
	waitListed(ctx, t, prod, "backup-db backup db prod", "backup-files backup files qa", "backup-logs backup logs -",
		"backup-old backup old -", "backup-www backup www prod", "verify-www verify www prod")
	waitRunning(ctx, t, c, "rpo-db", "rpo-files", "rpo-logs", "rpo-old", "rpo-www")

	// 5. prod drops db and takes logs. The dry run changes nothing and lists what the sync does:
	// db's schedule and watchdog go, logs' schedule is adopted (its watchdog follows it), and qa's
	// and the unowned old's stay.
	edited := []asset.Asset{www, logs}
	before = snapshot(ctx, t, c)
	dry, err := prod.Plan(ctx, edited)
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	wantRows(t, "dry run", dry, []string{
		"backup-www backup www prod update",
		"verify-www verify www prod update",
		"rpo-www watchdog www prod keep",
		"backup-logs backup logs - adopt",
		"rpo-logs watchdog logs - keep",
		"backup-db backup db prod remove",
		"backup-files backup files qa leave",
		"backup-old backup old - leave",
		"rpo-db watchdog db prod stop",
		"rpo-files watchdog files qa leave",
		"rpo-old watchdog old - leave",
	})
	if err := dry.Err(); err != nil {
		t.Errorf("dry run without conflicts: Err() = %v", err)
	}
	sameState(ctx, t, c, "after the dry run", before)
	dryChanges := slices.Clone(dry.Changes)
	plan, err = prod.Sync(ctx, edited)
	if err != nil {
		t.Fatalf("prod's sync after dropping db: %v", err)
	}
	if !reflect.DeepEqual(plan.Changes, dryChanges) {
		t.Errorf("the sync did\n%+v\nthe dry run listed\n%+v", plan.Changes, dryChanges)
	}
	checkGone(ctx, t, c, "backup-db")
	checkStopped(ctx, t, c, "rpo-db")
	checkOwner(ctx, t, c, "backup-logs", "prod")
	if run := checkWatchdog(ctx, t, c, "logs", ""); run != logsRun {
		t.Errorf("rpo-logs run %s after adoption, want the same run %s", run, logsRun)
	}
	sameState(ctx, t, c, "after prod's sync", before, "backup-files", "rpo-files", "backup-old", "rpo-old")
	if after := snapshot(ctx, t, c); after["backup-www"] == before["backup-www"] {
		t.Errorf("backup-www looks the same after its update: %s", after["backup-www"])
	}

	// 6. prod drops logs too: the schedule it adopted goes, and the watchdog that follows it stops;
	// old, which no configuration names, stays.
	waitListed(ctx, t, prod, "backup-files backup files qa", "backup-logs backup logs prod", "backup-old backup old -",
		"backup-www backup www prod", "verify-www verify www prod")
	waitRunning(ctx, t, c, "rpo-files", "rpo-logs", "rpo-old", "rpo-www")
	plan, err = prod.Sync(ctx, []asset.Asset{www})
	if err != nil {
		t.Fatalf("prod's sync after dropping logs: %v", err)
	}
	wantRows(t, "prod's sync after dropping logs", plan, []string{
		"backup-www backup www prod update",
		"verify-www verify www prod update",
		"rpo-www watchdog www prod keep",
		"backup-files backup files qa leave",
		"backup-logs backup logs prod remove",
		"backup-old backup old - leave",
		"rpo-files watchdog files qa leave",
		"rpo-logs watchdog logs - stop",
		"rpo-old watchdog old - leave",
	})
	checkGone(ctx, t, c, "backup-logs")
	checkStopped(ctx, t, c, "rpo-logs")
	checkOwner(ctx, t, c, "backup-old", "")
	checkWatchdog(ctx, t, c, "old", "")

	// 7. qa names www too: a conflict, and prod's www stays as it was.
	waitListed(ctx, t, prod, "backup-files backup files qa", "backup-old backup old -", "backup-www backup www prod", "verify-www verify www prod")
	waitRunning(ctx, t, c, "rpo-files", "rpo-old", "rpo-www")
	before = snapshot(ctx, t, c)
	wwwQA := www
	wwwQA.Schedule = every(5 * time.Minute)
	plan, err = qa.Sync(ctx, []asset.Asset{files, wwwQA})
	if !errors.Is(err, schedules.ErrConflict) {
		t.Fatalf("qa's sync of prod's asset: %v, want a conflict", err)
	}
	for _, id := range []string{"backup-www", "verify-www", "rpo-www"} {
		if !strings.Contains(err.Error(), id) {
			t.Errorf("the conflict error does not name %s: %v", id, err)
		}
	}
	wantRows(t, "qa's sync of prod's asset", plan, []string{
		"backup-files backup files qa update",
		"rpo-files watchdog files qa keep",
		"backup-www backup www prod conflict",
		"verify-www verify www prod conflict",
		"rpo-www watchdog www prod conflict",
		"backup-old backup old - leave",
		"rpo-old watchdog old - leave",
	})
	sameState(ctx, t, c, "after the conflicting sync", before, "backup-www", "verify-www", "rpo-www", "backup-old", "rpo-old")
	// A configuration without an owner that names www conflicts too.
	if _, err := unnamed.Sync(ctx, []asset.Asset{www}); !errors.Is(err, schedules.ErrConflict) {
		t.Errorf("sync without an owner of prod's asset: %v, want a conflict", err)
	}

	// 8. A schedule that another owner took between the plan and its apply is left as it is.
	if _, err := prod.Sync(ctx, []asset.Asset{www, db}); err != nil {
		t.Fatal(err)
	}
	waitListed(ctx, t, prod, "backup-db backup db prod", "backup-files backup files qa", "backup-old backup old -",
		"backup-www backup www prod", "verify-www verify www prod")
	waitRunning(ctx, t, c, "rpo-db", "rpo-files", "rpo-old", "rpo-www")
	plan, err = prod.Plan(ctx, []asset.Asset{www})
	if err != nil {
		t.Fatal(err)
	}
	if got := rows(plan); !slices.Contains(got, "backup-db backup db prod remove") || !slices.Contains(got, "rpo-db watchdog db prod stop") {
		t.Fatalf("plan after dropping db again: %q", got)
	}
	err = c.ScheduleClient().GetHandle(ctx, "backup-db").Update(ctx, client.ScheduleUpdateOptions{DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
		sa := temporal.NewSearchAttributes(workflows.AssetKey.ValueSet("db"), workflows.OwnerKey.ValueSet("qa"))
		return &client.ScheduleUpdate{Schedule: &in.Description.Schedule, TypedSearchAttributes: &sa}, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	err = prod.Apply(ctx, plan)
	if err == nil || !strings.Contains(err.Error(), "backup-db") || !strings.Contains(err.Error(), "changed owner since the plan") {
		t.Errorf("apply after backup-db changed owner: %v, want an error naming it", err)
	}
	for _, ch := range plan.Changes {
		if (ch.ID == "backup-db") != (ch.Error != "") {
			t.Errorf("%s %s: error %q", ch.Action, ch.ID, ch.Error)
		}
	}
	checkOwner(ctx, t, c, "backup-db", "qa")
	checkStopped(ctx, t, c, "rpo-db")
}

// TestScheduleWatchdogOwnerOutlivesContinueAsNew runs the watchdog's continue-as-new (a stand-in
// under the real name that continues once): the new run still carries its owner, so the owner's
// sync keeps it and stops it once the asset is gone.
func TestScheduleWatchdogOwnerOutlivesContinueAsNew(t *testing.T) {
	c := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	w := worker.New(c, taskQueue, worker.Options{})
	w.RegisterWorkflowWithOptions(func(ctx workflow.Context, in workflows.RPOWatchdogInput) error {
		if in.Level == 0 {
			in.Level = 1
			return workflow.NewContinueAsNewError(ctx, workflows.RPOWatchdogWorkflow, in)
		}
		return workflow.Await(ctx, func() bool { return false })
	}, workflow.RegisterOptions{Name: workflows.RPOWatchdogWorkflow})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	prod := &schedules.Syncer{Client: c, TaskQueue: taskQueue, Owner: "prod"}
	www := asset.Asset{Name: "www", Schedule: every(time.Hour)}
	if _, err := prod.Sync(ctx, []asset.Asset{www}); err != nil {
		t.Fatal(err)
	}
	first, err := c.DescribeWorkflowExecution(ctx, "rpo-www", "")
	if err != nil {
		t.Fatal(err)
	}
	firstRun := first.GetWorkflowExecutionInfo().GetExecution().GetRunId()
	wait.Until(ctx, t, "the watchdog continued as new", func() error {
		desc, err := c.DescribeWorkflowExecution(ctx, "rpo-www", "")
		if err != nil {
			return err
		}
		if info := desc.GetWorkflowExecutionInfo(); info.GetExecution().GetRunId() == firstRun || info.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			return fmt.Errorf("rpo-www run %s is %s", info.GetExecution().GetRunId(), info.GetStatus())
		}
		return nil
	})
	secondRun := checkWatchdog(ctx, t, c, "www", "prod")

	plan, err := prod.Plan(ctx, []asset.Asset{www})
	if err != nil {
		t.Fatal(err)
	}
	wantRows(t, "plan after continue-as-new", plan, []string{"backup-www backup www prod update", "rpo-www watchdog www prod keep"})

	waitListed(ctx, t, prod, "backup-www backup www prod")
	waitRunning(ctx, t, c, "rpo-www")
	db := asset.Asset{Name: "db", Schedule: every(time.Hour)}
	plan, err = prod.Sync(ctx, []asset.Asset{db})
	if err != nil {
		t.Fatal(err)
	}
	wantRows(t, "sync without www", plan, []string{
		"backup-db backup db - create",
		"rpo-db watchdog db - start",
		"backup-www backup www prod remove",
		"rpo-www watchdog www prod stop",
	})
	desc, err := c.DescribeWorkflowExecution(ctx, "rpo-www", secondRun)
	if err != nil || desc.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED {
		t.Errorf("rpo-www's continued run after www was removed: %v, %v; want terminated", desc.GetWorkflowExecutionInfo().GetStatus(), err)
	}
}

// wantRows compares a plan's changes, each as "ID KIND ASSET OWNER ACTION" (OWNER "-" for none),
// and checks that none failed.
func wantRows(t *testing.T, when string, p *schedules.Plan, want []string) {
	t.Helper()
	if got := rows(p); !reflect.DeepEqual(got, want) {
		t.Errorf("%s: changes\n got %q\nwant %q", when, got, want)
	}
	for _, c := range p.Changes {
		if c.Error != "" {
			t.Errorf("%s: %s %s failed: %s", when, c.Action, c.ID, c.Error)
		}
	}
}

func rows(p *schedules.Plan) []string {
	out := []string{}
	for _, c := range p.Changes {
		out = append(out, fmt.Sprintf("%s %s %s %s %s", c.ID, c.Kind, c.Asset, dash(c.Owner), c.Action))
	}
	return out
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// waitListed waits until List shows exactly these schedules, each as "ID KIND ASSET OWNER".
func waitListed(ctx context.Context, t *testing.T, s *schedules.Syncer, want ...string) {
	t.Helper()
	wait.Until(ctx, t, "schedules listed", func() error {
		entries, err := s.List(ctx)
		if err != nil {
			return err
		}
		got := []string{}
		for _, e := range entries {
			got = append(got, fmt.Sprintf("%s %s %s %s", e.ID, e.Kind, e.Asset, dash(e.Owner)))
		}
		if !slices.Equal(got, want) {
			return fmt.Errorf("listed %q, want %q", got, want)
		}
		return nil
	})
}

// waitRunning waits until visibility lists exactly these watchdogs as running.
func waitRunning(ctx context.Context, t *testing.T, c client.Client, ids ...string) {
	t.Helper()
	wait.Until(ctx, t, "running watchdogs listed", func() error {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query: fmt.Sprintf("WorkflowType = '%s' AND ExecutionStatus = 'Running'", workflows.RPOWatchdogWorkflow)})
		if err != nil {
			return err
		}
		var got []string
		for _, e := range resp.GetExecutions() {
			got = append(got, e.GetExecution().GetWorkflowId())
		}
		slices.Sort(got)
		if !slices.Equal(got, ids) {
			return fmt.Errorf("running watchdogs listed: %q, want %q", got, ids)
		}
		return nil
	})
}

// snapshot describes every schedule and watchdog the tests may make, read from the server (not
// visibility): owner, spec, state and last update of schedules; run, status and owner of watchdogs.
func snapshot(ctx context.Context, t *testing.T, c client.Client) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, name := range []string{"www", "db", "files", "logs", "old"} {
		for _, id := range []string{workflows.BackupScheduleID(name), workflows.VerifyScheduleID(name)} {
			d, err := c.ScheduleClient().GetHandle(ctx, id).Describe(ctx)
			if isNotFound(err) {
				out[id] = "absent"
				continue
			}
			if err != nil {
				t.Fatalf("describe schedule %s: %v", id, err)
			}
			out[id] = fmt.Sprintf("owner %q, spec %+v, paused %v, updated %s", keyword(d.SearchAttributes, workflows.OwnerKey.GetName()),
				d.Schedule.Spec.Intervals, d.Schedule.State.Paused, d.Info.LastUpdateAt)
		}
		id := workflows.WatchdogID(name)
		desc, err := c.DescribeWorkflowExecution(ctx, id, "")
		if isNotFound(err) {
			out[id] = "absent"
			continue
		}
		if err != nil {
			t.Fatalf("describe watchdog %s: %v", id, err)
		}
		info := desc.GetWorkflowExecutionInfo()
		out[id] = fmt.Sprintf("run %s, %s, owner %q", info.GetExecution().GetRunId(), info.GetStatus(), keyword(info.GetSearchAttributes(), workflows.OwnerKey.GetName()))
	}
	return out
}

// sameState checks that none of ids (default: every schedule and watchdog) changed since before.
func sameState(ctx context.Context, t *testing.T, c client.Client, when string, before map[string]string, ids ...string) {
	t.Helper()
	after := snapshot(ctx, t, c)
	if len(ids) == 0 {
		ids = slices.Sorted(maps.Keys(before))
	}
	for _, id := range ids {
		if after[id] != before[id] {
			t.Errorf("%s: %s is %s, was %s", when, id, after[id], before[id])
		}
	}
}

// checkOwner checks the owner recorded on a schedule ("" for none).
func checkOwner(ctx context.Context, t *testing.T, c client.Client, id, owner string) {
	t.Helper()
	if got := keyword(describe(ctx, t, c, id).SearchAttributes, workflows.OwnerKey.GetName()); got != owner {
		t.Errorf("%s %s = %q, want %q", id, workflows.OwnerKey.GetName(), got, owner)
	}
}

func checkGone(ctx context.Context, t *testing.T, c client.Client, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if _, err := c.ScheduleClient().GetHandle(ctx, id).Describe(ctx); !isNotFound(err) {
			t.Errorf("schedule %s: %v, want it removed", id, err)
		}
	}
}

func checkStopped(ctx context.Context, t *testing.T, c client.Client, id string) {
	t.Helper()
	desc, err := c.DescribeWorkflowExecution(ctx, id, "")
	if err != nil || desc.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED {
		t.Errorf("watchdog %s: %v, %v; want terminated", id, desc.GetWorkflowExecutionInfo().GetStatus(), err)
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

// checkWatchdog checks the asset's RPO watchdog runs on the task queue with the asset as input and
// the owner recorded ("" for none), and returns its run ID.
func checkWatchdog(ctx context.Context, t *testing.T, c client.Client, name, owner string) string {
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
	if got := keyword(info.GetSearchAttributes(), workflows.OwnerKey.GetName()); got != owner {
		t.Errorf("watchdog %s %s = %q, want %q", id, workflows.OwnerKey.GetName(), got, owner)
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
		ID, Kind, Asset, Owner string
		Paused                 bool
	}
	var g, w []key
	for _, e := range got {
		g = append(g, key{e.ID, e.Kind, e.Asset, e.Owner, e.Paused})
	}
	for _, e := range want {
		w = append(w, key{e.ID, e.Kind, e.Asset, e.Owner, e.Paused})
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
