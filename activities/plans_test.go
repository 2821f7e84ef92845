package activities

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lifeboat-dr/lifeboat/activities/contract"
	"github.com/lifeboat-dr/lifeboat/activities/plan"
	"github.com/lifeboat-dr/lifeboat/integrations/audit"
	"github.com/lifeboat-dr/lifeboat/integrations/identity"
	"github.com/lifeboat-dr/lifeboat/integrations/storage/local"
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

// LoadRun gives a recovery the identity directory, the plan and whether a ledger is kept; a plan
// that is missing or invalid is said in the result, so that the run can establish who started it
// first, while a plan file that cannot be read is an error that is retried.
func TestLoadRun(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "good.yaml"), []byte("apiVersion: lifeboat.dev/v1\nkind: RecoveryPlan\nmetadata: {name: good}\n"+
		"spec:\n  scenario: s\n  steps:\n    - {id: pause, wait: {duration: 1s}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := audit.ParseSigningKey(audit.GenerateSigningKey())
	ledger, err := audit.New(audit.Config{Backend: b, Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	people := &identity.Directory{Mode: identity.TrustClient, People: []identity.Person{{ID: "alice", Name: "Alice"}}}
	ctx := context.Background()

	r := &Runs{Plans: &Plans{Dir: dir}, Identities: &Identities{Directory: people}, Audit: &Audit{Ledger: ledger}}
	got, err := r.LoadRun(ctx, contract.LoadRunInput{Plan: "good"})
	if err != nil || got.PlanError != "" || got.Plan.Plan.Metadata.Name != "good" || len(got.Plan.SHA256) != 64 ||
		!got.Identity.Configured || len(got.Identity.Directory.People) != 1 || !got.Ledger {
		t.Fatalf("good: %+v, %v", got, err)
	}
	missing, err := r.LoadRun(ctx, contract.LoadRunInput{Plan: "missing"})
	if err != nil || !strings.Contains(missing.PlanError, `no plan named "missing"`) || !missing.Identity.Configured {
		t.Fatalf("missing: %+v, %v", missing, err)
	}

	// A worker of the defaults: no directory, no ledger, no plans directory.
	none, err := (&Runs{}).LoadRun(ctx, contract.LoadRunInput{Plan: "good"})
	if err != nil || none.Identity.Configured || none.Ledger || !strings.Contains(none.PlanError, "no plans directory") {
		t.Fatalf("defaults: %+v, %v", none, err)
	}

	// A plan file that cannot be read: the activity fails, and Temporal retries it.
	if err := os.Mkdir(filepath.Join(dir, "broken.yaml"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := r.LoadRun(ctx, contract.LoadRunInput{Plan: "good"}); err == nil || errType(err) != "" || !strings.Contains(err.Error(), "broken.yaml") {
		t.Fatalf("an unreadable plan file: %v, want a retryable error naming it", err)
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
