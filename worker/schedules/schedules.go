// Package schedules keeps the Temporal Schedules of protected assets and scheduled drills in step
// with the configuration: a backup schedule per asset, a restore-drill schedule per asset that has
// one, an RPO watchdog per asset, and a drill schedule per plan of recovery.drills. Every schedule and watchdog carries its owner, the configuration's
// schedules.owner, and a sync changes only its own.
package schedules

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/lifeboat-dr/lifeboat/activities/asset"
	"github.com/lifeboat-dr/lifeboat/integrations/searchattr"
	"github.com/lifeboat-dr/lifeboat/worker/config"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

// DefaultCatchupWindow is how late a missed run (the server or the workers were down) may still
// start. Runs missed by more are skipped, and the RPO watchdog reports the gap.
const DefaultCatchupWindow = time.Hour

// ErrConflict is wrapped by the error of a sync whose configuration names an asset whose schedule
// or watchdog another owner holds. Such a schedule or watchdog is left as it is.
var ErrConflict = errors.New("conflict")

// errChanged is wrapped when a schedule or watchdog changed owner between the plan and its apply.
var errChanged = errors.New("changed owner since the plan")

// Syncer plans and applies the changes that make the namespace's Lifeboat schedules and RPO
// watchdogs match a configuration's assets.
type Syncer struct {
	Client    client.Client
	TaskQueue string
	// Owner is recorded (search attribute LifeboatOwner) on every schedule and watchdog this
	// Syncer creates or adopts; only those carrying it are updated, removed or stopped. Empty: the
	// Syncer records no owner, updates the schedules of its assets that carry none, and never
	// removes or stops anything.
	Owner string
	// CatchupWindow defaults to DefaultCatchupWindow.
	CatchupWindow time.Duration
	Logger        *slog.Logger
	// Drills are the plans drilled on schedules (recovery.drills). Their schedules start the
	// Recovery workflow in drill mode as config.ScheduleRequester(Owner); without an owner none
	// is made.
	Drills []config.Drill
}

// Action is what a sync does, or would do, to one schedule or watchdog.
type Action string

// The actions of a plan. Only Create, Update, Adopt, Remove, Start and Stop change anything.
const (
	// Create makes the missing schedule of a configured asset.
	Create Action = "create"
	// Update rewrites this owner's schedule from the configuration; a paused schedule stays paused.
	Update Action = "update"
	// Adopt updates a schedule with no owner recorded, of an asset this configuration defines, and
	// records this owner on it.
	Adopt Action = "adopt"
	// Remove deletes this owner's schedule of an asset (or a verify section) no longer configured.
	Remove Action = "remove"
	// Start starts the RPO watchdog of a configured asset that has none running.
	Start Action = "start"
	// Keep leaves the running watchdog of a configured asset running.
	Keep Action = "keep"
	// Stop terminates this owner's watchdog of an asset no longer configured.
	Stop Action = "stop"
	// Leave leaves alone a schedule or watchdog of another owner or of none, or one of this owner's
	// when the configuration has no assets; Note says which.
	Leave Action = "leave"
	// Conflict is a configured asset whose schedule or watchdog another owner holds: it is left as
	// it is, and the sync fails with ErrConflict.
	Conflict Action = "conflict"
)

// Change is one line of a plan: what a sync does, or would do, to one schedule or watchdog.
type Change struct {
	ID    string `json:"id"`
	Kind  string `json:"kind"` // backup, verify, drill, watchdog
	Asset string `json:"asset"`
	// Owner is the owner recorded on the schedule or watchdog when the plan was made; empty for one
	// that does not exist yet or carries no owner.
	Owner  string `json:"owner,omitempty"`
	Action Action `json:"action"`
	// Note says why a schedule or watchdog is left alone or conflicts, or how its owner was told.
	Note string `json:"note,omitempty"`
	// Error is why applying the change failed; empty in a plan and for changes that succeeded.
	Error string `json:"error,omitempty"`
}

// Plan is what a sync does, computed without changing anything.
type Plan struct {
	// Owner is the Syncer's owner; empty when none is configured.
	Owner   string   `json:"owner"`
	Changes []Change `json:"changes"`
	// Warnings say why a sync removes less than it might (no owner, no assets).
	Warnings []string `json:"warnings,omitempty"`

	desired map[string]client.ScheduleOptions // by schedule ID
}

// Err returns the plan's conflicts, joined, each wrapping ErrConflict; nil when there are none.
func (p *Plan) Err() error {
	var errs []error
	for _, c := range p.Changes {
		if c.Action == Conflict {
			errs = append(errs, fmt.Errorf("%s %s: %w: %s: left as it is", object(c.Kind), c.ID, ErrConflict, c.Note))
		}
	}
	return errors.Join(errs...)
}

// Sync plans and applies: it makes the namespace's schedules and watchdogs of this owner match
// assets. It returns the plan with each failed change's Error, and an error joining the conflicts
// (wrapping ErrConflict) and the failures. A plan that cannot be made changes nothing.
func (s *Syncer) Sync(ctx context.Context, assets []asset.Asset) (*Plan, error) {
	p, err := s.Plan(ctx, assets)
	if err != nil {
		return nil, err
	}
	return p, s.Apply(ctx, p)
}

// Plan computes what Sync would do, changing nothing:
//
//   - each configured asset's schedules are created, or updated when this owner's (or adopted when
//     no owner is recorded on them), and its watchdog is started unless one runs;
//   - a configured asset whose schedule or watchdog another owner holds is a Conflict;
//   - this owner's schedules and watchdogs of assets no longer configured are removed and stopped,
//     unless the configuration has no assets at all or the Syncer has no owner;
//   - everything else (other owners', and those with no owner recorded that the configuration does
//     not name) is left alone.
//
// A watchdog with no owner recorded (started before owners existed, or by a backup) belongs to
// the owner of its asset's backup schedule. Plan fails when the namespace cannot be read.
func (s *Syncer) Plan(ctx context.Context, assets []asset.Asset) (*Plan, error) {
	p := &Plan{Owner: s.Owner, Changes: []Change{}, desired: map[string]client.ScheduleOptions{}}
	if s.Owner == "" {
		p.Warnings = append(p.Warnings, "schedules.owner is not set: sync creates and updates schedules and watchdogs "+
			"but never removes or stops any; name this deployment in schedules.owner to let it remove those of assets it no longer has")
	}
	if len(assets) == 0 {
		p.Warnings = append(p.Warnings, "the configuration has no assets: sync removes nothing "+
			"(a configuration without assets is never taken as a wish to remove every schedule)")
	}
	removing := s.Owner != "" && len(assets) > 0
	// Drill schedules of this owner go when the configuration drills nothing but still says
	// something: assets or other drills.
	removingDrills := s.Owner != "" && (len(assets) > 0 || len(s.Drills) > 0)
	if len(s.Drills) > 0 && s.Owner == "" {
		p.Warnings = append(p.Warnings, "recovery.drills needs schedules.owner: scheduled drills start as schedule:<owner>; no drill schedule is made")
	}
	// owners are the owners of the schedules once the plan is applied: a watchdog with no owner
	// recorded follows its asset's backup schedule.
	owners := map[string]string{}
	for _, as := range assets {
		for _, o := range s.desired(as) {
			p.desired[o.ID] = o
			ch := Change{ID: o.ID, Kind: kindOf(o.ID), Asset: as.Name}
			d, err := s.Client.ScheduleClient().GetHandle(ctx, o.ID).Describe(ctx)
			switch {
			case isNotFound(err):
				ch.Action = Create
			case err != nil:
				return nil, fmt.Errorf("describe schedule %s: %w", o.ID, err)
			default:
				ch.Owner, _ = d.TypedSearchAttributes.GetKeyword(workflows.OwnerKey)
				ch.Action, ch.Note = s.claimSchedule(as.Name, ch.Owner)
			}
			if ch.Action == Conflict {
				owners[o.ID] = ch.Owner
			} else {
				owners[o.ID] = s.Owner
			}
			p.Changes = append(p.Changes, ch)
		}
		ch := Change{ID: workflows.WatchdogID(as.Name), Kind: "watchdog", Asset: as.Name}
		desc, err := s.Client.DescribeWorkflowExecution(ctx, ch.ID, "")
		switch {
		case isNotFound(err):
			ch.Action = Start
		case err != nil:
			return nil, fmt.Errorf("describe watchdog %s: %w", ch.ID, err)
		case desc.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
			ch.Action = Start
		default:
			ch.Owner = keyword(desc.GetWorkflowExecutionInfo().GetSearchAttributes(), workflows.OwnerKey)
			ch.Action, ch.Note = s.claimWatchdog(as.Name, ch.Owner, owners[workflows.BackupScheduleID(as.Name)])
		}
		p.Changes = append(p.Changes, ch)
	}

	for _, o := range s.desiredDrills() {
		p.desired[o.ID] = o
		ch := Change{ID: o.ID, Kind: "drill", Asset: strings.TrimPrefix(o.ID, "drill-")}
		d, err := s.Client.ScheduleClient().GetHandle(ctx, o.ID).Describe(ctx)
		switch {
		case isNotFound(err):
			ch.Action = Create
		case err != nil:
			return nil, fmt.Errorf("describe schedule %s: %w", o.ID, err)
		default:
			ch.Owner, _ = d.TypedSearchAttributes.GetKeyword(workflows.OwnerKey)
			ch.Action, ch.Note = s.claimSchedule(ch.Asset, ch.Owner)
		}
		p.Changes = append(p.Changes, ch)
	}

	existing, err := s.List(ctx)
	if err != nil {
		return nil, err
	}
	for _, e := range existing {
		if _, ok := p.desired[e.ID]; ok {
			continue
		}
		owners[e.ID] = e.Owner
		ch := Change{ID: e.ID, Kind: e.Kind, Asset: e.Asset, Owner: e.Owner}
		if e.Kind == "drill" {
			ch.Action, ch.Note = s.release(Remove, e.Owner, "", removingDrills)
		} else {
			ch.Action, ch.Note = s.release(Remove, e.Owner, "", removing)
		}
		p.Changes = append(p.Changes, ch)
	}

	configured := map[string]bool{}
	for _, as := range assets {
		configured[workflows.WatchdogID(as.Name)] = true
	}
	running, err := s.runningWatchdogs(ctx)
	if err != nil {
		return nil, err
	}
	for _, w := range running {
		if configured[w.ID] {
			continue
		}
		ch := w
		ch.Action, ch.Note = s.release(Stop, ch.Owner, owners[workflows.BackupScheduleID(ch.Asset)], removing)
		p.Changes = append(p.Changes, ch)
	}
	return p, nil
}

// claimSchedule decides about the existing schedule of configured asset assetName, whose recorded
// owner is recorded.
func (s *Syncer) claimSchedule(assetName, recorded string) (Action, string) {
	switch {
	case recorded == s.Owner:
		return Update, ""
	case recorded == "":
		return Adopt, "no owner recorded; its asset is in this configuration"
	default:
		return Conflict, fmt.Sprintf("owned by %q, and this configuration names %s too", recorded, assetName)
	}
}

// claimWatchdog decides about the running watchdog of configured asset assetName, whose recorded
// owner is recorded; follows is the owner its backup schedule has once the plan is applied.
func (s *Syncer) claimWatchdog(assetName, recorded, follows string) (Action, string) {
	switch {
	case recorded != "" && recorded == s.Owner:
		return Keep, ""
	case recorded == "" && follows == s.Owner:
		return Keep, "no owner recorded; follows its backup schedule"
	case recorded == "":
		return Conflict, fmt.Sprintf("no owner recorded; follows its backup schedule, owned by %q, and this configuration names %s too", follows, assetName)
	default:
		return Conflict, fmt.Sprintf("owned by %q, and this configuration names %s too", recorded, assetName)
	}
}

// release decides about a schedule (Remove) or watchdog (Stop) whose asset this configuration does
// not name. follows is, for a watchdog with no owner recorded, the owner of its backup schedule.
func (s *Syncer) release(remove Action, recorded, follows string, removing bool) (Action, string) {
	owner := recorded
	if owner == "" {
		owner = follows
	}
	switch {
	case owner == "":
		return Leave, "no owner recorded, and its asset is not in this configuration"
	case owner != s.Owner && recorded == "":
		return Leave, fmt.Sprintf("no owner recorded; follows its backup schedule, owned by %q", owner)
	case owner != s.Owner:
		return Leave, fmt.Sprintf("owned by %q", owner)
	case !removing:
		return Leave, "the configuration has no assets"
	case recorded == "":
		return remove, "no owner recorded; follows its backup schedule"
	default:
		return remove, ""
	}
}

// Apply makes the plan's changes: creates, updates, adoptions and starts first, then stops, then
// removals. Before each change it checks that the schedule or watchdog still has the owner the plan
// saw, so a plan never overwrites or removes what another owner took meanwhile. Every change is
// attempted; each failed one gets its Error. It returns the plan's conflicts (wrapping ErrConflict)
// and the failures, joined.
func (s *Syncer) Apply(ctx context.Context, p *Plan) error {
	for _, w := range p.Warnings {
		s.logger().Warn("schedule sync: " + w)
	}
	errs := []error{p.Err()}
	stopFailed := map[string]bool{} // assets whose watchdog, owned through the backup schedule, still runs
	order := []map[Action]bool{
		{Create: true, Update: true, Adopt: true, Start: true},
		{Stop: true},
		{Remove: true},
	}
	for _, actions := range order {
		for i := range p.Changes {
			ch := &p.Changes[i]
			if !actions[ch.Action] {
				continue
			}
			var err error
			switch ch.Action {
			case Create, Update, Adopt:
				err = s.put(ctx, *ch, p.desired[ch.ID])
			case Start:
				err = s.startWatchdog(ctx, ch.Asset)
			case Stop:
				if err = s.stopWatchdog(ctx, *ch); err != nil && ch.Owner == "" {
					stopFailed[ch.Asset] = true
				}
			case Remove:
				if ch.Kind == "backup" && stopFailed[ch.Asset] {
					err = fmt.Errorf("not removed: watchdog %s, which has no owner recorded and follows this schedule, could not be stopped", workflows.WatchdogID(ch.Asset))
				} else {
					err = s.remove(ctx, *ch)
				}
			}
			if err != nil {
				ch.Error = err.Error()
				errs = append(errs, fmt.Errorf("%s %s %s: %w", ch.Action, object(ch.Kind), ch.ID, err))
			}
		}
	}
	for _, c := range p.Changes {
		if c.Error != "" {
			s.logger().Error("schedule sync", "id", c.ID, "kind", c.Kind, "asset", c.Asset, "owner", c.Owner, "action", c.Action, "error", c.Error)
			continue
		}
		s.logger().Info("schedule sync", "id", c.ID, "kind", c.Kind, "asset", c.Asset, "owner", c.Owner, "action", c.Action, "note", c.Note)
	}
	return errors.Join(errs...)
}

func (s *Syncer) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// object names what a change's kind is: a schedule or a watchdog.
func object(kind string) string {
	if kind == "watchdog" {
		return kind
	}
	return "schedule"
}

func kindOf(id string) string {
	if strings.HasPrefix(id, "verify-") {
		return "verify"
	}
	if strings.HasPrefix(id, "drill-") {
		return "drill"
	}
	return "backup"
}

// Spec turns an asset schedule into a Temporal schedule spec.
func Spec(sch asset.Schedule) client.ScheduleSpec {
	if sch.Every != 0 {
		return client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: sch.Every.D()}}}
	}
	return client.ScheduleSpec{CronExpressions: []string{sch.Cron}}
}

// attributes are the search attributes of an asset's schedules: its name and, when set, the owner.
func (s *Syncer) attributes(assetName string, more ...temporal.SearchAttributeUpdate) temporal.SearchAttributes {
	sa := append(more, workflows.AssetKey.ValueSet(assetName))
	if s.Owner != "" {
		sa = append(sa, workflows.OwnerKey.ValueSet(s.Owner))
	}
	return temporal.NewSearchAttributes(sa...)
}

// desired is the schedules an asset should have.
func (s *Syncer) desired(as asset.Asset) []client.ScheduleOptions {
	catchup := s.CatchupWindow
	if catchup == 0 {
		catchup = DefaultCatchupWindow
	}
	managed := "managed by lifeboat"
	if s.Owner != "" {
		managed += " for " + s.Owner
	}
	out := []client.ScheduleOptions{{
		ID:   workflows.BackupScheduleID(as.Name),
		Spec: Spec(as.Schedule),
		Action: &client.ScheduleWorkflowAction{
			ID: workflows.BackupScheduleID(as.Name), Workflow: workflows.BackupWorkflow, TaskQueue: s.TaskQueue,
			Args:                  []any{workflows.BackupInput{Asset: as.Name, Trigger: "schedule " + workflows.BackupScheduleID(as.Name)}},
			TypedSearchAttributes: temporal.NewSearchAttributes(workflows.KindKey.ValueSet("backup"), workflows.AssetKey.ValueSet(as.Name)),
			StaticSummary:         "Scheduled backup of " + as.Name,
		},
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_BUFFER_ONE, CatchupWindow: catchup,
		TypedSearchAttributes: s.attributes(as.Name),
		Note:                  managed + ": edit the asset's schedule in the configuration",
	}}
	if as.Verify != nil {
		out = append(out, client.ScheduleOptions{
			ID:   workflows.VerifyScheduleID(as.Name),
			Spec: Spec(as.Verify.Schedule),
			Action: &client.ScheduleWorkflowAction{
				ID: workflows.VerifyScheduleID(as.Name), Workflow: workflows.VerifyWorkflow, TaskQueue: s.TaskQueue,
				Args:                  []any{workflows.VerifyInput{Asset: as.Name, Snapshot: "latest", Trigger: "schedule " + workflows.VerifyScheduleID(as.Name)}},
				TypedSearchAttributes: temporal.NewSearchAttributes(workflows.KindKey.ValueSet("verify"), workflows.AssetKey.ValueSet(as.Name)),
				StaticSummary:         "Scheduled restore drill of " + as.Name,
			},
			Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_BUFFER_ONE, CatchupWindow: catchup,
			TypedSearchAttributes: s.attributes(as.Name),
			Note:                  managed + ": edit the asset's verify schedule in the configuration",
		})
	}
	return out
}

// desiredDrills is the drill schedules of the configuration's recovery.drills.
func (s *Syncer) desiredDrills() []client.ScheduleOptions {
	if s.Owner == "" {
		return nil
	}
	catchup := s.CatchupWindow
	if catchup == 0 {
		catchup = DefaultCatchupWindow
	}
	var out []client.ScheduleOptions
	for _, d := range s.Drills {
		id := workflows.DrillScheduleID(d.Plan)
		reason := d.Reason
		if reason == "" {
			reason = "scheduled drill"
		}
		out = append(out, client.ScheduleOptions{
			ID:   id,
			Spec: Spec(d.Schedule),
			Action: &client.ScheduleWorkflowAction{
				ID: id, Workflow: workflows.RecoveryWorkflow, TaskQueue: s.TaskQueue,
				Args: []any{workflows.RecoveryInput{Plan: d.Plan, Mode: workflows.ModeDrill, Requester: config.ScheduleRequester(s.Owner),
					Reason: reason + " (schedule " + id + ")"}},
				TypedSearchAttributes: temporal.NewSearchAttributes(workflows.KindKey.ValueSet(workflows.RecoveryKind(workflows.ModeDrill)), workflows.AssetKey.ValueSet(d.Plan)),
				StaticSummary:         "Scheduled drill of plan " + d.Plan,
			},
			Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_BUFFER_ONE, CatchupWindow: catchup,
			TypedSearchAttributes: s.attributes(d.Plan),
			Note:                  "managed by lifeboat for " + s.Owner + ": edit recovery.drills in the configuration",
		})
	}
	return out
}

// put creates the schedule or, when it exists and still has the owner the plan saw (or, for a
// create, this owner or none), updates its spec, action and policies and records this owner.
func (s *Syncer) put(ctx context.Context, ch Change, o client.ScheduleOptions) error {
	if ch.Action == Create {
		_, err := s.Client.ScheduleClient().Create(ctx, o)
		if err == nil {
			return nil
		}
		var exists *serviceerror.AlreadyExists
		if !errors.Is(err, temporal.ErrScheduleAlreadyRunning) && !errors.As(err, &exists) {
			return withHint(err)
		}
		// Created since the plan (another replica): update it if it is this owner's or nobody's.
	}
	err := s.Client.ScheduleClient().GetHandle(ctx, o.ID).Update(ctx, client.ScheduleUpdateOptions{DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
		recorded, _ := in.Description.TypedSearchAttributes.GetKeyword(workflows.OwnerKey)
		if ch.Action == Create {
			if recorded != s.Owner && recorded != "" {
				return nil, fmt.Errorf("%w: created meanwhile, owned by %q", ErrConflict, recorded)
			}
		} else if recorded != ch.Owner {
			return nil, fmt.Errorf("%w: now %q", errChanged, recorded)
		}
		sch := in.Description.Schedule
		spec := o.Spec
		sch.Spec = &spec
		sch.Action = o.Action
		sch.Policy = &client.SchedulePolicies{Overlap: o.Overlap, CatchupWindow: o.CatchupWindow}
		up := &client.ScheduleUpdate{Schedule: &sch}
		if s.Owner != "" && recorded != s.Owner {
			sa := o.TypedSearchAttributes
			up.TypedSearchAttributes = &sa
		}
		return up, nil
	}})
	return withHint(err)
}

// withHint says how to register the owner's search attribute when the namespace lacks it.
func withHint(err error) error {
	var invalid *serviceerror.InvalidArgument
	if errors.As(err, &invalid) && strings.Contains(err.Error(), workflows.OwnerKey.GetName()) {
		return fmt.Errorf("%w (register the search attribute %s, type Keyword, or let the worker do it with temporal.manage_search_attributes)",
			err, workflows.OwnerKey.GetName())
	}
	return err
}

// remove deletes the schedule if it still has the owner the plan saw; one already gone is done.
func (s *Syncer) remove(ctx context.Context, ch Change) error {
	h := s.Client.ScheduleClient().GetHandle(ctx, ch.ID)
	d, err := h.Describe(ctx)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if recorded, _ := d.TypedSearchAttributes.GetKeyword(workflows.OwnerKey); recorded != ch.Owner {
		return fmt.Errorf("%w: now %q", errChanged, recorded)
	}
	if err := h.Delete(ctx); err != nil && !isNotFound(err) {
		return err
	}
	return nil
}

// startWatchdog starts the asset's RPO watchdog, recording this owner, unless one runs.
func (s *Syncer) startWatchdog(ctx context.Context, assetName string) error {
	sa := []temporal.SearchAttributeUpdate{workflows.KindKey.ValueSet("watchdog"), workflows.AssetKey.ValueSet(assetName)}
	if s.Owner != "" {
		sa = append(sa, workflows.OwnerKey.ValueSet(s.Owner))
	}
	id := workflows.WatchdogID(assetName)
	_, err := s.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: id, TaskQueue: s.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		TypedSearchAttributes:    temporal.NewSearchAttributes(sa...),
		StaticSummary:            "RPO watchdog of " + assetName,
	}, workflows.RPOWatchdogWorkflow, workflows.RPOWatchdogInput{Asset: assetName})
	return withHint(err)
}

// stopWatchdog terminates the running watchdog if it still has the owner the plan saw, so that it
// stops alerting about backups that will never come. One that no longer runs is done.
func (s *Syncer) stopWatchdog(ctx context.Context, ch Change) error {
	desc, err := s.Client.DescribeWorkflowExecution(ctx, ch.ID, "")
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	info := desc.GetWorkflowExecutionInfo()
	if info.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		return nil
	}
	if recorded := keyword(info.GetSearchAttributes(), workflows.OwnerKey); recorded != ch.Owner {
		return fmt.Errorf("%w: now %q", errChanged, recorded)
	}
	// Terminate the very run checked, never a newer one.
	err = s.Client.TerminateWorkflow(ctx, ch.ID, info.GetExecution().GetRunId(), "asset removed from the configuration of "+s.Owner)
	if isNotFound(err) {
		return nil
	}
	return err
}

// runningWatchdogs lists the running RPO watchdogs (any starter: the sync or a backup), by ID.
func (s *Syncer) runningWatchdogs(ctx context.Context) ([]Change, error) {
	var out []Change
	var token []byte
	for {
		resp, err := s.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query:         fmt.Sprintf("WorkflowType = '%s' AND ExecutionStatus = 'Running'", workflows.RPOWatchdogWorkflow),
			NextPageToken: token,
		})
		if err != nil {
			return nil, fmt.Errorf("list watchdogs: %w", err)
		}
		for _, e := range resp.GetExecutions() {
			id := e.GetExecution().GetWorkflowId()
			if !strings.HasPrefix(id, "rpo-") {
				continue
			}
			out = append(out, Change{ID: id, Kind: "watchdog", Asset: strings.TrimPrefix(id, "rpo-"),
				Owner: keyword(e.GetSearchAttributes(), workflows.OwnerKey)})
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return slices.CompactFunc(out, func(a, b Change) bool { return a.ID == b.ID }), nil
}

// Entry is one Lifeboat schedule as listed.
type Entry struct {
	ID    string `json:"id"`
	Kind  string `json:"kind"`
	Asset string `json:"asset"`
	// Owner is the configuration that created or adopted it (schedules.owner); empty when none is
	// recorded.
	Owner      string      `json:"owner,omitempty"`
	Paused     bool        `json:"paused"`
	Note       string      `json:"note,omitempty"`
	NextRuns   []time.Time `json:"next_runs,omitempty"`
	LastRun    time.Time   `json:"last_run,omitzero"`
	LastRunIDs []string    `json:"last_workflows,omitempty"`
}

// List returns the namespace's Lifeboat schedules (those starting Backup, Verify or, for drills,
// Recovery workflows under Lifeboat's IDs), of every owner, sorted by ID. It reads visibility, which shows a change a moment
// after it is made.
func (s *Syncer) List(ctx context.Context) ([]Entry, error) {
	it, err := s.Client.ScheduleClient().List(ctx, client.ScheduleListOptions{PageSize: 200})
	if err != nil {
		return nil, fmt.Errorf("list schedules: %w", err)
	}
	var out []Entry
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("list schedules: %w", err)
		}
		var kind, name string
		switch {
		case e.WorkflowType.Name == workflows.BackupWorkflow && strings.HasPrefix(e.ID, "backup-"):
			kind, name = "backup", strings.TrimPrefix(e.ID, "backup-")
		case e.WorkflowType.Name == workflows.VerifyWorkflow && strings.HasPrefix(e.ID, "verify-"):
			kind, name = "verify", strings.TrimPrefix(e.ID, "verify-")
		case e.WorkflowType.Name == workflows.RecoveryWorkflow && strings.HasPrefix(e.ID, "drill-"):
			kind, name = "drill", strings.TrimPrefix(e.ID, "drill-")
		default:
			continue
		}
		entry := Entry{ID: e.ID, Kind: kind, Asset: name, Owner: keyword(e.SearchAttributes, workflows.OwnerKey),
			Paused: e.Paused, Note: e.Note, NextRuns: e.NextActionTimes}
		if n := len(e.RecentActions); n > 0 {
			last := e.RecentActions[n-1]
			entry.LastRun = last.ActualTime
			if last.StartWorkflowResult != nil {
				entry.LastRunIDs = append(entry.LastRunIDs, last.StartWorkflowResult.WorkflowID)
			}
		}
		out = append(out, entry)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return slices.Clip(out), nil
}

func keyword(sa *commonpb.SearchAttributes, k temporal.SearchAttributeKeyKeyword) string {
	return searchattr.Keyword(sa, k.GetName())
}

func isNotFound(err error) bool {
	var nf *serviceerror.NotFound
	return errors.As(err, &nf)
}
