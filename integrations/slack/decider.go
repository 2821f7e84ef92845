package slack

import (
	"context"
	"errors"

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
