package main

import (
	"context"
	"encoding/json"
	"github.com/lifeboat-dr/lifeboat/integrations/audit"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/units"
	"github.com/lifeboat-dr/lifeboat/testsuite/devserver"
	"github.com/lifeboat-dr/lifeboat/worker/config"
	"github.com/lifeboat-dr/lifeboat/worker/sla"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

// slaExample runs lifeboat with examples/lifeboat.yaml as `lifeboat dev` does, its data folder in a
// temporary directory, against temporalAddress.
func slaExample(t *testing.T, temporalAddress string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	data := t.TempDir()
	if err := os.WriteFile(filepath.Join(data, "dev.key"), []byte(strings.Repeat("ab", 32)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "evidence.key"), []byte(audit.GenerateSigningKey()), 0o600); err != nil {
		t.Fatal(err)
	}
	env := config.MapEnv(map[string]string{"LIFEBOAT_DATA_DIR": data, "TEMPORAL_ADDRESS": temporalAddress})
	var out, errb syncBuffer
	code = run(context.Background(), append([]string{"--config", "../examples/lifeboat.yaml"}, args...), env, strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), code
}

// Every service of the example configuration, against a Temporal without drills, so that every
// estimate uses the plans' objective RTOs. A year is 525,600 minutes.
//
// orders: api 99.95% (u 0.0005); database: primary and replica 99.9% in parallel, u 0.001² =
// 0.000001, plus 2 failovers × 5m = 10 min (u 0.0000190259), so u 0.0000200259 (99.997997%,
// 10.5256 min = 10m32s); depends on secrets: vault 99.99% (u 0.0001).
//
//	0.9995 × 0.9999799741 × 0.9999 = 0.9993800361 → 99.938004%
//	downtime 0.0006199639 × 525,600 = 325.85 min = 5h25m51s; allowed 0.001 × 525,600 = 525.6 min =
//	8h45m36s; margin 199.75 min = 3h19m45s
//	limiting api: 0.0005 / (0.0005 + 0.0000200259 + 0.0001) = 80.6%
//	drills: api 4 × 4h + database 2 × 30m + vault 1 × 1h = 18h = 1,080 min, more than 525.6 min
//
// media: catalogue 99.9%: 525.6 min = 8h45m36s; allowed 0.005 × 525,600 = 2,628 min = 43h48m,
// margin 2,102.4 min = 35h2m24s; drills 1 × 4h (deleted-service) = 4h.
//
// secrets: vault 99.99%: 52.56 min = 52m34s; allowed 0.0005 × 525,600 = 262.8 min = 4h22m48s,
// margin 210.24 min = 3h30m14s; drills 1 × 1h (vault-unavailable) = 1h.
func TestSLAOfTheExampleServices(t *testing.T) {
	attrs := map[string]string{}
	for _, k := range workflows.SearchAttributes {
		attrs[k.GetName()] = "Keyword"
	}
	srv := devserver.Start(t, devserver.WithSearchAttributes(attrs))

	for _, tt := range []struct {
		service                   string
		text                      []string
		availability              float64
		downtime, allowed, margin string
		minutes                   float64
		limiting                  string
		share                     float64
		estimate                  string
		estimateMinutes           float64
		withinObjective           bool
		estimateRows              int
	}{
		{
			service: "orders",
			text: []string{
				"orders: 99.938% available, objective 99.9%: met",
				"expected downtime 5h25m51s (325.85 min) a year; the objective allows 8h45m36s (525.6 min): 3h19m45s to spare",
				"orders               99.938%       5h25m51s       own components 99.948%",
				"├─ api               99.95%        4h22m48s       plan critical-vulnerability, 4 failures a year",
				"├─ database          99.998%       10m32s         redundant: 99.9999% in parallel, less 2 × 5m failover = 10m, plan primary-db-lost",
				"│  ├─ primary        99.9%         8h45m36s\n",
				"│  └─ replica        99.9%         8h45m36s\n",
				"└─ service secrets   99.99%        52m34s\n",
				"   └─ vault          99.99%        52m34s         plan vault-unavailable, 1 failure a year",
				"Limiting: api (orders), 80.6% of the unavailability: its own availability of 99.95% allows 4h22m48s of downtime a year, and it has no redundant member.",
				"Expected downtime from drills: 18h (1080 min) a year, MORE than the objective allows (some RTOs not measured)",
				"  api       4 × 4h   = 16h  plan critical-vulnerability, not measured: the plan's objective RTO",
				"  database  2 × 30m  = 1h   plan primary-db-lost, not measured: the plan's objective RTO",
				"  vault     1 × 1h   = 1h   plan vault-unavailable, not measured: the plan's objective RTO",
			},
			availability: 99.938004, downtime: "5h25m51s", minutes: 325.85, allowed: "8h45m36s", margin: "3h19m45s",
			limiting: "api", share: 80.6, estimate: "18h0m0s", estimateMinutes: 1080, withinObjective: false, estimateRows: 3,
		},
		{
			service: "media",
			text: []string{
				"media: 99.9% available, objective 99.5%: met",
				"expected downtime 8h45m36s (525.6 min) a year; the objective allows 43h48m (2628 min): 35h2m24s to spare",
				"└─ catalogue         99.9%         8h45m36s       plan deleted-service, 1 failure a year",
				"Limiting: catalogue (media), 100% of the unavailability",
				"Expected downtime from drills: 4h (240 min) a year, within what the objective allows (some RTOs not measured)",
			},
			availability: 99.9, downtime: "8h45m36s", minutes: 525.6, allowed: "43h48m0s", margin: "35h2m24s",
			limiting: "catalogue", share: 100, estimate: "4h0m0s", estimateMinutes: 240, withinObjective: true, estimateRows: 1,
		},
		{
			service: "secrets",
			text: []string{
				"secrets: 99.99% available, objective 99.95%: met",
				"expected downtime 52m34s (52.56 min) a year; the objective allows 4h22m48s (262.8 min): 3h30m14s to spare",
				"Expected downtime from drills: 1h (60 min) a year, within what the objective allows (some RTOs not measured)",
				"  vault  1 × 1h  = 1h  plan vault-unavailable, not measured: the plan's objective RTO",
			},
			availability: 99.99, downtime: "52m34s", minutes: 52.56, allowed: "4h22m48s", margin: "3h30m14s",
			limiting: "vault", share: 100, estimate: "1h0m0s", estimateMinutes: 60, withinObjective: true, estimateRows: 1,
		},
	} {
		t.Run(tt.service, func(t *testing.T) {
			stdout, stderr, code := slaExample(t, srv.HostPort, "sla", tt.service)
			if code != exitOK || stderr != "" {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			for _, want := range tt.text {
				if !strings.Contains(stdout, want) {
					t.Errorf("text does not say %q:\n%s", want, stdout)
				}
			}
			if strings.Contains(stdout, " \n") {
				t.Errorf("a line ends in spaces:\n%s", stdout)
			}

			stdout, stderr, code = slaExample(t, srv.HostPort, "sla", tt.service, "-o", "json")
			var r slaOutput
			if err := json.Unmarshal([]byte(stdout), &r); err != nil || code != exitOK {
				t.Fatalf("exit %d, %v\n%s\n%s", code, err, stdout, stderr)
			}
			if float64(r.Availability) != tt.availability || r.Downtime.Duration.String() != tt.downtime || r.Downtime.Minutes != tt.minutes {
				t.Errorf("availability %v, downtime %s (%v min)", float64(r.Availability), r.Downtime.Duration, r.Downtime.Minutes)
			}
			if o := r.Objective; o == nil || !o.Met || o.Allowed.Duration.String() != tt.allowed || o.Margin.String() != tt.margin {
				t.Errorf("objective %+v", o)
			}
			if l := r.Limiting; l == nil || l.Component != tt.limiting || l.Share != tt.share {
				t.Errorf("limiting %+v", l)
			}
			e := r.Estimate
			if e.Downtime.Duration.String() != tt.estimate || e.Downtime.Minutes != tt.estimateMinutes || !e.Complete || e.Measured ||
				e.WithinObjective == nil || *e.WithinObjective != tt.withinObjective || len(e.Rows) != tt.estimateRows {
				t.Errorf("estimate %+v", e)
			}
			for _, row := range e.Rows {
				if row.Source != sla.SourceObjective {
					t.Errorf("%s: source %s, want objective", row.Component, row.Source)
				}
			}
			if r.DrillsUnread != "" {
				t.Errorf("drills unread: %s", r.DrillsUnread)
			}
		})
	}

	t.Run("orders as a tree in json", func(t *testing.T) {
		stdout, _, _ := slaExample(t, srv.HostPort, "sla", "orders", "-o", "json")
		var r slaOutput
		if err := json.Unmarshal([]byte(stdout), &r); err != nil {
			t.Fatal(err)
		}
		s := r.Service
		if len(s.Components) != 2 || len(s.Components[1].Members) != 2 || float64(s.Components[1].Availability) != 99.997997 ||
			s.Components[1].FailoverLoss.String() != "10m0s" || len(s.DependsOn) != 1 || s.DependsOn[0].Name != "secrets" || float64(s.Own) != 99.947998 {
			t.Errorf("tree: %+v", s)
		}
	})
}

func TestSLAExitCodes(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "lifeboat.yaml")
	// 0.999 × 0.999 = 0.998001: 0.001999 × 525,600 = 1,050.6744 min = 17h30m40s a year against the
	// 525.6 min of 99.9%: 525.0744 min = 8h45m4s too much.
	if err := os.WriteFile(cfg, []byte(`
services:
  - name: shop
    objectives: {availability: 99.9}
    components:
      - {name: web, availability: 99.9}
      - {name: db, availability: 99.9}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runCLI(t, "", "--config", cfg, "sla", "shop")
	if code != exitBadOutcome || !strings.Contains(stdout, "shop: 99.8001% available, objective 99.9%: MISSED") ||
		!strings.Contains(stdout, "expected downtime 17h30m40s (1050.67 min) a year; the objective allows 8h45m36s (525.6 min): 8h45m4s too much") ||
		!strings.Contains(stderr, "lifeboat: service shop: availability 99.8001% misses its objective of 99.9% by 8h45m4s of downtime a year") {
		t.Errorf("missed objective: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	// Temporal cannot be reached: the estimate says so and uses no drill.
	if !strings.Contains(stderr, "warning: drills not read, the estimate uses the plans' objective RTOs: connect to temporal at 127.0.0.1:1") ||
		!strings.Contains(stdout, "Expected downtime from drills: no component has both a plan and failures_per_year.") {
		t.Errorf("no temporal:\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
	}

	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown service", []string{"--config", cfg, "sla", "shops"}, `service "shops": unknown service (known: shop)`},
		{"no service", []string{"--config", cfg, "sla"}, "accepts 1 arg(s), received 0"},
		{"no configuration", []string{"sla", "shop"}, "sla needs --config or LIFEBOAT_CONFIG"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := runCLI(t, "", tt.args...)
			if code != exitUsage || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, exitUsage, tt.want)
			}
		})
	}
}

// slaCountsTheDrill checks, once a drill of plan orders-failover has succeeded in e, that lifeboat
// sla counts the RTO it measured, and falls back on the objective RTO of a plan never drilled.
//
//	db:  3 failures a year × the drill's RTO (measured)
//	web: 2 failures a year × slow-gate's RTO: slow-gate has none and was never drilled, so not counted
func slaCountsTheDrill(t *testing.T, e *recoveryEnv) {
	t.Helper()
	ctx := context.Background()
	var drill workflows.RecoveryResult
	if err := e.client.GetWorkflow(ctx, "drill-orders-failover", "").Get(ctx, &drill); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(filepath.Dir(e.config), "sla.yaml")
	doc := cliConfig + `
recovery: {plans_dir: plans}
services:
  - name: orders
    objectives: {availability: 99}
    components:
      - {name: db, availability: 99.9, failures_per_year: 3, plan: orders-failover}
      - {name: web, availability: 99.9, failures_per_year: 2, plan: slow-gate}
`
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb syncBuffer
	code := runRecoveryCLI(ctx, []string{"--config", path, "sla", "orders", "-o", "json"}, e.env, &out, &errb)
	var r slaOutput
	if err := json.Unmarshal([]byte(out.String()), &r); err != nil || code != exitOK {
		t.Fatalf("exit %d, %v\nstdout:\n%s\nstderr:\n%s", code, err, out.String(), errb.String())
	}
	rows := r.Estimate.Rows
	if len(rows) != 2 {
		t.Fatalf("rows: %+v", rows)
	}
	db, web := rows[0], rows[1]
	want := units.Duration(time.Duration(3 * float64(drill.RTO)).Round(time.Second))
	if db.Source != sla.SourceMeasured || db.RTO != drill.RTO || !db.MeasuredAt.Equal(drill.FinishedAt) || db.Downtime != want || drill.RTO <= 0 {
		t.Errorf("db: %+v; the drill measured %s, finished %s", db, drill.RTO, drill.FinishedAt)
	}
	if web.Source != sla.SourceNone || web.Downtime != 0 || r.Estimate.Complete || r.Estimate.Downtime.Duration != want {
		t.Errorf("web: %+v, estimate %+v", web, r.Estimate)
	}

	out, errb = syncBuffer{}, syncBuffer{}
	code = runRecoveryCLI(ctx, []string{"--config", path, "sla", "orders"}, e.env, &out, &errb)
	for _, w := range []string{"plan orders-failover, measured by the drill of " + drill.FinishedAt.UTC().Format(time.RFC3339),
		"web  2 × ?", "plan slow-gate, not measured, and the plan has no RTO objective: not counted", "(incomplete: some RTOs are unknown)"} {
		if code != exitOK || !strings.Contains(out.String(), w) {
			t.Errorf("exit %d; text does not say %q:\n%s\n%s", code, w, out.String(), errb.String())
		}
	}
}
