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
	// drillWithAck runs the recorded drill through an escalation, its acknowledgement and its gate.
	drillWithAck := func(file string) client.WorkflowRun {
		run := start(file, RecoveryWorkflow, RecoveryInput{Plan: "recorded-drill", Mode: ModeDrill, Requester: "recorder",
			IncidentAt: time.Now().Add(-time.Minute)})
		time.Sleep(2500 * time.Millisecond) // the gate escalates at 1s and 2s
		for _, u := range []struct {
			name string
			arg  any
		}{
			{UpdateAcknowledge, Acknowledgement{Identity: "approver", Channel: approval.ChannelCLI, Step: "go-ahead", Note: "on it"}},
			{approval.UpdateDecide, approval.Decision{Gate: "go-ahead", Approve: true, Identity: "approver", Channel: approval.ChannelCLI}},
		} {
			for {
				h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: run.GetID(), UpdateName: u.name, Args: []any{u.arg}, WaitForStage: client.WorkflowUpdateStageCompleted})
				if err == nil {
					err = h.Get(ctx, nil)
				}
				var notReady *serviceerror.WorkflowNotReady
				if errors.As(err, &notReady) {
					continue // the task that took it failed: send it again
				}
				if err != nil {
					t.Fatalf("%s: %v", u.name, err)
				}
				break
			}
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
		{"restore_in_place_v1.json", func(file string) client.WorkflowRun {
			run := start(file, RestoreWorkflow, RestoreInput{Asset: as.Name, TargetDir: "", InPlace: true, Requester: "recorder"})
			for {
				h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: run.GetID(), UpdateName: approval.UpdateDecide,
					Args: []any{approval.Decision{Approve: true, Identity: "approver", Channel: approval.ChannelCLI}}, WaitForStage: client.WorkflowUpdateStageCompleted})
				if err == nil && h.Get(ctx, nil) == nil {
					return run
				}
				time.Sleep(100 * time.Millisecond) // the gate is not open yet
			}
		}},
		// v2: the restore plans its scope before approval, and a drill waits for a locked repository.
		{"verify_v2.json", func(file string) client.WorkflowRun {
			backedUp()
			return start(file, VerifyWorkflow, VerifyInput{Asset: as.Name, Snapshot: "latest", Trigger: "recording"})
		}},
		{"restore_in_place_v2.json", func(file string) client.WorkflowRun {
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
		}},
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
		{"alert_v1.json", func(file string) client.WorkflowRun {
			// An alert fires (twice, as Alertmanager repeats it), starts the plan's recovery, is
			// resolved while the recovery waits at its gate, and ends after its quiet period.
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
		if err := run.Get(ctx, nil); err != nil && file != "rpo_watchdog_v1.json" {
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
