// Package contract is what workflows and activities agree on: each activity's name, input and
// result, and the error types workflows test for. Workflows call activities by these names, so they
// link none of the activities' integrations.
package contract

import (
	"fmt"
	"time"

	"github.com/lifeboat-dr/lifeboat/activities/asset"
	"github.com/lifeboat-dr/lifeboat/activities/plan"
	"github.com/lifeboat-dr/lifeboat/integrations/identity"
	"github.com/lifeboat-dr/lifeboat/integrations/notify"
	"github.com/lifeboat-dr/lifeboat/integrations/probe"
)

// The activities' names, as workers register them (the methods of the activities package's structs).
const (
	LoadAsset       = "LoadAsset"
	Notify          = "Notify"
	ApplyRetention  = "ApplyRetention"
	BackupAsset     = "BackupAsset"
	CopyOffsite     = "CopyOffsite"
	SignalWithStart = "SignalWithStart"
	ProbeCheck      = "ProbeCheck"
	LoadPlan        = "LoadPlan"
	LoadIdentity    = "LoadIdentity"
	LoadRun         = "LoadRun"
	LoadAlertRule   = "LoadAlertRule"
	RunAction       = "RunAction"
	PlanRestore     = "PlanRestore"
	ResolveSnapshot = "ResolveSnapshot"
	RestoreAsset    = "RestoreAsset"
	DropScratch     = "DropScratch"
	RunChecks       = "RunChecks"
	LatestSnapshot  = "LatestSnapshot"
	AppendAudit     = "AppendAudit"
)

// ErrTypeActionRefused is the type of the non-retryable error of an action that must not run as
// asked: an unknown action, bad parameters, a command outside the worker's allow-list.
const ErrTypeActionRefused = "ActionRefused"

// ActionInput is one action of a plan step.
type ActionInput struct {
	Action string         `json:"action"`
	Params map[string]any `json:"params,omitempty"`
	// Step names the plan step, for logs and errors.
	Step string `json:"step,omitempty"`
}

// ActionResult is what the action observed; Outputs are what `when:` conditions of later steps read.
type ActionResult struct {
	Outputs map[string]any `json:"outputs,omitempty"`
	Summary string         `json:"summary"`
}

// OutputRecoveryPoint is the output (an RFC 3339 time) of an action that brought back data as of a
// point in time: a promoted replica's last replayed transaction, a restored snapshot's time. A
// recovery measures its RPO — the data-loss window — from it.
const OutputRecoveryPoint = "recovery_point"

// Application error types of asset activities that retrying cannot fix.
const (
	ErrTypeAssetNotFound      = "AssetNotFound"
	ErrTypeAssetMisconfigured = "AssetMisconfigured"
	ErrTypeNoSnapshot         = "NoSnapshot"
	// ErrTypeLocked is retryable: another backup of the asset, or a prune, holds the repository.
	ErrTypeLocked = "RepositoryLocked"
	// ErrTypeSourceUnreachable: the asset's source (its database server) did not answer. Retried
	// a few times over minutes (SourceAttempts), then not again: the next scheduled run tries anew.
	ErrTypeSourceUnreachable = "SourceUnreachable"
)

// SourceAttempts is how many attempts a backup makes of a source that does not answer.
const SourceAttempts = 4

// SignalProgress is the signal long asset activities sent their workflow with an OpProgress in
// earlier versions. Progress now travels in heartbeats only, which add nothing to the workflow's
// history however long a backup runs; workflows still accept the signal from older workers.
const SignalProgress = "progress"

// OpProgress is a running backup's, copy's or restore's progress, as its heartbeats carry it:
// `lifeboat` and the Web UI read it from the workflow's pending activity.
type OpProgress struct {
	Step      string `json:"step"`
	Files     int64  `json:"files"`
	BytesDone int64  `json:"bytes_done"`
	// BytesTotal is what there is to read: known for restores, and for backups of paths once their
	// scan has counted them; for a backup of a stream, the last snapshot's size (TotalEstimated).
	// Zero while unknown.
	BytesTotal int64 `json:"bytes_total,omitempty"`
	// FilesTotal is the number of files to read, when known.
	FilesTotal int64 `json:"files_total,omitempty"`
	// TotalEstimated says BytesTotal is an estimate (the previous snapshot's size).
	TotalEstimated bool `json:"total_estimated,omitempty"`
	// BytesNew counts data the repository did not have; StoredNew what it took after compression.
	BytesNew  int64         `json:"bytes_new,omitempty"`
	StoredNew int64         `json:"stored_new,omitempty"`
	Elapsed   time.Duration `json:"elapsed"`
	Attempt   int32         `json:"attempt"`
	// Resumed is the progress an earlier, interrupted attempt had reached (from its last heartbeat).
	Resumed *OpProgress `json:"resumed,omitempty"`
	Done    bool        `json:"done,omitempty"`
}

// LoadAssetInput names an asset.
type LoadAssetInput struct {
	Asset string `json:"asset"`
}

// LoadAssetResult is the asset's definition as configured on the worker (secret names, no values).
type LoadAssetResult struct {
	Asset asset.Asset `json:"asset"`
}

// SnapshotInfo describes a snapshot in a repository or a cloud snapshot.
type SnapshotInfo struct {
	ID       string    `json:"id"`
	Time     time.Time `json:"time"`
	Source   string    `json:"source,omitempty"`
	Hostname string    `json:"hostname,omitempty"`
	// Location is the repository's location, or the cloud region.
	Location string `json:"location"`
	Files    int64  `json:"files,omitempty"`
	Bytes    int64  `json:"bytes,omitempty"`
	// BytesAdded and StoredAdded are what this backup added to the repository, before and after
	// compression.
	BytesAdded  int64         `json:"bytes_added,omitempty"`
	StoredAdded int64         `json:"stored_added,omitempty"`
	Duration    time.Duration `json:"duration,omitempty"`
	// Copy is the off-site copy, once made.
	Copy *SnapshotInfo `json:"copy,omitempty"`
}

// BackupAssetInput asks for one backup of an asset.
type BackupAssetInput struct {
	Asset string   `json:"asset"`
	Tags  []string `json:"tags,omitempty"`
}

// BackupAssetResult is the snapshot the backup made.
type BackupAssetResult struct {
	Snapshot SnapshotInfo `json:"snapshot"`
	// Resumed is how far an interrupted earlier attempt had got; its stored data was reused.
	Resumed  *OpProgress `json:"resumed,omitempty"`
	Attempts int32       `json:"attempts"`
}

// CopyOffsiteInput asks for a snapshot to be copied to the asset's off-site target.
type CopyOffsiteInput struct {
	Asset    string `json:"asset"`
	Snapshot string `json:"snapshot"`
}

// CopyOffsiteResult is the copy.
type CopyOffsiteResult struct {
	Copy SnapshotInfo `json:"copy"`
	// Skipped is true when the target already held the copy (a retried activity).
	Skipped bool `json:"skipped,omitempty"`
}

// ApplyRetentionInput asks for an asset's retention policy to be applied.
type ApplyRetentionInput struct {
	Asset string `json:"asset"`
}

// RetentionReport says what retention removed, per repository or region.
type RetentionReport struct {
	Location string   `json:"location"`
	Kept     int      `json:"kept"`
	Removed  []string `json:"removed,omitempty"`
	// BytesFreed is what prune deleted from the repository.
	BytesFreed int64 `json:"bytes_freed,omitempty"`
	// PacksIndexed counts packs no index named (an interrupted backup's uploads) that were indexed
	// from their headers before pruning.
	PacksIndexed int `json:"packs_indexed,omitempty"`
}

// ApplyRetentionResult covers the main repository and the off-site one.
type ApplyRetentionResult struct {
	Reports []RetentionReport `json:"reports"`
}

// LatestSnapshotInput names an asset.
type LatestSnapshotInput struct {
	Asset string `json:"asset"`
}

// LatestSnapshotResult is the newest snapshot, if any.
type LatestSnapshotResult struct {
	Found    bool         `json:"found"`
	Snapshot SnapshotInfo `json:"snapshot"`
}

// NotifyInput is a message and the routes (from the asset's notify list) it goes to; none means
// the default route.
type NotifyInput struct {
	Routes  []string       `json:"routes,omitempty"`
	Message notify.Message `json:"message"`
}

// NotifyResult records every delivery attempt.
type NotifyResult struct {
	Deliveries []notify.Delivery `json:"deliveries"`
}

// ErrTypePlanInvalid is the type of the non-retryable error of a plan that is missing or invalid.
const ErrTypePlanInvalid = "PlanInvalid"

// LoadIdentityInput asks for the worker's identity directory.
type LoadIdentityInput struct{}

// LoadIdentityResult is the directory (public keys only) a workflow verifies identities against
// for the rest of its run. Configured is false when the worker has none: identities are then
// taken as typed, as before identities were verified.
type LoadIdentityResult struct {
	Directory  identity.Directory `json:"directory"`
	Configured bool               `json:"configured"`
}

// AlertRule is what an intake rule of the configuration starts: a plan, in recovery (default) or
// drill mode.
type AlertRule struct {
	Plan string `json:"plan"`
	Mode string `json:"mode,omitempty"`
}

// LoadAlertRuleInput names an intake rule of the worker's configuration.
type LoadAlertRuleInput struct {
	Rule string `json:"rule"`
}

// LoadAlertRuleResult is the plan and mode the rule starts; Found is false when the worker has no
// rule of that name, and Rules then lists those it has.
type LoadAlertRuleResult struct {
	Found bool     `json:"found"`
	Plan  string   `json:"plan,omitempty"`
	Mode  string   `json:"mode,omitempty"`
	Rules []string `json:"rules,omitempty"`
}

// LoadPlanInput names a plan by its metadata.name.
type LoadPlanInput struct {
	Plan string `json:"plan"`
	// Drill asks for the plan as a drill runs it: with the worker's drill_skip rules applied.
	Drill bool `json:"drill,omitempty"`
}

// LoadPlanResult is the validated plan and where it came from.
type LoadPlanResult struct {
	Plan plan.Plan `json:"plan"`
	File string    `json:"file"`
	// SHA256 identifies the plan's exact text, for the report.
	SHA256 string `json:"sha256"`
}

// LoadRunInput names the plan a recovery runs, as LoadPlanInput does.
type LoadRunInput struct {
	Plan string `json:"plan"`
	// Drill asks for the plan as a drill runs it: with the worker's drill_skip rules applied.
	Drill bool `json:"drill,omitempty"`
}

// LoadRunResult is what a recovery needs of the worker's configuration before its first step, read
// in one local activity: the identity directory, the plan, and whether the worker keeps an audit
// ledger.
type LoadRunResult struct {
	Identity LoadIdentityResult `json:"identity"`
	// Plan is the validated plan, unless PlanError says why it could not be loaded: the run
	// establishes who started it before it reports that.
	Plan      LoadPlanResult `json:"plan"`
	PlanError string         `json:"plan_error,omitempty"`
	// Ledger is true when the worker appends to an audit ledger (AppendAudit records something).
	Ledger bool `json:"ledger"`
}

// ErrTypeProbeMisconfigured is the application error type of a check that cannot be attempted at all.
const ErrTypeProbeMisconfigured = "ProbeMisconfigured"

// ErrTypeProbeRefused is the application error type of a check the worker does not run: one not
// configured there (probes.checks), or one whose definition differs from the configured one.
const ErrTypeProbeRefused = "ProbeRefused"

// ProbeCheckInput asks for one attempt at one check.
type ProbeCheckInput struct {
	// Target names what the probe as a whole looks at; it labels metrics.
	Target string `json:"target"`
	// Check names a check configured on the worker: only its name, or its whole definition as
	// configured.
	Check probe.Check `json:"check"`
}

// ProbeCheckResult is the outcome of the attempt.
type ProbeCheckResult struct {
	probe.Outcome
	// Kind, Target and Optional are the configured check's, for a probe that named it without its
	// definition.
	Kind     probe.Kind `json:"kind,omitempty"`
	Target   string     `json:"target,omitempty"`
	Optional bool       `json:"optional,omitempty"`
}

// ResolveSnapshotInput asks which snapshot a reference names: "latest", "sample" (one picked at
// random among the asset's snapshots, so drills cover old restore points too) or an ID or prefix.
type ResolveSnapshotInput struct {
	Asset string `json:"asset"`
	Ref   string `json:"ref"`
	// Seed picks the sampled snapshot, so that a retried activity picks the same one.
	Seed uint64 `json:"seed,omitempty"`
}

// ResolveSnapshotResult is the snapshot and how many the asset has.
type ResolveSnapshotResult struct {
	Snapshot SnapshotInfo `json:"snapshot"`
	Count    int          `json:"count"`
}

// RestoreAssetInput describes a restore. Files go to TargetDir, a database to Database on the
// asset's server; InPlace restores over the live source instead (the workflow asks for approval
// first). Scratch restores into a scratch directory or database the activity names.
type RestoreAssetInput struct {
	Asset    string `json:"asset"`
	Snapshot string `json:"snapshot"`
	// Path selects a file or subtree inside the snapshot, relative to its root.
	Path      string `json:"path,omitempty"`
	TargetDir string `json:"target_dir,omitempty"`
	Database  string `json:"database,omitempty"`
	InPlace   bool   `json:"in_place,omitempty"`
	Scratch   bool   `json:"scratch,omitempty"`
	// Approved is the plan someone approved (PlanRestore's result). When set, RestoreAsset refuses
	// to do anything else: a configuration changed since the approval cannot widen the restore.
	Approved *RestorePlan `json:"approved,omitempty"`
}

// RestorePlan is exactly what a restore will change, worked out before it changes anything: the
// scope an approver is asked about, and what RestoreAsset then does.
type RestorePlan struct {
	Asset    string       `json:"asset"`
	Snapshot SnapshotInfo `json:"snapshot"`
	// Path is the cleaned path inside the snapshot; empty for all of it.
	Path string `json:"path,omitempty"`
	// TargetDir is the directory files are restored into (the selection lands at
	// TargetDir/<its name>); Database the database restored.
	TargetDir string `json:"target_dir,omitempty"`
	Database  string `json:"database,omitempty"`
	// Overwrite: files that exist at the target are replaced (each one atomically, after its new
	// content is verified). Only an in-place restore of files overwrites.
	Overwrite bool `json:"overwrite,omitempty"`
	// Replace: the existing database is renamed aside, kept, and the restored copy takes its name.
	// Only an in-place restore of a database replaces.
	Replace bool `json:"replace,omitempty"`
	InPlace bool `json:"in_place,omitempty"`
	Scratch bool `json:"scratch,omitempty"`
}

// Scope says in one line what the restore changes, for approval requests and logs.
func (p RestorePlan) Scope() string {
	what := "all of snapshot " + shortSnapshot(p.Snapshot.ID)
	if p.Path != "" {
		what = fmt.Sprintf("%q from snapshot %s", p.Path, shortSnapshot(p.Snapshot.ID))
	}
	switch {
	case p.Database != "" && p.Replace:
		return fmt.Sprintf("%s: %s into database %s, replacing it (the current database is kept under a dated name)", p.Asset, what, p.Database)
	case p.Database != "":
		return fmt.Sprintf("%s: %s into new database %s", p.Asset, what, p.Database)
	case p.Overwrite:
		return fmt.Sprintf("%s: %s into %s, overwriting existing files", p.Asset, what, p.TargetDir)
	default:
		return fmt.Sprintf("%s: %s into %s, never overwriting a file", p.Asset, what, p.TargetDir)
	}
}

func shortSnapshot(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// RestoreAssetResult says where the data went.
type RestoreAssetResult struct {
	Snapshot  SnapshotInfo `json:"snapshot"`
	TargetDir string       `json:"target_dir,omitempty"`
	Database  string       `json:"database,omitempty"`
	// Kept is the name the replaced database was given by an in-place restore.
	Kept string `json:"kept,omitempty"`
	// Files counts files written or found already restored; AlreadyRestored those of them an
	// interrupted earlier attempt had finished.
	Files           int64         `json:"files,omitempty"`
	AlreadyRestored int64         `json:"already_restored,omitempty"`
	Bytes           int64         `json:"bytes,omitempty"`
	Failed          []string      `json:"failed,omitempty"`
	Duration        time.Duration `json:"duration"`
	// Resumed is true when an earlier attempt was interrupted and this one finished its work.
	Resumed bool `json:"resumed,omitempty"`
}

// ErrTypeRestoreRefused is the type of the non-retryable error of a restore whose restored copy
// failed the asset's checks: the live data was not touched.
const ErrTypeRestoreRefused = "RestoreRefused"

// RunChecksInput names what a drill restored.
type RunChecksInput struct {
	Asset     string `json:"asset"`
	TargetDir string `json:"target_dir,omitempty"`
	Database  string `json:"database,omitempty"`
}

// CheckResult is one validation check's outcome, kept as evidence.
type CheckResult struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"` // file, row_count, sql
	Passed bool   `json:"passed"`
	Value  string `json:"value,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// RunChecksResult is the evidence of a drill's checks: each result, and digests of what was restored.
type RunChecksResult struct {
	Checks []CheckResult `json:"checks"`
	Passed bool          `json:"passed"`
	// TreeSHA256 digests every restored file's path, size and content; Files and Bytes count them.
	TreeSHA256 string `json:"tree_sha256,omitempty"`
	Files      int64  `json:"files,omitempty"`
	Bytes      int64  `json:"bytes,omitempty"`
}

// DropScratchInput names the asset whose drill is over.
type DropScratchInput struct {
	Asset string `json:"asset"`
}

// DropScratchResult says what was removed.
type DropScratchResult struct {
	TargetDir string `json:"target_dir,omitempty"`
	Database  string `json:"database,omitempty"`
}

// SignalWithStartInput names the workflow to signal and how to start it.
type SignalWithStartInput struct {
	WorkflowID   string `json:"workflow_id"`
	WorkflowType string `json:"workflow_type"`
	Signal       string `json:"signal"`
	Arg          any    `json:"arg"`
	StartInput   any    `json:"start_input"`
	// Summary is the started workflow's static summary in the Web UI.
	Summary string `json:"summary,omitempty"`
}
