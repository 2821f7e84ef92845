package statuspage_test

import (
	"context"
	"sync"
	"time"

	"github.com/lifeboat-dr/lifeboat/activities/plan"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
	"github.com/lifeboat-dr/lifeboat/worker/statuspage"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

// now is the fixed "now" of the unit tests.
var now = time.Date(2025, 6, 1, 14, 0, 0, 0, time.UTC)

// fixedSource returns what the test sets, and counts the readings.
type fixedSource struct {
	mu    sync.Mutex
	snap  statuspage.Snapshot
	err   error
	calls int
	reqs  []statuspage.Request
	// block, when set, holds every reading until it is closed.
	block chan struct{}
}

func (s *fixedSource) Snapshot(ctx context.Context, req statuspage.Request) (statuspage.Snapshot, error) {
	s.mu.Lock()
	s.calls++
	s.reqs = append(s.reqs, req)
	block := s.block
	s.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return statuspage.Snapshot{}, ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snap, s.err
}

func (s *fixedSource) set(snap statuspage.Snapshot, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.snap, s.err = snap, err
}

func (s *fixedSource) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// testConfig is a page of three components: Checkout (restored by orders-failover, backed by
// orders-db), Reports (backed by the warehouse asset) and Search (restored by search-rebuild, only
// partly down while it runs).
func testConfig() statuspage.Config {
	return statuspage.Config{
		Title: "Example Shop status",
		Components: []statuspage.Component{
			{Name: "Checkout", Description: "Placing and paying for orders.", Assets: []string{"orders-db"}, Plans: []string{"orders-failover", "orders-failback"}},
			{Name: "Reports", Description: "Sales reports for merchants.", Assets: []string{"warehouse"}},
			{Name: "Search", Plans: []string{"search-rebuild"}, RecoveryState: statuspage.PartialOutage},
		},
		CacheTTL: units.Duration(time.Nanosecond),
	}
}

// healthyDogs are watchdogs within their RPO for the test config's assets.
func healthyDogs() map[string]statuspage.Watchdog {
	return map[string]statuspage.Watchdog{
		"orders-db": {Asset: "orders-db", Status: &workflows.RPOStatus{Asset: "orders-db", RPO: units.Duration(time.Hour), LastBackup: now.Add(-10 * time.Minute)}},
		"warehouse": {Asset: "warehouse", Status: &workflows.RPOStatus{Asset: "warehouse", RPO: units.Duration(24 * time.Hour), LastBackup: now.Add(-2 * time.Hour)}},
	}
}

// failoverWaiting is a recovery of orders-failover, started 12 minutes ago, that checked the primary
// and fenced it, and now waits at the approval gate to promote the replica.
func failoverWaiting() statuspage.RunningRecovery {
	started := now.Add(-12 * time.Minute)
	return statuspage.RunningRecovery{
		WorkflowID: "recovery-orders-failover", Plan: "orders-failover", StartedAt: started,
		State: &workflows.RecoveryResult{
			Plan: "orders-failover", Mode: workflows.ModeRecovery, Status: workflows.StepRunning, StartedAt: started,
			Objectives: plan.Objectives{RTO: units.Duration(30 * time.Minute)},
			Steps: []workflows.StepState{
				{ID: "check-primary", Type: plan.TypeAction, Action: "check.tcp", Status: plan.StatusSucceeded, StartedAt: started, FinishedAt: started.Add(time.Minute)},
				{ID: "fence-old-primary", Type: plan.TypeAction, Action: "postgres.fence", Status: plan.StatusSucceeded, StartedAt: started.Add(time.Minute), FinishedAt: started.Add(2 * time.Minute)},
				{ID: "approve", Type: plan.TypeApproval, Status: workflows.StepRunning, StartedAt: started.Add(2 * time.Minute)},
				{ID: "promote", Type: plan.TypeAction, Action: "postgres.promote", Status: workflows.StepPending},
			},
		},
	}
}
