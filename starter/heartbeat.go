package main

import (
	"context"
	"time"

	"github.com/lifeboat-dr/lifeboat/activities/contract"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
)

// runningProgress returns the progress the workflow's running backup, copy or restore last
// heartbeated, or nil when none runs or it cannot be read. Long steps report progress only in
// heartbeats, which the server keeps with the pending activity and never adds to the workflow's
// history, so a run of any length stays within Temporal's history limits.
func (a *app) runningProgress(ctx context.Context, c client.Client, id, runID string) *contract.OpProgress {
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	desc, err := c.DescribeWorkflowExecution(dctx, id, runID)
	if err != nil {
		return nil
	}
	return heartbeatProgress(desc, a.dataConverter())
}

// heartbeatProgress decodes the first pending activity's heartbeat that is an OpProgress.
func heartbeatProgress(desc *workflowservice.DescribeWorkflowExecutionResponse, dc converter.DataConverter) *contract.OpProgress {
	for _, pa := range desc.GetPendingActivities() {
		details := pa.GetHeartbeatDetails()
		if len(details.GetPayloads()) == 0 {
			continue
		}
		var p contract.OpProgress
		if err := dc.FromPayloads(details, &p); err != nil || p.Step == "" {
			continue
		}
		return &p
	}
	return nil
}

// dataConverter is the one dial connected with, so that encrypted heartbeats can be read.
func (a *app) dataConverter() converter.DataConverter {
	if a.converter != nil {
		return a.converter
	}
	return converter.GetDefaultDataConverter()
}
