package workflows

import (
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/lifeboat-dr/lifeboat/activities"
)

// Activities are the activity structs a worker serves. Nil fields are not registered.
type Activities struct {
	Probes *activities.Probes
}

// Register registers every Lifeboat workflow and the given activities on w.
func Register(w worker.Registry, acts Activities) {
	RegisterWorkflows(w)
	if acts.Probes != nil {
		w.RegisterActivity(acts.Probes)
	}
}

// RegisterWorkflows registers every Lifeboat workflow under its stable type name; replayers need
// only this.
func RegisterWorkflows(w worker.WorkflowRegistry) {
	w.RegisterWorkflowWithOptions(HealthProbe, workflow.RegisterOptions{Name: HealthProbeWorkflow})
}
