package chaos_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/lifeboat-dr/lifeboat/integrations/units"
	"github.com/lifeboat-dr/lifeboat/testsuite/chaos"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

// setup runs fn with a trial of its own to prepare what a scenario's trials share (a calibration,
// a repository); its failure fails the scenario.
func (h *harness) setup(t *testing.T, scenario string, fn func(tr *trial) error) {
	t.Helper()
	dir := filepath.Join(h.root, scenario, "setup")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	seed := h.trialSeed(scenario, -1)
	tr := &trial{h: h, t: t, ctx: ctx, name: scenario, index: -1, seed: seed, rng: rand.New(rand.NewPCG(seed, 1)), dir: dir}
	err := fn(tr)
	for _, p := range tr.procs {
		_ = p.Stop()
	}
	if err != nil {
		var logs strings.Builder
		for _, l := range tr.logs {
			fmt.Fprintf(&logs, "\n--- %s (tail) ---\n%s", filepath.Base(l), tail(l, 6<<10))
		}
		h.results.Add(chaos.Trial{Scenario: scenario, Index: -1, Seed: seed, Reason: "setup: " + err.Error(), Reuploaded: -1})
		t.Fatalf("%s: setup (seed %d): %v%s", scenario, seed, err, logs.String())
	}
}

// taskQueue gives each trial a task queue of its own, so that no stray task of an earlier trial
// reaches its workers.
func (tr *trial) taskQueue() string {
	if tr.index < 0 {
		return "chaos-" + tr.name + "-setup"
	}
	return fmt.Sprintf("chaos-%s-%02d", tr.name, tr.index)
}

// calibrateBackup backs the data set up once without faults and returns how long the BackupAsset
// step took.
func (h *harness) calibrateBackup(t *testing.T, scenario, data string) time.Duration {
	var cal time.Duration
	h.setup(t, scenario, func(tr *trial) error {
		cfg, err := tr.writeConfig(workerConf{taskQueue: tr.taskQueue(),
			assets: []assetConf{{name: scenario + "-cal", paths: []string{data}, location: tr.path("repo")}}})
		if err != nil {
			return err
		}
		if _, err := tr.worker(cfg); err != nil {
			return err
		}
		st, err := tr.start(cfg, "backup", "run", scenario+"-cal", "--skip-retention")
		if err != nil {
			return err
		}
		if cal, err = tr.timeStep(h.client, st.WorkflowID, "BackupAsset"); err != nil {
			return err
		}
		var res workflows.BackupResult
		return tr.result(h.client, st.WorkflowID, &res)
	})
	h.results.Note(scenario, "the backup step takes %s without faults", cal.Round(time.Millisecond))
	return cal
}

// backupKill: a worker is killed at a random moment of a backup of the data set into a fresh
// repository; a new worker starts at once. The backup completes, with exactly one snapshot of its
// job, a repository that checks clean, and a snapshot that restores byte-identical.
func backupKill(t *testing.T, h *harness, trials []int) {
	data, tree := h.data(t)
	cal := h.calibrateBackup(t, "backup-kill", data)
	for _, i := range trials {
		h.runTrial(t, "backup-kill", i, func(tr *trial) error {
			repoDir := tr.path("repo")
			name := assetName("bk", i)
			cfg, err := tr.writeConfig(workerConf{taskQueue: tr.taskQueue(), assets: []assetConf{{name: name, paths: []string{data}, location: repoDir}}})
			if err != nil {
				return err
			}
			w, err := tr.worker(cfg)
			if err != nil {
				return err
			}
			st, err := tr.start(cfg, "backup", "run", name, "--skip-retention")
			if err != nil {
				return err
			}
			if err := tr.killDuring(h.client, st.WorkflowID, "BackupAsset", cal, w, func() (*proc, error) { return tr.worker(cfg) }); err != nil {
				return err
			}
			var res workflows.BackupResult
			if err := tr.result(h.client, st.WorkflowID, &res); err != nil {
				return fmt.Errorf("the backup did not complete after the kill: %w", err)
			}
			return tr.checkBackup(repoDir, st, res, data, tree)
		})
	}
}

// measureResume records the kill and, when it interrupted the step, the time to resume.
func (tr *trial) measureResume(c client.Client, id, typ string, k kill) error {
	tr.res.Hit = k.hit
	tr.t.Logf("killed the worker %.0f%% into %s (attempt %d): %s", k.frac*100, typ, k.attempt, map[bool]string{true: "the step was interrupted", false: "the step had finished"}[k.hit])
	if !k.hit {
		return nil
	}
	d, err := tr.resumeAfter(c, id, typ, k)
	if err != nil {
		return err
	}
	tr.res.Resume = d
	return nil
}

// checkBackup checks a completed backup of data into the local repository repoDir: one snapshot of
// the job (and none else), a clean check, a byte-identical restore, the data untouched.
func (tr *trial) checkBackup(repoDir string, st started, res workflows.BackupResult, data string, tree chaos.Tree) error {
	job := st.WorkflowID + "/" + st.RunID
	snaps, err := tr.snapshots(repoDir)
	if err != nil {
		return err
	}
	mine := jobSnapshots(snaps, job)
	if len(mine) != 1 || len(snaps) != 1 {
		return fmt.Errorf("the repository holds %d snapshots, %d of them of job %s: want exactly one (a side effect ran twice, or the backup was lost)", len(snaps), len(mine), job)
	}
	if res.Snapshot == nil || res.Snapshot.ID != mine[0].ID {
		return fmt.Errorf("the workflow reports snapshot %+v, the repository holds %s", res.Snapshot, mine[0].ID)
	}
	rep, err := tr.check(repoDir)
	if err != nil {
		return err
	}
	tr.res.Reuploaded = unindexedBytes(repoDir, rep.Unreferenced)
	if len(rep.Unreferenced) > 0 {
		tr.t.Logf("%d packs in no index (%s), left by the killed attempt", len(rep.Unreferenced), units.Bytes(tr.res.Reuploaded))
	}
	if err := tr.restoreSnapshot(repoDir, mine[0].ID, tr.path("restored"), tree); err != nil {
		return err
	}
	if err := checkTreeSame("the backed-up data", data, tree, chaos.Compare{ModTimes: true, DirModes: true}); err != nil {
		return err
	}
	if err := checkNoTemps("the backed-up data", data); err != nil {
		return err
	}
	if locks := locksLeft(repoDir); len(locks) > 0 {
		tr.note("%d lock files left in the repository: %s", len(locks), strings.Join(locks, ", "))
		tr.count("lock files left behind (stale: their process is gone)", len(locks))
	}
	tr.count("packs in no index after the retry", len(rep.Unreferenced))
	return nil
}

// backupStall: the worker running a backup is frozen (SIGSTOP) past the heartbeat timeout, as a
// long GC pause, a stalled VM or a network partition would; the server gives the step to another
// worker; then the first one wakes up (SIGCONT) at a random moment, during or after the second
// attempt, and carries on with a lock that was taken over. Its stray attempt must never commit: the
// backup completes with exactly one snapshot of its job and a repository that checks clean.
func backupStall(t *testing.T, h *harness, trials []int) {
	data, tree := h.data(t)
	cal := h.calibrateBackup(t, "backup-stall", data)
	for _, i := range trials {
		h.runTrial(t, "backup-stall", i, func(tr *trial) error {
			repoDir := tr.path("repo")
			name := assetName("bs", i)
			cfg, err := tr.writeConfig(workerConf{taskQueue: tr.taskQueue(), assets: []assetConf{{name: name, paths: []string{data}, location: repoDir}}})
			if err != nil {
				return err
			}
			w1, err := tr.worker(cfg)
			if err != nil {
				return err
			}
			st, err := tr.start(cfg, "backup", "run", name, "--skip-retention")
			if err != nil {
				return err
			}
			attempt, err := tr.waitStarted(h.client, st.WorkflowID, "BackupAsset")
			if err != nil {
				return err
			}
			frac := tr.fraction(0, 0.75)
			time.Sleep(time.Duration(frac * float64(cal)))
			if err := w1.Signal(syscall.SIGSTOP); err != nil {
				return err
			}
			k := kill{at: time.Now(), attempt: attempt, frac: frac}
			if pa, _, err := pendingOf(tr.ctx, h.client, st.WorkflowID, "BackupAsset"); err == nil && pa != nil && pa.GetAttempt() == attempt {
				k.hit = true
			}
			if _, err := tr.worker(cfg); err != nil {
				return err
			}
			if err := tr.measureResume(h.client, st.WorkflowID, "BackupAsset", k); err != nil {
				return err
			}
			// Wake the first worker during or after the second attempt.
			wake := time.Duration(tr.fraction(0, 2) * float64(cal))
			time.Sleep(wake)
			if err := w1.Signal(syscall.SIGCONT); err != nil {
				return err
			}
			tr.t.Logf("froze the worker %.0f%% into the backup; woke it %s after the next attempt began", frac*100, wake.Round(time.Millisecond))
			var res workflows.BackupResult
			if err := tr.result(h.client, st.WorkflowID, &res); err != nil {
				return fmt.Errorf("the backup did not complete after the stall: %w", err)
			}
			// The frozen worker's open polls can be handed the retries, which then time out too.
			if att := backupAttempts(tr.ctx, h.client, st.WorkflowID); att > attempt+1 {
				tr.count("retries handed to the frozen worker (each lost a heartbeat timeout)", int(att-attempt-1))
			}
			// Give the woken attempt time to run to its end (its backup takes cal) before looking.
			time.Sleep(2*cal + 10*time.Second)
			return tr.checkBackup(repoDir, st, res, data, tree)
		})
	}
}
