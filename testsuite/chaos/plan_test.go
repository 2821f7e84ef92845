package chaos_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/lifeboat-dr/lifeboat/activities/plan"
	"github.com/lifeboat-dr/lifeboat/testsuite/chaos"
	"github.com/lifeboat-dr/lifeboat/testsuite/devserver"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

const planAsset = "pl"

// planYAML is the recovery plan of plan-kill and server-restart: announce, wait for approval,
// restore the asset into a new directory, tell everyone, all clear. With updates on, the run also
// sends its start and end.
const planYAML = `apiVersion: lifeboat.dev/v1
kind: RecoveryPlan
metadata: {name: %s, description: Bring the site's files back from the last snapshot}
spec:
  scenario: The site's files are lost
  people:
    - {id: alice, name: Alice, channels: {email: alice@example.com}}
    - {id: bob, name: Bob, channels: {email: bob@example.com}}
  updates: {to: [bob]}
  steps:
    - id: announce
      notify: {to: [bob], message: restoring the site from its last snapshot}
    - id: approve
      needs: [announce]
      approval: {approvers: [bob], timeout: 30m}
    - id: restore
      needs: [approve]
      action: restore.asset
      with: {asset: %s, target_dir: %q}
    - id: tell
      needs: [restore]
      action: notify
      with: {message: the site's files are back}
    - id: all-clear
      needs: [tell]
      notify: {to: [alice, bob], message: all clear}
`

// planFixture is what plan-kill's and server-restart's trials share: a repository with a snapshot
// of the data set, the restore root, and what a run without faults takes and sends.
type planFixture struct {
	data  string
	tree  chaos.Tree
	repo  string
	roots string
	cal   time.Duration
	// calRestore is how long the restore step takes without faults.
	calRestore time.Duration
	expected   []string // notification keys of a run without faults
}

func (h *harness) planFixture(t *testing.T, scenario string) *planFixture {
	data, tree := h.data(t)
	shared := h.scenarioDir(t, scenario)
	f := &planFixture{data: data, tree: tree, repo: filepath.Join(shared, "repo"), roots: filepath.Join(shared, "restores")}
	h.setup(t, scenario, func(tr *trial) error {
		if err := chaos.WriteDataset(filepath.Join(f.roots, "bystander"), tr.seed, chaos.Dataset{SmallFiles: 40, SmallMax: 4 << 10}); err != nil {
			return err
		}
		r, err := f.run(tr, h.temporal, h.client, func(ctx context.Context, tr *trial, wfID string) error {
			var err error
			f.calRestore, err = tr.timeStep(h.client, wfID+".restore", "RestoreAsset")
			return err
		})
		if err != nil {
			return err
		}
		f.cal, f.expected = r.took, r.keys
		if len(r.twice) > 0 {
			return fmt.Errorf("without faults, notifications were sent twice: %s", strings.Join(r.twice, "; "))
		}
		return nil
	})
	h.results.Note(scenario, "the plan runs %s without faults (approval included; its restore step %s) and sends %d notifications: %s",
		f.cal.Round(time.Millisecond), f.calRestore.Round(time.Millisecond), len(f.expected), strings.Join(f.expected, ", "))
	return f
}

// planRun is what a run of the plan did.
type planRun struct {
	took    time.Duration
	keys    []string // notification keys, normalized
	twice   []string
	repeats int
	refused int
}

// faultFunc injects faults into a running plan: it is called once the plan has started and returns
// when it has done its work (or ctx ends), recording in tr what it did.
type faultFunc func(ctx context.Context, tr *trial, wfID string) error

// run runs the plan once in trial tr, with faults injected by fault (nil: none), and checks its
// outcome: completed, the data restored byte-identical, nothing else in the restore root changed,
// the data set untouched, every notification of a run without faults delivered and none twice.
func (f *planFixture) run(tr *trial, temporal *devserver.Server, c client.Client, fault faultFunc) (planRun, error) {
	var out planRun
	name := fmt.Sprintf("chaos-%s-%s", strings.ReplaceAll(tr.name, "-", ""), strings.TrimPrefix(filepath.Base(tr.dir), "trial-"))
	target := filepath.Join(f.roots, name, "target")
	plansDir := tr.path("plans")
	if err := os.MkdirAll(plansDir, 0o755); err != nil {
		return out, err
	}
	planText := fmt.Sprintf(planYAML, name, planAsset, target)
	if _, err := plan.Parse([]byte(planText)); err != nil {
		return out, fmt.Errorf("the plan does not parse: %w", err)
	}
	if err := os.WriteFile(filepath.Join(plansDir, name+".yaml"), []byte(planText), 0o644); err != nil {
		return out, err
	}
	inbox := chaos.NewInbox(hookSecret, 0.1, tr.seed)
	defer inbox.Close()
	cfg, err := tr.writeConfig(workerConf{taskQueue: tr.taskQueue(), restoreRoots: []string{f.roots}, scratchDir: f.roots, plansDir: plansDir, webhook: inbox.URL,
		assets: []assetConf{{name: planAsset, paths: []string{f.data}, location: f.repo}}})
	if err != nil {
		return out, err
	}
	if _, err := tr.workerOn(cfg, temporal); err != nil {
		return out, err
	}
	if _, err := os.Stat(filepath.Join(f.repo, "config")); err != nil {
		// The first run makes the snapshot the plan restores.
		if r, err := tr.lifeboatOn(cfg, temporal, nil, "backup", "run", planAsset, "--skip-retention", "-o", "json"); err != nil || r.code != 0 {
			return out, fmt.Errorf("backup: %v %v", r, err)
		}
	}
	rootBefore, err := chaos.ReadTree(f.roots)
	if err != nil {
		return out, err
	}

	began := time.Now()
	var st started
	for {
		r, err := tr.lifeboatOn(cfg, temporal, nil, "failover", name, "--requester", "alice", "--reason", "chaos", "--no-wait", "-o", "json")
		if err != nil {
			return out, err
		}
		if r.code == 0 {
			if err := jsonInto(r.stdout, &st); err != nil {
				return out, err
			}
			break
		}
		if r.code != 4 || time.Since(began) > 2*time.Minute { // 4: Temporal unreachable (restarting)
			return out, fmt.Errorf("failover %s: %s", name, r)
		}
		time.Sleep(500 * time.Millisecond)
	}
	var wg sync.WaitGroup
	var faultErr error
	if fault != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			faultErr = fault(tr.ctx, tr, st.WorkflowID)
		}()
	}
	if fault != nil && tr.index >= 0 {
		// Approve a moment late, so that faults can come while the gate waits.
		time.Sleep(time.Duration(tr.fraction(0, 1.5) * float64(time.Second)))
	}
	approveErr := tr.approve(cfg, temporal, st.WorkflowID, "approve", "bob")
	var res workflows.RecoveryResult
	resErr := tr.result(c, st.WorkflowID, &res)
	out.took = time.Since(began)
	wg.Wait()
	switch {
	case faultErr != nil:
		return out, fmt.Errorf("injecting the fault: %w", faultErr)
	case approveErr != nil:
		return out, approveErr
	case resErr != nil:
		return out, fmt.Errorf("the plan did not complete: %w", resErr)
	case res.Status != "succeeded":
		return out, fmt.Errorf("the plan ended %s: %s", res.Status, res.Error)
	}

	// Messages sent while the run ended have arrived: the run waits for them before it returns.
	ds := inbox.Deliveries()
	tally := chaos.TallyDeliveries(ds)
	out.repeats = tally.Repeats
	out.refused, _ = inbox.Refused()
	for k := range tally.Notifications {
		out.keys = append(out.keys, normalizeKey(k, st.WorkflowID))
	}
	slices.Sort(out.keys)
	out.twice = tally.Twice()
	if _, bad := inbox.Refused(); bad > 0 {
		return out, fmt.Errorf("%d webhook deliveries had a bad signature or body", bad)
	}
	if err := checkTreeSame("the plan's restored directory", target, f.tree, chaos.Compare{}); err != nil {
		return out, err
	}
	if err := checkNoTemps("the restore root", f.roots); err != nil {
		return out, err
	}
	rootAfter, err := chaos.ReadTree(f.roots)
	if err != nil {
		return out, err
	}
	if d := rootBefore.Diff(rootAfter.Without(name), chaos.Compare{ModTimes: true, DirModes: true, DirTimes: true}, 10); len(d) > 0 {
		return out, fmt.Errorf("outside the plan's target, the restore root changed: %s", strings.Join(d, "; "))
	}
	if err := checkTreeSame("the backed-up data", f.data, f.tree, chaos.Compare{ModTimes: true, DirModes: true}); err != nil {
		return out, err
	}
	_ = os.RemoveAll(filepath.Join(f.roots, name))
	return out, nil
}

// checkNotifications compares a faulty run's notifications with a clean run's.
func (f *planFixture) checkNotifications(tr *trial, r planRun) error {
	var missing []string
	for _, k := range f.expected {
		if !slices.Contains(r.keys, k) {
			missing = append(missing, k)
		}
	}
	tr.count("deliveries repeated under the same ID (dropped by the receiver)", r.repeats)
	tr.count("deliveries refused with 503 by the receiver and sent again", r.refused)
	if r.repeats > 0 {
		tr.t.Logf("%d deliveries repeated with the same ID (dropped by the receiver); %d refused with 503 on purpose", r.repeats, r.refused)
	}
	switch {
	case len(r.twice) > 0:
		return fmt.Errorf("notifications sent twice, under different delivery IDs: %s", strings.Join(r.twice, "; "))
	case len(missing) > 0:
		return fmt.Errorf("notifications never delivered: %s (delivered: %s)", strings.Join(missing, ", "), strings.Join(r.keys, ", "))
	}
	return nil
}

// normalizeKey takes the run's workflow ID out of a notification key, so that runs compare.
func normalizeKey(k, wfID string) string {
	return strings.ReplaceAll(k, wfID, "RUN")
}

// approve decides gate (every open one when empty) of workflow id as who with `lifeboat approve`
// through temporal (nil: the harness's server), trying again until the gate is open.
func (tr *trial) approve(config string, temporal *devserver.Server, id, gate, who string) error {
	args := []string{"approve", id, "--as", who, "-o", "json"}
	if gate != "" {
		args = append(args, "--gate", gate)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		r, err := tr.lifeboatOn(config, temporal, nil, args...)
		if err != nil {
			return err
		}
		if r.code == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("approve %s as %s: %s", id, who, r)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// planKill: the worker running a recovery plan (announce, approval, restore, notify) is killed at
// one or two random moments and restarted at once. The plan completes, the data is restored
// byte-identical, every notification arrives and none is sent twice.
func planKill(t *testing.T, h *harness, trials []int) {
	f := h.planFixture(t, "plan-kill")
	for _, i := range trials {
		h.runTrial(t, "plan-kill", i, func(tr *trial) error {
			r, err := f.run(tr, h.temporal, h.client, f.killWorkers)
			if err != nil {
				return err
			}
			return f.checkNotifications(tr, r)
		})
	}
}

// phases are the moments of a plan faults aim at: early (the announcement, the gate), during the
// restore step, and late (the last notifications, the end of the run).
var phases = []string{"early", "restore", "late"}

// pickPhases picks one or two phases, in the order they come. The short run aims one fault at the
// restore step, whose worker's death is noticed by its heartbeat timeout (a notification's, by its
// one-minute start-to-close timeout).
func (tr *trial) pickPhases() []string {
	if tr.h.short {
		return []string{"restore"}
	}
	a := tr.rng.IntN(len(phases))
	if tr.rng.IntN(2) == 0 || a == len(phases)-1 {
		return []string{phases[a]}
	}
	return []string{phases[a], phases[a+1+tr.rng.IntN(len(phases)-a-1)]}
}

// waitPhase waits until the plan reaches the phase, then a random moment into it.
func (f *planFixture) waitPhase(ctx context.Context, tr *trial, c client.Client, wfID, phase string) {
	sleep := func(d time.Duration) {
		select {
		case <-ctx.Done():
		case <-time.After(d):
		}
	}
	child := wfID + ".restore"
	switch phase {
	case "early":
		sleep(time.Duration(tr.fraction(0, 1.5) * float64(time.Second)))
	case "restore":
		if _, err := tr.waitStarted(c, child, "RestoreAsset"); err == nil {
			sleep(time.Duration(tr.fraction(0, 0.75) * float64(f.calRestore)))
		}
	case "late":
		for ctx.Err() == nil {
			desc, err := c.DescribeWorkflowExecution(ctx, child, "")
			if err == nil && desc.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
				break
			}
			sleep(20 * time.Millisecond)
		}
		sleep(time.Duration(tr.fraction(0, 0.2) * float64(time.Second)))
	}
}

// killWorkers kills the trial's worker at one or two random moments of the plan and starts another
// at once each time.
func (f *planFixture) killWorkers(ctx context.Context, tr *trial, wfID string) error {
	c := tr.h.client
	for n, phase := range tr.pickPhases() {
		f.waitPhase(ctx, tr, c, wfID, phase)
		if !stillRunning(ctx, c, wfID) {
			tr.t.Logf("the plan ended before the %s kill", phase)
			return nil
		}
		w := tr.procs[len(tr.procs)-1]
		if err := w.Kill(); err != nil {
			return err
		}
		k := kill{at: time.Now()}
		// What still runs now that the worker is gone was interrupted: its result can never come.
		running := runningActivities(ctx, c, wfID)
		if _, err := tr.worker(w.config); err != nil {
			return err
		}
		tr.t.Logf("kill %d (%s), activities running: %s", n+1, phase, describeRunning(running))
		for _, ra := range running {
			k.attempt, k.hit, tr.res.Hit = ra.attempt, true, true
			if d, err := tr.resumeAfter(c, ra.wf, ra.typ, k); err == nil && d > tr.res.Resume {
				tr.res.Resume = d
			}
		}
	}
	return nil
}

func stillRunning(ctx context.Context, c client.Client, wfID string) bool {
	desc, err := c.DescribeWorkflowExecution(ctx, wfID, "")
	return err == nil && desc.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
}

type runningActivity struct {
	wf, typ string
	attempt int32
}

func describeRunning(ra []runningActivity) string {
	if len(ra) == 0 {
		return "none"
	}
	var s []string
	for _, a := range ra {
		s = append(s, fmt.Sprintf("%s (attempt %d)", a.typ, a.attempt))
	}
	return strings.Join(s, ", ")
}

// runningActivities lists the activities running in the plan's workflow and its restore child.
func runningActivities(ctx context.Context, c client.Client, wfID string) []runningActivity {
	var out []runningActivity
	for _, id := range []string{wfID, wfID + ".restore"} {
		desc, err := c.DescribeWorkflowExecution(ctx, id, "")
		if err != nil {
			continue
		}
		for _, pa := range desc.GetPendingActivities() {
			if pa.GetState() == enumspb.PENDING_ACTIVITY_STATE_STARTED {
				out = append(out, runningActivity{wf: id, typ: pa.GetActivityType().GetName(), attempt: pa.GetAttempt()})
			}
		}
	}
	return out
}

// serverRestart: the Temporal dev server is killed with SIGKILL at one or two random moments of the
// plan and restarted on the same ports with the same SQLite file; the worker stays. The plan
// completes with the same checks as plan-kill.
func serverRestart(t *testing.T, h *harness, trials []int) {
	f := h.planFixture(t, "server-restart")
	for _, i := range trials {
		h.runTrial(t, "server-restart", i, func(tr *trial) error {
			srv := devserver.Start(tr.t)
			c, err := client.Dial(client.Options{HostPort: srv.HostPort, Namespace: srv.Namespace, Logger: quietLogger()})
			if err != nil {
				return err
			}
			defer c.Close()
			fault := func(ctx context.Context, tr *trial, wfID string) error {
				for n, phase := range tr.pickPhases() {
					f.waitPhase(ctx, tr, c, wfID, phase)
					if !stillRunning(ctx, c, wfID) {
						tr.t.Logf("the plan ended before the %s kill", phase)
						return nil
					}
					running := runningActivities(ctx, c, wfID)
					if err := srv.Kill(); err != nil {
						return err
					}
					at := time.Now()
					if err := srv.Restart(tr.t); err != nil {
						return err
					}
					up := time.Since(at)
					if len(running) > 0 {
						tr.res.Hit = true
					}
					d, err := firstEventAfter(ctx, c, []string{wfID, wfID + ".restore"}, at)
					if err == nil && d > tr.res.Resume {
						tr.res.Resume = d
					}
					tr.t.Logf("server kill %d (%s), activities running: %s; back in %s, first event %s after the kill (%v)",
						n+1, phase, describeRunning(running), up.Round(time.Millisecond), d.Round(time.Millisecond), err)
				}
				return nil
			}
			r, err := f.run(tr, srv, c, fault)
			if err != nil {
				return err
			}
			return f.checkNotifications(tr, r)
		})
	}
}

// firstEventAfter waits for the first history event of any of the workflows after t and returns how
// long after t it came.
func firstEventAfter(ctx context.Context, c client.Client, ids []string, t time.Time) (time.Duration, error) {
	deadline := time.Now().Add(3 * time.Minute)
	for {
		var first time.Time
		for _, id := range ids {
			it := c.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
			for it.HasNext() {
				e, err := it.Next()
				if err != nil {
					break
				}
				if et := e.GetEventTime().AsTime(); et.After(t) && (first.IsZero() || et.Before(first)) {
					first = et
				}
			}
		}
		if !first.IsZero() {
			return first.Sub(t), nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("no event in %s within 3 minutes of %s", strings.Join(ids, ", "), t.Format(time.RFC3339Nano))
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
