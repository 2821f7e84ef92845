package runbook

import (
	"slices"
	"strings"

	"github.com/lifeboat-dr/lifeboat/activities/plan"
)

// outcome is what one option of a decision leads to: the steps after the decision that then run
// (assuming the steps they need succeed) and those that are skipped, in the order the plan runs
// them. Steps whose conditions test results that cannot be known in advance are in neither.
type outcome struct {
	Option      string
	Runs, Skips []string
}

// branchesOf works out each option of decision step d, following the rules the plan runs by: a
// step with a condition runs when it holds; a step without one is skipped when a step it needs was.
func branchesOf(p *plan.Plan, order []string, d *plan.Step) []outcome {
	downstream := map[string]bool{d.ID: true}
	for _, id := range order {
		for _, n := range p.Step(id).Needs {
			if downstream[n] {
				downstream[id] = true
			}
		}
	}
	out := make([]outcome, 0, len(d.Decision.Options))
	for _, option := range d.Decision.Options {
		status := map[string]string{d.ID: plan.StatusSucceeded}
		o := outcome{Option: option}
		for _, id := range order {
			s := p.Step(id)
			if id == d.ID || !downstream[id] {
				continue
			}
			runs, known := false, false
			if cond, err := s.Condition(); err == nil && cond != nil {
				ok, err := cond.Eval(func(r plan.Ref) (plan.Value, bool) {
					switch {
					case r.Step == d.ID && r.Field == plan.FieldChoice:
						return plan.StringValue(option), true
					case r.Field == plan.FieldStatus && status[r.Step] != "":
						return plan.StringValue(status[r.Step]), true
					}
					return plan.Value{}, false
				})
				runs, known = ok, err == nil
			} else if err == nil {
				runs, known = true, true
				for _, n := range s.Needs {
					switch status[n] {
					case plan.StatusSkipped:
						runs = false
					case "":
						known = false
					}
				}
				if !runs {
					known = true
				}
			}
			switch {
			case !known:
			case runs:
				status[id] = plan.StatusSucceeded
				o.Runs = append(o.Runs, id)
			default:
				status[id] = plan.StatusSkipped
				o.Skips = append(o.Skips, id)
			}
		}
		out = append(out, o)
	}
	return out
}

// decisionBranches describes every decision step's options, by step ID.
func decisionBranches(p *plan.Plan) map[string][]branch {
	order, err := p.Order()
	if err != nil {
		return nil
	}
	out := map[string][]branch{}
	for _, id := range order {
		s := p.Step(id)
		if s.Type != plan.TypeDecision {
			continue
		}
		for _, o := range branchesOf(p, order, s) {
			out[id] = append(out[id], branch{Option: o.Option, Default: o.Option == s.Decision.Default,
				Runs: listOrNothing(o.Runs), Skips: listOrNothing(o.Skips)})
		}
	}
	return out
}

// edgeLabels names, for each need of a step on a decision, the options that lead to the step:
// labels[step][decision].
func edgeLabels(p *plan.Plan, order []string) map[string]map[string]string {
	labels := map[string]map[string]string{}
	for _, id := range order {
		d := p.Step(id)
		if d.Type != plan.TypeDecision {
			continue
		}
		outcomes := branchesOf(p, order, d)
		leads := map[string]int{}
		for _, o := range outcomes {
			for _, r := range o.Runs {
				if !slices.Contains(p.Step(r).Needs, d.ID) {
					continue
				}
				if labels[r] == nil {
					labels[r] = map[string]string{}
				}
				if l := labels[r][d.ID]; l != "" {
					labels[r][d.ID] = l + ", " + o.Option
				} else {
					labels[r][d.ID] = o.Option
				}
				leads[r]++
			}
		}
		// A step every option leads to is not a branch.
		for r, n := range leads {
			if n == len(outcomes) {
				delete(labels[r], d.ID)
			}
		}
	}
	return labels
}

func listOrNothing(ids []string) string {
	if len(ids) == 0 {
		return "—"
	}
	return strings.Join(ids, ", ")
}
