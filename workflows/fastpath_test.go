package workflows

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"

	"github.com/lifeboat-dr/lifeboat/activities"
	"github.com/lifeboat-dr/lifeboat/activities/contract"
	"github.com/lifeboat-dr/lifeboat/activities/plan"
)

const boundedChecksPlan = `
apiVersion: lifeboat.dev/v1
kind: RecoveryPlan
metadata: {name: checks}
spec:
  scenario: Checks of every length
  steps:
    - {id: tcp, action: check.tcp, with: {address: "db:5432"}}
    - {id: tcp-2s, action: check.tcp, with: {address: "db:5432", timeout: 2s}}
    - {id: tcp-1m, action: check.tcp, with: {address: "db:5432", timeout: 1m}}
    - {id: http, action: check.http, with: {url: "https://status.example.com"}}
    - {id: http-4s-step, action: check.http, with: {url: "https://status.example.com"}, timeout: 4s}
    - {id: dns, action: check.dns, with: {name: db.example.com}}
`

// A check whose own timeout bounds an attempt to a few seconds runs as a local activity, in the
// workflow's task, with that bound and a little grace as its timeout; a longer one, or an action
// that does not bound itself, runs as an activity unless the step's timeout is as short.
func TestChecksBoundedByTheirOwnTimeoutRunAsLocalActivities(t *testing.T) {
	e, log := newRecoveryEnv(t, boundedChecksPlan)
	e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "checks", Requester: "alice"})
	if r := recoveryResult(t, e); r.Status != plan.StatusSucceeded {
		t.Fatalf("status %s: %s", r.Status, r.Error)
	}
	local := map[string]bool{}
	timeouts := map[string]time.Duration{}
	for step, infos := range log.attempts {
		local[step], timeouts[step] = infos[0].IsLocalActivity, infos[0].StartToCloseTimeout
	}
	want := map[string]bool{"tcp": true, "tcp-2s": true, "tcp-1m": false, "http": false, "http-4s-step": true, "dns": false}
	for step, l := range want {
		if local[step] != l {
			t.Errorf("step %s ran as a local activity: %v, want %v", step, local[step], l)
		}
	}
	if timeouts["tcp"] != 7*time.Second || timeouts["tcp-2s"] != 4*time.Second || timeouts["http-4s-step"] != 4*time.Second || timeouts["http"] != 2*time.Minute {
		t.Errorf("attempt timeouts %v", timeouts)
	}
}

// A worker that keeps no audit ledger is not asked to record a start (the entry would come back
// Skipped); later acts still go to the ledger activity, which decides for itself.
func TestAStartIsLeftOutOfALedgerTheWorkerDoesNotKeep(t *testing.T) {
	for _, ledger := range []bool{true, false} {
		e, log := newRecoveryEnvWith(t, failoverPlan, trustClientDirectory())
		e.noLedger = !ledger
		log.results["check-primary"] = roleResult("unreachable")
		log.results["check-replica"] = roleResult("replica")
		var kinds []string
		e.OnActivity(contract.AppendAudit, mock.Anything, mock.Anything).Return(func(_ context.Context, in contract.AppendAuditInput) (contract.AppendAuditResult, error) {
			e.mu.Lock()
			defer e.mu.Unlock()
			kinds = append(kinds, in.Kind)
			return contract.AppendAuditResult{Skipped: !ledger}, nil
		})
		var bob, carol error
		approveAt(e, time.Minute, "approve", "bob", &bob)
		approveAt(e, 2*time.Minute, "approve", "carol", &carol)
		e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "db-failover", Requester: "alice"})
		if err := errors.Join(e.GetWorkflowError(), bob, carol); err != nil {
			t.Fatalf("ledger %v: %v", ledger, err)
		}
		want := []string{"decision", "decision"}
		if ledger {
			want = append([]string{"start"}, want...)
		}
		if !slices.Equal(kinds, want) {
			t.Errorf("ledger %v: entries sent %v, want %v", ledger, kinds, want)
		}
	}
}

// A missing plan is reported after the run established who started it: someone who may not
// start is refused as such, and a starter who may learns that the plan is missing, as a
// non-retryable PlanInvalid error naming it.
func TestAMissingPlanIsReportedAfterTheStarterIsEstablished(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "other.yaml"), []byte(strings.Replace(boundedChecksPlan, "name: checks", "name: other", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ requester, want, kind string }{
		{"alice", `no plan named "missing"`, contract.ErrTypePlanInvalid},
		{"mallory", "start refused", ErrTypeIdentityRefused},
	} {
		e := newAssetEnv(t, nil)
		e.RegisterActivity(&activities.Runs{Plans: &activities.Plans{Dir: dir}, Identities: &activities.Identities{Directory: trustClientDirectory()}})
		e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "missing", Requester: tc.requester})
		var appErr *temporal.ApplicationError
		err := e.GetWorkflowError()
		if !errors.As(err, &appErr) || appErr.Type() != tc.kind || !appErr.NonRetryable() || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want a non-retryable %s error containing %q", tc.requester, err, tc.kind, tc.want)
		}
	}
}

// A fast-path run of checks alone, on a real server, ends in the workflow task that started it: its
// checks and its plan's loading are local activities. TestReplay replays the same history against
// the current code, which must issue exactly these commands.
func TestAFastRunOfChecksEndsInItsFirstWorkflowTask(t *testing.T) {
	h := historyFiles(t)["recovery_checks_v4.json"]
	if h == nil {
		t.Fatal("no history recovery_checks_v4.json: record it with go test ./workflows -run TestReplay -record")
	}
	counts := map[enumspb.EventType]int{}
	for _, e := range h.Events {
		counts[e.GetEventType()]++
	}
	if counts[enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED] != 1 || counts[enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED] != 0 ||
		counts[enumspb.EVENT_TYPE_MARKER_RECORDED] != 5 || counts[enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED] != 1 {
		t.Errorf("events by type: %v; want one workflow task, no activity task, five markers (the version, the plan, three checks), completed", counts)
	}
}
