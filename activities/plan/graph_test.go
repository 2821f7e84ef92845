package plan

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// steps makes a plan from "id:need,need" specs.
func steps(specs ...string) *Plan {
	p := &Plan{}
	for _, s := range specs {
		id, needs, _ := strings.Cut(s, ":")
		step := Step{ID: id, Type: TypeAction, Action: "exec"}
		if needs != "" {
			step.Needs = strings.Split(needs, ",")
		}
		p.Spec.Steps = append(p.Spec.Steps, step)
	}
	return p
}

func TestPlanOrderAndLevels(t *testing.T) {
	tests := []struct {
		name   string
		plan   *Plan
		order  string
		levels string
	}{
		{"independent steps keep their declaration order", steps("c", "a", "b"), "c a b", "[c a b]"},
		{"a chain", steps("c:b", "b:a", "a"), "a b c", "[a] [b] [c]"},
		{"ties go to the step declared first", steps("z", "y:z", "x", "w:x"), "z y x w", "[z x] [y w]"},
		{"a diamond", steps("top", "left:top", "right:top", "bottom:right,left"), "top left right bottom", "[top] [left right] [bottom]"},
		{"a step waits for its slowest need", steps("a", "b:a", "c:b", "d:a", "e:d,c"), "a b c d e", "[a] [b d] [c] [e]"},
		{"later declared but ready first", steps("late:slow", "slow:slower", "slower", "quick"), "slower slow late quick", "[slower quick] [slow] [late]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			order, err := tt.plan.Order()
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(order, " "); got != tt.order {
				t.Errorf("order %s, want %s", got, tt.order)
			}
			levels, err := tt.plan.Levels()
			if err != nil {
				t.Fatal(err)
			}
			var waves []string
			for _, w := range levels {
				waves = append(waves, fmt.Sprint(w))
			}
			if got := strings.Join(waves, " "); got != tt.levels {
				t.Errorf("levels %s, want %s", got, tt.levels)
			}
		})
	}
}

func TestPlanOrderIsStable(t *testing.T) {
	p := orders(t)
	first, err := p.Order()
	if err != nil {
		t.Fatal(err)
	}
	for range 50 {
		again, _ := p.Order()
		if !reflect.DeepEqual(first, again) {
			t.Fatalf("order changed: %v then %v", first, again)
		}
	}
	want := []string{"check-primary", "check-replica", "approve-failover", "repair-or-restore", "promote", "write-probe", "tell-support"}
	if !reflect.DeepEqual(first, want) {
		t.Fatalf("order %v, want %v", first, want)
	}
}

func TestPlanCycles(t *testing.T) {
	tests := []struct {
		name string
		plan *Plan
		want []string // Validate's problems about cycles
	}{
		{"two steps", steps("a:b", "b:a"), []string{"spec.steps[0] (a).needs: cycle: a -> b -> a (each step needs the next)"}},
		{"three steps after a good one", steps("ok", "a:ok,c", "b:a", "c:b"),
			[]string{"spec.steps[1] (a).needs: cycle: a -> c -> b -> a (each step needs the next)"}},
		{"the shortest cycle is named", steps("a:b", "b:c,a", "c:a"), []string{"spec.steps[0] (a).needs: cycle: a -> b -> a (each step needs the next)"}},
		{"two separate cycles", steps("a:b", "b:a", "c:d", "d:c"), []string{
			"spec.steps[0] (a).needs: cycle: a -> b -> a (each step needs the next)",
			"spec.steps[2] (c).needs: cycle: c -> d -> c (each step needs the next)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			var problems Problems
			errors.As(tt.plan.Validate(), &problems)
			for _, p := range problems {
				if strings.Contains(p.Message, "cycle") {
					got = append(got, p.Error())
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("cycles:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			_, err := tt.plan.Order()
			var ce *CycleError
			if !errors.As(err, &ce) || !strings.HasPrefix(tt.want[0], "spec.steps") || !strings.Contains(tt.want[0], ce.Error()) {
				t.Fatalf("Order: %v", err)
			}
			if _, err := tt.plan.Levels(); !errors.As(err, &ce) {
				t.Fatalf("Levels: %v", err)
			}
		})
	}
}

func TestPlanOrderRefusesBrokenGraphs(t *testing.T) {
	for name, p := range map[string]*Plan{
		"unknown need":   steps("a:ghost"),
		"duplicate step": steps("a", "a"),
	} {
		if _, err := p.Order(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestPlanLongChainNeedsNoDeepStack(t *testing.T) {
	specs := []string{"s0"}
	for i := 1; i < MaxSteps; i++ {
		specs = append(specs, fmt.Sprintf("s%d:s%d", i, i-1))
	}
	specs[0] = fmt.Sprintf("s0:s%d", MaxSteps-1) // close the loop: one cycle through every step
	p := steps(specs...)
	var ce *CycleError
	if _, err := p.Order(); !errors.As(err, &ce) || len(ce.Path) != MaxSteps+1 {
		t.Fatalf("got %v", err)
	}
}
