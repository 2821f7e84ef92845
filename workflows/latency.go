package workflows

import (
	"cmp"
	"slices"
	"time"

	"github.com/lifeboat-dr/lifeboat/activities/plan"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
)

// GateAnswer is one answer given at a gate (an approval, decision or manual step): who gave it,
// what it was, and how long after the gate opened.
type GateAnswer struct {
	Step     string        `json:"step"`
	Type     plan.StepType `json:"type"`
	Identity string        `json:"identity"`
	// Answer is approve, reject, or "choose X".
	Answer  string         `json:"answer"`
	At      time.Time      `json:"at"`
	Latency units.Duration `json:"latency"`
}

// PersonLatency is how quickly one person answered the gates of a run.
type PersonLatency struct {
	Identity string         `json:"identity"`
	Answers  int            `json:"answers"`
	Median   units.Duration `json:"median"`
	Max      units.Duration `json:"max"`
}

// DecisionLatencies are a run's gate answers in the order they were given, and per person (by
// identity) how many they gave and how long they took.
type DecisionLatencies struct {
	Answers []GateAnswer    `json:"answers"`
	People  []PersonLatency `json:"people"`
}

// DecisionLatencies measures how long each answer at the run's gates came after its gate opened.
// Records from before gates recorded their opening measure from the step's start.
func (st RecoveryResult) DecisionLatencies() DecisionLatencies {
	var out DecisionLatencies
	for _, s := range st.Steps {
		if s.Approval == nil {
			continue
		}
		opened := s.GateOpenedAt
		if opened.IsZero() {
			opened = s.StartedAt
		}
		for _, d := range s.Approval.Decisions {
			a := GateAnswer{Step: s.ID, Type: s.Type, Identity: d.Identity, Answer: "reject", At: d.Time,
				Latency: units.Duration(max(d.Time.Sub(opened), 0))}
			switch {
			case d.Approve && d.Choice != "":
				a.Answer = "choose " + d.Choice
			case d.Approve:
				a.Answer = "approve"
			}
			out.Answers = append(out.Answers, a)
		}
	}
	slices.SortStableFunc(out.Answers, func(a, b GateAnswer) int { return a.At.Compare(b.At) })
	by := map[string][]units.Duration{}
	for _, a := range out.Answers {
		if by[a.Identity] == nil {
			out.People = append(out.People, PersonLatency{Identity: a.Identity})
		}
		by[a.Identity] = append(by[a.Identity], a.Latency)
	}
	for i := range out.People {
		p := &out.People[i]
		ls := by[p.Identity]
		slices.Sort(ls)
		p.Answers, p.Max = len(ls), ls[len(ls)-1]
		p.Median = ls[len(ls)/2]
		if len(ls)%2 == 0 {
			p.Median = (ls[len(ls)/2-1] + ls[len(ls)/2]) / 2
		}
	}
	slices.SortFunc(out.People, func(a, b PersonLatency) int { return cmp.Compare(a.Identity, b.Identity) })
	return out
}
