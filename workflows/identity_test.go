package workflows

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/lifeboat-dr/lifeboat/activities/contract"
	"github.com/lifeboat-dr/lifeboat/activities/plan"
	"github.com/lifeboat-dr/lifeboat/integrations/identity"
	"github.com/lifeboat-dr/lifeboat/workflows/approval"
)

func roleResult(role string) contract.ActionResult {
	return contract.ActionResult{Outputs: map[string]any{"role": role, "lag_seconds": 0.0}}
}

// trustClientDirectory lists failoverPlan's people with their other names.
func trustClientDirectory() *identity.Directory {
	return &identity.Directory{Mode: identity.TrustClient, People: []identity.Person{
		{ID: "alice", Name: "Alice", Email: "alice@example.com", Slack: "U0ALICE"},
		{ID: "bob", Name: "Bob", Email: "bob@example.com", Slack: "U0BOB"},
		{ID: "carol", Name: "Carol"},
	}}
}

// In trust-client mode every name resolves through the directory to one person: the requester
// cannot approve under another of her names, nor one person twice under two, and a name the
// directory lacks is refused. The record says identities were taken as typed.
func TestTrustClientResolvesEveryNameToOnePerson(t *testing.T) {
	e, log := newRecoveryEnvWith(t, failoverPlan, trustClientDirectory())
	log.results["check-primary"] = roleResult("unreachable")
	log.results["check-replica"] = roleResult("replica")
	var alias, stranger, bob, bobAgain, carol error
	approveAt(e, time.Minute, "approve", "U0ALICE", &alias)
	approveAt(e, 2*time.Minute, "approve", "mallory", &stranger)
	approveAt(e, 3*time.Minute, "approve", "bob@example.com", &bob)
	approveAt(e, 4*time.Minute, "approve", "U0BOB", &bobAgain)
	approveAt(e, 5*time.Minute, "approve", "carol", &carol)
	e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "db-failover", Requester: "alice@example.com", Reason: "test"})
	if err := e.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if alias == nil || !strings.Contains(alias.Error(), "cannot approve its own request") {
		t.Errorf("alice approving under her Slack ID: %v", alias)
	}
	if stranger == nil || !strings.Contains(stranger.Error(), "mallory") {
		t.Errorf("a name the directory lacks: %v", stranger)
	}
	if bob != nil || carol != nil {
		t.Fatalf("bob: %v, carol: %v", bob, carol)
	}
	if bobAgain == nil || !strings.Contains(bobAgain.Error(), "already decided") {
		t.Errorf("bob again under his Slack ID: %v", bobAgain)
	}
	r := recoveryResult(t, e)
	if r.Requester != "alice" {
		t.Errorf("requester %q, want alice (resolved from her email)", r.Requester)
	}
	a := r.Steps[2].Approval
	if a == nil || len(a.Decisions) != 2 || a.Decisions[0].Identity != "bob" || a.Decisions[1].Identity != "carol" || a.Decisions[0].Verified {
		t.Errorf("decisions %+v", a)
	}
	if r.Identity == nil || r.Identity.Mode != "trust-client" || !strings.Contains(r.Identity.Warning, "taken as typed") {
		t.Errorf("identity record %+v", r.Identity)
	}
}

// `identity: trust-client` with no people takes names as typed, and says so.
func TestTrustClientWithoutPeopleTakesNamesAsTyped(t *testing.T) {
	e, log := newRecoveryEnvWith(t, failoverPlan, &identity.Directory{Mode: identity.TrustClient})
	log.results["check-primary"] = roleResult("unreachable")
	log.results["check-replica"] = roleResult("replica")
	var self, bob, carol error
	approveAt(e, time.Minute, "approve", "alice", &self)
	approveAt(e, 2*time.Minute, "approve", "bob", &bob)
	approveAt(e, 3*time.Minute, "approve", "carol", &carol)
	e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "db-failover", Requester: "alice"})
	if err := e.GetWorkflowError(); err != nil || bob != nil || carol != nil {
		t.Fatalf("run %v; bob %v, carol %v", err, bob, carol)
	}
	if self == nil || !strings.Contains(self.Error(), "cannot approve its own request") {
		t.Errorf("self-approval: %v", self)
	}
	if r := recoveryResult(t, e); r.Identity == nil || !strings.Contains(r.Identity.Warning, "taken as typed") {
		t.Errorf("identity record %+v", r.Identity)
	}
}

// verifiedDirectory lists failoverPlan's people, each with a key of their own.
func verifiedDirectory(t *testing.T) (*identity.Directory, map[string]ed25519.PrivateKey) {
	t.Helper()
	d := &identity.Directory{Mode: identity.Verified}
	keys := map[string]ed25519.PrivateKey{}
	for _, id := range []string{"alice", "bob", "carol"} {
		pemKey, pub, err := identity.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		if keys[id], err = identity.ParsePrivateKey(pemKey); err != nil {
			t.Fatal(err)
		}
		d.People = append(d.People, identity.Person{ID: id, Name: id, Keys: []string{pub}})
	}
	return d, keys
}

func sign(t *testing.T, key ed25519.PrivateKey, a identity.Assertion, now time.Time, ttl time.Duration) string {
	t.Helper()
	a.Issuer, a.Channel = identity.SelfIssuer, "key"
	tok, err := identity.Sign(a, identity.DefaultAudience, key, now, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// A verified deployment refuses a start that only types a name.
func TestVerifiedDirectoryRefusesATypedRequester(t *testing.T) {
	dir, _ := verifiedDirectory(t)
	e, log := newRecoveryEnvWith(t, failoverPlan, dir)
	e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "db-failover", Requester: "alice"})
	var appErr *temporal.ApplicationError
	if err := e.GetWorkflowError(); !errors.As(err, &appErr) || appErr.Type() != ErrTypeIdentityRefused || !strings.Contains(err.Error(), "this deployment verifies identities") {
		t.Fatalf("start with a typed requester: %v", err)
	}
	if len(log.ran) != 0 {
		t.Errorf("steps ran: %v", log.ran)
	}
}

// In a verified deployment the start and each decision carry an assertion the run checks: for this
// workflow, this gate and this answer, unexpired; the record says who was verified.
func TestVerifiedAssertionsStartAndDecide(t *testing.T) {
	dir, keys := verifiedDirectory(t)
	e, log := newRecoveryEnvWith(t, failoverPlan, dir)
	const wf = "recovery-db-failover"
	e.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: wf})
	log.results["check-primary"] = roleResult("unreachable")
	log.results["check-replica"] = roleResult("replica")
	start := sign(t, keys["alice"], identity.Assertion{Person: "alice", Act: identity.ActStart, Workflow: wf, Subject: "db-failover"}, e.Now(), 5*time.Minute)

	decision := func(who string, a identity.Assertion, ttl time.Duration) approval.Decision {
		a.Person, a.Act = who, identity.ActDecide
		if a.Workflow == "" {
			a.Workflow = wf
		}
		if a.Gate == "" {
			a.Gate = "approve"
		}
		return approval.Decision{Gate: "approve", Approve: true, Assertion: sign(t, keys[who], a, e.Now(), ttl)}
	}
	var otherGate, otherWorkflow, rejectToken, forged, expired, bob, carol error
	at := func(d time.Duration, name string, f func() approval.Decision, result *error) {
		e.RegisterDelayedCallback(func() { decide(e, name, f(), result) }, d)
	}
	at(time.Minute, "other-gate", func() approval.Decision {
		return decision("bob", identity.Assertion{Gate: "other", Approve: true}, time.Minute)
	}, &otherGate)
	at(time.Minute, "other-workflow", func() approval.Decision {
		return decision("bob", identity.Assertion{Workflow: "recovery-other", Approve: true}, time.Minute)
	}, &otherWorkflow)
	at(time.Minute, "reject-token", func() approval.Decision {
		return decision("bob", identity.Assertion{Approve: false}, time.Minute)
	}, &rejectToken)
	at(time.Minute, "forged", func() approval.Decision { // bob's name, carol's key
		d := decision("carol", identity.Assertion{Approve: true}, time.Minute)
		d.Assertion = sign(t, keys["carol"], identity.Assertion{Person: "bob", Act: identity.ActDecide, Workflow: wf, Gate: "approve", Approve: true}, e.Now(), time.Minute)
		return d
	}, &forged)
	var stale approval.Decision
	e.RegisterDelayedCallback(func() { stale = decision("carol", identity.Assertion{Approve: true}, 30*time.Second) }, 90*time.Second)
	e.RegisterDelayedCallback(func() { decide(e, "expired", stale, &expired) }, 3*time.Minute)
	at(4*time.Minute, "bob", func() approval.Decision { return decision("bob", identity.Assertion{Approve: true}, time.Minute) }, &bob)
	at(5*time.Minute, "carol", func() approval.Decision { return decision("carol", identity.Assertion{Approve: true}, time.Minute) }, &carol)

	e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "db-failover", Assertion: start})
	if err := e.GetWorkflowError(); err != nil || bob != nil || carol != nil {
		t.Fatalf("run %v; bob %v, carol %v", err, bob, carol)
	}
	for name, c := range map[string]struct {
		err  error
		want string
	}{
		"a token for another gate":     {otherGate, `it is for gate "other"`},
		"a token for another workflow": {otherWorkflow, `it is for workflow "recovery-other"`},
		"a rejection token to approve": {rejectToken, `it is for decision "reject"`},
		"bob's name under carol's key": {forged, "signature"},
		"a token past its expiry":      {expired, "expired"},
	} {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("%s: %v, want a refusal saying %q", name, c.err, c.want)
		}
	}
	r := recoveryResult(t, e)
	if r.Requester != "alice" || r.Identity == nil || !r.Identity.StartVerified || r.Identity.Mode != "verified" || r.Identity.Warning != "" {
		t.Errorf("requester %q, identity record %+v", r.Requester, r.Identity)
	}
	a := r.Steps[2].Approval
	if a == nil || len(a.Decisions) != 2 || !a.Decisions[0].Verified || !a.Decisions[1].Verified || a.Decisions[0].Assertion != "" {
		t.Errorf("decisions %+v", a)
	}
	if r.Status != plan.StatusSucceeded {
		t.Errorf("status %s", r.Status)
	}
}

const commandedPlan = `
apiVersion: lifeboat.dev/v1
kind: RecoveryPlan
metadata: {name: commanded}
spec:
  scenario: Acknowledgement rules
  people:
    - {id: oncall, name: On-call, channels: {sms: "+15555550100"}}
    - {id: lead, name: Lead, channels: {sms: "+15555550101"}}
    - {id: ic, name: Commander, channels: {sms: "+15555550102"}}
    - {id: bystander, name: Bystander, channels: {sms: "+15555550103"}}
  roles: {incident_commander: [ic], executors: [oncall]}
  steps:
    - id: slow
      action: aws.ec2_start
      with: {instance_id: i-1, region: eu-west-1}
      escalation:
        levels:
          - {after: 10m, notify: [lead]}
`

// Only the people a step's escalation paged acknowledge it, only the incident commander silences
// the run, and only an executor or the incident commander starts it.
func TestAcknowledgementsAndStartsFollowThePlansRoles(t *testing.T) {
	dir := &identity.Directory{Mode: identity.TrustClient, People: []identity.Person{
		{ID: "oncall", Name: "On-call"}, {ID: "lead", Name: "Lead"}, {ID: "ic", Name: "Commander"}, {ID: "bystander", Name: "Bystander"}}}

	e, _ := newRecoveryEnvWith(t, commandedPlan, dir)
	e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "commanded", Requester: "bystander"})
	if err := e.GetWorkflowError(); err == nil || !strings.Contains(err.Error(), "bystander may not start plan commanded") {
		t.Fatalf("a start by someone neither executor nor incident commander: %v", err)
	}

	e, _ = newRecoveryEnvWith(t, commandedPlan, dir, map[string]time.Duration{"slow": time.Hour})
	var early, bystander, lead, silenceByOncall, silenceByIC error
	acknowledgeAt(e, 5*time.Minute, Acknowledgement{Identity: "lead", Step: "slow"}, &early)
	acknowledgeAt(e, 12*time.Minute, Acknowledgement{Identity: "bystander", Step: "slow"}, &bystander)
	acknowledgeAt(e, 13*time.Minute, Acknowledgement{Identity: "lead", Step: "slow"}, &lead)
	acknowledgeAt(e, 14*time.Minute, Acknowledgement{Identity: "oncall"}, &silenceByOncall)
	acknowledgeAt(e, 15*time.Minute, Acknowledgement{Identity: "ic"}, &silenceByIC)
	e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "commanded", Requester: "oncall"})
	if err := e.GetWorkflowError(); err != nil || lead != nil || silenceByIC != nil {
		t.Fatalf("run %v; lead %v; incident commander %v", err, lead, silenceByIC)
	}
	if early == nil || !strings.Contains(early.Error(), "lead was not paged for step slow (paged or asked: nobody yet)") {
		t.Errorf("lead before being paged: %v", early)
	}
	if bystander == nil || !strings.Contains(bystander.Error(), "bystander was not paged for step slow (paged or asked: lead)") {
		t.Errorf("bystander: %v", bystander)
	}
	if silenceByOncall == nil || !strings.Contains(silenceByOncall.Error(), "only the incident commander may (ic)") {
		t.Errorf("silence by on-call: %v", silenceByOncall)
	}
	if r := recoveryResult(t, e); len(r.Acknowledgements) != 2 || r.Acknowledgements[0].Identity != "lead" || r.Acknowledgements[1].Identity != "ic" {
		t.Errorf("acknowledgements recorded: %+v", r.Acknowledgements)
	}
}

// Every start, decision, refused signal and override reaches the audit ledger, and the record
// links each to its entry; a ledger that cannot be written delays and fails nothing, and the record
// says which entries are missing.
func TestRunsRecordTheirActsInTheAuditLedger(t *testing.T) {
	for _, damaged := range []bool{false, true} {
		e, log := newRecoveryEnvWith(t, failoverPlan, trustClientDirectory())
		log.results["check-primary"] = roleResult("unreachable")
		log.results["check-replica"] = roleResult("replica")
		var entries []contract.AppendAuditInput
		e.OnActivity(contract.AppendAudit, mock.Anything, mock.Anything).Return(func(_ context.Context, in contract.AppendAuditInput) (contract.AppendAuditResult, error) {
			if damaged {
				return contract.AppendAuditResult{}, temporal.NewNonRetryableApplicationError("the ledger's head is unreadable", contract.ErrTypeAuditLedgerDamaged, nil)
			}
			entries = append(entries, in)
			return contract.AppendAuditResult{Seq: uint64(len(entries)), Hash: fmt.Sprintf("h%d", len(entries))}, nil
		})
		var bob, carol error
		e.RegisterDelayedCallback(func() {
			e.SignalWorkflow(approval.SignalDecide, approval.Decision{Gate: "approve", Approve: true, Identity: "alice@example.com"})
		}, time.Minute)
		approveAt(e, 2*time.Minute, "approve", "bob", &bob)
		approveAt(e, 3*time.Minute, "approve", "carol", &carol)
		e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "db-failover", Requester: "alice", Reason: "primary lost"})
		if err := e.GetWorkflowError(); err != nil || bob != nil || carol != nil {
			t.Fatalf("damaged %v: run %v; bob %v, carol %v", damaged, err, bob, carol)
		}
		r := recoveryResult(t, e)
		if damaged {
			if len(r.Audit) != 4 || !strings.Contains(r.Audit[0].Error, "unreadable") || r.Status != plan.StatusSucceeded {
				t.Errorf("with a damaged ledger: status %s, audit %+v", r.Status, r.Audit)
			}
			continue
		}
		var got []string
		for _, in := range entries {
			got = append(got, in.Kind+":"+in.Actor+":"+in.Subject)
		}
		want := []string{"start:alice:db-failover", "refusal:alice:db-failover/approve", "decision:bob:db-failover/approve", "decision:carol:db-failover/approve"}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("ledger entries %v, want %v", got, want)
		}
		if entries[1].Details["refused"] == "" || entries[2].Details["decision"] != "approve" || entries[0].Details["mode"] != ModeRecovery {
			t.Errorf("details: %v / %v / %v", entries[0].Details, entries[1].Details, entries[2].Details)
		}
		if len(r.Audit) != 4 || r.Audit[2].Kind != "decision" || r.Audit[2].Actor != "bob" || r.Audit[2].Seq != 3 || r.Audit[2].Hash != "h3" {
			t.Errorf("the record's links to the ledger: %+v", r.Audit)
		}
	}
}

// With a directory, only an asset's owners (groups expanded) ask for a restore, under any of their
// names, and the owners approve; the requester's own alias is refused.
func TestRestoreIsAskedAndApprovedByOwnersOnly(t *testing.T) {
	dir := &identity.Directory{Mode: identity.TrustClient, People: []identity.Person{
		{ID: "alice", Name: "Alice", Slack: "U0ALICE"}, {ID: "bob", Name: "Bob"}, {ID: "mallory", Name: "Mallory"}},
		Groups: []identity.Group{{ID: "web", Members: []string{"alice", "bob"}}}}
	run := func(requester string, decisions ...approval.Decision) (*assetEnv, []error, bool) {
		e := newAssetEnv(t, nil)
		e.OnActivity(contract.LoadIdentity, mock.Anything, mock.Anything).Return(contract.LoadIdentityResult{Directory: *dir, Configured: true}, nil)
		as := testAsset()
		as.Owners = []string{"web"}
		e.onAsset(as)
		e.onResolve()
		restored := false
		e.OnActivity("RestoreAsset", mock.Anything, mock.Anything).Return(func(context.Context, contract.RestoreAssetInput) (contract.RestoreAssetResult, error) {
			restored = true
			return contract.RestoreAssetResult{Snapshot: snap, TargetDir: "/srv/www"}, nil
		})
		errs := make([]error, len(decisions))
		for i, d := range decisions {
			e.RegisterDelayedCallback(func() { decide(e, fmt.Sprint("d", i), d, &errs[i]) }, time.Duration(i+1)*time.Minute)
		}
		e.ExecuteWorkflow(RestoreWorkflow, RestoreInput{Asset: "www", InPlace: true, Requester: requester})
		return e, errs, restored
	}

	e, _, restored := run("mallory")
	if err := e.GetWorkflowError(); err == nil || !strings.Contains(err.Error(), "mallory may not restore www: only its owners may (alice, bob)") || restored {
		t.Fatalf("a restore asked by someone not an owner: %v (restored %v)", err, restored)
	}

	e, errs, restored := run("U0ALICE",
		approval.Decision{Gate: GateRestoreInPlace, Approve: true, Identity: "alice"},
		approval.Decision{Gate: GateRestoreInPlace, Approve: true, Identity: "mallory"},
		approval.Decision{Gate: GateRestoreInPlace, Approve: true, Identity: "bob"})
	if err := e.GetWorkflowError(); err != nil || !restored {
		t.Fatalf("alice's restore: %v (restored %v)", err, restored)
	}
	if errs[0] == nil || !strings.Contains(errs[0].Error(), "cannot approve its own request") {
		t.Errorf("alice approving her own restore: %v", errs[0])
	}
	if errs[1] == nil || !strings.Contains(errs[1].Error(), "not an approver") {
		t.Errorf("mallory approving: %v", errs[1])
	}
	if errs[2] != nil {
		t.Errorf("bob approving: %v", errs[2])
	}
	var r RestoreResult
	if err := e.GetWorkflowResult(&r); err != nil || r.Requester != "alice" {
		t.Errorf("requester %q, %v", r.Requester, err)
	}
}
