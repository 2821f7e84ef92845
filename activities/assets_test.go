package activities

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/activities/contract"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/lifeboat-dr/lifeboat/activities/asset"
	"github.com/lifeboat-dr/lifeboat/integrations/repository"
	"github.com/lifeboat-dr/lifeboat/integrations/secrets"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
)

func testAssets(t *testing.T, as ...asset.Asset) *Assets {
	catalog := map[string]asset.Asset{}
	for _, a := range as {
		catalog[a.Name] = a
	}
	return &Assets{Catalog: catalog, Secrets: secrets.Static{"pass": "correct horse"}, ScratchDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)}
}

func dirAsset(t *testing.T, name, src string) asset.Asset {
	return asset.Asset{Name: name, Source: asset.Source{Paths: &asset.PathsSource{Include: []string{src}}},
		Repository: &asset.Repository{Location: filepath.Join(t.TempDir(), "repo"), PasswordSecret: "pass"},
		Schedule:   asset.Schedule{Every: units.Duration(time.Hour)}, Retention: asset.Retention{Last: 1}, RPO: units.Duration(time.Hour)}
}

// errType is the type of a non-retryable application error, or "" for an error that is retried.
func errType(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.NonRetryable() {
		return appErr.Type()
	}
	return ""
}

func TestBackupAndRestoreActivities(t *testing.T) {
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "a.txt"), []byte("alpha"), 0o644); err != nil {
		t.Fatal(err)
	}
	as := dirAsset(t, "docs", src)
	a := testAssets(t, as)
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(a)

	v, err := env.ExecuteActivity(a.BackupAsset, contract.BackupAssetInput{Asset: "docs"})
	if err != nil {
		t.Fatal(err)
	}
	var first contract.BackupAssetResult
	_ = v.Get(&first)
	// The same job again (a retried activity) returns the same snapshot.
	v, err = env.ExecuteActivity(a.BackupAsset, contract.BackupAssetInput{Asset: "docs"})
	if err != nil {
		t.Fatal(err)
	}
	var again contract.BackupAssetResult
	_ = v.Get(&again)
	if again.Snapshot.ID != first.Snapshot.ID || first.Snapshot.Files != 1 {
		t.Fatalf("first %+v, again %+v", first.Snapshot, again.Snapshot)
	}

	// A non-empty target is refused; an empty one gets the files.
	roots := t.TempDir()
	a.RestoreRoots = []string{roots}
	busy := filepath.Join(roots, "busy")
	_ = os.MkdirAll(busy, 0o755)
	_ = os.WriteFile(filepath.Join(busy, "keep.txt"), []byte("mine"), 0o644)
	_, err = env.ExecuteActivity(a.RestoreAsset, contract.RestoreAssetInput{Asset: "docs", Snapshot: "latest", TargetDir: busy})
	if errType(err) != contract.ErrTypeAssetMisconfigured || !strings.Contains(err.Error(), "is not empty") {
		t.Fatalf("restore into a non-empty directory: %v", err)
	}
	target := filepath.Join(roots, "new")
	if _, err := env.ExecuteActivity(a.RestoreAsset, contract.RestoreAssetInput{Asset: "docs", Snapshot: first.Snapshot.ID[:8], TargetDir: target}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(target, "a.txt")); err != nil || string(b) != "alpha" {
		t.Fatalf("restored %q, %v", b, err)
	}
	// A configured root that does not exist yet is created.
	a.RestoreRoots = []string{filepath.Join(t.TempDir(), "restores", "here")}
	fresh := filepath.Join(a.RestoreRoots[0], "docs", "first")
	if _, err := env.ExecuteActivity(a.RestoreAsset, contract.RestoreAssetInput{Asset: "docs", Snapshot: "latest", TargetDir: fresh}); err != nil {
		t.Fatalf("restore under a root that does not exist yet: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(fresh, "a.txt")); err != nil || string(b) != "alpha" {
		t.Fatalf("restored %q, %v", b, err)
	}
	if _, err := env.ExecuteActivity(a.RestoreAsset, contract.RestoreAssetInput{Asset: "docs", Snapshot: "latest", TargetDir: "relative"}); errType(err) != contract.ErrTypeAssetMisconfigured {
		t.Fatalf("relative target: %v", err)
	}
	if _, err := env.ExecuteActivity(a.ResolveSnapshot, contract.ResolveSnapshotInput{Asset: "docs", Ref: "ffffffff"}); errType(err) != contract.ErrTypeNoSnapshot {
		t.Fatalf("unknown snapshot: %v", err)
	}
}

// A restore writes nothing outside the configured roots, nothing outside the snapshot, never over
// a file it did not create — a retry included — and an in-place restore only where the asset's
// own configured path is.
func TestRestoreStaysInsideWhatItWasAskedToChange(t *testing.T) {
	src := t.TempDir()
	if err := os.MkdirAll(filepath.Join(src, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"a.txt": "alpha", "etc/app.conf": "listen 80"} {
		if err := os.WriteFile(filepath.Join(src, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	as := dirAsset(t, "docs", src)
	a := testAssets(t, as)
	roots := t.TempDir()
	a.RestoreRoots = []string{filepath.Join(roots, "restores")}
	if err := os.MkdirAll(a.RestoreRoots[0], 0o755); err != nil {
		t.Fatal(err)
	}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	if _, err := env.ExecuteActivity(a.BackupAsset, contract.BackupAssetInput{Asset: "docs"}); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(roots, "elsewhere")
	if err := os.Symlink(outside, filepath.Join(a.RestoreRoots[0], "link")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		in   contract.RestoreAssetInput
		want string
	}{
		{"a target outside the roots", contract.RestoreAssetInput{TargetDir: outside}, "outside the directories this worker restores into"},
		{"a link out of the roots", contract.RestoreAssetInput{TargetDir: filepath.Join(a.RestoreRoots[0], "link", "x")}, "outside the directories"},
		{"dot-dot out of the roots", contract.RestoreAssetInput{TargetDir: a.RestoreRoots[0] + "/../elsewhere"}, "outside the directories"},
		{"a path out of the snapshot", contract.RestoreAssetInput{TargetDir: filepath.Join(a.RestoreRoots[0], "p"), Path: "../../etc/passwd"}, `".." element`},
		{"an absolute path", contract.RestoreAssetInput{TargetDir: filepath.Join(a.RestoreRoots[0], "p"), Path: "/etc"}, "is absolute"},
		{"in place with a directory", contract.RestoreAssetInput{InPlace: true, TargetDir: filepath.Join(a.RestoreRoots[0], "p")}, "no target directory"},
		{"a database for files", contract.RestoreAssetInput{Database: "copy"}, "holds files"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.Asset, tc.in.Snapshot = "docs", "latest"
			for _, act := range []any{a.PlanRestore, a.RestoreAsset} {
				_, err := env.ExecuteActivity(act, tc.in)
				if errType(err) != contract.ErrTypeAssetMisconfigured || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %v, want a non-retryable one containing %q", err, tc.want)
				}
			}
			if _, err := os.Stat(outside); !os.IsNotExist(err) {
				t.Fatalf("something was written outside the roots: %v", err)
			}
		})
	}

	// The plan states the scope, and the restore refuses to do other than what was approved.
	v, err := env.ExecuteActivity(a.PlanRestore, contract.RestoreAssetInput{Asset: "docs", Snapshot: "latest", InPlace: true, Path: "etc"})
	if err != nil {
		t.Fatal(err)
	}
	var plan contract.RestorePlan
	_ = v.Get(&plan)
	if plan.TargetDir != src || !plan.Overwrite || plan.Path != "etc" || !strings.Contains(plan.Scope(), "overwriting existing files") {
		t.Fatalf("in-place plan %+v: %s", plan, plan.Scope())
	}
	other := plan
	other.TargetDir = "/"
	if _, err := env.ExecuteActivity(a.RestoreAsset, contract.RestoreAssetInput{Asset: "docs", Snapshot: "latest", InPlace: true, Path: "etc", Approved: &other}); errType(err) != contract.ErrTypeAssetMisconfigured ||
		!strings.Contains(err.Error(), "what was approved") {
		t.Fatalf("restore that differs from the approved plan: %v", err)
	}

	// A retry (an earlier attempt heartbeated) into the target it began: a file it did not create
	// and that differs from the snapshot is refused and left as it is; one equal to the snapshot's
	// counts as restored; a file that is not in the snapshot is not touched.
	target := filepath.Join(a.RestoreRoots[0], "retry")
	if err := os.MkdirAll(filepath.Join(target, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"a.txt": "alpha", "etc/app.conf": "someone else's", "notes.txt": "not in the snapshot"} {
		if err := os.WriteFile(filepath.Join(target, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env.SetHeartbeatDetails(contract.OpProgress{Step: "restore", Files: 1, Attempt: 1})
	v, err = env.ExecuteActivity(a.RestoreAsset, contract.RestoreAssetInput{Asset: "docs", Snapshot: "latest", TargetDir: target})
	var res contract.RestoreAssetResult
	if err == nil {
		_ = v.Get(&res)
	}
	if err == nil && len(res.Failed) == 0 {
		t.Fatalf("a retry replaced a file it did not create: %+v", res)
	}
	for name, want := range map[string]string{"a.txt": "alpha", "etc/app.conf": "someone else's", "notes.txt": "not in the snapshot"} {
		if b, _ := os.ReadFile(filepath.Join(target, name)); string(b) != want {
			t.Fatalf("%s is %q after the retry, want %q", name, b, want)
		}
	}
}

func TestAssetActivityErrorsAreClassified(t *testing.T) {
	src := t.TempDir()
	good := dirAsset(t, "docs", src)
	wrongPass := dirAsset(t, "other", src)
	wrongPass.Repository = &asset.Repository{Location: good.Repository.Location, PasswordSecret: "wrong"}
	failing := dirAsset(t, "cmd", src)
	failing.Source = asset.Source{Command: &asset.CommandSource{Argv: []string{"sh", "-c", "echo partial; echo disk on fire >&2; exit 3"}, Name: "out.bin"}}
	missing := dirAsset(t, "nocmd", src)
	missing.Source = asset.Source{Command: &asset.CommandSource{Argv: []string{"/nonexistent/dump"}, Name: "out.bin"}}
	a := testAssets(t, good, wrongPass, failing, missing)
	a.Secrets = secrets.Static{"pass": "correct horse", "wrong": "not it"}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	if _, err := env.ExecuteActivity(a.BackupAsset, contract.BackupAssetInput{Asset: "docs"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		asset, wantType, wantText string
	}{
		{"nope", contract.ErrTypeAssetNotFound, `asset "nope" is not in this worker's configuration (assets: cmd, docs, nocmd, other)`},
		{"other", contract.ErrTypeAssetMisconfigured, "wrong passphrase"},
		{"cmd", "", "disk on fire"}, // retryable: the command may succeed next time
		{"nocmd", contract.ErrTypeAssetMisconfigured, "cannot start command"},
	} {
		_, err := env.ExecuteActivity(a.BackupAsset, contract.BackupAssetInput{Asset: tc.asset})
		if err == nil || errType(err) != tc.wantType || !strings.Contains(err.Error(), tc.wantText) {
			t.Errorf("%s: error %v (type %q), want type %q containing %q", tc.asset, err, errType(err), tc.wantType, tc.wantText)
		}
	}
	// The failed command left no snapshot.
	v, err := env.ExecuteActivity(a.LatestSnapshot, contract.LatestSnapshotInput{Asset: "cmd"})
	if err != nil {
		t.Fatal(err)
	}
	var latest contract.LatestSnapshotResult
	_ = v.Get(&latest)
	if latest.Found {
		t.Fatalf("a failed command made snapshot %s", latest.Snapshot.ID)
	}
}

// A retention attempt that forgot snapshots and died before its prune leaves data that only the
// forgotten snapshots used; the retry finds nothing to forget and prunes all the same.
func TestRetentionRetryPrunesWhatAnEarlierAttemptForgot(t *testing.T) {
	src := t.TempDir()
	as := dirAsset(t, "docs", src)
	a := testAssets(t, as)
	ctx := t.Context()
	repo, closeRepo, err := a.openRepo(ctx, as.Repository, true)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		// Incompressible, so that a forgotten snapshot's data fills packs of its own.
		data := make([]byte, 1<<20)
		for j := range data {
			data[j] = byte((j*7 + i*131 + j/251) ^ (j >> 3))
		}
		if err := os.WriteFile(filepath.Join(src, "data.bin"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := repo.Backup(ctx, []string{src}, repository.BackupOptions{Source: "docs", Job: fmt.Sprintf("job-%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	// The interrupted attempt: forget, no prune.
	policy := as.Retention.Policy()
	policy.GroupBy = "source"
	if _, err := repo.Forget(ctx, policy, repository.SnapshotFilter{Source: "docs"}, time.UTC, false); err != nil {
		t.Fatal(err)
	}
	closeRepo()

	var s testsuite.WorkflowTestSuite
	// A first attempt that finds nothing to forget has nothing to prune either.
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	v, err := env.ExecuteActivity(a.ApplyRetention, contract.ApplyRetentionInput{Asset: "docs"})
	if err != nil {
		t.Fatal(err)
	}
	var first contract.ApplyRetentionResult
	_ = v.Get(&first)
	if len(first.Reports) != 1 || first.Reports[0].BytesFreed != 0 || len(first.Reports[0].Removed) != 0 {
		t.Fatalf("first attempt with nothing to forget: %+v", first)
	}
	// The retry (it has its predecessor's heartbeat) prunes.
	env = s.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	env.SetHeartbeatDetails(contract.OpProgress{Step: "retention", Attempt: 1})
	v, err = env.ExecuteActivity(a.ApplyRetention, contract.ApplyRetentionInput{Asset: "docs"})
	if err != nil {
		t.Fatal(err)
	}
	var retry contract.ApplyRetentionResult
	_ = v.Get(&retry)
	if len(retry.Reports) != 1 || retry.Reports[0].Kept != 1 || retry.Reports[0].BytesFreed < 1<<20 {
		t.Fatalf("the retry did not prune what the forgotten snapshots used: %+v", retry)
	}
	// The kept snapshot is whole.
	repo, closeRepo, err = a.openRepo(ctx, as.Repository, false)
	if err != nil {
		t.Fatal(err)
	}
	defer closeRepo()
	rep, err := repo.Check(ctx, repository.CheckOptions{ReadData: true})
	if err != nil || !rep.OK() {
		t.Fatalf("check after the retry's prune: %+v, %v", rep, err)
	}
}
