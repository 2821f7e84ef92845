package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/lifeboat-dr/lifeboat/activities/contract"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/lifeboat-dr/lifeboat/activities/plan"
	"github.com/lifeboat-dr/lifeboat/integrations/identity"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
	"github.com/lifeboat-dr/lifeboat/worker/config"
	"github.com/lifeboat-dr/lifeboat/workflows"
	"github.com/lifeboat-dr/lifeboat/workflows/approval"
)

// planPattern is what a plan's metadata.name must look like (activities/plan validates the same).
var planPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// Limits on what goes into a Recovery workflow's start: the summary is a one-line title (Temporal
// refuses long ones), the full reason goes into the details.
const (
	maxReasonLen  = approval.MaxReasonLen
	maxSummaryLen = 200
)

// recoveryKind is one of the commands that start a Recovery workflow.
type recoveryKind struct {
	verb  string // the command: failover, failback, drill, rehearse
	title string // the summary's first word: Failover, Failback, Drill, Rehearsal
	mode  string // workflows.ModeRecovery, workflows.ModeDrill or workflows.ModeRehearsal
	// noun names a run in messages (the verb when empty); who is the flag that names its starter
	// (requester when empty).
	noun, who string
}

var (
	failoverKind = recoveryKind{verb: "failover", title: "Failover", mode: workflows.ModeRecovery}
	failbackKind = recoveryKind{verb: "failback", title: "Failback", mode: workflows.ModeRecovery}
	drillKind    = recoveryKind{verb: "drill", title: "Drill", mode: workflows.ModeDrill}
	rehearseKind = recoveryKind{verb: "rehearse", title: "Rehearsal", mode: workflows.ModeRehearsal, noun: "rehearsal", who: "as"}
)

// kind is the LifeboatKind search attribute and the workflow ID's prefix: recovery, drill or
// rehearsal.
func (k recoveryKind) kind() string { return workflows.RecoveryKind(k.mode) }

// name names a run of this kind in messages: failover, drill, rehearsal.
func (k recoveryKind) name() string { return cmp.Or(k.noun, k.verb) }

// whoFlag is the flag that names who starts the run.
func (k recoveryKind) whoFlag() string { return cmp.Or(k.who, "requester") }

const recoveryFollowHelp = `Unless --no-wait, every change of a step is shown on stderr as it happens — a step running,
waiting at a gate (with the command that decides it), succeeding or failing — and the result is
printed at the end: each step with its status, duration and result, the compensations run, and
the RTO achieved against the plan's objective. The exit code is 0 when the plan succeeded, 3 when
it failed or was cancelled, and 1 when the plan is already running (follow that run with
'lifeboat status WORKFLOW-ID').`

func (a *app) failoverCommand() *cobra.Command {
	return a.recoveryCommand(failoverKind,
		"Run a recovery plan: fail a service over, through its approval gates, and follow it",
		`Start a Recovery workflow that runs PLAN, a recovery plan from the worker's plans directory (by its
metadata.name), with the workflow ID recovery-PLAN. Temporal runs one recovery per plan at a time:
while recovery-PLAN runs, another failover or failback of PLAN is refused; once it has ended, the
plan can run again under the same ID.

The plan's steps run in dependency order. Approval, decision and manual steps wait at gates until
decided with 'lifeboat approve', 'lifeboat reject' or 'lifeboat decide' by someone other than the
requester. When a critical step fails, or the workflow is cancelled, the completed steps are undone,
newest first.

`+recoveryFollowHelp,
		`  lifeboat failover orders-db-failover --reason "primary lost in eu-west-1"
  lifeboat failover orders-db-failover --requester alice --no-wait -o json`)
}

func (a *app) failbackCommand() *cobra.Command {
	return a.recoveryCommand(failbackKind,
		"Run a failback plan: return a service to its primary site, and follow it",
		`Start a Recovery workflow that runs PLAN, a failback plan from the worker's plans directory (by its
metadata.name), with the workflow ID recovery-PLAN. A failback is a recovery plan like any other —
it is written the other way round, such as orders-db-failback — so this command works exactly as
'lifeboat failover': one run per plan at a time, the same gates, compensation and exit codes.

`+recoveryFollowHelp,
		`  lifeboat failback orders-db-failback --reason "eu-west-1 is healthy again"`)
}

func (a *app) drillCommand() *cobra.Command {
	return a.recoveryCommand(drillKind,
		"Rehearse a recovery plan: run it, measure it against its RTO, then undo it",
		`Start a Recovery workflow that runs PLAN in drill mode, with the workflow ID drill-PLAN: the plan runs
as in a failover, through the same gates, and is timed against its RTO objective; then every step
that has a compensation is undone, newest first, also when the plan succeeded. One drill per plan
runs at a time, apart from any recovery of the same plan.

`+recoveryFollowHelp,
		`  lifeboat drill orders-db-failover --reason "quarterly DR exercise"`)
}

func (a *app) rehearseCommand() *cobra.Command {
	return a.recoveryCommand(rehearseKind,
		"Rehearse a recovery plan at the table: simulate its actions, practise its decisions for real",
		`Start a Recovery workflow that runs PLAN in rehearsal mode, with the workflow ID rehearsal-PLAN: a
tabletop exercise. Every action step is simulated — recorded as what it would do, with its
parameters (secrets by name only) and the targets it would reach — and never carried out; so is
every compensation. Nothing the plan names is touched. Gates, decisions, manual steps, waits,
escalations and notifications are real, so that the team practises its decisions and their timing:
answer the gates with 'lifeboat approve', 'lifeboat reject' and 'lifeboat decide' as in a recovery.
Every notification is marked [rehearsal].

Whoever may start a drill of PLAN may start a rehearsal. 'lifeboat status' and 'lifeboat report'
show how long after each gate opened each person answered. One rehearsal per plan runs at a time,
apart from any recovery or drill of the same plan.

`+recoveryFollowHelp,
		`  lifeboat rehearse orders-db-failover --as erin --reason "quarterly tabletop exercise"`)
}

// recoveryCommand is failover, failback, drill or rehearse.
func (a *app) recoveryCommand(k recoveryKind, short, long, example string) *cobra.Command {
	var (
		reason, requester, incidentAt string
		noWait                        bool
	)
	cmd := &cobra.Command{
		Use:     k.verb + " PLAN",
		Short:   short,
		Long:    long,
		Example: example,
		Args:    planArg(k.verb),
		RunE: func(cmd *cobra.Command, args []string) error {
			in := workflows.RecoveryInput{Plan: args[0], Mode: k.mode, Requester: strings.TrimSpace(requester), Reason: strings.TrimSpace(reason)}
			if incidentAt != "" {
				t, err := parseIncidentAt(incidentAt, time.Now())
				if err != nil {
					return usageErr("--incident-at: %v", err)
				}
				in.IncidentAt = t
			}
			switch {
			case in.Requester == "":
				return usageErr("--%s: say who starts the %s", k.whoFlag(), k.name())
			case len(in.Requester) > approval.MaxIdentityLen:
				return usageErr("--%s: %d bytes, at most %d", k.whoFlag(), len(in.Requester), approval.MaxIdentityLen)
			case len(in.Reason) > maxReasonLen:
				return usageErr("--reason: %d bytes, at most %d", len(in.Reason), maxReasonLen)
			}
			ctx := cmd.Context()
			c, cfg, err := a.dial(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			s, err := a.assert(ctx, cfg, in.Requester, cmd.Flags().Changed(k.whoFlag()),
				identity.Assertion{Act: identity.ActStart, Workflow: workflows.RecoveryWorkflowID(k.mode, in.Plan), Subject: in.Plan}, time.Minute)
			if err != nil {
				return err
			}
			in.Assertion, in.Requester = s.token, s.person
			run, started, err := a.startRecovery(ctx, c, cfg, k, in)
			if err != nil {
				return err
			}
			if noWait {
				if a.output == "text" {
					fmt.Fprintf(a.stdout, "Follow it with: lifeboat status %s\n", started.WorkflowID)
				}
				return a.printStarted(started)
			}
			var result workflows.RecoveryResult
			view := newPlanView(a.stderr, started.WorkflowID)
			err = watchRun(a, ctx, c, run, &result, func(st workflows.RecoveryResult, _ *contract.OpProgress) string {
				var gates []approval.PendingGate
				if atGate(st) {
					gates = pendingGates(ctx, c, run.GetID(), run.GetRunID())
				}
				view.update(st, gates)
				return ""
			})
			// The last changes happened after the last look: show them too, from the record.
			if a.output == "text" && (err == nil || recoveryFailureDetails(err, &result)) {
				view.update(result, nil)
			}
			return a.finishRecovery(ctx, runOutput{startedOutput: started}, err, &result, k.name())
		},
	}
	f := cmd.Flags()
	f.StringVar(&reason, "reason", "", "why the plan runs: shown in the Web UI and the report")
	if k.whoFlag() == "requester" {
		f.StringVar(&requester, "requester", a.whoAmI(), "who starts the plan; they cannot approve its gates themselves")
	} else {
		f.StringVar(&requester, k.whoFlag(), a.whoAmI(), "who starts the "+k.name()+": your ID in the identity directory (with a signing key, the key's person); they cannot approve its gates themselves")
	}
	f.BoolVar(&noWait, "no-wait", false, "print the workflow ID and return at once")
	f.StringVar(&incidentAt, "incident-at", "", "when the incident began, as an RFC 3339 time or a duration ago (15m): the data-loss window (RPO) is measured to it (default: now)")
	return cmd
}

// parseIncidentAt reads an RFC 3339 time, or a duration before now ("15m" is 15 minutes ago).
func parseIncidentAt(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		if t.After(now.Add(time.Minute)) {
			return time.Time{}, fmt.Errorf("%s is in the future", s)
		}
		return t.UTC(), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time (2026-01-02T15:04:05Z) nor a duration ago (15m)", s)
	}
	return now.Add(-d).UTC(), nil
}

// planArg requires exactly one argument, a valid plan name.
func planArg(verb string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch len(args) {
		case 0:
			return usageErr("missing PLAN: name the plan to %s, by its metadata.name (see %s --help)", verb, cmd.CommandPath())
		case 1:
			if !planPattern.MatchString(args[0]) {
				return usageErr("%q is not a plan name: use 1-63 lower-case letters, digits and '-', starting with a letter or digit", args[0])
			}
			return nil
		default:
			return usageErr("one PLAN at a time, got %d: %s (see %s --help)", len(args), strings.Join(args, " "), cmd.CommandPath())
		}
	}
}

// recoverySummary is the one-line title of the workflow in the Web UI.
func recoverySummary(k recoveryKind, in workflows.RecoveryInput) string {
	by := ", started by " + in.Requester
	if in.Reason == "" {
		return k.title + ": " + in.Plan + by
	}
	reason := in.Reason
	if room := maxSummaryLen - len(k.title+in.Plan+by) - len(": ()…"); len(reason) > room {
		reason = strings.ToValidUTF8(reason[:max(room, 0)], "") + "…"
	}
	return fmt.Sprintf("%s: %s (%s)%s", k.title, in.Plan, reason, by)
}

// recoveryDetails is the Markdown the Web UI shows under the summary.
func recoveryDetails(k recoveryKind, in workflows.RecoveryInput) string {
	var b strings.Builder
	if in.Reason != "" {
		fmt.Fprintf(&b, "**Reason:** %s\n\n", in.Reason)
	}
	fmt.Fprintf(&b, "Plan `%s` in %s mode, started with `lifeboat %s` by %s.\n", in.Plan, in.Mode, k.verb, in.Requester)
	switch in.Mode {
	case workflows.ModeDrill:
		b.WriteString("\nA drill: the steps that have a compensation are undone at the end.\n")
	case workflows.ModeRehearsal:
		b.WriteString("\nA rehearsal: every action is simulated, never carried out; gates, waits, escalations and notifications are real.\n")
	}
	return b.String()
}

// startRecovery starts the plan's Recovery workflow, refusing to when one already runs under its ID,
// and prints its ID and Web UI link with text output.
func (a *app) startRecovery(ctx context.Context, c client.Client, cfg config.Config, k recoveryKind, in workflows.RecoveryInput) (client.WorkflowRun, startedOutput, error) {
	// One of each runs per plan at a time.
	id := workflows.RecoveryWorkflowID(k.mode, in.Plan)
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:        id,
		TaskQueue: cfg.Worker.TaskQueue,
		// One run per plan: a second start fails while one runs; a finished one can run again.
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		// Without it the SDK quietly hands back the running workflow as if it were new.
		WorkflowExecutionErrorWhenAlreadyStarted: true,

		StaticSummary:         recoverySummary(k, in),
		StaticDetails:         recoveryDetails(k, in),
		TypedSearchAttributes: temporal.NewSearchAttributes(workflows.KindKey.ValueSet(k.kind()), workflows.AssetKey.ValueSet(in.Plan)),
	}, workflows.RecoveryWorkflow, in)
	if err != nil {
		var running *serviceerror.WorkflowExecutionAlreadyStarted
		if errors.As(err, &running) {
			what := "a recovery"
			switch k.mode {
			case workflows.ModeDrill:
				what = "a drill"
			case workflows.ModeRehearsal:
				what = "a rehearsal"
			}
			return nil, startedOutput{}, exitError{exitFailure, fmt.Errorf("%s of plan %s is already running as workflow %s (run %s), and only one runs per plan at a time: follow it with 'lifeboat status %s'",
				what, in.Plan, id, running.RunId, id)}
		}
		return nil, startedOutput{}, fmt.Errorf("start %s of plan %s (%s): %w", k.name(), in.Plan, id, err)
	}
	out := startedOutput{WorkflowID: run.GetID(), RunID: run.GetRunID(), URL: workflowURL(cfg, run.GetID(), run.GetRunID())}
	if a.output == "text" {
		fmt.Fprintf(a.stdout, "Started %s workflow %s (%s of plan %s, requested by %s)\n", workflows.RecoveryWorkflow, out.WorkflowID, k.name(), in.Plan, in.Requester)
		if out.URL != "" {
			fmt.Fprintf(a.stdout, "  Web UI: %s\n", out.URL)
		}
	}
	return run, out, nil
}

// finishRecovery prints the outcome of a plan the CLI waited for. A failed or cancelled plan's
// record is read from the failure's details, printed, and turned into exit code 3.
func (a *app) finishRecovery(ctx context.Context, out runOutput, runErr error, result *workflows.RecoveryResult, what string) error {
	if runErr != nil && (ctx.Err() != nil || stoppedWaiting(runErr)) {
		reason := "interrupted"
		if ctx.Err() == nil {
			reason = runErr.Error()
		}
		return exitError{exitFailure, fmt.Errorf("stopped waiting for %s %s (%s), which goes on: follow it with 'lifeboat status %s'", what, out.WorkflowID, reason, out.WorkflowID)}
	}
	hasResult := runErr == nil || recoveryFailureDetails(runErr, result)
	out.Status = "completed"
	if hasResult {
		out.Result = result
	}
	if runErr != nil {
		out.Status, out.Error = "failed", workflowErrMessage(runErr)
		var canceled *temporal.CanceledError
		if errors.As(runErr, &canceled) {
			out.Status = "canceled"
		}
	}
	if err := a.print(out, func(w io.Writer) {
		if hasResult {
			printRecovery(w, *result, out.WorkflowID, nil, time.Now())
		} else {
			fmt.Fprintf(w, "%s %s %s: %s\n", what, out.WorkflowID, out.Status, out.Error)
		}
	}); err != nil {
		return err
	}
	if runErr != nil {
		return exitError{exitBadOutcome, fmt.Errorf("%s %s %s: %s", what, out.WorkflowID, out.Status, out.Error)}
	}
	return nil
}

// recoveryFailureDetails reads the record a failed or cancelled Recovery workflow carries in its
// failure's details into r; it reports whether there was one.
func recoveryFailureDetails(err error, r *workflows.RecoveryResult) bool {
	var canceled *temporal.CanceledError
	if errors.As(err, &canceled) {
		return canceled.HasDetails() && canceled.Details(r) == nil
	}
	return failureDetails(err, r)
}

// gateTypes are the step types that wait at an approval gate.
var gateTypes = map[plan.StepType]bool{plan.TypeApproval: true, plan.TypeDecision: true, plan.TypeManual: true}

// atGate reports whether a step of the plan may be waiting at a gate.
func atGate(r workflows.RecoveryResult) bool {
	for _, s := range r.Steps {
		if s.Status == workflows.StepRunning && gateTypes[s.Type] {
			return true
		}
	}
	return false
}

// pendingGates asks a workflow for its open gates; nil when it cannot answer.
func pendingGates(ctx context.Context, c client.Client, id, runID string) []approval.PendingGate {
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	v, err := c.QueryWorkflow(qctx, id, runID, approval.QueryApprovals)
	if err != nil {
		return nil
	}
	var st approval.State
	if v.Get(&st) != nil {
		return nil
	}
	return st.Pending
}

// gateCommand is the command that decides a plan's open gate.
func gateCommand(id string, g approval.PendingGate) string {
	if len(g.Options) > 0 {
		return fmt.Sprintf("lifeboat decide %s --gate %s --choice %s", id, g.Gate, strings.Join(g.Options, "|"))
	}
	return fmt.Sprintf("lifeboat approve %s --gate %s", id, g.Gate)
}

// planView writes a running plan's changes to w: a line each time a step's state changes.
type planView struct {
	w    io.Writer
	id   string
	last map[string]string
}

func newPlanView(w io.Writer, id string) *planView {
	return &planView{w: w, id: id, last: map[string]string{}}
}

// update writes a line for every step whose state changed since the last update.
func (v *planView) update(r workflows.RecoveryResult, gates []approval.PendingGate) {
	for _, s := range r.Steps {
		line := stepLine(v.id, s, gates)
		if line == "" || line == v.last[s.ID] {
			continue
		}
		v.last[s.ID] = line
		fmt.Fprintf(v.w, "  %s\n", line)
	}
}

// stepLine says what a step is doing or did, such as "step promote succeeded in 106ms: promoted";
// "" for a step that has not started.
func stepLine(id string, s workflows.StepState, gates []approval.PendingGate) string {
	head := "step " + s.ID
	switch s.Status {
	case workflows.StepPending:
		return ""
	case workflows.StepRunning:
		if !gateTypes[s.Type] {
			return head + " running"
		}
		for _, g := range gates {
			if g.Gate == s.ID {
				return head + " " + gateLine(id, s.Type, g)
			}
		}
		return head + " waiting at its gate"
	case plan.StatusSucceeded:
		line := head + " succeeded in " + s.Duration.Human()
		if s.Summary != "" {
			line += ": " + s.Summary
		}
		return line + undone(s)
	case plan.StatusFailed:
		line := head + " FAILED after " + s.Duration.Human()
		if s.Error != "" {
			line += ": " + s.Error
		}
		return line
	case workflows.StepCompensated:
		return head + " undone: " + s.Compensation
	}
	// skipped, not run
	line := head + " " + s.Status
	if why := cmp.Or(s.Summary, s.Error); why != "" {
		line += ": " + why
	}
	return line
}

// gateLine describes an open gate and says how to decide it.
func gateLine(id string, t plan.StepType, g approval.PendingGate) string {
	count := fmt.Sprintf("(%d of %d", len(g.ApprovedBy), g.Quorum)
	if len(g.ApprovedBy) > 0 {
		count += ", approved by " + strings.Join(g.ApprovedBy, ", ")
	}
	count += ")"
	switch {
	case len(g.Options) > 0:
		return fmt.Sprintf("waiting for a decision %s: %s — decide with: %s", count, g.Title, gateCommand(id, g))
	case t == plan.TypeManual:
		return fmt.Sprintf("waiting to be done %s: %s — when done: %s", count, g.Title, gateCommand(id, g))
	}
	return fmt.Sprintf("waiting for approval %s — approve with: %s", count, gateCommand(id, g))
}

// undone says how a step's compensation went, when it failed: the step then still stands.
func undone(s workflows.StepState) string {
	if s.Compensation == "" {
		return ""
	}
	return "; undo " + s.Compensation
}

// printRecovery prints a plan's record: its outcome, RTO, steps, compensations and, while it runs,
// the gates waiting for a decision with the command for each.
func printRecovery(w io.Writer, r workflows.RecoveryResult, id string, gates []approval.PendingGate, now time.Time) {
	head := "Recovery plan " + r.Plan
	switch r.Mode {
	case workflows.ModeDrill:
		head = "Drill of plan " + r.Plan
	case workflows.ModeRehearsal:
		head = "Rehearsal of plan " + r.Plan
	}
	status := r.Status
	if status == plan.StatusFailed || status == "canceled" {
		status = strings.ToUpper(status)
	}
	fmt.Fprintf(w, "%s %s\n", head, status)
	req := "  requested by " + r.Requester
	if r.Reason != "" {
		req += ": " + r.Reason
	}
	fmt.Fprintln(w, req)
	if r.Mode == workflows.ModeRehearsal {
		fmt.Fprintln(w, "  a rehearsal: actions are simulated, never carried out; gates, waits and notifications are real")
	}
	if line := rtoLine(r, now); line != "" {
		fmt.Fprintf(w, "  RTO       %s\n", line)
	}
	if line := rpoLine(r); line != "" {
		fmt.Fprintf(w, "  RPO       %s\n", line)
	}
	if r.Error != "" {
		fmt.Fprintf(w, "  error     %s\n", r.Error)
	}
	if r.Evidence != nil {
		fmt.Fprintf(w, "  %s\n", r.Evidence.Line())
	}
	if len(r.Steps) > 0 {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  STEP\tTYPE\tSTATUS\tTOOK\tRESULT")
		for _, s := range r.Steps {
			took := ""
			switch {
			case s.Duration > 0:
				took = s.Duration.Human()
			case s.Status == workflows.StepRunning && !s.StartedAt.IsZero():
				took = units.Duration(now.Sub(s.StartedAt).Round(time.Second)).Human() + " so far"
			}
			result := s.Summary
			if s.Error != "" {
				result = s.Error
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", s.ID, s.Type, s.Status, took, oneLine(result))
		}
		_ = tw.Flush()
	}
	var compensated []workflows.StepState
	for _, s := range r.Steps {
		if s.Compensation != "" {
			compensated = append(compensated, s)
		}
	}
	if len(compensated) > 0 {
		fmt.Fprintln(w, "\n  Compensations:")
		for _, s := range compensated {
			fmt.Fprintf(w, "    %s: %s\n", s.ID, oneLine(s.Compensation))
		}
	}
	if r.Mode == workflows.ModeRehearsal {
		printLatencies(w, r.DecisionLatencies())
	}
	if len(gates) > 0 {
		fmt.Fprintln(w, "\n  Waiting for a decision:")
		for _, g := range gates {
			who := "anyone but " + g.Requester
			if len(g.Approvers) > 0 {
				who = strings.Join(g.Approvers, ", ") + " (not " + g.Requester + ")"
			}
			title := ""
			if g.Title != g.Gate {
				title = " " + g.Title + " —"
			}
			fmt.Fprintf(w, "    %s:%s %d of %d approvals by %s", g.Gate, title, len(g.ApprovedBy), g.Quorum, who)
			if len(g.ApprovedBy) > 0 {
				fmt.Fprintf(w, "; approved by %s", strings.Join(g.ApprovedBy, ", "))
			}
			if !g.ExpiresAt.IsZero() {
				fmt.Fprintf(w, "; expires %s", g.ExpiresAt.Local().Format("2006-01-02 15:04"))
			}
			fmt.Fprintf(w, "\n      %s\n", gateCommand(id, g))
			if len(g.Options) == 0 {
				fmt.Fprintf(w, "      lifeboat reject %s --gate %s --reason \"…\"\n", id, g.Gate)
			}
		}
	}
}

// rtoLine compares the time the plan took with its objective.
func rtoLine(r workflows.RecoveryResult, now time.Time) string {
	objective := r.Objectives.RTO
	switch {
	case r.RTOMet != nil && *r.RTOMet:
		return fmt.Sprintf("%s achieved, objective %s: met", r.RTO.Human(), objective.Human())
	case r.RTOMet != nil:
		return fmt.Sprintf("%s achieved, objective %s: MISSED", r.RTO.Human(), objective.Human())
	case r.Status == workflows.StepRunning && !r.StartedAt.IsZero():
		so := units.Duration(now.Sub(r.StartedAt).Round(time.Second)).Human() + " so far"
		if objective > 0 {
			return so + ", objective " + objective.Human()
		}
		return so + ", no objective set"
	case r.Status == plan.StatusSucceeded:
		return r.RTO.Human() + " achieved, no objective set"
	case objective > 0:
		return fmt.Sprintf("not achieved: the plan %s (objective %s)", r.Status, objective.Human())
	}
	return ""
}

// rpoLine compares the data-loss window measured with the objective.
func rpoLine(r workflows.RecoveryResult) string {
	if r.RPO == nil {
		return ""
	}
	line := fmt.Sprintf("%s of data at risk (newest data recovered from %s, step %s)", r.RPO.Human(), r.RecoveryPoint.UTC().Format(time.RFC3339), r.RPOStep)
	switch {
	case r.RPOMet != nil && *r.RPOMet:
		line += ", objective " + r.Objectives.RPO.Human() + ": met"
	case r.RPOMet != nil:
		line += ", objective " + r.Objectives.RPO.Human() + ": MISSED"
	}
	return line
}

// oneLine keeps a table cell on one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// printLatencies prints how long after each gate opened each answer came, and per person how many
// answers they gave, their median and their longest.
func printLatencies(w io.Writer, l workflows.DecisionLatencies) {
	if len(l.Answers) == 0 {
		return
	}
	fmt.Fprintln(w, "\n  Decision latencies (from the gate's opening to the answer):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "    GATE\tWHO\tANSWER\tAFTER")
	for _, a := range l.Answers {
		fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\n", a.Step, a.Identity, a.Answer, a.Latency.Human())
	}
	fmt.Fprintln(tw, "    \t\t\t")
	fmt.Fprintln(tw, "    PERSON\tANSWERS\tMEDIAN\tMAX")
	for _, p := range l.People {
		fmt.Fprintf(tw, "    %s\t%d\t%s\t%s\n", p.Identity, p.Answers, p.Median.Human(), p.Max.Human())
	}
	_ = tw.Flush()
}
