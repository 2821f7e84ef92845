package workflows

import (
	"slices"

	"go.temporal.io/sdk/workflow"

	"github.com/lifeboat-dr/lifeboat/activities/plan"
)

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
		if r.in.Mode == ModeRehearsal {
			r.rehearseCompensation(dctx, c, ss)
			continue
		}
		res, err := r.action(dctx, id+".compensate", c.Action, r.compensationParams(s), c.Timeout.D(), nil)
		if err != nil {
			ss.Compensation = "failed: " + errMessage(err)
			workflow.GetLogger(ctx).Error("compensation failed", "step", id, "action", c.Action, "error", err)
			continue
		}
		ss.Status, ss.Compensation = StepCompensated, c.Action+": "+res.Summary
		r.details(dctx)
	}
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
