package workflows

import (
	"fmt"

	"github.com/lifeboat-dr/lifeboat/activities/contract"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/lifeboat-dr/lifeboat/activities/plan"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
)

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
	// The run waits for its steps' ends on one selector: those run on coroutines of their own
	// send them to finished; plain local actions (startLocal) are futures of this coroutine.
	var d stepDone
	waits := workflow.NewSelector(ctx)
	waits.AddReceive(finished, func(c workflow.ReceiveChannel, _ bool) { c.Receive(actionsCtx, &d) })
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
			if run, why := r.shouldRun(ctx, id); !run {
				ss.Status, ss.Summary = plan.StatusSkipped, why
				ended(id)
				continue
			}
			ss.Status, ss.StartedAt = StepRunning, workflow.Now(ctx)
			running++
			if f, ok := r.startLocal(actionsCtx, id); ok {
				waits.AddFuture(f, func(f workflow.Future) {
					var res contract.ActionResult
					err := f.Get(actionsCtx, &res)
					ss := r.step(id)
					ss.Outputs, ss.Summary = res.Outputs, res.Summary
					d = stepDone{ID: id, Err: err}
				})
				continue
			}
			stepCtx := waitsCtx
			switch r.spec(id).EffectiveType() {
			case plan.TypeAction, plan.TypeNotify:
				stepCtx = actionsCtx
			case plan.TypePlan:
				stepCtx = ctx // a child plan, cancelled, undoes its own steps
			}
			workflow.Go(stepCtx, func(gctx workflow.Context) {
				err := r.runStep(gctx, id)
				// A send may block (steps that end in the same workflow task wait for the loop
				// below to take them one at a time), so it blocks on this coroutine's context.
				finished.Send(gctx, stepDone{ID: id, Err: err})
			})
		}
		if !r.fast || !waits.HasPending() {
			// The Web UI's table of steps, once the steps that ended together are all in it: a
			// wave of a hundred checks does not write it a hundred times.
			r.details(ctx)
		}
		if running == 0 {
			return failure
		}
		if r.fast {
			waits.Select(actionsCtx)
		} else {
			finished.Receive(actionsCtx, &d) // as runs from before the fast path did
		}
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
func (r *runner) shouldRun(ctx workflow.Context, id string) (bool, string) {
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
			need := r.step(n)
			if need.Status != plan.StatusSkipped && need.Status != StepNotRun {
				continue
			}
			// A step left out of the drill does not take the steps after it out too: the drill
			// goes on to rehearse them, as if it had succeeded (without outputs).
			if need.Drill == DrillSkipped && r.version(ctx, "drill-skip-goes-on") == 1 {
				continue
			}
			return false, "needs " + n + ", which was skipped"
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
