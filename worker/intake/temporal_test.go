package intake_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/testsuite/wait"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/lifeboat-dr/lifeboat/activities"
	"github.com/lifeboat-dr/lifeboat/integrations/secrets"
	"github.com/lifeboat-dr/lifeboat/testsuite/devserver"
	"github.com/lifeboat-dr/lifeboat/worker/intake"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

const (
	taskQueue   = "intake-test"
	queryAlerts = "alerts"
	token       = "integration-token"
)

// standInRecovery is registered as the Recovery workflow: it keeps the statuses of the alert
// signals it receives (query "alerts") and runs until a "finish" signal or an hour has passed.
func standInRecovery(ctx workflow.Context, in workflows.RecoveryInput) (workflows.RecoveryResult, error) {
	var statuses []string
	if err := workflow.SetQueryHandler(ctx, queryAlerts, func() ([]string, error) { return statuses, nil }); err != nil {
		return workflows.RecoveryResult{}, err
	}
	alerts := workflow.GetSignalChannel(ctx, workflows.SignalAlert)
	finish := workflow.GetSignalChannel(ctx, "finish")
	timer := workflow.NewTimer(ctx, time.Hour)
	for done := false; !done; {
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(alerts, func(c workflow.ReceiveChannel, _ bool) {
			var ev workflows.AlertEvent
			c.Receive(ctx, &ev)
			statuses = append(statuses, ev.Status)
		})
		sel.AddReceive(finish, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, nil); done = true })
		sel.AddFuture(timer, func(workflow.Future) { done = true })
		sel.Select(ctx)
	}
	return workflows.RecoveryResult{Plan: in.Plan, Requester: in.Requester, Status: "succeeded"}, nil
}

// intakeEnv is a dev server, a worker running the Alert workflow and the stand-in recovery, and
// the intake's endpoints in front of them.
type intakeEnv struct {
	client client.Client
	url    string
}

func startIntakeEnv(t *testing.T) *intakeEnv {
	t.Helper()
	attrs := map[string]string{}
	for _, k := range workflows.SearchAttributes {
		attrs[k.GetName()] = "Keyword"
	}
	srv := devserver.Start(t, devserver.WithSearchAttributes(attrs))
	quiet := sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))
	c := srv.Dial(t, client.Options{Logger: quiet})
	w := worker.New(c, taskQueue, worker.Options{})
	w.RegisterWorkflowWithOptions(workflows.Alert, workflow.RegisterOptions{Name: workflows.AlertWorkflow})
	w.RegisterWorkflowWithOptions(standInRecovery, workflow.RegisterOptions{Name: workflows.RecoveryWorkflow})
	cfg := intake.Config{
		Alertmanager: intake.AlertmanagerConfig{TokenSecret: "am-token"},
		Rules: []intake.Rule{
			{Name: "orders-down", Match: map[string]string{"alertname": "OrdersPrimaryDown"}, Plan: "orders"},
			{Name: "billing-down", Match: map[string]string{"alertname": "BillingDown"}, Plan: "billing"},
		},
	}
	// The Alert workflow starts what the worker's rules say, as the worker registers them.
	w.RegisterActivity(&activities.AlertRules{Rules: cfg.Targets()})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)

	h, err := intake.New(intake.Options{
		Config:    cfg,
		TaskQueue: taskQueue,
		Secrets:   secrets.Static{"am-token": token}.Secret,
		Logger:    slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	h.SetClient(c)
	mux := http.NewServeMux()
	h.Register(mux)
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	return &intakeEnv{client: c, url: hs.URL}
}

// notification is an Alertmanager payload of one alert.
func notification(name, fingerprint, status string, startsAt time.Time) []byte {
	a := intake.AlertmanagerAlert{
		Status: status, Fingerprint: fingerprint, StartsAt: startsAt,
		Labels:      map[string]string{"alertname": name, "severity": "critical"},
		Annotations: map[string]string{"summary": name + " for 2m"},
	}
	if status == workflows.AlertResolved {
		a.EndsAt = startsAt.Add(5 * time.Minute)
	}
	b, _ := json.Marshal(intake.AlertmanagerPayload{Version: "4", Receiver: "lifeboat", Status: status, Alerts: []intake.AlertmanagerAlert{a}})
	return b
}

// send posts a payload and returns the outcome of its one alert.
func (e *intakeEnv) send(body []byte) (string, error) {
	req, err := http.NewRequest(http.MethodPost, e.url+intake.PathAlertmanager, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out intake.Response
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK || len(out.Alerts) != 1 {
		return "", fmt.Errorf("status %d: %+v", resp.StatusCode, out)
	}
	return out.Alerts[0].Outcome, nil
}

// alertStatus queries an Alert workflow.
func (e *intakeEnv) alertStatus(ctx context.Context, id string) (workflows.AlertStatus, error) {
	var st workflows.AlertStatus
	v, err := e.client.QueryWorkflow(ctx, id, "", workflows.QueryStatus)
	if err == nil {
		err = v.Get(&st)
	}
	return st, err
}

// forwarded asks the stand-in recovery which alert statuses it received.
func (e *intakeEnv) forwarded(ctx context.Context, id string) ([]string, error) {
	var statuses []string
	v, err := e.client.QueryWorkflow(ctx, id, "", queryAlerts)
	if err == nil {
		err = v.Get(&statuses)
	}
	return statuses, err
}

// runs lists the executions the visibility query finds.
func (e *intakeEnv) runs(ctx context.Context, query string) ([]string, error) {
	resp, err := e.client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, ex := range resp.GetExecutions() {
		out = append(out, ex.GetExecution().GetWorkflowId()+"/"+ex.GetExecution().GetRunId())
	}
	return out, nil
}

// TestIntakeOnTemporal runs the intake against a real Temporal dev server.
func TestIntakeOnTemporal(t *testing.T) {
	e := startIntakeEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	t0 := time.Now().UTC().Add(-2 * time.Minute).Truncate(time.Second)

	t.Run("repeats and flaps start one recovery", func(t *testing.T) {
		firing := notification("OrdersPrimaryDown", "aa11bb22cc33dd44", workflows.AlertFiring, t0)
		// Alertmanager instances in a cluster, and retries, deliver the same notification at once.
		var wg sync.WaitGroup
		errs := make([]error, 5)
		for i := range errs {
			wg.Go(func() {
				outcome, err := e.send(firing)
				if err == nil && outcome != intake.OutcomeDelivered {
					err = fmt.Errorf("outcome %q", outcome)
				}
				errs[i] = err
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		alertID := workflows.AlertWorkflowID("orders-down", "aa11bb22cc33dd44")
		wait.For(t, 30*time.Second, "recovery started", func() error {
			st, err := e.alertStatus(ctx, alertID)
			if err == nil && (st.Recovery == nil || st.Events != 5) {
				err = fmt.Errorf("status %+v", st)
			}
			return err
		})
		// The alert resolves, then fires again: a flap.
		for _, body := range [][]byte{
			notification("OrdersPrimaryDown", "aa11bb22cc33dd44", workflows.AlertResolved, t0),
			notification("OrdersPrimaryDown", "aa11bb22cc33dd44", workflows.AlertFiring, t0.Add(time.Minute)),
		} {
			if outcome, err := e.send(body); err != nil || outcome != intake.OutcomeDelivered {
				t.Fatalf("flap: %q, %v", outcome, err)
			}
		}
		wait.For(t, 30*time.Second, "transitions forwarded", func() error {
			got, err := e.forwarded(ctx, "recovery-orders")
			if want := []string{"firing", "resolved", "firing"}; err == nil && !slices.Equal(got, want) {
				err = fmt.Errorf("recovery received %v, want %v", got, want)
			}
			return err
		})
		st, err := e.alertStatus(ctx, alertID)
		if err != nil {
			t.Fatal(err)
		}
		if st.Events != 7 || st.Repeats != 4 || st.TransitionCount != 3 || st.Status != workflows.AlertFiring || !st.Recovery.Started {
			t.Errorf("alert status: %d events, %d repeats, %d transitions, %s, recovery %+v", st.Events, st.Repeats, st.TransitionCount, st.Status, st.Recovery)
		}
		wait.For(t, 30*time.Second, "visibility lists the runs", func() error {
			recoveries, err := e.runs(ctx, "WorkflowType = 'Recovery' AND LifeboatAsset = 'orders'")
			if err != nil {
				return err
			}
			alerts, err := e.runs(ctx, "WorkflowType = 'Alert' AND LifeboatKind = 'alert'")
			if err != nil {
				return err
			}
			if len(recoveries) != 1 || len(alerts) != 1 {
				return fmt.Errorf("recovery runs %v and alert runs %v, want one of each", recoveries, alerts)
			}
			return nil
		})
		desc, err := e.client.DescribeWorkflowExecution(ctx, "recovery-orders", "")
		if err != nil {
			t.Fatal(err)
		}
		if info := desc.GetWorkflowExecutionInfo(); info.GetParentExecution().GetWorkflowId() != alertID || info.GetExecution().GetRunId() != st.Recovery.RunID {
			t.Errorf("recovery-orders: parent %v, run %s; want started by %s as run %s", info.GetParentExecution(), info.GetExecution().GetRunId(), alertID, st.Recovery.RunID)
		}
	})

	t.Run("a running recovery is joined", func(t *testing.T) {
		// Someone started the billing recovery from the CLI.
		run, err := e.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "recovery-billing", TaskQueue: taskQueue}, workflows.RecoveryWorkflow,
			workflows.RecoveryInput{Plan: "billing", Requester: "alice"})
		if err != nil {
			t.Fatal(err)
		}
		if outcome, err := e.send(notification("BillingDown", "ee55ff66", workflows.AlertFiring, t0)); err != nil || outcome != intake.OutcomeDelivered {
			t.Fatalf("firing: %q, %v", outcome, err)
		}
		alertID := workflows.AlertWorkflowID("billing-down", "ee55ff66")
		wait.For(t, 30*time.Second, "recovery joined", func() error {
			st, err := e.alertStatus(ctx, alertID)
			if err == nil && (st.Recovery == nil || st.Recovery.Started || st.TransitionCount != 1 || !st.Transitions[0].Forwarded) {
				err = fmt.Errorf("status %+v", st)
			}
			return err
		})
		got, err := e.forwarded(ctx, "recovery-billing")
		if err != nil || !slices.Equal(got, []string{"firing"}) {
			t.Errorf("running recovery received %v (%v), want [firing]", got, err)
		}
		desc, err := e.client.DescribeWorkflowExecution(ctx, "recovery-billing", "")
		if err != nil {
			t.Fatal(err)
		}
		if desc.GetWorkflowExecutionInfo().GetExecution().GetRunId() != run.GetRunID() {
			t.Errorf("recovery-billing runs as %s, want alice's run %s", desc.GetWorkflowExecutionInfo().GetExecution().GetRunId(), run.GetRunID())
		}
		if recoveries, err := e.runs(ctx, "WorkflowId = 'recovery-billing'"); err != nil || len(recoveries) != 1 {
			t.Errorf("recovery-billing runs %v (%v), want alice's only", recoveries, err)
		}
	})

	t.Run("a resolution with no alert workflow starts nothing", func(t *testing.T) {
		outcome, err := e.send(notification("OrdersPrimaryDown", "0000feed", workflows.AlertResolved, t0))
		if err != nil || outcome != intake.OutcomeNoWorkflow {
			t.Fatalf("outcome %q, %v; want %q", outcome, err, intake.OutcomeNoWorkflow)
		}
		_, err = e.client.DescribeWorkflowExecution(ctx, workflows.AlertWorkflowID("orders-down", "0000feed"), "")
		var notFound *serviceerror.NotFound
		if !errors.As(err, &notFound) {
			t.Errorf("describe the alert workflow: %v, want not found", err)
		}
	})
}
