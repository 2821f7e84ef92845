package workflows

import (
	"reflect"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/lifeboat-dr/lifeboat/activities"
)

// Activities are the activity structs a worker serves. Nil fields are not registered.
type Activities struct {
	Probes        *activities.Probes
	Assets        *activities.Assets
	Notifications *activities.Notifications
	Signals       *activities.Signals
	Actions       *activities.Actions
	Plans         *activities.Plans
}

// Register registers every Lifeboat workflow and the given activities on w.
func Register(w worker.Registry, acts Activities) {
	RegisterWorkflows(w)
	for _, a := range []any{acts.Probes, acts.Assets, acts.Notifications, acts.Signals, acts.Actions, acts.Plans} {
		if !reflect.ValueOf(a).IsNil() {
			w.RegisterActivity(a)
		}
	}
}

// RegisterWorkflows registers every Lifeboat workflow under its stable type name; replayers need
// only this.
func RegisterWorkflows(w worker.WorkflowRegistry) {
	w.RegisterWorkflowWithOptions(HealthProbe, workflow.RegisterOptions{Name: HealthProbeWorkflow})
	w.RegisterWorkflowWithOptions(Backup, workflow.RegisterOptions{Name: BackupWorkflow})
	w.RegisterWorkflowWithOptions(Restore, workflow.RegisterOptions{Name: RestoreWorkflow})
	w.RegisterWorkflowWithOptions(Verify, workflow.RegisterOptions{Name: VerifyWorkflow})
	w.RegisterWorkflowWithOptions(RPOWatchdog, workflow.RegisterOptions{Name: RPOWatchdogWorkflow})
	w.RegisterWorkflowWithOptions(Recovery, workflow.RegisterOptions{Name: RecoveryWorkflow})
	w.RegisterWorkflowWithOptions(Alert, workflow.RegisterOptions{Name: AlertWorkflow})
}
