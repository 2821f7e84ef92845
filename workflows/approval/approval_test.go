package approval_test

import (
	"errors"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/lifeboat-dr/lifeboat/workflows/approval"
)

// gatesInput lists the gates the test workflow opens, each on its own coroutine.
type gatesInput struct {
	Gates []testGate
	// Linger keeps the workflow running after the gates closed, so that a timer left running
	// would show.
	Linger time.Duration
	// RemindTakes is how long Remind blocks, as one that waits on a slow notifier would.
	RemindTakes time.Duration
}

type testGate struct {
	approval.Request
	// OpenAfter delays the gate's opening.
	OpenAfter time.Duration
}

type gatesResult struct {
	Started   time.Time
	Outcomes  []approval.Outcome
	Reminders []reminded
}

// reminded is one call of Remind, At measured from the workflow's start.
type reminded struct {
	Gate       string
	Level      int
	Escalation bool
	At         time.Duration
	Approvals  int
}

// gatesWorkflow opens the gates, waits for all of them and drains the handlers before returning,
// as every workflow that opens gates must.
func gatesWorkflow(ctx workflow.Context, in gatesInput) (gatesResult, error) {
	res := gatesResult{Started: workflow.Now(ctx), Outcomes: make([]approval.Outcome, len(in.Gates))}
	gates, err := approval.New(ctx)
	if err != nil {
		return res, err
	}
	errs := make([]error, len(in.Gates))
	wg := workflow.NewWaitGroup(ctx)
	for i, tg := range in.Gates {
		req := tg.Request
		if len(req.RemindEvery) > 0 || req.OnExpiry == approval.ExpireEscalate {
			req.Remind = func(ctx workflow.Context, r approval.Reminder) {
				res.Reminders = append(res.Reminders, reminded{
					Gate: r.Gate.Gate, Level: r.Level, Escalation: r.Escalation,
					At: workflow.Now(ctx).Sub(res.Started), Approvals: len(r.Gate.ApprovedBy),
				})
				if in.RemindTakes > 0 {
					_ = workflow.Sleep(ctx, in.RemindTakes)
				}
			}
		}
		wg.Add(1)
		workflow.Go(ctx, func(ctx workflow.Context) {
			defer wg.Done()
			if tg.OpenAfter > 0 {
				if errs[i] = workflow.Sleep(ctx, tg.OpenAfter); errs[i] != nil {
					return
				}
			}
			res.Outcomes[i], errs[i] = gates.Await(ctx, req)
		})
	}
	wg.Wait(ctx)
	drain, _ := workflow.NewDisconnectedContext(ctx)
	if err := workflow.Await(drain, func() bool { return workflow.AllHandlersFinished(drain) }); err != nil {
		return res, err
	}
	if in.Linger > 0 {
		if err := workflow.Sleep(ctx, in.Linger); err != nil {
			return res, err
		}
	}
	// The first error is returned as it is: wrapping would hide its type (canceled, invalid
	// request) from Temporal.
	for _, err := range errs {
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

func newEnv(t *testing.T) *testsuite.TestWorkflowEnvironment {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))))
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(gatesWorkflow)
	return env
}

func run(t *testing.T, env *testsuite.TestWorkflowEnvironment, gates ...testGate) gatesResult {
	t.Helper()
	env.ExecuteWorkflow(gatesWorkflow, gatesInput{Gates: gates})
	return result(t, env)
}

func result(t *testing.T, env *testsuite.TestWorkflowEnvironment) gatesResult {
	t.Helper()
	if !env.IsWorkflowCompleted() {
		t.Fatal("workflow did not complete")
	}
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("workflow failed: %v", err)
	}
	var r gatesResult
	if err := env.GetWorkflowResult(&r); err != nil {
		t.Fatal(err)
	}
	return r
}

// sent is what became of one Update.
type sent struct {
	called   bool
	rejected error
	state    approval.GateState
	err      error
}

// update sends the decide Update after a delay of workflow time.
func update(t *testing.T, env *testsuite.TestWorkflowEnvironment, after time.Duration, id string, d approval.Decision) *sent {
	s := &sent{}
	env.RegisterDelayedCallback(func() {
		s.called = true
		env.UpdateWorkflow(approval.UpdateDecide, id, &testsuite.TestUpdateCallback{
			OnAccept: func() {},
			OnReject: func(err error) { s.rejected = err },
			OnComplete: func(v any, err error) {
				s.err = err
				if err == nil {
					st, ok := v.(approval.GateState)
					if !ok {
						t.Errorf("update result is %T, want approval.GateState", v)
					}
					s.state = st
				}
			},
		}, d)
	}, after)
	return s
}

// accepted fails the test unless the Update was accepted and completed.
func (s *sent) accepted(t *testing.T) approval.GateState {
	t.Helper()
	if !s.called {
		t.Fatal("update was never sent: the workflow ended first")
	}
	if s.rejected != nil || s.err != nil {
		t.Fatalf("update rejected: %v, failed: %v", s.rejected, s.err)
	}
	return s.state
}

// refused fails the test unless the Update was refused with an error mentioning want: rejected by
// the validator, or — for a refusal the run records (someone who may not decide) — failed by the
// handler.
func (s *sent) refused(t *testing.T, want string) {
	t.Helper()
	if !s.called {
		t.Fatal("update was never sent: the workflow ended first")
	}
	err := s.rejected
	if err == nil {
		err = s.err
	}
	if err == nil {
		t.Fatalf("update was accepted (result %+v), want a refusal mentioning %q", s.state, want)
	}
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != approval.ErrTypeDecisionRefused {
		t.Errorf("refusal %v is not a %s application error", err, approval.ErrTypeDecisionRefused)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("refusal %q does not mention %q", err, want)
	}
}

func signal(env *testsuite.TestWorkflowEnvironment, after time.Duration, payload any) {
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(approval.SignalDecide, payload) }, after)
}

// queryAt queries the approvals state after a delay of workflow time.
func queryAt(t *testing.T, env *testsuite.TestWorkflowEnvironment, after time.Duration) *approval.State {
	st := &approval.State{}
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(approval.QueryApprovals)
		if err != nil {
			t.Errorf("query: %v", err)
			return
		}
		if err := v.Get(st); err != nil {
			t.Error(err)
		}
	}, after)
	return st
}

func restoreGate() approval.Request {
	return approval.Request{Gate: "restore-in-place", Title: "restore orders-db over the live database", Requester: "scheduler"}
}

func identities(ds []approval.Decision) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Identity)
	}
	return out
}

func TestApproveByUpdate(t *testing.T) {
	env := newEnv(t)
	u := update(t, env, time.Minute, "", approval.Decision{Approve: true, Identity: " alice ", Channel: approval.ChannelCLI, Time: time.Unix(1, 0)})
	r := run(t, env, testGate{Request: restoreGate()})
	if st := u.accepted(t); st != (approval.GateState{Gate: "restore-in-place", Approvals: 1, Quorum: 1, Open: false, Approved: true}) {
		t.Errorf("update result = %+v", st)
	}
	o := r.Outcomes[0]
	if !o.Approved || o.Expired || o.Escalated || o.RejectedBy != nil || o.Waited != time.Minute {
		t.Fatalf("outcome = %+v, want approved after 1m", o)
	}
	if len(o.Decisions) != 1 {
		t.Fatalf("decisions = %+v", o.Decisions)
	}
	d := o.Decisions[0]
	if d.Identity != "alice" || d.Gate != "restore-in-place" || d.Channel != approval.ChannelCLI || !d.Time.Equal(r.Started.Add(time.Minute)) {
		t.Fatalf("decision = %+v, want alice's, named after its gate, at the workflow's time", d)
	}
}

func TestApproveBySignal(t *testing.T) {
	env := newEnv(t)
	signal(env, 2*time.Minute, approval.Decision{Approve: true, Identity: "alice", Channel: approval.ChannelTemporal})
	r := run(t, env, testGate{Request: restoreGate()})
	o := r.Outcomes[0]
	if !o.Approved || o.Waited != 2*time.Minute || len(o.Decisions) != 1 || o.Decisions[0].Gate != "restore-in-place" {
		t.Fatalf("outcome = %+v, want approved by the signal after 2m", o)
	}
}

func TestRejectWithReason(t *testing.T) {
	env := newEnv(t)
	req := restoreGate()
	req.Quorum = 2
	update(t, env, time.Minute, "", approval.Decision{Approve: true, Identity: "alice"})
	u := update(t, env, 2*time.Minute, "", approval.Decision{Identity: "bob", Channel: approval.ChannelSlack, Reason: "replica is still catching up"})
	r := run(t, env, testGate{Request: req})
	if st := u.accepted(t); st.Open || st.Approved || st.Approvals != 1 {
		t.Errorf("update result = %+v, want closed, not approved, 1 approval", st)
	}
	o := r.Outcomes[0]
	if o.Approved || o.RejectedBy == nil || o.RejectedBy.Identity != "bob" || o.RejectedBy.Reason != "replica is still catching up" {
		t.Fatalf("outcome = %+v, want rejected by bob with his reason", o)
	}
	if got := identities(o.Decisions); !slices.Equal(got, []string{"alice", "bob"}) {
		t.Fatalf("decisions by %v, want alice then bob", got)
	}
}

// A decision the rules refuse is rejected by the Update's validator, or listed as refused when it
// came by signal, and in neither case recorded: the gate then closes on the valid decision that
// follows.
func TestRefusedDecisions(t *testing.T) {
	tests := []struct {
		name     string
		req      func(*approval.Request)
		decision approval.Decision
		want     string
	}{
		{
			name:     "reject without reason",
			decision: approval.Decision{Identity: "bob"},
			want:     "reason: required when rejecting",
		},
		{
			name:     "no identity",
			decision: approval.Decision{Approve: true, Identity: "  "},
			want:     "identity: required",
		},
		{
			name:     "self-approval",
			decision: approval.Decision{Approve: true, Identity: "scheduler"},
			want:     `"scheduler" requested it and cannot approve its own request`,
		},
		{
			name:     "not an approver",
			req:      func(r *approval.Request) { r.Approvers = []string{"alice", "bob"} },
			decision: approval.Decision{Approve: true, Identity: "mallory"},
			want:     `"mallory" is not an approver (approvers: alice, bob)`,
		},
		{
			name:     "requester not an approver cannot reject either",
			req:      func(r *approval.Request) { r.Approvers = []string{"alice", "bob"} },
			decision: approval.Decision{Identity: "scheduler", Reason: "changed my mind"},
			want:     `"scheduler" is not an approver`,
		},
		{
			name:     "unknown gate",
			decision: approval.Decision{Gate: "failover", Approve: true, Identity: "bob"},
			want:     `gate "failover" is not open (open: restore-in-place)`,
		},
	}
	for _, tt := range tests {
		req := restoreGate()
		if tt.req != nil {
			tt.req(&req)
		}
		valid := approval.Decision{Approve: true, Identity: "alice"}
		t.Run(tt.name+"/update", func(t *testing.T) {
			env := newEnv(t)
			bad := update(t, env, time.Minute, "", tt.decision)
			good := update(t, env, 2*time.Minute, "", valid)
			r := run(t, env, testGate{Request: req})
			bad.refused(t, tt.want)
			good.accepted(t)
			if o := r.Outcomes[0]; !o.Approved || !slices.Equal(identities(o.Decisions), []string{"alice"}) || o.Waited != 2*time.Minute {
				t.Fatalf("outcome = %+v, want approved by alice alone after 2m", o)
			}
		})
		if tt.name == "unknown gate" {
			continue // a signal for a gate not yet open is held: see TestQueryShowsGatesDecisionsAndRefusals
		}
		t.Run(tt.name+"/signal", func(t *testing.T) {
			env := newEnv(t)
			signal(env, time.Minute, tt.decision)
			st := queryAt(t, env, 90*time.Second)
			signal(env, 2*time.Minute, valid)
			r := run(t, env, testGate{Request: req})
			if len(st.Refused) != 1 || !strings.Contains(st.Refused[0].Error, tt.want) {
				t.Fatalf("refused = %+v, want one refusal mentioning %q", st.Refused, tt.want)
			}
			if len(st.Decisions) != 0 || len(st.Pending) != 1 {
				t.Fatalf("state after the refused signal = %+v, want no decision and the gate open", st)
			}
			if o := r.Outcomes[0]; !o.Approved || !slices.Equal(identities(o.Decisions), []string{"alice"}) || o.Waited != 2*time.Minute {
				t.Fatalf("outcome = %+v, want approved by alice alone after 2m", o)
			}
		})
	}
}

func TestRequesterMayWithdrawByRejecting(t *testing.T) {
	env := newEnv(t)
	u := update(t, env, time.Minute, "", approval.Decision{Identity: "scheduler", Reason: "restoring elsewhere instead"})
	r := run(t, env, testGate{Request: restoreGate()})
	u.accepted(t)
	if o := r.Outcomes[0]; o.Approved || o.RejectedBy == nil || o.RejectedBy.Identity != "scheduler" {
		t.Fatalf("outcome = %+v, want rejected by the requester", o)
	}
}

func TestQuorumNeedsDistinctIdentities(t *testing.T) {
	env := newEnv(t)
	req := restoreGate()
	req.Quorum = 2
	req.Approvers = []string{"alice", "bob", "carol"}
	first := update(t, env, time.Minute, "alice-1", approval.Decision{Approve: true, Identity: "alice"})
	retried := update(t, env, time.Minute+time.Second, "alice-1", approval.Decision{Approve: true, Identity: "alice"})
	again := update(t, env, 2*time.Minute, "alice-2", approval.Decision{Approve: true, Identity: "alice"})
	bySignal := queryAt(t, env, 150*time.Second)
	signal(env, 140*time.Second, approval.Decision{Approve: true, Identity: "alice", Channel: approval.ChannelSlack})
	second := update(t, env, 3*time.Minute, "bob-1", approval.Decision{Approve: true, Identity: "bob"})
	r := run(t, env, testGate{Request: req})

	want := approval.GateState{Gate: "restore-in-place", Approvals: 1, Quorum: 2, Open: true}
	if st := first.accepted(t); st != want {
		t.Errorf("first approval = %+v, want %+v", st, want)
	}
	if st := retried.accepted(t); st != want {
		t.Errorf("retried update (same ID) = %+v, want the first call's result %+v", st, want)
	}
	again.refused(t, `"alice" already decided`)
	// Both second tries are on record: by Update, then by signal.
	if len(bySignal.Refused) != 2 || !strings.Contains(bySignal.Refused[0].Error, `"alice" already decided`) ||
		bySignal.Refused[1].Decision.Channel != approval.ChannelSlack || !strings.Contains(bySignal.Refused[1].Error, `"alice" already decided`) {
		t.Errorf("refused = %+v, want alice's second approval by Update and by signal", bySignal.Refused)
	}
	want = approval.GateState{Gate: "restore-in-place", Approvals: 2, Quorum: 2, Open: false, Approved: true}
	if st := second.accepted(t); st != want {
		t.Errorf("second approval = %+v, want %+v", st, want)
	}
	o := r.Outcomes[0]
	if !o.Approved || o.Waited != 3*time.Minute || !slices.Equal(identities(o.Decisions), []string{"alice", "bob"}) {
		t.Fatalf("outcome = %+v, want approved by alice and bob after 3m", o)
	}
}

func TestExpiry(t *testing.T) {
	tests := []struct {
		policy        approval.ExpiryPolicy
		wantApproved  bool
		wantEscalated bool
		wantWaited    time.Duration
		wantReminders []reminded
	}{
		{policy: "", wantWaited: time.Hour},
		{policy: approval.ExpireAbort, wantWaited: time.Hour},
		{policy: approval.ExpireProceed, wantApproved: true, wantWaited: time.Hour},
		{
			// Escalation calls Remind once more and keeps waiting, without a timeout, for the
			// approval that comes at 3h.
			policy: approval.ExpireEscalate, wantApproved: true, wantEscalated: true, wantWaited: 3 * time.Hour,
			wantReminders: []reminded{{Gate: "restore-in-place", Level: 1, Escalation: true, At: time.Hour}},
		},
	}
	for _, tt := range tests {
		name := string(tt.policy)
		if name == "" {
			name = "default"
		}
		t.Run(name, func(t *testing.T) {
			env := newEnv(t)
			req := restoreGate()
			req.Timeout = time.Hour
			req.OnExpiry = tt.policy
			late := update(t, env, 3*time.Hour, "", approval.Decision{Approve: true, Identity: "alice"})
			r := run(t, env, testGate{Request: req})
			o := r.Outcomes[0]
			if !o.Expired || o.Approved != tt.wantApproved || o.Escalated != tt.wantEscalated || o.Waited != tt.wantWaited {
				t.Fatalf("outcome = %+v, want expired, approved %v, escalated %v, after %s", o, tt.wantApproved, tt.wantEscalated, tt.wantWaited)
			}
			if !slices.Equal(r.Reminders, tt.wantReminders) {
				t.Fatalf("reminders = %+v, want %+v", r.Reminders, tt.wantReminders)
			}
			if tt.wantEscalated {
				late.accepted(t)
			} else if late.called {
				t.Fatal("the workflow was still running at 3h: the gate did not close at its expiry")
			}
		})
	}
}

func TestReminders(t *testing.T) {
	const linger = 3 * time.Hour
	tests := []struct {
		name          string
		timeout       time.Duration
		decideAt      time.Duration
		wantReminders []time.Duration
		wantTimers    []time.Duration
		wantCancelled int
		wantExpired   bool
		wantWaited    time.Duration
	}{
		{
			name:     "stop once decided",
			decideAt: 60 * time.Minute,
			// Due at 10m, 30m, 50m, 70m: the last timer is cancelled by the approval at 60m.
			wantReminders: []time.Duration{10 * time.Minute, 30 * time.Minute, 50 * time.Minute},
			wantTimers:    []time.Duration{10 * time.Minute, 20 * time.Minute, 20 * time.Minute, 20 * time.Minute},
			wantCancelled: 1,
			wantWaited:    60 * time.Minute,
		},
		{
			name:     "none due at or after the expiry",
			timeout:  45 * time.Minute,
			decideAt: 2 * time.Hour,
			// The reminder due at 50m falls after the expiry at 45m, so the last timer is the expiry.
			wantReminders: []time.Duration{10 * time.Minute, 30 * time.Minute},
			wantTimers:    []time.Duration{10 * time.Minute, 20 * time.Minute, 15 * time.Minute},
			wantExpired:   true,
			wantWaited:    45 * time.Minute,
		},
		{
			name:          "decided before the first",
			timeout:       time.Hour,
			decideAt:      5 * time.Minute,
			wantTimers:    []time.Duration{10 * time.Minute},
			wantCancelled: 1,
			wantWaited:    5 * time.Minute,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newEnv(t)
			var timers []time.Duration
			cancelled, fired := 0, 0
			env.SetOnTimerScheduledListener(func(_ string, d time.Duration) { timers = append(timers, d) })
			env.SetOnTimerCanceledListener(func(string) { cancelled++ })
			env.SetOnTimerFiredListener(func(string) { fired++ })
			req := restoreGate()
			req.Timeout = tt.timeout
			req.RemindEvery = []time.Duration{10 * time.Minute, 20 * time.Minute}
			req.RemindRepeat = 2
			update(t, env, tt.decideAt, "", approval.Decision{Approve: true, Identity: "alice"})
			env.ExecuteWorkflow(gatesWorkflow, gatesInput{Gates: []testGate{{Request: req}}, Linger: linger})
			r := result(t, env)
			var at []time.Duration
			for i, rm := range r.Reminders {
				at = append(at, rm.At)
				if rm.Level != i+1 || rm.Escalation || rm.Gate != "restore-in-place" {
					t.Errorf("reminder %d = %+v", i, rm)
				}
			}
			if !slices.Equal(at, tt.wantReminders) {
				t.Errorf("reminders at %v, want %v", at, tt.wantReminders)
			}
			// The last timer is the workflow's linger.
			wantTimers := append(tt.wantTimers, linger)
			wantFired := len(wantTimers) - tt.wantCancelled
			if !slices.Equal(timers, wantTimers) || cancelled != tt.wantCancelled || fired != wantFired {
				t.Errorf("timers %v with %d cancelled and %d fired, want %v with %d cancelled and %d fired",
					timers, cancelled, fired, wantTimers, tt.wantCancelled, wantFired)
			}
			if o := r.Outcomes[0]; o.Expired != tt.wantExpired || o.Approved == tt.wantExpired || o.Waited != tt.wantWaited {
				t.Errorf("outcome = %+v, want expired %v after %s", o, tt.wantExpired, tt.wantWaited)
			}
		})
	}
}

func TestSlowRemindSkipsOverdueReminders(t *testing.T) {
	env := newEnv(t)
	req := restoreGate()
	req.RemindEvery = []time.Duration{10 * time.Minute}
	req.RemindRepeat = 3 // due at 10m, 20m, 30m, 40m
	update(t, env, 45*time.Minute, "", approval.Decision{Approve: true, Identity: "alice"})
	env.ExecuteWorkflow(gatesWorkflow, gatesInput{Gates: []testGate{{Request: req}}, RemindTakes: 25 * time.Minute})
	r := result(t, env)
	want := []reminded{
		{Gate: "restore-in-place", Level: 1, At: 10 * time.Minute},
		{Gate: "restore-in-place", Level: 4, At: 40 * time.Minute},
	}
	if !slices.Equal(r.Reminders, want) {
		t.Fatalf("reminders = %+v, want %+v: the ones due while Remind ran skipped", r.Reminders, want)
	}
}

func TestTwoGatesOpen(t *testing.T) {
	env := newEnv(t)
	unnamed := update(t, env, time.Minute, "", approval.Decision{Approve: true, Identity: "alice"})
	a := update(t, env, 2*time.Minute, "", approval.Decision{Gate: "snapshot", Approve: true, Identity: "alice"})
	closed := update(t, env, 3*time.Minute, "", approval.Decision{Gate: "snapshot", Approve: true, Identity: "bob"})
	// With one gate left open, a signal without a gate name is for it.
	signal(env, 4*time.Minute, approval.Decision{Approve: true, Identity: "bob"})
	r := run(t, env,
		testGate{Request: approval.Request{Gate: "snapshot", Title: "take a snapshot", Requester: "ops"}},
		testGate{Request: approval.Request{Gate: "restore-in-place", Title: "restore", Requester: "ops"}},
	)
	unnamed.refused(t, "gate: required: 2 gates are open (snapshot, restore-in-place), name one")
	a.accepted(t)
	closed.refused(t, `gate "snapshot" is closed: approved`)
	snap, restore := r.Outcomes[0], r.Outcomes[1]
	if !snap.Approved || snap.Waited != 2*time.Minute || !slices.Equal(identities(snap.Decisions), []string{"alice"}) {
		t.Errorf("snapshot gate = %+v", snap)
	}
	if !restore.Approved || restore.Waited != 4*time.Minute || !slices.Equal(identities(restore.Decisions), []string{"bob"}) || restore.Decisions[0].Gate != "restore-in-place" {
		t.Errorf("restore gate = %+v", restore)
	}
}

func TestQueryShowsGatesDecisionsAndRefusals(t *testing.T) {
	env := newEnv(t)
	req := restoreGate()
	req.Quorum = 2
	req.Approvers = []string{"alice", "bob", "carol", "scheduler"}
	req.Timeout = 24 * time.Hour
	signal(env, time.Minute, approval.Decision{Approve: true, Identity: "scheduler"})
	update(t, env, 2*time.Minute, "", approval.Decision{Approve: true, Identity: "alice", Channel: approval.ChannelCLI})
	signal(env, 3*time.Minute, map[string]any{"gate": "restore-in-place", "aprove": true, "identity": "bob"})
	signal(env, 3*time.Minute+time.Second, "yes")
	// For a gate that opens at 10m: held until then.
	signal(env, 4*time.Minute, approval.Decision{Gate: "resume-writes", Approve: true, Identity: "carol"})
	mid := queryAt(t, env, 5*time.Minute)
	update(t, env, 6*time.Minute, "", approval.Decision{Gate: "restore-in-place", Approve: true, Identity: "bob"})
	r := run(t, env,
		testGate{Request: req},
		testGate{Request: approval.Request{Gate: "resume-writes", Title: "resume writes", Requester: "scheduler"}, OpenAfter: 10 * time.Minute},
	)

	if len(mid.Pending) != 1 {
		t.Fatalf("pending = %+v, want the restore gate", mid.Pending)
	}
	p := mid.Pending[0]
	if p.Gate != "restore-in-place" || p.Quorum != 2 || !slices.Equal(p.ApprovedBy, []string{"alice"}) || p.OnExpiry != approval.ExpireAbort ||
		!p.OpenedAt.Equal(r.Started) || !p.ExpiresAt.Equal(r.Started.Add(24*time.Hour)) {
		t.Errorf("pending gate = %+v", p)
	}
	if len(mid.Decisions) != 1 || mid.Decisions[0].Identity != "alice" || mid.Decisions[0].Channel != approval.ChannelCLI {
		t.Errorf("decisions = %+v, want alice's", mid.Decisions)
	}
	wantRefused := []string{
		`"scheduler" requested it and cannot approve its own request`,
		`malformed decision: unknown field "aprove"`,
		"malformed decision: a JSON object is needed, not a string",
	}
	if len(mid.Refused) != len(wantRefused) {
		t.Fatalf("refused = %+v, want %d", mid.Refused, len(wantRefused))
	}
	for i, want := range wantRefused {
		if !strings.Contains(mid.Refused[i].Error, want) {
			t.Errorf("refused[%d] = %q, want it to mention %q", i, mid.Refused[i].Error, want)
		}
	}
	if mid.Refused[0].Identity != "scheduler" || mid.Refused[1].Identity != "bob" || !mid.Refused[1].Time.Equal(r.Started.Add(3*time.Minute)) {
		t.Errorf("refusals do not say who and when: %+v", mid.Refused)
	}
	if len(mid.Held) != 1 || mid.Held[0].Identity != "carol" || mid.Held[0].Gate != "resume-writes" {
		t.Errorf("held = %+v, want carol's decision for resume-writes", mid.Held)
	}

	restore, resume := r.Outcomes[0], r.Outcomes[1]
	if !restore.Approved || !slices.Equal(identities(restore.Decisions), []string{"alice", "bob"}) {
		t.Errorf("restore gate = %+v", restore)
	}
	if !resume.Approved || resume.Waited != 0 || !slices.Equal(identities(resume.Decisions), []string{"carol"}) ||
		!resume.Decisions[0].Time.Equal(r.Started.Add(4*time.Minute)) {
		t.Errorf("resume gate = %+v, want approved on opening by carol's held decision", resume)
	}

	v, err := env.QueryWorkflow(approval.QueryApprovals)
	if err != nil {
		t.Fatal(err)
	}
	var end approval.State
	if err := v.Get(&end); err != nil {
		t.Fatal(err)
	}
	if len(end.Pending) != 0 || len(end.Closed) != 2 || len(end.Decisions) != 3 || len(end.Held) != 0 || len(end.Refused) != 3 {
		t.Errorf("final state = %+v", end)
	}
}

func TestHeldDecisionStillFollowsTheRules(t *testing.T) {
	env := newEnv(t)
	signal(env, time.Minute, approval.Decision{Gate: "restore-in-place", Approve: true, Identity: "scheduler"})
	u := update(t, env, time.Hour, "", approval.Decision{Approve: true, Identity: "alice"})
	st := queryAt(t, env, 30*time.Minute)
	r := run(t, env, testGate{Request: restoreGate(), OpenAfter: 10 * time.Minute})
	u.accepted(t)
	if len(st.Held) != 0 || len(st.Refused) != 1 || !strings.Contains(st.Refused[0].Error, "cannot approve its own request") {
		t.Errorf("state after opening = %+v, want the held self-approval refused", st)
	}
	if o := r.Outcomes[0]; !o.Approved || !slices.Equal(identities(o.Decisions), []string{"alice"}) {
		t.Errorf("outcome = %+v", o)
	}
}

func TestSignalWithoutOpenGateIsRefused(t *testing.T) {
	env := newEnv(t)
	signal(env, time.Minute, approval.Decision{Approve: true, Identity: "alice"})
	st := queryAt(t, env, 2*time.Minute)
	update(t, env, time.Hour, "", approval.Decision{Approve: true, Identity: "alice"})
	run(t, env, testGate{Request: restoreGate(), OpenAfter: 10 * time.Minute})
	if len(st.Refused) != 1 || st.Refused[0].Error != "gate: no gate is open" || len(st.Held) != 0 {
		t.Fatalf("state = %+v, want the unnamed decision refused, not held", st)
	}
}

func TestCancelWhileWaiting(t *testing.T) {
	env := newEnv(t)
	req := restoreGate()
	req.Timeout = 24 * time.Hour
	env.RegisterDelayedCallback(env.CancelWorkflow, 30*time.Minute)
	env.ExecuteWorkflow(gatesWorkflow, gatesInput{Gates: []testGate{{Request: req}}})
	if !env.IsWorkflowCompleted() {
		t.Fatal("workflow did not complete")
	}
	err := env.GetWorkflowError()
	var canceled *temporal.CanceledError
	if !errors.As(err, &canceled) {
		t.Fatalf("error = %v, want a canceled error", err)
	}
	v, qerr := env.QueryWorkflow(approval.QueryApprovals)
	if qerr != nil {
		t.Fatal(qerr)
	}
	var st approval.State
	if err := v.Get(&st); err != nil {
		t.Fatal(err)
	}
	if len(st.Pending) != 0 || len(st.Closed) != 1 || !st.Closed[0].Canceled || st.Closed[0].Waited != 30*time.Minute {
		t.Fatalf("state = %+v, want the gate closed as canceled after 30m", st)
	}
}

func TestInvalidRequest(t *testing.T) {
	env := newEnv(t)
	env.ExecuteWorkflow(gatesWorkflow, gatesInput{Gates: []testGate{{Request: approval.Request{
		Approvers:    []string{"alice", "alice", "ops"},
		Requester:    "ops",
		Quorum:       2,
		OnExpiry:     "later",
		RemindEvery:  []time.Duration{0},
		RemindRepeat: 200,
	}}}})
	var appErr *temporal.ApplicationError
	if err := env.GetWorkflowError(); !errors.As(err, &appErr) || appErr.Type() != approval.ErrTypeInvalidRequest || !appErr.NonRetryable() {
		t.Fatalf("error = %v, want a non-retryable %s", err, approval.ErrTypeInvalidRequest)
	}
	for _, want := range []string{
		"gate: required",
		`approvers[1]: "alice" is also approvers[0]`,
		"quorum: 2 approvals needed but only 1 approvers other than the requester",
		`on_expiry: "later" is not abort, proceed or escalate`,
		"remind_every[0]: 0s is not positive",
		"remind_every, remind_repeat: 201 reminders, at most 100",
	} {
		if !strings.Contains(appErr.Error(), want) {
			t.Errorf("error %q does not mention %q", appErr.Error(), want)
		}
	}
}

func TestGateNameUsedTwice(t *testing.T) {
	env := newEnv(t)
	update(t, env, time.Minute, "", approval.Decision{Approve: true, Identity: "alice"})
	env.ExecuteWorkflow(gatesWorkflow, gatesInput{Gates: []testGate{
		{Request: restoreGate()},
		{Request: restoreGate(), OpenAfter: time.Hour},
	}})
	var appErr *temporal.ApplicationError
	if err := env.GetWorkflowError(); !errors.As(err, &appErr) || appErr.Type() != approval.ErrTypeInvalidRequest ||
		!strings.Contains(appErr.Error(), `"restore-in-place" was already opened in this workflow run`) {
		t.Fatalf("error = %v, want the second opening refused", err)
	}
}

func TestRequestValidate(t *testing.T) {
	ok := approval.Request{Gate: "g", Requester: "ops", Approvers: []string{"alice", "ops"}, Quorum: 1, Timeout: time.Hour, OnExpiry: approval.ExpireProceed}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid request: %v", err)
	}
	tests := []struct {
		name string
		req  approval.Request
		want string
	}{
		{"no requester", approval.Request{Gate: "g"}, "requester: required"},
		{"policy without timeout", approval.Request{Gate: "g", Requester: "ops", OnExpiry: approval.ExpireProceed}, "on_expiry: proceed is set but the gate has no timeout"},
		{"escalate without remind", approval.Request{Gate: "g", Requester: "ops", Timeout: time.Hour, OnExpiry: approval.ExpireEscalate}, "escalate needs Remind"},
		{"negative timeout", approval.Request{Gate: "g", Requester: "ops", Timeout: -time.Second}, "timeout: -1s is negative"},
		{"repeat without intervals", approval.Request{Gate: "g", Requester: "ops", RemindRepeat: 3}, "remind_repeat: 3 but remind_every is empty"},
		{"reminders without Remind", approval.Request{Gate: "g", Requester: "ops", RemindEvery: []time.Duration{time.Hour}}, "remind_every: set but Remind is nil"},
		{"requester is the only approver", approval.Request{Gate: "g", Requester: "ops", Approvers: []string{"ops"}}, "quorum: 1 approvals needed but only 0 approvers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.req.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
}

// A gate with options is a decision: approving picks one, every approval of a quorum picks the same,
// and the outcome carries the choice.
func TestDecisionGates(t *testing.T) {
	decision := func() approval.Request {
		return approval.Request{Gate: "repair-or-restore", Title: "repair in place or restore?", Requester: "plan",
			Options: []string{"repair", "restore"}, Quorum: 2}
	}
	env := newEnv(t)
	noChoice := update(t, env, time.Minute, "a", approval.Decision{Approve: true, Identity: "alice"})
	wrong := update(t, env, 2*time.Minute, "b", approval.Decision{Approve: true, Identity: "alice", Choice: "reboot"})
	first := update(t, env, 3*time.Minute, "c", approval.Decision{Approve: true, Identity: "alice", Choice: "restore"})
	other := update(t, env, 4*time.Minute, "d", approval.Decision{Approve: true, Identity: "bob", Choice: "repair"})
	second := update(t, env, 5*time.Minute, "e", approval.Decision{Approve: true, Identity: "bob", Choice: "restore"})
	r := run(t, env, testGate{Request: decision()})
	noChoice.refused(t, "choice: pick one of repair, restore")
	wrong.refused(t, "choice: pick one of repair, restore")
	other.refused(t, `"restore" was chosen already`)
	first.accepted(t)
	if st := second.accepted(t); !st.Approved {
		t.Fatalf("second approval: %+v", st)
	}
	if o := r.Outcomes[0]; !o.Approved || o.Choice != "restore" || o.Waited != 5*time.Minute {
		t.Fatalf("outcome %+v, want restore chosen after 5m", o)
	}

	// Expiring under proceed picks the default; a choice on a gate without options is refused.
	env = newEnv(t)
	req := decision()
	req.Quorum, req.Timeout, req.OnExpiry, req.DefaultChoice = 1, time.Hour, approval.ExpireProceed, "repair"
	plain := update(t, env, time.Minute, "p", approval.Decision{Approve: true, Identity: "alice", Gate: "restore-in-place", Choice: "repair"})
	update(t, env, 2*time.Minute, "q", approval.Decision{Approve: true, Identity: "alice", Gate: "restore-in-place"})
	r = run(t, env, testGate{Request: req}, testGate{Request: restoreGate(), OpenAfter: 30 * time.Second})
	plain.refused(t, "offers no options")
	if o := r.Outcomes[0]; !o.Approved || !o.Expired || o.Choice != "repair" {
		t.Fatalf("expired decision %+v, want the default", o)
	}
	for _, bad := range []approval.Request{
		{Gate: "g", Requester: "p", Options: []string{"only"}},
		{Gate: "g", Requester: "p", Options: []string{"a", "a"}},
		{Gate: "g", Requester: "p", Options: []string{"a", "b"}, DefaultChoice: "c"},
		{Gate: "g", Requester: "p", Options: []string{"a", "b"}, Timeout: time.Minute, OnExpiry: approval.ExpireProceed},
	} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v: valid", bad)
		}
	}
}

// A client reads the kind and reason of a refusal from the error's details, falls back to its
// message for a refusal without them, and tells any other error from a refusal.
func TestRefusalOf(t *testing.T) {
	withDetails := temporal.NewApplicationErrorWithOptions("approval refused: gate \"go\" is not open", approval.ErrTypeDecisionRefused,
		temporal.ApplicationErrorOptions{Details: []any{approval.RefusalDetails{Kind: approval.RefusedNotOpen, Reason: "gate \"go\" is not open"}}})
	bare := temporal.NewApplicationError("approval refused: bob decided already", approval.ErrTypeDecisionRefused)
	for _, tc := range []struct {
		name string
		err  error
		want approval.RefusalDetails
		ok   bool
	}{
		{"with details", withDetails, approval.RefusalDetails{Kind: approval.RefusedNotOpen, Reason: "gate \"go\" is not open"}, true},
		{"without details", bare, approval.RefusalDetails{Kind: approval.RefusedOther, Reason: "bob decided already"}, true},
		{"another application error", temporal.NewApplicationError("boom", "Other"), approval.RefusalDetails{}, false},
		{"not an application error", errors.New("connection refused"), approval.RefusalDetails{}, false},
	} {
		got, ok := approval.RefusalOf(tc.err)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: %+v %v, want %+v %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}
