// Package schedules keeps the Temporal Schedules of protected assets in step with the
// configuration: a backup schedule per asset, a restore-drill schedule per asset that has one, and
// an RPO watchdog per asset.
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

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/lifeboat-dr/lifeboat/workflows"
	"github.com/lifeboat-dr/lifeboat/workflows/asset"
)

// DefaultCatchupWindow is how late a missed run (the server or the workers were down) may still
// start. Runs missed by more are skipped, and the RPO watchdog reports the gap.
const DefaultCatchupWindow = time.Hour

// Syncer creates, updates and deletes schedules.
type Syncer struct {
	Client    client.Client
	TaskQueue string
	// CatchupWindow defaults to DefaultCatchupWindow.
	CatchupWindow time.Duration
	Logger        *slog.Logger
}

// Change is what Sync did to one schedule or watchdog.
//
// Action is created, updated or deleted for schedules, and running or stopped for watchdogs.
type Change struct {
	ID     string `json:"id"`
	Kind   string `json:"kind"` // backup, verify, watchdog
	Action string `json:"action"`
	Asset  string `json:"asset"`
}

// Sync makes the namespace's Lifeboat schedules match assets: it creates the missing ones, updates
// the others (keeping whether they are paused), deletes those of assets no longer configured, and
// starts the RPO watchdog of every asset that has none running. Every asset is attempted; the
// errors of those that failed are joined.
func (s *Syncer) Sync(ctx context.Context, assets []asset.Asset) ([]Change, error) {
	var changes []Change
	var errs []error
	want := map[string]bool{}
	for _, as := range assets {
		for _, sch := range s.desired(as) {
			want[sch.ID] = true
			action, err := s.apply(ctx, sch)
			if err != nil {
				errs = append(errs, fmt.Errorf("schedule %s: %w", sch.ID, err))
				continue
			}
			changes = append(changes, Change{ID: sch.ID, Kind: kindOf(sch), Action: action, Asset: as.Name})
		}
		action, err := s.ensureWatchdog(ctx, as.Name)
		if err != nil {
			errs = append(errs, fmt.Errorf("watchdog of %s: %w", as.Name, err))
		} else {
			changes = append(changes, Change{ID: workflows.WatchdogID(as.Name), Kind: "watchdog", Action: action, Asset: as.Name})
		}
	}
	existing, err := s.List(ctx)
	if err != nil {
		return changes, errors.Join(append(errs, err)...)
	}
	for _, e := range existing {
		if want[e.ID] {
			continue
		}
		if err := s.Client.ScheduleClient().GetHandle(ctx, e.ID).Delete(ctx); err != nil {
			errs = append(errs, fmt.Errorf("delete schedule %s: %w", e.ID, err))
			continue
		}
		changes = append(changes, Change{ID: e.ID, Kind: e.Kind, Action: "deleted", Asset: e.Asset})
	}
	stopped, err := s.stopWatchdogs(ctx, assets)
	changes = append(changes, stopped...)
	if err != nil {
		errs = append(errs, err)
	}
	for _, c := range changes {
		s.logger().Info("schedule sync", "id", c.ID, "kind", c.Kind, "action", c.Action, "asset", c.Asset)
	}
	return changes, errors.Join(errs...)
}

func (s *Syncer) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func kindOf(o client.ScheduleOptions) string {
	if strings.HasPrefix(o.ID, "verify-") {
		return "verify"
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

// desired is the schedules an asset should have.
func (s *Syncer) desired(as asset.Asset) []client.ScheduleOptions {
	catchup := s.CatchupWindow
	if catchup == 0 {
		catchup = DefaultCatchupWindow
	}
	sa := temporal.NewSearchAttributes(workflows.AssetKey.ValueSet(as.Name))
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
		TypedSearchAttributes: sa,
		Note:                  "managed by lifeboat: edit the asset's schedule in the configuration",
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
			TypedSearchAttributes: sa,
			Note:                  "managed by lifeboat: edit the asset's verify schedule in the configuration",
		})
	}
	return out
}

// apply creates the schedule or, when it exists, updates its spec, action and policies.
func (s *Syncer) apply(ctx context.Context, o client.ScheduleOptions) (string, error) {
	_, err := s.Client.ScheduleClient().Create(ctx, o)
	if err == nil {
		return "created", nil
	}
	if !errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		var exists *serviceerror.AlreadyExists
		if !errors.As(err, &exists) {
			return "", err
		}
	}
	h := s.Client.ScheduleClient().GetHandle(ctx, o.ID)
	err = h.Update(ctx, client.ScheduleUpdateOptions{DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
		sch := in.Description.Schedule
		spec := o.Spec
		sch.Spec = &spec
		sch.Action = o.Action
		sch.Policy = &client.SchedulePolicies{Overlap: o.Overlap, CatchupWindow: o.CatchupWindow}
		return &client.ScheduleUpdate{Schedule: &sch}, nil
	}})
	if err != nil {
		return "", err
	}
	return "updated", nil
}

// ensureWatchdog starts the asset's RPO watchdog unless it runs.
func (s *Syncer) ensureWatchdog(ctx context.Context, assetName string) (string, error) {
	id := workflows.WatchdogID(assetName)
	_, err := s.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: id, TaskQueue: s.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		TypedSearchAttributes:    temporal.NewSearchAttributes(workflows.KindKey.ValueSet("watchdog"), workflows.AssetKey.ValueSet(assetName)),
		StaticSummary:            "RPO watchdog of " + assetName,
	}, workflows.RPOWatchdogWorkflow, workflows.RPOWatchdogInput{Asset: assetName})
	if err != nil {
		return "", err
	}
	return "running", nil
}

// stopWatchdogs terminates the RPO watchdogs of assets no longer configured, so that they stop
// alerting about backups that will never come.
func (s *Syncer) stopWatchdogs(ctx context.Context, assets []asset.Asset) ([]Change, error) {
	configured := map[string]bool{}
	for _, a := range assets {
		configured[workflows.WatchdogID(a.Name)] = true
	}
	var changes []Change
	var errs []error
	var token []byte
	for {
		resp, err := s.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query: "LifeboatKind = 'watchdog' AND ExecutionStatus = 'Running'", NextPageToken: token,
		})
		if err != nil {
			return changes, fmt.Errorf("list watchdogs: %w", err)
		}
		for _, e := range resp.GetExecutions() {
			id := e.GetExecution().GetWorkflowId()
			if configured[id] || !strings.HasPrefix(id, "rpo-") {
				continue
			}
			if err := s.Client.TerminateWorkflow(ctx, id, "", "asset removed from the configuration"); err != nil {
				errs = append(errs, fmt.Errorf("stop watchdog %s: %w", id, err))
				continue
			}
			changes = append(changes, Change{ID: id, Kind: "watchdog", Action: "stopped", Asset: strings.TrimPrefix(id, "rpo-")})
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return changes, errors.Join(errs...)
		}
	}
}

// Entry is one Lifeboat schedule as listed.
type Entry struct {
	ID         string      `json:"id"`
	Kind       string      `json:"kind"`
	Asset      string      `json:"asset"`
	Paused     bool        `json:"paused"`
	Note       string      `json:"note,omitempty"`
	NextRuns   []time.Time `json:"next_runs,omitempty"`
	LastRun    time.Time   `json:"last_run,omitzero"`
	LastRunIDs []string    `json:"last_workflows,omitempty"`
}

// List returns the namespace's Lifeboat schedules (those starting Backup or Verify workflows under
// Lifeboat's IDs), sorted by ID.
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
		default:
			continue
		}
		entry := Entry{ID: e.ID, Kind: kind, Asset: name, Paused: e.Paused, Note: e.Note, NextRuns: e.NextActionTimes}
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
