package workflows

import (
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	"github.com/lifeboat-dr/lifeboat/activities/contract"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/lifeboat-dr/lifeboat/integrations/notify"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
)

// VerifyInput starts a restore drill of one asset.
type VerifyInput struct {
	Asset string `json:"asset"`
	// Snapshot is "latest" (default), "sample" (one picked at random) or a snapshot ID.
	Snapshot string `json:"snapshot,omitempty"`
	// Trigger says who or what started the drill; it is kept in the evidence.
	Trigger string `json:"trigger,omitempty"`
}

// Evidence is the durable record of a restore drill: who ran it, when, on which snapshot, what was
// restored and what every check found. The RPO watchdog keeps the newest passing one as the asset's
// last verified restore point.
type Evidence struct {
	Asset      string                       `json:"asset"`
	Trigger    string                       `json:"trigger,omitempty"`
	Workflow   string                       `json:"workflow"`
	RunID      string                       `json:"run_id"`
	Snapshot   contract.SnapshotInfo        `json:"snapshot"`
	Restore    *contract.RestoreAssetResult `json:"restore,omitempty"`
	Checks     *contract.RunChecksResult    `json:"checks,omitempty"`
	Passed     bool                         `json:"passed"`
	Error      string                       `json:"error,omitempty"`
	StartedAt  time.Time                    `json:"started_at"`
	FinishedAt time.Time                    `json:"finished_at,omitzero"`
	// RestoreTime is how long the restore took: the drill's measured recovery time for this asset.
	RestoreTime units.Duration `json:"restore_time,omitempty"`
	// Record is where the signed evidence record went, or why it was not written.
	Record *EvidenceRef `json:"record,omitempty"`
}

// VerifyStatus is the status query's answer while a drill runs.
type VerifyStatus struct {
	Phase    string               `json:"phase"`
	Progress *contract.OpProgress `json:"progress,omitempty"`
	Evidence Evidence             `json:"evidence"`
}

// Verify runs a restore drill: it restores a snapshot of the asset into a scratch directory or a
// scratch PostgreSQL database, runs the asset's validation checks, always removes the scratch
// copy, and records the evidence — in its result, and with the asset's RPO watchdog, which answers
// "last verified restore point". A drill that fails alerts like a failed backup and fails the
// workflow, with the evidence in the failure's details.
func Verify(ctx workflow.Context, in VerifyInput) (Evidence, error) {
	info := workflow.GetInfo(ctx)
	ev := Evidence{Asset: in.Asset, Trigger: in.Trigger, Workflow: info.WorkflowExecution.ID, RunID: info.WorkflowExecution.RunID, StartedAt: workflow.Now(ctx)}
	st := &VerifyStatus{Phase: PhaseStarting}
	if err := workflow.SetQueryHandlerWithOptions(ctx, QueryStatus, func() (VerifyStatus, error) { st.Evidence = ev; return *st, nil },
		workflow.QueryHandlerOptions{Description: "The restore drill so far: phase, snapshot, checks passed and failed, and the evidence gathered. `lifeboat status <workflow-id>` reads it."}); err != nil {
		return ev, err
	}
	followProgress(ctx, func(ctx workflow.Context, p contract.OpProgress) {
		st.Progress = &p
		setVerifyDetails(ctx, st, ev)
	})
	if err := setKindAndAsset(ctx, "verify", in.Asset); err != nil {
		return ev, err
	}
	as, err := loadAsset(ctx, in.Asset)
	if err != nil {
		return ev, err
	}
	fail := func(step string, err error) (Evidence, error) {
		ev.Error, ev.FinishedAt = step+": "+errMessage(err), workflow.Now(ctx)
		writeVerifyEvidence(ctx, &ev, as.RPO)
		st.Phase = PhaseFailed
		setVerifyDetails(ctx, st, ev)
		tellWatchdog(ctx, as.Name, ev)
		_ = alert(ctx, as, notify.Message{
			Event: "verify.failed", Severity: notify.Critical, Title: "Restore drill of " + as.Name + " failed",
			Text: ev.Error, DedupKey: "verify-" + as.Name, Fields: map[string]string{"snapshot": shortID(ev.Snapshot.ID), "step": step},
		})
		dctx, _ := workflow.NewDisconnectedContext(ctx)
		finish(dctx, ResultFailed)
		return ev, temporal.NewNonRetryableApplicationError("restore drill of "+as.Name+" failed: "+ev.Error, "VerificationFailed", nil, ev)
	}

	// Which snapshot.
	ref := in.Snapshot
	if ref == "" {
		ref = "latest"
	}
	seed := fnv.New64a()
	seed.Write([]byte(info.WorkflowExecution.RunID)) // a sample differs from run to run, and replays agree
	var resolved contract.ResolveSnapshotResult
	if err := workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, shortStepOptions("find snapshot "+ref+" of "+as.Name)),
		contract.ResolveSnapshot, contract.ResolveSnapshotInput{Asset: as.Name, Ref: ref, Seed: seed.Sum64()}).Get(ctx, &resolved); err != nil {
		return fail("find the snapshot", err)
	}
	ev.Snapshot = resolved.Snapshot

	// Restore into scratch; whatever happens next, the scratch copy is removed.
	st.Phase = PhaseRestoring
	phase(ctx, PhaseRestoring)
	setVerifyDetails(ctx, st, ev)
	var restored contract.RestoreAssetResult
	restore := func() error {
		return workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, longStepOptions("restore "+as.Name+" into scratch")), contract.RestoreAsset,
			contract.RestoreAssetInput{Asset: as.Name, Snapshot: resolved.Snapshot.ID, Scratch: true}).Get(ctx, &restored)
	}
	var restoreErr error
	if workflow.GetVersion(ctx, versionVerifyLockWait, workflow.DefaultVersion, 1) >= 1 {
		_, restoreErr = retryWhileLocked(ctx, restore, func(msg string) {
			st.Phase = PhaseWaiting
			setVerifyDetails(ctx, st, ev)
		})
		st.Phase = PhaseRestoring
	} else {
		restoreErr = restore()
	}
	st.Progress = nil
	if restoreErr == nil {
		ev.Restore, ev.RestoreTime = &restored, units.Duration(restored.Duration)
	}
	// Whatever the restore got to create goes, also when it failed or the drill is cancelled.
	defer func() {
		dctx, _ := workflow.NewDisconnectedContext(ctx)
		dctx = workflow.WithActivityOptions(dctx, checkStepOptions("remove the scratch copy of "+as.Name))
		if err := workflow.ExecuteActivity(dctx, contract.DropScratch, contract.DropScratchInput{Asset: as.Name}).Get(dctx, nil); err != nil {
			workflow.GetLogger(ctx).Error("scratch copy not removed", "asset", as.Name, "error", err)
		}
	}()
	if restoreErr != nil {
		return fail("restore", restoreErr)
	}

	st.Phase = PhaseChecking
	phase(ctx, PhaseChecking)
	setVerifyDetails(ctx, st, ev)
	var checks contract.RunChecksResult
	if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, checkStepOptions("run the checks of "+as.Name)), contract.RunChecks,
		contract.RunChecksInput{Asset: as.Name, TargetDir: restored.TargetDir, Database: restored.Database}).Get(ctx, &checks); err != nil {
		return fail("run the checks", err)
	}
	ev.Checks = &checks
	if len(restored.Failed) > 0 {
		return fail("restore", fmt.Errorf("%d files could not be restored: %s", len(restored.Failed), strings.Join(restored.Failed[:min(3, len(restored.Failed))], "; ")))
	}
	if !checks.Passed {
		var failed []string
		for _, c := range checks.Checks {
			if !c.Passed {
				failed = append(failed, c.Name+": "+c.Detail)
			}
		}
		return fail("checks", fmt.Errorf("%d of %d checks failed: %s", len(failed), len(checks.Checks), strings.Join(failed, "; ")))
	}

	ev.Passed, ev.FinishedAt = true, workflow.Now(ctx)
	writeVerifyEvidence(ctx, &ev, as.RPO)
	st.Phase = PhaseDone
	setVerifyDetails(ctx, st, ev)
	tellWatchdog(ctx, as.Name, ev)
	finish(ctx, ResultPassed)
	workflow.GetLogger(ctx).Info("restore drill passed", "asset", as.Name, "snapshot", ev.Snapshot.ID, "checks", len(checks.Checks))
	return ev, nil
}

// tellWatchdog records a drill's evidence with the asset's RPO watchdog.
func tellWatchdog(ctx workflow.Context, assetName string, ev Evidence) {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	err := workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(dctx, shortStepOptions("record the drill with the RPO watchdog")), contract.SignalWithStart,
		contract.SignalWithStartInput{
			WorkflowID: WatchdogID(assetName), WorkflowType: RPOWatchdogWorkflow, Signal: SignalVerified, Arg: ev,
			StartInput: RPOWatchdogInput{Asset: assetName}, Summary: "RPO watchdog of " + assetName,
		}).Get(dctx, nil)
	if err != nil {
		workflow.GetLogger(ctx).Error("drill not recorded with the RPO watchdog", "asset", assetName, "error", err)
	}
}

func setVerifyDetails(ctx workflow.Context, st *VerifyStatus, ev Evidence) {
	var b strings.Builder
	b.WriteString(fmt.Sprintf("**Restore drill of %s**: %s\n\n", ev.Asset, st.Phase))
	if ev.Snapshot.ID != "" {
		b.WriteString(fmt.Sprintf("Snapshot `%s` of %s\n\n", shortID(ev.Snapshot.ID), ev.Snapshot.Time.UTC().Format(time.RFC3339)))
	}
	if st.Progress != nil {
		b.WriteString(progressLine(*st.Progress) + "\n\n")
	}
	if r := ev.Restore; r != nil {
		where := r.TargetDir
		if r.Database != "" {
			where = "database " + r.Database
		}
		b.WriteString(fmt.Sprintf("Restored into %s in %s\n\n", where, units.Duration(r.Duration).Human()))
	}
	if c := ev.Checks; c != nil {
		b.WriteString("| check | result | value |\n|---|---|---|\n")
		for _, ck := range c.Checks {
			result := "passed"
			if !ck.Passed {
				result = "FAILED: " + ck.Detail
			}
			b.WriteString(fmt.Sprintf("| %s | %s | %s |\n", mdCell(ck.Name), mdCell(result), mdCell(ck.Value)))
		}
	}
	if ev.Error != "" {
		b.WriteString("\n**" + mdCell(ev.Error) + "**\n")
	}
	workflow.SetCurrentDetails(ctx, b.String())
}
