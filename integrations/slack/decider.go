package slack

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/lifeboat-dr/lifeboat/workflows/approval"
)

// Run names the workflow run whose gate a button decides.
type Run struct {
	WorkflowID string
	// RunID pins the run; empty means the latest run of WorkflowID.
	RunID string
}

// Decider sends a decision to a workflow's approval gate.
type Decider interface {
	// Decide records d on the gate d.Gate of run and returns the gate's state after it. Calls with
	// the same updateID are one decision: a repeat returns the first call's result without
	// recording anything again. Decide returns a *RefusedError when the gate refuses the decision
	// (nothing is recorded; repeating the call gets the same refusal), ErrNotRunning when the
	// workflow run is not running, and any other error when the decision may or may not have
	// reached the gate, in which case the call can be repeated with the same updateID.
	Decide(ctx context.Context, run Run, d approval.Decision, updateID string) (approval.GateState, error)
}

// ErrNotRunning is returned by Decide when the workflow run has finished or does not exist.
var ErrNotRunning = errors.New("workflow is not running")

// Why a gate refuses a decision, as RefusedError.Kind reports it.
const (
	RefusedDuplicate    = "duplicate"     // the identity already decided this gate
	RefusedNotApprover  = "not_approver"  // the identity is not one of the gate's approvers
	RefusedSelfApproval = "self_approval" // the identity requested the gate
	RefusedClosed       = "closed"        // the gate closed already
	RefusedNotOpen      = "not_open"      // no gate of that name is open: not yet, or not in this run
	RefusedOther        = "other"         // anything else, such as a choice the gate does not offer
)

// RefusedError is a decision the gate refused; Reason is the gate's explanation.
type RefusedError struct {
	Reason string
}

func (e *RefusedError) Error() string { return "refused: " + e.Reason }

// Kind sorts the refusal into one of the Refused* constants, from the gate's explanation.
func (e *RefusedError) Kind() string {
	switch r := e.Reason; {
	case strings.Contains(r, "already decided"):
		return RefusedDuplicate
	case strings.Contains(r, "is not an approver"):
		return RefusedNotApprover
	case strings.Contains(r, "cannot approve its own request"):
		return RefusedSelfApproval
	case strings.Contains(r, "is closed"):
		return RefusedClosed
	case strings.Contains(r, "is not open"), strings.Contains(r, "no gate is open"):
		return RefusedNotOpen
	default:
		return RefusedOther
	}
}

// TemporalDecider decides through the workflow's "decide" Update (approval.UpdateDecide), waiting
// until it completes. The Update's ID is the updateID, so Temporal takes a repeated call once.
type TemporalDecider struct {
	Client client.Client
}

var _ Decider = TemporalDecider{}

// Decide implements Decider.
func (t TemporalDecider) Decide(ctx context.Context, run Run, d approval.Decision, updateID string) (approval.GateState, error) {
	var st approval.GateState
	h, err := t.Client.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		UpdateID:     updateID,
		WorkflowID:   run.WorkflowID,
		RunID:        run.RunID,
		UpdateName:   approval.UpdateDecide,
		Args:         []any{d},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(ctx, &st)
	}
	if err != nil {
		return st, classifyUpdateError(run, err)
	}
	return st, nil
}

// classifyUpdateError turns the SDK's error into the kinds Decide documents.
func classifyUpdateError(run Run, err error) error {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Type() == approval.ErrTypeDecisionRefused {
		return &RefusedError{Reason: strings.TrimPrefix(appErr.Message(), "approval refused: ")}
	}
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return fmt.Errorf("workflow %s: %w (%v)", run.WorkflowID, ErrNotRunning, err)
	}
	return fmt.Errorf("workflow %s: update %s: %w", run.WorkflowID, approval.UpdateDecide, err)
}
