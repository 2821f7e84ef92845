package slackdecider

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/lifeboat-dr/lifeboat/integrations/slack"
	"github.com/lifeboat-dr/lifeboat/workflows/approval"
)

// Decider decides through the workflow's "decide" Update (approval.UpdateDecide), waiting until it
// completes. The Update's ID is the updateID, so Temporal takes a repeated call once.
type Decider struct {
	Client client.Client
	// Sign, when set, returns the assertion the worker signs for the decision of a person the
	// Slack request's signature authenticated: workflows that verify identities require one.
	Sign func(run slack.Run, d approval.Decision) (string, error)
}

var _ slack.Decider = Decider{}

// Decide implements slack.Decider.
func (dc Decider) Decide(ctx context.Context, run slack.Run, d approval.Decision, updateID string) (approval.GateState, error) {
	var st approval.GateState
	if dc.Sign != nil {
		a, err := dc.Sign(run, d)
		if err != nil {
			return st, fmt.Errorf("sign the decision: %w", err)
		}
		d.Assertion = a
	}
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
	if r, refused := approval.RefusalOf(err); refused {
		return &slack.RefusedError{Kind: r.Kind, Reason: r.Reason}
	}
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return fmt.Errorf("workflow %s: %w (%v)", run.WorkflowID, slack.ErrNotRunning, err)
	}
	return fmt.Errorf("workflow %s: update %s: %w", run.WorkflowID, approval.UpdateDecide, err)
}
