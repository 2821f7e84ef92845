package activities

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/lifeboat-dr/lifeboat/activities/asset"
	"github.com/lifeboat-dr/lifeboat/activities/contract"
	"github.com/lifeboat-dr/lifeboat/integrations/gitsource"
	"github.com/lifeboat-dr/lifeboat/integrations/gitsource/gitsourcetest"
	"github.com/lifeboat-dr/lifeboat/integrations/secrets"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
)

// backupOnce runs one BackupAsset attempt as a workflow would.
func backupOnce(ctx workflow.Context, in contract.BackupAssetInput) (contract.BackupAssetResult, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 5 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 1}})
	var out contract.BackupAssetResult
	err := workflow.ExecuteActivity(ctx, "BackupAsset", in).Get(ctx, &out)
	return out, err
}

var gitRuns atomic.Int64

// backupRun backs the asset up as a workflow run of its own, so that each backup is a new job.
func backupRun(t *testing.T, a *Assets, name string) (contract.BackupAssetResult, error) {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	// A git fetch on a busy machine takes more than the default 3s, and the workflow's goroutine
	// may wait more than 1s for the CPU.
	env.SetTestTimeout(5 * time.Minute)
	env.SetWorkerOptions(worker.Options{DeadlockDetectionTimeout: time.Minute})
	env.RegisterWorkflow(backupOnce)
	env.RegisterActivity(a)
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: fmt.Sprintf("backup-%s-%d", name, gitRuns.Add(1))})
	env.ExecuteWorkflow(backupOnce, contract.BackupAssetInput{Asset: name})
	var out contract.BackupAssetResult
	if err := env.GetWorkflowError(); err != nil {
		return out, err
	}
	return out, env.GetWorkflowResult(&out)
}

func gitAsset(t *testing.T, name string, src asset.Source) asset.Asset {
	return asset.Asset{Name: name, Source: src,
		Repository: &asset.Repository{Location: filepath.Join(t.TempDir(), "repo"), PasswordSecret: "pass"},
		Schedule:   asset.Schedule{Every: units.Duration(time.Hour)}, Retention: asset.Retention{Last: 10}, RPO: units.Duration(time.Hour)}
}

// restoreTo restores a snapshot of the asset into a new directory under the restore roots.
func restoreTo(t *testing.T, a *Assets, name, snapshot string) string {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	target := filepath.Join(a.RestoreRoots[0], name+"-"+snapshot)
	if _, err := env.ExecuteActivity(a.RestoreAsset, contract.RestoreAssetInput{Asset: name, Snapshot: snapshot, TargetDir: target}); err != nil {
		t.Fatalf("restore %s: %v", snapshot, err)
	}
	return target
}

type served struct{ refs, log string }

func stateOf(t *testing.T, gitDir string) served {
	refs, log := gitsourcetest.State(t, gitDir)
	lines := strings.Split(refs, "\n")
	sort.Strings(lines)
	return served{strings.Join(lines, "\n"), log}
}

// A git asset's snapshots each restore to a bare mirror holding exactly the refs and history the
// server had when it was taken — across a force push and a deleted branch — and a backup that
// cannot reach the server leaves the cache and the snapshots as they were.
func TestGitAssetSnapshotsRestoreTheServersHistory(t *testing.T) {
	root := t.TempDir()
	repo := gitsourcetest.NewRepo(t, root, "app")
	repo.Commit("main", "first", map[string]string{"README": "hello"})
	repo.Commit("feature", "feature work", map[string]string{"f.txt": "f"})
	repo.Commit("doomed", "to be deleted", map[string]string{"d.txt": "d"})
	srv := gitsourcetest.NewHTTPServer(t, root, "deploy", "s3cret-token")

	as := gitAsset(t, "app-git", asset.Source{Git: &asset.GitSource{URL: srv.URL("app"), CredentialsSecret: "git-creds"}})
	a := testAssets(t, as)
	a.Secrets = secrets.Static{"pass": "correct horse", "git-creds": "deploy:s3cret-token", "bad-creds": "deploy:not-it"}
	a.RestoreRoots = []string{t.TempDir()}

	first, err := backupRun(t, a, "app-git")
	if err != nil {
		t.Fatal(err)
	}
	atFirst := stateOf(t, repo.Bare)

	repo.Commit("feature", "more feature work", map[string]string{"f.txt": "f2"})
	repo.Rewrite("feature", "feature work, squashed")
	repo.Delete("doomed")
	repo.Commit("main", "second", map[string]string{"README": "hello again"})
	repo.Tag("v1")
	second, err := backupRun(t, a, "app-git")
	if err != nil {
		t.Fatal(err)
	}
	atSecond := stateOf(t, repo.Bare)
	if second.Snapshot.ID == first.Snapshot.ID || second.Snapshot.BytesAdded >= second.Snapshot.Bytes {
		t.Fatalf("second backup %+v is not incremental on %+v", second.Snapshot, first.Snapshot)
	}

	// The server goes away: the backup fails, to be retried, and nothing is lost.
	repo.Commit("main", "third", map[string]string{"README": "while the server is down"})
	srv.Close()
	_, err = backupRun(t, a, "app-git")
	if err == nil || errType(err) != "" {
		t.Fatalf("backup while the server is down: %v", err)
	}
	cache := a.gitCache(as)
	if got := stateOf(t, cache.MirrorDir()); got != atSecond {
		t.Fatalf("the failed backup changed the cache:\n%s\nwant\n%s", got.refs, atSecond.refs)
	}
	srv.Restart(t)
	third, err := backupRun(t, a, "app-git")
	if err != nil {
		t.Fatalf("backup after the server is back: %v", err)
	}
	atThird := stateOf(t, repo.Bare)

	for _, tc := range []struct {
		snapshot string
		want     served
	}{{first.Snapshot.ID, atFirst}, {second.Snapshot.ID, atSecond}, {third.Snapshot.ID, atThird}} {
		dir := restoreTo(t, a, "app-git", tc.snapshot[:8])
		if got := stateOf(t, dir); got != tc.want {
			t.Fatalf("snapshot %s restored\n%s\n%s\nwant\n%s\n%s", tc.snapshot[:8], got.refs, got.log, tc.want.refs, tc.want.log)
		}
		gitsourcetest.Git(t, dir, "fsck", "--no-dangling")
		// The snapshot lists the same refs it holds.
		listed, err := os.ReadFile(filepath.Join(dir, gitsource.RefsFile))
		refs, head, _ := strings.Cut(string(listed), "HEAD ")
		lines := strings.Split(strings.TrimSpace(refs), "\n")
		sort.Strings(lines)
		if err != nil || strings.Join(lines, "\n") != tc.want.refs || head != "refs/heads/main\n" {
			t.Fatalf("%s of snapshot %s:\n%s\nwant\n%s", gitsource.RefsFile, tc.snapshot[:8], listed, tc.want.refs)
		}
	}

	// Nothing is restored over the server's repository.
	var ts testsuite.WorkflowTestSuite
	aenv := ts.NewTestActivityEnvironment()
	aenv.RegisterActivity(a)
	if _, err := aenv.ExecuteActivity(a.PlanRestore, contract.RestoreAssetInput{Asset: "app-git", Snapshot: "latest", InPlace: true}); errType(err) != contract.ErrTypeAssetMisconfigured || !strings.Contains(err.Error(), "git push --mirror") {
		t.Fatalf("in-place restore of a git asset: %v", err)
	}

	// The restored mirror pushes to a new server as documented.
	fresh := filepath.Join(t.TempDir(), "new.git")
	gitsourcetest.Git(t, root, "init", "--bare", "--quiet", fresh)
	restored := filepath.Join(a.RestoreRoots[0], "app-git-"+second.Snapshot.ID[:8])
	gitsourcetest.Git(t, restored, "push", "--mirror", "--quiet", fresh)
	if got := stateOf(t, fresh); got != atSecond {
		t.Fatalf("pushed mirror\n%s\nwant\n%s", got.refs, atSecond.refs)
	}

	// A refused login is permanent and does not name the password.
	as.Source.Git.CredentialsSecret = "bad-creds"
	a.Catalog[as.Name] = as
	_, err = backupRun(t, a, "app-git")
	if errType(err) != contract.ErrTypeAssetMisconfigured || strings.Contains(err.Error(), "not-it") || !strings.Contains(err.Error(), "bad-creds") {
		t.Fatalf("backup with a wrong password: %v", err)
	}
	as.Source.Git.CredentialsSecret = "git-creds"
	a.Catalog[as.Name] = as

	// Another backup of the asset holding the cache makes this one wait, retryably.
	unlock, err := cache.Lock()
	if err != nil {
		t.Fatal(err)
	}
	_, err = backupRun(t, a, "app-git")
	unlock()
	if err == nil || errType(err) != "" || !strings.Contains(err.Error(), contract.ErrTypeLocked) {
		t.Fatalf("backup while the cache is in use: %v", err)
	}
}

// A ci_config asset keeps each branch's CI files as <branch>/<path>.
func TestCIConfigAssetKeepsEachBranchsPipelines(t *testing.T) {
	root := t.TempDir()
	repo := gitsourcetest.NewRepo(t, root, "svc")
	repo.Commit("main", "ci", map[string]string{".github/workflows/ci.yml": "on: push", ".gitlab-ci.yml": "stages: [test]",
		".circleci/config.yml": "version: 2.1", "Makefile": "all:"})
	repo.Commit("release/2", "release pipeline", map[string]string{".github/workflows/ci.yml": "on: tag", "Jenkinsfile": "pipeline {}"})
	d := gitsourcetest.NewDaemon(t, root)

	as := gitAsset(t, "svc-ci", asset.Source{CIConfig: &asset.CIConfigSource{URL: d.URL("svc")}})
	a := testAssets(t, as)
	a.RestoreRoots = []string{t.TempDir()}
	first, err := backupRun(t, a, "svc-ci")
	if err != nil {
		t.Fatal(err)
	}
	repo.Commit("main", "ci change", map[string]string{".github/workflows/ci.yml": "on: [push, pull_request]"})
	repo.Delete("release/2")
	second, err := backupRun(t, a, "svc-ci")
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		snapshot string
		want     map[string]string
	}{
		{first.Snapshot.ID, map[string]string{
			"main/.github/workflows/ci.yml": "on: push", "main/.gitlab-ci.yml": "stages: [test]", "main/.circleci/config.yml": "version: 2.1",
			"release/2/.github/workflows/ci.yml": "on: tag", "release/2/.gitlab-ci.yml": "stages: [test]",
			"release/2/.circleci/config.yml": "version: 2.1", "release/2/Jenkinsfile": "pipeline {}"}},
		{second.Snapshot.ID, map[string]string{
			"main/.github/workflows/ci.yml": "on: [push, pull_request]", "main/.gitlab-ci.yml": "stages: [test]",
			"main/.circleci/config.yml": "version: 2.1"}},
	} {
		dir := restoreTo(t, a, "svc-ci", tc.snapshot[:8])
		got := map[string]string{}
		err := filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
			if err == nil && !e.IsDir() && e.Name() != gitsource.BranchesFile {
				b, _ := os.ReadFile(p)
				rel, _ := filepath.Rel(dir, p)
				got[filepath.ToSlash(rel)] = string(b)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Fatalf("snapshot %s holds\n%v\nwant\n%v", tc.snapshot[:8], got, tc.want)
		}
	}

	// A branch the configuration names that the repository lacks is a configuration problem.
	as.Source.CIConfig.Branches = []string{"release/2"}
	a.Catalog[as.Name] = as
	if _, err := backupRun(t, a, "svc-ci"); errType(err) != contract.ErrTypeAssetMisconfigured || !strings.Contains(err.Error(), "release/2") {
		t.Fatalf("backup of a missing branch: %v", err)
	}
}
