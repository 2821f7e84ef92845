package activities

import (
	"reflect"

	"go.temporal.io/sdk/worker"
)

// Set is the activity structs a worker serves. Nil fields are not registered, but for Identities
// and Audit: every worker answers LoadIdentity, without a directory when it has none, and
// AppendAudit, recording nothing when it has no ledger.
type Set struct {
	Probes        *Probes
	Assets        *Assets
	Notifications *Notifications
	Signals       *Signals
	Actions       *Actions
	Plans         *Plans
	Identities    *Identities
	Audit         *Audit
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
	for _, a := range []any{s.Probes, s.Assets, s.Notifications, s.Signals, s.Actions, s.Plans, s.Identities, s.Audit} {
		if !reflect.ValueOf(a).IsNil() {
			w.RegisterActivity(a)
		}
	}
}
