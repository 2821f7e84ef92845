package statuspage_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/activities/plan"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
	"github.com/lifeboat-dr/lifeboat/worker/statuspage"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

// states is the page's components' states, in order.
func states(p statuspage.Page) []statuspage.State {
	var out []statuspage.State
	for _, c := range p.Components {
		out = append(out, c.State)
	}
	return out
}

func notes(p statuspage.Page, name string) string {
	for _, c := range p.Components {
		if c.Name == name {
			return strings.Join(c.Notes, " | ")
		}
	}
	return "<no component " + name + ">"
}

func TestBuildDerivesComponentStates(t *testing.T) {
	const (
		op    = statuspage.Operational
		maint = statuspage.Maintenance
		deg   = statuspage.Degraded
		part  = statuspage.PartialOutage
		major = statuspage.MajorOutage
	)
	drill := failoverWaiting()
	drill.WorkflowID, drill.Drill, drill.State.Mode = "drill-orders-failover", true, workflows.ModeDrill
	search := statuspage.RunningRecovery{WorkflowID: "recovery-search-rebuild", Plan: "search-rebuild", StartedAt: now.Add(-time.Minute)}
	staleDogs := healthyDogs()
	staleDogs["warehouse"] = statuspage.Watchdog{Asset: "warehouse", Stale: true, Status: &workflows.RPOStatus{
		Asset: "warehouse", RPO: units.Duration(24 * time.Hour), LastBackup: now.Add(-27 * time.Hour), Stale: true, Level: 1}}
	noBackupDogs := healthyDogs()
	noBackupDogs["warehouse"] = statuspage.Watchdog{Asset: "warehouse", Stale: true, Status: &workflows.RPOStatus{Asset: "warehouse", RPO: units.Duration(time.Hour), Stale: true}}
	phaseOnlyDogs := healthyDogs()
	phaseOnlyDogs["warehouse"] = statuspage.Watchdog{Asset: "warehouse", Stale: true, Problem: "query status of rpo-warehouse: context deadline exceeded"}
	missingDog := healthyDogs()
	delete(missingDog, "orders-db")

	tests := []struct {
		name        string
		config      func(*statuspage.Config)
		snap        statuspage.Snapshot
		want        []statuspage.State
		overall     statuspage.State
		summary     string
		notes       map[string]string // component → substring of its notes ("" : no notes at all)
		activeCount int
	}{
		{
			name: "all quiet", snap: statuspage.Snapshot{Watchdogs: healthyDogs()},
			want: []statuspage.State{op, op, op}, overall: op, summary: "Everything is working normally.",
			notes: map[string]string{"Checkout": "", "Reports": "", "Search": ""},
		},
		{
			name: "a recovery of a plan puts its component in major outage", snap: statuspage.Snapshot{Running: []statuspage.RunningRecovery{failoverWaiting()}, Watchdogs: healthyDogs()},
			want: []statuspage.State{major, op, op}, overall: major, summary: "Checkout is unavailable. We are working on it.",
			notes: map[string]string{"Checkout": "Recovery in progress (orders-failover): waiting for approval.", "Reports": ""}, activeCount: 1,
		},
		{
			name: "a component can declare a recovery a partial outage", snap: statuspage.Snapshot{Running: []statuspage.RunningRecovery{search}, Watchdogs: healthyDogs()},
			want: []statuspage.State{op, op, part}, overall: part, summary: "Search is partly unavailable.",
			notes: map[string]string{"Search": "Recovery in progress (search-rebuild): in progress."}, activeCount: 1,
		},
		{
			name: "a drill leaves the component operational, with a note", snap: statuspage.Snapshot{Running: []statuspage.RunningRecovery{drill}, Watchdogs: healthyDogs()},
			want: []statuspage.State{op, op, op}, overall: op,
			notes: map[string]string{"Checkout": "A recovery exercise is running (orders-failover); the service is not affected."}, activeCount: 1,
		},
		{
			name: "a drill is maintenance when so configured", config: func(c *statuspage.Config) { c.DrillsAsMaintenance = true },
			snap: statuspage.Snapshot{Running: []statuspage.RunningRecovery{drill}, Watchdogs: healthyDogs()},
			want: []statuspage.State{maint, op, op}, overall: maint, summary: "Planned maintenance is under way on Checkout.",
			notes: map[string]string{"Checkout": "Planned recovery exercise in progress (orders-failover): waiting for approval."}, activeCount: 1,
		},
		{
			name: "a stale RPO watchdog degrades its component", snap: statuspage.Snapshot{Watchdogs: staleDogs},
			want: []statuspage.State{op, deg, op}, overall: deg, summary: "Reports is running with reduced protection or performance.",
			notes: map[string]string{"Reports": "Backups of warehouse are behind schedule: the last good backup is 1 day 3 hours old (target: at most 1 day)."},
		},
		{
			name: "a stale asset that never had a backup", snap: statuspage.Snapshot{Watchdogs: noBackupDogs},
			want: []statuspage.State{op, deg, op}, overall: deg,
			notes: map[string]string{"Reports": "none has succeeded yet (target: at most 1 hour old)"},
		},
		{
			name: "a watchdog whose query failed is judged by its phase", snap: statuspage.Snapshot{Watchdogs: phaseOnlyDogs},
			want: []statuspage.State{op, deg, op}, overall: deg,
			notes: map[string]string{"Reports": "Backups of warehouse are behind schedule."},
		},
		{
			name: "a missing watchdog is said, without changing the state", snap: statuspage.Snapshot{Watchdogs: missingDog},
			want: []statuspage.State{op, op, op}, overall: op,
			notes: map[string]string{"Checkout": "Backup monitoring of orders-db is not running."},
		},
		{
			name: "the worst state wins, within a component and overall",
			snap: statuspage.Snapshot{Running: []statuspage.RunningRecovery{failoverWaiting(), search}, Watchdogs: func() map[string]statuspage.Watchdog {
				d := healthyDogs()
				d["orders-db"] = statuspage.Watchdog{Asset: "orders-db", Stale: true}
				return d
			}()},
			want: []statuspage.State{major, op, part}, overall: major, summary: "Checkout is unavailable.", activeCount: 2,
		},
		{
			name: "an override lowers a derived outage, and its message comes first",
			config: func(c *statuspage.Config) {
				c.Overrides = []statuspage.Override{{Component: "Checkout", State: statuspage.Operational, Message: "Orders are taken by the standby site.", Until: now.Add(2 * time.Hour)}}
			},
			snap: statuspage.Snapshot{Running: []statuspage.RunningRecovery{failoverWaiting()}, Watchdogs: healthyDogs()},
			want: []statuspage.State{op, op, op}, overall: op,
			notes: map[string]string{"Checkout": "Orders are taken by the standby site. Until 2025-06-01 16:00 UTC (in 2 hours). | Recovery in progress"}, activeCount: 1,
		},
		{
			name: "an override raises a state; expired and future ones do not apply; the last in force wins",
			config: func(c *statuspage.Config) {
				c.Overrides = []statuspage.Override{
					{Component: "Reports", State: statuspage.MajorOutage, Message: "old", From: now.Add(-3 * time.Hour), Until: now.Add(-time.Hour)},
					{Component: "Reports", State: statuspage.Degraded, Message: "Reports are late."},
					{Component: "Reports", State: statuspage.Maintenance, Message: "Moving the warehouse.", From: now.Add(-time.Hour)},
					{Component: "Search", State: statuspage.Maintenance, Message: "Index upgrade.", From: now.Add(time.Hour), Until: now.Add(3 * time.Hour)},
				}
			},
			snap: statuspage.Snapshot{Watchdogs: healthyDogs()},
			want: []statuspage.State{op, maint, op}, overall: maint,
			notes: map[string]string{"Reports": "Moving the warehouse. | Reports are late.", "Search": ""},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			if tc.config != nil {
				tc.config(&cfg)
			}
			if err := cfg.Validate([]string{"orders-db", "warehouse"}); err != nil {
				t.Fatalf("test config invalid: %v", err)
			}
			tc.snap.At = now.Add(-3 * time.Second)
			p := statuspage.Build(cfg, &tc.snap, nil, now)
			if got := states(p); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("states %v, want %v\nnotes: %+v", got, tc.want, p.Components)
			}
			if p.Overall != tc.overall {
				t.Errorf("overall %s, want %s", p.Overall, tc.overall)
			}
			if !strings.Contains(p.Summary, tc.summary) {
				t.Errorf("summary %q does not say %q", p.Summary, tc.summary)
			}
			for comp, want := range tc.notes {
				got := notes(p, comp)
				if want == "" && got != "" || !strings.Contains(got, want) {
					t.Errorf("%s notes %q, want %q", comp, got, want)
				}
			}
			if len(p.Active) != tc.activeCount {
				t.Errorf("%d active recoveries, want %d: %+v", len(p.Active), tc.activeCount, p.Active)
			}
			if !p.Live || p.Notice != "" || p.AsOf.UTC != "2025-06-01 13:59 UTC" || p.AsOf.Relative != "just now" {
				t.Errorf("a fresh reading: live %v, notice %q, as of %+v", p.Live, p.Notice, p.AsOf)
			}
			for _, c := range p.Components {
				if c.Label != c.State.Label() || c.Label == "" {
					t.Errorf("%s: label %q for state %s", c.Name, c.Label, c.State)
				}
			}
		})
	}
}

func TestBuildWithoutALiveReading(t *testing.T) {
	cfg := testConfig()
	cfg.Overrides = []statuspage.Override{{Component: "Search", State: statuspage.Maintenance, Message: "Index upgrade."}}

	t.Run("before the first reading, components are unknown but overrides apply", func(t *testing.T) {
		p := statuspage.Build(cfg, nil, errors.New("dial tcp 10.0.0.7:7233: connection refused"), now)
		if got, want := states(p), []statuspage.State{statuspage.Unknown, statuspage.Unknown, statuspage.Maintenance}; !reflect.DeepEqual(got, want) {
			t.Errorf("states %v, want %v", got, want)
		}
		if p.Live || p.Overall != statuspage.Maintenance || !strings.Contains(p.Notice, "cannot be read yet") || !p.AsOf.Time.IsZero() {
			t.Errorf("live %v, overall %s, notice %q, as of %+v", p.Live, p.Overall, p.Notice, p.AsOf)
		}
		if strings.Contains(p.Notice, "10.0.0.7") {
			t.Errorf("the notice shows the internal error: %q", p.Notice)
		}
		p = statuspage.Build(statuspage.Config{Components: cfg.Components}, nil, errors.New("down"), now)
		if p.Overall != statuspage.Unknown || p.OverallLabel != "Status unknown" {
			t.Errorf("overall %s %q, want unknown", p.Overall, p.OverallLabel)
		}
	})

	t.Run("when a reading fails, the last one is shown as of its time", func(t *testing.T) {
		snap := statuspage.Snapshot{At: now.Add(-5 * time.Minute), Running: []statuspage.RunningRecovery{failoverWaiting()}, Watchdogs: healthyDogs()}
		p := statuspage.Build(cfg, &snap, errors.New("connection refused"), now)
		if p.Live || p.Overall != statuspage.MajorOutage || len(p.Active) != 1 {
			t.Errorf("live %v, overall %s, %d active", p.Live, p.Overall, len(p.Active))
		}
		if want := "shows the status as of 2025-06-01 13:55 UTC (5 minutes ago)"; !strings.Contains(p.Notice, want) {
			t.Errorf("notice %q does not say %q", p.Notice, want)
		}
	})
}

func TestBuildActiveRecoveries(t *testing.T) {
	cfg := testConfig()
	over := failoverWaiting()
	over.StartedAt, over.State.StartedAt = now.Add(-45*time.Minute), now.Add(-45*time.Minute)
	over.State.Steps[2].Status, over.State.Steps[2].FinishedAt = plan.StatusSucceeded, now.Add(-5*time.Minute)
	over.State.Steps[3].Status = workflows.StepRunning
	child := statuspage.RunningRecovery{WorkflowID: "recovery-orders-failover.rebuild", Plan: "orders-failback", Parent: "recovery-orders-failover", StartedAt: now}
	unlisted := statuspage.RunningRecovery{WorkflowID: "recovery-compromised-credentials", Plan: "compromised-credentials", StartedAt: now}
	snap := statuspage.Snapshot{At: now, Running: []statuspage.RunningRecovery{child, unlisted, over}, Watchdogs: healthyDogs()}

	p := statuspage.Build(cfg, &snap, nil, now)
	if len(p.Active) != 1 {
		t.Fatalf("%d active recoveries, want only orders-failover (its step's plan and unlisted plans are not shown): %+v", len(p.Active), p.Active)
	}
	a := p.Active[0]
	want := statuspage.ActiveRecovery{
		Plan: "orders-failover", Mode: "recovery", Kind: "Recovery", Components: []string{"Checkout"},
		Phase: "Promoting the replica", Progress: "3 of 4 steps done",
		StartedAt: statuspage.Moment{Time: now.Add(-45 * time.Minute), UTC: "2025-06-01 13:15 UTC", Relative: "45 minutes ago"},
		Elapsed:   "45 minutes", Objective: "30 minutes", OverObjective: true,
		Timeline: []statuspage.TimelineEntry{
			{At: statuspage.Moment{Time: now.Add(-11 * time.Minute), UTC: "2025-06-01 13:49 UTC", Relative: "11 minutes ago"}, Text: "Run health checks", Outcome: "done"},
			{At: statuspage.Moment{Time: now.Add(-10 * time.Minute), UTC: "2025-06-01 13:50 UTC", Relative: "10 minutes ago"}, Text: "Stop writes to the old database", Outcome: "done"},
			{At: statuspage.Moment{Time: now.Add(-5 * time.Minute), UTC: "2025-06-01 13:55 UTC", Relative: "5 minutes ago"}, Text: "Approval", Outcome: "done"},
		},
	}
	if !reflect.DeepEqual(a, want) {
		t.Errorf("active recovery\n got %+v\nwant %+v", a, want)
	}
	if got := notes(p, "Checkout"); !strings.Contains(got, "orders-failback") {
		t.Errorf("the plan run as a step still counts for its component: %q", got)
	}
}

func TestBuildPhaseWording(t *testing.T) {
	step := func(id string, typ plan.StepType, action, status string) workflows.StepState {
		return workflows.StepState{ID: id, Type: typ, Action: action, Status: status}
	}
	tests := []struct {
		name  string
		steps []workflows.StepState
		want  string
	}{
		{"not started", nil, "Starting"},
		{"approval", []workflows.StepState{step("ok", plan.TypeApproval, "", workflows.StepRunning)}, "Waiting for approval"},
		{"decision", []workflows.StepState{step("how", plan.TypeDecision, "", workflows.StepRunning)}, "Waiting for a decision"},
		{"manual", []workflows.StepState{step("call-dc", plan.TypeManual, "", workflows.StepRunning)}, "Waiting for a manual step"},
		{"dns", []workflows.StepState{step("flip", plan.TypeAction, "aws.route53_upsert", workflows.StepRunning)}, "Switching traffic over (DNS)"},
		{"restore", []workflows.StepState{step("restore", plan.TypeAction, "restore.asset", workflows.StepRunning)}, "Restoring data from backup"},
		{"an action the page does not know", []workflows.StepState{step("warm-caches", plan.TypeAction, "custom.thing", workflows.StepRunning)}, "Working on: warm caches"},
		{"two at once, same words once", []workflows.StepState{
			step("a", plan.TypeAction, "check.http", workflows.StepRunning), step("b", plan.TypeAction, "check.tcp", workflows.StepRunning),
			step("c", plan.TypeAction, "aws.ec2_start", workflows.StepRunning)}, "Running health checks; Starting servers"},
		{"between steps", []workflows.StepState{step("a", plan.TypeAction, "check.http", plan.StatusSucceeded), step("b", plan.TypeWait, "", workflows.StepPending)}, "Preparing the next step"},
		{"after the last step", []workflows.StepState{step("a", plan.TypeAction, "check.http", plan.StatusSucceeded)}, "Finishing up"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := statuspage.RunningRecovery{Plan: "orders-failover", StartedAt: now, State: &workflows.RecoveryResult{Plan: "orders-failover", Steps: tc.steps}}
			snap := statuspage.Snapshot{At: now, Running: []statuspage.RunningRecovery{r}}
			p := statuspage.Build(testConfig(), &snap, nil, now)
			if len(p.Active) != 1 || p.Active[0].Phase != tc.want {
				t.Errorf("phase %+v, want %q", p.Active, tc.want)
			}
		})
	}
}

func TestBuildIncidents(t *testing.T) {
	cfg := testConfig()
	cfg.IncidentWindow = units.Duration(7 * 24 * time.Hour)
	finished := func(id, plan, result string, ago, took time.Duration) statuspage.FinishedRecovery {
		return statuspage.FinishedRecovery{WorkflowID: id, Plan: plan, Result: result, ClosedAt: now.Add(-ago), StartedAt: now.Add(-ago - took)}
	}
	snap := statuspage.Snapshot{At: now, Watchdogs: healthyDogs(), Finished: []statuspage.FinishedRecovery{
		finished("recovery-orders-failover", "orders-failover", "succeeded", 26*time.Hour, 42*time.Minute),
		finished("recovery-search-rebuild", "search-rebuild", "failed", 2*time.Hour, 90*time.Minute),
		finished("recovery-orders-failback", "orders-failback", "canceled", 3*24*time.Hour, 5*time.Minute),
		finished("recovery-orders-failback-old", "orders-failback", "terminated", 8*24*time.Hour, time.Minute),
		finished("recovery-malware", "malware", "succeeded", time.Hour, time.Minute),
		{WorkflowID: "recovery-orders-failover.child", Plan: "orders-failback", Parent: "recovery-orders-failover", Result: "succeeded", ClosedAt: now.Add(-27 * time.Hour), StartedAt: now.Add(-28 * time.Hour)},
	}}
	p := statuspage.Build(cfg, &snap, nil, now)
	type row struct{ plan, label, duration, ended string }
	var got []row
	for _, i := range p.Incidents {
		got = append(got, row{i.Plan, i.ResultLabel, i.Duration, i.EndedAt.Relative})
	}
	want := []row{
		{"search-rebuild", "Recovery failed", "1 hour 30 minutes", "2 hours ago"},
		{"orders-failover", "Recovered", "42 minutes", "1 day 2 hours ago"},
		{"orders-failback", "Recovery stopped", "5 minutes", "3 days ago"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("incidents (newest first, within 7 days, listed plans, not steps of another)\n got %+v\nwant %+v", got, want)
	}
	if p.IncidentDays != 7 || p.Incidents[0].State != statuspage.MajorOutage || p.Incidents[1].State != statuspage.Operational || !reflect.DeepEqual(p.Incidents[1].Components, []string{"Checkout"}) {
		t.Errorf("days %d, incidents %+v", p.IncidentDays, p.Incidents)
	}
}

func TestBuildPlannedMaintenance(t *testing.T) {
	cfg := testConfig()
	cfg.Overrides = []statuspage.Override{
		{Component: "Search", State: statuspage.Maintenance, Message: "Index upgrade.", From: now.Add(26 * time.Hour), Until: now.Add(28 * time.Hour)},
		{Component: "Reports", State: statuspage.Maintenance, From: now.Add(90 * time.Minute)},
		{Component: "Checkout", State: statuspage.Degraded, From: now.Add(time.Hour)}, // not maintenance: not announced
	}
	p := statuspage.Build(cfg, &statuspage.Snapshot{At: now, Watchdogs: healthyDogs()}, nil, now)
	if len(p.Planned) != 2 || p.Planned[0].Component != "Reports" || p.Planned[0].From.Relative != "in 1 hour 30 minutes" || !p.Planned[0].Until.Time.IsZero() ||
		p.Planned[1].Component != "Search" || p.Planned[1].Until.UTC != "2025-06-02 18:00 UTC" || p.Planned[1].Message != "Index upgrade." {
		t.Errorf("planned maintenance: %+v", p.Planned)
	}
	if p.Overall != statuspage.Operational {
		t.Errorf("maintenance not begun changes the state: %s", p.Overall)
	}
}

func TestConfigValidateListsEveryProblem(t *testing.T) {
	cfg := statuspage.Config{
		Components: []statuspage.Component{
			{Name: "Checkout", Assets: []string{"orders-db", "nope"}, Plans: []string{"orders-failover", " "}},
			{Name: "Checkout", Plans: []string{"x"}, RecoveryState: statuspage.Maintenance},
			{Name: " ", Assets: nil},
		},
		Overrides: []statuspage.Override{
			{Component: "Payments", State: "down"},
			{Component: "Checkout", State: statuspage.Maintenance, From: now, Until: now.Add(-time.Hour)},
		},
		Refresh:  units.Duration(100 * time.Millisecond),
		CacheTTL: units.Duration(-time.Second),
	}
	err := cfg.Validate([]string{"orders-db", "warehouse"})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`status_page.components[0].assets[1]: "nope" is not a configured asset (assets: orders-db, warehouse)`,
		`status_page.components[0].plans[1]: empty plan name`,
		`status_page.components[1].name: "Checkout" is used by another component`,
		`status_page.components[1].recovery_state: "maintenance": want major_outage or partial_outage`,
		`status_page.components[2].name: required`,
		`status_page.components[2]: the component lists no assets and no plans`,
		`status_page.overrides[0].component: "Payments" is not a component of the page (components: Checkout, Checkout,  )`,
		`status_page.overrides[0].state: "down": want one of operational, degraded, partial_outage, major_outage, maintenance`,
		`status_page.overrides[1].until: 2025-06-01T13:00:00Z is not after from (2025-06-01T14:00:00Z)`,
		`status_page.refresh: 100ms: at least 1s`,
		`status_page.cache_ttl: -1s: must not be negative`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
	if err := testConfig().Validate([]string{"orders-db", "warehouse"}); err != nil {
		t.Errorf("valid config: %v", err)
	}
	if (statuspage.Config{}).Enabled() || !testConfig().Enabled() {
		t.Error("Enabled: a page is served only with components")
	}
}
