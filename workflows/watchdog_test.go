package workflows

import (
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/activities/contract"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/workflow"

	"github.com/lifeboat-dr/lifeboat/integrations/notify"
)

// alertAt is an alert with the test clock's time.
type alertAt struct {
	event string
	level int
	sev   notify.Severity
	at    time.Duration
}

func TestRPOWatchdogAlertsEscalatesAndClears(t *testing.T) {
	e := newAssetEnv(t, nil)
	as := testAsset() // RPO 2h: escalation every hour
	e.onAsset(as)
	start := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	e.SetStartTime(start)
	// The newest snapshot is 90 minutes old: stale in 30 minutes.
	e.OnActivity("LatestSnapshot", mock.Anything, mock.Anything).Return(contract.LatestSnapshotResult{Found: true,
		Snapshot: contract.SnapshotInfo{ID: "0ld5nap", Time: start.Add(-90 * time.Minute)}}, nil).Once()

	var statusStale, statusClear RPOStatus
	query := func(into *RPOStatus) func() {
		return func() {
			if v, err := e.QueryWorkflow(QueryStatus); err == nil {
				_ = v.Get(into)
			}
		}
	}
	// Stale at +30m (level 1), still stale at +1h30 (level 2) and +2h30 (level 3); a backup at +2h45
	// clears it; the next deadline is then +4h45.
	e.RegisterDelayedCallback(query(&statusStale), 2*time.Hour)
	e.RegisterDelayedCallback(func() {
		e.SignalWorkflow(SignalBackupDone, BackupDone{Snapshot: "n3wsnap", Time: start.Add(165 * time.Minute)})
	}, 165*time.Minute)
	e.RegisterDelayedCallback(func() {
		e.SignalWorkflow(SignalVerified, Evidence{Asset: "www", Passed: true, Snapshot: contract.SnapshotInfo{ID: "n3wsnap", Time: start.Add(165 * time.Minute)}, FinishedAt: start.Add(170 * time.Minute)})
	}, 170*time.Minute)
	e.RegisterDelayedCallback(query(&statusClear), 3*time.Hour)
	e.RegisterDelayedCallback(e.CancelWorkflow, 4*time.Hour)
	e.ExecuteWorkflow(RPOWatchdogWorkflow, RPOWatchdogInput{Asset: "www"})

	var got []alertAt
	for _, m := range e.alerts {
		got = append(got, alertAt{m.Event, m.Level, m.Severity, m.Time.Sub(start)})
	}
	want := []alertAt{
		{"rpo.stale", 0, notify.Warning, 30 * time.Minute},
		{"rpo.stale", 1, notify.Critical, 90 * time.Minute},
		{"rpo.stale", 2, notify.Critical, 150 * time.Minute},
		{"rpo.cleared", 0, notify.Info, 165 * time.Minute},
	}
	if len(got) != len(want) {
		t.Fatalf("alerts %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("alert %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if !statusStale.Stale || statusStale.Level != 2 || statusStale.LastSnapshot != "0ld5nap" || statusStale.Age.D() != 210*time.Minute {
		t.Errorf("status while stale: %+v", statusStale)
	}
	if statusClear.Stale || statusClear.LastSnapshot != "n3wsnap" || !statusClear.Deadline.Equal(start.Add(285*time.Minute)) {
		t.Errorf("status after the backup: %+v", statusClear)
	}
	// The breach is kept: from the deadline (+30m) to the backup that ended it (+2h45); while it
	// lasted it was open.
	if len(statusStale.Breaches) != 1 || !statusStale.Breaches[0].From.Equal(start.Add(30*time.Minute)) || !statusStale.Breaches[0].To.IsZero() {
		t.Errorf("breaches while stale: %+v", statusStale.Breaches)
	}
	if len(statusClear.Breaches) != 1 || !statusClear.Breaches[0].From.Equal(start.Add(30*time.Minute)) || !statusClear.Breaches[0].To.Equal(start.Add(165*time.Minute)) {
		t.Errorf("breaches after the backup: %+v", statusClear.Breaches)
	}
	if statusClear.LastVerified == nil || statusClear.LastVerified.Snapshot.ID != "n3wsnap" {
		t.Errorf("last verified restore point: %+v", statusClear.LastVerified)
	}
	if !strings.Contains(e.alerts[0].Title, "last good backup 2h ago") {
		t.Errorf("first alert title %q", e.alerts[0].Title)
	}
}

// A backup time from the future — a snapshot from a host whose clock is ahead, or a forged signal
// — counts as the time it arrived, and cannot keep a stale asset looking fresh.
func TestRPOWatchdogTakesBackupTimesFromTheFutureAsNow(t *testing.T) {
	e := newAssetEnv(t, nil)
	e.onAsset(testAsset()) // RPO 2h
	start := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	e.SetStartTime(start)
	e.OnActivity("LatestSnapshot", mock.Anything, mock.Anything).Return(contract.LatestSnapshotResult{Found: true,
		Snapshot: contract.SnapshotInfo{ID: "ahead", Time: start.Add(30 * 24 * time.Hour)}}, nil).Once()
	e.RegisterDelayedCallback(func() {
		e.SignalWorkflow(SignalBackupDone, BackupDone{Snapshot: "forged", Time: start.Add(365 * 24 * time.Hour), Workflow: "someone"})
	}, time.Hour)
	var st RPOStatus
	e.RegisterDelayedCallback(func() {
		if v, err := e.QueryWorkflow(QueryStatus); err == nil {
			_ = v.Get(&st)
		}
	}, 3*time.Hour+10*time.Minute)
	e.RegisterDelayedCallback(e.CancelWorkflow, 4*time.Hour)
	e.ExecuteWorkflow(RPOWatchdogWorkflow, RPOWatchdogInput{Asset: "www"})
	if len(e.alerts) == 0 || e.alerts[0].Event != "rpo.stale" || e.alerts[0].Time.Sub(start) != 3*time.Hour {
		t.Fatalf("alerts %+v: want the asset stale 2h after the forged backup arrived", e.alerts)
	}
	if !st.Stale || st.FutureTimes != 2 || !st.LastBackup.Equal(start.Add(time.Hour)) || st.LastSnapshot != "forged" {
		t.Fatalf("status %+v", st)
	}
}

func TestRPOWatchdogWithoutBackupsAlertsOneRPOAfterItStarts(t *testing.T) {
	e := newAssetEnv(t, nil)
	e.onAsset(testAsset())
	e.OnActivity("LatestSnapshot", mock.Anything, mock.Anything).Return(contract.LatestSnapshotResult{}, nil)
	e.RegisterDelayedCallback(e.CancelWorkflow, 2*time.Hour+time.Minute)
	start := time.Now()
	e.SetStartTime(start)
	e.ExecuteWorkflow(RPOWatchdogWorkflow, RPOWatchdogInput{Asset: "www"})
	if len(e.alerts) != 1 || e.alerts[0].Event != "rpo.stale" || !strings.Contains(e.alerts[0].Text, "no backup yet") {
		t.Fatalf("alerts %+v", e.alerts)
	}
}

func TestRPOWatchdogContinuesAsNewWithItsState(t *testing.T) {
	e := newAssetEnv(t, nil)
	e.onAsset(testAsset())
	start := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	e.SetStartTime(start)
	// Backups every 10 minutes wake the watchdog until it has handled a history's worth of them.
	for i := 1; i <= watchdogRunsPerHistory+1; i++ {
		at := time.Duration(i) * 10 * time.Minute
		e.RegisterDelayedCallback(func() {
			e.SignalWorkflow(SignalBackupDone, BackupDone{Snapshot: "s", Time: start.Add(at)})
		}, at)
	}
	e.ExecuteWorkflow(RPOWatchdogWorkflow, RPOWatchdogInput{Asset: "www", LastBackup: start, LastSnapshot: "first"})
	err := e.GetWorkflowError()
	if !workflow.IsContinueAsNewError(err) {
		t.Fatalf("error %v, want continue-as-new", err)
	}
	if len(e.alerts) != 0 {
		t.Fatalf("alerts while backups kept coming: %+v", e.alerts)
	}
}
