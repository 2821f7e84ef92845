package activities

import (
	"context"
	"slices"

	"github.com/lifeboat-dr/lifeboat/activities/contract"
)

// AlertRules are the worker's intake rules by name: an Alert workflow starts only the plan, in the
// mode, that its rule names here, whatever its input says.
type AlertRules struct {
	Rules map[string]contract.AlertRule
}

// LoadAlertRule returns the plan and mode of the rule named, or Found false with the rules there are.
func (a *AlertRules) LoadAlertRule(_ context.Context, in contract.LoadAlertRuleInput) (contract.LoadAlertRuleResult, error) {
	if r, ok := a.Rules[in.Rule]; ok {
		return contract.LoadAlertRuleResult{Found: true, Plan: r.Plan, Mode: r.Mode}, nil
	}
	var names []string
	for name := range a.Rules {
		names = append(names, name)
	}
	slices.Sort(names)
	return contract.LoadAlertRuleResult{Rules: names}, nil
}
