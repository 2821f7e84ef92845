package sla

import (
	"errors"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/lifeboat-dr/lifeboat/activities/plan"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
	"github.com/lifeboat-dr/lifeboat/worker/config"
)

// services reads a services section as the configuration writes it.
func services(t *testing.T, doc string) []config.Service {
	t.Helper()
	var c struct {
		Services []config.Service `yaml:"services"`
	}
	if err := yaml.Unmarshal([]byte(doc), &c); err != nil {
		t.Fatal(err)
	}
	return c.Services
}

func compute(t *testing.T, doc, name string, plans map[string]*plan.Plan, drills Drills) Result {
	t.Helper()
	r, err := Compute(services(t, doc), plans, name, drills)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func wantPercent(t *testing.T, what string, got config.Percent, want float64) {
	t.Helper()
	if float64(got) != want {
		t.Errorf("%s: %v%%, want %v%%", what, float64(got), want)
	}
}

func wantDuration(t *testing.T, what string, got units.Duration, want string) {
	t.Helper()
	if got.String() != want {
		t.Errorf("%s: %s, want %s", what, got, want)
	}
}

// Components in series multiply:
//
//	A = 0.999 × 0.995 = 0.994005 → 99.4005%
//	downtime = (1 − 0.994005) × 525,600 min = 0.005995 × 525,600 = 3,150.972 min = 52h30m58.32s
//	shares: a 0.001, b 0.005 of 0.006 → b limits with 83.3%
func TestSeries(t *testing.T) {
	r := compute(t, `
services:
  - name: s
    components:
      - {name: a, availability: 99.9}
      - {name: b, availability: 99.5}
`, "s", nil, nil)
	wantPercent(t, "availability", r.Availability, 99.4005)
	wantDuration(t, "downtime", r.Downtime.Duration, "52h30m58s")
	if r.Downtime.Minutes != 3150.97 || r.Downtime.Hours != 52.516 {
		t.Errorf("downtime %v min, %v h", r.Downtime.Minutes, r.Downtime.Hours)
	}
	// a alone: 0.001 × 525,600 min = 525.6 min = 8h45m36s.
	wantDuration(t, "a's downtime", r.Service.Components[0].Downtime.Duration, "8h45m36s")
	if l := r.Limiting; l == nil || l.Component != "b" || l.Service != "s" || l.Share != 83.3 ||
		!strings.Contains(l.Why, "its own availability of 99.5% allows 43h48m of downtime a year, and it has no redundant member") {
		t.Errorf("limiting: %+v", l)
	}
	if r.Objective != nil {
		t.Errorf("an objective without one: %+v", r.Objective)
	}
}

// Redundant members in parallel: the group is down only while both are.
//
//	u = 0.01 × 0.01 = 0.0001 → A = 99.99%
//	downtime = 0.0001 × 525,600 min = 52.56 min = 52m33.6s
func TestParallel(t *testing.T) {
	r := compute(t, `
services:
  - name: s
    components:
      - name: db
        redundant:
          - {name: one, availability: 99}
          - {name: two, availability: 99}
`, "s", nil, nil)
	wantPercent(t, "availability", r.Availability, 99.99)
	db := r.Service.Components[0]
	wantPercent(t, "parallel", db.Parallel, 99.99)
	wantDuration(t, "downtime", db.Downtime.Duration, "52m34s")
	if len(db.Members) != 2 || db.Members[1].Name != "two" {
		t.Errorf("members: %+v", db.Members)
	}
	if l := r.Limiting; l == nil || l.Component != "db" || l.Share != 100 ||
		!strings.Contains(l.Why, "all its members are down at once 52m34s a year (their availabilities in parallel give 99.99%), more than its failovers lose (0s)") {
		t.Errorf("limiting: %+v", l)
	}
}

// Each failure of the active member costs the failover time:
//
//	members: u = 0.001 × 0.001 = 0.000001 (0.5256 min a year)
//	failovers: 2 × 5 min = 10 min a year = 10 / 525,600 = 0.0000190259
//	group: u = 0.0000200259 → A = 99.9979974% → 99.997997%; downtime 10.5256 min = 10m31.5s
//	api: u = 0.0005 (262.8 min); series: 0.9995 × 0.9999799741 = 0.9994799841 → 99.947998%
//	downtime = 0.0005200159 × 525,600 = 273.32 min = 4h33m19s
//	shares: api 0.0005 / 0.0005200259 = 96.1%
func TestParallelWithFailover(t *testing.T) {
	r := compute(t, `
services:
  - name: s
    components:
      - {name: api, availability: 99.95}
      - name: db
        failover: 5m
        failures_per_year: 2
        redundant:
          - {name: primary, availability: 99.9}
          - {name: replica, availability: 99.9}
`, "s", nil, nil)
	db := r.Service.Components[1]
	wantPercent(t, "group", db.Availability, 99.997997)
	wantPercent(t, "parallel", db.Parallel, 99.9999)
	wantDuration(t, "failover loss", db.FailoverLoss, "10m0s")
	wantDuration(t, "group downtime", db.Downtime.Duration, "10m32s")
	wantPercent(t, "service", r.Availability, 99.947998)
	wantDuration(t, "service downtime", r.Downtime.Duration, "4h33m19s")
	if r.Downtime.Minutes != 273.32 {
		t.Errorf("downtime %v min", r.Downtime.Minutes)
	}
	if l := r.Limiting; l == nil || l.Component != "api" || l.Share != 96.1 {
		t.Errorf("limiting: %+v", l)
	}

	// Without the api, the group limits, and through its failovers:
	// 10 min of failover against 0.5256 min of both members down.
	r = compute(t, `
services:
  - name: s
    components:
      - name: db
        failover: 5m
        failures_per_year: 2
        redundant:
          - {name: primary, availability: 99.9}
          - {name: replica, availability: 99.9}
`, "s", nil, nil)
	if l := r.Limiting; l == nil || l.Component != "db" ||
		!strings.Contains(l.Why, "its failovers, 2 a year of 5m each, lose 10m a year: more than all its members being down at once (32s)") {
		t.Errorf("limiting: %+v", l)
	}
}

// shop depends on payments and secrets; payments depends on secrets too. secrets counts once:
//
//	shop own: web 0.999; payments own: gateway 0.995; secrets own: vault 0.9999
//	payments composite = 0.995 × 0.9999 = 0.9949005 → 99.49005%
//	shop composite = 0.999 × 0.995 × 0.9999 = 0.9939055995 → 99.39056%
//	(counting secrets twice would give 0.9938062089)
//	downtime = 0.0060944005 × 525,600 = 3,203.2169 min = 53h23m13s
//	shares: web 0.001, gateway 0.005, vault 0.0001 of 0.0061 → gateway (payments) 82.0%
const shop = `
services:
  - name: shop
    objectives: {availability: %s}
    depends_on: [payments, secrets]
    components:
      - {name: web, availability: 99.9, failures_per_year: 3, plan: web-restore}
      - {name: cache, availability: 100, failures_per_year: 5}
  - name: payments
    depends_on: [secrets]
    components:
      - {name: gateway, availability: 99.5, failures_per_year: 2, plan: pay-failover}
  - name: secrets
    components:
      - {name: vault, availability: 99.99, failures_per_year: 1, plan: vault-plan}
`

func shopWith(objective string) string { return strings.Replace(shop, "%s", objective, 1) }

func TestNestedDependenciesCountASharedOneOnce(t *testing.T) {
	r := compute(t, shopWith("99.5"), "shop", nil, nil)
	wantPercent(t, "shop", r.Availability, 99.39056)
	wantPercent(t, "shop's own", r.Service.Own, 99.9)
	wantDuration(t, "downtime", r.Downtime.Duration, "53h23m13s")
	deps := r.Service.DependsOn
	if len(deps) != 2 || deps[0].Name != "payments" || deps[1].Name != "secrets" {
		t.Fatalf("dependencies: %+v", deps)
	}
	wantPercent(t, "payments", deps[0].Availability, 99.49005)
	if len(deps[0].DependsOn) != 1 || deps[0].DependsOn[0].Name != "secrets" || deps[0].DependsOn[0].CountedAbove {
		t.Errorf("secrets is not shown under payments: %+v", deps[0].DependsOn)
	}
	if !deps[1].CountedAbove || deps[1].Components != nil {
		t.Errorf("secrets is shown twice: %+v", deps[1])
	}
	wantPercent(t, "secrets", deps[1].Availability, 99.99)
	// 0.0001 × 525,600 min = 52.56 min
	wantDuration(t, "secrets downtime", deps[1].Downtime.Duration, "52m34s")
	if l := r.Limiting; l == nil || l.Component != "gateway" || l.Service != "payments" || l.Share != 82 {
		t.Errorf("limiting: %+v", l)
	}
}

// The objective against the computed 0.9939055995 (downtime 3,203.2169 min):
//
//	99.5%: allowed 0.005 × 525,600 = 2,628 min = 43h48m; missed by 575.2169 min = 9h35m13s
//	99%:   allowed 0.01 × 525,600 = 5,256 min = 87h36m; met with 2,052.7831 min = 34h12m47s to spare
func TestObjectiveMetOrMissed(t *testing.T) {
	r := compute(t, shopWith("99.5"), "shop", nil, nil)
	if o := r.Objective; o == nil || o.Met || o.Allowed.Duration.String() != "43h48m0s" || o.Margin.String() != "-9h35m13s" {
		t.Errorf("99.5%%: %+v", o)
	}
	r = compute(t, shopWith(`"99%"`), "shop", nil, nil)
	if o := r.Objective; o == nil || !o.Met || o.Allowed.Duration.String() != "87h36m0s" || o.Margin.String() != "34h12m47s" {
		t.Errorf("99%%: %+v", o)
	}
	// Exactly at the objective is meeting it: 0.999 × 0.9999 = 0.9989001 against 99.89001%.
	r = compute(t, `
services:
  - name: s
    objectives: {availability: 99.89001}
    components: [{name: a, availability: 99.9}, {name: b, availability: 99.99}]
`, "s", nil, nil)
	if o := r.Objective; o == nil || !o.Met {
		t.Errorf("at the objective: %+v", o)
	}
}

// drillLog is the drills a test knows of.
type drillLog map[string]time.Duration

var drilledAt = time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)

func (d drillLog) LatestRTO(plan string) (time.Duration, time.Time, bool) {
	rto, ok := d[plan]
	return rto, drilledAt, ok
}

// The estimate from drills, Σ failures_per_year × RTO over components with a plan:
//
//	web:     3 × 20m (web-restore, measured)         = 1h
//	gateway: 2 × 45m (pay-failover, objective RTO)   = 1h30m
//	vault:   1 × ?   (vault-plan: no drill, no RTO)  = not counted
//	cache has failures but no plan: not in the estimate
//	total 2h30m = 150 min, incomplete; within 99.5%'s 43h48m
func TestDrillEstimate(t *testing.T) {
	plans := map[string]*plan.Plan{
		"web-restore":  {Spec: plan.Spec{Objectives: plan.Objectives{RTO: units.Duration(time.Hour)}}},
		"pay-failover": {Spec: plan.Spec{Objectives: plan.Objectives{RTO: units.Duration(45 * time.Minute)}}},
		"vault-plan":   {},
	}
	r := compute(t, shopWith("99.5"), "shop", plans, drillLog{"web-restore": 20 * time.Minute})
	e := r.Estimate
	if len(e.Rows) != 3 {
		t.Fatalf("rows: %+v", e.Rows)
	}
	for i, want := range []struct {
		component, source, rto, downtime, note string
	}{
		{"web", SourceMeasured, "20m0s", "1h0m0s", "measured by the drill of 2026-11-30T09:00:00Z"},
		{"gateway", SourceObjective, "45m0s", "1h30m0s", "not measured: the plan's objective RTO"},
		{"vault", SourceNone, "0s", "0s", "not measured, and the plan has no RTO objective: not counted"},
	} {
		row := e.Rows[i]
		if row.Component != want.component || row.Source != want.source || row.RTO.String() != want.rto || row.Downtime.String() != want.downtime || row.Note != want.note {
			t.Errorf("row %d: %+v, want %+v", i, row, want)
		}
	}
	if !e.Rows[0].MeasuredAt.Equal(drilledAt) || !e.Rows[1].MeasuredAt.IsZero() {
		t.Errorf("measured at: %v, %v", e.Rows[0].MeasuredAt, e.Rows[1].MeasuredAt)
	}
	if e.Downtime.Duration.String() != "2h30m0s" || e.Downtime.Minutes != 150 || e.Complete || e.Measured {
		t.Errorf("estimate: %+v", e)
	}
	if e.WithinObjective == nil || !*e.WithinObjective {
		t.Errorf("within objective: %v", e.WithinObjective)
	}

	// Every plan drilled: 3 × 20m + 2 × 50m + 1 × 10m = 60 + 100 + 10 = 170 min = 2h50m.
	r = compute(t, shopWith("99.5"), "shop", plans, drillLog{"web-restore": 20 * time.Minute, "pay-failover": 50 * time.Minute, "vault-plan": 10 * time.Minute})
	if e := r.Estimate; e.Downtime.Duration.String() != "2h50m0s" || !e.Complete || !e.Measured {
		t.Errorf("all measured: %+v", e)
	}

	// Nothing drilled and no plans read: no row has an RTO, and nothing is counted.
	r = compute(t, shopWith("99.5"), "shop", nil, nil)
	if e := r.Estimate; e.Downtime.Duration != 0 || e.Complete || e.Measured || len(e.Rows) != 3 || e.Rows[0].Source != SourceNone {
		t.Errorf("nothing known: %+v", e)
	}
}

func TestUnknownServiceNamesTheKnownOnes(t *testing.T) {
	_, err := Compute(services(t, shopWith("99.5")), nil, "shops", nil)
	if !errors.Is(err, ErrUnknownService) || !strings.Contains(err.Error(), `service "shops": unknown service (known: shop, payments, secrets)`) {
		t.Fatalf("error: %v", err)
	}
	_, err = Compute(nil, nil, "shop", nil)
	if !errors.Is(err, ErrUnknownService) || !strings.Contains(err.Error(), "the configuration has no services") {
		t.Fatalf("error: %v", err)
	}
}

// Compute refuses what validation refuses, rather than recursing forever.
func TestCycleIsAnError(t *testing.T) {
	_, err := Compute(services(t, `
services:
  - {name: a, depends_on: [b], components: [{name: x, availability: 99}]}
  - {name: b, depends_on: [a], components: [{name: y, availability: 99}]}
`), nil, "a", nil)
	if err == nil || !strings.Contains(err.Error(), `service "a" depends on itself through depends_on`) {
		t.Fatalf("error: %v", err)
	}
}
