package workflows

import (
	"cmp"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lifeboat-dr/lifeboat/activities/contract"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/lifeboat-dr/lifeboat/activities/catalog"
	"github.com/lifeboat-dr/lifeboat/activities/plan"
	"github.com/lifeboat-dr/lifeboat/integrations/notify"
	"github.com/lifeboat-dr/lifeboat/workflows/approval"
)

// params is the step's action's parameters: in a drill, with its drill targets (plan.Step.DrillWith).
func (r *runner) params(s *plan.Step) map[string]any {
	if r.in.Mode != ModeDrill {
		return s.With
	}
	return s.DrillWith(defaultActions[s.Action])
}

// compensationParams is the step's compensation's parameters: in a drill, with its drill targets
// (plan.Step.DrillCompensationWith).
func (r *runner) compensationParams(s *plan.Step) map[string]any {
	if r.in.Mode != ModeDrill {
		return s.Compensate.With
	}
	return s.DrillCompensationWith(defaultActions[s.Compensate.Action])
}

// defaultActions are the actions plans may use, for the parameters each one takes.
var defaultActions = plan.DefaultActions()

// recoveryPoint keeps the oldest recovery point a step reported: the run's RPO is measured from it.
func (r *runner) recoveryPoint(ss *StepState) {
	v, ok := ss.Outputs[contract.OutputRecoveryPoint].(string)
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
		if r.in.Mode == ModeRehearsal {
			return r.rehearseAction(ctx, id, s, ss) // never dispatched: a rehearsal reaches no target
		}
		var res contract.ActionResult
		var err error
		r.drillTargets(s, ss)
		switch s.Action {
		case catalog.RestoreAsset.Name():
			if r.in.Mode == ModeDrill && s.Drill == nil && r.version(ctx, "drill-restore-rehearsal") == 1 {
				ss.Drill = DrillRehearsed
				res, err = r.rehearseRestore(ctx, id, s.With)
				break
			}
			res, err = r.restoreAsset(ctx, id, r.params(s))
		case catalog.Notify.Name():
			res, err = r.notifyAction(ctx, id, s.With)
		default:
			stop := r.watchStuck(ctx, s, id)
			res, err = r.action(ctx, id, s.Action, r.params(s), s.Timeout.D(), s.Retry)
			stop()
		}
		ss.Outputs, ss.Summary = res.Outputs, res.Summary
		return err
	case plan.TypeWait:
		return workflow.NewTimerWithOptions(ctx, s.Wait.Duration.D(), workflow.TimerOptions{Summary: "step " + id + ": wait"}).Get(ctx, nil)
	case plan.TypeNotify:
		m := notify.Message{Event: "plan.notice", Severity: notify.Info, Title: r.p.Metadata.Name + ": " + s.Notify.Message, Text: s.Notify.Message,
			Fields: map[string]string{"to": strings.Join(r.people(s.Notify.To), ", "), "step": id}, Time: workflow.Now(ctx), DedupKey: workflow.GetInfo(ctx).WorkflowExecution.ID + "/" + id}
		return workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, notifyOptions("step "+id)), contract.Notify, contract.NotifyInput{Message: r.marked(m)}).Get(ctx, nil)
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
		var res RecoveryResult
		err := workflow.ExecuteChildWorkflow(r.stepChild(ctx, id, "plan "+s.Plan.Name), RecoveryWorkflow, RecoveryInput{Plan: s.Plan.Name, Mode: r.in.Mode, Requester: r.in.Requester, Reason: r.in.Reason}).Get(ctx, &res)
		ss.Summary = fmt.Sprintf("plan %s %s in %s", s.Plan.Name, res.Status, res.RTO.Human())
		return err
	}
	return fmt.Errorf("step %s: unknown type %q", id, s.EffectiveType())
}

// drillTargets records, in a drill, which targets action step s runs against.
func (r *runner) drillTargets(s *plan.Step, ss *StepState) {
	if r.in.Mode != ModeDrill {
		return
	}
	ss.Drill = DrillOwn
	switch {
	case s.Drill != nil && len(s.Drill.With) > 0:
		ss.Drill = DrillIsolated
	case s.Drill != nil && s.Drill.SameTargets:
		ss.DrillNote = s.Drill.Reason
	case defaultActions[s.Action].Effect == catalog.ReadOnly:
		ss.DrillNote = "read-only"
	}
}

// startLocal starts step id as a local activity from the caller's coroutine, and returns the
// future of its contract.ActionResult, when the step is a plain action of a fast-path run that
// runs as one and has no escalation to watch; otherwise false, and the step runs on a coroutine
// of its own (runStep). Every running coroutine is woken at each event of the workflow task, and
// a wave of a hundred checks would wake a hundred of them at each check's end.
func (r *runner) startLocal(ctx workflow.Context, id string) (workflow.Future, bool) {
	s := r.spec(id)
	if !r.fast || r.in.Mode == ModeRehearsal || s.EffectiveType() != plan.TypeAction || r.policy(s) != nil {
		return nil, false
	}
	switch s.Action {
	case catalog.RestoreAsset.Name(), catalog.Notify.Name():
		return nil, false
	}
	with := r.params(s)
	opts, in, local := r.actionOptions(ctx, id, s.Action, with, s.Timeout.D(), s.Retry)
	if !local {
		return nil, false
	}
	r.drillTargets(s, r.step(id))
	return workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, opts.local()), contract.RunAction, in), true
}

// asker is the requester of decision and manual gates: the plan asks, so whoever started it may
// answer. Approvals are asked by the person who started the plan, who cannot approve them.
func (r *runner) asker() string { return "plan " + r.p.Metadata.Name }

// restoreAsset runs the restore.asset action as a child Restore workflow, so that the restore has
// its own record, progress and — when it is in place — its own approval gate.
func (r *runner) restoreAsset(ctx workflow.Context, id string, with map[string]any) (contract.ActionResult, error) {
	p, err := catalog.RestoreAsset.Decode(with)
	if err != nil {
		return contract.ActionResult{}, temporal.NewNonRetryableApplicationError("step "+id+": "+err.Error(), contract.ErrTypeActionRefused, err)
	}
	in := RestoreInput{Asset: p.Asset, Snapshot: p.Snapshot, TargetDir: p.TargetDir, Database: p.Database,
		InPlace: p.InPlace, Requester: r.in.Requester}
	var res RestoreResult
	err = workflow.ExecuteChildWorkflow(r.stepChild(ctx, id, "restore "+in.Asset), RestoreWorkflow, in).Get(ctx, &res)
	out := contract.ActionResult{Outputs: map[string]any{}}
	if res.Snapshot != nil {
		out.Outputs["snapshot"] = res.Snapshot.ID
		out.Outputs[contract.OutputRecoveryPoint] = res.Snapshot.Time.UTC().Format(time.RFC3339Nano)
	}
	if res.Restored != nil {
		out.Outputs["target_dir"], out.Outputs["database"] = res.Restored.TargetDir, res.Restored.Database
		out.Summary = fmt.Sprintf("restored %s from snapshot %s", in.Asset, shortID(res.Restored.Snapshot.ID))
	}
	return out, err
}

// stepChild is the context of the child workflow that carries out step id: its ID is the plan
// run's and the step's, and its summary says what it does.
func (r *runner) stepChild(ctx workflow.Context, id, what string) workflow.Context {
	return workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:    workflow.GetInfo(ctx).WorkflowExecution.ID + "." + id,
		StaticSummary: "Step " + id + " of " + r.p.Metadata.Name + ": " + what,
	})
}

// withoutRehearsals is actions as they were declared before any was rehearsed in drills.
func withoutRehearsals(actions map[string]plan.ActionSpec) map[string]plan.ActionSpec {
	out := make(map[string]plan.ActionSpec, len(actions))
	//workflowcheck:ignore
	for name, spec := range actions {
		spec.Rehearsal = ""
		out[name] = spec
	}
	return out
}

// rehearseRestore is restore.asset in a drill that gives it no drill targets: a restore drill of
// the asset (a child Verify workflow) restores the snapshot into scratch space, runs the asset's
// checks and removes what it restored, so the drill measures the real restore from the real
// backups without touching the asset's data. The step fails when the restore drill does.
func (r *runner) rehearseRestore(ctx workflow.Context, id string, with map[string]any) (contract.ActionResult, error) {
	p, err := catalog.RestoreAsset.Decode(with)
	if err != nil {
		return contract.ActionResult{}, temporal.NewNonRetryableApplicationError("step "+id+": "+err.Error(), contract.ErrTypeActionRefused, err)
	}
	in := VerifyInput{Asset: p.Asset, Snapshot: p.Snapshot, Trigger: "drill " + workflow.GetInfo(ctx).WorkflowExecution.ID + ", step " + id}
	var ev Evidence
	err = workflow.ExecuteChildWorkflow(r.stepChild(ctx, id, "restore drill of "+in.Asset), VerifyWorkflow, in).Get(ctx, &ev)
	out := contract.ActionResult{Outputs: map[string]any{}}
	if ev.Snapshot.ID != "" {
		out.Outputs["snapshot"] = ev.Snapshot.ID
		out.Outputs[contract.OutputRecoveryPoint] = ev.Snapshot.Time.UTC().Format(time.RFC3339Nano)
	}
	if err == nil {
		out.Summary = fmt.Sprintf("rehearsed: restored %s from snapshot %s into scratch space in %s, checks passed, removed",
			in.Asset, shortID(ev.Snapshot.ID), ev.RestoreTime.Human())
	}
	return out, err
}

// notifyAction sends the notify action's message through the worker's routes.
func (r *runner) notifyAction(ctx workflow.Context, id string, with map[string]any) (contract.ActionResult, error) {
	p, err := catalog.Notify.Decode(with)
	if err != nil {
		return contract.ActionResult{}, temporal.NewNonRetryableApplicationError("step "+id+": "+err.Error(), contract.ErrTypeActionRefused, err)
	}
	msg := p.Message
	var routes []string
	if p.Route != "" {
		routes = []string{p.Route}
	}
	var res contract.NotifyResult
	m := notify.Message{Event: "plan.notice", Severity: notify.Info, Title: r.p.Metadata.Name + ": " + msg, Text: msg,
		Time: workflow.Now(ctx), DedupKey: workflow.GetInfo(ctx).WorkflowExecution.ID + "/" + id, Fields: map[string]string{"step": id}}
	err = workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, notifyOptions("step "+id)), contract.Notify, contract.NotifyInput{Routes: routes, Message: m}).Get(ctx, &res)
	delivered := 0
	for _, d := range res.Deliveries {
		if d.OK() {
			delivered++
		}
	}
	return contract.ActionResult{Outputs: map[string]any{"delivered": delivered > 0}, Summary: fmt.Sprintf("delivered to %d channels", delivered)}, err
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

// maxLocalAction is the longest timeout of an action that runs as a local activity.
const maxLocalAction = catalog.LocalAttemptLimit

// boundGrace is what an attempt of an action that bounds itself (catalog.Spec.AttemptBound) gets
// beyond that bound, to start and report back: less than the 8 s after which a workflow task
// that waits for local activities is renewed.
const boundGrace = 2 * time.Second

// action runs a plan action: those of the local class bounded to maxLocalAction as local
// activities, the others as activities that heartbeat while they wait on the outside world. In a
// fast-path run, an action that bounds itself (a check's timeout parameter) to maxLocalAction runs
// as a local activity whatever the step's timeout, which it never needs beyond boundGrace.
func (r *runner) action(ctx workflow.Context, id, name string, with map[string]any, timeout time.Duration, retry *plan.Retry) (contract.ActionResult, error) {
	opts, in, local := r.actionOptions(ctx, id, name, with, timeout, retry)
	var res contract.ActionResult
	var err error
	if local {
		err = workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, opts.local()), contract.RunAction, in).Get(ctx, &res)
	} else {
		err = workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts.activity()), contract.RunAction, in).Get(ctx, &res)
	}
	return res, err
}

// attemptOptions are the timeout, retry policy and summary of an action's attempts.
type attemptOptions struct {
	timeout time.Duration
	retry   *temporal.RetryPolicy
	summary string
}

func (o attemptOptions) local() workflow.LocalActivityOptions {
	return workflow.LocalActivityOptions{StartToCloseTimeout: o.timeout, RetryPolicy: o.retry, Summary: o.summary}
}

func (o attemptOptions) activity() workflow.ActivityOptions {
	return workflow.ActivityOptions{StartToCloseTimeout: o.timeout, HeartbeatTimeout: 30 * time.Second, RetryPolicy: o.retry, Summary: o.summary}
}

// actionOptions says how action name of step id runs: its input, its attempts' options, and
// whether it runs as a local activity.
func (r *runner) actionOptions(ctx workflow.Context, id, name string, with map[string]any, timeout time.Duration, retry *plan.Retry) (attemptOptions, contract.ActionInput, bool) {
	in := contract.ActionInput{Action: name, Params: with, Step: id}
	spec := defaultActions[name]
	policy := &temporal.RetryPolicy{InitialInterval: max(spec.Retry.Backoff, time.Second), BackoffCoefficient: 2, MaximumInterval: time.Minute,
		MaximumAttempts: int32(max(spec.Retry.Attempts, 1)), NonRetryableErrorTypes: []string{contract.ErrTypeActionRefused}}
	if retry != nil {
		policy.MaximumAttempts = int32(max(retry.Attempts, 1))
		if retry.Backoff > 0 {
			policy.InitialInterval = retry.Backoff.D()
			policy.MaximumInterval = max(policy.MaximumInterval, policy.InitialInterval)
		}
	}
	if timeout == 0 {
		timeout = cmp.Or(spec.Timeout, 30*time.Minute) // an action this worker no longer declares: the longest
	}
	local := spec.Class == catalog.Local
	bounded := false
	if bound, ok := spec.AttemptBound(with); ok && local && r.fast && bound <= maxLocalAction {
		timeout, bounded = min(timeout, bound+boundGrace), true
	}
	// A local activity holds the workflow's task while it runs: the workflow answers no query
	// (`lifeboat status`, the Web UI's current details) until it ends, and the Web UI shows no
	// pending step. Only actions bounded to a few seconds run that way.
	if local && !bounded && timeout > maxLocalAction && r.version(ctx, "long-actions-as-activities") == 1 {
		local = false
	}
	return attemptOptions{timeout: timeout, retry: policy, summary: fmt.Sprintf("step %s: %s", id, name)}, in, local
}
