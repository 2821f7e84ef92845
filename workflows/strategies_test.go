package workflows

import (
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/activities/contract"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"

	"github.com/lifeboat-dr/lifeboat/activities/plan"
	"github.com/lifeboat-dr/lifeboat/workflows/approval"
)

const strategiesPlan = `
apiVersion: lifeboat.dev/v1
kind: RecoveryPlan
metadata: {name: site-back}
spec:
  scenario: The site's database is lost
  people:
    - {id: alice, name: Alice, channels: {email: alice@example.com}}
    - {id: bob, name: Bob, channels: {email: bob@example.com}}
  steps:
    - id: recover-db
      description: Bring the site back, the fastest way that works.
      strategies:
        - name: promote-replica
          action: postgres.promote
          with: {dsn_secret: orders-replica}
          drill: {with: {dsn_secret: orders-drill-replica}}
          compensate: {action: postgres.fence, with: {dsn_secret: orders-replica}}
        - name: restore-backup
          action: restore.asset
          with: {asset: www, target_dir: /srv/www-restored}
          drill: {with: {target_dir: /srv/drills/www}}
        - name: by-hand
          manual: {instructions: "Rebuild the site from the replica's base backup and WAL archive.", assignees: [bob], timeout: 2h}
    - id: probe
      needs: [recover-db]
      action: postgres.write_probe
      with: {dsn_secret: orders-db}
      drill: {same_targets: true, reason: the probe writes only to its own table}
      compensate: {action: postgres.fence, with: {dsn_secret: orders-db}}
`

// A strategies step tries its strategies in order: the first one that succeeds carries the step,
// and the record says which; when every action fails, the manual procedure is the last resort.
func TestStrategiesFallBackInOrder(t *testing.T) {
	failing := func(msg string) error {
		return temporal.NewNonRetryableApplicationError(msg, contract.ErrTypeActionRefused, nil)
	}
	for _, tc := range []struct {
		name      string
		fail      []string // actions that fail
		approve   bool     // bob does the manual procedure
		status    string
		strategy  string
		ran       string
		tried     string
		errSubstr string
	}{
		{name: "the first succeeds", status: plan.StatusSucceeded, strategy: "promote-replica",
			ran: "recover-db.promote-replica,probe", tried: "promote-replica=succeeded"},
		{name: "the first fails, the second succeeds", fail: []string{"recover-db.promote-replica"}, status: plan.StatusSucceeded,
			strategy: "restore-backup", ran: "recover-db.promote-replica,probe", tried: "promote-replica=failed restore-backup=succeeded"},
		{name: "every action fails, the manual procedure recovers", fail: []string{"recover-db.promote-replica", "restore"}, approve: true,
			status: plan.StatusSucceeded, strategy: "by-hand", ran: "recover-db.promote-replica,probe",
			tried: "promote-replica=failed restore-backup=failed by-hand=succeeded"},
		{name: "everything fails", fail: []string{"recover-db.promote-replica", "restore"}, status: plan.StatusFailed,
			strategy: "by-hand", ran: "recover-db.promote-replica", tried: "promote-replica=failed restore-backup=failed by-hand=failed",
			errSubstr: "every strategy failed: promote-replica failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, log := newRecoveryEnv(t, strategiesPlan)
			for _, step := range tc.fail {
				log.errs[step] = failing(step + " cannot be done")
			}
			restoreFails := false
			for _, f := range tc.fail {
				restoreFails = restoreFails || f == "restore"
			}
			e.onAsset(testAsset())
			e.onResolve()
			if restoreFails {
				e.OnActivity("RestoreAsset", mock.Anything, mock.Anything).Return(contract.RestoreAssetResult{}, failing("pack damaged"))
			} else {
				e.OnActivity("RestoreAsset", mock.Anything, restoreOf(contract.RestoreAssetInput{Asset: "www", Snapshot: snap.ID, TargetDir: "/srv/www-restored"})).
					Return(contract.RestoreAssetResult{Snapshot: snap, TargetDir: "/srv/www-restored", Files: 12}, nil).Once()
			}
			who := newPeople(e)
			if tc.approve {
				who.approve(30*time.Minute, "recover-db", "bob")
			} else {
				who.send(30*time.Minute, approval.Decision{Gate: "recover-db", Approve: false, Reason: "cannot rebuild", Identity: "bob", Channel: approval.ChannelCLI})
			}
			e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "site-back", Requester: "alice"})
			r := recoveryResult(t, e)
			ss := r.Steps[0]
			var tried []string
			for _, tr := range ss.Tried {
				tried = append(tried, tr.Name+"="+tr.Status)
			}
			if ss.Status != tc.status || ss.Strategy != tc.strategy || strings.Join(tried, " ") != tc.tried {
				t.Fatalf("recover-db: %s by %q, tried %v; want %s by %s, tried %s (%s)", ss.Status, ss.Strategy, tried, tc.status, tc.strategy, tc.tried, ss.Error)
			}
			if got := strings.Join(log.ran, ","); got != tc.ran {
				t.Fatalf("actions ran %s, want %s", got, tc.ran)
			}
			if tc.status == plan.StatusSucceeded && !strings.HasPrefix(ss.Summary, "strategy "+tc.strategy+": ") {
				t.Fatalf("summary %q does not name the strategy", ss.Summary)
			}
			if tc.errSubstr != "" && !strings.Contains(ss.Error, tc.errSubstr) {
				t.Fatalf("error %q, want %q", ss.Error, tc.errSubstr)
			}
		})
	}
}

// When a later critical step fails, the strategy that carried the step out is undone — not the
// ones that failed.
func TestStrategiesUndoTheStrategyThatRan(t *testing.T) {
	e, log := newRecoveryEnv(t, strategiesPlan)
	log.errs["probe"] = temporal.NewNonRetryableApplicationError("no writes", contract.ErrTypeActionRefused, nil)
	e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "site-back", Requester: "alice"})
	r := recoveryResult(t, e)
	if got := strings.Join(log.ran, ","); got != "recover-db.promote-replica,probe,recover-db.compensate" {
		t.Fatalf("actions ran %s", got)
	}
	if r.Steps[0].Status != StepCompensated || log.params[2]["dsn_secret"] != "orders-replica" {
		t.Fatalf("recover-db %s, compensation params %v", r.Steps[0].Status, log.params[2])
	}
}

// In a drill, each strategy runs against its drill targets.
func TestStrategiesInADrillUseTheirDrillTargets(t *testing.T) {
	e, log := newRecoveryEnv(t, strategiesPlan)
	log.errs["recover-db.promote-replica"] = temporal.NewNonRetryableApplicationError("no replica", contract.ErrTypeActionRefused, nil)
	e.onAsset(testAsset())
	e.onResolve()
	e.OnActivity("RestoreAsset", mock.Anything, restoreOf(contract.RestoreAssetInput{Asset: "www", Snapshot: snap.ID, TargetDir: "/srv/drills/www"})).
		Return(contract.RestoreAssetResult{Snapshot: snap, TargetDir: "/srv/drills/www", Files: 12}, nil).Once()
	e.ExecuteWorkflow(RecoveryWorkflow, RecoveryInput{Plan: "site-back", Mode: ModeDrill, Requester: "scheduler"})
	r := recoveryResult(t, e)
	if r.Status != plan.StatusSucceeded || log.params[0]["dsn_secret"] != "orders-drill-replica" || r.Steps[0].Strategy != "restore-backup" {
		t.Fatalf("drill %s by %s, promote params %v", r.Status, r.Steps[0].Strategy, log.params)
	}
	// The restore has no compensation; the probe's is undone on its own target.
	if got := strings.Join(log.ran, ","); got != "recover-db.promote-replica,probe,probe.compensate" {
		t.Fatalf("actions ran %s", got)
	}
}
