package workflows

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/lifeboat-dr/lifeboat/activities"
	"github.com/lifeboat-dr/lifeboat/activities/contract"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
)

// signalFinish ends a stand-in recovery.
const signalFinish = "finish"

// recoveryStandIn is registered as the Recovery workflow: it records each start and every alert
// signal it receives, and runs until it is signalled to finish or a day has passed.
type recoveryStandIn struct {
	mu     sync.Mutex
	starts []RecoveryInput
	alerts []AlertEvent
}

func (r *recoveryStandIn) run(ctx workflow.Context, in RecoveryInput) (RecoveryResult, error) {
	r.mu.Lock()
	r.starts = append(r.starts, in)
	r.mu.Unlock()
	alerts := workflow.GetSignalChannel(ctx, SignalAlert)
	finish := workflow.GetSignalChannel(ctx, signalFinish)
	timer := workflow.NewTimer(ctx, 24*time.Hour)
	for done := false; !done; {
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(alerts, func(c workflow.ReceiveChannel, _ bool) {
			var ev AlertEvent
			c.Receive(ctx, &ev)
			r.mu.Lock()
			r.alerts = append(r.alerts, ev)
			r.mu.Unlock()
		})
		sel.AddReceive(finish, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, nil); done = true })
		sel.AddFuture(timer, func(workflow.Future) { done = true })
		sel.Select(ctx)
	}
	return RecoveryResult{Plan: in.Plan, Status: "succeeded"}, nil
}

func (r *recoveryStandIn) statuses() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, ev := range r.alerts {
		out = append(out, ev.Status)
	}
	return out
}

var alertStart = time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)

// newAlertEnv is a test environment with the Alert workflow and a stand-in Recovery workflow.
func newAlertEnv(t *testing.T) (*testsuite.TestWorkflowEnvironment, *recoveryStandIn) {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	slowMachine(env)
	env.SetStartTime(alertStart)
	rec := &recoveryStandIn{}
	env.RegisterWorkflowWithOptions(Alert, workflow.RegisterOptions{Name: AlertWorkflow})
	env.RegisterWorkflowWithOptions(rec.run, workflow.RegisterOptions{Name: RecoveryWorkflow})
	// The worker's intake rule for the test alert.
	env.RegisterActivity(&activities.AlertRules{Rules: map[string]contract.AlertRule{"orders-down": {Plan: "orders"}, "orders-drill": {Plan: "orders", Mode: ModeDrill}}})
	return env, rec
}

func testAlertInput() AlertInput {
	return AlertInput{Rule: "orders-down", Fingerprint: "8d4c1e2f", Plan: "orders", Mode: ModeRecovery}
}

// event is a notification of the test alert; startsAt and endsAt are offsets from alertStart
// (endsAt < 0: none).
func event(status string, startsAt, endsAt time.Duration) AlertEvent {
	ev := AlertEvent{
		Status: status, Fingerprint: "8d4c1e2f", Name: "OrdersPrimaryDown", Rule: "orders-down", Source: "alertmanager/lifeboat",
		Labels:      map[string]string{"alertname": "OrdersPrimaryDown", "severity": "critical"},
		Annotations: map[string]string{"summary": "orders primary unreachable"},
		StartsAt:    alertStart.Add(startsAt),
	}
	if endsAt >= 0 {
		ev.EndsAt = alertStart.Add(endsAt)
	}
	return ev
}

// sendAt signals ev to the workflow under test at offset at.
func sendAt(env *testsuite.TestWorkflowEnvironment, at time.Duration, ev AlertEvent) {
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalAlert, ev) }, at)
}

// TestAlertStartsRecoveryOnceAcrossFlaps: an alert fires, repeats, resolves, fires again, resolves
// again and a late copy of its last firing arrives. One recovery starts, with the alert as its
// requester and reason; it receives the four transitions; the workflow completes one quiet period
// after the last resolution.
func TestAlertStartsRecoveryOnceAcrossFlaps(t *testing.T) {
	env, rec := newAlertEnv(t)
	sendAt(env, 0, event(AlertFiring, 0, -1))
	sendAt(env, time.Minute, event(AlertFiring, 0, -1))
	sendAt(env, 10*time.Minute, event(AlertResolved, 0, 10*time.Minute))
	sendAt(env, 20*time.Minute, event(AlertFiring, 20*time.Minute, -1))
	sendAt(env, 25*time.Minute, event(AlertFiring, 20*time.Minute, -1))
	sendAt(env, 30*time.Minute, event(AlertResolved, 20*time.Minute, 30*time.Minute))
	sendAt(env, 31*time.Minute, event(AlertFiring, 20*time.Minute, -1)) // a late retry of the last firing

	var whileResolved AlertStatus
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(QueryStatus)
		if err != nil {
			t.Errorf("query status: %v", err)
			return
		}
		if err := v.Get(&whileResolved); err != nil {
			t.Errorf("decode status: %v", err)
		}
	}, 15*time.Minute)

	in := testAlertInput()
	in.QuietPeriod = units.Duration(time.Hour)
	env.ExecuteWorkflow(AlertWorkflow, in)
	if !env.IsWorkflowCompleted() {
		t.Fatal("the Alert workflow did not complete")
	}
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("Alert workflow: %v", err)
	}
	var got AlertStatus
	if err := env.GetWorkflowResult(&got); err != nil {
		t.Fatal(err)
	}

	if len(rec.starts) != 1 {
		t.Fatalf("recovery started %d times, want once: %+v", len(rec.starts), rec.starts)
	}
	want := RecoveryInput{Plan: "orders", Mode: ModeRecovery, Requester: "alert:orders-down", Reason: "alert OrdersPrimaryDown: orders primary unreachable", IncidentAt: alertStart}
	if rec.starts[0] != want {
		t.Errorf("recovery input %+v, want %+v", rec.starts[0], want)
	}
	if s, w := rec.statuses(), []string{AlertFiring, AlertResolved, AlertFiring, AlertResolved}; !slices.Equal(s, w) {
		t.Errorf("recovery received %v, want %v", s, w)
	}
	for _, ev := range rec.alerts {
		if ev.AlertWorkflow == "" || ev.Rule != "orders-down" {
			t.Errorf("forwarded event without its alert workflow or rule: %+v", ev)
		}
	}

	if got.Status != AlertResolved || got.TransitionCount != 4 || got.Repeats != 2 || got.Stale != 1 || got.Events != 7 {
		t.Errorf("status %s, %d transitions, %d repeats, %d stale, %d events; want resolved, 4, 2, 1, 7",
			got.Status, got.TransitionCount, got.Repeats, got.Stale, got.Events)
	}
	if got.Recovery == nil || !got.Recovery.Started || got.Recovery.WorkflowID != "recovery-orders" || got.Recovery.RunID == "" {
		t.Errorf("recovery record %+v, want recovery-orders started with its run", got.Recovery)
	}
	for i, tr := range got.Transitions {
		if !tr.Forwarded {
			t.Errorf("transition %d (%s) not forwarded", i, tr.Status)
		}
	}
	if want := alertStart.Add(30 * time.Minute); !got.ResolvedAt.Equal(want) {
		t.Errorf("resolved at %s, want %s", got.ResolvedAt, want)
	}
	if want := got.ResolvedAt.Add(time.Hour); !got.ClosedAt.Equal(want) {
		t.Errorf("closed at %s, want %s: one quiet period after the last resolution", got.ClosedAt, want)
	}
	if got.Name != "OrdersPrimaryDown" || got.Summary != "orders primary unreachable" || got.Runs != 1 {
		t.Errorf("name %q, summary %q, runs %d", got.Name, got.Summary, got.Runs)
	}

	if whileResolved.Status != AlertResolved || !whileResolved.QuietUntil.Equal(alertStart.Add(70*time.Minute)) || whileResolved.TransitionCount != 2 {
		t.Errorf("status query while resolved: %+v", whileResolved)
	}
}

// TestAlertJoinsRunningRecovery: a recovery of the plan is already running (someone started it
// from the CLI). The alert does not start a second one: it signals the running one.
func TestAlertJoinsRunningRecovery(t *testing.T) {
	env, rec := newAlertEnv(t)
	in := testAlertInput()
	alertID := AlertWorkflowID(in.Rule, in.Fingerprint)
	// The harness starts a recovery as alice would, then runs the Alert workflow beside it.
	harness := func(ctx workflow.Context, in AlertInput) (AlertStatus, error) {
		rctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: "recovery-orders", ParentClosePolicy: enums.PARENT_CLOSE_POLICY_ABANDON})
		if err := workflow.ExecuteChildWorkflow(rctx, RecoveryWorkflow, RecoveryInput{Plan: "orders", Requester: "alice"}).GetChildWorkflowExecution().Get(ctx, nil); err != nil {
			return AlertStatus{}, err
		}
		var out AlertStatus
		actx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: alertID})
		err := workflow.ExecuteChildWorkflow(actx, AlertWorkflow, in).Get(ctx, &out)
		return out, err
	}
	env.RegisterWorkflowWithOptions(harness, workflow.RegisterOptions{Name: "harness"})
	signal := func(at time.Duration, ev AlertEvent) {
		env.RegisterDelayedCallback(func() {
			if err := env.SignalWorkflowByID(alertID, SignalAlert, ev); err != nil {
				t.Errorf("signal %s: %v", ev.Status, err)
			}
		}, at)
	}
	signal(time.Minute, event(AlertFiring, 0, -1))
	signal(5*time.Minute, event(AlertResolved, 0, 5*time.Minute))
	signal(7*time.Minute, event(AlertFiring, 7*time.Minute, -1))
	signal(9*time.Minute, event(AlertResolved, 7*time.Minute, 9*time.Minute))

	env.ExecuteWorkflow("harness", in)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("harness: %v", err)
	}
	var got AlertStatus
	if err := env.GetWorkflowResult(&got); err != nil {
		t.Fatal(err)
	}
	if len(rec.starts) != 1 || rec.starts[0].Requester != "alice" {
		t.Fatalf("recovery starts %+v, want only alice's", rec.starts)
	}
	if s, w := rec.statuses(), []string{AlertFiring, AlertResolved, AlertFiring, AlertResolved}; !slices.Equal(s, w) {
		t.Errorf("running recovery received %v, want %v", s, w)
	}
	if got.Recovery == nil || got.Recovery.Started || got.Recovery.WorkflowID != "recovery-orders" || got.Recovery.RunID != "" {
		t.Errorf("recovery record %+v, want recovery-orders joined, not started", got.Recovery)
	}
	if got.Status != AlertResolved || got.ClosedAt.IsZero() {
		t.Errorf("status %s, closed at %s: want resolved and closed", got.Status, got.ClosedAt)
	}
}

// TestAlertNeverRestartsEndedRecovery: the recovery the alert started has finished when the alert
// resolves and fires again. Nothing starts again; the outcome and the failed forward are recorded.
func TestAlertNeverRestartsEndedRecovery(t *testing.T) {
	env, rec := newAlertEnv(t)
	sendAt(env, 0, event(AlertFiring, 0, -1))
	env.RegisterDelayedCallback(func() {
		if err := env.SignalWorkflowByID("recovery-orders", signalFinish, nil); err != nil {
			t.Errorf("finish the recovery: %v", err)
		}
	}, 5*time.Minute)
	sendAt(env, 10*time.Minute, event(AlertResolved, 0, 10*time.Minute))
	sendAt(env, 20*time.Minute, event(AlertFiring, 20*time.Minute, -1))
	sendAt(env, 30*time.Minute, event(AlertResolved, 20*time.Minute, 30*time.Minute))

	env.ExecuteWorkflow(AlertWorkflow, testAlertInput())
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("Alert workflow: %v", err)
	}
	var got AlertStatus
	if err := env.GetWorkflowResult(&got); err != nil {
		t.Fatal(err)
	}
	if len(rec.starts) != 1 {
		t.Fatalf("recovery started %d times, want once", len(rec.starts))
	}
	if got.Recovery == nil || got.Recovery.Outcome != "succeeded" || got.Recovery.SignalError == "" {
		t.Fatalf("recovery record %+v, want succeeded with a signal error", got.Recovery)
	}
	if got.TransitionCount != 4 || !got.Transitions[0].Forwarded || got.Transitions[1].Forwarded {
		t.Errorf("transitions %+v: want 4, the first forwarded, the later ones not", got.Transitions)
	}
	if want := alertStart.Add(30*time.Minute + DefaultAlertQuietPeriod); !got.ClosedAt.Equal(want) {
		t.Errorf("closed at %s, want %s (default quiet period)", got.ClosedAt, want)
	}
}

// TestAlertContinuesAsNew: after EventsPerRun events the workflow continues as new with its
// record; the next run neither starts the recovery again nor forgets it, and forwards to it.
func TestAlertContinuesAsNew(t *testing.T) {
	env, rec := newAlertEnv(t)
	for i := range 4 {
		sendAt(env, time.Duration(i)*time.Minute, event(AlertFiring, 0, -1))
	}
	in := testAlertInput()
	in.EventsPerRun = 3
	env.ExecuteWorkflow(AlertWorkflow, in)
	err := env.GetWorkflowError()
	var can *workflow.ContinueAsNewError
	if !errors.As(err, &can) {
		t.Fatalf("error %v, want continue-as-new", err)
	}
	if can.WorkflowType.Name != AlertWorkflow {
		t.Errorf("continues as %q", can.WorkflowType.Name)
	}
	var next AlertInput
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	st := next.State
	if st == nil || st.Events != 3 || st.Repeats != 2 || st.Status != AlertFiring || st.Recovery == nil || !st.Recovery.Started || st.Runs != 1 {
		t.Fatalf("carried state %+v", st)
	}
	if next.Rule != in.Rule || next.Plan != in.Plan || next.EventsPerRun != 3 {
		t.Errorf("carried input %+v", next)
	}
	if len(rec.starts) != 1 {
		t.Fatalf("recovery started %d times in the first run", len(rec.starts))
	}

	// The next run: the recovery runs elsewhere (outside this test environment), so the forwards
	// are observed at the SDK's external-signal hook.
	env2, rec2 := newAlertEnv(t)
	env2.SetStartTime(alertStart.Add(3 * time.Minute))
	var forwarded []string
	env2.OnSignalExternalWorkflow(mock.Anything, "recovery-orders", st.Recovery.RunID, SignalAlert, mock.Anything).Return(
		func(_, _, _, _ string, arg any) error {
			forwarded = append(forwarded, arg.(AlertEvent).Status)
			return nil
		})
	sendAt(env2, 0, event(AlertFiring, 0, -1))
	sendAt(env2, time.Minute, event(AlertResolved, 0, 4*time.Minute))
	sendAt(env2, 2*time.Minute, event(AlertFiring, 5*time.Minute, -1))
	sendAt(env2, 3*time.Minute, event(AlertResolved, 5*time.Minute, 6*time.Minute))
	next.EventsPerRun = 0
	env2.ExecuteWorkflow(AlertWorkflow, next)
	if err := env2.GetWorkflowError(); err != nil {
		t.Fatalf("second run: %v", err)
	}
	var got AlertStatus
	if err := env2.GetWorkflowResult(&got); err != nil {
		t.Fatal(err)
	}
	if len(rec2.starts) != 0 {
		t.Errorf("the second run started the recovery again: %+v", rec2.starts)
	}
	if w := []string{AlertResolved, AlertFiring, AlertResolved}; !slices.Equal(forwarded, w) {
		t.Errorf("forwarded %v, want %v", forwarded, w)
	}
	if got.Runs != 2 || got.Events != 7 || got.TransitionCount != 4 || got.Recovery.RunID != st.Recovery.RunID {
		t.Errorf("final record: runs %d, events %d, transitions %d, recovery %+v", got.Runs, got.Events, got.TransitionCount, got.Recovery)
	}
}

// TestAlertDrillMode: a drill rule starts drill-PLAN in drill mode.
func TestAlertDrillMode(t *testing.T) {
	env, rec := newAlertEnv(t)
	sendAt(env, 0, event(AlertFiring, 0, -1))
	sendAt(env, time.Minute, event(AlertResolved, 0, time.Minute))
	in := testAlertInput()
	in.Rule, in.Mode = "orders-drill", ModeDrill
	env.ExecuteWorkflow(AlertWorkflow, in)
	var got AlertStatus
	if err := env.GetWorkflowResult(&got); err != nil {
		t.Fatal(err)
	}
	if len(rec.starts) != 1 || rec.starts[0].Mode != ModeDrill || got.Recovery.WorkflowID != "drill-orders" {
		t.Errorf("starts %+v, recovery %+v: want one drill as drill-orders", rec.starts, got.Recovery)
	}
}

// TestAlertRefusesBadInput: every problem is named, and the error is not retried.
func TestAlertRefusesBadInput(t *testing.T) {
	env, rec := newAlertEnv(t)
	env.ExecuteWorkflow(AlertWorkflow, AlertInput{Mode: "panic"})
	err := env.GetWorkflowError()
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || !appErr.NonRetryable() || appErr.Type() != ErrTypeInvalidInput {
		t.Fatalf("error %v, want a non-retryable %s", err, ErrTypeInvalidInput)
	}
	for _, want := range []string{"rule: required", "fingerprint: required", "plan: required", `mode: "panic"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if len(rec.starts) != 0 {
		t.Errorf("recovery started on bad input")
	}
}

// TestAlertReasonIsBounded: a huge summary annotation does not exceed the recovery's limits.
func TestAlertReasonIsBounded(t *testing.T) {
	ev := event(AlertFiring, 0, -1)
	ev.Annotations["summary"] = strings.Repeat("é", 5000)
	reason := alertReason(ev)
	if len(reason) > 2000 || !strings.HasSuffix(reason, "…") || !strings.HasPrefix(reason, "alert OrdersPrimaryDown: é") {
		t.Errorf("reason of %d bytes: %.60q…", len(reason), reason)
	}
	in := RecoveryInput{Plan: strings.Repeat("p", 63), Mode: ModeRecovery, Requester: "alert:" + strings.Repeat("r", 63)}
	ev.Name = strings.Repeat("n", 300)
	if s := alertRecoverySummary(in, ev); len(s) > 200 {
		t.Errorf("summary of %d bytes", len(s))
	}
}

// TestFollowAlerts: the recovery's side keeps the newest transitions, with the alert's own time.
func TestFollowAlerts(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	slowMachine(env)
	env.SetStartTime(alertStart)
	noteTaker := func(ctx workflow.Context) ([]AlertNote, error) {
		var notes []AlertNote
		followAlerts(ctx, &notes)
		workflow.GetSignalChannel(ctx, signalFinish).Receive(ctx, nil)
		return notes, nil
	}
	env.RegisterWorkflowWithOptions(noteTaker, workflow.RegisterOptions{Name: "noteTaker"})
	for i := range MaxAlertNotes + 10 {
		ev := event(AlertFiring, time.Duration(i)*time.Minute, -1)
		if i%2 == 1 {
			ev = event(AlertResolved, time.Duration(i-1)*time.Minute, time.Duration(i)*time.Minute)
		}
		ev.AlertWorkflow = "alert-orders-down-8d4c1e2f"
		sendAt(env, time.Duration(i)*time.Minute, ev)
	}
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(signalFinish, nil) }, 2*time.Hour)
	env.ExecuteWorkflow("noteTaker")
	var notes []AlertNote
	if err := env.GetWorkflowResult(&notes); err != nil {
		t.Fatal(err)
	}
	if len(notes) != MaxAlertNotes {
		t.Fatalf("%d notes, want the newest %d", len(notes), MaxAlertNotes)
	}
	first, last := notes[0], notes[len(notes)-1]
	if !first.At.Equal(alertStart.Add(10*time.Minute)) || first.Status != AlertFiring {
		t.Errorf("oldest note kept %+v, want the firing at +10m", first)
	}
	want := AlertNote{Status: AlertResolved, Name: "OrdersPrimaryDown", Rule: "orders-down", Summary: "orders primary unreachable", Source: "alertmanager/lifeboat",
		AlertWorkflow: "alert-orders-down-8d4c1e2f", At: alertStart.Add(59 * time.Minute), AlertTime: alertStart.Add(59 * time.Minute)}
	if last != want {
		t.Errorf("newest note %+v, want %+v", last, want)
	}
}

// An Alert workflow started by hand starts only what the worker's intake rule of that name starts:
// an unknown rule, or another plan or mode than the rule's, is refused before anything starts.
func TestAlertStartsOnlyWhatItsConfiguredRuleStarts(t *testing.T) {
	for name, c := range map[string]struct {
		in   AlertInput
		want string
	}{
		"an unknown rule":   {AlertInput{Rule: "made-up", Fingerprint: "f", Plan: "orders"}, `no intake rule "made-up" (rules: orders-down, orders-drill)`},
		"another plan":      {AlertInput{Rule: "orders-down", Fingerprint: "f", Plan: "wipe-everything"}, "starts plan orders in recovery mode, not wipe-everything in recovery mode"},
		"a drill as a real": {AlertInput{Rule: "orders-down", Fingerprint: "f", Plan: "orders", Mode: ModeDrill}, "not orders in drill mode"},
	} {
		env, rec := newAlertEnv(t)
		env.ExecuteWorkflow(AlertWorkflow, c.in)
		var appErr *temporal.ApplicationError
		if err := env.GetWorkflowError(); !errors.As(err, &appErr) || appErr.Type() != ErrTypeIdentityRefused || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want a refusal saying %q", name, err, c.want)
		}
		if len(rec.starts) != 0 {
			t.Errorf("%s: a recovery started", name)
		}
	}
}
