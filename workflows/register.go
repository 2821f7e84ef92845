package workflows

import (
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// RegisterWorkflows registers every Lifeboat workflow under its stable type name; replayers need
// only this, workers also the activities (activities.Set.Register), which the workflows call by name.
func RegisterWorkflows(w worker.WorkflowRegistry) {
	w.RegisterWorkflowWithOptions(HealthProbe, workflow.RegisterOptions{Name: HealthProbeWorkflow})
	w.RegisterWorkflowWithOptions(Backup, workflow.RegisterOptions{Name: BackupWorkflow})
	w.RegisterWorkflowWithOptions(Restore, workflow.RegisterOptions{Name: RestoreWorkflow})
	w.RegisterWorkflowWithOptions(Verify, workflow.RegisterOptions{Name: VerifyWorkflow})
	w.RegisterWorkflowWithOptions(RPOWatchdog, workflow.RegisterOptions{Name: RPOWatchdogWorkflow})
	w.RegisterWorkflowWithOptions(Recovery, workflow.RegisterOptions{Name: RecoveryWorkflow})
	w.RegisterWorkflowWithOptions(Alert, workflow.RegisterOptions{Name: AlertWorkflow})
}
