package workflows

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/activities/contract"

	"go.temporal.io/sdk/temporal"

	"github.com/lifeboat-dr/lifeboat/activities"
	"github.com/lifeboat-dr/lifeboat/activities/plan"
	"github.com/lifeboat-dr/lifeboat/workflows/approval"
)

// examplePlans is where the example plan library lives, relative to this package.
const examplePlans = "../examples/plans"

func TestExamplePlansParseAndValidate(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(examplePlans, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 9 {
		t.Fatalf("%d plans in %s, want at least 9", len(files), examplePlans)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			p, err := plan.Parse(b)
			if err != nil {
				t.Fatalf("parse:\n%v", err)
			}
			if err := plan.ValidateWith(p, plan.DefaultActions()); err != nil {
				t.Fatalf("validate:\n%v", err)
			}
			if want := strings.TrimSuffix(filepath.Base(f), ".yaml"); p.Metadata.Name != want {
				t.Errorf("metadata.name %q: name the file %s.yaml", p.Metadata.Name, p.Metadata.Name)
			}
			checkExampleConventions(t, p)
		})
	}
}

// checkExampleConventions holds the example plans to what the library promises: people with
// channels, the usual roles, objectives, descriptions, an escalation policy where a gate waits
// for approval, compensations that undo, and only actions the worker carries out.
func checkExampleConventions(t *testing.T, p *plan.Plan) {
	t.Helper()
	s := p.Spec
	if p.Metadata.Description == "" || s.Objectives.RTO == 0 {
		t.Errorf("description %q, rto %s: both are required in an example", p.Metadata.Description, s.Objectives.RTO)
	}
	if len(s.People) == 0 || len(s.Groups) == 0 {
		t.Errorf("%d people, %d groups", len(s.People), len(s.Groups))
	}
	for _, role := range []string{"incident_commander", "executors", "stakeholders"} {
		if len(s.Roles[role]) == 0 {
			t.Errorf("role %s: missing", role)
		}
	}
	approvals := false
	for _, st := range s.Steps {
		if st.Description == "" {
			t.Errorf("step %s: no description", st.ID)
		}
		if st.EffectiveType() == plan.TypeApproval {
			approvals = true
		}
		if c := st.Compensate; c != nil && c.Action == st.Action && reflect.DeepEqual(c.With, st.With) {
			t.Errorf("step %s: the compensation repeats the step instead of undoing it", st.ID)
		}
		// Validation knows more actions than the worker carries out (restore.asset, notify): an
		// example names only actions that run.
		for _, a := range []string{st.Action, compensation(st)} {
			if a != "" && !slices.Contains(activities.ActionNames(), a) {
				t.Errorf("step %s: the worker does not carry out action %s", st.ID, a)
			}
		}
	}
	if approvals && (s.Escalation == nil || len(s.Roles["approvers"]) == 0) {
		t.Errorf("approval steps need an approvers role and an escalation policy")
	}
}

func compensation(s plan.Step) string {
	if s.Compensate == nil {
		return ""
	}
	return s.Compensate.Action
}

// The helpers below drive an example plan through a scenario: load it, script its actions and
// the people at its gates, run it, and compare what happened with what should have.

// loadExample returns the text of examples/plans/<name>.yaml.
func loadExample(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(examplePlans, name+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// people records the decisions a scenario sends to the plan's gates, and their answers.
type people struct {
	e       *assetEnv
	answers map[string]*error
	order   []string
}

func newPeople(e *assetEnv) *people { return &people{e: e, answers: map[string]*error{}} }

func (p *people) send(at time.Duration, d approval.Decision) {
	key := d.Gate + "/" + d.Identity
	if _, dup := p.answers[key]; dup {
		key += "/" + at.String()
	}
	result := new(error)
	p.answers[key], p.order = result, append(p.order, key)
	d.Channel = approval.ChannelSlack
	p.e.RegisterDelayedCallback(func() { decide(p.e, key, d, result) }, at)
}

// approve approves an approval gate, or marks a manual step done.
func (p *people) approve(at time.Duration, gate, who string) {
	p.send(at, approval.Decision{Gate: gate, Approve: true, Identity: who})
}

// choose picks an option of a decision.
func (p *people) choose(at time.Duration, gate, who, choice string) {
	p.send(at, approval.Decision{Gate: gate, Approve: true, Identity: who, Choice: choice})
}

func (p *people) reject(at time.Duration, gate, who, reason string) {
	p.send(at, approval.Decision{Gate: gate, Identity: who, Reason: reason})
}

// answer is the answer to the decision gate/who, nil when it was recorded.
func (p *people) answer(gate, who string) error { return *p.answers[gate+"/"+who] }

// allAccepted fails the test unless every decision sent was recorded, except those named.
func (p *people) allAccepted(t *testing.T, except ...string) {
	t.Helper()
	for _, key := range p.order {
		if err := *p.answers[key]; err != nil && !slices.Contains(except, key) {
			t.Errorf("decision %s: %v", key, err)
		}
	}
}

// wantSteps compares the final status of the steps named; no step may be left pending or running.
func wantSteps(t *testing.T, r RecoveryResult, want map[string]string) {
	t.Helper()
	got := statuses(r)
	for id, st := range want {
		if _, ok := got[id]; !ok {
			t.Errorf("step %s: not in the result", id)
			continue
		}
		if got[id] != st {
			t.Errorf("step %s: %s, want %s (%s)", id, got[id], st, stepRecord(r, id))
		}
	}
	for _, s := range r.Steps {
		if s.Status == StepPending || s.Status == StepRunning {
			t.Errorf("step %s is still %s after the plan ended", s.ID, s.Status)
		}
	}
}

func stepRecord(r RecoveryResult, id string) string {
	for _, s := range r.Steps {
		if s.ID == id {
			return strings.TrimSpace(s.Summary + " " + s.Error)
		}
	}
	return ""
}

func step(t *testing.T, r RecoveryResult, id string) StepState {
	t.Helper()
	for _, s := range r.Steps {
		if s.ID == id {
			return s
		}
	}
	t.Fatalf("step %s: not in the result", id)
	return StepState{}
}

// wantActions checks which actions ran, by step, in stages: stage after stage, the steps of one
// stage in any order (they run in parallel), and nothing else.
func wantActions(t *testing.T, log *actionLog, stages ...string) {
	t.Helper()
	log.mu.Lock()
	ran := slices.Clone(log.ran)
	log.mu.Unlock()
	i, ok := 0, true
	for _, stage := range stages {
		want := strings.Fields(stage)
		if i+len(want) > len(ran) {
			ok = false
			break
		}
		got := slices.Clone(ran[i : i+len(want)])
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			ok = false
			break
		}
		i += len(want)
	}
	if !ok || i != len(ran) {
		t.Errorf("actions ran: %v\nwant, stage by stage: %q", ran, stages)
	}
}

// takeUnordered removes the actions of the steps named from the log, failing unless each ran
// exactly once: for a step that runs beside a chain of others, whose place in the order is not fixed.
func takeUnordered(t *testing.T, log *actionLog, ids ...string) {
	t.Helper()
	log.mu.Lock()
	defer log.mu.Unlock()
	for _, id := range ids {
		if n := len(slices.DeleteFunc(slices.Clone(log.ran), func(s string) bool { return s != id })); n != 1 {
			t.Errorf("%s ran %d times, want once: %v", id, n, log.ran)
		}
		log.ran = slices.DeleteFunc(log.ran, func(s string) bool { return s == id })
	}
}

// notices lists the steps whose plan notices were sent, in order.
func notices(e *assetEnv) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, m := range e.alerts {
		if m.Event == "plan.notice" {
			out = append(out, m.Fields["step"])
		}
	}
	return out
}

// escalations lists the recipients of each approval escalation sent.
func escalations(e *assetEnv) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, m := range e.alerts {
		if m.Event == "approval.escalated" {
			out = append(out, m.Fields["to"])
		}
	}
	return out
}

func wantSucceeded(t *testing.T, e *assetEnv, r RecoveryResult) {
	t.Helper()
	if err := e.GetWorkflowError(); err != nil {
		t.Fatalf("plan failed: %v\nsteps: %v", err, statuses(r))
	}
	if r.Status != plan.StatusSucceeded {
		t.Fatalf("plan status %s", r.Status)
	}
}

func wantFailed(t *testing.T, e *assetEnv, r RecoveryResult, msg string) {
	t.Helper()
	err := e.GetWorkflowError()
	if err == nil || !strings.Contains(err.Error(), msg) {
		t.Fatalf("plan error %v, want one containing %q", err, msg)
	}
	if r.Status != plan.StatusFailed || !strings.Contains(r.Error, msg) {
		t.Fatalf("plan status %s, error %q", r.Status, r.Error)
	}
}

// refusedByWorker is an action that fails at once, without retries.
func refusedByWorker(msg string) error {
	return temporal.NewNonRetryableApplicationError(msg, contract.ErrTypeActionRefused, nil)
}

func outputs(kv ...any) contract.ActionResult {
	m := map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return contract.ActionResult{Outputs: m}
}

// primary-db-lost

func primaryDBLostHealthy(log *actionLog) {
	log.results["check-primary"] = outputs("role", "primary", "reachable", true, "lag_seconds", 0.0)
	log.results["check-replica"] = outputs("role", "replica", "reachable", true, "lag_seconds", 0.4)
	log.results["write-probe"] = outputs("ok", true, "latency_ms", 12)
	log.results["sql-check"] = outputs("ok", true, "value", "0")
}

func TestExamplePrimaryDBLostFailsOverOnceTwoOtherDBAsApprove(t *testing.T) {
	e, log := newRecoveryEnv(t, loadExample(t, "primary-db-lost"))
	primaryDBLostHealthy(log)
	who := newPeople(e)
	who.approve(time.Minute, "approve-failover", "alice") // alice started the plan
	who.approve(2*time.Minute, "approve-failover", "bob")
	who.approve(3*time.Minute, "approve-failover", "carol")
	e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "primary-db-lost", Requester: "alice", Reason: "orders-db-1 does not answer"})
	r := recoveryResult(t, e)
	wantSucceeded(t, e, r)
	if err := who.answer("approve-failover", "alice"); err == nil || !strings.Contains(err.Error(), "cannot approve its own request") {
		t.Errorf("alice approving her own failover: %v", err)
	}
	who.allAccepted(t, "approve-failover/alice")
	wantSteps(t, r, map[string]string{"check-primary": "succeeded", "check-replica": "succeeded", "approve-failover": "succeeded",
		"fence-old-primary": "succeeded", "promote-replica": "succeeded", "repoint-dns": "succeeded", "write-probe": "succeeded",
		"sql-check": "succeeded", "checks-failed": "skipped", "notify-stakeholders": "succeeded"})
	wantActions(t, log, "check-primary check-replica", "fence-old-primary", "promote-replica", "repoint-dns", "write-probe", "sql-check")
	if a := step(t, r, "approve-failover").Approval; a == nil || len(a.Decisions) != 2 || a.Decisions[0].Identity != "bob" || a.Decisions[1].Identity != "carol" {
		t.Errorf("approval record %+v", a)
	}
	if got := notices(e); !slices.Equal(got, []string{"notify-stakeholders"}) {
		t.Errorf("notices %v", got)
	}
	if r.RTO.D() != 3*time.Minute || r.RTOMet == nil || !*r.RTOMet {
		t.Errorf("RTO %s, met %v: the failover took 3m against 30m", r.RTO, r.RTOMet)
	}
}

func TestExamplePrimaryDBLostPromotesWithoutFencingAPrimaryItCannotReach(t *testing.T) {
	for _, tc := range []struct {
		name    string
		primary func(*actionLog)
		want    string
	}{
		{"reported unreachable", func(l *actionLog) { l.results["check-primary"] = outputs("role", "unreachable", "reachable", false) }, "succeeded"},
		{"status check failed", func(l *actionLog) { l.errs["check-primary"] = refusedByWorker("tls: handshake failure") }, "failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, log := newRecoveryEnv(t, loadExample(t, "primary-db-lost"))
			primaryDBLostHealthy(log)
			tc.primary(log)
			who := newPeople(e)
			who.approve(time.Minute, "approve-failover", "bob")
			who.approve(time.Minute+time.Second, "approve-failover", "carol")
			e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "primary-db-lost", Requester: "dave"})
			r := recoveryResult(t, e)
			wantSucceeded(t, e, r)
			who.allAccepted(t)
			wantSteps(t, r, map[string]string{"check-primary": tc.want, "fence-old-primary": "skipped", "promote-replica": "succeeded",
				"repoint-dns": "succeeded", "notify-stakeholders": "succeeded"})
			wantActions(t, log, "check-primary check-replica", "promote-replica", "repoint-dns", "write-probe", "sql-check")
		})
	}
}

func TestExamplePrimaryDBLostUndoesDNSAndFencingWhenTheNewPrimaryFails(t *testing.T) {
	e, log := newRecoveryEnv(t, loadExample(t, "primary-db-lost"))
	primaryDBLostHealthy(log)
	log.errs["write-probe"] = refusedByWorker("password authentication failed for user lifeboat_probe")
	who := newPeople(e)
	who.approve(time.Minute, "approve-failover", "bob")
	who.approve(2*time.Minute, "approve-failover", "carol")
	e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "primary-db-lost", Requester: "dave"})
	r := recoveryResult(t, e)
	wantFailed(t, e, r, "step write-probe failed: password authentication failed")
	wantSteps(t, r, map[string]string{"fence-old-primary": "compensated", "promote-replica": "succeeded", "repoint-dns": "compensated",
		"write-probe": "failed", "sql-check": "not run", "checks-failed": "not run", "notify-stakeholders": "not run"})
	// Newest first: DNS goes back to the old primary before the old primary takes writes again.
	wantActions(t, log, "check-primary check-replica", "fence-old-primary", "promote-replica", "repoint-dns", "write-probe",
		"repoint-dns.compensate", "fence-old-primary.compensate")
	if c := step(t, r, "repoint-dns").Compensation; !strings.HasPrefix(c, "aws.route53_upsert: ") {
		t.Errorf("repoint-dns compensation %q", c)
	}
	if len(notices(e)) != 0 || r.RTOMet != nil {
		t.Errorf("notices %v, RTO met %v after a failed failover", notices(e), r.RTOMet)
	}
}

func TestExamplePrimaryDBLostAsksTheDBAsWhenTheChecksFail(t *testing.T) {
	t.Run("fixed by hand", func(t *testing.T) {
		e, log := newRecoveryEnv(t, loadExample(t, "primary-db-lost"))
		primaryDBLostHealthy(log)
		log.results["sql-check"] = outputs("ok", false, "value", "1")
		who := newPeople(e)
		who.approve(time.Minute, "approve-failover", "bob")
		who.approve(2*time.Minute, "approve-failover", "carol")
		who.approve(20*time.Minute, "checks-failed", "alice")
		e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "primary-db-lost", Requester: "dave"})
		r := recoveryResult(t, e)
		wantSucceeded(t, e, r)
		who.allAccepted(t)
		wantSteps(t, r, map[string]string{"sql-check": "succeeded", "checks-failed": "succeeded", "notify-stakeholders": "succeeded",
			"repoint-dns": "succeeded", "fence-old-primary": "succeeded"})
		if r.RTO.D() != 20*time.Minute {
			t.Errorf("RTO %s, want 20m", r.RTO)
		}
	})
	t.Run("given up", func(t *testing.T) {
		e, log := newRecoveryEnv(t, loadExample(t, "primary-db-lost"))
		primaryDBLostHealthy(log)
		log.results["write-probe"] = outputs("ok", false)
		who := newPeople(e)
		who.approve(time.Minute, "approve-failover", "bob")
		who.approve(2*time.Minute, "approve-failover", "carol")
		who.reject(15*time.Minute, "checks-failed", "bob", "the replica came up on the wrong timeline")
		e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "primary-db-lost", Requester: "dave"})
		r := recoveryResult(t, e)
		wantFailed(t, e, r, "rejected by bob: the replica came up on the wrong timeline")
		who.allAccepted(t)
		wantSteps(t, r, map[string]string{"checks-failed": "failed", "notify-stakeholders": "not run",
			"repoint-dns": "compensated", "fence-old-primary": "compensated"})
		wantActions(t, log, "check-primary check-replica", "fence-old-primary", "promote-replica", "repoint-dns", "write-probe", "sql-check",
			"repoint-dns.compensate", "fence-old-primary.compensate")
	})
}

func TestExamplePrimaryDBLostEscalatesAnUnansweredApproval(t *testing.T) {
	e, log := newRecoveryEnv(t, loadExample(t, "primary-db-lost"))
	primaryDBLostHealthy(log)
	who := newPeople(e)
	// The gate's timeout is 10m; on expiry it escalates and keeps waiting.
	who.approve(12*time.Minute, "approve-failover", "bob")
	who.approve(13*time.Minute, "approve-failover", "carol")
	e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "primary-db-lost", Requester: "dave"})
	r := recoveryResult(t, e)
	wantSucceeded(t, e, r)
	who.allAccepted(t)
	if got := escalations(e); !slices.Contains(got, "alice, bob, carol") {
		t.Errorf("escalations to %q, want one to the DBA on-call group", got)
	}
	a := step(t, r, "approve-failover").Approval
	if a == nil || !a.Expired || !a.Escalated || !a.Approved || a.Waited != 13*time.Minute {
		t.Errorf("approval %+v", a)
	}
	wantSteps(t, r, map[string]string{"promote-replica": "succeeded", "notify-stakeholders": "succeeded"})
}

// region-outage

func regionOutageHealthy(log *actionLog) {
	log.results["check-primary-region"] = outputs("ok", false)
	log.results["check-dr-database"] = outputs("ok", true, "latency_ms", 3)
	log.results["recover-database.global-failover"] = outputs("writer_cluster_arn", "arn:aws:rds:eu-central-1:123456789012:cluster:web-dr")
	log.results["check-dr-endpoint"] = outputs("ok", true, "status", 200)
	log.results["check-public-dns"] = outputs("ok", true, "answer", "web-dr.eu-central-1.example.com")
}

func TestExampleRegionOutageFailsOverToTheDRRegion(t *testing.T) {
	e, log := newRecoveryEnv(t, loadExample(t, "region-outage"))
	regionOutageHealthy(log)
	who := newPeople(e)
	who.approve(4*time.Minute, "approve-failover", "gina")
	e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "region-outage", Requester: "hugo"})
	r := recoveryResult(t, e)
	wantSucceeded(t, e, r)
	who.allAccepted(t)
	wantSteps(t, r, map[string]string{"check-primary-region": "succeeded", "approve-failover": "succeeded", "recover-database": "succeeded",
		"scale-up-dr": "succeeded", "switch-dns": "succeeded", "check-dr-endpoint": "succeeded",
		"check-public-dns": "succeeded", "dr-unhealthy": "skipped", "notify-stakeholders": "succeeded"})
	wantActions(t, log, "check-primary-region check-dr-database", "recover-database.global-failover scale-up-dr", "switch-dns",
		"check-dr-endpoint check-public-dns")
	if s := step(t, r, "recover-database"); s.Strategy != "global-failover" {
		t.Errorf("recovered by %q, want global-failover", s.Strategy)
	}
	if got := notices(e); !slices.Equal(got, []string{"notify-stakeholders"}) {
		t.Errorf("notices %v", got)
	}
}

func TestExampleRegionOutagePromotesTheReadReplicaWhenTheGlobalFailoverFails(t *testing.T) {
	// The DR tier takes five minutes to scale, so the replica is promoted meanwhile.
	e, log := newRecoveryEnv(t, loadExample(t, "region-outage"), map[string]time.Duration{"scale-up-dr": 5 * time.Minute})
	regionOutageHealthy(log)
	log.errs["recover-database.global-failover"] = refusedByWorker("InvalidGlobalClusterStateFault: the primary cluster cannot be reached")
	who := newPeople(e)
	who.approve(time.Minute, "approve-failover", "alice")
	e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "region-outage", Requester: "hugo"})
	r := recoveryResult(t, e)
	wantSucceeded(t, e, r)
	wantSteps(t, r, map[string]string{"recover-database": "succeeded", "scale-up-dr": "succeeded",
		"switch-dns": "succeeded", "notify-stakeholders": "succeeded"})
	wantActions(t, log, "check-primary-region check-dr-database", "recover-database.global-failover", "recover-database.promote-read-replica", "scale-up-dr",
		"switch-dns", "check-dr-endpoint check-public-dns")
	if s := step(t, r, "recover-database"); s.Strategy != "promote-read-replica" || len(s.Tried) != 2 || s.Tried[0].Status != "failed" {
		t.Errorf("recovered by %q after %+v, want promote-read-replica after the global failover failed", s.Strategy, s.Tried)
	}
	if r.RTO.D() != 6*time.Minute {
		t.Errorf("RTO %s, want 6m", r.RTO)
	}
}

func TestExampleRegionOutageUndoesWhatRanWhenACriticalStepFails(t *testing.T) {
	t.Run("DNS switch refused", func(t *testing.T) {
		e, log := newRecoveryEnv(t, loadExample(t, "region-outage"))
		regionOutageHealthy(log)
		log.errs["switch-dns"] = refusedByWorker("AccessDenied: route53:ChangeResourceRecordSets")
		who := newPeople(e)
		who.approve(time.Minute, "approve-failover", "gina")
		e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "region-outage", Requester: "hugo"})
		r := recoveryResult(t, e)
		wantFailed(t, e, r, "step switch-dns failed: AccessDenied")
		wantSteps(t, r, map[string]string{"recover-database": "succeeded", "scale-up-dr": "compensated", "switch-dns": "failed",
			"check-dr-endpoint": "not run", "dr-unhealthy": "not run", "notify-stakeholders": "not run"})
		wantActions(t, log, "check-primary-region check-dr-database", "recover-database.global-failover scale-up-dr", "switch-dns", "scale-up-dr.compensate")
	})
	t.Run("DR unhealthy and given up", func(t *testing.T) {
		e, log := newRecoveryEnv(t, loadExample(t, "region-outage"))
		regionOutageHealthy(log)
		log.results["check-dr-endpoint"] = outputs("ok", false, "status", 503)
		who := newPeople(e)
		who.approve(time.Minute, "approve-failover", "gina")
		who.reject(20*time.Minute, "dr-unhealthy", "bob", "the DR tier cannot reach the payment provider")
		e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "region-outage", Requester: "hugo"})
		r := recoveryResult(t, e)
		wantFailed(t, e, r, "step dr-unhealthy failed: rejected by bob")
		who.allAccepted(t)
		wantSteps(t, r, map[string]string{"scale-up-dr": "compensated", "switch-dns": "compensated", "dr-unhealthy": "failed",
			"notify-stakeholders": "not run"})
		// DNS goes back first, then the DR tier shrinks.
		wantActions(t, log, "check-primary-region check-dr-database", "recover-database.global-failover scale-up-dr", "switch-dns",
			"check-dr-endpoint check-public-dns", "switch-dns.compensate", "scale-up-dr.compensate")
	})
}

func TestExampleRegionOutageStopsWhenNobodyApprovesInTime(t *testing.T) {
	e, log := newRecoveryEnv(t, loadExample(t, "region-outage"))
	regionOutageHealthy(log)
	e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "region-outage", Requester: "hugo"})
	r := recoveryResult(t, e)
	wantFailed(t, e, r, "step approve-failover failed: nobody decided in time")
	wantSteps(t, r, map[string]string{"approve-failover": "failed", "recover-database": "not run", "scale-up-dr": "not run",
		"switch-dns": "not run", "notify-stakeholders": "not run"})
	wantActions(t, log, "check-primary-region check-dr-database")
	if a := step(t, r, "approve-failover").Approval; a == nil || !a.Expired || a.Approved || a.Waited != 15*time.Minute {
		t.Errorf("approval %+v", a)
	}
	// While it waited, the policy's levels were told: the approvers (gina, alice) at 5m, the incident
	// commander (erin) at 10m; the 15m expiry ends the wait before the repeat round.
	if got := escalations(e); !slices.Equal(got, []string{"gina, alice", "erin"}) {
		t.Errorf("escalations %q, want the approvers then the incident commander", got)
	}
}

func TestExampleRegionOutageDrillUndoesTheFailover(t *testing.T) {
	e, log := newRecoveryEnv(t, loadExample(t, "region-outage"))
	regionOutageHealthy(log)
	who := newPeople(e)
	who.approve(time.Minute, "approve-failover", "gina")
	e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "region-outage", Mode: ModeDrill, Requester: "hugo"})
	r := recoveryResult(t, e)
	wantSucceeded(t, e, r)
	wantSteps(t, r, map[string]string{"recover-database": "succeeded", "scale-up-dr": "compensated", "switch-dns": "compensated",
		"notify-stakeholders": "succeeded"})
	wantActions(t, log, "check-primary-region check-dr-database", "recover-database.global-failover scale-up-dr", "switch-dns",
		"check-dr-endpoint check-public-dns", "switch-dns.compensate", "scale-up-dr.compensate")
}

// deleted-service

func deletedServiceHealthy(log *actionLog) {
	log.results["check-service"] = outputs("ok", false, "status", 404)
	log.results["check-database"] = outputs("ok", true, "value", "true")
	log.results["check-http"] = outputs("ok", true, "status", 200)
	log.results["check-dns"] = outputs("ok", true, "answer", "ingress.example.com")
}

func TestExampleDeletedServiceRestoresOlderSnapshotsByHandAndResumesIngestion(t *testing.T) {
	e, log := newRecoveryEnv(t, loadExample(t, "deleted-service"))
	deletedServiceHealthy(log)
	who := newPeople(e)
	who.approve(10*time.Minute, "assess-deletion", "ken") // ken started the plan, and may mark its manual steps done
	who.approve(20*time.Minute, "approve-restore", "ivan")
	who.choose(25*time.Minute, "which-snapshot", "ivan", "older")
	who.approve(80*time.Minute, "restore-older", "judy")
	e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "deleted-service", Requester: "ken"})
	r := recoveryResult(t, e)
	wantSucceeded(t, e, r)
	who.allAccepted(t)
	wantSteps(t, r, map[string]string{"check-service": "succeeded", "assess-deletion": "succeeded", "approve-restore": "succeeded",
		"which-snapshot": "succeeded", "restore-database": "skipped", "restore-files": "skipped",
		"pause-ingest": "succeeded", "restore-older": "succeeded", "redeploy-service": "succeeded", "check-database": "succeeded",
		"check-http": "succeeded", "check-dns": "succeeded", "resume-ingest": "succeeded", "restore-incomplete": "skipped",
		"notify-stakeholders": "succeeded"})
	takeUnordered(t, log, "check-dns") // optional, and nothing waits for it but the notice
	wantActions(t, log, "check-service", "pause-ingest", "redeploy-service", "check-database check-http", "resume-ingest")
	if r.RTO.D() != 80*time.Minute || r.RTOMet == nil || !*r.RTOMet {
		t.Errorf("RTO %s met %v", r.RTO, r.RTOMet)
	}
}

func TestExampleDeletedServiceResumesIngestionWhenTheRestoreIsNotDoneInTime(t *testing.T) {
	e, log := newRecoveryEnv(t, loadExample(t, "deleted-service"))
	deletedServiceHealthy(log)
	who := newPeople(e)
	who.approve(10*time.Minute, "assess-deletion", "judy")
	who.approve(20*time.Minute, "approve-restore", "erin")
	who.choose(21*time.Minute, "which-snapshot", "erin", "older")
	e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "deleted-service", Requester: "ken"})
	r := recoveryResult(t, e)
	wantFailed(t, e, r, "step restore-older failed: nobody decided in time")
	who.allAccepted(t)
	wantSteps(t, r, map[string]string{"pause-ingest": "compensated", "restore-older": "failed", "redeploy-service": "not run",
		"resume-ingest": "not run", "notify-stakeholders": "not run"})
	wantActions(t, log, "check-service", "pause-ingest", "pause-ingest.compensate")
	if s := step(t, r, "restore-older"); s.Duration.D() != 2*time.Hour {
		t.Errorf("restore-older waited %s, want its 2h timeout", s.Duration)
	}
}

func TestExampleDeletedServiceHandsFailedChecksToTheOnCall(t *testing.T) {
	e, log := newRecoveryEnv(t, loadExample(t, "deleted-service"))
	deletedServiceHealthy(log)
	log.results["check-database"] = outputs("ok", false, "value", "false")
	who := newPeople(e)
	who.approve(10*time.Minute, "assess-deletion", "judy")
	who.approve(20*time.Minute, "approve-restore", "ivan")
	who.choose(21*time.Minute, "which-snapshot", "ivan", "older")
	who.approve(time.Hour, "restore-older", "judy")
	who.approve(90*time.Minute, "restore-incomplete", "judy")
	e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "deleted-service", Requester: "ken"})
	r := recoveryResult(t, e)
	wantSucceeded(t, e, r)
	who.allAccepted(t)
	wantSteps(t, r, map[string]string{"resume-ingest": "skipped", "restore-incomplete": "succeeded", "notify-stakeholders": "succeeded"})
	wantActions(t, log, "check-service", "pause-ingest", "redeploy-service", "check-database check-http check-dns")
}

// corrupted-service

func TestExampleCorruptedServiceRepairsOrRestores(t *testing.T) {
	both := []string{"repair-data", "repair-reindex", "restore-latest", "restore-older", "restore-reindex"}
	for _, tc := range []struct {
		name    string
		people  func(*people)
		choice  string
		branch  []string // the steps that run; the other branch is skipped
		actions string
		rto     time.Duration
	}{
		{
			name: "repair",
			people: func(p *people) {
				p.choose(4*time.Minute, "repair-or-restore", "dave", "repair") // not a decider
				p.choose(5*time.Minute, "repair-or-restore", "carol", "repair")
				p.approve(30*time.Minute, "repair-data", "dave")
			},
			choice: "repair", branch: []string{"repair-data", "repair-reindex"}, actions: "repair-reindex", rto: 30 * time.Minute,
		},
		{
			name: "restore",
			people: func(p *people) {
				p.choose(5*time.Minute, "repair-or-restore", "erin", "restore-older")
				p.approve(time.Hour, "restore-older", "bob")
			},
			choice: "restore-older", branch: []string{"restore-older", "restore-reindex"}, actions: "restore-reindex", rto: time.Hour,
		},
		{
			name: "nobody decides, so restore a snapshot chosen by hand",
			people: func(p *people) {
				p.approve(2*time.Hour, "restore-older", "bob")
			},
			choice: "restore-older", branch: []string{"restore-older", "restore-reindex"}, actions: "restore-reindex", rto: 2 * time.Hour,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, log := newRecoveryEnv(t, loadExample(t, "corrupted-service"))
			log.results["assess-corruption"] = outputs("ok", false, "value", "1834")
			log.results["verify-data"] = outputs("ok", true, "value", "0")
			log.results["check-api"] = outputs("ok", true, "status", 200)
			who := newPeople(e)
			tc.people(who)
			e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "corrupted-service", Requester: "alice"})
			r := recoveryResult(t, e)
			wantSucceeded(t, e, r)
			if tc.name == "repair" {
				if err := who.answer("repair-or-restore", "dave"); err == nil || !strings.Contains(err.Error(), "is not an approver") {
					t.Errorf("dave deciding: %v", err)
				}
				who.allAccepted(t, "repair-or-restore/dave")
			} else {
				who.allAccepted(t)
			}
			if got := step(t, r, "repair-or-restore").Choice; got != tc.choice {
				t.Errorf("choice %q, want %q", got, tc.choice)
			}
			want := map[string]string{"maintenance-on": "succeeded", "assess-corruption": "succeeded", "repair-or-restore": "succeeded",
				"verify-data": "succeeded", "check-api": "succeeded", "still-corrupt": "skipped", "maintenance-off": "succeeded",
				"notify-stakeholders": "succeeded"}
			for _, id := range both {
				want[id] = "skipped"
				if slices.Contains(tc.branch, id) {
					want[id] = "succeeded"
				}
			}
			wantSteps(t, r, want)
			wantActions(t, log, "maintenance-on assess-corruption", tc.actions, "verify-data", "check-api", "maintenance-off")
			if r.RTO.D() != tc.rto {
				t.Errorf("RTO %s, want %s", r.RTO, tc.rto)
			}
		})
	}
}

func TestExampleCorruptedServiceReopensWhenTheDataStaysCorrupt(t *testing.T) {
	e, log := newRecoveryEnv(t, loadExample(t, "corrupted-service"))
	log.results["verify-data"] = outputs("ok", false, "value", "12")
	log.results["check-api"] = outputs("ok", true)
	who := newPeople(e)
	who.choose(5*time.Minute, "repair-or-restore", "carol", "repair")
	who.approve(30*time.Minute, "repair-data", "dave")
	who.reject(45*time.Minute, "still-corrupt", "bob", "the repair script misses the refunds table")
	e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "corrupted-service", Requester: "alice"})
	r := recoveryResult(t, e)
	wantFailed(t, e, r, "step still-corrupt failed: rejected by bob: the repair script misses the refunds table")
	who.allAccepted(t)
	// Maintenance mode is lifted by compensation: the plan gives the service back as it found it.
	wantSteps(t, r, map[string]string{"maintenance-on": "compensated", "still-corrupt": "failed", "maintenance-off": "not run",
		"notify-stakeholders": "not run"})
	wantActions(t, log, "maintenance-on assess-corruption", "repair-reindex", "verify-data", "check-api", "maintenance-on.compensate")
}

// compromised-credentials

func TestExampleCompromisedCredentialsRotatesAndChecks(t *testing.T) {
	e, log := newRecoveryEnv(t, loadExample(t, "compromised-credentials"))
	log.results["check-db-login"] = outputs("ok", true, "value", "1")
	log.results["check-api"] = outputs("ok", true, "status", 200)
	who := newPeople(e)
	who.approve(2*time.Minute, "approve-rotation", "lena")
	who.approve(30*time.Minute, "update-vault", "nina")
	who.approve(45*time.Minute, "audit-access", "mo")
	e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "compromised-credentials", Requester: "ken"})
	r := recoveryResult(t, e)
	wantSucceeded(t, e, r)
	who.allAccepted(t)
	wantSteps(t, r, map[string]string{"approve-rotation": "succeeded", "revoke-sessions": "succeeded", "rotate-db-password": "succeeded",
		"rotate-api-keys": "succeeded", "update-vault": "succeeded", "restart-apps": "succeeded", "check-db-login": "succeeded",
		"check-api": "succeeded", "audit-access": "succeeded", "notify-stakeholders": "succeeded"})
	wantActions(t, log, "revoke-sessions rotate-db-password rotate-api-keys", "restart-apps", "check-db-login check-api")
	if got := notices(e); !slices.Equal(got, []string{"notify-stakeholders"}) {
		t.Errorf("notices %v", got)
	}
}

func TestExampleCompromisedCredentialsSucceedsWithoutTheOptionalAudit(t *testing.T) {
	e, log := newRecoveryEnv(t, loadExample(t, "compromised-credentials"))
	log.results["check-db-login"] = outputs("ok", true)
	log.results["check-api"] = outputs("ok", true)
	who := newPeople(e)
	who.approve(2*time.Minute, "approve-rotation", "mo")
	who.approve(30*time.Minute, "update-vault", "nina")
	e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "compromised-credentials", Requester: "ken"})
	r := recoveryResult(t, e)
	wantSucceeded(t, e, r)
	wantSteps(t, r, map[string]string{"audit-access": "failed", "notify-stakeholders": "succeeded"})
	if s := step(t, r, "audit-access"); s.Error != "nobody decided in time" || s.Duration.D() != 4*time.Hour {
		t.Errorf("audit-access: %q after %s", s.Error, s.Duration)
	}
}

func TestExampleCompromisedCredentialsStopsWhenARotationFails(t *testing.T) {
	e, log := newRecoveryEnv(t, loadExample(t, "compromised-credentials"))
	log.errs["rotate-db-password"] = refusedByWorker("exec rotate-db-password: exit status 2: role orders_app is owned by another cluster")
	who := newPeople(e)
	who.approve(2*time.Minute, "approve-rotation", "lena")
	e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "compromised-credentials", Requester: "ken"})
	r := recoveryResult(t, e)
	wantFailed(t, e, r, "step rotate-db-password failed: exec rotate-db-password: exit status 2")
	// Rotations cannot be undone: the steps that ran stay succeeded; the audit gate is stopped.
	wantSteps(t, r, map[string]string{"revoke-sessions": "succeeded", "rotate-api-keys": "succeeded", "rotate-db-password": "failed",
		"audit-access": "not run", "update-vault": "not run", "restart-apps": "not run", "notify-stakeholders": "not run"})
	wantActions(t, log, "revoke-sessions rotate-db-password rotate-api-keys")
}

// expired-certificate

func TestExampleExpiredCertificateRenewsAndChecks(t *testing.T) {
	t.Run("renewed", func(t *testing.T) {
		e, log := newRecoveryEnv(t, loadExample(t, "expired-certificate"))
		log.results["check-endpoint"] = outputs("ok", false)
		log.results["check-https"] = outputs("ok", true, "status", 200)
		e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "expired-certificate", Requester: "ken"})
		r := recoveryResult(t, e)
		wantSucceeded(t, e, r)
		wantSteps(t, r, map[string]string{"check-endpoint": "succeeded", "renew-certificate": "succeeded", "reload-proxies": "succeeded",
			"check-https": "succeeded", "install-by-hand": "skipped", "notify-stakeholders": "succeeded"})
		takeUnordered(t, log, "check-endpoint")
		wantActions(t, log, "renew-certificate", "reload-proxies", "check-https")
		if got := notices(e); !slices.Equal(got, []string{"notify-stakeholders"}) {
			t.Errorf("notices %v", got)
		}
	})
	t.Run("installed by hand", func(t *testing.T) {
		e, log := newRecoveryEnv(t, loadExample(t, "expired-certificate"))
		log.results["check-https"] = outputs("ok", false, "status", 0)
		who := newPeople(e)
		who.approve(12*time.Minute, "install-by-hand", "nina")
		e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "expired-certificate", Requester: "ken"})
		r := recoveryResult(t, e)
		wantSucceeded(t, e, r)
		who.allAccepted(t)
		wantSteps(t, r, map[string]string{"install-by-hand": "succeeded", "notify-stakeholders": "succeeded"})
	})
}

func TestExampleExpiredCertificateRetriesTheRenewalThenStops(t *testing.T) {
	e, log := newRecoveryEnv(t, loadExample(t, "expired-certificate"))
	log.errs["renew-certificate"] = errors.New("acme: urn:ietf:params:acme:error:rateLimited")
	e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "expired-certificate", Requester: "ken"})
	r := recoveryResult(t, e)
	wantFailed(t, e, r, "step renew-certificate failed")
	wantSteps(t, r, map[string]string{"renew-certificate": "failed", "reload-proxies": "not run", "check-https": "not run",
		"notify-stakeholders": "not run"})
	// retry: {attempts: 3, backoff: 1m}: three attempts, a minute apart (the interval grows
	// no longer than a minute).
	takeUnordered(t, log, "check-endpoint")
	wantActions(t, log, "renew-certificate", "renew-certificate", "renew-certificate")
	if s := step(t, r, "renew-certificate"); s.Duration.D() != 2*time.Minute {
		t.Errorf("renew-certificate took %s, want 2m of backoff", s.Duration)
	}
}

// vault-unavailable

func TestExampleVaultUnavailableWaitsOrBreaksTheGlass(t *testing.T) {
	for _, tc := range []struct {
		name    string
		script  func(*actionLog, *people)
		choice  string
		want    map[string]string
		actions []string
		notices []string
	}{
		{
			name: "vault healthy after all",
			script: func(l *actionLog, _ *people) {
				l.results["check-vault-tcp"] = outputs("ok", true)
				l.results["check-vault-health"] = outputs("ok", true, "status", 200)
			},
			want: map[string]string{"vault-healthy": "succeeded", "wait-or-break-glass": "skipped", "tell-oncall": "skipped",
				"wait-for-recovery": "skipped", "recheck-vault": "skipped", "open-break-glass": "skipped", "enable-break-glass": "skipped",
				"notify-stakeholders": "skipped"},
			actions: []string{"check-vault-tcp check-vault-health"},
			notices: []string{"vault-healthy"},
		},
		{
			name: "wait",
			script: func(l *actionLog, p *people) {
				l.results["check-vault-tcp"] = outputs("ok", false)
				l.results["check-vault-health"] = outputs("ok", false)
				l.results["recheck-vault"] = outputs("ok", true, "status", 200)
				p.choose(3*time.Minute, "wait-or-break-glass", "erin", "wait")
			},
			choice: "wait",
			want: map[string]string{"vault-healthy": "skipped", "wait-or-break-glass": "succeeded", "tell-oncall": "succeeded",
				"wait-for-recovery": "succeeded", "recheck-vault": "succeeded", "still-down": "skipped", "open-break-glass": "skipped",
				"enable-break-glass": "skipped", "check-apps": "skipped", "notify-stakeholders": "succeeded"},
			actions: []string{"check-vault-tcp check-vault-health", "recheck-vault"},
			notices: []string{"tell-oncall", "notify-stakeholders"},
		},
		{
			name: "break glass",
			script: func(l *actionLog, p *people) {
				l.results["check-vault-tcp"] = outputs("ok", true)
				l.errs["check-vault-health"] = refusedByWorker("x509: certificate signed by unknown authority")
				l.results["check-apps"] = outputs("ok", true, "status", 200)
				p.choose(3*time.Minute, "wait-or-break-glass", "lena", "break-glass")
				p.approve(20*time.Minute, "open-break-glass", "mo")
			},
			choice: "break-glass",
			want: map[string]string{"check-vault-health": "failed", "wait-or-break-glass": "succeeded", "wait-for-recovery": "skipped",
				"recheck-vault": "skipped", "still-down": "skipped", "open-break-glass": "succeeded", "enable-break-glass": "succeeded",
				"check-apps": "succeeded", "notify-stakeholders": "succeeded"},
			actions: []string{"check-vault-tcp check-vault-health", "enable-break-glass", "check-apps"},
			notices: []string{"tell-oncall", "notify-stakeholders"},
		},
		{
			name: "nobody decides, so wait, and the vault stays down",
			script: func(l *actionLog, p *people) {
				l.results["check-vault-tcp"] = outputs("ok", false)
				l.results["check-vault-health"] = outputs("ok", false)
				l.results["recheck-vault"] = outputs("ok", false)
				p.approve(time.Hour, "still-down", "nina")
			},
			choice: "wait",
			want: map[string]string{"wait-or-break-glass": "succeeded", "wait-for-recovery": "succeeded", "recheck-vault": "succeeded",
				"still-down": "succeeded", "open-break-glass": "skipped", "notify-stakeholders": "succeeded"},
			actions: []string{"check-vault-tcp check-vault-health", "recheck-vault"},
			notices: []string{"tell-oncall", "notify-stakeholders"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, log := newRecoveryEnv(t, loadExample(t, "vault-unavailable"))
			who := newPeople(e)
			tc.script(log, who)
			e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "vault-unavailable", Requester: "ken"})
			r := recoveryResult(t, e)
			wantSucceeded(t, e, r)
			who.allAccepted(t)
			if got := step(t, r, "wait-or-break-glass").Choice; got != tc.choice {
				t.Errorf("choice %q, want %q", got, tc.choice)
			}
			wantSteps(t, r, tc.want)
			wantActions(t, log, tc.actions...)
			if got := notices(e); !slices.Equal(got, tc.notices) {
				t.Errorf("notices %v, want %v", got, tc.notices)
			}
		})
	}
}

func TestExampleVaultUnavailableCancelledAfterBreakGlassDisablesIt(t *testing.T) {
	// The apps take ten minutes to come back; the plan is stopped meanwhile.
	e, log := newRecoveryEnv(t, loadExample(t, "vault-unavailable"), map[string]time.Duration{"check-apps": 10 * time.Minute})
	log.results["check-vault-tcp"] = outputs("ok", false)
	log.results["check-vault-health"] = outputs("ok", false)
	who := newPeople(e)
	who.choose(3*time.Minute, "wait-or-break-glass", "mo", "break-glass")
	who.approve(20*time.Minute, "open-break-glass", "lena")
	e.RegisterDelayedCallback(e.CancelWorkflow, 25*time.Minute)
	e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "vault-unavailable", Requester: "ken"})
	var canceled *temporal.CanceledError
	if err := e.GetWorkflowError(); !errors.As(err, &canceled) {
		t.Fatalf("error %v, want cancelled", err)
	}
	r := recoveryResult(t, e)
	if r.Status != "canceled" {
		t.Errorf("status %s", r.Status)
	}
	who.allAccepted(t)
	// The check in flight runs to its end; the break-glass credentials are disabled again.
	wantSteps(t, r, map[string]string{"enable-break-glass": "compensated", "check-apps": "succeeded", "notify-stakeholders": "not run"})
	log.mu.Lock()
	ran := slices.DeleteFunc(slices.Clone(log.ran), func(s string) bool { return s == "check-apps" })
	log.mu.Unlock()
	if got := strings.Join(ran[min(2, len(ran)):], " "); got != "enable-break-glass enable-break-glass.compensate" {
		t.Errorf("actions %v", log.ran)
	}
}

// malware

func TestExampleMalwareIsolatesPreservesEvidenceAndRecovers(t *testing.T) {
	for _, tc := range []struct{ choice, manual, other, by string }{
		{"restore-point", "restore-clean-point", "rebuild-hosts", "mo"},
		{"rebuild", "rebuild-hosts", "restore-clean-point", "lena"},
	} {
		t.Run(tc.choice, func(t *testing.T) {
			e, log := newRecoveryEnv(t, loadExample(t, "malware"))
			log.results["check-service"] = outputs("ok", true, "status", 200)
			who := newPeople(e)
			who.approve(30*time.Minute, "forensic-snapshot", "lena")
			who.approve(40*time.Minute, "approve-recovery", "mo")
			who.approve(45*time.Minute, "approve-recovery", "gina")
			who.choose(50*time.Minute, "recovery-source", "erin", tc.choice)
			who.approve(3*time.Hour, tc.manual, tc.by)
			e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "malware", Requester: "hugo"})
			r := recoveryResult(t, e)
			wantSucceeded(t, e, r)
			who.allAccepted(t)
			wantSteps(t, r, map[string]string{"isolate-web-1": "succeeded", "isolate-web-2": "succeeded", "alert-security": "succeeded",
				"forensic-snapshot": "succeeded", "approve-recovery": "succeeded", "recovery-source": "succeeded", tc.manual: "succeeded",
				tc.other: "skipped", "scan-new-hosts": "succeeded", "check-service": "succeeded", "notify-stakeholders": "succeeded"})
			wantActions(t, log, "isolate-web-1 isolate-web-2", "scan-new-hosts", "check-service")
			if got := notices(e); !slices.Equal(got, []string{"alert-security", "notify-stakeholders"}) {
				t.Errorf("notices %v", got)
			}
			if r.RTO.D() != 3*time.Hour || r.RTOMet == nil || !*r.RTOMet {
				t.Errorf("RTO %s met %v", r.RTO, r.RTOMet)
			}
		})
	}
}

// When the scan fails and the plan stops, the infected hosts stay stopped: nothing undoes their
// isolation.
func TestExampleMalwareKeepsInfectedHostsIsolatedWhenTheScanFails(t *testing.T) {
	// web-2 takes a minute to stop, so the hosts are isolated in a known order.
	e, log := newRecoveryEnv(t, loadExample(t, "malware"), map[string]time.Duration{"isolate-web-2": time.Minute})
	log.errs["scan-new-hosts"] = refusedByWorker("exec malware-scan-web: exit status 3: 2 infected files")
	who := newPeople(e)
	who.approve(30*time.Minute, "forensic-snapshot", "mo")
	who.approve(40*time.Minute, "approve-recovery", "lena")
	who.approve(41*time.Minute, "approve-recovery", "gina")
	who.choose(50*time.Minute, "recovery-source", "lena", "restore-point")
	who.approve(2*time.Hour, "restore-clean-point", "hugo") // the requester cannot
	who.approve(3*time.Hour, "restore-clean-point", "mo")
	e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "malware", Requester: "hugo"})
	r := recoveryResult(t, e)
	wantFailed(t, e, r, "step scan-new-hosts failed: exec malware-scan-web: exit status 3")
	who.allAccepted(t, "restore-clean-point/hugo")
	wantSteps(t, r, map[string]string{"isolate-web-1": "succeeded", "isolate-web-2": "succeeded", "scan-new-hosts": "failed",
		"check-service": "not run", "notify-stakeholders": "not run"})
	wantActions(t, log, "isolate-web-1", "isolate-web-2", "scan-new-hosts")
	for _, a := range log.ran {
		if strings.Contains(a, "compensate") {
			t.Fatalf("the plan undid %s: an infected host was started again", a)
		}
	}
}

// critical-vulnerability

func TestExampleCriticalVulnerabilityDecisionTree(t *testing.T) {
	branches := []string{"patch-rollout", "patch-rolling", "patch-all-at-once", "verify-patch", "block-ingress", "check-isolated",
		"approve-shutdown", "scale-to-zero", "status-page"}
	for _, tc := range []struct {
		name    string
		decide  func(*people)
		ran     []string // the branch's steps that ran; the other branch steps are skipped
		actions string
	}{
		{
			name:    "patch, rolling by default",
			decide:  func(p *people) { p.choose(30*time.Minute, "response", "erin", "patch") },
			ran:     []string{"patch-rollout", "patch-rolling", "verify-patch"},
			actions: "patch-rolling verify-patch",
		},
		{
			name: "patch, all at once",
			decide: func(p *people) {
				p.choose(30*time.Minute, "response", "lena", "patch")
				p.choose(35*time.Minute, "patch-rollout", "erin", "all-at-once")
			},
			ran:     []string{"patch-rollout", "patch-all-at-once", "verify-patch"},
			actions: "patch-all-at-once verify-patch",
		},
		{
			name:    "isolate",
			decide:  func(p *people) { p.choose(30*time.Minute, "response", "mo", "isolate") },
			ran:     []string{"block-ingress", "check-isolated"},
			actions: "block-ingress check-isolated",
		},
		{
			name: "shut down",
			decide: func(p *people) {
				p.choose(30*time.Minute, "response", "erin", "shut-down")
				p.approve(40*time.Minute, "approve-shutdown", "gina")
				p.approve(41*time.Minute, "approve-shutdown", "lena")
				p.approve(50*time.Minute, "status-page", "hugo")
			},
			ran:     []string{"approve-shutdown", "scale-to-zero", "status-page"},
			actions: "scale-to-zero",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, log := newRecoveryEnv(t, loadExample(t, "critical-vulnerability"))
			log.results["verify-patch"] = outputs("ok", true, "status", 200)
			log.results["check-isolated"] = outputs("ok", true, "status", 200)
			who := newPeople(e)
			who.approve(20*time.Minute, "assess-exposure", "lena")
			tc.decide(who)
			e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "critical-vulnerability", Requester: "ken"})
			r := recoveryResult(t, e)
			wantSucceeded(t, e, r)
			who.allAccepted(t)
			want := map[string]string{"assess-exposure": "succeeded", "response": "succeeded", "notify-stakeholders": "succeeded"}
			for _, id := range branches {
				want[id] = "skipped"
				if slices.Contains(tc.ran, id) {
					want[id] = "succeeded"
				}
			}
			wantSteps(t, r, want)
			wantActions(t, log, strings.Fields(tc.actions)...)
		})
	}
}

func TestExampleCriticalVulnerabilityShutdownRefusedOrUndone(t *testing.T) {
	t.Run("approver rejects", func(t *testing.T) {
		e, log := newRecoveryEnv(t, loadExample(t, "critical-vulnerability"))
		who := newPeople(e)
		who.approve(20*time.Minute, "assess-exposure", "mo")
		who.choose(30*time.Minute, "response", "erin", "shut-down")
		who.reject(40*time.Minute, "approve-shutdown", "gina", "the WAF rule blocks the exploit; isolate instead")
		e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "critical-vulnerability", Requester: "ken"})
		r := recoveryResult(t, e)
		wantFailed(t, e, r, "step approve-shutdown failed: rejected by gina")
		who.allAccepted(t)
		wantSteps(t, r, map[string]string{"approve-shutdown": "failed", "scale-to-zero": "not run", "status-page": "not run",
			"notify-stakeholders": "not run", "patch-rollout": "skipped", "block-ingress": "skipped"})
		wantActions(t, log)
	})
	t.Run("status page not posted in time", func(t *testing.T) {
		e, log := newRecoveryEnv(t, loadExample(t, "critical-vulnerability"))
		who := newPeople(e)
		who.approve(20*time.Minute, "assess-exposure", "mo")
		who.choose(30*time.Minute, "response", "erin", "shut-down")
		who.approve(40*time.Minute, "approve-shutdown", "gina")
		who.approve(41*time.Minute, "approve-shutdown", "erin")
		e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "critical-vulnerability", Requester: "ken"})
		r := recoveryResult(t, e)
		wantFailed(t, e, r, "step status-page failed: nobody decided in time")
		who.allAccepted(t)
		wantSteps(t, r, map[string]string{"scale-to-zero": "compensated", "status-page": "failed", "notify-stakeholders": "not run"})
		wantActions(t, log, "scale-to-zero", "scale-to-zero.compensate")
	})
	t.Run("nobody chooses a response", func(t *testing.T) {
		e, log := newRecoveryEnv(t, loadExample(t, "critical-vulnerability"))
		who := newPeople(e)
		who.approve(20*time.Minute, "assess-exposure", "mo")
		e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "critical-vulnerability", Requester: "ken"})
		r := recoveryResult(t, e)
		wantFailed(t, e, r, "step response failed: nobody decided in time")
		wantSteps(t, r, map[string]string{"response": "failed", "patch-rollout": "not run", "block-ingress": "not run",
			"approve-shutdown": "not run", "notify-stakeholders": "not run"})
		wantActions(t, log)
		if s := step(t, r, "response"); s.Duration.D() != time.Hour {
			t.Errorf("response waited %s, want its 1h timeout", s.Duration)
		}
	})
}
