package activities

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/lifeboat-dr/lifeboat/integrations/secrets"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
	"github.com/lifeboat-dr/lifeboat/workflows/asset"
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

	v, err := env.ExecuteActivity(a.BackupAsset, BackupAssetInput{Asset: "docs"})
	if err != nil {
		t.Fatal(err)
	}
	var first BackupAssetResult
	_ = v.Get(&first)
	// The same job again (a retried activity) returns the same snapshot.
	v, err = env.ExecuteActivity(a.BackupAsset, BackupAssetInput{Asset: "docs"})
	if err != nil {
		t.Fatal(err)
	}
	var again BackupAssetResult
	_ = v.Get(&again)
	if again.Snapshot.ID != first.Snapshot.ID || first.Snapshot.Files != 1 {
		t.Fatalf("first %+v, again %+v", first.Snapshot, again.Snapshot)
	}

	// A non-empty target is refused; an empty one gets the files.
	busy := t.TempDir()
	_ = os.WriteFile(filepath.Join(busy, "keep.txt"), []byte("mine"), 0o644)
	_, err = env.ExecuteActivity(a.RestoreAsset, RestoreAssetInput{Asset: "docs", Snapshot: "latest", TargetDir: busy})
	if errType(err) != ErrTypeAssetMisconfigured || !strings.Contains(err.Error(), "is not empty") {
		t.Fatalf("restore into a non-empty directory: %v", err)
	}
	target := filepath.Join(t.TempDir(), "new")
	if _, err := env.ExecuteActivity(a.RestoreAsset, RestoreAssetInput{Asset: "docs", Snapshot: first.Snapshot.ID[:8], TargetDir: target}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(target, "a.txt")); err != nil || string(b) != "alpha" {
		t.Fatalf("restored %q, %v", b, err)
	}
	if _, err := env.ExecuteActivity(a.RestoreAsset, RestoreAssetInput{Asset: "docs", Snapshot: "latest", TargetDir: "relative"}); errType(err) != ErrTypeAssetMisconfigured {
		t.Fatalf("relative target: %v", err)
	}
	if _, err := env.ExecuteActivity(a.ResolveSnapshot, ResolveSnapshotInput{Asset: "docs", Ref: "ffffffff"}); errType(err) != ErrTypeNoSnapshot {
		t.Fatalf("unknown snapshot: %v", err)
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
	if _, err := env.ExecuteActivity(a.BackupAsset, BackupAssetInput{Asset: "docs"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		asset, wantType, wantText string
	}{
		{"nope", ErrTypeAssetNotFound, `asset "nope" is not in this worker's configuration (assets: cmd, docs, nocmd, other)`},
		{"other", ErrTypeAssetMisconfigured, "wrong passphrase"},
		{"cmd", "", "disk on fire"}, // retryable: the command may succeed next time
		{"nocmd", ErrTypeAssetMisconfigured, "cannot start command"},
	} {
		_, err := env.ExecuteActivity(a.BackupAsset, BackupAssetInput{Asset: tc.asset})
		if err == nil || errType(err) != tc.wantType || !strings.Contains(err.Error(), tc.wantText) {
			t.Errorf("%s: error %v (type %q), want type %q containing %q", tc.asset, err, errType(err), tc.wantType, tc.wantText)
		}
	}
	// The failed command left no snapshot.
	v, err := env.ExecuteActivity(a.LatestSnapshot, LatestSnapshotInput{Asset: "cmd"})
	if err != nil {
		t.Fatal(err)
	}
	var latest LatestSnapshotResult
	_ = v.Get(&latest)
	if latest.Found {
		t.Fatalf("a failed command made snapshot %s", latest.Snapshot.ID)
	}
}
