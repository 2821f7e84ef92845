package workflows

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/lifeboat-dr/lifeboat/activities"
	"github.com/lifeboat-dr/lifeboat/activities/asset"
	"github.com/lifeboat-dr/lifeboat/activities/contract"
	"github.com/lifeboat-dr/lifeboat/integrations/probe"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
	"github.com/lifeboat-dr/lifeboat/testsuite/devserver"
	"github.com/lifeboat-dr/lifeboat/workflows/approval"
)

var record = flag.Bool("record", false, "run the released workflows on a real dev server and write the histories testdata/histories lacks")

// TestReplayReleasedHistories replays every recorded history against today's workflow code: a change
// that would break running workflows fails here and must go behind workflow.GetVersion.
func TestReplayReleasedHistories(t *testing.T) {
	if *record {
		recordHistories(t)
	}
	files, err := filepath.Glob("testdata/histories/*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no histories in testdata/histories: run go test ./workflows -run TestReplay -record")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			RegisterWorkflows(r)
			if err := r.ReplayWorkflowHistoryFromJSONFile(nil, f); err != nil {
				t.Fatalf("replay %s: %v", f, err)
			}
		})
	}
}

// recordHistories runs each released workflow whose history testdata/histories lacks on a real dev
// server and writes its history; a history once released is never rewritten.
func recordHistories(t *testing.T) {
	srv := devserver.Start(t, devserver.WithSearchAttributes(map[string]string{
		"LifeboatKind": "Keyword", "LifeboatAsset": "Keyword", "LifeboatPhase": "Keyword", "LifeboatResult": "Keyword",
	}))
	c := srv.Dial(t, client.Options{})
	w := worker.New(c, "replay-record", worker.Options{})
	src := t.TempDir()
	sum := writeSite(t, src, "<h1>recorded</h1>")
	assets, as := realAssets(t, src)
	as.Verify = &asset.Verify{Schedule: asset.Schedule{Every: units.Duration(24 * time.Hour)}, Checks: []asset.Check{{File: "index.html", SHA256: sum}}}
	as.Owners = []string{"approver"}
	assets.Catalog[as.Name] = as
	plansDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(plansDir, "recorded.yaml"), []byte(recordedPlan), 0o644); err != nil {
		t.Fatal(err)
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }))
	defer up.Close()
	if err := os.WriteFile(filepath.Join(plansDir, "recorded-checks.yaml"), []byte(fmt.Sprintf(recordedChecksPlan, up.Listener.Addr())), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	_ = ln.Close()
	probeChecks := []probe.Check{
		{Name: "api", Kind: probe.HTTP, URL: up.URL},
		{Name: "db-port", Kind: probe.TCP, Address: closed, Optional: true},
	}
	configured := map[string]probe.Check{}
	for _, c := range probeChecks {
		configured[c.Name] = c
	}
	RegisterWorkflows(w)
	activities.Set{Probes: &activities.Probes{Prober: &probe.Prober{}, Checks: configured}, Assets: assets, Actions: &activities.Actions{},
		Plans:         &activities.Plans{Dir: plansDir},
		Identities:    &activities.Identities{},
		AlertRules:    &activities.AlertRules{Rules: map[string]contract.AlertRule{"recorded": {Plan: "recorded"}}},
		Evidence:      &activities.Evidence{ScheduleRequester: recordedSchedule, DrilledPlans: []string{"recorded-drill-v4"}},
		Notifications: &activities.Notifications{Logger: slog.New(slog.DiscardHandler)}, Signals: &activities.Signals{Client: c, TaskQueue: "replay-record"}}.Register(w)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	open, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	if err := os.WriteFile(filepath.Join(plansDir, "recorded-drill.yaml"), []byte(fmt.Sprintf(recordedDrillPlan, closed, open.Addr())), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(plansDir, "recorded-drill-v4.yaml"), []byte(fmt.Sprintf(recordedDrillPlanV4, closed, open.Addr())), 0o644); err != nil {
		t.Fatal(err)
	}

	ctx := context.Background()
	start := func(file, workflowType string, in any) client.WorkflowRun {
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: "replay-record", ID: "record-" + strings.TrimSuffix(file, ".json")}, workflowType, in)
		if err != nil {
			t.Fatal(err)
		}
		return run
	}
	// backedUp makes sure the asset has a snapshot, for histories recorded without the backup's.
	backedUp := func() {
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: "replay-record", ID: "record-prepare-backup",
			WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING}, BackupWorkflow, BackupInput{Asset: as.Name, Trigger: "recording"})
		if err == nil {
			err = run.Get(ctx, nil)
		}
		if err != nil {
			t.Fatalf("back up before recording: %v", err)
		}
	}
	type update struct {
		name string
		arg  any
		// refused says the update is sent to be refused: its error is expected.
		refused bool
	}
	// send sends updates to a run in order, each once it is taken.
	send := func(id string, updates ...update) {
		for _, u := range updates {
			for {
				h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: id, UpdateName: u.name, Args: []any{u.arg}, WaitForStage: client.WorkflowUpdateStageCompleted})
				if err == nil {
					err = h.Get(ctx, nil)
				}
				var notReady *serviceerror.WorkflowNotReady
				if errors.As(err, &notReady) {
					continue // the task that took it failed: send it again
				}
				if (err != nil) != u.refused {
					t.Fatalf("%s %+v: %v", u.name, u.arg, err)
				}
				break
			}
		}
	}
	ackAndApprove := []update{
		{name: UpdateAcknowledge, arg: Acknowledgement{Identity: "approver", Channel: approval.ChannelCLI, Step: "go-ahead", Note: "on it"}},
		{name: approval.UpdateDecide, arg: approval.Decision{Gate: "go-ahead", Approve: true, Identity: "approver", Channel: approval.ChannelCLI}},
	}
	// drillWithAck runs the recorded drill through an escalation, its acknowledgement and its gate.
	drillWithAck := func(file string) client.WorkflowRun {
		run := start(file, RecoveryWorkflow, RecoveryInput{Plan: "recorded-drill", Mode: ModeDrill, Requester: "recorder",
			IncidentAt: time.Now().Add(-time.Minute)})
		time.Sleep(2500 * time.Millisecond) // the gate escalates at 1s and 2s
		send(run.GetID(), ackAndApprove...)
		return run
	}
	// refusedThenAckAndApprove waits at the v4 drill's gate: the requester's own approval is
	// refused (and recorded), then the gate is acknowledged and approved.
	refusedThenAckAndApprove := func(id, requester string) {
		time.Sleep(2500 * time.Millisecond) // the gate escalates at 1s and 2s
		send(id, append([]update{{name: approval.UpdateDecide, refused: true,
			arg: approval.Decision{Gate: "go-ahead", Approve: true, Identity: requester, Channel: approval.ChannelCLI}}}, ackAndApprove...)...)
	}
	// restoreInPlace restores the asset in place once its owner approves.
	restoreInPlace := func(file string) client.WorkflowRun {
		backedUp()
		run := start(file, RestoreWorkflow, RestoreInput{Asset: as.Name, TargetDir: "", InPlace: true, Requester: "recorder"})
		for {
			h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: run.GetID(), UpdateName: approval.UpdateDecide,
				Args: []any{approval.Decision{Approve: true, Identity: "approver", Channel: approval.ChannelCLI}}, WaitForStage: client.WorkflowUpdateStageCompleted})
			if err == nil && h.Get(ctx, nil) == nil {
				return run
			}
			time.Sleep(100 * time.Millisecond) // the gate is not open yet
		}
	}
	// alertStartsRecovery fires an alert (twice, as Alertmanager repeats it), which starts the
	// plan's recovery, resolves it while the recovery waits at its gate, and lets it end after its
	// quiet period.
	alertStartsRecovery := func(file string) client.WorkflowRun {
		id := "record-" + strings.TrimSuffix(file, ".json")
		in := AlertInput{Rule: "recorded", Fingerprint: "0123456789abcdef", Plan: "recorded", QuietPeriod: units.Duration(2 * time.Second)}
		ev := AlertEvent{Status: AlertFiring, Fingerprint: "0123456789abcdef", Name: "RecordedDown", Rule: "recorded", Source: "alertmanager/recording",
			Annotations: map[string]string{"summary": "recorded service down"}, StartsAt: time.Now().Add(-time.Minute)}
		var run client.WorkflowRun
		for range 2 {
			var err error
			run, err = c.SignalWithStartWorkflow(ctx, id, SignalAlert, ev, client.StartWorkflowOptions{TaskQueue: "replay-record", ID: id}, AlertWorkflow, in)
			if err != nil {
				t.Fatal(err)
			}
		}
		recovery := RecoveryWorkflowID(ModeRecovery, "recorded")
		for {
			h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: recovery, UpdateName: approval.UpdateDecide,
				Args: []any{approval.Decision{Gate: "go-ahead", Approve: true, Identity: "approver", Channel: approval.ChannelCLI}}, WaitForStage: client.WorkflowUpdateStageCompleted})
			if err == nil && h.Get(ctx, nil) == nil {
				break
			}
			time.Sleep(100 * time.Millisecond) // the recovery or its gate is not there yet
		}
		ev.Status, ev.EndsAt = AlertResolved, time.Now()
		if err := c.SignalWorkflow(ctx, id, "", SignalAlert, ev); err != nil {
			t.Fatal(err)
		}
		return run
	}
	// In order: the backup starts the watchdog, which is cancelled last so that its history closes.
	runs := []struct {
		file string
		run  func(file string) client.WorkflowRun
	}{
		{"health_probe_v1.json", func(file string) client.WorkflowRun {
			return start(file, HealthProbeWorkflow, HealthProbeInput{
				Target:           "recorded",
				Checks:           probeChecks,
				Interval:         units.Duration(200 * time.Millisecond),
				SuccessThreshold: 2,
				FailureThreshold: 2,
			})
		}},
		{"health_probe_v2.json", func(file string) client.WorkflowRun {
			// The checks named alone, as the worker configures them.
			return start(file, HealthProbeWorkflow, HealthProbeInput{
				Target:           "recorded",
				Checks:           []probe.Check{{Name: "api"}, {Name: "db-port"}},
				Interval:         units.Duration(200 * time.Millisecond),
				SuccessThreshold: 2,
				FailureThreshold: 2,
			})
		}},
		{"backup_v1.json", func(file string) client.WorkflowRun {
			return start(file, BackupWorkflow, BackupInput{Asset: as.Name, Trigger: "recording"})
		}},
		{"verify_v1.json", func(file string) client.WorkflowRun {
			return start(file, VerifyWorkflow, VerifyInput{Asset: as.Name, Snapshot: "latest", Trigger: "recording"})
		}},
		{"restore_in_place_v1.json", restoreInPlace},
		// v2: the restore plans its scope before approval, and a drill waits for a locked repository.
		{"verify_v2.json", func(file string) client.WorkflowRun {
			backedUp()
			return start(file, VerifyWorkflow, VerifyInput{Asset: as.Name, Snapshot: "latest", Trigger: "recording"})
		}},
		{"restore_in_place_v2.json", restoreInPlace},
		{"recovery_v1.json", func(file string) client.WorkflowRun {
			run := start(file, RecoveryWorkflow, RecoveryInput{Plan: "recorded", Requester: "recorder"})
			for {
				h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: run.GetID(), UpdateName: approval.UpdateDecide,
					Args: []any{approval.Decision{Gate: "go-ahead", Approve: true, Identity: "approver", Channel: approval.ChannelCLI}}, WaitForStage: client.WorkflowUpdateStageCompleted})
				if err == nil && h.Get(ctx, nil) == nil {
					return run
				}
				time.Sleep(100 * time.Millisecond)
			}
		}},
		{"recovery_drill_ack_v2.json", drillWithAck},
		// v3: drills and verifications write their evidence record.
		{"recovery_drill_evidence_v3.json", drillWithAck},
		{"verify_v3.json", func(file string) client.WorkflowRun {
			backedUp()
			return start(file, VerifyWorkflow, VerifyInput{Asset: as.Name, Snapshot: "latest", Trigger: "recording"})
		}},
		{"recovery_rehearsal_v1.json", func(file string) client.WorkflowRun {
			// A rehearsal: the check and its compensation simulated, the gate escalated and approved.
			run := start(file, RecoveryWorkflow, RecoveryInput{Plan: "recorded-drill", Mode: ModeRehearsal, Requester: "recorder"})
			time.Sleep(2500 * time.Millisecond) // the gate escalates at 1s and 2s
			for {
				h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: run.GetID(), UpdateName: approval.UpdateDecide,
					Args: []any{approval.Decision{Gate: "go-ahead", Approve: true, Identity: "approver", Channel: approval.ChannelCLI}}, WaitForStage: client.WorkflowUpdateStageCompleted})
				if err == nil && h.Get(ctx, nil) == nil {
					return run
				}
				time.Sleep(100 * time.Millisecond)
			}
		}},
		// v4: the fast path — plan and identity directory in one local activity, checks bounded by
		// their own timeout as local activities, one version marker.
		{"recovery_v4.json", func(file string) client.WorkflowRun {
			run := start(file, RecoveryWorkflow, RecoveryInput{Plan: "recorded", Requester: "recorder"})
			for {
				h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: run.GetID(), UpdateName: approval.UpdateDecide,
					Args: []any{approval.Decision{Gate: "go-ahead", Approve: true, Identity: "approver", Channel: approval.ChannelCLI}}, WaitForStage: client.WorkflowUpdateStageCompleted})
				if err == nil && h.Get(ctx, nil) == nil {
					return run
				}
				time.Sleep(100 * time.Millisecond)
			}
		}},
		{"recovery_drill_ack_v4.json", drillWithAck},
		// v4: a plan of checks alone ends in the workflow task that started it.
		{"recovery_checks_v4.json", func(file string) client.WorkflowRun {
			return start(file, RecoveryWorkflow, RecoveryInput{Plan: "recorded-checks", Requester: "recorder"})
		}},
		// An alert fires, starts the plan's recovery, is resolved while the recovery waits at its
		// gate, and ends after its quiet period.
		{"alert_v1.json", alertStartsRecovery},
		// v4: an alert checks its rule against the worker's configuration; a restore and drills
		// establish identities; a drill's gate sets the run's phase, its long actions run as
		// activities, a step left out of the drill does not stop the steps after it, a refused
		// decision is recorded; a drill started by its schedule is established as the schedule.
		{"alert_v2.json", alertStartsRecovery},
		{"restore_in_place_v3.json", restoreInPlace},
		{"recovery_drill_v4.json", func(file string) client.WorkflowRun {
			run := start(file, RecoveryWorkflow, RecoveryInput{Plan: "recorded-drill-v4", Mode: ModeDrill, Requester: "recorder",
				IncidentAt: time.Now().Add(-time.Minute)})
			refusedThenAckAndApprove(run.GetID(), "recorder")
			return run
		}},
		{"recovery_scheduled_drill_v4.json", func(string) client.WorkflowRun {
			return scheduledDrill(t, c, "recorded-drill-v4", refusedThenAckAndApprove)
		}},
		// A backup time from the future is taken as the time it arrived.
		{"rpo_watchdog_v2.json", func(file string) client.WorkflowRun {
			backedUp()
			run := start(file, RPOWatchdogWorkflow, RPOWatchdogInput{Asset: as.Name})
			if err := c.SignalWorkflow(ctx, run.GetID(), "", SignalBackupDone, BackupDone{Snapshot: "from-the-future", Time: time.Now().Add(time.Hour), Workflow: "recorder"}); err != nil {
				t.Fatal(err)
			}
			for {
				var st RPOStatus
				v, err := c.QueryWorkflow(ctx, run.GetID(), "", QueryStatus)
				if err == nil {
					err = v.Get(&st)
				}
				if err == nil && st.FutureTimes == 1 {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if err := c.CancelWorkflow(ctx, run.GetID(), ""); err != nil {
				t.Fatal(err)
			}
			return run
		}},
		{"rpo_watchdog_v1.json", func(string) client.WorkflowRun {
			run := c.GetWorkflow(ctx, WatchdogID(as.Name), "")
			if err := c.CancelWorkflow(ctx, run.GetID(), ""); err != nil {
				t.Fatal(err)
			}
			return run
		}},
	}
	for _, r := range runs {
		file := r.file
		if _, err := os.Stat(filepath.Join("testdata/histories", file)); err == nil {
			continue // released: kept as it was recorded
		}
		run := r.run(file)
		if err := run.Get(ctx, nil); err != nil && !strings.HasPrefix(file, "rpo_watchdog_") { // watchdogs end cancelled
			t.Fatal(err)
		}
		var h historypb.History
		it := c.GetWorkflowHistory(ctx, run.GetID(), run.GetRunID(), false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			e, err := it.Next()
			if err != nil {
				t.Fatal(err)
			}
			h.Events = append(h.Events, e)
		}
		b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(&h)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("testdata/histories", file), b, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("recorded %s: %d events", file, len(h.Events))
	}
}

// recordedPlan is the plan of the recorded Recovery history: a check, a gate, a wait and a notice.
const recordedPlan = `
apiVersion: lifeboat.dev/v1
kind: RecoveryPlan
metadata: {name: recorded}
spec:
  scenario: Recorded for replay tests
  objectives: {rto: 10m}
  people: [{id: approver, name: Approver, channels: {email: approver@example.com}}]
  steps:
    - id: check
      action: check.tcp
      with: {address: "127.0.0.1:9", timeout: 1s}
    - id: go-ahead
      needs: [check]
      approval: {approvers: [approver], timeout: 10m}
    - id: settle
      needs: [go-ahead]
      wait: {duration: 1s}
    - id: tell
      needs: [settle]
      notify: {to: [approver], message: "recorded plan done"}
`

// recordedChecksPlan is a plan of checks alone, with an RTO; its %s is an open TCP address.
const recordedChecksPlan = `
apiVersion: lifeboat.dev/v1
kind: RecoveryPlan
metadata: {name: recorded-checks}
spec:
  scenario: Recorded for replay tests
  objectives: {rto: 10m}
  steps:
    - {id: a, action: check.tcp, with: {address: "%[1]s"}}
    - {id: b, action: check.tcp, with: {address: "%[1]s"}}
    - {id: c, action: check.tcp, with: {address: "%[1]s"}, needs: [a, b]}
`

// recordedDrillPlan is the plan of the recorded drill: a check run against its drill target, a gate
// that escalates until it is acknowledged, and a step undone at the end of the drill. Its %s are a
// closed and an open TCP address.
const recordedDrillPlan = `
apiVersion: lifeboat.dev/v1
kind: RecoveryPlan
metadata: {name: recorded-drill}
spec:
  scenario: Recorded drill for replay tests
  objectives: {rto: 10m, rpo: 1h}
  people: [{id: approver, name: Approver, channels: {email: approver@example.com}}]
  escalation:
    levels: [{after: 1s, notify: [approver]}]
    repeat: 20
  steps:
    - id: check
      action: check.tcp
      with: {address: "%s", timeout: 1s}
      drill:
        with: {address: "%s"}
      compensate: {action: check.tcp, with: {address: "127.0.0.1:9", timeout: 1s}}
    - id: go-ahead
      needs: [check]
      approval: {approvers: [approver], timeout: 10m}
`

// recordedDrillPlanV4 is the plan of the v4 drills: a check run against its drill target, as an
// activity (its timeout is the action's, longer than a local activity may take), a step left out
// of drills, and a gate after it, which escalates until it is acknowledged. Its %s are a closed
// and an open TCP address.
const recordedDrillPlanV4 = `
apiVersion: lifeboat.dev/v1
kind: RecoveryPlan
metadata: {name: recorded-drill-v4}
spec:
  scenario: Recorded drill for replay tests, v4
  objectives: {rto: 10m, rpo: 1h}
  people: [{id: approver, name: Approver, channels: {email: approver@example.com}}]
  escalation:
    levels: [{after: 1s, notify: [approver]}]
    repeat: 20
  steps:
    - id: check
      action: check.tcp
      with: {address: "%s"}
      drill:
        with: {address: "%s"}
      compensate: {action: check.tcp, with: {address: "127.0.0.1:9", timeout: 1s}}
    - id: elsewhere
      needs: [check]
      action: check.tcp
      with: {address: "127.0.0.1:9", timeout: 1s}
      drill: {skip: true, reason: "reached only from the recovery site"}
    - id: go-ahead
      needs: [elsewhere]
      approval: {approvers: [approver], timeout: 10m}
`

// recordedSchedule is the identity drill schedules start the recorded drills as.
const recordedSchedule = SchedulePrefix + "recorder"

// scheduledDrill drills plan from a Temporal Schedule named as the worker's drill schedules are,
// as recordedSchedule, drives the run with decide, and returns it once the schedule is deleted.
func scheduledDrill(t *testing.T, c client.Client, plan string, decide func(id, requester string)) client.WorkflowRun {
	t.Helper()
	ctx := context.Background()
	h, err := c.ScheduleClient().Create(ctx, client.ScheduleOptions{
		ID:     DrillScheduleID(plan),
		Spec:   client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: 24 * time.Hour}}},
		Paused: true,
		Action: &client.ScheduleWorkflowAction{ID: "record-scheduled-" + plan, Workflow: RecoveryWorkflow, TaskQueue: "replay-record",
			Args: []any{RecoveryInput{Plan: plan, Mode: ModeDrill, Requester: recordedSchedule}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = h.Delete(ctx) }()
	if err := h.Trigger(ctx, client.ScheduleTriggerOptions{}); err != nil {
		t.Fatal(err)
	}
	var id, runID string
	for id == "" {
		d, err := h.Describe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if acts := d.Info.RecentActions; len(acts) > 0 {
			id, runID = acts[0].StartWorkflowResult.WorkflowID, acts[0].StartWorkflowResult.FirstExecutionRunID
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	decide(id, recordedSchedule)
	return c.GetWorkflow(ctx, id, runID)
}
