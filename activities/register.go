package activities

import (
	"reflect"

	"go.temporal.io/sdk/worker"
)

// Set is the activity structs a worker serves. Nil fields are not registered, but for Identities,
// Audit, AlertRules, Evidence and Runs: every worker answers LoadIdentity, without a directory when
// it has none, AppendAudit, recording nothing when it has no ledger, LoadAlertRule, knowing no rule
// when it has none, WriteEvidence and LoadDrillSchedules, writing nothing and scheduling no drill
// when it keeps no evidence and schedules no drills, and LoadRun, from the set's own Plans,
// Identities and Audit.
type Set struct {
	Probes        *Probes
	Assets        *Assets
	Notifications *Notifications
	Signals       *Signals
	Actions       *Actions
	Plans         *Plans
	Identities    *Identities
	Audit         *Audit
	AlertRules    *AlertRules
	Evidence      *Evidence
	Runs          *Runs
}

// Register registers the set's activities on w, under their method names (the names in package
// contract, by which the workflows call them).
func (s Set) Register(w worker.ActivityRegistry) {
	if s.Identities == nil {
		s.Identities = &Identities{}
	}
	if s.Audit == nil {
		s.Audit = &Audit{}
	}
	if s.AlertRules == nil {
		s.AlertRules = &AlertRules{}
	}
	if s.Evidence == nil {
		s.Evidence = &Evidence{}
	}
	if s.Runs == nil {
		s.Runs = &Runs{Plans: s.Plans, Identities: s.Identities, Audit: s.Audit}
	}
	for _, a := range []any{s.Probes, s.Assets, s.Notifications, s.Signals, s.Actions, s.Plans, s.Identities, s.Audit, s.AlertRules, s.Evidence, s.Runs} {
		if !reflect.ValueOf(a).IsNil() {
			w.RegisterActivity(a)
		}
	}
}
