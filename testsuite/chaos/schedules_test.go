package chaos_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/lifeboat-dr/lifeboat/integrations/searchattr"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

// scheduleState is what must not change about a schedule or watchdog someone else owns.
func scheduleState(ctx context.Context, c client.Client, id string) (string, error) {
	d, err := c.ScheduleClient().GetHandle(ctx, id).Describe(ctx)
	if err != nil {
		return "", fmt.Errorf("schedule %s: %w", id, err)
	}
	owner, _ := d.TypedSearchAttributes.GetKeyword(workflows.OwnerKey)
	var action string
	if a, ok := d.Schedule.Action.(*client.ScheduleWorkflowAction); ok {
		action = fmt.Sprintf("%s %v on %s as %s", a.Workflow, a.Args, a.TaskQueue, a.ID)
	}
	spec := d.Schedule.Spec
	return fmt.Sprintf("schedule %s: owner %q, intervals %v, cron %v, calendars %d, jitter %s, paused %v (%q), overlap %v, catch-up %s, action %s",
		id, owner, spec.Intervals, spec.CronExpressions, len(spec.Calendars), spec.Jitter, d.Schedule.State.Paused, d.Schedule.State.Note,
		d.Schedule.Policy.Overlap, d.Schedule.Policy.CatchupWindow, action), nil
}

func watchdogState(ctx context.Context, c client.Client, id string) (string, error) {
	desc, err := c.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		return "", fmt.Errorf("watchdog %s: %w", id, err)
	}
	info := desc.GetWorkflowExecutionInfo()
	return fmt.Sprintf("watchdog %s: run %s, %v, owner %q", id, info.GetExecution().GetRunId(), info.GetStatus(),
		searchattr.Keyword(info.GetSearchAttributes(), workflows.OwnerKey.GetName())), nil
}

// ownedState describes every schedule and watchdog of the assets.
func ownedState(ctx context.Context, c client.Client, assets []string, verify map[string]bool) ([]string, error) {
	var out []string
	for _, a := range assets {
		ids := []string{workflows.BackupScheduleID(a)}
		if verify[a] {
			ids = append(ids, workflows.VerifyScheduleID(a))
		}
		for _, id := range ids {
			s, err := scheduleState(ctx, c, id)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		s, err := watchdogState(ctx, c, workflows.WatchdogID(a))
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// emptyWorker: a deployment's worker (with schedules.owner) has synced its assets' schedules and
// RPO watchdogs, and an operator paused one. Then a worker of the same deployment starts with an
// empty configuration (no assets), on the same task queue, and a worker of another deployment
// (another owner) starts with one other asset; the empty configuration's `lifeboat schedule sync`
// runs too. The first owner's schedules and watchdogs stay exactly as they were: IDs, specs,
// owner, paused state; the watchdogs still run.
func emptyWorker(t *testing.T, h *harness, trials []int) {
	shared := h.scenarioDir(t, "empty-worker")
	site := filepath.Join(shared, "site")
	if err := os.MkdirAll(site, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(site, "index.html"), []byte("<h1>shop</h1>"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, i := range trials {
		h.runTrial(t, "empty-worker", i, func(tr *trial) error {
			c := h.client
			owner, other := fmt.Sprintf("chaos-prod-%02d", i), fmt.Sprintf("chaos-staging-%02d", i)
			x, y, z := assetName("ex", i), assetName("ey", i), assetName("ez", i)
			mine := []string{x, y}
			verify := map[string]bool{y: true}
			defer cleanupSchedules(c, append(slices.Clone(mine), z))
			repoLoc := func(a string) string { return tr.path("repo-" + a) }
			cfgA, err := tr.writeConfig(workerConf{taskQueue: tr.taskQueue(), sync: true, owner: owner, assets: []assetConf{
				{name: x, paths: []string{site}, location: repoLoc(x)},
				{name: y, paths: []string{site}, location: repoLoc(y), verifyFile: "index.html"},
			}})
			if err != nil {
				return err
			}
			if _, err := tr.worker(cfgA); err != nil {
				return err
			}
			if err := tr.mustLifeboat(cfgA, nil, nil, "schedule", "pause", x, "--note", "maintenance by chaos"); err != nil {
				return err
			}
			before, err := ownedState(tr.ctx, c, mine, verify)
			if err != nil {
				return err
			}
			if !strings.Contains(before[0], "paused true") {
				return fmt.Errorf("the schedule paused by the operator does not show paused: %s", before[0])
			}

			// The same deployment's worker with an empty configuration, on the same task queue.
			cfgB, err := tr.writeConfig(workerConf{taskQueue: tr.taskQueue(), sync: true, owner: owner, file: "lifeboat-empty.yaml"})
			if err != nil {
				return err
			}
			if _, err := tr.worker(cfgB); err != nil {
				return err
			}
			r, err := tr.lifeboat(cfgB, nil, "schedule", "sync")
			if err != nil {
				return err
			}
			tr.t.Logf("schedule sync with the empty configuration: %s", r)
			// Another deployment, another owner, another asset.
			cfgC, err := tr.writeConfig(workerConf{taskQueue: tr.taskQueue() + "-staging", sync: true, owner: other, assets: []assetConf{
				{name: z, paths: []string{site}, location: repoLoc(z)},
			}})
			if err != nil {
				return err
			}
			if _, err := tr.worker(cfgC); err != nil {
				return err
			}
			// The watchdogs have had time to run their first steps on the workers now polling.
			time.Sleep(2 * time.Second)
			after, err := ownedState(tr.ctx, c, mine, verify)
			if err != nil {
				return fmt.Errorf("after the empty and the other configuration started: %w", err)
			}
			var changed []string
			for k := range before {
				if before[k] != after[k] {
					changed = append(changed, fmt.Sprintf("was %s; now %s", before[k], after[k]))
				}
			}
			if len(changed) > 0 {
				return fmt.Errorf("the first owner's schedules or watchdogs changed: %s", strings.Join(changed, " | "))
			}
			for _, s := range after {
				if strings.HasPrefix(s, "watchdog") && !strings.Contains(s, "Running") {
					return fmt.Errorf("a watchdog does not run: %s", s)
				}
			}
			theirs, err := ownedState(tr.ctx, c, []string{z}, nil)
			if err != nil {
				return fmt.Errorf("the other deployment's asset: %w", err)
			}
			if !strings.Contains(theirs[0], fmt.Sprintf("owner %q", other)) {
				return fmt.Errorf("the other deployment's schedule: %s", theirs[0])
			}
			return nil
		})
	}
}

// cleanupSchedules deletes a trial's schedules and stops its watchdogs, so that later trials and
// scenarios see none of them.
func cleanupSchedules(c client.Client, assets []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, a := range assets {
		for _, id := range []string{workflows.BackupScheduleID(a), workflows.VerifyScheduleID(a)} {
			_ = c.ScheduleClient().GetHandle(ctx, id).Delete(ctx)
		}
		if desc, err := c.DescribeWorkflowExecution(ctx, workflows.WatchdogID(a), ""); err == nil &&
			desc.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			_ = c.TerminateWorkflow(ctx, workflows.WatchdogID(a), "", "end of the trial")
		}
	}
}
