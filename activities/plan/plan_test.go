package plan

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// orders decodes the orders failover example, a valid plan the cases below break one way each.
func orders(t testing.TB) *Plan {
	t.Helper()
	p, err := Decode(readFixture(t, "valid/orders-db-failover.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPlanExamplesAreValid(t *testing.T) {
	files, err := filepath.Glob("testdata/valid/*.yaml")
	if err != nil || len(files) < 3 {
		t.Fatalf("examples: %v %v", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			p, err := Parse(b)
			if err != nil {
				t.Fatal(err)
			}
			if err := ValidateWith(p, DefaultActions()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestPlanParseFillsInTypeAndImpact(t *testing.T) {
	p := orders(t)
	for id, want := range map[string]StepType{"check-primary": TypeAction, "approve-failover": TypeApproval, "tell-support": TypeManual} {
		if got := p.Step(id).Type; got != want {
			t.Errorf("%s: type %q, want %q", id, got, want)
		}
	}
	if p.Step("check-primary").Impact != ImpactOptional || p.Step("promote").Impact != ImpactCritical || !p.Step("promote").Critical() {
		t.Errorf("impacts: %q %q", p.Step("check-primary").Impact, p.Step("promote").Impact)
	}
	if p.Spec.Objectives.RTO.D() != 15*time.Minute || p.Step("check-primary").Retry.Backoff.D() != 2*time.Second {
		t.Errorf("durations: %v %v", p.Spec.Objectives.RTO, p.Step("check-primary").Retry.Backoff)
	}
}

func TestPlanParseErrors(t *testing.T) {
	head := "apiVersion: lifeboat.dev/v1\nkind: RecoveryPlan\n"
	tests := []struct {
		name string
		yaml string
		want string
	}{
		{"empty", "  \n", "plan is empty"},
		{"not YAML", "apiVersion: [", "did not find expected node content"},
		{"no apiVersion", "kind: RecoveryPlan\n", "apiVersion: required (lifeboat.dev/v1)"},
		{"unsupported apiVersion", "apiVersion: lifeboat.dev/v2\nkind: RecoveryPlan\nspec: {whatever: 1}\n",
			`apiVersion: unsupported version "lifeboat.dev/v2": this version of lifeboat reads lifeboat.dev/v1`},
		{"wrong kind", "apiVersion: lifeboat.dev/v1\nkind: Asset\n", `kind: "Asset" is not a plan: want RecoveryPlan`},
		{"unknown field names its line", head + "metadata: {name: x}\nspec:\n  scenario: s\n  stepz: []\n", `line 6: unknown field "stepz"`},
		{"unknown step field names its line", head + "spec:\n  steps:\n    - id: a\n      acton: exec\n", `line 6: unknown field "acton"`},
		{"bad duration names its line", head + "spec:\n  objectives:\n    rto: 15 minutes\n",
			`line 5: invalid duration "15 minutes": use a number with a unit, such as 30s, 5m or 1h30m`},
		{"wrong type", head + "spec:\n  steps: {id: a}\n", "line 4: cannot unmarshal !!map into []plan.Step"},
		{"two documents", head + "metadata: {name: a}\n---\n" + head, "more than one YAML document"},
		{"valid YAML, invalid plan", head + "metadata: {name: a}\nspec: {scenario: s}\n", "spec.steps: required: at least one step"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
			if p != nil {
				t.Fatal("a plan came back with the error")
			}
		})
	}
}

func TestPlanValidateProblems(t *testing.T) {
	const (
		promote = "spec.steps[4] (promote)"
		approve = "spec.steps[2] (approve-failover)"
		decide  = "spec.steps[3] (repair-or-restore)"
		tell    = "spec.steps[6] (tell-support)"
	)
	tests := []struct {
		name   string
		change func(p *Plan)
		want   string
	}{
		{"bad plan name", func(p *Plan) { p.Metadata.Name = "Orders DB" },
			`metadata.name: "Orders DB": use 1-63 lower-case letters, digits and '-', starting with a letter or digit`},
		{"no scenario", func(p *Plan) { p.Spec.Scenario = " " }, "spec.scenario: required: the event the plan answers, in a sentence"},
		{"no steps", func(p *Plan) { p.Spec.Steps = nil }, "spec.steps: required: at least one step"},
		{"too many steps", func(p *Plan) { p.Spec.Steps = make([]Step, MaxSteps+1) }, "spec.steps: 10001 steps: the limit is 10000"},
		{"person without channels", func(p *Plan) { p.Spec.People[3].Channels = Channels{} },
			"spec.people[3] (dave).channels: required: at least one of slack, email, sms, pagerduty"},
		{"bad email", func(p *Plan) { p.Spec.People[1].Channels.Email = "bob at example.com" },
			`spec.people[1] (bob).channels.email: "bob at example.com" is not an email address`},
		{"bad phone number", func(p *Plan) { p.Spec.People[0].Channels.SMS = "555-0100" },
			`spec.people[0] (alice).channels.sms: "555-0100": write the number in E.164 form, such as +15555550100`},
		{"group named like a person", func(p *Plan) { p.Spec.Groups = append(p.Spec.Groups, Group{ID: "dave", Members: []string{"dave"}}) },
			`spec.groups[3] (dave).id: "dave" is also the id of spec.people[3] (dave): people, groups and roles share one namespace`},
		{"unknown group member", func(p *Plan) { p.Spec.Groups[0].Members = []string{"alice", "zoe"} },
			`spec.groups[0] (dba-oncall).members: unknown person or group "zoe": a group's members are people`},
		{"group in a group", func(p *Plan) { p.Spec.Groups[0].Members = []string{"alice", "sre"} },
			`spec.groups[0] (dba-oncall).members: "sre" is a group: a group's members are people`},
		{"unknown role member", func(p *Plan) { p.Spec.Roles["executors"] = []string{"sre", "nobody"} },
			`spec.roles.executors: unknown person or group "nobody": a role lists people and groups`},
		{"role in a role", func(p *Plan) { p.Spec.Roles["executors"] = []string{"approvers"} },
			`spec.roles.executors: "approvers" is a role: a role lists people and groups`},
		{"escalation levels out of order", func(p *Plan) { p.Spec.Escalation.Levels[1].After = p.Spec.Escalation.Levels[0].After },
			"spec.escalation.levels[1].after: 5m0s is not after the previous level's 5m0s"},
		{"escalation to nobody", func(p *Plan) { p.Spec.Escalation.Levels[0].Notify = []string{"dba-on-call"} },
			`spec.escalation.levels[0].notify: unknown person, group or role "dba-on-call"`},
		{"bad step id", func(p *Plan) { p.Spec.Steps[6].ID = "Tell_Support" },
			`spec.steps[6] (Tell_Support).id: "Tell_Support": use 1-63 lower-case letters, digits and '-', starting with a letter or digit`},
		{"duplicate step id", func(p *Plan) { p.Spec.Steps[6].ID = "write-probe" },
			"spec.steps[6] (write-probe).id: also the id of spec.steps[5]"},
		{"unknown need", func(p *Plan) { p.Spec.Steps[4].Needs = []string{"repair-or-restore", "x"} },
			promote + `.needs: unknown step "x"`},
		{"need of itself", func(p *Plan) { p.Spec.Steps[4].Needs = append(p.Spec.Steps[4].Needs, "promote") },
			promote + ".needs: a step cannot need itself"},
		{"need listed twice", func(p *Plan) { p.Spec.Steps[4].Needs = []string{"repair-or-restore", "repair-or-restore"} },
			promote + `.needs: "repair-or-restore" is listed twice`},
		{"no type", func(p *Plan) { p.Spec.Steps[6].Type, p.Spec.Steps[6].Manual = "", nil },
			tell + ".type: required: set action, or type and its block (action, approval, decision, manual, wait, notify, plan, strategies)"},
		{"unknown type", func(p *Plan) { p.Spec.Steps[6].Type = "chore" },
			tell + `.type: unknown type "chore": use one of action, approval, decision, manual, wait, notify, plan, strategies`},
		{"block of another type", func(p *Plan) { p.Spec.Steps[6].Wait = &Wait{Duration: 60} },
			tell + ".wait: only for steps of type wait, and this one is of type manual"},
		{"type without its block", func(p *Plan) { p.Spec.Steps[6].Manual = nil },
			tell + ".manual: required for a step of type manual"},
		{"with on a gate", func(p *Plan) { p.Spec.Steps[6].With = map[string]any{"x": 1} }, tell + ".with: only for action steps"},
		{"compensation of a gate", func(p *Plan) { p.Spec.Steps[6].Compensate = &Compensation{Action: "exec"} },
			tell + ".compensate: only for action steps"},
		{"drill targets of a gate", func(p *Plan) { p.Spec.Steps[6].Drill = &DrillOverride{With: map[string]any{"x": 1}} },
			tell + ".drill.with: only for action steps; other steps can only be skipped in drills (drill.skip)"},
		{"empty drill", func(p *Plan) { p.Spec.Steps[4].Drill = &DrillOverride{} },
			promote + ".drill: empty: set with (the drill's targets), skip: true or same_targets: true"},
		{"drill skip and targets", func(p *Plan) {
			p.Spec.Steps[4].Drill = &DrillOverride{Skip: true, With: map[string]any{"dsn_secret": "drill-replica"}}
		}, promote + ".drill: choose one of with (the drill's targets), skip and same_targets"},
		{"drill reason without skip", func(p *Plan) {
			p.Spec.Steps[4].Drill = &DrillOverride{Reason: "r", With: map[string]any{"dsn_secret": "drill-replica"}}
		}, promote + ".drill.reason: only with skip or same_targets"},
		{"step timeout on a gate", func(p *Plan) { p.Spec.Steps[6].Timeout = 60 },
			tell + ".timeout: set the gate's own timeout (manual.timeout)"},
		{"unknown impact", func(p *Plan) { p.Spec.Steps[4].Impact = "minor" },
			promote + `.impact: unknown impact "minor": use critical or optional`},
		{"bad action name", func(p *Plan) { p.Spec.Steps[4].Action = "Postgres Promote" },
			promote + `.action: "Postgres Promote" is not an action name (such as postgres.promote)`},
		{"no attempts", func(p *Plan) { p.Spec.Steps[0].Retry.Attempts = 0 },
			"spec.steps[0] (check-primary).retry.attempts: 0: use 1 (no retry) to 100"},
		{"unknown approver", func(p *Plan) { p.Spec.Steps[2].Approval.Approvers = []string{"approvers", "dbas"} },
			approve + `.approval.approvers: unknown person, group or role "dbas"`},
		{"quorum above the approvers", func(p *Plan) { p.Spec.Steps[2].Approval.Quorum = 4 },
			approve + ".approval.quorum: 4 approvals needed, but the approvers are 3 people"},
		{"escalate without a policy", func(p *Plan) { p.Spec.Escalation = nil },
			approve + ".approval.on_expiry: escalate needs an escalation policy (spec.escalation or the step's escalation)"},
		{"unknown expiry", func(p *Plan) { p.Spec.Steps[2].Approval.OnExpiry = "approve" },
			approve + `.approval.on_expiry: unknown "approve": use reject or escalate`},
		{"one option", func(p *Plan) { p.Spec.Steps[3].Decision.Options = []string{"restore"} },
			decide + ".decision.options: 1 given: give 2 to 10 options"},
		{"eleven options", func(p *Plan) {
			p.Spec.Steps[3].Decision.Options = append(p.Spec.Steps[3].Decision.Options, "a", "b", "c", "d", "e", "f", "g", "h", "i")
		}, decide + ".decision.options: 11 given: give 2 to 10 options"},
		{"option twice", func(p *Plan) { p.Spec.Steps[3].Decision.Options = []string{"repair", "restore", "repair"} },
			decide + `.decision.options: "repair" is listed twice`},
		{"default not an option", func(p *Plan) { p.Spec.Steps[3].Decision.Default = "wait" },
			decide + `.decision.default: "wait" is not one of the options`},
		{"no deciders", func(p *Plan) { p.Spec.Steps[3].Decision.Deciders = nil },
			decide + ".decision.deciders: required: at least one person, group or role"},
		{"no instructions", func(p *Plan) { p.Spec.Steps[6].Manual.Instructions = "" }, tell + ".manual.instructions: required"},
		{"wait of nothing", func(p *Plan) {
			p.Spec.Steps[6].Type, p.Spec.Steps[6].Manual, p.Spec.Steps[6].Wait = TypeWait, nil, &Wait{}
		},
			tell + ".wait.duration: required: how long to wait"},
		{"notify without message", func(p *Plan) {
			p.Spec.Steps[6].Type, p.Spec.Steps[6].Manual, p.Spec.Steps[6].Notify = TypeNotify, nil, &Notify{To: []string{"stakeholders"}}
		}, tell + ".notify.message: required"},
		{"plan runs itself", func(p *Plan) {
			p.Spec.Steps[6].Type, p.Spec.Steps[6].Manual, p.Spec.Steps[6].Plan = TypePlan, nil, &ChildPlan{Name: "orders-db-failover"}
		}, tell + ".plan.name: a plan cannot run itself"},
		{"condition does not parse", func(p *Plan) { p.Spec.Steps[4].When = `steps.promote.status = "failed"` },
			promote + `.when: column 22: unexpected "=": use == to compare`},
		{"condition of mixed types", func(p *Plan) { p.Spec.Steps[4].When = `steps.repair-or-restore.choice == 2` },
			promote + ".when: column 32: cannot compare a string with a number"},
		{"condition on an unknown step", func(p *Plan) { p.Spec.Steps[4].When = `steps.check.status == "failed"` },
			promote + `.when: column 1: steps.check.status: unknown step "check"`},
		{"condition on a step not needed", func(p *Plan) { p.Spec.Steps[4].When = `steps.tell-support.status == "failed"` },
			promote + ".when: column 1: steps.tell-support.status: promote does not need tell-support, directly or through other steps: add it to needs"},
		{"choice of a step that is no decision", func(p *Plan) { p.Spec.Steps[4].When = `steps.approve-failover.choice == "yes"` },
			promote + ".when: column 1: steps.approve-failover.choice: approve-failover is not a decision step"},
		{"choice that is no option", func(p *Plan) { p.Spec.Steps[4].When = `steps.repair-or-restore.choice != "restor"` },
			promote + `.when: column 35: "restor" is not an option of repair-or-restore (repair, restore)`},
		{"status that does not exist", func(p *Plan) { p.Spec.Steps[4].When = `"success" == steps.check-primary.status` },
			promote + `.when: column 1: "success" is not a status: use succeeded, failed, skipped`},
		{"outputs of a gate", func(p *Plan) { p.Spec.Steps[4].When = `steps.approve-failover.outputs.by == "alice"` },
			promote + ".when: column 1: steps.approve-failover.outputs.by: only action, plan and strategies steps have outputs, and approve-failover is an approval step"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := orders(t)
			if err := p.Validate(); err != nil {
				t.Fatalf("the example is invalid: %v", err)
			}
			tt.change(p)
			err := p.Validate()
			var problems Problems
			if !errors.As(err, &problems) {
				t.Fatalf("error %v, want Problems", err)
			}
			if len(problems) != 1 || problems[0].Error() != tt.want {
				t.Fatalf("problems:\n%v\nwant exactly:\n%s", err, tt.want)
			}
		})
	}
}

func TestPlanValidateReportsEveryProblem(t *testing.T) {
	p := orders(t)
	p.Metadata.Name = ""
	p.Spec.Steps[6].Needs = []string{"x"}
	p.Spec.Steps[3].Decision.Question = ""
	err := p.Validate()
	var problems Problems
	if !errors.As(err, &problems) {
		t.Fatalf("%v", err)
	}
	// Problems come in the order of the plan: steps' problems by step.
	var paths []string
	for _, p := range problems {
		paths = append(paths, p.Path)
	}
	want := []string{"metadata.name", "spec.steps[3] (repair-or-restore).decision.question", "spec.steps[6] (tell-support).needs"}
	if !slices.Equal(paths, want) {
		t.Errorf("paths %q, want %q", paths, want)
	}
}

func TestPlanValidateWithActions(t *testing.T) {
	const (
		check   = "spec.steps[0] (check-primary)"
		promote = "spec.steps[4] (promote)"
	)
	tests := []struct {
		name   string
		change func(p *Plan)
		want   string
	}{
		{"unknown action", func(p *Plan) { p.Spec.Steps[4].Action = "postgres.promote_now" },
			promote + `.action: unknown action "postgres.promote_now"`},
		{"unknown parameter", func(p *Plan) { p.Spec.Steps[4].With["dsn"] = "x" },
			promote + `.with.dsn: postgres.promote has no parameter "dsn" (it has dsn_secret, wait)`},
		{"missing parameter", func(p *Plan) { delete(p.Spec.Steps[4].With, "dsn_secret") },
			promote + ".with.dsn_secret: required by postgres.promote"},
		{"secret given by value", func(p *Plan) { p.Spec.Steps[4].With["dsn_secret"] = "postgres://u:pw@db/orders" },
			promote + `.with.dsn_secret: want the name of a worker secret, not "postgres://u:pw@db/orders": plans name secrets, never hold their values`},
		{"bad duration", func(p *Plan) { p.Spec.Steps[4].With["wait"] = "soon" },
			promote + `.with.wait: invalid duration "soon": use a number with a unit, such as 30s, 5m or 1h30m`},
		{"number for a string", func(p *Plan) {
			p.Spec.Steps[5].Action, p.Spec.Steps[5].With = "check.tcp", map[string]any{"address": 5432}
			p.Spec.Steps[5].Drill = nil
		}, "spec.steps[5] (write-probe).with.address: want a string, not 5432 (quote it)"},
		{"string for a number", func(p *Plan) {
			p.Spec.Steps[5].Action, p.Spec.Steps[5].With = "check.http", map[string]any{"url": "http://x", "expect_status": "200"}
			p.Spec.Steps[5].Drill = nil
		}, `spec.steps[5] (write-probe).with.expect_status: want a whole number, not "200"`},
		{"string for a boolean", func(p *Plan) {
			p.Spec.Steps[5].Action, p.Spec.Steps[5].With = "aws.rds_failover_global_cluster", map[string]any{"global_cluster": "g", "target_cluster_arn": "arn", "allow_data_loss": "yes"}
			p.Spec.Steps[5].Drill = nil
		}, `spec.steps[5] (write-probe).with.allow_data_loss: want true or false, not "yes"`},
		{"unknown compensation", func(p *Plan) { p.Spec.Steps[4].Compensate.Action = "postgres.demote" },
			promote + `.compensate.action: unknown action "postgres.demote"`},
		{"compensation without its parameter", func(p *Plan) { p.Spec.Steps[4].Compensate.With = nil },
			promote + ".compensate.with.dsn_secret: required by postgres.fence"},
		{"drill target the action lacks", func(p *Plan) {
			p.Spec.Steps[4].Drill = &DrillOverride{With: map[string]any{"dsn": "postgres://drill"}}
		}, promote + `.drill.with.dsn: neither postgres.promote nor its compensation has a parameter "dsn"`},
		{"drill target of the wrong type", func(p *Plan) {
			p.Spec.Steps[4].Drill = &DrillOverride{With: map[string]any{"dsn_secret": 5}}
		}, promote + `.drill.with.dsn_secret: want the name of a worker secret, not 5: plans name secrets, never hold their values`},
		{"output the action lacks", func(p *Plan) {
			p.Spec.Steps[4].When = `steps.check-replica.outputs.lag_second < 300`
		}, promote + `.when: column 1: steps.check-replica.outputs.lag_second: postgres.replication_status has no output "lag_second" (it has role, reachable, lag_seconds, lag_bytes, streaming, timeline, lsn)`},
		{"argv for exec", func(p *Plan) {
			p.Spec.Steps[0].Action, p.Spec.Steps[0].With = "exec", map[string]any{"command": "failover", "argv": []any{"-f"}}
		}, check + `.with.argv: exec has no parameter "argv" (it has command)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := orders(t)
			tt.change(p)
			err := ValidateWith(p, DefaultActions())
			var problems Problems
			if !errors.As(err, &problems) {
				t.Fatalf("error %v, want Problems", err)
			}
			if len(problems) != 1 || problems[0].Error() != tt.want {
				t.Fatalf("problems:\n%v\nwant exactly:\n%s", err, tt.want)
			}
		})
	}
}

func TestPlanDefaultActions(t *testing.T) {
	actions := DefaultActions()
	for _, name := range []string{"postgres.replication_status", "postgres.fence", "postgres.promote", "postgres.write_probe",
		"postgres.sql_check", "aws.route53_upsert", "aws.rds_promote_read_replica", "aws.rds_failover_global_cluster",
		"aws.ec2_start", "aws.ec2_stop", "aws.asg_set_capacity", "check.http", "check.tcp", "check.dns", "restore.asset",
		"exec", "notify"} {
		a, ok := actions[name]
		if !ok {
			t.Errorf("%s is missing", name)
			continue
		}
		if a.Name != name || !actionPattern.MatchString(name) {
			t.Errorf("%s: named %q", name, a.Name)
		}
	}
	if got := actions["postgres.replication_status"].OutputNames(); !slices.Equal(got[:3], []string{"role", "reachable", "lag_seconds"}) {
		t.Errorf("replication_status outputs %v", got)
	}
	if _, ok := actions["exec"].Param("argv"); ok {
		t.Error("exec takes argv")
	}
}

func TestPlanResolve(t *testing.T) {
	p := orders(t)
	ids := func(people []Person) string {
		var out []string
		for _, person := range people {
			out = append(out, person.ID)
		}
		return strings.Join(out, ",")
	}
	tests := []struct{ ref, want string }{
		{"alice", "alice"},
		{"sre", "carol,alice"},
		{"approvers", "alice,bob,carol"},
		{"executors", "carol,alice"},
		{"incident_commander", "alice"},
		{"nobody", ""},
	}
	for _, tt := range tests {
		if got := ids(p.Resolve(tt.ref)); got != tt.want {
			t.Errorf("Resolve(%q) = %s, want %s", tt.ref, got, tt.want)
		}
	}
	// A person in two of a role's groups counts once.
	p.Spec.Roles["approvers"] = []string{"dba-oncall", "sre", "alice"}
	if got := ids(p.Resolve("approvers")); got != "alice,bob,carol" {
		t.Errorf("overlapping groups: %s", got)
	}
}

// A drill cannot reach a plan's production targets: each unsafe case is refused, naming the step.
func TestDrillSafety(t *testing.T) {
	plan := func(t *testing.T, steps string) *Plan {
		t.Helper()
		p, err := Decode([]byte("apiVersion: lifeboat.dev/v1\nkind: RecoveryPlan\nmetadata: {name: drill-cases}\nspec:\n  scenario: s\n  steps:\n" + steps))
		if err != nil {
			t.Fatalf("parse: %v", err)
		}
		return p
	}
	tests := []struct {
		name  string
		steps string
		want  string // "" when the drill is safe
	}{
		{"read-only action as it is", `
    - {id: look, action: postgres.replication_status, with: {dsn_secret: orders}}`, ""},
		{"mutating action without a drill block", `
    - {id: fence, action: postgres.fence, with: {dsn_secret: orders}}`,
			"spec.steps[0] (fence).drill: postgres.fence changes what it acts on, so a drill must not run it on the plan's targets: needs drill.with setting `dsn_secret` to an isolated target, drill.skip or drill.same_targets, each with a reason"},
		{"isolated targets", `
    - {id: fence, action: postgres.fence, with: {dsn_secret: orders}, drill: {with: {dsn_secret: orders-drill}},
       compensate: {action: postgres.unfence, with: {dsn_secret: orders}}}`, ""},
		{"drill parameters that are not targets", `
    - {id: promote, action: postgres.promote, with: {dsn_secret: orders}, drill: {with: {wait: 5m}}}`,
			"spec.steps[0] (promote).drill.with: sets none of postgres.promote's targets to another value (dsn_secret): the drill would act on the plan's own targets; give isolated ones, or say drill.same_targets with a reason"},
		{"the same target again", `
    - {id: promote, action: postgres.promote, with: {dsn_secret: orders}, drill: {with: {dsn_secret: orders}}}`,
			"spec.steps[0] (promote).drill.with: sets none of postgres.promote's targets to another value (dsn_secret): the drill would act on the plan's own targets; give isolated ones, or say drill.same_targets with a reason"},
		{"a compensation left on production", `
    - {id: promote, action: postgres.promote, with: {dsn_secret: orders}, drill: {with: {dsn_secret: orders-drill}},
       compensate: {action: aws.route53_upsert, with: {zone_id: Z1, record: db.example.com, value: old.example.com}}}`,
			"spec.steps[0] (promote).drill.with: sets none of the targets of its compensation aws.route53_upsert (zone_id, record): undoing the drill would act on the plan's own targets"},
		{"skip without a reason", `
    - {id: dns, action: aws.route53_upsert, with: {zone_id: Z1, record: db.example.com, value: x}, drill: {skip: true}}`,
			"spec.steps[0] (dns).drill.reason: required with skip or same_targets: say why, for the drill's record"},
		{"skip with a reason", `
    - {id: dns, action: aws.route53_upsert, with: {zone_id: Z1, record: db.example.com, value: x}, drill: {skip: true, reason: production DNS}}`, ""},
		{"same targets without a reason", `
    - {id: page, action: exec, with: {command: page}, drill: {same_targets: true}}`,
			"spec.steps[0] (page).drill.reason: required with skip or same_targets: say why, for the drill's record"},
		{"same targets with a reason", `
    - {id: page, action: exec, with: {command: page}, drill: {same_targets: true, reason: the pager marks drills}}`, ""},
		{"exec without a drill block", `
    - {id: page, action: exec, with: {command: page}}`,
			"spec.steps[0] (page).drill: exec changes what it acts on, so a drill must not run it on the plan's targets: needs drill.with setting `command` to an isolated target, drill.skip or drill.same_targets, each with a reason"},
		{"in-place restore in a drill", `
    - {id: restore, action: restore.asset, with: {asset: www, in_place: true}, drill: {with: {target_dir: /drills/www}}}`,
			"spec.steps[0] (restore).drill.with.in_place: must be false in a drill (set it in drill.with)"},
		{"in-place restore rehearsed by a restore drill", `
    - {id: restore, action: restore.asset, with: {asset: www, in_place: true}}`, ""},
		{"restore elsewhere in a drill", `
    - {id: restore, action: restore.asset, with: {asset: www, in_place: true}, drill: {with: {target_dir: /drills/www, in_place: false}}}`, ""},
		{"a compensation with its own drill targets", `
    - {id: maintenance, action: exec, with: {command: maintenance-on}, drill: {with: {command: maintenance-on-drill}, compensate_with: {command: maintenance-off-drill}},
       compensate: {action: exec, with: {command: maintenance-off}}}`, ""},
		{"a compensation's drill targets left as they are", `
    - {id: maintenance, action: exec, with: {command: maintenance-on}, drill: {with: {command: maintenance-on-drill}, compensate_with: {command: maintenance-off}},
       compensate: {action: exec, with: {command: maintenance-off}}}`,
			"spec.steps[0] (maintenance).drill.with: sets none of the targets of its compensation exec (command): undoing the drill would act on the plan's own targets"},
		{"a compensation that would undo with the step's drill values", `
    - {id: maintenance, action: exec, with: {command: maintenance-on}, drill: {with: {command: maintenance-on-drill}},
       compensate: {action: exec, with: {command: maintenance-off}}}`,
			"spec.steps[0] (maintenance).drill.compensate_with: drill.with.command would also replace the compensation's command (maintenance-off), which differs from the step's: give the compensation's drill parameters here"},
		{"skip and targets at once", `
    - {id: fence, action: postgres.fence, with: {dsn_secret: orders}, drill: {with: {dsn_secret: d}, skip: true, reason: r}}`,
			"spec.steps[0] (fence).drill: choose one of with (the drill's targets), skip and same_targets"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := plan(t, tt.steps)
			err := ValidateWith(p, DefaultActions())
			if err == nil {
				err = DrillSafety(p, DefaultActions())
			}
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused a safe drill: %v", err)
				}
				return
			}
			var problems Problems
			if !errors.As(err, &problems) || len(problems) != 1 || problems[0].Error() != tt.want {
				t.Fatalf("problems:\n%v\nwant exactly:\n%s", err, tt.want)
			}
		})
	}
}

func TestStrategiesValidation(t *testing.T) {
	const head = "apiVersion: lifeboat.dev/v1\nkind: RecoveryPlan\nmetadata: {name: s}\nspec:\n  scenario: s\n  people: [{id: bob, name: Bob, channels: {email: bob@example.com}}]\n  steps:\n"
	tests := []struct {
		name  string
		steps string
		want  []string
	}{
		{"valid", `
    - id: db
      strategies:
        - {name: promote, action: postgres.promote, with: {dsn_secret: r}, drill: {with: {dsn_secret: d}}}
        - {name: rebuild, plan: {name: rebuild-db}}
        - {name: by-hand, manual: {instructions: rebuild it, assignees: [bob]}}
    - {id: probe, needs: [db], when: 'steps.db.outputs.promoted == true', action: check.tcp, with: {address: "db:5432"}}`, nil},
		{"one strategy", `
    - id: db
      strategies: [{name: promote, action: postgres.promote, with: {dsn_secret: r}, drill: {with: {dsn_secret: d}}}]`,
			[]string{"spec.steps[0] (db).strategies: 1 given: give at least two (one is a plain step)"}},
		{"manual before the end", `
    - id: db
      strategies:
        - {name: by-hand, manual: {instructions: rebuild it, assignees: [bob]}}
        - {name: promote, action: postgres.promote, with: {dsn_secret: r}, drill: {with: {dsn_secret: d}}}`,
			[]string{"spec.steps[0] (db).strategies[0] (by-hand).manual: only the last strategy can be a manual procedure: the ones after it would never run"}},
		{"names", `
    - id: db
      strategies:
        - {name: a, action: check.tcp, with: {address: "x:1"}}
        - {name: a, action: check.tcp, with: {address: "y:1"}}
        - {name: "B!", action: check.tcp, with: {address: "z:1"}}`,
			[]string{`spec.steps[0] (db).strategies[1] (a).name: "a" is the name of an earlier strategy`,
				`spec.steps[0] (db).strategies[2] (B!).name: "B!": use 1-63 lower-case letters, digits and '-', starting with a letter or digit`}},
		{"two kinds at once", `
    - id: db
      strategies:
        - {name: a, action: check.tcp, with: {address: "x:1"}, plan: {name: other}}
        - {name: b, action: check.tcp, with: {address: "y:1"}}`,
			[]string{"spec.steps[0] (db).strategies[0] (a): set exactly one of action, plan and manual"}},
		{"parameters checked", `
    - id: db
      strategies:
        - {name: a, action: check.tcp, with: {address: 5432}}
        - {name: b, action: check.nothing}`,
			[]string{"spec.steps[0] (db).strategies[0] (a).with.address: want a string, not 5432 (quote it)",
				`spec.steps[0] (db).strategies[1] (b).action: unknown action "check.nothing"`}},
		{"an output no strategy declares", `
    - id: db
      strategies:
        - {name: a, action: check.tcp, with: {address: "x:1"}}
        - {name: b, action: check.dns, with: {name: x}}
    - {id: next, needs: [db], when: 'steps.db.outputs.status == 200', action: check.tcp, with: {address: "y:1"}}`,
			[]string{`spec.steps[1] (next).when: column 1: steps.db.outputs.status: no strategy of db has an output "status" (they have answer, latency_ms, ok)`}},
		{"a strategy's drill left on production", `
    - id: db
      strategies:
        - {name: promote, action: postgres.promote, with: {dsn_secret: r}}
        - {name: by-hand, manual: {instructions: rebuild it, assignees: [bob]}}`,
			[]string{"spec.steps[0] (db).strategies[0] (promote).drill: postgres.promote changes what it acts on, so a drill must not run it on the plan's targets: needs drill.with setting `dsn_secret` to an isolated target, drill.skip or drill.same_targets, each with a reason"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Decode([]byte(head + tt.steps))
			if err != nil {
				t.Fatal(err)
			}
			err = ValidateWith(p, DefaultActions())
			if err == nil {
				err = DrillSafety(p, DefaultActions())
			}
			var got []string
			var problems Problems
			if errors.As(err, &problems) {
				for _, pr := range problems {
					got = append(got, pr.Error())
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}
