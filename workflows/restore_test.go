package workflows

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/activities/contract"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/lifeboat-dr/lifeboat/integrations/units"
	"github.com/lifeboat-dr/lifeboat/workflows/approval"
)

func (e *assetEnv) onResolve() {
	e.OnActivity("ResolveSnapshot", mock.Anything, mock.Anything).Return(contract.ResolveSnapshotResult{Snapshot: snap, Count: 3}, nil)
	e.OnActivity("PlanRestore", mock.Anything, mock.Anything).Return(func(_ context.Context, in contract.RestoreAssetInput) (contract.RestorePlan, error) {
		return planOf(in), nil
	}).Maybe()
}

// planOf is the plan the real PlanRestore makes for the test asset www (files under /srv/www).
func planOf(in contract.RestoreAssetInput) contract.RestorePlan {
	p := contract.RestorePlan{Asset: in.Asset, Snapshot: snap, Path: in.Path, TargetDir: in.TargetDir, Database: in.Database, InPlace: in.InPlace}
	if in.InPlace {
		p.TargetDir, p.Overwrite = "/srv/www", true
	}
	return p
}

// restoreOf is the RestoreAsset input the workflow sends for in, with the approved plan.
func restoreOf(in contract.RestoreAssetInput) contract.RestoreAssetInput {
	p := planOf(in)
	in.Approved = &p
	return in
}

func TestRestoreToAnAlternateTargetRunsAtOnce(t *testing.T) {
	e := newAssetEnv(t, nil)
	e.onAsset(testAsset())
	e.onResolve()
	e.OnActivity("RestoreAsset", mock.Anything, restoreOf(contract.RestoreAssetInput{Asset: "www", Snapshot: snap.ID, Path: "etc", TargetDir: "/tmp/r"})).
		Return(contract.RestoreAssetResult{Snapshot: snap, TargetDir: "/tmp/r", Files: 3, Bytes: 10}, nil).Once()
	e.ExecuteWorkflow(RestoreWorkflow, RestoreInput{Asset: "www", Path: "etc", TargetDir: "/tmp/r", Requester: "alice"})
	if err := e.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var r RestoreResult
	_ = e.GetWorkflowResult(&r)
	if r.Phase != PhaseDone || r.Approval != nil || r.Restored == nil || r.Restored.Files != 3 {
		t.Fatalf("result %+v", r)
	}
}

func TestRestoreInputIsValidated(t *testing.T) {
	for _, in := range []RestoreInput{
		{Asset: "www", TargetDir: "/x"},                                    // no requester
		{Asset: "www", Requester: "a", InPlace: true, TargetDir: "/x"},     // in place and a target
		{Asset: "www", Requester: "a", TargetDir: "relative"},              // relative target
		{Asset: "www", Requester: "a", TargetDir: "/x", Database: "copy"},  // two targets
		{Asset: "www", Requester: "a", TargetDir: "/x", Path: "../../etc"}, // a path out of the snapshot
		{Asset: "www", Requester: "a", TargetDir: "/x", Path: "/etc"},      // an absolute path
	} {
		e := newAssetEnv(t, nil)
		e.ExecuteWorkflow(RestoreWorkflow, in)
		if err := e.GetWorkflowError(); err == nil || !strings.Contains(err.Error(), "invalid restore input") {
			t.Errorf("%+v: error %v", in, err)
		}
	}
}

// decide sends the approval Update; *result is set to its refusal or failure, or nil, once it is
// answered.
func decide(e *assetEnv, id string, d approval.Decision, result *error) {
	*result = errors.New("update not answered")
	e.UpdateWorkflow(approval.UpdateDecide, id, &testsuite.TestUpdateCallback{
		OnAccept:   func() {},
		OnReject:   func(err error) { *result = err },
		OnComplete: func(_ any, err error) { *result = err },
	}, d)
}

func TestRestoreInPlaceWaitsForApproval(t *testing.T) {
	e := newAssetEnv(t, nil)
	e.onAsset(testAsset()) // owners alice and bob approve
	e.onResolve()
	restored := false
	e.OnActivity("RestoreAsset", mock.Anything, restoreOf(contract.RestoreAssetInput{Asset: "www", Snapshot: snap.ID, InPlace: true})).
		Return(func(context.Context, contract.RestoreAssetInput) (contract.RestoreAssetResult, error) {
			restored = true
			return contract.RestoreAssetResult{Snapshot: snap, TargetDir: "/srv/www"}, nil
		})
	var selfErr, strangerErr, ok error
	var waiting RestoreResult
	e.RegisterDelayedCallback(func() {
		if v, err := e.QueryWorkflow(QueryStatus); err == nil {
			_ = v.Get(&waiting)
		}
		decide(e, "self", approval.Decision{Approve: true, Identity: "alice", Channel: approval.ChannelCLI}, &selfErr)
		decide(e, "stranger", approval.Decision{Approve: true, Identity: "mallory"}, &strangerErr)
	}, 10*time.Minute)
	e.RegisterDelayedCallback(func() {
		decide(e, "bob", approval.Decision{Approve: true, Identity: "bob", Channel: approval.ChannelSlack}, &ok)
	}, 30*time.Minute)
	e.ExecuteWorkflow(RestoreWorkflow, RestoreInput{Asset: "www", InPlace: true, Requester: "alice"})
	if err := e.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if waiting.Phase != PhaseApproval || restored && waiting.Restored != nil {
		t.Fatalf("status while waiting: %+v", waiting)
	}
	if selfErr == nil || strangerErr == nil || ok != nil {
		t.Fatalf("self-approval: %v; stranger: %v; bob: %v", selfErr, strangerErr, ok)
	}
	var r RestoreResult
	_ = e.GetWorkflowResult(&r)
	if !restored || r.Approval == nil || !r.Approval.Approved || len(r.Approval.Decisions) != 1 || r.Approval.Decisions[0].Identity != "bob" ||
		r.Approval.Waited != 30*time.Minute {
		t.Fatalf("result %+v", r)
	}
	if len(e.alerts) == 0 || e.alerts[0].Event != "approval.requested" {
		t.Fatalf("approvers were not asked: %+v", e.alerts)
	}
	// The request states the exact scope: asset, snapshot, target, and that files are overwritten.
	ask := e.alerts[0]
	if !strings.Contains(ask.Title, "www: all of snapshot 5e1f00d5 into /srv/www, overwriting existing files") ||
		ask.Fields["target"] != "/srv/www" || ask.Fields["overwrite"] != "true" || !strings.HasPrefix(ask.Fields["snapshot"], "5e1f00d5") {
		t.Fatalf("approval request does not state the scope: %q %v", ask.Title, ask.Fields)
	}
	if r.Plan == nil || r.Plan.TargetDir != "/srv/www" || !r.Plan.Overwrite {
		t.Fatalf("the result does not record the plan: %+v", r.Plan)
	}
}

// A repository another job holds exclusively (a prune) makes the restore wait on a durable timer
// and then go ahead, instead of failing.
func TestRestoreWaitsForALockedRepository(t *testing.T) {
	e := newAssetEnv(t, nil)
	e.onAsset(testAsset())
	e.onResolve()
	in := restoreOf(contract.RestoreAssetInput{Asset: "www", Snapshot: snap.ID, TargetDir: "/tmp/r"})
	locked := temporal.NewNonRetryableApplicationError("exclusive lock by prune", contract.ErrTypeLocked, nil)
	e.OnActivity("RestoreAsset", mock.Anything, in).Return(contract.RestoreAssetResult{}, locked).Twice()
	e.OnActivity("RestoreAsset", mock.Anything, in).Return(contract.RestoreAssetResult{Snapshot: snap, TargetDir: "/tmp/r", Files: 1}, nil).Once()
	var waiting RestoreResult
	e.RegisterDelayedCallback(func() {
		if v, err := e.QueryWorkflow(QueryStatus); err == nil {
			_ = v.Get(&waiting)
		}
	}, 10*time.Second)
	e.ExecuteWorkflow(RestoreWorkflow, RestoreInput{Asset: "www", TargetDir: "/tmp/r", Requester: "alice"})
	if err := e.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var r RestoreResult
	_ = e.GetWorkflowResult(&r)
	if r.Phase != PhaseDone || r.Restored == nil || r.Restored.Files != 1 {
		t.Fatalf("result %+v", r)
	}
	if waiting.Phase != PhaseWaiting || !strings.Contains(waiting.Error, "exclusive lock by prune") {
		t.Fatalf("status while locked out: %+v", waiting)
	}
	e.AssertExpectations(t)
}

func TestRestoreInPlaceRejectedOrUnansweredDoesNothing(t *testing.T) {
	for _, tc := range []struct {
		name    string
		decide  *approval.Decision
		wantErr string
		reminds int
	}{
		{name: "rejected", decide: &approval.Decision{Approve: false, Identity: "bob", Reason: "wrong snapshot"}, wantErr: "rejected by bob: wrong snapshot"},
		{name: "unanswered", wantErr: "nobody approved within 1h", reminds: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newAssetEnv(t, nil)
			e.onAsset(testAsset())
			e.onResolve()
			e.OnActivity("RestoreAsset", mock.Anything, mock.Anything).Return(contract.RestoreAssetResult{}, errors.New("must not restore")).Times(0)
			if tc.decide != nil {
				var decided error
				e.RegisterDelayedCallback(func() { decide(e, "d", *tc.decide, &decided) }, 5*time.Minute)
			}
			e.ExecuteWorkflow(RestoreWorkflow, RestoreInput{Asset: "www", InPlace: true, Requester: "carol", ApprovalTimeout: units.Duration(time.Hour)})
			err := e.GetWorkflowError()
			var appErr *temporal.ApplicationError
			if !errors.As(err, &appErr) || appErr.Type() != "RestoreNotApproved" || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v", err)
			}
			asked := 0
			for _, m := range e.alerts {
				if m.Event == "approval.requested" {
					asked++
				}
			}
			if asked != 1+tc.reminds {
				t.Fatalf("%d approval requests and reminders, want %d", asked, 1+tc.reminds)
			}
		})
	}
}
