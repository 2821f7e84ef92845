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

// Register registers every Lifeboat workflow, under its stable type name, and the given activities on w.
func Register(w worker.Registry, acts Activities) {
	w.RegisterWorkflowWithOptions(HealthProbe, workflow.RegisterOptions{Name: HealthProbeWorkflow})
	if acts.Probes != nil {
		w.RegisterActivity(acts.Probes)
	}
}
