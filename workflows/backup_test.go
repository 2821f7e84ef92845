package workflows

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/activities/contract"
	"go.temporal.io/sdk/client"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"

	"github.com/lifeboat-dr/lifeboat/activities"
	"github.com/lifeboat-dr/lifeboat/activities/asset"
	"github.com/lifeboat-dr/lifeboat/integrations/notify"
	"github.com/lifeboat-dr/lifeboat/integrations/repository/retention"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
)

var envSeq atomic.Int64

// assetEnv is a test environment for the asset workflows whose notifications and watchdog signals
// are recorded rather than sent.
type assetEnv struct {
	*testsuite.TestWorkflowEnvironment
	mu      sync.Mutex
	alerts  []notify.Message
	signals []contract.SignalWithStartInput
	// noLedger makes LoadRun (onLoadRun) answer as a worker that keeps no audit ledger.
	noLedger bool
}

// slowMachine gives a workflow task 10 s of real time before the SDK reports a deadlock, rather
// than 1 s: under the race detector on a busy machine a first workflow task can take longer, while
// code that never yields is still caught.
func slowMachine(e *testsuite.TestWorkflowEnvironment) {
	e.SetWorkerOptions(worker.Options{DeadlockDetectionTimeout: 10 * time.Second})
}

func newAssetEnv(t *testing.T, assets *activities.Assets) *assetEnv {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))))
	e := &assetEnv{TestWorkflowEnvironment: s.NewTestWorkflowEnvironment()}
	// The default of 3s of real time is too short for a run under the race detector on a busy
	// machine; time in the workflow is skipped anyway.
	e.SetTestTimeout(time.Minute)
	slowMachine(e.TestWorkflowEnvironment)
	// Every environment is its own workflow (the default ID is shared), as jobs and locks tell them apart.
	e.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: fmt.Sprintf("test-%d", envSeq.Add(1))})
	if assets == nil {
		assets = &activities.Assets{}
	}
	RegisterWorkflows(e)
	activities.Set{Assets: assets, Notifications: &activities.Notifications{}, Signals: &activities.Signals{}}.Register(e)
	e.OnActivity("Notify", mock.Anything, mock.Anything).Return(func(_ context.Context, in contract.NotifyInput) (contract.NotifyResult, error) {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.alerts = append(e.alerts, in.Message)
		// A channel that can find its message again (Slack) returns a reference to it.
		return contract.NotifyResult{Deliveries: []notify.Delivery{{Notifier: "slack #dr", Route: "default", Attempts: 1, Ref: fmt.Sprintf("C1:%d", len(e.alerts))}}}, nil
	}).Maybe()
	e.OnActivity("SignalWithStart", mock.Anything, mock.Anything).Return(func(_ context.Context, in contract.SignalWithStartInput) error {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.signals = append(e.signals, in)
		return nil
	}).Maybe()
	return e
}

func (e *assetEnv) events() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, m := range e.alerts {
		out = append(out, m.Event)
	}
	return out
}

// testAsset is a directory asset with an off-site copy.
func testAsset() asset.Asset {
	return asset.Asset{
		Name:       "www",
		Source:     asset.Source{Paths: &asset.PathsSource{Include: []string{"/srv/www"}}},
		Repository: &asset.Repository{Location: "/backups/main", PasswordSecret: "repo"},
		Offsite:    &asset.Repository{Location: "s3://dr/www", PasswordSecret: "repo"},
		Schedule:   asset.Schedule{Every: units.Duration(time.Hour)},
		Retention:  asset.Retention{Last: 3},
		RPO:        units.Duration(2 * time.Hour),
		Notify:     []string{"ops"},
		Owners:     []string{"alice", "bob"},
	}
}

func (e *assetEnv) onAsset(as asset.Asset) {
	e.OnActivity("LoadAsset", mock.Anything, mock.Anything).Return(contract.LoadAssetResult{Asset: as}, nil)
}

var snap = contract.SnapshotInfo{ID: "5e1f00d5aaaa", Time: time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC), Location: "/backups/main", Files: 12, Bytes: 4096}

func TestBackupCopiesAppliesRetentionAndTellsTheWatchdog(t *testing.T) {
	e := newAssetEnv(t, nil)
	e.onAsset(testAsset())
	e.OnActivity("BackupAsset", mock.Anything, contract.BackupAssetInput{Asset: "www", Tags: []string{"nightly"}}).Return(contract.BackupAssetResult{Snapshot: snap, Attempts: 1}, nil).Once()
	e.OnActivity("CopyOffsite", mock.Anything, contract.CopyOffsiteInput{Asset: "www", Snapshot: snap.ID}).Return(contract.CopyOffsiteResult{Copy: contract.SnapshotInfo{ID: "c0ffee", Location: "s3://dr/www"}}, nil).Once()
	e.OnActivity("ApplyRetention", mock.Anything, contract.ApplyRetentionInput{Asset: "www"}).Return(contract.ApplyRetentionResult{Reports: []contract.RetentionReport{{Location: "/backups/main", Kept: 3, Removed: []string{"old"}}}}, nil).Once()
	e.ExecuteWorkflow(BackupWorkflow, BackupInput{Asset: "www", Tags: []string{"nightly"}, Trigger: "test"})
	if err := e.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var r BackupResult
	if err := e.GetWorkflowResult(&r); err != nil {
		t.Fatal(err)
	}
	if r.Phase != PhaseDone || r.Snapshot.ID != snap.ID || r.Snapshot.Copy == nil || r.Snapshot.Copy.ID != "c0ffee" || len(r.Retention) != 1 {
		t.Fatalf("result %+v", r)
	}
	if len(e.signals) != 1 || e.signals[0].WorkflowID != "rpo-www" || e.signals[0].Signal != SignalBackupDone || e.signals[0].WorkflowType != RPOWatchdogWorkflow {
		t.Fatalf("watchdog signals %+v", e.signals)
	}
	if ev := e.events(); len(ev) != 0 {
		t.Fatalf("alerts on success: %v", ev)
	}
	e.AssertExpectations(t)
}

func TestBackupFailureAlertsAndFails(t *testing.T) {
	for _, tc := range []struct {
		name, step     string
		failing        string
		wantWatchdogs  int
		wantActivities []string
	}{
		{name: "backup", failing: "BackupAsset", step: "back up", wantWatchdogs: 0},
		{name: "off-site copy", failing: "CopyOffsite", step: "copy off-site", wantWatchdogs: 1},
		{name: "retention", failing: "ApplyRetention", step: "apply retention", wantWatchdogs: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newAssetEnv(t, nil)
			e.onAsset(testAsset())
			boom := temporal.NewNonRetryableApplicationError("bucket gone", contract.ErrTypeAssetMisconfigured, nil)
			results := map[string][]any{
				"BackupAsset":    {contract.BackupAssetResult{Snapshot: snap}, nil},
				"CopyOffsite":    {contract.CopyOffsiteResult{}, nil},
				"ApplyRetention": {contract.ApplyRetentionResult{}, nil},
			}
			results[tc.failing][1] = boom
			for name, r := range results {
				e.OnActivity(name, mock.Anything, mock.Anything).Return(r...).Maybe()
			}
			e.ExecuteWorkflow(BackupWorkflow, BackupInput{Asset: "www"})
			err := e.GetWorkflowError()
			if err == nil || !strings.Contains(err.Error(), tc.step+": bucket gone") {
				t.Fatalf("workflow error %v, want the failing step and cause", err)
			}
			if ev := e.events(); len(ev) != 1 || ev[0] != "backup.failed" {
				t.Fatalf("alerts %v, want one backup.failed", ev)
			}
			if e.alerts[0].Severity != notify.Critical || e.alerts[0].Asset != "www" {
				t.Fatalf("alert %+v", e.alerts[0])
			}
			// A snapshot made before a later step failed still counts for the RPO.
			if len(e.signals) != tc.wantWatchdogs {
				t.Fatalf("%d watchdog signals, want %d", len(e.signals), tc.wantWatchdogs)
			}
		})
	}
}

func TestBackupWaitsWhileAnotherHoldsTheRepository(t *testing.T) {
	e := newAssetEnv(t, nil)
	e.onAsset(testAsset())
	locked := temporal.NewNonRetryableApplicationError("repository is locked: shared lock by backup-www/run-1", contract.ErrTypeLocked, nil)
	calls := 0
	e.OnActivity("BackupAsset", mock.Anything, mock.Anything).Return(func(_ context.Context, _ contract.BackupAssetInput) (contract.BackupAssetResult, error) {
		calls++
		if calls <= 2 {
			return contract.BackupAssetResult{}, locked
		}
		return contract.BackupAssetResult{Snapshot: snap}, nil
	})
	e.OnActivity("CopyOffsite", mock.Anything, mock.Anything).Return(contract.CopyOffsiteResult{}, nil)
	e.OnActivity("ApplyRetention", mock.Anything, mock.Anything).Return(contract.ApplyRetentionResult{}, nil)
	var waiting BackupResult
	e.RegisterDelayedCallback(func() {
		v, err := e.QueryWorkflow(QueryStatus)
		if err == nil {
			_ = v.Get(&waiting)
		}
	}, lockWait/2)
	e.ExecuteWorkflow(BackupWorkflow, BackupInput{Asset: "www"})
	if err := e.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var r BackupResult
	_ = e.GetWorkflowResult(&r)
	if calls != 3 || r.WaitedForLock.D() != 2*lockWait {
		t.Fatalf("%d backup attempts, waited %s; want 3 and %s", calls, r.WaitedForLock, 2*lockWait)
	}
	if waiting.Phase != PhaseWaiting || !strings.Contains(waiting.Error, "backup-www/run-1") {
		t.Fatalf("status while waiting: %+v", waiting)
	}
	if ev := e.events(); len(ev) != 0 {
		t.Fatalf("waiting for a lock alerted: %v", ev)
	}
}

func TestBackupShowsProgressFromSignals(t *testing.T) {
	e := newAssetEnv(t, nil)
	as := testAsset()
	as.Offsite = nil
	e.onAsset(as)
	var during BackupResult
	e.OnActivity("BackupAsset", mock.Anything, mock.Anything).After(time.Minute).Return(contract.BackupAssetResult{Snapshot: snap}, nil)
	e.OnActivity("ApplyRetention", mock.Anything, mock.Anything).Return(contract.ApplyRetentionResult{}, nil)
	e.RegisterDelayedCallback(func() {
		e.SignalWorkflow(contract.SignalProgress, contract.OpProgress{Step: "backup", BytesDone: 50 << 20, BytesTotal: 200 << 20, Files: 10, Elapsed: 10 * time.Second, Attempt: 2,
			Resumed: &contract.OpProgress{BytesDone: 30 << 20}})
	}, 10*time.Second)
	e.RegisterDelayedCallback(func() {
		v, err := e.QueryWorkflow(QueryStatus)
		if err == nil {
			_ = v.Get(&during)
		}
	}, 20*time.Second)
	e.ExecuteWorkflow(BackupWorkflow, BackupInput{Asset: "www"})
	if err := e.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if during.Phase != PhaseBackingUp || during.Progress == nil || during.Progress.BytesDone != 50<<20 {
		t.Fatalf("status during the backup: %+v", during)
	}
	line := progressLine(*during.Progress)
	for _, want := range []string{"50.0 MiB of ~200.0 MiB (25%)", "5.0 MiB/s", "ETA 30s", "attempt 2, resumed after 30.0 MiB"} {
		if !strings.Contains(line, want) {
			t.Errorf("progress line %q lacks %q", line, want)
		}
	}
}

func TestBackupOfAnUnknownAssetFailsAtOnce(t *testing.T) {
	e := newAssetEnv(t, &activities.Assets{Catalog: map[string]asset.Asset{}})
	e.ExecuteWorkflow(BackupWorkflow, BackupInput{Asset: "nope"})
	var appErr *temporal.ApplicationError
	if err := e.GetWorkflowError(); !errors.As(err, &appErr) || !strings.Contains(err.Error(), `asset "nope" is not in this worker's configuration`) {
		t.Fatalf("error %v", err)
	}
}

// The policy the asset declares is the one retention applies, grouped by asset alone.
func TestRetentionPolicyOfAnAsset(t *testing.T) {
	p := testAsset().Retention.Policy()
	if err := p.Validate(); err != nil || p.Last != 3 {
		t.Fatalf("%+v %v", p, err)
	}
	p.GroupBy = "source"
	groups, err := retention.Apply([]retention.Snapshot{{ID: "a", Source: "www", Hostname: "h1"}, {ID: "b", Source: "www", Hostname: "h2"}}, p, time.UTC)
	if err != nil || len(groups) != 1 {
		t.Fatalf("snapshots from two workers form %d groups (%v), want 1", len(groups), err)
	}
}
