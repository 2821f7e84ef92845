package chaos_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/testsuite/chaos"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

// restoreFixture is what restore-kill's trials share: an asset's live directory, its repository
// with one snapshot of it, and the worker's restore root.
type restoreFixture struct {
	live, repo, roots string
	snapshot          string
	snapTree          chaos.Tree
	// calTarget and calInPlace are the RestoreAsset step's durations without faults.
	calTarget, calInPlace time.Duration
}

const restoreAsset = "rk"

func (f *restoreFixture) config(tr *trial) (string, error) {
	return tr.writeConfig(workerConf{taskQueue: tr.taskQueue(), restoreRoots: []string{f.roots}, scratchDir: f.roots,
		assets: []assetConf{{name: restoreAsset, paths: []string{f.live}, location: f.repo, owners: []string{"bob"}}}})
}

// damageLive changes the live directory as an incident would: files modified and deleted, and
// adds a sentinel file and directory that are not in the snapshot. It returns the sentinels' paths.
func damageLive(live string, snap chaos.Tree, rng *rand.Rand, tag string) ([]string, error) {
	var files []string
	for _, p := range sortedKeys(snap) {
		if snap[p].Type == "file" {
			files = append(files, p)
		}
	}
	big := 0
	for _, p := range files {
		full := filepath.Join(live, filepath.FromSlash(p))
		e := snap[p]
		x := rng.Float64()
		if e.Size > 1<<20 && big < 3 {
			x = 0 // every trial rewrites some large files, so that the restore has work to do
			big++
		}
		switch {
		case x < 0.3 && e.Size > 0:
			f, err := os.OpenFile(full, os.O_WRONLY, 0)
			if err != nil {
				return nil, err
			}
			junk := []byte(fmt.Sprintf("damaged by %s at %d ", tag, rng.Int64()))
			_, err = f.WriteAt(junk[:min(int64(len(junk)), e.Size)], rng.Int64N(max(e.Size-int64(len(junk)), 1)))
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return nil, err
			}
		case x < 0.4:
			if err := os.Remove(full); err != nil {
				return nil, err
			}
		}
	}
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	file := "sentinel-" + tag + ".txt"
	dir := "sentinel-dir-" + tag
	if err := os.WriteFile(filepath.Join(live, file), []byte("not in the snapshot: "+tag), 0o600); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(live, dir, "inner"), 0o750); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(live, dir, "inner", "keep.txt"), []byte("keep me "+tag), 0o640); err != nil {
		return nil, err
	}
	for _, p := range []string{filepath.Join(live, file), filepath.Join(live, dir, "inner", "keep.txt"), filepath.Join(live, dir, "inner"), filepath.Join(live, dir)} {
		if err := os.Chtimes(p, old, old); err != nil {
			return nil, err
		}
	}
	return []string{file, dir}, nil
}

// restoreKill: from a prepared repository, alternately (a) a restore into a new directory under the
// worker's restore roots and (b) an approved in-place restore over the asset's own directory, which
// was changed (files modified and deleted, a sentinel file and directory added). The worker is killed
// at a random moment of the restore step and another started at once. The snapshot's files end up
// byte-identical, the sentinels unchanged, no temporary file is left, and in case (a) nothing
// outside the target changed.
func restoreKill(t *testing.T, h *harness, trials []int) {
	data, _ := h.data(t)
	shared := h.scenarioDir(t, "restore-kill")
	f := &restoreFixture{live: filepath.Join(shared, "live"), repo: filepath.Join(shared, "repo"), roots: filepath.Join(shared, "restores")}
	h.setup(t, "restore-kill", func(tr *trial) error {
		if err := chaos.CopyTree(data, f.live); err != nil {
			return err
		}
		// Something else lives in the restore root: it must never change.
		if err := chaos.WriteDataset(filepath.Join(f.roots, "bystander"), tr.seed, chaos.Dataset{SmallFiles: 60, SmallMax: 4 << 10, TextFiles: 1, TextSize: 1 << 20}); err != nil {
			return err
		}
		var err error
		if f.snapTree, err = chaos.ReadTree(f.live); err != nil {
			return err
		}
		cfg, err := f.config(tr)
		if err != nil {
			return err
		}
		if _, err := tr.worker(cfg); err != nil {
			return err
		}
		if err := tr.mustLifeboat(cfg, nil, nil, "backup", "run", restoreAsset, "--skip-retention", "-o", "json"); err != nil {
			return err
		}
		snaps, err := tr.snapshots(f.repo)
		if err != nil || len(snaps) != 1 {
			return fmt.Errorf("want one snapshot after the backup, have %d (%v)", len(snaps), err)
		}
		f.snapshot = snaps[0].ID
		// Calibrate both kinds of restore.
		st, err := tr.start(cfg, "restore", restoreAsset, "--snapshot", f.snapshot, "--target", filepath.Join(f.roots, "calibration"))
		if err != nil {
			return err
		}
		if f.calTarget, err = tr.timeStep(h.client, st.WorkflowID, "RestoreAsset"); err != nil {
			return err
		}
		var res workflows.RestoreResult
		if err := tr.result(h.client, st.WorkflowID, &res); err != nil {
			return err
		}
		if err := os.RemoveAll(filepath.Join(f.roots, "calibration")); err != nil {
			return err
		}
		if !slices.ContainsFunc(trials, func(i int) bool { return i%2 == 1 }) {
			return nil // no in-place trial
		}
		if _, err := damageLive(f.live, f.snapTree, tr.rng, "calibration"); err != nil {
			return err
		}
		st, err = tr.start(cfg, "restore", restoreAsset, "--snapshot", f.snapshot, "--in-place", "--requester", "alice")
		if err != nil {
			return err
		}
		if err := tr.approve(cfg, nil, st.WorkflowID, "", "bob"); err != nil {
			return err
		}
		if f.calInPlace, err = tr.timeStep(h.client, st.WorkflowID, "RestoreAsset"); err != nil {
			return err
		}
		return tr.result(h.client, st.WorkflowID, &res)
	})
	h.results.Note("restore-kill", "the restore step takes %s into a new directory without faults", f.calTarget.Round(time.Millisecond))
	if f.calInPlace > 0 {
		h.results.Note("restore-kill", "the restore step takes %s in place without faults", f.calInPlace.Round(time.Millisecond))
	}

	for _, i := range trials {
		h.runTrial(t, "restore-kill", i, func(tr *trial) error {
			if i%2 == 0 {
				return f.toNewDirectory(tr)
			}
			return f.inPlace(tr)
		})
	}
	h.setup(t, "restore-kill", func(tr *trial) error {
		_, err := tr.check(f.repo)
		return err
	})
}

// toNewDirectory is restore-kill's case (a).
func (f *restoreFixture) toNewDirectory(tr *trial) error {
	h := tr.h
	target := filepath.Join(f.roots, fmt.Sprintf("trial-%02d", tr.index), "target")
	rootBefore, err := chaos.ReadTree(f.roots)
	if err != nil {
		return err
	}
	liveBefore, err := chaos.ReadTree(f.live)
	if err != nil {
		return err
	}
	cfg, err := f.config(tr)
	if err != nil {
		return err
	}
	w, err := tr.worker(cfg)
	if err != nil {
		return err
	}
	st, err := tr.start(cfg, "restore", restoreAsset, "--snapshot", f.snapshot, "--target", target)
	if err != nil {
		return err
	}
	if err := tr.killDuring(h.client, st.WorkflowID, "RestoreAsset", f.calTarget, w, func() (*proc, error) { return tr.worker(cfg) }); err != nil {
		return err
	}
	var res workflows.RestoreResult
	if err := tr.result(h.client, st.WorkflowID, &res); err != nil {
		return fmt.Errorf("the restore did not complete after the kill: %w", err)
	}
	defer os.RemoveAll(filepath.Dir(target))
	if err := checkTreeSame("the restored directory", target, f.snapTree, chaos.Compare{}); err != nil {
		return err
	}
	if err := checkNoTemps("the restore root", f.roots); err != nil {
		return err
	}
	rootAfter, err := chaos.ReadTree(f.roots)
	if err != nil {
		return err
	}
	trialDir := fmt.Sprintf("trial-%02d", tr.index)
	if d := rootBefore.Diff(rootAfter.Without(trialDir), chaos.Compare{ModTimes: true, DirModes: true, DirTimes: true}, 10); len(d) > 0 {
		return fmt.Errorf("outside the target, the restore root changed: %s", strings.Join(d, "; "))
	}
	if err := checkTreeSame("the asset's live directory (not the restore's target)", f.live, liveBefore, chaos.Compare{ModTimes: true, DirModes: true, DirTimes: true}); err != nil {
		return err
	}
	if res.Restored != nil {
		tr.count("files a retry found restored by the killed attempt (new directory)", int(res.Restored.AlreadyRestored))
	}
	return nil
}

// inPlace is restore-kill's case (b).
func (f *restoreFixture) inPlace(tr *trial) error {
	h := tr.h
	sentinels, err := damageLive(f.live, f.snapTree, tr.rng, fmt.Sprintf("trial-%02d", tr.index))
	if err != nil {
		return err
	}
	liveBefore, err := chaos.ReadTree(f.live)
	if err != nil {
		return err
	}
	// Everything in the live directory the snapshot does not hold: this trial's sentinels and the
	// earlier trials'. None of it may change.
	var extra []string
	for p := range liveBefore {
		if _, ok := f.snapTree[p]; !ok {
			extra = append(extra, p)
		}
	}
	extraBefore := liveBefore.Only(extra...)
	for _, s := range sentinels {
		if _, ok := extraBefore[s]; !ok {
			return fmt.Errorf("sentinel %s is not in the live directory", s)
		}
	}
	rootBefore, err := chaos.ReadTree(f.roots)
	if err != nil {
		return err
	}
	cfg, err := f.config(tr)
	if err != nil {
		return err
	}
	w, err := tr.worker(cfg)
	if err != nil {
		return err
	}
	st, err := tr.start(cfg, "restore", restoreAsset, "--snapshot", f.snapshot, "--in-place", "--requester", "alice")
	if err != nil {
		return err
	}
	if err := tr.approve(cfg, nil, st.WorkflowID, "", "bob"); err != nil {
		return err
	}
	if err := tr.killDuring(h.client, st.WorkflowID, "RestoreAsset", f.calInPlace, w, func() (*proc, error) { return tr.worker(cfg) }); err != nil {
		return err
	}
	var res workflows.RestoreResult
	if err := tr.result(h.client, st.WorkflowID, &res); err != nil {
		return fmt.Errorf("the in-place restore did not complete after the kill: %w", err)
	}
	liveAfter, err := chaos.ReadTree(f.live)
	if err != nil {
		return err
	}
	if d := f.snapTree.Diff(liveAfter, chaos.Compare{Extra: true}, 10); len(d) > 0 {
		return fmt.Errorf("after the in-place restore the live directory differs from the snapshot: %s", strings.Join(d, "; "))
	}
	var extraNow []string
	for p := range liveAfter {
		if _, ok := f.snapTree[p]; !ok {
			extraNow = append(extraNow, p)
		}
	}
	slices.Sort(extraNow)
	if d := extraBefore.Diff(liveAfter.Only(extraNow...), chaos.Compare{ModTimes: true, DirModes: true, DirTimes: true}, 10); len(d) > 0 {
		return fmt.Errorf("what the snapshot does not hold (sentinels) changed: %s", strings.Join(d, "; "))
	}
	if err := checkNoTemps("the live directory", f.live); err != nil {
		return err
	}
	if err := checkTreeSame("the restore root (not part of an in-place restore)", f.roots, rootBefore, chaos.Compare{ModTimes: true, DirModes: true, DirTimes: true}); err != nil {
		return err
	}
	if res.Restored != nil {
		tr.count("files found as the snapshot has them (in place: undamaged, or restored by the killed attempt)", int(res.Restored.AlreadyRestored))
	}
	return nil
}
