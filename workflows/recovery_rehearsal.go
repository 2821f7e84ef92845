package workflows

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"go.temporal.io/sdk/workflow"

	"github.com/lifeboat-dr/lifeboat/activities/catalog"
	"github.com/lifeboat-dr/lifeboat/activities/plan"
	"github.com/lifeboat-dr/lifeboat/integrations/notify"
)

// ModeRehearsal runs a plan as a tabletop exercise: every action step, and every compensation, is
// simulated — recorded as what it would do, with its parameters and targets — and never carried
// out, while gates, decisions, manual steps, waits, escalations and notifications are real, so
// that a team practises its decisions and their timing. Its notifications are marked
// RehearsalMark.
const ModeRehearsal = "rehearsal"

// RehearsalMark begins the title of every notification a rehearsal sends.
const RehearsalMark = "[rehearsal]"

// validMode reports whether mode is one a Recovery workflow runs in.
func validMode(mode string) bool {
	return mode == ModeRecovery || mode == ModeDrill || mode == ModeRehearsal
}

// SimulatedAction is what a rehearsal recorded instead of running an action: the action, its
// parameters as the action would have received them (defaults applied; secrets by name only, as
// plans give them) and the targets it would have reached.
type SimulatedAction struct {
	Action string           `json:"action"`
	Params []SimulatedParam `json:"params,omitempty"`
	// Targets are the parameters that name what the action acts on, as "name value".
	Targets []string `json:"targets,omitempty"`
}

// SimulatedParam is one parameter of a simulated action.
type SimulatedParam struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	// Secret marks the name of a worker secret; its value is never read.
	Secret bool `json:"secret,omitempty"`
	// Target marks a parameter naming what the action acts on.
	Target bool `json:"target,omitempty"`
	// Default marks a value the plan left out and the action's declaration gives.
	Default bool `json:"default,omitempty"`
}

// String says what the action would do, on one line.
func (a SimulatedAction) String() string {
	params := make([]string, 0, len(a.Params))
	for _, p := range a.Params {
		v := p.Value
		if p.Secret {
			v = "secret " + v
		}
		params = append(params, p.Name+"="+v)
	}
	s := "would run " + a.Action
	if len(params) > 0 {
		s += " with " + strings.Join(params, ", ")
	}
	if len(a.Targets) > 0 {
		s += "; would reach " + strings.Join(a.Targets, ", ")
	}
	return s
}

// simulate describes the call of action name with parameters with, without making it.
func simulate(name string, with map[string]any) SimulatedAction {
	out := SimulatedAction{Action: name}
	spec, known := defaultActions[name]
	if !known {
		// An action this worker does not declare: its parameters as the plan gives them.
		keys := make([]string, 0, len(with))
		//workflowcheck:ignore
		for k := range with { // sorted below
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			out.Params = append(out.Params, SimulatedParam{Name: k, Value: fmt.Sprint(with[k])})
		}
		return out
	}
	for _, p := range spec.Params {
		v, given := with[p.Name]
		sp := SimulatedParam{Name: p.Name, Secret: p.Type == catalog.Secret, Target: p.Target}
		switch {
		case given && v != nil:
			sp.Value = fmt.Sprint(v)
		case p.Default != "":
			sp.Value, sp.Default = p.Default, true
		default:
			continue
		}
		out.Params = append(out.Params, sp)
		if p.Target {
			t := p.Name + " " + sp.Value
			if sp.Secret {
				t = p.Name + " secret " + sp.Value
			}
			out.Targets = append(out.Targets, t)
		}
	}
	return out
}

// rehearseAction records what action step s would do, in place of doing it. Nothing is
// dispatched: no activity, local activity or child workflow runs for it.
func (r *runner) rehearseAction(ctx workflow.Context, id string, s *plan.Step, ss *StepState) error {
	sim := simulate(s.Action, s.With)
	ss.Simulated = &sim
	ss.Summary = "rehearsed: " + sim.String()
	workflow.GetLogger(ctx).Info("rehearsal: action simulated", "step", id, "action", s.Action)
	return nil
}

// rehearseCompensation records what the compensation c of step ss would do, in place of doing it.
func (r *runner) rehearseCompensation(ctx workflow.Context, c *plan.Compensation, ss *StepState) {
	sim := simulate(c.Action, c.With)
	ss.SimulatedUndo = &sim
	ss.Status, ss.Compensation = StepCompensated, "rehearsed: "+sim.String()
	r.details(ctx)
}

// marked is m as this run sends it: in a rehearsal, its title begins with RehearsalMark.
func (r *runner) marked(m notify.Message) notify.Message {
	if r.in.Mode != ModeRehearsal || strings.HasPrefix(m.Title, RehearsalMark) {
		return m
	}
	m.Title = RehearsalMark + " " + m.Title
	m.Fields = maps.Clone(m.Fields)
	if m.Fields == nil {
		m.Fields = map[string]string{}
	}
	m.Fields["mode"] = ModeRehearsal
	return m
}
