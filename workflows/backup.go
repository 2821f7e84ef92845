package workflows

import (
	"fmt"
	"strings"
	"time"

	"github.com/lifeboat-dr/lifeboat/activities/contract"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/lifeboat-dr/lifeboat/activities/asset"
	"github.com/lifeboat-dr/lifeboat/integrations/notify"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
)

// BackupInput starts a backup of one asset of the worker's configuration.
type BackupInput struct {
	Asset string   `json:"asset"`
	Tags  []string `json:"tags,omitempty"`
	// Trigger says who or what started it ("schedule", "user@host"); it is shown and recorded.
	Trigger string `json:"trigger,omitempty"`
	// SkipRetention leaves old snapshots alone this time.
	SkipRetention bool `json:"skip_retention,omitempty"`
}

// BackupResult reports a backup. While it runs, the status query returns the same shape.
type BackupResult struct {
	Asset   string `json:"asset"`
	Phase   string `json:"phase"`
	Trigger string `json:"trigger,omitempty"`
	// Progress is the running step's last report.
	Progress  *contract.OpProgress        `json:"progress,omitempty"`
	Snapshot  *contract.SnapshotInfo      `json:"snapshot,omitempty"`
	Resumed   *contract.OpProgress        `json:"resumed,omitempty"`
	Offsite   *contract.CopyOffsiteResult `json:"offsite,omitempty"`
	Retention []contract.RetentionReport  `json:"retention,omitempty"`
	// WaitedForLock is how long the backup waited for another job holding the repository.
	WaitedForLock units.Duration `json:"waited_for_lock,omitempty"`
	Error         string         `json:"error,omitempty"`
	StartedAt     time.Time      `json:"started_at"`
	FinishedAt    time.Time      `json:"finished_at,omitzero"`
}

// Backup phases.
const (
	PhaseStarting   = "starting"
	PhaseWaiting    = "waiting for lock"
	PhaseBackingUp  = "backing up"
	PhaseCopying    = "copying off-site"
	PhaseRetention  = "applying retention"
	PhaseRestoring  = "restoring"
	PhaseChecking   = "checking"
	PhaseApproval   = "awaiting approval"
	PhaseCleaningUp = "cleaning up"
	PhaseDone       = "done"
	PhaseFailed     = "failed"
)

// Backup backs one asset up: into its repository (waiting while another backup of the asset or a
// prune holds it), then to its off-site copy, then applies retention, and tells the asset's RPO
// watchdog. Progress arrives as signals from the backup activity and shows in the status query and
// the Web UI's current details. A failure at any step alerts the asset's notification routes; a
// snapshot made before a later step failed still counts for the RPO.
func Backup(ctx workflow.Context, in BackupInput) (BackupResult, error) {
	st := &BackupResult{Asset: in.Asset, Phase: PhaseStarting, Trigger: in.Trigger, StartedAt: workflow.Now(ctx)}
	if err := workflow.SetQueryHandlerWithOptions(ctx, QueryStatus, func() (BackupResult, error) { return *st, nil },
		workflow.QueryHandlerOptions{Description: "The backup so far: phase, snapshot, files and bytes done, and the error once it failed. `lifeboat status <workflow-id>` reads it."}); err != nil {
		return *st, err
	}
	followProgress(ctx, func(ctx workflow.Context, p contract.OpProgress) {
		st.Progress = &p
		setBackupDetails(ctx, st)
	})
	if err := setKindAndAsset(ctx, "backup", in.Asset); err != nil {
		return *st, err
	}
	as, err := loadAsset(ctx, in.Asset)
	if err != nil {
		return backupFailed(ctx, st, asset.Asset{Name: in.Asset}, "load the asset", err)
	}

	// 1. Back up, waiting on a timer while another job holds the repository.
	var backup contract.BackupAssetResult
	for {
		st.Phase = PhaseBackingUp
		phase(ctx, PhaseBackingUp)
		setBackupDetails(ctx, st)
		actx := workflow.WithActivityOptions(ctx, longStepOptions("back up "+as.Name))
		err = workflow.ExecuteActivity(actx, contract.BackupAsset, contract.BackupAssetInput{Asset: as.Name, Tags: in.Tags}).Get(ctx, &backup)
		if err == nil {
			break
		}
		if !isErrType(err, contract.ErrTypeLocked) {
			return backupFailed(ctx, st, as, "back up", err)
		}
		st.Phase, st.Error = PhaseWaiting, errMessage(err)
		phase(ctx, PhaseWaiting)
		setBackupDetails(ctx, st)
		waited := workflow.Now(ctx)
		if err := workflow.NewTimerWithOptions(ctx, lockWait, workflow.TimerOptions{Summary: "wait for the repository lock"}).Get(ctx, nil); err != nil {
			return backupFailed(ctx, st, as, "wait for the repository lock", err)
		}
		st.WaitedForLock += units.Duration(workflow.Now(ctx).Sub(waited))
		st.Error = ""
	}
	st.Snapshot, st.Resumed, st.Progress = &backup.Snapshot, backup.Resumed, nil
	setBackupDetails(ctx, st)

	// The snapshot is durable: it counts for the RPO even if a later step fails.
	markBackup(ctx, as, backup.Snapshot)

	// 2. Off-site copy.
	if as.Offsite != nil || cloudCopyTarget(as) != "" {
		st.Phase = PhaseCopying
		phase(ctx, PhaseCopying)
		setBackupDetails(ctx, st)
		var copied contract.CopyOffsiteResult
		if err := runLocked(ctx, st, longStepOptions("copy "+as.Name+" off-site"), contract.CopyOffsite,
			contract.CopyOffsiteInput{Asset: as.Name, Snapshot: backup.Snapshot.ID}, &copied); err != nil {
			return backupFailed(ctx, st, as, "copy off-site", err)
		}
		st.Offsite = &copied
		st.Snapshot.Copy = &copied.Copy
	}

	// 3. Retention, under the repositories' exclusive locks.
	if !in.SkipRetention {
		st.Phase = PhaseRetention
		phase(ctx, PhaseRetention)
		setBackupDetails(ctx, st)
		var kept contract.ApplyRetentionResult
		if err := runLocked(ctx, st, longStepOptions("apply retention to "+as.Name), contract.ApplyRetention,
			contract.ApplyRetentionInput{Asset: as.Name}, &kept); err != nil {
			return backupFailed(ctx, st, as, "apply retention", err)
		}
		st.Retention = kept.Reports
	}

	st.Phase, st.FinishedAt = PhaseDone, workflow.Now(ctx)
	setBackupDetails(ctx, st)
	finish(ctx, ResultSucceeded)
	workflow.GetLogger(ctx).Info("backup finished", "asset", as.Name, "snapshot", backup.Snapshot.ID, "bytes", backup.Snapshot.Bytes)
	return *st, nil
}

// runLocked runs a long activity, waiting on a timer and trying again while another job holds a
// repository it needs.
func runLocked(ctx workflow.Context, st *BackupResult, opts workflow.ActivityOptions, activity, input, result any) error {
	for {
		err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), activity, input).Get(ctx, result)
		if !isErrType(err, contract.ErrTypeLocked) {
			return err
		}
		st.Error = errMessage(err)
		setBackupDetails(ctx, st)
		waited := workflow.Now(ctx)
		if err := workflow.NewTimerWithOptions(ctx, lockWait, workflow.TimerOptions{Summary: "wait for the repository lock"}).Get(ctx, nil); err != nil {
			return err
		}
		st.WaitedForLock += units.Duration(workflow.Now(ctx).Sub(waited))
		st.Error = ""
	}
}

func cloudCopyTarget(as asset.Asset) string {
	switch {
	case as.Source.RDS != nil:
		return as.Source.RDS.CopyToRegion
	case as.Source.EBS != nil:
		return as.Source.EBS.CopyToRegion
	}
	return ""
}

// markBackup tells the asset's RPO watchdog about a new snapshot, starting the watchdog if it is not
// running. A watchdog that cannot be reached is logged: the backup itself succeeded.
func markBackup(ctx workflow.Context, as asset.Asset, sn contract.SnapshotInfo) {
	err := workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, shortStepOptions("tell the RPO watchdog")), contract.SignalWithStart,
		contract.SignalWithStartInput{
			WorkflowID: WatchdogID(as.Name), WorkflowType: RPOWatchdogWorkflow, Signal: SignalBackupDone,
			Arg:        BackupDone{Snapshot: sn.ID, Time: sn.Time, Workflow: workflow.GetInfo(ctx).WorkflowExecution.ID},
			StartInput: RPOWatchdogInput{Asset: as.Name}, Summary: "RPO watchdog of " + as.Name,
		}).Get(ctx, nil)
	if err != nil {
		workflow.GetLogger(ctx).Error("RPO watchdog not told of the backup", "asset", as.Name, "error", err)
	}
}

// backupFailed records the failure, alerts, and returns the error the workflow fails with.
func backupFailed(ctx workflow.Context, st *BackupResult, as asset.Asset, step string, err error) (BackupResult, error) {
	st.Phase, st.Error, st.FinishedAt = PhaseFailed, fmt.Sprintf("%s: %s", step, errMessage(err)), workflow.Now(ctx)
	setBackupDetails(ctx, st)
	fields := map[string]string{"step": step, "trigger": st.Trigger}
	if st.Snapshot != nil {
		fields["snapshot"] = st.Snapshot.ID
	}
	_ = alert(ctx, as, notify.Message{
		Event: "backup.failed", Severity: notify.Critical, Title: "Backup of " + as.Name + " failed",
		Text: st.Error, Fields: fields, DedupKey: "backup-" + as.Name,
	})
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	finish(dctx, ResultFailed)
	return *st, temporal.NewNonRetryableApplicationError("backup of "+as.Name+" failed: "+st.Error, "BackupFailed", err, *st)
}

// setBackupDetails keeps the Web UI's current details in step with the backup.
func setBackupDetails(ctx workflow.Context, st *BackupResult) {
	var b strings.Builder
	b.WriteString(fmt.Sprintf("**Backup of %s**: %s", st.Asset, st.Phase))
	if st.Trigger != "" {
		b.WriteString(" (started by " + st.Trigger + ")")
	}
	b.WriteString("\n\n")
	if st.Progress != nil {
		b.WriteString(progressLine(*st.Progress) + "\n\n")
	}
	if sn := st.Snapshot; sn != nil {
		b.WriteString(fmt.Sprintf("Snapshot `%s`: %d files, %s, %s added (%s stored) in %s\n\n", shortID(sn.ID), sn.Files,
			units.Bytes(sn.Bytes), units.Bytes(sn.BytesAdded), units.Bytes(sn.StoredAdded), units.Duration(sn.Duration).Human()))
	}
	if st.Offsite != nil {
		b.WriteString(fmt.Sprintf("Off-site copy `%s` in %s\n\n", shortID(st.Offsite.Copy.ID), st.Offsite.Copy.Location))
	}
	for _, r := range st.Retention {
		b.WriteString(fmt.Sprintf("Retention in %s: %d kept, %d removed, %s freed\n\n", r.Location, r.Kept, len(r.Removed), units.Bytes(r.BytesFreed)))
	}
	if st.Error != "" {
		b.WriteString("**" + mdCell(st.Error) + "**\n")
	}
	workflow.SetCurrentDetails(ctx, b.String())
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
