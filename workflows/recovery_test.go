package workflows

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/activities/contract"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/lifeboat-dr/lifeboat/activities"
	"github.com/lifeboat-dr/lifeboat/activities/catalog"
	"github.com/lifeboat-dr/lifeboat/activities/plan"
	"github.com/lifeboat-dr/lifeboat/integrations/identity"
	"github.com/lifeboat-dr/lifeboat/integrations/notify"
	"github.com/lifeboat-dr/lifeboat/workflows/approval"
)

const failoverPlan = `
apiVersion: lifeboat.dev/v1
kind: RecoveryPlan
metadata: {name: db-failover}
spec:
  scenario: The primary database is lost
  objectives: {rto: 45m}
  people:
    - {id: alice, name: Alice, channels: {email: alice@example.com}}
    - {id: bob, name: Bob, channels: {email: bob@example.com}}
    - {id: carol, name: Carol, channels: {email: carol@example.com}}
  groups: [{id: dba, members: [alice, bob, carol]}]
  roles: {approvers: [dba]}
  steps:
    - id: check-primary
      action: postgres.replication_status
      with: {dsn_secret: primary}
      impact: optional
    - id: check-replica
      action: postgres.replication_status
      with: {dsn_secret: replica}
    - id: approve
      needs: [check-primary, check-replica]
      approval: {approvers: [approvers], quorum: 2, timeout: 30m}
    - id: fence
      needs: [approve]
      when: 'steps.check-primary.outputs.role == "primary"'
      action: postgres.fence
      with: {dsn_secret: primary}
      compensate: {action: postgres.unfence, with: {dsn_secret: primary}}
    - id: promote
      needs: [approve]
      action: postgres.promote
      with: {dsn_secret: replica}
    - id: dns
      needs: [promote]
      action: aws.route53_upsert
      with: {zone_id: Z1, record: db.example.com, value: replica.example.com}
      compensate: {action: aws.route53_upsert, with: {zone_id: Z1, record: db.example.com, value: primary.example.com}}
    - id: probe
      needs: [dns]
      action: postgres.write_probe
      with: {dsn_secret: replica}
`

// actionLog records the actions a test plan ran, in order, with a scripted result for each step.
type actionLog struct {
	mu      sync.Mutex
	ran     []string
	params  []map[string]any // each action's parameters, in the order of ran
	results map[string]contract.ActionResult
	errs    map[string]error
	// attempts are the activity infos of each step's attempts: local or not, and their timeout.
	attempts map[string][]activity.Info
}

func (l *actionLog) run(ctx context.Context, in contract.ActionInput) (contract.ActionResult, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ran = append(l.ran, in.Step)
	l.params = append(l.params, in.Params)
	if l.attempts == nil {
		l.attempts = map[string][]activity.Info{}
	}
	l.attempts[in.Step] = append(l.attempts[in.Step], activity.GetInfo(ctx))
	if err := l.errs[in.Step]; err != nil {
		return contract.ActionResult{}, err
	}
	res := l.results[in.Step]
	if res.Summary == "" {
		res.Summary = in.Action + " done"
	}
	return res, nil
}

// newRecoveryEnv runs plan src with scripted actions; slow steps take the given (test clock) time.
func newRecoveryEnv(t *testing.T, src string, slow ...map[string]time.Duration) (*assetEnv, *actionLog) {
	t.Helper()
	return newRecoveryEnvWith(t, src, nil, slow...)
}

// newRecoveryEnvWith is newRecoveryEnv on a worker whose identity directory is dir (nil: none).
func newRecoveryEnvWith(t *testing.T, src string, dir *identity.Directory, slow ...map[string]time.Duration) (*assetEnv, *actionLog) {
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
	log := &actionLog{results: map[string]contract.ActionResult{}, errs: map[string]error{}}
	for _, m := range slow {
		for step, d := range m {
			e.OnActivity("RunAction", mock.Anything, mock.MatchedBy(func(in contract.ActionInput) bool { return in.Step == step })).After(d).Return(log.run)
		}
	}
	e.OnActivity("RunAction", mock.Anything, mock.Anything).Return(log.run)
	return e, log
}

// onLoadRun answers LoadRun for plan p with p and the identity directory dir (nil: none), as a
// worker with an audit ledger unless e.noLedger is set.
func (e *assetEnv) onLoadRun(p *plan.Plan, sum string, dir *identity.Directory) {
	e.OnActivity(contract.LoadRun, mock.Anything, mock.MatchedBy(func(in contract.LoadRunInput) bool { return in.Plan == p.Metadata.Name })).Return(
		func(ctx context.Context, in contract.LoadRunInput) (contract.LoadRunResult, error) {
			id, err := (&activities.Identities{Directory: dir}).LoadIdentity(ctx, contract.LoadIdentityInput{})
			return contract.LoadRunResult{Identity: id, Plan: contract.LoadPlanResult{Plan: *p, SHA256: sum}, Ledger: !e.noLedger}, err
		})
}

func approveAt(e *assetEnv, at time.Duration, gate, who string, result *error) {
	e.RegisterDelayedCallback(func() {
		decide(e, gate+"-"+who, approval.Decision{Gate: gate, Approve: true, Identity: who, Channel: approval.ChannelCLI}, result)
	}, at)
}

func recoveryResult(t *testing.T, e *assetEnv) RecoveryResult {
	t.Helper()
	var r RecoveryResult
	err := e.GetWorkflowError()
	var appErr *temporal.ApplicationError
	var canceled *temporal.CanceledError
	switch {
	case err == nil:
		_ = e.GetWorkflowResult(&r)
	case errors.As(err, &appErr):
		_ = appErr.Details(&r)
	case errors.As(err, &canceled):
		_ = canceled.Details(&r)
	}
	return r
}

func statuses(r RecoveryResult) map[string]string {
	out := map[string]string{}
	for _, s := range r.Steps {
		out[s.ID] = s.Status
	}
	return out
}

func TestRecoveryRunsThePlanInOrderWithApprovalsAndConditions(t *testing.T) {
	e, log := newRecoveryEnv(t, failoverPlan)
	log.results["check-primary"] = contract.ActionResult{Outputs: map[string]any{"role": "unreachable"}}
	log.results["check-replica"] = contract.ActionResult{Outputs: map[string]any{"role": "replica", "lag_seconds": 0.0}}
	var self, first, second error
	approveAt(e, time.Minute, "approve", "alice", &self) // alice started it: refused
	approveAt(e, 2*time.Minute, "approve", "bob", &first)
	approveAt(e, 3*time.Minute, "approve", "carol", &second)
	var during RecoveryResult
	e.RegisterDelayedCallback(func() {
		if v, err := e.QueryWorkflow(QueryStatus); err == nil {
			_ = v.Get(&during)
		}
	}, 90*time.Second)
	e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "db-failover", Requester: "alice", Reason: "primary unreachable"})
	if err := e.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	r := recoveryResult(t, e)
	if self == nil || !strings.Contains(self.Error(), "cannot approve its own request") || first != nil || second != nil {
		t.Fatalf("approvals: alice %v, bob %v, carol %v", self, first, second)
	}
	if during.Status != StepRunning || statuses(during)["approve"] != StepRunning || statuses(during)["check-replica"] != plan.StatusSucceeded {
		t.Fatalf("status while waiting for approval: %+v", statuses(during))
	}
	want := map[string]string{"check-primary": "succeeded", "check-replica": "succeeded", "approve": "succeeded",
		"fence": "skipped", "promote": "succeeded", "dns": "succeeded", "probe": "succeeded"}
	for id, st := range want {
		if statuses(r)[id] != st {
			t.Errorf("step %s: %s, want %s", id, statuses(r)[id], st)
		}
	}
	if strings.Join(log.ran[2:], ",") != "promote,dns,probe" {
		t.Errorf("actions after the checks: %v", log.ran)
	}
	if r.Status != plan.StatusSucceeded || r.RTO.D() != 3*time.Minute || r.RTOMet == nil || !*r.RTOMet {
		t.Errorf("result: status %s, RTO %s, met %v", r.Status, r.RTO, r.RTOMet)
	}
	if a := r.Steps[2].Approval; a == nil || !a.Approved || len(a.Decisions) != 2 {
		t.Errorf("approval record %+v", a)
	}
}

func TestRecoveryUndoesCompletedStepsWhenACriticalStepFails(t *testing.T) {
	// fence and promote run side by side; dns, after promote, is made to finish after fence, so
	// that "newest first" has one answer however the machine schedules them.
	e, log := newRecoveryEnv(t, failoverPlan, map[string]time.Duration{"dns": 200 * time.Millisecond})
	log.results["check-primary"] = contract.ActionResult{Outputs: map[string]any{"role": "primary"}}
	log.errs["probe"] = temporal.NewNonRetryableApplicationError("the new primary takes no writes", contract.ErrTypeActionRefused, nil)
	var a, b error
	approveAt(e, time.Minute, "approve", "bob", &a)
	approveAt(e, time.Minute, "approve", "carol", &b)
	e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "db-failover", Requester: "alice"})
	r := recoveryResult(t, e)
	if err := e.GetWorkflowError(); err == nil || !strings.Contains(err.Error(), "step probe failed: the new primary takes no writes") {
		t.Fatalf("error %v", err)
	}
	// fence and dns ran, then were undone newest first.
	n := len(log.ran)
	if n < 2 || log.ran[n-2] != "dns.compensate" || log.ran[n-1] != "fence.compensate" {
		t.Fatalf("actions %v: want dns, then fence, undone last; fence: %+v", log.ran, r.Steps[3])
	}
	if st := statuses(r); st["dns"] != StepCompensated || st["fence"] != StepCompensated || st["probe"] != plan.StatusFailed || st["promote"] != plan.StatusSucceeded {
		t.Fatalf("statuses %v", st)
	}
	if r.Status != plan.StatusFailed || r.RTOMet != nil {
		t.Fatalf("result %+v", r)
	}
}

func TestRecoveryOptionalFailureGoesOnAndRejectionStops(t *testing.T) {
	e, log := newRecoveryEnv(t, failoverPlan)
	log.errs["check-primary"] = temporal.NewNonRetryableApplicationError("no route to host", contract.ErrTypeActionRefused, nil)
	var rejected error
	e.RegisterDelayedCallback(func() {
		decide(e, "reject", approval.Decision{Gate: "approve", Identity: "bob", Reason: "replica lags too much"}, &rejected)
	}, 5*time.Minute)
	e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "db-failover", Requester: "alice"})
	r := recoveryResult(t, e)
	if err := e.GetWorkflowError(); err == nil || !strings.Contains(err.Error(), "rejected by bob: replica lags too much") {
		t.Fatalf("error %v", err)
	}
	st := statuses(r)
	if st["check-primary"] != plan.StatusFailed || st["approve"] != plan.StatusFailed || st["fence"] != StepNotRun || st["promote"] != StepNotRun || st["probe"] != StepNotRun {
		t.Fatalf("statuses %v", st)
	}
	if len(log.ran) != 2 {
		t.Fatalf("actions after the rejection: %v", log.ran)
	}
}

func TestRecoveryCancelledMidPlanUndoesWhatRan(t *testing.T) {
	// dns takes ten minutes; the plan is cancelled while it runs.
	e, log := newRecoveryEnv(t, failoverPlan, map[string]time.Duration{"dns": 10 * time.Minute})
	log.results["check-primary"] = contract.ActionResult{Outputs: map[string]any{"role": "primary"}}
	var a, b error
	approveAt(e, time.Minute, "approve", "bob", &a)
	approveAt(e, time.Minute, "approve", "carol", &b)
	e.RegisterDelayedCallback(e.CancelWorkflow, 5*time.Minute)
	e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "db-failover", Requester: "alice"})
	var canceled *temporal.CanceledError
	if err := e.GetWorkflowError(); !errors.As(err, &canceled) {
		t.Fatalf("error %v, want cancelled", err)
	}
	r := recoveryResult(t, e)
	// dns was running: it finishes, then is undone with fence, newest first.
	if st := statuses(r); st["fence"] != StepCompensated || st["dns"] != StepCompensated || st["probe"] != StepNotRun || r.Status != "canceled" {
		t.Fatalf("statuses %v, status %s", st, r.Status)
	}
	if n := len(log.ran); log.ran[n-2] != "dns.compensate" || log.ran[n-1] != "fence.compensate" {
		t.Fatalf("actions %v", log.ran)
	}
}

const drillPlan = `
apiVersion: lifeboat.dev/v1
kind: RecoveryPlan
metadata: {name: app-drill}
spec:
  scenario: Restart the app in the DR region
  objectives: {rto: 1m}
  people: [{id: ops, name: Ops, channels: {email: ops@example.com}}]
  steps:
    - id: scale-up
      action: aws.asg_set_capacity
      with: {group: web-dr, region: eu-central-1, desired: 3}
      drill: {same_targets: true, reason: the DR group serves no traffic until DNS points at it}
      compensate: {action: aws.asg_set_capacity, with: {group: web-dr, region: eu-central-1, desired: 0}}
    - id: choose
      needs: [scale-up]
      decision: {question: "Serve from DR or wait?", options: [serve, wait], deciders: [ops], timeout: 10m, default: wait}
    - id: switch
      needs: [choose]
      when: 'steps.choose.choice == "serve"'
      action: check.http
      with: {url: "http://dr.example.com/healthz"}
    - id: settle
      needs: [scale-up]
      wait: {duration: 2m}
`

func TestDrillUndoesEverythingAndMeasuresTheRTO(t *testing.T) {
	e, log := newRecoveryEnv(t, drillPlan)
	e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "app-drill", Mode: ModeDrill, Requester: "scheduler"})
	if err := e.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	r := recoveryResult(t, e)
	st := statuses(r)
	// Nobody decided: the decision's default (wait) skips the switch; the drill scaled back down.
	if st["choose"] != plan.StatusSucceeded || r.Steps[1].Choice != "wait" || st["switch"] != plan.StatusSkipped || st["scale-up"] != StepCompensated {
		t.Fatalf("statuses %v, choice %q", st, r.Steps[1].Choice)
	}
	if strings.Join(log.ran, ",") != "scale-up,scale-up.compensate" {
		t.Fatalf("actions %v", log.ran)
	}
	if r.RTO.D() != 10*time.Minute || r.RTOMet == nil || *r.RTOMet {
		t.Fatalf("RTO %s met %v: the 10m decision timeout misses the 1m objective", r.RTO, r.RTOMet)
	}
	missed := false
	for _, m := range e.alerts {
		missed = missed || m.Event == "plan.rto_missed"
	}
	if !missed {
		t.Fatalf("no RTO alert: %+v", e.events())
	}
}

const unsafeDrillPlan = `
apiVersion: lifeboat.dev/v1
kind: RecoveryPlan
metadata: {name: unsafe-drill}
spec:
  scenario: The primary database is lost
  steps:
    - id: check
      action: postgres.replication_status
      with: {dsn_secret: prod-replica}
    - id: promote
      needs: [check]
      action: postgres.promote
      with: {dsn_secret: prod-replica}
`

// A drill of a plan whose mutating step has no drill targets is refused before any step runs,
// naming the step; a recovery with the same plan runs.
func TestDrillOfAnUnsafePlanIsRefused(t *testing.T) {
	e, log := newRecoveryEnv(t, unsafeDrillPlan)
	e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "unsafe-drill", Mode: ModeDrill, Requester: "scheduler"})
	err := e.GetWorkflowError()
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != ErrTypeUnsafeDrill || !strings.Contains(err.Error(), "spec.steps[1] (promote).drill") {
		t.Fatalf("error %v, want %s naming the promote step", err, ErrTypeUnsafeDrill)
	}
	if len(log.ran) != 0 {
		t.Fatalf("steps ran in a refused drill: %v", log.ran)
	}

	e, log = newRecoveryEnv(t, unsafeDrillPlan)
	e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "unsafe-drill", Mode: ModeRecovery, Requester: "alice"})
	if err := e.GetWorkflowError(); err != nil {
		t.Fatalf("a recovery was refused: %v", err)
	}
	if strings.Join(log.ran, ",") != "check,promote" {
		t.Fatalf("recovery ran %v", log.ran)
	}
}

const restorePlan = `
apiVersion: lifeboat.dev/v1
kind: RecoveryPlan
metadata: {name: restore-www}
spec:
  scenario: The site's files were deleted
  people: [{id: ops, name: Ops, channels: {email: ops@example.com}}]
  steps:
    - id: restore
      action: restore.asset
      with: {asset: www, target_dir: /srv/www-restored}
    - id: tell
      needs: [restore]
      action: notify
      with: {message: "www restored", route: ops}
`

// restore.asset runs as a child Restore workflow, and notify through the notification routes.
func TestRecoveryRestoresAnAssetAndNotifies(t *testing.T) {
	e, log := newRecoveryEnv(t, restorePlan)
	e.onAsset(testAsset())
	e.onResolve()
	e.OnActivity("RestoreAsset", mock.Anything, restoreOf(contract.RestoreAssetInput{Asset: "www", Snapshot: snap.ID, TargetDir: "/srv/www-restored"})).
		Return(contract.RestoreAssetResult{Snapshot: snap, TargetDir: "/srv/www-restored", Files: 12}, nil).Once()
	e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "restore-www", Requester: "alice"})
	if err := e.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	r := recoveryResult(t, e)
	if st := statuses(r); st["restore"] != plan.StatusSucceeded || st["tell"] != plan.StatusSucceeded {
		t.Fatalf("statuses %v", st)
	}
	if r.Steps[0].Outputs["target_dir"] != "/srv/www-restored" || r.Steps[0].Outputs["snapshot"] != snap.ID {
		t.Fatalf("restore outputs %+v", r.Steps[0])
	}
	// The actions the workflow runs itself produce every output they declare, and no other.
	for i, spec := range []catalog.Spec{catalog.RestoreAsset.Spec(), catalog.Notify.Spec()} {
		got := slices.Sorted(maps.Keys(r.Steps[i].Outputs))
		want := slices.Sorted(slices.Values(spec.OutputNames()))
		if !slices.Equal(got, want) {
			t.Errorf("%s produced outputs %v, declares %v", spec.Name, got, want)
		}
	}
	if len(log.ran) != 0 {
		t.Fatalf("RunAction was asked to run %v", log.ran)
	}
	if ev := e.events(); len(ev) != 1 || ev[0] != "plan.notice" || e.alerts[0].Text != "www restored" {
		t.Fatalf("notices %+v", e.alerts)
	}
}

// In a drill, restore.asset without a drill block is rehearsed: a restore drill of the asset (a
// child Verify workflow) restores into scratch space, checks and removes it; the asset's data is
// never written (no RestoreAsset outside scratch). A failing restore drill fails the step.
func TestDrillRehearsesARestoreAsARestoreDrill(t *testing.T) {
	for _, tc := range []struct {
		name    string
		checks  contract.RunChecksResult
		success bool
	}{
		{"restore drill passes", contract.RunChecksResult{Passed: true}, true},
		{"restore drill fails", contract.RunChecksResult{Checks: []contract.CheckResult{{Name: "index", Kind: "file", Detail: "missing"}}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := newRecoveryEnv(t, strings.Replace(restorePlan, "with: {asset: www, target_dir: /srv/www-restored}", "with: {asset: www, in_place: true}", 1))
			e.onAsset(testAsset())
			e.onResolve()
			e.OnActivity("RestoreAsset", mock.Anything, mock.MatchedBy(func(in contract.RestoreAssetInput) bool { return in.Asset == "www" && in.Scratch && !in.InPlace })).
				Return(contract.RestoreAssetResult{Snapshot: snap, TargetDir: "/tmp/lifeboat-verify-www-1", Duration: 3 * time.Second}, nil).Once()
			e.OnActivity("RunChecks", mock.Anything, mock.Anything).Return(tc.checks, nil)
			dropped := 0
			e.OnActivity("DropScratch", mock.Anything, contract.DropScratchInput{Asset: "www"}).
				Return(func(context.Context, contract.DropScratchInput) (contract.DropScratchResult, error) {
					dropped++
					return contract.DropScratchResult{}, nil
				})
			e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "restore-www", Requester: "alice", Mode: ModeDrill})
			r := recoveryResult(t, e)
			st := r.Steps[0]
			if dropped != 1 || st.Drill != DrillRehearsed {
				t.Fatalf("scratch dropped %d times, drill %q", dropped, st.Drill)
			}
			if tc.success != (st.Status == plan.StatusSucceeded) || tc.success != (r.Status == plan.StatusSucceeded) {
				t.Fatalf("step %+v, plan %s", st, r.Status)
			}
			if tc.success && (st.Outputs["snapshot"] != snap.ID || !strings.Contains(st.Summary, "rehearsed: restored www from snapshot")) {
				t.Fatalf("rehearsal record %+v", st)
			}
		})
	}
}

const escalationPlan = `
apiVersion: lifeboat.dev/v1
kind: RecoveryPlan
metadata: {name: escalate}
spec:
  scenario: Escalation timing
  people:
    - {id: oncall, name: On-call, channels: {sms: "+15555550100"}}
    - {id: lead, name: Lead, channels: {sms: "+15555550101"}}
  escalation:
    levels:
      - {after: 5m, notify: [oncall]}
      - {after: 15m, notify: [lead]}
    repeat: 1
  steps:
    - id: go
      approval: {approvers: [oncall, lead], timeout: 2h, on_expiry: escalate}
    - id: slow
      needs: [go]
      action: aws.ec2_start
      with: {instance_id: i-1, region: eu-west-1}
      escalation:
        levels:
          - {after: 10m, notify: [lead]}
`

// A waiting gate escalates level by level and round by round until it is decided; an action that
// runs past its levels escalates too.
func TestRecoveryEscalatesInOrderUntilDecided(t *testing.T) {
	e, _ := newRecoveryEnv(t, escalationPlan, map[string]time.Duration{"slow": 25 * time.Minute})
	start := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	e.SetStartTime(start)
	var approved error
	approveAt(e, 32*time.Minute, "go", "lead", &approved)
	e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "escalate", Requester: "someone"})
	if err := e.GetWorkflowError(); err != nil || approved != nil {
		t.Fatalf("plan: %v; approval: %v", err, approved)
	}
	type sent struct {
		event, to string
		at        time.Duration
	}
	var got []sent
	for _, m := range e.alerts {
		got = append(got, sent{m.Event, m.Fields["to"], m.Time.Sub(start).Round(time.Minute)})
	}
	// Messages sent at the same moment go out in parallel: compare them in time, then name, order.
	slices.SortStableFunc(got, func(x, y sent) int { return cmp.Or(cmp.Compare(x.at, y.at), strings.Compare(x.event, y.event)) })
	// Gate: 5m on-call, 15m lead, then the repeat round at 20m and 30m; decided at 32m, so no more,
	// and its escalation is resolved. The action starts at 32m, is still running 10m later, and its
	// escalation is resolved when it ends at 57m.
	want := []sent{{"approval.requested", "", 0}, {"approval.escalated", "oncall", 5 * time.Minute}, {"approval.escalated", "lead", 15 * time.Minute},
		{"approval.escalated", "oncall", 20 * time.Minute}, {"approval.escalated", "lead", 30 * time.Minute},
		{"approval.decided", "", 32 * time.Minute}, {"escalation.resolved", "", 32 * time.Minute},
		{"step.stuck", "lead", 42 * time.Minute}, {"escalation.resolved", "", 57 * time.Minute}}
	if len(got) != len(want) {
		t.Fatalf("sent %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("message %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func acknowledgeAt(e *assetEnv, at time.Duration, a Acknowledgement, result *error) {
	e.RegisterDelayedCallback(func() {
		*result = errors.New("update not answered")
		e.UpdateWorkflow(UpdateAcknowledge, "ack-"+a.Identity+a.Step+"@"+at.String(), &testsuite.TestUpdateCallback{
			OnAccept:   func() {},
			OnReject:   func(err error) { *result = err },
			OnComplete: func(_ any, err error) { *result = err },
		}, a)
	}, at)
}

// An acknowledgement stops the escalations under way — a gate's reminders, a stuck step's levels —
// and tells their channels, while the gate still waits for its decision. One without an identity,
// or for a step the plan lacks, is refused.
func TestRecoveryAcknowledgementStopsEscalation(t *testing.T) {
	e, _ := newRecoveryEnv(t, escalationPlan, map[string]time.Duration{"slow": 90 * time.Minute})
	start := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	e.SetStartTime(start)
	var anonymous, unknown, gateAck, runAck, approved error
	acknowledgeAt(e, 6*time.Minute, Acknowledgement{Identity: " "}, &anonymous)
	acknowledgeAt(e, 6*time.Minute, Acknowledgement{Identity: "lead", Step: "nope"}, &unknown)
	acknowledgeAt(e, 7*time.Minute, Acknowledgement{Identity: "oncall", Step: "go", Channel: approval.ChannelCLI, Note: "looking"}, &gateAck)
	approveAt(e, 40*time.Minute, "go", "lead", &approved)
	acknowledgeAt(e, 55*time.Minute, Acknowledgement{Identity: "lead"}, &runAck)
	e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "escalate", Requester: "someone"})
	if err := e.GetWorkflowError(); err != nil || approved != nil || gateAck != nil || runAck != nil {
		t.Fatalf("plan: %v; approval: %v; acknowledgements: %v, %v", err, approved, gateAck, runAck)
	}
	if anonymous == nil || !strings.Contains(anonymous.Error(), "identity required") {
		t.Errorf("acknowledgement without identity: %v", anonymous)
	}
	if unknown == nil || !strings.Contains(unknown.Error(), `no step "nope"`) {
		t.Errorf("acknowledgement of an unknown step: %v", unknown)
	}
	var got []string
	for _, m := range e.alerts {
		got = append(got, fmt.Sprintf("%s@%s", m.Event, m.Time.Sub(start).Round(time.Minute)))
	}
	// Gate: level 1 at 5m, acknowledged at 7m: no more reminders though it waits until 40m. The
	// action (40m–130m) escalates at 50m and is acknowledged at 55m: no level at 60m, 70m…
	want := []string{"approval.requested@0s", "approval.escalated@5m0s", "escalation.acknowledged@7m0s", "approval.decided@40m0s", "step.stuck@50m0s", "escalation.acknowledged@55m0s"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("sent %v, want %v", got, want)
	}
	if m := e.alerts[2]; m.DedupKey != e.alerts[1].DedupKey || m.Fields["by"] != "oncall" || m.Text != "looking" {
		t.Errorf("acknowledgement message %+v; want oncall's note under the gate's dedup key %q", m, e.alerts[1].DedupKey)
	}
	r := recoveryResult(t, e)
	if len(r.Acknowledgements) != 2 || r.Acknowledgements[0].Identity != "oncall" || r.Acknowledgements[0].Time.Sub(start) != 7*time.Minute || r.Acknowledgements[1].Step != "" {
		t.Errorf("acknowledgements recorded: %+v", r.Acknowledgements)
	}
}

const rtoEscalationPlan = `
apiVersion: lifeboat.dev/v1
kind: RecoveryPlan
metadata: {name: slow-recovery}
spec:
  scenario: A recovery that runs long
  objectives: {rto: 30m}
  people: [{id: oncall, name: On-call, channels: {sms: "+15555550100"}}, {id: cto, name: CTO, channels: {sms: "+15555550102"}}]
  escalation:
    levels:
      - {after: 10m, notify: [oncall]}
      - {after: 20m, notify: [cto]}
  steps:
    - id: restart
      action: aws.ec2_start
      with: {instance_id: i-1, region: eu-west-1}
      escalation:
        levels:
          - {after: 2h, notify: [oncall]}
`

// A missed RTO alerts, then escalates through the plan's levels until the plan ends; the end
// resolves it.
func TestRecoveryEscalatesAMissedRTO(t *testing.T) {
	e, _ := newRecoveryEnv(t, rtoEscalationPlan, map[string]time.Duration{"restart": 55 * time.Minute})
	start := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	e.SetStartTime(start)
	e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "slow-recovery", Requester: "someone"})
	if err := e.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range e.alerts {
		got = append(got, fmt.Sprintf("%s/%d/%s@%s", m.Event, m.Level, m.Fields["to"], m.Time.Sub(start).Round(time.Minute)))
	}
	want := []string{"plan.rto_missed/0/@30m0s", "plan.rto_missed/1/oncall@40m0s", "plan.rto_missed/2/cto@50m0s", "escalation.resolved/0/@55m0s"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("sent %v, want %v", got, want)
	}
	if r := recoveryResult(t, e); r.RTOMet == nil || *r.RTOMet {
		t.Errorf("RTO %s met %v; want missed", r.RTO, r.RTOMet)
	}
}

const isolatedDrillPlan = `
apiVersion: lifeboat.dev/v1
kind: RecoveryPlan
metadata: {name: db-drill}
spec:
  scenario: The primary database is lost
  objectives: {rto: 10m, rpo: 5m}
  steps:
    - id: promote
      action: postgres.promote
      with: {dsn_secret: prod-replica}
      drill:
        with: {dsn_secret: drill-replica}
      compensate: {action: postgres.fence, with: {dsn_secret: prod-replica}}
    - id: dns
      needs: [promote]
      action: aws.route53_upsert
      with: {zone_id: Z1, record: db.example.com, value: replica.example.com}
      drill: {skip: true, reason: production DNS}
    - id: probe
      needs: [promote]
      action: postgres.write_probe
      with: {dsn_secret: prod-replica}
      drill: {same_targets: true, reason: the probe writes only to its own table}
`

// A drill runs each step against its drill targets (the compensation too), leaves out what its
// plan says to, and reports which steps touched their recovery targets; a recovery of the same plan
// uses the plan's own. The RPO is the window from the recovery point a step reported to the incident.
func TestDrillUsesIsolatedTargetsAndMeasuresTheRPO(t *testing.T) {
	incident := time.Date(2026, 11, 22, 8, 58, 0, 0, time.UTC)
	for _, mode := range []string{ModeDrill, ModeRecovery} {
		t.Run(mode, func(t *testing.T) {
			e, log := newRecoveryEnv(t, isolatedDrillPlan)
			e.SetStartTime(time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC))
			log.results["promote"] = contract.ActionResult{Outputs: map[string]any{contract.OutputRecoveryPoint: "2026-11-22T08:57:30Z"}}
			e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "db-drill", Mode: mode, Requester: "scheduler", IncidentAt: incident})
			if err := e.GetWorkflowError(); err != nil {
				t.Fatal(err)
			}
			r := recoveryResult(t, e)
			st := statuses(r)
			var seen []string
			for i, step := range log.ran {
				seen = append(seen, step+"="+fmt.Sprint(log.params[i]["dsn_secret"]))
			}
			if mode == ModeDrill {
				if got := strings.Join(seen, " "); got != "promote=drill-replica probe=prod-replica promote.compensate=drill-replica" {
					t.Errorf("actions %s", got)
				}
				if st["dns"] != plan.StatusSkipped || r.Steps[1].Summary != "left out of drills: production DNS" {
					t.Errorf("dns %s: %s", st["dns"], r.Steps[1].Summary)
				}
				drill := map[string]string{}
				for _, s := range r.Steps {
					drill[s.ID] = s.Drill
				}
				if drill["promote"] != DrillIsolated || drill["dns"] != DrillSkipped || drill["probe"] != DrillOwn {
					t.Errorf("drill targets %v", drill)
				}
				if note := r.Steps[2].DrillNote; r.Steps[2].ID != "probe" || note != "the probe writes only to its own table" {
					t.Errorf("probe's drill note %q: want its same_targets reason", note)
				}
			} else if slices.Sort(seen); strings.Join(seen, " ") != "dns=<nil> probe=prod-replica promote=prod-replica" {
				t.Errorf("actions %s", seen)
			}
			if r.RPO == nil || r.RPO.D() != 30*time.Second || r.RPOMet == nil || !*r.RPOMet || r.RPOStep != "promote" || !r.IncidentAt.Equal(incident) {
				t.Fatalf("RPO %v met %v from %s at %s; want 30s, met, from promote", r.RPO, r.RPOMet, r.RPOStep, r.IncidentAt)
			}
		})
	}
}

const updatesPlan = `
apiVersion: lifeboat.dev/v1
kind: RecoveryPlan
metadata: {name: www-failover}
spec:
  scenario: The web tier is down
  objectives: {rto: 2h}
  people:
    - {id: alice, name: Alice, channels: {email: alice@example.com}}
    - {id: bob, name: Bob, channels: {email: bob@example.com}}
    - {id: vp, name: VP, channels: {email: vp@example.com}}
  roles: {stakeholders: [vp]}
  updates: {to: [stakeholders], every: 30m}
  steps:
    - id: go
      decision: {question: "Fail over to the DR site?", options: [failover, wait], deciders: [alice, bob]}
    - id: scale
      needs: [go]
      when: 'steps.go.choice == "failover"'
      action: aws.asg_set_capacity
      with: {group: www-dr, desired: 4, region: eu-west-1}
      drill: {with: {group: www-drill}}
      compensate: {action: aws.asg_set_capacity, with: {group: www-dr, desired: 0, region: eu-west-1}}
`

// A gate is announced with its buttons' reference (workflow, gate, options) and its decision
// updates that same message; stakeholders hear when the run starts, every 30 minutes while it runs
// and how it ends; a drill always sends its report.
func TestRecoveryAnnouncesGatesAndUpdatesStakeholders(t *testing.T) {
	for _, mode := range []string{ModeRecovery, ModeDrill} {
		t.Run(mode, func(t *testing.T) {
			e, _ := newRecoveryEnv(t, updatesPlan, map[string]time.Duration{"scale": 20 * time.Minute})
			start := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
			e.SetStartTime(start)
			var chose error
			e.RegisterDelayedCallback(func() {
				decide(e, "go-bob", approval.Decision{Gate: "go", Approve: true, Choice: "failover", Identity: "bob", Channel: approval.ChannelSlack}, &chose)
			}, 50*time.Minute)
			e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "www-failover", Mode: mode, Requester: "alice"})
			if err := e.GetWorkflowError(); err != nil || chose != nil {
				t.Fatalf("plan: %v; decision: %v", err, chose)
			}
			// Messages sent at the same moment go out in parallel: compare them in time, then name, order.
			sent := slices.Clone(e.alerts)
			slices.SortStableFunc(sent, func(x, y notify.Message) int {
				return cmp.Or(x.Time.Compare(y.Time), strings.Compare(x.Event, y.Event))
			})
			var got []string
			byEvent := map[string]notify.Message{}
			for _, m := range sent {
				got = append(got, fmt.Sprintf("%s@%s", m.Event, m.Time.Sub(start).Round(time.Minute)))
				byEvent[m.Event] = m
			}
			want := "approval.requested@0s recovery.started@0s recovery.progress@30m0s approval.decided@50m0s recovery.progress@1h0m0s recovery.completed@1h10m0s"
			if mode == ModeDrill {
				want = "approval.requested@0s recovery.started@0s recovery.progress@30m0s approval.decided@50m0s recovery.progress@1h0m0s drill.report@1h10m0s recovery.phase@1h10m0s"
			}
			if strings.Join(got, " ") != want {
				t.Fatalf("sent %v\nwant %s", got, want)
			}
			ask, decided := byEvent["approval.requested"], byEvent["approval.decided"]
			if a := ask.Approval; a == nil || a.Gate != "go" || !slices.Equal(a.Options, []string{"failover", "wait"}) || a.WorkflowID == "" || !slices.Equal(a.Approvers, []string{"alice", "bob"}) {
				t.Errorf("approval.requested names %+v; want gate go with its options and deciders", ask.Approval)
			}
			if decided.DedupKey != ask.DedupKey || decided.Refs["slack #dr"] == "" || decided.Title != "www-failover: step go decided: failover" {
				t.Errorf("approval.decided %+v; want the request's message (dedup %q) updated in place", decided, ask.DedupKey)
			}
			if p := byEvent["recovery.progress"]; p.Fields["to"] != "vp" || p.Plan != "www-failover" {
				t.Errorf("progress update %+v; want it for the stakeholders, naming the plan", p)
			}
			if mode == ModeDrill && !strings.Contains(byEvent["drill.report"].Text, "RTO 1h10m") {
				t.Errorf("drill report %q", byEvent["drill.report"].Text)
			}
		})
	}
}

// TestDrillGoesOnPastAStepLeftOutOfIt drills a plan whose middle step is left out of drills: the
// steps that need it still run, and a plan whose every step is left out measures no time, rather
// than a negative RTO that no reader can decode.
func TestDrillGoesOnPastAStepLeftOutOfIt(t *testing.T) {
	e, log := newRecoveryEnv(t, `apiVersion: lifeboat.dev/v1
kind: RecoveryPlan
metadata: {name: left-out}
spec:
  scenario: A step that drills leave out
  objectives: {rto: 1h}
  steps:
    - {id: first, action: check.tcp, with: {address: "db:5432"}}
    - {id: dns, needs: [first], action: exec, with: {command: repoint}, drill: {skip: true, reason: production DNS}}
    - {id: probe, needs: [dns], action: check.tcp, with: {address: "db:5432"}}
`)
	e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "left-out", Requester: "alice", Reason: "drill", Mode: ModeDrill})
	r := recoveryResult(t, e)
	if st := statuses(r); st["dns"] != plan.StatusSkipped || st["probe"] != plan.StatusSucceeded || strings.Join(log.ran, ",") != "first,probe" {
		t.Fatalf("statuses %v, ran %v", st, log.ran)
	}

	e, log = newRecoveryEnv(t, `apiVersion: lifeboat.dev/v1
kind: RecoveryPlan
metadata: {name: all-left-out}
spec:
  scenario: Every step left out of drills
  objectives: {rto: 1h}
  steps:
    - {id: only, action: exec, with: {command: repoint}, drill: {skip: true, reason: production only}}
`)
	e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "all-left-out", Requester: "alice", Reason: "drill", Mode: ModeDrill})
	r = recoveryResult(t, e)
	if r.Status != plan.StatusSucceeded || r.RTO != 0 || len(log.ran) != 0 {
		t.Fatalf("status %s, RTO %s, ran %v", r.Status, r.RTO, log.ran)
	}
}
