package plan

import (
	"fmt"
	"slices"
	"strings"

	"github.com/lifeboat-dr/lifeboat/activities/catalog"
)

// ActionSpec is an action's declaration (package catalog): its parameters, outputs, effect and
// drill rule.
type ActionSpec = catalog.Spec

// DefaultActions describes the actions lifeboat-worker offers: every declaration in package catalog.
func DefaultActions() map[string]ActionSpec {
	out := map[string]ActionSpec{}
	for _, a := range catalog.All() {
		out[a.Name] = a
	}
	return out
}

// ValidateWith validates the plan (as Validate does) and checks it against the actions the worker
// offers: every action step's and compensation's action exists, its with: parameters are known, of
// the right type and the required ones present, and conditions test only outputs the action
// declares. The error is Problems.
func ValidateWith(p *Plan, actions map[string]ActionSpec) error {
	var problems Problems
	if err := p.Validate(); err != nil {
		problems = append(problems, err.(Problems)...)
	}
	bad := func(path, format string, args ...any) {
		problems = append(problems, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	// checkValues checks that each of with is a parameter of the action, of its type.
	checkValues := func(path string, spec ActionSpec, with map[string]any) {
		for _, k := range sortedKeys(with) {
			ps, ok := spec.Param(k)
			if !ok {
				bad(path+"."+k, "%s has no parameter %q (it has %s)", spec.Name, k, listOrNone(spec.ParamNames()))
				continue
			}
			if msg := ps.Check(with[k]); msg != "" {
				bad(path+"."+k, "%s", msg)
			}
		}
	}
	checkCall := func(path, name string, with map[string]any) {
		spec, ok := actions[name]
		if !ok {
			bad(path+".action", "unknown action %q", name)
			return
		}
		checkValues(path+".with", spec, with)
		for _, ps := range spec.Params {
			if _, set := with[ps.Name]; ps.Required && !set {
				bad(path+".with."+ps.Name, "required by %s", name)
			}
		}
	}
	index := make(map[string]int, len(p.Spec.Steps))
	for i, s := range p.Spec.Steps {
		if _, dup := index[s.ID]; !dup {
			index[s.ID] = i
		}
	}
	checkAction := func(path string, s Step) {
		if s.EffectiveType() == TypeAction && s.Action != "" {
			checkCall(path, s.Action, s.With)
		}
		if c := s.Compensate; c != nil && c.Action != "" {
			checkCall(path+".compensate", c.Action, c.With)
		}
		if d := s.Drill; d != nil && s.EffectiveType() == TypeAction {
			checkDrill(path+".drill.with", s, d.With, actions, bad)
			if len(d.CompensateWith) > 0 {
				if s.Compensate == nil {
					bad(path+".drill.compensate_with", "only for a step with a compensation")
				} else if cspec, ok := actions[s.Compensate.Action]; ok {
					checkValues(path+".drill.compensate_with", cspec, d.CompensateWith)
				}
			}
		}
	}
	for i, s := range p.Spec.Steps {
		path := stepPath(i, s)
		checkAction(path, s)
		if s.EffectiveType() == TypeStrategies {
			for j := range s.Strategies {
				sub := s.StrategyStep(j)
				if len(sub.typesSet()) == 1 {
					checkAction(strategyPath(path, j, s.Strategies[j]), sub)
				}
			}
		}
		e, err := s.Condition()
		if err != nil || e == nil {
			continue
		}
		for _, r := range e.refCols() {
			if r.ref.Field != FieldOutputs {
				continue
			}
			j, ok := index[r.ref.Step]
			if !ok {
				continue
			}
			target := p.Spec.Steps[j]
			switch target.EffectiveType() {
			case TypeAction:
				spec, ok := actions[target.Action]
				if _, has := spec.Output(r.ref.Key); ok && !has {
					bad(path+".when", "column %d: %s: %s has no output %q (it has %s)", r.col, r.ref, target.Action, r.ref.Key, listOrNone(spec.OutputNames()))
				}
			case TypeStrategies:
				// An output any of its action strategies declares; child plans have none declared.
				var names []string
				found := false
				for _, st := range target.Strategies {
					spec, ok := actions[st.Action]
					if !ok {
						continue
					}
					_, has := spec.Output(r.ref.Key)
					found = found || has
					names = append(names, spec.OutputNames()...)
				}
				if !found {
					slices.Sort(names)
					bad(path+".when", "column %d: %s: no strategy of %s has an output %q (they have %s)", r.col, r.ref, target.ID, r.ref.Key, listOrNone(slices.Compact(names)))
				}
			}
		}
	}
	if len(problems) == 0 {
		return nil
	}
	problems.sort()
	return problems
}

// checkDrill checks a step's drill parameters: each one replaces a parameter of the step's action or
// of its compensation, of the same type.
func checkDrill(path string, s Step, with map[string]any, actions map[string]ActionSpec, bad func(path, format string, args ...any)) {
	calls := []string{s.Action}
	if s.Compensate != nil {
		calls = append(calls, s.Compensate.Action)
	}
	for _, k := range sortedKeys(with) {
		found := false
		for _, name := range calls {
			ps, ok := actions[name].Param(k)
			if !ok {
				continue
			}
			found = true
			if msg := ps.Check(with[k]); msg != "" {
				bad(path+"."+k, "%s", msg)
				break
			}
		}
		if !found {
			bad(path+"."+k, "neither %s nor its compensation has a parameter %q", s.Action, k)
		}
	}
}

func strategyPath(step string, j int, st Strategy) string {
	if st.Name == "" {
		return fmt.Sprintf("%s.strategies[%d]", step, j)
	}
	return fmt.Sprintf("%s.strategies[%d] (%s)", step, j, st.Name)
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// DrillSafety checks that drills of the plan cannot reach its production targets (see
// checkDrillSafety), for `lifeboat plan validate` and the start of every drill; a recovery runs
// plans that fail it. The error is Problems naming each step.
func DrillSafety(p *Plan, actions map[string]ActionSpec) error {
	var problems Problems
	bad := func(path, format string, args ...any) {
		problems = append(problems, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	for i, s := range p.Spec.Steps {
		switch s.EffectiveType() {
		case TypeAction:
			checkDrillSafety(stepPath(i, s), s, actions, bad)
		case TypeStrategies:
			for j := range s.Strategies {
				if sub := s.StrategyStep(j); sub.EffectiveType() == TypeAction {
					checkDrillSafety(strategyPath(stepPath(i, s), j, s.Strategies[j]), sub, actions, bad)
				}
			}
		}
	}
	if len(problems) == 0 {
		return nil
	}
	problems.sort()
	return problems
}

// checkDrillSafety checks that a drill cannot reach the step's production targets: a step whose
// action changes anything has drill targets that replace at least one of the targets its action
// names (drill.with), or is left out of drills (drill.skip), or runs on the plan's own targets for
// a stated reason (drill.same_targets); and so has its compensation.
func checkDrillSafety(path string, s Step, actions map[string]ActionSpec, bad func(path, format string, args ...any)) {
	spec, ok := actions[s.Action]
	if !ok || spec.Effect != catalog.Mutating {
		return
	}
	d := s.Drill
	if d == nil && spec.Rehearsal != "" {
		return // rehearsed in a way that cannot reach the step's targets
	}
	if d == nil {
		bad(path+".drill", "%s changes what it acts on, so a drill must not run it on the plan's targets: %s", s.Action, spec.DrillRule())
		return
	}
	if d.Skip || d.SameTargets {
		return // Validate checks the reason and that only one is chosen
	}
	if len(d.With) == 0 {
		return // Validate reports the empty drill block
	}
	merged := s.DrillWith(spec)
	if !isolates(spec, s.With, merged) {
		bad(path+".drill.with", "sets none of %s's targets to another value (%s): the drill would act on the plan's own targets; give isolated ones, or say drill.same_targets with a reason",
			s.Action, listOrNone(spec.Targets()))
	}
	for _, ps := range spec.Params {
		if ps.DrillMust != "" && merged[ps.Name] != nil && fmt.Sprint(merged[ps.Name]) != ps.DrillMust {
			bad(path+".drill.with."+ps.Name, "must be %s in a drill (set it in drill.with)", ps.DrillMust)
		}
	}
	if c := s.Compensate; c != nil {
		cspec, ok := actions[c.Action]
		if !ok || cspec.Effect != catalog.Mutating {
			return
		}
		if len(d.CompensateWith) == 0 {
			for _, k := range sortedKeys(d.With) {
				if _, has := cspec.Param(k); !has {
					continue
				}
				if cv, set := c.With[k]; set && fmt.Sprint(cv) != fmt.Sprint(s.With[k]) {
					// The compensation gives k a value of its own (the old DNS value, the command
					// that undoes): the step's drill value would make it undo nothing, or the wrong thing.
					bad(path+".drill.compensate_with", "drill.with.%s would also replace the compensation's %s (%v), which differs from the step's: give the compensation's drill parameters here",
						k, k, cv)
				}
			}
		}
		cmerged := s.DrillCompensationWith(cspec)
		if !isolates(cspec, c.With, cmerged) {
			bad(path+".drill.with", "sets none of the targets of its compensation %s (%s): undoing the drill would act on the plan's own targets",
				c.Action, listOrNone(cspec.Targets()))
		}
	}
}

// isolates reports whether merged (the parameters in a drill) replaces at least one of the
// action's targets that with (the parameters in a recovery) gives.
func isolates(spec ActionSpec, with, merged map[string]any) bool {
	for _, t := range spec.Targets() {
		v, set := merged[t]
		if set && fmt.Sprint(v) != fmt.Sprint(with[t]) {
			return true
		}
	}
	return false
}
