package workflows

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/lifeboat-dr/lifeboat/activities"
	"github.com/lifeboat-dr/lifeboat/activities/catalog"
	"github.com/lifeboat-dr/lifeboat/integrations/notify"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
	"github.com/lifeboat-dr/lifeboat/workflows/approval"
	"github.com/lifeboat-dr/lifeboat/workflows/plan"
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
	// Mode is recovery (default) or drill.
	Mode string `json:"mode,omitempty"`
	// Requester is who started it; they cannot approve its gates themselves.
	Requester string `json:"requester"`
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
	// Step is the step whose escalation stops; empty stops every escalation of the run, including
	// the one of a missed RTO.
	Step string `json:"step,omitempty"`
	Note string `json:"note,omitempty"`
	// Time is set by the workflow when it receives the acknowledgement.
	Time time.Time `json:"time"`
}

// Drill targets of a step in a drill (StepState.Drill).
const (
	DrillIsolated = "isolated"     // ran against the drill targets its plan gives it
	DrillSkipped  = "skipped"      // left out of drills by its plan
	DrillOwn      = "plan targets" // ran against the same targets as in a recovery
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
	// DrillOwn).
	Drill string `json:"drill,omitempty"`
	// Strategy is, for a strategies step, the strategy that carried it out (or the last one tried);
	// Tried is every strategy tried, in order.
	Strategy string        `json:"strategy,omitempty"`
	Tried    []StrategyRun `json:"tried,omitempty"`
}

// StrategyRun is one strategy a strategies step tried.
type StrategyRun struct {
	Name   string `json:"name"`
	Status string `json:"status"` // succeeded, failed, skipped (left out of drills)
	Error  string `json:"error,omitempty"`
}

// RecoveryResult is the record of a plan's run; the status query returns it while the plan runs.
type RecoveryResult struct {
	Plan       string          `json:"plan"`
	PlanSHA256 string          `json:"plan_sha256,omitempty"`
	Mode       string          `json:"mode"`
	Requester  string          `json:"requester"`
	Reason     string          `json:"reason,omitempty"`
	Status     string          `json:"status"` // running, succeeded, failed, canceled
	Objectives plan.Objectives `json:"objectives"`
	Steps      []StepState     `json:"steps"`
	StartedAt  time.Time       `json:"started_at"`
	FinishedAt time.Time       `json:"finished_at,omitzero"`
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
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (RecoveryResult, error) { return st.record(), nil }); err != nil {
		return *st, err
	}
	followAlerts(ctx, &st.Alerts)
	r := &runner{in: in, st: st, index: map[string]int{}, specs: map[string]*plan.Step{}}
	if err := r.handleAcknowledgements(ctx); err != nil {
		return *st, err
	}
	gates, err := approval.New(ctx)
	if err != nil {
		return *st, err
	}
	var problems []string
	if strings.TrimSpace(in.Plan) == "" {
		problems = append(problems, "plan: required")
	}
	if strings.TrimSpace(in.Requester) == "" {
		problems = append(problems, "requester: required: say who starts the plan")
	}
	if in.Mode != ModeRecovery && in.Mode != ModeDrill {
		problems = append(problems, fmt.Sprintf("mode: %q is neither recovery nor drill", in.Mode))
	}
	if len(problems) > 0 {
		return *st, temporal.NewNonRetryableApplicationError("invalid recovery input: "+strings.Join(problems, "; "), ErrTypeInvalidInput, nil)
	}
	if err := setKindAndAsset(ctx, RecoveryKind(in.Mode), in.Plan); err != nil {
		return *st, err
	}

	var plans *activities.Plans
	var loaded activities.LoadPlanResult
	if err := workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, shortStepOptions("load plan "+in.Plan)), plans.LoadPlan,
		activities.LoadPlanInput{Plan: in.Plan}).Get(ctx, &loaded); err != nil {
		return *st, err
	}
	p := &loaded.Plan
	st.PlanSHA256, st.Objectives = loaded.SHA256, p.Spec.Objectives
	order, err := p.Order()
	if err != nil {
		return *st, temporal.NewNonRetryableApplicationError("plan "+in.Plan+": "+err.Error(), activities.ErrTypePlanInvalid, nil)
	}
	if in.Mode == ModeDrill && workflow.GetVersion(ctx, "drill-safety", workflow.DefaultVersion, 1) == 1 {
		if err := plan.DrillSafety(p, defaultActions); err != nil {
			return *st, temporal.NewNonRetryableApplicationError("plan "+in.Plan+" cannot be drilled: a drill could reach its production targets:\n"+err.Error(),
				ErrTypeUnsafeDrill, nil)
		}
	}
	r.p, r.gates = p, gates
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
	workflow.Go(ctx, func(ctx workflow.Context) {
		r.update(ctx, "recovery.started", title+" started", cmp.Or(in.Reason, p.Spec.Scenario), notify.Warning)
	})
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
	st.RTO = units.Duration(r.lastEnd.Sub(st.StartedAt))
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
	// messages says whether the run announces gates and sends stakeholder updates and drill reports
	// (runs started before those existed do not); versioned tells whether it has been looked up.
	messages, versioned bool
}

// sendsMessages reports whether the run announces gates and sends updates. It is looked up when first
// needed, so that runs that send none record no version marker.
func (r *runner) sendsMessages(ctx workflow.Context) bool {
	if !r.versioned {
		r.versioned = true
		r.messages = workflow.GetVersion(ctx, "stakeholder-messages", workflow.DefaultVersion, 1) >= 1
	}
	return r.messages
}

// escalation is one escalation under way: of a gate or a stuck step (Step its ID) or of a missed
// RTO (Step empty), notifying under DedupKey since Since.
type escalation struct {
	Step     string
	Since    time.Time
	DedupKey string
	Title    string
}

// Names of the acknowledgement signal and update.
const (
	SignalAcknowledge = "acknowledge"
	UpdateAcknowledge = "acknowledge"
)

// handleAcknowledgements takes acknowledgements by signal and by Update (which refuses one without an
// identity or for a step the plan does not have).
func (r *runner) handleAcknowledgements(ctx workflow.Context) error {
	ch := workflow.GetSignalChannel(ctx, SignalAcknowledge)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var a Acknowledgement
			if !ch.Receive(ctx, &a) {
				return
			}
			if err := r.checkAcknowledgement(a); err != nil {
				workflow.GetLogger(ctx).Warn("acknowledgement refused", "identity", a.Identity, "error", err)
				continue
			}
			r.acknowledge(ctx, a)
		}
	})
	return workflow.SetUpdateHandlerWithOptions(ctx, UpdateAcknowledge, func(ctx workflow.Context, a Acknowledgement) (Acknowledgement, error) {
		return r.acknowledge(ctx, a), nil
	}, workflow.UpdateHandlerOptions{Validator: func(a Acknowledgement) error { return r.checkAcknowledgement(a) }})
}

func (r *runner) checkAcknowledgement(a Acknowledgement) error {
	if strings.TrimSpace(a.Identity) == "" {
		return errors.New("acknowledgement: identity required: say who is on it")
	}
	if a.Step != "" && r.specs[a.Step] == nil {
		return fmt.Errorf("acknowledgement: plan %s has no step %q", r.in.Plan, a.Step)
	}
	return nil
}

// acknowledge records a, and stops the escalations it covers, telling their channels (PagerDuty
// acknowledges the incident of the same dedup key).
func (r *runner) acknowledge(ctx workflow.Context, a Acknowledgement) Acknowledgement {
	a.Identity, a.Time = strings.TrimSpace(a.Identity), workflow.Now(ctx)
	r.st.Acknowledgements = append(r.st.Acknowledgements, a)
	for _, key := range sortedEscalations(r.escalations) {
		e := r.escalations[key]
		if a.Step != "" && a.Step != e.Step {
			continue
		}
		delete(r.escalations, key)
		workflow.Go(ctx, func(ctx workflow.Context) {
			_ = r.alert(ctx, notify.Message{Event: "escalation.acknowledged", Severity: notify.Info,
				Title:    fmt.Sprintf("%s acknowledged: %s", a.Identity, e.Title),
				Text:     a.Note,
				Fields:   map[string]string{"by": a.Identity, "channel": string(a.Channel)},
				DedupKey: e.DedupKey})
		})
	}
	return a
}

// sortedEscalations returns the dedup keys of m in order, so that they are visited the same way on
// every replay.
func sortedEscalations(m map[string]*escalation) []string {
	keys := make([]string, 0, len(m))
	//workflowcheck:ignore
	for k := range m { // the keys are sorted below
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// silenced reports whether an acknowledgement covering step (empty: the run) came after since, so
// that an escalation begun at since stops.
func (r *runner) silenced(step string, since time.Time) bool {
	for _, a := range r.st.Acknowledgements {
		if (a.Step == "" || a.Step == step) && !a.Time.Before(since) {
			return true
		}
	}
	return false
}

// escalate notifies one level of an escalation unless an acknowledgement silenced it, and reports
// whether it did.
func (r *runner) escalate(ctx workflow.Context, step string, since time.Time, m notify.Message) bool {
	if r.silenced(step, since) {
		return false
	}
	if r.escalations == nil {
		r.escalations = map[string]*escalation{}
	}
	if _, ok := r.escalations[m.DedupKey]; !ok {
		r.escalations[m.DedupKey] = &escalation{Step: step, Since: since, DedupKey: m.DedupKey, Title: m.Title}
	}
	_ = r.alert(ctx, m)
	return true
}

// endEscalation resolves an escalation whose cause ended (the gate was decided, the step finished,
// the plan ended), so that channels that keep incidents open (PagerDuty) close them.
func (r *runner) endEscalation(ctx workflow.Context, dedupKey, how string) {
	e, ok := r.escalations[dedupKey]
	if !ok {
		return
	}
	delete(r.escalations, dedupKey)
	_ = r.alert(ctx, notify.Message{Event: "escalation.resolved", Severity: notify.Info,
		Title: fmt.Sprintf("%s: %s", how, e.Title), DedupKey: dedupKey})
}

// with is an action's parameters: in a drill, the step's drill targets replace those the action has.
func (r *runner) with(s *plan.Step, action string, with map[string]any) map[string]any {
	if r.in.Mode != ModeDrill || s.Drill == nil || len(s.Drill.With) == 0 {
		return with
	}
	spec := defaultActions[action]
	out := make(map[string]any, len(with)+len(s.Drill.With))
	// Copying maps: the order does not matter.
	//workflowcheck:ignore
	for k, v := range with {
		out[k] = v
	}
	//workflowcheck:ignore
	for k, v := range s.Drill.With { //workflowcheck:ignore builds a map: the order does not matter
		if _, ok := spec.Param(k); ok {
			out[k] = v
		}
	}
	return out
}

// compensationWith is a step's compensation's parameters: in a drill, drill.compensate_with set
// over them, or when there is none, the keys of drill.with that the compensation takes.
func (r *runner) compensationWith(s *plan.Step) map[string]any {
	c := s.Compensate
	if r.in.Mode != ModeDrill || s.Drill == nil || len(s.Drill.CompensateWith) == 0 {
		return r.with(s, c.Action, c.With)
	}
	return s.Drill.CompensationWith(c.With)
}

// defaultActions are the actions plans may use, for the parameters each one takes.
var defaultActions = plan.DefaultActions()

// recoveryPoint keeps the oldest recovery point a step reported: the run's RPO is measured from it.
func (r *runner) recoveryPoint(ss *StepState) {
	v, ok := ss.Outputs[activities.OutputRecoveryPoint].(string)
	if !ok {
		return
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return
	}
	if r.st.RecoveryPoint.IsZero() || t.Before(r.st.RecoveryPoint) {
		r.st.RecoveryPoint, r.st.RPOStep = t, ss.ID
	}
}

func (r *runner) step(id string) *StepState { return &r.st.Steps[r.index[id]] }

// spec is a step's definition in the plan.
func (r *runner) spec(id string) *plan.Step { return r.specs[id] }

type stepDone struct {
	ID  string
	Err error
}

// run starts every step whose needs have finished, as they finish, until none is left or a
// critical step failed; it returns that step's error after the running steps have ended.
//
// When a step fails, steps that wait for people or time are stopped, but actions already running
// are left to finish (they are bounded by their timeouts): an action stopped halfway may still have
// taken effect, and only one that is known to have finished can be undone.
func (r *runner) run(ctx workflow.Context) error {
	waitsCtx, cancelWaits := workflow.WithCancel(ctx)
	defer cancelWaits()
	// Actions run to their end even when the plan is cancelled: one stopped halfway may have taken
	// effect, and only one known to have finished can be undone.
	actionsCtx, _ := workflow.NewDisconnectedContext(ctx)
	finished := workflow.NewChannel(actionsCtx)
	// unfinished counts each step's needs that have not ended; dependents lists who waits on whom.
	// Steps become ready in a deterministic order: the plan's order, then the order they unblock.
	unfinished := make(map[string]int, len(r.st.Steps))
	dependents := map[string][]string{}
	var ready []string
	for _, ss := range r.st.Steps {
		needs := r.spec(ss.ID).Needs
		unfinished[ss.ID] = len(needs)
		for _, n := range needs {
			dependents[n] = append(dependents[n], ss.ID)
		}
		if len(needs) == 0 {
			ready = append(ready, ss.ID)
		}
	}
	ended := func(id string) {
		for _, d := range dependents[id] {
			if unfinished[d]--; unfinished[d] == 0 {
				ready = append(ready, d)
			}
		}
	}
	running := 0
	var failure error
	for {
		for len(ready) > 0 {
			id := ready[0]
			ready = ready[1:]
			ss := r.step(id)
			if failure != nil || ctx.Err() != nil {
				ss.Status = StepNotRun
				ended(id)
				continue
			}
			if run, why := r.shouldRun(id); !run {
				ss.Status, ss.Summary = plan.StatusSkipped, why
				ended(id)
				continue
			}
			ss.Status, ss.StartedAt = StepRunning, workflow.Now(ctx)
			running++
			stepCtx := waitsCtx
			switch r.spec(id).EffectiveType() {
			case plan.TypeAction, plan.TypeNotify:
				stepCtx = actionsCtx
			case plan.TypePlan:
				stepCtx = ctx // a child plan, cancelled, undoes its own steps
			}
			workflow.Go(stepCtx, func(gctx workflow.Context) {
				err := r.runStep(gctx, id)
				finished.Send(actionsCtx, stepDone{ID: id, Err: err})
			})
		}
		r.details(ctx)
		if running == 0 {
			return failure
		}
		var d stepDone
		finished.Receive(actionsCtx, &d)
		running--
		ss := r.step(d.ID)
		ss.FinishedAt = workflow.Now(ctx)
		ss.Duration = units.Duration(ss.FinishedAt.Sub(ss.StartedAt))
		r.lastEnd = ss.FinishedAt
		ended(d.ID)
		if d.Err == nil {
			ss.Status = plan.StatusSucceeded
			r.done = append(r.done, d.ID)
			r.recoveryPoint(ss)
			continue
		}
		ss.Status, ss.Error = plan.StatusFailed, errMessage(d.Err)
		if temporal.IsCanceledError(d.Err) && (failure != nil || ctx.Err() != nil) {
			ss.Status, ss.Error = StepNotRun, "stopped: the plan was stopped"
			continue
		}
		if ss.Critical && failure == nil {
			failure = fmt.Errorf("step %s failed: %s", d.ID, ss.Error)
			cancelWaits() // gates and waits stop; running actions finish, then compensation follows
		}
	}
}

// shouldRun decides whether a step whose needs have ended runs. A step with a condition runs when
// the condition holds. Without one, a step after a skipped step is skipped too — a branch not taken
// stays not taken — while an optional step that failed does not hold back the steps after it.
func (r *runner) shouldRun(id string) (bool, string) {
	s := r.spec(id)
	if r.in.Mode == ModeDrill && s.Drill != nil && s.Drill.Skip {
		r.step(id).Drill = DrillSkipped
		why := "left out of drills"
		if s.Drill.Reason != "" {
			why += ": " + s.Drill.Reason
		}
		return false, why
	}
	expr, err := s.Condition()
	if err != nil {
		return false, "condition: " + err.Error()
	}
	if expr == nil {
		for _, n := range s.Needs {
			if st := r.step(n).Status; st == plan.StatusSkipped || st == StepNotRun {
				return false, "needs " + n + ", which was skipped"
			}
		}
		return true, ""
	}
	ok, err := expr.Eval(func(ref plan.Ref) (plan.Value, bool) {
		ss := r.step(ref.Step)
		switch ref.Field {
		case plan.FieldStatus:
			return plan.StringValue(ss.Status), ss.Status != StepPending && ss.Status != StepRunning
		case plan.FieldChoice:
			return plan.StringValue(ss.Choice), ss.Choice != ""
		case plan.FieldOutputs:
			v, found := ss.Outputs[ref.Key]
			if !found {
				return plan.Value{}, false
			}
			val, err := plan.ValueOf(v)
			return val, err == nil
		}
		return plan.Value{}, false
	})
	switch {
	case err != nil:
		return false, "condition " + s.When + ": " + err.Error()
	case !ok:
		return false, "condition " + s.When + " is false"
	}
	return true, ""
}

// runStep carries one step out.
func (r *runner) runStep(ctx workflow.Context, id string) error {
	return r.runSpec(ctx, id, r.spec(id), r.step(id))
}

// runStrategies tries a strategies step's strategies in order until one succeeds; in a drill, those
// left out of drills are passed over. The step fails when the last one does.
func (r *runner) runStrategies(ctx workflow.Context, id string, s *plan.Step, ss *StepState) error {
	var failed []string
	for i, st := range s.Strategies {
		sub := s.StrategyStep(i)
		ss.Strategy = st.Name
		if r.in.Mode == ModeDrill && sub.Drill != nil && sub.Drill.Skip {
			ss.Tried = append(ss.Tried, StrategyRun{Name: st.Name, Status: plan.StatusSkipped, Error: "left out of drills: " + sub.Drill.Reason})
			continue
		}
		// A manual procedure is decided at the step's own gate; actions and child plans run under
		// the strategy's name.
		runID := sub.ID
		if sub.EffectiveType() == plan.TypeManual {
			runID = id
		}
		r.details(ctx)
		sctx := ctx
		if sub.EffectiveType() == plan.TypeAction {
			// An action runs to its end even when the plan stops (see run); a manual procedure stops.
			sctx, _ = workflow.NewDisconnectedContext(ctx)
		}
		err := r.runSpec(sctx, runID, &sub, ss)
		if err == nil {
			ss.Tried = append(ss.Tried, StrategyRun{Name: st.Name, Status: plan.StatusSucceeded})
			ss.Summary = "strategy " + st.Name + ": " + ss.Summary
			if len(failed) > 0 {
				ss.Summary += " (after " + strings.Join(failed, "; ") + ")"
			}
			return nil
		}
		ss.Tried = append(ss.Tried, StrategyRun{Name: st.Name, Status: plan.StatusFailed, Error: errMessage(err)})
		failed = append(failed, st.Name+" failed: "+errMessage(err))
		if ctx.Err() != nil {
			return err
		}
		if i < len(s.Strategies)-1 {
			workflow.GetLogger(ctx).Warn("strategy failed; trying the next", "step", id, "strategy", st.Name, "next", s.Strategies[i+1].Name, "error", err)
		}
	}
	if len(failed) == 0 {
		return errors.New("every strategy is left out of drills")
	}
	return fmt.Errorf("every strategy failed: %s", strings.Join(failed, "; "))
}

// runSpec carries out step s, whose record is ss, under the name id.
func (r *runner) runSpec(ctx workflow.Context, id string, s *plan.Step, ss *StepState) error {
	title := s.Description
	if title == "" {
		title = id
	}
	switch s.EffectiveType() {
	case plan.TypeAction:
		var res activities.ActionResult
		var err error
		if r.in.Mode == ModeDrill {
			ss.Drill = DrillOwn
			if s.Drill != nil && len(s.Drill.With) > 0 {
				ss.Drill = DrillIsolated
			}
		}
		switch s.Action {
		case catalog.RestoreAsset.Name():
			res, err = r.restoreAsset(ctx, id, r.with(s, s.Action, s.With))
		case catalog.Notify.Name():
			res, err = r.notifyAction(ctx, id, s.With)
		default:
			stop := r.watchStuck(ctx, s, id)
			res, err = r.action(ctx, id, s.Action, r.with(s, s.Action, s.With), s.Timeout.D(), s.Retry)
			stop()
		}
		ss.Outputs, ss.Summary = res.Outputs, res.Summary
		return err
	case plan.TypeWait:
		return workflow.NewTimerWithOptions(ctx, s.Wait.Duration.D(), workflow.TimerOptions{Summary: "step " + id + ": wait"}).Get(ctx, nil)
	case plan.TypeNotify:
		var n *activities.Notifications
		m := notify.Message{Event: "plan.notice", Severity: notify.Info, Title: r.p.Metadata.Name + ": " + s.Notify.Message, Text: s.Notify.Message,
			Fields: map[string]string{"to": strings.Join(r.people(s.Notify.To), ", "), "step": id}, Time: workflow.Now(ctx), DedupKey: workflow.GetInfo(ctx).WorkflowExecution.ID + "/" + id}
		return workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, notifyOptions("step "+id)), n.Notify, activities.NotifyInput{Message: m}).Get(ctx, nil)
	case plan.TypeApproval:
		a := s.Approval
		expiry := approval.ExpireAbort
		if a.OnExpiry == plan.ExpiryEscalate {
			expiry = approval.ExpireEscalate
		}
		req := approval.Request{Gate: id, Title: title, Requester: r.in.Requester, Approvers: r.people(a.Approvers), Quorum: a.Quorum,
			Timeout: a.Timeout.D()}
		if req.Timeout > 0 {
			req.OnExpiry = expiry
		}
		return r.gate(ctx, ss, r.escalating(s, req))
	case plan.TypeDecision:
		d := s.Decision
		req := approval.Request{Gate: id, Title: d.Question, Requester: r.asker(), Approvers: r.people(d.Deciders), Options: d.Options,
			Timeout: d.Timeout.D()}
		if req.Timeout > 0 {
			req.OnExpiry = approval.ExpireAbort
			if d.Default != "" {
				req.OnExpiry, req.DefaultChoice = approval.ExpireProceed, d.Default
			}
		}
		return r.gate(ctx, ss, r.escalating(s, req))
	case plan.TypeManual:
		m := s.Manual
		req := approval.Request{Gate: id, Title: m.Instructions, Requester: r.asker(), Approvers: r.people(m.Assignees), Timeout: m.Timeout.D()}
		if req.Timeout > 0 {
			req.OnExpiry = approval.ExpireAbort
		}
		return r.gate(ctx, ss, r.escalating(s, req))
	case plan.TypeStrategies:
		return r.runStrategies(ctx, id, s, ss)
	case plan.TypePlan:
		child := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
			WorkflowID:    workflow.GetInfo(ctx).WorkflowExecution.ID + "." + id,
			StaticSummary: "Step " + id + " of " + r.p.Metadata.Name + ": plan " + s.Plan.Name,
		})
		var res RecoveryResult
		err := workflow.ExecuteChildWorkflow(child, RecoveryWorkflow, RecoveryInput{Plan: s.Plan.Name, Mode: r.in.Mode, Requester: r.in.Requester, Reason: r.in.Reason}).Get(ctx, &res)
		ss.Summary = fmt.Sprintf("plan %s %s in %s", s.Plan.Name, res.Status, res.RTO.Human())
		return err
	}
	return fmt.Errorf("step %s: unknown type %q", id, s.EffectiveType())
}

// asker is the requester of decision and manual gates: the plan asks, so whoever started it may
// answer. Approvals are asked by the person who started the plan, who cannot approve them.
func (r *runner) asker() string { return "plan " + r.p.Metadata.Name }

// restoreAsset runs the restore.asset action as a child Restore workflow, so that the restore has
// its own record, progress and — when it is in place — its own approval gate.
func (r *runner) restoreAsset(ctx workflow.Context, id string, with map[string]any) (activities.ActionResult, error) {
	p, err := catalog.RestoreAsset.Decode(with)
	if err != nil {
		return activities.ActionResult{}, temporal.NewNonRetryableApplicationError("step "+id+": "+err.Error(), activities.ErrTypeActionRefused, err)
	}
	in := RestoreInput{Asset: p.Asset, Snapshot: p.Snapshot, TargetDir: p.TargetDir, Database: p.Database,
		InPlace: p.InPlace, Requester: r.in.Requester}
	child := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:    workflow.GetInfo(ctx).WorkflowExecution.ID + "." + id,
		StaticSummary: "Step " + id + " of " + r.p.Metadata.Name + ": restore " + in.Asset,
	})
	var res RestoreResult
	err = workflow.ExecuteChildWorkflow(child, RestoreWorkflow, in).Get(ctx, &res)
	out := activities.ActionResult{Outputs: map[string]any{}}
	if res.Snapshot != nil {
		out.Outputs["snapshot"] = res.Snapshot.ID
		out.Outputs[activities.OutputRecoveryPoint] = res.Snapshot.Time.UTC().Format(time.RFC3339Nano)
	}
	if res.Restored != nil {
		out.Outputs["target_dir"], out.Outputs["database"] = res.Restored.TargetDir, res.Restored.Database
		out.Summary = fmt.Sprintf("restored %s from snapshot %s", in.Asset, shortID(res.Restored.Snapshot.ID))
	}
	return out, err
}

// notifyAction sends the notify action's message through the worker's routes.
func (r *runner) notifyAction(ctx workflow.Context, id string, with map[string]any) (activities.ActionResult, error) {
	p, err := catalog.Notify.Decode(with)
	if err != nil {
		return activities.ActionResult{}, temporal.NewNonRetryableApplicationError("step "+id+": "+err.Error(), activities.ErrTypeActionRefused, err)
	}
	msg := p.Message
	var routes []string
	if p.Route != "" {
		routes = []string{p.Route}
	}
	var n *activities.Notifications
	var res activities.NotifyResult
	m := notify.Message{Event: "plan.notice", Severity: notify.Info, Title: r.p.Metadata.Name + ": " + msg, Text: msg,
		Time: workflow.Now(ctx), DedupKey: workflow.GetInfo(ctx).WorkflowExecution.ID + "/" + id, Fields: map[string]string{"step": id}}
	err = workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, notifyOptions("step "+id)), n.Notify, activities.NotifyInput{Routes: routes, Message: m}).Get(ctx, &res)
	delivered := 0
	for _, d := range res.Deliveries {
		if d.OK() {
			delivered++
		}
	}
	return activities.ActionResult{Outputs: map[string]any{"delivered": delivered > 0}, Summary: fmt.Sprintf("delivered to %d channels", delivered)}, err
}

// gate waits at an approval, decision or manual gate; anything but approval fails the step.
func (r *runner) gate(ctx workflow.Context, ss *StepState, req approval.Request) error {
	eligible := 0
	for _, a := range req.Approvers {
		if a != req.Requester {
			eligible++
		}
	}
	if len(req.Approvers) > 0 && req.Quorum > eligible {
		// Fewer people than the quorum are left once the requester is out: all of them must approve.
		req.Quorum = max(eligible, 1)
	}
	if len(req.Approvers) > 0 && eligible == 0 {
		ss.Summary = req.Requester + " started the plan and is its only approver: nobody else can approve"
		return errors.New(ss.Summary)
	}
	r.details(ctx)
	info := workflow.GetInfo(ctx).WorkflowExecution
	ask := notify.Message{Event: "approval.requested", Severity: notify.Warning, DedupKey: gateDedupKey(ctx, ss.ID),
		Title: fmt.Sprintf("%s: step %s needs a decision: %s", r.p.Metadata.Name, ss.ID, req.Title),
		Text: fmt.Sprintf("Decide with `lifeboat approve %s --gate %s` (or reject, or decide --choice), or `temporal workflow update execute --workflow-id %s --name %s --input '{\"gate\":\"%s\",\"approve\":true,\"identity\":\"<you>\"}'`.",
			info.ID, ss.ID, info.ID, approval.UpdateDecide, ss.ID),
		Fields:   map[string]string{"requested by": req.Requester, "approvers": strings.Join(req.Approvers, ", "), "quorum": fmt.Sprint(max(req.Quorum, 1))},
		Approval: &notify.ApprovalRef{WorkflowID: info.ID, RunID: info.RunID, Gate: ss.ID, Options: req.Options, Approvers: req.Approvers}}
	if req.Timeout > 0 {
		ask.Fields["expires in"] = units.Duration(req.Timeout).Human()
	}
	// Sent once the gate is open (Await opens it before it blocks), so a quick answer is taken. The
	// decision's message waits for it, to update the message the request posted.
	announce := r.sendsMessages(ctx)
	asked := !announce
	if announce {
		workflow.Go(ctx, func(ctx workflow.Context) {
			_ = r.alert(ctx, ask)
			asked = true
		})
	}
	outcome, err := r.gates.Await(ctx, req)
	ss.Approval, ss.Choice = &outcome, outcome.Choice
	r.endEscalation(ctx, gateDedupKey(ctx, ss.ID), "step "+ss.ID+" decided")
	decided := notify.Message{Event: "approval.decided", Severity: notify.Info, DedupKey: gateDedupKey(ctx, ss.ID),
		Title: fmt.Sprintf("%s: step %s %s", r.p.Metadata.Name, ss.ID, gateVerdict(outcome))}
	if announce {
		workflow.Go(ctx, func(ctx workflow.Context) {
			dctx, _ := workflow.NewDisconnectedContext(ctx)
			_ = workflow.Await(dctx, func() bool { return asked })
			_ = r.alert(dctx, decided)
		})
	}
	if err != nil {
		return err
	}
	switch {
	case outcome.Approved && outcome.Choice != "":
		ss.Summary = "chose " + outcome.Choice
	case outcome.Approved:
		ss.Summary = fmt.Sprintf("approved by %s", strings.Join(approvers(outcome), ", "))
	case outcome.RejectedBy != nil:
		ss.Summary = fmt.Sprintf("rejected by %s: %s", outcome.RejectedBy.Identity, outcome.RejectedBy.Reason)
		return errors.New(ss.Summary)
	default:
		ss.Summary = "nobody decided in time"
		return errors.New(ss.Summary)
	}
	return nil
}

// gateVerdict says in a few words how a gate closed.
func gateVerdict(o approval.Outcome) string {
	switch {
	case o.Canceled:
		return "stopped while waiting"
	case o.Approved && o.Choice != "":
		return "decided: " + o.Choice
	case o.Approved:
		return "approved by " + strings.Join(approvers(o), ", ")
	case o.RejectedBy != nil:
		return "rejected by " + o.RejectedBy.Identity + ": " + o.RejectedBy.Reason
	}
	return "expired: nobody decided in time"
}

func approvers(o approval.Outcome) []string {
	var out []string
	for _, d := range o.Decisions {
		if d.Approve {
			out = append(out, d.Identity)
		}
	}
	return out
}

// people resolves people, groups and roles to person IDs, the identities gates accept.
func (r *runner) people(refs []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, ref := range refs {
		for _, p := range r.p.Resolve(ref) {
			if !seen[p.ID] {
				seen[p.ID] = true
				out = append(out, p.ID)
			}
		}
	}
	return out
}

// action runs a plan action: short ones as local activities, the others as activities that
// heartbeat while they wait on the outside world.
func (r *runner) action(ctx workflow.Context, id, name string, with map[string]any, timeout time.Duration, retry *plan.Retry) (activities.ActionResult, error) {
	var acts *activities.Actions
	in := activities.ActionInput{Action: name, Params: with, Step: id}
	spec := defaultActions[name]
	policy := &temporal.RetryPolicy{InitialInterval: max(spec.Retry.Backoff, time.Second), BackoffCoefficient: 2, MaximumInterval: time.Minute,
		MaximumAttempts: int32(max(spec.Retry.Attempts, 1)), NonRetryableErrorTypes: []string{activities.ErrTypeActionRefused}}
	if retry != nil {
		policy.MaximumAttempts = int32(max(retry.Attempts, 1))
		if retry.Backoff > 0 {
			policy.InitialInterval = retry.Backoff.D()
			policy.MaximumInterval = max(policy.MaximumInterval, policy.InitialInterval)
		}
	}
	summary := fmt.Sprintf("step %s: %s", id, name)
	var res activities.ActionResult
	var err error
	if timeout == 0 {
		timeout = spec.Timeout
	}
	if spec.Class == catalog.Local {
		opts := workflow.LocalActivityOptions{StartToCloseTimeout: timeout, RetryPolicy: policy, Summary: summary}
		err = workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, opts), acts.RunAction, in).Get(ctx, &res)
	} else {
		opts := workflow.ActivityOptions{StartToCloseTimeout: timeout, HeartbeatTimeout: 30 * time.Second, RetryPolicy: policy, Summary: summary}
		err = workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), acts.RunAction, in).Get(ctx, &res)
	}
	return res, err
}

// compensate undoes the completed steps that have a compensation, newest first, on a
// disconnected context so that a cancelled plan still cleans up.
func (r *runner) compensate(ctx workflow.Context) {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	for i := len(r.done) - 1; i >= 0; i-- {
		id := r.done[i]
		s, ss := r.spec(id), r.step(id)
		if s.EffectiveType() == plan.TypeStrategies {
			// The strategy that carried the step out is the one to undo.
			j := slices.IndexFunc(s.Strategies, func(st plan.Strategy) bool { return st.Name == ss.Strategy })
			if j < 0 {
				continue
			}
			sub := s.StrategyStep(j)
			s = &sub
		}
		c := s.Compensate
		if c == nil {
			continue
		}
		res, err := r.action(dctx, id+".compensate", c.Action, r.compensationWith(s), c.Timeout.D(), nil)
		if err != nil {
			ss.Compensation = "failed: " + errMessage(err)
			workflow.GetLogger(ctx).Error("compensation failed", "step", id, "action", c.Action, "error", err)
			continue
		}
		ss.Status, ss.Compensation = StepCompensated, c.Action+": "+res.Summary
		r.details(dctx)
	}
}

// watchRTO alerts when the plan is still running as its RTO passes, then escalates through the
// plan's escalation policy until the plan ends or someone acknowledges the run.
func (r *runner) watchRTO(ctx workflow.Context, rto time.Duration) {
	workflow.Go(ctx, func(ctx workflow.Context) {
		if err := workflow.NewTimerWithOptions(ctx, rto, workflow.TimerOptions{Summary: "RTO " + units.Duration(rto).Human()}).Get(ctx, nil); err != nil {
			return
		}
		if r.st.Status != StepRunning {
			return
		}
		missed := workflow.Now(ctx)
		m := notify.Message{Event: "plan.rto_missed", Severity: notify.Critical, Plan: r.p.Metadata.Name,
			Title:    fmt.Sprintf("%s has run past its RTO of %s", r.p.Metadata.Name, units.Duration(rto).Human()),
			Text:     "Steps still running: " + strings.Join(r.running(), ", "),
			DedupKey: workflow.GetInfo(ctx).WorkflowExecution.ID + "/rto"}
		if !r.escalate(ctx, "", missed, m) {
			return
		}
		esc := r.p.Spec.Escalation
		if esc == nil || len(esc.Levels) == 0 {
			return
		}
		r.escalateByLevels(ctx, esc, "", missed, "RTO missed", func() bool { return r.st.Status == StepRunning }, func(ctx workflow.Context) notify.Message {
			m.Title = fmt.Sprintf("%s has run %s past its RTO of %s", r.p.Metadata.Name, units.Duration(workflow.Now(ctx).Sub(missed)).Human(), units.Duration(rto).Human())
			m.Text = "Steps still running: " + strings.Join(r.running(), ", ")
			return m
		})
	})
}

// escalateByLevels notifies the levels of esc one after another, each when its time has come since
// since, until the wait is cancelled, still turns false, or an acknowledgement of step (empty: the
// run) silences it. message is the notice, to which each level adds its number and people.
func (r *runner) escalateByLevels(ctx workflow.Context, esc *plan.Escalation, step string, since time.Time, what string, still func() bool, message func(workflow.Context) notify.Message) {
	for i, at := range escalationOffsets(esc) {
		if err := workflow.NewTimerWithOptions(ctx, max(since.Add(at).Sub(workflow.Now(ctx)), time.Millisecond),
			workflow.TimerOptions{Summary: fmt.Sprintf("%s: escalation level %d", what, i+1)}).Get(ctx, nil); err != nil || !still() {
			return
		}
		level := esc.Levels[i%len(esc.Levels)]
		m := message(ctx)
		m.Level, m.Fields = i+1, map[string]string{"to": strings.Join(r.people(level.Notify), ", "), "level": fmt.Sprint(i + 1)}
		if !r.escalate(ctx, step, since, m) {
			return
		}
	}
}

func (r *runner) running() []string {
	var out []string
	for _, s := range r.st.Steps {
		if s.Status == StepRunning {
			out = append(out, s.ID)
		}
	}
	return out
}

// policy is the escalation policy of a step: its own, or the plan's.
func (r *runner) policy(s *plan.Step) *plan.Escalation {
	if s.Escalation != nil && len(s.Escalation.Levels) > 0 {
		return s.Escalation
	}
	if e := r.p.Spec.Escalation; e != nil && len(e.Levels) > 0 {
		return e
	}
	return nil
}

// escalationOffsets are the times, from the start of a wait, at which a policy's levels fire: level i
// of round k at k × (the last level's after) + after_i, for 1 + repeat rounds.
func escalationOffsets(esc *plan.Escalation) []time.Duration {
	period := esc.Levels[len(esc.Levels)-1].After.D()
	var out []time.Duration
	for k := 0; k <= esc.Repeat && len(out) < approval.MaxReminders; k++ {
		for _, l := range esc.Levels {
			if len(out) == approval.MaxReminders {
				break
			}
			out = append(out, time.Duration(k)*period+l.After.D())
		}
	}
	return out
}

// escalating gives a gate the step's escalation policy: reminders at the policy's levels, each to
// that level's people, stopping as soon as the gate is decided.
func (r *runner) escalating(s *plan.Step, req approval.Request) approval.Request {
	esc := r.policy(s)
	if esc == nil {
		return req
	}
	prev := time.Duration(0)
	for _, at := range escalationOffsets(esc) {
		req.RemindEvery = append(req.RemindEvery, max(at-prev, time.Second))
		prev = at
	}
	req.Remind = func(ctx workflow.Context, rem approval.Reminder) { r.remind(ctx, s.ID, req.Title, esc, rem) }
	return req
}

// remind tells a level of the escalation policy that a gate still waits.
func (r *runner) remind(ctx workflow.Context, id, title string, esc *plan.Escalation, rem approval.Reminder) {
	level := esc.Levels[(rem.Level-1)%len(esc.Levels)]
	if rem.Escalation {
		level = esc.Levels[len(esc.Levels)-1]
	}
	to := r.people(level.Notify)
	r.escalate(ctx, id, rem.Gate.OpenedAt, notify.Message{Event: "approval.escalated", Severity: notify.Critical, Level: rem.Level, Plan: r.p.Metadata.Name,
		Title:    fmt.Sprintf("%s: step %s still waits for a decision (%s)", r.p.Metadata.Name, id, title),
		Text:     fmt.Sprintf("Waiting %s; approvals so far: %s.", units.Duration(rem.Waited).Human(), strings.Join(rem.Gate.ApprovedBy, ", ")),
		Fields:   map[string]string{"to": strings.Join(to, ", "), "level": fmt.Sprint(rem.Level)},
		DedupKey: gateDedupKey(ctx, id)})
}

func gateDedupKey(ctx workflow.Context, id string) string {
	return workflow.GetInfo(ctx).WorkflowExecution.ID + "/" + id
}

// watchStuck escalates while an action step runs past its policy's levels; stop ends the watch.
func (r *runner) watchStuck(ctx workflow.Context, s *plan.Step, id string) (stop func()) {
	esc := r.policy(s)
	if esc == nil {
		return func() {}
	}
	wctx, cancel := workflow.WithCancel(ctx)
	started := workflow.Now(ctx)
	dedup := workflow.GetInfo(ctx).WorkflowExecution.ID + "/" + id + "/stuck"
	workflow.Go(wctx, func(ctx workflow.Context) {
		r.escalateByLevels(ctx, esc, id, started, "step "+id, func() bool { return true }, func(ctx workflow.Context) notify.Message {
			return notify.Message{Event: "step.stuck", Severity: notify.Critical, Plan: r.p.Metadata.Name,
				Title:    fmt.Sprintf("%s: step %s has run for %s", r.p.Metadata.Name, id, units.Duration(workflow.Now(ctx).Sub(started)).Human()),
				Text:     "The step's action has not finished; check what it waits on.",
				DedupKey: dedup}
		})
	})
	return func() {
		cancel()
		r.endEscalation(ctx, dedup, "step "+id+" ended")
	}
}

func (r *runner) alert(ctx workflow.Context, m notify.Message) error {
	var n *activities.Notifications
	m.Time = workflow.Now(ctx)
	if m.Plan == "" && r.p != nil {
		m.Plan = r.p.Metadata.Name
	}
	if refs := r.refs[m.DedupKey]; len(refs) > 0 && m.DedupKey != "" {
		m.Refs = maps.Clone(refs)
	}
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	var res activities.NotifyResult
	r.sending++
	defer func() { r.sending-- }()
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(dctx, notifyOptions(m.Title)), n.Notify, activities.NotifyInput{Message: m}).Get(dctx, &res)
	for _, d := range res.Deliveries {
		if d.Ref == "" || m.DedupKey == "" {
			continue
		}
		if r.refs == nil {
			r.refs = map[string]map[string]string{}
		}
		if r.refs[m.DedupKey] == nil {
			r.refs[m.DedupKey] = map[string]string{}
		}
		if _, known := r.refs[m.DedupKey][d.Notifier]; !known {
			r.refs[m.DedupKey][d.Notifier] = d.Ref
		}
	}
	return err
}

// compensable counts the completed steps that have a compensation.
func (r *runner) compensable() int {
	n := 0
	for _, id := range r.done {
		if r.spec(id).Compensate != nil {
			n++
		}
	}
	return n
}

// finalReport tells how the run ended: the stakeholders of a recovery (spec.updates), and for a
// drill the drill report, which always goes out.
func (r *runner) finalReport(ctx workflow.Context, title string) {
	if r.in.Mode != ModeDrill && r.p.Spec.Updates == nil || !r.sendsMessages(ctx) {
		return
	}
	st := r.st
	sev := notify.Info
	if st.Status != plan.StatusSucceeded || (st.RTOMet != nil && !*st.RTOMet) || (st.RPOMet != nil && !*st.RPOMet) {
		sev = notify.Warning
	}
	text := "RTO " + st.RTO.Human()
	if st.RTOMet != nil {
		text += map[bool]string{true: " (objective met)", false: " (objective MISSED)"}[*st.RTOMet]
	}
	if st.RPO != nil {
		text += ", RPO " + st.RPO.Human()
		if st.RPOMet != nil {
			text += map[bool]string{true: " (objective met)", false: " (objective MISSED)"}[*st.RPOMet]
		}
	}
	if st.Error != "" {
		text += ". " + st.Error
	}
	text += fmt.Sprintf(". The full review: lifeboat report %s", workflow.GetInfo(ctx).WorkflowExecution.ID)
	if r.in.Mode != ModeDrill {
		r.update(ctx, "recovery."+map[bool]string{true: "completed", false: "failed"}[st.Status == plan.StatusSucceeded], title+" "+st.Status, text, sev)
		return
	}
	var to []string
	if u := r.p.Spec.Updates; u != nil {
		to = u.To
	}
	r.inform(ctx, to, "drill.report", title+" "+st.Status, text, sev)
}

// update tells the plan's stakeholders (spec.updates) how the run goes; plans without updates send
// none.
func (r *runner) update(ctx workflow.Context, event, title, text string, sev notify.Severity) {
	if u := r.p.Spec.Updates; u != nil {
		r.inform(ctx, u.To, event, title, text, sev)
	}
}

// inform tells people (to: people, groups or roles, named in the message) how the run goes, with
// its progress and objectives as fields.
func (r *runner) inform(ctx workflow.Context, to []string, event, title, text string, sev notify.Severity) {
	if !r.sendsMessages(ctx) {
		return
	}
	st := r.st
	fields := map[string]string{"to": strings.Join(r.people(to), ", "), "mode": st.Mode, "requested by": st.Requester}
	if st.RTO > 0 || st.Status != StepRunning {
		fields["RTO"] = st.RTO.Human()
	} else {
		fields["elapsed"] = units.Duration(workflow.Now(ctx).Sub(st.StartedAt)).Human()
	}
	if rto := st.Objectives.RTO; rto > 0 {
		fields["RTO objective"] = rto.Human()
	}
	if st.RPO != nil {
		fields["RPO"] = st.RPO.Human()
	}
	counts := map[string]int{}
	for _, s := range st.Steps {
		counts[s.Status]++
	}
	fields["steps"] = fmt.Sprintf("%d of %d done, %d running", counts[plan.StatusSucceeded]+counts[plan.StatusSkipped]+counts[StepCompensated], len(st.Steps), counts[StepRunning])
	_ = r.alert(ctx, notify.Message{Event: event, Severity: sev, Title: title, Text: text, Fields: fields,
		DedupKey: workflow.GetInfo(ctx).WorkflowExecution.ID})
}

// keepUpdating sends a progress update every spec.updates.every while the plan runs.
func (r *runner) keepUpdating(ctx workflow.Context) {
	u := r.p.Spec.Updates
	if u == nil || u.Every <= 0 {
		return
	}
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			if err := workflow.NewTimerWithOptions(ctx, u.Every.D(), workflow.TimerOptions{Summary: "stakeholder update"}).Get(ctx, nil); err != nil || r.st.Status != StepRunning {
				return
			}
			running := r.running()
			r.update(ctx, "recovery.progress", fmt.Sprintf("%s %s: still running after %s", strings.ToUpper(r.st.Mode[:1])+r.st.Mode[1:], r.p.Metadata.Name,
				units.Duration(workflow.Now(ctx).Sub(r.st.StartedAt)).Human()), "Running: "+cmp.Or(strings.Join(running, ", "), "nothing (waiting)"), notify.Info)
		}
	})
}

// details shows the plan's progress in the Web UI: a table of steps.
func (r *runner) details(ctx workflow.Context) {
	var b strings.Builder
	st := r.st
	b.WriteString(fmt.Sprintf("**%s %s** (%s, started by %s): %s", strings.ToUpper(st.Mode[:1])+st.Mode[1:], st.Plan, r.p.Spec.Scenario, st.Requester, st.Status))
	if rto := st.Objectives.RTO; rto > 0 {
		b.WriteString(", RTO objective " + rto.Human())
		if st.RTO > 0 {
			b.WriteString(", achieved " + st.RTO.Human())
		}
	}
	b.WriteString("\n\n")
	// A big plan shows its counts and the steps that need attention, not thousands of rows.
	shown := st.Steps
	if len(shown) > maxDetailRows {
		counts := map[string]int{}
		shown = nil
		for _, s := range st.Steps {
			counts[s.Status]++
			if s.Status == StepRunning || s.Status == plan.StatusFailed {
				shown = append(shown, s)
			}
		}
		for _, k := range []string{StepPending, StepRunning, plan.StatusSucceeded, plan.StatusFailed, plan.StatusSkipped, StepNotRun, StepCompensated} {
			if counts[k] > 0 {
				b.WriteString(fmt.Sprintf("%d %s · ", counts[k], k))
			}
		}
		b.WriteString(fmt.Sprintf("%d steps\n\n", len(st.Steps)))
		shown = shown[:min(len(shown), maxDetailRows)]
	}
	b.WriteString("| step | type | status | took | result |\n|---|---|---|---|---|\n")
	for _, s := range shown {
		result := s.Summary
		if s.Error != "" {
			result = s.Error
		}
		if s.Compensation != "" {
			result += " — undone: " + s.Compensation
		}
		took := ""
		if s.Duration > 0 {
			took = s.Duration.Human()
		}
		b.WriteString(fmt.Sprintf("| %s | %s | %s | %s | %s |\n", mdCell(s.ID), s.Type, s.Status, took, mdCell(result)))
	}
	workflow.SetCurrentDetails(ctx, b.String())
}
