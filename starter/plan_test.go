package main

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lifeboat-dr/lifeboat/activities/plan"
)

var updatePlanGolden = flag.Bool("update", false, "rewrite the plan command's golden files in ../activities/plan/testdata/cli")

const planTestdata = "../activities/plan/testdata"

// golden compares got with a golden file, or rewrites the file with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join(planTestdata, "cli", name)
	if *updatePlanGolden {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run Plan -update to write it)", err)
	}
	if got != string(want) {
		t.Fatalf("output differs from %s (go test -run Plan -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func fixture(name string) string { return filepath.Join(planTestdata, name) }

func TestPlanValidate(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string // substrings, in order
		stderr string
	}{
		{"valid plans", []string{fixture("valid/orders-db-failover.yaml"), fixture("valid/region-failover.yaml")}, exitOK,
			[]string{"orders-db-failover.yaml: orders-db-failover is valid: 7 steps in 5 waves",
				"region-failover.yaml: eu-region-failover is valid: 10 steps in 7 waves"}, ""},
		{"every problem", []string{fixture("invalid/broken.yaml")}, exitUsage, []string{
			"broken.yaml: 5 problems",
			`  - spec.roles.approvers: unknown person or group "bob": a role lists people and groups`,
			"  - spec.steps[0] (a).needs: cycle: a -> c -> b -> a (each step needs the next)",
			"  - spec.steps[0] (a).with.address: want a string, not 5432 (quote it)",
			"  - spec.steps[1] (b).approval.quorum: 2 approvals needed, but the approvers are 1 person",
			"  - spec.steps[2] (c).when: column 1: steps.b.choice: b is not a decision step",
		}, "lifeboat: 1 of 1 plan invalid"},
		{"unknown field with its line", []string{fixture("invalid/unknown-field.yaml")}, exitUsage,
			[]string{"unknown-field.yaml: 1 problem", `  - line 9: unknown field "wiht"`}, ""},
		{"one bad among good", []string{fixture("valid/minimal.yaml"), fixture("invalid/unknown-field.yaml")}, exitUsage,
			[]string{"minimal.yaml: www-restore is valid", "unknown-field.yaml: 1 problem"}, "1 of 2 plans invalid"},
		{"missing file", []string{fixture("valid/none.yaml")}, exitUsage, []string{"none.yaml: 1 problem", "no such file"}, ""},
		{"no file", nil, exitUsage, nil, "requires at least 1 arg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := runCLI(t, "", append([]string{"plan", "validate"}, tt.args...)...)
			if code != tt.code || !strings.Contains(stderr, tt.stderr) {
				t.Fatalf("code %d, stderr %q; want %d and %q", code, stderr, tt.code, tt.stderr)
			}
			rest := stdout
			for _, want := range tt.stdout {
				i := strings.Index(rest, want)
				if i < 0 {
					t.Fatalf("stdout lacks %q (in order):\n%s", want, stdout)
				}
				rest = rest[i+len(want):]
			}
		})
	}
}

func TestPlanValidateJSON(t *testing.T) {
	stdout, _, code := runCLI(t, "", "plan", "validate", "-o", "json", fixture("valid/minimal.yaml"), fixture("invalid/broken.yaml"))
	var reports []planReport
	if err := json.Unmarshal([]byte(stdout), &reports); err != nil || code != exitUsage {
		t.Fatalf("code %d, %v:\n%s", code, err, stdout)
	}
	if len(reports) != 2 || !reports[0].Valid || reports[0].Steps != 1 || reports[1].Valid || len(reports[1].Problems) != 5 {
		t.Fatalf("reports %+v", reports)
	}
	if p := reports[1].Problems[0]; p.Path != "spec.roles.approvers" || !strings.Contains(p.Message, `"bob"`) {
		t.Fatalf("first problem %+v", p)
	}
}

func TestPlanValidateReadsStdin(t *testing.T) {
	b, err := os.ReadFile(fixture("valid/minimal.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runCLI(t, string(b), "plan", "validate", "-")
	if code != exitOK || !strings.Contains(stdout, "-: www-restore is valid") {
		t.Fatalf("code %d\n%s%s", code, stdout, stderr)
	}
}

func TestPlanShow(t *testing.T) {
	for _, name := range []string{"orders-db-failover", "region-failover", "minimal", "strategies"} {
		t.Run(name, func(t *testing.T) {
			stdout, stderr, code := runCLI(t, "", "plan", "show", fixture("valid/"+name+".yaml"))
			if code != exitOK {
				t.Fatalf("code %d: %s", code, stderr)
			}
			golden(t, "show-"+name+".txt", stdout)
		})
	}
}

func TestPlanShowJSONIsTheParsedPlan(t *testing.T) {
	path := fixture("valid/orders-db-failover.yaml")
	stdout, stderr, code := runCLI(t, "", "plan", "show", "-o", "json", path)
	if code != exitOK {
		t.Fatalf("code %d: %s", code, stderr)
	}
	var got plan.Plan
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want, err := plan.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if d := plan.Diff(want, &got); len(d) != 0 {
		t.Fatalf("the JSON differs from the plan: %v", d)
	}
	if got.Step("approve-failover").Type != plan.TypeApproval || got.Step("promote").Impact != plan.ImpactCritical {
		t.Fatalf("type and impact not filled in: %+v", got.Step("promote"))
	}
}

func TestPlanShowInvalid(t *testing.T) {
	_, stderr, code := runCLI(t, "", "plan", "show", fixture("invalid/broken.yaml"))
	if code != exitUsage || !strings.Contains(stderr, "cycle: a -> c -> b -> a") {
		t.Fatalf("code %d, stderr %q", code, stderr)
	}
}

func TestPlanDiff(t *testing.T) {
	old, updated := fixture("valid/orders-db-failover.yaml"), fixture("diff/orders-db-failover-v2.yaml")
	stdout, stderr, code := runCLI(t, "", "plan", "diff", old, updated)
	if code != exitBadOutcome || !strings.Contains(stderr, "the plans differ: 12 changes") {
		t.Fatalf("code %d, stderr %q", code, stderr)
	}
	golden(t, "diff-orders-db-failover.txt", stdout)

	stdout, stderr, code = runCLI(t, "", "plan", "diff", old, old)
	if code != exitOK || stdout != "" || stderr != "" {
		t.Fatalf("same plan: code %d, %q %q", code, stdout, stderr)
	}

	stdout, _, code = runCLI(t, "", "plan", "diff", "-o", "json", old, updated)
	var changes []plan.Change
	if err := json.Unmarshal([]byte(stdout), &changes); err != nil || code != exitBadOutcome || len(changes) != 12 {
		t.Fatalf("json: code %d, %v, %d changes", code, err, len(changes))
	}
	if c := changes[len(changes)-1]; c.Op != plan.Removed || c.Path != "spec.steps[write-probe]" {
		t.Fatalf("last change %+v", c)
	}
	stdout, _, _ = runCLI(t, "", "plan", "diff", "-o", "json", old, old)
	if strings.TrimSpace(stdout) != "[]" {
		t.Fatalf("no changes as json: %q", stdout)
	}
}

func TestPlanDiffUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"one file", []string{fixture("valid/minimal.yaml")}, "accepts 2 arg(s), received 1"},
		{"invalid plan", []string{fixture("valid/minimal.yaml"), fixture("invalid/broken.yaml")}, "broken.yaml: spec.roles.approvers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := runCLI(t, "", append([]string{"plan", "diff"}, tt.args...)...)
			if code != exitUsage || !strings.Contains(stderr, tt.want) {
				t.Fatalf("code %d, stderr %q; want %d and %q", code, stderr, exitUsage, tt.want)
			}
		})
	}
	stdout, _, code := runCLI(t, "", "plan", "diff", "--help")
	if code != exitOK || !strings.Contains(stdout, "3  the plans differ") {
		t.Fatalf("help: %d\n%s", code, stdout)
	}
}

// plan validate refuses a plan whose drill could reach production, naming each step.
func TestPlanValidateRefusesUnsafeDrills(t *testing.T) {
	stdout, stderr, code := runCLI(t, "", "plan", "validate", fixture("invalid/unsafe-drill.yaml"))
	want := []string{
		"unsafe-drill.yaml: 2 problems",
		"  - spec.steps[1] (promote).drill: postgres.promote changes what it acts on, so a drill must not run it on the plan's targets",
		"  - spec.steps[2] (dns).drill.with: sets none of aws.route53_upsert's targets to another value (zone_id, record)",
	}
	if code != exitUsage {
		t.Fatalf("code %d, want %d\n%s%s", code, exitUsage, stdout, stderr)
	}
	for _, w := range want {
		if !strings.Contains(stdout, w) {
			t.Fatalf("stdout lacks %q:\n%s", w, stdout)
		}
	}
}

func TestPlanActions(t *testing.T) {
	stdout, _, code := runCLI(t, "", "plan", "actions")
	if code != exitOK || !strings.Contains(stdout, "postgres.promote") || !strings.Contains(stdout, "mutating") || !strings.Contains(stdout, "read-only") {
		t.Fatalf("code %d:\n%s", code, stdout)
	}
	stdout, _, code = runCLI(t, "", "plan", "actions", "check.http")
	for _, w := range []string{"check.http — Request a URL", "url", "required, ◎ target", "status", "runs in drills as it is"} {
		if code != exitOK || !strings.Contains(stdout, w) {
			t.Fatalf("code %d, lacks %q:\n%s", code, w, stdout)
		}
	}
	stdout, _, code = runCLI(t, "", "plan", "actions", "-o", "json", "restore.asset")
	var specs []struct {
		Name   string
		Effect string
		Params []struct {
			Name      string
			DrillMust string `json:"drill_must"`
		}
	}
	if err := json.Unmarshal([]byte(stdout), &specs); err != nil || code != exitOK || len(specs) != 1 || specs[0].Effect != "mutating" ||
		!slices.ContainsFunc(specs[0].Params, func(p struct {
			Name      string
			DrillMust string `json:"drill_must"`
		}) bool {
			return p.Name == "in_place" && p.DrillMust == "false"
		}) {
		t.Fatalf("code %d, %v:\n%s", code, err, stdout)
	}
	_, stderr, code := runCLI(t, "", "plan", "actions", "postgres.drop")
	if code != exitUsage || !strings.Contains(stderr, `no action "postgres.drop"`) {
		t.Fatalf("unknown action: code %d, %s", code, stderr)
	}
}
