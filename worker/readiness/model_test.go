package readiness

import (
	"github.com/lifeboat-dr/lifeboat/integrations/audit"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/worker/config"
)

var now = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

// exampleInputs are the example configuration's readiness inputs with no drill and no protection.
func exampleInputs(t *testing.T) Inputs {
	t.Helper()
	data := t.TempDir()
	if err := os.WriteFile(filepath.Join(data, "dev.key"), []byte(strings.Repeat("ab", 32)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "evidence.key"), []byte(audit.GenerateSigningKey()), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load("../../examples/lifeboat.yaml", config.MapEnv(map[string]string{"LIFEBOAT_DATA_DIR": data}))
	if err != nil {
		t.Fatal(err)
	}
	plans, err := cfg.Plans()
	if err != nil {
		t.Fatal(err)
	}
	return Inputs{Now: now, Config: cfg, Plans: plans, Versions: PlanVersions(cfg, plans), Protection: map[string]Protection{}}
}

// passed is a verified, passing drill of plan as it is in in, ended at end.
func passed(in Inputs, plan string, end time.Time, rto, rpo time.Duration) Drill {
	v := in.Versions[plan]
	return Drill{ID: plan + end.Format(time.RFC3339), Plan: plan, PlanSHA256: v.PlanSHA256, ConfigSHA256: v.ConfigSHA256,
		Started: end.Add(-rto), Ended: end, Passed: true, Proven: true, RTO: rto, RPO: rpo, Verified: true}
}

func planState(t *testing.T, r Report, name string) PlanReadiness {
	t.Helper()
	for _, p := range r.Plans {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("no plan %s in the report", name)
	return PlanReadiness{}
}

func TestPlanStatesFollowTheirDrills(t *testing.T) {
	in := exampleInputs(t)
	changed := passed(in, "corrupted-service", now.Add(-time.Hour), time.Minute, 0)
	changed.PlanSHA256 = strings.Repeat("0", 64)
	reconfigured := passed(in, "deleted-service", now.Add(-time.Hour), time.Minute, 0)
	reconfigured.ConfigSHA256 = strings.Repeat("1", 64)
	failedAfter := Drill{ID: "f", Plan: "malware", Ended: now.Add(-time.Hour), Verified: true}
	forged := passed(in, "expired-certificate", now.Add(-time.Hour), time.Minute, 0)
	forged.Verified = false
	skipped := passed(in, "vault-unavailable", now.Add(-time.Hour), time.Minute, 0)
	skipped.Proven, skipped.NotProven = false, []string{"check orders restored: skipped"}
	in.Drills = []Drill{
		passed(in, "primary-db-lost", now.Add(-48*time.Hour), 4*time.Second, 0),
		passed(in, "primary-db-lost", now.Add(-24*time.Hour), 45*time.Minute, 2*time.Minute), // newest: misses both
		changed, reconfigured,
		passed(in, "malware", now.Add(-30*24*time.Hour), time.Hour, 0), failedAfter,
		passed(in, "region-outage", now.Add(-91*24*time.Hour), time.Minute, 0),
		forged, skipped,
	}
	r := Compute(in, Policy{})
	for name, want := range map[string]string{
		"primary-db-lost":         StateDrilled,
		"corrupted-service":       StateNeedsVerification,
		"deleted-service":         StateNeedsVerification,
		"malware":                 StateLastFailed,
		"region-outage":           StateOverdue,
		"expired-certificate":     StateNeverDrilled,
		"vault-unavailable":       StateDrilled,
		"compromised-credentials": StateNeverDrilled,
	} {
		if got := planState(t, r, name); got.State != want {
			t.Errorf("%s: %s (%v), want %s", name, got.State, got.Reasons, want)
		}
	}
	p := planState(t, r, "primary-db-lost")
	if p.LastPassed.RTO != 45*time.Minute || p.RTOMet == nil || *p.RTOMet || p.RPOMet == nil || *p.RPOMet {
		t.Errorf("primary-db-lost measured against its objectives (30m, 1m): %+v", p)
	}
	if !p.Due.Equal(now.Add(-24 * time.Hour).Add(DefaultDrillInterval)) {
		t.Errorf("due %s", p.Due)
	}
	if v := planState(t, r, "vault-unavailable"); !slices.Contains(v.Reasons, "its last passing drill did not prove everything: check orders restored: skipped") {
		t.Errorf("a drill that skipped checks is not marked: %v", v.Reasons)
	}
	var orders ServiceReadiness
	for _, s := range r.Services {
		if s.Name == "orders" {
			orders = s
		}
	}
	if orders.Ready || orders.MeasuredRTO != time.Hour || orders.RTOMet == nil || *orders.RTOMet {
		t.Errorf("orders: %+v", orders)
	}
	for _, want := range []string{"plan corrupted-service: needs verification", "plan primary-db-lost: its last drill missed the plan's RTO", "asset orders-db: protection unknown"} {
		if !slices.Contains(orders.Attention, want) {
			t.Errorf("orders attention lacks %q: %v", want, orders.Attention)
		}
	}
	gaps := map[string]bool{}
	for _, g := range r.Gaps {
		gaps[g.Kind+" "+g.Subject] = true
	}
	for _, want := range []string{GapAssetWithoutPlan + " examples", GapPlanNeverDrilled + " expired-certificate", GapPlanNeverDrilled + " compromised-credentials"} {
		if !gaps[want] {
			t.Errorf("gap %q missing: %v", want, r.Gaps)
		}
	}
	if gaps[GapAssetWithoutPlan+" orders-db"] || gaps[GapPlanNeverDrilled+" primary-db-lost"] {
		t.Errorf("gaps that are none: %v", r.Gaps)
	}
	if r.Summary.Services != 3 || r.Summary.Plans != 9 || r.Summary.Drilled != 2 {
		t.Errorf("summary %+v", r.Summary)
	}
}

// Compliance is computed from what the watchdog watched: here 3 days, of which 6 hours outside
// the RPO (closed breach) and the last 2 hours (open breach) — hand-computed: (72h - 8h) / 72h.
func TestAssetComplianceOverTheWindow(t *testing.T) {
	in := exampleInputs(t)
	since := now.Add(-72 * time.Hour)
	in.Protection["orders-db"] = Protection{
		WatchingSince: since, RPO: 2 * time.Hour, LastBackup: now.Add(-4 * time.Hour), LastVerified: now.Add(-time.Hour),
		Breaches: []Period{{From: since.Add(24 * time.Hour), To: since.Add(30 * time.Hour)}, {From: now.Add(-2 * time.Hour)}},
	}
	in.Protection["media-db"] = Protection{WatchingSince: now.Add(-time.Hour), RPO: 2 * time.Hour, LastBackup: now.Add(-30 * time.Minute)}
	in.Protection["examples"] = Protection{Error: "its RPO watchdog did not answer"}
	r := Compute(in, Policy{Window: 5 * 24 * time.Hour})
	assets := indexAssets(r.Assets)
	o := assets["orders-db"]
	if o.InRPO || o.Watched != 72*time.Hour || math.Abs(o.Compliance-64.0/72) > 1e-9 {
		t.Errorf("orders-db: in RPO %v, watched %s, compliance %v", o.InRPO, o.Watched, o.Compliance)
	}
	if len(o.Days) != 6 { // 5 days back from noon, truncated to midnight: 6 calendar days
		t.Fatalf("%d days", len(o.Days))
	}
	// since = Dec 4 12:00: Dec 4 watched 12h all inside; Dec 5 12:00-18:00 outside.
	for _, d := range o.Days {
		switch d.Start.Format("Jan 2") {
		case "Dec 2", "Dec 3":
			if d.Watched != 0 {
				t.Errorf("%s watched %s before the watchdog began", d.Start, d.Watched)
			}
		case "Dec 4":
			if d.Watched != 12*time.Hour || d.Compliance != 1 {
				t.Errorf("Dec 4: %+v", d)
			}
		case "Dec 5":
			if d.Watched != 24*time.Hour || math.Abs(d.Compliance-0.75) > 1e-9 {
				t.Errorf("Dec 5: %+v", d)
			}
		case "Dec 7":
			if d.Watched != 12*time.Hour || math.Abs(d.Compliance-10.0/12) > 1e-9 {
				t.Errorf("Dec 7: %+v", d)
			}
		}
	}
	if m := assets["media-db"]; !m.InRPO || m.Compliance != 1 || m.Watched != time.Hour {
		t.Errorf("media-db: %+v", m)
	}
	if e := assets["examples"]; e.Error == "" || e.InRPO {
		t.Errorf("examples: %+v", e)
	}
}

// A watchdog that has not woken since the deadline passed reports no open breach; readiness
// counts the time since the deadline as outside the RPO all the same.
func TestAssetPastItsDeadlineBeforeTheWatchdogWakes(t *testing.T) {
	in := exampleInputs(t)
	in.Protection["orders-db"] = Protection{WatchingSince: now.Add(-10 * time.Hour), RPO: 2 * time.Hour, LastBackup: now.Add(-3 * time.Hour)}
	o := indexAssets(Compute(in, Policy{}).Assets)["orders-db"]
	if o.InRPO || math.Abs(o.Compliance-0.9) > 1e-9 {
		t.Errorf("in RPO %v, compliance %v, want 90%% (1h of 10h outside)", o.InRPO, o.Compliance)
	}
}
