package slackdecider

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/lifeboat-dr/lifeboat/integrations/slack"
	"github.com/lifeboat-dr/lifeboat/workflows/approval"
)

// Decider decides through the workflow's "decide" Update (approval.UpdateDecide), waiting until it
// completes. The Update's ID is the updateID, so Temporal takes a repeated call once.
type Decider struct {
	Client client.Client
}

var _ slack.Decider = Decider{}

// Decide implements slack.Decider.
func (dc Decider) Decide(ctx context.Context, run slack.Run, d approval.Decision, updateID string) (approval.GateState, error) {
	var st approval.GateState
	h, err := dc.Client.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
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

// classifyUpdateError turns the SDK's error into the kinds slack.Decider documents. A refusal is
// read from the error's approval.RefusalDetails, not its wording; the message only stands in for
// a reason the details lack.
func classifyUpdateError(run slack.Run, err error) error {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Type() == approval.ErrTypeDecisionRefused {
		refused := &slack.RefusedError{Kind: approval.RefusedOther, Reason: strings.TrimPrefix(appErr.Message(), "approval refused: ")}
		var details approval.RefusalDetails
		if appErr.HasDetails() && appErr.Details(&details) == nil {
			if details.Kind != "" {
				refused.Kind = details.Kind
			}
			if details.Reason != "" {
				refused.Reason = details.Reason
			}
		}
		return refused
	}
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return fmt.Errorf("workflow %s: %w (%v)", run.WorkflowID, slack.ErrNotRunning, err)
	}
	return fmt.Errorf("workflow %s: update %s: %w", run.WorkflowID, approval.UpdateDecide, err)
}
