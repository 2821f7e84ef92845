package workflows

import "go.temporal.io/sdk/temporal"

// DefaultTaskQueue is the task queue Lifeboat's workers poll unless configured otherwise.
const DefaultTaskQueue = "lifeboat"

// Workflow type names, as given to `temporal workflow start --type`.
const (
	HealthProbeWorkflow = "HealthProbe"
	BackupWorkflow      = "Backup"
	RestoreWorkflow     = "Restore"
	VerifyWorkflow      = "Verify"
	RPOWatchdogWorkflow = "RPOWatchdog"
	RecoveryWorkflow    = "Recovery"
)

// WatchdogID is the workflow ID of an asset's RPO watchdog: one per asset.
func WatchdogID(asset string) string { return "rpo-" + asset }

// BackupScheduleID and VerifyScheduleID are the IDs of an asset's Temporal Schedules.
func BackupScheduleID(asset string) string { return "backup-" + asset }

// VerifyScheduleID is the ID of an asset's restore-drill schedule.
func VerifyScheduleID(asset string) string { return "verify-" + asset }

// QueryStatus is the query every long-running Lifeboat workflow answers with its current state.
const QueryStatus = "status"

// Search attributes Lifeboat workflows set, so operators can filter in the Web UI and with
// `temporal workflow list --query`.
var (
	// KindKey says what a workflow does: probe, backup, restore, verify, watchdog, recovery, drill,
	// rehearsal.
	KindKey = temporal.NewSearchAttributeKeyKeyword("LifeboatKind")
	// AssetKey names the asset, service or target the workflow acts on.
	AssetKey = temporal.NewSearchAttributeKeyKeyword("LifeboatAsset")
	// PhaseKey is the workflow's current phase.
	PhaseKey = temporal.NewSearchAttributeKeyKeyword("LifeboatPhase")
	// ResultKey is the outcome once known: healthy, unhealthy, succeeded, failed.
	ResultKey = temporal.NewSearchAttributeKeyKeyword("LifeboatResult")
	// OwnerKey names the configuration (schedules.owner) that created a schedule or RPO watchdog;
	// schedule sync changes and removes only its own.
	OwnerKey = temporal.NewSearchAttributeKeyKeyword("LifeboatOwner")
)

// SearchAttributes lists every search attribute Lifeboat needs registered in its namespace.
var SearchAttributes = []temporal.SearchAttributeKey{KindKey, AssetKey, PhaseKey, ResultKey, OwnerKey}
