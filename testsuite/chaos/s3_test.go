package chaos_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/lifeboat-dr/lifeboat/testsuite/chaos"
	"github.com/lifeboat-dr/lifeboat/testsuite/faultproxy"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

// s3Location is a repository location in the harness's MinIO bucket, reached through endpoint.
func (h *harness) s3Location(prefix, endpoint string) string {
	return fmt.Sprintf("s3://chaos/%s?endpoint=%s&path_style=true&region=%s", prefix, endpoint, h.minio.Region)
}

// s3Data is the data set of the object-storage scenarios: about 25 MiB.
var s3Data = chaos.Dataset{RandomFiles: 3, RandomSize: 4 << 20, TextFiles: 3, TextSize: 4 << 20, SmallFiles: 300, SmallMax: 8 << 10, Symlinks: 2}

// s3Faults: the asset's repository is on MinIO behind the fault proxy (5% 500/503, 2% connection
// resets, 5% slow responses). Each trial changes the data, backs it up with retention, and
// restores the latest snapshot into a new directory. Every workflow completes, every restore is
// byte-identical, each backup made one snapshot, and at the end the repository checks clean when
// read without faults.
func s3Faults(t *testing.T, h *harness, trials []int) {
	shared := h.scenarioDir(t, "s3-faults")
	live, roots := filepath.Join(shared, "live"), filepath.Join(shared, "restores")
	proxy, err := faultproxy.Start(h.minio.Endpoint, withSeed(faultproxy.Default, h.seed))
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	prefix := fmt.Sprintf("s3-faults-%d", h.seed)
	faulty, direct := h.s3Location(prefix, proxy.URL), h.s3Location(prefix, h.minio.Endpoint)
	if err := chaos.WriteDataset(live, h.seed, s3Data); err != nil {
		t.Fatal(err)
	}
	for _, i := range trials {
		h.runTrial(t, "s3-faults", i, func(tr *trial) error {
			if i > 0 {
				if err := chaos.ChangeDataset(live, tr.seed, 0.2); err != nil {
					return err
				}
			}
			tree, err := chaos.ReadTree(live)
			if err != nil {
				return err
			}
			cfg, err := tr.writeConfig(workerConf{taskQueue: tr.taskQueue(), restoreRoots: []string{roots}, scratchDir: roots,
				assets: []assetConf{{name: "s3", paths: []string{live}, location: faulty, retention: "{last: 3}"}}})
			if err != nil {
				return err
			}
			if _, err := tr.worker(cfg); err != nil {
				return err
			}
			before := proxy.Stats()
			st, err := tr.start(cfg, "backup", "run", "s3")
			if err != nil {
				return err
			}
			var backup workflows.BackupResult
			if err := tr.result(h.client, st.WorkflowID, &backup); err != nil {
				return fmt.Errorf("backup through faults: %w", err)
			}
			target := filepath.Join(roots, fmt.Sprintf("trial-%02d", i))
			rs, err := tr.start(cfg, "restore", "s3", "--snapshot", backup.Snapshot.ID, "--target", target)
			if err != nil {
				return err
			}
			var restored workflows.RestoreResult
			if err := tr.result(h.client, rs.WorkflowID, &restored); err != nil {
				return fmt.Errorf("restore through faults: %w", err)
			}
			if err := checkTreeSame("the restored directory", target, tree, chaos.Compare{}); err != nil {
				return err
			}
			if err := checkNoTemps("the restore root", roots); err != nil {
				return err
			}
			snaps, err := tr.snapshots(direct)
			if err != nil {
				return err
			}
			if mine := jobSnapshots(snaps, st.WorkflowID+"/"+st.RunID); len(mine) != 1 {
				return fmt.Errorf("%d snapshots of backup job %s/%s, want one", len(mine), st.WorkflowID, st.RunID)
			}
			if len(snaps) > 3 {
				return fmt.Errorf("retention (last 3) left %d snapshots", len(snaps))
			}
			after := proxy.Stats()
			attempts := backupAttempts(tr.ctx, h.client, st.WorkflowID)
			retried := restored.Restored != nil && restored.Restored.Resumed
			tr.t.Logf("through the proxy: %s; backup attempts %d, restore retried: %v", diffStats(before, after), attempts, retried)
			if attempts > 1 {
				tr.count("backups whose step was retried by Temporal", 1)
			}
			if retried {
				tr.count("restores whose step was retried by Temporal", 1)
			}
			return nil
		})
	}
	h.setup(t, "s3-faults", func(tr *trial) error {
		rep, err := tr.check(direct)
		if err == nil {
			h.results.Note("s3-faults", "the repository checks clean without faults: %d snapshots, %d packs (%d in no index)", rep.Snapshots, rep.Packs, len(rep.Unreferenced))
		}
		return err
	})
	h.results.Note("s3-faults", "fault proxy: %s", proxy.Stats())
}

func withSeed(f faultproxy.Faults, seed uint64) faultproxy.Faults {
	f.Seed = seed
	return f
}

func diffStats(a, b faultproxy.Stats) string {
	return faultproxy.Stats{Requests: b.Requests - a.Requests, Errors: b.Errors - a.Errors, ResetsBefore: b.ResetsBefore - a.ResetsBefore,
		ResetsDuring: b.ResetsDuring - a.ResetsDuring, Slowed: b.Slowed - a.Slowed}.String()
}

// backupAttempts is the attempt of the backup step that succeeded.
func backupAttempts(ctx context.Context, c client.Client, id string) int32 {
	types := map[int64]string{}
	it := c.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return 0
		}
		if a := e.GetActivityTaskScheduledEventAttributes(); a != nil {
			types[e.GetEventId()] = a.GetActivityType().GetName()
		}
		if a := e.GetActivityTaskStartedEventAttributes(); a != nil && types[a.GetScheduledEventId()] == "BackupAsset" {
			return a.GetAttempt()
		}
	}
	return 0
}

// racingInit: two workers (two processes, one configuration, one activity at a time each) take
// the first backups of two assets that share one fresh repository location on MinIO at the same
// moment. One repository results (one config object, one key slot), holding both snapshots; it
// checks clean and both restore byte-identical.
func racingInit(t *testing.T, h *harness, trials []int) {
	shared := h.scenarioDir(t, "racing-init")
	dirs := map[string]string{"a": filepath.Join(shared, "alpha"), "b": filepath.Join(shared, "beta")}
	trees := map[string]chaos.Tree{}
	for k, dir := range dirs {
		if err := chaos.WriteDataset(dir, h.seed+uint64(k[0]), chaos.Dataset{RandomFiles: 2, RandomSize: 2 << 20, TextFiles: 2, TextSize: 2 << 20, SmallFiles: 100, SmallMax: 4 << 10}); err != nil {
			t.Fatal(err)
		}
		tree, err := chaos.ReadTree(dir)
		if err != nil {
			t.Fatal(err)
		}
		trees[k] = tree
	}
	for _, i := range trials {
		h.runTrial(t, "racing-init", i, func(tr *trial) error {
			prefix := fmt.Sprintf("race-%d-%02d", h.seed, i)
			loc := h.s3Location(prefix, h.minio.Endpoint)
			assets := map[string]string{"a": assetName("ra", i), "b": assetName("rb", i)}
			cfg, err := tr.writeConfig(workerConf{taskQueue: tr.taskQueue(), maxActivities: 1, assets: []assetConf{
				{name: assets["a"], paths: []string{dirs["a"]}, location: loc},
				{name: assets["b"], paths: []string{dirs["b"]}, location: loc},
			}})
			if err != nil {
				return err
			}
			for range 2 {
				if _, err := tr.worker(cfg); err != nil {
					return err
				}
			}
			// Both backups start at the same moment.
			var wg sync.WaitGroup
			gate := make(chan struct{})
			runs := map[string]client.WorkflowRun{}
			errs := map[string]error{}
			var mu sync.Mutex
			for k, name := range assets {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-gate
					run, err := h.client.ExecuteWorkflow(tr.ctx, client.StartWorkflowOptions{ID: fmt.Sprintf("backup-%s-race", name), TaskQueue: tr.taskQueue()},
						workflows.BackupWorkflow, workflows.BackupInput{Asset: name, Trigger: "chaos", SkipRetention: true})
					mu.Lock()
					runs[k], errs[k] = run, err
					mu.Unlock()
				}()
			}
			close(gate)
			wg.Wait()
			results := map[string]workflows.BackupResult{}
			for k := range assets {
				if errs[k] != nil {
					return errs[k]
				}
				var res workflows.BackupResult
				if err := tr.result(h.client, runs[k].GetID(), &res); err != nil {
					return fmt.Errorf("first backup of %s into a shared new repository: %w", assets[k], err)
				}
				results[k] = res
			}
			workers := map[string]bool{}
			for k := range assets {
				workers[activityIdentity(tr.ctx, h.client, runs[k].GetID(), "BackupAsset")] = true
			}
			if len(workers) < 2 {
				tr.note("both backups ran on one worker")
			}
			// One repository: one config, one key slot.
			objects, err := h.listObjects(tr.ctx, prefix+"/")
			if err != nil {
				return err
			}
			var configs, keys []string
			for _, o := range objects {
				switch name := strings.TrimPrefix(o, prefix+"/"); {
				case name == "config":
					configs = append(configs, name)
				case strings.HasPrefix(name, "keys/"):
					keys = append(keys, name)
				}
			}
			if len(configs) != 1 {
				return fmt.Errorf("the shared location holds %d config objects, want one", len(configs))
			}
			if len(keys) != 1 {
				return fmt.Errorf("the shared location holds %d key slots, want one (the losing init leaves its slot behind): %s", len(keys), strings.Join(keys, ", "))
			}
			if _, err := tr.check(loc); err != nil {
				return err
			}
			snaps, err := tr.snapshots(loc)
			if err != nil {
				return err
			}
			if len(snaps) != 2 {
				return fmt.Errorf("the shared repository holds %d snapshots, want the two backups'", len(snaps))
			}
			for k, name := range assets {
				var found bool
				for _, s := range snaps {
					if s.Source == name && s.ID == results[k].Snapshot.ID {
						found = true
						if err := tr.restoreSnapshot(loc, s.ID, tr.path("restored-"+k), trees[k]); err != nil {
							return err
						}
					}
				}
				if !found {
					return fmt.Errorf("snapshot %s of %s is not in the shared repository", results[k].Snapshot.ID, name)
				}
			}
			return nil
		})
	}
}

// activityIdentity is the worker that ran the completed attempt of activity typ of workflow id.
func activityIdentity(ctx context.Context, c client.Client, id, typ string) string {
	types := map[int64]string{}
	it := c.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return ""
		}
		if a := e.GetActivityTaskScheduledEventAttributes(); a != nil {
			types[e.GetEventId()] = a.GetActivityType().GetName()
		}
		if a := e.GetActivityTaskStartedEventAttributes(); a != nil && types[a.GetScheduledEventId()] == typ {
			return a.GetIdentity()
		}
	}
	return ""
}

// listObjects lists the names of the objects under prefix in the harness's bucket.
func (h *harness) listObjects(ctx context.Context, prefix string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var out []string
	p := s3.NewListObjectsV2Paginator(h.minio.Client(), &s3.ListObjectsV2Input{Bucket: aws.String("chaos"), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", prefix, err)
		}
		for _, o := range page.Contents {
			out = append(out, aws.ToString(o.Key))
		}
	}
	return out, nil
}
