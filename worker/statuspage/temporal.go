package statuspage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/lifeboat-dr/lifeboat/integrations/searchattr"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

// Defaults of TemporalSource's tunables.
const (
	DefaultConcurrency  = 4
	DefaultQueryTimeout = 5 * time.Second
	// maxListed bounds how many workflows one visibility query reads.
	maxListed = 1000
)

// TemporalSource reads recoveries and RPO watchdogs from Temporal: running Recovery and RPOWatchdog
// workflows and finished recoveries from visibility (ListWorkflow), and the details of each running
// one from its status query, a few queries at a time.
type TemporalSource struct {
	// Client returns the Temporal client, or nil while the worker is not connected yet.
	Client func() client.Client
	// Concurrency bounds the status queries in flight at once (default 4).
	Concurrency int
	// QueryTimeout bounds one status query (default 5s): a workflow whose worker is down answers
	// only when the query gives up.
	QueryTimeout time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

var _ Source = (*TemporalSource)(nil)

// ErrNotConnected is returned by TemporalSource.Snapshot while its Client returns nil.
var ErrNotConnected = errors.New("statuspage: temporal: not connected yet")

// Snapshot implements Source. It fails when a visibility query fails; a status query that fails
// leaves its item with what visibility says and a Problem.
func (s *TemporalSource) Snapshot(ctx context.Context, req Request) (Snapshot, error) {
	var c client.Client
	if s.Client != nil {
		c = s.Client()
	}
	if c == nil {
		return Snapshot{}, ErrNotConnected
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	snap := Snapshot{At: now().UTC(), Running: []RunningRecovery{}, Finished: []FinishedRecovery{}, Watchdogs: map[string]Watchdog{}}

	running, err := list(ctx, c, fmt.Sprintf("WorkflowType = '%s' AND ExecutionStatus = 'Running'", workflows.RecoveryWorkflow))
	if err != nil {
		return Snapshot{}, err
	}
	for _, info := range running {
		// A rehearsal touches no service: the page never shows one, nor the plans it runs as steps
		// (their IDs begin with the rehearsal's).
		if searchattr.Keyword(info.GetSearchAttributes(), workflows.KindKey.GetName()) == workflows.RecoveryKind(workflows.ModeRehearsal) ||
			strings.HasPrefix(info.GetExecution().GetWorkflowId(), workflows.RecoveryWorkflowID(workflows.ModeRehearsal, "")) {
			continue
		}
		r := RunningRecovery{
			WorkflowID: info.GetExecution().GetWorkflowId(),
			Plan:       searchattr.Keyword(info.GetSearchAttributes(), workflows.AssetKey.GetName()),
			Drill:      searchattr.Keyword(info.GetSearchAttributes(), workflows.KindKey.GetName()) == "drill",
			StartedAt:  info.GetStartTime().AsTime(),
			Parent:     info.GetParentExecution().GetWorkflowId(),
		}
		if r.Plan == "" {
			r.Plan = planFromID(r.WorkflowID)
		}
		snap.Running = append(snap.Running, r)
	}

	finished, err := list(ctx, c, fmt.Sprintf("WorkflowType = '%s' AND %s = 'recovery' AND ExecutionStatus != 'Running' AND CloseTime > '%s'",
		workflows.RecoveryWorkflow, workflows.KindKey.GetName(), req.FinishedSince.UTC().Format(time.RFC3339Nano)))
	if err != nil {
		return Snapshot{}, err
	}
	for _, info := range finished {
		f := FinishedRecovery{
			WorkflowID: info.GetExecution().GetWorkflowId(),
			Plan:       searchattr.Keyword(info.GetSearchAttributes(), workflows.AssetKey.GetName()),
			Parent:     info.GetParentExecution().GetWorkflowId(),
			StartedAt:  info.GetStartTime().AsTime(),
			ClosedAt:   info.GetCloseTime().AsTime(),
			Result:     searchattr.Keyword(info.GetSearchAttributes(), workflows.ResultKey.GetName()),
		}
		if f.Plan == "" {
			f.Plan = planFromID(f.WorkflowID)
		}
		if f.Result == "" {
			f.Result = closeResult(info.GetStatus())
		}
		snap.Finished = append(snap.Finished, f)
	}

	var watchdogs []*workflow.WorkflowExecutionInfo
	if len(req.Assets) > 0 {
		watchdogs, err = list(ctx, c, fmt.Sprintf("WorkflowType = '%s' AND ExecutionStatus = 'Running'", workflows.RPOWatchdogWorkflow))
		if err != nil {
			return Snapshot{}, err
		}
	}
	wanted := map[string]bool{}
	for _, a := range req.Assets {
		wanted[a] = true
	}
	var dogIDs []string
	for _, info := range watchdogs {
		id := info.GetExecution().GetWorkflowId()
		asset, ok := strings.CutPrefix(id, workflows.WatchdogID(""))
		if !ok || !wanted[asset] {
			continue
		}
		snap.Watchdogs[asset] = Watchdog{Asset: asset, Stale: searchattr.Keyword(info.GetSearchAttributes(), workflows.PhaseKey.GetName()) == "stale"}
		dogIDs = append(dogIDs, asset)
	}

	// The status queries, a few at a time; each fills in its own item.
	var wg sync.WaitGroup
	var mu sync.Mutex
	concurrency := s.Concurrency
	if concurrency <= 0 {
		concurrency = DefaultConcurrency
	}
	sem := make(chan struct{}, concurrency)
	timeout := s.QueryTimeout
	if timeout <= 0 {
		timeout = DefaultQueryTimeout
	}
	query := func(id string, into any) error {
		qctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		v, err := c.QueryWorkflow(qctx, id, "", workflows.QueryStatus)
		if err != nil {
			return fmt.Errorf("query %s of %s: %w", workflows.QueryStatus, id, err)
		}
		if err := v.Get(into); err != nil {
			return fmt.Errorf("decode the %s query of %s: %w", workflows.QueryStatus, id, err)
		}
		return nil
	}
	for i := range snap.Running {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			r := &snap.Running[i]
			var st workflows.RecoveryResult
			if err := query(r.WorkflowID, &st); err != nil {
				r.Problem = err.Error()
				return
			}
			r.State = &st
			if r.Plan == "" {
				r.Plan = st.Plan
			}
			if st.Mode == workflows.ModeDrill {
				r.Drill = true
			}
			r.rehearsal = st.Mode == workflows.ModeRehearsal
		})
	}
	for _, asset := range dogIDs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			var st workflows.RPOStatus
			err := query(workflows.WatchdogID(asset), &st)
			mu.Lock()
			defer mu.Unlock()
			w := snap.Watchdogs[asset]
			if err != nil {
				w.Problem = err.Error()
			} else {
				w.Status, w.Stale = &st, st.Stale
			}
			snap.Watchdogs[asset] = w
		})
	}
	wg.Wait()
	snap.Running = slices.DeleteFunc(snap.Running, func(r RunningRecovery) bool { return r.rehearsal })
	return snap, nil
}

// list reads up to maxListed workflows matching a visibility query.
func list(ctx context.Context, c client.Client, query string) ([]*workflow.WorkflowExecutionInfo, error) {
	var out []*workflow.WorkflowExecutionInfo
	var token []byte
	for len(out) < maxListed {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			PageSize: int32(min(maxListed-len(out), 200)), NextPageToken: token, Query: query,
		})
		if err != nil {
			return nil, fmt.Errorf("statuspage: temporal: list workflows (%s): %w", query, err)
		}
		out = append(out, resp.GetExecutions()...)
		token = resp.GetNextPageToken()
		if len(token) == 0 {
			break
		}
	}
	return out, nil
}

// planFromID reads the plan from the workflow ID the CLI gives a recovery or drill
// (recovery-PLAN, drill-PLAN), for a workflow whose search attributes are not visible yet.
func planFromID(id string) string {
	for _, prefix := range []string{"recovery-", "drill-"} {
		if p, ok := strings.CutPrefix(id, prefix); ok && !strings.Contains(p, ".") {
			return p
		}
	}
	return ""
}

// closeResult names how a workflow closed that did not record its result.
func closeResult(s enumspb.WorkflowExecutionStatus) string {
	switch s {
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		return "succeeded"
	case enumspb.WORKFLOW_EXECUTION_STATUS_FAILED:
		return "failed"
	case enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED:
		return "canceled"
	case enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED:
		return "terminated"
	case enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT:
		return "timed_out"
	}
	return strings.ToLower(strings.TrimPrefix(s.String(), "WORKFLOW_EXECUTION_STATUS_"))
}
