package config

import (
	"github.com/lifeboat-dr/lifeboat/integrations/audit"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lifeboat-dr/lifeboat/activities/plan"
)

// exampleConfig loads examples/lifeboat.yaml as `lifeboat dev` runs it, with its data folder in a
// temporary directory.
func exampleConfig(t *testing.T) Config {
	t.Helper()
	data := t.TempDir()
	if err := os.WriteFile(filepath.Join(data, "dev.key"), []byte(strings.Repeat("ab", 32)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "evidence.key"), []byte(audit.GenerateSigningKey()), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load("../../examples/lifeboat.yaml", MapEnv(map[string]string{"LIFEBOAT_DATA_DIR": data}))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// The example configuration's services, and the example plans that say what they recover, agree.
func TestExampleServicesAndPlansAgree(t *testing.T) {
	cfg := exampleConfig(t)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	plans, err := cfg.Plans()
	if err != nil {
		t.Fatal(err)
	}
	if len(plans) != 9 {
		t.Fatalf("%d example plans read, want 9", len(plans))
	}
	if err := cfg.CheckPlans(plans); err != nil {
		t.Fatal(err)
	}
	orders, ok := cfg.ServiceByName("orders")
	if !ok {
		t.Fatal("no orders service")
	}
	got := strings.Join(orders.PlansFor(plans), ",")
	if want := "compromised-credentials,corrupted-service,critical-vulnerability,expired-certificate,malware,primary-db-lost,region-outage"; got != want {
		t.Fatalf("plans for orders: %s, want %s", got, want)
	}
	if a := orders.Objectives.Availability; math.Abs(a.Fraction()-0.999) > 1e-12 || a.String() != "99.9%" {
		t.Fatalf("availability %v (%s)", float64(a), a)
	}
}

func TestServicesReportEveryProblem(t *testing.T) {
	path := writeFile(t, t.TempDir(), "c.yaml", `
identity:
  mode: trust-client
  people: [{id: alice, name: Alice}]
  groups: [{id: ops, members: [alice]}]
probes:
  checks: [{name: web, kind: tcp, address: "127.0.0.1:1"}]
services:
  - name: shop
    owners: [alice, ops, mallory]
    objectives: {availability: "99.9%"}
    depends_on: [stock, nowhere]
    components:
      - {name: web, endpoint: web, availability: 99.5}
      - {name: web, endpoint: gone, asset: missing}
      - name: db
        failover: 5m
        redundant:
          - {name: a, availability: 99}
      - {name: lone, availability: 99, failover: 1m, failures_per_year: -1}
  - name: stock
    depends_on: [shop]
    components: []
  - name: Bad
    components: [{name: x, availability: 99, redundant: [{name: y, availability: 99}, {name: z, availability: 99, redundant: [{name: q, availability: 1}, {name: r, availability: 1}]}]}]
`)
	cfg, err := Load(path, MapEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	err = cfg.Validate()
	for _, want := range []string{
		`services[0] (shop).owners: "mallory" is neither a person nor a group`,
		`services[0] (shop).depends_on: service "nowhere" is not in services`,
		`components[1] (web).name: "web" is given twice`,
		`components[1] (web).endpoint: check "gone" is not in probes.checks`,
		`components[1] (web).asset: asset "missing" is not in assets`,
		`components[1] (web).availability: required`,
		`components[2] (db).redundant: name at least two members`,
		`components[2] (db).failures_per_year: required with failover`,
		`components[3] (lone).failover: only a group with redundant members fails over`,
		`components[3] (lone).failures_per_year: -1`,
		`services[1] (stock).components: name at least one component`,
		`services[2] (Bad).name: "Bad"`,
		`components[0] (x).availability: a redundant group's availability follows from its members'`,
		`redundant[1] (z).redundant: a redundant member cannot have redundant members`,
		`depends_on forms a cycle: shop → stock → shop`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), `"alice" is neither`) || strings.Contains(err.Error(), `"ops" is neither`) {
		t.Errorf("a known person or group refused:\n%v", err)
	}
}

func TestPercentRefusesWhatIsNoPercentage(t *testing.T) {
	for _, v := range []string{"101", "-1", "abc", "99.9%%", ".nan"} {
		path := writeFile(t, t.TempDir(), "c.yaml", "services:\n  - name: s\n    objectives: {availability: \""+v+"\"}\n    components: []\n")
		if _, err := Load(path, MapEnv(nil)); err == nil || !strings.Contains(err.Error(), "is not a percentage between 0 and 100") {
			t.Errorf("%s: %v", v, err)
		}
	}
}

func TestCheckPlansNamesWhatIsMissing(t *testing.T) {
	cfg := Config{
		Services: []Service{{Name: "shop", Components: []Component{{Name: "db", Plan: "db-lost", Availability: 99}}}},
	}
	p := &plan.Plan{Metadata: plan.Metadata{Name: "other"}, Spec: plan.Spec{Recovers: plan.Recovers{Services: []string{"shop", "till"}, Assets: []string{"ledger"}}}}
	err := cfg.CheckPlans(map[string]PlanFile{"other": {Plan: p}})
	for _, want := range []string{
		`plan other: spec.recovers.services: service "till" is not in the configuration's services`,
		`plan other: spec.recovers.assets: asset "ledger" is not in the configuration's assets`,
		`services[0] (shop) component db: plan "db-lost" is not in recovery.plans_dir`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), `"shop"`) {
		t.Errorf("a known service refused:\n%v", err)
	}
}
