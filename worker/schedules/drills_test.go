package schedules_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/activities/asset"
	"github.com/lifeboat-dr/lifeboat/worker/config"
	"github.com/lifeboat-dr/lifeboat/worker/schedules"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

// Drill schedules follow recovery.drills and the owner rule: a sync creates its plans' drill
// schedules, starting the Recovery workflow in drill mode as schedule:<owner>; leaves another
// owner's alone, and conflicts over a plan that owner drills; and removes its own of a plan no
// longer drilled — but never when the configuration drills nothing and has no assets.
func TestDrillScheduleSync(t *testing.T) {
	c := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	drill := func(plan string) config.Drill {
		return config.Drill{Plan: plan, Schedule: asset.Schedule{Cron: "0 3 * * 1"}, Reason: "weekly drill"}
	}
	prod := &schedules.Syncer{Client: c, TaskQueue: taskQueue, Owner: "prod", CatchupWindow: 30 * time.Minute,
		Drills: []config.Drill{drill("orders")}}
	other := &schedules.Syncer{Client: c, TaskQueue: taskQueue, Owner: "other", CatchupWindow: 30 * time.Minute,
		Drills: []config.Drill{drill("billing")}}

	plan, err := prod.Sync(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantRows(t, "first sync", plan, []string{"drill-orders drill orders - create"})
	d := describe(ctx, t, c, "drill-orders")
	checkPolicies(t, d, 30*time.Minute)
	var in workflows.RecoveryInput
	checkAction(t, d, "drill-orders", workflows.RecoveryWorkflow, &in)
	if want := (workflows.RecoveryInput{Plan: "orders", Mode: workflows.ModeDrill, Requester: "schedule:prod", Reason: "weekly drill (schedule drill-orders)"}); in != want {
		t.Errorf("drill-orders input = %+v, want %+v", in, want)
	}
	checkOwner(ctx, t, c, "drill-orders", "prod")

	if plan, err = other.Sync(ctx, nil); err != nil {
		t.Fatal(err)
	}
	wantRows(t, "other's sync", plan, []string{"drill-billing drill billing - create", "drill-orders drill orders prod leave"})
	waitListed(ctx, t, prod, "drill-billing drill billing other", "drill-orders drill orders prod")

	// Another owner naming prod's plan conflicts, and changes nothing of prod's.
	greedy := &schedules.Syncer{Client: c, TaskQueue: taskQueue, Owner: "other", Drills: []config.Drill{drill("billing"), drill("orders")}}
	if _, err := greedy.Sync(ctx, nil); !errors.Is(err, schedules.ErrConflict) || !strings.Contains(err.Error(), `owned by "prod"`) {
		t.Fatalf("conflicting sync: %v", err)
	}
	checkOwner(ctx, t, c, "drill-orders", "prod")

	// A configuration with no drills and no assets removes nothing.
	prod.Drills = nil
	if plan, err = prod.Sync(ctx, nil); err != nil {
		t.Fatal(err)
	}
	wantRows(t, "empty configuration", plan, []string{"drill-billing drill billing other leave", "drill-orders drill orders prod leave"})

	// prod now drills payments instead: its orders schedule goes, other's stays.
	prod.Drills = []config.Drill{drill("payments")}
	if plan, err = prod.Sync(ctx, nil); err != nil {
		t.Fatal(err)
	}
	wantRows(t, "orders replaced by payments", plan, []string{"drill-payments drill payments - create",
		"drill-billing drill billing other leave", "drill-orders drill orders prod remove"})
	checkGone(ctx, t, c, "drill-orders")
	checkOwner(ctx, t, c, "drill-billing", "other")
	waitListed(ctx, t, prod, "drill-billing drill billing other", "drill-payments drill payments prod")
}
