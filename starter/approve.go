package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/lifeboat-dr/lifeboat/integrations/identity"
	"github.com/lifeboat-dr/lifeboat/workflows"
	"github.com/lifeboat-dr/lifeboat/workflows/approval"
)

// decideFlags are approve's and reject's flags.
type decideFlags struct {
	gate, identity, reason, choice string
	timeout                        time.Duration
	asSet                          bool
}

func (a *app) approveCommand() *cobra.Command {
	var f decideFlags
	cmd := &cobra.Command{
		Use:   "approve WORKFLOW-ID",
		Short: "Approve a Lifeboat workflow waiting at an approval gate",
		Long: `Approve the approval gate a Lifeboat workflow waits at — an in-place restore, a step of a
recovery plan — as --as (default $LIFEBOAT_AS, else user@host), through the workflow's "decide" Update. The workflow
checks the decision before recording it: the requester cannot approve their own request, only the
gate's approvers may decide, and nobody decides twice. A refused decision exits with code 2 and
the reason.

--gate names the gate; it may be left out while exactly one gate is open. The gate's state after
the decision is printed: approvals so far, the quorum, and whether it closed.`,
		Example: `  lifeboat approve restore-www-20260102T030405Z
  lifeboat approve recovery-orders-20260102T030405Z --gate failover-db --as alice --reason "primary is gone"`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			f.asSet = cmd.Flags().Changed("as")
			return a.decide(cmd.Context(), args[0], true, f)
		},
	}
	a.addDecideFlags(cmd, &f, "why you approve (optional)")
	return cmd
}

func (a *app) rejectCommand() *cobra.Command {
	var f decideFlags
	cmd := &cobra.Command{
		Use:   "reject WORKFLOW-ID --reason REASON",
		Short: "Reject a Lifeboat workflow's approval gate, with a reason",
		Long: `Reject the approval gate a Lifeboat workflow waits at, as --as (default $LIFEBOAT_AS, else user@host), through the
workflow's "decide" Update. --reason is required: it is recorded and sent to the people who asked.
One rejection by an approver closes the gate, and the workflow does not take the step.

--gate names the gate; it may be left out while exactly one gate is open.`,
		Example: `  lifeboat reject restore-www-20260102T030405Z --reason "wrong snapshot: use the one before the migration"`,
		Args:    usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(f.reason) == "" {
				return usageErr("reject needs --reason: say why, for the people who asked")
			}
			f.asSet = cmd.Flags().Changed("as")
			return a.decide(cmd.Context(), args[0], false, f)
		},
	}
	a.addDecideFlags(cmd, &f, "why you reject (required)")
	return cmd
}

func (a *app) decideCommand() *cobra.Command {
	var f decideFlags
	cmd := &cobra.Command{
		Use:   "decide WORKFLOW-ID --choice OPTION",
		Short: "Answer a decision a Lifeboat workflow asks, by picking one of its options",
		Long: `Answer the decision gate a Lifeboat workflow waits at — "repair in place or restore?" — as --as
(default $LIFEBOAT_AS, else user@host), through the workflow's "decide" Update. --choice must be one of the gate's
options (lifeboat status shows them); when a quorum must agree, every decider picks the same option.
To refuse every option, use lifeboat reject.`,
		Example: `  lifeboat decide recovery-orders-20260102T030405Z --gate repair-or-restore --choice restore`,
		Args:    usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(f.choice) == "" {
				return usageErr("decide needs --choice: one of the gate's options")
			}
			f.asSet = cmd.Flags().Changed("as")
			return a.decide(cmd.Context(), args[0], true, f)
		},
	}
	a.addDecideFlags(cmd, &f, "why you choose it (optional)")
	cmd.Flags().StringVar(&f.choice, "choice", "", "the option picked (required)")
	return cmd
}

func (a *app) addDecideFlags(cmd *cobra.Command, f *decideFlags, reasonHelp string) {
	fl := cmd.Flags()
	fl.StringVar(&f.gate, "gate", "", "the gate to decide (default: the only open one)")
	fl.StringVar(&f.identity, "as", a.whoAmI(), "who decides: your ID in the identity directory (with a signing key, the key's person)")
	fl.StringVar(&f.reason, "reason", "", reasonHelp)
	fl.DurationVar(&f.timeout, "timeout", time.Minute, "how long to wait for the gate to open and the workflow's worker to take the decision")
}

// decide sends the decide Update and prints the gate's state.
func (a *app) decide(ctx context.Context, id string, approve bool, f decideFlags) error {
	if strings.TrimSpace(f.identity) == "" {
		return usageErr("--as: say who decides")
	}
	if f.timeout <= 0 {
		return usageErr("--timeout %s: must be positive", f.timeout)
	}
	c, cfg, err := a.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	d := approval.Decision{Gate: f.gate, Approve: approve, Identity: f.identity, Channel: approval.ChannelCLI, Reason: f.reason, Choice: f.choice}
	uctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	if signs, err := a.signs(cfg); err != nil {
		return err
	} else if signs {
		// The assertion names the gate: find the open one when --gate is left out.
		if d.Gate == "" {
			if d.Gate, err = a.onlyOpenGate(uctx, c, id); err != nil {
				return err
			}
		}
		s, err := a.assert(ctx, cfg, f.identity, f.asSet, identity.Assertion{Act: identity.ActDecide, Workflow: id,
			Gate: d.Gate, Approve: approve, Choice: f.choice}, f.timeout+time.Minute)
		if err != nil {
			return err
		}
		d.Assertion, d.Identity = s.token, s.person
		if s.channel == "oidc" {
			// The worker vouched for the person: the record says how they were known.
			d.Channel = approval.Channel(s.channel)
		}
	}
	var state approval.GateState
	// A gate that has not opened yet — the plan is still on the steps before it — is waited for,
	// up to --timeout, as the person deciding would.
	for wait, told := 200*time.Millisecond, false; ; wait = min(2*wait, 2*time.Second) {
		err = updateWorkflow(uctx, c, client.UpdateWorkflowOptions{
			WorkflowID: id, UpdateName: approval.UpdateDecide, Args: []any{d},
			WaitForStage: client.WorkflowUpdateStageCompleted,
		}, &state)
		if r, refused := approval.RefusalOf(err); !refused || r.Kind != approval.RefusedNotOpen {
			break
		}
		if !told {
			fmt.Fprintf(a.stderr, "%s: the gate is not open yet; waiting up to %s for it to open…\n", id, f.timeout)
			told = true
		}
		select {
		case <-uctx.Done():
		case <-time.After(wait):
			continue
		}
		break
	}
	if err != nil {
		return a.decideError(ctx, c, id, "decision", err, uctx.Err() != nil && ctx.Err() == nil, f.timeout)
	}
	d.Assertion = ""
	out := struct {
		WorkflowID string             `json:"workflow_id"`
		Decision   approval.Decision  `json:"decision"`
		State      approval.GateState `json:"state"`
	}{id, d, state}
	return a.print(out, func(w io.Writer) { printGateState(w, id, approve, state) })
}

// onlyOpenGate names the gate workflow id waits at, waiting while none is open; more than one open
// is a usage error.
func (a *app) onlyOpenGate(ctx context.Context, c client.Client, id string) (string, error) {
	for wait := 200 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		v, err := c.QueryWorkflow(ctx, id, "", approval.QueryApprovals)
		if err != nil {
			return "", a.decideError(ctx, c, id, "decision", err, ctx.Err() != nil, 0)
		}
		var st approval.State
		if err := v.Get(&st); err != nil {
			return "", err
		}
		switch len(st.Pending) {
		case 1:
			return st.Pending[0].Gate, nil
		case 0:
		default:
			var open []string
			for _, g := range st.Pending {
				open = append(open, g.Gate)
			}
			return "", usageErr("%d gates are open (%s): name one with --gate", len(open), strings.Join(open, ", "))
		}
		select {
		case <-ctx.Done():
			return "", exitError{exitFailure, fmt.Errorf("workflow %s opened no gate in time", id)}
		case <-time.After(wait):
		}
	}
}

// updateWorkflow sends an Update and waits for its result, sending it again while the workflow is not
// ready for it: when the workflow task that took it failed (as it does when the workflow ended in the
// same task as something else happened), the server drops the Update and says so.
func updateWorkflow(ctx context.Context, c client.Client, opts client.UpdateWorkflowOptions, result any) error {
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		h, err := c.UpdateWorkflow(ctx, opts)
		if err == nil {
			err = h.Get(ctx, result)
		}
		var notReady *serviceerror.WorkflowNotReady
		if !errors.As(err, &notReady) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}

// decideError explains why a decision (or what else was sent: an acknowledgement) was not taken.
func (a *app) decideError(ctx context.Context, c client.Client, id, what string, err error, timedOut bool, timeout time.Duration) error {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		// The gate's validator refused it, or the workflow has no gates at all.
		return exitError{exitUsage, fmt.Errorf("workflow %s refused the %s: %s", id, what, appErr.Message())}
	}
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		// A closed workflow is "not found" to Updates: say which it is.
		if desc, derr := c.DescribeWorkflowExecution(ctx, id, ""); derr == nil {
			status := desc.GetWorkflowExecutionInfo().GetStatus()
			if status != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
				return exitError{exitFailure, fmt.Errorf("workflow %s is %s: it takes no %s any more", id, strings.ToLower(status.String()), what)}
			}
		}
		return notFound(err, id)
	}
	if timedOut {
		return exitError{exitFailure, fmt.Errorf("workflow %s did not take the %s within %s: is lifeboat-worker running? (%w)", id, what, timeout, err)}
	}
	return fmt.Errorf("send the %s to workflow %s: %w", what, id, err)
}

func printGateState(w io.Writer, id string, approve bool, s approval.GateState) {
	verb := "Approved"
	if !approve {
		verb = "Rejected"
	}
	fmt.Fprintf(w, "%s gate %s of %s: %d of %d approvals", verb, s.Gate, id, s.Approvals, s.Quorum)
	switch {
	case s.Open:
		fmt.Fprintf(w, "; still open, %d more needed\n", max(s.Quorum-s.Approvals, 0))
	case s.Approved:
		fmt.Fprintln(w, "; closed, approved: the workflow goes ahead")
	default:
		fmt.Fprintln(w, "; closed, not approved: the workflow does not take the step")
	}
}

// approvalHint tells people how to decide a gate a workflow the CLI started waits at.
type approvalHint struct {
	Gate      string   `json:"gate"`
	Requester string   `json:"requester"`
	Approvers []string `json:"approvers,omitempty"`
	Quorum    int      `json:"quorum"`
	Approve   string   `json:"approve_command"`
	Reject    string   `json:"reject_command"`
	Temporal  string   `json:"temporal_command"`
}

func newApprovalHint(id, gate, requester string, approvers []string, quorum int) *approvalHint {
	return &approvalHint{
		Gate: gate, Requester: requester, Approvers: approvers, Quorum: max(quorum, 1),
		Approve:  "lifeboat approve " + id,
		Reject:   "lifeboat reject " + id + ` --reason "…"`,
		Temporal: approval.TemporalCommand(id, ""),
	}
}

func printApprovalHint(w io.Writer, h approvalHint) {
	who := "someone other than " + h.Requester
	if len(h.Approvers) > 0 {
		who = strings.Join(h.Approvers, ", ") + " (not " + h.Requester + ")"
	}
	fmt.Fprintf(w, "\nThis replaces live data: it waits at gate %s for %d approval(s) by %s.\n", h.Gate, h.Quorum, who)
	fmt.Fprintf(w, "  Approve:  %s\n", h.Approve)
	fmt.Fprintf(w, "  Reject:   %s\n", h.Reject)
	fmt.Fprintf(w, "  or:       %s\n\n", h.Temporal)
}

func (a *app) ackCommand() *cobra.Command {
	var (
		step, as, note string
		timeout        time.Duration
	)
	cmd := &cobra.Command{
		Use:   "ack WORKFLOW-ID",
		Short: "Acknowledge a running recovery's escalations: you are on it",
		Long: `Acknowledge the escalations of a running recovery or drill, as --as (default $LIFEBOAT_AS, else user@host), through
the workflow's "acknowledge" Update: the reminders of a waiting gate, the levels of a step that runs
too long, or of a missed RTO, stop — those that had begun by now; a later one escalates again. The
channels that keep incidents open (PagerDuty) are told it was acknowledged. A gate still waits for
its decision: acknowledging is not approving.

--step limits it to one step's escalation; without it, every escalation of the run stops.`,
		Example: `  lifeboat ack recovery-orders-db-failover --note "looking at the replica"
  lifeboat ack recovery-orders-db-failover --step approve`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(as) == "" {
				return usageErr("--as: say who acknowledges")
			}
			if timeout <= 0 {
				return usageErr("--timeout %s: must be positive", timeout)
			}
			ctx := cmd.Context()
			c, cfg, err := a.dial(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			id := args[0]
			ack := workflows.Acknowledgement{Identity: as, Channel: approval.ChannelCLI, Step: step, Note: note}
			s, err := a.assert(ctx, cfg, as, cmd.Flags().Changed("as"),
				identity.Assertion{Act: identity.ActAcknowledge, Workflow: id, Gate: step}, timeout+time.Minute)
			if err != nil {
				return err
			}
			ack.Assertion, ack.Identity = s.token, s.person
			if s.channel == "oidc" {
				ack.Channel = approval.Channel(s.channel)
			}
			uctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			err = updateWorkflow(uctx, c, client.UpdateWorkflowOptions{
				WorkflowID: id, UpdateName: workflows.UpdateAcknowledge, Args: []any{ack},
				WaitForStage: client.WorkflowUpdateStageCompleted,
			}, &ack)
			if err != nil {
				return a.decideError(ctx, c, id, "acknowledgement", err, uctx.Err() != nil && ctx.Err() == nil, timeout)
			}
			return a.print(struct {
				WorkflowID      string                    `json:"workflow_id"`
				Acknowledgement workflows.Acknowledgement `json:"acknowledgement"`
			}{id, workflows.Acknowledgement{Identity: ack.Identity, Channel: ack.Channel, Step: ack.Step, Note: ack.Note, Verified: ack.Verified, Time: ack.Time}}, func(w io.Writer) {
				what := "every escalation"
				if ack.Step != "" {
					what = "the escalation of step " + ack.Step
				}
				fmt.Fprintf(w, "Acknowledged %s of %s as %s at %s\n", what, id, ack.Identity, ack.Time.UTC().Format(time.RFC3339))
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&step, "step", "", "the step whose escalation stops (default: every escalation of the run)")
	f.StringVar(&as, "as", a.whoAmI(), "who acknowledges: your ID in the identity directory (with a signing key, the key's person)")
	f.StringVar(&note, "note", "", "what you are doing about it, for the channels and the report")
	f.DurationVar(&timeout, "timeout", time.Minute, "how long to wait for the workflow's worker to take it")
	return cmd
}
