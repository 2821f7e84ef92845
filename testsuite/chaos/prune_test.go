package chaos_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/repository"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
	"github.com/lifeboat-dr/lifeboat/testsuite/chaos"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

const pruneAsset = "pk"

// pruneData is the data prune-kill backs up, changed between backups.
var pruneData = chaos.Dataset{RandomFiles: 4, RandomSize: 8 << 20, TextFiles: 3, TextSize: 8 << 20, SmallFiles: 1000, SmallMax: 8 << 10}

// pruneKill: a repository holds three snapshots of data that changed between them; a fourth backup
// runs with retention (last 2), and the worker is killed at a random moment of the retention step
// (forget, then prune, which repairs the index first when packs are in no index). A new worker
// starts at once. The backup completes, the repository checks clean, every kept snapshot restores
// byte-identical to the data at its time, and the retention step finished its prune.
func pruneKill(t *testing.T, h *harness, trials []int) {
	shared := h.scenarioDir(t, "prune-kill")
	live, template := filepath.Join(shared, "live"), filepath.Join(shared, "template")
	trees := map[string]chaos.Tree{} // snapshot ID → the data it holds
	var kept []string                // the template's snapshots retention keeps
	var latest chaos.Tree            // the data of the fourth backup
	var cal time.Duration
	h.setup(t, "prune-kill", func(tr *trial) error {
		if err := chaos.WriteDataset(live, tr.seed, pruneData); err != nil {
			return err
		}
		cfg, err := tr.writeConfig(workerConf{taskQueue: tr.taskQueue(),
			assets: []assetConf{{name: pruneAsset, paths: []string{live}, location: template, retention: "{last: 2}"}}})
		if err != nil {
			return err
		}
		if _, err := tr.worker(cfg); err != nil {
			return err
		}
		for v := range 3 {
			if v > 0 {
				if err := chaos.ChangeDataset(live, tr.seed+uint64(v), 0.3); err != nil {
					return err
				}
			}
			tree, err := chaos.ReadTree(live)
			if err != nil {
				return err
			}
			st, err := tr.start(cfg, "backup", "run", pruneAsset, "--skip-retention")
			if err != nil {
				return err
			}
			var res workflows.BackupResult
			if err := tr.result(h.client, st.WorkflowID, &res); err != nil {
				return err
			}
			trees[res.Snapshot.ID] = tree
			if v > 0 {
				kept = append(kept, res.Snapshot.ID)
			}
		}
		kept = kept[1:] // the newest of the three, with the fourth backup
		if err := chaos.ChangeDataset(live, tr.seed+99, 0.3); err != nil {
			return err
		}
		if latest, err = chaos.ReadTree(live); err != nil {
			return err
		}
		// Calibrate: the fourth backup with retention, without faults, on a copy.
		calRepo := tr.path("repo")
		if err := chaos.CopyTree(template, calRepo); err != nil {
			return err
		}
		if cfg, err = tr.writeConfig(workerConf{taskQueue: tr.taskQueue() + "-cal",
			assets: []assetConf{{name: pruneAsset, paths: []string{live}, location: calRepo, retention: "{last: 2}"}}}); err != nil {
			return err
		}
		if _, err := tr.worker(cfg); err != nil {
			return err
		}
		st, err := tr.start(cfg, "backup", "run", pruneAsset)
		if err != nil {
			return err
		}
		if cal, err = tr.timeStep(h.client, st.WorkflowID, "ApplyRetention"); err != nil {
			return err
		}
		var res workflows.BackupResult
		if err := tr.result(h.client, st.WorkflowID, &res); err != nil {
			return err
		}
		if len(res.Retention) != 1 || len(res.Retention[0].Removed) != 2 || res.Retention[0].BytesFreed == 0 {
			return fmt.Errorf("without faults, retention removed %+v: want two snapshots removed and data freed", res.Retention)
		}
		h.results.Note("prune-kill", "the retention step takes %s without faults and frees %s", cal.Round(time.Millisecond), units.Bytes(res.Retention[0].BytesFreed))
		// Without faults, prune leaves nothing for another prune to do: the check trials make.
		return tr.pruneFinished(calRepo, res)
	})

	for _, i := range trials {
		h.runTrial(t, "prune-kill", i, func(tr *trial) error {
			repoDir := tr.path("repo")
			if err := chaos.CopyTree(template, repoDir); err != nil {
				return err
			}
			cfg, err := tr.writeConfig(workerConf{taskQueue: tr.taskQueue(),
				assets: []assetConf{{name: pruneAsset, paths: []string{live}, location: repoDir, retention: "{last: 2}"}}})
			if err != nil {
				return err
			}
			w, err := tr.worker(cfg)
			if err != nil {
				return err
			}
			st, err := tr.start(cfg, "backup", "run", pruneAsset)
			if err != nil {
				return err
			}
			if err := tr.killDuring(h.client, st.WorkflowID, "ApplyRetention", cal, w, func() (*proc, error) { return tr.worker(cfg) }); err != nil {
				return err
			}
			var res workflows.BackupResult
			if err := tr.result(h.client, st.WorkflowID, &res); err != nil {
				return fmt.Errorf("the backup did not complete after the kill in its retention step: %w", err)
			}
			rep, err := tr.check(repoDir)
			if err != nil {
				return err
			}
			tr.res.Reuploaded = unindexedBytes(repoDir, rep.Unreferenced)
			snaps, err := tr.snapshots(repoDir)
			if err != nil {
				return err
			}
			want := append(slices.Clone(kept), res.Snapshot.ID)
			var have []string
			for _, s := range snaps {
				have = append(have, s.ID)
			}
			slices.Sort(want)
			slices.Sort(have)
			if !slices.Equal(want, have) {
				return fmt.Errorf("after retention the repository holds snapshots %s, want %s (the two newest)", short(have), short(want))
			}
			for _, s := range snaps {
				tree := trees[s.ID]
				if s.ID == res.Snapshot.ID {
					tree = latest
				}
				if err := tr.restoreSnapshot(repoDir, s.ID, tr.path("restored"), tree); err != nil {
					return err
				}
			}
			// Retention's prune ran to its end: after a repair of the index, prune finds nothing
			// more to delete. (Run on a copy, so that the repository checked above stays as it was.)
			if err := tr.pruneFinished(repoDir, res); err != nil {
				var gone []string
				for id := range trees {
					if !slices.Contains(have, id) {
						gone = append(gone, id)
					}
				}
				slices.Sort(gone)
				removed := 0
				for _, r := range res.Retention {
					removed += len(r.Removed)
				}
				if removed == 0 {
					return fmt.Errorf("%w; snapshots %s are gone, so the killed attempt forgot them, and its retry, finding nothing to forget, did not prune", err, short(gone))
				}
				return fmt.Errorf("%w; snapshots %s are gone", err, short(gone))
			}
			return nil
		})
	}
}

// pruneFinished fails when a copy of the repository, its index repaired, still holds data that
// only forgotten snapshots used.
func (tr *trial) pruneFinished(repoDir string, res workflows.BackupResult) error {
	copyDir := tr.path("prune-check")
	if err := chaos.CopyTree(repoDir, copyDir); err != nil {
		return err
	}
	if err := tr.mustLifeboat("", repoEnv(copyDir), nil, "repo", "repair", "index", "-o", "json"); err != nil {
		return err
	}
	var rep repository.PruneReport
	if err := tr.mustLifeboat("", repoEnv(copyDir), &rep, "repo", "prune", "--dry-run", "-o", "json"); err != nil {
		return err
	}
	if rep.PacksDeleted > 0 || rep.PacksRepacked > 0 {
		var removed []string
		var freed int64
		for _, r := range res.Retention {
			removed = append(removed, r.Removed...)
			freed += r.BytesFreed
		}
		return fmt.Errorf("retention did not finish its prune: afterwards a prune would still delete %d packs and repack %d (%s); the workflow reports snapshots %s removed and %s freed",
			rep.PacksDeleted, rep.PacksRepacked, units.Bytes(rep.BytesFreed), short(removed), units.Bytes(freed))
	}
	return nil
}

func short(ids []string) string {
	var out []string
	for _, id := range ids {
		out = append(out, id[:min(8, len(id))])
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}
