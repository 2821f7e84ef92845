package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/activities/contract"

	"github.com/lifeboat-dr/lifeboat/testsuite/wait"

	"github.com/spf13/cobra"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/lifeboat-dr/lifeboat/activities/plan"
	"github.com/lifeboat-dr/lifeboat/integrations/notify"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
	"github.com/lifeboat-dr/lifeboat/worker/config"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

// runReportCLI runs the CLI as run does, with the report command registered even where the root
// command does not list it yet.
func runReportCLI(ctx context.Context, env config.Env, stdout, stderr io.Writer, args ...string) int {
	a := &app{env: env, stdin: strings.NewReader(""), stdout: stdout, stderr: stderr}
	root := a.rootCommand()
	if !hasCommand(root, "report") {
		root.AddCommand(a.reportCommand())
	}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(stderr, "lifeboat:", err)
	var ee exitError
	switch {
	case errors.As(err, &ee):
		return ee.code
	case a.flagError:
		return exitUsage
	}
	return exitFailure
}

func hasCommand(root *cobra.Command, name string) bool {
	for _, c := range root.Commands() {
		if c.Name() == name {
			return true
		}
	}
	return false
}

func TestReportUsageErrorsExitTwo(t *testing.T) {
	env := config.MapEnv(map[string]string{"TEMPORAL_ADDRESS": "127.0.0.1:1"})
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no workflow ID", []string{"report"}, "accepts 1 arg"},
		{"two workflow IDs", []string{"report", "a", "b"}, "accepts 1 arg"},
		{"bad format", []string{"report", "recovery-orders", "--format", "pdf"}, `--format "pdf": use markdown or html`},
		{"missing lessons", []string{"report", "recovery-orders", "--lessons", filepath.Join(t.TempDir(), "none.md")}, "--lessons:"},
		{"unknown flag", []string{"report", "recovery-orders", "--output-file", "x"}, "unknown flag: --output-file"},
		{"bad output", []string{"report", "recovery-orders", "-o", "yaml"}, `--output "yaml"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb strings.Builder
			code := runReportCLI(context.Background(), env, &out, &errb, tt.args...)
			if code != exitUsage || !strings.Contains(errb.String(), tt.want) {
				t.Fatalf("code %d, stderr %q; want %d and %q", code, errb.String(), exitUsage, tt.want)
			}
		})
	}
	var out, errb strings.Builder
	if code := runReportCLI(context.Background(), env, &out, &errb, "report", "recovery-orders", "--format", "html"); code != exitUnreachable {
		t.Fatalf("valid flags: code %d, want %d (Temporal unreachable); stderr %q", code, exitUnreachable, errb.String())
	}
}

// reportRecordOf is the record of a run, as a workflow's failure carries it.
var reportRecordOf = workflows.RecoveryResult{Plan: "orders-db-failover", Mode: workflows.ModeDrill, Status: plan.StatusFailed,
	Error: "step promote failed: boom", Steps: []workflows.StepState{
		{ID: "promote", Type: plan.TypeAction, Status: plan.StatusFailed, Error: "boom"},
		{ID: "check", Type: plan.TypeAction, Status: workflows.StepCompensated, Compensation: "postgres.fence: fenced"},
	}}

func TestReportRecordFromFailureDetails(t *testing.T) {
	// Through the failure converter, as the client receives a workflow's failure.
	roundTrip := func(err error) error {
		fc := temporal.GetDefaultFailureConverter()
		return fmt.Errorf("workflow execution error: %w", fc.FailureToError(fc.ErrorToFailure(err)))
	}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"failed", roundTrip(temporal.NewNonRetryableApplicationError("plan orders-db-failover failed", "PlanFailed", nil, reportRecordOf)), true},
		{"canceled", roundTrip(temporal.NewCanceledError(reportRecordOf)), true},
		{"failed without details", roundTrip(temporal.NewApplicationError("invalid input", workflows.ErrTypeInvalidInput)), false},
		{"canceled without details", roundTrip(temporal.NewCanceledError()), false},
		{"plain error", errors.New("context deadline exceeded"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got workflows.RecoveryResult
			if ok := recoveryFailureDetails(tt.err, &got); ok != tt.want {
				t.Fatalf("recoveryFailureDetails = %v, want %v", ok, tt.want)
			}
			if !tt.want {
				return
			}
			if got.Plan != reportRecordOf.Plan || got.Error != reportRecordOf.Error || len(got.Steps) != 2 ||
				got.Steps[1].Compensation != "postgres.fence: fenced" {
				t.Fatalf("record = %+v", got)
			}
		})
	}
}

func TestReportNotifyMessagesFromHistory(t *testing.T) {
	dc := converter.GetDefaultDataConverter()
	scheduled := func(id int64, activity string, in any) *historypb.HistoryEvent {
		var input *commonpb.Payloads
		if p, ok := in.(*commonpb.Payloads); ok {
			input = p
		} else {
			var err error
			if input, err = dc.ToPayloads(in); err != nil {
				t.Fatal(err)
			}
		}
		return &historypb.HistoryEvent{EventId: id, EventType: enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
			Attributes: &historypb.HistoryEvent_ActivityTaskScheduledEventAttributes{ActivityTaskScheduledEventAttributes: &historypb.ActivityTaskScheduledEventAttributes{
				ActivityType: &commonpb.ActivityType{Name: activity}, Input: input}}}
	}
	at := time.Date(2026, 3, 14, 9, 0, 2, 0, time.UTC)
	first := notify.Message{Event: "approval.requested", Severity: notify.Warning, Title: "approve-failover needs 2 approvals", Time: at}
	second := notify.Message{Event: "plan.rto_missed", Severity: notify.Critical, Title: "past its RTO", Time: at.Add(5 * time.Minute)}
	events := []*historypb.HistoryEvent{
		{EventId: 1, EventType: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED},
		scheduled(5, notifyActivity, contract.NotifyInput{Message: first}),
		scheduled(7, "RunAction", contract.ActionInput{Action: "postgres.promote"}),
		scheduled(9, notifyActivity, &commonpb.Payloads{Payloads: []*commonpb.Payload{{Metadata: map[string][]byte{"encoding": []byte("binary/encrypted")}, Data: []byte("x")}}}),
		scheduled(11, notifyActivity, contract.NotifyInput{Routes: []string{"oncall"}, Message: second}),
	}
	msgs, skipped := notifyMessages(events, dc)
	if len(msgs) != 2 || msgs[0].Title != first.Title || !msgs[0].Time.Equal(at) || msgs[1].Event != second.Event {
		t.Fatalf("messages = %+v", msgs)
	}
	if !msgs[0].Pending || msgs[0].Delivery() != "pending" {
		t.Errorf("a message whose activity has not ended: %q", msgs[0].Delivery())
	}

	// How each delivery went: a channel refused the first; no channel took the second.
	result, err := dc.ToPayloads(contract.NotifyResult{Deliveries: []notify.Delivery{
		{Notifier: "slack #dr", Attempts: 1}, {Notifier: "pagerduty dr", Attempts: 3, Err: "HTTP 503"}}})
	if err != nil {
		t.Fatal(err)
	}
	failure := temporal.GetDefaultFailureConverter().ErrorToFailure(temporal.NewApplicationError("no channel took the message: slack #dr: not_in_channel", "NotDelivered"))
	events = append(events,
		&historypb.HistoryEvent{EventId: 12, EventType: enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
			Attributes: &historypb.HistoryEvent_ActivityTaskCompletedEventAttributes{ActivityTaskCompletedEventAttributes: &historypb.ActivityTaskCompletedEventAttributes{
				ScheduledEventId: 5, Result: result}}},
		&historypb.HistoryEvent{EventId: 13, EventType: enumspb.EVENT_TYPE_ACTIVITY_TASK_FAILED,
			Attributes: &historypb.HistoryEvent_ActivityTaskFailedEventAttributes{ActivityTaskFailedEventAttributes: &historypb.ActivityTaskFailedEventAttributes{
				ScheduledEventId: 11, Failure: failure}}})
	msgs, _ = notifyMessages(events, dc)
	if got := msgs[0].Delivery(); got != "delivered: slack #dr; NOT to pagerduty dr: HTTP 503" {
		t.Errorf("the first message: %q", got)
	}
	if got := msgs[1].Delivery(); !strings.HasPrefix(got, "NOT DELIVERED: ") || !strings.Contains(got, "not_in_channel") {
		t.Errorf("the second message: %q", got)
	}
	if len(skipped) != 1 || !strings.Contains(skipped[0].Error(), "event 9") {
		t.Fatalf("skipped = %v, want event 9", skipped)
	}
}

// fakeRecovery stands in for the Recovery workflow: the plan's name says how its run ends.
func fakeRecovery(ctx workflow.Context, in workflows.RecoveryInput) (workflows.RecoveryResult, error) {
	start := workflow.Now(ctx)
	st := workflows.RecoveryResult{Plan: in.Plan, Mode: in.Mode, Requester: in.Requester, Reason: in.Reason, Status: "running", StartedAt: start,
		Objectives: plan.Objectives{RTO: units.Duration(15 * time.Minute)},
		Steps:      []workflows.StepState{{ID: "promote", Type: plan.TypeAction, Action: "postgres.promote", Status: "running", StartedAt: start}}}
	if err := workflow.SetQueryHandler(ctx, workflows.QueryStatus, func() (workflows.RecoveryResult, error) { return st, nil }); err != nil {
		return st, err
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	m := notify.Message{Event: "plan.notice", Severity: notify.Info, Title: in.Plan + ": promoting <the replica>", Time: start}
	if err := workflow.ExecuteActivity(actx, notifyActivity, contract.NotifyInput{Message: m}).Get(ctx, nil); err != nil {
		return st, err
	}
	finish := func(status string) {
		st.Status, st.FinishedAt = status, workflow.Now(ctx)
		st.Steps[0].Status, st.Steps[0].FinishedAt = status, st.FinishedAt
	}
	switch in.Plan {
	case "succeeds":
		finish(plan.StatusSucceeded)
		return st, nil
	case "fails":
		finish(plan.StatusFailed)
		st.Steps[0].Error, st.Error = "promote: replica <gone>", "step promote failed: promote: replica <gone>"
		return st, temporal.NewNonRetryableApplicationError("plan fails failed", "PlanFailed", nil, st)
	}
	// Runs until cancelled.
	workflow.NewSelector(ctx).AddReceive(ctx.Done(), func(workflow.ReceiveChannel, bool) {}).Select(ctx)
	finish("canceled")
	return st, temporal.NewCanceledError(st)
}

func TestReportAgainstTemporal(t *testing.T) {
	e := startCLIEnv(t)
	const queue = "report-test"
	w := worker.New(e.client, queue, worker.Options{})
	w.RegisterWorkflowWithOptions(fakeRecovery, workflow.RegisterOptions{Name: workflows.RecoveryWorkflow})
	w.RegisterWorkflowWithOptions(func(workflow.Context) error { return nil }, workflow.RegisterOptions{Name: "NotARecovery"})
	w.RegisterActivityWithOptions(func(context.Context, contract.NotifyInput) (contract.NotifyResult, error) {
		return contract.NotifyResult{}, nil
	}, activity.RegisterOptions{Name: notifyActivity})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	ctx := context.Background()
	start := func(id, workflowType string, args ...any) client.WorkflowRun {
		t.Helper()
		run, err := e.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: queue}, workflowType, args...)
		if err != nil {
			t.Fatal(err)
		}
		return run
	}
	lifeboat := func(want int, args ...string) (string, string) {
		t.Helper()
		var out, errb syncBuffer
		rctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if code := runReportCLI(rctx, e.env, &out, &errb, append([]string{"--config", e.config}, args...)...); code != want {
			t.Fatalf("lifeboat %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, want, out.String(), errb.String())
		}
		return out.String(), errb.String()
	}
	contains := func(t *testing.T, got string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("missing %q in\n%s", w, got)
			}
		}
	}

	t.Run("succeeded", func(t *testing.T) {
		run := start("recovery-succeeds", workflows.RecoveryWorkflow, workflows.RecoveryInput{Plan: "succeeds", Requester: "alice", Reason: "INC-1"})
		if err := run.Get(ctx, nil); err != nil {
			t.Fatal(err)
		}
		stdout, _ := lifeboat(exitOK, "report", "recovery-succeeds")
		contains(t, stdout, "# Recovery report: succeeds (succeeded)", "| Started by | alice |", "| Reason | INC-1 |",
			"`"+run.GetRunID()+"`", "| plan.notice | info | succeeds: promoting &lt;the replica&gt; |", "## Lessons learned")
	})
	t.Run("failed, as html to a file with lessons", func(t *testing.T) {
		run := start("recovery-fails", workflows.RecoveryWorkflow, workflows.RecoveryInput{Plan: "fails", Mode: workflows.ModeDrill, Requester: "bob"})
		if err := run.Get(ctx, nil); err == nil {
			t.Fatal("the failing stand-in succeeded")
		}
		dir := t.TempDir()
		lessons, out := filepath.Join(dir, "lessons.md"), filepath.Join(dir, "report.html")
		if err := os.WriteFile(lessons, []byte("## Action items\n\n- keep the replica **warm**\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		stdout, stderr := lifeboat(exitOK, "report", "recovery-fails", "--format", "html", "--out", out, "--lessons", lessons)
		if stdout != "" || !strings.Contains(stderr, "wrote the report of recovery-fails to "+out) {
			t.Fatalf("stdout %q, stderr %q", stdout, stderr)
		}
		page, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		contains(t, string(page), "Drill report: fails", "step promote failed: promote: replica &lt;gone&gt;",
			`<rect class="bar s-failed"`, "keep the replica <strong>warm</strong>", "fails: promoting &lt;the replica&gt;")
	})
	t.Run("running, then canceled", func(t *testing.T) {
		run := start("drill-waits", workflows.RecoveryWorkflow, workflows.RecoveryInput{Plan: "waits", Mode: workflows.ModeDrill, Requester: "carol"})
		wait.For(t, 30*time.Second, "the run's notification", func() error {
			var out, errb syncBuffer
			code := runReportCLI(ctx, e.env, &out, &errb, "--config", e.config, "report", "drill-waits")
			if code != exitOK || !strings.Contains(out.String(), "waits: promoting") {
				return fmt.Errorf("exit %d: %s%s", code, out.String(), errb.String())
			}
			return nil
		})
		stdout, _ := lifeboat(exitOK, "report", "drill-waits")
		contains(t, stdout, "# Drill report: waits (in progress)", "| Finished | in progress |", "| promote | action postgres.promote | +0s |")

		if err := e.client.CancelWorkflow(ctx, "drill-waits", run.GetRunID()); err != nil {
			t.Fatal(err)
		}
		if err := run.Get(ctx, nil); !temporal.IsCanceledError(err) {
			t.Fatalf("run ended with %v, want cancellation", err)
		}
		stdout, _ = lifeboat(exitOK, "report", "drill-waits", "-o", "json")
		contains(t, stdout, `"workflow_id": "drill-waits"`, `"status": "canceled"`, `"notifications": [`, `"event": "plan.notice"`)
	})
	t.Run("not a recovery", func(t *testing.T) {
		if err := start("something-else", "NotARecovery").Get(ctx, nil); err != nil {
			t.Fatal(err)
		}
		_, stderr := lifeboat(exitUsage, "report", "something-else")
		contains(t, stderr, "something-else is a NotARecovery workflow: reports cover the runs of recovery plans")
	})
	t.Run("no such workflow", func(t *testing.T) {
		_, stderr := lifeboat(exitFailure, "report", "recovery-nothing")
		contains(t, stderr, `no workflow with id "recovery-nothing"`)
	})
}
