package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/lifeboat-dr/lifeboat/activities/contract"
	"github.com/lifeboat-dr/lifeboat/activities/plan"
	"github.com/lifeboat-dr/lifeboat/integrations/notify"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
	"github.com/lifeboat-dr/lifeboat/workflows/approval"
)

// versionGatePhase: a recovery's LifeboatPhase is "awaiting approval" while one of its gates waits,
// and unset otherwise, so that the Web UI's view of workflows waiting for people lists it.
const versionGatePhase = "gate-phase"

// gate waits at an approval, decision or manual gate; anything but approval fails the step.
func (r *runner) gate(ctx workflow.Context, ss *StepState, req approval.Request) error {
	eligible := 0
	for _, a := range req.Approvers {
		if a != req.Requester {
			eligible++
		}
	}
	if len(req.Approvers) > 0 && req.Quorum > eligible {
		// Fewer people than the quorum are left once the requester is out: all of them must approve.
		r.audit.append(ctx, contract.AppendAuditInput{Kind: contract.AuditKindOverride, Actor: req.Requester, Subject: r.in.Plan + "/" + ss.ID,
			Details: map[string]string{"rule": "quorum", "from": fmt.Sprint(req.Quorum), "to": fmt.Sprint(max(eligible, 1)),
				"why": "fewer approvers than the quorum are left once the requester is out"}})
		req.Quorum = max(eligible, 1)
	}
	if len(req.Approvers) > 0 && eligible == 0 {
		ss.Summary = req.Requester + " started the plan and is its only approver: nobody else can approve"
		return errors.New(ss.Summary)
	}
	ss.GateOpenedAt = workflow.Now(ctx)
	r.gates.OnChange(r.details) // the details name who may answer while the gate waits
	r.details(ctx)
	info := workflow.GetInfo(ctx).WorkflowExecution
	ask := notify.Message{Event: "approval.requested", Severity: notify.Warning, DedupKey: gateDedupKey(ctx, ss.ID),
		Title: fmt.Sprintf("%s: step %s needs a decision: %s", r.p.Metadata.Name, ss.ID, req.Title),
		Text: fmt.Sprintf("Decide with `lifeboat approve %s --gate %s` (or reject, or decide --choice), or `%s`.",
			info.ID, ss.ID, approval.TemporalCommand(info.ID, ss.ID)),
		Fields:   map[string]string{"requested by": req.Requester, "approvers": strings.Join(req.Approvers, ", "), "quorum": fmt.Sprint(max(req.Quorum, 1))},
		Approval: &notify.ApprovalRef{WorkflowID: info.ID, RunID: info.RunID, Gate: ss.ID, Options: req.Options, Approvers: req.Approvers}}
	if req.Timeout > 0 {
		ask.Fields["expires in"] = units.Duration(req.Timeout).Human()
	}
	// Sent once the gate is open (Await opens it before it blocks), so a quick answer is taken. The
	// decision's message waits for it, to update the message the request posted.
	announce := r.sendsMessages(ctx)
	asked := !announce
	if announce {
		workflow.Go(ctx, func(ctx workflow.Context) {
			_ = r.alert(ctx, ask)
			asked = true
		})
	}
	waitingPhase := r.version(ctx, versionGatePhase) >= 1
	if waitingPhase {
		phase(ctx, PhaseApproval)
	}
	outcome, err := r.gates.Await(ctx, req)
	if waitingPhase && len(r.gates.Pending()) == 0 {
		if uerr := workflow.UpsertTypedSearchAttributes(ctx, PhaseKey.ValueUnset()); uerr != nil {
			workflow.GetLogger(ctx).Warn("phase not cleared", "error", uerr)
		}
	}
	ss.Approval, ss.Choice = &outcome, outcome.Choice
	r.endEscalation(ctx, gateDedupKey(ctx, ss.ID), "step "+ss.ID+" decided")
	decided := notify.Message{Event: "approval.decided", Severity: notify.Info, DedupKey: gateDedupKey(ctx, ss.ID),
		Title: fmt.Sprintf("%s: step %s %s", r.p.Metadata.Name, ss.ID, gateVerdict(outcome))}
	if announce {
		workflow.Go(ctx, func(ctx workflow.Context) {
			dctx, _ := workflow.NewDisconnectedContext(ctx)
			_ = workflow.Await(dctx, func() bool { return asked })
			_ = r.alert(dctx, decided)
		})
	}
	if err != nil {
		return err
	}
	switch {
	case outcome.Approved && outcome.Choice != "":
		ss.Summary = "chose " + outcome.Choice
	case outcome.Approved:
		ss.Summary = fmt.Sprintf("approved by %s", strings.Join(approvers(outcome), ", "))
	case outcome.RejectedBy != nil:
		ss.Summary = fmt.Sprintf("rejected by %s: %s", outcome.RejectedBy.Identity, outcome.RejectedBy.Reason)
		return errors.New(ss.Summary)
	default:
		ss.Summary = "nobody decided in time"
		return errors.New(ss.Summary)
	}
	return nil
}

// gateVerdict says in a few words how a gate closed.
func gateVerdict(o approval.Outcome) string {
	switch {
	case o.Canceled:
		return "stopped while waiting"
	case o.Approved && o.Choice != "":
		return "decided: " + o.Choice
	case o.Approved:
		return "approved by " + strings.Join(approvers(o), ", ")
	case o.RejectedBy != nil:
		return "rejected by " + o.RejectedBy.Identity + ": " + o.RejectedBy.Reason
	}
	return "expired: nobody decided in time"
}

func approvers(o approval.Outcome) []string {
	var out []string
	for _, d := range o.Decisions {
		if d.Approve {
			out = append(out, d.Identity)
		}
	}
	return out
}

// escalating gives a gate the step's escalation policy: reminders at the policy's levels, each to
// that level's people, stopping as soon as the gate is decided.
func (r *runner) escalating(s *plan.Step, req approval.Request) approval.Request {
	esc := r.policy(s)
	if esc == nil {
		return req
	}
	prev := time.Duration(0)
	for _, at := range escalationOffsets(esc) {
		req.RemindEvery = append(req.RemindEvery, max(at-prev, time.Second))
		prev = at
	}
	req.Remind = func(ctx workflow.Context, rem approval.Reminder) { r.remind(ctx, s.ID, req.Title, esc, rem) }
	return req
}

// remind tells a level of the escalation policy that a gate still waits.
func (r *runner) remind(ctx workflow.Context, id, title string, esc *plan.Escalation, rem approval.Reminder) {
	level := esc.Levels[(rem.Level-1)%len(esc.Levels)]
	if rem.Escalation {
		level = esc.Levels[len(esc.Levels)-1]
	}
	to := r.people(level.Notify)
	r.page(id, to)
	r.escalate(ctx, id, rem.Gate.OpenedAt, notify.Message{Event: "approval.escalated", Severity: notify.Critical, Level: rem.Level, Plan: r.p.Metadata.Name,
		Title:    fmt.Sprintf("%s: step %s still waits for a decision (%s)", r.p.Metadata.Name, id, title),
		Text:     fmt.Sprintf("Waiting %s; approvals so far: %s.", units.Duration(rem.Waited).Human(), strings.Join(rem.Gate.ApprovedBy, ", ")),
		Fields:   map[string]string{"to": strings.Join(to, ", "), "level": fmt.Sprint(rem.Level)},
		DedupKey: gateDedupKey(ctx, id)})
}

func gateDedupKey(ctx workflow.Context, id string) string {
	return workflow.GetInfo(ctx).WorkflowExecution.ID + "/" + id
}
