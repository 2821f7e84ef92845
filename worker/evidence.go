package main

import (
	"context"
	"log/slog"

	"github.com/lifeboat-dr/lifeboat/activities"
	"github.com/lifeboat-dr/lifeboat/integrations/secrets"
	"github.com/lifeboat-dr/lifeboat/worker/config"
)

// newEvidence builds the evidence activities: the store records are signed into (none without
// evidence.location), the configuration's version they record, and the drills its schedules may
// start. WriteEvidence and LoadDrillSchedules are registered with or without a store.
func newEvidence(ctx context.Context, cfg config.Config, env config.Env, logger *slog.Logger) (*activities.Evidence, error) {
	version, err := configVersion(cfg)
	if err != nil {
		return nil, err
	}
	ev := &activities.Evidence{ConfigSHA256: version, PlanConfigVersion: func(name string) string {
		// Plans are read afresh, as the run read them; a plan that no longer reads has none.
		plans, _ := cfg.Plans()
		if p, ok := plans[name]; ok {
			return cfg.PlanConfigVersion(p.Plan)
		}
		return ""
	}}
	if len(cfg.Recovery.Drills) > 0 && cfg.Schedules.Owner != "" {
		ev.ScheduleRequester, ev.DrilledPlans = config.ScheduleRequester(cfg.Schedules.Owner), cfg.DrilledPlans()
	}
	if !cfg.Evidence.Enabled() {
		logger.Info("no evidence store: drills and verifications leave no signed record; set evidence.location to keep them (docs/evidence.md)")
		return ev, nil
	}
	st, err := cfg.Evidence.Store(ctx, secrets.Static(cfg.Secrets), env)
	if err != nil {
		return nil, usageError{err}
	}
	ev.Store = st
	logger.Info("evidence", "location", st.Location())
	return ev, nil
}
