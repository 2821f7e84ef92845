package plan

import (
	"reflect"
	"strings"
	"testing"
)

func TestPlanDiff(t *testing.T) {
	tests := []struct {
		name   string
		change func(p *Plan)
		want   []string
	}{
		{"no change", func(p *Plan) {}, nil},
		{"metadata and objectives", func(p *Plan) {
			p.Metadata.Description = ""
			p.Metadata.Labels["owner"] = "payments"
			p.Spec.Objectives.RPO = 0
		}, []string{
			`- metadata.description: "Fail the orders database over to its replica when the primary is lost."`,
			`+ metadata.labels.owner: "payments"`,
			`- spec.objectives.rpo: "5m0s"`,
		}},
		{"a step added", func(p *Plan) {
			p.Spec.Steps = append(p.Spec.Steps, Step{ID: "page-ceo", Type: TypeNotify, Needs: []string{"approve-failover"},
				Notify: &Notify{To: []string{"alice"}, Message: "x"}})
		}, []string{"+ spec.steps[page-ceo]: notify, needs approve-failover"}},
		{"a step removed", func(p *Plan) { p.Spec.Steps = p.Spec.Steps[:6] }, []string{
			"- spec.steps[tell-support]: manual, needs promote",
		}},
		{"fields of a step changed", func(p *Plan) {
			s := p.Step("promote")
			s.When = ""
			s.With["dsn_secret"] = "orders-replica-2"
			s.Compensate = nil
			s.Timeout = 120_000_000_000
		}, []string{
			`- spec.steps[promote].compensate.action: "postgres.fence"`,
			`- spec.steps[promote].compensate.with.dsn_secret: "orders-replica"`,
			`+ spec.steps[promote].timeout: "2m0s"`,
			`- spec.steps[promote].when: "steps.repair-or-restore.choice == \"restore\" && steps.check-replica.outputs.lag_seconds < 300"`,
			`~ spec.steps[promote].with.dsn_secret: "orders-replica" -> "orders-replica-2"`,
		}},
		{"steps in order, removed ones last", func(p *Plan) {
			p.Step("tell-support").Manual.Timeout = 0
			p.Step("check-primary").Impact = ImpactCritical
			p.Spec.Steps = append(p.Spec.Steps[:5], p.Spec.Steps[6:]...) // write-probe
			p.Step("approve-failover").Approval.Quorum = 3
		}, []string{
			`~ spec.steps[check-primary].impact: "optional" -> "critical"`,
			`~ spec.steps[approve-failover].approval.quorum: 2 -> 3`,
			`- spec.steps[tell-support].manual.timeout: "20m0s"`,
			`- spec.steps[write-probe]: action postgres.write_probe, needs promote`,
		}},
		{"people, groups and roles", func(p *Plan) {
			p.Spec.People[0].Channels.SMS = ""
			p.Spec.People = p.Spec.People[:3]
			p.Spec.Groups[2].Members = []string{"carol"}
			p.Spec.Roles["approvers"] = []string{"dba-oncall"}
		}, []string{
			`- spec.people[alice].channels.sms: "+15555550100"`,
			`- spec.people[dave]: {"channels":{"slack":"U078IJ9KL"},"name":"Dave Brown"}`,
			`~ spec.groups[support-leads].members: ["dave"] -> ["carol"]`,
			`~ spec.roles.approvers: ["dba-oncall","carol"] -> ["dba-oncall"]`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := orders(t), orders(t)
			tt.change(b)
			var got []string
			for _, c := range Diff(a, b) {
				got = append(got, c.String())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("diff:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestPlanDiffIsDeterministicAndSymmetric(t *testing.T) {
	a := orders(t)
	b, err := Parse(readFixture(t, "diff/orders-db-failover-v2.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	first := Diff(a, b)
	if len(first) < 10 {
		t.Fatalf("only %d changes: %v", len(first), first)
	}
	for range 20 {
		if again := Diff(a, b); !reflect.DeepEqual(first, again) {
			t.Fatalf("diff changed between runs")
		}
	}
	back := Diff(b, a)
	if len(back) != len(first) {
		t.Fatalf("%d changes one way, %d the other", len(first), len(back))
	}
	counts := map[ChangeOp]int{}
	for _, c := range first {
		counts[c.Op]++
	}
	for _, c := range back {
		switch c.Op {
		case Added:
			counts[Removed]--
		case Removed:
			counts[Added]--
		default:
			counts[Changed]--
		}
	}
	for op, n := range counts {
		if n != 0 {
			t.Errorf("%s: %d unmatched", op, n)
		}
	}
}
