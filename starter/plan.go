package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/lifeboat-dr/lifeboat/activities/catalog"
	"github.com/lifeboat-dr/lifeboat/activities/plan"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
)

func (a *app) planCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "plan",
		Short:   "Check, show and compare recovery plans (YAML files, see docs/plans.md)",
		GroupID: "run",
	}
	cmd.AddCommand(a.planValidateCommand(), a.planShowCommand(), a.planDiffCommand(), a.planActionsCommand(), a.planRenderCommand())
	return cmd
}

// loadPlan reads and validates a plan file ("-" is standard input) against the worker's actions.
// Unreadable files are usage errors; so are invalid plans, with plan.Problems (or the decoding
// error) wrapped.
func (a *app) loadPlan(path string) (*plan.Plan, error) {
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(io.LimitReader(a.stdin, plan.MaxPlanBytes+1))
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, exitError{exitUsage, err}
	}
	p, err := plan.Decode(b)
	if err == nil {
		err = plan.ValidateWith(p, plan.DefaultActions())
	}
	if err != nil {
		return nil, exitError{exitUsage, fmt.Errorf("%s: %w", path, err)}
	}
	return p, nil
}

// planProblems lists an invalid plan's problems; a decoding error gives one per line.
func planProblems(err error) []plan.Problem {
	var problems plan.Problems
	if errors.As(err, &problems) {
		return problems
	}
	var ee exitError
	if errors.As(err, &ee) {
		err = ee.err
	}
	if u := errors.Unwrap(err); u != nil {
		err = u
	}
	var out []plan.Problem
	for _, line := range strings.Split(err.Error(), "\n") {
		out = append(out, plan.Problem{Message: line})
	}
	return out
}

// planReport is one file's validation.
type planReport struct {
	File     string         `json:"file"`
	Valid    bool           `json:"valid"`
	Name     string         `json:"name,omitempty"`
	Steps    int            `json:"steps,omitempty"`
	Waves    int            `json:"waves,omitempty"`
	Problems []plan.Problem `json:"problems,omitempty"`
}

func (a *app) planValidateCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check recovery plans, reporting every problem in each",
		Long: `Check each recovery plan FILE ("-" reads standard input): its format, that references to
steps, people, groups and roles resolve, that the steps form no cycle, that conditions parse and
test only steps they need, that actions and their parameters are ones the worker offers, and that
a drill cannot reach production: every step whose action changes something has drill targets
(drill.with replacing one of its action's targets), drill.skip or drill.same_targets with a reason
(see lifeboat plan actions). A drill of a plan that fails this check is refused when it starts.

Every problem is listed with its path; the exit code is 2 when any plan is invalid.`,
		Example: `  lifeboat plan validate plans/*.yaml
  lifeboat plan validate orders-db-failover.yaml -o json`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			reports := make([]planReport, 0, len(args))
			invalid := 0
			for _, path := range args {
				r := planReport{File: path}
				p, err := a.loadPlan(path)
				if err == nil {
					err = plan.DrillSafety(p, plan.DefaultActions())
				}
				if err != nil {
					invalid++
					r.Problems = planProblems(err)
				} else {
					levels, _ := p.Levels()
					r.Valid, r.Name, r.Steps, r.Waves = true, p.Metadata.Name, len(p.Spec.Steps), len(levels)
				}
				reports = append(reports, r)
			}
			if err := a.print(reports, func(w io.Writer) {
				for _, r := range reports {
					if r.Valid {
						fmt.Fprintf(w, "%s: %s is valid: %s in %s\n", r.File, r.Name, plural(int64(r.Steps), "step"), plural(int64(r.Waves), "wave"))
						continue
					}
					fmt.Fprintf(w, "%s: %s\n", r.File, plural(int64(len(r.Problems)), "problem"))
					for _, p := range r.Problems {
						if p.Path == "" {
							fmt.Fprintf(w, "  - %s\n", p.Message)
						} else {
							fmt.Fprintf(w, "  - %s\n", p.Error())
						}
					}
				}
			}); err != nil {
				return err
			}
			if invalid > 0 {
				return exitError{exitUsage, fmt.Errorf("%d of %s invalid", invalid, plural(int64(len(args)), "plan"))}
			}
			return nil
		},
	}
}

func (a *app) planShowCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "show FILE",
		Short: "Show a recovery plan: objectives, roles resolved to people, and steps in order",
		Long: `Show the recovery plan in FILE ("-" reads standard input): its metadata and objectives, each
role with the people it resolves to, the escalation policy, and the steps in the order they run,
grouped in waves of steps that can run at the same time, with their needs, conditions, impact and
compensation. With -o json, the parsed plan is printed (with each step's type and impact filled in).

An invalid plan's problems are listed and the exit code is 2.`,
		Example: `  lifeboat plan show orders-db-failover.yaml`,
		Args:    usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := a.loadPlan(args[0])
			if err != nil {
				return err
			}
			return a.print(p, func(w io.Writer) { printPlan(w, p) })
		},
	}
}

func (a *app) planDiffCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "diff OLD NEW",
		Short: "Compare two versions of a recovery plan, part by part",
		Long: `Compare the recovery plans OLD and NEW: metadata, objectives, people, groups, roles and
escalation, then each step added, removed or changed, with one line per changed field. Steps are
listed in NEW's order, then the steps only OLD has. Lines start with + (added), - (removed) or
~ (changed: old -> new); values are JSON.

Like diff(1), the command prints nothing when the plans are the same.

Exit codes:
  0  the plans are the same
  2  a plan cannot be read or is invalid
  3  the plans differ`,
		Example: `  lifeboat plan diff <(git show HEAD~1:plans/orders.yaml) plans/orders.yaml`,
		Args:    usageArgs(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			old, err := a.loadPlan(args[0])
			if err != nil {
				return err
			}
			updated, err := a.loadPlan(args[1])
			if err != nil {
				return err
			}
			changes := plan.Diff(old, updated)
			if changes == nil {
				changes = []plan.Change{}
			}
			if err := a.print(changes, func(w io.Writer) {
				for _, c := range changes {
					fmt.Fprintln(w, c)
				}
			}); err != nil {
				return err
			}
			if len(changes) > 0 {
				return exitError{exitBadOutcome, fmt.Errorf("the plans differ: %s", plural(int64(len(changes)), "change"))}
			}
			return nil
		},
	}
}

// printPlan writes a plan for people to read.
func printPlan(w io.Writer, p *plan.Plan) {
	field := func(name, value string) {
		if value != "" {
			fmt.Fprintf(w, "%-12s%s\n", name, value)
		}
	}
	field("Plan", fmt.Sprintf("%s (%s)", p.Metadata.Name, p.APIVersion))
	field("Description", p.Metadata.Description)
	labels := make([]string, 0, len(p.Metadata.Labels))
	for k, v := range p.Metadata.Labels {
		labels = append(labels, k+"="+v)
	}
	slices.Sort(labels)
	field("Labels", strings.Join(labels, ", "))
	field("Scenario", p.Spec.Scenario)
	var objectives []string
	if o := p.Spec.Objectives.RTO; o != 0 {
		objectives = append(objectives, "RTO "+o.Human())
	}
	if o := p.Spec.Objectives.RPO; o != 0 {
		objectives = append(objectives, "RPO "+o.Human())
	}
	field("Objectives", strings.Join(objectives, ", "))

	if len(p.Spec.Roles) > 0 {
		fmt.Fprintln(w, "\nRoles")
		names := make([]string, 0, len(p.Spec.Roles))
		width := 0
		for name := range p.Spec.Roles {
			names = append(names, name)
			width = max(width, len(name))
		}
		slices.Sort(names)
		for _, name := range names {
			fmt.Fprintf(w, "  %-*s  %s\n", width, name, people(p.Resolve(name)))
		}
	}
	if e := p.Spec.Escalation; e != nil {
		fmt.Fprintln(w)
		field("Escalation", escalation(p, e))
	}

	levels, _ := p.Levels()
	wave := map[string]int{}
	for i, ids := range levels {
		for _, id := range ids {
			wave[id] = i + 1
		}
	}
	order, _ := p.Order()
	fmt.Fprintf(w, "\nSteps: %s in %s\n", plural(int64(len(order)), "step"), plural(int64(len(levels)), "wave"))
	for i, id := range order {
		s := p.Step(id)
		fmt.Fprintf(w, "\n%2d. %s  (wave %d, %s)\n", i+1, s.ID, wave[id], s.Impact)
		detail := func(name, value string) {
			if value != "" {
				fmt.Fprintf(w, "    %-11s%s\n", name, value)
			}
		}
		detail("", s.Description)
		describeStep(p, s, detail)
		detail("needs", strings.Join(s.Needs, ", "))
		detail("when", s.When)
		if s.Escalation != nil {
			detail("escalation", escalation(p, s.Escalation))
		}
	}
}

func describeStep(p *plan.Plan, s *plan.Step, detail func(name, value string)) {
	timeout := func(d units.Duration) string {
		if d == 0 {
			return "none"
		}
		return d.Human()
	}
	switch s.Type {
	case plan.TypeAction:
		detail("action", s.Action)
		detail("with", params(s.With))
		if s.Timeout != 0 {
			detail("timeout", s.Timeout.Human())
		}
		if r := s.Retry; r != nil {
			detail("retry", fmt.Sprintf("%s, %s apart", plural(int64(r.Attempts), "attempt"), r.Backoff.Human()))
		}
		if c := s.Compensate; c != nil {
			detail("compensate", strings.TrimSpace(c.Action+" "+params(c.With)))
		}
		if d := s.Drill; d != nil {
			detail("drill", drillText(d))
			if len(d.With) > 0 && len(d.CompensateWith) > 0 {
				detail("drill undo", "with "+params(d.CompensateWith))
			}
		}
	case plan.TypeApproval:
		ap := s.Approval
		quorum := max(ap.Quorum, 1)
		detail("approval", fmt.Sprintf("%d of %s", quorum, refs(p, ap.Approvers)))
		expiry := ap.OnExpiry
		if expiry == "" {
			expiry = plan.ExpiryReject
		}
		detail("timeout", fmt.Sprintf("%s, then %s", timeout(ap.Timeout), expiry))
	case plan.TypeDecision:
		d := s.Decision
		detail("decision", d.Question)
		detail("options", strings.Join(d.Options, " | "))
		detail("deciders", refs(p, d.Deciders))
		t := timeout(d.Timeout)
		if d.Default != "" {
			t += ", then " + d.Default
		}
		detail("timeout", t)
	case plan.TypeManual:
		m := s.Manual
		detail("manual", m.Instructions)
		detail("assignees", refs(p, m.Assignees))
		detail("timeout", timeout(m.Timeout))
	case plan.TypeWait:
		detail("wait", s.Wait.Duration.Human())
	case plan.TypeNotify:
		detail("notify", refs(p, s.Notify.To))
		detail("message", s.Notify.Message)
	case plan.TypePlan:
		detail("plan", s.Plan.Name)
		if s.Timeout != 0 {
			detail("timeout", s.Timeout.Human())
		}
	case plan.TypeStrategies:
		for i, st := range s.Strategies {
			sub := s.StrategyStep(i)
			var what string
			switch sub.EffectiveType() {
			case plan.TypeAction:
				what = strings.TrimSpace(st.Action + " " + params(st.With))
				if st.Compensate != nil {
					what += "; undo " + strings.TrimSpace(st.Compensate.Action+" "+params(st.Compensate.With))
				}
				if d := st.Drill; d != nil {
					what += "; drill: " + drillText(d)
				}
			case plan.TypePlan:
				what = "plan " + st.Plan.Name
			case plan.TypeManual:
				what = "by hand (" + refs(p, st.Manual.Assignees) + ", timeout " + timeout(st.Manual.Timeout) + "): " + st.Manual.Instructions
			}
			detail(fmt.Sprintf("strategy %d", i+1), st.Name+": "+what)
		}
	}
}

// drillText says what a step does in a drill.
func drillText(d *plan.DrillOverride) string {
	switch {
	case d.Skip:
		return "skipped: " + d.Reason
	case d.SameTargets:
		return "on the plan's own targets: " + d.Reason
	}
	return "with " + params(d.With)
}

// refs names references with the people they resolve to: "approvers (alice, bob)".
func refs(p *plan.Plan, list []string) string {
	out := make([]string, len(list))
	for i, r := range list {
		resolved := p.Resolve(r)
		if len(resolved) == 1 && resolved[0].ID == r {
			out[i] = people(resolved)
			continue
		}
		ids := make([]string, len(resolved))
		for j, person := range resolved {
			ids[j] = person.ID
		}
		out[i] = fmt.Sprintf("%s (%s)", r, strings.Join(ids, ", "))
	}
	return strings.Join(out, ", ")
}

func people(list []plan.Person) string {
	out := make([]string, len(list))
	for i, person := range list {
		out[i] = fmt.Sprintf("%s <%s>", person.Name, person.ID)
	}
	return strings.Join(out, ", ")
}

func escalation(p *plan.Plan, e *plan.Escalation) string {
	parts := make([]string, 0, len(e.Levels)+1)
	for _, l := range e.Levels {
		parts = append(parts, fmt.Sprintf("after %s notify %s", l.After.Human(), refs(p, l.Notify)))
	}
	if e.Repeat > 0 {
		parts = append(parts, fmt.Sprintf("repeat %s", plural(int64(e.Repeat), "time")))
	}
	return strings.Join(parts, "; ")
}

// params writes an action's parameters as key=value, by key.
func params(with map[string]any) string {
	keys := make([]string, 0, len(with))
	for k := range with {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = fmt.Sprintf("%s=%v", k, with[k])
	}
	return strings.Join(out, " ")
}

func (a *app) planActionsCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "actions [NAME...]",
		Short: "List the actions plans may use, or document the named ones",
		Long: `Without a NAME, list every action a plan step may name, with its effect (read-only or
mutating) and what it does. With names, show each one's parameters (types, defaults, allowed values,
which ones are targets a drill must replace), outputs, how it runs, its default timeout and retry,
what undoes it, and what a drill needs of it. The same as docs/actions.md; -o json gives the
declarations.`,
		Example: `  lifeboat plan actions
  lifeboat plan actions postgres.promote aws.route53_upsert
  lifeboat plan actions -o json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			specs := catalog.All()
			if len(args) > 0 {
				specs = specs[:0:0]
				for _, name := range args {
					s, ok := catalog.Lookup(name)
					if !ok {
						return exitError{exitUsage, fmt.Errorf("no action %q (actions: %s)", name, strings.Join(catalog.Names(), ", "))}
					}
					specs = append(specs, s)
				}
			}
			return a.print(specs, func(w io.Writer) {
				if len(args) == 0 {
					tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
					for _, s := range specs {
						fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Name, s.Effect, s.Doc)
					}
					_ = tw.Flush()
					fmt.Fprintln(w, "\nlifeboat plan actions NAME shows an action's parameters, outputs and drill rule.")
					return
				}
				for i, s := range specs {
					if i > 0 {
						fmt.Fprintln(w)
					}
					catalog.Text(w, s)
				}
			})
		},
	}
}
