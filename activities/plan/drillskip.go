package plan

import (
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
)

// DrillSkip is a rule of a worker that cannot reach what some actions act on — a laptop stack
// without an AWS account, say: in drills, steps of the actions it matches are skipped, for its
// reason, instead of failing. It never applies to a recovery, and it only ever takes steps out of
// a drill: skipping touches nothing.
type DrillSkip struct {
	// Actions is a pattern of action names, as path.Match reads it: "aws.*".
	Actions string `yaml:"actions" json:"actions"`
	// Reason is shown for every step it skips, in the record and the report.
	Reason string `yaml:"reason" json:"reason"`
}

// Validate checks that the rule matches at least one of actions and gives a reason.
func (d DrillSkip) Validate(actions map[string]ActionSpec) error {
	var errs []error
	if strings.TrimSpace(d.Reason) == "" {
		errs = append(errs, errors.New("reason: required: say why these steps cannot run in drills here"))
	}
	if _, err := path.Match(d.Actions, ""); err != nil || d.Actions == "" {
		return errors.Join(append(errs, fmt.Errorf("actions: %q is not a pattern of action names (aws.*, exec)", d.Actions))...)
	}
	if d.match(actions) == 0 {
		names := make([]string, 0, len(actions))
		for n := range actions {
			names = append(names, n)
		}
		sort.Strings(names)
		errs = append(errs, fmt.Errorf("actions: %q matches no action (actions: %s)", d.Actions, strings.Join(names, ", ")))
	}
	return errors.Join(errs...)
}

func (d DrillSkip) match(actions map[string]ActionSpec) int {
	n := 0
	for name := range actions {
		if ok, _ := path.Match(d.Actions, name); ok {
			n++
		}
	}
	return n
}

// reasonFor returns the reason of the first rule that matches action.
func reasonFor(rules []DrillSkip, action string) (string, bool) {
	for _, r := range rules {
		if ok, _ := path.Match(r.Actions, action); ok && action != "" {
			return r.Reason, true
		}
	}
	return "", false
}

// WithDrillSkips returns a copy of p in which every action step and strategy whose action one of
// rules matches is skipped in drills, for the rule's reason. p is not changed.
func (p Plan) WithDrillSkips(rules []DrillSkip) Plan {
	if len(rules) == 0 {
		return p
	}
	skip := func(action string, d *DrillOverride) *DrillOverride {
		reason, ok := reasonFor(rules, action)
		if !ok {
			return d
		}
		return &DrillOverride{Skip: true, Reason: reason + " (this worker's recovery.drill_skip)"}
	}
	steps := make([]Step, len(p.Spec.Steps))
	for i, s := range p.Spec.Steps {
		s.Drill = skip(s.Action, s.Drill)
		if len(s.Strategies) > 0 {
			strategies := make([]Strategy, len(s.Strategies))
			for j, st := range s.Strategies {
				st.Drill = skip(st.Action, st.Drill)
				strategies[j] = st
			}
			s.Strategies = strategies
		}
		steps[i] = s
	}
	p.Spec.Steps = steps
	return p
}
