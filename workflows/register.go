package workflows

import (
	"slices"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// Registration is one workflow type as workers register it: its stable type name, its function,
// and how its running workflows move between versions of the worker when worker versioning is on
// (docs/upgrading.md).
type Registration struct {
	Name string
	Fn   any
	// Versioning is Pinned for workflows that end within minutes or hours, before a release's old
	// workers are stopped: each runs from start to end on the build that started it. It is
	// AutoUpgrade for workflows that wait on people or run indefinitely: they move to the current
	// version at their next task, so their changes go behind workflow.GetVersion and the replay
	// tests prove the new code replays their recorded histories.
	Versioning workflow.VersioningBehavior
	// Why says why the type has its behavior: docs/upgrading.md lists it.
	Why string
}

// registrations lists every Lifeboat workflow, in the order workers register them.
var registrations = []Registration{
	{HealthProbeWorkflow, HealthProbe, workflow.VersioningBehaviorPinned,
		"Minutes at most: a probe's attempts are bounded, and each one ends on the build that began it."},
	{BackupWorkflow, Backup, workflow.VersioningBehaviorPinned,
		"One build writes a snapshot from its first chunk to its last, and a retried step resumes from checkpoints that same build wrote."},
	{RestoreWorkflow, Restore, workflow.VersioningBehaviorAutoUpgrade,
		"An in-place restore waits for its owners' approval, for hours if need be, longer than old workers can be relied on to stay."},
	{VerifyWorkflow, Verify, workflow.VersioningBehaviorPinned,
		"A restore drill into scratch space, over in minutes (or once a backup holding the repository lets go)."},
	{RPOWatchdogWorkflow, RPOWatchdog, workflow.VersioningBehaviorAutoUpgrade,
		"Runs for as long as its asset exists, continuing as new: pinned, it would keep its first version running forever."},
	{RecoveryWorkflow, Recovery, workflow.VersioningBehaviorAutoUpgrade,
		"Recoveries, drills and rehearsals wait at approval gates for hours; an approval must be taken by whichever workers are running then."},
	{AlertWorkflow, Alert, workflow.VersioningBehaviorAutoUpgrade,
		"Lives as long as the alert fires and its quiet period lasts, continuing as new."},
}

// Registrations returns every Lifeboat workflow as workers register it.
func Registrations() []Registration { return slices.Clone(registrations) }

// RegisterWorkflows registers every Lifeboat workflow under its stable type name; replayers need
// only this, workers also the activities (activities.Set.Register), which the workflows call by name.
func RegisterWorkflows(w worker.WorkflowRegistry) {
	for _, r := range registrations {
		w.RegisterWorkflowWithOptions(r.Fn, workflow.RegisterOptions{Name: r.Name, VersioningBehavior: r.Versioning})
	}
}
