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

// Why a gate refuses a decision, as RefusedError.Kind reports it: the gate's own kinds.
const (
	RefusedDuplicate    = approval.RefusedDuplicate
	RefusedNotApprover  = approval.RefusedNotApprover
	RefusedSelfApproval = approval.RefusedSelfApproval
	RefusedClosed       = approval.RefusedClosed
	RefusedNotOpen      = approval.RefusedNotOpen
	RefusedOther        = approval.RefusedOther
)

// RefusedError is a decision the gate refused: Kind says why (from the gate's error details, not
// its wording), Reason is the gate's explanation.
type RefusedError struct {
	Kind   approval.RefusalKind
	Reason string
}

func (e *RefusedError) Error() string { return "refused: " + e.Reason }

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
		refused := &RefusedError{Kind: approval.RefusedOther, Reason: strings.TrimPrefix(appErr.Message(), "approval refused: ")}
		var details approval.RefusalDetails
		if appErr.HasDetails() && appErr.Details(&details) == nil && details.Kind != "" {
			refused.Kind = details.Kind
		}
		return refused
	}
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return fmt.Errorf("workflow %s: %w (%v)", run.WorkflowID, ErrNotRunning, err)
	}
	return fmt.Errorf("workflow %s: update %s: %w", run.WorkflowID, approval.UpdateDecide, err)
}
