package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/lifeboat-dr/lifeboat/activities/contract"
	"github.com/lifeboat-dr/lifeboat/activities/plan"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	sdkpb "go.temporal.io/api/sdk/v1"
	"go.temporal.io/sdk/client"

	"github.com/lifeboat-dr/lifeboat/workflows"
	"github.com/lifeboat-dr/lifeboat/workflows/approval"
)

func (a *app) statusCommand() *cobra.Command {
	var wait bool
	cmd := &cobra.Command{
		Use:   "status WORKFLOW-ID",
		Short: "Show a Lifeboat workflow's state and what it is doing now",
		Long: `Show a Lifeboat workflow's state and what it is doing now: a recovery plan's steps and open
gates (with the command that decides each), a backup's or restore's phase, a probe's checks.
With --wait, wait until the workflow has ended first (Ctrl-C stops waiting, not the workflow).

The exit code is 3 when the workflow ended failed, cancelled, terminated or timed out, and 0 while
it runs or when it completed.`,
		Example: `  lifeboat status drill-primary-db-lost
  lifeboat status drill-primary-db-lost --wait`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, cfg, err := a.dial(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			if wait {
				// How it ended is shown below; only not finding it is an error here.
				var ignored json.RawMessage
				if err := c.GetWorkflow(ctx, args[0], "").Get(ctx, &ignored); err != nil {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					if _, derr := c.DescribeWorkflowExecution(ctx, args[0], ""); derr != nil {
						return notFound(derr, args[0])
					}
				}
			}
			desc, err := c.DescribeWorkflowExecution(ctx, args[0], "")
			if err != nil {
				return notFound(err, args[0])
			}
			info := desc.GetWorkflowExecutionInfo()
			out := struct {
				WorkflowID string          `json:"workflow_id"`
				RunID      string          `json:"run_id"`
				Type       string          `json:"type"`
				Status     string          `json:"status"`
				StartedAt  time.Time       `json:"started_at"`
				ClosedAt   *time.Time      `json:"closed_at,omitempty"`
				URL        string          `json:"url,omitempty"`
				Details    string          `json:"details,omitempty"`
				State      json.RawMessage `json:"state,omitempty"`
				// PendingGates are a Recovery workflow's open gates, with the command that decides each.
				PendingGates []pendingGateView `json:"pending_gates,omitempty"`
				// DecisionLatencies are, for a rehearsal, how long after each gate opened each answer came.
				DecisionLatencies *workflows.DecisionLatencies `json:"decision_latencies,omitempty"`
			}{
				WorkflowID: info.GetExecution().GetWorkflowId(),
				RunID:      info.GetExecution().GetRunId(),
				Type:       info.GetType().GetName(),
				Status:     info.GetStatus().String(),
				StartedAt:  info.GetStartTime().AsTime(),
			}
			if info.GetCloseTime() != nil {
				t := info.GetCloseTime().AsTime()
				out.ClosedAt = &t
			}
			out.URL = workflowURL(cfg, out.WorkflowID, out.RunID)
			// Queries need a worker; without one the description alone is still shown. A workflow
			// running a step inside its workflow task (a local activity, such as postgres.promote)
			// answers only when the worker next reports on that task, at most 8 s (80% of the task
			// timeout) later, so both queries run together and wait up to queryWait.
			qctx, cancel := context.WithTimeout(ctx, queryWait)
			defer cancel()
			var wg sync.WaitGroup
			var mdErr error
			var md sdkpb.WorkflowMetadata
			wg.Go(func() {
				v, err := c.QueryWorkflow(qctx, out.WorkflowID, out.RunID, "__temporal_workflow_metadata")
				if err == nil {
					err = v.Get(&md)
				}
				mdErr = err
			})
			wg.Go(func() {
				if v, err := c.QueryWorkflow(qctx, out.WorkflowID, out.RunID, workflows.QueryStatus); err == nil {
					var raw json.RawMessage
					if v.Get(&raw) == nil {
						out.State = raw
					}
				}
			})
			wg.Wait()
			switch {
			case mdErr == nil:
				out.Details = md.GetCurrentDetails()
			case info.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING && qctx.Err() != nil:
				fmt.Fprintf(a.stderr, "warning: the workflow did not answer within %s (no worker polls its task queue, or its worker is busy); what follows comes from its history\n", queryWait)
			default:
				fmt.Fprintf(a.stderr, "warning: current details unavailable: %v\n", mdErr)
			}
			// A recovery plan is shown as its steps and open gates, from its record.
			var rec *recoveryView
			if out.Type == workflows.RecoveryWorkflow {
				rec = recoveryState(ctx, c, info.GetStatus(), out.WorkflowID, out.RunID, out.State)
			}
			if rec != nil {
				if out.State == nil {
					out.State, _ = json.Marshal(rec.result)
				}
				for _, g := range rec.gates {
					out.PendingGates = append(out.PendingGates, pendingGateView{PendingGate: g, Command: gateCommand(out.WorkflowID, g)})
				}
				if rec.result.Mode == workflows.ModeRehearsal {
					l := rec.result.DecisionLatencies()
					out.DecisionLatencies = &l
				}
			}
			err = a.print(out, func(w io.Writer) {
				fmt.Fprintf(w, "%s  %s  %s\n", out.WorkflowID, out.Type, out.Status)
				fmt.Fprintf(w, "  started %s", out.StartedAt.Local().Format(time.RFC3339))
				if out.ClosedAt != nil {
					fmt.Fprintf(w, ", closed %s (%s)", out.ClosedAt.Local().Format(time.RFC3339), out.ClosedAt.Sub(out.StartedAt).Round(time.Millisecond))
				}
				fmt.Fprintln(w)
				if out.URL != "" {
					fmt.Fprintf(w, "  Web UI: %s\n", out.URL)
				}
				switch {
				case rec != nil:
					fmt.Fprintln(w)
					printRecovery(w, rec.result, out.WorkflowID, rec.gates, time.Now())
				case out.Details != "":
					fmt.Fprintf(w, "\n%s\n", out.Details)
				}
			})
			if err != nil {
				return err
			}
			if ended := endedBadly(info.GetStatus()); ended != "" {
				return exitError{exitBadOutcome, fmt.Errorf("%s %s", out.WorkflowID, ended)}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "wait until the workflow has ended, then show it")
	return cmd
}

// recoveryView is what status shows of a Recovery workflow.
type recoveryView struct {
	result workflows.RecoveryResult
	gates  []approval.PendingGate
}

// pendingGateView is an open gate in status -o json.
type pendingGateView struct {
	approval.PendingGate
	Command string `json:"command"`
}

// recoveryState reads a Recovery workflow's record: from its result (or its failure's details) once
// it has closed, which needs no worker, and from the status query answer while it runs, with its
// open gates. It returns nil when neither is available.
func recoveryState(ctx context.Context, c client.Client, status enumspb.WorkflowExecutionStatus, id, runID string, state json.RawMessage) *recoveryView {
	var v recoveryView
	switch status {
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, enumspb.WORKFLOW_EXECUTION_STATUS_FAILED, enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED:
		gctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		err := c.GetWorkflow(gctx, id, runID).Get(gctx, &v.result)
		if err == nil || recoveryFailureDetails(err, &v.result) {
			closedRecord(&v.result, status, err)
			return &v
		}
		if state != nil && json.Unmarshal(state, &v.result) == nil && v.result.Plan != "" {
			closedRecord(&v.result, status, err)
			return &v
		}
		return nil
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
		if state != nil && json.Unmarshal(state, &v.result) == nil && v.result.Plan != "" {
			v.gates = pendingGates(ctx, c, id, runID)
			return &v
		}
		return nil
	}
	if state != nil && json.Unmarshal(state, &v.result) == nil && v.result.Plan != "" {
		return &v
	}
	return nil
}

// watchRun waits for run to finish into result (an R). With text output it asks the workflow's
// status query (answered with an S: the result's shape for most Lifeboat workflows, VerifyStatus
// for a drill) every second, with the progress its running activity last heartbeated (nil when none
// runs), and writes progress(status, running) to stderr when it changes; progress may also draw the
// status itself and return "". It is a function, not a method, because methods cannot have type
// parameters.
func watchRun[R, S any](a *app, ctx context.Context, c client.Client, run client.WorkflowRun, result *R, progress func(S, *contract.OpProgress) string) error {
	done := make(chan error, 1)
	go func() { done <- run.Get(ctx, result) }()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	last := ""
	for {
		select {
		case err := <-done:
			return err
		case <-tick.C:
			if a.output != "text" {
				continue
			}
			v, err := c.QueryWorkflow(ctx, run.GetID(), run.GetRunID(), workflows.QueryStatus)
			if err != nil {
				continue
			}
			var st S
			if v.Get(&st) != nil {
				continue
			}
			if line := progress(st, a.runningProgress(ctx, c, run.GetID(), run.GetRunID())); line != "" && line != last {
				fmt.Fprintf(a.stderr, "  … %s\n", line)
				last = line
			}
		}
	}
}

// queryWait is how long status waits for a running workflow to answer its queries: longer than
// the 8 s a workflow busy with a local activity may take to answer.
const queryWait = 12 * time.Second

// endedBadly says how a workflow that ended without completing ended; "" while it runs or once it
// completed.
func endedBadly(status enumspb.WorkflowExecutionStatus) string {
	switch status {
	case enumspb.WORKFLOW_EXECUTION_STATUS_FAILED:
		return "failed"
	case enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED:
		return "was cancelled"
	case enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED:
		return "was terminated"
	case enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT:
		return "timed out"
	}
	return ""
}

// closedRecord makes the record of a closed recovery say that it ended, and why: a run that failed
// before it recorded its end (an invalid plan, a refused start) still reads "running" in its last
// state otherwise.
func closedRecord(r *workflows.RecoveryResult, status enumspb.WorkflowExecutionStatus, err error) {
	if r.Status != workflows.StepRunning && r.Status != "" {
		return
	}
	switch status {
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		return
	case enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED:
		r.Status = "canceled"
	default:
		r.Status = plan.StatusFailed
	}
	if r.Error == "" && err != nil {
		r.Error = workflowErrMessage(err)
	}
}
