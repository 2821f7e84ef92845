package workflows

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/lifeboat-dr/lifeboat/activities"
	"github.com/lifeboat-dr/lifeboat/activities/contract"
	"github.com/lifeboat-dr/lifeboat/activities/plan"
	"github.com/lifeboat-dr/lifeboat/integrations/identity"
	"github.com/lifeboat-dr/lifeboat/integrations/notify"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
	"github.com/lifeboat-dr/lifeboat/workflows/approval"
)

// rehearsalPlan has actions of every kind of dispatch (local activity, activity, child workflow,
// the notify action), an approval with an escalation policy, a decision and a manual step, and a
// compensation.
const rehearsalPlan = `
apiVersion: lifeboat.dev/v1
kind: RecoveryPlan
metadata: {name: db-failover}
spec:
  scenario: The primary database is lost
  objectives: {rto: 1h}
  people:
    - {id: alice, name: Alice, channels: {email: alice@example.com}}
    - {id: bob, name: Bob, channels: {email: bob@example.com}}
    - {id: carol, name: Carol, channels: {email: carol@example.com}}
    - {id: erin, name: Erin, channels: {email: erin@example.com}}
  groups: [{id: dba, members: [alice, bob, carol]}]
  roles: {approvers: [dba], incident_commander: [erin]}
  escalation:
    levels:
      - {after: 5m, notify: [dba]}
      - {after: 15m, notify: [incident_commander]}
  steps:
    - id: check-replica
      action: postgres.replication_status
      with: {dsn_secret: orders-replica}
    - id: approve
      needs: [check-replica]
      approval: {approvers: [approvers], quorum: 2, timeout: 1h}
    - id: how
      needs: [approve]
      decision: {question: "Promote or restore?", options: [promote, restore], deciders: [dba], timeout: 1h}
    - id: promote
      needs: [how]
      when: 'steps.how.choice == "promote"'
      action: postgres.promote
      with: {dsn_secret: orders-replica}
    - id: restore
      needs: [how]
      when: 'steps.how.choice == "restore"'
      action: restore.asset
      with: {asset: orders-db, in_place: true}
    - id: dns
      needs: [promote]
      action: aws.route53_upsert
      with: {zone_id: Z1, record: db.example.com, value: replica.example.com}
      compensate: {action: aws.route53_upsert, with: {zone_id: Z1, record: db.example.com, value: primary.example.com}}
    - id: tell
      needs: [dns]
      action: notify
      with: {message: orders moved to the replica, route: statuspage}
    - id: confirm
      needs: [tell]
      manual: {instructions: Check that orders come in, assignees: [dba], timeout: 1h}
`

// newRehearsalEnv runs plan src in a test environment where every action, restore and restore
// drill fails the test if it is dispatched; the worker's identity directory is dir (nil: none).
func newRehearsalEnv(t *testing.T, src string, dir *identity.Directory) *assetEnv {
	t.Helper()
	p, err := plan.Parse([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if err := plan.ValidateWith(p, plan.DefaultActions()); err != nil {
		t.Fatal(err)
	}
	e := newAssetEnv(t, nil)
	e.RegisterActivity(&activities.Actions{})
	e.RegisterActivity(&activities.Plans{})
	e.RegisterActivity(&activities.Identities{Directory: dir})
	e.onLoadRun(p, "abc", dir)
	e.OnActivity("RunAction", mock.Anything, mock.Anything).Return(func(_ context.Context, in contract.ActionInput) (contract.ActionResult, error) {
		t.Errorf("a rehearsal dispatched action %s of step %s", in.Action, in.Step)
		return contract.ActionResult{}, temporal.NewNonRetryableApplicationError("dispatched in a rehearsal", contract.ErrTypeActionRefused, nil)
	})
	for _, child := range []string{RestoreWorkflow, VerifyWorkflow} {
		e.OnWorkflow(child, mock.Anything, mock.Anything).Return(func(workflowContext any, in any) (any, error) {
			t.Errorf("a rehearsal started a %s workflow: %+v", child, in)
			return nil, temporal.NewNonRetryableApplicationError("started in a rehearsal", "Refused", nil)
		})
	}
	return e
}

func decideBySignal(e *assetEnv, at time.Duration, d approval.Decision) {
	e.RegisterDelayedCallback(func() { e.SignalWorkflow(approval.SignalDecide, d) }, at)
}

func TestRehearsalSimulatesActionsAndWaitsForRealDecisions(t *testing.T) {
	e := newRehearsalEnv(t, rehearsalPlan, nil)
	var during RecoveryResult
	e.RegisterDelayedCallback(func() {
		if v, err := e.QueryWorkflow(QueryStatus); err == nil {
			_ = v.Get(&during)
		}
	}, 20*time.Minute)
	// The approval waits 25 minutes (past both escalation levels) for bob and carol.
	var bob, carol, choose error
	approveAt(e, 21*time.Minute, "approve", "bob", &bob)
	approveAt(e, 25*time.Minute, "approve", "carol", &carol)
	e.RegisterDelayedCallback(func() {
		decide(e, "how-carol", approval.Decision{Gate: "how", Approve: true, Choice: "promote", Identity: "carol", Channel: approval.ChannelCLI}, &choose)
	}, 27*time.Minute)
	// The manual step is confirmed by signal, as tools that only signal do.
	decideBySignal(e, 33*time.Minute, approval.Decision{Gate: "confirm", Approve: true, Identity: "bob", Channel: approval.ChannelCLI})
	e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "db-failover", Mode: ModeRehearsal, Requester: "alice", Reason: "quarterly tabletop"})
	if err := e.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if bob != nil || carol != nil || choose != nil {
		t.Fatalf("decisions: bob %v, carol %v, choice %v", bob, carol, choose)
	}
	r := recoveryResult(t, e)
	if r.Mode != ModeRehearsal || r.Status != plan.StatusSucceeded {
		t.Fatalf("mode %s, status %s", r.Mode, r.Status)
	}

	// The gate waited for real decisions: 20 minutes in, it was still open.
	if st := statuses(during); st["approve"] != StepRunning || st["check-replica"] != plan.StatusSucceeded || st["promote"] != StepPending {
		t.Fatalf("statuses 20 minutes in: %v", st)
	}
	st := statuses(r)
	want := map[string]string{"check-replica": "succeeded", "approve": "succeeded", "how": "succeeded", "promote": "succeeded",
		"restore": "skipped", "dns": "succeeded", "tell": "succeeded", "confirm": "succeeded"}
	for id, s := range want {
		if st[id] != s {
			t.Errorf("step %s: %s, want %s", id, st[id], s)
		}
	}
	// Actions were recorded with their parameters and targets, secrets by name.
	step := func(id string) StepState { return stepOf(r, id) }
	promote := step("promote")
	if promote.Simulated == nil || promote.Simulated.Action != "postgres.promote" ||
		promote.Simulated.String() != "would run postgres.promote with dsn_secret=secret orders-replica, wait=60s; would reach dsn_secret secret orders-replica" {
		t.Fatalf("promote: %+v %s", promote.Simulated, promote.Summary)
	}
	if !strings.HasPrefix(promote.Summary, "rehearsed: would run postgres.promote") {
		t.Errorf("promote summary %q", promote.Summary)
	}
	dns := step("dns")
	if dns.Simulated == nil || !strings.Contains(dns.Simulated.String(), "record=db.example.com") || len(dns.Simulated.Targets) == 0 {
		t.Errorf("dns: %+v", dns.Simulated)
	}
	for _, p := range promote.Simulated.Params {
		if p.Name == "wait" && !p.Default {
			t.Errorf("wait is the action's default, not marked so: %+v", p)
		}
	}
	// The plan succeeded: nothing is undone, as in a recovery.
	if dns.SimulatedUndo != nil || dns.Compensation != "" {
		t.Errorf("dns undone after a successful rehearsal: %+v", dns)
	}

	// Every notification is marked; the escalation reached both levels; the notify action was
	// simulated, not sent.
	var escalations []notify.Message
	for _, m := range e.alerts {
		if !strings.HasPrefix(m.Title, RehearsalMark+" ") || m.Fields["mode"] != ModeRehearsal {
			t.Errorf("unmarked notification %s: %q", m.Event, m.Title)
		}
		if m.Event == "approval.escalated" && strings.Contains(m.Title, "step approve") {
			escalations = append(escalations, m)
		}
		if strings.Contains(m.Title, "orders moved to the replica") {
			t.Errorf("the notify action was sent: %+v", m)
		}
	}
	if len(escalations) < 2 || escalations[0].Fields["to"] != "alice, bob, carol" || escalations[1].Fields["to"] != "erin" {
		t.Fatalf("escalations of the approval: %+v; all: %v", escalations, e.events())
	}

	// Latencies: from each gate's opening to each answer, per person.
	l := r.DecisionLatencies()
	var got []string
	for _, a := range l.Answers {
		got = append(got, a.Step+" "+a.Identity+" "+a.Answer+" "+a.Latency.Human())
	}
	if strings.Join(got, "; ") != "approve bob approve 21m; approve carol approve 25m; how carol choose promote 2m; confirm bob approve 6m" {
		t.Fatalf("answers: %s", strings.Join(got, "; "))
	}
	wantPeople := []PersonLatency{
		{Identity: "bob", Answers: 2, Median: units.Duration(27 * time.Minute / 2), Max: units.Duration(21 * time.Minute)},
		{Identity: "carol", Answers: 2, Median: units.Duration(27 * time.Minute / 2), Max: units.Duration(25 * time.Minute)},
	}
	if len(l.People) != 2 || l.People[0] != wantPeople[0] || l.People[1] != wantPeople[1] {
		t.Fatalf("per person: %+v, want %+v", l.People, wantPeople)
	}
}

// stepOf is the record of step id.
func stepOf(r RecoveryResult, id string) StepState {
	i := slices.IndexFunc(r.Steps, func(s StepState) bool { return s.ID == id })
	if i < 0 {
		return StepState{}
	}
	return r.Steps[i]
}

func TestRehearsalSimulatesCompensationWhenItFails(t *testing.T) {
	e := newRehearsalEnv(t, rehearsalPlan, nil)
	var a, b, c, rejected error
	approveAt(e, time.Minute, "approve", "bob", &a)
	approveAt(e, time.Minute, "approve", "carol", &b)
	e.RegisterDelayedCallback(func() {
		decide(e, "how", approval.Decision{Gate: "how", Approve: true, Choice: "promote", Identity: "bob", Channel: approval.ChannelCLI}, &c)
	}, 2*time.Minute)
	e.RegisterDelayedCallback(func() {
		decide(e, "confirm", approval.Decision{Gate: "confirm", Identity: "carol", Reason: "no orders come in"}, &rejected)
	}, 4*time.Minute)
	e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "db-failover", Mode: ModeRehearsal, Requester: "alice"})
	err := e.GetWorkflowError()
	if err == nil || !strings.Contains(err.Error(), "rejected by carol: no orders come in") {
		t.Fatalf("error %v", err)
	}
	r := recoveryResult(t, e)
	dns := stepOf(r, "dns")
	if dns.Status != StepCompensated || dns.SimulatedUndo == nil || dns.SimulatedUndo.Action != "aws.route53_upsert" ||
		!strings.HasPrefix(dns.Compensation, "rehearsed: would run aws.route53_upsert") || !strings.Contains(dns.Compensation, "value=primary.example.com") {
		t.Fatalf("dns: %+v", dns)
	}
	if r.Status != plan.StatusFailed {
		t.Fatalf("status %s", r.Status)
	}
}

func TestRehearsalOfARestoreStartsNoChildWorkflow(t *testing.T) {
	e := newRehearsalEnv(t, rehearsalPlan, nil)
	var a, b, c error
	approveAt(e, time.Minute, "approve", "bob", &a)
	approveAt(e, time.Minute, "approve", "carol", &b)
	e.RegisterDelayedCallback(func() {
		decide(e, "how", approval.Decision{Gate: "how", Approve: true, Choice: "restore", Identity: "bob", Channel: approval.ChannelCLI}, &c)
	}, 2*time.Minute)
	e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "db-failover", Mode: ModeRehearsal, Requester: "alice"})
	if err := e.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	r := recoveryResult(t, e)
	restore := stepOf(r, "restore")
	if restore.Status != plan.StatusSucceeded || restore.Simulated == nil ||
		!strings.Contains(restore.Simulated.String(), "asset=orders-db") || !strings.Contains(restore.Simulated.String(), "in_place=true") {
		t.Fatalf("restore: %+v", restore)
	}
}

// executedPlan may be started by its executor, alice, only.
const executedPlan = `
apiVersion: lifeboat.dev/v1
kind: RecoveryPlan
metadata: {name: executed}
spec:
  scenario: Only executors start it
  people:
    - {id: alice, name: Alice, channels: {email: alice@example.com}}
    - {id: bob, name: Bob, channels: {email: bob@example.com}}
  roles: {executors: [alice]}
  steps:
    - id: promote
      action: postgres.promote
      with: {dsn_secret: orders-replica}
`

// A rehearsal is started by whoever may start a drill, and its start is verified the same way: a
// signed assertion for this workflow and plan, from an executor or the incident commander.
func TestRehearsalStartsAreVerifiedAsDrillStarts(t *testing.T) {
	dir, keys := verifiedDirectory(t)
	wf := RecoveryWorkflowID(ModeRehearsal, "executed")
	if wf != "rehearsal-executed" || RecoveryKind(ModeRehearsal) != "rehearsal" {
		t.Fatalf("workflow ID %s, kind %s", wf, RecoveryKind(ModeRehearsal))
	}
	start := func(in RecoveryInput) (RecoveryResult, error) {
		e := newRehearsalEnv(t, executedPlan, dir)
		e.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: wf})
		in.Plan, in.Mode = "executed", ModeRehearsal
		e.ExecuteWorkflow(RecoveryWorkflow, in)
		return recoveryResult(t, e), e.GetWorkflowError()
	}
	now := time.Now()
	signed := func(who, workflowID string) string {
		return sign(t, keys[who], identity.Assertion{Person: who, Act: identity.ActStart, Workflow: workflowID, Subject: "executed"}, now, 5*time.Minute)
	}
	for name, c := range map[string]struct {
		in   RecoveryInput
		want string
	}{
		"a typed name":                      {RecoveryInput{Requester: "alice"}, "this deployment verifies identities"},
		"someone who may not start it":      {RecoveryInput{Assertion: signed("bob", wf)}, "bob may not start plan executed"},
		"an assertion for the plan's drill": {RecoveryInput{Assertion: signed("alice", RecoveryWorkflowID(ModeDrill, "executed"))}, `it is for workflow "drill-executed"`},
	} {
		if _, err := start(c.in); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want a refusal saying %q", name, err, c.want)
		}
	}
	r, err := start(RecoveryInput{Assertion: signed("alice", wf)})
	if err != nil || r.Requester != "alice" || r.Identity == nil || !r.Identity.StartVerified || stepOf(r, "promote").Simulated == nil {
		t.Fatalf("alice's rehearsal: %v; requester %q, identity %+v, promote %+v", err, r.Requester, r.Identity, stepOf(r, "promote"))
	}
}
