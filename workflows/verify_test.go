package workflows

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/activities/contract"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"

	"github.com/lifeboat-dr/lifeboat/activities"
	"github.com/lifeboat-dr/lifeboat/activities/asset"
	"github.com/lifeboat-dr/lifeboat/integrations/secrets"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
)

func TestVerifyRecordsEvidenceAndRemovesTheScratchCopy(t *testing.T) {
	for _, tc := range []struct {
		name       string
		restoreErr error
		checks     contract.RunChecksResult
		wantErr    string
		wantAlert  bool
	}{
		{name: "passes", checks: contract.RunChecksResult{Passed: true, Checks: []contract.CheckResult{{Name: "index", Kind: "file", Passed: true}}}},
		{name: "a check fails", checks: contract.RunChecksResult{Checks: []contract.CheckResult{{Name: "rows of orders", Kind: "row_count", Detail: "3 rows, want at least 100"}}},
			wantErr: "1 of 1 checks failed: rows of orders: 3 rows, want at least 100", wantAlert: true},
		{name: "the restore fails", restoreErr: temporal.NewNonRetryableApplicationError("pack damaged", contract.ErrTypeAssetMisconfigured, nil),
			wantErr: "restore: pack damaged", wantAlert: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newAssetEnv(t, nil)
			e.onAsset(testAsset())
			e.OnActivity("ResolveSnapshot", mock.Anything, mock.MatchedBy(func(in contract.ResolveSnapshotInput) bool { return in.Ref == "sample" })).
				Return(contract.ResolveSnapshotResult{Snapshot: snap}, nil)
			e.OnActivity("RestoreAsset", mock.Anything, contract.RestoreAssetInput{Asset: "www", Snapshot: snap.ID, Scratch: true}).
				Return(contract.RestoreAssetResult{Snapshot: snap, TargetDir: "/tmp/lifeboat-verify-www-1", Duration: 3 * time.Second}, tc.restoreErr)
			e.OnActivity("RunChecks", mock.Anything, mock.Anything).Return(tc.checks, nil).Maybe()
			dropped := 0
			e.OnActivity("DropScratch", mock.Anything, contract.DropScratchInput{Asset: "www"}).
				Return(func(context.Context, contract.DropScratchInput) (contract.DropScratchResult, error) {
					dropped++
					return contract.DropScratchResult{}, nil
				})
			e.ExecuteWorkflow(VerifyWorkflow, VerifyInput{Asset: "www", Snapshot: "sample", Trigger: "test"})
			var ev Evidence
			err := e.GetWorkflowError()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				_ = e.GetWorkflowResult(&ev)
			} else {
				var appErr *temporal.ApplicationError
				if !errors.As(err, &appErr) || appErr.Type() != "VerificationFailed" || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				if err := appErr.Details(&ev); err != nil {
					t.Fatalf("no evidence in the failure: %v", err)
				}
			}
			if dropped != 1 {
				t.Errorf("scratch copy removed %d times, want once", dropped)
			}
			if ev.Snapshot.ID != snap.ID || ev.Trigger != "test" || ev.Passed != (tc.wantErr == "") || ev.RunID == "" {
				t.Errorf("evidence %+v", ev)
			}
			if len(e.signals) != 1 || e.signals[0].Signal != SignalVerified || e.signals[0].WorkflowID != "rpo-www" {
				t.Errorf("watchdog not told: %+v", e.signals)
			}
			if got := len(e.alerts) > 0 && e.alerts[0].Event == "verify.failed"; got != tc.wantAlert {
				t.Errorf("alerts %+v", e.alerts)
			}
		})
	}
}

// realAssets are the real asset activities over a local repository, for a directory asset.
func realAssets(t *testing.T, src string) (*activities.Assets, asset.Asset) {
	t.Helper()
	as := asset.Asset{
		Name:       "site",
		Source:     asset.Source{Paths: &asset.PathsSource{Include: []string{src}}},
		Repository: &asset.Repository{Location: filepath.Join(t.TempDir(), "repo"), PasswordSecret: "repo-pass"},
		Offsite:    &asset.Repository{Location: filepath.Join(t.TempDir(), "offsite"), PasswordSecret: "repo-pass"},
		Schedule:   asset.Schedule{Every: units.Duration(time.Hour)},
		Retention:  asset.Retention{Last: 2},
		RPO:        units.Duration(2 * time.Hour),
	}
	return &activities.Assets{
		Catalog:    map[string]asset.Asset{as.Name: as},
		Secrets:    secrets.Static{"repo-pass": "correct horse battery staple"},
		ScratchDir: t.TempDir(),
		Logger:     slog.New(slog.DiscardHandler),
	}, as
}

func writeSite(t *testing.T, dir string, index string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "img"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte(index), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "img", "logo.bin"), make([]byte, 3<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(index))
	return hex.EncodeToString(sum[:])
}

// With the real activities on a real repository: backups, an off-site copy, retention, then a drill
// that restores into scratch, checks a file's checksum and removes the scratch copy.
func TestBackupAndVerifyWithRealActivities(t *testing.T) {
	src := t.TempDir()
	sum := writeSite(t, src, "<h1>orders</h1>")
	assets, as := realAssets(t, src)
	as.Verify = &asset.Verify{Schedule: asset.Schedule{Every: units.Duration(24 * time.Hour)}, Checks: []asset.Check{{File: "index.html", SHA256: sum}}}
	assets.Catalog[as.Name] = as

	var last BackupResult
	for i := range 3 {
		e := newAssetEnv(t, assets)
		e.ExecuteWorkflow(BackupWorkflow, BackupInput{Asset: "site"})
		if err := e.GetWorkflowError(); err != nil {
			t.Fatalf("backup %d: %v", i, err)
		}
		_ = e.GetWorkflowResult(&last)
	}
	if last.Snapshot == nil || last.Snapshot.Files != 2 || last.Offsite == nil || last.Offsite.Copy.ID == "" {
		t.Fatalf("last backup %+v", last)
	}
	// Retention keeps the last two in both repositories.
	if len(last.Retention) != 2 || last.Retention[0].Kept != 2 || len(last.Retention[0].Removed) != 1 || last.Retention[1].Kept != 2 {
		t.Fatalf("retention %+v", last.Retention)
	}

	e := newAssetEnv(t, assets)
	e.ExecuteWorkflow(VerifyWorkflow, VerifyInput{Asset: "site"})
	if err := e.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var ev Evidence
	_ = e.GetWorkflowResult(&ev)
	if !ev.Passed || ev.Snapshot.ID != last.Snapshot.ID || ev.Checks == nil || ev.Checks.Files != 2 || ev.Checks.Checks[0].Value != sum {
		t.Fatalf("evidence %+v", ev)
	}
	if entries, _ := os.ReadDir(assets.ScratchDir); len(entries) != 0 {
		t.Fatalf("scratch copy left behind: %v", entries)
	}

	// The same drill against a changed file fails its checksum.
	as.Verify.Checks[0].SHA256 = strings.Repeat("0", 64)
	assets.Catalog[as.Name] = as
	e = newAssetEnv(t, assets)
	e.ExecuteWorkflow(VerifyWorkflow, VerifyInput{Asset: "site"})
	if err := e.GetWorkflowError(); err == nil || !strings.Contains(err.Error(), "sha256 is "+sum) {
		t.Fatalf("drill with a wrong checksum: %v", err)
	}
}

// Two backups of one asset started together: the second waits for the first's lock, then runs;
// each makes exactly one snapshot.
func TestOverlappingBackupsOfOneAssetRunOneAfterTheOther(t *testing.T) {
	src := t.TempDir()
	writeSite(t, src, "v1")
	assets, as := realAssets(t, src)
	// A command that takes a while holds the asset's lock for as long.
	as.Source = asset.Source{Command: &asset.CommandSource{Argv: []string{"sh", "-c", "sleep 2; head -c 1048576 /dev/zero"}, Name: "stream.bin"}}
	as.Offsite = nil
	assets.Catalog[as.Name] = as

	results := make([]BackupResult, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i == 1 {
				// Start once the first holds its lock.
				for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
					if locks, _ := os.ReadDir(filepath.Join(as.Repository.Location, "locks")); len(locks) > 0 {
						break
					}
				}
			}
			e := newAssetEnv(t, assets)
			e.ExecuteWorkflow(BackupWorkflow, BackupInput{Asset: "site", SkipRetention: true})
			errs[i] = e.GetWorkflowError()
			_ = e.GetWorkflowResult(&results[i])
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("backup %d: %v", i, err)
		}
	}
	if results[0].WaitedForLock != 0 || results[1].WaitedForLock == 0 {
		t.Fatalf("waited for the lock: first %s, second %s; want only the second", results[0].WaitedForLock, results[1].WaitedForLock)
	}
	if results[0].Snapshot.ID == results[1].Snapshot.ID {
		t.Fatal("both backups returned one snapshot")
	}
	var latest contract.LatestSnapshotResult
	latest, err := assets.LatestSnapshot(context.Background(), contract.LatestSnapshotInput{Asset: "site"})
	if err != nil || latest.Snapshot.ID != results[1].Snapshot.ID {
		t.Fatalf("latest %+v, %v", latest, err)
	}
}
