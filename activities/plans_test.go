package activities

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lifeboat-dr/lifeboat/activities/contract"
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

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
