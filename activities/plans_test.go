package activities

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lifeboat-dr/lifeboat/activities/contract"
	"github.com/lifeboat-dr/lifeboat/activities/plan"
)

func TestLoadPlan(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("good.yaml", `apiVersion: lifeboat.dev/v1
kind: RecoveryPlan
metadata: {name: good}
spec:
  scenario: s
  steps:
    - {id: pause, wait: {duration: 1s}}
`)
	write("bad.yml", `apiVersion: lifeboat.dev/v1
kind: RecoveryPlan
metadata: {name: bad}
spec:
  scenario: s
  steps:
    - {id: run, action: exec, with: {command: restart, args: "rm -rf /"}}
`)
	write("notes.txt", "not a plan")
	p := &Plans{Dir: dir}
	got, err := p.LoadPlan(context.Background(), contract.LoadPlanInput{Plan: "good"})
	if err != nil || got.Plan.Metadata.Name != "good" || len(got.Plan.Spec.Steps) != 1 || len(got.SHA256) != 64 || filepath.Base(got.File) != "good.yaml" {
		t.Fatalf("good: %+v, %v", got, err)
	}
	for _, tc := range []struct{ plan, want string }{
		{"bad", `exec has no parameter "args"`},
		{"missing", `no plan named "missing"`},
	} {
		_, err := p.LoadPlan(context.Background(), contract.LoadPlanInput{Plan: tc.plan})
		if errType(err) != contract.ErrTypePlanInvalid || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want a PlanInvalid error containing %q", tc.plan, err, tc.want)
		}
	}
	// A plan edited in place is read again: the next run gets the new text, and a broken edit is
	// reported, not hidden behind the last good version.
	write("good.yaml", strings.Replace(readFile(t, filepath.Join(dir, "good.yaml")), "1s", "2s", 1))
	again, err := p.LoadPlan(context.Background(), contract.LoadPlanInput{Plan: "good"})
	if err != nil || again.SHA256 == got.SHA256 || again.Plan.Spec.Steps[0].Wait.Duration.D().Seconds() != 2 {
		t.Fatalf("after an edit: %+v, %v", again, err)
	}
	write("good.yaml", strings.Replace(readFile(t, filepath.Join(dir, "good.yaml")), "wait: {duration: 2s}", "wait: {duration: soon}", 1))
	if _, err := p.LoadPlan(context.Background(), contract.LoadPlanInput{Plan: "good"}); errType(err) != contract.ErrTypePlanInvalid {
		t.Errorf("after a broken edit: %v, want PlanInvalid", err)
	}
	if _, err := (&Plans{}).LoadPlan(context.Background(), contract.LoadPlanInput{Plan: "good"}); errType(err) != contract.ErrTypePlanInvalid {
		t.Errorf("no plans directory: %v", err)
	}
}

// TestLoadPlanForADrillAppliesTheWorkersDrillSkips: a drill gets the plan with the worker's
// drill_skip rules applied, a recovery gets it as written, and the cached plan is not changed.
func TestLoadPlanForADrillAppliesTheWorkersDrillSkips(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(`apiVersion: lifeboat.dev/v1
kind: RecoveryPlan
metadata: {name: p}
spec:
  scenario: s
  people: [{id: ann, name: Ann, channels: {email: ann@example.com}}]
  steps:
    - {id: dns, action: aws.route53_upsert, with: {zone_id: Z1, record: a.example.com, type: CNAME, value: b.example.com}, drill: {with: {record: a.drill.example.com}}}
    - id: either
      strategies:
        - {name: promote, action: aws.rds_promote_read_replica, with: {region: eu-west-1, instance: db-2}, drill: {with: {instance: db-drill}}}
        - {name: by-hand, manual: {instructions: promote it, assignees: [ann]}}
    - {id: check, action: check.tcp, with: {address: "db:5432"}}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &Plans{Dir: dir, DrillSkip: []plan.DrillSkip{{Actions: "aws.*", Reason: "no AWS account here"}}}
	for range 2 {
		drill, err := p.LoadPlan(context.Background(), contract.LoadPlanInput{Plan: "p", Drill: true})
		if err != nil {
			t.Fatal(err)
		}
		steps := drill.Plan.Spec.Steps
		if d := steps[0].Drill; d == nil || !d.Skip || !strings.Contains(d.Reason, "no AWS account here") {
			t.Errorf("aws step in a drill: %+v", d)
		}
		if d := steps[1].Strategies[0].Drill; d == nil || !d.Skip {
			t.Errorf("aws strategy in a drill: %+v", d)
		}
		if steps[1].Strategies[1].Drill != nil || steps[2].Drill != nil {
			t.Errorf("steps of other actions changed: %+v %+v", steps[1].Strategies[1].Drill, steps[2].Drill)
		}
		recovery, err := p.LoadPlan(context.Background(), contract.LoadPlanInput{Plan: "p"})
		if err != nil {
			t.Fatal(err)
		}
		if d := recovery.Plan.Spec.Steps[0].Drill; d == nil || d.Skip || d.With["record"] != "a.drill.example.com" {
			t.Errorf("a recovery's plan changed by drill_skip: %+v", d)
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
