package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/lifeboat-dr/lifeboat/activities/plan"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
	"github.com/lifeboat-dr/lifeboat/worker/readiness"
	"github.com/lifeboat-dr/lifeboat/worker/sla"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

// slaOutput is what lifeboat sla prints: the computation, and why drills could not be read.
type slaOutput struct {
	sla.Result
	// DrillsUnread says why no drill RTO could be read; the estimate then uses objective RTOs.
	DrillsUnread string `json:"drills_unread,omitempty"`
}

func (a *app) slaCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "sla SERVICE",
		Short: "Compute a service's availability from its components and dependencies, against its objective",
		Long: `Compute the availability of SERVICE, a service of the configuration's services section
(--config or LIFEBOAT_CONFIG, required): its components in series, the members of a redundant group
in parallel less the failover time lost at each failure, and every service it depends on, directly
or not, counted once. It shows each component's availability and expected downtime a year, the
service's against its availability objective, the component that limits it most and why, and the
downtime a year that the RTOs of the plans' latest successful drills give (failures_per_year × RTO;
a plan not drilled counts with its objective RTO). Drills are read from Temporal; without it the
estimate uses the objective RTOs, with a warning. docs/services.md explains the model.

The exit code is 3 when the computed availability misses the objective, 0 when it meets it (or the
service has none), and 2 for an unknown service or an invalid configuration.`,
		Example: `  lifeboat --config examples/lifeboat.yaml sla orders
  lifeboat sla orders -o json`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if a.configPath == "" {
				return usageErr("sla needs --config or LIFEBOAT_CONFIG")
			}
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			if err := cfg.Validate(); err != nil {
				return exitError{exitUsage, fmt.Errorf("invalid configuration:\n  - %s", strings.ReplaceAll(err.Error(), "\n", "\n  - "))}
			}
			if _, ok := cfg.ServiceByName(args[0]); !ok {
				_, err := sla.Compute(cfg.Services, nil, args[0], nil)
				return exitError{exitUsage, err}
			}
			files, err := cfg.Plans()
			if err != nil {
				fmt.Fprintf(a.stderr, "warning: some plans could not be read, their objective RTOs are unknown: %v\n", err)
			}
			plans := make(map[string]*plan.Plan, len(files))
			for n, f := range files {
				plans[n] = f.Plan
			}
			ctx := cmd.Context()
			out := slaOutput{}
			var drills sla.Drills = sla.NoDrills{}
			// Signed evidence, where the configuration keeps it, is what the drills proved;
			// without it, the drills' workflows in Temporal stand in.
			evidenceSource, err := a.evidenceDrills(ctx, cfg)
			if err != nil {
				return err
			}
			var c client.Client
			if evidenceSource != nil {
				list, rerr := evidenceSource.Drills(ctx)
				if rerr != nil {
					fmt.Fprintf(a.stderr, "warning: some drill records could not be read or verified: %v\n", rerr)
				}
				drills = readiness.LatestDrills(list)
			} else if c, _, err = a.dial(ctx); err != nil {
				out.DrillsUnread = err.Error()
				fmt.Fprintf(a.stderr, "warning: drills not read, the estimate uses the plans' objective RTOs: %v\n", err)
			} else {
				defer c.Close()
				td := newTemporalDrills(ctx, c)
				drills = td
				defer func() {
					if err := errors.Join(td.errs...); err != nil {
						fmt.Fprintf(a.stderr, "warning: some drills could not be read: %v\n", err)
					}
				}()
			}
			out.Result, err = sla.Compute(cfg.Services, plans, args[0], drills)
			if err != nil {
				return err
			}
			if err := a.print(out, func(w io.Writer) { printSLA(w, out) }); err != nil {
				return err
			}
			if o := out.Objective; o != nil && !o.Met {
				return exitError{exitBadOutcome, fmt.Errorf("service %s: availability %s misses its objective of %s by %s of downtime a year",
					args[0], out.Availability, o.Availability, units.Duration(-o.Margin).Human())}
			}
			return nil
		},
	}
}

// printSLA writes the result as a verdict, a tree, the limiting component and the drill estimate.
func printSLA(out io.Writer, r slaOutput) {
	var b strings.Builder
	writeSLA(&b, r)
	// The tables' last column is often empty: no line ends in spaces.
	lines := strings.Split(b.String(), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	_, _ = io.WriteString(out, strings.Join(lines, "\n"))
}

func writeSLA(w io.Writer, r slaOutput) {
	name := r.Service.Name
	fmt.Fprintf(w, "%s: %s available", name, r.Availability)
	if o := r.Objective; o != nil {
		verdict := "met"
		if !o.Met {
			verdict = "MISSED"
		}
		fmt.Fprintf(w, ", objective %s: %s\n", o.Availability, verdict)
		spare := "to spare"
		margin := o.Margin
		if margin < 0 {
			spare, margin = "too much", -margin
		}
		fmt.Fprintf(w, "  expected downtime %s a year; the objective allows %s: %s %s\n", r.Downtime, o.Allowed, margin.Human(), spare)
	} else {
		fmt.Fprintf(w, ", no availability objective\n  expected downtime %s a year\n", r.Downtime)
	}

	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE / COMPONENT\tAVAILABILITY\tDOWNTIME/YEAR\tNOTES")
	printNode(tw, r.Service, "", "", true)
	_ = tw.Flush()

	if l := r.Limiting; l != nil {
		fmt.Fprintf(w, "\nLimiting: %s (%s), %s%% of the unavailability: %s.\n", l.Component, l.Service, trimFloat(l.Share), l.Why)
	}

	e := r.Estimate
	fmt.Fprintln(w)
	if len(e.Rows) == 0 {
		fmt.Fprintln(w, "Expected downtime from drills: no component has both a plan and failures_per_year.")
		return
	}
	fmt.Fprintf(w, "Expected downtime from drills: %s a year", e.Downtime)
	if e.WithinObjective != nil {
		if *e.WithinObjective {
			fmt.Fprint(w, ", within what the objective allows")
		} else {
			fmt.Fprint(w, ", MORE than the objective allows")
		}
	}
	switch {
	case !e.Complete:
		fmt.Fprint(w, " (incomplete: some RTOs are unknown)")
	case !e.Measured:
		fmt.Fprint(w, " (some RTOs not measured)")
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, row := range e.Rows {
		rto := "?"
		if row.Source != sla.SourceNone {
			rto = row.RTO.Human()
		}
		fmt.Fprintf(tw, "  %s\t%s × %s\t= %s\tplan %s, %s\n", row.Component, trimFloat(row.FailuresPerYear), rto, row.Downtime.Human(), row.Plan, row.Note)
	}
	_ = tw.Flush()
	if r.DrillsUnread != "" {
		fmt.Fprintln(w, "  (drills could not be read from Temporal)")
	}
}

// printNode writes a service and, below it, its components and dependencies as a tree.
func printNode(tw io.Writer, n sla.Node, lead, childLead string, root bool) {
	label := n.Name
	note := ""
	if !root {
		label = "service " + n.Name
	}
	switch {
	case n.CountedAbove:
		note = "counted once, above"
	case len(n.DependsOn) > 0:
		note = "own components " + n.Own.String()
	}
	fmt.Fprintf(tw, "%s%s\t%s\t%s\t%s\n", lead, label, n.Availability, n.Downtime.Duration.Human(), note)
	if n.CountedAbove {
		return
	}
	type child struct {
		comp *sla.Component
		dep  *sla.Node
	}
	var kids []child
	for i := range n.Components {
		kids = append(kids, child{comp: &n.Components[i]})
	}
	for i := range n.DependsOn {
		kids = append(kids, child{dep: &n.DependsOn[i]})
	}
	for i, k := range kids {
		branch, next := "├─ ", "│  "
		if i == len(kids)-1 {
			branch, next = "└─ ", "   "
		}
		if k.dep != nil {
			printNode(tw, *k.dep, childLead+branch, childLead+next, false)
		} else {
			printComponent(tw, *k.comp, childLead+branch, childLead+next)
		}
	}
}

// printComponent writes a component and its redundant members.
func printComponent(tw io.Writer, c sla.Component, lead, childLead string) {
	var notes []string
	if len(c.Members) > 0 {
		g := "redundant: " + c.Parallel.String() + " in parallel"
		if c.Failover > 0 {
			g += fmt.Sprintf(", less %s × %s failover = %s", trimFloat(c.FailuresPerYear), c.Failover.Human(), c.FailoverLoss.Human())
		}
		notes = append(notes, g)
	}
	if c.Plan != "" {
		notes = append(notes, "plan "+c.Plan)
	}
	if c.FailuresPerYear > 0 && len(c.Members) == 0 {
		notes = append(notes, failures(c.FailuresPerYear))
	}
	fmt.Fprintf(tw, "%s%s\t%s\t%s\t%s\n", lead, c.Name, c.Availability, c.Downtime.Duration.Human(), strings.Join(notes, ", "))
	for i, m := range c.Members {
		branch, next := "├─ ", "│  "
		if i == len(c.Members)-1 {
			branch, next = "└─ ", "   "
		}
		printComponent(tw, m, childLead+branch, childLead+next)
	}
}

// failures writes "1 failure a year", "2.5 failures a year".
func failures(n float64) string {
	if n == 1 {
		return "1 failure a year"
	}
	return trimFloat(n) + " failures a year"
}

// trimFloat writes f in as few digits as it needs.
func trimFloat(f float64) string { return strings.TrimSuffix(fmt.Sprintf("%g", f), ".0") }

// temporalDrills reads the RTOs drills measured from Temporal: for each plan, the newest closed
// drill (a Recovery workflow in drill mode) whose record says it succeeded. Errors are collected
// in errs; a plan whose drills could not be read counts as not measured.
type temporalDrills struct {
	ctx   context.Context
	c     client.Client
	found map[string]drillRTO
	errs  []error
}

type drillRTO struct {
	rto time.Duration
	at  time.Time
	ok  bool
}

// maxDrillsRead bounds how many closed drills of a plan are read looking for one that succeeded.
const maxDrillsRead = 20

func newTemporalDrills(ctx context.Context, c client.Client) *temporalDrills {
	return &temporalDrills{ctx: ctx, c: c, found: map[string]drillRTO{}}
}

var _ sla.Drills = (*temporalDrills)(nil)

// LatestRTO returns the RTO of the plan's latest successful drill and when it finished.
func (d *temporalDrills) LatestRTO(planName string) (time.Duration, time.Time, bool) {
	if r, ok := d.found[planName]; ok {
		return r.rto, r.at, r.ok
	}
	r := d.latest(planName)
	d.found[planName] = r
	return r.rto, r.at, r.ok
}

func (d *temporalDrills) latest(planName string) drillRTO {
	if strings.ContainsAny(planName, `'"\`) {
		return drillRTO{}
	}
	query := fmt.Sprintf("WorkflowType = '%s' AND %s = '%s' AND %s = '%s' AND ExecutionStatus = 'Completed'",
		workflows.RecoveryWorkflow, workflows.KindKey.GetName(), workflows.RecoveryKind(workflows.ModeDrill), workflows.AssetKey.GetName(), planName)
	rows, err := listRuns(d.ctx, d.c, query, maxDrillsRead)
	if err != nil {
		d.errs = append(d.errs, fmt.Errorf("drills of plan %s: %w", planName, err))
		return drillRTO{}
	}
	// The latest drill is the one that ended last.
	slices.SortStableFunc(rows, func(x, y runRow) int { return closedAt(y).Compare(closedAt(x)) })
	for _, row := range rows {
		var res workflows.RecoveryResult
		if err := d.c.GetWorkflow(d.ctx, row.WorkflowID, row.RunID).Get(d.ctx, &res); err != nil {
			d.errs = append(d.errs, fmt.Errorf("drill %s of plan %s: %w", row.WorkflowID, planName, err))
			continue
		}
		if res.Mode != workflows.ModeDrill || res.Status != plan.StatusSucceeded {
			continue
		}
		at := res.FinishedAt
		if at.IsZero() {
			at = closedAt(row)
		}
		return drillRTO{rto: res.RTO.D(), at: at, ok: true}
	}
	return drillRTO{}
}

func closedAt(r runRow) time.Time {
	if r.ClosedAt != nil {
		return *r.ClosedAt
	}
	return r.StartedAt
}
