package activities

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	got, err := p.LoadPlan(context.Background(), LoadPlanInput{Plan: "good"})
	if err != nil || got.Plan.Metadata.Name != "good" || len(got.Plan.Spec.Steps) != 1 || len(got.SHA256) != 64 || filepath.Base(got.File) != "good.yaml" {
		t.Fatalf("good: %+v, %v", got, err)
	}
	for _, tc := range []struct{ plan, want string }{
		{"bad", `exec has no parameter "args"`},
		{"missing", `no plan named "missing"`},
	} {
		_, err := p.LoadPlan(context.Background(), LoadPlanInput{Plan: tc.plan})
		if errType(err) != ErrTypePlanInvalid || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want a PlanInvalid error containing %q", tc.plan, err, tc.want)
		}
	}
	if _, err := (&Plans{}).LoadPlan(context.Background(), LoadPlanInput{Plan: "good"}); errType(err) != ErrTypePlanInvalid {
		t.Errorf("no plans directory: %v", err)
	}
}
