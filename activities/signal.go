package activities

import (
	"context"
	"errors"
	"fmt"

	"github.com/lifeboat-dr/lifeboat/activities/contract"

	"go.temporal.io/sdk/client"
)

// Signals lets workflows signal other long-running workflows, starting them when they are not
// running (SignalWithStart), so that a backup's news reaches its asset's RPO watchdog even when the
// watchdog was never started or has ended.
type Signals struct {
	Client    Signaler
	TaskQueue string
}

// SignalWithStart signals a workflow, starting it first if it is not running. Retrying it is safe for
// signals whose handlers are idempotent (the watchdog's are: they keep the newest backup time).
func (s *Signals) SignalWithStart(ctx context.Context, in contract.SignalWithStartInput) error {
	if s.Client == nil {
		return errors.New("signal with start: no Temporal client")
	}
	opts := client.StartWorkflowOptions{ID: in.WorkflowID, TaskQueue: s.TaskQueue, StaticSummary: in.Summary}
	if _, err := s.Client.SignalWithStartWorkflow(ctx, in.WorkflowID, in.Signal, in.Arg, opts, in.WorkflowType, in.StartInput); err != nil {
		return fmt.Errorf("signal %s to %s: %w", in.Signal, in.WorkflowID, err)
	}
	return nil
}
