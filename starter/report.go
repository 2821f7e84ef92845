package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/lifeboat-dr/lifeboat/activities/contract"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	failurepb "go.temporal.io/api/failure/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/lifeboat-dr/lifeboat/workflows"
	"github.com/lifeboat-dr/lifeboat/workflows/report"
)

// notifyActivity is the activity type of activities.Notifications.Notify.
const notifyActivity = "Notify"

func (a *app) reportCommand() *cobra.Command {
	var format, outFile, lessons, runID string
	cmd := &cobra.Command{
		Use:   "report WORKFLOW-ID",
		Short: "Write the post-incident or drill report of a recovery plan's run",
		Long: `Write the report of a recovery plan's run — a failover, a failback, a drill or a rehearsal —
for the post-incident review: who started it and why, the time to recover against the RTO, every
step on a timeline, every approval and decision with who gave it, through which channel and why,
what was undone, and the notifications sent. A run still in progress is reported as it stands. The report
of a rehearsal says so at the top and lists how long after each gate opened each person answered.

--format html writes one self-contained page with the timeline drawn as a chart; it prints well.
--lessons adds the lessons learned, a Markdown file written after the run; without it the report
leaves headings to fill in. --out writes to a file instead of stdout. -o json prints the run's
record and notifications instead of a report.

All times are UTC.`,
		Example: `  lifeboat report recovery-orders-db-failover --lessons lessons.md --out INC-4312.md
  lifeboat report drill-orders-db-failover --format html --out drill.html`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "markdown" && format != "html" {
				return usageErr("--format %q: use markdown or html", format)
			}
			var opts report.Options
			if lessons != "" {
				b, err := os.ReadFile(lessons)
				if err != nil {
					return usageErr("--lessons: %w", err)
				}
				opts.Lessons = b
			}
			ctx := cmd.Context()
			c, cfg, err := a.dial(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			copts, _, err := cfg.ClientOptions(a.env)
			if err != nil {
				return exitError{exitUsage, err}
			}
			dc := copts.DataConverter
			if dc == nil {
				dc = converter.GetDefaultDataConverter()
			}
			run, err := a.readRun(ctx, c, dc, args[0], runID)
			if err != nil {
				return err
			}
			opts.Now = time.Now()

			w := a.stdout
			var f *os.File
			if outFile != "" {
				if f, err = os.Create(outFile); err != nil {
					return exitError{exitFailure, fmt.Errorf("--out: %w", err)}
				}
				defer f.Close()
				w = f
			}
			switch {
			case a.output == "json":
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				enc.SetEscapeHTML(false)
				err = enc.Encode(run)
			case format == "html":
				_, err = w.Write(report.HTML(run, opts))
			default:
				_, err = w.Write(report.Markdown(run, opts))
			}
			if err == nil && f != nil {
				err = f.Close()
			}
			if err != nil {
				return fmt.Errorf("write the report: %w", err)
			}
			if f != nil {
				fmt.Fprintf(a.stderr, "wrote the report of %s to %s\n", run.WorkflowID, outFile)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "markdown", "report format: markdown or html")
	// Not --output: that is the global -o/--output, text or json.
	cmd.Flags().StringVar(&outFile, "out", "", "write the report to this file instead of stdout")
	cmd.Flags().StringVar(&lessons, "lessons", "", "Markdown file with the lessons learned, written after the run")
	cmd.Flags().StringVar(&runID, "run-id", "", "report this run of the workflow ID instead of the latest")
	return cmd
}

// readRun reads a Recovery workflow's record: its result once completed, the record its failure
// carries once failed or cancelled, or its status query's answer while it runs (or when it ended
// without a record: terminated or timed out). It refuses any other type of workflow.
func (a *app) readRun(ctx context.Context, c client.Client, dc converter.DataConverter, workflowID, runID string) (report.Run, error) {
	desc, err := c.DescribeWorkflowExecution(ctx, workflowID, runID)
	if err != nil {
		return report.Run{}, notFound(err, workflowID)
	}
	info := desc.GetWorkflowExecutionInfo()
	if typ := info.GetType().GetName(); typ != workflows.RecoveryWorkflow {
		return report.Run{}, usageErr("%s is a %s workflow: reports cover the runs of recovery plans (failover, failback, drill, rehearse), which are %s workflows",
			workflowID, typ, workflows.RecoveryWorkflow)
	}
	run := report.Run{WorkflowID: info.GetExecution().GetWorkflowId(), RunID: info.GetExecution().GetRunId()}
	status := info.GetStatus()
	got := false
	if status != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		err := c.GetWorkflow(ctx, run.WorkflowID, run.RunID).Get(ctx, &run.Result)
		got = err == nil
		if err != nil {
			got = recoveryFailureDetails(err, &run.Result)
		}
	}
	if !got {
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		v, err := c.QueryWorkflow(qctx, run.WorkflowID, run.RunID, workflows.QueryStatus)
		if err == nil {
			err = v.Get(&run.Result)
		}
		if err != nil {
			return report.Run{}, fmt.Errorf("read the state of %s (%s): %w; a worker must be running to answer",
				run.WorkflowID, reportStatus(status), err)
		}
	}
	switch status {
	case enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED, enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT:
		// The workflow never recorded how it ended.
		run.Result.Status = reportStatus(status)
		if run.Result.FinishedAt.IsZero() && info.GetCloseTime() != nil {
			run.Result.FinishedAt = info.GetCloseTime().AsTime()
		}
	}
	run.Notifications, err = a.reportNotifications(ctx, c, dc, run.WorkflowID, run.RunID)
	if err != nil {
		return report.Run{}, err
	}
	return run, nil
}

func reportStatus(s enumspb.WorkflowExecutionStatus) string {
	switch s {
	case enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED:
		return "terminated"
	case enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT:
		return "timed out"
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
		return "running"
	}
	return s.String()
}

// reportNotifications reads the messages a run sent: the inputs of its Notify activities, in the
// order they were scheduled, each with how its delivery went. A message that cannot be decoded is
// left out with a warning.
func (a *app) reportNotifications(ctx context.Context, c client.Client, dc converter.DataConverter, workflowID, runID string) ([]report.Notification, error) {
	var events []*historypb.HistoryEvent
	it := c.GetWorkflowHistory(ctx, workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("read the history of %s: %w", workflowID, err)
		}
		events = append(events, ev)
	}
	msgs, skipped := notifyMessages(events, dc)
	for _, err := range skipped {
		fmt.Fprintf(a.stderr, "warning: a notification is left out of the report: %v\n", err)
	}
	return msgs, nil
}

// notifyMessages decodes the messages of the Notify activities scheduled in events, with the
// channels' answers when the activity completed, its error when it failed or timed out, and
// pending while it has not ended; it returns the messages it could not decode as errors.
func notifyMessages(events []*historypb.HistoryEvent, dc converter.DataConverter) ([]report.Notification, []error) {
	msgs := []report.Notification{}
	bySchedule := map[int64]int{}
	var skipped []error
	for _, ev := range events {
		if attrs := ev.GetActivityTaskScheduledEventAttributes(); attrs != nil && attrs.GetActivityType().GetName() == notifyActivity {
			var in contract.NotifyInput
			if err := dc.FromPayloads(attrs.GetInput(), &in); err != nil {
				skipped = append(skipped, fmt.Errorf("event %d: %w", ev.GetEventId(), err))
				continue
			}
			bySchedule[ev.GetEventId()] = len(msgs)
			msgs = append(msgs, report.Notification{Message: in.Message, Pending: true})
			continue
		}
		switch {
		case ev.GetActivityTaskCompletedEventAttributes() != nil:
			attrs := ev.GetActivityTaskCompletedEventAttributes()
			if i, ok := bySchedule[attrs.GetScheduledEventId()]; ok {
				var res contract.NotifyResult
				msgs[i].Pending = false
				if err := dc.FromPayloads(attrs.GetResult(), &res); err == nil {
					msgs[i].Deliveries = res.Deliveries
				}
			}
		case ev.GetActivityTaskFailedEventAttributes() != nil:
			attrs := ev.GetActivityTaskFailedEventAttributes()
			if i, ok := bySchedule[attrs.GetScheduledEventId()]; ok {
				msgs[i].Pending, msgs[i].Error = false, failureText(attrs.GetFailure(), dc)
			}
		case ev.GetActivityTaskTimedOutEventAttributes() != nil:
			attrs := ev.GetActivityTaskTimedOutEventAttributes()
			if i, ok := bySchedule[attrs.GetScheduledEventId()]; ok {
				msgs[i].Pending, msgs[i].Error = false, "timed out: "+failureText(attrs.GetFailure(), dc)
			}
		case ev.GetActivityTaskCanceledEventAttributes() != nil:
			if i, ok := bySchedule[ev.GetActivityTaskCanceledEventAttributes().GetScheduledEventId()]; ok {
				msgs[i].Pending, msgs[i].Error = false, "cancelled"
			}
		}
	}
	return msgs, skipped
}

// failureText is a failure's message, decoded when the worker encrypts failures.
func failureText(f *failurepb.Failure, dc converter.DataConverter) string {
	if f == nil {
		return "no reason given"
	}
	if err := temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{DataConverter: dc}).FailureToError(f); err != nil {
		return workflowErrMessage(err)
	}
	return f.GetMessage()
}
