package workflows

import (
	"cmp"
	"fmt"
	"strings"
	"time"

	"github.com/lifeboat-dr/lifeboat/activities/contract"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/lifeboat-dr/lifeboat/activities/plan"
	"github.com/lifeboat-dr/lifeboat/integrations/notify"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
	"github.com/lifeboat-dr/lifeboat/workflows/approval"
)

// Recovery modes.
const (
	ModeRecovery = "recovery"
	// ModeDrill runs the plan to measure it, then undoes every step that has a compensation, also
	// when the plan succeeded.
	ModeDrill = "drill"
)

// RecoveryInput starts a recovery plan from the worker's plans directory.
type RecoveryInput struct {
	Plan string `json:"plan"`
	// Mode is recovery (default), drill or rehearsal.
	Mode string `json:"mode,omitempty"`
	// Requester is who started it; they cannot approve its gates themselves. Where the worker
	// verifies identities, Assertion proves it (lifeboat token start), and Requester may be left
	// empty.
	Requester string `json:"requester"`
	Assertion string `json:"assertion,omitempty"`
	Reason    string `json:"reason,omitempty"`
	// IncidentAt is when the incident began (the primary died, the alert fired); the data-loss window
	// is measured from it. Zero means the plan's start.
	IncidentAt time.Time `json:"incident_at,omitzero"`
}

// Acknowledgement is someone saying they are on it: escalations that had begun by then stop, for one
// step (Step) or for the whole run (Step empty). Signal or Update "acknowledge".
type Acknowledgement struct {
	Identity string           `json:"identity"`
	Channel  approval.Channel `json:"channel,omitempty"`
	// Assertion proves who acknowledges, where the worker verifies identities (lifeboat token ack).
	Assertion string `json:"assertion,omitempty"`
	// Verified is set by the workflow when Assertion was verified.
	Verified bool `json:"verified,omitempty"`
	// Step is the step whose escalation stops; empty stops every escalation of the run, including
	// the one of a missed RTO.
	Step string `json:"step,omitempty"`
	Note string `json:"note,omitempty"`
	// Time is set by the workflow when it receives the acknowledgement.
	Time time.Time `json:"time"`
}

// maxRefusedRecorded bounds the refused decisions a run's record keeps.
const maxRefusedRecorded = 50

// Drill targets of a step in a drill (StepState.Drill).
const (
	DrillIsolated  = "isolated"     // ran against the drill targets its plan gives it
	DrillSkipped   = "skipped"      // left out of drills by its plan
	DrillOwn       = "plan targets" // ran against the same targets as in a recovery
	DrillRehearsed = "rehearsed"    // rehearsed in a way that cannot reach its targets (a restore drill)
)

// Step statuses, besides plan.StatusSucceeded, plan.StatusFailed and plan.StatusSkipped.
const (
	StepPending     = "pending"
	StepRunning     = "running"
	StepNotRun      = "not run" // the plan stopped before the step could run
	StepCompensated = "compensated"
)

// StepState is one step's record: what it did, when, and what it found.
type StepState struct {
	ID         string            `json:"id"`
	Type       plan.StepType     `json:"type"`
	Action     string            `json:"action,omitempty"`
	Critical   bool              `json:"critical"`
	Status     string            `json:"status"`
	StartedAt  time.Time         `json:"started_at,omitzero"`
	FinishedAt time.Time         `json:"finished_at,omitzero"`
	Duration   units.Duration    `json:"duration,omitempty"`
	Summary    string            `json:"summary,omitempty"`
	Outputs    map[string]any    `json:"outputs,omitempty"`
	Choice     string            `json:"choice,omitempty"`
	Approval   *approval.Outcome `json:"approval,omitempty"`
	Error      string            `json:"error,omitempty"`
	// Compensation is the outcome of undoing the step, when it was undone.
	Compensation string `json:"compensation,omitempty"`
	// Drill is, in a drill, which targets an action step ran against (DrillIsolated, DrillSkipped,
	// DrillOwn); DrillNote says why one ran on the plan's own targets: "read-only", or the reason
	// its drill.same_targets gives.
	Drill     string `json:"drill,omitempty"`
	DrillNote string `json:"drill_note,omitempty"`
	// Strategy is, for a strategies step, the strategy that carried it out (or the last one tried);
	// Tried is every strategy tried, in order.
	Strategy string        `json:"strategy,omitempty"`
	Tried    []StrategyRun `json:"tried,omitempty"`
	// GateOpenedAt is, for a step that waited at a gate, when the gate opened: decision latencies
	// are measured from it.
	GateOpenedAt time.Time `json:"gate_opened_at,omitzero"`
	// Simulated is, in a rehearsal, what the action step would have done; SimulatedUndo what its
	// compensation would have done.
	Simulated     *SimulatedAction `json:"simulated,omitempty"`
	SimulatedUndo *SimulatedAction `json:"simulated_undo,omitempty"`
}

// StrategyRun is one strategy a strategies step tried.
type StrategyRun struct {
	Name   string `json:"name"`
	Status string `json:"status"` // succeeded, failed, skipped (left out of drills)
	Error  string `json:"error,omitempty"`
}

// RecoveryResult is the record of a plan's run; the status query returns it while the plan runs.
type RecoveryResult struct {
	Plan       string `json:"plan"`
	PlanSHA256 string `json:"plan_sha256,omitempty"`
	Mode       string `json:"mode"`
	Requester  string `json:"requester"`
	// Identity says how the run established who took part.
	Identity *IdentityRecord `json:"identity,omitempty"`
	// Audit links the run's starts, decisions, refusals, acknowledgements and overrides to their
	// entries in the audit ledger.
	Audit []AuditRecord `json:"audit,omitempty"`
	// Refused are the decisions the run's gates refused (someone who may not decide, or whose
	// identity did not hold), the first maxRefusedRecorded of them.
	Refused    []approval.Refusal `json:"refused,omitempty"`
	Reason     string             `json:"reason,omitempty"`
	Status     string             `json:"status"` // running, succeeded, failed, canceled
	Objectives plan.Objectives    `json:"objectives"`
	Steps      []StepState        `json:"steps"`
	StartedAt  time.Time          `json:"started_at"`
	FinishedAt time.Time          `json:"finished_at,omitzero"`
	// RTO is the time from start to the end of the last step; RTOMet compares it with the objective.
	RTO    units.Duration `json:"rto,omitempty"`
	RTOMet *bool          `json:"rto_met,omitempty"`
	// IncidentAt is when the incident began: the input's, or the start. RecoveryPoint is the oldest
	// recovery point a step brought back (its "recovery_point" output: a promoted replica's last
	// transaction, a restored snapshot's time), from step RPOStep; RPO is the data-loss window from
	// it to IncidentAt, and RPOMet compares it with the objective. Unset when no step reported one.
	IncidentAt    time.Time       `json:"incident_at,omitzero"`
	RecoveryPoint time.Time       `json:"recovery_point,omitzero"`
	RPOStep       string          `json:"rpo_step,omitempty"`
	RPO           *units.Duration `json:"rpo,omitempty"`
	RPOMet        *bool           `json:"rpo_met,omitempty"`
	// Acknowledgements stopped escalations.
	Acknowledgements []Acknowledgement `json:"acknowledgements,omitempty"`
	// Alerts are the transitions of the alerts that started or joined the run, newest MaxAlertNotes.
	Alerts []AlertNote `json:"alerts,omitempty"`
	Error  string      `json:"error,omitempty"`
	// Counts are the steps per status. Omitted is how many plain successful steps of a plan of more
	// than MaxRecordedSteps steps are left out of Steps, to keep the record within Temporal's payload
	// limit.
	Counts  map[string]int `json:"counts,omitempty"`
	Omitted int            `json:"omitted,omitempty"`
	// Evidence is where a drill's signed evidence record went, or why it was not written.
	Evidence *EvidenceRef `json:"evidence,omitempty"`
}

// maxMessageWait is how long a finished run waits for its last messages before it returns.
const maxMessageWait = time.Minute

// MaxRecordedSteps is the most steps a run's record lists one by one; beyond it, steps that simply
// succeeded are counted instead.
const MaxRecordedSteps = 1000

// record is the run's record as returned and queried.
func (st *RecoveryResult) record() RecoveryResult {
	out := *st
	out.Counts = map[string]int{}
	for _, s := range st.Steps {
		out.Counts[s.Status]++
	}
	if len(st.Steps) <= MaxRecordedSteps {
		return out
	}
	out.Steps = nil
	for _, s := range st.Steps {
		if s.Status == plan.StatusSucceeded && s.Type == plan.TypeAction && s.Compensation == "" {
			out.Omitted++
			continue
		}
		out.Steps = append(out.Steps, s)
	}
	return out
}

// maxDetailRows bounds the steps table in the Web UI's current details.
const maxDetailRows = 50

// ErrTypeUnsafeDrill is the type of the non-retryable error of a drill refused because a step could
// reach the plan's production targets (plan.DrillSafety).
const ErrTypeUnsafeDrill = "UnsafeDrill"

// Recovery runs a recovery plan: its steps in dependency order, independent ones in parallel,
// each after its `when` condition holds. Approval, decision and manual steps wait at gates
// (Update or signal "decide", query "approvals"). When a critical step fails, or the plan is
// cancelled, nothing more starts and the completed steps are undone, newest first, on a
// disconnected context; in drill mode they are undone also when the plan succeeded. The run is
// recorded step by step and timed against the plan's RTO.
func Recovery(ctx workflow.Context, in RecoveryInput) (RecoveryResult, error) {
	if in.Mode == "" {
		in.Mode = ModeRecovery
	}
	st := &RecoveryResult{Plan: in.Plan, Mode: in.Mode, Requester: in.Requester, Reason: in.Reason, Status: StepRunning, StartedAt: workflow.Now(ctx),
		IncidentAt: in.IncidentAt}
	if st.IncidentAt.IsZero() {
		st.IncidentAt = st.StartedAt
	}
	if err := workflow.SetQueryHandlerWithOptions(ctx, QueryStatus, func() (RecoveryResult, error) { return st.record(), nil },
		workflow.QueryHandlerOptions{Description: recoveryStatusDescription}); err != nil {
		return *st, err
	}
	followAlerts(ctx, &st.Alerts)
	r := &runner{in: in, st: st, index: map[string]int{}, specs: map[string]*plan.Step{}}
	r.fast = workflow.GetVersion(ctx, versionFastPath, workflow.DefaultVersion, 1) == 1
	if r.version(ctx, versionVerifiedIdentities) == 1 {
		r.ids, r.audit = &identities{}, newAuditLog(&st.Audit)
	}
	if err := r.handleAcknowledgements(ctx); err != nil {
		return *st, err
	}
	gates, err := approval.New(ctx)
	if err != nil {
		return *st, err
	}
	if r.ids != nil {
		gates.Enforce(r.ids.gateAuthenticator())
	}
	r.audit.observeGates(gates, func(gate string) string { return in.Plan + "/" + gate }, func(rf approval.Refusal) {
		if len(st.Refused) < maxRefusedRecorded {
			st.Refused = append(st.Refused, rf)
		}
	})
	var problems []string
	if strings.TrimSpace(in.Plan) == "" {
		problems = append(problems, "plan: required")
	}
	if strings.TrimSpace(in.Requester) == "" && (r.ids == nil || in.Assertion == "") {
		problems = append(problems, "requester: required: say who starts the plan")
	}
	if !validMode(in.Mode) {
		problems = append(problems, fmt.Sprintf("mode: %q is none of recovery, drill and rehearsal", in.Mode))
	}
	if len(problems) > 0 {
		return *st, temporal.NewNonRetryableApplicationError("invalid recovery input: "+strings.Join(problems, "; "), ErrTypeInvalidInput, nil)
	}
	if err := setKindAndAsset(ctx, RecoveryKind(in.Mode), in.Plan); err != nil {
		return *st, err
	}

	// A fast-path run loads its plan with the identity directory, in one local activity, and
	// leaves its start out of the ledger of a worker that keeps none (the entry would come back
	// Skipped).
	var loaded contract.LoadPlanResult
	startAudit := r.audit
	planErr := ""
	if r.fast {
		var lr contract.LoadRunResult
		if err := workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, shortStepOptions("load plan "+in.Plan+" and the identity directory")),
			contract.LoadRun, contract.LoadRunInput{Plan: in.Plan, Drill: in.Mode == ModeDrill}).Get(ctx, &lr); err != nil {
			return *st, err
		}
		r.ids.set(lr.Identity)
		loaded, planErr = lr.Plan, lr.PlanError
		if !lr.Ledger {
			startAudit = nil
		}
	} else if r.ids != nil {
		if err := loadIdentities(ctx, r.ids); err != nil {
			return *st, err
		}
	}
	if r.ids != nil {
		who, rec, err := r.establishStarter(ctx)
		st.Identity = rec
		if err != nil {
			startAudit.appendNow(ctx, startRefusal(in.Requester, in.Plan, in.Mode, err))
			return st.record(), err
		}
		in.Requester, r.in.Requester, st.Requester = who.Person, who.Person, who.Person
		startAudit.append(ctx, contract.AppendAuditInput{Kind: contract.AuditKindStart, Actor: who.Person, Channel: rec.StartChannel, Verified: who.Verified,
			Subject: in.Plan, Details: map[string]string{"mode": in.Mode, "reason": in.Reason}})
	}

	switch {
	case planErr != "":
		return *st, temporal.NewNonRetryableApplicationError(planErr, contract.ErrTypePlanInvalid, nil)
	case !r.fast:
		if err := workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, shortStepOptions("load plan "+in.Plan)), contract.LoadPlan,
			contract.LoadPlanInput{Plan: in.Plan, Drill: in.Mode == ModeDrill}).Get(ctx, &loaded); err != nil {
			return *st, err
		}
	}
	p := &loaded.Plan
	st.PlanSHA256, st.Objectives = loaded.SHA256, p.Spec.Objectives
	order, err := p.Order()
	if err != nil {
		return *st, temporal.NewNonRetryableApplicationError("plan "+in.Plan+": "+err.Error(), contract.ErrTypePlanInvalid, nil)
	}
	if in.Mode == ModeDrill && r.version(ctx, "drill-safety") == 1 {
		actions := defaultActions
		if r.version(ctx, "drill-restore-rehearsal") == workflow.DefaultVersion {
			actions = withoutRehearsals(actions) // as drills were checked before restores were rehearsed
		}
		if err := plan.DrillSafety(p, actions); err != nil {
			return *st, temporal.NewNonRetryableApplicationError("plan "+in.Plan+" cannot be drilled: a drill could reach its production targets:\n"+err.Error(),
				ErrTypeUnsafeDrill, nil)
		}
	}
	r.p, r.gates = p, gates
	if err := r.mayStart(ctx); err != nil {
		startAudit.appendNow(ctx, startRefusal(in.Requester, in.Plan, in.Mode, err))
		return st.record(), err
	}
	for i := range p.Spec.Steps {
		r.specs[p.Spec.Steps[i].ID] = &p.Spec.Steps[i]
	}
	for _, id := range order {
		s := r.spec(id)
		r.index[id] = len(st.Steps)
		st.Steps = append(st.Steps, StepState{ID: id, Type: s.EffectiveType(), Action: s.Action, Critical: s.Critical(), Status: StepPending})
	}
	r.details(ctx)
	if rto := p.Spec.Objectives.RTO.D(); rto > 0 {
		r.watchRTO(ctx, rto)
	}
	title := strings.ToUpper(in.Mode[:1]) + in.Mode[1:] + " " + in.Plan
	if p.Spec.Updates != nil {
		// A plan without updates sends none: no coroutine to find that out.
		workflow.Go(ctx, func(ctx workflow.Context) {
			r.update(ctx, "recovery.started", title+" started", cmp.Or(in.Reason, p.Spec.Scenario), notify.Warning)
		})
	}
	r.keepUpdating(ctx)

	runErr := r.run(ctx)
	canceled := ctx.Err() != nil
	if runErr != nil || canceled || in.Mode == ModeDrill {
		if n := r.compensable(); n > 0 {
			workflow.Go(ctx, func(ctx workflow.Context) {
				r.update(ctx, "recovery.phase", fmt.Sprintf("%s: undoing %d steps", title, n), "Steps with a compensation are undone, newest first.", notify.Info)
			})
		}
		r.compensate(ctx)
	}
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	st.FinishedAt = workflow.Now(dctx)
	// The RTO runs to the end of the last step that ended; nothing ran, nothing took time.
	st.RTO = units.Duration(max(r.lastEnd.Sub(st.StartedAt), 0))
	if rto := p.Spec.Objectives.RTO; rto > 0 && runErr == nil && !canceled {
		met := st.RTO <= rto
		st.RTOMet = &met
	}
	if !st.RecoveryPoint.IsZero() {
		rpo := units.Duration(max(st.IncidentAt.Sub(st.RecoveryPoint), 0))
		st.RPO = &rpo
		if obj := p.Spec.Objectives.RPO; obj > 0 {
			met := rpo <= obj
			st.RPOMet = &met
		}
	}
	switch {
	case canceled:
		st.Status = "canceled"
	case runErr != nil:
		st.Status, st.Error = plan.StatusFailed, runErr.Error()
	default:
		st.Status = plan.StatusSucceeded
	}
	for _, key := range sortedEscalations(r.escalations) {
		r.endEscalation(dctx, key, "plan "+in.Plan+" "+st.Status)
	}
	r.writeDrillEvidence(dctx)
	r.details(dctx)
	r.finalReport(dctx, title)
	finish(dctx, st.Status)
	_ = workflow.Await(dctx, func() bool { return workflow.AllHandlersFinished(dctx) })
	if r.sending > 0 {
		// Messages still on their way get a little longer; a channel that is down does not hold the
		// run's result back beyond that (the messages are in the history as the activities left).
		if ok, _ := workflow.AwaitWithTimeout(dctx, maxMessageWait, func() bool { return r.sending == 0 }); !ok {
			workflow.GetLogger(ctx).Warn("run ends with messages undelivered", "messages", r.sending)
		}
	}
	r.audit.drain(dctx)
	rec := st.record()
	switch {
	case canceled:
		return rec, temporal.NewCanceledError(rec)
	case runErr != nil:
		return rec, temporal.NewNonRetryableApplicationError(fmt.Sprintf("plan %s failed: %v", in.Plan, runErr), "PlanFailed", nil, rec)
	}
	return rec, nil
}

// runner runs one plan.
type runner struct {
	in      RecoveryInput
	p       *plan.Plan
	st      *RecoveryResult
	gates   *approval.Gates
	index   map[string]int
	specs   map[string]*plan.Step
	done    []string // completed steps, in completion order, for compensation
	lastEnd time.Time
	// escalations are those that have notified someone and not ended, by dedup key.
	escalations map[string]*escalation
	// refs are what channels returned for the messages of each dedup key, by notifier: later
	// messages of the same incident update them in place.
	refs map[string]map[string]string
	// sending counts the messages on their way; the run ends after they are delivered.
	sending int
	// ids establishes who starts, decides and acknowledges; nil in runs from before identities
	// were verified.
	ids *identities
	// audit appends to the audit ledger; nil in runs from before it.
	audit *auditLog
	// paged are the people each step's escalations notified (the run's, under ""), who may
	// acknowledge them.
	paged map[string][]string
	// messages says whether the run announces gates and sends stakeholder updates and drill reports
	// (runs started before those existed do not); versioned tells whether it has been looked up.
	messages, versioned bool
	// fast is set in runs on the fast path (versionFastPath).
	fast bool
}

// versionFastPath marks runs that load their plan together with the identity directory in one
// local activity (LoadRun), leave their start out of the audit ledger of a worker that keeps none,
// and run attempts of checks that their own timeout bounds to catalog.LocalAttemptLimit as local
// activities. Such runs also have every change of the Recovery workflow released before it
// (runner.version), without a marker of its own.
const versionFastPath = "fast-path"

// version is workflow.GetVersion of a change released before versionFastPath, all of which are at
// version 1: fast-path runs have it without recording it.
func (r *runner) version(ctx workflow.Context, change string) workflow.Version {
	if r.fast {
		return 1
	}
	return workflow.GetVersion(ctx, change, workflow.DefaultVersion, 1)
}

// Names of the acknowledgement signal and update.
const (
	SignalAcknowledge = "acknowledge"
	UpdateAcknowledge = "acknowledge"
)
