package activities

import (
	"reflect"

	"go.temporal.io/sdk/worker"
)

// Set is the activity structs a worker serves. Nil fields are not registered.
type Set struct {
	Probes        *Probes
	Assets        *Assets
	Notifications *Notifications
	Signals       *Signals
	Actions       *Actions
	Plans         *Plans
	Audit         *Audit
}

// Register registers the set's activities on w, under their method names (the names in package
// contract, by which the workflows call them).
func (s Set) Register(w worker.ActivityRegistry) {
	for _, a := range []any{s.Probes, s.Assets, s.Notifications, s.Signals, s.Actions, s.Plans, s.Audit} {
		if !reflect.ValueOf(a).IsNil() {
			w.RegisterActivity(a)
		}
	}
}
