package workflows

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/lifeboat-dr/lifeboat/activities/contract"
	"github.com/lifeboat-dr/lifeboat/activities/plan"
	"github.com/lifeboat-dr/lifeboat/integrations/evidence"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
)

// Versions of the evidence behaviour: runs from before them write no evidence record, and take
// no schedule as their starter.
const (
	versionDrillEvidence  = "drill-evidence"
	versionVerifyEvidence = "verify-evidence"
	versionScheduledDrill = "scheduled-drill"
)

// SchedulePrefix starts the identity a drill schedule starts drills as: "schedule:<owner>".
const SchedulePrefix = "schedule:"

// DrillScheduleID is the ID of a plan's drill schedule (recovery.drills).
func DrillScheduleID(plan string) string { return "drill-" + plan }

// scheduledByKey is the search attribute the Temporal server sets on a workflow a schedule
// started: the schedule's ID.
var scheduledByKey = temporal.NewSearchAttributeKeyKeyword("TemporalScheduledById")

// EvidenceRef says where a run's evidence record went, or why it was not written.
type EvidenceRef struct {
	// ID names the record (lifeboat evidence show ID); Location is the evidence store.
	ID       string `json:"id,omitempty"`
	Location string `json:"location,omitempty"`
	// Outcome is the record's: passed, failed or not proven.
	Outcome string `json:"outcome,omitempty"`
	// Error says why the record was not written.
	Error string `json:"error,omitempty"`
}

// Line is the reference in one line, for reports: "evidence …" or "evidence not written: …".
func (e *EvidenceRef) Line() string {
	if e.Error != "" {
		return "evidence not written: " + e.Error
	}
	return "evidence " + e.ID + " (" + e.Outcome + ") in " + e.Location
}

// evidenceOptions writes an evidence record: retried for a few minutes, since a storage error
// usually passes; the run's result never depends on it.
var evidenceOptions = workflow.ActivityOptions{
	StartToCloseTimeout: time.Minute,
	RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second, MaximumAttempts: 8,
		NonRetryableErrorTypes: []string{contract.ErrTypeEvidenceInvalid, contract.ErrTypeEvidenceConflict}},
	Summary: "write the evidence record",
}

// writeEvidence signs and stores rec through the worker. It returns nil when the worker keeps no
// evidence, and otherwise where the record went or why it did not: a record that cannot be written
// never fails the run.
func writeEvidence(ctx workflow.Context, rec evidence.Record) *EvidenceRef {
	rec.Version = 1
	rec.Evaluate()
	ctx, _ = workflow.NewDisconnectedContext(ctx)
	var res contract.WriteEvidenceResult
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, evidenceOptions), contract.WriteEvidence,
		contract.WriteEvidenceInput{Record: rec}).Get(ctx, &res)
	switch {
	case err != nil:
		workflow.GetLogger(ctx).Error("evidence not written", "kind", rec.Kind, "subject", rec.Subject, "error", err)
		return &EvidenceRef{Outcome: rec.Outcome, Error: errMessage(err)}
	case res.Skipped:
		return nil
	}
	return &EvidenceRef{ID: res.ID, Location: res.Location, Outcome: rec.Outcome}
}

// writeDrillEvidence records a finished drill's evidence in st.Evidence; recoveries, and drills
// from before evidence, record none.
func (r *runner) writeDrillEvidence(ctx workflow.Context) {
	if r.in.Mode != ModeDrill || r.version(ctx, versionDrillEvidence) != 1 {
		return
	}
	r.st.Evidence = writeEvidence(ctx, drillRecord(ctx, r.st))
}

// drillRecord is the evidence of a drill as its record stands.
func drillRecord(ctx workflow.Context, st *RecoveryResult) evidence.Record {
	info := workflow.GetInfo(ctx).WorkflowExecution
	rec := evidence.Record{
		Kind: evidence.KindDrill, Subject: st.Plan, PlanSHA256: st.PlanSHA256, Workflow: info.ID, Run: info.RunID,
		StartedBy: evidence.Starter{Identity: st.Requester}, StartedAt: st.StartedAt.UTC(), FinishedAt: st.FinishedAt.UTC(),
		Status: st.Status, Error: st.Error, Checks: []evidence.Check{},
	}
	rec.Trust, rec.TrustWarning = evidence.TrustUnspecified, trustClientWarning
	if id := st.Identity; id != nil {
		rec.StartedBy.Channel, rec.StartedBy.Verified = id.StartChannel, id.StartVerified
		rec.TrustWarning = id.Warning
		if id.Mode != "" {
			rec.Trust = id.Mode
		}
	}
	for _, s := range st.Steps {
		rec.Steps = append(rec.Steps, evidence.Step{ID: s.ID, Type: string(s.Type), Action: s.Action, Status: s.Status, Drill: s.Drill,
			DrillNote: s.DrillNote, Compensation: s.Compensation, Error: s.Error})
		if s.Type != plan.TypeAction || !isCheck(s.Action) {
			continue
		}
		c := evidence.Check{Name: s.ID + " (" + s.Action + ")", Result: evidence.CheckNotProven}
		switch {
		case s.Status == plan.StatusSucceeded || s.Status == StepCompensated:
			c.Result = evidence.CheckPassed
		case s.Status == plan.StatusFailed:
			c.Result, c.Detail = evidence.CheckFailed, s.Error
		default:
			c.Detail = strings.TrimSuffix(s.Status+": "+s.Summary, ": ")
			if s.Drill == DrillSkipped {
				c.Detail = cmp.Or(s.Summary, "left out of drills")
			}
		}
		rec.Checks = append(rec.Checks, c)
	}
	var rto *units.Duration
	if st.RTOMet != nil || (st.Status == plan.StatusSucceeded && st.Objectives.RTO == 0) {
		v := st.RTO
		rto = &v
	}
	rec.RTO = evidence.NewMeasure(st.Objectives.RTO, rto)
	rec.RPO = evidence.NewMeasure(st.Objectives.RPO, st.RPO)
	return rec
}

// isCheck reports whether an action only checks something, so that a drill step running it is a
// check in the drill's evidence: the check.* actions, and PostgreSQL's query check and write probe.
func isCheck(action string) bool {
	return strings.HasPrefix(action, "check.") || action == "postgres.sql_check" || action == "postgres.write_probe"
}

// writeVerifyEvidence records a finished verification's evidence in ev.Record; verifications from
// before evidence record none.
func writeVerifyEvidence(ctx workflow.Context, ev *Evidence, rpo units.Duration) {
	if workflow.GetVersion(ctx, versionVerifyEvidence, workflow.DefaultVersion, 1) != 1 {
		return
	}
	rec := evidence.Record{
		Kind: evidence.KindVerification, Subject: ev.Asset, Workflow: ev.Workflow, Run: ev.RunID,
		StartedBy: evidence.Starter{Identity: ev.Trigger}, StartedAt: ev.StartedAt.UTC(), FinishedAt: ev.FinishedAt.UTC(),
		Status: plan.StatusFailed, Error: ev.Error, Checks: []evidence.Check{},
		// A verification takes its trigger as given: nothing in it was decided by a person.
		Trust: evidence.TrustClient, TrustWarning: "the trigger is as the starter gave it",
	}
	if rec.StartedBy.Identity == "" {
		rec.StartedBy.Identity = "unnamed"
	}
	if strings.HasPrefix(ev.Trigger, "schedule ") {
		rec.StartedBy.Channel = evidence.ChannelSchedule
	}
	if ev.Passed {
		rec.Status = plan.StatusSucceeded
	}
	if ev.FinishedAt.IsZero() {
		rec.FinishedAt = workflow.Now(ctx).UTC()
	}
	if c := ev.Checks; c != nil {
		for _, ck := range c.Checks {
			res := evidence.Check{Name: ck.Name + " (" + ck.Kind + ")", Result: evidence.CheckPassed}
			if !ck.Passed {
				res.Result, res.Detail = evidence.CheckFailed, ck.Detail
			}
			rec.Checks = append(rec.Checks, res)
		}
	}
	if ev.Restore != nil {
		rt := ev.RestoreTime
		rec.RTO = evidence.NewMeasure(0, &rt)
	}
	if !ev.Snapshot.Time.IsZero() {
		age := units.Duration(max(ev.StartedAt.Sub(ev.Snapshot.Time), 0))
		rec.RPO = evidence.NewMeasure(rpo, &age)
		if !ev.Passed {
			rec.RPO.Met = nil // a snapshot that did not restore proves no recovery point
		}
	} else {
		rec.RPO = evidence.NewMeasure(rpo, nil)
	}
	ev.Record = writeEvidence(ctx, rec)
}

// establishStarter establishes who started a run: a drill schedule of this deployment, or as
// identities.establishStarter does.
func (r *runner) establishStarter(ctx workflow.Context) (established, *IdentityRecord, error) {
	in := r.in
	if strings.HasPrefix(strings.TrimSpace(in.Requester), SchedulePrefix) && in.Assertion == "" && workflow.GetInfo(ctx).ParentWorkflowExecution == nil &&
		r.version(ctx, versionScheduledDrill) == 1 {
		return r.ids.establishSchedule(ctx, strings.TrimSpace(in.Requester), in.Plan, in.Mode)
	}
	return r.ids.establishStarter(ctx, in.Requester, in.Assertion, in.Plan)
}

// startedBySchedule reports whether the run's starter is a drill schedule establishSchedule
// admitted.
func (r *runner) startedBySchedule() bool {
	return r.st.Identity != nil && r.st.Identity.StartChannel == evidence.ChannelSchedule
}

// establishSchedule accepts a drill schedule as the starter of a run: only in drill mode, only as
// the identity the worker's configuration gives its drill schedules, only for a plan its
// configuration drills on schedules, and only in a workflow the Temporal server says that plan's
// schedule started. The configuration is read through the worker, never taken from the input.
func (ids *identities) establishSchedule(ctx workflow.Context, requester, planName, mode string) (established, *IdentityRecord, error) {
	rec := ids.record()
	rec.StartChannel = evidence.ChannelSchedule
	refuse := func(msg string) (established, *IdentityRecord, error) {
		return established{}, rec, temporal.NewNonRetryableApplicationError("start refused: "+requester+" "+msg, ErrTypeIdentityRefused, nil)
	}
	var res contract.LoadDrillSchedulesResult
	if err := workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, shortStepOptions("load the drill schedules")),
		contract.LoadDrillSchedules, contract.LoadDrillSchedulesInput{}).Get(ctx, &res); err != nil {
		return established{}, rec, err
	}
	scheduledBy, _ := workflow.GetTypedSearchAttributes(ctx).GetKeyword(scheduledByKey)
	switch {
	case res.Requester == "":
		return refuse("is a schedule, and this worker's configuration schedules no drills (recovery.drills)")
	case requester != res.Requester:
		return refuse("is not this deployment's drill schedule (" + res.Requester + ")")
	case mode != ModeDrill:
		return refuse("may only start drills: a schedule never starts a recovery")
	case !slices.Contains(res.Plans, planName):
		return refuse("may not drill plan " + planName + ": it is not among recovery.drills (" + strings.Join(res.Plans, ", ") + ")")
	case scheduledBy != DrillScheduleID(planName):
		return refuse("did not start this run: the Temporal server records no start by schedule " + DrillScheduleID(planName))
	}
	return established{Person: requester, Channel: evidence.ChannelSchedule}, rec, nil
}
