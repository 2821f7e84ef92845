package plan

import (
	"fmt"
	"testing"
)

// TestLargestPlan validates a plan of MaxSteps steps in a chain, each with a condition on the first,
// the worst case for checking that conditions refer to steps they need.
func TestLargestPlan(t *testing.T) {
	p := &Plan{APIVersion: APIVersion, Kind: Kind, Metadata: Metadata{Name: "big"}, Spec: Spec{Scenario: "s"}}
	for i := range MaxSteps {
		s := Step{ID: fmt.Sprintf("s%d", i), Type: TypeAction, Action: "exec", With: map[string]any{"command": "x"}}
		if i > 0 {
			s.Needs = []string{fmt.Sprintf("s%d", i-1)}
			s.When = `steps.s0.status == "succeeded"`
		}
		p.Spec.Steps = append(p.Spec.Steps, s)
	}
	if err := ValidateWith(p, DefaultActions()); err != nil {
		t.Fatal(err)
	}
	levels, err := p.Levels()
	if err != nil || len(levels) != MaxSteps {
		t.Fatalf("%d levels, %v", len(levels), err)
	}
	// Steps 5000 to 9999 reach s0 only through the link dropped here.
	p.Spec.Steps[5000].Needs = nil
	var problems Problems
	if err := p.Validate(); !asProblems(err, &problems) || len(problems) != 5000 {
		t.Fatalf("%d problems", len(problems))
	}
}

func asProblems(err error, p *Problems) bool {
	ps, ok := err.(Problems)
	*p = ps
	return ok
}
