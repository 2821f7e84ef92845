package workflows

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lifeboat-dr/lifeboat/activities/contract"

	"github.com/lifeboat-dr/lifeboat/integrations/repository/snappath"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/lifeboat-dr/lifeboat/integrations/notify"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
	"github.com/lifeboat-dr/lifeboat/workflows/approval"
)

// RestoreInput starts a restore. By default it goes to an alternate target — TargetDir for files,
// Database (a new database on the asset's server) for a PostgreSQL asset — and runs at once.
// InPlace restores over the live source and waits for approval first.
type RestoreInput struct {
	Asset string `json:"asset"`
	// Snapshot is a snapshot ID (or unique prefix) or "latest" (default).
	Snapshot string `json:"snapshot,omitempty"`
	// Path restores one file or subtree of the snapshot.
	Path      string `json:"path,omitempty"`
	TargetDir string `json:"target_dir,omitempty"`
	Database  string `json:"database,omitempty"`
	InPlace   bool   `json:"in_place,omitempty"`
	// Requester is who asks; they cannot approve their own in-place restore. Where the worker
	// verifies identities, Assertion proves it (lifeboat token start --subject ASSET), and
	// Requester may be left empty.
	Requester string `json:"requester"`
	Assertion string `json:"assertion,omitempty"`
	// Approvers was who may approve an in-place restore. Runs that establish identities refuse it:
	// the asset's owners in the configuration approve, never people the requester names.
	Approvers []string `json:"approvers,omitempty"`
	// Quorum is how many owners must approve (default 1).
	Quorum int `json:"quorum,omitempty"`
	// ApprovalTimeout ends the wait for approval, which then counts as refused (default 4h).
	ApprovalTimeout units.Duration `json:"approval_timeout,omitempty"`
}

// GateRestoreInPlace is the approval gate of an in-place restore.
const GateRestoreInPlace = "restore-in-place"

// DefaultApprovalTimeout is how long an in-place restore waits for approval.
const DefaultApprovalTimeout = 4 * time.Hour

// RestoreResult reports a restore. While it runs, the status query returns the same shape.
type RestoreResult struct {
	Asset     string `json:"asset"`
	Phase     string `json:"phase"`
	Requester string `json:"requester"`
	// Identity says how the run established who took part.
	Identity *IdentityRecord `json:"identity,omitempty"`
	// Audit links the restore's start and decisions to their entries in the audit ledger.
	Audit    []AuditRecord          `json:"audit,omitempty"`
	InPlace  bool                   `json:"in_place,omitempty"`
	Snapshot *contract.SnapshotInfo `json:"snapshot,omitempty"`
	// Plan is exactly what the restore changes (target, overwrite or replace), worked out before
	// approval; the restore does nothing else.
	Plan      *contract.RestorePlan        `json:"plan,omitempty"`
	Approval  *approval.Outcome            `json:"approval,omitempty"`
	Progress  *contract.OpProgress         `json:"progress,omitempty"`
	Restored  *contract.RestoreAssetResult `json:"restored,omitempty"`
	Error     string                       `json:"error,omitempty"`
	StartedAt time.Time                    `json:"started_at"`
	// FinishedAt minus StartedAt, less the wait for approval, is the restore's recovery time.
	FinishedAt time.Time `json:"finished_at,omitzero"`
}

// Validate returns every problem with the input, joined, or nil.
func (in RestoreInput) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if strings.TrimSpace(in.Asset) == "" {
		bad("asset: required")
	}
	if strings.TrimSpace(in.Requester) == "" && in.Assertion == "" {
		bad("requester: required: say who asks for the restore")
	}
	if in.InPlace && (in.TargetDir != "" || in.Database != "") {
		bad("in_place: a restore in place has no target_dir or database")
	}
	if in.TargetDir != "" && in.Database != "" {
		bad("target_dir and database: set one")
	}
	if in.TargetDir != "" && !strings.HasPrefix(in.TargetDir, "/") {
		bad("target_dir: %q is not an absolute path", in.TargetDir)
	}
	if _, err := snappath.Clean(in.Path); err != nil {
		bad("path: %v", err)
	}
	if in.Quorum < 0 || in.ApprovalTimeout < 0 {
		bad("quorum and approval_timeout: must not be negative")
	}
	return errors.Join(errs...)
}

// Restore restores a snapshot of an asset: all of it, one file, a subtree, or a database. An
// in-place restore — over the live data — first waits at the restore-in-place approval gate
// (Update or signal "decide"; query "approvals"), reminding the asset's routes while it waits, and
// is abandoned when rejected or when nobody decides in time.
func Restore(ctx workflow.Context, in RestoreInput) (RestoreResult, error) {
	st := &RestoreResult{Asset: in.Asset, Phase: PhaseStarting, Requester: in.Requester, InPlace: in.InPlace, StartedAt: workflow.Now(ctx)}
	if err := workflow.SetQueryHandlerWithOptions(ctx, QueryStatus, func() (RestoreResult, error) { return *st, nil },
		workflow.QueryHandlerOptions{Description: "The restore so far: phase, snapshot, target, approval and bytes written, and the error once it failed. `lifeboat status <workflow-id>` reads it."}); err != nil {
		return *st, err
	}
	gates, err := approval.New(ctx)
	if err != nil {
		return *st, err
	}
	var ids *identities
	gates.OnChange(func(ctx workflow.Context) { setRestoreDetails(ctx, st, gates, ids) })
	var audit *auditLog
	if workflow.GetVersion(ctx, versionVerifiedIdentities, workflow.DefaultVersion, 1) == 1 {
		ids, audit = &identities{}, newAuditLog(&st.Audit)
		gates.Enforce(ids.gateAuthenticator())
		audit.observeGates(gates, func(string) string { return in.Asset }, nil)
	}
	if err := in.Validate(); err != nil {
		return *st, temporal.NewNonRetryableApplicationError("invalid restore input: "+err.Error(), ErrTypeInvalidInput, nil)
	}
	if ids != nil && len(in.Approvers) > 0 {
		return *st, temporal.NewNonRetryableApplicationError("invalid restore input: approvers: the asset's owners in the configuration approve a restore in place, not people the request names; leave approvers out",
			ErrTypeInvalidInput, nil)
	}
	followProgress(ctx, func(ctx workflow.Context, p contract.OpProgress) {
		st.Progress = &p
		setRestoreDetails(ctx, st, gates, ids)
	})
	if err := setKindAndAsset(ctx, "restore", in.Asset); err != nil {
		return *st, err
	}
	if ids != nil {
		if err := loadIdentities(ctx, ids); err != nil {
			return *st, err
		}
		who, rec, err := ids.establishStarter(ctx, in.Requester, in.Assertion, in.Asset)
		st.Identity = rec
		if err != nil {
			audit.appendNow(ctx, startRefusal(in.Requester, in.Asset, "restore", err))
			return *st, err
		}
		in.Requester, st.Requester = who.Person, who.Person
		audit.append(ctx, contract.AppendAuditInput{Kind: contract.AuditKindStart, Actor: who.Person, Channel: rec.StartChannel, Verified: who.Verified,
			Subject: in.Asset, Details: restoreAuditDetails(in)})
	}
	as, err := loadAsset(ctx, in.Asset)
	if err != nil {
		return *st, err
	}
	owners := as.Owners
	if ids != nil && ids.configured {
		owners = ids.dir.Expand(as.Owners)
		if len(owners) > 0 && !slices.Contains(owners, in.Requester) {
			err := temporal.NewNonRetryableApplicationError(fmt.Sprintf("start refused: %s may not restore %s: only its owners may (%s)",
				in.Requester, as.Name, strings.Join(owners, ", ")), ErrTypeIdentityRefused, nil)
			audit.appendNow(ctx, startRefusal(in.Requester, in.Asset, "restore", err))
			return *st, err
		}
	}
	failed := func(step string, err error) (RestoreResult, error) {
		st.Phase, st.Error, st.FinishedAt = PhaseFailed, step+": "+errMessage(err), workflow.Now(ctx)
		setRestoreDetails(ctx, st, gates, ids)
		_ = alert(ctx, as, notify.Message{Event: "restore.failed", Severity: notify.Critical,
			Title: "Restore of " + as.Name + " failed", Text: st.Error, Fields: map[string]string{"requester": in.Requester, "step": step}})
		dctx, _ := workflow.NewDisconnectedContext(ctx)
		finish(dctx, ResultFailed)
		_ = workflow.Await(dctx, func() bool { return workflow.AllHandlersFinished(dctx) })
		audit.drain(dctx)
		return *st, temporal.NewNonRetryableApplicationError("restore of "+as.Name+" failed: "+st.Error, "RestoreFailed", err, *st)
	}

	// Pin the snapshot, so that an approval is for a known restore point.
	var resolved contract.ResolveSnapshotResult
	ref := in.Snapshot
	if ref == "" {
		ref = "latest"
	}
	if err := workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, shortStepOptions("find snapshot "+ref+" of "+as.Name)),
		contract.ResolveSnapshot, contract.ResolveSnapshotInput{Asset: as.Name, Ref: ref}).Get(ctx, &resolved); err != nil {
		return failed("find the snapshot", err)
	}
	st.Snapshot = &resolved.Snapshot
	setRestoreDetails(ctx, st, gates, ids)

	// Work out exactly what the restore will change, and refuse what this worker must not do,
	// before anyone is asked to approve it.
	restoreIn := contract.RestoreAssetInput{
		Asset: as.Name, Snapshot: resolved.Snapshot.ID, Path: in.Path, TargetDir: in.TargetDir, Database: in.Database, InPlace: in.InPlace,
	}
	planned := workflow.GetVersion(ctx, versionRestorePlan, workflow.DefaultVersion, 1) >= 1
	if planned {
		var plan contract.RestorePlan
		if err := workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, shortStepOptions("plan the restore of "+as.Name)),
			contract.PlanRestore, restoreIn).Get(ctx, &plan); err != nil {
			return failed("plan the restore", err)
		}
		st.Plan, restoreIn.Approved = &plan, &plan
		setRestoreDetails(ctx, st, gates, ids)
	}

	if in.InPlace {
		st.Phase = PhaseApproval
		phase(ctx, PhaseApproval)
		setRestoreDetails(ctx, st, gates, ids)
		approvers := in.Approvers
		if len(approvers) == 0 {
			approvers = owners
		}
		timeout := in.ApprovalTimeout.Or(DefaultApprovalTimeout)
		title := fmt.Sprintf("Restore %s in place from snapshot %s of %s, replacing the live data", as.Name, shortID(resolved.Snapshot.ID),
			resolved.Snapshot.Time.UTC().Format(time.RFC3339))
		fields := map[string]string{"requester": in.Requester, "approvers": strings.Join(approvers, ", "), "expires in": units.Duration(timeout).Human()}
		if st.Plan != nil {
			title = "Restore " + st.Plan.Scope()
			fields["snapshot"] = shortID(resolved.Snapshot.ID) + " of " + resolved.Snapshot.Time.UTC().Format(time.RFC3339)
			if st.Plan.Database != "" {
				fields["database"] = st.Plan.Database
				fields["replace"] = fmt.Sprint(st.Plan.Replace)
			} else {
				fields["target"] = st.Plan.TargetDir
				fields["overwrite"] = fmt.Sprint(st.Plan.Overwrite)
			}
			if st.Plan.Path != "" {
				fields["path"] = st.Plan.Path
			}
		}
		ask := func(ctx workflow.Context, level int, escalation bool) {
			sev := notify.Warning
			if level > 0 {
				sev = notify.Critical
			}
			_ = alert(ctx, as, notify.Message{Event: "approval.requested", Severity: sev, Title: "Approval needed: " + title, Level: level,
				DedupKey: "approval-" + workflow.GetInfo(ctx).WorkflowExecution.ID,
				Approval: &notify.ApprovalRef{WorkflowID: workflow.GetInfo(ctx).WorkflowExecution.ID, RunID: workflow.GetInfo(ctx).WorkflowExecution.RunID,
					Gate: GateRestoreInPlace, Approvers: approvers},
				Text: fmt.Sprintf("%s asks to restore %s over its live data. Approve with `lifeboat approve %s` or `%s`.",
					in.Requester, as.Name, workflow.GetInfo(ctx).WorkflowExecution.ID, approval.TemporalCommand(workflow.GetInfo(ctx).WorkflowExecution.ID, "")),
				Fields: fields})
		}
		ask(ctx, 0, false)
		outcome, err := gates.Await(ctx, approval.Request{
			Gate: GateRestoreInPlace, Title: title, Requester: in.Requester, Approvers: approvers, Quorum: in.Quorum,
			Timeout: timeout, OnExpiry: approval.ExpireAbort,
			RemindEvery: []time.Duration{timeout / 4}, RemindRepeat: 2,
			Remind: func(ctx workflow.Context, r approval.Reminder) { ask(ctx, r.Level, r.Escalation) },
		})
		st.Approval = &outcome
		if err != nil {
			return failed("approval", err)
		}
		if !outcome.Approved {
			st.Phase, st.FinishedAt = PhaseDone, workflow.Now(ctx)
			switch {
			case outcome.RejectedBy != nil:
				st.Error = fmt.Sprintf("rejected by %s: %s", outcome.RejectedBy.Identity, outcome.RejectedBy.Reason)
			default:
				st.Error = "nobody approved within " + units.Duration(timeout).Human()
			}
			setRestoreDetails(ctx, st, gates, ids)
			finish(ctx, ResultRejected)
			if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
				return *st, err
			}
			audit.drain(ctx)
			return *st, temporal.NewNonRetryableApplicationError("restore of "+as.Name+" in place not approved: "+st.Error, "RestoreNotApproved", nil, *st)
		}
	}

	st.Phase = PhaseRestoring
	phase(ctx, PhaseRestoring)
	setRestoreDetails(ctx, st, gates, ids)
	var restored contract.RestoreAssetResult
	restore := func() error {
		return workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, longStepOptions("restore "+as.Name)), contract.RestoreAsset, restoreIn).Get(ctx, &restored)
	}
	if planned {
		// A prune or an exclusive job holds the repository: wait for it on a durable timer.
		_, err = retryWhileLocked(ctx, restore, func(msg string) {
			st.Phase, st.Error = PhaseWaiting, msg
			setRestoreDetails(ctx, st, gates, ids)
		})
		st.Phase, st.Error = PhaseRestoring, ""
	} else {
		err = restore()
	}
	if err != nil {
		return failed("restore", err)
	}
	st.Restored, st.Progress = &restored, nil
	st.Phase, st.FinishedAt = PhaseDone, workflow.Now(ctx)
	setRestoreDetails(ctx, st, gates, ids)
	finish(ctx, ResultSucceeded)
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return *st, err
	}
	audit.drain(ctx)
	return *st, nil
}

// setRestoreDetails shows the restore in the Web UI: what, from which snapshot, its progress, and
// while it waits for approval, who may answer and how.
func setRestoreDetails(ctx workflow.Context, st *RestoreResult, gates *approval.Gates, ids *identities) {
	var b strings.Builder
	kind := "Restore"
	if st.InPlace {
		kind = "In-place restore"
	}
	b.WriteString(fmt.Sprintf("**%s of %s**: %s (requested by %s)\n\n", kind, st.Asset, st.Phase, st.Requester))
	if sn := st.Snapshot; sn != nil {
		b.WriteString(fmt.Sprintf("Snapshot `%s` of %s, %s\n\n", shortID(sn.ID), sn.Time.UTC().Format(time.RFC3339), units.Bytes(sn.Bytes)))
	}
	if st.Plan != nil {
		b.WriteString("Scope: " + mdCell(st.Plan.Scope()) + "\n\n")
	}
	b.WriteString(approval.Details(workflow.GetInfo(ctx).WorkflowExecution.ID, gates.Pending(), ids.requireAssertions()))
	if st.Approval != nil {
		for _, d := range st.Approval.Decisions {
			verb := "approved"
			if !d.Approve {
				verb = "rejected (" + d.Reason + ")"
			}
			b.WriteString(fmt.Sprintf("- %s %s via %s at %s\n", mdCell(d.Identity), mdCell(verb), d.Channel, d.Time.UTC().Format(time.RFC3339)))
		}
		b.WriteString("\n")
	}
	if st.Progress != nil {
		b.WriteString(progressLine(*st.Progress) + "\n\n")
	}
	if r := st.Restored; r != nil {
		where := r.TargetDir
		if r.Database != "" {
			where = "database " + r.Database
		}
		b.WriteString(fmt.Sprintf("Restored %d files, %s into %s in %s\n\n", r.Files, units.Bytes(r.Bytes), where, units.Duration(r.Duration).Human()))
		if r.Kept != "" {
			b.WriteString(fmt.Sprintf("The replaced database is kept as %s until someone drops it.\n\n", r.Kept))
		}
	}
	if st.Error != "" {
		b.WriteString("**" + mdCell(st.Error) + "**\n")
	}
	workflow.SetCurrentDetails(ctx, b.String())
}

// restoreAuditDetails says what a restore was asked to do, for its ledger entry.
func restoreAuditDetails(in RestoreInput) map[string]string {
	d := map[string]string{"snapshot": cmp.Or(in.Snapshot, "latest")}
	switch {
	case in.InPlace:
		d["target"] = "in place"
	case in.Database != "":
		d["target"] = "database " + in.Database
	case in.TargetDir != "":
		d["target"] = "directory " + in.TargetDir
	}
	if in.Path != "" {
		d["path"] = in.Path
	}
	return d
}
