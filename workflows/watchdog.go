package workflows

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lifeboat-dr/lifeboat/activities/contract"

	"go.temporal.io/sdk/workflow"

	"github.com/lifeboat-dr/lifeboat/activities/asset"
	"github.com/lifeboat-dr/lifeboat/integrations/notify"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
)

// RPOWatchdogInput starts (or continues) an asset's RPO watchdog. Only Asset is needed to start
// one; the rest is the state carried across continue-as-new.
type RPOWatchdogInput struct {
	Asset string `json:"asset"`
	// LastBackup is the time of the newest good snapshot known; empty: ask the repository.
	LastBackup   time.Time `json:"last_backup,omitzero"`
	LastSnapshot string    `json:"last_snapshot,omitempty"`
	// Since is when the watchdog began watching (the baseline for an asset with no backup yet).
	Since time.Time `json:"since,omitzero"`
	// Level is the number of alerts sent for the current stale period (0: not stale).
	Level     int        `json:"level,omitempty"`
	StaleFrom time.Time  `json:"stale_from,omitzero"`
	Verified  *Evidence  `json:"verified,omitempty"`
	Failed    *Evidence  `json:"failed_verification,omitempty"`
	Backups   int        `json:"backups,omitempty"`
	Alerts    []AlertLog `json:"alerts,omitempty"`
	// FutureTimes counts backup times from the future that were taken as the time they arrived.
	FutureTimes int `json:"future_times,omitempty"`
	// Breaches are the past periods the asset spent outside its RPO, oldest first.
	Breaches []Breach `json:"breaches,omitempty"`
}

// Breach is a period an asset spent outside its RPO: from its deadline to the backup that ended it
// (To empty while it lasts).
type Breach struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to,omitzero"`
}

// BackupDone is the signal a backup sends its asset's watchdog.
type BackupDone struct {
	Snapshot string    `json:"snapshot"`
	Time     time.Time `json:"time"`
	Workflow string    `json:"workflow,omitempty"`
}

// AlertLog records an alert the watchdog sent.
type AlertLog struct {
	Event string    `json:"event"`
	Level int       `json:"level"`
	Time  time.Time `json:"time"`
	Age   string    `json:"age"`
}

// RPOStatus is the status query's answer: the asset's protection at a glance.
type RPOStatus struct {
	Asset        string         `json:"asset"`
	RPO          units.Duration `json:"rpo"`
	LastBackup   time.Time      `json:"last_backup,omitzero"`
	LastSnapshot string         `json:"last_snapshot,omitempty"`
	// Age is how old the last good backup was when the watchdog last woke (a query does not move
	// its clock: readers recompute it from LastBackup, or WatchingSince when there is none, to
	// their own now); Deadline is when it becomes stale.
	Age           units.Duration `json:"age"`
	WatchingSince time.Time      `json:"watching_since,omitzero"`
	Deadline      time.Time      `json:"deadline"`
	Stale         bool           `json:"stale"`
	Level         int            `json:"level"`
	// LastVerified is the newest restore drill that passed: the last verified restore point.
	LastVerified *Evidence  `json:"last_verified,omitempty"`
	LastFailed   *Evidence  `json:"last_failed_verification,omitempty"`
	Alerts       []AlertLog `json:"alerts,omitempty"`
	// FutureTimes counts backup times from the future (a skewed clock, or a forged signal) that
	// were taken as the time they arrived, so that they cannot hide a stale RPO.
	FutureTimes int `json:"future_backup_times,omitempty"`
	// Breaches are the periods outside the RPO since the watchdog began (at most maxBreaches, the
	// newest), the current one last and open while the asset is stale: readers plot compliance
	// over time from them and WatchingSince.
	Breaches []Breach `json:"breaches,omitempty"`
}

// Watchdog signals and limits.
const (
	SignalBackupDone = "backup-done"
	SignalVerified   = "verified"
	// watchdogRunsPerHistory bounds how many wake-ups one run handles before continuing as new.
	watchdogRunsPerHistory = 200
	maxAlertLog            = 20
	maxBreaches            = 500
)

// escalationInterval is how long the watchdog waits between alerts while the asset stays stale: half
// the RPO, between one minute and four hours.
func escalationInterval(rpo time.Duration) time.Duration {
	return min(max(rpo/2, time.Minute), 4*time.Hour)
}

// RPOWatchdog watches one asset: it alerts when the newest good backup is older than the asset's RPO,
// alerts again at rising levels while it stays stale, and sends an all-clear when a backup succeeds.
// Backups and restore drills signal it; it answers the status query with the last backup and the
// last verified restore point, and continues as new to keep its history short. It runs until it is
// terminated (removing the asset from the configuration and syncing schedules does that).
func RPOWatchdog(ctx workflow.Context, in RPOWatchdogInput) error {
	if err := setKindAndAsset(ctx, "watchdog", in.Asset); err != nil {
		return err
	}
	as, err := loadAsset(ctx, in.Asset)
	if err != nil {
		return err
	}
	rpo := as.RPO.D()
	st := in
	if st.Since.IsZero() {
		st.Since = workflow.Now(ctx)
	}
	// notLater takes a backup time from the future as now: the RPO is measured from it, and one
	// dated ahead would keep a stale asset looking fresh until that date.
	notLater := func(at time.Time, from string) time.Time {
		now := workflow.Now(ctx)
		if !at.After(now) || workflow.GetVersion(ctx, "future-backup-times", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
			return at
		}
		workflow.GetLogger(ctx).Warn("backup time from the future taken as now", "asset", in.Asset, "time", at, "now", now, "from", from)
		st.FutureTimes++
		return now
	}
	if st.LastBackup.IsZero() {
		var latest contract.LatestSnapshotResult
		err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, checkStepOptions("find the newest snapshot of "+as.Name)),
			contract.LatestSnapshot, contract.LatestSnapshotInput{Asset: as.Name}).Get(ctx, &latest)
		if err != nil {
			workflow.GetLogger(ctx).Warn("newest snapshot unknown; watching from now", "asset", as.Name, "error", err)
		} else if latest.Found {
			st.LastBackup, st.LastSnapshot = notLater(latest.Snapshot.Time, "snapshot "+latest.Snapshot.ID), latest.Snapshot.ID
		}
	}
	status := func() RPOStatus {
		now := workflow.Now(ctx)
		base := st.LastBackup
		if base.IsZero() {
			base = st.Since
		}
		breaches := slices.Clone(st.Breaches)
		if st.Level > 0 {
			breaches = append(breaches, Breach{From: st.StaleFrom})
		}
		return RPOStatus{Breaches: breaches,
			Asset: as.Name, RPO: as.RPO, LastBackup: st.LastBackup, LastSnapshot: st.LastSnapshot, Age: units.Duration(now.Sub(base)), WatchingSince: st.Since,
			Deadline: base.Add(rpo), Stale: st.Level > 0, Level: st.Level, LastVerified: st.Verified, LastFailed: st.Failed, Alerts: st.Alerts,
			FutureTimes: st.FutureTimes,
		}
	}
	if err := workflow.SetQueryHandlerWithOptions(ctx, QueryStatus, func() (RPOStatus, error) { return status(), nil },
		workflow.QueryHandlerOptions{Description: "The asset's recovery point: last backup and drill, their ages against the RPO, and whether an alert is open. `lifeboat asset status <asset>` reads it."}); err != nil {
		return err
	}
	backups := workflow.GetSignalChannelWithOptions(ctx, SignalBackupDone, workflow.SignalChannelOptions{
		Description: "A backup of the asset finished (sent by the Backup workflow): resets the RPO clock."})
	verified := workflow.GetSignalChannelWithOptions(ctx, SignalVerified, workflow.SignalChannelOptions{
		Description: "A restore drill of the asset finished (sent by the Verify workflow): records when the backups were last proven restorable."})
	onBackup := func(d BackupDone) {
		d.Time = notLater(d.Time, "signal from "+cmp.Or(d.Workflow, "an unnamed sender"))
		if d.Time.After(st.LastBackup) {
			st.LastBackup, st.LastSnapshot = d.Time, d.Snapshot
		}
		st.Backups++
	}
	onVerified := func(e Evidence) {
		if e.Passed {
			if st.Verified == nil || e.Snapshot.Time.After(st.Verified.Snapshot.Time) || e.Snapshot.ID == st.Verified.Snapshot.ID {
				st.Verified = &e
			}
		} else {
			st.Failed = &e
		}
	}
	logAlert := func(event string, age time.Duration) {
		st.Alerts = append(st.Alerts, AlertLog{Event: event, Level: st.Level, Time: workflow.Now(ctx), Age: units.Duration(age).Human()})
		if len(st.Alerts) > maxAlertLog {
			st.Alerts = st.Alerts[len(st.Alerts)-maxAlertLog:]
		}
	}

	for wake := 0; ; wake++ {
		s := status()
		setWatchdogDetails(ctx, s)
		now := workflow.Now(ctx)
		if !s.Stale && !now.Before(s.Deadline) {
			// Newly stale: first alert.
			st.Level, st.StaleFrom = 1, s.Deadline
			phase(ctx, "stale")
			sendRPOAlert(ctx, as, s.Age.D(), rpo, st.Level, st.LastSnapshot)
			logAlert("rpo.stale", s.Age.D())
			continue
		}
		if s.Stale && !s.LastBackup.IsZero() && now.Before(s.Deadline) {
			// A backup arrived: all clear.
			staleFor := now.Sub(st.StaleFrom)
			st.Breaches = append(st.Breaches, Breach{From: st.StaleFrom, To: now})
			if len(st.Breaches) > maxBreaches {
				st.Breaches = st.Breaches[len(st.Breaches)-maxBreaches:]
			}
			st.Level, st.StaleFrom = 0, time.Time{}
			phase(ctx, "ok")
			_ = alert(ctx, as, notify.Message{
				Event: "rpo.cleared", Severity: notify.Info, Title: "RPO of " + as.Name + " met again",
				Text:     fmt.Sprintf("A backup succeeded (snapshot %s); the asset was out of its RPO of %s for %s.", shortID(st.LastSnapshot), units.Duration(rpo).Human(), units.Duration(staleFor.Round(time.Second)).Human()),
				DedupKey: "rpo-" + as.Name,
			})
			logAlert("rpo.cleared", now.Sub(s.LastBackup))
			continue
		}
		if wake >= watchdogRunsPerHistory || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			break
		}
		wait := s.Deadline.Sub(now)
		if s.Stale {
			next := st.StaleFrom.Add(time.Duration(st.Level) * escalationInterval(rpo))
			wait = max(next.Sub(now), time.Second)
		}
		timerCtx, cancelTimer := workflow.WithCancel(ctx)
		summary := "until the RPO deadline"
		if s.Stale {
			summary = fmt.Sprintf("until escalation level %d", st.Level+1)
		}
		timer := workflow.NewTimerWithOptions(timerCtx, wait, workflow.TimerOptions{Summary: summary})
		fired := false
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(backups, func(c workflow.ReceiveChannel, _ bool) {
			var d BackupDone
			c.Receive(ctx, &d)
			onBackup(d)
		})
		sel.AddReceive(verified, func(c workflow.ReceiveChannel, _ bool) {
			var e Evidence
			c.Receive(ctx, &e)
			onVerified(e)
		})
		sel.AddFuture(timer, func(f workflow.Future) { fired = f.Get(ctx, nil) == nil })
		sel.Select(ctx)
		cancelTimer()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if fired && s.Stale {
			st.Level++
			sendRPOAlert(ctx, as, workflow.Now(ctx).Sub(s.LastBackupOr(st.Since)), rpo, st.Level, st.LastSnapshot)
			logAlert("rpo.stale", workflow.Now(ctx).Sub(s.LastBackupOr(st.Since)))
		}
	}

	// Take what is already queued, then carry the state into a fresh history.
	for {
		var d BackupDone
		if !backups.ReceiveAsync(&d) {
			break
		}
		onBackup(d)
	}
	for {
		var e Evidence
		if !verified.ReceiveAsync(&e) {
			break
		}
		onVerified(e)
	}
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return err
	}
	return workflow.NewContinueAsNewError(ctx, RPOWatchdogWorkflow, st)
}

// LastBackupOr is the last backup's time, or since when there was none.
func (s RPOStatus) LastBackupOr(since time.Time) time.Time {
	if s.LastBackup.IsZero() {
		return since
	}
	return s.LastBackup
}

func sendRPOAlert(ctx workflow.Context, as asset.Asset, age, rpo time.Duration, level int, snapshot string) {
	assetName := as.Name
	sev := notify.Warning
	if level > 1 {
		sev = notify.Critical
	}
	last := "no backup yet"
	if snapshot != "" {
		last = "last snapshot " + shortID(snapshot)
	}
	title := fmt.Sprintf("%s is outside its RPO: last good backup %s ago (RPO %s)", assetName, units.Duration(age.Round(time.Second)).Human(), units.Duration(rpo).Human())
	if level > 1 {
		title = fmt.Sprintf("Still outside RPO (level %d): ", level) + title
	}
	_ = alert(ctx, as, notify.Message{
		Event: "rpo.stale", Severity: sev, Title: title, Level: level - 1, DedupKey: "rpo-" + assetName,
		Text:   "No backup of " + assetName + " has succeeded within its RPO (" + last + "). Check its schedule and the last backup workflows.",
		Fields: map[string]string{"rpo": units.Duration(rpo).Human(), "age": units.Duration(age.Round(time.Second)).Human(), "level": fmt.Sprint(level)},
	})
}

// setWatchdogDetails shows the asset's RPO state in the Web UI.
func setWatchdogDetails(ctx workflow.Context, s RPOStatus) {
	var b strings.Builder
	state := "within RPO"
	if s.Stale {
		state = fmt.Sprintf("**OUTSIDE RPO** (alert level %d)", s.Level)
	}
	b.WriteString(fmt.Sprintf("**RPO watchdog of %s**: %s, RPO %s\n\n", s.Asset, state, s.RPO.Human()))
	if s.LastBackup.IsZero() {
		b.WriteString("No backup yet.\n\n")
	} else {
		b.WriteString(fmt.Sprintf("Last good backup: %s (snapshot `%s`); stale from %s\n\n", s.LastBackup.UTC().Format(time.RFC3339), shortID(s.LastSnapshot), s.Deadline.UTC().Format(time.RFC3339)))
	}
	if v := s.LastVerified; v != nil {
		b.WriteString(fmt.Sprintf("Last verified restore point: snapshot `%s` of %s, drill of %s\n", shortID(v.Snapshot.ID), v.Snapshot.Time.UTC().Format(time.RFC3339), v.FinishedAt.UTC().Format(time.RFC3339)))
	}
	if s.FutureTimes > 0 {
		b.WriteString(fmt.Sprintf("\n**%d backup times from the future** were taken as the time they arrived: check the clocks of the backup hosts, and who signals this watchdog.\n", s.FutureTimes))
	}
	workflow.SetCurrentDetails(ctx, b.String())
}
