package workflows

import (
	"strings"
	"testing"

	"github.com/lifeboat-dr/lifeboat/activities/plan"
)

const parentPlan = `
apiVersion: lifeboat.dev/v1
kind: RecoveryPlan
metadata: {name: site}
spec:
  scenario: The site and its database are down
  steps:
    - id: check
      action: check.tcp
      with: {address: "site.internal:443"}
    - id: database
      needs: [check]
      plan: {name: site-db}
    - id: after
      needs: [database]
      action: check.http
      with: {url: "https://site.example.com/healthz"}
`

const childPlan = `
apiVersion: lifeboat.dev/v1
kind: RecoveryPlan
metadata: {name: site-db}
spec:
  scenario: The site's database is down
  steps:
    - id: promote
      action: postgres.promote
      with: {dsn_secret: site-replica}
      drill: {with: {dsn_secret: site-drill-replica}}
      compensate: {action: postgres.fence, with: {dsn_secret: site-replica}}
`

// newChildPlanEnv runs parentPlan, whose database step runs childPlan as a child workflow.
func newChildPlanEnv(t *testing.T) (*assetEnv, *actionLog) {
	t.Helper()
	e, log := newRecoveryEnv(t, parentPlan)
	child, err := plan.Parse([]byte(childPlan))
	if err != nil {
		t.Fatal(err)
	}
	e.onLoadRun(child, "def", nil)
	return e, log
}

// A plan step runs another plan as a child workflow: its steps run through the same actions, the
// parent waits for it, and the record says how it went.
func TestChildPlanStepRunsThePlan(t *testing.T) {
	e, log := newChildPlanEnv(t)
	e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "site", Requester: "alice"})
	r := recoveryResult(t, e)
	if r.Status != plan.StatusSucceeded {
		t.Fatalf("status %s: %s", r.Status, r.Error)
	}
	if got := strings.Join(log.ran, ","); got != "check,promote,after" {
		t.Fatalf("actions ran %s", got)
	}
	if s := r.Steps[1]; s.ID != "database" || s.Status != plan.StatusSucceeded || !strings.HasPrefix(s.Summary, "plan site-db succeeded") {
		t.Fatalf("the child plan's step: %+v", s)
	}
}

// In a drill the child plan is drilled too: against its drill targets, and undone before the
// parent goes on.
func TestChildPlanStepInADrill(t *testing.T) {
	e, log := newChildPlanEnv(t)
	e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "site", Mode: ModeDrill, Requester: "scheduler"})
	r := recoveryResult(t, e)
	if r.Status != plan.StatusSucceeded {
		t.Fatalf("status %s: %s", r.Status, r.Error)
	}
	if got := strings.Join(log.ran, ","); got != "check,promote,promote.compensate,after" {
		t.Fatalf("actions ran %s", got)
	}
	if log.params[1]["dsn_secret"] != "site-drill-replica" || log.params[2]["dsn_secret"] != "site-drill-replica" {
		t.Fatalf("the child's drill used %v and %v", log.params[1], log.params[2])
	}
}
